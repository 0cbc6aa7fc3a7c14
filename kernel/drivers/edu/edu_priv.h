/*
 * edu_priv.h — test entry of the edu driver (dma ktest suite and benchmarks
 * only): probe with an explicit DMA policy instead of the command line's.
 */
#ifndef DRIVERS_EDU_PRIV_H
#define DRIVERS_EDU_PRIV_H
#include "edu.h"

/* edu_probe, with the DMA policy forced (enum dma_policy; < 0 = the normal choice)
 * and, when p is not NULL, other DMA parameters than the device's own (a smaller
 * max_seg, say; the mask must stay within the device's 28 bits). */
struct edu *edu_probe_policy(unsigned nth, int policy, const struct dma_params *p);
/* Interrupts taken since probe (0 in polling mode). */
uint64_t edu_irq_count(struct edu *e);
#endif
