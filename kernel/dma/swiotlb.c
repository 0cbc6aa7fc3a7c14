/*
 * swiotlb.c — the bounce-buffer pool (docs/dma.md "Bounce buffers"): one
 * physically contiguous pool below 256 MiB, so that devices with masks as narrow
 * as edu's 28 bits reach it, made at first use with `dma.bounce_kib=` KiB
 * (default 1024), cut into 2 KiB slots tracked by a bitmap. Copies are the
 * caller's (dma.c); this file only hands out and takes back slots.
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

/* Lock order: taken inside a device's dma lock, before pmm_lock. */
static struct spinlock pool_lock = SPINLOCK_INIT("swiotlb");
static uint64_t pool_pa;
static size_t pool_slots;
static uint64_t *used;              /* 1 bit per slot: 1 = in use */
static uint64_t *starts;            /* 1 bit per slot: first slot of an allocation */
static size_t nused;
static bool tried;

static bool bit(const uint64_t *m, size_t i) { return m[i / 64] >> (i % 64) & 1; }
static void setb(uint64_t *m, size_t i) { m[i / 64] |= 1ull << (i % 64); }
static void clrb(uint64_t *m, size_t i) { m[i / 64] &= ~(1ull << (i % 64)); }

int swiotlb_init(void)
{
	spin_lock(&pool_lock);
	if (pool_pa || tried) {
		int rc = pool_pa ? 0 : -ENOMEM;
		spin_unlock(&pool_lock);
		return rc;
	}
	tried = true;
	spin_unlock(&pool_lock);

	uint64_t kib = DEFAULT_KIB;
	if (cmdline_has("dma.bounce_kib")) {
		uint64_t v;
		if (cmdline_get_u64("dma.bounce_kib", &v) != 0 || v < 4 || v > MAX_KIB) {
			klog("dma", "dma.bounce_kib=%s is not 4..%u: using %u", cmdline_get("dma.bounce_kib"),
			     MAX_KIB, DEFAULT_KIB);
		} else {
			kib = v;
		}
	}
	size_t pages = (size_t)((kib * 1024 + PAGE_SIZE - 1) / PAGE_SIZE);
	size_t slots = pages * (PAGE_SIZE / SWIOTLB_SLOT);
	size_t words = (slots + 63) / 64;
	uint64_t *u = kzalloc(words * sizeof(uint64_t));
	uint64_t *s = kzalloc(words * sizeof(uint64_t));
	/* As low as the allocator allows, below 256 MiB, else below 4 GiB. */
	uint64_t pa = u && s ? pmm_alloc_pages_in(pages, 1, 0x100000, SWIOTLB_LIMIT) : 0;
	if (!pa && u && s)
		pa = pmm_alloc_pages_in(pages, 1, 0x100000, 1ull << 32);
	if (!pa || !hal_phys_to_virt(pa)) {
		klog("dma", "no %zu KiB below 4 GiB for the bounce-buffer pool: bouncing disabled",
		     pages * 4);
		kfree(u);
		kfree(s);
		return -ENOMEM;
	}
	memset(hal_phys_to_virt(pa), 0, pages * PAGE_SIZE);
	spin_lock(&pool_lock);
	used = u;
	starts = s;
	pool_slots = slots;
	pool_pa = pa;
	spin_unlock(&pool_lock);
	klog("dma", "bounce pool: %zu KiB at 0x%llx, %zu slots of %u bytes", pages * 4,
	     (unsigned long long)pa, slots, SWIOTLB_SLOT);
	return 0;
}

int swiotlb_alloc(size_t len, uint32_t align, uint64_t mask, uint64_t *pa)
{
	if (len == 0 || !pa || (align & (align - 1)) || align > PAGE_SIZE)
		return -EINVAL;
	int rc = swiotlb_init();
	if (rc)
		return rc;
	size_t n = (len + SWIOTLB_SLOT - 1) / SWIOTLB_SLOT;
	size_t step = align > SWIOTLB_SLOT ? align / SWIOTLB_SLOT : 1;
	spin_lock(&pool_lock);
	for (size_t i = 0; i + n <= pool_slots; i += step) {
		size_t k = 0;
		while (k < n && !bit(used, i + k))
			k++;
		if (k < n)
			continue;
		uint64_t at = pool_pa + (uint64_t)i * SWIOTLB_SLOT;
		if (at + (uint64_t)n * SWIOTLB_SLOT - 1 > mask)
			break;                  /* slots only get higher from here */
		for (k = 0; k < n; k++)
			setb(used, i + k);
		setb(starts, i);
		nused += n;
		spin_unlock(&pool_lock);
		*pa = at;
		return 0;
	}
	spin_unlock(&pool_lock);
	return -ENOSPC;
}

int swiotlb_free(uint64_t pa, size_t len)
{
	size_t n = (len + SWIOTLB_SLOT - 1) / SWIOTLB_SLOT;
	spin_lock(&pool_lock);
	if (!pool_pa || len == 0 || pa < pool_pa || (pa - pool_pa) % SWIOTLB_SLOT ||
	    (pa - pool_pa) / SWIOTLB_SLOT + n > pool_slots) {
		spin_unlock(&pool_lock);
		klog("dma", "bounce free of 0x%llx+%zu: not a slot of the pool", (unsigned long long)pa, len);
		return -EINVAL;
	}
	size_t i = (size_t)((pa - pool_pa) / SWIOTLB_SLOT);
	for (size_t k = 0; k < n; k++)
		if (!bit(used, i + k) || (k == 0) != bit(starts, i + k)) {
			spin_unlock(&pool_lock);
			klog("dma", "bounce free of 0x%llx+%zu: slots not allocated that way (double free?)",
			     (unsigned long long)pa, len);
			return -EINVAL;
		}
	for (size_t k = 0; k < n; k++)
		clrb(used, i + k);
	clrb(starts, i);
	nused -= n;
	spin_unlock(&pool_lock);
	return 0;
}

uint64_t swiotlb_base(void) { return pool_pa; }
size_t swiotlb_size(void) { return pool_slots * SWIOTLB_SLOT; }
size_t swiotlb_slots_used(void) { return nused; }
