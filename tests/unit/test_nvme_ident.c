/*
 * test_nvme_ident.c — CMocka tests of Identify Controller (NVMe 1.4 §5.15.2.2) and
 * Identify Namespace (§5.15.2.1) parsing (kernel/drivers/nvme/nvme_ident.c). The
 * 4096-byte pages are written here byte by byte at the offsets the spec's tables
 * give (not through the hw/ structures), so a wrong field offset shows too. Cases:
 * MDTS 0 and values (with CAP.MPSMIN), ONCS, VWC, NN, SN/MN/FR trimmed (space
 * padding, trailing NULs, non-ASCII bytes), SQES/CQES, short data; namespaces with
 * NSZE 0 (and the all-zero page of an inactive NSID), LBA formats with metadata
 * or unusable sizes (skip, -EOPNOTSUPP), FLBAS beyond NLBAF and other bad data
 * (refused, -EINVAL).
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

static uint8_t page[4096];

static void put16(unsigned off, uint16_t v) { page[off] = (uint8_t)v; page[off + 1] = (uint8_t)(v >> 8); }
static void put32(unsigned off, uint32_t v) { for (unsigned i = 0; i < 4; i++) page[off + i] = (uint8_t)(v >> (8 * i)); }
static void put64(unsigned off, uint64_t v) { for (unsigned i = 0; i < 8; i++) page[off + i] = (uint8_t)(v >> (8 * i)); }
static void putstr(unsigned off, unsigned n, const char *s)
{
	memset(page + off, ' ', n);
	memcpy(page + off, s, strlen(s));
}

/* Identify Controller offsets, §5.15.2.2 Figure 247 */
enum { C_VID = 0, C_SN = 4, C_MN = 24, C_FR = 64, C_MDTS = 77, C_VER = 80, C_RTD3E = 88, C_ACL = 258,
       C_SQES = 512, C_CQES = 513, C_NN = 516, C_ONCS = 520, C_VWC = 525 };
/* Identify Namespace offsets, §5.15.2.1 Figure 245 */
enum { N_NSZE = 0, N_NCAP = 8, N_NLBAF = 25, N_FLBAS = 26, N_DLFEAT = 33, N_LBAF0 = 128 };

static void good_ctrl(void)
{
	memset(page, 0, sizeof page);
	put16(C_VID, 0x1B36);
	putstr(C_SN, 20, "SN-0001");
	putstr(C_MN, 40, "Doppel NVMe Ctrl");
	putstr(C_FR, 8, "1.0");
	page[C_MDTS] = 7;
	put32(C_VER, 0x10400);
	put32(C_RTD3E, 1000000);
	page[C_ACL] = 3;
	page[C_SQES] = 0x66;
	page[C_CQES] = 0x44;
	put32(C_NN, 4);
	put16(C_ONCS, 0x000C);
	page[C_VWC] = 1;
}

static void lbaf(unsigned i, uint16_t ms, uint8_t lbads)
{
	put16(N_LBAF0 + 4 * i, ms);
	page[N_LBAF0 + 4 * i + 2] = lbads;
}

static void good_ns(void)
{
	memset(page, 0, sizeof page);
	put64(N_NSZE, 1u << 20);
	put64(N_NCAP, 1u << 20);
	page[N_NLBAF] = 1;              /* two formats, 0-based */
	page[N_FLBAS] = 0;
	page[N_DLFEAT] = 1;
	lbaf(0, 0, 9);
	lbaf(1, 0, 12);
}

static void test_ctrl_fields(void **state)
{
	(void)state;
	struct nvme_id_info id;
	const char *why = "unset";
	good_ctrl();
	assert_int_equal(nvme_id_ctrl_parse(page, sizeof page, &id, &why), 0);
	assert_null(why);
	assert_string_equal(id.sn, "SN-0001");
	assert_string_equal(id.mn, "Doppel NVMe Ctrl");
	assert_string_equal(id.fr, "1.0");
	assert_int_equal(id.mdts, 7);
	assert_int_equal(id.oncs, 0x000C);
	assert_true(id.oncs & NVME_ONCS_DSM);
	assert_true(id.oncs & NVME_ONCS_WRITE_ZEROES);
	assert_false(id.oncs & NVME_ONCS_COMPARE);
	assert_int_equal(id.vwc, 1);
	assert_int_equal(id.nn, 4);
	assert_int_equal(id.vid, 0x1B36);
	assert_int_equal(id.ver, 0x10400);
	assert_int_equal(id.rtd3e_us, 1000000);
	assert_int_equal(id.acl, 3);
	/* every ONCS bit and VWC value comes through as is */
	for (unsigned b = 0; b < 16; b++) {
		good_ctrl();
		put16(C_ONCS, (uint16_t)(1u << b));
		page[C_VWC] = (uint8_t)(b * 17);
		put32(C_NN, 0xFFFFFFFEu - b);
		assert_int_equal(nvme_id_ctrl_parse(page, sizeof page, &id, NULL), 0);
		assert_int_equal(id.oncs, 1u << b);
		assert_int_equal(id.vwc, (uint8_t)(b * 17));
		assert_int_equal(id.nn, 0xFFFFFFFEu - b);
	}
	good_ctrl();
	put32(C_NN, 0);                         /* no namespaces: parsed, not refused */
	assert_int_equal(nvme_id_ctrl_parse(page, sizeof page, &id, NULL), 0);
	assert_int_equal(id.nn, 0);
}

static void test_ctrl_strings(void **state)
{
	(void)state;
	struct nvme_id_info id;
	/* full width, no padding: all kept, terminated */
	good_ctrl();
	memcpy(page + C_SN, "ABCDEFGHIJKLMNOPQRST", 20);
	memcpy(page + C_FR, "FW123456", 8);
	memset(page + C_MN, 'm', 40);
	assert_int_equal(nvme_id_ctrl_parse(page, sizeof page, &id, NULL), 0);
	assert_string_equal(id.sn, "ABCDEFGHIJKLMNOPQRST");
	assert_string_equal(id.fr, "FW123456");
	assert_int_equal(strlen(id.mn), 40);
	/* all spaces: empty */
	good_ctrl();
	memset(page + C_SN, ' ', 20);
	memset(page + C_FR, 0, 8);
	assert_int_equal(nvme_id_ctrl_parse(page, sizeof page, &id, NULL), 0);
	assert_string_equal(id.sn, "");
	assert_string_equal(id.fr, "");
	/* leading and inner spaces kept, trailing spaces and NULs dropped */
	good_ctrl();
	putstr(C_SN, 20, "  S N");
	memcpy(page + C_FR, "v2\0\0 \0  ", 8);
	assert_int_equal(nvme_id_ctrl_parse(page, sizeof page, &id, NULL), 0);
	assert_string_equal(id.sn, "  S N");
	assert_string_equal(id.fr, "v2");
	/* non-ASCII and control bytes shown as '?', never copied raw */
	good_ctrl();
	memset(page + C_MN, ' ', 40);
	memcpy(page + C_MN, "Mod\xC3\xA9l\x07\x7F\xFFX", 10);
	memcpy(page + C_SN, "\x01\x80", 2);
	page[C_FR + 7] = (char)0x9B;            /* last byte non-ASCII: kept as '?' */
	assert_int_equal(nvme_id_ctrl_parse(page, sizeof page, &id, NULL), 0);
	assert_string_equal(id.mn, "Mod??l???X");
	assert_string_equal(id.sn, "?" "?-0001");
	assert_string_equal(id.fr, "1.0    ?");
	for (const char *p = id.mn; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7F);
}

static void test_mdts(void **state)
{
	(void)state;
	assert_int_equal(nvme_mdts_bytes(0, 0), 0);             /* no limit */
	assert_int_equal(nvme_mdts_bytes(0, 3), 0);
	assert_int_equal(nvme_mdts_bytes(1, 0), 8192);
	assert_int_equal(nvme_mdts_bytes(5, 0), 128 * 1024);
	assert_int_equal(nvme_mdts_bytes(7, 0), 512 * 1024);
	assert_int_equal(nvme_mdts_bytes(6, 1), 512 * 1024);    /* 8 KiB minimum pages */
	assert_int_equal(nvme_mdts_bytes(9, 0), 2 * 1024 * 1024);
	assert_int_equal(nvme_mdts_bytes(27, 0), 1ull << 39);
	assert_int_equal(nvme_mdts_bytes(28, 0), 0);            /* a terabyte or more: no limit */
	assert_int_equal(nvme_mdts_bytes(255, 15), 0);
	/* MPSMIN is 4 bits; anything larger must not wrap into a small limit */
	assert_int_equal(nvme_mdts_bytes(1, 0xFFFFFFFFu), 0);
	assert_int_equal(nvme_mdts_bytes(200, 0xFFFFFF00u), 0);
	for (unsigned m = 1; m < 256; m++)
		for (unsigned p = 0; p < 16; p++) {
			uint64_t b = nvme_mdts_bytes((uint8_t)m, p);
			if (m + 12 + p < 40)
				assert_int_equal(b, 1ull << (m + 12 + p));
			else
				assert_int_equal(b, 0);
		}
	/* the MDTS byte is read from offset 77 */
	struct nvme_id_info id;
	good_ctrl();
	page[C_MDTS] = 0;
	assert_int_equal(nvme_id_ctrl_parse(page, sizeof page, &id, NULL), 0);
	assert_int_equal(id.mdts, 0);
	page[C_MDTS] = 5;
	assert_int_equal(nvme_id_ctrl_parse(page, sizeof page, &id, NULL), 0);
	assert_int_equal(id.mdts, 5);
}

static void test_ctrl_refused(void **state)
{
	(void)state;
	struct nvme_id_info id;
	const char *why = NULL;
	good_ctrl();
	assert_int_equal(nvme_id_ctrl_parse(page, 4095, &id, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(nvme_id_ctrl_parse(page, 0, &id, NULL), -EINVAL);
	why = NULL;
	assert_int_equal(nvme_id_ctrl_parse(NULL, 4096, &id, &why), -EINVAL);
	assert_non_null(why);
	/* entry sizes: required above 64/16 bytes, or maximum below */
	static const uint8_t bad_sqes[] = { 0x77, 0x55, 0x00, 0x07 };
	for (unsigned i = 0; i < sizeof bad_sqes; i++) {
		good_ctrl();
		page[C_SQES] = bad_sqes[i];
		why = NULL;
		assert_int_equal(nvme_id_ctrl_parse(page, sizeof page, &id, &why), -EINVAL);
		assert_non_null(why);
	}
	static const uint8_t bad_cqes[] = { 0x55, 0x33, 0x00 };
	for (unsigned i = 0; i < sizeof bad_cqes; i++) {
		good_ctrl();
		page[C_CQES] = bad_cqes[i];
		why = NULL;
		assert_int_equal(nvme_id_ctrl_parse(page, sizeof page, &id, &why), -EINVAL);
		assert_non_null(why);
	}
	good_ctrl();
	page[C_SQES] = 0xF6;                    /* larger maximum allowed */
	page[C_CQES] = 0x54;
	assert_int_equal(nvme_id_ctrl_parse(page, sizeof page, &id, NULL), 0);
}

static void test_ns_usable(void **state)
{
	(void)state;
	struct nvme_ns_info ns;
	const char *why = "unset";
	good_ns();
	assert_int_equal(nvme_id_ns_parse(page, sizeof page, &ns, &why), 0);
	assert_null(why);
	assert_int_equal(ns.nsze, 1u << 20);
	assert_int_equal(ns.ncap, 1u << 20);
	assert_int_equal(ns.block_size, 512);
	assert_int_equal(ns.ms, 0);
	assert_int_equal(ns.flbas_index, 0);
	assert_int_equal(ns.dlfeat, 1);
	/* format 1 (4096 bytes); the extended-metadata bit is not part of the index */
	page[N_FLBAS] = 0x11;
	assert_int_equal(nvme_id_ns_parse(page, sizeof page, &ns, NULL), 0);
	assert_int_equal(ns.block_size, 4096);
	assert_int_equal(ns.flbas_index, 1);
	/* the last of sixteen formats */
	good_ns();
	page[N_NLBAF] = 15;
	page[N_FLBAS] = 15;
	lbaf(15, 0, 12);
	assert_int_equal(nvme_id_ns_parse(page, sizeof page, &ns, NULL), 0);
	assert_int_equal(ns.block_size, 4096);
	/* thin provisioning: NCAP below NSZE */
	good_ns();
	put64(N_NCAP, 1000);
	assert_int_equal(nvme_id_ns_parse(page, sizeof page, &ns, NULL), 0);
	assert_int_equal(ns.ncap, 1000);
}

static void expect_ns(int err, const char *what)
{
	struct nvme_ns_info ns;
	const char *why = NULL;
	int rc = nvme_id_ns_parse(page, sizeof page, &ns, &why);
	if (rc != err)
		print_message("%s: got %d (%s), want %d\n", what, rc, why ? why : "-", err);
	assert_int_equal(rc, err);
	assert_non_null(why);
	assert_true(why[0] != '\0');
	print_message("%-40s -> %s\n", what, why);
}

static void test_ns_skipped(void **state)
{
	(void)state;
	good_ns();
	put64(N_NSZE, 0);
	put64(N_NCAP, 0);
	expect_ns(-EOPNOTSUPP, "NSZE 0");
	memset(page, 0, sizeof page);           /* an inactive NSID: zero filled (§5.15) */
	expect_ns(-EOPNOTSUPP, "all-zero page");
	good_ns();
	lbaf(0, 8, 9);
	expect_ns(-EOPNOTSUPP, "512 + 8 bytes metadata");
	good_ns();
	lbaf(1, 64, 12);
	page[N_FLBAS] = 0x11;
	expect_ns(-EOPNOTSUPP, "4096 + 64 extended metadata");
	static const uint8_t sizes[] = { 10, 11, 13, 16, 20, 31 };
	for (unsigned i = 0; i < sizeof sizes; i++) {
		good_ns();
		lbaf(0, 0, sizes[i]);
		expect_ns(-EOPNOTSUPP, "data size other than 512/4096");
	}
}

static void test_ns_refused(void **state)
{
	(void)state;
	good_ns();
	page[N_FLBAS] = 2;                      /* NLBAF 1: formats 0 and 1 only */
	expect_ns(-EINVAL, "FLBAS 2 beyond NLBAF 1");
	good_ns();
	page[N_NLBAF] = 0;
	page[N_FLBAS] = 1;
	expect_ns(-EINVAL, "FLBAS 1 beyond NLBAF 0");
	good_ns();
	page[N_NLBAF] = 3;
	page[N_FLBAS] = 0x0F;
	expect_ns(-EINVAL, "FLBAS 15 beyond NLBAF 3");
	static const uint8_t bad[] = { 0, 1, 8, 32, 64, 255 };
	for (unsigned i = 0; i < sizeof bad; i++) {
		good_ns();
		lbaf(0, 0, bad[i]);
		expect_ns(-EINVAL, "LBADS below 9 or beyond 2^31");
	}
	good_ns();
	put64(N_NCAP, (1u << 20) + 1);
	expect_ns(-EINVAL, "NCAP > NSZE");
	struct nvme_ns_info ns;
	const char *why = NULL;
	good_ns();
	assert_int_equal(nvme_id_ns_parse(page, 4095, &ns, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(nvme_id_ns_parse(NULL, 4096, &ns, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ctrl_fields),
		cmocka_unit_test(test_ctrl_strings),
		cmocka_unit_test(test_mdts),
		cmocka_unit_test(test_ctrl_refused),
		cmocka_unit_test(test_ns_usable),
		cmocka_unit_test(test_ns_skipped),
		cmocka_unit_test(test_ns_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
