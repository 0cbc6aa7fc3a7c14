/*
 * acpi_gen.h — generator of real ACPI tables (RSDP, RSDT, XSDT, FADT, FACS, DSDT,
 * MADT, SRAT) into a buffer that stands for a window of guest physical memory, with
 * optional faults injected on purpose. Implements the layouts of ACPI 6.5 §5.2.
 * Pure host code: no globals, no I/O, no allocation. Used by doppel-sim, by the
 * unit tests (good and broken tables) and by fuzz seed generation.
 */
#ifndef DOPPEL_MODELS_ACPI_GEN_H
#define DOPPEL_MODELS_ACPI_GEN_H

#include <stddef.h>
#include <stdint.h>

#include <hw/acpi/madt.h>

/* Largest CPU count the generator accepts (the sim itself stops at 256). */
#define ACPI_GEN_MAX_CPUS 4096

/* Defaults that a zero field in struct acpi_gen_config stands for. */
#define ACPI_GEN_LAPIC_ADDR 0xFEE00000u   /* MADT Local Interrupt Controller Address */
#define ACPI_GEN_IOAPIC_ADDR 0xFEC00000u  /* q35's one I/O APIC */

/* MADT Processor Local APIC / x2APIC flags (hw/acpi/madt.h), for cpu_flags. */
#define ACPI_GEN_CPU_ENABLED ACPI_LAPIC_ENABLED
#define ACPI_GEN_CPU_ONLINE_CAPABLE ACPI_LAPIC_ONLINE_CAPABLE

/* The one fault (or layout) a build injects. Each kind changes exactly one thing;
 * every other byte stays valid (checksums of untouched tables included). */
enum acpi_gen_break {
	ACPI_GEN_BREAK_NONE = 0,
	ACPI_GEN_BREAK_RSDP_CHECKSUM,      /* RSDP checksum over bytes 0..19 wrong (ext. one still right) */
	ACPI_GEN_BREAK_RSDP_EXT_CHECKSUM,  /* RSDP extended checksum wrong (revision 2 only) */
	ACPI_GEN_BREAK_XSDT_CHECKSUM,      /* XSDT checksum wrong (revision 2 only) */
	ACPI_GEN_BREAK_MADT_CHECKSUM,      /* MADT checksum wrong */
	ACPI_GEN_BREAK_MADT_TRUNCATED,     /* MADT header length ends in the middle of its last entry */
	ACPI_GEN_BREAK_MADT_ENTRY_LEN0,    /* an extra MADT entry {type 0, length 0} after the valid ones */
	ACPI_GEN_BREAK_MADT_ENTRY_OVERRUN, /* the last MADT entry's length runs 8 bytes past the table end */
	ACPI_GEN_BREAK_XSDT_ENTRY_OUTSIDE, /* an extra XSDT entry at mem_size: wholly outside RAM */
	ACPI_GEN_BREAK_XSDT_ENTRY_STRADDLE,/* an extra XSDT entry at mem_size - 8: its header crosses the end of RAM */
	ACPI_GEN_BREAK_XSDT_BAD_LENGTH,    /* XSDT length is 36 + 8n + 4 (not a whole entry), checksum valid */
	ACPI_GEN_BREAK_RSDT_ONLY,          /* not a fault: revision-0 RSDP and an RSDT, no XSDT */
	ACPI_GEN_BREAK_MADT_MISSING,       /* no MADT at all (neither XSDT nor RSDT lists one) */
	ACPI_GEN_BREAK_COUNT
};

/* APIC ID layouts for acpi_gen_apic_ids. */
enum acpi_gen_layout {
	ACPI_GEN_LAYOUT_DENSE = 0,  /* CPU i has APIC ID i */
	ACPI_GEN_LAYOUT_SPARSE,     /* (i/2)*4 + i%2: 2 threads per core, holes; crosses 255 at 128 CPUs */
	ACPI_GEN_LAYOUT_DUP,        /* dense, but the last CPU repeats CPU 0's ID (needs >= 2 CPUs) */
	ACPI_GEN_LAYOUT_COUNT
};

struct acpi_gen_config {
	unsigned ncpus;             /* 1..ACPI_GEN_MAX_CPUS */
	const uint32_t *apic_ids;   /* ncpus entries; NULL = dense (CPU i has ID i) */
	const uint32_t *cpu_flags;  /* ncpus entries of ACPI_GEN_CPU_*; NULL = all enabled */
	unsigned revision;          /* 0: RSDP v1 + RSDT only; 2: RSDP v2 + XSDT and an RSDT */
	uint32_t ioapic_id;         /* I/O APIC id (q35: 0) */
	uint32_t ioapic_addr;       /* 0 = ACPI_GEN_IOAPIC_ADDR */
	uint32_t ioapic_gsi_base;   /* first GSI of the I/O APIC (q35: 0) */
	uint64_t mem_size;          /* guest RAM size (xsdt-entry-* faults, SRAT); 0 = 4 GiB */
	unsigned numa_nodes;        /* 0: no SRAT; else SRAT with that many proximity domains
	                               (CPU i in domain i*N/ncpus, RAM split evenly) */
	enum acpi_gen_break brk;    /* fault to inject, ACPI_GEN_BREAK_NONE for good tables */
	/* MCFG (PCI Firmware 3.2 §4.1.2): one allocation for segment 0, ECAM at
	 * mcfg_base covering buses mcfg_bus_start..mcfg_bus_end; mcfg_base 0 = no MCFG. */
	uint64_t mcfg_base;
	uint8_t mcfg_bus_start, mcfg_bus_end;
	/* DMAR (VT-d §8): one DRHD with INCLUDE_PCI_ALL for segment 0
	 * at dmar_base and an I/O APIC device scope (ioapic_id, path 00:1f.0); dmar_haw
	 * is the host address width - 1 (0 = 47). dmar_base 0 = no DMAR. */
	uint64_t dmar_base;
	uint8_t dmar_haw;
	/* RMRRs (§8.4) after the DRHD, each with one endpoint device scope: start bus
	 * `bus`, path (dev, fn). base and limit + 1 4 KiB aligned, base <= limit. */
	const struct acpi_gen_rmrr {
		uint64_t base, limit;       /* inclusive */
		uint8_t bus, dev, fn;
	} *dmar_rmrr;
	unsigned dmar_nrmrr;            /* at most ACPI_GEN_MAX_RMRR */
};
#define ACPI_GEN_MAX_RMRR 4

/* Where each table landed, for dumps and for tests that want to poke at bytes. */
#define ACPI_GEN_MAX_TABLES 12
struct acpi_gen_table {
	char sig[5];                /* "RSDP" for the RSDP, else the 4-byte signature */
	uint64_t phys;
	uint32_t len;               /* bytes as presented: the header's length field,
	                               20 or 36 for the RSDP */
};
struct acpi_gen_info {
	uint64_t rsdp_phys;
	unsigned ntables;
	struct acpi_gen_table tables[ACPI_GEN_MAX_TABLES];
};

/*
 * Build the tables into [phys_base, phys_base + len). mem is the host pointer to
 * those len bytes (guest address phys_base); the whole window is zeroed first.
 * Tables come first, 64-byte aligned (the FACS needs it); the RSDP is last,
 * 16-byte aligned, so a BIOS-area scan has to walk past the tables to find it.
 * Returns 0 and *rsdp_phys, -EINVAL for a bad config (acpi_gen_config_error tells
 * why), -ENOSPC when the tables do not fit. Deterministic: same config, same bytes.
 */
int acpi_gen_build(void *mem, uint64_t phys_base, size_t len,
                   const struct acpi_gen_config *cfg, uint64_t *rsdp_phys);
/* Same, and also reports every table's location into *info (may be NULL). */
int acpi_gen_build_info(void *mem, uint64_t phys_base, size_t len,
                        const struct acpi_gen_config *cfg, struct acpi_gen_info *info);

/* NULL if cfg is buildable, else a static sentence saying what is wrong with it. */
const char *acpi_gen_config_error(const struct acpi_gen_config *cfg);
/* Bytes acpi_gen_build needs for cfg (an upper bound, alignment included). */
size_t acpi_gen_size(const struct acpi_gen_config *cfg);

/* The proximity domain the SRAT gives CPU index i (0 without NUMA). */
unsigned acpi_gen_cpu_node(const struct acpi_gen_config *cfg, unsigned i);

/* Fill out[0..ncpus) with a layout's APIC IDs. 0, or -EINVAL (ncpus out of range,
 * unknown layout, DUP with fewer than two CPUs). */
int acpi_gen_apic_ids(enum acpi_gen_layout layout, unsigned ncpus, uint32_t *out);

/* Set the checksum byte (offset 9) of a table with a standard 36-byte header so
 * that its `length` bytes sum to zero. */
void acpi_gen_checksum_fix(void *table);
/* Set both RSDP checksums (bytes 0..19; all 36 bytes for revision >= 2). */
void acpi_gen_rsdp_checksum_fix(void *rsdp);
/* Byte sum of len bytes (a valid table sums to 0). */
uint8_t acpi_gen_sum(const void *p, size_t len);

/* Names as used on command lines ("none", "madt-checksum", ...; "dense", ...). */
int acpi_gen_break_parse(const char *name);           /* enum value, or -EINVAL */
const char *acpi_gen_break_name(enum acpi_gen_break brk);
const char *const *acpi_gen_break_names(void);        /* NULL-terminated, enum order */
const char *acpi_gen_break_help(enum acpi_gen_break brk); /* one-line description */
int acpi_gen_layout_parse(const char *name);          /* enum value, or -EINVAL */
const char *acpi_gen_layout_name(enum acpi_gen_layout layout);
const char *const *acpi_gen_layout_names(void);       /* NULL-terminated, enum order */

#endif /* DOPPEL_MODELS_ACPI_GEN_H */
