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

	if (off + len > PCI_LEGACY_CFG_SIZE)
		return 0;                       /* desc_error keeps descriptions far from this */
	cb->f->cfg[cb->link] = (uint8_t)off;
	cb->f->cfg[off + PCI_CAP_LIST_ID] = id;
	cb->f->cfg[off + PCI_CAP_LIST_NEXT] = 0;
	cb->link = off + PCI_CAP_LIST_NEXT;
	cb->next = (off + len + 0xF) & ~0xFu;
	cfg_put(cb->f->cfg, PCI_STATUS, 2, cfg_get(cb->f->cfg, PCI_STATUS, 2) | PCI_STATUS_CAP_LIST);
	return off;
}

static void build_msi(struct capb *cb)
{
	struct pci_model_fn *f = cb->f;
	const struct pci_model_desc *d = &f->d;
	unsigned len = d->msi_maskable ? (d->msi_64 ? PCI_MSI_CAP_LEN_64_MASK : PCI_MSI_CAP_LEN_32_MASK) :
	               (d->msi_64 ? PCI_MSI_CAP_LEN_64 : PCI_MSI_CAP_LEN_32);
	unsigned off = cap_add(cb, PCI_CAP_ID_MSI, len), data, mask;
	uint32_t nvec = 1u << d->msi_multi_log2;

	if (!off)
		return;
	f->msi_cap = (uint16_t)off;
	put(f, off + PCI_MSI_CTRL, 2, (uint32_t)d->msi_multi_log2 << PCI_MSI_CTRL_MMC_SHIFT |
	    (d->msi_64 ? PCI_MSI_CTRL_64BIT : 0) | (d->msi_maskable ? PCI_MSI_CTRL_MASKABLE : 0),
	    PCI_MSI_CTRL_ENABLE | PCI_MSI_CTRL_MM_MASK << PCI_MSI_CTRL_MME_SHIFT, 0);
	put(f, off + PCI_MSI_ADDR_LO, 4, 0, PCI_MSI_ADDR_LO_MASK, 0);   /* bits 1:0 hardwired 0 */
	if (d->msi_64)
		put(f, off + PCI_MSI_ADDR_HI, 4, 0, 0xFFFFFFFFu, 0);
	data = off + (d->msi_64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32);
	put(f, data, 2, 0, 0xFFFF, 0);      /* Extended Message Data not offered */
	if (d->msi_maskable) {
		mask = off + (d->msi_64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32);
		/* Mask bits exist for the vectors offered; the rest are reserved (RO 0). */
		put(f, mask, 4, 0, nvec == 32 ? 0xFFFFFFFFu : (1u << nvec) - 1, 0);
		put(f, off + (d->msi_64 ? PCI_MSI_PENDING_64 : PCI_MSI_PENDING_32), 4, 0, 0, 0); /* RO, set by the model */
	}
}

static void build_msix(struct capb *cb)
{
	struct pci_model_fn *f = cb->f;
	const struct pci_model_desc *d = &f->d;
	unsigned off = cap_add(cb, PCI_CAP_ID_MSIX, PCI_MSIX_CAP_LEN);

	if (!off)
		return;
	f->msix_cap = (uint16_t)off;
	put(f, off + PCI_MSIX_CTRL, 2, (uint32_t)(d->msix_table_size - 1) & PCI_MSIX_CTRL_SIZE_MASK,
	    PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_MASKALL, 0);
	put(f, off + PCI_MSIX_TABLE, 4, d->msix_table_off | d->msix_table_bar, 0, 0);
	put(f, off + PCI_MSIX_PBA, 4, d->msix_pba_off | d->msix_pba_bar, 0, 0);
}

static void build_exp(struct capb *cb, unsigned type)
{
	struct pci_model_fn *f = cb->f;
	unsigned off = cap_add(cb, PCI_CAP_ID_EXP, PCI_EXP_CAP_LEN);
	bool rp = type == PCI_EXP_TYPE_ROOT_PORT;

	if (!off)
		return;
	f->exp_cap = (uint16_t)off;
	/* Version 2, the port type. */
	put(f, off + PCI_EXP_FLAGS, 2, PCI_EXP_FLAGS_VERS_2 | type << PCI_EXP_FLAGS_TYPE_SHIFT, 0, 0);
	put(f, off + PCI_EXP_DEVCAP, 4, PCI_EXP_DEVCAP_RBER, 0, 0);   /* 128-byte MPS, RBER */
	/* Relaxed Ordering and No Snoop on, 512-byte reads; root ports: FLR bit is BCRE, RW. */
	put(f, off + PCI_EXP_DEVCTL, 2, PCI_EXP_DEVCTL_READRQ_512B | PCI_EXP_DEVCTL_NOSNOOP_EN |
	    PCI_EXP_DEVCTL_RELAX_EN, rp ? 0xFFFF : 0xFFFF & ~PCI_EXP_DEVCTL_BCR_FLR, 0);
	put(f, off + PCI_EXP_DEVSTA, 2, 0, 0, PCI_EXP_DEVSTA_ERR_BITS);
	/* 2.5 GT/s, x1, this device's number as the port number; root ports report DLL Active. */
	put(f, off + PCI_EXP_LNKCAP, 4, (rp ? PCI_EXP_LNKCAP_DLLLARC : 0) | PCI_EXP_LNKCAP_SLS_2_5GT |
	    1u << PCI_EXP_LNKCAP_MLW_SHIFT | (uint32_t)f->dev << PCI_EXP_LNKCAP_PN_SHIFT, 0, 0);
	put(f, off + PCI_EXP_LNKCTL, 2, 0, PCI_EXP_LNKCTL_ASPM_MASK | PCI_EXP_LNKCTL_RCB |
	    PCI_EXP_LNKCTL_CCC | PCI_EXP_LNKCTL_ES, 0);
	put(f, off + PCI_EXP_LNKSTA, 2, PCI_EXP_LNKSTA_CLS_2_5GT | 1u << PCI_EXP_LNKSTA_NLW_SHIFT |
	    (rp ? PCI_EXP_LNKSTA_DLLLA : 0), 0, 0);
	put(f, off + PCI_EXP_LNKCAP2, 4, PCI_EXP_LNKCAP2_SLS_2_5GT, 0, 0);
	put(f, off + PCI_EXP_LNKCTL2, 2, PCI_EXP_LNKCTL2_TLS_2_5GT, PCI_EXP_LNKCTL2_TLS_MASK, 0);
}

static void build_aer(struct pci_model_fn *f)
{
	const uint32_t unc = 0x03FFF030u, cor = 0x0000F1C1u;

	const unsigned a = PCI_EXT_CAP_START;

	/* Version 1, last in the list. */
	put(f, a, 4, PCI_EXT_CAP_ID_AER | 1u << PCI_EXT_CAP_VER_SHIFT, 0, 0);
	put(f, a + PCI_ERR_UNCOR_STATUS, 4, 0, 0, unc);
	put(f, a + PCI_ERR_UNCOR_MASK, 4, 0, unc, 0);
	put(f, a + PCI_ERR_UNCOR_SEVER, 4, 0x00062030u, unc, 0);    /* the reset default */
	put(f, a + PCI_ERR_COR_STATUS, 4, 0, 0, cor);
	put(f, a + PCI_ERR_COR_MASK, 4, 0x00002000u, cor, 0);       /* Advisory Non-Fatal masked */
}

void pcim_cfg_build(struct pci_model_fn *f)
{
	const struct pci_model_desc *d = &f->d;
	struct capb cb = { .f = f, .link = PCI_CAP_PTR, .next = PCI_HEADER_END };
	uint32_t cmd_w = PCI_COMMAND_MASTER | PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE;
	bool bridge = f->kind == FN_BRIDGE;

	put(f, PCI_VENDOR_ID, 2, d->vendor, 0, 0);
	put(f, PCI_DEVICE_ID, 2, d->device, 0, 0);
	put(f, PCI_REVISION, 1, d->revision, 0, 0);
	put(f, PCI_CLASS_PROG, 3, d->class_code, 0, 0);
	put(f, PCI_STATUS, 2, 0, 0, PCI_STATUS_ERR_BITS);
	put(f, PCI_CACHE_LINE_SIZE, 1, 0, 0xFF, 0);
	put(f, PCI_HEADER_TYPE, 1, bridge ? PCI_HEADER_BRIDGE : PCI_HEADER_NORMAL, 0, 0);
	put(f, PCI_INTERRUPT_LINE, 1, 0xFF, 0xFF, 0);
	put(f, PCI_INTERRUPT_PIN, 1, d->irq_pin, 0, 0);

	if (bridge) {
		cmd_w |= PCI_COMMAND_IO | PCI_COMMAND_MEM;
		put(f, PCI_PRIMARY_BUS, 1, 0, 0xFF, 0);
		put(f, PCI_SECONDARY_BUS, 1, 0, 0xFF, 0);
		put(f, PCI_SUBORDINATE_BUS, 1, 0, 0xFF, 0);
		put(f, PCI_IO_BASE, 1, 0, PCI_IO_RANGE_MASK, 0);      /* 16-bit I/O decode */
		put(f, PCI_IO_LIMIT, 1, 0, PCI_IO_RANGE_MASK, 0);
		/* Same RW1C bits as Status; bit 14 is Received System Error here. */
		put(f, PCI_SEC_STATUS, 2, 0, 0, PCI_STATUS_ERR_BITS);
		put(f, PCI_MEMORY_BASE, 2, 0, PCI_MEMORY_RANGE_MASK, 0);
		put(f, PCI_MEMORY_LIMIT, 2, 0, PCI_MEMORY_RANGE_MASK, 0);
		/* a 64-bit prefetchable window */
		put(f, PCI_PREF_MEMORY_BASE, 2, PCI_PREF_RANGE_TYPE_64, PCI_MEMORY_RANGE_MASK, 0);
		put(f, PCI_PREF_MEMORY_LIMIT, 2, PCI_PREF_RANGE_TYPE_64, PCI_MEMORY_RANGE_MASK, 0);
		put(f, PCI_PREF_BASE_UPPER32, 4, 0, 0xFFFFFFFFu, 0);
		put(f, PCI_PREF_LIMIT_UPPER32, 4, 0, 0xFFFFFFFFu, 0);
		put(f, PCI_BRIDGE_CONTROL, 2, 0, 0x007F, 0);
		build_exp(&cb, PCI_EXP_TYPE_ROOT_PORT);
		{
			unsigned off = cap_add(&cb, PCI_CAP_ID_SSVID, PCI_SSVID_LEN);
			if (off) {
				put(f, off + PCI_SSVID_VENDOR, 2, d->subsys_vendor, 0, 0);
				put(f, off + PCI_SSVID_DEVICE, 2, d->subsys_id, 0, 0);
			}
		}
	} else {
		for (unsigned i = 0; i < 6; i++) {
			const struct pci_model_bar_desc *b = &d->bar[i];
			unsigned off = PCI_BAR0 + 4 * i;
			uint64_t m = ~(b->size - 1);
			if (!b->size)
				continue;
			if (b->flags & PCI_MODEL_BAR_IO) {
				cmd_w |= PCI_COMMAND_IO;
				put(f, off, 4, PCI_BAR_IO_SPACE, (uint32_t)m & PCI_BAR_IO_MASK, 0);
				continue;
			}
			cmd_w |= PCI_COMMAND_MEM;
			put(f, off, 4, ((b->flags & PCI_MODEL_BAR_MEM64) ? (PCI_BAR_MEM_TYPE_64 << PCI_BAR_MEM_TYPE_SHIFT) : 0) |
			    ((b->flags & PCI_MODEL_BAR_PREFETCH) ? PCI_BAR_MEM_PREFETCH : 0),
			    (uint32_t)m & PCI_BAR_MEM_MASK, 0);
			if (b->flags & PCI_MODEL_BAR_MEM64) {
				put(f, off + 4, 4, 0, (uint32_t)(m >> 32), 0);
				i++;
			}
		}
		put(f, PCI_SUBSYS_VENDOR, 2, d->subsys_vendor, 0, 0);
		put(f, PCI_SUBSYS_ID, 2, d->subsys_id, 0, 0);
		if (d->msi)
			build_msi(&cb);
		if (d->msix)
			build_msix(&cb);
		if (d->pcie) {
			build_exp(&cb, PCI_EXP_TYPE_ENDPOINT);
			build_aer(f);
		}
	}
	put(f, PCI_COMMAND, 2, 0, cmd_w, 0);
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
		old_msi_ctrl = cfg_get(f->cfg, f->msi_cap + PCI_MSI_CTRL, 2);
		if (old_msi_ctrl & PCI_MSI_CTRL_MASKABLE)
			old_msi_mask = cfg_get(f->cfg, f->msi_cap + ((old_msi_ctrl & PCI_MSI_CTRL_64BIT) ?
			                                             PCI_MSI_MASK_64 : PCI_MSI_MASK_32), 4);
	}
	if (f->msix_cap)
		old_msix_ctrl = (uint16_t)cfg_get(f->cfg, f->msix_cap + PCI_MSIX_CTRL, 2);
	if (bridge)
		old_bctl = (uint16_t)cfg_get(f->cfg, PCI_BRIDGE_CONTROL, 2);

	for (unsigned i = 0; i < size; i++) {
		unsigned o = off + i;
		uint8_t b = (uint8_t)(v >> (8 * i));
		uint8_t nv = (uint8_t)((f->cfg[o] & ~f->wmask[o]) | (b & f->wmask[o]));
		f->cfg[o] = (uint8_t)(nv & ~(b & f->w1c[o]));
	}

	if (f->msi_cap && touches(off, size, f->msi_cap + PCI_MSI_CTRL, f->msi_cap + PCI_MSI_CTRL + 2)) {
		uint32_t c = cfg_get(f->cfg, f->msi_cap + PCI_MSI_CTRL, 2);
		unsigned mmc = (c >> PCI_MSI_CTRL_MMC_SHIFT) & PCI_MSI_CTRL_MM_MASK;
		unsigned mme = (c >> PCI_MSI_CTRL_MME_SHIFT) & PCI_MSI_CTRL_MM_MASK;
		if (mme > mmc) {
			/* PCIe 4.0 §7.7.1.2: software must not enable more than offered. */
			pcim_log(f, "MSI Multiple Message Enable %u > Capable %u: kept at %u", mme, mmc, mmc);
			c = (c & ~(PCI_MSI_CTRL_MM_MASK << PCI_MSI_CTRL_MME_SHIFT)) | mmc << PCI_MSI_CTRL_MME_SHIFT;
			cfg_put(f->cfg, f->msi_cap + PCI_MSI_CTRL, 2, c);
		}
	}
	if (bridge && touches(off, size, PCI_BRIDGE_CONTROL, PCI_BRIDGE_CONTROL + 2)) {
		uint16_t c = (uint16_t)cfg_get(f->cfg, PCI_BRIDGE_CONTROL, 2);
		if ((c & PCI_BRIDGE_CTL_SEC_BUS_RESET) && !(old_bctl & PCI_BRIDGE_CTL_SEC_BUS_RESET))
			pcim_log(f, "Secondary Bus Reset set: not modelled, the devices below keep "
			         "their state");
	}
	if (touches(off, size, PCI_COMMAND, PCI_COMMAND + 2) ||
	    (!bridge && touches(off, size, PCI_BAR0, PCI_BAR0 + 6 * 4)) ||
	    (bridge && touches(off, size, PCI_PRIMARY_BUS, PCI_PREF_LIMIT_UPPER32 + 4)))
		pcim_decode_update();
	if (touches(off, size, PCI_COMMAND, PCI_COMMAND + 2))
		pcim_intx_update(f);
	if (f->msi_cap && touches(off, size, f->msi_cap, f->msi_cap + PCI_MSI_CAP_LEN_64_MASK))
		pcim_msi_after_write(f, off, size, old_msi_ctrl, old_msi_mask);
	if (f->msix_cap && touches(off, size, f->msix_cap + PCI_MSIX_CTRL, f->msix_cap + PCI_MSIX_CTRL + 2))
		pcim_msix_after_ctrl_write(f, old_msix_ctrl);
}

/* ---- BAR decode ------------------------------------------------------------------------------- */

uint64_t pcim_bar_addr(const struct pci_model_fn *f, unsigned i)
{
	uint32_t lo = cfg_get(f->cfg, PCI_BAR0 + 4 * i, 4);

	if (f->d.bar[i].flags & PCI_MODEL_BAR_IO)
		return lo & PCI_BAR_IO_MASK;
	if (f->d.bar[i].flags & PCI_MODEL_BAR_MEM64)
		return (lo & PCI_BAR_MEM_MASK) | (uint64_t)cfg_get(f->cfg, PCI_BAR0 + 4 * i + 4, 4) << 32;
	return lo & PCI_BAR_MEM_MASK;
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
		uint32_t cmd = cfg_get(c, PCI_COMMAND, 2);
		if (io) {
			uint64_t lo = (uint64_t)(c[PCI_IO_BASE] & PCI_IO_RANGE_MASK) << PCI_IO_RANGE_SHIFT;
			uint64_t hi = ((uint64_t)(c[PCI_IO_LIMIT] & PCI_IO_RANGE_MASK) << PCI_IO_RANGE_SHIFT) |
			              (PCI_IO_WINDOW_GRAN - 1);
			if (!(cmd & PCI_COMMAND_IO) || !inside(base, len, lo, hi))
				return false;
		} else {
			const uint64_t rm = PCI_MEMORY_RANGE_MASK, gran = PCI_MEMORY_WINDOW_GRAN;
			const unsigned sh = PCI_MEMORY_RANGE_SHIFT;
			uint64_t mlo = (cfg_get(c, PCI_MEMORY_BASE, 2) & rm) << sh;
			uint64_t mhi = ((cfg_get(c, PCI_MEMORY_LIMIT, 2) & rm) << sh) | (gran - 1);
			uint64_t plo = ((cfg_get(c, PCI_PREF_MEMORY_BASE, 2) & rm) << sh) |
			               (uint64_t)cfg_get(c, PCI_PREF_BASE_UPPER32, 4) << 32;
			uint64_t phi = ((cfg_get(c, PCI_PREF_MEMORY_LIMIT, 2) & rm) << sh) | (gran - 1) |
			               (uint64_t)cfg_get(c, PCI_PREF_LIMIT_UPPER32, 4) << 32;
			if (!(cmd & PCI_COMMAND_MEM) || !(inside(base, len, mlo, mhi) || inside(base, len, plo, phi)))
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
	uint32_t cmd = cfg_get(f->cfg, PCI_COMMAND, 2);

	if (!b->size || f->vanished || f->kind == FN_BRIDGE)
		return false;
	*io = (b->flags & PCI_MODEL_BAR_IO) != 0;
	if (!(cmd & (*io ? PCI_COMMAND_IO : PCI_COMMAND_MEM)))
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
