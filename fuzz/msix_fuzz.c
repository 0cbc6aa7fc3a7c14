/*
 * msix_fuzz.c — fuzz target for MSI-X table/PBA placement (pci_msi_decode in
 * kernel/pci/caps.c, PCIe 4.0 §7.7.2) as LLVMFuzzerTestOneInput. Input: six BAR
 * descriptions of 9 bytes each (kind byte: bits 1:0 none/io/mem32/mem64, bit 2
 * prefetchable; then the size as u64 little-endian), then a config-space image.
 * Invariants: a valid MSI-X table and PBA lie inside implemented memory BARs, the
 * upper half of a 64-bit BAR is never used, and the two do not overlap.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <kernel/pci.h>
#include "fake_hal.h"

#include <hw/pci/config.h>
#include <hw/pci/msi.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BAR_DESC 9

static struct pci_cap caps[PCI_MAX_CAPS];

static bool mem(const struct pci_bar *b)
{
	return (b->kind == PCI_BAR_MEM32 || b->kind == PCI_BAR_MEM64) && b->size != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 6 * BAR_DESC || size - 6 * BAR_DESC > PCI_ECAM_CFG_SIZE)
		return 0;
	struct pci_bar bars[6];
	for (unsigned i = 0; i < 6; i++) {
		const uint8_t *p = data + i * BAR_DESC;
		uint64_t sz;
		memcpy(&sz, p + 1, 8);
		bars[i] = (struct pci_bar){ (enum pci_bar_kind)(p[0] & 3), (p[0] >> 2) & 1, 0, sz };
	}
	/* Keep the BAR array self-consistent: the slot after a 64-bit BAR is its upper half. */
	for (unsigned i = 0; i < 6; i++)
		if (bars[i].kind == PCI_BAR_MEM64) {
			if (i == 5)
				bars[i].kind = PCI_BAR_MEM32;
			else
				bars[++i] = (struct pci_bar){ PCI_BAR_NONE, false, 0, 0 };
		}
	size_t len = size - 6 * BAR_DESC;
	uint8_t *cfg = malloc(len ? len : 1);
	if (!cfg)
		return 0;
	memcpy(cfg, data + 6 * BAR_DESC, len);
	fake_hal_console_reset();
	const char *err = 0;
	unsigned n = pci_caps_parse(cfg, len, caps, PCI_MAX_CAPS, &err);
	struct pci_msi_info msi;
	struct pci_msix_info x;
	err = 0;
	pci_msi_decode(cfg, len, caps, n, &msi, &x, bars, &err);
	if (x.valid) {
		if (!x.present || x.table_size < 1 || x.table_size > MSIX_MAX_ENTRIES || x.table_bar > 5 || x.pba_bar > 5)
			__builtin_trap();
		const struct pci_bar *tb = &bars[x.table_bar], *pb = &bars[x.pba_bar];
		if (!mem(tb) || !mem(pb))
			__builtin_trap();
		uint64_t tlen = (uint64_t)x.table_size * PCI_MSIX_ENTRY_SIZE, plen = pci_msix_pba_bytes(x.table_size);
		if ((uint64_t)x.table_off + tlen > tb->size || (uint64_t)x.pba_off + plen > pb->size)
			__builtin_trap();
		if ((x.table_off & PCI_MSIX_BIR_MASK) || (x.pba_off & PCI_MSIX_BIR_MASK))
			__builtin_trap();
		if (x.table_bar == x.pba_bar && x.table_off < x.pba_off + plen && x.pba_off < x.table_off + tlen)
			__builtin_trap();
	} else if (x.present && !err) {
		__builtin_trap();           /* an unusable MSI-X capability must say why (err is
		                             * shared with MSI, whose fault may be the one named) */
	}
	free(cfg);
	return 0;
}
