/*
 * pmm.c — physical page allocator: one bit per 4 KiB page from 0 to the end of the
 * highest usable region (1 = used or reserved). The bitmap lives in usable RAM it
 * reserves for itself. Contiguous, aligned runs by first fit from a rotating hint,
 * the pages below 16 MiB last.
 */
#include <hal/hal.h>
#include <kernel/errno.h>
#include <kernel/log.h>
#include <kernel/panic.h>
#include <kernel/fault.h>
#include <kernel/pmm.h>
#include <kernel/spinlock.h>
#include <kernel/string.h>

#define LOW_RESERVED 0x100000ull    /* first MiB: real-mode IVT, EBDA, BIOS, AP trampoline */

/* Lock order: pmm_lock is taken before console_lock (it logs), never the reverse. */
static struct spinlock pmm_lock = SPINLOCK_INIT("pmm");
static uint64_t *bitmap;
static uint64_t npages;             /* pages covered by the bitmap */
static uint64_t nfree;
static uint64_t nmanaged;
static uint64_t usable_bytes;
static uint64_t hint;
/* Pages below 16 MiB are what devices with narrow DMA masks (ISA-style 24-bit, the
 * bounce pools for them) can reach: ordinary allocations take them last, so a
 * machine whose drivers hold many queues (256 CPUs, 64 NVMe queue pairs) still
 * has low memory for a 24-bit device. */
static const uint64_t low_keep_pages = (16ull << 20) / PAGE_SIZE;
static uint64_t low_floor;          /* first page ordinary allocations try */
/* pages that were ever free (usable and not reserved): frees elsewhere are bugs */
static uint64_t *managed;

static inline bool test_bit(const uint64_t *bm, uint64_t i) { return bm[i / 64] >> (i % 64) & 1; }
static inline void set_bit(uint64_t *bm, uint64_t i) { bm[i / 64] |= 1ull << (i % 64); }
static inline void clr_bit(uint64_t *bm, uint64_t i) { bm[i / 64] &= ~(1ull << (i % 64)); }

static void reserve_range(uint64_t start, uint64_t end)
{
	for (uint64_t p = start / PAGE_SIZE; p < npages && p * PAGE_SIZE < end; p++) {
		if (!test_bit(bitmap, p)) {
			set_bit(bitmap, p);
			clr_bit(managed, p);
			nfree--;
		}
	}
}

int pmm_init(const struct boot_info *bi)
{
	uint64_t top = 0;
	usable_bytes = 0;
	for (uint32_t i = 0; i < bi->mmap_count; i++) {
		const struct boot_mem_region *r = &bi->mmap[i];
		if (r->type != BOOT_MEM_USABLE || r->len == 0 || r->base + r->len < r->base)
			continue;
		usable_bytes += r->len;
		if (r->base + r->len > top)
			top = r->base + r->len;
	}
	npages = top / PAGE_SIZE;
	if (npages == 0) {
		klog("pmm", "memory map has no usable RAM");
		return -ENOMEM;
	}
	uint64_t words = (npages + 63) / 64;
	uint64_t need = 2 * words * sizeof(uint64_t);   /* bitmap + managed map */
	uint64_t need_pages = (need + PAGE_SIZE - 1) / PAGE_SIZE;
	/* Place both maps in the first usable run above 1 MiB that avoids the kernel. */
	uint64_t at = 0;
	for (uint32_t i = 0; i < bi->mmap_count && !at; i++) {
		const struct boot_mem_region *r = &bi->mmap[i];
		if (r->type != BOOT_MEM_USABLE)
			continue;
		uint64_t s = (r->base + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
		uint64_t e = (r->base + r->len) & ~(PAGE_SIZE - 1);
		if (s < LOW_RESERVED)
			s = LOW_RESERVED;
		if (s < bi->kernel_phys_end && bi->kernel_phys_start < e + need_pages * PAGE_SIZE &&
		    bi->kernel_phys_end > bi->kernel_phys_start)
			s = (bi->kernel_phys_end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
		if (s < e && e - s >= need_pages * PAGE_SIZE && hal_phys_to_virt(s) &&
		    hal_phys_to_virt(s + need_pages * PAGE_SIZE - 1))
			at = s;
	}
	if (!at) {
		klog("pmm", "no room for the page bitmap (%llu KiB)", (unsigned long long)(need / 1024));
		return -ENOMEM;
	}
	bitmap = hal_phys_to_virt(at);
	managed = bitmap + words;
	memset(bitmap, 0xff, words * sizeof(uint64_t));
	memset(managed, 0, words * sizeof(uint64_t));
	nfree = 0;
	for (uint32_t i = 0; i < bi->mmap_count; i++) {
		const struct boot_mem_region *r = &bi->mmap[i];
		if (r->type != BOOT_MEM_USABLE)
			continue;
		uint64_t s = (r->base + PAGE_SIZE - 1) / PAGE_SIZE;
		uint64_t e = (r->base + r->len) / PAGE_SIZE;
		uint64_t unreachable = 0;
		for (uint64_t p = s; p < e && p < npages; p++) {
			/* RAM the platform cannot map (beyond its direct map) is not ours to
			 * hand out; reachability is checked once per 2 MiB. */
			if ((p == s || p % 512 == 0) && !hal_phys_to_virt(p * PAGE_SIZE)) {
				uint64_t next = (p | 511) + 1;
				unreachable += (next < e ? next : e) - p;
				p = next - 1;
				continue;
			}
			if (test_bit(bitmap, p)) {
				clr_bit(bitmap, p);
				set_bit(managed, p);
				nfree++;
			}
		}
		if (unreachable)
			klog("pmm", "%llu MiB of RAM in [0x%llx, 0x%llx) lies beyond the platform's direct map; not used",
			     (unsigned long long)(unreachable >> 8), (unsigned long long)r->base,
			     (unsigned long long)(r->base + r->len));
	}
	/* Overlapping map entries of other types win over usable ones. */
	for (uint32_t i = 0; i < bi->mmap_count; i++) {
		const struct boot_mem_region *r = &bi->mmap[i];
		if (r->type != BOOT_MEM_USABLE && r->len)
			reserve_range(r->base & ~(PAGE_SIZE - 1), r->base + r->len);
	}
	reserve_range(0, LOW_RESERVED);
	if (bi->kernel_phys_end > bi->kernel_phys_start)
		reserve_range(bi->kernel_phys_start & ~(PAGE_SIZE - 1), bi->kernel_phys_end);
	reserve_range(at, at + need_pages * PAGE_SIZE);
	nmanaged = nfree;
	low_floor = npages > 2 * low_keep_pages ? low_keep_pages : 1;
	hint = low_floor;
	return 0;
}

/* Find n free pages aligned to `align`, starting at `from`; returns npages if none. */
static uint64_t find_run(uint64_t from, uint64_t limit, uint64_t n, uint64_t align)
{
	uint64_t p = (from + align - 1) & ~(align - 1);
	while (p + n <= limit) {
		/* skip fully used words quickly when unaligned search allows it */
		if (align == 1 && p % 64 == 0 && bitmap[p / 64] == ~0ull) {
			p += 64;
			continue;
		}
		uint64_t k = 0;
		while (k < n && !test_bit(bitmap, p + k))
			k++;
		if (k == n)
			return p;
		p = (p + k + 1 + align - 1) & ~(align - 1);
	}
	return npages;
}

/* Mark the run [p, p+n) that find_run returned as allocated. */
static void take_run(uint64_t p, uint64_t n)
{
	lock_assert_held(&pmm_lock);
	for (uint64_t k = 0; k < n; k++)
		set_bit(bitmap, p + k);
	nfree -= n;
}

uint64_t pmm_alloc_pages(size_t n, size_t align_pages)
{
	if (n == 0 || align_pages == 0 || (align_pages & (align_pages - 1)))
		return 0;
	if (FAULT_SITE("pmm.alloc"))
		return 0;                   /* injected: looks exactly like exhaustion */
	spin_lock(&pmm_lock);
	/* The hint never points below the floor: one fall-back to the low pages
	 * (an aligned run the fragmented high memory could not give) must not make
	 * the next ordinary allocations start there. */
	uint64_t p = find_run(hint > low_floor ? hint : low_floor, npages, n, align_pages);
	if (p == npages)
		p = find_run(low_floor, hint + n < npages ? hint + n : npages, n, align_pages);
	if (p == npages && low_floor > 1)   /* last resort: the low pages */
		p = find_run(1, low_floor + n < npages ? low_floor + n : npages, n, align_pages);
	if (p == npages || p == 0) {
		spin_unlock(&pmm_lock);
		return 0;
	}
	take_run(p, n);
	if (p >= low_floor)
		hint = p + n;
	spin_unlock(&pmm_lock);
	return p * PAGE_SIZE;
}

uint64_t pmm_alloc_pages_in(size_t n, size_t align_pages, uint64_t lo, uint64_t hi)
{
	if (n == 0 || align_pages == 0 || (align_pages & (align_pages - 1)) || hi <= lo)
		return 0;
	if (FAULT_SITE("pmm.alloc"))
		return 0;
	uint64_t from = (lo + PAGE_SIZE - 1) / PAGE_SIZE, limit = hi / PAGE_SIZE;
	if (from == 0)
		from = 1;                   /* never physical address 0 */
	if (limit > npages)
		limit = npages;
	if (from >= limit)
		return 0;
	spin_lock(&pmm_lock);
	uint64_t p = find_run(from, limit, n, align_pages);
	if (p == npages) {              /* find_run keeps any run it finds below limit */
		spin_unlock(&pmm_lock);
		return 0;
	}
	take_run(p, n);
	spin_unlock(&pmm_lock);
	return p * PAGE_SIZE;
}

int pmm_free_pages(uint64_t pa, size_t n)
{
	if (pa % PAGE_SIZE || n == 0 || pa / PAGE_SIZE >= npages || n > npages - pa / PAGE_SIZE) {
		klog("pmm", "free of 0x%llx (+%zu pages): not a page range the allocator owns",
		     (unsigned long long)pa, n);
		return -EINVAL;
	}
	uint64_t p = pa / PAGE_SIZE;
	spin_lock(&pmm_lock);
	for (uint64_t k = 0; k < n; k++) {
		if (!test_bit(managed, p + k)) {
			spin_unlock(&pmm_lock);
			klog("pmm", "free of reserved page 0x%llx refused", (unsigned long long)((p + k) * PAGE_SIZE));
			return -EINVAL;
		}
		if (!test_bit(bitmap, p + k)) {
			spin_unlock(&pmm_lock);
			klog("pmm", "double free of page 0x%llx refused", (unsigned long long)((p + k) * PAGE_SIZE));
			return -EFAULT;
		}
	}
	for (uint64_t k = 0; k < n; k++)
		clr_bit(bitmap, p + k);
	nfree += n;
	spin_unlock(&pmm_lock);
	return 0;
}

size_t pmm_free_count(void) { return nfree; }
size_t pmm_managed_count(void) { return nmanaged; }
uint64_t pmm_usable_bytes(void) { return usable_bytes; }
