/*
 * nvme_queue.c — NVMe controller model, queues (NVM Express 1.4 §4.1 queue
 * mechanics, §4.6 completion entries and the phase tag, §3.1.10-11 doorbells,
 * §4.3 PRPs, §7.5 interrupts): a tail doorbell runs the commands at once, each
 * completion is posted with the phase tag written last, and the vector is raised
 * unless INTMS masks it (MSI-X masking and the PBA are the fabric's).
 */
#include "nvme/nvme_int.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#define DB_STRIDE 4u                /* 4 << CAP.DSTRD, DSTRD = 0 */

bool nvme_dma_read(struct nvme_ctrl *c, uint64_t addr, void *buf, unsigned len)
{
	if (!pci_model_bus_master(c->fn)) {
		c->st.dma_no_master++;
		nvme_log(c, "DMA read of 0x%llx+%u dropped: bus mastering is off",
			 (unsigned long long)addr, len);
		return false;
	}
	/* Blocked by the IOMMU (-EFAULT): the read gives zeros and the command goes on,
	 * as on QEMU; the IOMMU's fault record is the only evidence. */
	if (pci_model_dma_read(c->fn, addr, buf, len) == -EFAULT)
		nvme_log(c, "DMA read of 0x%llx+%u blocked or outside RAM (the command goes on)",
			 (unsigned long long)addr, len);
	return true;
}

bool nvme_dma_write(struct nvme_ctrl *c, uint64_t addr, const void *buf, unsigned len)
{
	if (!pci_model_bus_master(c->fn)) {
		c->st.dma_no_master++;
		nvme_log(c, "DMA write to 0x%llx+%u dropped: bus mastering is off",
			 (unsigned long long)addr, len);
		return false;
	}
	if (pci_model_dma_write(c->fn, addr, buf, len) == -EFAULT)
		nvme_log(c, "DMA write to 0x%llx+%u blocked or outside RAM (the command goes on)",
			 (unsigned long long)addr, len);
	return true;
}

static void fatal(struct nvme_ctrl *c, const char *why)
{
	c->csts |= NVME_CSTS_CFS;
	nvme_log(c, "controller fatal status (CSTS.CFS): %s", why);
}

/* ---- PRPs (§4.3) ------------------------------------------------------------------------ */

uint16_t nvme_prp_write(struct nvme_ctrl *c, uint64_t prp1, uint64_t prp2, const void *buf,
			uint32_t len)
{
	uint32_t first = NVME_PAGE - (uint32_t)(prp1 & (NVME_PAGE - 1));

	if (prp1 & 3) {
		nvme_log(c, "PRP1 0x%llx is not dword aligned", (unsigned long long)prp1);
		return NVME_SC_PRP_OFFSET_INVALID;
	}
	if (prp1 == 0) {
		nvme_log(c, "PRP1 is 0");
		return NVME_SC_INVALID_FIELD;
	}
	if (first > len)
		first = len;
	if (len - first > NVME_PAGE) {
		/* A PRP list: not needed by any command the model offers yet. */
		nvme_log(c, "transfer of %u bytes needs a PRP list (not supported yet)", len);
		return NVME_SC_INVALID_FIELD;
	}
	if (len > first) {
		if (prp2 & (NVME_PAGE - 1)) {
			nvme_log(c, "PRP2 0x%llx has a non-zero offset", (unsigned long long)prp2);
			return NVME_SC_PRP_OFFSET_INVALID;
		}
		if (prp2 == 0) {
			nvme_log(c, "PRP2 is 0 but the transfer crosses a page");
			return NVME_SC_INVALID_FIELD;
		}
	}
	if (!nvme_dma_write(c, prp1, buf, first))
		return NVME_SC_DATA_XFER_ERROR;
	if (len > first && !nvme_dma_write(c, prp2, (const uint8_t *)buf + first, len - first))
		return NVME_SC_DATA_XFER_ERROR;
	return NVME_SC_SUCCESS;
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

void nvme_queues_reset(struct nvme_ctrl *c)
{
	memset(c->sq, 0, sizeof(c->sq));
	memset(c->cq, 0, sizeof(c->cq));
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

static bool post_cqe(struct nvme_ctrl *c, struct nvme_cq *cq, uint16_t sqid, uint16_t cid,
		     uint16_t status, uint32_t dw0)
{
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
	if (!nvme_dma_write(c, addr, &e, offsetof(struct nvme_cqe, status))) {
		fatal(c, "completion entry write failed");
		return false;
	}
	atomic_thread_fence(memory_order_release);  /* entry body before the phase tag */
	if (!nvme_dma_write(c, addr + offsetof(struct nvme_cqe, status), &e.status,
			    sizeof(e.status))) {
		fatal(c, "completion entry write failed");
		return false;
	}
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase = !cq->phase;
	}
	c->st.cqes_posted++;
	if (status)
		c->st.errors++;
	return true;
}

/* Run the commands between head and tail of sq qid while the CQ has room. */
static void sq_process(struct nvme_ctrl *c, uint16_t qid)
{
	struct nvme_sq *sq = &c->sq[qid];
	struct nvme_cq *cq = &c->cq[sq->cqid];
	bool posted = false;

	while (sq->head != sq->tail && nvme_ctrl_ready(c) && !cq_full(cq)) {
		struct nvme_sqe cmd;
		uint32_t dw0 = 0;
		uint16_t status;

		if (!nvme_dma_read(c, sq->base + (uint64_t)sq->head * sizeof(cmd), &cmd,
				   sizeof(cmd))) {
			fatal(c, "submission entry fetch failed");
			break;
		}
		sq->head = (uint16_t)((sq->head + 1u) % sq->size);
		c->st.commands++;
		if (qid == 0) {
			status = nvme_admin_exec(c, &cmd, &dw0);
		} else {
			nvme_log(c, "I/O command 0x%02x on SQ %u: no I/O commands yet", cmd.opc, qid);
			status = NVME_SC_INVALID_OPCODE;
		}
		if (!post_cqe(c, cq, qid, cmd.cid, status, dw0))
			break;
		posted = true;
	}
	if (posted && cq->ien)
		irq_raise(c, cq->iv);
}

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
	sq_process(c, qid);
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
	/* Room again: commands held back by a full CQ run now. */
	for (unsigned q = 0; q < NVME_NQ; q++)
		if (c->sq[q].valid && c->sq[q].cqid == qid && c->sq[q].head != c->sq[q].tail)
			sq_process(c, (uint16_t)q);
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
}
