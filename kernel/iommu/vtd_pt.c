/*
 * vtd_pt.c — VT-d second-level page tables: map, unmap, translate over 3- or
 * 4-level tables of 4 KiB pages (spec rev 4.1 §3.7.1, §9.8), and the root and
 * context entry encodings (§9.1, §9.3). Pure; memory through hal_phys_to_virt.
 * Stores the hardware may walk concurrently go through the kernel's atomics.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/errno.h>
#include <kernel/string.h>
#include "vtd_pt.h"

#define PT_ENTRIES 512
#define PT_PAGE 4096ull

static volatile uint64_t *table(uint64_t pa)
{
	return (volatile uint64_t *)hal_phys_to_virt(pa);
}

static unsigned index_at(uint64_t iova, unsigned level)
{
	return (unsigned)(iova >> (12 + 9 * (level - 1))) & (PT_ENTRIES - 1);
}

int vtd_pt_init(struct vtd_pt *pt, unsigned levels, uint64_t (*alloc_page)(void *),
		void (*free_page)(void *, uint64_t), void *ctx)
{
	memset(pt, 0, sizeof *pt);
	if (levels != 3 && levels != 4)
		return -EINVAL;
	pt->levels = levels;
	pt->alloc_page = alloc_page;
	pt->free_page = free_page;
	pt->ctx = ctx;
	pt->root = alloc_page(ctx);
	if (!pt->root || !table(pt->root))
		return -ENOMEM;
	pt->tables = 1;
	return 0;
}

static void free_level(struct vtd_pt *pt, uint64_t pa, unsigned level)
{
	volatile uint64_t *t = table(pa);
	if (level > 1)
		for (unsigned i = 0; i < PT_ENTRIES; i++)
			if (t[i] & (VTD_SL_R | VTD_SL_W))
				free_level(pt, t[i] & VTD_SL_ADDR, level - 1);
	pt->free_page(pt->ctx, pa);
	pt->tables--;
}

void vtd_pt_destroy(struct vtd_pt *pt)
{
	if (pt->root)
		free_level(pt, pt->root, pt->levels);
	pt->root = 0;
}

static bool range_ok(const struct vtd_pt *pt, uint64_t iova, size_t len)
{
	uint64_t top = 1ull << vtd_pt_bits(pt);
	return pt->root && len && !(iova & (PT_PAGE - 1)) && !(len & (PT_PAGE - 1)) &&
	       iova < top && len <= top - iova;
}

/* The leaf slot for iova; with create, missing tables are made (a new table is
 * zeroed before its entry is published, so the walk never sees garbage). */
static volatile uint64_t *leaf_slot(struct vtd_pt *pt, uint64_t iova, bool create)
{
	volatile uint64_t *t = table(pt->root);
	for (unsigned level = pt->levels; level > 1; level--) {
		volatile uint64_t *e = &t[index_at(iova, level)];
		uint64_t v = *e;
		if (!(v & (VTD_SL_R | VTD_SL_W))) {
			if (!create)
				return 0;
			uint64_t pa = pt->alloc_page(pt->ctx);
			if (!pa || !table(pa))
				return 0;
			pt->tables++;
			/* Non-leaf entries allow both; the leaf decides (§3.7.1). The
			 * table was zeroed by the allocator; the release store orders
			 * that before the link. */
			v = pa | VTD_SL_R | VTD_SL_W;
			atomic_store64((uint64_t *)e, v, MO_RELEASE);
		}
		t = table(v & VTD_SL_ADDR);
	}
	return &t[index_at(iova, 1)];
}

int vtd_pt_unmap(struct vtd_pt *pt, uint64_t iova, size_t len)
{
	if (!range_ok(pt, iova, len))
		return -EINVAL;
	for (uint64_t off = 0; off < len; off += PT_PAGE) {
		volatile uint64_t *e = leaf_slot(pt, iova + off, false);
		if (!e || !(*e & (VTD_SL_R | VTD_SL_W)))
			return -ENOENT;
	}
	for (uint64_t off = 0; off < len; off += PT_PAGE)
		*leaf_slot(pt, iova + off, false) = 0;
	return 0;
}

int vtd_pt_map(struct vtd_pt *pt, uint64_t iova, uint64_t pa, size_t len, unsigned prot)
{
	if (!range_ok(pt, iova, len) || (pa & (PT_PAGE - 1)) || !(prot & 3) || (prot & ~3u) ||
	    pa + len < pa || ((pa + len - 1) & ~VTD_SL_ADDR & ~(PT_PAGE - 1)))
		return -EINVAL;
	uint64_t bits = ((prot & 1) ? VTD_SL_R : 0) | ((prot & 2) ? VTD_SL_W : 0);
	uint64_t off;
	for (off = 0; off < len; off += PT_PAGE) {
		volatile uint64_t *e = leaf_slot(pt, iova + off, true);
		int rc = !e ? -ENOMEM : (*e & (VTD_SL_R | VTD_SL_W)) ? -EEXIST : 0;
		if (rc) {
			if (off)
				vtd_pt_unmap(pt, iova, off);
			return rc;
		}
		*e = (pa + off) | bits;
	}
	return 0;
}

int vtd_pt_translate(const struct vtd_pt *pt, uint64_t iova, uint64_t *pa, unsigned *prot)
{
	if (!pt->root || iova >= (1ull << vtd_pt_bits(pt)))
		return -EINVAL;
	volatile uint64_t *t = table(pt->root);
	for (unsigned level = pt->levels; level >= 1; level--) {
		uint64_t v = t[index_at(iova, level)];
		if (!(v & (VTD_SL_R | VTD_SL_W)))
			return -ENOENT;
		if (level == 1) {
			*pa = (v & VTD_SL_ADDR) | (iova & (PT_PAGE - 1));
			*prot = ((v & VTD_SL_R) ? 1u : 0) | ((v & VTD_SL_W) ? 2u : 0);
			return 0;
		}
		t = table(v & VTD_SL_ADDR);
	}
	return -ENOENT;
}

void vtd_root_encode(struct vtd_root_entry *e, uint64_t context_table_pa)
{
	e->lo = (context_table_pa & ~0xFFFull) | VTD_ROOT_P;
	e->hi = 0;
}

int vtd_context_encode(struct vtd_context_entry *e, uint64_t slpt_pa, unsigned levels, unsigned did)
{
	if ((levels != 3 && levels != 4) || (slpt_pa & 0xFFF) || did > 0xFFFF)
		return -EINVAL;
	/* FPD = 0: faults are recorded and reported; T = 00: untranslated requests
	 * are translated through the second-level table, ATS is not used. */
	e->lo = slpt_pa | VTD_CTX_TT_UNTRANSLATED | VTD_CTX_P;
	e->hi = VTD_CTX_AW(levels - 2) | VTD_CTX_DID(did);
	return 0;
}

void vtd_entry_publish(volatile uint64_t *slot, uint64_t lo, uint64_t hi)
{
	atomic_store64((uint64_t *)&slot[1], hi, MO_RELAXED);
	/* The high half must be visible before the present bit in the low half:
	 * the present bit is written last, by a release store. */
	atomic_store64((uint64_t *)&slot[0], lo, MO_RELEASE);
}

void vtd_entry_clear(volatile uint64_t *slot)
{
	atomic_store64((uint64_t *)&slot[0], 0, MO_RELAXED);
	/* Not present first, then the rest of the entry (the release store keeps
	 * the clearing of the present bit before it). */
	atomic_store64((uint64_t *)&slot[1], 0, MO_RELEASE);
}
