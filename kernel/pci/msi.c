/*
 * msi.c — MSI and MSI-X for the PCI interrupt layer: the message aimed at a LAPIC
 * (Intel SDM Vol. 3A §11.11.1 address, §11.11.2 data), MSI with 32/64-bit layouts,
 * multi-message blocks and per-vector masking (PCIe Base 4.0 §7.7.1), MSI-X with the
 * table and PBA in memory BARs and the Function Mask (§7.7.2), and the affinity
 * rewrite of either. The fallback chain that calls these is irq.c.
 */
#include <hal/hal.h>
#include <kernel/errno.h>
#include <kernel/fault.h>
#include <kernel/irq.h>
#include <kernel/log.h>
#include <kernel/pci.h>
#include <kernel/percpu.h>
#include <kernel/smp.h>
#include "msi_priv.h"

int pci_msi_compose(unsigned cpu, uint8_t vector, uint64_t *addr, uint32_t *data)
{
	if (cpu >= HAL_MAX_CPUS || !addr || !data || !cpu_online(cpu))
		return -EINVAL;
	uint32_t id = percpu_of(cpu)->apic_id;
	if (id > MSI_ADDR_DEST_MASK >> MSI_ADDR_DEST_SHIFT)
		return -EINVAL;         /* needs interrupt remapping (VT-d), not here */
	/* Redirection Hint 0 and Destination Mode 0: physical, exactly this LAPIC. */
	*addr = MSI_ADDR_BASE | (id << MSI_ADDR_DEST_SHIFT);
	/* Delivery Mode 000 (fixed), Trigger Mode 0 (edge), Level ignored for edge. */
	*data = MSI_DATA_DELIVERY_FIXED << MSI_DATA_DELIVERY_SHIFT | vector;
	return 0;
}

bool pci_intx_disable(struct pci_dev *d, bool disable)
{
	uint16_t cmd = pci_cfg_read16(&d->addr, PCI_COMMAND);
	bool was = cmd & PCI_COMMAND_INTX_DISABLE;
	if (cmd == 0xFFFF)
		return true;            /* the function is gone: nothing to write */
	if (was != disable)
		pci_cfg_write16(&d->addr, PCI_COMMAND,
				disable ? cmd | PCI_COMMAND_INTX_DISABLE : cmd & ~PCI_COMMAND_INTX_DISABLE);
	return was;
}

void pci_msi_disable_all(struct pci_dev *d)
{
	if (d->msi.present) {
		uint16_t c = pci_cfg_read16(&d->addr, d->msi.off + PCI_MSI_CTRL);
		if (c != 0xFFFF && (c & PCI_MSI_CTRL_ENABLE))
			pci_cfg_write16(&d->addr, d->msi.off + PCI_MSI_CTRL, c & ~PCI_MSI_CTRL_ENABLE);
	}
	if (d->msix.present) {
		uint16_t c = pci_cfg_read16(&d->addr, d->msix.off + PCI_MSIX_CTRL);
		if (c != 0xFFFF && (c & (PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_MASKALL)))
			pci_cfg_write16(&d->addr, d->msix.off + PCI_MSIX_CTRL,
					c & ~(PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_MASKALL));
	}
}

/* ---- MSI-X ------------------------------------------------------------------------ */

static volatile uint32_t *msix_ent(const struct pci_irq *pi, unsigned i)
{
	return pi->msix_table + (size_t)i * MSIX_ENTRY_DW;
}

static void msix_handler(uint8_t vector, void *arg)
{
	(void)vector;
	struct pci_irq_slot *s = arg;
	s->p->fn(s->idx, s->p->arg);
}

static void msix_write_msg(volatile uint32_t *e, uint64_t addr, uint32_t data)
{
	hal_mmio_write32(&e[MSIX_ENT_ADDR_LO], (uint32_t)addr);
	hal_mmio_write32(&e[MSIX_ENT_ADDR_HI], (uint32_t)(addr >> 32));
	hal_mmio_write32(&e[MSIX_ENT_DATA], data);
}

static void msix_set_mask(volatile uint32_t *e, bool mask)
{
	/* Vector Control bits 31:1 are reserved: read-modify-write keeps them. */
	uint32_t v = hal_mmio_read32(&e[MSIX_ENT_CTRL]);
	uint32_t n = mask ? v | MSIX_ENT_CTRL_MASK : v & ~MSIX_ENT_CTRL_MASK;
	if (n != v)
		hal_mmio_write32(&e[MSIX_ENT_CTRL], n);
}

static void msix_ctrl_write(struct pci_dev *d, uint16_t set, uint16_t clear)
{
	uint16_t c = pci_cfg_read16(&d->addr, d->msix.off + PCI_MSIX_CTRL);
	if (c == 0xFFFF)
		return;
	pci_cfg_write16(&d->addr, d->msix.off + PCI_MSIX_CTRL, (uint16_t)((c | set) & ~clear));
}

/* Quiet and forget entries 0..n-1: Function Mask while we work, each entry masked
 * and its message zeroed, then MSI-X Enable and Function Mask both cleared. */
static void msix_quiesce(struct pci_irq *pi, unsigned n)
{
	struct pci_dev *d = pi->dev;
	msix_ctrl_write(d, PCI_MSIX_CTRL_MASKALL, 0);
	for (unsigned i = 0; i < n; i++) {
		volatile uint32_t *e = msix_ent(pi, i);
		msix_set_mask(e, true);
		msix_write_msg(e, 0, 0);
	}
	msix_ctrl_write(d, 0, PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_MASKALL);
}

/* Give back what pci_bar_map mapped for the table and the PBA. */
static void msix_unmap(struct pci_irq *pi)
{
	struct pci_irq_priv *p = pi->priv;
	struct pci_dev *d = pi->dev;
	if (p->msix_table_map)
		hal_mmio_unmap((void *)p->msix_table_map, (size_t)d->bar[d->msix.table_bar].size);
	if (p->msix_pba_map && p->msix_pba_map != p->msix_table_map)
		hal_mmio_unmap((void *)p->msix_pba_map, (size_t)d->bar[d->msix.pba_bar].size);
	pi->msix_table = 0;
	p->msix_pba = 0;
	p->msix_table_map = p->msix_pba_map = 0;
}

/* Why the decoder refused this function's MSI-X. Enumeration keeps the parser's
 * reason as the function's skip reason (stable storage); else a general one. */
static const char *msix_invalid_reason(const struct pci_dev *d)
{
	return d->skipped ? d->skipped : "MSI-X table or PBA not inside an implemented memory BAR";
}

/* Can an MSI name this CPU (online, APIC ID within 8 bits)? */
static bool msix_cpu_reachable(unsigned c)
{
	uint64_t a;
	uint32_t dat;
	return pci_msi_compose(c, VEC_FIRST, &a, &dat) == 0;
}

static int msix_take(struct pci_irq *pi, unsigned i, unsigned c)
{
	struct pci_irq_priv *p = pi->priv;
	p->slot[i] = (struct pci_irq_slot){ p, i };
	return irq_alloc(c, 1, msix_handler, &p->slot[i], &pi->vec[i]);
}

/* Take up to n vectors into pi->vec[0..]: on cpu while it has free ones, then one
 * at a time round-robin (in CPU order, starting after cpu) over the other online
 * CPUs an MSI can reach; a CPU leaves the round when it is full. Returns how many
 * were taken; *rc is the error that stopped it (-ENOSPC: every CPU ran out). */
static unsigned msix_place(struct pci_irq *pi, unsigned n, unsigned cpu, int *rc)
{
	unsigned got = 0;
	*rc = 0;
	while (got < n && (*rc = msix_take(pi, got, cpu)) == 0)
		got++;
	if (got == n || *rc != -ENOSPC)
		return got;
	struct cpumask rest, online;
	smp_online_mask(&online);
	cpumask_clear(&rest);
	for_each_cpu(c, &online)
		if (c != cpu && msix_cpu_reachable(c))
			cpumask_set(&rest, c);
	unsigned prev = cpu;
	while (got < n && !cpumask_empty(&rest)) {
		unsigned c = cpumask_next(&rest, (int)prev);
		if (c >= HAL_MAX_CPUS)
			c = cpumask_next(&rest, -1);    /* wrap around */
		prev = c;
		*rc = msix_take(pi, got, c);
		if (*rc == -ENOSPC) {
			cpumask_unset(&rest, c);        /* full: out of the round */
			continue;
		}
		if (*rc)
			break;
		got++;
	}
	if (got == n)
		*rc = 0;
	return got;
}

int pci_msix_setup(struct pci_irq *pi, unsigned want, unsigned cpu, const char **why)
{
	struct pci_dev *d = pi->dev;
	struct pci_irq_priv *p = pi->priv;
	int rc = -ENOSPC;
	if (!d->msix.present) {
		*why = "no MSI-X capability";
		return -ENODEV;
	}
	if (!d->msix.valid) {
		*why = msix_invalid_reason(d);
		return -EINVAL;
	}
	uint16_t ctrl = pci_cfg_read16(&d->addr, d->msix.off + PCI_MSIX_CTRL);
	unsigned tsize = (ctrl & PCI_MSIX_CTRL_SIZE_MASK) + 1u;
	if (ctrl == 0xFFFF || tsize != d->msix.table_size) {
		*why = "MSI-X Message Control changed since enumeration (device gone?)";
		return -ENODEV;
	}
	unsigned n = want < tsize ? want : tsize;
	if (n > p->nslot)
		n = p->nslot;
	if (!msix_cpu_reachable(cpu)) {
		*why = "the CPU's APIC ID does not fit an MSI address (no interrupt remapping)";
		return -EINVAL;
	}

	volatile uint8_t *tmap = pci_bar_map(d, d->msix.table_bar);
	volatile uint8_t *pmap = d->msix.pba_bar == d->msix.table_bar ? tmap
				 : pci_bar_map(d, d->msix.pba_bar);
	p->msix_table_map = tmap;
	p->msix_pba_map = pmap;
	if (!tmap || !pmap) {
		*why = "cannot map the BAR holding the MSI-X table or PBA";
		rc = -ENOMEM;
		goto out_unmap;
	}
	pi->msix_table = (volatile uint32_t *)(tmap + d->msix.table_off);
	p->msix_pba = (volatile uint32_t *)(pmap + d->msix.pba_off);

	/* One vector per entry, cpu first, then spread; fewer than asked is a grant. */
	unsigned got = msix_place(pi, n, cpu, &rc);
	if (!got) {
		*why = rc == -ENOSPC ? "no free vector on any online CPU" : "vector allocation failed";
		goto out_unmap;
	}
	/* Every message composed once before the function is touched (a CPU could go
	 * away meanwhile only in theory; then nothing has been written yet). */
	uint64_t addr;
	uint32_t data;
	for (unsigned i = 0; i < got; i++) {
		rc = pci_msi_compose(pi->vec[i].cpu, pi->vec[i].vector, &addr, &data);
		if (rc) {
			*why = "the CPU's APIC ID does not fit an MSI address (no interrupt remapping)";
			goto out_free;
		}
	}

	/* Programming order (§7.7.2): MSI off; MSI-X Enable with Function Mask so no
	 * entry can fire half-written; every entry masked (also those beyond what we
	 * use, which stay masked); messages written; then the Function Mask lifted.
	 * Entries stay masked until pci_irq_unmask. */
	if (d->msi.present) {
		uint16_t mc = pci_cfg_read16(&d->addr, d->msi.off + PCI_MSI_CTRL);
		if (mc != 0xFFFF && (mc & PCI_MSI_CTRL_ENABLE))
			pci_cfg_write16(&d->addr, d->msi.off + PCI_MSI_CTRL, mc & ~PCI_MSI_CTRL_ENABLE);
	}
	bool intx_was = pci_intx_disable(d, true);
	msix_ctrl_write(d, PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_MASKALL, 0);
	for (unsigned i = 0; i < tsize; i++)
		msix_set_mask(msix_ent(pi, i), true);
	for (unsigned i = 0; i < got; i++) {
		(void)pci_msi_compose(pi->vec[i].cpu, pi->vec[i].vector, &addr, &data);
		msix_write_msg(msix_ent(pi, i), addr, data);
	}
	msix_ctrl_write(d, 0, PCI_MSIX_CTRL_MASKALL);
	ctrl = pci_cfg_read16(&d->addr, d->msix.off + PCI_MSIX_CTRL);
	/* Fault site: a function whose enable does not stick, so the undo below runs
	 * in tests (docs/pci.md). */
	if (ctrl == 0xFFFF || (ctrl & (PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_MASKALL)) != PCI_MSIX_CTRL_ENABLE ||
	    FAULT_SITE("pci.msix.enable")) {
		*why = "MSI-X Enable did not stick (Message Control reads back wrong)";
		rc = -EIO;
		msix_quiesce(pi, got);
		pci_intx_disable(d, intx_was);
		goto out_free;
	}
	pi->nvec = got;
	return 0;

out_free:
	for (unsigned i = 0; i < got; i++)
		irq_free(&pi->vec[i]);
out_unmap:
	msix_unmap(pi);
	return rc ? rc : -ENOSPC;
}

void pci_msix_teardown(struct pci_irq *pi)
{
	msix_quiesce(pi, pi->nvec);
	for (unsigned i = 0; i < pi->nvec; i++)
		if (pi->vec[i].vector)
			irq_free(&pi->vec[i]);
	msix_unmap(pi);
}

int pci_msix_mask(struct pci_irq *pi, unsigned idx, bool mask)
{
	volatile uint32_t *e = msix_ent(pi, idx);
	if (!mask) {
		/* The message must be in place before the entry is unmasked: these are
		 * uncached writes, delivered in order, and the read flushes them (posted
		 * writes cannot pass a read completion). */
		(void)hal_mmio_read32(&e[MSIX_ENT_DATA]);
	}
	msix_set_mask(e, mask);
	return 0;
}

int pci_msix_pending(struct pci_irq *pi, unsigned idx)
{
	struct pci_irq_priv *p = pi->priv;
	/* §7.7.2: the PBA is read as aligned DWORDs or QWORDs; bit idx of the array. */
	uint32_t w = hal_mmio_read32(&p->msix_pba[idx / 32]);
	return (w >> (idx % 32)) & 1;
}

struct msix_move {
	struct pci_irq *pi;
	unsigned idx;
};

static int msix_reprogram(const struct irq_vec *nh, void *ctx)
{
	struct msix_move *m = ctx;
	uint64_t addr;
	uint32_t data;
	int rc = pci_msi_compose(nh->cpu, nh->vector, &addr, &data);
	if (rc)
		return rc;
	volatile uint32_t *e = msix_ent(m->pi, m->idx);
	bool was_masked = hal_mmio_read32(&e[MSIX_ENT_CTRL]) & MSIX_ENT_CTRL_MASK;
	/* Masked around the rewrite, so no message leaves with half old, half new
	 * fields; one raised meanwhile waits in the PBA and goes out on unmask. */
	msix_set_mask(e, true);
	msix_write_msg(e, addr, data);
	if (!was_masked)
		pci_msix_mask(m->pi, m->idx, false);
	return 0;
}

int pci_msix_set_affinity(struct pci_irq *pi, unsigned idx, unsigned cpu)
{
	struct msix_move m = { pi, idx };
	return irq_set_affinity(&pi->vec[idx], cpu, msix_reprogram, &m);
}

/* ---- MSI -------------------------------------------------------------------------- */

static uint16_t msi_data_off(const struct pci_dev *d)
{
	return d->msi.off + (d->msi.is64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32);
}

static uint16_t msi_mask_off(const struct pci_dev *d)
{
	return d->msi.off + (d->msi.is64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32);
}

static uint16_t msi_pending_off(const struct pci_dev *d)
{
	return d->msi.off + (d->msi.is64 ? PCI_MSI_PENDING_64 : PCI_MSI_PENDING_32);
}

/* Mask bits the function implements: one per vector it offers (the others are
 * reserved, §7.7.1.7). */
static uint32_t msi_impl_bits(const struct pci_dev *d)
{
	unsigned log2 = d->msi.multi_cap_log2 > 5 ? 5 : d->msi.multi_cap_log2;
	return log2 == 5 ? 0xFFFFFFFFu : (1u << (1u << log2)) - 1;
}

static void msi_handler(uint8_t vector, void *arg)
{
	struct pci_irq_slot *s = arg;
	/* The block is aligned to its size, so the message number is the low bits of
	 * the vector, wherever the block lives now (affinity moves it whole). */
	unsigned idx = vector & (s->p->pi->nvec - 1);
	s->p->fn(idx, s->p->arg);
}

static void msi_write_msg(struct pci_dev *d, uint64_t addr, uint32_t data)
{
	pci_cfg_write32(&d->addr, d->msi.off + PCI_MSI_ADDR_LO, (uint32_t)addr);
	if (d->msi.is64)
		pci_cfg_write32(&d->addr, d->msi.off + PCI_MSI_ADDR_HI, (uint32_t)(addr >> 32));
	pci_cfg_write16(&d->addr, msi_data_off(d), (uint16_t)data);
}

int pci_msi_setup(struct pci_irq *pi, unsigned want, unsigned cpu, const char **why)
{
	struct pci_dev *d = pi->dev;
	struct pci_irq_priv *p = pi->priv;
	int rc = -ENOSPC;
	if (!d->msi.present) {
		*why = "no MSI capability";
		return -ENODEV;
	}
	uint16_t ctrl = pci_cfg_read16(&d->addr, d->msi.off + PCI_MSI_CTRL);
	if (ctrl == 0xFFFF) {
		*why = "MSI Message Control reads all ones (device gone?)";
		return -ENODEV;
	}
	unsigned log2 = d->msi.multi_cap_log2;
	if (log2 > 5) {
		klog("pci", "%04x:%02x:%02x.%x: MSI Multiple Message Capable %u is reserved; using 32",
		     d->addr.seg, d->addr.bus, d->addr.dev, d->addr.fn, log2);
		log2 = 5;
	}
	unsigned offered = 1u << log2, count = 1;
	while (count < want && count < offered)
		count <<= 1;
	/* The largest aligned block that fits, down to one vector. */
	p->slot[0] = (struct pci_irq_slot){ p, 0 };
	for (; count >= 1; count >>= 1) {
		rc = irq_alloc(cpu, count, msi_handler, &p->slot[0], &pi->vec[0]);
		if (rc != -ENOSPC)
			break;
	}
	if (rc) {
		*why = rc == -ENOSPC ? "no free vector on the CPU" : "vector allocation failed";
		return rc;
	}
	uint64_t addr;
	uint32_t data;
	if ((rc = pci_msi_compose(cpu, pi->vec[0].vector, &addr, &data)) != 0) {
		*why = "the CPU's APIC ID does not fit an MSI address (no interrupt remapping)";
		goto out_free;
	}
	if (!d->msi.is64 && (addr >> 32)) {
		*why = "32-bit MSI cannot reach the message address";
		rc = -EINVAL;
		goto out_free;
	}
	unsigned mme = 0;
	while ((1u << mme) < count)
		mme++;
	pi->nvec = count;           /* before Enable: the handler reads it */

	/* Order (§7.7.1): MSI-X off, MSI off while the message is written, every
	 * vector masked when the function can, Multiple Message Enable, Enable last. */
	if (d->msix.present)
		msix_ctrl_write(d, 0, PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_MASKALL);
	bool intx_was = pci_intx_disable(d, true);
	ctrl &= (uint16_t)~PCI_MSI_CTRL_ENABLE;
	pci_cfg_write16(&d->addr, d->msi.off + PCI_MSI_CTRL, ctrl);
	uint32_t mask_was = 0;
	if (d->msi.maskable) {
		mask_was = pci_cfg_read32(&d->addr, msi_mask_off(d));
		pci_cfg_write32(&d->addr, msi_mask_off(d), mask_was | msi_impl_bits(d));
	}
	msi_write_msg(d, addr, data);
	ctrl = (uint16_t)((ctrl & ~(PCI_MSI_CTRL_MM_MASK << PCI_MSI_CTRL_MME_SHIFT)) |
			  (mme << PCI_MSI_CTRL_MME_SHIFT));
	pci_cfg_write16(&d->addr, d->msi.off + PCI_MSI_CTRL, ctrl);
	pci_cfg_write16(&d->addr, d->msi.off + PCI_MSI_CTRL, ctrl | PCI_MSI_CTRL_ENABLE);
	uint16_t back = pci_cfg_read16(&d->addr, d->msi.off + PCI_MSI_CTRL);
	if (back == 0xFFFF || !(back & PCI_MSI_CTRL_ENABLE) ||
	    ((back >> PCI_MSI_CTRL_MME_SHIFT) & PCI_MSI_CTRL_MM_MASK) != mme || FAULT_SITE("pci.msi.enable")) {
		*why = "MSI Enable or Multiple Message Enable did not stick";
		rc = -EIO;
		pci_cfg_write16(&d->addr, d->msi.off + PCI_MSI_CTRL,
				ctrl & ~(PCI_MSI_CTRL_ENABLE | (PCI_MSI_CTRL_MM_MASK << PCI_MSI_CTRL_MME_SHIFT)));
		if (d->msi.maskable)
			pci_cfg_write32(&d->addr, msi_mask_off(d), mask_was);
		msi_write_msg(d, 0, 0);
		pci_intx_disable(d, intx_was);
		pi->nvec = 0;
		goto out_free;
	}
	return 0;

out_free:
	irq_free(&pi->vec[0]);
	return rc;
}

void pci_msi_teardown(struct pci_irq *pi)
{
	struct pci_dev *d = pi->dev;
	uint16_t ctrl = pci_cfg_read16(&d->addr, d->msi.off + PCI_MSI_CTRL);
	if (ctrl != 0xFFFF) {
		if (d->msi.maskable)
			pci_cfg_write32(&d->addr, msi_mask_off(d),
					pci_cfg_read32(&d->addr, msi_mask_off(d)) | msi_impl_bits(d));
		pci_cfg_write16(&d->addr, d->msi.off + PCI_MSI_CTRL,
				ctrl & ~(PCI_MSI_CTRL_ENABLE | (PCI_MSI_CTRL_MM_MASK << PCI_MSI_CTRL_MME_SHIFT)));
		msi_write_msg(d, 0, 0);
	}
	if (pi->vec[0].vector)
		irq_free(&pi->vec[0]);
}

int pci_msi_mask(struct pci_irq *pi, unsigned idx, bool mask)
{
	struct pci_dev *d = pi->dev;
	if (!d->msi.maskable)
		return mask ? -EOPNOTSUPP : 0;  /* live since allocation; nothing to unmask */
	uint32_t m = pci_cfg_read32(&d->addr, msi_mask_off(d));
	uint32_t n = mask ? m | (1u << idx) : m & ~(1u << idx);
	if (n != m)
		pci_cfg_write32(&d->addr, msi_mask_off(d), n);
	return 0;
}

int pci_msi_pending(struct pci_irq *pi, unsigned idx)
{
	struct pci_dev *d = pi->dev;
	if (!d->msi.maskable)
		return -EOPNOTSUPP;     /* no Pending Bits register without masking */
	return (pci_cfg_read32(&d->addr, msi_pending_off(d)) >> idx) & 1;
}

static int msi_reprogram(const struct irq_vec *nh, void *ctx)
{
	struct pci_irq *pi = ctx;
	struct pci_dev *d = pi->dev;
	uint64_t addr;
	uint32_t data;
	int rc = pci_msi_compose(nh->cpu, nh->vector, &addr, &data);
	if (rc)
		return rc;
	if (d->msi.maskable) {
		/* Every vector masked while address and data change; a message raised
		 * meanwhile is held pending and sent, to the new place, on unmask. */
		uint32_t was = pci_cfg_read32(&d->addr, msi_mask_off(d));
		pci_cfg_write32(&d->addr, msi_mask_off(d), was | msi_impl_bits(d));
		msi_write_msg(d, addr, data);
		pci_cfg_write32(&d->addr, msi_mask_off(d), was);
	} else {
		/* Cannot mask: a message in the instant between the address and the data
		 * write may reach the new CPU with the old vector (docs/pci.md). */
		msi_write_msg(d, addr, data);
	}
	return 0;
}

int pci_msi_set_affinity(struct pci_irq *pi, unsigned cpu)
{
	return irq_set_affinity(&pi->vec[0], cpu, msi_reprogram, pi);
}
