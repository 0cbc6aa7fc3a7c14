/*
 * nvme_queue.c — NVMe controller model, queues (NVM Express 1.4 §4.1 queue
 * mechanics, §4.6 completion entries and the phase tag, §3.1.24-25 doorbells,
 * §7.5 interrupts) and the work loop. A doorbell only records the new tail/head;
 * the work is done one unit at a time by nvme_step (fetch and run one command, or
 * post one held completion), from the controller's worker thread or the caller's
 * stepping. A completion is posted with the phase tag written last, the CQ's vector
 * is raised if IEN (MSI-X masking and the PBA are the fabric's); a full CQ stops
 * fetching from its SQs until the host moves the head.
 */
#include "nvme/nvme_int.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#define DB_STRIDE 4u                /* 4 << CAP.DSTRD, DSTRD = 0 */
#define HELD_RESERVE 2u             /* a command may hold up to 2 completions */

static int dma(struct nvme_ctrl *c, uint64_t addr, void *buf, unsigned len, bool write)
{
	int err = write ? pci_model_dma_write(c->fn, addr, buf, len)
			: pci_model_dma_read(c->fn, addr, buf, len);

	if (err == -EACCES) {
		c->st.dma_no_master++;
		nvme_log(c, "DMA %s 0x%llx+%u dropped: bus mastering is off",
			 write ? "write to" : "read of", (unsigned long long)addr, len);
	} else if (err) {
		err = -EFAULT;
		c->st.dma_blocked++;
		nvme_log(c, "DMA %s 0x%llx+%u blocked by the IOMMU or outside RAM",
			 write ? "write to" : "read of", (unsigned long long)addr, len);
	}
	return err;
}

int nvme_dma_read(struct nvme_ctrl *c, uint64_t addr, void *buf, unsigned len)
{
	return dma(c, addr, buf, len, false);
}

int nvme_dma_write(struct nvme_ctrl *c, uint64_t addr, const void *buf, unsigned len)
{
	return dma(c, addr, (void *)buf, len, true);
}

/* ---- interrupts (§7.5) ---------------------------------------------------------------- */

static bool cq_pending(const struct nvme_cq *cq)
{
	return cq->valid && cq->ien && cq->head != cq->tail;
}

/* INTMS masks vectors 0..31 (pin-based and MSI; the host must not use it with MSI-X). */
static bool vec_masked(const struct nvme_ctrl *c, uint16_t iv)
{
	return iv < 32 && (c->intms >> iv & 1u);
}

static void irq_raise(struct nvme_ctrl *c, uint16_t iv)
{
	if (vec_masked(c, iv))
		return;         /* sent on INTMC if still pending */
	if (pci_model_irq_raise(c->fn, iv))
		c->st.irqs_raised++;
}

/* INTx is level: deassert once no unmasked CQ has entries the host has not consumed. */
static void intx_update(struct nvme_ctrl *c)
{
	for (unsigned q = 0; q < NVME_NQ; q++)
		if (cq_pending(&c->cq[q]) && !vec_masked(c, c->cq[q].iv))
			return;
	pci_model_irq_lower(c->fn);
}

void nvme_irq_mask_changed(struct nvme_ctrl *c, uint32_t old_mask)
{
	uint32_t unmasked = old_mask & ~c->intms;

	for (unsigned q = 0; q < NVME_NQ; q++) {
		struct nvme_cq *cq = &c->cq[q];

		if (cq_pending(cq) && cq->iv < 32 && (unmasked >> cq->iv & 1u))
			irq_raise(c, cq->iv);
	}
	if (c->intms & ~old_mask)
		intx_update(c);
}

/* ---- queues ----------------------------------------------------------------------------- */

static unsigned sq_pending(const struct nvme_sq *sq)
{
	return sq->valid ? (unsigned)(sq->tail + sq->size - sq->head) % sq->size : 0;
}

void nvme_queues_reset(struct nvme_ctrl *c)
{
	for (unsigned q = 0; q < NVME_NQ; q++)
		c->st.lost += sq_pending(&c->sq[q]);
	c->st.lost += c->nheld;
	memset(c->sq, 0, sizeof(c->sq));
	memset(c->cq, 0, sizeof(c->cq));
	memset(c->held, 0, sizeof(c->held));
	memset(c->aborts, 0, sizeof(c->aborts));
	c->nheld = 0;
	pci_model_irq_lower(c->fn);
}

void nvme_queues_admin(struct nvme_ctrl *c)
{
	c->sq[0] = (struct nvme_sq){
		.valid = true, .base = c->asq,
		.size = (uint16_t)((c->aqa & NVME_AQA_ASQS_MASK) + 1u), .cqid = 0,
	};
	c->cq[0] = (struct nvme_cq){
		.valid = true, .ien = true, .base = c->acq,
		.size = (uint16_t)((c->aqa >> NVME_AQA_ACQS_SHIFT & 0xFFFu) + 1u),
		.iv = 0, .phase = true,     /* the first pass posts phase 1 over zeroed memory */
	};
}

static bool cq_full(const struct nvme_cq *cq)
{
	return (uint16_t)((cq->tail + 1u) % cq->size) == cq->head;
}

static bool post_cqe(struct nvme_ctrl *c, uint16_t sqid, uint16_t cid, uint16_t status,
		     uint32_t dw0)
{
	struct nvme_cq *cq = &c->cq[c->sq[sqid].cqid];
	uint64_t addr = cq->base + (uint64_t)cq->tail * sizeof(struct nvme_cqe);
	uint16_t sc = status & 0xFFu, sct = status >> 8 & 7u;
	struct nvme_cqe e = {
		.dw0 = dw0, .sq_head = c->sq[sqid].head, .sq_id = sqid, .cid = cid,
		.status = (uint16_t)(sc << NVME_STATUS_SC_SHIFT | sct << NVME_STATUS_SCT_SHIFT |
				     (status ? NVME_STATUS_DNR : 0) |
				     (cq->phase ? NVME_STATUS_P : 0)),
	};

	/* Publish the entry, then the status word holding the phase tag, so a host
	 * polling the phase never sees a new tag over an old entry. */
	if (nvme_dma_write(c, addr, &e, offsetof(struct nvme_cqe, status))) {
		nvme_fatal(c, "completion entry write failed");
		return false;
	}
	atomic_thread_fence(memory_order_release);  /* entry body before the phase tag */
	if (nvme_dma_write(c, addr + offsetof(struct nvme_cqe, status), &e.status,
			   sizeof(e.status))) {
		nvme_fatal(c, "completion entry write failed");
		return false;
	}
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase = !cq->phase;
	}
	c->st.cqes_posted++;
	if (status) {
		c->st.errors++;
		if (sqid)
			c->st.io_errors++;
	}
	if (status == NVME_SC_ABORT_REQUESTED)
		c->st.aborted++;
	if (cq->ien)
		irq_raise(c, cq->iv);
	return true;
}

static struct nvme_held *hold(struct nvme_ctrl *c, uint16_t sqid, uint16_t cid,
			      uint16_t status, uint32_t dw0, uint64_t due, bool lost)
{
	for (unsigned i = 0; i < NVME_HELD_MAX; i++) {
		struct nvme_held *h = &c->held[i];

		if (h->used)
			continue;
		*h = (struct nvme_held){ .used = true, .lost = lost, .due = due, .sqid = sqid,
					 .cid = cid, .status = status, .dw0 = dw0,
					 .seq = c->held_seq++ };
		c->nheld++;
		return h;
	}
	return NULL;        /* cannot happen: fetching stops HELD_RESERVE short of full */
}

/* Complete now if the CQ has room and nothing older waits for it, else hold. */
static void complete(struct nvme_ctrl *c, uint16_t sqid, uint16_t cid, uint16_t status,
		     uint32_t dw0)
{
	uint16_t cqid = c->sq[sqid].cqid;

	for (unsigned i = 0; i < NVME_HELD_MAX; i++) {
		const struct nvme_held *h = &c->held[i];
		if (h->used && !h->lost && h->due == 0 && c->sq[h->sqid].cqid == cqid)
			goto later;
	}
	if (!cq_full(&c->cq[cqid])) {
		post_cqe(c, sqid, cid, status, dw0);
		return;
	}
later:
	c->st.cq_full_waits++;
	hold(c, sqid, cid, status, dw0, 0, false);
}

/* The oldest held completion that is due and has CQ room, or NULL. */
static struct nvme_held *held_ready(struct nvme_ctrl *c, uint64_t now)
{
	struct nvme_held *best = NULL;

	if (!c->nheld)
		return NULL;
	for (unsigned i = 0; i < NVME_HELD_MAX; i++) {
		struct nvme_held *h = &c->held[i];

		if (!h->used || h->lost || h->due > now || cq_full(&c->cq[c->sq[h->sqid].cqid]))
			continue;
		if (!best || h->seq < best->seq)
			best = h;
	}
	return best;
}

uint64_t nvme_next_due(struct nvme_ctrl *c)
{
	uint64_t next = UINT64_MAX;

	if (!nvme_ctrl_ready(c))
		return next;
	for (unsigned i = 0; c->nheld && i < NVME_HELD_MAX; i++) {
		const struct nvme_held *h = &c->held[i];
		if (h->used && !h->lost && h->due < next)
			next = h->due;
	}
	return next;
}

/* The next SQ (round robin after the last served) with a command to fetch. */
static int sq_ready(struct nvme_ctrl *c)
{
	if (c->nheld + HELD_RESERVE > NVME_HELD_MAX)
		return -1;
	for (unsigned i = 1; i <= NVME_NQ; i++) {
		unsigned q = (c->rr + i) % NVME_NQ;
		const struct nvme_sq *sq = &c->sq[q];

		if (sq->valid && sq->head != sq->tail && !cq_full(&c->cq[sq->cqid]))
			return (int)q;
	}
	return -1;
}

bool nvme_has_work(struct nvme_ctrl *c)
{
	if (!nvme_ctrl_ready(c))
		return false;
	return held_ready(c, c->bus->now_ns(c->bus->ctx)) || sq_ready(c) >= 0;
}

static bool abort_marked(struct nvme_ctrl *c, uint16_t sqid, uint16_t cid)
{
	for (unsigned i = 0; i < NVME_ABORT_MAX; i++)
		if (c->aborts[i].used && c->aborts[i].sqid == sqid && c->aborts[i].cid == cid) {
			c->aborts[i].used = false;
			return true;
		}
	return false;
}

static void run_io(struct nvme_ctrl *c, uint16_t qid, const struct nvme_sqe *cmd)
{
	uint16_t status, cid = cmd->cid;

	c->st.io_ops[cmd->opc]++;
	if (nvme_fault(c, NVME_FAULT_CFS, qid, cid)) {
		nvme_fatal(c, "fault site nvme.cfs");
		return;
	}
	if (nvme_fault(c, NVME_FAULT_CMD_TIMEOUT, qid, cid)) {
		hold(c, qid, cid, 0, 0, UINT64_MAX, true);
		return;
	}
	if (nvme_fault(c, NVME_FAULT_MEDIA_ERROR, qid, cid))
		status = NVME_ST(NVME_SCT_MEDIA, NVME_SC_UNRECOVERED_READ);
	else
		status = nvme_io_exec(c, qid, cmd);
	if (!nvme_ctrl_ready(c))
		return;
	if (nvme_fault(c, NVME_FAULT_CQE_WRONG_CID, qid, cid))
		cid = cmd->cid == 0xFFFFu ? 0xFFFEu : 0xFFFFu;
	if (nvme_fault(c, NVME_FAULT_SLOW, qid, cid)) {
		hold(c, qid, cid, status, 0, c->bus->now_ns(c->bus->ctx) + NVME_SLOW_NS, false);
		return;
	}
	complete(c, qid, cid, status, 0);
	if (nvme_fault(c, NVME_FAULT_CQE_DUPLICATE, qid, cid))
		complete(c, qid, cid, status, 0);
}

/* Fetch and run the command at the head of SQ qid. */
static void fetch(struct nvme_ctrl *c, uint16_t qid)
{
	struct nvme_sq *sq = &c->sq[qid];
	struct nvme_sqe cmd;
	uint32_t dw0 = 0;
	uint16_t status;

	c->rr = qid;
	if (nvme_dma_read(c, sq->base + (uint64_t)sq->head * sizeof(cmd), &cmd, sizeof(cmd))) {
		nvme_fatal(c, "submission entry fetch failed");
		return;
	}
	sq->head = (uint16_t)((sq->head + 1u) % sq->size);
	c->st.commands++;
	if (abort_marked(c, qid, cmd.cid)) {
		complete(c, qid, cmd.cid, NVME_SC_ABORT_REQUESTED, 0);
		return;
	}
	if (qid != 0) {
		run_io(c, qid, &cmd);
		return;
	}
	c->st.admin_ops[cmd.opc]++;
	status = nvme_admin_exec(c, &cmd, &dw0);
	if (nvme_ctrl_ready(c) && c->sq[0].valid)
		complete(c, 0, cmd.cid, status, dw0);
}

bool nvme_step(struct nvme_ctrl *c)
{
	struct nvme_held *h;
	int q;

	if (!nvme_ctrl_ready(c))
		return false;
	h = held_ready(c, c->bus->now_ns(c->bus->ctx));
	if (h) {
		struct nvme_held v = *h;

		h->used = false;
		c->nheld--;
		post_cqe(c, v.sqid, v.cid, v.status, v.dw0);
		return true;
	}
	q = sq_ready(c);
	if (q < 0)
		return false;
	fetch(c, (uint16_t)q);
	return true;
}

/* ---- Abort (§5.1) and SQ deletion ------------------------------------------------------- */

bool nvme_abort(struct nvme_ctrl *c, uint16_t sqid, uint16_t cid)
{
	struct nvme_sq *sq;

	for (unsigned i = 0; c->nheld && i < NVME_HELD_MAX; i++) {
		struct nvme_held *h = &c->held[i];

		if (!h->used || h->sqid != sqid || h->cid != cid)
			continue;
		h->lost = false;
		h->due = 0;
		h->status = NVME_SC_ABORT_REQUESTED;
		h->dw0 = 0;
		return true;
	}
	if (sqid >= NVME_NQ || !c->sq[sqid].valid)
		return false;
	sq = &c->sq[sqid];
	for (uint16_t i = sq->head; i != sq->tail; i = (uint16_t)((i + 1u) % sq->size)) {
		struct nvme_sqe e;

		if (nvme_dma_read(c, sq->base + (uint64_t)i * sizeof(e), &e, sizeof(e)))
			return false;
		if (e.cid != cid)
			continue;
		for (unsigned k = 0; k < NVME_ABORT_MAX; k++)
			if (!c->aborts[k].used) {
				c->aborts[k].used = true;
				c->aborts[k].sqid = sqid;
				c->aborts[k].cid = cid;
				return true;
			}
		return false;
	}
	return false;
}

/* Post "Command Aborted due to SQ Deletion" for (sqid, cid) if the CQ has room. */
static bool sq_deletion_cqe(struct nvme_ctrl *c, uint16_t sqid, uint16_t cid)
{
	if (cq_full(&c->cq[c->sq[sqid].cqid])) {
		c->st.lost++;
		nvme_log(c, "Delete I/O SQ %u: CQ %u full, cid %u ends without a completion", sqid,
			 c->sq[sqid].cqid, cid);
		return false;
	}
	return post_cqe(c, sqid, cid, NVME_SC_ABORTED_SQ_DELETION, 0);
}

void nvme_sq_drop(struct nvme_ctrl *c, uint16_t sqid)
{
	struct nvme_sq *sq = &c->sq[sqid];

	/* Held completions first, oldest first (slow, lost, or waiting for room). */
	while (c->nheld) {
		struct nvme_held *h = NULL;

		for (unsigned i = 0; i < NVME_HELD_MAX; i++)
			if (c->held[i].used && c->held[i].sqid == sqid &&
			    (!h || c->held[i].seq < h->seq))
				h = &c->held[i];
		if (!h)
			break;
		h->used = false;
		c->nheld--;
		sq_deletion_cqe(c, sqid, h->cid);
	}
	/* Then every command still in the SQ, in order; each leaves the queue. */
	while (sq->head != sq->tail) {
		struct nvme_sqe e;

		if (nvme_dma_read(c, sq->base + (uint64_t)sq->head * sizeof(e), &e, sizeof(e))) {
			c->st.lost += sq_pending(sq);
			break;
		}
		sq->head = (uint16_t)((sq->head + 1u) % sq->size);
		sq_deletion_cqe(c, sqid, e.cid);
	}
	for (unsigned k = 0; k < NVME_ABORT_MAX; k++)
		if (c->aborts[k].sqid == sqid)
			c->aborts[k].used = false;
}

/* ---- doorbells (§3.1.24-25) ------------------------------------------------------------- */

static void sq_tail(struct nvme_ctrl *c, uint16_t qid, uint32_t v)
{
	struct nvme_sq *sq = &c->sq[qid];

	if (!sq->valid) {
		c->st.bad_doorbell++;
		nvme_log(c, "SQ %u tail doorbell: no such queue", qid);
		return;
	}
	if (v >= sq->size) {
		c->st.bad_doorbell++;
		nvme_log(c, "SQ %u tail doorbell %u beyond the queue size %u; ignored", qid, v,
			 sq->size);
		return;
	}
	sq->tail = (uint16_t)v;
}

static void cq_head(struct nvme_ctrl *c, uint16_t qid, uint32_t v)
{
	struct nvme_cq *cq = &c->cq[qid];
	unsigned pending, advance;

	if (!cq->valid) {
		c->st.bad_doorbell++;
		nvme_log(c, "CQ %u head doorbell: no such queue", qid);
		return;
	}
	if (v >= cq->size) {
		c->st.bad_doorbell++;
		nvme_log(c, "CQ %u head doorbell %u beyond the queue size %u; ignored", qid, v,
			 cq->size);
		return;
	}
	pending = (cq->tail + cq->size - cq->head) % cq->size;
	advance = (v + cq->size - cq->head) % cq->size;
	if (advance > pending) {
		c->st.bad_doorbell++;
		nvme_log(c, "CQ %u head doorbell %u passes the tail %u (head %u); ignored", qid, v,
			 cq->tail, cq->head);
		return;
	}
	cq->head = (uint16_t)v;
	intx_update(c);
}

void nvme_doorbell(struct nvme_ctrl *c, uint64_t off, uint32_t v)
{
	unsigned idx = (unsigned)((off - NVME_REG_DBS) / DB_STRIDE);
	uint16_t qid = (uint16_t)(idx / 2);

	if (!nvme_ctrl_ready(c)) {
		c->st.bad_doorbell++;
		nvme_log(c, "doorbell BAR0+0x%llx written while the controller is not ready "
			 "(CSTS 0x%x); ignored", (unsigned long long)off, c->csts);
		return;
	}
	if (qid >= NVME_NQ) {
		c->st.bad_doorbell++;
		nvme_log(c, "doorbell BAR0+0x%llx of queue %u: no such queue",
			 (unsigned long long)off, qid);
		return;
	}
	if (v > 0xFFFFu) {
		c->st.bad_doorbell++;
		nvme_log(c, "doorbell BAR0+0x%llx value 0x%x sets reserved bits 31:16; ignored",
			 (unsigned long long)off, v);
		return;
	}
	if (idx & 1)
		cq_head(c, qid, v);
	else
		sq_tail(c, qid, v);
	if (c->threaded)
		pthread_cond_signal(&c->work);
}
