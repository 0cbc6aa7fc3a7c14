/*
 * ahci_hba.c — the AHCI driver's HBA side and PCI glue (AHCI 1.3.1 §2.1: class
 * 01:06:01, ABAR in BAR5): BIOS/OS handoff where CAP2.BOH (§10.6.3), HBA reset
 * with its timeout (GHC.HR, §10.4.3), AHCI enable, ports implemented, an MSI vector
 * per port where the HBA grants them (§3.1.2 MRSM), else one MSI or INTx for the
 * HBA (or polling), interrupt status cleared PxIS before IS
 * (§10.7.2.1), the lines the driver prints, its public API and the orderly
 * shutdown at the end of the run.
 */
#include "ahci_int.h"
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/cmdline.h>
#include <kernel/driver.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/log.h>
#include <kernel/printf.h>
#include <kernel/string.h>
#include <kernel/time.h>
#include <hw/pci/config.h>

struct ahci_hba *ahci_hbas[AHCI_MAX_HBA];
unsigned ahci_nhba;
struct ahci_port *ahci_disks[AHCI_MAX_DISKS];
unsigned ahci_ndisks;

uint32_t ahci_rd(struct ahci_hba *h, uint32_t off)
{
	return hal_mmio_read32(h->abar + off);
}

void ahci_wr(struct ahci_hba *h, uint32_t off, uint32_t v)
{
	hal_mmio_write32(h->abar + off, v);
}

uint32_t ahci_prd(struct ahci_port *pt, uint32_t reg)
{
	return hal_mmio_read32(pt->regs + reg);
}

void ahci_pwr(struct ahci_port *pt, uint32_t reg, uint32_t v)
{
	hal_mmio_write32(pt->regs + reg, v);
}

int ahci_port_wait(struct ahci_port *pt, uint32_t reg, uint32_t mask, uint32_t want, uint64_t ms)
{
	uint64_t deadline = time_now_ns() + ms * 1000000ull;
	for (;;) {
		if ((ahci_prd(pt, reg) & mask) == want)
			return 0;
		if (time_now_ns() > deadline)
			return -ETIMEDOUT;
		udelay(10);
	}
}

static int hba_wait(struct ahci_hba *h, uint32_t reg, uint32_t mask, uint32_t want, uint64_t ms)
{
	uint64_t deadline = time_now_ns() + ms * 1000000ull;
	for (;;) {
		if ((ahci_rd(h, reg) & mask) == want)
			return 0;
		if (time_now_ns() > deadline)
			return -ETIMEDOUT;
		udelay(100);
	}
}

static unsigned irq_allow(void)
{
	const char *m = cmdline_get("ahci.irq");
	if (!m || !kstrcmp(m, "msi"))
		return PCI_IRQ_ALLOW_MSI | PCI_IRQ_ALLOW_INTX | PCI_IRQ_ALLOW_POLL;
	if (!kstrcmp(m, "intx"))
		return PCI_IRQ_ALLOW_INTX | PCI_IRQ_ALLOW_POLL;
	if (!kstrcmp(m, "poll"))
		return PCI_IRQ_ALLOW_POLL;
	klog("ahci", "ahci.irq=%s is not msi, intx or poll: allowing all three", m);
	return PCI_IRQ_ALLOW_MSI | PCI_IRQ_ALLOW_INTX | PCI_IRQ_ALLOW_POLL;
}

/* Clear an idle port's status (not ours to handle) so a level line drops. */
static void clear_idle_port(struct ahci_hba *h, unsigned p)
{
	struct ahci_port tmp = { .regs = h->abar + AHCI_PORT(p) };
	ahci_pwr(&tmp, AHCI_PxIS, ahci_prd(&tmp, AHCI_PxIS));
	ahci_wr(h, AHCI_IS, 1u << p);
}

/* The HBA's interrupt. Per-port MSI: vector idx is port idx's alone (§3.1.2); its
 * PxIS is read and cleared, then its IS bit. Otherwise one vector for the HBA:
 * every port with IS set, PxIS read and cleared first, then its IS bit (inside
 * ahci_port_service), AHCI §10.7.2.1. */
static void hba_irq(unsigned idx, void *arg)
{
	struct ahci_hba *h = arg;
	if (idx < AHCI_MAX_PORTS)
		atomic_fetch_add64(&h->vec_irqs[idx], 1, MO_RELAXED);
	if (h->per_port) {
		atomic_fetch_add64(&h->irqs, 1, MO_RELAXED);
		if (idx < AHCI_MAX_PORTS && h->port[idx])
			ahci_port_service(h->port[idx]);
		else if (idx < AHCI_MAX_PORTS && (ahci_rd(h, AHCI_IS) & (1u << idx)))
			clear_idle_port(h, idx);
		return;
	}
	uint32_t is = ahci_rd(h, AHCI_IS);
	if (!is || is == 0xFFFFFFFFu) {
		/* a shared INTx line (another function's), or the HBA fell off the bus */
		atomic_fetch_add64(&h->not_ours, 1, MO_RELAXED);
		return;
	}
	atomic_fetch_add64(&h->irqs, 1, MO_RELAXED);
	for (unsigned p = 0; p < AHCI_MAX_PORTS; p++) {
		if (!(is & (1u << p)))
			continue;
		if (h->port[p])
			ahci_port_service(h->port[p]);
		else
			clear_idle_port(h, p);
	}
}

/* Vectors to ask for: one per port up to the highest implemented one, rounded up to
 * the power of two MSI grants in (§3.1.2: port i uses message i), or 1. */
static unsigned irq_want(uint32_t pi)
{
	unsigned top = pi ? 32u - (unsigned)__builtin_clz(pi) : 1u, want = 1;
	while (want < top)
		want <<= 1;
	return want;
}

/* §10.6.3: take the HBA from the firmware when it says it shares it. */
static void bios_handoff(struct ahci_hba *h)
{
	if (!(h->cap2 & AHCI_CAP2_BOH))
		return;
	uint32_t bohc = ahci_rd(h, AHCI_BOHC);
	ahci_wr(h, AHCI_BOHC, bohc | AHCI_BOHC_OOS);
	if (hba_wait(h, AHCI_BOHC, AHCI_BOHC_BOS, 0, AHCI_BOH_WAIT_MS) == 0 &&
	    !(ahci_rd(h, AHCI_BOHC) & AHCI_BOHC_BB))
		return;
	if (hba_wait(h, AHCI_BOHC, AHCI_BOHC_BOS | AHCI_BOHC_BB, 0, AHCI_BOH_BUSY_WAIT_MS))
		klog("ahci", "%s: firmware still owns the HBA after %u ms (BOHC 0x%x): taking it anyway", h->name,
		     AHCI_BOH_BUSY_WAIT_MS, ahci_rd(h, AHCI_BOHC));
}

static int hba_reset(struct ahci_hba *h)
{
	ahci_wr(h, AHCI_GHC, ahci_rd(h, AHCI_GHC) | AHCI_GHC_AE);
	ahci_wr(h, AHCI_GHC, ahci_rd(h, AHCI_GHC) | AHCI_GHC_HR);
	if (hba_wait(h, AHCI_GHC, AHCI_GHC_HR, 0, AHCI_HR_WAIT_MS)) {
		klog("ahci", "%s: HBA reset (GHC.HR) not done within %u ms: HBA skipped", h->name, AHCI_HR_WAIT_MS);
		return -ETIMEDOUT;
	}
	ahci_wr(h, AHCI_GHC, ahci_rd(h, AHCI_GHC) | AHCI_GHC_AE);
	return 0;
}

static int probe_one(struct pci_dev *d)
{
	if (ahci_nhba >= AHCI_MAX_HBA) {
		klog("ahci", "more than %u HBAs: the rest are left alone", AHCI_MAX_HBA);
		return -ENOSPC;
	}
	struct ahci_hba *h = kzalloc(sizeof *h);
	if (!h)
		return -ENOMEM;
	h->idx = ahci_nhba;
	h->pci = d;
	ksnprintf(h->name, sizeof h->name, "ahci%u", h->idx);
	pci_enable(d, true, false, true);
	pci_intx_disable(d, true);      /* no INTx before pci_irq_alloc chose a mode (pci.h) */
	h->abar = pci_bar_map(d, AHCI_ABAR_BAR);
	if (!h->abar || d->bar[AHCI_ABAR_BAR].size < AHCI_PORT(1)) {
		klog("ahci", "%s: %04x:%02x:%02x.%x: ABAR (BAR5) missing or too small: skipped", h->name, d->addr.seg,
		     d->addr.bus, d->addr.dev, d->addr.fn);
		goto out_free;
	}
	h->cap = ahci_rd(h, AHCI_CAP);
	if (h->cap == 0xFFFFFFFFu) {
		klog("ahci", "%s: CAP reads all ones: skipped", h->name);
		goto out_free;
	}
	h->cap2 = ahci_rd(h, AHCI_CAP2);
	h->vs = ahci_rd(h, AHCI_VS);
	bios_handoff(h);
	if (hba_reset(h))
		goto out_free;
	h->cap = ahci_rd(h, AHCI_CAP);
	h->pi = ahci_rd(h, AHCI_PI);
	h->s64 = (h->cap & AHCI_CAP_S64A) != 0;
	unsigned maxp = (unsigned)((d->bar[AHCI_ABAR_BAR].size - AHCI_PORT_BASE) / AHCI_PORT_STRIDE);
	if (maxp < AHCI_MAX_PORTS && (h->pi >> maxp)) {
		klog("ahci", "%s: PI 0x%x names ports beyond ABAR's %llu bytes: those ignored", h->name, h->pi,
		     (unsigned long long)d->bar[AHCI_ABAR_BAR].size);
		h->pi &= (1u << maxp) - 1u;
	}
	uint64_t ms;
	h->timeout_ns = (cmdline_get_u64("ahci.timeout_ms", &ms) == 0 && ms ? ms : AHCI_DEFAULT_TIMEOUT_MS) * 1000000ull;
	struct dma_params dp = { .mask = h->s64 ? ~0ull : 0xFFFFFFFFull, .max_seg = AHCI_PRD_MAX_BYTES, .align = 2 };
	h->dd = dma_dev_attach(d, &dp);
	if (!h->dd) {
		klog("ahci", "%s: DMA attach failed: skipped", h->name);
		goto out_free;
	}
	unsigned want = irq_want(h->pi);
	int rc = pci_irq_alloc(d, want, 0, irq_allow(), hba_irq, h, &h->irq);
	if (rc) {
		klog("ahci", "%s: no interrupt and no polling allowed (%d): skipped", h->name, rc);
		goto out_release;
	}
	h->have_irq = true;
	/* §3.1.2: with fewer messages than it asked for the HBA may share them or revert
	 * to message 0 (MRSM); only a full grant without MRSM gives each port its own.
	 * Otherwise every vector that fires scans IS. */
	if (h->irq.mode == PCI_IRQ_MSI && h->irq.nvec > 1) {
		uint32_t top = 32u - (unsigned)__builtin_clz(h->pi);
		bool reverted = (ahci_rd(h, AHCI_GHC) & AHCI_GHC_MRSM) != 0;
		h->per_port = h->irq.nvec >= top && !reverted;
		if (!h->per_port)
			klog("ahci", "%s: %u MSI vectors for ports 0..%u%s: one vector for the HBA", h->name,
			     h->irq.nvec, top - 1u, reverted ? ", the HBA reverted to one message (GHC.MRSM)" : "");
	}
	ahci_hbas[ahci_nhba++] = h;
	char irqs[8] = "";
	if (h->per_port)
		ksnprintf(irqs, sizeof irqs, " x%u", h->irq.nvec);
	klog("ahci", "%s: %04x:%02x:%02x.%x %u ports (PI 0x%x), CAP 0x%x%s%s, irq %s%s", h->name, d->addr.seg,
	     d->addr.bus, d->addr.dev, d->addr.fn, (unsigned)__builtin_popcount(h->pi), h->pi, h->cap,
	     (h->cap & AHCI_CAP_SNCQ) ? " NCQ" : "", h->s64 ? " 64-bit" : "", pci_irq_mode_name(h->irq.mode),
	     irqs);
	if (h->idx == 0) {
		kinfo("ahci.irq_mode", "%s", pci_irq_mode_name(h->irq.mode));
		kinfo("ahci.irq_vectors", "%u", h->per_port ? h->irq.nvec : 1u);
	}
	ahci_wr(h, AHCI_IS, 0xFFFFFFFFu);
	for (unsigned p = 0; p < AHCI_MAX_PORTS; p++) {
		if (!(h->pi & (1u << p)))
			continue;
		struct ahci_port *pt = 0;
		if (ahci_port_init(h, p, &pt))
			continue;
		if (ahci_ndisks >= AHCI_MAX_DISKS || ahci_port_register(pt, ahci_ndisks)) {
			klog("ahci", "%s port %u: disk not registered", h->name, p);
			ahci_port_shutdown(pt);
			continue;       /* its memory stays with the HBA: the port is stopped */
		}
		h->port[p] = pt;
		ahci_disks[ahci_ndisks++] = pt;
	}
	if (h->irq.mode != PCI_IRQ_POLL) {
		ahci_wr(h, AHCI_GHC, ahci_rd(h, AHCI_GHC) | AHCI_GHC_IE);
		for (unsigned v = 0; v < h->irq.nvec; v++)
			pci_irq_unmask(&h->irq, v);
	}
	return 0;
out_release:
	dma_dev_release(h->dd);
out_free:
	kfree(h);
	return -ENODEV;
}

static int ahci_probe_all(void)
{
	int started = 0;
	for (unsigned nth = 0;; nth++) {
		struct pci_dev *d = pci_find_class(AHCI_PCI_CLASS, 0xFFFFFF, nth);
		if (!d)
			break;
		if (d->skipped)
			continue;
		if (probe_one(d) == 0)
			started++;
	}
	return started;
}

static void ahci_shutdown_all(void)
{
	for (unsigned i = 0; i < ahci_ndisks; i++) {
		struct ahci_port *pt = ahci_disks[i];
		ahci_port_shutdown(pt);
		spin_lock(&pt->lock);
		klog("ahci", "%s: stats: submitted=%llu completed=%llu errors=%llu resets=%llu resubmitted=%llu "
		     "flushes=%llu trims=%llu max_in_flight=%u%s", pt->bdev.name, (unsigned long long)pt->submitted,
		     (unsigned long long)pt->completed, (unsigned long long)pt->errors, (unsigned long long)pt->resets,
		     (unsigned long long)pt->resubmitted, (unsigned long long)pt->flushes,
		     (unsigned long long)pt->trims, pt->max_inflight,
		     atomic_load32(&pt->state, MO_RELAXED) == AHCI_PORT_FAILED ? " (failed)" : "");
		spin_unlock(&pt->lock);
	}
	for (unsigned i = 0; i < ahci_nhba; i++) {
		struct ahci_hba *h = ahci_hbas[i];
		ahci_wr(h, AHCI_GHC, ahci_rd(h, AHCI_GHC) & ~AHCI_GHC_IE);
		char per[AHCI_MAX_PORTS * 21] = "";
		unsigned nv = h->per_port ? h->irq.nvec : 1u, len = 0;
		for (unsigned v = 0; v < nv && v < AHCI_MAX_PORTS; v++)
			len += (unsigned)ksnprintf(per + len, sizeof per - len, "%s%llu", v ? "," : "",
						   (unsigned long long)atomic_load64(&h->vec_irqs[v], MO_RELAXED));
		klog("ahci", "%s: irq stats: mode=%s vectors=%u irqs=%llu not_ours=%llu per_vector=%s", h->name,
		     pci_irq_mode_name(h->irq.mode), nv, (unsigned long long)atomic_load64(&h->irqs, MO_RELAXED),
		     (unsigned long long)atomic_load64(&h->not_ours, MO_RELAXED), per);
		if (h->have_irq) {
			pci_irq_free(&h->irq);
			h->have_irq = false;
		}
		uint16_t cmd = pci_cfg_read16(&h->pci->addr, PCI_COMMAND);
		pci_cfg_write16(&h->pci->addr, PCI_COMMAND, (uint16_t)(cmd & ~PCI_COMMAND_MASTER));
	}
}

DRIVER(ahci_driver, "ahci", ahci_probe_all, ahci_shutdown_all);

/* ---- public API ------------------------------------------------------------------------------ */

unsigned ahci_count(void)
{
	return ahci_nhba;
}

int ahci_info_get(unsigned idx, struct ahci_info *o)
{
	if (idx >= ahci_nhba || !o)
		return -EINVAL;
	struct ahci_hba *h = ahci_hbas[idx];
	memset(o, 0, sizeof *o);
	memcpy(o->name, h->name, sizeof o->name);
	o->cap = h->cap;
	o->cap2 = h->cap2;
	o->pi = h->pi;
	o->vs = h->vs;
	o->nports = (unsigned)__builtin_popcount(h->pi);
	for (unsigned p = 0; p < AHCI_MAX_PORTS; p++)
		o->ndisks += h->port[p] != 0;
	o->irq_mode = pci_irq_mode_name(h->irq.mode);
	o->irqs = atomic_load64(&h->irqs, MO_RELAXED);
	o->s64 = h->s64;
	o->sncq = (h->cap & AHCI_CAP_SNCQ) != 0;
	return 0;
}

unsigned ahci_disk_count(void)
{
	return ahci_ndisks;
}

int ahci_disk_info_get(unsigned idx, struct ahci_disk_info *o)
{
	if (idx >= ahci_ndisks || !o)
		return -EINVAL;
	struct ahci_port *pt = ahci_disks[idx];
	memset(o, 0, sizeof *o);
	spin_lock(&pt->lock);
	memcpy(o->name, pt->bdev.name, sizeof o->name);
	o->hba = pt->h->idx;
	o->port = pt->no;
	o->id = pt->id;
	o->ncq_on = pt->ncq_on;
	o->depth = pt->ncq_on ? pt->nslots : 1u;
	o->max_prd = AHCI_MAX_PRD;
	o->submitted = pt->submitted;
	o->completed = pt->completed;
	o->errors = pt->errors;
	o->resets = pt->resets;
	o->resubmitted = pt->resubmitted;
	o->flushes = pt->flushes;
	o->trims = pt->trims;
	o->max_inflight = pt->max_inflight;
	o->failed = atomic_load32(&pt->state, MO_RELAXED) == AHCI_PORT_FAILED;
	o->pxcmd = ahci_prd(pt, AHCI_PxCMD);
	spin_unlock(&pt->lock);
	return 0;
}

int ahci_test_set_ncq(unsigned idx, bool on)
{
	if (idx >= ahci_ndisks)
		return -EINVAL;
	struct ahci_port *pt = ahci_disks[idx];
	int rc = 0;
	spin_lock(&pt->lock);
	if (pt->issued || pt->pend_head)
		rc = -EBUSY;
	else if (on && !pt->ncq_ok)
		rc = -EOPNOTSUPP;
	else {
		pt->ncq_on = on;
		pt->max_inflight = 0;
	}
	spin_unlock(&pt->lock);
	return rc;
}

int ahci_test_restart(unsigned idx)
{
	return idx < ahci_ndisks ? ahci_port_restart(ahci_disks[idx]) : -EINVAL;
}

int ahci_test_port_reset(unsigned idx, const char *why)
{
	return idx < ahci_ndisks ? ahci_port_reset_now(ahci_disks[idx], why) : -EINVAL;
}
