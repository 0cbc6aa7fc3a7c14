/*
 * test_vtd_inv.c — the page-selective IOTLB invalidation block (vtd_psi_block,
 * kernel/iommu/vtd_inv.h) against Intel VT-d rev 3.x §6.5.2.3 and §10.4.8.1:
 * ADDR is aligned to 2^AM pages and the 2^AM pages from ADDR hold every page of
 * the request, with AM as small as that allows; unaligned ranges included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "../../kernel/iommu/vtd_inv.h"
#include "fake_hal.h"

#define PG 4096ull

/* The block vtd_psi_block picks for [iova, iova+len) obeys the spec's rules and
 * is the smallest that does. */
static void check_block(uint64_t iova, uint64_t len)
{
	uint64_t addr = ~0ull;
	unsigned am = vtd_psi_block(iova, len, &addr);
	uint64_t first = iova / PG, last = (iova + len - 1) / PG;
	uint64_t bfirst = addr / PG, bpages = 1ull << am;
	if (addr % PG || bfirst % bpages)
		fail_msg("[%#llx, +%#llx): ADDR %#llx is not aligned to 2^%u pages", (unsigned long long)iova,
			 (unsigned long long)len, (unsigned long long)addr, am);
	if (bfirst > first || bfirst + bpages - 1 < last)
		fail_msg("[%#llx, +%#llx): pages %llu..%llu, the invalidation covers only %llu..%llu (ADDR %#llx AM %u)",
			 (unsigned long long)iova, (unsigned long long)len, (unsigned long long)first,
			 (unsigned long long)last, (unsigned long long)bfirst,
			 (unsigned long long)(bfirst + bpages - 1), (unsigned long long)addr, am);
	if (am && (first >> (am - 1)) == (last >> (am - 1)))
		fail_msg("[%#llx, +%#llx): AM %u is larger than needed", (unsigned long long)iova,
			 (unsigned long long)len, am);
}

static void expect_block(uint64_t iova, uint64_t len, uint64_t want_addr, unsigned want_am)
{
	uint64_t addr = ~0ull;
	unsigned am = vtd_psi_block(iova, len, &addr);
	assert_int_equal(am, want_am);
	assert_int_equal(addr, want_addr);
	check_block(iova, len);
}

static void psi_aligned_ranges(void **state)
{
	(void)state;
	expect_block(5 * PG, PG, 5 * PG, 0);            /* one page */
	expect_block(4 * PG, 2 * PG, 4 * PG, 1);
	expect_block(8 * PG, 8 * PG, 8 * PG, 3);
	expect_block(0, 512 * PG, 0, 9);                 /* 2 MiB */
}

static void psi_unaligned_ranges(void **state)
{
	(void)state;
	expect_block(3 * PG, 2 * PG, 0, 3);              /* 2 pages at an odd page: 3..4 lie in 0..7 */
	expect_block(0, 3 * PG, 0, 2);                   /* 3 pages: 0..2 */
	expect_block(5 * PG, 3 * PG, 4 * PG, 2);         /* 5..7 */
	expect_block(7 * PG, 2 * PG, 0, 4);              /* 7..8 crosses 2^3 */
	expect_block(15 * PG, 2 * PG, 0, 5);             /* 15..16 crosses 2^4 */
	expect_block(PG + 0xff0, 0x20, 0, 2);            /* 16 bytes each side of a page end */
	expect_block(3 * PG + 0x800, PG, 0, 3);          /* one page's length over pages 3..4 */
	expect_block(0x7ffff000ull, 2 * PG, 0, 20);      /* crosses 2 GiB */
}

/* Every start page and length up to 64 pages, page-aligned and not. */
static void psi_exhaustive_small(void **state)
{
	(void)state;
	for (uint64_t p = 0; p < 80; p++)
		for (uint64_t n = 1; n <= 64; n++) {
			check_block(p * PG, n * PG);
			check_block(p * PG + 0x123, n * PG);
			check_block(p * PG + PG - 1, n);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(psi_aligned_ranges),
		cmocka_unit_test(psi_unaligned_ranges),
		cmocka_unit_test(psi_exhaustive_small),
	};
	return cmocka_run_group_tests_name("vtd_inv", tests, 0, 0);
}
