/* srat.h — the kernel's reading of the System Resource Affinity Table (layouts in
 * hw/acpi/srat.h, ACPI 6.5 §5.2.16): which proximity domain (NUMA node) each CPU
 * and memory range belongs to. Bad input is logged and skipped, never fatal.
 * Domains are renumbered densely as nodes 0..n-1. */
#ifndef KERNEL_SRAT_H
#define KERNEL_SRAT_H
#include <stdbool.h>
#include <stdint.h>
#include <hw/acpi/srat.h>

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
