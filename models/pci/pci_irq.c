/*
 * pci_irq.c — interrupts of the model's functions: MSI (PCIe Base 4.0 §7.7.1:
 * multiple message enable, per-vector mask and pending bits), MSI-X (§7.7.2: the
 * table and PBA inside a memory BAR, function mask, vector mask, pending bit sent on
 * unmask), and INTx (PCI Local Bus 3.0 §6.2.2-§6.2.3: Interrupt Disable, Interrupt
 * Status; pins swizzled through bridges, PCI-to-PCI Bridge 1.2 §9.1). MSI and MSI-X
 * are memory writes: they need Bus Master Enable (PCIe 4.0 §7.5.1.1.3).
 */
#include "pci/pci_internal.h"

/* ---- helpers --------------------------------------------------------------------------------- */

static uint32_t cmd_of(const struct pci_model_fn *f)
{
	return cfg_get(f->cfg, PCI_COMMAND, 2);
}

static uint32_t msi_ctrl(const struct pci_model_fn *f)
{
	return f->msi_cap ? cfg_get(f->cfg, f->msi_cap + PCI_MSI_CTRL, 2) : 0;
}

static bool msi_on(const struct pci_model_fn *f)
{
	return (msi_ctrl(f) & PCI_MSI_CTRL_ENABLE) != 0;
}

static uint16_t msix_ctrl(const struct pci_model_fn *f)
{
	return f->msix_cap ? (uint16_t)cfg_get(f->cfg, f->msix_cap + PCI_MSIX_CTRL, 2) : 0;
}

static bool msix_on(const struct pci_model_fn *f)
{
	return (msix_ctrl(f) & PCI_MSIX_CTRL_ENABLE) != 0;
}

static unsigned msi_data_off(const struct pci_model_fn *f)
{
	return f->msi_cap + ((msi_ctrl(f) & PCI_MSI_CTRL_64BIT) ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32);
}

static unsigned msi_mask_off(const struct pci_model_fn *f)
{
	return f->msi_cap + ((msi_ctrl(f) & PCI_MSI_CTRL_64BIT) ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32);
}

static unsigned msi_pending_off(const struct pci_model_fn *f)
{
	return f->msi_cap + ((msi_ctrl(f) & PCI_MSI_CTRL_64BIT) ? PCI_MSI_PENDING_64 : PCI_MSI_PENDING_32);
}

static uint32_t *msix_entry(struct pci_model_fn *f, unsigned i)
{
	return &f->msix_table[(size_t)i * MSIX_ENTRY_DW];
}

static unsigned msi_enabled_vectors(const struct pci_model_fn *f)
{
	return 1u << ((msi_ctrl(f) >> PCI_MSI_CTRL_MME_SHIFT) & PCI_MSI_CTRL_MM_MASK);
}

unsigned pcim_gsi(const struct pci_model_fn *f)
{
	unsigned pin = f->d.irq_pin;
	const struct pci_model_fn *cur = f, *br;

	/* Bridge 1.2 §9.1: INTx of device D behind a bridge appears on the bridge's
	 * primary side as pin ((pin - 1 + D) mod 4) + 1. */
	while ((br = pcim_upstream_bridge(cur)) != NULL) {
		pin = ((pin - 1 + cur->dev) % 4) + 1;
		cur = br;
	}
	/* Root bus routing, as pci_model_firmware programs the Interrupt Line. */
	return PCI_MODEL_GSI_BASE + ((cur->dev + pin - 1) % 4);
}

/* A memory write of one message; false when the function may not master. */
static bool send(struct pci_model_fn *f, uint64_t addr, uint32_t data, const char *what,
                 unsigned idx)
{
	if (!(cmd_of(f) & PCI_COMMAND_MASTER)) {
		pcim_log(f, "%s vector %u not sent: Bus Master Enable is 0 (MSI/MSI-X are memory "
		         "writes, PCIe 4.0 §7.5.1.1.3)", what, idx);
		return false;
	}
	pci_fab.mbus->msi(pci_fab.mbus->ctx, addr, data);
	return true;
}

/* ---- INTx ---------------------------------------------------------------------------------- */

void pcim_intx_update(struct pci_model_fn *f)
{
	bool want = f->intx_state && f->d.irq_pin && !f->vanished &&
	            !(cmd_of(f) & PCI_COMMAND_INTX_DISABLE) && !msi_on(f) && !msix_on(f);
	unsigned g;

	if (want == f->intx_driven)
		return;
	f->intx_driven = want;
	g = pcim_gsi(f) - PCI_MODEL_GSI_BASE;
	/* Shared lines are wired-OR and active low (PCI 3.0 §2.2.6): the GSI input is low
	 * while any source drives it. */
	if (want) {
		if (pci_fab.gsi_count[g]++ == 0)
			pci_fab.mbus->set_gsi(pci_fab.mbus->ctx, PCI_MODEL_GSI_BASE + g, false);
	} else {
		if (--pci_fab.gsi_count[g] == 0)
			pci_fab.mbus->set_gsi(pci_fab.mbus->ctx, PCI_MODEL_GSI_BASE + g, true);
	}
}

static void intx_status(struct pci_model_fn *f, bool on)
{
	uint32_t s = cfg_get(f->cfg, PCI_STATUS, 2);

	f->intx_state = on;
	cfg_put(f->cfg, PCI_STATUS, 2, on ? s | PCI_STATUS_INTX : s & ~PCI_STATUS_INTX);
}

/* ---- MSI ----------------------------------------------------------------------------------- */

static bool msi_fire(struct pci_model_fn *f, unsigned idx)
{
	uint32_t ctrl = msi_ctrl(f), n = msi_enabled_vectors(f);
	uint64_t addr = cfg_get(f->cfg, f->msi_cap + PCI_MSI_ADDR_LO, 4);
	uint32_t data = cfg_get(f->cfg, msi_data_off(f), 2);

	if (ctrl & PCI_MSI_CTRL_64BIT)
		addr |= (uint64_t)cfg_get(f->cfg, f->msi_cap + PCI_MSI_ADDR_HI, 4) << 32;
	if ((data & (n - 1)) && !f->warned_msi_data) {
		f->warned_msi_data = true;
		pcim_log(f, "MSI data 0x%04x has low bits set under %u enabled vectors: the function "
		         "replaces them with the vector number (PCIe 4.0 §7.7.1.5)", data, n);
	}
	return send(f, addr, (data & ~(n - 1)) | idx, "MSI", idx);
}

/* Send every pending vector that is no longer masked. */
static void msi_release(struct pci_model_fn *f)
{
	unsigned mo = msi_mask_off(f), po = msi_pending_off(f), n = msi_enabled_vectors(f);
	uint32_t mask, pend;

	if (!msi_on(f) || !(msi_ctrl(f) & PCI_MSI_CTRL_MASKABLE))
		return;
	mask = cfg_get(f->cfg, mo, 4);
	pend = cfg_get(f->cfg, po, 4);
	for (unsigned i = 0; i < n; i++)
		if ((pend & ~mask & (1u << i)) && msi_fire(f, i))
			pend &= ~(1u << i);
	cfg_put(f->cfg, po, 4, pend);
}

void pcim_msi_after_write(struct pci_model_fn *f, unsigned off, unsigned size, uint32_t old_ctrl,
                          uint32_t old_mask)
{
	(void)off;
	(void)size;
	(void)old_mask;
	if ((old_ctrl ^ msi_ctrl(f)) & PCI_MSI_CTRL_ENABLE) {
		if (msi_on(f) && msix_on(f))
			pcim_log(f, "MSI enabled while MSI-X is enabled (PCIe 4.0 §7.7: undefined); "
			         "the function uses MSI-X");
		pcim_intx_update(f);
	}
	msi_release(f);
}

/* ---- MSI-X ------------------------------------------------------------------------------------ */

static bool msix_fire(struct pci_model_fn *f, unsigned i)
{
	const uint32_t *e = msix_entry(f, i);

	return send(f, (uint64_t)e[MSIX_ENT_ADDR_HI] << 32 | e[MSIX_ENT_ADDR_LO], e[MSIX_ENT_DATA], "MSI-X", i);
}

static void msix_release(struct pci_model_fn *f, unsigned i)
{
	uint64_t bit = 1ull << (i % 64);

	if (!msix_on(f) || (msix_ctrl(f) & PCI_MSIX_CTRL_MASKALL) ||
	    (msix_entry(f, i)[MSIX_ENT_CTRL] & MSIX_ENT_CTRL_MASK) || !(f->msix_pba[i / 64] & bit))
		return;
	if (msix_fire(f, i))
		f->msix_pba[i / 64] &= ~bit;
}

void pcim_msix_after_ctrl_write(struct pci_model_fn *f, uint16_t old_ctrl)
{
	uint16_t c = msix_ctrl(f);

	if ((old_ctrl ^ c) & PCI_MSIX_CTRL_ENABLE) {
		if (msi_on(f) && msix_on(f))
			pcim_log(f, "MSI-X enabled while MSI is enabled (PCIe 4.0 §7.7: undefined); "
			         "the function uses MSI-X");
		pcim_intx_update(f);
	}
	if ((c & PCI_MSIX_CTRL_ENABLE) && !(c & PCI_MSIX_CTRL_MASKALL))
		for (unsigned i = 0; i < f->d.msix_table_size; i++)
			msix_release(f, i);
}

static void msix_entry_write(struct pci_model_fn *f, unsigned e, unsigned w, uint32_t v)
{
	uint32_t *t = msix_entry(f, e);
	bool was_masked = t[MSIX_ENT_CTRL] & MSIX_ENT_CTRL_MASK;

	if (w < MSIX_ENT_CTRL && !was_masked && msix_on(f) && !(msix_ctrl(f) & PCI_MSIX_CTRL_MASKALL) &&
	    !f->warned_live_msix) {
		f->warned_live_msix = true;
		pcim_log(f, "MSI-X entry %u: address/data written while the vector is unmasked "
		         "(PCIe 4.0 §7.7.2: undefined result; mask it first)", e);
	}
	switch (w) {
	case MSIX_ENT_ADDR_LO: t[w] = v & PCI_MSI_ADDR_LO_MASK; break;  /* bits 1:0 are 0 */
	case MSIX_ENT_ADDR_HI: t[w] = v; break;
	case MSIX_ENT_DATA: t[w] = v; break;
	default:
		t[MSIX_ENT_CTRL] = v & MSIX_ENT_CTRL_MASK;  /* bits 31:1 reserved */
		if (was_masked && !(v & MSIX_ENT_CTRL_MASK))
			msix_release(f, e);
		break;
	}
}

bool pcim_msix_table_access(struct pci_model_fn *f, unsigned bar, uint64_t off, unsigned size,
                            bool write, uint64_t *v)
{
	const struct pci_model_desc *d = &f->d;
	uint64_t tlen, plen;

	if (!f->msix_table)
		return false;
	tlen = (uint64_t)d->msix_table_size * PCI_MSIX_ENTRY_SIZE;
	plen = pci_msix_pba_bytes(d->msix_table_size);
	if (bar == d->msix_table_bar && off >= d->msix_table_off && off < d->msix_table_off + tlen) {
		uint64_t rel = off - d->msix_table_off;
		unsigned e = (unsigned)(rel / PCI_MSIX_ENTRY_SIZE), w = (unsigned)(rel % PCI_MSIX_ENTRY_SIZE) / 4;
		if ((size != 4 && size != 8) || (rel & (size - 1))) {
			pcim_log(f, "%u-byte %s of MSI-X table offset 0x%llx: only aligned DWORD/QWORD "
			         "accesses are defined (PCIe 4.0 §7.7.2)", size, write ? "write" : "read",
			         (unsigned long long)rel);
			if (!write)
				*v = ~0ull;
			return true;
		}
		if (!write) {
			*v = msix_entry(f, e)[w];
			if (size == 8)
				*v |= (uint64_t)msix_entry(f, e)[w + 1] << 32;
			return true;
		}
		for (unsigned k = 0; k < size / 4; k++)
			msix_entry_write(f, e, w + k, (uint32_t)(*v >> (32 * k)));
		return true;
	}
	if (bar == d->msix_pba_bar && off >= d->msix_pba_off && off < d->msix_pba_off + plen) {
		uint64_t rel = off - d->msix_pba_off;
		if ((size != 4 && size != 8) || (rel & (size - 1)) || write) {
			pcim_log(f, "%u-byte %s of MSI-X PBA offset 0x%llx: the PBA is read-only, aligned "
			         "DWORD/QWORD reads (PCIe 4.0 §7.7.2)", size, write ? "write" : "read",
			         (unsigned long long)rel);
			if (!write)
				*v = ~0ull;
			return true;
		}
		*v = f->msix_pba[rel / 8];
		if (size == 4)
			*v = (uint32_t)(*v >> ((rel & 4) ? 32 : 0));
		return true;
	}
	return false;
}

/* ---- the device side ----------------------------------------------------------------------------- */

bool pci_model_msix_enabled(struct pci_model_fn *f)
{
	bool on;

	pthread_mutex_lock(&pci_fab.lock);
	on = !f->vanished && msix_on(f);
	pthread_mutex_unlock(&pci_fab.lock);
	return on;
}

unsigned pci_model_msi_vectors(struct pci_model_fn *f)
{
	unsigned n = 0;

	pthread_mutex_lock(&pci_fab.lock);
	if (!f->vanished && !msix_on(f) && msi_on(f))
		n = msi_enabled_vectors(f);
	pthread_mutex_unlock(&pci_fab.lock);
	return n;
}

bool pci_model_irq_raise(struct pci_model_fn *f, unsigned idx)
{
	bool sent = false;

	pthread_mutex_lock(&pci_fab.lock);
	if (f->vanished)
		goto out;
	if (msix_on(f)) {
		if (idx >= f->d.msix_table_size) {
			pcim_log(f, "MSI-X vector %u raised: the table has %u entries (not sent)", idx,
			         f->d.msix_table_size);
		} else if ((msix_ctrl(f) & PCI_MSIX_CTRL_MASKALL) ||
		           (msix_entry(f, idx)[MSIX_ENT_CTRL] & MSIX_ENT_CTRL_MASK)) {
			f->msix_pba[idx / 64] |= 1ull << (idx % 64);
		} else {
			sent = msix_fire(f, idx);
		}
	} else if (msi_on(f)) {
		unsigned n = msi_enabled_vectors(f);
		if (idx >= n) {
			pcim_log(f, "MSI vector %u raised with %u enabled (not sent)", idx, n);
		} else if ((msi_ctrl(f) & PCI_MSI_CTRL_MASKABLE) &&
		           (cfg_get(f->cfg, msi_mask_off(f), 4) & (1u << idx))) {
			unsigned po = msi_pending_off(f);
			cfg_put(f->cfg, po, 4, cfg_get(f->cfg, po, 4) | 1u << idx);
		} else {
			sent = msi_fire(f, idx);
		}
	} else if (f->d.irq_pin) {
		bool was = f->intx_driven;
		intx_status(f, true);
		pcim_intx_update(f);
		sent = f->intx_driven && !was;
	} else {
		pcim_log(f, "interrupt %u raised with MSI and MSI-X disabled and no INTx pin", idx);
	}
out:
	pthread_mutex_unlock(&pci_fab.lock);
	return sent;
}

void pci_model_irq_lower(struct pci_model_fn *f)
{
	pthread_mutex_lock(&pci_fab.lock);
	intx_status(f, false);
	pcim_intx_update(f);
	pthread_mutex_unlock(&pci_fab.lock);
}
