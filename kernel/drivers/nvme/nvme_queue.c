/*
 * nvme_queue.c — a queue pair on a live controller (NVMe 1.4 §4.1, §4.6, §7.2):
 * SQ and CQ rings in coherent DMA memory, doorbells at CAP.DSTRD stride, command
 * issue with a tracker per cid, reaping by phase tag with one CQ head doorbell per
 * batch, the interrupt handler, the bounded wait of synchronous commands (halted
 * between interrupts, reaping in the loop so polled queues progress), and the
 * failure/resubmission walks used by reset.
 */
#include "nvme_int.h"
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/log.h>
#include <kernel/panic.h>
#include <kernel/pmm.h>
#include <kernel/string.h>
#include <kernel/time.h>

static size_t page_round(size_t n)
{
	return (n + PAGE_SIZE - 1) & ~(size_t)(PAGE_SIZE - 1);
}

struct nvme_queue *nvme_queue_alloc(struct nvme_ctrl *c, uint16_t qid, uint32_t depth)
{
	struct nvme_queue *q = kzalloc(sizeof *q);
	if (!q)
		return 0;
	q->c = c;
	q->qid = qid;
	spin_init(&q->lock, "nvme.q");
	q->slot = kzalloc(depth * sizeof *q->slot);
	q->slot_state = kzalloc(depth * sizeof *q->slot_state);
	q->slot_gen = kzalloc(depth * sizeof *q->slot_gen);
	q->sq_bytes = page_round(depth * sizeof(struct nvme_sqe));
	q->cq_bytes = page_round(depth * sizeof(struct nvme_cqe));
	if (q->slot && q->slot_state && q->slot_gen) {
		q->sq_va = dma_alloc_coherent(c->dd, q->sq_bytes, &q->sq_bus);
		q->cq_va = dma_alloc_coherent(c->dd, q->cq_bytes, &q->cq_bus);
	}
	if (!q->sq_va || !q->cq_va) {
		klog("nvme", "%s: no memory for queue %u (%u entries)", c->name, qid, depth);
		nvme_queue_free(q);
		return 0;
	}
	q->sq_db = c->regs + NVME_SQ_TDBL(qid, c->dstrd);
	q->cq_db = c->regs + NVME_CQ_HDBL(qid, c->dstrd);
	nvme_ring_init(&q->ring, q->sq_va, q->cq_va, depth, q->slot_state, q->slot_gen);
	return q;
}

void nvme_queue_free(struct nvme_queue *q)
{
	if (!q)
		return;
	struct dma_dev *dd = q->c->dd;
	if (q->slot)
		for (uint32_t i = 0; i < q->ring.depth; i++)
			for (unsigned k = 0; k < NVME_PRP_PAGES_PER_CMD; k++)
				if (q->slot[i].prp_va[k])
					dma_free_coherent(dd, PAGE_SIZE, q->slot[i].prp_va[k], q->slot[i].prp_bus[k]);
	if (q->sq_va)
		dma_free_coherent(dd, q->sq_bytes, q->sq_va, q->sq_bus);
	if (q->cq_va)
		dma_free_coherent(dd, q->cq_bytes, q->cq_va, q->cq_bus);
	kfree(q->slot);
	kfree(q->slot_state);
	kfree(q->slot_gen);
	kfree(q);
}

void nvme_queue_reset_ring(struct nvme_queue *q)
{
	spin_lock(&q->lock);
	nvme_ring_reset(&q->ring);
	spin_unlock(&q->lock);
}

int nvme_queue_submit(struct nvme_queue *q, struct nvme_sqe *cmd, struct blk_part *part, struct nvme_sync *sync,
		      int (*prep)(struct nvme_queue *q, struct nvme_slot *s, struct nvme_sqe *cmd, void *arg),
		      void *arg, uint16_t *cid_out)
{
	uint16_t cid;
	spin_lock(&q->lock);
	if (!q->live) {
		spin_unlock(&q->lock);
		return atomic_load32(&q->c->state, MO_ACQUIRE) == NVME_FAILED ? -ENODEV : -EAGAIN;
	}
	if (nvme_ring_slot_get(&q->ring, &cid)) {
		spin_unlock(&q->lock);
		return -EAGAIN;
	}
	unsigned i = nvme_cid_index(cid);
	struct nvme_slot *s = &q->slot[i];
	s->part = part;
	s->sync = sync;
	s->nsg = 0;
	s->timeouts = s->resubmits = s->aborted = 0;
	s->issue_ns = part ? time_now_ns() : 0;
	cmd->cid = cid;
	if (prep) {
		int rc = prep(q, s, cmd, arg);
		if (rc) {
			s->part = 0;
			s->sync = 0;
			nvme_ring_slot_put(&q->ring, i);
			spin_unlock(&q->lock);
			return rc;
		}
	}
	s->sqe = *cmd;
	if (part) {
		part->hwq = q->qid;
		part->tag = cid;
		part->drv = s;
	}
	nvme_ring_push(&q->ring, cmd);      /* room: slot_get checked the SQ */
	/* The SQE stores reach memory before the doorbell write: x86 keeps stores in
	 * order and the doorbell is an uncached write; the fence orders them for the
	 * compiler and the simulator. */
	atomic_fence(MO_RELEASE);
	hal_mmio_write32(q->sq_db, q->ring.sq_tail);
	q->submitted++;
	spin_unlock(&q->lock);
	if (cid_out)
		*cid_out = cid;
	return 0;
}

void nvme_slot_unmap(struct nvme_queue *q, struct nvme_slot *s)
{
	if (s->nsg) {
		dma_unmap_sg(q->c->dd, s->sg, s->nsg, s->dir);
		s->nsg = 0;
	}
}

/* The slot at idx is claimed (COMPLETING): finish its command with status. */
static void finish_slot(struct nvme_queue *q, unsigned idx, uint16_t status, uint32_t dw0)
{
	struct nvme_slot *s = &q->slot[idx];
	struct blk_part *p = s->part;
	struct nvme_sync *w = s->sync;
	nvme_slot_unmap(q, s);
	s->part = 0;
	s->sync = 0;
	spin_lock(&q->lock);
	nvme_ring_slot_put(&q->ring, idx);
	q->completed++;
	spin_unlock(&q->lock);
	if (p) {
		uint32_t sc = nvme_status_sc(status), sct = nvme_status_sct(status);
		blk_part_done(p, (sc || sct) ? BLK_E_IO : BLK_OK, sct << 8 | sc);
	} else if (w) {
		w->status = status;
		w->dw0 = dw0;
		/* release: status and dw0 before done; the waiter may return at once */
		atomic_store32(&w->done, 1, MO_RELEASE);
	}
}

/* A block command our own Abort ended (§5.1: "Command Abort Requested") goes
 * once more with the same cid: the device lost or stalled it, the data is intact.
 * Claimed slot idx stays ISSUED. True when requeued. */
static bool abort_retry(struct nvme_queue *q, unsigned idx, uint16_t status)
{
	struct nvme_slot *s = &q->slot[idx];
	lock_assert_held(&q->lock);
	if (!s->part || !s->aborted || s->resubmits || !q->live || nvme_status_sct(status) != NVME_SCT_GENERIC ||
	    nvme_status_sc(status) != NVME_SC_ABORT_REQUESTED)
		return false;
	if (nvme_ring_push(&q->ring, &s->sqe) < 0)
		return false;   /* no SQ room: it completes with the abort status */
	s->resubmits++;
	s->issue_ns = time_now_ns();
	atomic_fetch_add64(&q->c->resubmitted, 1, MO_RELAXED);
	atomic_store32(&q->slot_state[idx], NVME_SLOT_ISSUED, MO_RELEASE);
	klog("nvme", "%s q%u: cid 0x%x ended by our Abort: resubmitted", q->c->name, q->qid, s->sqe.cid);
	return true;
}

unsigned nvme_queue_reap(struct nvme_queue *q)
{
	unsigned total = 0;
	struct { unsigned idx; uint16_t status; uint32_t dw0; } b[NVME_REAP_BATCH];
	for (;;) {
		unsigned n = 0, again = 0;
		bool popped = false;
		struct nvme_cqe e;
		spin_lock(&q->lock);
		while (n < NVME_REAP_BATCH && nvme_ring_pop(&q->ring, &e)) {
			popped = true;
			unsigned idx;
			if (e.sq_id != q->qid) {
				if (++q->ring.dropped <= 8)
					klog("nvme", "%s q%u: completion names SQ %u (cid 0x%x): dropped", q->c->name, q->qid,
					     e.sq_id, e.cid);
				continue;
			}
			int rc = nvme_ring_claim(&q->ring, e.cid, &idx);
			if (rc == 0 && q->requeue_aborted && nvme_status_sct(e.status) == NVME_SCT_GENERIC &&
			    nvme_status_sc(e.status) == NVME_SC_ABORTED_SQ_DELETION) {
				/* the reset deleted its queue: it goes again on the new one */
				atomic_store32(&q->slot_state[idx], NVME_SLOT_ISSUED, MO_RELEASE);
				continue;
			}
			if (rc == 0 && abort_retry(q, idx, e.status)) {
				again++;
				continue;
			}
			if (rc == 0) {
				b[n].idx = idx;
				b[n].status = e.status & (uint16_t)~NVME_STATUS_P;
				b[n].dw0 = e.dw0;
				n++;
			} else if (rc != -ECANCELED) {
				/* A hostile device can post thousands: the first few lines name
				 * what happened, the stats line at the end counts them all. */
				if (++q->ring.dropped <= 8)
					klog("nvme", "%s q%u: completion for cid 0x%x %s: dropped%s", q->c->name, q->qid,
					     e.cid, rc == -ENOENT ? "unknown or stale" : "not in flight or completed already",
					     q->ring.dropped == 8 ? " (further ones on this queue counted only)" : "");
			}
		}
		if (popped)
			hal_mmio_write32(q->cq_db, q->ring.cq_head);   /* one head doorbell per batch */
		if (again) {
			atomic_fence(MO_RELEASE);   /* the SQEs before the doorbell */
			hal_mmio_write32(q->sq_db, q->ring.sq_tail);
		}
		spin_unlock(&q->lock);
		for (unsigned i = 0; i < n; i++)
			finish_slot(q, b[i].idx, b[i].status, b[i].dw0);
		total += n;
		if (n < NVME_REAP_BATCH)
			return total;
	}
}

int nvme_queue_wait(struct nvme_queue *q, struct nvme_sync *w, uint16_t cid, uint64_t timeout_ns)
{
	uint64_t deadline = time_now_ns() + timeout_ns;
	int rc = 0;
	for (;;) {
		nvme_queue_reap(q);
		if (atomic_load32(&w->done, MO_ACQUIRE))
			return 0;
		if (nvme_ctrl_fatal(q->c)) {
			rc = -EIO;
			break;
		}
		if (time_now_ns() > deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		/* Check with interrupts off, then halt: the completion interrupt (or the
		 * tick) wakes us; no lost wake-up. */
		if (!time_can_halt()) {     /* no interrupt or tick could end a halt */
			hal_cpu_relax();
			continue;
		}
		unsigned long f = hal_irq_save();
		if (!atomic_load32(&w->done, MO_ACQUIRE))
			hal_cpu_halt();
		hal_irq_restore(f);
	}
	/* Give the slot up: a late completion then only frees it. If a completer
	 * claimed it already, its result is on the way. */
	unsigned idx = nvme_cid_index(cid);
	uint32_t want = NVME_SLOT_ISSUED;
	spin_lock(&q->lock);
	bool abandoned = idx < q->ring.depth && q->slot[idx].sync == w &&
			 atomic_cas32(&q->slot_state[idx], &want, NVME_SLOT_ABANDONED, MO_ACQ_REL, MO_ACQUIRE);
	if (abandoned) {
		q->slot[idx].sync = 0;
		nvme_slot_unmap(q, &q->slot[idx]);
	}
	spin_unlock(&q->lock);
	if (!abandoned)
		while (!atomic_load32(&w->done, MO_ACQUIRE))
			hal_cpu_relax();
	return abandoned ? rc : 0;
}

void nvme_queue_fail_all(struct nvme_queue *q, int status)
{
	for (uint32_t i = 0; i < q->ring.depth; i++) {
		uint32_t want = NVME_SLOT_ISSUED;
		if (atomic_cas32(&q->slot_state[i], &want, NVME_SLOT_COMPLETING, MO_ACQ_REL, MO_ACQUIRE)) {
			struct nvme_slot *s = &q->slot[i];
			struct blk_part *p = s->part;
			struct nvme_sync *w = s->sync;
			nvme_slot_unmap(q, s);
			s->part = 0;
			s->sync = 0;
			spin_lock(&q->lock);
			nvme_ring_slot_put(&q->ring, i);
			spin_unlock(&q->lock);
			if (p) {
				blk_part_done(p, status, 0);
			} else if (w) {
				w->status = (uint16_t)(NVME_SCT_GENERIC << NVME_STATUS_SCT_SHIFT |
						       NVME_SC_ABORTED_SQ_DELETION << NVME_STATUS_SC_SHIFT);
				atomic_store32(&w->done, 1, MO_RELEASE);
			}
		} else if (want == NVME_SLOT_ABANDONED) {
			spin_lock(&q->lock);
			nvme_ring_slot_put(&q->ring, i);
			spin_unlock(&q->lock);
		}
	}
}

unsigned nvme_queue_resubmit_all(struct nvme_queue *q)
{
	unsigned n = 0;
	spin_lock(&q->lock);
	for (uint32_t i = 0; i < q->ring.depth; i++) {
		if (atomic_load32(&q->slot_state[i], MO_ACQUIRE) == NVME_SLOT_ABANDONED) {
			nvme_ring_slot_put(&q->ring, i);
			continue;
		}
		if (atomic_load32(&q->slot_state[i], MO_ACQUIRE) != NVME_SLOT_ISSUED)
			continue;
		q->slot[i].resubmits++;
		q->slot[i].aborted = 0;
		q->slot[i].issue_ns = time_now_ns();
		nvme_ring_push(&q->ring, &q->slot[i].sqe);
		n++;
	}
	if (n) {
		atomic_fetch_add64(&q->c->resubmitted, n, MO_RELAXED);
		atomic_fence(MO_RELEASE);   /* SQEs before the doorbell */
		hal_mmio_write32(q->sq_db, q->ring.sq_tail);
	}
	spin_unlock(&q->lock);
	return n;
}

bool nvme_slot_find_part(struct nvme_ctrl *c, struct blk_part *p, struct nvme_queue **qo, unsigned *idx)
{
	if (p->hwq == 0 || p->hwq > c->nr_ioq)
		return false;
	struct nvme_queue *q = c->ioq[p->hwq - 1];
	unsigned i = nvme_cid_index((uint16_t)p->tag);
	if (!q || i >= q->ring.depth || q->slot[i].part != p)
		return false;
	*qo = q;
	*idx = i;
	return true;
}

void nvme_irq_handler(unsigned idx, void *arg)
{
	struct nvme_ctrl *c = arg;
	unsigned n = 0;
	atomic_fetch_add64(&c->irqs, 1, MO_RELAXED);
	if (c->adminq && c->adminq->vector == idx)
		n += nvme_queue_reap(c->adminq);
	for (unsigned k = 0; k < c->nr_ioq; k++) {
		struct nvme_queue *q = c->ioq[k];
		if (q && q->ien && q->vector == idx)
			n += nvme_queue_reap(q);
	}
	/* Nothing to reap: a shared line, or a controller gone fatal (§3.1.6 CFS). */
	if (!n && c->pci->irq_mode != PCI_IRQ_INTX)
		nvme_ctrl_fatal(c);
}
