/*
 * acpi_fuzz.c — fuzz target for the ACPI discovery code and the MADT parser
 * (kernel/acpi/), as LLVMFuzzerTestOneInput so one file builds for libFuzzer and,
 * through afl-clang-fast's driver, for AFL++ persistent mode.
 *
 * Input: one flags byte, then ACPI tables back to back (each as long as its header
 * says, clipped to the input). The harness lays the tables out in fake physical
 * memory and writes an RSDP and root table pointing at them, so mutations reach
 * the parsers instead of dying at the RSDP. Flags:
 *   bit0  RSDP revision 0 + RSDT (else revision 2 + XSDT)
 *   bit1  hand no RSDP address over: the kernel must find it by scanning
 *   bit2  fix each table's checksum (else keep the bytes as given)
 *   bit3  also feed the tables region, raw, to acpi_madt_parse
 *   bit4  make the last root-table entry point outside memory
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <hw/acpi/madt.h>
#include <hw/acpi/tables.h>
#include <kernel/acpi.h>
#include "fake_hal.h"

#define MEM_LEN (2u << 20)
#define RSDP_AT 0xE0000u
#define ROOT_AT 0xE1000u
#define TABLES_AT 0x100000u
#define MAX_TABLES 32
#define SDT_CHECKSUM offsetof(struct acpi_sdt_header, checksum)

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return (uint8_t)-s;
}

static struct acpi_info info;
static struct acpi_madt_info madt;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	data++;
	size--;
	static size_t used_prev;
	uint8_t *mem = fake_hal_mem_reuse(MEM_LEN);
	memset(mem, 0, 0x2000);                     /* boot_info scratch */
	memset(mem + RSDP_AT, 0, 0x2000);           /* RSDP and root table */
	memset(mem + TABLES_AT, 0, used_prev);      /* last run's tables */
	fake_hal_console_reset();

	/* Tables at TABLES_AT, 16-byte aligned, as many as fit. */
	uint64_t addrs[MAX_TABLES];
	unsigned n = 0;
	size_t off = 0, at = TABLES_AT;
	while (n < MAX_TABLES && size - off >= sizeof(struct acpi_sdt_header)) {
		struct acpi_sdt_header h;
		memcpy(&h, data + off, sizeof h);
		size_t len = h.length;
		if (len < sizeof h || len > size - off)
			len = size - off;           /* keep the claimed length in the copy */
		if (at + len > MEM_LEN)
			break;
		memcpy(mem + at, data + off, len);
		if (flags & 4) {
			size_t sumlen = h.length <= len ? h.length : len;
			mem[at + SDT_CHECKSUM] = 0;
			mem[at + SDT_CHECKSUM] = checksum(mem + at, sumlen);
		}
		addrs[n++] = at;
		off += len;
		at = (at + len + 15) & ~(size_t)15;
	}
	used_prev = at - TABLES_AT;
	if (flags & 16 && n)
		addrs[n - 1] = (uint64_t)MEM_LEN + 0x1000;

	/* Root table and RSDP. */
	bool rev0 = flags & 1;
	struct acpi_sdt_header root = { .revision = 1 };
	memcpy(root.signature, rev0 ? ACPI_SIG_RSDT : ACPI_SIG_XSDT, 4);
	unsigned esz = rev0 ? ACPI_RSDT_ENTRY_SIZE : ACPI_XSDT_ENTRY_SIZE;
	root.length = (uint32_t)(sizeof root + n * esz);
	memcpy(mem + ROOT_AT, &root, sizeof root);
	for (unsigned i = 0; i < n; i++)
		memcpy(mem + ROOT_AT + sizeof root + i * esz, &addrs[i], esz);
	mem[ROOT_AT + SDT_CHECKSUM] = checksum(mem + ROOT_AT, root.length);
	struct acpi_rsdp r = { .revision = rev0 ? 0 : 2, .length = ACPI_RSDP_V2_LEN };
	memcpy(r.signature, ACPI_SIG_RSDP, 8);
	memcpy(r.oem_id, "FUZZ  ", 6);
	if (rev0)
		r.rsdt_address = ROOT_AT;
	else
		r.xsdt_address = ROOT_AT;
	r.checksum = checksum((uint8_t *)&r, ACPI_RSDP_V1_LEN);
	r.ext_checksum = checksum((uint8_t *)&r, sizeof r);
	memcpy(mem + RSDP_AT, &r, sizeof r);

	struct boot_info *bi = (struct boot_info *)(mem + 0x1000);   /* any scratch RAM */
	memset(bi, 0, sizeof *bi);
	bi->hal_version = HAL_VERSION;
	bi->rsdp_phys = flags & 2 ? 0 : RSDP_AT;
	bi->rsdp_source = flags & 2 ? 0 : (rev0 ? 14 : 15);
	bi->mmap_count = 3;
	bi->mmap[0] = (struct boot_mem_region){ 0, 0x9FC00, BOOT_MEM_USABLE, 0 };
	bi->mmap[1] = (struct boot_mem_region){ 0xE0000, 0x20000, BOOT_MEM_RESERVED, 0 };
	bi->mmap[2] = (struct boot_mem_region){ TABLES_AT, MEM_LEN - TABLES_AT, BOOT_MEM_ACPI_RECLAIM, 0 };

	acpi_init(bi, &info);
	/* Invariants the parser promises whatever the input. */
	if (info.ntables > ACPI_MAX_TABLES || (info.have_madt && info.madt.ncpus > ACPI_MAX_CPUS))
		__builtin_trap();
	for (unsigned i = 0; info.have_madt && i < info.madt.ncpus; i++)
		for (unsigned j = i + 1; j < info.madt.ncpus; j++)
			if (info.madt.cpus[i].apic_id == info.madt.cpus[j].apic_id)
				__builtin_trap();   /* duplicates must have been dropped */
	size_t raw = size < MEM_LEN - TABLES_AT ? size : MEM_LEN - TABLES_AT;
	if (flags & 8) {
		if (raw > used_prev)
			used_prev = raw;
		acpi_madt_parse((const struct acpi_madt *)(mem + TABLES_AT), (uint32_t)raw, &madt);
	}
	return 0;
}
