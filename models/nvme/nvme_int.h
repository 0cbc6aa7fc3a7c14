/*
 * nvme_int.h — the NVMe controller model's state, shared by its parts: registers,
 * enable/reset and instances (nvme_ctrl.c), queues, doorbells, completions and the
 * work loop (nvme_queue.c), PRP walks (nvme_prp.c), admin commands (nvme_admin.c),
 * NVM I/O commands (nvme_io.c), namespaces (their bytes: models/store).
 * NVM Express 1.4. Model-internal.
 */
#ifndef DOPPEL_MODELS_NVME_INT_H
#define DOPPEL_MODELS_NVME_INT_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "nvme/nvme.h"
#include "nvme/nvme_model.h"
#include <hw/dev/nvme.h>
#include "store/store.h"

#define NVME_PAGE 4096u             /* CAP.MPSMIN = MPSMAX = 0: 4 KiB pages only */
#define NVME_NQ (NVME_MODEL_QUEUES_MAX + 1u)   /* queue ids 0 (admin) .. 64 */
#define NVME_MQES 0x7FFu            /* CAP.MQES: 2048 entries, 0-based */
#define NVME_MSIX_VECTORS 65u
#define NVME_BAR0_SIZE 0x4000u
#define NVME_MSIX_TABLE_OFF 0x2000u
#define NVME_MSIX_PBA_OFF 0x3000u
#define NVME_DB_END NVME_MSIX_TABLE_OFF /* doorbells live in [0x1000, 0x2000) */
#define NVME_MDTS_MAX 9u            /* model limit: 2^9 pages = 2 MiB per command */
#define NVME_MAX_SEGS ((1u << NVME_MDTS_MAX) + 1u)     /* PRP segments of one transfer */
#define NVME_HELD_MAX 512u          /* completions held back (slow, lost, aborted) */
#define NVME_ABORT_MAX 4u           /* Identify ACL + 1: Aborts remembered at once */
#define NVME_SLOW_NS 10000000ull    /* nvme.slow holds a completion back 10 ms */

struct nvme_sq {
	bool valid;
	uint64_t base;
	uint16_t size, head, tail;      /* size in entries (1-based) */
	uint16_t cqid;
};

struct nvme_cq {
	bool valid, ien;
	uint64_t base;
	uint16_t size, head, tail;
	uint16_t iv;                    /* interrupt vector (MSI-X entry) */
	bool phase;                     /* phase tag of the next entry posted */
};

/* A completion that is not posted yet: held back by nvme.slow (due), waiting for CQ
 * room (due 0), or never to come (nvme.cmd_timeout: lost) unless an Abort ends it. */
struct nvme_held {
	bool used, lost;
	uint64_t due;
	uint16_t sqid, cid, status;
	uint32_t dw0;
	uint64_t seq;                   /* order of holding: posted oldest first */
};

struct nvme_ns {
	uint64_t blocks;                /* NSZE = NCAP = NUSE */
	uint64_t off;                   /* byte offset in the backing store */
};


struct nvme_ctrl {
	pthread_mutex_t lock;
	pthread_cond_t work;            /* threaded: the worker sleeps here */
	pthread_t thread;
	bool threaded, stop;
	const struct model_bus *bus;
	struct pci_model_desc desc;
	struct pci_model_fn *fn;
	unsigned index;                 /* instance number: serial number, logs */
	uint8_t bus_index, dev;         /* where it goes on the fabric */
	char name[24];
	unsigned logged;
	unsigned fault_logged[NVME_FAULT_COUNT];
	/* configuration */
	unsigned queues, mdts, lbads, nn;
	struct nvme_ns ns[NVME_MODEL_NS_MAX];
	struct model_store store;           /* every namespace's bytes, ns 1 first */
	/* registers */
	uint32_t intms, cc, csts, aqa;
	uint64_t asq, acq;
	/* queues */
	struct nvme_sq sq[NVME_NQ];
	struct nvme_cq cq[NVME_NQ];
	unsigned rr;                    /* round robin: the SQ served last */
	struct nvme_held held[NVME_HELD_MAX];
	unsigned nheld;
	uint64_t held_seq;
	struct { bool used; uint16_t sqid, cid; } aborts[NVME_ABORT_MAX];
	/* features */
	bool qs_created;                /* an I/O queue was created since the reset */
	uint16_t nsqa, ncqa;            /* allocated I/O queues, 0-based */
	bool wce;                       /* volatile write cache enabled */
	struct nvme_model_stats st;
	uint8_t buf[(1u << NVME_MDTS_MAX) * NVME_PAGE];    /* one command's data */
};

/* nvme_ctrl.c — may commands run (CSTS.RDY set, CSTS.CFS clear)? */
bool nvme_ctrl_ready(const struct nvme_ctrl *c);
void nvme_log(struct nvme_ctrl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Controller fatal status: processing stops until a reset. */
void nvme_fatal(struct nvme_ctrl *c, const char *why);
/* Did fault site f fire for this command (logged, counted)? */
bool nvme_fault(struct nvme_ctrl *c, enum nvme_model_fault f, uint16_t sqid, uint16_t cid);

/* nvme_queue.c — doorbell write at offset off (>= NVME_REG_DBS); the lock held. */
void nvme_doorbell(struct nvme_ctrl *c, uint64_t off, uint32_t v);
/* Drop every queue and held completion (controller reset); lowers INTx. */
void nvme_queues_reset(struct nvme_ctrl *c);
/* Create the admin queue pair from AQA/ASQ/ACQ (already checked). */
void nvme_queues_admin(struct nvme_ctrl *c);
/* Re-evaluate the interrupt after an INTMS/INTMC change. */
void nvme_irq_mask_changed(struct nvme_ctrl *c, uint32_t old_mask);
/* Work the controller can do now / do one unit of it (the lock held). */
bool nvme_has_work(struct nvme_ctrl *c);
bool nvme_step(struct nvme_ctrl *c);
/* Earliest due time of a held completion (UINT64_MAX: none). */
uint64_t nvme_next_due(struct nvme_ctrl *c);
/* Abort (sqid, cid): a held completion ends with Command Abort Requested now, a
 * command still in its SQ is marked so it ends so when fetched. True: aborted. */
bool nvme_abort(struct nvme_ctrl *c, uint16_t sqid, uint16_t cid);
/* Delete I/O SQ (§5.6): its held completions and unfetched commands complete
 * with Command Aborted due to SQ Deletion while the CQ has room; the rest are lost. */
void nvme_sq_drop(struct nvme_ctrl *c, uint16_t sqid);
/* Device DMA: 0, -EACCES (bus mastering off), -EFAULT (blocked by the IOMMU or
 * outside RAM). Logged. */
int nvme_dma_read(struct nvme_ctrl *c, uint64_t addr, void *buf, unsigned len);
int nvme_dma_write(struct nvme_ctrl *c, uint64_t addr, const void *buf, unsigned len);

/* nvme_prp.c — move len bytes described by PRP1/PRP2 (§4.3) between host memory and
 * buf (to_host: device to host). NVMe status (SC | SCT << 8), 0 on success. */
uint16_t nvme_prp_xfer(struct nvme_ctrl *c, uint64_t prp1, uint64_t prp2, void *buf,
		       uint32_t len, bool to_host);

/* nvme_admin.c — execute one admin command: status (SC | SCT << 8), *dw0. */
uint16_t nvme_admin_exec(struct nvme_ctrl *c, const struct nvme_sqe *cmd, uint32_t *dw0);
/* Forget the features (controller reset). */
void nvme_admin_reset(struct nvme_ctrl *c);

/* nvme_io.c — execute one NVM command: status. */
uint16_t nvme_io_exec(struct nvme_ctrl *c, uint16_t sqid, const struct nvme_sqe *cmd);

#define NVME_ST(sct, sc) ((uint16_t)((sc) | (sct) << 8))

#endif /* DOPPEL_MODELS_NVME_INT_H */
