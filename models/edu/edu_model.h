/*
 * edu_model.h — test-only view of the edu model: what the driver made it do
 * (counters, interrupt status, the DMA buffer) and a reset between tests. Never
 * seen by the kernel.
 */
#ifndef DOPPEL_MODELS_EDU_MODEL_H
#define DOPPEL_MODELS_EDU_MODEL_H
#include <stdint.h>

struct edu_model_stats {
	uint64_t bad_access;            /* wrong size, unknown offset, RO/WO misuse */
	uint64_t irq_raised;            /* interrupt raises that went out (MSI or INTx) */
	uint64_t dma_done;              /* transfers performed */
	uint64_t dma_refused;           /* out of the buffer or the DMA mask */
	uint64_t dma_no_master;         /* dropped: bus mastering off */
	uint32_t irq_status;            /* the interrupt status register */
};

/* Instances in order of edu_model_add. 0 or -ENOENT. Any thread. */
int edu_model_stats(unsigned idx, struct edu_model_stats *out);
/* Copy len bytes from the device buffer at off (0..4095). 0, -ENOENT, -EINVAL. */
int edu_model_buffer(unsigned idx, unsigned off, void *out, unsigned len);
/* Forget every instance (tests: call after pci_model_init starts a new fabric). */
void edu_model_reset(void);

#endif /* DOPPEL_MODELS_EDU_MODEL_H */
