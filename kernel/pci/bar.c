/*
 * bar.c — Base Address Registers: sizing (PCI Local Bus 3.0 §6.2.5.1: write all
 * ones, read the size mask back, restore) with memory and I/O decode turned off in
 * the Command register meanwhile (§6.2.2), 32/64-bit and prefetchable memory BARs,
 * I/O BARs; mapping a memory BAR through the HAL; enabling decode and bus mastering.
 */
#include <hal/hal.h>
#include <kernel/log.h>
#include <kernel/printf.h>
#include "pci_internal.h"
#include <hw/pci/config.h>

/* Lowest set bit of a size mask: the BAR's size (0 when the mask is 0). */
static uint64_t low_bit(uint64_t m)
{
	return m & (~m + 1);
}

/* Decode one BAR slot i from its original value and the value read back after
 * writing all ones (for a 64-bit BAR also the upper dword's pair). Returns NULL or
 * why the readback is impossible. */
static const char *decode(struct pci_bar *b, unsigned i, uint32_t orig, uint32_t ones, uint32_t orig_hi,
			  uint32_t ones_hi, char *buf, unsigned buflen)
{
	if (ones == 0xFFFFFFFFu) {
		/* No BAR reads back all ones: bit 0 set makes it I/O, whose bit 1 is
		 * reserved (reads 0); a memory BAR would have type 11b, reserved. */
		ksnprintf(buf, buflen, "bar%u reads all ones (0x%08x before sizing): no valid size mask", i, orig);
		return buf;
	}
	if (ones & PCI_BAR_IO_SPACE) {
		if (ones & PCI_BAR_IO_RSVD) {
			ksnprintf(buf, buflen, "bar%u: I/O BAR with reserved bit 1 set (0x%08x)", i, ones);
			return buf;
		}
		uint32_t m = ones & PCI_BAR_IO_MASK;
		if (!(m & 0xFFFF0000u))
			m |= 0xFFFF0000u;           /* a 16-bit I/O decoder: upper half reads 0 */
		uint64_t size = low_bit(m);
		if (size == 0 || (m | (uint32_t)(size - 1)) != 0xFFFFFFFFu) {
			ksnprintf(buf, buflen, "bar%u: I/O size mask 0x%08x is not contiguous", i, ones);
			return buf;
		}
		b->kind = PCI_BAR_IO;
		b->addr = orig & PCI_BAR_IO_MASK;
		b->size = size;
		return 0;
	}
	unsigned type = (ones >> PCI_BAR_MEM_TYPE_SHIFT) & PCI_BAR_MEM_TYPE_MASK;
	if (type != PCI_BAR_MEM_TYPE_32 && type != PCI_BAR_MEM_TYPE_64 && type != PCI_BAR_MEM_TYPE_1M) {
		ksnprintf(buf, buflen, "bar%u: memory BAR with reserved type 11b (0x%08x)", i, ones);
		return buf;
	}
	bool is64 = type == PCI_BAR_MEM_TYPE_64;
	uint64_t m = ones & PCI_BAR_MEM_MASK;
	uint64_t addr = orig & PCI_BAR_MEM_MASK;
	if (is64) {
		m |= (uint64_t)ones_hi << 32;
		addr |= (uint64_t)orig_hi << 32;
	} else {
		m |= 0xFFFFFFFF00000000ull;         /* treat the missing upper half as all ones */
	}
	if ((ones & PCI_BAR_MEM_MASK) == 0 && (!is64 || ones_hi == 0)) {
		if (ones != 0 || orig != 0) {
			ksnprintf(buf, buflen, "bar%u: 0x%08x reads back a size of 0 (0x%08x)", i, orig, ones);
			return buf;
		}
		return 0;                           /* not implemented: hard-wired zero */
	}
	uint64_t size = low_bit(m);
	if ((m | (size - 1)) != ~0ull) {
		ksnprintf(buf, buflen, "bar%u: size mask 0x%llx is not contiguous", i, (unsigned long long)m);
		return buf;
	}
	b->kind = is64 ? PCI_BAR_MEM64 : PCI_BAR_MEM32;
	b->prefetchable = ones & PCI_BAR_MEM_PREFETCH;
	b->addr = addr;
	b->size = size;
	return 0;
}

const char *pci_bars_probe(struct pci_dev *d, char *buf, unsigned buflen)
{
	const struct pci_addr *a = &d->addr;
	unsigned nbars = d->header_type == PCI_HEADER_NORMAL ? 6 : d->header_type == PCI_HEADER_BRIDGE ? 2 : 0;
	const char *why = 0;
	for (unsigned i = 0; i < 6; i++)
		d->bar[i] = (struct pci_bar){ .kind = PCI_BAR_NONE };
	if (!nbars)
		return 0;
	uint16_t cmd = pci_cfg_read16(a, PCI_COMMAND);
	/* Decode off while a BAR holds a size mask, so nothing answers at a bogus address. */
	pci_cfg_write16(a, PCI_COMMAND, (uint16_t)(cmd & ~(PCI_COMMAND_IO | PCI_COMMAND_MEM)));
	for (unsigned i = 0; i < nbars; i++) {
		uint16_t reg = (uint16_t)(PCI_BAR0 + 4 * i);
		uint32_t orig = pci_cfg_read32(a, reg);
		pci_cfg_write32(a, reg, 0xFFFFFFFFu);
		uint32_t ones = pci_cfg_read32(a, reg);
		pci_cfg_write32(a, reg, orig);
		uint32_t orig_hi = 0, ones_hi = 0;
		bool is64 = !(ones & PCI_BAR_IO_SPACE) && ones != 0xFFFFFFFFu &&
			    ((ones >> PCI_BAR_MEM_TYPE_SHIFT) & PCI_BAR_MEM_TYPE_MASK) == PCI_BAR_MEM_TYPE_64;
		if (is64 && i + 1 >= nbars) {
			ksnprintf(buf, buflen, "bar%u: 64-bit BAR in the last slot has no upper half", i);
			why = buf;
			continue;
		}
		if (is64) {
			uint16_t hreg = (uint16_t)(reg + 4);
			orig_hi = pci_cfg_read32(a, hreg);
			pci_cfg_write32(a, hreg, 0xFFFFFFFFu);
			ones_hi = pci_cfg_read32(a, hreg);
			pci_cfg_write32(a, hreg, orig_hi);
		}
		const char *r = decode(&d->bar[i], i, orig, ones, orig_hi, ones_hi, buf, buflen);
		if (r) {
			d->bar[i] = (struct pci_bar){ .kind = PCI_BAR_NONE };
			why = r;                        /* keep sizing the rest; the reason is the last bad one */
		}
		if (is64)
			i++;                            /* the upper half is not a BAR of its own */
	}
	pci_cfg_write16(a, PCI_COMMAND, cmd);
	return why;
}

void *pci_bar_map(struct pci_dev *d, unsigned bar)
{
	if (!d || bar > 5)
		return 0;
	const struct pci_bar *b = &d->bar[bar];
	char name[16];
	pci_addr_str(&d->addr, name);
	if ((b->kind != PCI_BAR_MEM32 && b->kind != PCI_BAR_MEM64) || b->size == 0 || b->addr == 0)
		return 0;
	if (d->skipped) {
		klog("pci", "device %s bar%u not mapped: the device was skipped (%s)", name, bar, d->skipped);
		return 0;
	}
	void *va = hal_mmio_map(b->addr, (size_t)b->size);
	if (!va)
		klog("pci", "device %s bar%u (0x%llx, 0x%llx bytes) cannot be mapped", name, bar,
		     (unsigned long long)b->addr, (unsigned long long)b->size);
	return va;
}

void pci_enable(struct pci_dev *d, bool mem, bool io, bool bus_master)
{
	if (!d)
		return;
	if (d->skipped) {
		char name[16];
		pci_addr_str(&d->addr, name);
		klog("pci", "device %s not enabled: it was skipped (%s)", name, d->skipped);
		return;
	}
	uint16_t cmd = pci_cfg_read16(&d->addr, PCI_COMMAND);
	uint16_t want = (uint16_t)(cmd & ~(PCI_COMMAND_MEM | PCI_COMMAND_IO | PCI_COMMAND_MASTER));
	want |= (mem ? PCI_COMMAND_MEM : 0) | (io ? PCI_COMMAND_IO : 0) | (bus_master ? PCI_COMMAND_MASTER : 0);
	if (want != cmd)
		pci_cfg_write16(&d->addr, PCI_COMMAND, want);
}
