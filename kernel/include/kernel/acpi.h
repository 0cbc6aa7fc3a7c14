/* acpi.h — ACPI table discovery (RSDP, RSDT/XSDT, checksums) and the MADT model
 * the rest of the kernel uses. Bad tables are logged and skipped, never fatal. */
#ifndef KERNEL_ACPI_H
#define KERNEL_ACPI_H
#include <stdbool.h>
#include <stdint.h>
#include <hal/hal.h>
#include <hw/acpi/madt.h>
#include <hw/acpi/tables.h>

#define ACPI_MAX_TABLES 64
#define ACPI_MAX_CPUS 256
#define ACPI_MAX_IOAPICS 16
#define ACPI_MAX_ISOS 32
#define ACPI_MAX_NMIS 16
#define ACPI_MAX_TABLE_LEN (16u << 20)  /* larger claims are treated as corrupt */

struct acpi_table_ref {
	char signature[5];
	uint64_t phys;
	uint32_t length;
};

struct acpi_cpu {
	uint32_t apic_id;
	uint32_t acpi_uid;
	uint32_t flags;             /* ACPI_LAPIC_ENABLED / _ONLINE_CAPABLE */
	bool x2apic_entry;          /* came from a type 9 entry */
};

struct acpi_ioapic {
	uint32_t id;
	uint32_t address;
	uint32_t gsi_base;
};

struct acpi_iso {
	uint8_t bus, source;
	uint16_t flags;
	uint32_t gsi;
};

struct acpi_lapic_nmi {
	uint32_t acpi_uid;          /* 0xFFFFFFFF = all */
	uint16_t flags;
	uint8_t lint;
};

struct acpi_madt_info {
	uint64_t lapic_address;     /* after a type 5 override, if any */
	uint32_t flags;
	unsigned ncpus;             /* entries in cpus[]: enabled or online-capable, unique IDs */
	unsigned n_enabled;         /* of those, enabled now */
	unsigned n_disabled;        /* entries neither enabled nor online-capable */
	unsigned n_duplicates;      /* entries dropped for repeating an APIC ID */
	unsigned n_dropped;         /* entries beyond ACPI_MAX_CPUS or otherwise invalid */
	unsigned n_bad_entries;     /* malformed entries (length, truncation) */
	struct acpi_cpu cpus[ACPI_MAX_CPUS];
	unsigned nioapics;
	struct acpi_ioapic ioapics[ACPI_MAX_IOAPICS];
	unsigned nisos;
	struct acpi_iso isos[ACPI_MAX_ISOS];
	unsigned nnmis;
	struct acpi_lapic_nmi nmis[ACPI_MAX_NMIS];
};

enum acpi_rsdp_source { ACPI_RSDP_NONE = 0, ACPI_RSDP_TAG15, ACPI_RSDP_TAG14, ACPI_RSDP_HINT, ACPI_RSDP_SCAN };

struct acpi_info {
	uint64_t rsdp_phys;         /* 0 when none was found */
	enum acpi_rsdp_source rsdp_source;
	uint8_t revision;
	bool via_xsdt;              /* false: the RSDT was used */
	unsigned ntables;
	struct acpi_table_ref tables[ACPI_MAX_TABLES];
	unsigned nerrors;           /* faults logged while discovering and parsing */
	bool have_madt;
	struct acpi_madt_info madt;
};

/* Find and validate every table; parse the MADT. Uses bi's memory map to decide
 * which physical ranges may be read. Returns 0, or -ENOENT when no RSDP was found
 * (info is then empty but valid). Never panics on table contents. */
int acpi_init(const struct boot_info *bi, struct acpi_info *info);
/* Pointer to the first valid table with this signature, or NULL. */
const struct acpi_sdt_header *acpi_find(const struct acpi_info *info, const char sig[4]);
/* Parse a MADT of `len` bytes (already checksum-validated). Returns 0, or -EINVAL
 * when even the fixed part is unusable; malformed entries are logged and counted. */
int acpi_madt_parse(const struct acpi_madt *madt, uint32_t len, struct acpi_madt_info *out);
/* acpi_init into the kernel's boot-time copy (kmain's ACPI step). */
int acpi_boot_init(const struct boot_info *bi);
/* The tables found at boot (valid after kmain's acpi step). */
const struct acpi_info *acpi_boot_info(void);
const char *acpi_rsdp_source_name(enum acpi_rsdp_source s);
/* Hex-dump every table (and the RSDP) as "acpi-dump:" lines for corpus harvesting. */
void acpi_dump(const struct acpi_info *info);
#endif
