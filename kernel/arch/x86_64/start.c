/*
 * start.c — the boot CPU's first C code: set up the CPU and console, turn the
 * multiboot2 boot information into struct boot_info (copying everything out,
 * since kmain's page allocator may reuse that RAM), add the QEMU fw_cfg command
 * line, extend the direct map, set up the vmap and MMIO windows, and call kmain.
 * Multiboot2 Specification 2.0 §3.6 (tags 1, 2, 6, 11, 12, 14, 15).
 */
#include <stddef.h>
#include <stdint.h>

#include <hw/acpi/tables.h>
#include "hal/hal.h"
#include "multiboot2.h"
#include "x86.h"

#define MB2_INFO_MAX (1u << 20)        /* sanity bound on total_size */
#define LOADER_NAME_MAX 64
#define RSDP_COPY_MAX 64               /* ACPI 6.4 RSDP is 36 bytes */

void x86_start(uint32_t magic, uint64_t mbi_phys) __attribute__((noreturn));

static struct boot_info boot_info_store;
static char loader_name[LOADER_NAME_MAX];
/* RSDP copies: the multiboot2 tags live in RAM the kernel will reuse, so the
 * kernel gets the physical address of these copies inside its own image. */
static uint8_t rsdp_old[RSDP_COPY_MAX] __attribute__((aligned(16)));
static uint8_t rsdp_new[RSDP_COPY_MAX] __attribute__((aligned(16)));

const struct boot_info *x86_boot_info(void)
{
	return &boot_info_store;
}

uint32_t hal_version(void)
{
	return HAL_VERSION;
}

static void log_tag_problem(uint32_t type, const char *what, uint64_t value)
{
	struct x86_line l = { .len = 0 };

	x86_line_str(&l, "x86: multiboot2 tag ");
	x86_line_dec(&l, type);
	x86_line_str(&l, ": ");
	x86_line_str(&l, what);
	x86_line_str(&l, " ");
	x86_line_dec(&l, value);
	x86_line_end(&l);
}

/* Copy a tag's string (not necessarily NUL-terminated within the tag). */
static size_t copy_string(char *dst, size_t dst_size, const char *src, size_t src_len)
{
	size_t n = 0;

	while (n < src_len && src[n] && n + 1 < dst_size) {
		dst[n] = src[n];
		n++;
	}
	dst[n] = '\0';
	return (n < src_len && src[n]) ? 0 : 1; /* 0: truncated */
}

static uint32_t mem_type(uint32_t mb2_type)
{
	switch (mb2_type) {
	case BOOT_MEM_USABLE:
	case BOOT_MEM_RESERVED:
	case BOOT_MEM_ACPI_RECLAIM:
	case BOOT_MEM_ACPI_NVS:
	case BOOT_MEM_BAD:
		return mb2_type;
	default:                           /* OVMF passes more; all are off limits */
		return BOOT_MEM_RESERVED;
	}
}

static void parse_mmap(struct boot_info *bi, const struct mb2_tag *tag)
{
	const struct mb2_tag_mmap *mt = (const void *)tag;
	const uint8_t *p, *end;

	if (tag->size < sizeof(*mt) || mt->entry_size < sizeof(struct mb2_mmap_entry)) {
		log_tag_problem(tag->type, "unusable memory map, entry size", tag->size < sizeof(*mt) ? 0 : mt->entry_size);
		return;
	}
	p = (const uint8_t *)(mt + 1);
	end = (const uint8_t *)tag + tag->size;
	bi->mmap_count = 0;
	for (; (size_t)(end - p) >= mt->entry_size; p += mt->entry_size) {
		const struct mb2_mmap_entry *e = (const void *)p;
		struct boot_mem_region *r;

		if (bi->mmap_count == BOOT_MMAP_MAX) {
			log_tag_problem(tag->type, "memory map has more entries than BOOT_MMAP_MAX, dropped after",
			                BOOT_MMAP_MAX);
			break;
		}
		r = &bi->mmap[bi->mmap_count++];
		r->base = e->base_addr;
		r->len = e->length;
		r->type = mem_type(e->type);
		r->rsvd0 = 0;
	}
}

static void copy_rsdp(uint8_t *dst, uint32_t *have, const struct mb2_tag *tag, size_t need)
{
	size_t len = tag->size - sizeof(*tag);

	if (len < need) {
		log_tag_problem(tag->type, "RSDP copy too short, bytes", len);
		return;
	}
	if (len > RSDP_COPY_MAX)
		len = RSDP_COPY_MAX;           /* longer than any ACPI revision's RSDP */
	__builtin_memcpy(dst, tag + 1, len);
	*have = 1;
}

/* Walk the tags (§3.6.2: 8-byte aligned, each size >= 8, end tag type 0).
 * A malformed tag ends the walk with a log line; what was read so far stays. */
static void parse_multiboot2(struct boot_info *bi, uint64_t mbi_phys)
{
	const uint8_t *base = hal_phys_to_virt(mbi_phys);
	const struct mb2_info_header *h = (const void *)base;
	uint32_t have_old = 0, have_new = 0, total;

	if (!base || (mbi_phys & 7) || mbi_phys + sizeof(*h) > x86_direct_map_limit()) {
		log_tag_problem(0, "boot information at an unusable address, low 32 bits", (uint32_t)mbi_phys);
		return;
	}
	total = h->total_size;
	if (total < sizeof(*h) + sizeof(struct mb2_tag) || total > MB2_INFO_MAX ||
	    mbi_phys + total > x86_direct_map_limit()) {
		log_tag_problem(0, "boot information has a bad total_size", total);
		return;
	}

	for (uint32_t off = sizeof(*h); off + sizeof(struct mb2_tag) <= total; ) {
		const struct mb2_tag *tag = (const void *)(base + off);

		if (tag->size < sizeof(*tag) || tag->size > total - off) {
			log_tag_problem(tag->type, "bad size, ignoring the rest; size", tag->size);
			break;
		}
		switch (tag->type) {
		case MB2_TAG_END:
			goto done;
		case MB2_TAG_CMDLINE:
			if (!copy_string(bi->cmdline, sizeof(bi->cmdline), (const char *)(tag + 1),
			                 tag->size - sizeof(*tag)))
				log_tag_problem(tag->type, "command line truncated to bytes", sizeof(bi->cmdline) - 1);
			break;
		case MB2_TAG_LOADER_NAME:
			copy_string(loader_name, sizeof(loader_name), (const char *)(tag + 1),
			            tag->size - sizeof(*tag));
			break;
		case MB2_TAG_MMAP:
			parse_mmap(bi, tag);
			break;
		case MB2_TAG_EFI32:
		case MB2_TAG_EFI64:
			bi->firmware = BOOT_FW_UEFI;
			break;
		case MB2_TAG_ACPI_OLD:
			copy_rsdp(rsdp_old, &have_old, tag, ACPI_RSDP_V1_LEN);
			break;
		case MB2_TAG_ACPI_NEW:
			copy_rsdp(rsdp_new, &have_new, tag, ACPI_RSDP_V2_LEN);
			break;
		default:
			break;
		}
		off += (tag->size + 7) & ~7u;
	}
done:
	if (have_new) {
		bi->rsdp_phys = hal_virt_to_phys(rsdp_new);
		bi->rsdp_source = MB2_TAG_ACPI_NEW;
	} else if (have_old) {
		bi->rsdp_phys = hal_virt_to_phys(rsdp_old);
		bi->rsdp_source = MB2_TAG_ACPI_OLD;
	}
}

/* Highest end of RAM or ACPI tables: what the direct map must reach. */
static uint64_t mmap_top(const struct boot_info *bi)
{
	uint64_t top = 0;

	for (uint32_t i = 0; i < bi->mmap_count; i++) {
		const struct boot_mem_region *r = &bi->mmap[i];
		uint64_t end = r->base + r->len;

		if (r->type != BOOT_MEM_USABLE && r->type != BOOT_MEM_ACPI_RECLAIM &&
		    r->type != BOOT_MEM_ACPI_NVS)
			continue;
		if (end < r->base)
			end = ~0ull;               /* wrapped: clamp, the map limit applies */
		if (end > top)
			top = end;
	}
	return top;
}

/*
 * Called by boot.S on the boot stack in the high half, interrupts off, with the
 * 1 GiB identity map still present. The multiboot2 magic was checked in boot.S.
 */
void x86_start(uint32_t magic, uint64_t mbi_phys)
{
	struct boot_info *bi = &boot_info_store;
	uint64_t tsc = x86_rdtsc();

	x86_cpu_init_boot();               /* GS base first: the console lock uses it */
	x86_console_init();
	x86_mmu_drop_identity();
	x86_windows_init();
	(void)magic;

	bi->hal_version = HAL_VERSION;
	bi->firmware = BOOT_FW_BIOS;       /* unless an EFI system-table tag shows up */
	bi->platform = "x86_64-multiboot2";
	bi->loader = loader_name;
	bi->tsc_at_entry = tsc;
	bi->kernel_phys_start = (uint64_t)__kernel_phys_start;
	bi->kernel_phys_end = (uint64_t)__kernel_phys_end;
	parse_multiboot2(bi, mbi_phys);
	x86_fw_cfg_append_cmdline(bi->cmdline, sizeof(bi->cmdline));
	x86_mmu_extend_direct_map(mmap_top(bi));

	kmain(bi);
}
