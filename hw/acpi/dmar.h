/* hw/acpi/dmar.h — the DMA Remapping Reporting table (signature "DMAR") as laid out
 * in memory: header, remapping structures (DRHD, RMRR, ATSR, RHSA, SATC) and device
 * scopes. Intel VT-d §8 (hw/README.md names the revision). The remapping hardware's
 * own registers and translation structures are in hw/iommu/. */
#ifndef DOPPEL_HW_ACPI_DMAR_H
#define DOPPEL_HW_ACPI_DMAR_H
#include <stdint.h>
#include <hw/acpi/tables.h>

struct dmar_table {
	struct acpi_sdt_header hdr; /* ACPI_SIG_DMAR, revision 1 */
	uint8_t host_addr_width;    /* N: the platform's DMA physical width is N+1 bits */
	uint8_t flags;
#define DMAR_FLAG_INTR_REMAP (1u << 0)          /* interrupt remapping supported */
#define DMAR_FLAG_X2APIC_OPT_OUT (1u << 1)      /* firmware asks the OS not to use x2APIC mode */
#define DMAR_FLAG_DMA_CTRL_OPT_IN (1u << 2)     /* DMA_CTRL_PLATFORM_OPT_IN_FLAG */
	uint8_t rsvd0[10];
	/* remapping structures follow, in type order */
} __attribute__((packed));
_Static_assert(sizeof(struct dmar_table) == 48, "VT-d §8.1: DMAR header is 48 bytes");

/* Every remapping structure opens with these four bytes. */
struct dmar_struct_hdr {
	uint16_t type;              /* enum dmar_type */
	uint16_t length;            /* whole structure, device scopes included */
} __attribute__((packed));
_Static_assert(sizeof(struct dmar_struct_hdr) == 4, "VT-d §8.2: remapping structure header is 4 bytes");

enum dmar_type {               /* VT-d §8.2 */
	DMAR_TYPE_DRHD = 0,         /* §8.3 DMA remapping hardware unit */
	DMAR_TYPE_RMRR = 1,         /* §8.4 reserved memory region */
	DMAR_TYPE_ATSR = 2,         /* §8.5 root port ATS capability */
	DMAR_TYPE_RHSA = 3,         /* §8.6 remapping hardware static affinity */
	DMAR_TYPE_ANDD = 4,         /* §8.7 ACPI name-space device declaration */
	DMAR_TYPE_SATC = 5,         /* §8.8 SoC integrated address translation cache */
};

struct dmar_drhd {
	struct dmar_struct_hdr h;   /* type 0 */
	uint8_t flags;
#define DMAR_DRHD_INCLUDE_PCI_ALL (1u << 0)     /* every device of the segment not listed elsewhere */
	uint8_t size;               /* bits 3:0: register set is 2^N 4 KiB pages */
#define DMAR_DRHD_SIZE_MASK 0xFu
	uint16_t segment;
	uint64_t reg_base;          /* register base, 4 KiB aligned */
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

struct dmar_atsr {
	struct dmar_struct_hdr h;   /* type 2 */
	uint8_t flags;
#define DMAR_ATSR_ALL_PORTS (1u << 0)           /* every root port of the segment supports ATS */
	uint8_t rsvd0;
	uint16_t segment;
	/* device scopes (root ports) follow */
} __attribute__((packed));
_Static_assert(sizeof(struct dmar_atsr) == 8, "VT-d §8.5: ATSR fixed part is 8 bytes");

struct dmar_rhsa {
	struct dmar_struct_hdr h;   /* type 3, length 20 */
	uint32_t rsvd0;
	uint64_t reg_base;          /* the DRHD this affinity is for */
	uint32_t proximity_domain;
} __attribute__((packed));
_Static_assert(sizeof(struct dmar_rhsa) == 20, "VT-d §8.6: RHSA is 20 bytes");

struct dmar_satc {
	struct dmar_struct_hdr h;   /* type 5 */
	uint8_t flags;
#define DMAR_SATC_ATC_REQUIRED (1u << 0)
	uint8_t rsvd0;
	uint16_t segment;
	/* device scopes follow */
} __attribute__((packed));
_Static_assert(sizeof(struct dmar_satc) == 8, "VT-d §8.8: SATC fixed part is 8 bytes");

/* Device scope: names the devices a structure covers. */
struct dmar_scope {
	uint8_t type;               /* enum dmar_scope_type */
	uint8_t length;             /* 6 + 2 * path entries */
	uint8_t flags;
	uint8_t rsvd0;
	uint8_t enum_id;            /* I/O APIC id, HPET number, ACPI device number */
	uint8_t start_bus;
	/* path: struct dmar_scope_path entries follow */
} __attribute__((packed));
_Static_assert(sizeof(struct dmar_scope) == 6, "VT-d §8.3.1: device scope fixed part is 6 bytes");

/* One hop of a scope's path, from start_bus down through bridges. */
struct dmar_scope_path {
	uint8_t dev;                /* 0..31 */
	uint8_t fn;                 /* 0..7 */
} __attribute__((packed));
_Static_assert(sizeof(struct dmar_scope_path) == 2, "VT-d §8.3.1: a path entry is 2 bytes");

enum dmar_scope_type {         /* VT-d §8.3.1 */
	DMAR_SCOPE_ENDPOINT = 1,    /* a PCI endpoint */
	DMAR_SCOPE_BRIDGE = 2,      /* a PCI-PCI bridge: everything below it */
	DMAR_SCOPE_IOAPIC = 3,
	DMAR_SCOPE_HPET = 4,        /* an MSI-capable HPET */
	DMAR_SCOPE_ACPI = 5,        /* an ACPI name-space device */
};
#endif
