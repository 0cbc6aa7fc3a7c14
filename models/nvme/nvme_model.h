/*
 * nvme_model.h — test-only view of the NVMe controller model: counters of what the
 * driver made it do, the controller status, an injected controller fatal status,
 * and a reset between tests. Never seen by the kernel.
 */
#ifndef DOPPEL_MODELS_NVME_MODEL_H
#define DOPPEL_MODELS_NVME_MODEL_H
#include <stdbool.h>
#include <stdint.h>

enum nvme_model_fault {             /* the fault sites, checked per I/O command */
	NVME_FAULT_CMD_TIMEOUT,         /* "nvme.cmd_timeout": consumed, never completed */
	NVME_FAULT_CQE_DUPLICATE,       /* "nvme.cqe_duplicate": its CQE posted twice */
	NVME_FAULT_CQE_WRONG_CID,       /* "nvme.cqe_wrong_cid": a CID no command has */
	NVME_FAULT_CFS,                 /* "nvme.cfs": controller fatal status now */
	NVME_FAULT_MEDIA_ERROR,         /* "nvme.media_error": Unrecovered Read Error */
	NVME_FAULT_SLOW,                /* "nvme.slow": completion held ~10 ms */
	NVME_FAULT_COUNT
};

struct nvme_model_stats {
	uint64_t bad_access;            /* bad size/offset, writes to RO registers */
	uint64_t bad_doorbell;          /* doorbell of no queue, beyond its size, not ready */
	uint64_t enables, enable_failures, resets;
	uint64_t commands;              /* commands executed (admin and I/O) */
	uint64_t admin_ops[256];        /* admin commands by opcode */
	uint64_t io_ops[256];           /* I/O commands by opcode */
	uint64_t errors;                /* completions with a non-zero status */
	uint64_t io_errors;             /* I/O completions with a non-zero status */
	uint64_t reads, writes;         /* Read / Write commands that succeeded */
	uint64_t bytes_read, bytes_written;
	uint64_t aborted;               /* commands completed with Command Abort Requested */
	uint64_t lost;                  /* commands dropped by a reset (no CQE) */
	uint64_t faults[NVME_FAULT_COUNT];      /* fault sites fired */
	uint64_t cqes_posted;
	uint64_t cq_full_waits;         /* times a completion waited for CQ room */
	uint64_t irqs_raised;           /* pci_model_irq_raise calls that sent something */
	uint64_t dma_no_master;         /* DMAs dropped: bus mastering off */
	uint64_t dma_blocked;           /* DMAs refused by the IOMMU or outside RAM */
	uint32_t csts;                  /* CSTS now */
	uint32_t intms;                 /* interrupt mask now */
};

/* The site's name ("nvme.cmd_timeout", ...). */
const char *nvme_model_fault_name(enum nvme_model_fault f);
/* Instances in order of nvme_model_add. 0 or -ENOENT. Any thread. */
int nvme_model_stats(unsigned idx, struct nvme_model_stats *out);
/* Fault: the controller reports a fatal status (CSTS.CFS) and stops processing
 * until a reset (CC.EN 1 -> 0). 0 or -ENOENT. */
int nvme_model_fault_cfs(unsigned idx);
/* Read/write count blocks of namespace nsid from block lba, bypassing the queues
 * (tests). 0, -ENOENT (no such controller/namespace), -ERANGE, -EIO. */
int nvme_model_ns_access(unsigned idx, uint32_t nsid, uint64_t lba, void *buf, uint32_t count,
			 bool write);
/* Forget every instance (tests: call after pci_model_init starts a new fabric);
 * stops worker threads and closes backing files. */
void nvme_model_reset(void);

#endif /* DOPPEL_MODELS_NVME_MODEL_H */
