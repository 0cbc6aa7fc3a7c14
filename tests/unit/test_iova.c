/*
 * test_iova.c — CMocka tests of the IOVA allocator (kernel/dma/iova.c,
 * docs/dma.md "IOVA allocator"): window rounding, page granularity, alignment,
 * first fit, coalescing, exhaustion, double and foreign frees refused without
 * change, reserved ranges (VT-d RMRRs) never handed out, and a randomized run
 * checked against a page map.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kernel/errno.h>
#include "../../kernel/dma/iova.h"

static int nodes_live;
static int fail_after = -1;         /* node allocations left before failing; -1 never */

static void *t_alloc(size_t n)
{
	if (fail_after == 0)
		return NULL;
	if (fail_after > 0)
		fail_after--;
	nodes_live++;
	return malloc(n);
}

static void t_free(void *p)
{
	nodes_live--;
	free(p);
}

#define PG IOVA_PAGE

static void test_window(void **state)
{
	struct iova_space s;
	assert_int_equal(iova_init(&s, 1, 0xFFFFFFF, t_alloc, t_free), 0);
	assert_int_equal(s.lo, PG);         /* rounded up: IOVA 0 never handed out */
	assert_int_equal(s.hi, 0xFFFFFFF);
	assert_int_equal(iova_free_pages(&s), 0x10000 - 1);
	iova_destroy(&s);
	assert_int_equal(iova_init(&s, PG, 0x2800, t_alloc, t_free), 0);   /* hi rounded down */
	assert_int_equal(s.hi, 0x1FFF);
	iova_destroy(&s);
	assert_int_equal(iova_init(&s, 0x2000, 0x2FFE, t_alloc, t_free), -EINVAL);   /* no whole page */
	assert_int_equal(iova_init(&s, PG, ~0ull, t_alloc, t_free), 0);
	assert_int_equal(s.hi, ~0ull);
	iova_destroy(&s);
	assert_int_equal(nodes_live, 0);
}

static void test_first_fit_pages_align(void **state)
{
	struct iova_space s;
	uint64_t a, b, c;
	assert_int_equal(iova_init(&s, PG, 0xFFFFF, t_alloc, t_free), 0);
	assert_int_equal(iova_alloc(&s, 1, 0, &a), 0);
	assert_int_equal(a, PG);
	assert_int_equal(iova_alloc(&s, PG + 1, 0, &b), 0);     /* two pages */
	assert_int_equal(b, 2 * PG);
	assert_int_equal(iova_alloc(&s, PG, 0x10000, &c), 0);   /* 64 KiB aligned */
	assert_int_equal(c, 0x10000);
	assert_int_equal(s.used_pages, 4);
	/* the hole before c is used by the next small allocation (first fit) */
	uint64_t d;
	assert_int_equal(iova_alloc(&s, PG, 0, &d), 0);
	assert_int_equal(d, 4 * PG);
	assert_int_equal(iova_alloc(&s, PG, 3 * PG, &d), -EINVAL);   /* not a power of two */
	assert_int_equal(iova_alloc(&s, 0, 0, &d), -EINVAL);
	iova_destroy(&s);
	assert_int_equal(nodes_live, 0);
}

static void test_free_coalesces_and_refuses(void **state)
{
	struct iova_space s;
	uint64_t a[4];
	assert_int_equal(iova_init(&s, PG, 0x4FFF, t_alloc, t_free), 0);  /* 4 pages */
	for (int i = 0; i < 4; i++)
		assert_int_equal(iova_alloc(&s, PG, 0, &a[i]), 0);
	uint64_t x;
	assert_int_equal(iova_alloc(&s, PG, 0, &x), -ENOSPC);     /* full */
	assert_int_equal(iova_free_pages(&s), 0);
	assert_int_equal(iova_free(&s, a[1], PG), 0);
	assert_int_equal(iova_free(&s, a[1], PG), -EFAULT);       /* double free */
	assert_int_equal(iova_free(&s, a[2], 2 * PG), -EINVAL);   /* wrong length */
	assert_int_equal(iova_free(&s, 0x100000, PG), -EINVAL);   /* foreign: outside */
	assert_int_equal(iova_free(&s, a[2] + 1, PG), -EINVAL);   /* unaligned */
	assert_int_equal(iova_free_pages(&s), 1);
	assert_int_equal(iova_free(&s, a[3], PG), 0);
	assert_int_equal(iova_free(&s, a[2], PG), 0);             /* merges both sides */
	assert_non_null(s.free_list);
	assert_null(s.free_list->next);
	assert_int_equal(s.free_list->start, a[1]);
	assert_int_equal(s.free_list->end, a[3] + PG - 1);
	uint64_t big;
	assert_int_equal(iova_alloc(&s, 3 * PG, 0, &big), 0);
	assert_int_equal(big, a[1]);
	assert_int_equal(iova_alloc(&s, PG, 0, &big), -ENOSPC);
	iova_destroy(&s);
	assert_int_equal(nodes_live, 0);
}

static void test_no_node_changes_nothing(void **state)
{
	struct iova_space s;
	uint64_t a, b;
	assert_int_equal(iova_init(&s, PG, 0xFFFFF, t_alloc, t_free), 0);
	assert_int_equal(iova_alloc(&s, PG, 0, &a), 0);
	uint64_t before = iova_free_pages(&s);
	fail_after = 1;
	assert_int_equal(iova_alloc(&s, PG, 0, &b), -ENOMEM);
	fail_after = -1;
	assert_int_equal(iova_free_pages(&s), before);
	assert_int_equal(iova_free(&s, a, PG), 0);
	iova_destroy(&s);
	assert_int_equal(nodes_live, 0);
}

/* Random allocations and frees against a page map of the window. */
static void test_reserve_keeps_range_out(void **state)
{
	struct iova_space s;
	uint64_t a;
	assert_int_equal(iova_init(&s, PG, 16 * PG - 1, t_alloc, t_free), 0);   /* pages 1..15 */
	assert_int_equal(iova_reserve(&s, 2 * PG + 5, 4 * PG - 1), 0);     /* widened: pages 2..3 */
	assert_int_equal(iova_free_pages(&s), 13);
	assert_int_equal(iova_alloc(&s, PG, 0, &a), 0);
	assert_int_equal(a, PG);
	assert_int_equal(iova_alloc(&s, PG, 0, &a), 0);
	assert_int_equal(a, 4 * PG);                                    /* the reserved pages skipped */
	assert_int_equal(iova_free(&s, 2 * PG, PG), -EINVAL);           /* never handed out */
	assert_int_equal(iova_reserve(&s, 4 * PG, 5 * PG - 1), -EBUSY); /* allocated already */
	assert_int_equal(iova_reserve(&s, 5 * PG, 4 * PG), -EINVAL);    /* end before start */
	assert_int_equal(iova_reserve(&s, 64 * PG, 65 * PG), 0);        /* outside: nothing to do */
	assert_int_equal(iova_free_pages(&s), 11);
	/* every page but the reserved two can still be had */
	unsigned got = 0;
	while (iova_alloc(&s, PG, 0, &a) == 0) {
		assert_true(a != 2 * PG && a != 3 * PG);
		got++;
	}
	assert_int_equal(got, 11);
	iova_destroy(&s);
	assert_int_equal(nodes_live, 0);
}

static void test_random_against_map(void **state)
{
	enum { PAGES = 256, LIVE = 64 };
	static uint8_t owner[PAGES];
	struct { uint64_t a, len; } live[LIVE];
	int n = 0;
	struct iova_space s;
	memset(owner, 0, sizeof owner);
	assert_int_equal(iova_init(&s, PG, PAGES * PG - 1, t_alloc, t_free), 0);
	srand(12345);
	for (int step = 0; step < 20000; step++) {
		if (n < LIVE && (rand() & 1)) {
			uint64_t len = (uint64_t)(rand() % (4 * PG)) + 1, al = 1ull << (12 + rand() % 4), a;
			int rc = iova_alloc(&s, len, al, &a);
			if (rc == -ENOSPC)
				continue;
			assert_int_equal(rc, 0);
			assert_int_equal(a % al, 0);
			uint64_t np = (len + PG - 1) / PG;
			assert_true(a >= PG && a / PG + np <= PAGES);
			for (uint64_t p = a / PG; p < a / PG + np; p++) {
				assert_int_equal(owner[p], 0);
				owner[p] = 1;
			}
			live[n].a = a;
			live[n].len = len;
			n++;
		} else if (n) {
			int i = rand() % n;
			assert_int_equal(iova_free(&s, live[i].a, live[i].len), 0);
			uint64_t np = (live[i].len + PG - 1) / PG;
			for (uint64_t p = live[i].a / PG; p < live[i].a / PG + np; p++)
				owner[p] = 0;
			live[i] = live[--n];
		}
		uint64_t used = 0;
		for (int p = 1; p < PAGES; p++)
			used += owner[p];
		assert_int_equal(iova_free_pages(&s), PAGES - 1 - used);
	}
	iova_destroy(&s);
	assert_int_equal(nodes_live, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_first_fit_pages_align),
		cmocka_unit_test(test_free_coalesces_and_refuses),
		cmocka_unit_test(test_no_node_changes_nothing),
		cmocka_unit_test(test_reserve_keeps_range_out),
		cmocka_unit_test(test_random_against_map),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
