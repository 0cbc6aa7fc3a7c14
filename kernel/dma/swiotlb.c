/*
 * swiotlb.c — the bounce-buffer pools (docs/dma.md "Bounce buffers"): each pool is
 * physically contiguous, made at first need with `dma.bounce_kib=` KiB (default
 * 1024) below the mask of the device that needs it (below 4 GiB for masks of 32
 * bits or more), cut into 2 KiB slots tracked by a bitmap. A device uses the pools
 * it reaches; a new one is made only when none lies wholly below its mask. Copies
 * are the caller's (dma.c); this file only hands out and takes back slots.
 */
#include <hal/hal.h>
#include <kernel/cmdline.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/log.h>
#include <kernel/pmm.h>
#include <kernel/spinlock.h>
#include <kernel/string.h>
#include "dma_internal.h"

#define DEFAULT_KIB 1024u
#define MAX_KIB (64u * 1024)
#define MAX_POOLS 4
#define POOL_LO 0x100000ull         /* above the first MiB (firmware, real-mode data) */
#define POOL_HI (1ull << 32)        /* no pool above 4 GiB: 32-bit devices share it */

struct pool {
	uint64_t pa;                /* 0: not made */
	size_t slots;
	uint64_t *used;             /* 1 bit per slot: 1 = in use */
	uint64_t *starts;           /* 1 bit per slot: first slot of an allocation */
	size_t nused;
};

/* Lock order: taken inside a device's dma lock, before pmm_lock. */
static struct spinlock pool_lock = SPINLOCK_INIT("swiotlb");
static struct pool pools[MAX_POOLS];
static unsigned npools;
static uint64_t failed_hi;          /* a pool below this could not be made: do not retry */

static bool bit(const uint64_t *m, size_t i) { return m[i / 64] >> (i % 64) & 1; }
static void setb(uint64_t *m, size_t i) { m[i / 64] |= 1ull << (i % 64); }
static void clrb(uint64_t *m, size_t i) { m[i / 64] &= ~(1ull << (i % 64)); }

static uint64_t pool_kib(void)
{
	uint64_t kib = DEFAULT_KIB;
	if (cmdline_has("dma.bounce_kib")) {
		uint64_t v;
		if (cmdline_get_u64("dma.bounce_kib", &v) != 0 || v < 4 || v > MAX_KIB)
			klog("dma", "dma.bounce_kib=%s is not 4..%u: using %u", cmdline_get("dma.bounce_kib"),
			     MAX_KIB, DEFAULT_KIB);
		else
			kib = v;
	}
	return kib;
}

/* The end (exclusive) of what a device with this mask reaches, capped at POOL_HI. */
static uint64_t reach_of(uint64_t mask)
{
	return mask >= POOL_HI - 1 ? POOL_HI : mask + 1;
}

/* Make a pool below hi (exclusive), as low as the allocator allows. Called without
 * pool_lock. 0, -ENOMEM (no memory there, logged once per reach), -ENOSPC (all
 * MAX_POOLS made). */
static int pool_make(uint64_t hi)
{
	size_t pages = (size_t)((pool_kib() * 1024 + PAGE_SIZE - 1) / PAGE_SIZE);
	size_t slots = pages * (PAGE_SIZE / SWIOTLB_SLOT);
	size_t words = (slots + 63) / 64;
	uint64_t *u = kzalloc(words * sizeof(uint64_t));
	uint64_t *st = kzalloc(words * sizeof(uint64_t));
	uint64_t pa = u && st ? pmm_alloc_pages_in(pages, 1, POOL_LO, hi) : 0;
	if (!pa || !hal_phys_to_virt(pa)) {
		spin_lock(&pool_lock);
		if (hi > failed_hi)
			failed_hi = hi;
		spin_unlock(&pool_lock);
		klog("dma", "no %zu KiB below 0x%llx for a bounce-buffer pool: bouncing for that mask disabled",
		     pages * 4, (unsigned long long)hi);
		if (pa)
			pmm_free_pages(pa, pages);
		kfree(u);
		kfree(st);
		return -ENOMEM;
	}
	memset(hal_phys_to_virt(pa), 0, pages * PAGE_SIZE);
	spin_lock(&pool_lock);
	if (npools == MAX_POOLS) {
		spin_unlock(&pool_lock);
		pmm_free_pages(pa, pages);
		kfree(u);
		kfree(st);
		return -ENOSPC;
	}
	struct pool *p = &pools[npools];
	p->used = u;
	p->starts = st;
	p->slots = slots;
	p->pa = pa;
	npools++;
	spin_unlock(&pool_lock);
	klog("dma", "bounce pool %u: %zu KiB at 0x%llx (below 0x%llx), %zu slots of %u bytes", npools - 1,
	     pages * 4, (unsigned long long)pa, (unsigned long long)hi, slots, SWIOTLB_SLOT);
	return 0;
}

/* n slots from p, the first at a multiple of step, the run at or below mask. */
static int pool_take(struct pool *p, size_t n, size_t step, uint64_t mask, uint64_t *pa)
{
	for (size_t i = 0; i + n <= p->slots; i += step) {
		size_t k = 0;
		while (k < n && !bit(p->used, i + k))
			k++;
		if (k < n)
			continue;
		uint64_t at = p->pa + (uint64_t)i * SWIOTLB_SLOT;
		if (at + (uint64_t)n * SWIOTLB_SLOT - 1 > mask)
			break;                  /* slots only get higher from here */
		for (k = 0; k < n; k++)
			setb(p->used, i + k);
		setb(p->starts, i);
		p->nused += n;
		*pa = at;
		return 0;
	}
	return -ENOSPC;
}

int swiotlb_init(uint64_t mask)
{
	uint64_t hi = reach_of(mask);
	spin_lock(&pool_lock);
	for (unsigned i = 0; i < npools; i++)
		if (pools[i].pa + pools[i].slots * SWIOTLB_SLOT <= hi) {
			spin_unlock(&pool_lock);
			return 0;
		}
	bool failed = hi <= failed_hi;
	spin_unlock(&pool_lock);
	return failed ? -ENOMEM : pool_make(hi);
}

int swiotlb_alloc(size_t len, uint32_t align, uint64_t mask, uint64_t *pa)
{
	if (len == 0 || !pa || (align & (align - 1)) || align > PAGE_SIZE)
		return -EINVAL;
	int rc = swiotlb_init(mask);
	if (rc)
		return rc;
	size_t n = (len + SWIOTLB_SLOT - 1) / SWIOTLB_SLOT;
	size_t step = align > SWIOTLB_SLOT ? align / SWIOTLB_SLOT : 1;
	spin_lock(&pool_lock);
	for (unsigned i = 0; i < npools; i++)
		if (pool_take(&pools[i], n, step, mask, pa) == 0) {
			spin_unlock(&pool_lock);
			return 0;
		}
	spin_unlock(&pool_lock);
	return -ENOSPC;
}

static struct pool *pool_of(uint64_t pa)
{
	for (unsigned i = 0; i < npools; i++)
		if (pa >= pools[i].pa && pa - pools[i].pa < pools[i].slots * SWIOTLB_SLOT)
			return &pools[i];
	return 0;
}

int swiotlb_free(uint64_t pa, size_t len)
{
	size_t n = (len + SWIOTLB_SLOT - 1) / SWIOTLB_SLOT;
	spin_lock(&pool_lock);
	struct pool *p = pool_of(pa);
	if (!p || len == 0 || (pa - p->pa) % SWIOTLB_SLOT || (pa - p->pa) / SWIOTLB_SLOT + n > p->slots) {
		spin_unlock(&pool_lock);
		klog("dma", "bounce free of 0x%llx+%zu: not a slot of a pool", (unsigned long long)pa, len);
		return -EINVAL;
	}
	size_t i = (size_t)((pa - p->pa) / SWIOTLB_SLOT);
	for (size_t k = 0; k < n; k++)
		if (!bit(p->used, i + k) || (k == 0) != bit(p->starts, i + k)) {
			spin_unlock(&pool_lock);
			klog("dma", "bounce free of 0x%llx+%zu: slots not allocated that way (double free?)",
			     (unsigned long long)pa, len);
			return -EINVAL;
		}
	for (size_t k = 0; k < n; k++)
		clrb(p->used, i + k);
	clrb(p->starts, i);
	p->nused -= n;
	spin_unlock(&pool_lock);
	return 0;
}

bool swiotlb_owns(uint64_t pa, size_t len)
{
	spin_lock(&pool_lock);
	struct pool *p = pool_of(pa);
	bool in = p && len && pa - p->pa + len <= p->slots * SWIOTLB_SLOT;
	spin_unlock(&pool_lock);
	return in;
}

size_t swiotlb_slots_used(void)
{
	size_t n = 0;
	spin_lock(&pool_lock);
	for (unsigned i = 0; i < npools; i++)
		n += pools[i].nused;
	spin_unlock(&pool_lock);
	return n;
}
