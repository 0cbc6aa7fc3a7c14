/*
 * mcfg.c — the ACPI MCFG table: the memory-mapped configuration (ECAM) regions of
 * every PCI segment group. PCI Firmware Specification 3.2 §4.1.2 (layouts in
 * hw/acpi/mcfg.h); PCIe Base 4.0 §7.2.2 (1 MiB per bus, ECAM regions aligned to
 * their size).
 */
#include <hw/acpi/mcfg.h>
#include <kernel/acpi.h>
#include <kernel/log.h>
#include <kernel/string.h>
#include <hw/pci/config.h>
#include "pci_internal.h"


unsigned pci_mcfg_parse(const void *table, uint32_t len, struct pci_ecam_seg *out, unsigned max)
{
	const struct acpi_mcfg *m = table;
	unsigned n = 0;
	if (!m || len < sizeof *m) {
		klog("pci", "MCFG of %u bytes is shorter than its 44-byte header: ignored", len);
		return 0;
	}
	if (m->hdr.length != len) {
		klog("pci", "MCFG header says %u bytes, table is %u: using the smaller", m->hdr.length, len);
		if (m->hdr.length < len)
			len = m->hdr.length < sizeof *m ? (uint32_t)sizeof *m : m->hdr.length;
	}
	uint32_t body = len - (uint32_t)sizeof *m;
	if (body % sizeof(struct acpi_mcfg_alloc))
		klog("pci", "MCFG length %u leaves %u stray bytes after its allocations: ignored", len,
		     body % (uint32_t)sizeof(struct acpi_mcfg_alloc));
	unsigned count = body / (uint32_t)sizeof(struct acpi_mcfg_alloc);
	if (count == 0)
		klog("pci", "MCFG lists no ECAM region");
	const uint8_t *p = (const uint8_t *)table + sizeof *m;
	for (unsigned i = 0; i < count; i++) {
		struct acpi_mcfg_alloc a;
		memcpy(&a, p + (size_t)i * sizeof a, sizeof a);
		if (a.start_bus > a.end_bus) {
			klog("pci", "MCFG entry %u (segment %u): start bus %u after end bus %u: skipped", i,
			     a.segment, a.start_bus, a.end_bus);
			continue;
		}
		/* The region of buses start..end must be 1 MiB aligned; the whole 256-bus
		 * space base..base+256 MiB must not wrap the address space. */
		if (a.base == 0 || (a.base & (PCI_ECAM_BUS_SIZE - 1)) ||
		    a.base + 256 * PCI_ECAM_BUS_SIZE < a.base) {
			klog("pci", "MCFG entry %u (segment %u): base 0x%llx is not a 1 MiB aligned address: skipped",
			     i, a.segment, (unsigned long long)a.base);
			continue;
		}
		bool dup = false;
		for (unsigned j = 0; j < n; j++)
			if (out[j].seg == a.segment && a.start_bus <= out[j].end && out[j].start <= a.end_bus)
				dup = true;
		if (dup) {
			klog("pci", "MCFG entry %u (segment %u buses %02x-%02x) overlaps an earlier entry: skipped", i,
			     a.segment, a.start_bus, a.end_bus);
			continue;
		}
		if (n == max) {
			klog("pci", "MCFG: more than %u ECAM regions, entry %u and later ignored", max, i);
			break;
		}
		out[n].base = a.base;
		out[n].seg = a.segment;
		out[n].start = a.start_bus;
		out[n].end = a.end_bus;
		out[n].va = 0;
		n++;
	}
	return n;
}
