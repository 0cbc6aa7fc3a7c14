/*
 * test_acpi.c — CMocka tests of the kernel's ACPI discovery and MADT parser over
 * tables crafted by the models' generator (models/acpi/acpi_gen.h): good layouts,
 * each injected fault, RSDT-only firmware and the BIOS-area RSDP scan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <hw/acpi/madt.h>
#include <hw/acpi/tables.h>
#include <kernel/acpi.h>
#include "acpi/acpi_gen.h"
#include "fake_hal.h"

#define MEM (2u << 20)
#define TABLES_BASE 0xE0000u
#define TABLES_LEN 0x20000u

static struct boot_info bi;
static struct acpi_info info;

/* Build tables for cfg into fake memory, run acpi_init, return its result. */
static int boot_with(struct acpi_gen_config *cfg, int hand_over_rsdp)
{
	uint8_t *mem = fake_hal_mem_reset(MEM);
	fake_hal_console_reset();
	cfg->mem_size = MEM;
	uint64_t rsdp = 0;
	assert_int_equal(acpi_gen_build(mem + TABLES_BASE, TABLES_BASE, TABLES_LEN, cfg, &rsdp), 0);
	memset(&bi, 0, sizeof bi);
	bi.hal_version = HAL_VERSION;
	bi.rsdp_phys = hand_over_rsdp ? rsdp : 0;
	bi.rsdp_source = hand_over_rsdp ? (cfg->revision >= 2 ? 15 : 14) : 0;
	bi.mmap_count = 4;
	bi.mmap[0] = (struct boot_mem_region){ 0, 0x9FC00, BOOT_MEM_USABLE, 0 };
	bi.mmap[1] = (struct boot_mem_region){ 0x9FC00, 0x400, BOOT_MEM_RESERVED, 0 };
	bi.mmap[2] = (struct boot_mem_region){ TABLES_BASE, TABLES_LEN, BOOT_MEM_RESERVED, 0 };
	bi.mmap[3] = (struct boot_mem_region){ 0x100000, MEM - 0x100000, BOOT_MEM_USABLE, 0 };
	return acpi_init(&bi, &info);
}

static void cfg_init(struct acpi_gen_config *c, unsigned ncpus, enum acpi_gen_break brk)
{
	memset(c, 0, sizeof *c);
	c->ncpus = ncpus;
	c->revision = 2;
	c->brk = brk;
}

static void expect_log(const char *needle)
{
	if (!strstr(fake_hal_console(), needle))
		fail_msg("log has no '%s'; console was:\n%s", needle, fake_hal_console());
}

static void test_good_tables_xsdt(void **state)
{
	struct acpi_gen_config c;
	cfg_init(&c, 4, ACPI_GEN_BREAK_NONE);
	assert_int_equal(boot_with(&c, 1), 0);
	assert_true(info.via_xsdt);
	assert_int_equal(info.rsdp_source, ACPI_RSDP_TAG15);
	assert_true(info.have_madt);
	assert_int_equal(info.madt.n_enabled, 4);
	assert_int_equal(info.madt.nioapics, 1);
	assert_int_equal(info.madt.ioapics[0].address, 0xFEC00000u);
	assert_int_equal(info.madt.lapic_address, 0xFEE00000u);
	assert_int_equal(info.nerrors, 0);
	assert_non_null(acpi_find(&info, ACPI_SIG_FADT));
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(info.madt.cpus[i].apic_id, i);
}

static void test_bad_madt_checksum(void **state)
{
	struct acpi_gen_config c;
	cfg_init(&c, 4, ACPI_GEN_BREAK_MADT_CHECKSUM);
	assert_int_equal(boot_with(&c, 1), 0);
	assert_false(info.have_madt);
	assert_null(acpi_find(&info, ACPI_SIG_MADT));
	assert_non_null(acpi_find(&info, ACPI_SIG_FADT));  /* the other tables survive */
	expect_log("MADT (APIC)");
	expect_log("bad checksum");
}

static void test_bad_rsdp_checksum(void **state)
{
	struct acpi_gen_config c;
	cfg_init(&c, 2, ACPI_GEN_BREAK_RSDP_CHECKSUM);
	assert_int_equal(boot_with(&c, 1), -2 /* -ENOENT */);
	assert_int_equal(info.rsdp_phys, 0);
	expect_log("RSDP");
	expect_log("bad checksum");
	expect_log("no valid RSDP");
}

static void test_bad_rsdp_ext_checksum_uses_rsdt(void **state)
{
	struct acpi_gen_config c;
	cfg_init(&c, 2, ACPI_GEN_BREAK_RSDP_EXT_CHECKSUM);
	assert_int_equal(boot_with(&c, 1), 0);
	assert_false(info.via_xsdt);
	assert_true(info.have_madt);
	assert_int_equal(info.madt.n_enabled, 2);
	expect_log("extended checksum");
}

static void test_bad_xsdt_falls_back_to_rsdt(void **state)
{
	enum acpi_gen_break kinds[] = { ACPI_GEN_BREAK_XSDT_CHECKSUM, ACPI_GEN_BREAK_XSDT_BAD_LENGTH };
	const char *logs[] = { "bad checksum", "bad length" };
	for (unsigned k = 0; k < 2; k++) {
		struct acpi_gen_config c;
		cfg_init(&c, 3, kinds[k]);
		assert_int_equal(boot_with(&c, 1), 0);
		assert_false(info.via_xsdt);
		assert_true(info.have_madt);
		assert_int_equal(info.madt.n_enabled, 3);
		expect_log("XSDT");
		expect_log(logs[k]);
		expect_log("falling back to the RSDT");
	}
}

static void test_truncated_madt(void **state)
{
	struct acpi_gen_config c;
	cfg_init(&c, 4, ACPI_GEN_BREAK_MADT_TRUNCATED);
	assert_int_equal(boot_with(&c, 1), 0);
	assert_true(info.have_madt);
	assert_int_equal(info.madt.n_bad_entries, 1);
	expect_log("runs past the table end");
}

static void test_madt_entry_len0(void **state)
{
	struct acpi_gen_config c;
	cfg_init(&c, 4, ACPI_GEN_BREAK_MADT_ENTRY_LEN0);
	assert_int_equal(boot_with(&c, 1), 0);
	assert_true(info.have_madt);
	assert_int_equal(info.madt.n_enabled, 4);   /* entries before it still count */
	assert_int_equal(info.madt.n_bad_entries, 1);
	expect_log("entry length 0");
}

static void test_madt_entry_overrun(void **state)
{
	struct acpi_gen_config c;
	cfg_init(&c, 4, ACPI_GEN_BREAK_MADT_ENTRY_OVERRUN);
	assert_int_equal(boot_with(&c, 1), 0);
	assert_true(info.have_madt);
	assert_int_equal(info.madt.n_bad_entries, 1);
	expect_log("runs past the table end");
}

static void test_duplicate_apic_ids(void **state)
{
	uint32_t ids[8];
	assert_int_equal(acpi_gen_apic_ids(ACPI_GEN_LAYOUT_DUP, 8, ids), 0);
	struct acpi_gen_config c;
	cfg_init(&c, 8, ACPI_GEN_BREAK_NONE);
	c.apic_ids = ids;
	assert_int_equal(boot_with(&c, 1), 0);
	assert_int_equal(info.madt.n_enabled, 7);
	assert_int_equal(info.madt.n_duplicates, 1);
	assert_int_equal(info.madt.cpus[0].acpi_uid, 0);    /* the first one is kept */
	expect_log("duplicate APIC ID 0x0");
}

static void test_xsdt_entries_outside_memory(void **state)
{
	enum acpi_gen_break kinds[] = { ACPI_GEN_BREAK_XSDT_ENTRY_OUTSIDE, ACPI_GEN_BREAK_XSDT_ENTRY_STRADDLE };
	for (unsigned k = 0; k < 2; k++) {
		struct acpi_gen_config c;
		cfg_init(&c, 2, kinds[k]);
		assert_int_equal(boot_with(&c, 1), 0);
		assert_true(info.via_xsdt);
		assert_true(info.have_madt);            /* the good entries still work */
		assert_int_equal(info.madt.n_enabled, 2);
		assert_true(info.nerrors >= 1);
		expect_log("outside memory");
	}
}

static void test_rsdt_only(void **state)
{
	struct acpi_gen_config c;
	cfg_init(&c, 4, ACPI_GEN_BREAK_NONE);
	c.revision = 0;             /* ACPI 1.0 firmware, as SeaBIOS on q35 */
	assert_int_equal(boot_with(&c, 1), 0);
	assert_int_equal(info.revision, 0);
	assert_false(info.via_xsdt);
	assert_int_equal(info.rsdp_source, ACPI_RSDP_TAG14);
	assert_int_equal(info.madt.n_enabled, 4);
	assert_int_equal(info.nerrors, 0);
}

static void test_madt_missing(void **state)
{
	struct acpi_gen_config c;
	cfg_init(&c, 4, ACPI_GEN_BREAK_MADT_MISSING);
	assert_int_equal(boot_with(&c, 1), 0);
	assert_false(info.have_madt);
	expect_log("no usable MADT");
}

static void test_rsdp_found_by_scan(void **state)
{
	struct acpi_gen_config c;
	cfg_init(&c, 2, ACPI_GEN_BREAK_NONE);
	assert_int_equal(boot_with(&c, 0), 0);
	assert_int_equal(info.rsdp_source, ACPI_RSDP_SCAN);
	assert_int_equal(info.madt.n_enabled, 2);
}

static void test_256_cpus_uses_x2apic_entries(void **state)
{
	struct acpi_gen_config c;
	cfg_init(&c, 256, ACPI_GEN_BREAK_NONE);
	assert_int_equal(boot_with(&c, 1), 0);
	assert_int_equal(info.madt.n_enabled, 256);
	unsigned x2 = 0;
	for (unsigned i = 0; i < info.madt.ncpus; i++)
		x2 += info.madt.cpus[i].x2apic_entry;
	assert_int_equal(x2, 1);    /* only APIC ID 255 needs a type-9 entry */
}

static void test_more_cpus_than_supported_are_dropped(void **state)
{
	struct acpi_gen_config c;
	cfg_init(&c, 300, ACPI_GEN_BREAK_NONE);
	assert_int_equal(boot_with(&c, 1), 0);
	assert_int_equal(info.madt.ncpus, ACPI_MAX_CPUS);
	assert_int_equal(info.madt.n_dropped, 300 - ACPI_MAX_CPUS);
	expect_log("more than 256 CPUs");
}

static void test_disabled_and_online_capable(void **state)
{
	uint32_t flags[4] = { ACPI_GEN_CPU_ENABLED, 0, ACPI_GEN_CPU_ONLINE_CAPABLE, ACPI_GEN_CPU_ENABLED };
	struct acpi_gen_config c;
	cfg_init(&c, 4, ACPI_GEN_BREAK_NONE);
	c.cpu_flags = flags;
	assert_int_equal(boot_with(&c, 1), 0);
	assert_int_equal(info.madt.n_enabled, 2);
	assert_int_equal(info.madt.ncpus, 3);
	assert_int_equal(info.madt.n_disabled, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_tables_xsdt),
		cmocka_unit_test(test_bad_madt_checksum),
		cmocka_unit_test(test_bad_rsdp_checksum),
		cmocka_unit_test(test_bad_rsdp_ext_checksum_uses_rsdt),
		cmocka_unit_test(test_bad_xsdt_falls_back_to_rsdt),
		cmocka_unit_test(test_truncated_madt),
		cmocka_unit_test(test_madt_entry_len0),
		cmocka_unit_test(test_madt_entry_overrun),
		cmocka_unit_test(test_duplicate_apic_ids),
		cmocka_unit_test(test_xsdt_entries_outside_memory),
		cmocka_unit_test(test_rsdt_only),
		cmocka_unit_test(test_madt_missing),
		cmocka_unit_test(test_rsdp_found_by_scan),
		cmocka_unit_test(test_256_cpus_uses_x2apic_entries),
		cmocka_unit_test(test_more_cpus_than_supported_are_dropped),
		cmocka_unit_test(test_disabled_and_online_capable),
	};
	return cmocka_run_group_tests_name("acpi", tests, NULL, NULL);
}
