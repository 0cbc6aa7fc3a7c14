/* srat.h — System Resource Affinity Table (ACPI 6.5 §5.2.16): which proximity
 * domain (NUMA node) each CPU and memory range belongs to. Bad input is logged
 * and skipped, never fatal. Domains are renumbered densely as nodes 0..n-1. */
#ifndef KERNEL_SRAT_H
#define KERNEL_SRAT_H
#include <stdbool.h>
#include <stdint.h>
#include <kernel/acpi_tables.h>

struct acpi_srat {
	struct acpi_sdt_header hdr;
	uint32_t table_revision;    /* reserved, 1 */
	uint64_t rsvd0;
	/* affinity structures follow */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_srat) == 48, "ACPI 6.5 §5.2.16: SRAT fixed part is 48 bytes");

enum acpi_srat_type {
	ACPI_SRAT_LAPIC = 0,        /* §5.2.16.1 processor local APIC/SAPIC affinity */
	ACPI_SRAT_MEMORY = 1,       /* §5.2.16.2 memory affinity */
	ACPI_SRAT_X2APIC = 2,       /* §5.2.16.3 processor local x2APIC affinity */
};

#define ACPI_SRAT_ENABLED (1u << 0)
#define ACPI_SRAT_MEM_HOTPLUG (1u << 1)
#define ACPI_SRAT_MEM_NONVOLATILE (1u << 2)

struct acpi_srat_lapic {
	uint8_t type, length;       /* 0, 16 */
	uint8_t domain_lo;          /* proximity domain bits 7:0 */
	uint8_t apic_id;
	uint32_t flags;
	uint8_t sapic_eid;
	uint8_t domain_hi[3];       /* proximity domain bits 31:8 */
	uint32_t clock_domain;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_srat_lapic) == 16, "ACPI 6.5 §5.2.16.1");

struct acpi_srat_memory {
	uint8_t type, length;       /* 1, 40 */
	uint32_t domain;
	uint16_t rsvd0;
	uint64_t base;
	uint64_t len;
	uint32_t rsvd1;
	uint32_t flags;
	uint64_t rsvd2;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_srat_memory) == 40, "ACPI 6.5 §5.2.16.2");

struct acpi_srat_x2apic {
	uint8_t type, length;       /* 2, 24 */
	uint16_t rsvd0;
	uint32_t domain;
	uint32_t x2apic_id;
	uint32_t flags;
	uint32_t clock_domain;
	uint32_t rsvd1;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_srat_x2apic) == 24, "ACPI 6.5 §5.2.16.3");

#define SRAT_MAX_CPUS 256
#define SRAT_MAX_MEM 64
#define SRAT_MAX_NODES 64

struct srat_info {
	unsigned nnodes;            /* distinct proximity domains seen */
	uint32_t node_domain[SRAT_MAX_NODES];   /* node -> proximity domain */
	unsigned ncpus;
	struct { uint32_t apic_id; uint32_t node; } cpus[SRAT_MAX_CPUS];
	unsigned nmem;
	struct { uint64_t base, len; uint32_t node; uint32_t flags; } mem[SRAT_MAX_MEM];
	unsigned n_bad;             /* malformed or conflicting entries (logged) */
	unsigned n_disabled;
};

/* Parse a SRAT of len bytes (checksum already checked by acpi_init). 0, or -EINVAL
 * when even the fixed part is unusable (info then empty). */
int srat_parse(const struct acpi_srat *t, uint32_t len, struct srat_info *info);
#define SRAT_NODE_NONE 0xFFFFFFFFu
/* NUMA node of an APIC ID, or SRAT_NODE_NONE when the SRAT does not list it. */
uint32_t srat_node_of_apic(const struct srat_info *info, uint32_t apic_id);
/* Boot: parse the SRAT found by ACPI (if any), print numa.nodes. */
void srat_boot_init(void);
const struct srat_info *srat_boot_info(void);
/* Node of an APIC ID for bring-up: the SRAT's, or 0 without a SRAT entry. */
uint32_t numa_node_of_apic(uint32_t apic_id);
#endif
