/*
 * pci_cfg.c — config-space semantics of the model's functions: the type 0 and type 1
 * headers (PCI Local Bus 3.0 §6.2, PCI-to-PCI Bridge 1.2 §3.2) with read-only,
 * read-write and write-1-to-clear bits, BAR size masks (§6.2.5.1), the capability
 * list built from the description (MSI and MSI-X: PCIe Base 4.0 §7.7.1-§7.7.2;
 * PCI Express: §7.5.3; AER: §7.8.4; Bridge Subsystem ID: Bridge 1.2 §3.2.5.x), and
 * BAR decode: a BAR is claimed on the sim bus only while the command register,
 * the BAR and every bridge window above it say so.
 */
#include "pci/pci_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"

/* ---- building a function's config space -------------------------------------------------- */

static void put(struct pci_model_fn *f, unsigned off, unsigned size, uint32_t val, uint32_t wmask,
                uint32_t w1c)
{
	cfg_put(f->cfg, off, size, val);
	cfg_put(f->wmask, off, size, wmask);
	cfg_put(f->w1c, off, size, w1c);
}

struct capb {
	struct pci_model_fn *f;
	unsigned link;                      /* where the next pointer goes */
	unsigned next;                      /* first free offset */
};

static unsigned cap_add(struct capb *cb, uint8_t id, unsigned len)
{
	unsigned off = cb->next;

	if (off + len > 0x100)
		return 0;                       /* desc_error keeps descriptions far from this */
	cb->f->cfg[cb->link] = (uint8_t)off;
	cb->f->cfg[off] = id;
	cb->f->cfg[off + 1] = 0;
	cb->link = off + 1;
	cb->next = (off + len + 0xF) & ~0xFu;
	cfg_put(cb->f->cfg, CFG_STATUS, 2, cfg_get(cb->f->cfg, CFG_STATUS, 2) | STS_CAP_LIST);
	return off;
}

static void build_msi(struct capb *cb)
{
	struct pci_model_fn *f = cb->f;
	const struct pci_model_desc *d = &f->d;
	unsigned len = (d->msi_64 ? 0x0E : 0x0A) + (d->msi_maskable ? 0x0A : 0);
	unsigned off = cap_add(cb, CAP_ID_MSI, len), data, mask;
	uint32_t nvec = 1u << d->msi_multi_log2;

	if (!off)
		return;
	f->msi_cap = (uint16_t)off;
	put(f, off + MSI_CTRL, 2, (uint32_t)d->msi_multi_log2 << MSI_CTRL_MMC_SHIFT |
	    (d->msi_64 ? MSI_CTRL_64BIT : 0) | (d->msi_maskable ? MSI_CTRL_MASKABLE : 0),
	    MSI_CTRL_ENABLE | 7u << MSI_CTRL_MME_SHIFT, 0);
	put(f, off + MSI_ADDR_LO, 4, 0, 0xFFFFFFFCu, 0);   /* bits 1:0 hardwired 0 */
	if (d->msi_64)
		put(f, off + 0x08, 4, 0, 0xFFFFFFFFu, 0);
	data = off + (d->msi_64 ? 0x0C : 0x08);
	put(f, data, 2, 0, 0xFFFF, 0);      /* Extended Message Data not offered */
	if (d->msi_maskable) {
		mask = data + 4;
		/* Mask bits exist for the vectors offered; the rest are reserved (RO 0). */
		put(f, mask, 4, 0, nvec == 32 ? 0xFFFFFFFFu : (1u << nvec) - 1, 0);
		put(f, mask + 4, 4, 0, 0, 0);   /* Pending Bits: RO, set by the model */
	}
}

static void build_msix(struct capb *cb)
{
	struct pci_model_fn *f = cb->f;
	const struct pci_model_desc *d = &f->d;
	unsigned off = cap_add(cb, CAP_ID_MSIX, 0x0C);

	if (!off)
		return;
	f->msix_cap = (uint16_t)off;
	put(f, off + MSIX_CTRL, 2, (uint32_t)(d->msix_table_size - 1) & MSIX_CTRL_SIZE_MASK,
	    MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL, 0);
	put(f, off + MSIX_TABLE, 4, d->msix_table_off | d->msix_table_bar, 0, 0);
	put(f, off + MSIX_PBA, 4, d->msix_pba_off | d->msix_pba_bar, 0, 0);
}

static void build_exp(struct capb *cb, unsigned type)
{
	struct pci_model_fn *f = cb->f;
	unsigned off = cap_add(cb, CAP_ID_EXP, EXP_LEN);
	bool rp = type == EXP_TYPE_ROOT_PORT;

	if (!off)
		return;
	f->exp_cap = (uint16_t)off;
	put(f, off + 0x02, 2, 0x0002 | type << 4, 0, 0);         /* version 2, port type */
	put(f, off + 0x04, 4, 1u << 15, 0, 0);                   /* DevCap: 128B MPS, RBER */
	put(f, off + 0x08, 2, 0x2810, rp ? 0xFFFF : 0x7FFF, 0);  /* DevCtl: RO, NS, MRRS 512B */
	put(f, off + 0x0A, 2, 0, 0, 0x000F);                     /* DevSta: error bits RW1C */
	put(f, off + 0x0C, 4, (rp ? 1u << 20 : 0) | 0x11u | (uint32_t)f->dev << 24, 0, 0);
	put(f, off + 0x10, 2, 0, 0x00CB, 0);                     /* LnkCtl: ASPM, RCB, CCC, ES */
	put(f, off + 0x12, 2, 0x0011 | (rp ? 1u << 13 : 0), 0, 0); /* 2.5 GT/s x1 (DLL active) */
	put(f, off + 0x2C, 4, 0x2, 0, 0);                        /* LnkCap2: 2.5 GT/s */
	put(f, off + 0x30, 2, 0x1, 0x000F, 0);                   /* LnkCtl2: target speed */
}

static void build_aer(struct pci_model_fn *f)
{
	const uint32_t unc = 0x03FFF030u, cor = 0x0000F1C1u;

	put(f, 0x100, 4, ECAP_ID_AER | 1u << 16, 0, 0);          /* version 1, last in the list */
	put(f, 0x104, 4, 0, 0, unc);                             /* Uncorrectable Status RW1CS */
	put(f, 0x108, 4, 0, unc, 0);                             /* Uncorrectable Mask */
	put(f, 0x10C, 4, 0x00062030u, unc, 0);                   /* Uncorrectable Severity */
	put(f, 0x110, 4, 0, 0, cor);                             /* Correctable Status RW1CS */
	put(f, 0x114, 4, 0x00002000u, cor, 0);                   /* Correctable Mask */
}

void pcim_cfg_build(struct pci_model_fn *f)
{
	const struct pci_model_desc *d = &f->d;
	struct capb cb = { .f = f, .link = CFG_CAP_PTR, .next = 0x40 };
	uint32_t cmd_w = CMD_MASTER | CMD_PARITY | CMD_SERR | CMD_INTX_DISABLE;
	bool bridge = f->kind == FN_BRIDGE;

	put(f, CFG_VENDOR, 2, d->vendor, 0, 0);
	put(f, CFG_DEVICE, 2, d->device, 0, 0);
	put(f, CFG_REVISION, 1, d->revision, 0, 0);
	put(f, CFG_CLASS, 3, d->class_code, 0, 0);
	put(f, CFG_STATUS, 2, 0, 0, STS_RW1C);
	put(f, CFG_CACHE_LINE, 1, 0, 0xFF, 0);
	put(f, CFG_HEADER_TYPE, 1, bridge ? 1 : 0, 0, 0);
	put(f, CFG_INT_LINE, 1, 0xFF, 0xFF, 0);
	put(f, CFG_INT_PIN, 1, d->irq_pin, 0, 0);

	if (bridge) {
		cmd_w |= CMD_IO | CMD_MEM;
		put(f, CFG_PRIMARY_BUS, 1, 0, 0xFF, 0);
		put(f, CFG_SECONDARY_BUS, 1, 0, 0xFF, 0);
		put(f, CFG_SUBORDINATE_BUS, 1, 0, 0xFF, 0);
		put(f, CFG_IO_BASE, 1, 0, 0xF0, 0);             /* 16-bit I/O decode */
		put(f, CFG_IO_LIMIT, 1, 0, 0xF0, 0);
		put(f, CFG_SEC_STATUS, 2, 0, 0, STS_RW1C | (1u << 14));
		put(f, CFG_MEM_BASE, 2, 0, 0xFFF0, 0);
		put(f, CFG_MEM_LIMIT, 2, 0, 0xFFF0, 0);
		put(f, CFG_PREF_BASE, 2, 0x1, 0xFFF0, 0);       /* 64-bit prefetchable window */
		put(f, CFG_PREF_LIMIT, 2, 0x1, 0xFFF0, 0);
		put(f, CFG_PREF_BASE_UPPER, 4, 0, 0xFFFFFFFFu, 0);
		put(f, CFG_PREF_LIMIT_UPPER, 4, 0, 0xFFFFFFFFu, 0);
		put(f, CFG_BRIDGE_CONTROL, 2, 0, 0x007F, 0);
		build_exp(&cb, EXP_TYPE_ROOT_PORT);
		{
			unsigned off = cap_add(&cb, CAP_ID_SSVID, 8);
			if (off) {
				put(f, off + 4, 2, d->subsys_vendor, 0, 0);
				put(f, off + 6, 2, d->subsys_id, 0, 0);
			}
		}
	} else {
		for (unsigned i = 0; i < 6; i++) {
			const struct pci_model_bar_desc *b = &d->bar[i];
			unsigned off = CFG_BAR0 + 4 * i;
			uint64_t m = ~(b->size - 1);
			if (!b->size)
				continue;
			if (b->flags & PCI_MODEL_BAR_IO) {
				cmd_w |= CMD_IO;
				put(f, off, 4, BAR_IO_SPACE, (uint32_t)m & 0xFFFFFFFCu, 0);
				continue;
			}
			cmd_w |= CMD_MEM;
			put(f, off, 4, ((b->flags & PCI_MODEL_BAR_MEM64) ? BAR_MEM_TYPE_64 : 0) |
			    ((b->flags & PCI_MODEL_BAR_PREFETCH) ? BAR_MEM_PREFETCH : 0),
			    (uint32_t)m & 0xFFFFFFF0u, 0);
			if (b->flags & PCI_MODEL_BAR_MEM64) {
				put(f, off + 4, 4, 0, (uint32_t)(m >> 32), 0);
				i++;
			}
		}
		put(f, CFG_SUBSYS_VENDOR, 2, d->subsys_vendor, 0, 0);
		put(f, CFG_SUBSYS_ID, 2, d->subsys_id, 0, 0);
		if (d->msi)
			build_msi(&cb);
		if (d->msix)
			build_msix(&cb);
		if (d->pcie) {
			build_exp(&cb, EXP_TYPE_ENDPOINT);
			build_aer(f);
		}
	}
	put(f, CFG_COMMAND, 2, 0, cmd_w, 0);
	for (unsigned i = 0; i < 6; i++) {
		f->bar[i].f = f;
		f->bar[i].idx = i;
	}
}

/* ---- reads and writes ------------------------------------------------------------------------ */

uint32_t pcim_cfg_read(struct pci_model_fn *f, unsigned off, unsigned size, bool count)
{
	if (f->vanished)
		return size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
	if (count && f->hostile == PCI_HOSTILE_VANISH && ++f->cfg_reads > PCI_MODEL_VANISH_READS) {
		f->vanished = true;
		pcim_log(f, "hostile: vanishes after %u config reads: everything reads all ones now",
		         PCI_MODEL_VANISH_READS);
		pcim_decode_update();
		return size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
	}
	return cfg_get(f->cfg, off, size);
}

static bool touches(unsigned off, unsigned size, unsigned lo, unsigned hi)
{
	return off < hi && lo < off + size;
}

void pcim_cfg_write(struct pci_model_fn *f, unsigned off, unsigned size, uint32_t v)
{
	uint32_t old_msi_ctrl = 0, old_msi_mask = 0;
	uint16_t old_msix_ctrl = 0, old_bctl = 0;
	bool bridge = f->kind == FN_BRIDGE;

	if (f->vanished)
		return;
	if (f->msi_cap) {
		old_msi_ctrl = cfg_get(f->cfg, f->msi_cap + MSI_CTRL, 2);
		if (old_msi_ctrl & MSI_CTRL_MASKABLE)
			old_msi_mask = cfg_get(f->cfg, f->msi_cap + ((old_msi_ctrl & MSI_CTRL_64BIT) ?
			                                             0x10 : 0x0C), 4);
	}
	if (f->msix_cap)
		old_msix_ctrl = (uint16_t)cfg_get(f->cfg, f->msix_cap + MSIX_CTRL, 2);
	if (bridge)
		old_bctl = (uint16_t)cfg_get(f->cfg, CFG_BRIDGE_CONTROL, 2);

	for (unsigned i = 0; i < size; i++) {
		unsigned o = off + i;
		uint8_t b = (uint8_t)(v >> (8 * i));
		uint8_t nv = (uint8_t)((f->cfg[o] & ~f->wmask[o]) | (b & f->wmask[o]));
		f->cfg[o] = (uint8_t)(nv & ~(b & f->w1c[o]));
	}

	if (f->msi_cap && touches(off, size, f->msi_cap + MSI_CTRL, f->msi_cap + MSI_CTRL + 2)) {
		uint32_t c = cfg_get(f->cfg, f->msi_cap + MSI_CTRL, 2);
		unsigned mmc = (c >> MSI_CTRL_MMC_SHIFT) & 7, mme = (c >> MSI_CTRL_MME_SHIFT) & 7;
		if (mme > mmc) {
			/* PCIe 4.0 §7.7.1.2: software must not enable more than offered. */
			pcim_log(f, "MSI Multiple Message Enable %u > Capable %u: kept at %u", mme, mmc, mmc);
			c = (c & ~(7u << MSI_CTRL_MME_SHIFT)) | mmc << MSI_CTRL_MME_SHIFT;
			cfg_put(f->cfg, f->msi_cap + MSI_CTRL, 2, c);
		}
	}
	if (bridge && touches(off, size, CFG_BRIDGE_CONTROL, CFG_BRIDGE_CONTROL + 2)) {
		uint16_t c = (uint16_t)cfg_get(f->cfg, CFG_BRIDGE_CONTROL, 2);
		if ((c & BCTL_SEC_BUS_RESET) && !(old_bctl & BCTL_SEC_BUS_RESET))
			pcim_log(f, "Secondary Bus Reset set: not modelled, the devices below keep "
			         "their state");
	}
	if (touches(off, size, CFG_COMMAND, CFG_COMMAND + 2) ||
	    (!bridge && touches(off, size, CFG_BAR0, CFG_BAR0 + 24)) ||
	    (bridge && touches(off, size, CFG_PRIMARY_BUS, CFG_PREF_LIMIT_UPPER + 4)))
		pcim_decode_update();
	if (touches(off, size, CFG_COMMAND, CFG_COMMAND + 2))
		pcim_intx_update(f);
	if (f->msi_cap && touches(off, size, f->msi_cap, f->msi_cap + 0x18))
		pcim_msi_after_write(f, off, size, old_msi_ctrl, old_msi_mask);
	if (f->msix_cap && touches(off, size, f->msix_cap + MSIX_CTRL, f->msix_cap + MSIX_CTRL + 2))
		pcim_msix_after_ctrl_write(f, old_msix_ctrl);
}

/* ---- BAR decode ------------------------------------------------------------------------------- */

uint64_t pcim_bar_addr(const struct pci_model_fn *f, unsigned i)
{
	uint32_t lo = cfg_get(f->cfg, CFG_BAR0 + 4 * i, 4);

	if (f->d.bar[i].flags & PCI_MODEL_BAR_IO)
		return lo & ~3u;
	if (f->d.bar[i].flags & PCI_MODEL_BAR_MEM64)
		return (lo & ~0xFull) | (uint64_t)cfg_get(f->cfg, CFG_BAR0 + 4 * i + 4, 4) << 32;
	return lo & ~0xFull;
}

struct pci_model_fn *pcim_upstream_bridge(const struct pci_model_fn *f)
{
	return pci_fab.bus[f->bus_index].bridge;
}

static bool inside(uint64_t base, uint64_t len, uint64_t lo, uint64_t hi)
{
	return lo <= hi && base >= lo && base + len - 1 <= hi && base + len - 1 >= base;
}

bool pcim_path_forwards(const struct pci_model_fn *f, uint64_t base, uint64_t len, bool io)
{
	for (const struct pci_model_fn *br = pcim_upstream_bridge(f); br; br = pcim_upstream_bridge(br)) {
		const uint8_t *c = br->cfg;
		uint32_t cmd = cfg_get(c, CFG_COMMAND, 2);
		if (io) {
			uint64_t lo = (uint64_t)(c[CFG_IO_BASE] & 0xF0) << 8;
			uint64_t hi = ((uint64_t)(c[CFG_IO_LIMIT] & 0xF0) << 8) | 0xFFF;
			if (!(cmd & CMD_IO) || !inside(base, len, lo, hi))
				return false;
		} else {
			uint64_t mlo = (uint64_t)(cfg_get(c, CFG_MEM_BASE, 2) & 0xFFF0) << 16;
			uint64_t mhi = ((uint64_t)(cfg_get(c, CFG_MEM_LIMIT, 2) & 0xFFF0) << 16) | 0xFFFFF;
			uint64_t plo = ((uint64_t)(cfg_get(c, CFG_PREF_BASE, 2) & 0xFFF0) << 16) |
			               (uint64_t)cfg_get(c, CFG_PREF_BASE_UPPER, 4) << 32;
			uint64_t phi = ((uint64_t)(cfg_get(c, CFG_PREF_LIMIT, 2) & 0xFFF0) << 16) | 0xFFFFF |
			               (uint64_t)cfg_get(c, CFG_PREF_LIMIT_UPPER, 4) << 32;
			if (!(cmd & CMD_MEM) || !(inside(base, len, mlo, mhi) || inside(base, len, plo, phi)))
				return false;
		}
	}
	return true;
}

static uint64_t bar_bus_read(void *ctx, uint64_t off, unsigned size)
{
	struct fn_bar *b = ctx;
	struct pci_model_fn *f = b->f;
	uint64_t v;
	bool gone;

	pthread_mutex_lock(&pci_fab.lock);
	gone = !b->mapped || f->vanished;
	if (!gone && pcim_msix_table_access(f, b->idx, off, size, false, &v)) {
		pthread_mutex_unlock(&pci_fab.lock);
		return v;
	}
	pthread_mutex_unlock(&pci_fab.lock);
	if (gone)
		return ~0ull;
	if (!f->d.bar_read) {
		pcim_log(f, "BAR%u read at 0x%llx: the model has no registers there (all ones)", b->idx,
		         (unsigned long long)off);
		return ~0ull;
	}
	return f->d.bar_read(f->d.ctx, b->idx, off, size);
}

static void bar_bus_write(void *ctx, uint64_t off, unsigned size, uint64_t v)
{
	struct fn_bar *b = ctx;
	struct pci_model_fn *f = b->f;
	bool gone;

	pthread_mutex_lock(&pci_fab.lock);
	gone = !b->mapped || f->vanished;
	if (!gone && pcim_msix_table_access(f, b->idx, off, size, true, &v)) {
		pthread_mutex_unlock(&pci_fab.lock);
		return;
	}
	pthread_mutex_unlock(&pci_fab.lock);
	if (gone)
		return;
	if (!f->d.bar_write) {
		pcim_log(f, "BAR%u write at 0x%llx: the model has no registers there (dropped)", b->idx,
		         (unsigned long long)off);
		return;
	}
	f->d.bar_write(f->d.ctx, b->idx, off, size, v);
}

static bool bar_wanted(const struct pci_model_fn *f, unsigned i, uint64_t *base, bool *io)
{
	const struct pci_model_bar_desc *b = &f->d.bar[i];
	uint32_t cmd = cfg_get(f->cfg, CFG_COMMAND, 2);

	if (!b->size || f->vanished || f->kind == FN_BRIDGE)
		return false;
	*io = (b->flags & PCI_MODEL_BAR_IO) != 0;
	if (!(cmd & (*io ? CMD_IO : CMD_MEM)))
		return false;
	*base = pcim_bar_addr(f, i);
	if (*base == 0)                     /* unassigned */
		return false;
	return pcim_path_forwards(f, *base, b->size, *io);
}

static void bar_unmap(struct fn_bar *b)
{
	const struct model_bus *bus = pci_fab.mbus;

	if (b->io)
		bus->pio_release(bus->ctx, (uint16_t)b->base);
	else
		bus->mmio_release(bus->ctx, b->base);
	b->mapped = false;
}

void pcim_decode_update(void)
{
	const struct model_bus *bus = pci_fab.mbus;

	/* Unclaim everything that moved or stopped decoding first, so two BARs that
	 * swap places can both be claimed again. */
	for (unsigned n = 0; n < pci_fab.nfns; n++) {
		struct pci_model_fn *f = pci_fab.fns[n];
		for (unsigned i = 0; i < 6; i++) {
			struct fn_bar *b = &f->bar[i];
			uint64_t base = 0;
			bool io = false, want = bar_wanted(f, i, &base, &io);
			if (b->mapped && (!want || base != b->base || io != b->io))
				bar_unmap(b);
		}
	}
	for (unsigned n = 0; n < pci_fab.nfns; n++) {
		struct pci_model_fn *f = pci_fab.fns[n];
		for (unsigned i = 0; i < 6; i++) {
			struct fn_bar *b = &f->bar[i];
			uint64_t base = 0, len = f->d.bar[i].size;
			bool io = false;
			int err;
			if (b->mapped || !bar_wanted(f, i, &base, &io))
				continue;
			if (io)
				err = base + len <= 0x10000 ?
				      bus->pio_claim(bus->ctx, (uint16_t)base, (uint32_t)len, bar_bus_read,
				                     bar_bus_write, b) : -EINVAL;
			else
				err = bus->mmio_claim(bus->ctx, base, len, bar_bus_read, bar_bus_write, b);
			if (err) {
				pcim_log(f, "BAR%u %s 0x%llx size 0x%llx cannot decode (%s): not claimed",
				         i, io ? "io" : "mem", (unsigned long long)base,
				         (unsigned long long)len,
				         err == -EBUSY ? "overlaps another device" : "outside the address space");
				continue;
			}
			b->mapped = true;
			b->io = io;
			b->base = base;
			b->len = len;
		}
	}
}

void pcim_unmap_all(void)
{
	for (unsigned n = 0; n < pci_fab.nfns; n++)
		for (unsigned i = 0; i < 6; i++)
			if (pci_fab.fns[n]->bar[i].mapped)
				bar_unmap(&pci_fab.fns[n]->bar[i]);
}
