/* hw/acpi/mcfg.h — the MCFG table: where each PCI segment group's memory-mapped
 * configuration space (ECAM) lives. PCI Firmware Specification 3.2 §4.1.2; the
 * ECAM layout itself (1 MiB per bus) is PCIe Base 4.0 §7.2.2. */
#ifndef DOPPEL_HW_ACPI_MCFG_H
#define DOPPEL_HW_ACPI_MCFG_H
#include <stdint.h>
#include <hw/acpi/tables.h>

struct acpi_mcfg {
	struct acpi_sdt_header hdr; /* ACPI_SIG_MCFG, revision 1 */
	uint8_t rsvd0[8];
	/* struct acpi_mcfg_alloc entries follow */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_mcfg) == 44, "PCI Firmware 3.2 §4.1.2 Table 4-2: MCFG header is 44 bytes");

/* One allocation: a segment group's ECAM for buses start_bus..end_bus. */
struct acpi_mcfg_alloc {
	uint64_t base;              /* ECAM base address (that of bus 0 of the segment) */
	uint16_t segment;           /* PCI segment group */
	uint8_t start_bus, end_bus; /* decoded bus numbers, inclusive */
	uint32_t rsvd0;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_mcfg_alloc) == 16, "PCI Firmware 3.2 §4.1.2 Table 4-3: allocation is 16 bytes");
#endif
