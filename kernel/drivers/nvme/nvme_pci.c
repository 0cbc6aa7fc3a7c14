/*
 * nvme_pci.c — the NVMe driver's PCI glue (NVMe 1.4 §2: class 01:08:02, BAR0
 * registers): finds every controller, maps BAR0, enables memory decode and bus
 * mastering, attaches it to the DMA API, starts it (nvme_ctrl.c), registers its
 * namespaces (nvme_ns.c) and prints one line per controller; the public API of
 * drivers/nvme.h (facts, raw commands, release/reclaim for tests that take the
 * device over) and the orderly shutdown at the end of the run.
 */
#include "nvme_int.h"
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/cmdline.h>
#include <kernel/driver.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/log.h>
#include <kernel/pmm.h>
#include <kernel/printf.h>
#include <kernel/smp.h>
#include <kernel/string.h>
#include <hw/pci/config.h>

struct nvme_ctrl *nvme_ctrls[NVME_MAX_CTRL];
unsigned nvme_nctrl;

static int attach_dma(struct nvme_ctrl *c)
{
	/* 64-bit addressing, no segment limit, dword-aligned buffers (PRP rules, §4.3). */
	struct dma_params dp = { .mask = ~0ull, .max_seg = 0, .align = 4 };
	c->dd = dma_dev_attach(c->pci, &dp);
	if (!c->dd) {
		klog("nvme", "%s: DMA attach failed", c->name);
		return -ENOMEM;
	}
	return 0;
}

static uint64_t cmdline_num(const char *key, uint64_t dflt)
{
	uint64_t v;
	return cmdline_get_u64(key, &v) == 0 ? v : dflt;
}

static void print_ctrl(struct nvme_ctrl *c)
{
	unsigned long long mdts = (unsigned long long)c->mdts_bytes;
	klog("nvme", "%s: %04x:%02x:%02x.%x model \"%s\" serial \"%s\" firmware \"%s\", %u I/O queues of %u, irq %s%s, "
	     "MDTS %llu bytes%s, %u namespaces", c->name, c->pci->addr.seg, c->pci->addr.bus, c->pci->addr.dev,
	     c->pci->addr.fn, c->id.mn, c->id.sn, c->id.fr, c->nr_ioq, c->io_depth, pci_irq_mode_name(c->irq.mode),
	     c->poll ? " (I/O queues polled)" : "", mdts, mdts ? "" : " (no limit)", c->nns);
	kinfo("nvme.irq_mode", "%s", pci_irq_mode_name(c->irq.mode));
}

static int probe_one(struct pci_dev *d)
{
	if (nvme_nctrl >= NVME_MAX_CTRL) {
		klog("nvme", "more than %u controllers: the rest are left alone", NVME_MAX_CTRL);
		return -ENOSPC;
	}
	struct nvme_ctrl *c = kzalloc(sizeof *c);
	if (!c)
		return -ENOMEM;
	c->idx = nvme_nctrl;
	c->pci = d;
	ksnprintf(c->name, sizeof c->name, "nvme%u", c->idx);
	pci_enable(d, true, false, true);       /* memory decode, bus mastering (DMA, MSI) */
	/* No INTx until pci_irq_alloc picks the mode: the admin queue's completions
	 * must not hold a line another function's driver shares asserted (the sim's
	 * 00:03.0 and the AHCI HBA at 00:1f.2 both land on GSI 19). */
	pci_intx_disable(d, true);
	c->regs = pci_bar_map(d, 0);
	if (!c->regs || d->bar[0].size < NVME_REG_DBS + 8u) {
		klog("nvme", "%s: %04x:%02x:%02x.%x: BAR0 missing or smaller than the doorbells", c->name, d->addr.seg,
		     d->addr.bus, d->addr.dev, d->addr.fn);
		goto out_free;
	}
	c->cap = hal_mmio_read64(c->regs + NVME_REG_CAP);
	c->dstrd = nvme_cap_dstrd(c->cap);
	if (c->cap == ~0ull || !(c->cap & NVME_CAP_CSS_NVM) || nvme_cap_mpsmin(c->cap) != 0) {
		klog("nvme", "%s: CAP 0x%llx: no NVM command set or no 4 KiB pages: skipped", c->name,
		     (unsigned long long)c->cap);
		goto out_free;
	}
	if (NVME_SQ_TDBL(NVME_MAX_IOQ, c->dstrd) + 8u > d->bar[0].size) {
		klog("nvme", "%s: BAR0 of %llu bytes too small for the doorbells at stride %u", c->name,
		     (unsigned long long)d->bar[0].size, 4u << c->dstrd);
		goto out_free;
	}
	if (attach_dma(c))
		goto out_free;
	c->poll = cmdline_num("nvme.poll", 0) != 0;
	uint64_t qwant = cmdline_num("nvme.queues", NVME_MAX_IOQ);
	unsigned cpus = smp_online_count();
	c->want_ioq = (unsigned)(qwant < cpus ? qwant : cpus);
	if (c->want_ioq > NVME_MAX_IOQ)
		c->want_ioq = NVME_MAX_IOQ;
	if (c->want_ioq == 0)
		c->want_ioq = 1;
	c->irq_allow = nvme_irq_allow();
	c->timeout_ns = cmdline_num("nvme.timeout_ms", NVME_DEFAULT_TIMEOUT_MS) * 1000000ull;
	int rc = nvme_ctrl_start(c, true);
	if (rc) {
		klog("nvme", "%s: %04x:%02x:%02x.%x not started (%d): skipped, its name goes to the next", c->name,
		     d->addr.seg, d->addr.bus, d->addr.dev, d->addr.fn, rc);
		nvme_ctrl_stop(c, true);
		goto out_release;
	}
	c->mdts_bytes = nvme_mdts_bytes(c->id.mdts, nvme_cap_mpsmin(c->cap));
	c->max_xfer = c->mdts_bytes && c->mdts_bytes < NVME_NO_MDTS_CAP ? c->mdts_bytes : NVME_NO_MDTS_CAP;
	nvme_ctrls[nvme_nctrl++] = c;
	if (c->nr_ioq)
		nvme_ns_scan(c);
	else
		klog("nvme", "%s: no I/O queues: namespaces not registered", c->name);
	print_ctrl(c);
	return 0;
out_release:
	dma_dev_release(c->dd);
out_free:
	kfree(c);
	return -ENODEV;
}

static int nvme_probe_all(void)
{
	int started = 0;
	for (unsigned nth = 0;; nth++) {
		struct pci_dev *d = pci_find_class(NVME_PCI_CLASS, 0xFFFFFF, nth);
		if (!d)
			break;
		if (d->skipped)
			continue;
		if (probe_one(d) == 0)
			started++;
	}
	return started;
}

/* One line per controller at the end of the run: every command issued on an I/O
 * queue completed exactly once (submitted = completed + in flight), CQEs dropped
 * (unknown, stale, duplicate), recovery counters. */
static void print_stats(struct nvme_ctrl *c)
{
	uint64_t sub = 0, done = 0, dropped = c->adminq ? c->adminq->ring.dropped : 0;
	unsigned inflight = 0;
	for (unsigned k = 0; k < c->nr_ioq; k++) {
		struct nvme_queue *q = c->ioq[k];
		if (!q)
			continue;
		spin_lock(&q->lock);
		sub += q->submitted;
		done += q->completed;
		dropped += q->ring.dropped;
		inflight += q->ring.inflight;
		spin_unlock(&q->lock);
	}
	klog("nvme", "%s: stats: io submitted=%llu completed=%llu in_flight=%u dropped_cqes=%llu resubmitted=%llu "
	     "resets=%llu aborts=%llu timeout_races=%llu%s", c->name, (unsigned long long)sub,
	     (unsigned long long)done, inflight, (unsigned long long)dropped,
	     (unsigned long long)atomic_load64(&c->resubmitted, MO_RELAXED),
	     (unsigned long long)atomic_load64(&c->resets, MO_RELAXED),
	     (unsigned long long)atomic_load64(&c->aborts, MO_RELAXED),
	     (unsigned long long)atomic_load64(&c->timeout_races, MO_RELAXED),
	     atomic_load32(&c->state, MO_ACQUIRE) == NVME_FAILED ? " (failed)" : "");
}

static void nvme_shutdown_all(void)
{
	for (unsigned i = 0; i < nvme_nctrl; i++) {
		struct nvme_ctrl *c = nvme_ctrls[i];
		uint32_t csts = 0;
		print_stats(c);
		if (atomic_load32(&c->state, MO_ACQUIRE) == NVME_LIVE && nvme_shutdown(c, &csts) == 0)
			klog("nvme", "%s: shut down (CSTS 0x%x)", c->name, csts);
		/* The function is left as found: vectors freed, MSI-X/MSI disabled. */
		if (c->have_irq) {
			pci_irq_free(&c->irq);
			c->have_irq = false;
		}
		uint16_t cmd = pci_cfg_read16(&c->pci->addr, PCI_COMMAND);
		pci_cfg_write16(&c->pci->addr, PCI_COMMAND, (uint16_t)(cmd & ~PCI_COMMAND_MASTER));
	}
}

DRIVER(nvme_driver, "nvme", nvme_probe_all, nvme_shutdown_all);

/* ---- public API ------------------------------------------------------------------ */

unsigned nvme_count(void)
{
	return nvme_nctrl;
}

struct nvme_ctrl *nvme_get(unsigned idx)
{
	return idx < nvme_nctrl ? nvme_ctrls[idx] : 0;
}

int nvme_info_get(const struct nvme_ctrl *c, struct nvme_info *o)
{
	if (!c || !o)
		return -EINVAL;
	memset(o, 0, sizeof *o);
	memcpy(o->name, c->name, sizeof o->name);
	memcpy(o->model, c->id.mn, sizeof o->model);
	memcpy(o->serial, c->id.sn, sizeof o->serial);
	memcpy(o->firmware, c->id.fr, sizeof o->firmware);
	o->nn = c->id.nn;
	o->nns = c->nns;
	o->nr_io_queues = c->nr_ioq;
	o->qdepth = c->io_depth;
	o->irq_mode = pci_irq_mode_name(c->irq.mode);
	o->polled = c->poll;
	o->mdts_bytes = c->mdts_bytes;
	o->oncs = c->id.oncs;
	o->vwc = c->id.vwc;
	/* Interrupt handlers on other CPUs move these while we read: atomics for the
	 * counters, each queue's lock for its ring's. */
	o->resets = atomic_load64(&c->resets, MO_RELAXED);
	o->aborts = atomic_load64(&c->aborts, MO_RELAXED);
	o->irqs = atomic_load64(&c->irqs, MO_RELAXED);
	o->failed = atomic_load32(&c->state, MO_ACQUIRE) == NVME_FAILED;
	uint64_t dropped = 0;
	for (unsigned k = 0; k <= c->nr_ioq; k++) {
		struct nvme_queue *q = k ? c->ioq[k - 1] : c->adminq;
		if (!q)
			continue;
		spin_lock(&q->lock);
		dropped += q->ring.dropped;
		spin_unlock(&q->lock);
	}
	o->dropped_cqes = dropped;
	return 0;
}

int nvme_queue_stats(const struct nvme_ctrl *c, unsigned qid, uint64_t *submitted, uint64_t *completed)
{
	if (!c || qid == 0 || qid > c->nr_ioq || !c->ioq[qid - 1])
		return -EINVAL;
	struct nvme_queue *q = c->ioq[qid - 1];
	spin_lock(&q->lock);            /* both move under the queue's lock */
	*submitted = q->submitted;
	*completed = q->completed;
	spin_unlock(&q->lock);
	return 0;
}

const char *nvme_ns_name(const struct nvme_ctrl *c, uint32_t nsid)
{
	for (unsigned i = 0; c && i < c->nns; i++)
		if (c->ns[i]->nsid == nsid)
			return c->ns[i]->bdev.name;
	return 0;
}

struct raw_arg {
	void *buf;
	size_t len;
	enum dma_dir dir;
};

static int prep_raw(struct nvme_queue *q, struct nvme_slot *s, struct nvme_sqe *cmd, void *arg)
{
	struct raw_arg *a = arg;
	if (!a->buf || !a->len)
		return 0;
	memset(s->sg, 0, sizeof s->sg);
	s->sg[0].va = a->buf;
	s->sg[0].len = a->len;
	s->dir = a->dir;
	int n = dma_map_sg(q->c->dd, s->sg, (int)BLK_MAX_SEGS, a->dir);
	if (n <= 0)
		return -ENOMEM;
	s->nsg = (int)BLK_MAX_SEGS;
	struct nvme_prp_seg seg[BLK_MAX_SEGS];
	for (int i = 0; i < n; i++) {
		seg[i].bus = s->sg[i].bus;
		seg[i].len = s->sg[i].bus_len;
	}
	int rc = nvme_ns_build_prps(q, s, cmd, seg, (unsigned)n, a->len);
	if (rc)
		nvme_slot_unmap(q, s);
	return rc;
}

static struct nvme_queue *raw_queue(struct nvme_ctrl *c, unsigned qid)
{
	if (!c)
		return 0;
	if (qid == 0)
		return c->adminq;
	return qid <= c->nr_ioq ? c->ioq[qid - 1] : 0;
}

static int raw_run(struct nvme_ctrl *c, unsigned qid, struct nvme_sqe *cmd, struct raw_arg *a, uint16_t *status,
		   uint32_t *dw0)
{
	struct nvme_queue *q = raw_queue(c, qid);
	if (!q)
		return -EINVAL;
	struct nvme_sync w = { 0 };
	uint16_t cid;
	int rc = nvme_queue_submit(q, cmd, 0, &w, a ? prep_raw : 0, a, &cid);
	if (rc)
		return rc;
	uint64_t to = qid ? c->timeout_ns : NVME_ADMIN_TIMEOUT_MS * 1000000ull;
	rc = nvme_queue_wait(q, &w, cid, to);
	if (rc)
		return rc;
	if (status)
		*status = w.status;
	if (dw0)
		*dw0 = w.dw0;
	return 0;
}

int nvme_raw_cmd(struct nvme_ctrl *c, unsigned qid, struct nvme_sqe *cmd, void *buf, size_t len, int dir,
		 uint16_t *status, uint32_t *dw0)
{
	struct raw_arg a = { .buf = buf, .len = len, .dir = dir == 1 ? DMA_TO_DEVICE : DMA_FROM_DEVICE };
	return raw_run(c, qid, cmd, &a, status, dw0);
}

int nvme_raw_cmd_prp(struct nvme_ctrl *c, unsigned qid, struct nvme_sqe *cmd, uint16_t *status, uint32_t *dw0)
{
	return raw_run(c, qid, cmd, 0, status, dw0);
}

int nvme_test_release(unsigned idx)
{
	struct nvme_ctrl *c = nvme_get(idx);
	if (!c)
		return -ENODEV;
	uint32_t st = atomic_load32(&c->state, MO_ACQUIRE);
	if (st == NVME_RELEASED)
		return -EALREADY;
	if (st == NVME_FAILED)
		return -ENODEV;
	atomic_store32(&c->state, NVME_RELEASED, MO_RELEASE);
	nvme_ctrl_stop(c, true);
	int leaks = dma_dev_release(c->dd);
	c->dd = 0;
	klog("nvme", "%s: released for a test%s", c->name, leaks ? " (DMA mappings leaked)" : "");
	return leaks ? -EBUSY : 0;
}

int nvme_test_reclaim(unsigned idx)
{
	struct nvme_ctrl *c = nvme_get(idx);
	if (!c)
		return -ENODEV;
	if (atomic_load32(&c->state, MO_ACQUIRE) != NVME_RELEASED)
		return -EINVAL;
	pci_enable(c->pci, true, false, true);
	int rc = attach_dma(c);
	if (!rc)
		rc = nvme_ctrl_start(c, false);
	if (rc) {
		nvme_ctrl_fail(c, "controller not restarted after a test released it");
		return rc;
	}
	for (unsigned k = 0; k < c->nr_ioq; k++) {
		spin_lock(&c->ioq[k]->lock);
		c->ioq[k]->live = true;
		spin_unlock(&c->ioq[k]->lock);
	}
	atomic_store32(&c->state, NVME_LIVE, MO_RELEASE);
	klog("nvme", "%s: reclaimed: %u I/O queues, irq %s", c->name, c->nr_ioq, pci_irq_mode_name(c->irq.mode));
	return 0;
}
