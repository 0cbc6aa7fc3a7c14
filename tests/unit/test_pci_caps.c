/*
 * test_pci_caps.c — CMocka tests of the pure PCI parsers (kernel/pci/caps.c,
 * kernel/pci/mcfg.c) over hand-built config-space images and MCFG tables: clean
 * and hostile capability lists (PCI 3.0 §6.7), extended lists (PCIe 4.0 §7.6.3),
 * MSI / MSI-X decoding and MSI-X placement checks (PCIe 4.0 §7.7), MCFG entries
 * (PCI Firmware 3.0 §4.1.2).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <hw/acpi/mcfg.h>
#include <kernel/pci.h>
#include "../../kernel/pci/pci_internal.h"
#include "fake_hal.h"

#include <hw/pci/caps.h>
#include <hw/pci/config.h>
#include <hw/pci/msi.h>

static uint8_t cfg[4096];
static struct pci_cap caps[PCI_MAX_CAPS];
static struct pci_bar bars[6];
static struct pci_msi_info msi;
static struct pci_msix_info msix;

static void put16(unsigned off, uint16_t v)
{
	cfg[off] = (uint8_t)v;
	cfg[off + 1] = (uint8_t)(v >> 8);
}

static void put32(unsigned off, uint32_t v)
{
	put16(off, (uint16_t)v);
	put16(off + 2, (uint16_t)(v >> 16));
}

/* A type 0 header (1234:5678) with a capability list starting at first (0 = none). */
static void img(uint8_t header_type, uint8_t first)
{
	memset(cfg, 0, sizeof cfg);
	memset(bars, 0, sizeof bars);
	put32(PCI_VENDOR_ID, 0x56781234);
	put16(PCI_STATUS, first ? PCI_STATUS_CAP_LIST : 0);
	cfg[PCI_HEADER_TYPE] = header_type;
	cfg[header_type == PCI_HEADER_CARDBUS ? PCI_CB_CAP_PTR : PCI_CAP_PTR] = first;
	fake_hal_console_reset();
}

static void cap(unsigned off, uint8_t id, uint8_t next)
{
	cfg[off + PCI_CAP_LIST_ID] = id;
	cfg[off + PCI_CAP_LIST_NEXT] = next;
}

static void ecap(unsigned off, uint16_t id, uint8_t ver, uint16_t next)
{
	put32(off, (uint32_t)id | (uint32_t)ver << PCI_EXT_CAP_VER_SHIFT | (uint32_t)next << PCI_EXT_CAP_NEXT_SHIFT);
}

static unsigned parse(size_t len, const char **err)
{
	return pci_caps_parse(cfg, len, caps, PCI_MAX_CAPS, err);
}

static void expect_err(const char *err, const char *needle)
{
	if (!err)
		fail_msg("no error, wanted '%s'", needle);
	if (!strstr(err, needle))
		fail_msg("error '%s' lacks '%s'", err, needle);
}

/* ---- the capability lists ---------------------------------------------------- */

static void test_clean_list_with_extended(void **state)
{
	(void)state;
	img(0, 0x40);
	cap(0x40, PCI_CAP_ID_PM, 0x50);
	cap(0x50, PCI_CAP_ID_MSI, 0x70);
	cap(0x70, PCI_CAP_ID_EXP, 0x00);
	ecap(0x100, PCI_EXT_CAP_ID_AER, 2, 0x140);
	ecap(0x140, PCI_EXT_CAP_ID_DSN, 1, 0);
	const char *err = "unset";
	assert_int_equal(parse(4096, &err), 5);
	assert_null(err);
	const uint16_t ids[] = { PCI_CAP_ID_PM, PCI_CAP_ID_MSI, PCI_CAP_ID_EXP, PCI_EXT_CAP_ID_AER,
				 PCI_EXT_CAP_ID_DSN }, offs[] = { 0x40, 0x50, 0x70, 0x100, 0x140 };
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(caps[i].id, ids[i]);
		assert_int_equal(caps[i].off, offs[i]);
		assert_int_equal(caps[i].ext, i >= 3);
	}
	assert_int_equal(caps[3].ver, 2);
	assert_int_equal(caps[4].ver, 1);
	/* The same image cut to 256 bytes (legacy access) has no extended list. */
	assert_int_equal(parse(256, &err), 3);
	assert_null(err);
}

static void test_status_bit_clear_means_no_list(void **state)
{
	(void)state;
	img(0, 0x40);
	cap(0x40, PCI_CAP_ID_MSI, 0);
	put16(PCI_STATUS, 0);
	const char *err = "unset";
	assert_int_equal(parse(256, &err), 0);
	assert_null(err);
}

static void test_loop(void **state)
{
	(void)state;
	img(0, 0x40);
	cap(0x40, PCI_CAP_ID_PM, 0x50);
	cap(0x50, PCI_CAP_ID_MSI, 0x40);
	const char *err = 0;
	assert_int_equal(parse(256, &err), 2);
	expect_err(err, "capability loop at 0x40");
	img(0, 0x60);                           /* a capability pointing at itself */
	cap(0x60, PCI_CAP_ID_VNDR, 0x60);
	assert_int_equal(parse(256, &err), 1);
	expect_err(err, "capability loop at 0x60");
}

static void test_pointer_into_header(void **state)
{
	(void)state;
	img(0, 0x20);
	const char *err = 0;
	assert_int_equal(parse(256, &err), 0);
	expect_err(err, "0x20 at 0x34 points into the header");
	img(0, 0x40);                           /* later in the list */
	cap(0x40, PCI_CAP_ID_PM, 0x3C);
	assert_int_equal(parse(256, &err), 1);
	expect_err(err, "points into the header");
}

static void test_pointer_beyond_image_and_0xfc(void **state)
{
	(void)state;
	const char *err = 0;
	img(0, 0x80);                           /* a 128-byte image cannot hold it */
	cap(0x80, PCI_CAP_ID_MSI, 0);
	assert_int_equal(parse(128, &err), 0);
	expect_err(err, "beyond the 128-byte config image");
	/* 0xFF masks to 0xFC, the last capability slot: valid. */
	img(0, 0xFF);
	cap(0xFC, PCI_CAP_ID_VNDR, 0x00);
	assert_int_equal(parse(256, &err), 1);
	assert_null(err);
	assert_int_equal(caps[0].off, 0xFC);
}

static void test_misaligned_pointers_masked(void **state)
{
	(void)state;
	img(0, 0x43);
	cap(0x40, PCI_CAP_ID_PM, 0x51);
	cap(0x50, PCI_CAP_ID_MSIX, 0x00);
	const char *err = "unset";
	assert_int_equal(parse(256, &err), 2);
	assert_null(err);
	assert_int_equal(caps[0].off, 0x40);
	assert_int_equal(caps[1].off, 0x50);
	assert_int_equal(caps[1].id, PCI_CAP_ID_MSIX);
}

static void test_cardbus_pointer_at_0x14(void **state)
{
	(void)state;
	img(2, 0x80);
	cfg[PCI_CAP_PTR] = 0x20;                /* would point into the header on type 0 */
	cap(0x80, PCI_CAP_ID_PM, 0);
	const char *err = "unset";
	assert_int_equal(parse(256, &err), 1);
	assert_null(err);
	assert_int_equal(caps[0].off, 0x80);
}

static void test_48_caps_and_overflow(void **state)
{
	(void)state;
	img(0, 0x40);
	for (unsigned off = 0x40; off <= 0xFC; off += 4)
		cap(off, PCI_CAP_ID_VNDR, (uint8_t)(off == 0xFC ? 0 : off + 4));
	const char *err = "unset";
	assert_int_equal(parse(256, &err), 48);
	assert_null(err);
	/* One more, extended: the table holds 48. */
	ecap(0x100, PCI_EXT_CAP_ID_VNDR, 1, 0);
	assert_int_equal(parse(4096, &err), 48);
	expect_err(err, "more than 48 capabilities");
	/* A smaller table stops early with a reason, never overruns. */
	struct pci_cap small[4];
	memset(small, 0xA5, sizeof small);
	assert_int_equal(pci_caps_parse(cfg, 256, small, 3, &err), 3);
	expect_err(err, "more than 3 capabilities");
	assert_int_equal(small[3].off, 0xA5A5);
}

static void test_ext_loop(void **state)
{
	(void)state;
	img(0, 0);
	ecap(0x100, PCI_EXT_CAP_ID_AER, 1, 0x180);
	ecap(0x180, PCI_EXT_CAP_ID_DSN, 1, 0x100);
	const char *err = 0;
	assert_int_equal(parse(4096, &err), 2);
	expect_err(err, "extended capability loop at 0x100");
}

static void test_ext_next_below_0x100(void **state)
{
	(void)state;
	img(0, 0);
	ecap(0x100, PCI_EXT_CAP_ID_AER, 1, 0x0F0);
	const char *err = 0;
	assert_int_equal(parse(4096, &err), 1);
	expect_err(err, "next pointer 0x0f0 at 0x100 is below 0x100");
}

static void test_ext_end_markers_and_short_image(void **state)
{
	(void)state;
	const char *err = "unset";
	img(0, 0);
	put32(PCI_EXT_CAP_START, 0xFFFFFFFF);             /* what a function without ext space reads */
	assert_int_equal(parse(4096, &err), 0);
	assert_null(err);
	img(0, 0);
	ecap(0x100, PCI_EXT_CAP_ID_AER, 1, 0x200);
	put32(0x200, 0);                        /* a zero header ends the list */
	assert_int_equal(parse(4096, &err), 1);
	assert_null(err);
	/* Next pointer past a 512-byte image. */
	ecap(0x100, PCI_EXT_CAP_ID_AER, 1, 0x200);
	assert_int_equal(parse(512, &err), 1);
	expect_err(err, "beyond the 512-byte config image");
	/* Too short to hold a header at all. */
	assert_int_equal(pci_caps_parse(cfg, 32, caps, PCI_MAX_CAPS, &err), 0);
	expect_err(err, "shorter than the 64-byte header");
	assert_int_equal(pci_caps_parse(NULL, 256, caps, PCI_MAX_CAPS, &err), 0);
	assert_non_null(err);
}

/* ---- MSI ------------------------------------------------------------------------ */

static const char *decode(size_t len)
{
	const char *err = 0, *perr = 0;
	unsigned n = pci_caps_parse(cfg, len, caps, PCI_MAX_CAPS, &perr);
	assert_null(perr);
	pci_msi_decode(cfg, len, caps, n, &msi, &msix, bars, &err);
	return err;
}

static void test_msi_variants(void **state)
{
	(void)state;
	img(0, 0x50);
	cap(0x50, PCI_CAP_ID_MSI, 0);
	put16(0x50 + PCI_MSI_CTRL, 0);          /* 32-bit, 1 vector, no masking */
	assert_null(decode(256));
	assert_true(msi.present);
	assert_false(msi.is64);
	assert_false(msi.maskable);
	assert_int_equal(msi.off, 0x50);
	assert_int_equal(msi.multi_cap_log2, 0);
	assert_false(msix.present);

	put16(0x50 + PCI_MSI_CTRL, 5u << PCI_MSI_CTRL_MMC_SHIFT | PCI_MSI_CTRL_64BIT | PCI_MSI_CTRL_MASKABLE);
	assert_null(decode(256));
	assert_true(msi.present && msi.is64 && msi.maskable);
	assert_int_equal(msi.multi_cap_log2, 5);

	put16(0x50 + PCI_MSI_CTRL, 3u << PCI_MSI_CTRL_MMC_SHIFT | PCI_MSI_CTRL_MASKABLE);  /* 8, 32-bit */
	assert_null(decode(256));
	assert_false(msi.is64);
	assert_true(msi.maskable);
	assert_int_equal(msi.multi_cap_log2, 3);

	put16(0x50 + PCI_MSI_CTRL, 6u << PCI_MSI_CTRL_MMC_SHIFT);  /* Multiple Message Capable 110b: reserved */
	expect_err(decode(256), "Multiple Message Capable 6 is reserved");
	assert_false(msi.present);
}

static void test_msi_runs_past_config_space(void **state)
{
	(void)state;
	img(0, 0xF0);
	cap(0xF0, PCI_CAP_ID_MSI, 0);
	put16(0xF0 + PCI_MSI_CTRL, PCI_MSI_CTRL_64BIT | PCI_MSI_CTRL_MASKABLE);  /* 24 bytes: past 0x100 */
	expect_err(decode(4096), "runs past the config image");
	assert_false(msi.present);
	put16(0xF0 + PCI_MSI_CTRL, 0);          /* 10 bytes fit */
	assert_null(decode(4096));
	assert_true(msi.present);
}

/* ---- MSI-X ---------------------------------------------------------------------- */

/* An MSI-X capability at 0x40: entries, table BIR/offset, PBA BIR/offset. */
static void msix_img(unsigned entries, unsigned tbir, uint32_t toff, unsigned pbir, uint32_t poff)
{
	struct pci_bar keep[6];
	memcpy(keep, bars, sizeof keep);        /* the BARs stay as the test set them */
	img(0, 0x40);
	memcpy(bars, keep, sizeof keep);
	cap(0x40, PCI_CAP_ID_MSIX, 0);
	put16(0x40 + PCI_MSIX_CTRL, (uint16_t)(entries - 1));
	put32(0x40 + PCI_MSIX_TABLE, toff | tbir);
	put32(0x40 + PCI_MSIX_PBA, poff | pbir);
}

static void test_msix_valid(void **state)
{
	(void)state;
	msix_img(65, 0, 0x2000, 0, 0x3000);     /* QEMU's NVMe */
	bars[0] = (struct pci_bar){ PCI_BAR_MEM64, false, 0xfebc4000, 0x4000 };
	assert_null(decode(4096));
	assert_true(msix.present && msix.valid);
	assert_int_equal(msix.table_size, 65);
	assert_int_equal(msix.table_bar, 0);
	assert_int_equal(msix.table_off, 0x2000);
	assert_int_equal(msix.pba_off, 0x3000);

	msix_img(2048, 2, 0, 4, 0);             /* the sim's testdev fn 1: table and PBA apart */
	bars[2] = (struct pci_bar){ PCI_BAR_MEM32, false, 0xfe000000, 0x8000 };
	bars[4] = (struct pci_bar){ PCI_BAR_MEM32, true, 0xfe010000, 0x100 };
	assert_null(decode(4096));
	assert_true(msix.valid);
	assert_int_equal(msix.table_size, 2048);
	bars[4].size = 0x80;                    /* 2048 bits of PBA = 256 bytes */
	expect_err(decode(4096), "MSI-X PBA (0x100 bytes at bar4+0x0) runs past the BAR's end");
	assert_true(msix.present);
	assert_false(msix.valid);
}

static void test_msix_table_in_missing_bar(void **state)
{
	(void)state;
	msix_img(4, 3, 0, 0, 0x1000);
	bars[0] = (struct pci_bar){ PCI_BAR_MEM32, false, 0xfe000000, 0x2000 };
	expect_err(decode(4096), "MSI-X table in bar3, which is not an implemented memory BAR");
	assert_true(msix.present);
	assert_false(msix.valid);
	/* An I/O BAR is no place for it either. */
	bars[3] = (struct pci_bar){ PCI_BAR_IO, false, 0xc000, 0x100 };
	expect_err(decode(4096), "not an implemented memory BAR");
	/* BIR 6 and 7 are reserved. */
	msix_img(4, 7, 0, 0, 0x1000);
	bars[0] = (struct pci_bar){ PCI_BAR_MEM32, false, 0xfe000000, 0x2000 };
	expect_err(decode(4096), "MSI-X table BIR 7 is reserved");
	/* And when decoding without any BAR information, nothing is valid. */
	msix_img(4, 0, 0, 0, 0x1000);
	const char *err = 0;
	unsigned n = pci_caps_parse(cfg, 4096, caps, PCI_MAX_CAPS, 0);
	pci_msi_decode(cfg, 4096, caps, n, &msi, &msix, NULL, &err);
	assert_false(msix.valid);
	assert_non_null(err);
}

static void test_msix_table_past_bar_end(void **state)
{
	(void)state;
	msix_img(65, 0, 0x1C00, 0, 0x0);        /* 0x410 bytes from 0x1C00 > 0x2000 */
	bars[0] = (struct pci_bar){ PCI_BAR_MEM32, false, 0xfe000000, 0x2000 };
	expect_err(decode(4096), "MSI-X table (0x410 bytes at bar0+0x1c00) runs past the BAR's end (size 0x2000)");
	assert_false(msix.valid);
	msix_img(64, 0, 0x1C00, 0, 0x0);        /* 0x400 bytes: ends exactly at the BAR's end */
	assert_null(decode(4096));
	assert_true(msix.valid);
	/* A huge offset must not wrap the check. */
	msix_img(1, 0, 0xFFFFFFF8u, 0, 0);
	expect_err(decode(4096), "runs past the BAR's end");
}

static void test_msix_table_overlaps_pba(void **state)
{
	(void)state;
	msix_img(65, 0, 0x0, 0, 0x400);         /* table 0x000-0x40f, PBA at 0x400 */
	bars[0] = (struct pci_bar){ PCI_BAR_MEM32, false, 0xfe000000, 0x2000 };
	expect_err(decode(4096), "overlap");
	assert_false(msix.valid);
	msix_img(64, 0, 0x0, 0, 0x400);         /* table 0x000-0x3ff: adjacent, fine */
	assert_null(decode(4096));
	assert_true(msix.valid);
	msix_img(65, 0, 0x408, 0, 0x400);       /* PBA (16 bytes) runs into the table */
	expect_err(decode(4096), "overlap");
}

static void test_msix_table_in_upper_half_of_64bit_bar(void **state)
{
	(void)state;
	msix_img(8, 1, 0, 0, 0x1000);
	bars[0] = (struct pci_bar){ PCI_BAR_MEM64, true, 0x800000000ull, 0x4000 };
	expect_err(decode(4096), "MSI-X table in bar1, the upper half of 64-bit bar0");
	assert_false(msix.valid);
	msix_img(8, 0, 0, 1, 0x1000);
	expect_err(decode(4096), "MSI-X PBA in bar1, the upper half of 64-bit bar0");
}

/* ---- MCFG ----------------------------------------------------------------------- */

static uint8_t mcfg[sizeof(struct acpi_mcfg) + sizeof(struct acpi_mcfg_alloc) * 8];

static uint32_t mcfg_build(unsigned n, const uint64_t *base, const uint16_t *seg, const uint8_t *start,
			   const uint8_t *end)
{
	memset(mcfg, 0, sizeof mcfg);
	struct acpi_mcfg h = { .hdr = { .length = (uint32_t)(sizeof h + sizeof(struct acpi_mcfg_alloc) * n) } };
	memcpy(h.hdr.signature, ACPI_SIG_MCFG, 4);
	uint32_t len = h.hdr.length;
	memcpy(mcfg, &h, sizeof h);
	for (unsigned i = 0; i < n; i++) {
		struct acpi_mcfg_alloc a = { .base = base[i], .segment = seg[i], .start_bus = start[i],
					     .end_bus = end[i] };
		memcpy(mcfg + sizeof h + sizeof a * i, &a, sizeof a);
	}
	fake_hal_console_reset();
	return len;
}

static void test_mcfg_entries(void **state)
{
	(void)state;
	struct pci_ecam_seg out[8];
	const uint64_t base[] = { 0xB0000000, 0xC0000000, 0xD0000800, 0xE0000000, 0xB0000000, 0xF0000000 };
	const uint16_t seg[] = { 0, 1, 2, 3, 0, 4 };
	const uint8_t start[] = { 0, 0x10, 0, 9, 0x80, 0 }, end[] = { 0x7F, 0x1F, 0xFF, 8, 0xFF, 0xFF };
	uint32_t len = mcfg_build(6, base, seg, start, end);
	unsigned n = pci_mcfg_parse(mcfg, len, out, 8);
	assert_int_equal(n, 4);                 /* seg 0 (both halves), 1 and 4 */
	assert_int_equal(out[0].seg, 0);
	assert_int_equal(out[0].base, 0xB0000000);
	assert_int_equal(out[0].end, 0x7F);
	assert_int_equal(out[1].seg, 1);
	assert_int_equal(out[1].start, 0x10);
	assert_int_equal(out[2].seg, 0);
	assert_int_equal(out[2].start, 0x80);
	const char *log = fake_hal_console();
	assert_non_null(strstr(log, "segment 2): base 0xd0000800 is not a 1 MiB aligned address"));
	assert_non_null(strstr(log, "segment 3): start bus 9 after end bus 8"));
	assert_int_equal(out[3].seg, 4);
	assert_null(strstr(log, "more than"));
	/* A table holding fewer slots than entries stops with a log line. */
	n = pci_mcfg_parse(mcfg, len, out, 2);
	assert_int_equal(n, 2);
	assert_non_null(strstr(fake_hal_console(), "more than 2 ECAM regions"));
}

static void test_mcfg_bad_tables(void **state)
{
	(void)state;
	struct pci_ecam_seg out[4];
	const uint64_t base[] = { 0xB0000000, 0xB0000000 };
	const uint16_t seg[] = { 0, 0 };
	const uint8_t start[] = { 0, 0x40 }, end[] = { 0x7F, 0xFF };
	uint32_t len = mcfg_build(2, base, seg, start, end);
	assert_int_equal(pci_mcfg_parse(mcfg, len, out, 4), 1);   /* overlapping bus ranges */
	assert_non_null(strstr(fake_hal_console(), "overlaps an earlier entry"));
	assert_int_equal(pci_mcfg_parse(mcfg, 40, out, 4), 0);     /* shorter than its header */
	assert_non_null(strstr(fake_hal_console(), "shorter than its 44-byte header"));
	len = mcfg_build(1, base, seg, start, end);
	assert_int_equal(pci_mcfg_parse(mcfg, len + 5, out, 4), 1); /* trailing bytes */
	len = mcfg_build(1, base, seg, start, end);
	uint32_t hdr = len + 5;
	memcpy(mcfg + 4, &hdr, 4);
	assert_int_equal(pci_mcfg_parse(mcfg, hdr, out, 4), 1);
	assert_non_null(strstr(fake_hal_console(), "stray bytes"));
	const uint64_t zero[] = { 0 };
	len = mcfg_build(1, zero, seg, start, end);
	assert_int_equal(pci_mcfg_parse(mcfg, len, out, 4), 0);     /* base 0 */
	len = mcfg_build(0, base, seg, start, end);
	assert_int_equal(pci_mcfg_parse(mcfg, len, out, 4), 0);
	assert_non_null(strstr(fake_hal_console(), "lists no ECAM region"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_list_with_extended),
		cmocka_unit_test(test_status_bit_clear_means_no_list),
		cmocka_unit_test(test_loop),
		cmocka_unit_test(test_pointer_into_header),
		cmocka_unit_test(test_pointer_beyond_image_and_0xfc),
		cmocka_unit_test(test_misaligned_pointers_masked),
		cmocka_unit_test(test_cardbus_pointer_at_0x14),
		cmocka_unit_test(test_48_caps_and_overflow),
		cmocka_unit_test(test_ext_loop),
		cmocka_unit_test(test_ext_next_below_0x100),
		cmocka_unit_test(test_ext_end_markers_and_short_image),
		cmocka_unit_test(test_msi_variants),
		cmocka_unit_test(test_msi_runs_past_config_space),
		cmocka_unit_test(test_msix_valid),
		cmocka_unit_test(test_msix_table_in_missing_bar),
		cmocka_unit_test(test_msix_table_past_bar_end),
		cmocka_unit_test(test_msix_table_overlaps_pba),
		cmocka_unit_test(test_msix_table_in_upper_half_of_64bit_bar),
		cmocka_unit_test(test_mcfg_entries),
		cmocka_unit_test(test_mcfg_bad_tables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
