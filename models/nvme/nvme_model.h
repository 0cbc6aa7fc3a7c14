/*
 * nvme_model.h — test-only view of the NVMe controller model: counters of what the
 * driver made it do, the controller status, an injected controller fatal status,
 * and a reset between tests. Never seen by the kernel.
 */
#ifndef DOPPEL_MODELS_NVME_MODEL_H
#define DOPPEL_MODELS_NVME_MODEL_H
#include <stdint.h>

struct nvme_model_stats {
	uint64_t bad_access;            /* bad size/offset, writes to RO registers */
	uint64_t bad_doorbell;          /* doorbell of no queue, beyond its size, not ready */
	uint64_t enables, enable_failures, resets;
	uint64_t commands;              /* admin commands executed */
	uint64_t errors;                /* completions with a non-zero status */
	uint64_t cqes_posted;
	uint64_t irqs_raised;           /* pci_model_irq_raise calls that sent something */
	uint64_t dma_no_master;         /* DMAs dropped: bus mastering off */
	uint32_t csts;                  /* CSTS now */
	uint32_t intms;                 /* interrupt mask now */
};

/* Instances in order of nvme_model_add. 0 or -ENOENT. Any thread. */
int nvme_model_stats(unsigned idx, struct nvme_model_stats *out);
/* Fault: the controller reports a fatal status (CSTS.CFS) and stops processing
 * until a reset (CC.EN 1 -> 0). 0 or -ENOENT. */
int nvme_model_fault_cfs(unsigned idx);
/* Forget every instance (tests: call after pci_model_init starts a new fabric). */
void nvme_model_reset(void);

#endif /* DOPPEL_MODELS_NVME_MODEL_H */
