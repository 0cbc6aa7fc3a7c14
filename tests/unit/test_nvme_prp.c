/*
 * test_nvme_prp.c — CMocka tests of the NVMe PRP builder (kernel/drivers/nvme/
 * nvme_prp.c, NVMe 1.4 §4.3, docs/nvme.md). The expected entries are made here,
 * independently: walk the transfer's bytes page by page (the first entry keeps its
 * offset, every later one is a page start), then read back what the builder wrote
 * the way a controller does (PRP1, PRP2 as data or as a list pointer, a full list
 * page's last entry as the pointer to the next list page when more entries
 * follow) and compare. Sweeps every first-segment offset class × every dword
 * multiple up to 16 KiB and every 512-byte step (plus ±4 around page edges) up to
 * MDTS (512 KiB), one segment and several; list chains across list pages; and
 * every rule violation, which must be refused with its documented error and
 * without touching the list pages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <drivers/nvme.h>
#include <kernel/errno.h>

#define PAGE 4096ull
#define MDTS_BYTES (512u * 1024u)
#define NLIST 4u
#define POISON 0xDEADBEEFCAFEF00Dull
#define MAX_EXPECT 2200u                 /* pages a test transfer may touch */

static const uint32_t offsets[] = { 0, 4, 8, 512, 2048, 4092 };

/* List pages as the builder sees them: host memory, with made-up bus addresses
 * far from the data's, so a data entry never looks like a list pointer. */
static uint64_t list_mem[NLIST][PAGE / 8];
static const uint64_t list_bus[NLIST] = { 0x7000000000ull, 0x7000003000ull, 0x7000010000ull, 0x7000001000ull };

static void pages_init(struct nvme_prp_pages *p, unsigned n)
{
	memset(p, 0, sizeof *p);
	for (unsigned i = 0; i < NLIST; i++) {
		for (unsigned k = 0; k < PAGE / 8; k++)
			list_mem[i][k] = POISON;
		p->va[i] = list_mem[i];
		p->bus[i] = list_bus[i];
	}
	p->n = n;
	p->used = 77;                   /* the builder must set it */
}

static uint64_t *list_va_of(uint64_t bus)
{
	for (unsigned i = 0; i < NLIST; i++)
		if (list_bus[i] == bus)
			return list_mem[i];
	return NULL;
}

static bool lists_untouched(void)
{
	for (unsigned i = 0; i < NLIST; i++)
		for (unsigned k = 0; k < PAGE / 8; k++)
			if (list_mem[i][k] != POISON)
				return false;
	return true;
}

/* The reference: every page the transfer touches, byte by byte. An entry is the
 * first byte of the transfer in that page: the first keeps its offset, every
 * later one is a page start (later segments start on a page by rule). */
static unsigned expected_entries(const struct nvme_prp_seg *seg, unsigned nseg, uint64_t *out)
{
	unsigned n = 0;
	for (unsigned i = 0; i < nseg; i++) {
		uint64_t a = seg[i].bus, end = seg[i].bus + seg[i].len;
		while (a < end) {
			out[n++] = a;
			a = (a & ~(PAGE - 1)) + PAGE;
		}
	}
	return n;
}

/* Read the PRPs back like a controller: returns the data entries in *got and the
 * number of list pages followed in *lists. Fails the test on a bad pointer. */
static unsigned controller_walk(uint64_t prp1, uint64_t prp2, unsigned want, uint64_t *got, unsigned *lists,
				uint64_t *chain_at)
{
	unsigned n = 0;
	*lists = 0;
	got[n++] = prp1;
	if (want == 1) {
		assert_int_equal(prp2, 0);
		return n;
	}
	if (want == 2) {
		got[n++] = prp2;
		return n;
	}
	assert_int_equal(prp2 & (PAGE - 1), 0);          /* list pointer: page aligned here (offset 0) */
	uint64_t *page = list_va_of(prp2);
	assert_non_null(page);
	*lists = 1;
	unsigned slot = 0;
	while (n < want) {
		if (slot == PAGE / 8 - 1 && want - n > 1) {
			/* more than one entry left: the last slot chains */
			if (chain_at)
				chain_at[*lists - 1] = page[slot];
			page = list_va_of(page[slot]);
			assert_non_null(page);
			(*lists)++;
			slot = 0;
			continue;
		}
		got[n++] = page[slot++];
	}
	return n;
}

/* Build and check against the reference; returns the number of list pages. */
static unsigned check_build(const struct nvme_prp_seg *seg, unsigned nseg, uint64_t max_bytes, unsigned offer)
{
	static uint64_t want[MAX_EXPECT], got[MAX_EXPECT];
	uint64_t total = 0;
	for (unsigned i = 0; i < nseg; i++)
		total += seg[i].len;
	unsigned nwant = expected_entries(seg, nseg, want);
	assert_true(nwant <= MAX_EXPECT);
	struct nvme_prp_pages p;
	pages_init(&p, offer);
	uint64_t prp1 = 1, prp2 = 1;
	const char *why = "unset";
	int rc = nvme_prp_build(seg, nseg, total, max_bytes, &p, &prp1, &prp2, &why);
	if (rc != 0)
		print_message("refused: nseg %u total %llu off %llu: %s\n", nseg, (unsigned long long)total,
			      (unsigned long long)(seg[0].bus & (PAGE - 1)), why ? why : "(null)");
	assert_int_equal(rc, 0);
	assert_null(why);
	unsigned lists = 0;
	uint64_t chain[NLIST];
	unsigned ngot = controller_walk(prp1, prp2, nwant, got, &lists, chain);
	assert_int_equal(ngot, nwant);
	for (unsigned k = 0; k < nwant; k++)
		if (got[k] != want[k]) {
			print_message("entry %u: got 0x%llx want 0x%llx (nseg %u total %llu)\n", k,
				      (unsigned long long)got[k], (unsigned long long)want[k], nseg,
				      (unsigned long long)total);
			fail();
		}
	assert_int_equal(p.used, lists);
	assert_int_equal(nvme_prp_list_pages(nwant), lists);
	/* list pages are used in the order offered, each chain to the next one */
	for (unsigned k = 0; k + 1 < lists; k++)
		assert_int_equal(chain[k], list_bus[k + 1]);
	/* nothing written past the last entry, nor into pages not used */
	for (unsigned k = lists; k < NLIST; k++)
		for (unsigned s = 0; s < PAGE / 8; s++)
			assert_true(list_mem[k][s] == POISON);
	return lists;
}

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A scattered page-aligned bus address above 4 GiB for segment i. */
static uint64_t seg_base(unsigned i)
{
	return 0x100000000ull + ((uint64_t)i * 0x10000000ull) + ((rnd() & 0xFFFF) << 12);
}

/* Cut [off, off+total) into segments: the first ends on a page (unless it is the
 * only one), middle ones are whole pages, the last starts on a page. */
static unsigned make_segs(uint32_t off, uint64_t total, bool multi, struct nvme_prp_seg *seg)
{
	uint64_t first_room = PAGE - off;
	if (!multi || total <= first_room) {
		seg[0] = (struct nvme_prp_seg){ seg_base(0) + off, (uint32_t)total };
		return 1;
	}
	unsigned n = 0;
	uint64_t left = total;
	/* first: its page's rest plus 0..3 whole pages */
	uint64_t len = first_room + (rnd() % 4) * PAGE;
	if (len >= left)
		len = first_room;
	seg[n] = (struct nvme_prp_seg){ seg_base(n) + off, (uint32_t)len };
	n++;
	left -= len;
	while (left > 0) {
		uint64_t pages = 1 + rnd() % 5;
		len = pages * PAGE;
		if (len >= left || n == 63)
			len = left;
		seg[n] = (struct nvme_prp_seg){ seg_base(n), (uint32_t)len };
		n++;
		left -= len;
	}
	return n;
}

static bool want_size(uint64_t t)
{
	if (t <= 4 * PAGE)
		return true;                    /* every dword multiple */
	if (t % 512 == 0)
		return true;                    /* every 512-byte step */
	uint64_t m = t % PAGE;
	return m == 4 || m == PAGE - 4;         /* just past / before a page edge */
}

static void test_every_offset_every_size_one_segment(void **state)
{
	(void)state;
	unsigned runs = 0;
	for (unsigned o = 0; o < sizeof offsets / sizeof offsets[0]; o++)
		for (uint64_t t = 4; t <= MDTS_BYTES; t += 4) {
			if (!want_size(t))
				continue;
			struct nvme_prp_seg s[1];
			make_segs(offsets[o], t, false, s);
			check_build(s, 1, MDTS_BYTES, 1);
			runs++;
		}
	print_message("%u single-segment builds checked\n", runs);
}

static void test_every_offset_every_size_many_segments(void **state)
{
	(void)state;
	unsigned runs = 0;
	struct nvme_prp_seg s[64];
	for (unsigned o = 0; o < sizeof offsets / sizeof offsets[0]; o++)
		for (uint64_t t = 4; t <= MDTS_BYTES; t += 4) {
			if (!want_size(t))
				continue;
			unsigned n = make_segs(offsets[o], t, true, s);
			check_build(s, n, MDTS_BYTES, 1);
			runs++;
		}
	print_message("%u multi-segment builds checked\n", runs);
}

static void test_one_page_prp2_zero(void **state)
{
	(void)state;
	struct nvme_prp_seg s = { 0x200000000ull + 4092, 4 };
	uint64_t p1 = 9, p2 = 9;
	assert_int_equal(nvme_prp_build(&s, 1, 4, MDTS_BYTES, NULL, &p1, &p2, NULL), 0);
	assert_int_equal(p1, 0x200000000ull + 4092);
	assert_int_equal(p2, 0);
	s = (struct nvme_prp_seg){ 0x200000000ull, 4096 };
	assert_int_equal(nvme_prp_build(&s, 1, 4096, MDTS_BYTES, NULL, &p1, &p2, NULL), 0);
	assert_int_equal(p1, 0x200000000ull);
	assert_int_equal(p2, 0);
}

static void test_two_pages_prp2_is_the_page(void **state)
{
	(void)state;
	struct nvme_prp_pages p;
	uint64_t p1, p2;
	/* 8 bytes across a page edge: two pages, no list */
	struct nvme_prp_seg s = { 0x200000000ull + 4092, 8 };
	pages_init(&p, 1);
	assert_int_equal(nvme_prp_build(&s, 1, 8, MDTS_BYTES, &p, &p1, &p2, NULL), 0);
	assert_int_equal(p1, 0x200000000ull + 4092);
	assert_int_equal(p2, 0x200001000ull);
	assert_int_equal(p.used, 0);
	assert_true(lists_untouched());
	/* two whole pages in two segments */
	struct nvme_prp_seg two[2] = { { 0x300000000ull, 4096 }, { 0x500000000ull, 4096 } };
	pages_init(&p, 1);
	assert_int_equal(nvme_prp_build(two, 2, 8192, MDTS_BYTES, &p, &p1, &p2, NULL), 0);
	assert_int_equal(p1, 0x300000000ull);
	assert_int_equal(p2, 0x500000000ull);
	assert_int_equal(p.used, 0);
	assert_true(lists_untouched());
	/* no list pages offered at all: still fine for two pages */
	assert_int_equal(nvme_prp_build(two, 2, 8192, MDTS_BYTES, NULL, &p1, &p2, NULL), 0);
	assert_int_equal(p2, 0x500000000ull);
	/* three pages need a list */
	struct nvme_prp_seg three = { 0x300000000ull + 8, 8192 };
	pages_init(&p, 1);
	assert_int_equal(nvme_prp_build(&three, 1, 8192, MDTS_BYTES, &p, &p1, &p2, NULL), 0);
	assert_int_equal(p2, list_bus[0]);
	assert_int_equal(list_mem[0][0], 0x300001000ull);
	assert_int_equal(list_mem[0][1], 0x300002000ull);
	assert_int_equal(list_mem[0][2], POISON);
	assert_int_equal(p.used, 1);
}

/* Transfers past one list page (no MDTS limit): the last entry of a full page
 * chains, no entry lost or duplicated. Entries after PRP1: 512 fit one page
 * exactly; 513 need two; 1534 fit three; 1535 need four. */
static void test_list_chains_across_pages(void **state)
{
	(void)state;
	static const struct { unsigned pages, lists; } cases[] = {
		{ 3, 1 }, { 512, 1 }, { 513, 1 }, { 514, 2 }, { 515, 2 }, { 1024, 2 },
		{ 1023, 2 }, { 1024 + 1, 3 }, { 1534, 3 }, { 1535, 3 }, { 1536, 4 }, { 2000, 4 },
	};
	for (unsigned c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		for (unsigned o = 0; o < sizeof offsets / sizeof offsets[0]; o++) {
			/* pages touched = cases[c].pages: the bytes from offset o */
			uint64_t total = (uint64_t)cases[c].pages * PAGE - offsets[o];
			if (offsets[o])
				total -= PAGE - 4;      /* last page: 4 bytes of it */
			if (offsets[o] && cases[c].pages == 1)
				continue;
			struct nvme_prp_seg s = { 0x900000000ull + offsets[o], (uint32_t)total };
			uint64_t want[MAX_EXPECT];
			assert_int_equal(expected_entries(&s, 1, want), cases[c].pages);
			unsigned lists = check_build(&s, 1, 0, NLIST);
			assert_int_equal(lists, cases[c].lists);
			/* the same with scattered segments */
			struct nvme_prp_seg m[64];
			unsigned n = 0;
			uint64_t left = total, b = 0x900000000ull;
			uint64_t len = PAGE - offsets[o];
			while (left) {
				if (len > left || n == 63)
					len = left;
				m[n] = (struct nvme_prp_seg){ b + (n == 0 ? offsets[o] : 0), (uint32_t)len };
				n++;
				left -= len;
				b += 0x40000000ull;
				len = PAGE * (1 + (n % 40));
			}
			assert_int_equal(check_build(m, n, 0, NLIST), cases[c].lists);
		}
	}
	/* nvme_prp_list_pages against the capacity rule: p pages hold 511p + 1 entries */
	for (uint64_t pages = 1; pages < 5000; pages++) {
		uint64_t entries = pages - 1;
		unsigned want = 0;
		if (pages > 2)
			while ((uint64_t)want * 511 + 1 < entries)
				want++;
		assert_int_equal(nvme_prp_list_pages(pages), want);
	}
}

static void expect_refused(const struct nvme_prp_seg *seg, unsigned nseg, uint64_t total, uint64_t max,
			   unsigned offer, int err)
{
	struct nvme_prp_pages p;
	pages_init(&p, offer);
	uint64_t p1 = 0x1111, p2 = 0x2222;
	const char *why = NULL;
	assert_int_equal(nvme_prp_build(seg, nseg, total, max, &p, &p1, &p2, &why), err);
	assert_non_null(why);
	assert_true(why[0] != '\0');
	assert_true(lists_untouched());
	/* and with why NULL: still refused, no crash */
	assert_int_equal(nvme_prp_build(seg, nseg, total, max, &p, &p1, &p2, NULL), err);
	assert_true(lists_untouched());
}

static void test_rule_violations_refused(void **state)
{
	(void)state;
	const uint64_t B = 0x400000000ull;
	/* a middle segment not page-aligned (start) */
	struct nvme_prp_seg mid_start[3] = { { B, 4096 }, { B + 0x10000 + 512, 4096 }, { B + 0x20000, 4096 } };
	expect_refused(mid_start, 3, 3 * 4096, MDTS_BYTES, 1, -EINVAL);
	/* a middle segment not ending on a page */
	struct nvme_prp_seg mid_end[3] = { { B, 4096 }, { B + 0x10000, 2048 }, { B + 0x20000, 4096 } };
	expect_refused(mid_end, 3, 4096 + 2048 + 4096, MDTS_BYTES, 1, -EINVAL);
	/* the first segment not ending on a page while another follows */
	struct nvme_prp_seg first_end[2] = { { B + 8, 4000 }, { B + 0x10000, 4096 } };
	expect_refused(first_end, 2, 8096, MDTS_BYTES, 1, -EINVAL);
	/* the last segment not starting on a page */
	for (uint32_t off = 4; off < 4096; off += 1020) {
		struct nvme_prp_seg last[2] = { { B, 4096 }, { B + 0x10000 + off, 512 } };
		expect_refused(last, 2, 4096 + 512, MDTS_BYTES, 1, -EINVAL);
	}
	/* not dword aligned: offsets 1, 2, 3 and 4094 of the first segment */
	static const uint32_t bad_off[] = { 1, 2, 3, 6, 4094 };
	for (unsigned i = 0; i < sizeof bad_off / sizeof bad_off[0]; i++) {
		struct nvme_prp_seg s = { B + bad_off[i], 512 };
		expect_refused(&s, 1, 512, MDTS_BYTES, 1, -EINVAL);
	}
	/* above MDTS: by 4 bytes, one segment and several */
	struct nvme_prp_seg big = { B, MDTS_BYTES + 4 };
	expect_refused(&big, 1, MDTS_BYTES + 4, MDTS_BYTES, 1, -E2BIG);
	struct nvme_prp_seg bigm[2] = { { B + 4, 4092 }, { B + 0x100000, MDTS_BYTES } };
	expect_refused(bigm, 2, MDTS_BYTES + 4092, MDTS_BYTES, 1, -E2BIG);
	/* too many segments for the list pages offered (one page each: 600 pages
	 * need two list pages) */
	static struct nvme_prp_seg many[600];
	for (unsigned i = 0; i < 600; i++)
		many[i] = (struct nvme_prp_seg){ B + (uint64_t)i * 0x3000, 4096 };
	expect_refused(many, 600, 600 * 4096ull, 0, 1, -ENOSPC);
	expect_refused(many, 600, 600 * 4096ull, 0, 0, -ENOSPC);
	check_build(many, 600, 0, 2);           /* with two pages it builds */
	/* a list needed and no pages at all */
	struct nvme_prp_seg three = { B, 3 * 4096 };
	uint64_t p1, p2;
	const char *why = NULL;
	assert_int_equal(nvme_prp_build(&three, 1, 3 * 4096, MDTS_BYTES, NULL, &p1, &p2, &why), -ENOSPC);
	assert_non_null(why);
	/* malformed calls */
	expect_refused(NULL, 1, 4096, MDTS_BYTES, 1, -EINVAL);
	expect_refused(&three, 0, 4096, MDTS_BYTES, 1, -EINVAL);
	expect_refused(&three, 1, 0, MDTS_BYTES, 1, -EINVAL);
	struct nvme_prp_seg zero[2] = { { B, 4096 }, { B + 0x10000, 0 } };
	expect_refused(zero, 2, 4096, MDTS_BYTES, 1, -EINVAL);
	struct nvme_prp_seg sum[2] = { { B, 4096 }, { B + 0x10000, 4096 } };
	expect_refused(sum, 2, 4096 * 3, MDTS_BYTES, 1, -EINVAL);   /* lengths do not add up */
	struct nvme_prp_seg wrap = { 0xFFFFFFFFFFFFF000ull, 8192 };
	expect_refused(&wrap, 1, 8192, 0, 1, -EINVAL);
	struct nvme_prp_seg to_top = { 0xFFFFFFFFFFFFF000ull, 4096 };   /* ends at 2^64: wraps */
	expect_refused(&to_top, 1, 4096, 0, 1, -EINVAL);
}

/* Segments just below the top of the 64-bit bus space: page counts and entries
 * must not wrap (a one-page transfer is PRP1 alone; three pages use a list). */
static void test_top_of_bus_space(void **state)
{
	(void)state;
	struct nvme_prp_pages p;
	uint64_t p1, p2;
	const char *why = "unset";
	struct nvme_prp_seg one = { 0xFFFFFFFFFFFFF004ull, 4088 };
	pages_init(&p, 1);
	assert_int_equal(nvme_prp_build(&one, 1, 4088, MDTS_BYTES, &p, &p1, &p2, &why), 0);
	assert_int_equal(p1, 0xFFFFFFFFFFFFF004ull);
	assert_int_equal(p2, 0);
	assert_int_equal(p.used, 0);
	struct nvme_prp_seg three = { 0xFFFFFFFFFFFFD008ull, 3 * 4096 - 16 };
	pages_init(&p, NLIST);
	assert_int_equal(nvme_prp_build(&three, 1, three.len, MDTS_BYTES, &p, &p1, &p2, &why), 0);
	assert_int_equal(p1, 0xFFFFFFFFFFFFD008ull);
	assert_int_equal(p2, list_bus[0]);
	assert_int_equal(list_mem[0][0], 0xFFFFFFFFFFFFE000ull);
	assert_int_equal(list_mem[0][1], 0xFFFFFFFFFFFFF000ull);
	assert_int_equal(list_mem[0][2], POISON);
	assert_int_equal(p.used, 1);
	for (unsigned k = 1; k < NLIST; k++)
		assert_int_equal(list_mem[k][0], POISON);
}

/* Up to MDTS with every list page offer: one page is always enough at 512 KiB. */
static void test_mdts_exactly(void **state)
{
	(void)state;
	for (unsigned o = 0; o < sizeof offsets / sizeof offsets[0]; o++) {
		uint64_t total = MDTS_BYTES - (offsets[o] ? 4096 : 0);
		struct nvme_prp_seg s = { 0xA00000000ull + offsets[o], (uint32_t)total };
		assert_int_equal(check_build(&s, 1, MDTS_BYTES, 1), 1);
		s.len = MDTS_BYTES;             /* the whole MDTS from an offset: 129 pages */
		assert_int_equal(check_build(&s, 1, MDTS_BYTES, 1), 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_page_prp2_zero),
		cmocka_unit_test(test_two_pages_prp2_is_the_page),
		cmocka_unit_test(test_every_offset_every_size_one_segment),
		cmocka_unit_test(test_every_offset_every_size_many_segments),
		cmocka_unit_test(test_list_chains_across_pages),
		cmocka_unit_test(test_mdts_exactly),
		cmocka_unit_test(test_top_of_bus_space),
		cmocka_unit_test(test_rule_violations_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
