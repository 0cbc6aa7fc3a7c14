/* pmm.h — physical page allocator over the boot memory map (4 KiB pages). */
#ifndef KERNEL_PMM_H
#define KERNEL_PMM_H
#include <stddef.h>
#include <stdint.h>
#include <hal/hal.h>

#define PAGE_SIZE 4096ull
#define PAGE_SHIFT 12

/* Build the allocator from bi's memory map; reserves page 0, the first MiB, the
 * kernel image and its own bitmap. Returns 0 or -ENOMEM when no usable RAM. */
int pmm_init(const struct boot_info *bi);
/* n contiguous pages aligned to align_pages (a power of two, 1 = any); returns the
 * physical address, or 0 when none is free. Never returns physical address 0. */
uint64_t pmm_alloc_pages(size_t n, size_t align_pages);
/* The same, restricted to physical [lo, hi): DMA memory below a device's mask
 * (hi = mask + 1) or above 4 GiB for tests (docs/dma.md). 0 when none is free. */
uint64_t pmm_alloc_pages_in(size_t n, size_t align_pages, uint64_t lo, uint64_t hi);
static inline uint64_t pmm_alloc_page(void) { return pmm_alloc_pages(1, 1); }
/* Free pages from pmm_alloc_pages. -EINVAL for unaligned/out-of-range/reserved
 * pages, -EFAULT for a page that is already free (double free); logged, nothing changed. */
int pmm_free_pages(uint64_t pa, size_t n);
size_t pmm_free_count(void);
size_t pmm_managed_count(void);   /* pages that were free after pmm_init */
uint64_t pmm_usable_bytes(void);  /* usable RAM in the memory map */
#endif
