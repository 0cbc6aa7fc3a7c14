/*
 * test_vtd.c — CMocka tests of the pure VT-d pieces: the DMAR parser
 * (kernel/iommu/dmar.c, VT-d spec rev 3.x §8.1–§8.4) over hand-built tables — good
 * ones, each malformed kind, INCLUDE_PCI_ALL ordering, scopes with bridge paths,
 * RMRR — and the second-level page tables (kernel/iommu/vtd_pt.c, §9.8) at 3 and 4
 * levels over the fake HAL's memory, plus root/context entry encodings (§9.1, §9.3).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <hw/acpi/dmar.h>
#include <kernel/errno.h>
#include "../../kernel/iommu/dmar.h"
#include "../../kernel/iommu/vtd_pt.h"
#include "fake_hal.h"

/* ---- a DMAR builder ----------------------------------------------------------------- */

static uint8_t tbl[1024];
static size_t tlen;
static struct dmar_info info;

static void put(size_t off, const void *p, size_t n) { memcpy(tbl + off, p, n); }

static void dmar_begin(uint8_t haw_minus_1)
{
	memset(tbl, 0, sizeof tbl);
	struct dmar_table t = { .host_addr_width = haw_minus_1, .flags = DMAR_FLAG_INTR_REMAP };
	memcpy(t.hdr.signature, ACPI_SIG_DMAR, 4);
	put(0, &t, sizeof t);
	tlen = sizeof t;
}

static void dmar_end(void)
{
	uint32_t l = (uint32_t)tlen;
	put(4, &l, 4);
}

/* Start a structure; returns its offset. Its length is fixed by struct_end. */
static size_t drhd(uint8_t flags, uint16_t seg, uint64_t base)
{
	struct dmar_drhd d = { .h = { DMAR_TYPE_DRHD, sizeof d }, .flags = flags, .segment = seg, .reg_base = base };
	size_t at = tlen;
	put(at, &d, sizeof d);
	tlen += sizeof d;
	return at;
}

static size_t rmrr(uint16_t seg, uint64_t base, uint64_t limit)
{
	struct dmar_rmrr r = { .h = { DMAR_TYPE_RMRR, sizeof r }, .segment = seg, .base = base, .limit = limit };
	size_t at = tlen;
	put(at, &r, sizeof r);
	tlen += sizeof r;
	return at;
}

static void scope(uint8_t type, uint8_t bus, unsigned npath, const uint8_t *path)
{
	struct dmar_scope s = { .type = type, .length = (uint8_t)(6 + 2 * npath), .start_bus = bus };
	put(tlen, &s, sizeof s);
	put(tlen + sizeof s, path, 2 * npath);
	tlen += s.length;
}

static void struct_end(size_t at)
{
	uint16_t l = (uint16_t)(tlen - at);
	put(at + 2, &l, 2);
	dmar_end();
}

static int parse(void)
{
	fake_hal_console_reset();
	return dmar_parse(tbl, tlen, &info);
}

static void expect_reject(const char *needle)
{
	assert_int_equal(parse(), -EINVAL);
	assert_int_equal(info.nunits, 0);
	if (!strstr(fake_hal_console(), needle)) {
		fprintf(stderr, "console: %s\nwanted: %s\n", fake_hal_console(), needle);
		fail();
	}
}

/* QEMU q35's DMAR with intel-iommu, as harvested into fuzz/corpus/dmar. */
static void qemu_like(void)
{
	dmar_begin(38);
	size_t d = drhd(0, 0, 0xfed90000);
	scope(DMAR_SCOPE_IOAPIC, 0xff, 1, (const uint8_t[]){ 0, 0 });
	scope(DMAR_SCOPE_ENDPOINT, 0, 1, (const uint8_t[]){ 0, 0 });
	scope(DMAR_SCOPE_ENDPOINT, 0, 1, (const uint8_t[]){ 0x1f, 2 });
	struct_end(d);
}

static void test_dmar_good(void **state)
{
	(void)state;
	qemu_like();
	assert_int_equal(parse(), 0);
	assert_int_equal(info.haw, 39);
	assert_int_equal(info.flags, DMAR_FLAG_INTR_REMAP);
	assert_int_equal(info.nunits, 1);
	assert_int_equal(info.units[0].reg_base, 0xfed90000);
	assert_int_equal(info.units[0].nscopes, 3);
	const struct dmar_scope_info *s = &info.scopes[info.units[0].first_scope];
	assert_int_equal(s[0].type, DMAR_SCOPE_IOAPIC);
	assert_int_equal(s[0].start_bus, 0xff);
	assert_int_equal(s[2].type, DMAR_SCOPE_ENDPOINT);
	assert_int_equal(s[2].path_dev[0], 0x1f);
	assert_int_equal(s[2].path_fn[0], 2);
}

static void test_dmar_include_all_and_rmrr(void **state)
{
	(void)state;
	dmar_begin(47);
	size_t d = drhd(0, 0, 0xfed91000);
	scope(DMAR_SCOPE_ENDPOINT, 0, 1, (const uint8_t[]){ 2, 0 });
	struct_end(d);
	d = drhd(DMAR_DRHD_INCLUDE_PCI_ALL, 0, 0xfed90000);
	struct_end(d);
	d = drhd(DMAR_DRHD_INCLUDE_PCI_ALL, 1, 0xfed92000);  /* another segment: fine */
	struct_end(d);
	d = rmrr(0, 0xe0000, 0xfffff);
	scope(DMAR_SCOPE_ENDPOINT, 0, 1, (const uint8_t[]){ 0x1d, 0 });
	struct_end(d);
	/* An ATSR and a reserved type are skipped. */
	struct dmar_struct_hdr atsr = { DMAR_TYPE_ATSR, 8 }, res = { 9, 4 };
	put(tlen, &atsr, 4);
	tlen += 8;
	put(tlen, &res, 4);
	tlen += 4;
	dmar_end();
	assert_int_equal(parse(), 0);
	assert_int_equal(info.haw, 48);
	assert_int_equal(info.nunits, 3);
	assert_int_equal(info.units[1].flags & DMAR_DRHD_INCLUDE_PCI_ALL, 1);
	assert_int_equal(info.units[1].nscopes, 0);
	assert_int_equal(info.units[2].segment, 1);
	assert_int_equal(info.nrmrr, 1);
	assert_int_equal(info.rmrr[0].base, 0xe0000);
	assert_int_equal(info.rmrr[0].limit, 0xfffff);
	assert_int_equal(info.rmrr[0].nscopes, 1);
	assert_int_equal(info.nskipped, 2);
}

static void test_dmar_include_all_not_last(void **state)
{
	(void)state;
	dmar_begin(38);
	size_t d = drhd(DMAR_DRHD_INCLUDE_PCI_ALL, 0, 0xfed90000);
	struct_end(d);
	d = drhd(0, 0, 0xfed91000);
	scope(DMAR_SCOPE_ENDPOINT, 0, 1, (const uint8_t[]){ 2, 0 });
	struct_end(d);
	expect_reject("DRHD at offset 0x40: follows the INCLUDE_PCI_ALL unit");
}

static void test_dmar_malformed(void **state)
{
	(void)state;
	/* Structure length 0. */
	dmar_begin(38);
	struct dmar_struct_hdr z = { DMAR_TYPE_DRHD, 0 };
	put(tlen, &z, 4);
	tlen += 16;
	dmar_end();
	expect_reject("DRHD at offset 0x30: length 0");
	/* Structure overruns the table. */
	qemu_like();
	tlen -= 2;
	dmar_end();
	expect_reject("DRHD at offset 0x30: overruns the table");
	/* Header length beyond what we were given. */
	qemu_like();
	assert_int_equal(dmar_parse(tbl, tlen - 1, &info), -EINVAL);
	/* Scope length below 6. */
	dmar_begin(38);
	size_t d = drhd(0, 0, 0xfed90000);
	struct dmar_scope s = { .type = DMAR_SCOPE_ENDPOINT, .length = 4 };
	put(tlen, &s, sizeof s);
	tlen += 6;
	struct_end(d);
	expect_reject("DRHD at offset 0x40: device scope length below 6");
	/* Odd path length. */
	dmar_begin(38);
	d = drhd(0, 0, 0xfed90000);
	s.length = 9;
	put(tlen, &s, sizeof s);
	tlen += 10;
	struct_end(d);
	expect_reject("device scope path has an odd length");
	/* Scope runs past its structure. */
	dmar_begin(38);
	d = drhd(0, 0, 0xfed90000);
	scope(DMAR_SCOPE_ENDPOINT, 0, 1, (const uint8_t[]){ 2, 0 });
	struct_end(d);
	tbl[d + 16 + 1] = 10;                       /* scope says 10, structure holds 8 */
	expect_reject("device scope overruns its structure");
	/* Register base not page-aligned. */
	dmar_begin(38);
	d = drhd(0, 0, 0xfed90010);
	struct_end(d);
	expect_reject("register base is zero or not 4 KiB aligned");
	/* RMRR base above limit, and not 4 KiB granular. */
	dmar_begin(38);
	d = rmrr(0, 0x2000, 0x0fff);
	struct_end(d);
	expect_reject("RMRR at offset 0x30: base above limit");
	dmar_begin(38);
	d = rmrr(0, 0x1000, 0x1ffe);
	struct_end(d);
	expect_reject("RMRR at offset 0x30: region is not 4 KiB granular");
	/* DRHD shorter than its fixed part; table shorter than its header. */
	dmar_begin(38);
	struct dmar_struct_hdr sh = { DMAR_TYPE_DRHD, 8 };
	put(tlen, &sh, 4);
	tlen += 8;
	dmar_end();
	expect_reject("shorter than its 16-byte fixed part");
	assert_int_equal(dmar_parse(tbl, 20, &info), -EINVAL);
	/* Path element naming device 32. */
	dmar_begin(38);
	d = drhd(0, 0, 0xfed90000);
	scope(DMAR_SCOPE_ENDPOINT, 0, 1, (const uint8_t[]){ 32, 0 });
	struct_end(d);
	expect_reject("device > 31");
}

/* A bridge table for path resolution: 00:1c.0 -> bus 3, 03:00.0 -> bus 4. */
static int lookup(void *ctx, uint16_t seg, uint8_t bus, uint8_t dev, uint8_t fn)
{
	(void)ctx;
	if (seg == 0 && bus == 0 && dev == 0x1c && fn == 0)
		return 3;
	if (seg == 0 && bus == 3 && dev == 0 && fn == 0)
		return 4;
	return -ENOENT;
}

static void test_dmar_scope_paths(void **state)
{
	(void)state;
	dmar_begin(38);
	size_t d = drhd(0, 0, 0xfed90000);
	scope(DMAR_SCOPE_ENDPOINT, 0, 3, (const uint8_t[]){ 0x1c, 0, 0, 0, 5, 1 });
	scope(DMAR_SCOPE_BRIDGE, 0, 1, (const uint8_t[]){ 0x1c, 0 });
	scope(DMAR_SCOPE_ENDPOINT, 0, 2, (const uint8_t[]){ 0x1d, 0, 0, 0 });  /* no such bridge */
	struct_end(d);
	assert_int_equal(parse(), 0);
	uint8_t b, dv, f;
	assert_int_equal(dmar_scope_resolve(&info.scopes[0], 0, lookup, 0, &b, &dv, &f), 0);
	assert_int_equal(b, 4);
	assert_int_equal(dv, 5);
	assert_int_equal(f, 1);
	assert_int_equal(info.scopes[1].type, DMAR_SCOPE_BRIDGE);
	assert_int_equal(dmar_scope_resolve(&info.scopes[1], 0, lookup, 0, &b, &dv, &f), 0);
	assert_int_equal(b, 0);
	assert_int_equal(dv, 0x1c);
	assert_int_equal(dmar_scope_resolve(&info.scopes[2], 0, lookup, 0, &b, &dv, &f), -ENOENT);
}

/* ---- page tables ------------------------------------------------------------------------ */

#define MEM (8u << 20)
static uint64_t next_page;
static unsigned live_pages;

static uint64_t alloc_page(void *ctx)
{
	(void)ctx;
	if (next_page + 4096 > MEM)
		return 0;
	uint64_t pa = next_page;
	next_page += 4096;
	memset(hal_phys_to_virt(pa), 0, 4096);
	live_pages++;
	return pa;
}

static void free_page(void *ctx, uint64_t pa)
{
	(void)ctx;
	(void)pa;
	live_pages--;
}

static void pt_levels(unsigned levels)
{
	fake_hal_mem_reset(MEM);
	next_page = 0x1000;
	live_pages = 0;
	struct vtd_pt pt;
	assert_int_equal(vtd_pt_init(&pt, levels, alloc_page, free_page, 0), 0);
	assert_int_equal(vtd_pt_bits(&pt), levels == 3 ? 39 : 48);
	uint64_t top = 1ull << vtd_pt_bits(&pt), pa, got;
	unsigned prot;
	assert_int_equal(vtd_pt_translate(&pt, 0x5000, &pa, &prot), -ENOENT);
	assert_int_equal(vtd_pt_map(&pt, 0x5000, 0x123000, 3 * 4096, 1), 0);
	assert_int_equal(vtd_pt_map(&pt, top - 4096, 0x7000, 4096, 3), 0);
	assert_int_equal(pt.tables, 1 + 2 * (levels - 1));      /* two separate walks */
	assert_int_equal(vtd_pt_translate(&pt, 0x6008, &got, &prot), 0);
	assert_int_equal(got, 0x124008);
	assert_int_equal(prot, 1);
	assert_int_equal(vtd_pt_translate(&pt, top - 1, &got, &prot), 0);
	assert_int_equal(got, 0x7fff);
	assert_int_equal(prot, 3);
	/* The leaf entry itself: address | R, in the last-level table. */
	uint64_t e = 0;
	uint64_t t = pt.root;
	for (unsigned l = levels; l >= 1; l--) {
		e = ((uint64_t *)hal_phys_to_virt(t))[(0x5000ull >> (12 + 9 * (l - 1))) & 511];
		t = e & VTD_SL_ADDR;
	}
	assert_int_equal(e, 0x123000 | VTD_SL_R);
	/* Refusals: overlap (nothing changes), misalignment, width, prot. */
	assert_int_equal(vtd_pt_map(&pt, 0x4000, 0x9000, 2 * 4096, 2), -EEXIST);
	assert_int_equal(vtd_pt_translate(&pt, 0x4000, &got, &prot), -ENOENT);
	assert_int_equal(vtd_pt_map(&pt, 0x4800, 0x9000, 4096, 2), -EINVAL);
	assert_int_equal(vtd_pt_map(&pt, 0x4000, 0x9800, 4096, 2), -EINVAL);
	assert_int_equal(vtd_pt_map(&pt, top, 0x9000, 4096, 2), -EINVAL);
	assert_int_equal(vtd_pt_map(&pt, top - 4096, 0x9000, 2 * 4096, 2), -EINVAL);
	assert_int_equal(vtd_pt_map(&pt, 0x4000, 0x9000, 4096, 0), -EINVAL);
	assert_int_equal(vtd_pt_map(&pt, 0x4000, 1ull << 52, 4096, 1), -EINVAL);
	assert_int_equal(vtd_pt_translate(&pt, top, &got, &prot), -EINVAL);
	/* Unmap: a range with a hole is refused whole; then exact. */
	assert_int_equal(vtd_pt_unmap(&pt, 0x5000, 4 * 4096), -ENOENT);
	assert_int_equal(vtd_pt_translate(&pt, 0x5000, &got, &prot), 0);
	assert_int_equal(vtd_pt_unmap(&pt, 0x6000, 4096), 0);
	assert_int_equal(vtd_pt_translate(&pt, 0x6000, &got, &prot), -ENOENT);
	assert_int_equal(vtd_pt_translate(&pt, 0x7000, &got, &prot), 0);
	assert_int_equal(vtd_pt_unmap(&pt, 0x6000, 4096), -ENOENT);
	vtd_pt_destroy(&pt);
	assert_int_equal(live_pages, 0);
}

static void test_pt_3_levels(void **state) { (void)state; pt_levels(3); }
static void test_pt_4_levels(void **state) { (void)state; pt_levels(4); }

static void test_pt_bad_levels(void **state)
{
	(void)state;
	struct vtd_pt pt;
	assert_int_equal(vtd_pt_init(&pt, 5, alloc_page, free_page, 0), -EINVAL);
	assert_int_equal(vtd_pt_init(&pt, 2, alloc_page, free_page, 0), -EINVAL);
}

static void test_entry_encoding(void **state)
{
	(void)state;
	struct vtd_context_entry ce;
	assert_int_equal(vtd_context_encode(&ce, 0x12345000, 3, 7), 0);
	assert_int_equal(ce.lo, 0x12345000ull | 1);         /* P, FPD = 0, T = 00 */
	assert_int_equal(ce.hi, (7ull << 8) | 1);           /* DID 7, AW 1 (39-bit) */
	assert_int_equal(vtd_context_encode(&ce, 0x12345000, 4, 0xffff), 0);
	assert_int_equal(ce.hi, (0xffffull << 8) | 2);      /* AW 2 (48-bit) */
	assert_int_equal(vtd_context_encode(&ce, 0x12345800, 3, 1), -EINVAL);
	assert_int_equal(vtd_context_encode(&ce, 0x12345000, 5, 1), -EINVAL);
	struct vtd_root_entry re;
	vtd_root_encode(&re, 0xabc000);
	assert_int_equal(re.lo, 0xabc001);
	assert_int_equal(re.hi, 0);
	uint64_t slot[2] = { 0, 0 };
	vtd_entry_publish(slot, ce.lo, ce.hi);
	assert_int_equal(slot[0], ce.lo);
	assert_int_equal(slot[1], ce.hi);
	vtd_entry_clear(slot);
	assert_int_equal(slot[0] | slot[1], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dmar_good),
		cmocka_unit_test(test_dmar_include_all_and_rmrr),
		cmocka_unit_test(test_dmar_include_all_not_last),
		cmocka_unit_test(test_dmar_malformed),
		cmocka_unit_test(test_dmar_scope_paths),
		cmocka_unit_test(test_pt_3_levels),
		cmocka_unit_test(test_pt_4_levels),
		cmocka_unit_test(test_pt_bad_levels),
		cmocka_unit_test(test_entry_encoding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
