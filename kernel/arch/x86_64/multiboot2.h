/*
 * multiboot2.h — the parts of the Multiboot2 boot information that Doppel reads.
 * Multiboot2 Specification version 2.0: §3.1 OS image header, §3.3 machine state,
 * §3.6 boot information format (tags 1, 2, 6, 11, 12, 14, 15).
 */
#ifndef DOPPEL_ARCH_MULTIBOOT2_H
#define DOPPEL_ARCH_MULTIBOOT2_H

#define MB2_HEADER_MAGIC     0xE85250D6 /* §3.1.1, in the OS image */
#define MB2_HEADER_ARCH_I386 0          /* §3.1.2: 32-bit protected mode entry */
#define MB2_BOOTLOADER_MAGIC 0x36d76289 /* §3.3: EAX at entry */

#define MB2_TAG_END          0
#define MB2_TAG_CMDLINE      1          /* §3.6.3 */
#define MB2_TAG_LOADER_NAME  2          /* §3.6.4 */
#define MB2_TAG_MMAP         6          /* §3.6.8 */
#define MB2_TAG_EFI32        11         /* §3.6.12: EFI 32-bit system table pointer */
#define MB2_TAG_EFI64        12         /* §3.6.13: EFI 64-bit system table pointer */
#define MB2_TAG_ACPI_OLD     14         /* §3.6.15: copy of the ACPI 1.0 RSDP */
#define MB2_TAG_ACPI_NEW     15         /* §3.6.16: copy of the ACPI 2.0+ RSDP */

#ifndef __ASSEMBLER__
#include <stdint.h>

struct mb2_info_header {               /* §3.6.1 */
	uint32_t total_size;
	uint32_t rsvd0;
};
_Static_assert(sizeof(struct mb2_info_header) == 8, "multiboot2 §3.6.1");

struct mb2_tag {                       /* §3.6.2: every tag starts 8-byte aligned */
	uint32_t type;
	uint32_t size;                     /* including this header, excluding padding */
};
_Static_assert(sizeof(struct mb2_tag) == 8, "multiboot2 §3.6.2");

struct mb2_tag_mmap {                  /* §3.6.8 */
	uint32_t type;
	uint32_t size;
	uint32_t entry_size;               /* multiple of 8; at least 24 */
	uint32_t entry_version;            /* 0 */
};
_Static_assert(sizeof(struct mb2_tag_mmap) == 16, "multiboot2 §3.6.8");

struct mb2_mmap_entry {                /* §3.6.8 */
	uint64_t base_addr;
	uint64_t length;
	uint32_t type;                     /* 1 usable, 3 ACPI, 4 NVS, 5 bad, else reserved */
	uint32_t rsvd0;
};
_Static_assert(sizeof(struct mb2_mmap_entry) == 24, "multiboot2 §3.6.8");
#endif /* !__ASSEMBLER__ */
#endif /* DOPPEL_ARCH_MULTIBOOT2_H */
