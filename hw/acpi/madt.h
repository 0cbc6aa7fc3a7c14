/* hw/acpi/madt.h — the Multiple APIC Description Table (signature "APIC") and the
 * interrupt controller structures that follow its fixed part: processor local APIC
 * and x2APIC, I/O APIC, interrupt source override, NMI source and LINT NMIs, and the
 * 64-bit local APIC address override. ACPI 6.5 §5.2.12. */
#ifndef DOPPEL_HW_ACPI_MADT_H
#define DOPPEL_HW_ACPI_MADT_H
#include <stdint.h>
#include <hw/acpi/tables.h>

struct acpi_madt {
	struct acpi_sdt_header hdr; /* ACPI_SIG_MADT */
	uint32_t lapic_address;     /* 32-bit local APIC base of every processor */
	uint32_t flags;
#define ACPI_MADT_PCAT_COMPAT (1u << 0)     /* dual 8259s present, Table 5.20 */
	/* interrupt controller structures follow */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt) == 44, "ACPI 6.5 §5.2.12: MADT fixed part is 44 bytes");

/* Every interrupt controller structure opens with these two bytes. */
struct acpi_madt_entry {
	uint8_t type;               /* enum acpi_madt_type */
	uint8_t length;             /* whole structure */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_entry) == 2, "ACPI 6.5 §5.2.12: type and length bytes");

enum acpi_madt_type {          /* ACPI 6.5 §5.2.12, Table 5.21 */
	ACPI_MADT_LAPIC = 0,            /* §5.2.12.2 */
	ACPI_MADT_IOAPIC = 1,           /* §5.2.12.3 */
	ACPI_MADT_ISO = 2,              /* §5.2.12.5 interrupt source override */
	ACPI_MADT_NMI_SOURCE = 3,       /* §5.2.12.6 */
	ACPI_MADT_LAPIC_NMI = 4,        /* §5.2.12.7 */
	ACPI_MADT_LAPIC_OVERRIDE = 5,   /* §5.2.12.8 64-bit LAPIC address */
	ACPI_MADT_X2APIC = 9,           /* §5.2.12.12 */
	ACPI_MADT_X2APIC_NMI = 10,      /* §5.2.12.13 */
};
/* Table 5.21: types 0x00-0x17 are defined, 0x18-0x7F reserved, 0x80-0xFF OEM. */
#define ACPI_MADT_TYPE_LAST_DEFINED 0x17
#define ACPI_MADT_TYPE_OEM_FIRST 0x80

/* Local APIC / x2APIC flags, ACPI 6.5 §5.2.12.2 Table 5.23 */
#define ACPI_LAPIC_ENABLED (1u << 0)
#define ACPI_LAPIC_ONLINE_CAPABLE (1u << 1) /* may be enabled at run time; MADT revision >= 5 */

/* MPS INTI flags of the override and NMI structures, ACPI 6.5 §5.2.12.5 Table 5.26 */
#define MPS_POLARITY_MASK 0x3               /* bits 1:0 polarity */
#define  MPS_POLARITY_CONFORMS 0x0          /* to the bus's specification */
#define  MPS_POLARITY_HIGH 0x1
#define  MPS_POLARITY_RESERVED 0x2
#define  MPS_POLARITY_LOW 0x3
#define MPS_TRIGGER_MASK 0xC                /* bits 3:2 trigger mode */
#define  MPS_TRIGGER_CONFORMS 0x0
#define  MPS_TRIGGER_EDGE 0x4
#define  MPS_TRIGGER_RESERVED 0x8
#define  MPS_TRIGGER_LEVEL 0xC

struct acpi_madt_lapic {
	struct acpi_madt_entry h;   /* type 0, length 8 */
	uint8_t acpi_uid;           /* processor UID */
	uint8_t apic_id;
	uint32_t flags;             /* ACPI_LAPIC_* */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_lapic) == 8, "ACPI 6.5 §5.2.12.2: Processor Local APIC is 8 bytes");

struct acpi_madt_ioapic {
	struct acpi_madt_entry h;   /* type 1, length 12 */
	uint8_t ioapic_id;
	uint8_t rsvd0;
	uint32_t address;           /* register base */
	uint32_t gsi_base;          /* GSI of input 0 */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_ioapic) == 12, "ACPI 6.5 §5.2.12.3: I/O APIC is 12 bytes");

struct acpi_madt_iso {
	struct acpi_madt_entry h;   /* type 2, length 10 */
	uint8_t bus;                /* 0 = ISA */
	uint8_t source;             /* ISA IRQ */
	uint32_t gsi;
	uint16_t flags;             /* MPS INTI flags: MPS_POLARITY_*, MPS_TRIGGER_* */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_iso) == 10, "ACPI 6.5 §5.2.12.5: Interrupt Source Override is 10 bytes");

struct acpi_madt_nmi_source {
	struct acpi_madt_entry h;   /* type 3, length 8 */
	uint16_t flags;             /* MPS INTI flags */
	uint32_t gsi;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_nmi_source) == 8, "ACPI 6.5 §5.2.12.6: NMI Source is 8 bytes");

struct acpi_madt_lapic_nmi {
	struct acpi_madt_entry h;   /* type 4, length 6 */
	uint8_t acpi_uid;           /* 0xFF = all processors */
	uint16_t flags;             /* MPS INTI flags */
	uint8_t lint;               /* LINT0 or LINT1 */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_lapic_nmi) == 6, "ACPI 6.5 §5.2.12.7: Local APIC NMI is 6 bytes");

struct acpi_madt_lapic_override {
	struct acpi_madt_entry h;   /* type 5, length 12 */
	uint16_t rsvd0;
	uint64_t address;           /* replaces acpi_madt.lapic_address */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_lapic_override) == 12, "ACPI 6.5 §5.2.12.8: Local APIC Address Override is 12 bytes");

struct acpi_madt_x2apic {
	struct acpi_madt_entry h;   /* type 9, length 16 */
	uint16_t rsvd0;
	uint32_t x2apic_id;
	uint32_t flags;             /* ACPI_LAPIC_* */
	uint32_t acpi_uid;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_x2apic) == 16, "ACPI 6.5 §5.2.12.12: Processor Local x2APIC is 16 bytes");

struct acpi_madt_x2apic_nmi {
	struct acpi_madt_entry h;   /* type 10, length 12 */
	uint16_t flags;             /* MPS INTI flags */
	uint32_t acpi_uid;          /* 0xFFFFFFFF = all processors */
	uint8_t lint;
	uint8_t rsvd0[3];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_x2apic_nmi) == 12, "ACPI 6.5 §5.2.12.13: Local x2APIC NMI is 12 bytes");
#endif
