/*
 * tlb_model.h — a page table for one window of kernel virtual pages, shared by all
 * CPUs, and a per-CPU TLB that caches a translation on first use and keeps it until
 * that CPU flushes it (the x86 rule, Intel SDM Vol. 3A §4.10.2-§4.10.4: a PTE change
 * is not seen by a CPU that holds the old translation until it invalidates it).
 * Pure host code; the sim's hal_vmap_* and hal_tlb_flush_* sit on top of it.
 */
#ifndef DOPPEL_MODELS_TLB_MODEL_H
#define DOPPEL_MODELS_TLB_MODEL_H

#include <stdint.h>

#define TLB_PAGE_SIZE 4096ull

struct tlb_model_stats {
	uint64_t maps, unmaps;
	uint64_t fills;              /* TLB misses that read the page table */
	uint64_t stale_hits;         /* TLB hits that differ from the page table now */
	uint64_t flushes_page, flushes_all;
};

/* Window [base, base + npages * 4 KiB) for ncpus CPUs. 0, -EINVAL or -ENOMEM.
 * Replaces any previous window. */
int tlb_model_init(unsigned ncpus, uint64_t base, unsigned npages);
void tlb_model_fini(void);
uint64_t tlb_model_base(void);
uint64_t tlb_model_size(void);
/* Page-table writes (no TLB effect). -EINVAL outside the window, unaligned va or pa. */
int tlb_model_map(uint64_t va, uint64_t pa);
int tlb_model_unmap(uint64_t va);
/* What CPU cpu reaches at va now: 0 and *pa (offset included), or -ENOENT when
 * not present (not-present translations are never cached), -EINVAL outside. */
int tlb_model_translate(unsigned cpu, uint64_t va, uint64_t *pa);
/* Invalidate cpu's translation of one page / all of them (INVLPG / CR3 reload). */
void tlb_model_flush_page(unsigned cpu, uint64_t va);
void tlb_model_flush_all(unsigned cpu);
void tlb_model_stats(struct tlb_model_stats *out);

#endif /* DOPPEL_MODELS_TLB_MODEL_H */
