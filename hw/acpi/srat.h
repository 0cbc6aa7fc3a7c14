/* hw/acpi/srat.h — the System Resource Affinity Table (signature "SRAT"): which
 * proximity domain each processor and memory range belongs to. ACPI 6.5 §5.2.16
 * (processor local APIC affinity §5.2.16.1, memory §5.2.16.2, x2APIC §5.2.16.3). */
#ifndef DOPPEL_HW_ACPI_SRAT_H
#define DOPPEL_HW_ACPI_SRAT_H
#include <stdint.h>
#include <hw/acpi/tables.h>

struct acpi_srat {
	struct acpi_sdt_header hdr; /* ACPI_SIG_SRAT */
	uint32_t table_revision;    /* reserved, 1 for backward compatibility */
	uint64_t rsvd0;
	/* affinity structures follow, each opening with type and length bytes */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_srat) == 48, "ACPI 6.5 §5.2.16: SRAT fixed part is 48 bytes");

enum acpi_srat_type {          /* ACPI 6.5 §5.2.16, Table 5.65 */
	ACPI_SRAT_LAPIC = 0,        /* §5.2.16.1 processor local APIC/SAPIC affinity */
	ACPI_SRAT_MEMORY = 1,       /* §5.2.16.2 memory affinity */
	ACPI_SRAT_X2APIC = 2,       /* §5.2.16.3 processor local x2APIC affinity */
};

/* Flags of the affinity structures, §5.2.16.1 Table 5.67 and §5.2.16.2 Table 5.69 */
#define ACPI_SRAT_ENABLED (1u << 0)         /* all three types */
#define ACPI_SRAT_MEM_HOTPLUG (1u << 1)     /* memory: hot-pluggable */
#define ACPI_SRAT_MEM_NONVOLATILE (1u << 2) /* memory: non-volatile */

struct acpi_srat_lapic {
	uint8_t type, length;       /* 0, 16 */
	uint8_t domain_lo;          /* proximity domain bits 7:0 */
	uint8_t apic_id;
	uint32_t flags;             /* ACPI_SRAT_ENABLED */
	uint8_t sapic_eid;
	uint8_t domain_hi[3];       /* proximity domain bits 31:8 */
	uint32_t clock_domain;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_srat_lapic) == 16, "ACPI 6.5 §5.2.16.1: Processor Local APIC Affinity is 16 bytes");

struct acpi_srat_memory {
	uint8_t type, length;       /* 1, 40 */
	uint32_t domain;
	uint16_t rsvd0;
	uint64_t base;              /* two 32-bit halves in the spec; 4-byte aligned only */
	uint64_t len;
	uint32_t rsvd1;
	uint32_t flags;             /* ACPI_SRAT_ENABLED, _MEM_HOTPLUG, _MEM_NONVOLATILE */
	uint64_t rsvd2;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_srat_memory) == 40, "ACPI 6.5 §5.2.16.2: Memory Affinity is 40 bytes");

struct acpi_srat_x2apic {
	uint8_t type, length;       /* 2, 24 */
	uint16_t rsvd0;
	uint32_t domain;
	uint32_t x2apic_id;
	uint32_t flags;             /* ACPI_SRAT_ENABLED */
	uint32_t clock_domain;
	uint32_t rsvd1;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_srat_x2apic) == 24, "ACPI 6.5 §5.2.16.3: Processor Local x2APIC Affinity is 24 bytes");
#endif
