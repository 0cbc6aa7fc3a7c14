/*
 * nvme_ctrl.c — controller bring-up, reset and shutdown (NVMe 1.4 §7.6.1
 * initialization, §3.1.5/§3.1.6 CC and CSTS, §7.6.2 shutdown): disable and wait
 * !RDY, the admin queue (AQA/ASQ/ACQ), enable with 64/16-byte entries and the NVM
 * command set, Identify Controller, Number of Queues (§5.21.1.7), Create I/O
 * Completion/Submission Queue (§5.3, §5.4), CSTS.CFS detection, reset with
 * resubmission of what was in flight, and failing the controller for good.
 */
#include "nvme_int.h"
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/cmdline.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/log.h>
#include <kernel/pmm.h>
#include <kernel/smp.h>
#include <kernel/string.h>
#include <kernel/time.h>

uint32_t nvme_csts(struct nvme_ctrl *c)
{
	return hal_mmio_read32(c->regs + NVME_REG_CSTS);
}

/* CSTS.CFS, or all ones (the function fell off the bus): logged once per episode. */
bool nvme_ctrl_fatal(struct nvme_ctrl *c)
{
	uint32_t csts = nvme_csts(c);
	if (csts == 0xFFFFFFFFu || (csts & NVME_CSTS_CFS)) {
		if (atomic_xchg32(&c->cfs_seen, 1, MO_ACQ_REL) == 0)
			klog("nvme", "%s: controller fatal status: CSTS 0x%x", c->name, csts);
		return true;
	}
	return false;
}

static int wait_csts(struct nvme_ctrl *c, uint32_t mask, uint32_t want, uint64_t ms, const char *what)
{
	uint64_t deadline = time_now_ns() + ms * 1000000ull;
	uint32_t csts;
	while (((csts = nvme_csts(c)) & mask) != want) {
		if (csts == 0xFFFFFFFFu || (want & NVME_CSTS_RDY && csts & NVME_CSTS_CFS)) {
			klog("nvme", "%s: %s: controller fatal status, CSTS 0x%x", c->name, what, csts);
			return -EIO;
		}
		if (time_now_ns() > deadline) {
			klog("nvme", "%s: %s: not within %llu ms (CAP.TO), CSTS 0x%x", c->name, what,
			     (unsigned long long)ms, csts);
			return -ETIMEDOUT;
		}
		udelay(100);
	}
	return 0;
}

static uint64_t ready_ms(struct nvme_ctrl *c)
{
	return (uint64_t)(nvme_cap_to(c->cap) ? nvme_cap_to(c->cap) : 1) * 500u;
}

static int ctrl_disable(struct nvme_ctrl *c)
{
	uint32_t cc = hal_mmio_read32(c->regs + NVME_REG_CC);
	if (cc & NVME_CC_EN)
		hal_mmio_write32(c->regs + NVME_REG_CC, cc & ~(NVME_CC_EN | NVME_CC_SHN_MASK));
	return wait_csts(c, NVME_CSTS_RDY, 0, ready_ms(c), "CSTS.RDY to clear after CC.EN=0");
}

static int prep_prp1(struct nvme_queue *q, struct nvme_slot *s, struct nvme_sqe *cmd, void *arg)
{
	(void)q;
	(void)s;
	(void)cmd;
	(void)arg;
	return 0;
}

int nvme_admin_sync(struct nvme_ctrl *c, struct nvme_sqe *cmd, void *buf, dma_addr_t bus, uint16_t *status,
		    uint32_t *dw0)
{
	struct nvme_sync w = { 0 };
	uint16_t cid;
	(void)buf;
	if (buf)
		cmd->prp1 = bus;
	int rc = nvme_queue_submit(c->adminq, cmd, 0, &w, prep_prp1, 0, &cid);
	if (rc)
		return rc;
	rc = nvme_queue_wait(c->adminq, &w, cid, NVME_ADMIN_TIMEOUT_MS * 1000000ull);
	if (rc) {
		klog("nvme", "%s: admin opcode 0x%x: %s", c->name, cmd->opc, rc == -ETIMEDOUT ? "timed out" : "failed");
		return rc;
	}
	if (status)
		*status = w.status;
	if (dw0)
		*dw0 = w.dw0;
	return 0;
}

static int admin_ok(struct nvme_ctrl *c, struct nvme_sqe *cmd, void *buf, dma_addr_t bus, uint32_t *dw0,
		    const char *what)
{
	uint16_t st = 0;
	int rc = nvme_admin_sync(c, cmd, buf, bus, &st, dw0);
	if (rc)
		return rc;
	if (nvme_status_sc(st) || nvme_status_sct(st)) {
		klog("nvme", "%s: %s failed: sct=%x sc=%02x", c->name, what, nvme_status_sct(st), nvme_status_sc(st));
		return -EIO;
	}
	return 0;
}

static int identify_ctrl(struct nvme_ctrl *c)
{
	dma_addr_t bus;
	void *buf = dma_alloc_coherent(c->dd, PAGE_SIZE, &bus);
	if (!buf)
		return -ENOMEM;
	struct nvme_sqe cmd = { .opc = NVME_ADM_IDENTIFY, .cdw10 = NVME_CNS_CTRL };
	int rc = admin_ok(c, &cmd, buf, bus, 0, "Identify Controller");
	if (!rc) {
		const char *why;
		rc = nvme_id_ctrl_parse(buf, NVME_IDENTIFY_BYTES, &c->id, &why);
		if (rc)
			klog("nvme", "%s: Identify Controller: %s", c->name, why);
	}
	dma_free_coherent(c->dd, PAGE_SIZE, buf, bus);
	return rc;
}

/* Number of Queues (§5.21.1.7): ask for want pairs, get what was granted. */
static int set_num_queues(struct nvme_ctrl *c, unsigned want, unsigned *got)
{
	uint32_t dw0 = 0;
	struct nvme_sqe cmd = { .opc = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES,
				.cdw11 = (want - 1u) << NVME_NUMQ_CQ_SHIFT | (want - 1u) };
	int rc = admin_ok(c, &cmd, 0, 0, &dw0, "Set Features (Number of Queues)");
	if (rc)
		return rc;
	unsigned nsq = (dw0 & NVME_NUMQ_SQ_MASK) + 1u, ncq = (dw0 >> NVME_NUMQ_CQ_SHIFT) + 1u;
	unsigned n = nsq < ncq ? nsq : ncq;
	*got = n < want ? n : want;
	return 0;
}

static int create_io_queue(struct nvme_ctrl *c, struct nvme_queue *q)
{
	uint32_t qsz = (q->ring.depth - 1u) << NVME_CDW10_QSIZE_SHIFT;
	struct nvme_sqe cq = { .opc = NVME_ADM_CREATE_CQ, .prp1 = q->cq_bus, .cdw10 = qsz | q->qid,
			       .cdw11 = NVME_CREATE_CQ_PC };
	if (q->ien)
		cq.cdw11 |= NVME_CREATE_CQ_IEN | (uint32_t)q->vector << NVME_CREATE_CQ_IV_SHIFT;
	int rc = admin_ok(c, &cq, 0, 0, 0, "Create I/O Completion Queue");
	if (rc)
		return rc;
	struct nvme_sqe sq = { .opc = NVME_ADM_CREATE_SQ, .prp1 = q->sq_bus, .cdw10 = qsz | q->qid,
			       .cdw11 = NVME_CREATE_SQ_PC | (uint32_t)q->qid << NVME_CREATE_SQ_CQID_SHIFT };
	rc = admin_ok(c, &sq, 0, 0, 0, "Create I/O Submission Queue");
	if (rc) {
		struct nvme_sqe del = { .opc = NVME_ADM_DELETE_CQ, .cdw10 = q->qid };
		admin_ok(c, &del, 0, 0, 0, "Delete I/O Completion Queue");
	}
	return rc;
}

unsigned nvme_irq_allow(void)
{
	const char *m = cmdline_get("nvme.irq");
	if (!m)
		return PCI_IRQ_ALLOW_ALL;
	if (!kstrcmp(m, "msix"))
		return PCI_IRQ_ALLOW_ALL;
	if (!kstrcmp(m, "msi"))
		return PCI_IRQ_ALLOW_MSI | PCI_IRQ_ALLOW_INTX | PCI_IRQ_ALLOW_POLL;
	if (!kstrcmp(m, "intx"))
		return PCI_IRQ_ALLOW_INTX | PCI_IRQ_ALLOW_POLL;
	if (!kstrcmp(m, "poll"))
		return PCI_IRQ_ALLOW_POLL;
	klog("nvme", "nvme.irq=%s is not msix, msi, intx or poll: allowing all", m);
	return PCI_IRQ_ALLOW_ALL;
}

/* The k-th online CPU (0-based), the home of I/O queue k+1. */
static unsigned nth_online_cpu(unsigned k)
{
	unsigned seen = 0;
	for (unsigned cpu = 0; cpu < HAL_MAX_CPUS; cpu++)
		if (cpu_online(cpu) && seen++ == k)
			return cpu;
	return 0;
}

static int setup_irqs(struct nvme_ctrl *c)
{
	unsigned want = c->poll ? 1u : 1u + c->nr_ioq;
	int rc = pci_irq_alloc(c->pci, want, 0, c->irq_allow, nvme_irq_handler, c, &c->irq);
	if (rc) {
		klog("nvme", "%s: no interrupts and no polling allowed: %d", c->name, rc);
		return rc;
	}
	c->have_irq = true;
	bool intr = c->irq.mode != PCI_IRQ_POLL && c->irq.nvec > 0;
	c->adminq->vector = 0;
	c->adminq->ien = intr;
	for (unsigned k = 0; k < c->nr_ioq; k++) {
		struct nvme_queue *q = c->ioq[k];
		q->cpu = nth_online_cpu(k);
		q->ien = intr && !c->poll;
		q->vector = q->ien ? (uint16_t)((k + 1u) % c->irq.nvec) : 0;
	}
	if (c->irq.mode == PCI_IRQ_MSIX)
		for (unsigned k = 0; k < c->nr_ioq; k++)
			if (c->ioq[k]->ien && c->ioq[k]->vector == k + 1u)
				pci_irq_set_affinity(&c->irq, k + 1u, c->ioq[k]->cpu);
	if (intr)
		for (unsigned v = 0; v < c->irq.nvec; v++)
			pci_irq_unmask(&c->irq, v);
	return 0;
}

/* Bring the controller up. first: identify and size everything; else (reset or
 * reclaim) reuse what was decided, the queues' memory and (reset) the vectors. */
int nvme_ctrl_start(struct nvme_ctrl *c, bool first)
{
	int rc;
	if ((rc = ctrl_disable(c)))
		return rc;
	atomic_store32(&c->cfs_seen, 0, MO_RELEASE);
	if (!c->adminq) {
		c->adminq = nvme_queue_alloc(c, 0, NVME_ADMIN_DEPTH);
		if (!c->adminq)
			return -ENOMEM;
	} else {
		nvme_queue_reset_ring(c->adminq);
	}
	hal_mmio_write32(c->regs + NVME_REG_AQA, (NVME_ADMIN_DEPTH - 1u) << NVME_AQA_ACQS_SHIFT | (NVME_ADMIN_DEPTH - 1u));
	hal_mmio_write64(c->regs + NVME_REG_ASQ, c->adminq->sq_bus);
	hal_mmio_write64(c->regs + NVME_REG_ACQ, c->adminq->cq_bus);
	hal_mmio_write32(c->regs + NVME_REG_CC, NVME_CC_EN | NVME_CC_CSS_NVM << NVME_CC_CSS_SHIFT |
			 0u << NVME_CC_MPS_SHIFT | NVME_SQES_LOG2 << NVME_CC_IOSQES_SHIFT |
			 NVME_CQES_LOG2 << NVME_CC_IOCQES_SHIFT);
	if ((rc = wait_csts(c, NVME_CSTS_RDY, NVME_CSTS_RDY, ready_ms(c), "CSTS.RDY after CC.EN=1")))
		return rc;
	c->adminq->live = true;
	if (first && (rc = identify_ctrl(c)))
		return rc;
	unsigned got = 0;
	if ((rc = set_num_queues(c, first ? c->want_ioq : (c->nr_ioq ? c->nr_ioq : 1u), &got)))
		return rc;
	if (first) {
		c->nr_ioq = got;
		uint32_t mqes = nvme_cap_mqes(c->cap) + 1u;
		c->io_depth = mqes < NVME_IO_DEPTH_MAX ? mqes : NVME_IO_DEPTH_MAX;
	} else if (got < c->nr_ioq) {
		klog("nvme", "%s: after reset only %u queue pairs granted (had %u)", c->name, got, c->nr_ioq);
		return -EIO;
	}
	for (unsigned k = 0; k < c->nr_ioq; k++) {
		if (!c->ioq[k]) {
			c->ioq[k] = nvme_queue_alloc(c, (uint16_t)(k + 1u), c->io_depth);
			if (!c->ioq[k]) {
				c->nr_ioq = k;
				break;
			}
		} else {
			nvme_queue_reset_ring(c->ioq[k]);
		}
	}
	if (!c->have_irq && (rc = setup_irqs(c)))
		return rc;
	for (unsigned k = 0; k < c->nr_ioq; k++) {
		if ((rc = create_io_queue(c, c->ioq[k]))) {
			if (!first)
				return rc;
			klog("nvme", "%s: I/O queue %u not created: going on with %u", c->name, k + 1u, k);
			for (unsigned j = k; j < c->nr_ioq; j++) {
				nvme_queue_free(c->ioq[j]);
				c->ioq[j] = 0;
			}
			c->nr_ioq = k;
			break;
		}
	}
	for (unsigned k = 0; k < c->nr_ioq; k++) {
		spin_lock(&c->ioq[k]->lock);
		c->ioq[k]->live = true;
		spin_unlock(&c->ioq[k]->lock);
	}
	return 0;
}

/* Queues stop taking commands (submitters get busy) or start again. */
static void queues_live(struct nvme_ctrl *c, bool live)
{
	struct nvme_queue *qs[NVME_MAX_IOQ + 1];
	unsigned n = 0;
	if (c->adminq)
		qs[n++] = c->adminq;
	for (unsigned k = 0; k < c->nr_ioq; k++)
		qs[n++] = c->ioq[k];
	for (unsigned i = 0; i < n; i++) {
		spin_lock(&qs[i]->lock);
		qs[i]->live = live;
		spin_unlock(&qs[i]->lock);
	}
}

void nvme_ctrl_fail(struct nvme_ctrl *c, const char *why)
{
	if (atomic_xchg32(&c->state, NVME_FAILED, MO_ACQ_REL) == NVME_FAILED)
		return;
	klog("nvme", "%s: controller failed: %s", c->name, why);
	queues_live(c, false);
	for (unsigned i = 0; i < c->nns; i++)
		blk_dev_fail(&c->ns[i]->bdev, why);
	for (unsigned k = 0; k < c->nr_ioq; k++)
		nvme_queue_fail_all(c->ioq[k], BLK_E_NODEV);
	if (c->adminq)
		nvme_queue_fail_all(c->adminq, BLK_E_NODEV);
	ctrl_disable(c);
}

static void delete_io_queues(struct nvme_ctrl *c)
{
	for (unsigned k = c->nr_ioq; k-- > 0;) {
		struct nvme_sqe sq = { .opc = NVME_ADM_DELETE_SQ, .cdw10 = c->ioq[k]->qid };
		struct nvme_sqe cq = { .opc = NVME_ADM_DELETE_CQ, .cdw10 = c->ioq[k]->qid };
		admin_ok(c, &sq, 0, 0, 0, "Delete I/O Submission Queue");
		admin_ok(c, &cq, 0, 0, 0, "Delete I/O Completion Queue");
	}
}

int nvme_reset(struct nvme_ctrl *c, const char *why)
{
	uint32_t want = 0;
	if (!atomic_cas32(&c->recovery_busy, &want, 1, MO_ACQ_REL, MO_ACQUIRE)) {
		/* Someone else recovers: wait for the outcome. */
		while (atomic_load32(&c->recovery_busy, MO_ACQUIRE))
			udelay(100);
		return atomic_load32(&c->state, MO_ACQUIRE) == NVME_FAILED ? -EIO : 0;
	}
	int rc = 0;
	uint32_t st = atomic_load32(&c->state, MO_ACQUIRE);
	if (st != NVME_LIVE && st != NVME_SHUTDOWN) {
		rc = -ENODEV;
		goto out;
	}
	atomic_fetch_add64(&c->resets, 1, MO_RELAXED);
	klog("nvme", "%s: reset: %s", c->name, why);
	atomic_store32(&c->state, NVME_RESETTING, MO_RELEASE);
	queues_live(c, false);
	/* A controller that still answers gets its I/O queues deleted first
	 * (§7.6.1 orderly: commands end "aborted, SQ deleted" and are kept for
	 * resubmission) before CC.EN goes to 0. */
	for (unsigned k = 0; k < c->nr_ioq; k++)
		c->ioq[k]->requeue_aborted = true;
	/* After a completed shutdown (§7.6.2, CSTS.SHST not 00b) the controller has
	 * no I/O queues left (nvme_shutdown deleted them; QEMU and the model free
	 * them at CC.SHN): deleting them again only earns "invalid queue identifier". */
	bool was_shut = st == NVME_SHUTDOWN || (nvme_csts(c) & NVME_CSTS_SHST_MASK) != 0;
	if (!was_shut && !nvme_ctrl_fatal(c)) {
		c->adminq->live = true;
		delete_io_queues(c);
	}
	if ((rc = ctrl_disable(c)))
		goto fail;
	/* What completed before the controller stopped counts; the rest goes again. */
	for (unsigned k = 0; k < c->nr_ioq; k++)
		nvme_queue_reap(c->ioq[k]);
	for (unsigned k = 0; k < c->nr_ioq; k++)
		c->ioq[k]->requeue_aborted = false;
	nvme_queue_reap(c->adminq);
	nvme_queue_fail_all(c->adminq, BLK_E_IO);
	if ((rc = nvme_ctrl_start(c, false)))
		goto fail;
	unsigned again = 0;
	for (unsigned k = 0; k < c->nr_ioq; k++) {
		spin_lock(&c->ioq[k]->lock);
		c->ioq[k]->live = true;
		spin_unlock(&c->ioq[k]->lock);
		again += nvme_queue_resubmit_all(c->ioq[k]);
	}
	atomic_store32(&c->state, NVME_LIVE, MO_RELEASE);
	klog("nvme", "%s: reset done, %u commands resubmitted", c->name, again);
	goto out;
fail:
	nvme_ctrl_fail(c, "controller reset failed");
out:
	atomic_store32(&c->recovery_busy, 0, MO_RELEASE);
	return rc;
}

int nvme_shutdown(struct nvme_ctrl *c, uint32_t *csts)
{
	uint32_t st = atomic_load32(&c->state, MO_ACQUIRE);
	if (st != NVME_LIVE) {
		if (csts)
			*csts = nvme_csts(c);
		return st == NVME_FAILED ? -ENODEV : 0;
	}
	queues_live(c, false);
	c->adminq->live = true;
	delete_io_queues(c);
	/* §7.6.2: CC.SHN = 01b, then wait for CSTS.SHST = 10b (RTD3E, else a bound). */
	uint32_t cc = hal_mmio_read32(c->regs + NVME_REG_CC);
	hal_mmio_write32(c->regs + NVME_REG_CC, (cc & ~NVME_CC_SHN_MASK) | NVME_CC_SHN_NORMAL);
	uint64_t ms = c->id.rtd3e_us ? (c->id.rtd3e_us + 999u) / 1000u : NVME_SHUTDOWN_WAIT_MS;
	if (ms < 100)
		ms = 100;
	int rc = wait_csts(c, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_DONE, ms, "CSTS.SHST to report shutdown complete");
	c->adminq->live = false;
	atomic_store32(&c->state, NVME_SHUTDOWN, MO_RELEASE);
	if (csts)
		*csts = nvme_csts(c);
	return rc;
}

/* Stop: interrupts off, controller disabled; free_all also frees the queues and
 * the DMA state (the device may be taken over after this). */
void nvme_ctrl_stop(struct nvme_ctrl *c, bool free_all)
{
	queues_live(c, false);
	ctrl_disable(c);
	if (c->have_irq) {
		pci_irq_free(&c->irq);
		c->have_irq = false;
	}
	if (!free_all)
		return;
	for (unsigned k = 0; k < c->nr_ioq; k++) {
		nvme_queue_fail_all(c->ioq[k], BLK_E_NODEV);
		nvme_queue_free(c->ioq[k]);
		c->ioq[k] = 0;
	}
	if (c->adminq) {
		nvme_queue_fail_all(c->adminq, BLK_E_NODEV);
		nvme_queue_free(c->adminq);
		c->adminq = 0;
	}
}
