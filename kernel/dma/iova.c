/*
 * iova.c — I/O virtual address allocator, one per IOMMU domain (docs/dma.md
 * "IOVA allocator"): first fit over an address-ordered free list of page ranges,
 * alignment by power of two, coalescing frees, double-free and foreign-free
 * refusal, reserved ranges (VT-d RMRRs, spec §8.4) that are never handed out. No locking (the DMA layer holds its device lock) and no kernel
 * dependencies beyond errno, so tests/unit/test_iova.c links this file alone.
 */
#include <stdbool.h>
#include <kernel/errno.h>
#include "iova.h"

static uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

int iova_init(struct iova_space *s, uint64_t lo, uint64_t hi, void *(*node_alloc)(size_t),
	      void (*node_free)(void *))
{
	if (!s || !node_alloc || !node_free)
		return -EINVAL;
	s->free_list = s->used = 0;
	s->used_pages = s->nallocs = 0;
	s->node_alloc = node_alloc;
	s->node_free = node_free;
	if (lo > ~0ull - (IOVA_PAGE - 1))
		return -EINVAL;
	lo = round_up(lo, IOVA_PAGE);
	if (hi != ~0ull)                            /* ~0 ends on a page boundary already */
		hi = ((hi + 1) & ~(IOVA_PAGE - 1)) - 1;
	if (hi < lo || hi - lo + 1 < IOVA_PAGE)
		return -EINVAL;
	struct iova_range *r = node_alloc(sizeof *r);
	if (!r)
		return -ENOMEM;
	r->start = lo;
	r->end = hi;
	r->next = 0;
	s->lo = lo;
	s->hi = hi;
	s->free_list = r;
	return 0;
}

static void free_chain(struct iova_space *s, struct iova_range *r)
{
	while (r) {
		struct iova_range *n = r->next;
		s->node_free(r);
		r = n;
	}
}

void iova_destroy(struct iova_space *s)
{
	free_chain(s, s->free_list);
	free_chain(s, s->used);
	s->free_list = s->used = 0;
	s->used_pages = s->nallocs = 0;
}

int iova_alloc(struct iova_space *s, uint64_t len, uint64_t align, uint64_t *out)
{
	if (!s || !out || len == 0 || len > ~0ull - IOVA_PAGE)
		return -EINVAL;
	if (align & (align - 1))
		return -EINVAL;
	if (align < IOVA_PAGE)
		align = IOVA_PAGE;
	uint64_t size = round_up(len, IOVA_PAGE);
	/* Two nodes at most are needed (the used record and a split-off tail); take
	 * them first so that a failure changes nothing. */
	struct iova_range *u = s->node_alloc(sizeof *u);
	struct iova_range *tail = s->node_alloc(sizeof *tail);
	if (!u || !tail) {
		if (u)
			s->node_free(u);
		if (tail)
			s->node_free(tail);
		return -ENOMEM;
	}
	struct iova_range **pp = &s->free_list;
	for (; *pp; pp = &(*pp)->next) {
		struct iova_range *f = *pp;
		uint64_t a = round_up(f->start, align);
		if (a < f->start || a > f->end || f->end - a + 1 < size)
			continue;                   /* wrapped, or no room after aligning */
		uint64_t end = a + size - 1;
		/* Carve [a, end] out of f: a head [f->start, a-1] and/or a tail. */
		if (a == f->start && end == f->end) {
			*pp = f->next;
			s->node_free(f);
			s->node_free(tail);
		} else if (a == f->start) {
			f->start = end + 1;
			s->node_free(tail);
		} else if (end == f->end) {
			f->end = a - 1;
			s->node_free(tail);
		} else {
			tail->start = end + 1;
			tail->end = f->end;
			tail->next = f->next;
			f->end = a - 1;
			f->next = tail;
		}
		u->start = a;
		u->end = end;
		u->next = s->used;
		s->used = u;
		s->used_pages += size / IOVA_PAGE;
		s->nallocs++;
		*out = a;
		return 0;
	}
	s->node_free(u);
	s->node_free(tail);
	return -ENOSPC;
}

int iova_free(struct iova_space *s, uint64_t addr, uint64_t len)
{
	if (!s || len == 0 || len > ~0ull - IOVA_PAGE || addr % IOVA_PAGE)
		return -EINVAL;
	uint64_t end = addr + round_up(len, IOVA_PAGE) - 1;
	if (addr < s->lo || end > s->hi || end < addr)
		return -EINVAL;             /* not from this window at all */
	struct iova_range **up = &s->used;
	while (*up && (*up)->start != addr)
		up = &(*up)->next;
	if (!*up) {
		/* Not live: free already (double free) or never handed out. */
		for (struct iova_range *f = s->free_list; f; f = f->next)
			if (addr >= f->start && addr <= f->end)
				return -EFAULT;
		return -EINVAL;
	}
	struct iova_range *u = *up;
	if (u->end != end)
		return -EINVAL;             /* a different length than was allocated */
	*up = u->next;
	s->used_pages -= (end - addr + 1) / IOVA_PAGE;
	/* Insert [addr, end] in address order, merging with neighbours. */
	struct iova_range *prev = 0, *next = s->free_list;
	while (next && next->start < addr) {
		prev = next;
		next = next->next;
	}
	bool merge_prev = prev && prev->end + 1 == addr;
	bool merge_next = next && end + 1 == next->start;
	if (merge_prev && merge_next) {
		prev->end = next->end;
		prev->next = next->next;
		s->node_free(next);
		s->node_free(u);
	} else if (merge_prev) {
		prev->end = end;
		s->node_free(u);
	} else if (merge_next) {
		next->start = addr;
		s->node_free(u);
	} else {
		u->start = addr;
		u->end = end;
		u->next = next;
		if (prev)
			prev->next = u;
		else
			s->free_list = u;
	}
	return 0;
}

int iova_reserve(struct iova_space *s, uint64_t start, uint64_t end)
{
	if (!s || end < start)
		return -EINVAL;
	start &= ~(IOVA_PAGE - 1);
	end |= IOVA_PAGE - 1;
	if (end < s->lo || start > s->hi)
		return 0;                   /* outside the window: nothing to keep out */
	if (start < s->lo)
		start = s->lo;
	if (end > s->hi)
		end = s->hi;
	for (const struct iova_range *u = s->used; u; u = u->next)
		if (u->start <= end && start <= u->end)
			return -EBUSY;
	/* At most one free range holds the whole reservation strictly inside: it
	 * splits in two, which needs a node; take it first so failure changes nothing. */
	struct iova_range *spare = s->node_alloc(sizeof *spare);
	if (!spare)
		return -ENOMEM;
	struct iova_range **pp = &s->free_list;
	while (*pp) {
		struct iova_range *f = *pp;
		if (f->end < start || f->start > end) {
			pp = &f->next;
		} else if (f->start >= start && f->end <= end) {
			*pp = f->next;              /* wholly reserved */
			s->node_free(f);
		} else if (f->start < start && f->end > end) {
			spare->start = end + 1;
			spare->end = f->end;
			spare->next = f->next;
			f->end = start - 1;
			f->next = spare;
			spare = 0;
			break;
		} else {
			if (f->start < start)
				f->end = start - 1;
			else
				f->start = end + 1;
			pp = &f->next;
		}
	}
	if (spare)
		s->node_free(spare);
	return 0;
}

uint64_t iova_free_pages(const struct iova_space *s)
{
	uint64_t n = 0;
	for (const struct iova_range *f = s->free_list; f; f = f->next)
		n += (f->end - f->start + 1) / IOVA_PAGE;
	return n;
}
