/*
 * dump.c — the PCI diagnostics dump on the console (format: docs/pci.md "Console
 * dump"): one header line per function with ids, class and interrupt mode, then
 * its BARs, capabilities (MSI/MSI-X fields decoded, PCIe 4.0 §7.7) and why it was
 * skipped; optionally every function's config space as `lspci -xxxx` hex lines.
 */
#include <kernel/log.h>
#include <kernel/printf.h>
#include "pci_internal.h"
#include <hw/pci/caps.h>
#include <hw/pci/config.h>
#include <hw/pci/msi.h>

const char *pci_cap_name(uint16_t id)
{
	switch (id) {
	case PCI_CAP_ID_PM: return "pm";
	case PCI_CAP_ID_VPD: return "vpd";
	case PCI_CAP_ID_SLOTID: return "slotid";
	case PCI_CAP_ID_MSI: return "msi";
	case PCI_CAP_ID_HT: return "ht";
	case PCI_CAP_ID_VNDR: return "vendor";
	case PCI_CAP_ID_DBG: return "debug";
	case PCI_CAP_ID_HOTPLUG: return "hotplug";
	case PCI_CAP_ID_SSVID: return "ssvid";
	case PCI_CAP_ID_EXP: return "exp";
	case PCI_CAP_ID_MSIX: return "msix";
	case PCI_CAP_ID_SATA: return "sata";
	case PCI_CAP_ID_AF: return "af";
	default: return "other";
	}
}

static const char *kind_name(enum pci_bar_kind k)
{
	switch (k) {
	case PCI_BAR_IO: return "io";
	case PCI_BAR_MEM32: return "mem32";
	case PCI_BAR_MEM64: return "mem64";
	default: return "none";
	}
}

static void dump_header(const struct pci_dev *d)
{
	char name[16], pin[2] = { '-', 0 }, line[8], bus[16] = "";
	pci_addr_str(&d->addr, name);
	if (d->irq_pin >= 1 && d->irq_pin <= 4)
		pin[0] = (char)('A' + d->irq_pin - 1);
	if (d->irq_line == 0xFF)
		ksnprintf(line, sizeof line, "-");
	else
		ksnprintf(line, sizeof line, "%u", d->irq_line);
	if (d->header_type == PCI_HEADER_BRIDGE)
		ksnprintf(bus, sizeof bus, " bus %02x-%02x", d->sec_bus, d->sub_bus);
	kprintf("pci: %s %04x:%04x sub %04x:%04x class %06x rev %02x type %u%s pin %s line %s irq %s\n", name,
		d->vendor, d->device, d->subsys_vendor, d->subsys_id, d->class_code, d->revision, d->header_type,
		bus, pin, line, pci_irq_mode_name(d->irq_mode));
}

static void dump_cap(const struct pci_dev *d, const struct pci_cap *c)
{
	if (c->ext) {
		kprintf("pci:   ecap 0x%04x v%u @0x%03x\n", c->id, c->ver, c->off);
		return;
	}
	const char *nm = pci_cap_name(c->id);
	if (c->id == PCI_CAP_ID_MSI && d->msi.present && d->msi.off == c->off) {
		uint16_t ctrl = pci_cfg_read16(&d->addr, (uint16_t)(c->off + PCI_MSI_CTRL));
		unsigned mme = (ctrl >> PCI_MSI_CTRL_MME_SHIFT) & PCI_MSI_CTRL_MM_MASK;
		kprintf("pci:   cap 0x%02x %s @0x%02x: enable %u count %u/%u 64bit %u maskable %u\n", c->id, nm, c->off,
			ctrl & PCI_MSI_CTRL_ENABLE ? 1u : 0u, 1u << mme, 1u << d->msi.multi_cap_log2, d->msi.is64 ? 1u : 0u,
			d->msi.maskable ? 1u : 0u);
	} else if (c->id == PCI_CAP_ID_MSIX && d->msix.present && d->msix.off == c->off) {
		uint16_t ctrl = pci_cfg_read16(&d->addr, (uint16_t)(c->off + PCI_MSIX_CTRL));
		kprintf("pci:   cap 0x%02x %s @0x%02x: enable %u count %u masked %u table bar%u+0x%x pba bar%u+0x%x\n",
			c->id, nm, c->off, ctrl & PCI_MSIX_CTRL_ENABLE ? 1u : 0u, d->msix.table_size,
			ctrl & PCI_MSIX_CTRL_MASKALL ? 1u : 0u, d->msix.table_bar, d->msix.table_off, d->msix.pba_bar,
			d->msix.pba_off);
	} else {
		kprintf("pci:   cap 0x%02x %s @0x%02x\n", c->id, nm, c->off);
	}
}

/* lspci -xxxx: "XX: " then 16 bytes, offsets in hex ("100:" past 0xff). */
static void dump_config(const struct pci_dev *d)
{
	char name[16];
	pci_addr_str(&d->addr, name);
	unsigned size = pci_cfg_space_size(&d->addr);
	/* lspci's dump reader (-F) starts a device only at an address followed by a
	 * space: the ids after it make the line one it accepts. */
	kprintf("pci-config: %s %04x:%04x\n", name, d->vendor, d->device);
	for (unsigned off = 0; off < size; off += 16) {
		char line[80];
		unsigned k = (unsigned)ksnprintf(line, sizeof line, "%02x:", off);
		for (unsigned j = 0; j < 16; j += 4) {
			uint32_t v = pci_cfg_read32(&d->addr, (uint16_t)(off + j));
			for (unsigned b = 0; b < 4; b++)
				k += (unsigned)ksnprintf(line + k, sizeof line - k, " %02x", (v >> (8 * b)) & 0xFF);
		}
		kprintf("pci-config: %s\n", line);
	}
}

void pci_dump(bool with_config)
{
	unsigned n = pci_count(), skipped = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct pci_dev *d = pci_get(i);
		dump_header(d);
		for (unsigned b = 0; b < 6; b++) {
			const struct pci_bar *bar = &d->bar[b];
			if (bar->kind == PCI_BAR_NONE || bar->size == 0)
				continue;
			kprintf("pci:   bar%u %s%s 0x%llx size 0x%llx\n", b, kind_name(bar->kind),
				bar->prefetchable ? " pref" : "", (unsigned long long)bar->addr,
				(unsigned long long)bar->size);
		}
		for (unsigned c = 0; c < d->ncaps; c++)
			dump_cap(d, &d->caps[c]);
		if (d->skipped) {
			kprintf("pci:   skipped: %s\n", d->skipped);
			skipped++;
		}
	}
	if (with_config)
		for (unsigned i = 0; i < n; i++)
			dump_config(pci_get(i));
	kinfo("pci.devices", "%u", n);
	kinfo("pci.skipped", "%u", skipped);
	kinfo("pci.mechanism", "%s", pci_cfg_mechanism());
}
