/*
 * iova.h — the per-domain I/O virtual address allocator of the DMA layer: page
 * granular ranges inside [lo, hi], power-of-two alignment, first fit over an
 * address-ordered free list that coalesces on free, and refusal (never a crash)
 * of double frees and frees of ranges it did not hand out. Pure: it takes its node
 * allocator from the caller, so CMocka tests link it alone. docs/dma.md.
 */
#ifndef KERNEL_DMA_IOVA_H
#define KERNEL_DMA_IOVA_H
#include <stddef.h>
#include <stdint.h>

#define IOVA_PAGE 4096ull

struct iova_range {                 /* [start, end] inclusive, page aligned ends */
	uint64_t start, end;
	struct iova_range *next;
};

struct iova_space {
	uint64_t lo, hi;                /* usable window, inclusive: [lo, hi] */
	struct iova_range *free_list;   /* address order, never adjacent (coalesced) */
	struct iova_range *used;        /* live allocations, most recent first */
	uint64_t used_pages, nallocs;
	void *(*node_alloc)(size_t);    /* kmalloc in the kernel, malloc in tests */
	void (*node_free)(void *);
};

/* Window [lo, hi] (lo rounded up, hi+1 rounded down to pages; lo > 0 keeps IOVA 0
 * out). -EINVAL for an empty window, -ENOMEM when the first node cannot be made. */
int iova_init(struct iova_space *s, uint64_t lo, uint64_t hi, void *(*node_alloc)(size_t),
	      void (*node_free)(void *));
/* Free every node; the live allocations are forgotten (the caller reports leaks). */
void iova_destroy(struct iova_space *s);
/* len bytes (rounded up to pages) at an address aligned to align (a power of two,
 * 0 = a page; less than a page counts as a page). 0 and *out; -EINVAL bad
 * arguments; -ENOSPC no hole large enough; -ENOMEM no node. */
int iova_alloc(struct iova_space *s, uint64_t len, uint64_t align, uint64_t *out);
/* Give back exactly what iova_alloc returned (same address, same len). -EINVAL for
 * a range it never handed out (foreign, or a different length), -EFAULT for a
 * range that is free already (double free). Nothing changes on error. */
int iova_free(struct iova_space *s, uint64_t addr, uint64_t len);
/* Take [start, end] (inclusive; widened to whole pages, clipped to the window)
 * out of the free list for good: it is never handed out and iova_free of it is
 * refused (-EINVAL). For ranges an IOMMU maps by itself (VT-d RMRRs). 0 (also when
 * it lies outside the window); -EINVAL (end < start); -EBUSY when part of it is
 * allocated already; -ENOMEM. Nothing changes on error. */
int iova_reserve(struct iova_space *s, uint64_t start, uint64_t end);
/* Pages free in the window. */
uint64_t iova_free_pages(const struct iova_space *s);
#endif
