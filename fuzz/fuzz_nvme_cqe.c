/*
 * fuzz_nvme_cqe.c — fuzz target for the NVMe driver's queue ring and command-ID
 * table (kernel/drivers/nvme/nvme_ring.c; NVMe 1.4 §4.1 queues, §4.6 completion
 * entries and the phase tag) as LLVMFuzzerTestOneInput, driven by a hostile
 * device. Input: byte 0 picks the depth (2..65), then operations, one byte each
 * (low 3 bits the kind) with their operand bytes:
 *   0 submit: slot_get + push
 *   1 CQE: cid (2 bytes), status (2, its bit 0 the phase tag), SQ head (1),
 *     written at the device's CQ position, or (op bit 3) at any index (1 more byte)
 *   2 CQE for a command in flight (1 byte picks it), the right phase, the SQ
 *     head (1 byte, any value)
 *   3 reap: pop CQEs (up to 1 + op>>3 of them), claim each, finish most at once
 *   4 give up on a command (ISSUED -> ABANDONED, as a timed-out waiter does)
 *   5 finish a claimed command (slot_put)
 *   6 reset the ring (controller disabled; slot states kept)
 *   7 put any slot (1 byte), as the fail/resubmit walks may
 * A shadow table here records every cid handed out and its state. Invariants,
 * with an explicit trap on violation: a claim succeeds only for a cid the shadow
 * has in flight, and never twice; a cid in flight is never refused; an abandoned
 * one comes back as -ECANCELED and frees the slot; indices stay within the ring,
 * the SQ head only moves forward up to the tail, slot states and inflight match
 * the shadow, and at most depth - 1 commands are ever outstanding.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <drivers/nvme.h>
#include <kernel/atomic.h>
#include <kernel/errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXD 65u

static struct nvme_sqe sq[MAXD];
static struct nvme_cqe cq[MAXD];
static uint32_t state[MAXD];
static uint16_t gen[MAXD];

static struct {
	uint32_t st;                    /* enum nvme_slot_state, as the shadow sees it */
	uint16_t cid;                   /* the cid handed out for the current issue */
} sh[MAXD];
static uint32_t dev_tail;               /* device's CQ write position */
static uint32_t dev_phase;

struct in {
	const uint8_t *p;
	size_t n;
};

static bool take(struct in *in, uint8_t *b)
{
	if (!in->n)
		return false;
	*b = *in->p++;
	in->n--;
	return true;
}

static uint32_t sq_used(const struct nvme_ring *r) { return (r->sq_tail + r->depth - r->sq_head) % r->depth; }

static void check(const struct nvme_ring *r)
{
	uint32_t d = r->depth, busy = 0;
	if (r->sq_tail >= d || r->sq_head >= d || r->cq_head >= d)
		__builtin_trap();
	if (r->phase != 0 && r->phase != NVME_STATUS_P)
		__builtin_trap();
	for (uint32_t i = 0; i < d; i++) {
		if (state[i] != sh[i].st)
			__builtin_trap();
		if (sh[i].st != NVME_SLOT_FREE)
			busy++;
	}
	if (r->inflight != busy || busy > d - 1 || sq_used(r) > d - 1)
		__builtin_trap();
	if (sh[d - 1].st != NVME_SLOT_FREE)
		__builtin_trap();       /* the last slot is never handed out */
}

static void dev_post(uint16_t cid, uint16_t status, uint16_t head, uint32_t at, uint32_t depth)
{
	cq[at].cid = cid;
	cq[at].sq_head = head;
	cq[at].sq_id = 1;
	cq[at].dw0 = cid;
	cq[at].status = status;
	if (at == dev_tail && (status & NVME_STATUS_P) == dev_phase) {
		if (++dev_tail == depth) {
			dev_tail = 0;
			dev_phase ^= NVME_STATUS_P;
		}
	}
}

static void finish(struct nvme_ring *r, unsigned i)
{
	nvme_ring_slot_put(r, i);
	sh[i].st = NVME_SLOT_FREE;
}

static void reap_one(struct nvme_ring *r, const struct nvme_cqe *e, uint32_t old_head, uint32_t old_used,
		     bool finish_now)
{
	uint32_t d = r->depth;
	/* the SQ head moved only forward, within what was submitted */
	if ((r->sq_head + d - old_head) % d > old_used)
		__builtin_trap();
	unsigned idx = 9999;
	uint16_t cid = e->cid;
	unsigned i = nvme_cid_index(cid);
	bool in_flight = i < d && sh[i].st == NVME_SLOT_ISSUED && sh[i].cid == cid;
	bool abandoned = i < d && sh[i].st == NVME_SLOT_ABANDONED && sh[i].cid == cid;
	int rc = nvme_ring_claim(r, cid, &idx);
	if (rc == 0) {
		if (!in_flight || idx != i)
			__builtin_trap();       /* completed a cid not in flight, or twice */
		sh[i].st = NVME_SLOT_COMPLETING;
		if (finish_now)
			finish(r, i);
	} else if (rc == -ECANCELED) {
		if (!abandoned || idx != i)
			__builtin_trap();
		sh[i].st = NVME_SLOT_FREE;
	} else if (rc == -ENOENT || rc == -EALREADY) {
		if (in_flight || abandoned)
			__builtin_trap();       /* a real completion lost */
	} else {
		__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct in in = { data + 1, size - 1 };
	uint32_t depth = 2u + data[0] % (MAXD - 1u);
	struct nvme_ring r;
	memset(sq, 0, sizeof sq);
	memset(cq, 0, sizeof cq);
	memset(sh, 0, sizeof sh);
	nvme_ring_init(&r, sq, cq, depth, state, gen);
	dev_tail = 0;
	dev_phase = NVME_STATUS_P;
	uint8_t op, a, b, c, d, e;
	while (take(&in, &op)) {
		switch (op & 7u) {
		case 0: {
			uint16_t cid;
			bool room = r.inflight < depth - 1 && sq_used(&r) < depth - 1;
			int rc = nvme_ring_slot_get(&r, &cid);
			if (rc == 0) {
				unsigned i = nvme_cid_index(cid);
				if (!room || i >= depth - 1 || sh[i].st != NVME_SLOT_FREE)
					__builtin_trap();
				sh[i].st = NVME_SLOT_ISSUED;
				sh[i].cid = cid;
				struct nvme_sqe s = { .opc = NVME_CMD_READ, .cid = cid };
				int t = nvme_ring_push(&r, &s);
				if (t < 0 || (uint32_t)t >= depth)
					__builtin_trap();       /* slot_get promised SQ room */
			} else if (rc != -EAGAIN || room) {
				__builtin_trap();
			}
			break;
		}
		case 1: {
			if (!take(&in, &a) || !take(&in, &b) || !take(&in, &c) || !take(&in, &d) || !take(&in, &e))
				return 0;
			uint32_t at = dev_tail;
			if (op & 8u) {
				uint8_t x;
				if (!take(&in, &x))
					return 0;
				at = x % depth;
			}
			dev_post((uint16_t)(a | b << 8), (uint16_t)(c | d << 8), e, at, depth);
			break;
		}
		case 2: {
			if (!take(&in, &a) || !take(&in, &b))
				return 0;
			unsigned i = a % depth;
			if (sh[i].st == NVME_SLOT_FREE)
				break;
			dev_post(sh[i].cid, (uint16_t)dev_phase, b, dev_tail, depth);
			break;
		}
		case 3:
			for (unsigned k = 0; k <= (op >> 3); k++) {
				uint32_t old_head = r.sq_head, old_used = sq_used(&r);
				struct nvme_cqe ev;
				if (!nvme_ring_pop(&r, &ev))
					break;
				reap_one(&r, &ev, old_head, old_used, (op & 0x80u) == 0);
			}
			break;
		case 4: {
			if (!take(&in, &a))
				return 0;
			unsigned i = a % depth;
			uint32_t want = NVME_SLOT_ISSUED;
			if (atomic_cas32(&state[i], &want, NVME_SLOT_ABANDONED, MO_ACQ_REL, MO_ACQUIRE)) {
				if (sh[i].st != NVME_SLOT_ISSUED)
					__builtin_trap();
				sh[i].st = NVME_SLOT_ABANDONED;
			}
			break;
		}
		case 5:
			for (unsigned i = 0; i < depth; i++)
				if (sh[i].st == NVME_SLOT_COMPLETING) {
					finish(&r, i);
					break;
				}
			break;
		case 6:
			nvme_ring_reset(&r);
			dev_tail = 0;
			dev_phase = NVME_STATUS_P;
			if (r.sq_head || r.sq_tail || r.cq_head || r.phase != NVME_STATUS_P)
				__builtin_trap();
			break;
		case 7: {
			if (!take(&in, &a))
				return 0;
			unsigned i = a % (depth + 2u);  /* sometimes outside the table */
			nvme_ring_slot_put(&r, i);
			if (i < depth)
				sh[i].st = NVME_SLOT_FREE;
			break;
		}
		}
		check(&r);
	}
	return 0;
}
