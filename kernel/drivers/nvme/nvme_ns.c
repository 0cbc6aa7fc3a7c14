/*
 * nvme_ns.c — namespaces as block devices (NVMe 1.4 §5.15.2.3 active namespace
 * list, §5.15.2.1 Identify Namespace) and the block operations on them: Read,
 * Write (§6.8, §6.14), Flush (§6.7), Write Zeroes (§6.16), Dataset Management
 * deallocate (§6.6) on the calling CPU's queue, segments mapped through the DMA
 * API and described by PRPs (§4.3); recovery of overdue commands (Abort §5.1,
 * then reset, then failing the device).
 */
#include "nvme_int.h"
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/errno.h>
#include <kernel/fault.h>
#include <kernel/heap.h>
#include <kernel/log.h>
#include <kernel/pmm.h>
#include <kernel/printf.h>
#include <kernel/string.h>
#include <kernel/time.h>

/* PRPs for a command whose bus segments are seg[0..nseg): list pages from the
 * slot's own (allocated on first need, kept). */
int nvme_ns_build_prps(struct nvme_queue *q, struct nvme_slot *s, struct nvme_sqe *cmd, const struct nvme_prp_seg *seg,
		       unsigned nseg, uint64_t total)
{
	lock_assert_held(&q->lock);
	struct nvme_ctrl *c = q->c;
	struct nvme_prp_pages pages = { .n = 0 };
	uint64_t pgs = 0;
	for (unsigned i = 0; i < nseg; i++)   /* from the last byte: no wrap at the top of bus space */
		if (seg[i].len)
			pgs += (seg[i].bus + seg[i].len - 1u) / NVME_PAGE - seg[i].bus / NVME_PAGE + 1u;
	unsigned need = nvme_prp_list_pages(pgs);
	if (need > NVME_PRP_PAGES_PER_CMD) {
		klog("nvme", "%s: transfer of %llu pages needs %u PRP list pages", c->name, (unsigned long long)pgs, need);
		return -E2BIG;
	}
	for (unsigned k = 0; k < need; k++) {
		if (!s->prp_va[k]) {
			s->prp_va[k] = dma_alloc_coherent(c->dd, PAGE_SIZE, &s->prp_bus[k]);
			if (!s->prp_va[k])
				return -ENOMEM;
		}
		pages.va[k] = s->prp_va[k];
		pages.bus[k] = s->prp_bus[k];
		pages.n = k + 1u;
	}
	const char *why = 0;
	int rc = nvme_prp_build(seg, nseg, total, c->max_xfer, &pages, &cmd->prp1, &cmd->prp2, &why);
	if (rc)
		klog("nvme", "%s: PRPs refused: %s", c->name, why ? why : "?");
	return rc;
}

struct map_arg {
	struct blk_seg *segs;
	unsigned nsegs;
	uint64_t total;
	enum dma_dir dir;
};

/* Map the data segments into the slot and build the PRPs. */
static int prep_data(struct nvme_queue *q, struct nvme_slot *s, struct nvme_sqe *cmd, void *arg)
{
	lock_assert_held(&q->lock);
	struct map_arg *m = arg;
	struct nvme_prp_seg seg[BLK_MAX_SEGS];
	if (m->nsegs == 0 || m->nsegs > BLK_MAX_SEGS)
		return -EINVAL;
	memset(s->sg, 0, sizeof s->sg);
	for (unsigned i = 0; i < m->nsegs; i++) {
		s->sg[i].va = m->segs[i].va;
		s->sg[i].len = m->segs[i].len;
	}
	s->dir = m->dir;
	/* Spare entries (length 0) leave room for the bus segments (docs/dma.md). */
	int n = dma_map_sg(q->c->dd, s->sg, (int)BLK_MAX_SEGS, m->dir);
	if (n <= 0)
		return -ENOMEM;
	s->nsg = (int)BLK_MAX_SEGS;
	for (int i = 0; i < n; i++) {
		seg[i].bus = s->sg[i].bus;
		seg[i].len = s->sg[i].bus_len;
	}
	int rc = nvme_ns_build_prps(q, s, cmd, seg, (unsigned)n, m->total);
	if (rc)
		nvme_slot_unmap(q, s);
	return rc;
}

/* DSM: one range in the slot's first list page, which DSM does not otherwise use. */
static int prep_dsm(struct nvme_queue *q, struct nvme_slot *s, struct nvme_sqe *cmd, void *arg)
{
	struct blk_part *p = arg;
	if (!s->prp_va[0]) {
		s->prp_va[0] = dma_alloc_coherent(q->c->dd, PAGE_SIZE, &s->prp_bus[0]);
		if (!s->prp_va[0])
			return -ENOMEM;
	}
	struct nvme_dsm_range *r = (struct nvme_dsm_range *)s->prp_va[0];
	memset(r, 0, sizeof *r);
	r->nlb = p->nblocks;
	r->slba = p->lba;
	cmd->prp1 = s->prp_bus[0];
	return 0;
}

struct nvme_queue *nvme_queue_of_cpu(struct nvme_ctrl *c)
{
	return c->ioq[hal_cpu_index() % c->nr_ioq];
}

static int ns_submit(struct blk_dev *d, struct blk_part *p)
{
	struct nvme_ns *ns = d->drv;
	struct nvme_ctrl *c = ns->c;
	uint32_t st = atomic_load32(&c->state, MO_ACQUIRE);
	if (st == NVME_FAILED || st == NVME_SHUTDOWN || st == NVME_RELEASED || !c->nr_ioq)
		return BLK_E_NODEV;
	if (st == NVME_RESETTING)
		return -EAGAIN;
	struct nvme_queue *q = nvme_queue_of_cpu(c);
	struct nvme_sqe cmd = { .nsid = ns->nsid };
	struct map_arg m = { .segs = p->segs, .nsegs = p->nsegs,
			     .total = (uint64_t)p->nblocks * ns->info.block_size };
	int (*prep)(struct nvme_queue *, struct nvme_slot *, struct nvme_sqe *, void *) = 0;
	void *arg = 0;
	switch (p->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE:
		if (p->nblocks == 0 || p->nblocks > 0x10000u)
			return BLK_E_INVAL;
		cmd.opc = p->op == BLK_OP_READ ? NVME_CMD_READ : NVME_CMD_WRITE;
		m.dir = p->op == BLK_OP_READ ? DMA_FROM_DEVICE : DMA_TO_DEVICE;
		prep = prep_data;
		arg = &m;
		break;
	case BLK_OP_FLUSH:
		cmd.opc = NVME_CMD_FLUSH;
		break;
	case BLK_OP_WRITE_ZEROES:
		if (!(c->id.oncs & NVME_ONCS_WRITE_ZEROES))
			return BLK_E_NOTSUP;
		if (p->nblocks == 0 || p->nblocks > 0x10000u)
			return BLK_E_INVAL;
		cmd.opc = NVME_CMD_WRITE_ZEROES;
		break;
	case BLK_OP_DISCARD:
		if (!(c->id.oncs & NVME_ONCS_DSM))
			return BLK_E_NOTSUP;
		cmd.opc = NVME_CMD_DSM;
		cmd.cdw10 = 0;                  /* one range (0-based count) */
		cmd.cdw11 = NVME_DSM_AD;
		prep = prep_dsm;
		arg = p;
		break;
	default:
		return BLK_E_INVAL;
	}
	if (p->op == BLK_OP_READ || p->op == BLK_OP_WRITE || p->op == BLK_OP_WRITE_ZEROES) {
		cmd.cdw10 = (uint32_t)p->lba;
		cmd.cdw11 = (uint32_t)(p->lba >> 32);
		cmd.cdw12 = (p->nblocks - 1u) & NVME_RW_NLB_MASK;
	}
	int rc = nvme_queue_submit(q, &cmd, p, 0, prep, arg, 0);
	switch (rc) {
	case 0: return 0;
	case -EAGAIN: return -EAGAIN;
	case -ENOMEM: return BLK_E_NOMEM;
	case -ENODEV: return BLK_E_NODEV;
	default: return BLK_E_INVAL;
	}
}

static unsigned ns_poll(struct blk_dev *d, bool all)
{
	struct nvme_ns *ns = d->drv;
	struct nvme_ctrl *c = ns->c;
	if (!c->nr_ioq)
		return 0;
	if (!all)
		return nvme_queue_reap(nvme_queue_of_cpu(c));
	unsigned n = 0;
	for (unsigned k = 0; k < c->nr_ioq; k++)
		n += nvme_queue_reap(c->ioq[k]);
	return n;
}

/* Overdue part: Abort first (the command our Abort ends goes once more,
 * nvme_queue.c); still there a period later, or CSTS.CFS: reset and resubmit
 * once; overdue again after a resubmission (or CFS again): the device is failed.
 * The slot is looked at under its queue's lock: the part may complete (and its
 * slot be reused) while this runs; an Abort for a cid that completed meanwhile
 * finds nothing and is harmless (the cid's generation moved on). */
static void ns_timeout(struct blk_dev *d, struct blk_part *p)
{
	struct nvme_ns *ns = d->drv;
	struct nvme_ctrl *c = ns->c;
	struct nvme_queue *q;
	unsigned idx;
	if (atomic_load32(&c->state, MO_ACQUIRE) == NVME_FAILED)
		return;
	if (!nvme_slot_find_part(c, p, &q, &idx))
		return;                         /* completed meanwhile */
	enum { GONE, EARLY, AGAIN, ABORT, RESET } act;
	uint16_t cid = 0;
	uint64_t tmo = p->rq->timeout_ns ? p->rq->timeout_ns : d->lim.default_timeout_ns;
	uint64_t now = time_now_ns();
	spin_lock(&q->lock);
	struct nvme_slot *s = &q->slot[idx];
	if (s->part != p || atomic_load32(&q->slot_state[idx], MO_ACQUIRE) != NVME_SLOT_ISSUED) {
		act = GONE;
	} else if (s->resubmits && now - s->issue_ns < tmo) {
		/* The deadline was the first issue's: resubmitted (reset, retry) since,
		 * it gets its full period again (the block layer moved it already). */
		act = EARLY;
		cid = s->sqe.cid;
	} else {
		s->timeouts++;
		cid = s->sqe.cid;
		if (s->resubmits)
			act = AGAIN;
		else if (!s->aborted)
			act = ABORT;
		else
			act = RESET;
		if (act == ABORT)
			s->aborted = 1;
	}
	spin_unlock(&q->lock);
	if (act == GONE) {
		atomic_fetch_add64(&c->timeout_races, 1, MO_RELAXED);
		klog("nvme", "%s: q%u cid 0x%x completed while its timeout was handled: nothing to do", c->name, q->qid,
		     p->tag);
		return;
	}
	if (act == EARLY) {
		klog("nvme", "%s: cid 0x%x on q%u resubmitted %llu ms ago: given its full period", c->name, cid, q->qid,
		     (unsigned long long)((now - s->issue_ns) / 1000000u));
		return;
	}
	if (nvme_ctrl_fatal(c)) {
		if (atomic_fetch_add32(&c->cfs_resets, 1, MO_ACQ_REL) > 0) {
			nvme_ctrl_fail(c, "controller fatal status (CSTS.CFS) again after a reset");
			return;
		}
		nvme_reset(c, "controller fatal status (CSTS.CFS)");
		return;
	}
	switch (act) {
	case AGAIN:
		klog("nvme", "%s: cid 0x%x on q%u overdue again after it was resubmitted", c->name, cid, q->qid);
		nvme_ctrl_fail(c, "command timed out again after being resubmitted");
		return;
	case ABORT: {
		atomic_fetch_add64(&c->aborts, 1, MO_RELAXED);
		klog("nvme", "%s: cid 0x%x on q%u overdue: Abort", c->name, cid, q->qid);
		if (FAULT_SITE("nvme.drv.abort_lost")) {
			/* as if the Abort itself were lost: the next report resets */
			klog("nvme", "%s: Abort of cid 0x%x on q%u lost (fault site)", c->name, cid, q->qid);
			return;
		}
		struct nvme_sqe ab = { .opc = NVME_ADM_ABORT, .cdw10 = (uint32_t)cid << NVME_ABORT_CID_SHIFT | q->qid };
		uint16_t st = 0;
		uint32_t dw0 = 0;
		if (nvme_admin_sync(c, &ab, 0, 0, &st, &dw0) == 0) {
			if (dw0 & NVME_ABORT_NOT_ABORTED)
				klog("nvme", "%s: Abort of cid 0x%x on q%u: not aborted (not found)", c->name, cid, q->qid);
			nvme_queue_reap(q);
		}
		return;
	}
	default:
		nvme_reset(c, "command still outstanding after Abort");
		return;
	}
}

static void ns_shutdown(struct blk_dev *d)
{
	struct nvme_ns *ns = d->drv;
	nvme_shutdown(ns->c, 0);
}

static const struct blk_dev_ops nvme_blk_ops = {
	.submit = ns_submit,
	.poll = ns_poll,
	.timeout = ns_timeout,
	.shutdown = ns_shutdown,
};

static int ns_register(struct nvme_ctrl *c, uint32_t nsid, const struct nvme_ns_info *info)
{
	if (c->nns >= NVME_MAX_NS) {
		klog("nvme", "%s: namespace %u skipped: more than %u namespaces", c->name, nsid, NVME_MAX_NS);
		return -ENOSPC;
	}
	struct nvme_ns *ns = kzalloc(sizeof *ns);
	if (!ns)
		return -ENOMEM;
	ns->c = c;
	ns->nsid = nsid;
	ns->info = *info;
	struct blk_dev *d = &ns->bdev;
	ksnprintf(d->name, sizeof d->name, "%sn%u", c->name, nsid);
	ksnprintf(ns->model, sizeof ns->model, "%s %s", c->id.mn, c->id.sn);
	d->nblocks = info->nsze;
	d->lim.block_size = info->block_size;
	uint64_t mb = c->max_xfer / info->block_size;
	d->lim.max_blocks = (uint32_t)(mb > 0x10000u ? 0x10000u : (mb ? mb : 1));
	d->lim.max_segs = BLK_MAX_SEGS < NVME_PRP_PER_PAGE ? BLK_MAX_SEGS : NVME_PRP_PER_PAGE;
	d->lim.virt_boundary = NVME_PAGE - 1u;
	d->lim.dma_align = 4;
	d->lim.flush = (c->id.vwc & NVME_VWC_PRESENT) != 0;
	d->lim.max_write_zeroes_blocks = (c->id.oncs & NVME_ONCS_WRITE_ZEROES) ? 0x10000u : 0;
	d->lim.max_discard_blocks = (c->id.oncs & NVME_ONCS_DSM) ? 0x1000000u : 0;
	d->lim.nr_hwq = c->nr_ioq;
	d->lim.default_timeout_ns = c->timeout_ns;
	d->lim.polled = c->poll;
	d->ops = &nvme_blk_ops;
	d->drv = ns;
	d->model = ns->model;
	int rc = blk_register(d);
	if (rc) {
		klog("nvme", "%s: namespace %u not registered: %d", c->name, nsid, rc);
		kfree(ns);
		return rc;
	}
	c->ns[c->nns++] = ns;
	return 0;
}

int nvme_ns_scan(struct nvme_ctrl *c)
{
	dma_addr_t bus;
	uint32_t *list = dma_alloc_coherent(c->dd, PAGE_SIZE, &bus);
	dma_addr_t nbus;
	void *nsbuf = dma_alloc_coherent(c->dd, PAGE_SIZE, &nbus);
	int rc = -ENOMEM;
	if (!list || !nsbuf)
		goto out;
	uint16_t st = 0;
	struct nvme_sqe cmd = { .opc = NVME_ADM_IDENTIFY, .nsid = 0, .cdw10 = NVME_CNS_NS_LIST };
	rc = nvme_admin_sync(c, &cmd, list, bus, &st, 0);
	if (rc)
		goto out;
	unsigned nlist = 0;
	if (nvme_status_sc(st) || nvme_status_sct(st)) {
		/* Before 1.1 there is no list: namespaces 1..NN. */
		klog("nvme", "%s: no active namespace list (sct=%x sc=%02x): trying 1..NN", c->name,
		     nvme_status_sct(st), nvme_status_sc(st));
		for (uint32_t i = 1; i <= c->id.nn && nlist < NVME_IDENTIFY_BYTES / 4u; i++)
			list[nlist++] = i;
	} else {
		while (nlist < NVME_IDENTIFY_BYTES / 4u && list[nlist])
			nlist++;
	}
	uint32_t prev = 0;
	for (unsigned i = 0; i < nlist; i++) {
		uint32_t nsid = list[i];
		if (nsid <= prev || nsid == NVME_NSID_ALL) {
			klog("nvme", "%s: active namespace list entry %u (nsid %u) out of order: list ends", c->name, i, nsid);
			break;
		}
		prev = nsid;
		memset(nsbuf, 0, PAGE_SIZE);
		struct nvme_sqe idn = { .opc = NVME_ADM_IDENTIFY, .nsid = nsid, .cdw10 = NVME_CNS_NS };
		if (nvme_admin_sync(c, &idn, nsbuf, nbus, &st, 0) || nvme_status_sc(st) || nvme_status_sct(st)) {
			klog("nvme", "%s: namespace %u skipped: Identify Namespace failed (sct=%x sc=%02x)", c->name, nsid,
			     nvme_status_sct(st), nvme_status_sc(st));
			continue;
		}
		struct nvme_ns_info info;
		const char *why = 0;
		if (nvme_id_ns_parse(nsbuf, NVME_IDENTIFY_BYTES, &info, &why)) {
			klog("nvme", "%s: namespace %u skipped: %s", c->name, nsid, why);
			continue;
		}
		ns_register(c, nsid, &info);
	}
	rc = 0;
out:
	if (list)
		dma_free_coherent(c->dd, PAGE_SIZE, list, bus);
	if (nsbuf)
		dma_free_coherent(c->dd, PAGE_SIZE, nsbuf, nbus);
	return rc;
}
