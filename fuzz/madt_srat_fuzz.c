/*
 * madt_srat_fuzz.c — fuzz target for the MADT parser and validator
 * (kernel/acpi/madt.c, madt_check.c) and the SRAT parser (kernel/acpi/srat.c),
 * as LLVMFuzzerTestOneInput (libFuzzer, and AFL++ persistent mode through
 * afl-clang-fast's driver). Input: one flags byte, then one table (header
 * included). Flags: bit0 parse as MADT, bit1 parse as SRAT (neither: both);
 * bits 7:2 the boot CPU's APIC ID for the MADT check (63: unknown).
 * The table sits in an exactly sized heap buffer so ASan sees any over-read.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <hw/acpi/madt.h>
#include <hw/acpi/srat.h>
#include <kernel/acpi.h>
#include <kernel/madt_check.h>
#include <kernel/srat.h>
#include "fake_hal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct acpi_madt_info madt;
static struct madt_check chk;
static struct srat_info srat;

static void check_madt(const uint8_t *t, uint32_t len, uint32_t bsp)
{
	if (acpi_madt_parse((const struct acpi_madt *)t, len, &madt) != 0)
		return;
	acpi_madt_check((const struct acpi_madt *)t, len, &madt, bsp, &chk);
	if (chk.nisos > madt.nisos || chk.nioapics > madt.nioapics)
		__builtin_trap();
	for (unsigned i = 0; i < chk.nisos; i++) {
		if (chk.isos[i].bus != 0 || chk.isos[i].source > 15)
			__builtin_trap();       /* only ISA IRQ overrides survive */
		for (unsigned j = i + 1; j < chk.nisos; j++)
			if (chk.isos[i].source == chk.isos[j].source)
				__builtin_trap();   /* one override per IRQ */
	}
	for (unsigned i = 0; i < chk.nioapics; i++)
		for (unsigned j = i + 1; j < chk.nioapics; j++)
			if (chk.ioapics[i].gsi_base == chk.ioapics[j].gsi_base)
				__builtin_trap();
}

static void check_srat(const uint8_t *t, uint32_t len)
{
	if (srat_parse((const struct acpi_srat *)t, len, &srat) != 0)
		return;
	if (srat.nnodes > SRAT_MAX_NODES || srat.ncpus > SRAT_MAX_CPUS || srat.nmem > SRAT_MAX_MEM)
		__builtin_trap();
	for (unsigned i = 0; i < srat.ncpus; i++) {
		if (srat.cpus[i].node >= srat.nnodes)
			__builtin_trap();
		for (unsigned j = i + 1; j < srat.ncpus; j++)
			if (srat.cpus[i].apic_id == srat.cpus[j].apic_id)
				__builtin_trap();
	}
	for (unsigned i = 0; i < srat.nmem; i++) {
		if (srat.mem[i].node >= srat.nnodes || srat.mem[i].base + srat.mem[i].len < srat.mem[i].base)
			__builtin_trap();
		for (unsigned j = i + 1; j < srat.nmem; j++)
			if (srat.mem[i].base < srat.mem[j].base + srat.mem[j].len &&
			    srat.mem[j].base < srat.mem[i].base + srat.mem[i].len)
				__builtin_trap();   /* overlaps were dropped */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 20))
		return 0;
	uint8_t flags = data[0];
	size_t len = size - 1;
	uint8_t *t = malloc(len ? len : 1);
	if (!t)
		return 0;
	memcpy(t, data + 1, len);
	fake_hal_console_reset();
	uint32_t bsp = (flags >> 2) == 63 ? MADT_BSP_UNKNOWN : (uint32_t)(flags >> 2);
	bool as_madt = flags & 1, as_srat = flags & 2;
	if (!as_madt && !as_srat)
		as_madt = as_srat = true;
	if (as_madt)
		check_madt(t, (uint32_t)len, bsp);
	if (as_srat)
		check_srat(t, (uint32_t)len);
	free(t);
	return 0;
}
