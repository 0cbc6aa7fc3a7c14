/*
 * dmar.h — the ACPI DMA Remapping Reporting table (DMAR) as the kernel keeps it
 * after parsing: DRHD units, RMRR regions, device scopes. The table's layouts are
 * in hw/acpi/dmar.h (VT-d §8). Private to kernel/iommu/; the parser (dmar.c) is
 * pure so the unit tests and the fuzz target link it alone.
 */
#ifndef KERNEL_IOMMU_DMAR_H
#define KERNEL_IOMMU_DMAR_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <hw/acpi/dmar.h>

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
