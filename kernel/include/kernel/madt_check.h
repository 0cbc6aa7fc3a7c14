/* madt_check.h — semantic checks of a parsed MADT beyond what the parser drops
 * (kernel/acpi/madt.c): LAPIC address, I/O APIC entries, interrupt source
 * overrides, unknown entry types, the boot CPU's presence (seed P16-4). Produces
 * the cleaned I/O APIC and override lists the I/O APIC driver uses. */
#ifndef KERNEL_MADT_CHECK_H
#define KERNEL_MADT_CHECK_H
#include <stdbool.h>
#include <stdint.h>
#include <kernel/acpi.h>

#define MADT_BSP_UNKNOWN 0xFFFFFFFFu

struct madt_check {
	uint8_t revision;
	bool lapic_addr_bad;        /* zero or not 4 KiB aligned */
	bool bsp_missing;           /* boot CPU's APIC ID not among the CPUs */
	unsigned n_unknown_types;   /* reserved / OEM entry types (logged, skipped) */
	unsigned n_x2apic_entries;
	unsigned n_bad_isos;        /* dropped or repaired overrides */
	unsigned n_bad_ioapics;     /* dropped I/O APIC entries */
	unsigned nioapics;
	struct acpi_ioapic ioapics[ACPI_MAX_IOAPICS];
	unsigned nisos;
	struct acpi_iso isos[ACPI_MAX_ISOS];
};

/* Check m (parsed from raw, len bytes; raw may be NULL to skip the entry-type walk)
 * against the boot CPU's APIC ID (MADT_BSP_UNKNOWN to skip). Logs every problem.
 * Returns the number of problems found (0 = clean). Never fails. */
unsigned acpi_madt_check(const struct acpi_madt *raw, uint32_t len, const struct acpi_madt_info *m,
			 uint32_t bsp_apic_id, struct madt_check *out);
/* The boot-time result (kmain runs the check after apic init). */
void madt_check_boot(uint32_t bsp_apic_id);
const struct madt_check *madt_check_boot_info(void);
#endif
