/* hw/acpi/tables.h — the ACPI structures every table shares: the RSDP, the system
 * description table header, the RSDT/XSDT entry sizes, the Generic Address
 * Structure and the table signatures. ACPI 6.5 §5.2 (hw/README.md names the edition). */
#ifndef DOPPEL_HW_ACPI_TABLES_H
#define DOPPEL_HW_ACPI_TABLES_H
#include <stddef.h>
#include <stdint.h>

/* Table signatures: the first 4 bytes of each table (8 for the RSDP), no NUL. */
#define ACPI_SIG_RSDP "RSD PTR "    /* Root System Description Pointer, §5.2.5.3 */
#define ACPI_SIG_RSDT "RSDT"        /* Root System Description Table, §5.2.7 */
#define ACPI_SIG_XSDT "XSDT"        /* Extended System Description Table, §5.2.8 */
#define ACPI_SIG_FADT "FACP"        /* Fixed ACPI Description Table, §5.2.9 */
#define ACPI_SIG_FACS "FACS"        /* Firmware ACPI Control Structure, §5.2.10 */
#define ACPI_SIG_DSDT "DSDT"        /* Differentiated System Description Table, §5.2.11.1 */
#define ACPI_SIG_MADT "APIC"        /* Multiple APIC Description Table, §5.2.12 */
#define ACPI_SIG_SRAT "SRAT"        /* System Resource Affinity Table, §5.2.16 */
#define ACPI_SIG_MCFG "MCFG"        /* PCI Firmware 3.2 §4.1.2 */
#define ACPI_SIG_DMAR "DMAR"        /* VT-d §8.1 */

/* Root System Description Pointer, ACPI 6.5 §5.2.5.3. Found on a 16-byte boundary
 * in the first KiB of the EBDA or in 0xE0000-0xFFFFF (§5.2.5.1), or handed over. */
struct acpi_rsdp {
	char signature[8];          /* ACPI_SIG_RSDP */
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
_Static_assert(offsetof(struct acpi_rsdp, length) == 20, "ACPI 6.5 §5.2.5.3: revision-0 part is 20 bytes");
#define ACPI_RSDP_V1_LEN 20         /* revision 0: bytes covered by checksum, §5.2.5.3 */
#define ACPI_RSDP_V2_LEN 36         /* revision 2 and later: the whole structure */

/* System description table header, ACPI 6.5 §5.2.6: starts every table but the
 * RSDP and the FACS. */
struct acpi_sdt_header {
	char signature[4];
	uint32_t length;            /* whole table, header included */
	uint8_t revision;
	uint8_t checksum;           /* whole table sums to 0 */
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	uint32_t creator_id;        /* vendor ID of the tool that built the table */
	uint32_t creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_sdt_header) == 36, "ACPI 6.5 §5.2.6: SDT header is 36 bytes");
_Static_assert(offsetof(struct acpi_sdt_header, checksum) == 9, "ACPI 6.5 §5.2.6: checksum at offset 9");

/* RSDT (§5.2.7) and XSDT (§5.2.8): the header, then physical addresses of the
 * other tables, 4 bytes each in the RSDT, 8 in the XSDT (only 4-byte aligned). */
#define ACPI_RSDT_ENTRY_SIZE 4
#define ACPI_XSDT_ENTRY_SIZE 8

/* Generic Address Structure, ACPI 6.5 §5.2.3.2: a register in some address space. */
struct acpi_gas {
	uint8_t space_id;           /* 0 system memory, 1 system I/O, ... */
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;        /* 0 undefined, 1 byte, 2 word, 3 dword, 4 qword */
	uint64_t address;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_gas) == 12, "ACPI 6.5 §5.2.3.2: GAS is 12 bytes");
#endif
