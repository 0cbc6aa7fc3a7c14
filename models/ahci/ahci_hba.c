/*
 * ahci_hba.c — AHCI HBA model, generic host control (AHCI 1.3.1 §3.1): the PCI
 * function (class 01:06:01, ABAR = BAR5, one MSI message or by configuration one
 * per port, INTA), CAP/CAP2/PI/VS, GHC.HR (resets every port, done at once), GHC.IE,
 * GHC.MRSM (§3.1.2), IS (RW1C, a port's bit set while PxIS & PxIE is non-zero:
 * §3.1.3, cleared by software after PxIS, §10.7.2); the interrupt (MSI per event:
 * port i on message i when software enabled a message per port, else message 0;
 * INTx level while GHC.IE and IS != 0); the instances, the
 * worker thread (free mode) or the stepping entry points (deterministic mode); the
 * fault sites.
 */
#include "ahci/ahci_int.h"
#include "pci/pci_model_insts.h"
#include <hw/pci/msi.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AHCIM_MAX_INSTANCES 4u
#define AHCIM_LOG_BUDGET 64u
#define AHCIM_FAULT_LOG_BUDGET 4u

PCI_MODEL_INSTS_DEFINE(insts, AHCIM_MAX_INSTANCES);

/* CAP (§3.1.1): 64-bit addressing, NCQ, AHCI only (so GHC.AE reads 1), Gen1 speed
 * as QEMU, 32 slots, 6 ports. No staggered spin-up, no CLO, no port multipliers,
 * no FIS-based switching, no partial/slumber. CAP2 = 0: no BIOS/OS handoff (QEMU). */
static const uint32_t cap_value = AHCI_CAP_S64A | AHCI_CAP_SNCQ | AHCI_CAP_SAM |
				  1u << AHCI_CAP_ISS_SHIFT |
				  (AHCIM_SLOTS - 1u) << AHCI_CAP_NCS_SHIFT | (AHCIM_PORTS - 1u);

void ahci_log(struct ahci_hba *h, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pci_model_inst_vlog(h->bus, h->name, &h->logged, AHCIM_LOG_BUDGET, fmt, ap);
	va_end(ap);
}

static const char *const fault_names[AHCI_FAULT_COUNT] = {
	[AHCI_FAULT_TFES] = "ahci.tfes",
	[AHCI_FAULT_NCQ_ERROR_TAG] = "ahci.ncq_error_tag",
	[AHCI_FAULT_PORT_HANG] = "ahci.port_hang",
	[AHCI_FAULT_PHY_DOWN] = "ahci.phy_down",
	[AHCI_FAULT_SLOW] = "ahci.slow",
};

const char *ahci_model_fault_name(enum ahci_model_fault f)
{
	return (unsigned)f < AHCI_FAULT_COUNT ? fault_names[f] : "?";
}

bool ahci_fault(struct ahci_port *p, enum ahci_model_fault f, unsigned slot)
{
	struct ahci_hba *h = p->h;

	if (!h->bus->fault_site(h->bus->ctx, fault_names[f]))
		return false;
	h->st.faults[f]++;
	if (h->fault_logged[f] < AHCIM_FAULT_LOG_BUDGET) {
		h->fault_logged[f]++;
		h->bus->log(h->bus->ctx, "%s: fault site %s fired on port %u slot %u%s", h->name,
			    fault_names[f], p->idx, slot,
			    h->fault_logged[f] == AHCIM_FAULT_LOG_BUDGET ? " (not logging more)" : "");
	}
	return true;
}

int ahci_dma(struct ahci_hba *h, uint64_t addr, void *buf, unsigned len, bool write)
{
	int err = write ? pci_model_dma_write(h->fn, addr, buf, len)
			: pci_model_dma_read(h->fn, addr, buf, len);

	if (err == -EACCES) {
		h->st.dma_no_master++;
		ahci_log(h, "DMA %s 0x%llx+%u dropped: bus mastering is off",
			 write ? "write to" : "read of", (unsigned long long)addr, len);
	} else if (err) {
		err = -EFAULT;
		h->st.dma_blocked++;
		ahci_log(h, "DMA %s 0x%llx+%u blocked by the IOMMU or outside RAM",
			 write ? "write to" : "read of", (unsigned long long)addr, len);
	}
	return err;
}

void ahci_kick(struct ahci_hba *h)
{
	if (h->threaded)
		pthread_cond_signal(&h->work);
}

/* ---- interrupts (§3.1.3, §10.7) -------------------------------------------------------- */

/* Messages software enabled (MME) when MSI is on, else 0. */
static unsigned msi_enabled(struct ahci_hba *h)
{
	return h->desc.msi_multi_log2 ? pci_model_msi_vectors(h->fn) : 0;
}

/* §3.1.2 MRSM: the HBA asked for several messages (MMC > 0), software enabled more
 * than one but fewer than the ports need (so MME != MMC): the HBA reverts to message
 * 0 for every port. Clear when MSI is off, MMC = 0 or MME = 0 (single message asked
 * for, not reverted to) or every port has its message. */
static bool mrsm(struct ahci_hba *h)
{
	unsigned n = msi_enabled(h);

	return n > 1 && n < AHCIM_PORTS;
}

/* ports: those with something new pending (an MSI goes out for each: on the port's
 * own message when every port has one, else one on message 0). INTx follows the
 * level: asserted while GHC.IE and IS != 0. */
static void irq_update(struct ahci_hba *h, uint32_t ports)
{
	if ((h->ghc & AHCI_GHC_IE) && h->is) {
		unsigned n = ports ? msi_enabled(h) : 0;

		ports &= h->is;
		if (n >= AHCIM_PORTS) {
			for (unsigned i = 0; i < AHCIM_PORTS; i++)
				if ((ports >> i & 1u) && pci_model_irq_raise(h->fn, i))
					h->st.irqs++;
		} else if (ports && pci_model_irq_raise(h->fn, 0)) {
			h->st.irqs++;
		}
	} else {
		pci_model_irq_lower(h->fn);
	}
}

void ahci_port_irq(struct ahci_port *p)
{
	if (p->is & p->ie) {
		p->h->is |= 1u << p->idx;
		irq_update(p->h, 1u << p->idx);
	}
}

/* IS bits are cleared by writing 1; a port whose PxIS & PxIE is still non-zero sets
 * its bit again at once (and interrupts again), so clearing IS before PxIS leaves
 * the interrupt pending, as on hardware. */
static void is_write(struct ahci_hba *h, uint32_t v)
{
	uint32_t again = 0;

	h->is &= ~v;
	for (unsigned i = 0; i < AHCIM_PORTS; i++) {
		struct ahci_port *p = &h->port[i];

		if ((v >> i & 1u) && (p->is & p->ie)) {
			h->is |= 1u << i;
			again |= 1u << i;
		}
	}
	irq_update(h, again);
}

static void hba_reset(struct ahci_hba *h)
{
	for (unsigned i = 0; i < AHCIM_PORTS; i++)
		ahci_port_reset(&h->port[i], true);
	h->ghc = AHCI_GHC_AE;
	h->is = 0;
	irq_update(h, 0);
	h->st.hba_resets++;
}

static void ghc_write(struct ahci_hba *h, uint32_t v)
{
	uint32_t old = h->ghc;

	if (!(v & AHCI_GHC_AE)) {
		h->st.refused++;
		ahci_log(h, "GHC.AE cleared: CAP.SAM is set, the HBA is AHCI-only; AE stays 1");
	}
	if (v & AHCI_GHC_HR) {
		hba_reset(h);           /* completes at once: HR reads 0 afterwards */
		return;
	}
	h->ghc = AHCI_GHC_AE | (v & AHCI_GHC_IE);
	irq_update(h, !(old & AHCI_GHC_IE) && (h->ghc & AHCI_GHC_IE) ? h->is : 0);
}

/* ---- ABAR decode (§3) ------------------------------------------------------------------ */

static uint64_t abar_read(void *ctx, unsigned bar, uint64_t off, unsigned size)
{
	struct ahci_hba *h = ctx;
	uint32_t v = 0;

	pthread_mutex_lock(&h->lock);
	if (bar != AHCI_ABAR_BAR || size != 4 || (off & 3)) {
		h->st.bad_access++;
		ahci_log(h, "read of size %u at BAR%u+0x%llx: registers are aligned dwords", size,
			 bar, (unsigned long long)off);
		v = 0xffffffffu;
		goto out;
	}
	if (off >= AHCI_PORT_BASE) {
		uint64_t p = (off - AHCI_PORT_BASE) / AHCI_PORT_STRIDE;

		if (p < AHCIM_PORTS)
			v = ahci_port_read(&h->port[p], (uint32_t)(off - AHCI_PORT(p)));
		goto out;               /* ports not implemented, reserved space: 0 */
	}
	switch (off) {
	case AHCI_CAP: v = cap_value; break;
	case AHCI_GHC: v = h->ghc | (mrsm(h) ? AHCI_GHC_MRSM : 0); break;
	case AHCI_IS: v = h->is; break;
	case AHCI_PI: v = (1u << AHCIM_PORTS) - 1u; break;
	case AHCI_VS: v = AHCI_VS_1_3_1; break;
	default: v = 0; break;  /* CCC, EM, CAP2 (no BOH), BOHC, reserved, vendor: 0 */
	}
out:
	pthread_mutex_unlock(&h->lock);
	return v;
}

static void abar_write(void *ctx, unsigned bar, uint64_t off, unsigned size, uint64_t v64)
{
	struct ahci_hba *h = ctx;
	uint32_t v = (uint32_t)v64;

	pthread_mutex_lock(&h->lock);
	if (bar != AHCI_ABAR_BAR || size != 4 || (off & 3)) {
		h->st.bad_access++;
		ahci_log(h, "write of size %u at BAR%u+0x%llx: registers are aligned dwords", size,
			 bar, (unsigned long long)off);
		goto out;
	}
	if (off >= AHCI_PORT_BASE) {
		uint64_t p = (off - AHCI_PORT_BASE) / AHCI_PORT_STRIDE;

		if (p < AHCIM_PORTS) {
			ahci_port_write(&h->port[p], (uint32_t)(off - AHCI_PORT(p)), v);
		} else {
			h->st.bad_access++;
			ahci_log(h, "write 0x%x at ABAR+0x%llx: port %llu is not implemented (PI 0x%x)",
				 v, (unsigned long long)off, (unsigned long long)p,
				 (1u << AHCIM_PORTS) - 1u);
		}
		goto out;
	}
	switch (off) {
	case AHCI_GHC: ghc_write(h, v); break;
	case AHCI_IS: is_write(h, v); break;
	default:
		h->st.bad_access++;
		ahci_log(h, "write 0x%x to read-only/unsupported register ABAR+0x%llx; ignored", v,
			 (unsigned long long)off);
		break;
	}
out:
	pthread_mutex_unlock(&h->lock);
}

/* ---- the work loop ----------------------------------------------------------------------- */

static bool hba_step(struct ahci_hba *h)
{
	uint64_t now = h->bus->now_ns(h->bus->ctx);

	for (unsigned k = 0; k < AHCIM_PORTS; k++) {
		unsigned i = (h->rr + 1 + k) % AHCIM_PORTS;

		if (ahci_port_step(&h->port[i], now)) {
			h->rr = i;
			return true;
		}
	}
	return false;
}

static bool hba_has_work(struct ahci_hba *h)
{
	uint64_t now = h->bus->now_ns(h->bus->ctx);

	for (unsigned i = 0; i < AHCIM_PORTS; i++)
		if (ahci_port_has_work(&h->port[i], now))
			return true;
	return false;
}

static uint64_t hba_next_due(struct ahci_hba *h)
{
	uint64_t next = UINT64_MAX;

	for (unsigned i = 0; i < AHCIM_PORTS; i++) {
		uint64_t t = ahci_port_next_due(&h->port[i]);

		if (t < next)
			next = t;
	}
	return next;
}

static void *worker(void *arg)
{
	struct ahci_hba *h = arg;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		uint64_t due, now, wait;
		struct timespec ts;

		if (hba_step(h))
			continue;
		due = hba_next_due(h);
		if (due == UINT64_MAX) {
			pthread_cond_wait(&h->work, &h->lock);
			continue;
		}
		/* Held work falls due later: sleep until then (bus time follows
		 * CLOCK_MONOTONIC in free mode) or until a register write. */
		now = h->bus->now_ns(h->bus->ctx);
		wait = due > now ? due - now : 0;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(wait / 1000000000ull);
		ts.tv_nsec += (long)(wait % 1000000000ull);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&h->work, &h->lock, &ts);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* ---- instances ----------------------------------------------------------------------------- */

static int attach(void *inst, unsigned idx)
{
	struct ahci_hba *h = inst;

	h->index = idx;
	return pci_model_add(h->bus_index, h->dev, h->func, &h->desc, &h->fn);
}

static void destroy(struct ahci_hba *h)
{
	for (unsigned i = 0; i < AHCIM_PORTS; i++)
		model_store_close(&h->port[i].disk.store);
	pthread_cond_destroy(&h->work);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static const char *config_error(const struct ahci_disk_config *d)
{
	if (!d->present)
		return NULL;
	if (d->size % AHCIM_SECTOR)
		return "a disk size that is not a multiple of 512 bytes";
	if (d->size < AHCIM_SECTOR * 8u || d->size > AHCIM_DISK_MAX)
		return "a disk size outside 4 KiB..1 TiB";
	return NULL;
}

static int disk_init(struct ahci_hba *h, unsigned i, const struct ahci_disk_config *k)
{
	struct ahci_disk *d = &h->port[i].disk;

	d->store.fd = -1;
	if (!k->present)
		return 0;
	d->present = true;
	d->ncq = !k->no_ncq;
	d->sectors = k->size / AHCIM_SECTOR;
	d->wce = true;
	snprintf(d->model, sizeof(d->model), "Doppel SATA disk%s", d->ncq ? "" : " (no NCQ)");
	return model_store_open(&d->store, k->path, k->size);
}

int ahci_model_add(uint8_t bus_index, uint8_t dev, uint8_t fn, const struct ahci_model_config *cfg,
		   const struct model_bus *bus)
{
	struct ahci_model_config k = { 0 };
	struct ahci_hba *h;
	pthread_condattr_t ca;
	int err;

	if (!model_bus_valid(bus))
		return -EINVAL;
	if (cfg)
		k = *cfg;
	else
		k.port[0].present = true;
	for (unsigned i = 0; i < AHCIM_PORTS; i++) {
		const char *why;

		if (k.port[i].present && !k.port[i].size)
			k.port[i].size = AHCIM_DISK_BYTES;
		why = config_error(&k.port[i]);
		if (why) {
			bus->log(bus->ctx, "ahci@%02x:%02x.%u: port %u: bad configuration: %s",
				 bus_index, dev, fn, i, why);
			return -EINVAL;
		}
	}
	if (k.msi_log2 && (k.msi_log2 < AHCIM_MSI_LOG2_PER_PORT || k.msi_log2 > PCI_MSI_MMC_MAX)) {
		bus->log(bus->ctx, "ahci@%02x:%02x.%u: bad configuration: %u MSI messages (one, or "
			 "%u..%u: a message per port)", bus_index, dev, fn, 1u << k.msi_log2,
			 1u << AHCIM_MSI_LOG2_PER_PORT, 1u << PCI_MSI_MMC_MAX);
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->work, &ca);
	pthread_condattr_destroy(&ca);
	h->bus = bus;
	h->bus_index = bus_index;
	h->dev = dev;
	h->func = fn;
	snprintf(h->name, sizeof(h->name), "ahci@b%u:%02x.%u", bus_index, dev, fn);
	for (unsigned i = 0; i < AHCIM_PORTS; i++) {
		h->port[i].h = h;
		h->port[i].idx = i;
		h->port[i].disk.store.fd = -1;
	}
	for (unsigned i = 0; i < AHCIM_PORTS; i++) {
		err = disk_init(h, i, &k.port[i]);
		if (err) {
			destroy(h);
			return err;
		}
	}
	h->desc = (struct pci_model_desc){
		.name = "ahci",
		.vendor = 0x8086, .device = 0x2922,     /* ICH9 6-port SATA AHCI, as QEMU */
		.subsys_vendor = 0x1af4, .subsys_id = 0x1100,
		.class_code = AHCI_PCI_CLASS, .revision = 0x02,
		.irq_pin = 1,
		.bar[AHCI_ABAR_BAR] = { .size = AHCIM_ABAR_SIZE, .flags = 0 },
		.msi = true, .msi_multi_log2 = k.msi_log2, .msi_64 = true, .msi_maskable = false,
		.bar_read = abar_read, .bar_write = abar_write, .ctx = h,
	};
	pthread_mutex_lock(&h->lock);
	h->ghc = AHCI_GHC_AE;
	for (unsigned i = 0; i < AHCIM_PORTS; i++)
		ahci_port_reset(&h->port[i], false);
	pthread_mutex_unlock(&h->lock);
	err = pci_model_insts_add(&insts, h, attach);
	if (err) {
		destroy(h);
		return err;
	}
	pthread_mutex_lock(&h->lock);
	for (unsigned i = 0; i < AHCIM_PORTS; i++)     /* unique per HBA and port */
		snprintf(h->port[i].disk.serial, sizeof(h->port[i].disk.serial),
			 "DOPPEL-SATA-%u-%u", h->index, i);
	pthread_mutex_unlock(&h->lock);
	if (k.threaded) {
		pthread_mutex_lock(&h->lock);
		h->threaded = pthread_create(&h->thread, NULL, worker, h) == 0;
		pthread_mutex_unlock(&h->lock);
		if (!h->threaded)
			bus->fatal(bus->ctx, "%s: cannot create the worker thread", h->name);
	}
	return 0;
}

static struct ahci_hba *inst(unsigned idx)
{
	return pci_model_insts_get(&insts, idx);
}

unsigned ahci_model_count(void)
{
	unsigned n = 0;

	while (inst(n))
		n++;
	return n;
}

bool ahci_model_has_work(void)
{
	struct ahci_hba *h;
	bool any = false;

	for (unsigned i = 0; !any && (h = inst(i)) != NULL; i++) {
		if (h->threaded)
			continue;
		/* No lock: without a worker thread (det mode) only the CPU holding the
		 * baton runs, and the baton's hand-off orders every earlier access. The
		 * engine asks this at every switch point, where a lock pair was half the
		 * cost of a det run. */
		any = hba_has_work(h);
	}
	return any;
}

bool ahci_model_step(void)
{
	static unsigned next;           /* round robin over instances */
	unsigned n = ahci_model_count();

	for (unsigned k = 0; k < n; k++) {
		struct ahci_hba *h = inst((next + k) % n);
		bool did;

		if (!h || h->threaded)
			continue;
		pthread_mutex_lock(&h->lock);
		did = hba_step(h);
		pthread_mutex_unlock(&h->lock);
		if (did) {
			next = (next + k + 1) % n;
			return true;
		}
	}
	return false;
}

uint64_t ahci_model_next_event_ns(void)
{
	struct ahci_hba *h;
	uint64_t next = UINT64_MAX;

	for (unsigned i = 0; (h = inst(i)) != NULL; i++) {
		uint64_t t;

		if (h->threaded)
			continue;
		pthread_mutex_lock(&h->lock);
		t = hba_next_due(h);
		pthread_mutex_unlock(&h->lock);
		if (t < next)
			next = t;
	}
	return next;
}

int ahci_model_stats(unsigned idx, struct ahci_model_stats *out)
{
	struct ahci_hba *h = inst(idx);

	if (!h)
		return -ENOENT;
	pthread_mutex_lock(&h->lock);
	*out = h->st;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

int ahci_model_port_regs(unsigned idx, unsigned port, struct ahci_model_port_regs *out,
			 uint32_t *hba_is)
{
	struct ahci_hba *h = inst(idx);
	struct ahci_port *p;

	if (!h || port >= AHCIM_PORTS)
		return -ENOENT;
	p = &h->port[port];
	pthread_mutex_lock(&h->lock);
	*out = (struct ahci_model_port_regs){
		.is = ahci_port_read(p, AHCI_PxIS), .ie = p->ie, .cmd = ahci_port_read(p, AHCI_PxCMD),
		.tfd = p->tfd, .sig = p->sig, .ssts = p->ssts, .sctl = p->sctl, .serr = p->serr,
		.sact = p->sact, .ci = p->ci,
	};
	if (hba_is)
		*hba_is = h->is;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

int ahci_model_disk_access(unsigned idx, unsigned port, uint64_t lba, void *buf, uint32_t count,
			   bool write)
{
	struct ahci_hba *h = inst(idx);
	struct ahci_disk *d;
	int err;

	if (!h || port >= AHCIM_PORTS || !h->port[port].disk.present)
		return -ENOENT;
	d = &h->port[port].disk;
	if (lba > d->sectors || count > d->sectors - lba)
		return -ERANGE;
	pthread_mutex_lock(&h->lock);
	err = write ? model_store_write(&d->store, lba * AHCIM_SECTOR, buf,
				       (uint64_t)count * AHCIM_SECTOR)
		    : model_store_read(&d->store, lba * AHCIM_SECTOR, buf,
				      (uint64_t)count * AHCIM_SECTOR);
	pthread_mutex_unlock(&h->lock);
	return err ? -EIO : 0;
}

static void release(void *arg)
{
	struct ahci_hba *h = arg;

	if (h->threaded) {
		pthread_mutex_lock(&h->lock);
		h->stop = true;
		pthread_cond_signal(&h->work);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->thread, NULL);
	}
	destroy(h);
}

void ahci_model_reset(void)
{
	pci_model_insts_clear(&insts, release);
}
