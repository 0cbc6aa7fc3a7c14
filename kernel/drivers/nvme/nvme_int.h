/*
 * nvme_int.h — the NVMe driver's private structures shared by its files: the
 * controller, its queue pairs with per-slot trackers (what the hardware holds for
 * one command: cid, DMA mapping, PRP list, a copy of the SQE for resubmission)
 * apart from the requests (block parts or synchronous waiters), and namespaces.
 */
#ifndef NVME_INT_H
#define NVME_INT_H
#include <drivers/nvme.h>
#include <kernel/block.h>
#include <kernel/dma.h>
#include <kernel/pci.h>
#include <kernel/spinlock.h>

/* Driver policy numbers (not hardware facts). */
#define NVME_ADMIN_DEPTH 32u            /* admin queue entries */
#define NVME_IO_DEPTH_MAX 256u          /* entries per I/O queue, at most */
#define NVME_MAX_IOQ 64u                /* I/O queue pairs, at most */
#define NVME_MAX_CTRL 8u
#define NVME_MAX_NS 16u
#define NVME_ADMIN_TIMEOUT_MS 5000u
#define NVME_DEFAULT_TIMEOUT_MS 5000u
#define NVME_SHUTDOWN_WAIT_MS 5000u     /* when RTD3E does not say */
#define NVME_NO_MDTS_CAP (2u << 20)     /* MDTS 0 (no limit): parts of at most 2 MiB */
#define NVME_PRP_PAGES_PER_CMD 2u
#define NVME_REAP_BATCH 32u

/* A synchronous command's waiter (raw commands, admin). */
struct nvme_sync {
	uint32_t done;                  /* atomic: 1 once the completion was stored */
	uint16_t status;                /* CQE status half without the phase bit */
	uint32_t dw0;
};

struct nvme_slot {                      /* per-cid tracker */
	struct blk_part *part;          /* the block part, or NULL */
	struct nvme_sync *sync;         /* or a waiter */
	struct nvme_sqe sqe;            /* as issued (resubmission after reset) */
	struct dma_sg sg[BLK_MAX_SEGS];
	int nsg;                        /* entries given to dma_map_sg (0: nothing mapped) */
	enum dma_dir dir;
	uint64_t *prp_va[NVME_PRP_PAGES_PER_CMD];  /* list pages, kept for the slot's life */
	dma_addr_t prp_bus[NVME_PRP_PAGES_PER_CMD];
	uint32_t timeouts;              /* ops->timeout calls for this issue */
	uint32_t resubmits;
	uint32_t aborted;               /* an Abort was sent for this issue */
	uint64_t issue_ns;              /* time of the last (re)submission */
};

struct nvme_ctrl;

struct nvme_queue {
	struct nvme_ctrl *c;
	uint16_t qid;
	uint16_t vector;                /* interrupt vector index (CQ IV) */
	bool ien;                       /* interrupts on for this CQ */
	bool live;                      /* created on the controller */
	bool requeue_aborted;           /* reset: CQEs 'aborted, SQ deleted' keep the command for resubmission */
	unsigned cpu;                   /* home CPU (affinity) */
	struct spinlock lock;           /* ring indices, slot get/put, doorbells */
	struct nvme_ring ring;
	struct nvme_slot *slot;         /* depth trackers */
	uint32_t *slot_state;
	uint16_t *slot_gen;
	void *sq_va, *cq_va;
	dma_addr_t sq_bus, cq_bus;
	size_t sq_bytes, cq_bytes;
	volatile uint8_t *sq_db, *cq_db;
	uint64_t submitted, completed;  /* under lock */
};

struct nvme_ns {
	struct nvme_ctrl *c;
	uint32_t nsid;
	struct nvme_ns_info info;
	struct blk_dev bdev;
	char model[64];
};

enum nvme_ctrl_state { NVME_LIVE = 0, NVME_RESETTING, NVME_SHUTDOWN, NVME_RELEASED, NVME_FAILED };

struct nvme_ctrl {
	unsigned idx;
	char name[8];
	struct pci_dev *pci;
	volatile uint8_t *regs;
	uint64_t cap;
	uint32_t dstrd;
	struct dma_dev *dd;
	struct pci_irq irq;
	bool have_irq;
	unsigned irq_allow;
	struct nvme_id_info id;
	uint64_t mdts_bytes;            /* 0 = no limit */
	uint64_t max_xfer;              /* what a part may carry (MDTS or the cap) */
	struct nvme_queue *adminq;
	struct nvme_queue *ioq[NVME_MAX_IOQ];
	unsigned nr_ioq, want_ioq;
	uint32_t io_depth;
	bool poll;
	struct nvme_ns *ns[NVME_MAX_NS];
	unsigned nns;
	uint32_t state;                 /* atomic, enum nvme_ctrl_state */
	uint32_t recovery_busy;         /* atomic */
	uint32_t cfs_seen;              /* atomic: CFS logged for this episode */
	uint32_t cfs_resets;            /* atomic: resets because of CFS */
	uint64_t timeout_ns;
	uint64_t resets, aborts, irqs;  /* atomic */
	uint64_t timeout_races;         /* atomic: overdue parts found completed by ns_timeout */
	uint64_t resubmitted;           /* atomic: commands issued again (after Abort, after reset) */
};

/* nvme_ctrl.c */
int nvme_ctrl_start(struct nvme_ctrl *c, bool first);
void nvme_ctrl_stop(struct nvme_ctrl *c, bool free_all);
int nvme_admin_sync(struct nvme_ctrl *c, struct nvme_sqe *cmd, void *buf, dma_addr_t bus, uint16_t *status,
		    uint32_t *dw0);
bool nvme_ctrl_fatal(struct nvme_ctrl *c);
void nvme_ctrl_fail(struct nvme_ctrl *c, const char *why);
uint32_t nvme_csts(struct nvme_ctrl *c);
unsigned nvme_irq_allow(void);

/* nvme_queue.c */
struct nvme_queue *nvme_queue_alloc(struct nvme_ctrl *c, uint16_t qid, uint32_t depth);
void nvme_queue_free(struct nvme_queue *q);
void nvme_queue_reset_ring(struct nvme_queue *q);
/* Issue cmd on q for a part or a waiter (exactly one non-NULL). The slot's sg/PRP
 * are filled by prep (called with the slot, may fail: then nothing issued). */
int nvme_queue_submit(struct nvme_queue *q, struct nvme_sqe *cmd, struct blk_part *part, struct nvme_sync *sync,
		      int (*prep)(struct nvme_queue *q, struct nvme_slot *s, struct nvme_sqe *cmd, void *arg),
		      void *arg, uint16_t *cid_out);
unsigned nvme_queue_reap(struct nvme_queue *q);
/* Wait for a waiter with a bound: reaps q in the loop, halts between. */
int nvme_queue_wait(struct nvme_queue *q, struct nvme_sync *w, uint16_t cid, uint64_t timeout_ns);
/* Fail every command in flight on q (the controller is gone): parts get status. */
void nvme_queue_fail_all(struct nvme_queue *q, int status);
/* Put every in-flight command's SQE back on the (reset) ring and ring the doorbell. */
unsigned nvme_queue_resubmit_all(struct nvme_queue *q);
void nvme_slot_unmap(struct nvme_queue *q, struct nvme_slot *s);
void nvme_irq_handler(unsigned idx, void *arg);
bool nvme_slot_find_part(struct nvme_ctrl *c, struct blk_part *p, struct nvme_queue **qo, unsigned *idx);

/* nvme_ns.c */
struct nvme_queue *nvme_queue_of_cpu(struct nvme_ctrl *c);
int nvme_ns_scan(struct nvme_ctrl *c);
int nvme_ns_build_prps(struct nvme_queue *q, struct nvme_slot *s, struct nvme_sqe *cmd, const struct nvme_prp_seg *seg,
		       unsigned nseg, uint64_t total);

extern struct nvme_ctrl *nvme_ctrls[NVME_MAX_CTRL];
extern unsigned nvme_nctrl;
#endif
