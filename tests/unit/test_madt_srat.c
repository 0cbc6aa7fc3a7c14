/*
 * test_madt_srat.c — CMocka tests of MADT validation (kernel/acpi/madt.c parsing
 * plus kernel/acpi/madt_check.c, seed P16-4: duplicate APIC IDs keep the first,
 * disabled entries skipped, x2APIC entries used, bad overrides and I/O APICs
 * dropped, unknown types logged, the boot CPU's presence) and of the SRAT parser
 * (kernel/acpi/srat.c), over tables built byte by byte here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <hw/acpi/madt.h>
#include <hw/acpi/srat.h>
#include <hw/acpi/tables.h>
#include <kernel/acpi.h>
#include <kernel/errno.h>
#include <kernel/madt_check.h>
#include <kernel/srat.h>
#include "fake_hal.h"

static uint8_t tbl[4096];
static uint32_t tlen;

static void start(const char *sig, uint32_t fixed)
{
	struct acpi_sdt_header h = { .revision = 4 };
	memset(tbl, 0, sizeof tbl);
	memcpy(h.signature, sig, 4);
	memcpy(tbl, &h, sizeof h);
	tlen = fixed;
}

static void put(const void *e, uint32_t n)
{
	memcpy(tbl + tlen, e, n);
	tlen += n;
}

static void finish(void)
{
	memcpy(tbl + offsetof(struct acpi_sdt_header, length), &tlen, 4);
	uint8_t s = 0;
	tbl[offsetof(struct acpi_sdt_header, checksum)] = 0;
	for (uint32_t i = 0; i < tlen; i++)
		s = (uint8_t)(s + tbl[i]);
	tbl[offsetof(struct acpi_sdt_header, checksum)] = (uint8_t)-s;
}

static void madt_start(uint32_t lapic_addr)
{
	start(ACPI_SIG_MADT, sizeof(struct acpi_madt));
	memcpy(tbl + offsetof(struct acpi_madt, lapic_address), &lapic_addr, 4);
	uint32_t flags = ACPI_MADT_PCAT_COMPAT;
	memcpy(tbl + offsetof(struct acpi_madt, flags), &flags, 4);
}

static void lapic(uint8_t uid, uint8_t id, uint32_t flags)
{
	struct acpi_madt_lapic e = { { ACPI_MADT_LAPIC, 8 }, uid, id, flags };
	put(&e, sizeof e);
}

static void x2apic(uint32_t uid, uint32_t id, uint32_t flags)
{
	struct acpi_madt_x2apic e = { { ACPI_MADT_X2APIC, 16 }, 0, id, flags, uid };
	put(&e, sizeof e);
}

static void ioapic(uint8_t id, uint32_t addr, uint32_t gsi_base)
{
	struct acpi_madt_ioapic e = { { ACPI_MADT_IOAPIC, 12 }, id, 0, addr, gsi_base };
	put(&e, sizeof e);
}

static void iso(uint8_t bus, uint8_t src, uint32_t gsi, uint16_t flags)
{
	struct acpi_madt_iso e = { { ACPI_MADT_ISO, 10 }, bus, src, gsi, flags };
	put(&e, sizeof e);
}

static struct acpi_madt_info info;
static struct madt_check chk;

static unsigned check(uint32_t bsp)
{
	finish();
	fake_hal_console_reset();
	assert_int_equal(acpi_madt_parse((const struct acpi_madt *)tbl, tlen, &info), 0);
	return acpi_madt_check((const struct acpi_madt *)tbl, tlen, &info, bsp, &chk);
}

static void expect_log(const char *needle)
{
	if (!strstr(fake_hal_console(), needle))
		fail_msg("log has no '%s'; console was:\n%s", needle, fake_hal_console());
}

/* A MADT as QEMU q35 makes it: clean. */
static void test_madt_q35_clean(void **state)
{
	madt_start(0xFEE00000);
	for (uint8_t i = 0; i < 4; i++)
		lapic(i, i, ACPI_LAPIC_ENABLED);
	ioapic(0, 0xFEC00000, 0);
	iso(0, 0, 2, 0);
	iso(0, 5, 5, 0xD);
	iso(0, 9, 9, 0xD);
	iso(0, 10, 10, 0xD);
	iso(0, 11, 11, 0xD);
	assert_int_equal(check(0), 0);
	assert_int_equal(info.ncpus, 4);
	assert_int_equal(chk.nioapics, 1);
	assert_int_equal(chk.nisos, 5);
	assert_int_equal(chk.isos[0].gsi, 2);
	assert_false(chk.bsp_missing);
	assert_false(chk.lapic_addr_bad);
}

static void test_madt_duplicates_disabled_x2apic(void **state)
{
	madt_start(0xFEE00000);
	lapic(0, 0, ACPI_LAPIC_ENABLED);
	lapic(1, 1, ACPI_LAPIC_ENABLED);
	lapic(2, 1, ACPI_LAPIC_ENABLED);           /* duplicate ID: first (UID 1) kept */
	lapic(3, 3, 0);                             /* disabled: skipped */
	lapic(4, 4, ACPI_LAPIC_ONLINE_CAPABLE);     /* hot-plug slot: listed, not enabled */
	x2apic(300, 300, ACPI_LAPIC_ENABLED);       /* above 255: x2APIC entry used */
	x2apic(301, 1, ACPI_LAPIC_ENABLED);         /* same CPU again through type 9 */
	ioapic(0, 0xFEC00000, 0);
	check(0);
	assert_int_equal(info.ncpus, 4);
	assert_int_equal(info.n_enabled, 3);
	assert_int_equal(info.n_duplicates, 2);
	assert_int_equal(info.n_disabled, 1);
	assert_int_equal(info.cpus[1].acpi_uid, 1);
	assert_int_equal(info.cpus[3].apic_id, 300);
	assert_true(info.cpus[3].x2apic_entry);
	assert_int_equal(chk.n_x2apic_entries, 2);
	expect_log("duplicate APIC ID 0x1");
}

static void test_madt_bad_overrides(void **state)
{
	madt_start(0xFEE00000);
	lapic(0, 0, ACPI_LAPIC_ENABLED);
	ioapic(0, 0xFEC00000, 0);
	iso(0, 0, 2, 0);
	iso(1, 4, 4, 0);            /* not the ISA bus */
	iso(0, 16, 16, 0);          /* not an ISA IRQ */
	iso(0, 0, 7, 0);            /* second override for IRQ 0 */
	iso(0, 9, 9, 0x2);          /* reserved polarity encoding: repaired */
	unsigned n = check(0);
	assert_int_equal(n, 4);
	assert_int_equal(chk.nisos, 2);
	assert_int_equal(chk.isos[0].gsi, 2);          /* the first IRQ 0 override wins */
	assert_int_equal(chk.isos[1].source, 9);
	assert_int_equal(chk.isos[1].flags, 0);
	expect_log("bus is not ISA");
	expect_log("not an ISA IRQ");
	expect_log("second override");
	expect_log("reserved polarity");
}

static void test_madt_bad_ioapics(void **state)
{
	madt_start(0xFEE00000);
	lapic(0, 0, ACPI_LAPIC_ENABLED);
	ioapic(0, 0xFEC00000, 0);
	ioapic(1, 0, 24);           /* no address */
	ioapic(2, 0xFEC01000, 0);   /* same GSI base as the first */
	ioapic(3, 0xFEC00000, 48);  /* same registers as the first */
	ioapic(0, 0xFEC02000, 72);  /* id repeats: kept, logged */
	unsigned n = check(0);
	assert_int_equal(chk.nioapics, 2);
	assert_int_equal(chk.n_bad_ioapics, 3);
	assert_int_equal(n, 4);
	expect_log("share id 0");
}

static void test_madt_unknown_types_bsp_and_lapic_address(void **state)
{
	madt_start(0xFEE00800);     /* not page aligned */
	lapic(0, 1, ACPI_LAPIC_ENABLED);
	uint8_t reserved[6] = { 0x30, 6 }, oem[4] = { 0x80, 4 };
	put(reserved, sizeof reserved);
	put(oem, sizeof oem);
	unsigned n = check(0);      /* the boot CPU is APIC ID 0: not listed */
	assert_true(chk.bsp_missing);
	assert_true(chk.lapic_addr_bad);
	assert_int_equal(chk.n_unknown_types, 2);
	assert_int_equal(n, 4);
	expect_log("reserved");
	expect_log("OEM-specific");
	expect_log("boot CPU (APIC ID 0x0) is not listed");
	/* unknown boot CPU: no claim about it */
	assert_int_equal(acpi_madt_check(NULL, 0, &info, MADT_BSP_UNKNOWN, &chk), 1);
}

/* ---- SRAT ---- */

static void srat_start(void)
{
	start(ACPI_SIG_SRAT, sizeof(struct acpi_srat));
	tbl[36] = 1;
}

static void srat_lapic(uint8_t id, uint32_t dom, uint32_t flags)
{
	struct acpi_srat_lapic e = { ACPI_SRAT_LAPIC, 16, (uint8_t)dom, id, flags, 0,
				     { (uint8_t)(dom >> 8), (uint8_t)(dom >> 16), (uint8_t)(dom >> 24) }, 0 };
	put(&e, sizeof e);
}

static void srat_x2apic(uint32_t id, uint32_t dom, uint32_t flags)
{
	struct acpi_srat_x2apic e = { ACPI_SRAT_X2APIC, 24, 0, dom, id, flags, 0, 0 };
	put(&e, sizeof e);
}

static void srat_mem(uint32_t dom, uint64_t base, uint64_t len, uint32_t flags)
{
	struct acpi_srat_memory e = { ACPI_SRAT_MEMORY, 40, dom, 0, base, len, 0, flags, 0 };
	put(&e, sizeof e);
}

static struct srat_info si;

static void test_srat_two_nodes(void **state)
{
	srat_start();
	srat_lapic(0, 7, ACPI_SRAT_ENABLED);
	srat_lapic(1, 7, ACPI_SRAT_ENABLED);
	srat_lapic(2, 0x10203, ACPI_SRAT_ENABLED);     /* a domain above 255 */
	srat_x2apic(300, 0x10203, ACPI_SRAT_ENABLED);
	srat_mem(7, 0, 0x80000000ull, ACPI_SRAT_ENABLED);
	srat_mem(0x10203, 0x100000000ull, 0x80000000ull, ACPI_SRAT_ENABLED);
	finish();
	assert_int_equal(srat_parse((const struct acpi_srat *)tbl, tlen, &si), 0);
	assert_int_equal(si.nnodes, 2);
	assert_int_equal(si.node_domain[0], 7);
	assert_int_equal(si.node_domain[1], 0x10203);
	assert_int_equal(srat_node_of_apic(&si, 0), 0);
	assert_int_equal(srat_node_of_apic(&si, 2), 1);
	assert_int_equal(srat_node_of_apic(&si, 300), 1);
	assert_int_equal(srat_node_of_apic(&si, 5), SRAT_NODE_NONE);
	assert_int_equal(si.nmem, 2);
	assert_int_equal(si.mem[1].node, 1);
	assert_int_equal(si.n_bad, 0);
}

static void test_srat_bad_entries(void **state)
{
	srat_start();
	srat_lapic(0, 0, ACPI_SRAT_ENABLED);
	srat_lapic(0, 1, ACPI_SRAT_ENABLED);            /* same CPU, other domain: first kept */
	srat_lapic(1, 1, 0);                            /* disabled */
	srat_mem(0, 0, 0x1000000, ACPI_SRAT_ENABLED);
	srat_mem(1, 0x800000, 0x1000000, ACPI_SRAT_ENABLED);   /* overlaps */
	srat_mem(1, ~0ull - 0xFFF, 0x2000, ACPI_SRAT_ENABLED); /* wraps */
	uint8_t shortx2[8] = { ACPI_SRAT_X2APIC, 8 };          /* shorter than 24 */
	put(shortx2, sizeof shortx2);
	uint8_t zero[2] = { ACPI_SRAT_LAPIC, 0 };              /* length 0 ends the walk */
	put(zero, sizeof zero);
	srat_lapic(9, 9, ACPI_SRAT_ENABLED);                   /* never reached */
	finish();
	fake_hal_console_reset();
	assert_int_equal(srat_parse((const struct acpi_srat *)tbl, tlen, &si), 0);
	assert_int_equal(si.ncpus, 1);
	assert_int_equal(srat_node_of_apic(&si, 0), 0);
	assert_int_equal(srat_node_of_apic(&si, 9), SRAT_NODE_NONE);
	assert_int_equal(si.n_disabled, 1);
	assert_int_equal(si.nmem, 1);
	assert_int_equal(si.n_bad, 5);
	expect_log("keeping the first");
	expect_log("overlaps");
	expect_log("wraps");
	expect_log("shorter than 24");
	expect_log("too small");
	/* too short for the fixed part */
	assert_int_equal(srat_parse((const struct acpi_srat *)tbl, 47, &si), -EINVAL);
	assert_int_equal(si.ncpus, 0);
}

int main(void)
{
	fake_hal_mem_reset(1 << 20);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_madt_q35_clean),
		cmocka_unit_test(test_madt_duplicates_disabled_x2apic),
		cmocka_unit_test(test_madt_bad_overrides),
		cmocka_unit_test(test_madt_bad_ioapics),
		cmocka_unit_test(test_madt_unknown_types_bsp_and_lapic_address),
		cmocka_unit_test(test_srat_two_nodes),
		cmocka_unit_test(test_srat_bad_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
