/*
 * tlb_model.c — shared page table plus per-CPU TLBs for one kernel virtual window
 * (tlb_model.h). Each CPU's TLB is touched by that CPU alone; the page table is an
 * array of atomics, so a PTE write on one CPU and a fill on another are ordered
 * the way a PTE store and a page walk are (Intel SDM Vol. 3A §4.10).
 */
#include "tlb/tlb_model.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#define PTE_PRESENT 1ull

static _Atomic uint64_t *ptes;      /* pa | PTE_PRESENT, or 0 */
static uint64_t *tlbs;              /* [cpu * npages + page], same encoding */
static unsigned ncpus, npages;
static uint64_t base;
static struct {
	atomic_ullong maps, unmaps, fills, stale_hits, flushes_page, flushes_all;
} st;

void tlb_model_fini(void)
{
	free((void *)ptes);
	free(tlbs);
	ptes = NULL;
	tlbs = NULL;
	ncpus = npages = 0;
}

int tlb_model_init(unsigned n, uint64_t b, unsigned pages)
{
	tlb_model_fini();
	if (n == 0 || pages == 0 || (b & (TLB_PAGE_SIZE - 1)))
		return -EINVAL;
	ptes = calloc(pages, sizeof(*ptes));
	tlbs = calloc((size_t)n * pages, sizeof(*tlbs));
	if (!ptes || !tlbs) {
		tlb_model_fini();
		return -ENOMEM;
	}
	ncpus = n;
	npages = pages;
	base = b;
	atomic_store(&st.maps, 0);
	atomic_store(&st.unmaps, 0);
	atomic_store(&st.fills, 0);
	atomic_store(&st.stale_hits, 0);
	atomic_store(&st.flushes_page, 0);
	atomic_store(&st.flushes_all, 0);
	return 0;
}

uint64_t tlb_model_base(void)
{
	return base;
}

uint64_t tlb_model_size(void)
{
	return (uint64_t)npages * TLB_PAGE_SIZE;
}

static long page_of(uint64_t va)
{
	if (!ptes || va < base || va - base >= (uint64_t)npages * TLB_PAGE_SIZE)
		return -1;
	return (long)((va - base) / TLB_PAGE_SIZE);
}

int tlb_model_map(uint64_t va, uint64_t pa)
{
	long p = page_of(va);

	if (p < 0 || (va & (TLB_PAGE_SIZE - 1)) || (pa & (TLB_PAGE_SIZE - 1)))
		return -EINVAL;
	/* The PTE store: release, so a walker that sees it sees what came before. */
	atomic_store_explicit(&ptes[p], pa | PTE_PRESENT, memory_order_release);
	atomic_fetch_add(&st.maps, 1);
	return 0;
}

int tlb_model_unmap(uint64_t va)
{
	long p = page_of(va);

	if (p < 0 || (va & (TLB_PAGE_SIZE - 1)))
		return -EINVAL;
	atomic_store_explicit(&ptes[p], 0, memory_order_release);
	atomic_fetch_add(&st.unmaps, 1);
	return 0;
}

int tlb_model_translate(unsigned cpu, uint64_t va, uint64_t *pa)
{
	long p = page_of(va);
	uint64_t *e, pte;

	if (p < 0 || cpu >= ncpus)
		return -EINVAL;
	e = &tlbs[(size_t)cpu * npages + (size_t)p];
	pte = atomic_load_explicit(&ptes[p], memory_order_acquire);
	if (*e) {
		if (*e != pte)
			atomic_fetch_add_explicit(&st.stale_hits, 1, memory_order_relaxed);
	} else {
		if (!(pte & PTE_PRESENT))
			return -ENOENT;     /* not-present entries are not cached (§4.10.2.3) */
		*e = pte;
		atomic_fetch_add_explicit(&st.fills, 1, memory_order_relaxed);
	}
	*pa = (*e & ~(TLB_PAGE_SIZE - 1)) | (va & (TLB_PAGE_SIZE - 1));
	return 0;
}

void tlb_model_flush_page(unsigned cpu, uint64_t va)
{
	long p = page_of(va);

	atomic_fetch_add_explicit(&st.flushes_page, 1, memory_order_relaxed);
	if (p >= 0 && cpu < ncpus)
		tlbs[(size_t)cpu * npages + (size_t)p] = 0;
}

void tlb_model_flush_all(unsigned cpu)
{
	atomic_fetch_add_explicit(&st.flushes_all, 1, memory_order_relaxed);
	if (cpu >= ncpus)
		return;
	for (unsigned i = 0; i < npages; i++)
		tlbs[(size_t)cpu * npages + i] = 0;
}

void tlb_model_stats(struct tlb_model_stats *o)
{
	o->maps = atomic_load(&st.maps);
	o->unmaps = atomic_load(&st.unmaps);
	o->fills = atomic_load(&st.fills);
	o->stale_hits = atomic_load(&st.stale_hits);
	o->flushes_page = atomic_load(&st.flushes_page);
	o->flushes_all = atomic_load(&st.flushes_all);
}
