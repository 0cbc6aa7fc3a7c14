/*
 * dmar.h — the ACPI DMA Remapping Reporting table (DMAR) as laid out in memory and
 * as the kernel keeps it after parsing: DRHD units, RMRR regions, device scopes.
 * Intel VT-d spec rev 3.x §8.1 (DMAR header), §8.2 (remapping structure types),
 * §8.3 (DRHD), §8.3.1 (device scope), §8.4 (RMRR). Private to kernel/iommu/; the
 * parser (dmar.c) is pure so the unit tests and the fuzz target link it alone.
 */
#ifndef KERNEL_IOMMU_DMAR_H
#define KERNEL_IOMMU_DMAR_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <kernel/acpi_tables.h>

/* ---- firmware layouts --------------------------------------------------------------- */

struct dmar_table {
	struct acpi_sdt_header hdr; /* "DMAR" */
	uint8_t host_addr_width;    /* N: the platform's DMA physical width is N+1 bits */
	uint8_t flags;
#define DMAR_FLAG_INTR_REMAP (1u << 0)
#define DMAR_FLAG_X2APIC_OPT_OUT (1u << 1)
#define DMAR_FLAG_DMA_CTRL_OPT_IN (1u << 2)
	uint8_t rsvd0[10];
	/* remapping structures follow */
} __attribute__((packed));
_Static_assert(sizeof(struct dmar_table) == 48, "VT-d §8.1: DMAR header is 48 bytes");

struct dmar_struct_hdr {
	uint16_t type;              /* enum dmar_type */
	uint16_t length;            /* whole structure, scopes included */
} __attribute__((packed));
_Static_assert(sizeof(struct dmar_struct_hdr) == 4, "VT-d §8.2");

enum dmar_type {               /* VT-d §8.2, Table 8-2 */
	DMAR_TYPE_DRHD = 0,
	DMAR_TYPE_RMRR = 1,
	DMAR_TYPE_ATSR = 2,
	DMAR_TYPE_RHSA = 3,
	DMAR_TYPE_ANDD = 4,
	DMAR_TYPE_SATC = 5,
};

struct dmar_drhd {
	struct dmar_struct_hdr h;   /* type 0 */
	uint8_t flags;
#define DMAR_DRHD_INCLUDE_PCI_ALL (1u << 0)
	uint8_t size;               /* bits 3:0: register set is 2^N 4 KiB pages */
	uint16_t segment;
	uint64_t reg_base;          /* 4 KiB aligned */
	/* device scopes follow */
} __attribute__((packed));
_Static_assert(sizeof(struct dmar_drhd) == 16, "VT-d §8.3: DRHD fixed part is 16 bytes");

struct dmar_rmrr {
	struct dmar_struct_hdr h;   /* type 1 */
	uint16_t rsvd0;
	uint16_t segment;
	uint64_t base;              /* 4 KiB aligned */
	uint64_t limit;             /* last byte; limit + 1 is 4 KiB aligned */
	/* device scopes follow */
} __attribute__((packed));
_Static_assert(sizeof(struct dmar_rmrr) == 24, "VT-d §8.4: RMRR fixed part is 24 bytes");

struct dmar_scope {
	uint8_t type;               /* enum dmar_scope_type */
	uint8_t length;             /* 6 + 2 * path entries */
	uint8_t flags;
	uint8_t rsvd0;
	uint8_t enum_id;            /* I/O APIC id, HPET number, ACPI device number */
	uint8_t start_bus;
	/* path: (device, function) byte pairs follow */
} __attribute__((packed));
_Static_assert(sizeof(struct dmar_scope) == 6, "VT-d §8.3.1: device scope fixed part is 6 bytes");

enum dmar_scope_type {         /* VT-d §8.3.1, Table 8-3 */
	DMAR_SCOPE_ENDPOINT = 1,
	DMAR_SCOPE_BRIDGE = 2,      /* a PCI-PCI bridge: everything below it */
	DMAR_SCOPE_IOAPIC = 3,
	DMAR_SCOPE_HPET = 4,
	DMAR_SCOPE_ACPI = 5,
};

/* ---- the parsed table ---------------------------------------------------------------- */

#define DMAR_MAX_UNITS 8
#define DMAR_MAX_RMRR 16
#define DMAR_MAX_SCOPES 128
#define DMAR_MAX_PATH 8             /* bridges deep; deeper paths are rejected */

struct dmar_scope_info {
	uint8_t type, enum_id, start_bus, path_len;
	uint8_t path_dev[DMAR_MAX_PATH], path_fn[DMAR_MAX_PATH];
	uint32_t offset;            /* in the table, for log lines */
};

struct dmar_unit_info {
	uint64_t reg_base;
	uint16_t segment;
	uint8_t flags;              /* DMAR_DRHD_INCLUDE_PCI_ALL */
	uint8_t size_log2;          /* register set: 2^size_log2 pages */
	uint16_t first_scope, nscopes;  /* into dmar_info.scopes */
	uint32_t offset;
};

struct dmar_rmrr_info {
	uint64_t base, limit;
	uint16_t segment;
	uint16_t first_scope, nscopes;
	uint32_t offset;
};

struct dmar_info {
	uint8_t haw;                /* host address width in bits (header value + 1) */
	uint8_t flags;
	unsigned nunits, nrmrr, nscopes;
	unsigned nskipped;          /* ATSR, RHSA, ANDD, SATC and reserved types */
	struct dmar_unit_info units[DMAR_MAX_UNITS];
	struct dmar_rmrr_info rmrr[DMAR_MAX_RMRR];
	struct dmar_scope_info scopes[DMAR_MAX_SCOPES];
};

/* Parse a DMAR of len bytes (the checksum is the caller's business). Any malformed
 * structure rejects the whole table: a log line names the structure, its offset
 * and the fault, *out is left empty (no units) and -EINVAL is returned. */
int dmar_parse(const void *table, size_t len, struct dmar_info *out);

/* Looks up the secondary bus number of the bridge at seg:bus:dev.fn: returns it
 * (0..255), or a negative errno when there is no such bridge. */
typedef int (*dmar_bridge_fn)(void *ctx, uint16_t seg, uint8_t bus, uint8_t dev, uint8_t fn);
/* Follow a scope's path through bridges: bus, dev and fn get the last element's
 * address. 0, -EINVAL (empty path), or the lookup's error for a missing bridge. */
int dmar_scope_resolve(const struct dmar_scope_info *s, uint16_t seg, dmar_bridge_fn lookup,
		       void *ctx, uint8_t *bus, uint8_t *dev, uint8_t *fn);
const char *dmar_scope_type_name(uint8_t type);
#endif
