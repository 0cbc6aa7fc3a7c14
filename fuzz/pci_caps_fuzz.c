/*
 * pci_caps_fuzz.c — fuzz target for the PCI capability walker and MSI/MSI-X decoder
 * (kernel/pci/caps.c: PCI 3.0 §6.7, PCIe 4.0 §7.6.3 and §7.7), as
 * LLVMFuzzerTestOneInput (libFuzzer, and AFL++ persistent mode). Input: a config
 * space image of 0..4096 bytes, copied into an exactly sized heap buffer so ASan
 * sees any over-read. BAR sizes for the MSI-X checks come from the image's own BARs.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <kernel/pci.h>
#include "fake_hal.h"

#include <hw/pci/caps.h>
#include <hw/pci/config.h>
#include <hw/pci/msi.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pci_cap caps[PCI_MAX_CAPS];

/* Some BARs to test MSI-X placement against: type from the BAR's low bits, a size
 * from bits 7:4 (4 KiB .. 128 MiB). */
static void bars_from_image(const uint8_t *cfg, size_t len, struct pci_bar bars[6])
{
	memset(bars, 0, 6 * sizeof bars[0]);
	for (unsigned i = 0; i < 6 && PCI_BAR0 + 4 * i + 4 <= len; i++) {
		uint32_t v;
		memcpy(&v, cfg + PCI_BAR0 + 4 * i, 4);
		if (v == 0)
			continue;
		if (v & PCI_BAR_IO_SPACE) {
			bars[i] = (struct pci_bar){ PCI_BAR_IO, false, v & PCI_BAR_IO_MASK, 0x100 };
			continue;
		}
		bool is64 = ((v >> PCI_BAR_MEM_TYPE_SHIFT) & PCI_BAR_MEM_TYPE_MASK) == PCI_BAR_MEM_TYPE_64 && i < 5;
		bars[i] = (struct pci_bar){ is64 ? PCI_BAR_MEM64 : PCI_BAR_MEM32, (v & PCI_BAR_MEM_PREFETCH) != 0,
					    v & PCI_BAR_MEM_MASK, 4096ull << ((v >> 4) & 15) };
		if (is64)
			bars[++i] = (struct pci_bar){ PCI_BAR_NONE, false, 0, 0 };
	}
}

static void check(const uint8_t *cfg, size_t len)
{
	const char *err = 0;
	unsigned max = PCI_MAX_CAPS;
	unsigned n = pci_caps_parse(cfg, len, caps, max, &err);
	if (n > max)
		__builtin_trap();
	for (unsigned i = 0; i < n; i++) {
		const struct pci_cap *c = &caps[i];
		if (c->off & 3)
			__builtin_trap();
		if (c->ext ? (c->off < PCI_EXT_CAP_START || c->off + 4u > len || c->ver > 15)
			   : (c->off < PCI_HEADER_END || c->off > PCI_CAP_PTR_MASK || c->off + 2u > len ||
			      c->id > 0xFF))
			__builtin_trap();
		for (unsigned j = i + 1; j < n; j++)
			if (caps[j].off == c->off)
				__builtin_trap();   /* a loop got through */
		if (i > 0 && caps[i - 1].ext && !c->ext)
			__builtin_trap();       /* standard list first, then extended */
	}
	if (len < PCI_HEADER_END && (n != 0 || !err))
		__builtin_trap();
	struct pci_bar bars[6];
	bars_from_image(cfg, len, bars);
	struct pci_msi_info msi;
	struct pci_msix_info msix;
	pci_msi_decode(cfg, len, caps, n, &msi, &msix, bars, &err);
	if (msi.present) {
		unsigned need = msi.maskable ? (msi.is64 ? PCI_MSI_CAP_LEN_64_MASK : PCI_MSI_CAP_LEN_32_MASK)
					     : (msi.is64 ? PCI_MSI_CAP_LEN_64 : PCI_MSI_CAP_LEN_32);
		if (msi.off + need > len || msi.off + need > PCI_LEGACY_CFG_SIZE || msi.multi_cap_log2 > PCI_MSI_MMC_MAX)
			__builtin_trap();
	}
	if (msix.valid && (!msix.present || msix.table_size < 1 || msix.table_size > MSIX_MAX_ENTRIES))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > PCI_ECAM_CFG_SIZE)
		return 0;
	uint8_t *cfg = malloc(size ? size : 1);
	if (!cfg)
		return 0;
	memcpy(cfg, data, size);
	fake_hal_console_reset();
	check(cfg, size);
	free(cfg);
	return 0;
}
