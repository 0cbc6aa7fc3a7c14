/*
 * nvme_int.h — the NVMe controller model's state, shared by its parts: registers
 * and enable/reset (nvme_ctrl.c), queues, doorbells and PRP transfers
 * (nvme_queue.c), admin commands (nvme_admin.c). NVM Express 1.4. Model-internal.
 */
#ifndef DOPPEL_MODELS_NVME_INT_H
#define DOPPEL_MODELS_NVME_INT_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "nvme/nvme.h"
#include "nvme/nvme_model.h"
#include <hw/dev/nvme.h>

#define NVME_PAGE 4096u             /* CAP.MPSMIN = MPSMAX = 0: 4 KiB pages only */
#define NVME_MAX_IOQ 64u            /* I/O queue pairs offered (Number of Queues) */
#define NVME_NQ (NVME_MAX_IOQ + 1u) /* queue ids 0 (admin) .. 64 */
#define NVME_MQES 0x7FFu            /* CAP.MQES: 2048 entries, 0-based */
#define NVME_MSIX_VECTORS 65u
#define NVME_BAR0_SIZE 0x4000u
#define NVME_MSIX_TABLE_OFF 0x2000u
#define NVME_MSIX_PBA_OFF 0x3000u
#define NVME_DB_END NVME_MSIX_TABLE_OFF /* doorbells live in [0x1000, 0x2000) */
#define NVME_MDTS 7u                /* maximum transfer 2^7 pages = 512 KiB */
#define NVME_LBA_SHIFT 9u           /* 512-byte blocks */

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

struct nvme_ctrl {
	pthread_mutex_t lock;
	const struct model_bus *bus;
	struct pci_model_desc desc;
	struct pci_model_fn *fn;
	unsigned index;                 /* instance number: serial number, logs */
	uint8_t bus_index, dev;         /* where it goes on the fabric */
	char name[24];
	unsigned logged;
	/* registers */
	uint32_t intms, cc, csts, aqa;
	uint64_t asq, acq;
	/* queues */
	struct nvme_sq sq[NVME_NQ];
	struct nvme_cq cq[NVME_NQ];
	/* features */
	bool nq_set;
	uint16_t nsqa, ncqa;            /* allocated I/O queues, 0-based */
	struct nvme_model_stats st;
};

/* nvme_ctrl.c — may commands run (CSTS.RDY set, CSTS.CFS clear)? */
bool nvme_ctrl_ready(const struct nvme_ctrl *c);
void nvme_log(struct nvme_ctrl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* nvme_queue.c — doorbell write at offset off (>= NVME_REG_DBS); the lock held. */
void nvme_doorbell(struct nvme_ctrl *c, uint64_t off, uint32_t v);
/* Drop every queue (controller reset); lowers INTx. */
void nvme_queues_reset(struct nvme_ctrl *c);
/* Create the admin queue pair from AQA/ASQ/ACQ (already checked). */
void nvme_queues_admin(struct nvme_ctrl *c);
/* Re-evaluate the interrupt after an INTMS/INTMC change. */
void nvme_irq_mask_changed(struct nvme_ctrl *c, uint32_t old_mask);
/* Device DMA, only with bus mastering on: true when it happened. */
bool nvme_dma_read(struct nvme_ctrl *c, uint64_t addr, void *buf, unsigned len);
bool nvme_dma_write(struct nvme_ctrl *c, uint64_t addr, const void *buf, unsigned len);
/* Move len bytes of data described by PRP1/PRP2 (§4.3) to host memory. Returns an
 * NVMe status (SC | SCT << 8), 0 on success. */
uint16_t nvme_prp_write(struct nvme_ctrl *c, uint64_t prp1, uint64_t prp2, const void *buf,
			uint32_t len);

/* nvme_admin.c — execute one admin command: status (SC | SCT << 8), *dw0. */
uint16_t nvme_admin_exec(struct nvme_ctrl *c, const struct nvme_sqe *cmd, uint32_t *dw0);
/* Forget the features (controller reset). */
void nvme_admin_reset(struct nvme_ctrl *c);

#endif /* DOPPEL_MODELS_NVME_INT_H */
