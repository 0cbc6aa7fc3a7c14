/*
 * test_ahci_prdt.c — CMocka tests of the AHCI PRDT builder (kernel/drivers/ahci/
 * ahci_prdt.c, AHCI 1.3.1 §4.2.3.3, docs/ahci.md). The expected table is made
 * here independently: walk every segment in 4 MiB steps; then the builder's entries
 * are read back the way an HBA reads them (DBA/DBAU, DBC + 1 bytes) and compared
 * byte range by byte range. Sweeps even lengths around the 4 MiB limit, many
 * segments, the entry limit, 32-bit HBAs, and every rule violation (odd address,
 * odd length, odd total, mismatched total, too many entries, above 4 GiB without
 * S64A, wrap), each refused with its error and a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <drivers/ahci.h>
#include <kernel/errno.h>

#define MAXE 256u
#define MIB (1u << 20)

static struct ahci_prd out[MAXE];

/* Read the table back as an HBA: the byte ranges in order, merged when adjacent. */
static void check_table(const struct ahci_prdt_seg *seg, unsigned nseg, int n)
{
	unsigned e = 0;
	uint64_t off = 0;
	for (unsigned i = 0; i < nseg; i++) {
		uint64_t left = seg[i].len, bus = seg[i].bus;
		while (left) {
			uint64_t want = left > 4u * MIB ? 4u * MIB : left;
			assert_true(e < (unsigned)n);
			uint64_t dba = (uint64_t)out[e].dbau << 32 | out[e].dba;
			uint32_t bytes = (out[e].dbc_i & AHCI_PRD_DBC_MASK) + 1u;
			assert_int_equal(dba, bus);
			assert_int_equal(bytes, want);
			assert_int_equal(bytes & 1u, 0);                /* even */
			assert_int_equal(out[e].dbc_i & ~AHCI_PRD_DBC_MASK, 0);      /* no I bit, reserved zero */
			assert_int_equal(out[e].rsvd2, 0);
			bus += want;
			left -= want;
			off += want;
			e++;
		}
	}
	assert_int_equal(e, (unsigned)n);
	(void)off;
}

static int build(const struct ahci_prdt_seg *seg, unsigned nseg, uint64_t total, bool s64, unsigned max,
		 const char **why)
{
	memset(out, 0xA5, sizeof out);
	return ahci_prdt_build(seg, nseg, total, s64, out, max, why);
}

static void test_one_segment_sizes(void **st)
{
	(void)st;
	const uint32_t sizes[] = { 2, 512, 4094, 4096, 65536, 4u * MIB - 2, 4u * MIB, 4u * MIB + 2, 8u * MIB,
				   12u * MIB + 512, 32u * MIB };
	for (unsigned k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		struct ahci_prdt_seg s = { 0x10000002ull, sizes[k] };
		const char *why = "unset";
		int n = build(&s, 1, sizes[k], false, MAXE, &why);
		assert_true(n >= 1);
		assert_null(why);
		assert_int_equal(n, (int)((sizes[k] + 4u * MIB - 1u) / (4u * MIB)));
		check_table(&s, 1, n);
	}
}

static void test_many_segments_and_spares(void **st)
{
	(void)st;
	struct ahci_prdt_seg s[80];
	uint64_t total = 0;
	unsigned n = 0;
	for (unsigned i = 0; i < 64; i++) {
		s[n++] = (struct ahci_prdt_seg){ 0x200000000ull + i * 0x100000ull + 2u * i, 512u * (i + 1u) };
		total += 512u * (i + 1u);
		if (i % 9 == 0)
			s[n++] = (struct ahci_prdt_seg){ 0, 0 };        /* spare entry of a scatter list */
	}
	int rc = build(s, n, total, true, MAXE, 0);
	assert_int_equal(rc, 64);
	struct ahci_prdt_seg dense[64];
	unsigned m = 0;
	for (unsigned i = 0; i < n; i++)
		if (s[i].len)
			dense[m++] = s[i];
	check_table(dense, m, rc);
}

static void test_entry_limit(void **st)
{
	(void)st;
	struct ahci_prdt_seg s = { 0x1000, 8u * MIB };
	const char *why = 0;
	assert_int_equal(build(&s, 1, 8u * MIB, true, 1, &why), -E2BIG);
	assert_non_null(why);
	assert_int_equal(build(&s, 1, 8u * MIB, true, 2, &why), 2);
}

static void test_32bit_hba(void **st)
{
	(void)st;
	const char *why = 0;
	struct ahci_prdt_seg lo = { 0xFFFFF000ull, 4096 };      /* ends exactly at 4 GiB */
	assert_int_equal(build(&lo, 1, 4096, false, MAXE, &why), 1);
	check_table(&lo, 1, 1);
	struct ahci_prdt_seg cross = { 0xFFFFF000ull, 8192 };
	assert_int_equal(build(&cross, 1, 8192, false, MAXE, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(build(&cross, 1, 8192, true, MAXE, &why), 1);
	assert_int_equal(out[0].dbau, 0);
	struct ahci_prdt_seg hi = { 0x123456780ull, 1024 };
	assert_int_equal(build(&hi, 1, 1024, true, MAXE, &why), 1);
	assert_int_equal(out[0].dbau, 0x1);
	assert_int_equal(out[0].dba, 0x23456780u);
}

static void test_rule_violations_refused(void **st)
{
	(void)st;
	const char *why;
	struct ahci_prdt_seg odd_addr = { 0x1001, 512 }, odd_len = { 0x1000, 511 }, ok = { 0x1000, 512 };
	struct ahci_prdt_seg wrap = { 0xFFFFFFFFFFFFF000ull, 8192 };
	why = 0;
	assert_int_equal(build(&odd_addr, 1, 512, true, MAXE, &why), -EINVAL);
	assert_non_null(why);
	why = 0;
	assert_int_equal(build(&odd_len, 1, 511, true, MAXE, &why), -EINVAL);
	assert_non_null(why);
	why = 0;
	assert_int_equal(build(&ok, 1, 1024, true, MAXE, &why), -EINVAL);    /* total mismatch */
	assert_non_null(why);
	why = 0;
	assert_int_equal(build(&ok, 1, 0, true, MAXE, &why), -EINVAL);
	assert_non_null(why);
	why = 0;
	assert_int_equal(build(&wrap, 1, 8192, true, MAXE, &why), -EINVAL);
	assert_non_null(why);
	why = 0;
	assert_int_equal(build(&ok, 0, 512, true, MAXE, &why), -EINVAL);
	assert_non_null(why);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_segment_sizes),
		cmocka_unit_test(test_many_segments_and_spares),
		cmocka_unit_test(test_entry_limit),
		cmocka_unit_test(test_32bit_hba),
		cmocka_unit_test(test_rule_violations_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
