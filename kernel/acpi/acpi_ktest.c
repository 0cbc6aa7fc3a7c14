/*
 * acpi_ktest.c — the `acpi` ktest suite: what the firmware (or the simulator's
 * generator) handed us, checked against the machine we were told we run on, plus
 * the MADT parser fed crafted bad tables from inside the kernel.
 */
#include <hal/hal.h>
#include <kernel/acpi.h>
#include <kernel/cmdline.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/ktest.h>
#include <kernel/log.h>
#include <kernel/string.h>

static void rsdp_found(struct ktest *t)
{
	const struct acpi_info *a = acpi_boot_info();
	KTEST_ASSERT(t, a->rsdp_phys != 0);
	KTEST_EXPECT(t, a->ntables > 0);
	ktest_log(t, "RSDP at 0x%llx via %s, revision %u, %s, %u tables",
		  (unsigned long long)a->rsdp_phys, acpi_rsdp_source_name(a->rsdp_source), a->revision,
		  a->via_xsdt ? "XSDT" : "RSDT", a->ntables);
}

static void table_checksums(struct ktest *t)
{
	const struct acpi_info *a = acpi_boot_info();
	for (unsigned i = 0; i < a->ntables; i++) {
		const uint8_t *b = hal_phys_to_virt(a->tables[i].phys);
		uint8_t s = 0;
		for (uint32_t k = 0; k < a->tables[i].length; k++)
			s = (uint8_t)(s + b[k]);
		if (s != 0)
			ktest_fail_at(t, __FILE__, __LINE__, "%s sums to 0x%02x", a->tables[i].signature, s);
	}
}

static void madt_cpu_count_matches(struct ktest *t)
{
	uint64_t want;
	int rc = cmdline_get_u64("expect.cpus", &want);
	if (rc == -ENOENT) {
		ktest_skip(t, "no expect.cpus= on the command line");
		return;
	}
	KTEST_ASSERT(t, rc == 0);
	const struct acpi_info *a = acpi_boot_info();
	KTEST_ASSERT(t, a->have_madt);
	ktest_log(t, "MADT: %u enabled CPUs, %u possible, %u disabled slots, %u duplicates",
		  a->madt.n_enabled, a->madt.ncpus, a->madt.n_disabled, a->madt.n_duplicates);
	KTEST_EXPECT_EQ(t, a->madt.n_enabled, want);
}

static void madt_apic_ids_unique(struct ktest *t)
{
	const struct acpi_info *a = acpi_boot_info();
	KTEST_ASSERT(t, a->have_madt);
	for (unsigned i = 0; i < a->madt.ncpus; i++)
		for (unsigned j = i + 1; j < a->madt.ncpus; j++)
			KTEST_EXPECT(t, a->madt.cpus[i].apic_id != a->madt.cpus[j].apic_id);
}

/* The CPU we run on must be one the MADT lists (CPUID.1:EBX[31:24], or 0xB:EDX). */
static void boot_cpu_in_madt(struct ktest *t)
{
	const struct acpi_info *a = acpi_boot_info();
	KTEST_ASSERT(t, a->have_madt);
	uint32_t r[4];
	hal_cpuid(0, 0, r);
	uint32_t maxleaf = r[0];
	hal_cpuid(1, 0, r);
	uint32_t id = r[1] >> 24;
	if (maxleaf >= 0xB) {
		uint32_t x[4];
		hal_cpuid(0xB, 0, x);
		if (x[1] != 0)          /* EBX = 0: leaf 0xB not implemented */
			id = x[3];
	}
	bool found = false;
	for (unsigned i = 0; i < a->madt.ncpus; i++)
		found |= a->madt.cpus[i].apic_id == id;
	if (!found)
		ktest_fail_at(t, __FILE__, __LINE__, "boot CPU APIC ID 0x%x not in the MADT", id);
}

static void madt_ioapic_present(struct ktest *t)
{
	const struct acpi_info *a = acpi_boot_info();
	KTEST_ASSERT(t, a->have_madt);
	KTEST_ASSERT(t, a->madt.nioapics >= 1);
	for (unsigned i = 0; i < a->madt.nioapics; i++)
		KTEST_EXPECT(t, a->madt.ioapics[i].address != 0 && (a->madt.ioapics[i].address & 0xfff) == 0);
}

/* Build a MADT in the heap: two CPUs sharing APIC ID 3, an I/O APIC, then a bad entry. */
static void madt_parser_rejects_bad_entries(struct ktest *t)
{
	uint8_t *buf = kzalloc(128);
	KTEST_ASSERT(t, buf != 0);
	struct acpi_madt *m = (struct acpi_madt *)buf;
	uint32_t off = sizeof *m;
	const struct acpi_madt_lapic lapics[3] = {
		{ { ACPI_MADT_LAPIC, 8 }, 0, 3, ACPI_LAPIC_ENABLED },  /* UID 0, APIC 3, enabled */
		{ { ACPI_MADT_LAPIC, 8 }, 1, 3, ACPI_LAPIC_ENABLED },  /* UID 1, APIC 3 again: duplicate */
		{ { ACPI_MADT_LAPIC, 8 }, 2, 5, 0 },                   /* UID 2, APIC 5, disabled slot */
	};
	for (int i = 0; i < 3; i++, off += sizeof lapics[0])
		memcpy(buf + off, &lapics[i], sizeof lapics[0]);
	const struct acpi_madt_ioapic ioapic = { { ACPI_MADT_IOAPIC, 12 }, 7, 0, 0xfec00000u, 0 };
	memcpy(buf + off, &ioapic, sizeof ioapic);
	off += sizeof ioapic;
	buf[off] = 0;           /* type 0 with length 0: must stop the walk, not loop */
	buf[off + 1] = 0;
	off += 8;
	struct acpi_madt_info *info = kzalloc(sizeof *info);
	KTEST_ASSERT(t, info != 0);
	uint64_t before = klog_count();
	KTEST_EXPECT_EQ(t, acpi_madt_parse(m, off, info), 0);
	KTEST_EXPECT_EQ(t, info->ncpus, 1);
	KTEST_EXPECT_EQ(t, info->n_enabled, 1);
	KTEST_EXPECT_EQ(t, info->n_duplicates, 1);
	KTEST_EXPECT_EQ(t, info->n_disabled, 1);
	KTEST_EXPECT_EQ(t, info->nioapics, 1);
	KTEST_EXPECT_EQ(t, info->ioapics[0].address, 0xfec00000u);
	KTEST_EXPECT_EQ(t, info->n_bad_entries, 1);
	KTEST_EXPECT(t, klog_count() > before);
	KTEST_EXPECT(t, klog_contains("duplicate APIC ID 0x3"));
	KTEST_EXPECT(t, klog_contains("entry length 0"));
	/* A length shorter than the fixed part is refused outright. */
	KTEST_EXPECT(t, acpi_madt_parse(m, 40, info) != 0);
	kfree(info);
	kfree(buf);
}

static const struct ktest_case acpi_cases[] = {
	KTEST_CASE(rsdp_found),
	KTEST_CASE(table_checksums),
	KTEST_CASE(madt_cpu_count_matches),
	KTEST_CASE(madt_apic_ids_unique),
	KTEST_CASE(boot_cpu_in_madt),
	KTEST_CASE(madt_ioapic_present),
	KTEST_CASE(madt_parser_rejects_bad_entries),
};
KTEST_SUITE(acpi_suite, "acpi", acpi_cases);
