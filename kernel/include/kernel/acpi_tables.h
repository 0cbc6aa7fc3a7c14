/* acpi_tables.h — in-memory layouts of the ACPI tables the kernel reads.
 * ACPI 6.5: RSDP §5.2.5.3, SDT header §5.2.6, RSDT §5.2.7, XSDT §5.2.8,
 * MADT §5.2.12 and its interrupt controller structures §5.2.12.2–§5.2.12.19. */
#ifndef KERNEL_ACPI_TABLES_H
#define KERNEL_ACPI_TABLES_H
#include <stdint.h>

struct acpi_rsdp {
	char signature[8];          /* "RSD PTR " */
	uint8_t checksum;           /* first 20 bytes sum to 0 */
	char oem_id[6];
	uint8_t revision;           /* 0: ACPI 1.0 (RSDT only); 2: ACPI 2.0+ */
	uint32_t rsdt_address;
	/* revision >= 2 from here */
	uint32_t length;            /* of the whole RSDP, 36 */
	uint64_t xsdt_address;
	uint8_t ext_checksum;       /* whole structure sums to 0 */
	uint8_t rsvd0[3];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_rsdp) == 36, "ACPI 6.5 §5.2.5.3: RSDP is 36 bytes");
#define ACPI_RSDP_V1_LEN 20

struct acpi_sdt_header {
	char signature[4];
	uint32_t length;            /* whole table, header included */
	uint8_t revision;
	uint8_t checksum;           /* whole table sums to 0 */
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	uint32_t creator_id;
	uint32_t creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_sdt_header) == 36, "ACPI 6.5 §5.2.6: SDT header is 36 bytes");

struct acpi_madt {
	struct acpi_sdt_header hdr;
	uint32_t lapic_address;
	uint32_t flags;
#define ACPI_MADT_PCAT_COMPAT (1u << 0)
	/* interrupt controller structures follow */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt) == 44, "ACPI 6.5 §5.2.12: MADT fixed part is 44 bytes");

struct acpi_madt_entry {
	uint8_t type;
	uint8_t length;
} __attribute__((packed));

enum acpi_madt_type {
	ACPI_MADT_LAPIC = 0,            /* §5.2.12.2 */
	ACPI_MADT_IOAPIC = 1,           /* §5.2.12.3 */
	ACPI_MADT_ISO = 2,              /* §5.2.12.5 interrupt source override */
	ACPI_MADT_NMI_SOURCE = 3,       /* §5.2.12.6 */
	ACPI_MADT_LAPIC_NMI = 4,        /* §5.2.12.7 */
	ACPI_MADT_LAPIC_OVERRIDE = 5,   /* §5.2.12.8 64-bit LAPIC address */
	ACPI_MADT_X2APIC = 9,           /* §5.2.12.12 */
	ACPI_MADT_X2APIC_NMI = 10,      /* §5.2.12.13 */
};

/* Local APIC / x2APIC flags, ACPI 6.5 Table 5.23 */
#define ACPI_LAPIC_ENABLED (1u << 0)
#define ACPI_LAPIC_ONLINE_CAPABLE (1u << 1)

struct acpi_madt_lapic {
	struct acpi_madt_entry h;   /* type 0, length 8 */
	uint8_t acpi_uid;
	uint8_t apic_id;
	uint32_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_lapic) == 8, "ACPI 6.5 §5.2.12.2");

struct acpi_madt_ioapic {
	struct acpi_madt_entry h;   /* type 1, length 12 */
	uint8_t ioapic_id;
	uint8_t rsvd0;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_ioapic) == 12, "ACPI 6.5 §5.2.12.3");

struct acpi_madt_iso {
	struct acpi_madt_entry h;   /* type 2, length 10 */
	uint8_t bus;                /* 0 = ISA */
	uint8_t source;             /* ISA IRQ */
	uint32_t gsi;
	uint16_t flags;             /* MPS INTI flags: polarity [1:0], trigger [3:2] */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_iso) == 10, "ACPI 6.5 §5.2.12.5");
/* MPS INTI flags of an interrupt source override, ACPI 6.5 §5.2.12.5 Table 5.26 */
#define MPS_POLARITY_MASK 0x3
#define  MPS_POLARITY_CONFORMS 0x0
#define  MPS_POLARITY_HIGH 0x1
#define  MPS_POLARITY_LOW 0x3
#define MPS_TRIGGER_MASK 0xC
#define  MPS_TRIGGER_CONFORMS 0x0
#define  MPS_TRIGGER_EDGE 0x4
#define  MPS_TRIGGER_LEVEL 0xC

struct acpi_madt_nmi_source {
	struct acpi_madt_entry h;   /* type 3, length 8 */
	uint16_t flags;
	uint32_t gsi;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_nmi_source) == 8, "ACPI 6.5 §5.2.12.6");

struct acpi_madt_lapic_nmi {
	struct acpi_madt_entry h;   /* type 4, length 6 */
	uint8_t acpi_uid;           /* 0xFF = all processors */
	uint16_t flags;
	uint8_t lint;               /* LINT0 or LINT1 */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_lapic_nmi) == 6, "ACPI 6.5 §5.2.12.7");

struct acpi_madt_lapic_override {
	struct acpi_madt_entry h;   /* type 5, length 12 */
	uint16_t rsvd0;
	uint64_t address;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_lapic_override) == 12, "ACPI 6.5 §5.2.12.8");

struct acpi_madt_x2apic {
	struct acpi_madt_entry h;   /* type 9, length 16 */
	uint16_t rsvd0;
	uint32_t x2apic_id;
	uint32_t flags;
	uint32_t acpi_uid;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_x2apic) == 16, "ACPI 6.5 §5.2.12.12");

struct acpi_madt_x2apic_nmi {
	struct acpi_madt_entry h;   /* type 10, length 12 */
	uint16_t flags;
	uint32_t acpi_uid;          /* 0xFFFFFFFF = all processors */
	uint8_t lint;
	uint8_t rsvd0[3];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_x2apic_nmi) == 12, "ACPI 6.5 §5.2.12.13");
#endif
