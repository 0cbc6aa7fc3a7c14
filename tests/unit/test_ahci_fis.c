/*
 * test_ahci_fis.c — CMocka tests of the AHCI driver's ATA side (kernel/drivers/
 * ahci/ahci_cmd.c, docs/ahci.md): the Register H2D FIS layouts it builds (SATA 3.2
 * §10.5.5; READ/WRITE DMA EXT and FPDMA QUEUED with the tag in count 7:3 and the
 * sector count in features, ACS-3 §7.23/§7.61), TRIM range entries (ACS-3
 * §7.5.3.2), IDENTIFY DEVICE parsing against a page built here word by word, the
 * NCQ Command Error log (ACS-3 Annex A.13) and the received-FIS area decoding
 * (AHCI 1.3.1 §4.2.1). Byte offsets are checked on raw bytes, not through the
 * structs, so a struct layout error shows.
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

static void test_rw_dma_ext(void **st)
{
	(void)st;
	struct fis_reg_h2d f;
	assert_int_equal(ahci_fis_rw(&f, false, false, 0, 0x0000123456789ABCull, 8), 0);
	const uint8_t *b = (const uint8_t *)&f;
	assert_int_equal(b[0], 0x27);
	assert_int_equal(b[1], 0x80);                   /* C bit */
	assert_int_equal(b[2], 0x25);                   /* READ DMA EXT */
	assert_int_equal(b[4], 0xBC);
	assert_int_equal(b[5], 0x9A);
	assert_int_equal(b[6], 0x78);
	assert_int_equal(b[7], 0x40);                   /* LBA mode */
	assert_int_equal(b[8], 0x56);
	assert_int_equal(b[9], 0x34);
	assert_int_equal(b[10], 0x12);
	assert_int_equal(b[12], 8);
	assert_int_equal(b[13], 0);
	assert_int_equal(ahci_fis_rw(&f, true, false, 0, 0, 65536), 0);
	assert_int_equal(b[2], 0x35);
	assert_int_equal(b[12], 0);                     /* 65536 is count 0 */
	assert_int_equal(b[13], 0);
}

static void test_fpdma(void **st)
{
	(void)st;
	struct fis_reg_h2d f;
	const uint8_t *b = (const uint8_t *)&f;
	for (unsigned tag = 0; tag < 32; tag++) {
		assert_int_equal(ahci_fis_rw(&f, tag & 1u, true, tag, 4096 + tag, 0x1234), 0);
		assert_int_equal(b[2], (tag & 1u) ? 0x61 : 0x60);
		assert_int_equal(b[3], 0x34);           /* features 7:0: sector count */
		assert_int_equal(b[11], 0x12);          /* features 15:8 */
		assert_int_equal(b[12], tag << 3);      /* count 7:3: tag */
		assert_int_equal(b[7] & 0x40, 0x40);
		assert_int_equal(b[4], (uint8_t)(4096 + tag));
	}
	assert_int_equal(ahci_fis_rw(&f, false, true, 32, 0, 1), -EINVAL);
	assert_int_equal(ahci_fis_rw(&f, false, false, 0, 0, 0), -EINVAL);
	assert_int_equal(ahci_fis_rw(&f, false, false, 0, 0, 65537), -EINVAL);
	assert_int_equal(ahci_fis_rw(&f, false, false, 0, (1ull << 48) - 1, 2), -EINVAL);
}

static void test_simple_log_trim(void **st)
{
	(void)st;
	struct fis_reg_h2d f;
	const uint8_t *b = (const uint8_t *)&f;
	ahci_fis_simple(&f, 0xEC);
	assert_int_equal(b[2], 0xEC);
	ahci_fis_simple(&f, 0xEA);
	assert_int_equal(b[2], 0xEA);
	ahci_fis_read_log(&f, 0x10, 1);
	assert_int_equal(b[2], 0x2F);
	assert_int_equal(b[4], 0x10);
	assert_int_equal(b[12], 1);
	ahci_fis_trim(&f, 1);
	assert_int_equal(b[2], 0x06);
	assert_int_equal(b[3], 0x01);
	assert_int_equal(b[12], 1);
	uint64_t blk[64];
	assert_int_equal(ahci_trim_ranges(blk, 100, 70000), 2);
	assert_int_equal(blk[0], 100ull | 0xFFFFull << 48);
	assert_int_equal(blk[1], (100ull + 0xFFFF) | (70000ull - 0xFFFF) << 48);
	assert_int_equal(blk[2], 0);
	assert_int_equal(ahci_trim_ranges(blk, 0, 64ull * 0xFFFF), 64);
	assert_int_equal(ahci_trim_ranges(blk, 0, 64ull * 0xFFFF + 1), -E2BIG);
}

static void put(uint8_t *p, unsigned w, uint16_t v)
{
	p[2 * w] = (uint8_t)v;
	p[2 * w + 1] = (uint8_t)(v >> 8);
}

static void put_str(uint8_t *p, unsigned w, unsigned nw, const char *s)
{
	size_t n = strlen(s);
	for (unsigned i = 0; i < nw * 2; i++) {
		char c = i < n ? s[i] : ' ';
		p[2 * w + (i ^ 1u)] = (uint8_t)c;       /* first character in the high byte */
	}
}

static void make_id(uint8_t *p)
{
	memset(p, 0, 512);
	put_str(p, 10, 10, "SER123");
	put_str(p, 23, 4, "1.0");
	put_str(p, 27, 20, "DOPPEL DISK");
	put(p, 49, (1u << 9) | (1u << 8));
	put(p, 75, 31);
	put(p, 76, 1u << 8);
	put(p, 82, 1u << 5);
	put(p, 83, (1u << 14) | (1u << 10) | (1u << 13));
	put(p, 85, 1u << 5);
	put(p, 86, 1u << 10);
	put(p, 100, 0x0000);
	put(p, 101, 0x0002);                    /* 131072 sectors */
	put(p, 105, 8);
	put(p, 169, 1);
}

static void test_identify(void **st)
{
	(void)st;
	uint8_t p[512];
	struct ahci_id_info id;
	const char *why = "unset";
	make_id(p);
	assert_int_equal(ahci_identify_parse(p, 512, &id, &why), 0);
	assert_null(why);
	assert_string_equal(id.model, "DOPPEL DISK");
	assert_string_equal(id.serial, "SER123");
	assert_string_equal(id.fw, "1.0");
	assert_int_equal(id.sectors, 131072);
	assert_int_equal(id.block_size, 512);
	assert_true(id.lba48 && id.ncq && id.trim && id.wcache && id.wcache_on && id.flush_ext);
	assert_int_equal(id.ncq_depth, 32);
	assert_int_equal(id.dsm_max_blocks, 8);
	/* 4096-byte logical sectors (words 117..118 in words) */
	put(p, 106, 0x4000 | (1u << 12));
	put(p, 117, 2048);
	assert_int_equal(ahci_identify_parse(p, 512, &id, &why), 0);
	assert_int_equal(id.block_size, 4096);
	put(p, 117, 1000);
	assert_int_equal(ahci_identify_parse(p, 512, &id, &why), -EOPNOTSUPP);
	assert_non_null(why);
	make_id(p);
	put(p, 86, 0);                          /* LBA48 not enabled */
	assert_int_equal(ahci_identify_parse(p, 512, &id, &why), -EOPNOTSUPP);
	make_id(p);
	put(p, 101, 0);                         /* capacity zero */
	assert_int_equal(ahci_identify_parse(p, 512, &id, &why), -EINVAL);
	make_id(p);
	put(p, 255, 0x00A5);                    /* checksum signature, wrong sum */
	assert_int_equal(ahci_identify_parse(p, 512, &id, &why), -EINVAL);
	uint8_t sum = 0;
	for (unsigned i = 0; i < 511; i++)
		sum = (uint8_t)(sum + p[i]);
	p[511] = (uint8_t)-sum;
	assert_int_equal(ahci_identify_parse(p, 512, &id, &why), 0);
	assert_int_equal(ahci_identify_parse(p, 100, &id, &why), -EINVAL);
	make_id(p);
	p[2 * 27] = 0x01;                       /* unprintable in the model */
	assert_int_equal(ahci_identify_parse(p, 512, &id, &why), 0);
	assert_int_equal(id.model[1], '?');
}

static void test_ncq_err_log(void **st)
{
	(void)st;
	uint8_t pg[512] = { 0 };
	pg[0] = 7;
	pg[2] = 0x41;
	pg[3] = 0x04;
	pg[4] = 0x11;
	pg[5] = 0x22;
	pg[6] = 0x33;
	pg[8] = 0x44;
	pg[9] = 0x55;
	pg[10] = 0x66;
	uint8_t sum = 0;
	for (unsigned i = 0; i < 511; i++)
		sum = (uint8_t)(sum + pg[i]);
	pg[511] = (uint8_t)-sum;
	struct ahci_ncq_err e;
	const char *why = 0;
	assert_int_equal(ahci_ncq_err_parse(pg, 512, &e, &why), 0);
	assert_false(e.nq);
	assert_int_equal(e.tag, 7);
	assert_int_equal(e.status, 0x41);
	assert_int_equal(e.error, 0x04);
	assert_int_equal(e.lba, 0x665544332211ull);
	pg[0] |= 0x80;
	pg[511] = (uint8_t)(pg[511] - 0x80);
	assert_int_equal(ahci_ncq_err_parse(pg, 512, &e, &why), 0);
	assert_true(e.nq);
	pg[511] ^= 1;
	assert_int_equal(ahci_ncq_err_parse(pg, 512, &e, &why), -EINVAL);
	assert_non_null(why);
}

static void test_rx_fis_area(void **st)
{
	(void)st;
	uint8_t a[256] = { 0 };
	struct ahci_rx_info ri;
	const char *why = 0;
	assert_int_equal(ahci_rx_fis_decode(a, 256, &ri, &why), 0);
	assert_false(ri.d2h_valid || ri.sdb_valid || ri.pio_valid);
	a[0x40] = 0x34;
	a[0x42] = 0x51;
	a[0x43] = 0x10;
	a[0x44] = 0x01;
	a[0x4a] = 0x02;
	a[0x58] = 0xA1;
	a[0x5c] = 0x0F;
	a[0x20] = 0x5F;
	a[0x30] = 0x00;
	a[0x31] = 0x02;
	assert_int_equal(ahci_rx_fis_decode(a, 256, &ri, &why), 0);
	assert_true(ri.d2h_valid && ri.sdb_valid && ri.pio_valid);
	assert_int_equal(ri.d2h_status, 0x51);
	assert_int_equal(ri.d2h_error, 0x10);
	assert_int_equal(ri.d2h_lba, 0x020000000001ull);
	assert_int_equal(ri.sdb_sactive, 0x0F);
	assert_int_equal(ri.pio_xfer, 512);
	a[0x58] = 0x34;
	assert_int_equal(ahci_rx_fis_decode(a, 256, &ri, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(ahci_rx_fis_decode(a, 255, &ri, &why), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rw_dma_ext),
		cmocka_unit_test(test_fpdma),
		cmocka_unit_test(test_simple_log_trim),
		cmocka_unit_test(test_identify),
		cmocka_unit_test(test_ncq_err_log),
		cmocka_unit_test(test_rx_fis_area),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
