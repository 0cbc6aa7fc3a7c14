/*
 * nvme_ring.c — one submission/completion queue pair as memory and indices, PURE
 * (no HAL beyond the atomics; host unit tests and the fuzz target run it): SQ tail
 * and the SQ head the controller reports (flow control, NVMe 1.4 §4.1), the CQ
 * head with its phase tag (§4.6, §7.2.3), and the command-ID table: a cid names a
 * slot and its generation, so a completion for an unknown, stale or already
 * completed cid is recognised and dropped, never completing someone else's command.
 */
#include <drivers/nvme.h>
#include <kernel/atomic.h>
#include <kernel/errno.h>
#include <kernel/string.h>

#define GEN_MASK ((1u << (16u - NVME_CID_INDEX_BITS)) - 1u)

void nvme_ring_init(struct nvme_ring *r, struct nvme_sqe *sq, volatile struct nvme_cqe *cq, uint32_t depth,
		    uint32_t *state, uint16_t *gen)
{
	memset(r, 0, sizeof *r);
	r->sq = sq;
	r->cq = cq;
	r->depth = depth;
	r->state = state;
	r->gen = gen;
	r->phase = NVME_STATUS_P;
	for (uint32_t i = 0; i < depth; i++) {
		state[i] = NVME_SLOT_FREE;
		gen[i] = 0;
	}
}

void nvme_ring_reset(struct nvme_ring *r)
{
	r->sq_tail = r->sq_head = r->cq_head = 0;
	r->phase = NVME_STATUS_P;
	memset((void *)r->cq, 0, (size_t)r->depth * sizeof(struct nvme_cqe));
}

static uint32_t sq_used(const struct nvme_ring *r)
{
	return (r->sq_tail + r->depth - r->sq_head) % r->depth;
}

int nvme_ring_slot_get(struct nvme_ring *r, uint16_t *cid)
{
	/* One entry of the SQ always stays empty (full = tail + 1 == head, §4.1.2);
	 * the table holds at most depth - 1 commands as well. */
	if (r->inflight >= r->depth - 1u || sq_used(r) >= r->depth - 1u)
		return -EAGAIN;
	for (uint32_t i = 0; i < r->depth - 1u; i++) {
		uint32_t want = NVME_SLOT_FREE;
		if (atomic_cas32(&r->state[i], &want, NVME_SLOT_ISSUED, MO_ACQ_REL, MO_RELAXED)) {
			r->inflight++;
			*cid = (uint16_t)(((uint32_t)(r->gen[i] & GEN_MASK) << NVME_CID_INDEX_BITS) | i);
			return 0;
		}
	}
	return -EAGAIN;
}

void nvme_ring_slot_put(struct nvme_ring *r, unsigned idx)
{
	if (idx >= r->depth)
		return;
	/* A slot already free stays as it is: a second put must not miscount. */
	if (atomic_load32(&r->state[idx], MO_ACQUIRE) == NVME_SLOT_FREE)
		return;
	r->gen[idx] = (uint16_t)((r->gen[idx] + 1u) & GEN_MASK);
	if (r->inflight)
		r->inflight--;
	/* release: the generation before the slot is seen free */
	atomic_store32(&r->state[idx], NVME_SLOT_FREE, MO_RELEASE);
}

int nvme_ring_push(struct nvme_ring *r, const struct nvme_sqe *sqe)
{
	if ((r->sq_tail + 1u) % r->depth == r->sq_head)
		return -EAGAIN;
	memcpy(&r->sq[r->sq_tail], sqe, sizeof *sqe);
	r->sq_tail = (r->sq_tail + 1u) % r->depth;
	return (int)r->sq_tail;
}

bool nvme_ring_pop(struct nvme_ring *r, struct nvme_cqe *out)
{
	volatile struct nvme_cqe *e = &r->cq[r->cq_head];
	/* acquire: the phase tag first, then the rest of the entry (§4.6: the
	 * controller writes the entry with its new phase tag as one unit) */
	uint16_t st = atomic_load16(&e->status, MO_ACQUIRE);
	if ((st & NVME_STATUS_P) != r->phase)
		return false;
	out->dw0 = e->dw0;
	out->rsvd1 = e->rsvd1;
	out->sq_head = e->sq_head;
	out->sq_id = e->sq_id;
	out->cid = e->cid;
	out->status = st;
	if (++r->cq_head == r->depth) {
		r->cq_head = 0;
		r->phase ^= NVME_STATUS_P;
	}
	/* SQ flow control (§4.1.2): the controller's head only moves forward, from
	 * the head it reported last up to our tail. A head outside the ring or
	 * outside that window (behind, or past entries never submitted) is ignored:
	 * taking it would let the tail overwrite entries not yet fetched. */
	uint32_t nh = out->sq_head;
	if (nh < r->depth && (nh + r->depth - r->sq_head) % r->depth <= sq_used(r))
		r->sq_head = nh;
	return true;
}

int nvme_ring_claim(struct nvme_ring *r, uint16_t cid, unsigned *idx)
{
	unsigned i = nvme_cid_index(cid);
	if (i >= r->depth)
		return -ENOENT;
	if ((uint32_t)(cid >> NVME_CID_INDEX_BITS) != (r->gen[i] & GEN_MASK))
		return -ENOENT;
	uint32_t want = NVME_SLOT_ISSUED;
	if (atomic_cas32(&r->state[i], &want, NVME_SLOT_COMPLETING, MO_ACQ_REL, MO_ACQUIRE)) {
		*idx = i;
		return 0;
	}
	if (want == NVME_SLOT_ABANDONED) {
		*idx = i;
		nvme_ring_slot_put(r, i);
		return -ECANCELED;
	}
	return -EALREADY;
}
