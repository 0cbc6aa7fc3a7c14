/*
 * mm_ktest.c — the `pmm` and `heap` ktest suites: allocation round trips,
 * alignment, exhaustion without panic, refusal of double and foreign frees, and
 * that nothing handed out overlaps the kernel image, low memory or reserved RAM.
 */
#include <hal/hal.h>
#include <kernel/boot.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/ktest.h>
#include <kernel/pmm.h>
#include <kernel/string.h>

static bool page_is_usable_ram(uint64_t pa)
{
	const struct boot_info *bi = boot_info_get();
	if (pa < 0x100000)
		return false;
	if (bi->kernel_phys_end > bi->kernel_phys_start && pa + PAGE_SIZE > bi->kernel_phys_start &&
	    pa < bi->kernel_phys_end)
		return false;
	bool usable = false;
	for (uint32_t i = 0; i < bi->mmap_count; i++) {
		const struct boot_mem_region *r = &bi->mmap[i];
		bool inside = pa >= r->base && pa + PAGE_SIZE <= r->base + r->len;
		bool overlaps = pa < r->base + r->len && pa + PAGE_SIZE > r->base;
		if (r->type == BOOT_MEM_USABLE && inside)
			usable = true;
		if (r->type != BOOT_MEM_USABLE && overlaps)
			return false;
	}
	return usable;
}

static void alloc_free_roundtrip(struct ktest *t)
{
	size_t before = pmm_free_count();
	uint64_t pa = pmm_alloc_page();
	KTEST_ASSERT(t, pa != 0);
	KTEST_EXPECT_EQ(t, pa % PAGE_SIZE, 0);
	KTEST_EXPECT_EQ(t, pmm_free_count(), before - 1);
	uint8_t *p = hal_phys_to_virt(pa);
	KTEST_ASSERT(t, p != 0);
	memset(p, 0xa5, PAGE_SIZE);
	KTEST_EXPECT_EQ(t, p[PAGE_SIZE - 1], 0xa5);
	KTEST_EXPECT_EQ(t, pmm_free_pages(pa, 1), 0);
	KTEST_EXPECT_EQ(t, pmm_free_count(), before);
}

static void contiguous_aligned(struct ktest *t)
{
	uint64_t pa = pmm_alloc_pages(16, 16);
	KTEST_ASSERT(t, pa != 0);
	KTEST_EXPECT_EQ(t, pa % (16 * PAGE_SIZE), 0);
	for (int i = 0; i < 16; i++)
		KTEST_EXPECT(t, page_is_usable_ram(pa + (uint64_t)i * PAGE_SIZE));
	KTEST_EXPECT_EQ(t, pmm_free_pages(pa, 16), 0);
	KTEST_EXPECT_EQ(t, pmm_alloc_pages(1, 3), 0);   /* alignment not a power of two */
	KTEST_EXPECT_EQ(t, pmm_alloc_pages(0, 1), 0);
}

static void no_overlap(struct ktest *t)
{
	uint64_t pas[64];
	for (int i = 0; i < 64; i++) {
		pas[i] = pmm_alloc_page();
		KTEST_ASSERT(t, pas[i] != 0);
		for (int j = 0; j < i; j++)
			KTEST_EXPECT(t, pas[i] != pas[j]);
	}
	for (int i = 0; i < 64; i++)
		KTEST_EXPECT_EQ(t, pmm_free_pages(pas[i], 1), 0);
}

/* Take every free page (in runs, chaining them through the pages themselves),
 * check each is usable RAM, see the allocator say "none", then give all back. */
static void exhaustion_returns_zero(struct ktest *t)
{
	size_t before = pmm_free_count();
	uint64_t head = 0, got = 0, bad = 0;
	size_t run = 256;
	while (run) {
		uint64_t pa = pmm_alloc_pages(run, 1);
		if (!pa) {
			run /= 2;
			continue;
		}
		for (size_t k = 0; k < run; k++)
			bad += !page_is_usable_ram(pa + k * PAGE_SIZE);
		uint64_t *rec = hal_phys_to_virt(pa);
		rec[0] = head;
		rec[1] = run;
		head = pa;
		got += run;
	}
	KTEST_EXPECT_EQ(t, pmm_alloc_page(), 0);
	KTEST_EXPECT_EQ(t, pmm_free_count(), 0);
	KTEST_EXPECT_EQ(t, got, before);
	KTEST_EXPECT_EQ(t, bad, 0);
	while (head) {
		uint64_t *rec = hal_phys_to_virt(head);
		uint64_t next = rec[0], n = rec[1];
		KTEST_EXPECT_EQ(t, pmm_free_pages(head, n), 0);
		head = next;
	}
	KTEST_EXPECT_EQ(t, pmm_free_count(), before);
	ktest_log(t, "%llu pages handed out before exhaustion", (unsigned long long)got);
}

/* Pages below 16 MiB (what a 24-bit DMA device reaches) go out last: taking every
 * page one by one, no page at or above 16 MiB may come after a low one. */
static void low_pages_handed_out_last(struct ktest *t)
{
	const uint64_t low = 16ull << 20;
	if (pmm_usable_bytes() < 2 * low) {
		ktest_skip(t, "less than 32 MiB usable: no low pages are kept back");
		return;
	}
	size_t before = pmm_free_count();
	uint64_t head = 0, first_low = 0, high_after_low = 0, n_low = 0;
	for (;;) {
		uint64_t pa = pmm_alloc_page();
		if (!pa)
			break;
		if (pa < low) {
			n_low++;
			if (!first_low)
				first_low = pa;
		} else if (first_low) {
			high_after_low++;
		}
		*(uint64_t *)hal_phys_to_virt(pa) = head;
		head = pa;
	}
	while (head) {
		uint64_t next = *(uint64_t *)hal_phys_to_virt(head);
		KTEST_EXPECT_EQ(t, pmm_free_pages(head, 1), 0);
		head = next;
	}
	KTEST_EXPECT_EQ(t, pmm_free_count(), before);
	KTEST_EXPECT_EQ(t, high_after_low, 0);
	ktest_log(t, "%llu low pages, the first handed out after every page above 16 MiB",
		  (unsigned long long)n_low);
}

static void bad_frees_refused(struct ktest *t)
{
	size_t before = pmm_free_count();
	uint64_t pa = pmm_alloc_page();
	KTEST_ASSERT(t, pa != 0);
	KTEST_EXPECT_EQ(t, pmm_free_pages(pa, 1), 0);
	KTEST_EXPECT_EQ(t, pmm_free_pages(pa, 1), -EFAULT);     /* double free */
	KTEST_EXPECT_EQ(t, pmm_free_pages(0x1000, 1), -EINVAL); /* low memory, never managed */
	KTEST_EXPECT_EQ(t, pmm_free_pages(pa + 1, 1), -EINVAL); /* unaligned */
	KTEST_EXPECT_EQ(t, pmm_free_pages(~0ull & ~(PAGE_SIZE - 1), 1), -EINVAL);
	KTEST_EXPECT_EQ(t, pmm_free_count(), before);
}

static const struct ktest_case pmm_cases[] = {
	KTEST_CASE(alloc_free_roundtrip),
	KTEST_CASE(contiguous_aligned),
	KTEST_CASE(no_overlap),
	KTEST_CASE(exhaustion_returns_zero),
	KTEST_CASE(bad_frees_refused),
	KTEST_CASE(low_pages_handed_out_last),
};
KTEST_SUITE(pmm_suite, "pmm", pmm_cases);

static void heap_small_blocks(struct ktest *t)
{
	size_t live = heap_live_bytes();
	void *p[40];
	for (int i = 0; i < 40; i++) {
		size_t sz = (size_t)1 + (size_t)i * 53;
		p[i] = kmalloc(sz);
		KTEST_ASSERT(t, p[i] != 0);
		KTEST_EXPECT_EQ(t, (uintptr_t)p[i] % 16, 0);
		memset(p[i], i, sz);
	}
	for (int i = 0; i < 40; i++) {
		const uint8_t *b = p[i];
		size_t sz = (size_t)1 + (size_t)i * 53;
		KTEST_EXPECT_EQ(t, b[sz - 1], (uint8_t)i);     /* no block overwrote another */
		kfree(p[i]);
	}
	KTEST_EXPECT_EQ(t, heap_live_bytes(), live);
}

static void heap_large_block(struct ktest *t)
{
	size_t free_before = pmm_free_count();
	uint8_t *p = kzalloc(64 * 1024);
	KTEST_ASSERT(t, p != 0);
	KTEST_EXPECT(t, p[0] == 0 && p[64 * 1024 - 1] == 0);
	KTEST_EXPECT(t, pmm_free_count() < free_before);
	kfree(p);
	KTEST_EXPECT_EQ(t, pmm_free_count(), free_before);
	KTEST_EXPECT(t, kmalloc(0) == 0);
}

static const struct ktest_case heap_cases[] = {
	KTEST_CASE(heap_small_blocks),
	KTEST_CASE(heap_large_block),
};
KTEST_SUITE(heap_suite, "heap", heap_cases);
