/*
 * test_nvme_ring.c — CMocka tests of the NVMe queue ring and its command-ID table
 * (kernel/drivers/nvme/nvme_ring.c, NVMe 1.4 §4.1 queue arithmetic, §4.6 phase
 * tag, docs/nvme.md "Commands and slots"). Hand cases for each rule: SQ wrap,
 * full and empty; the phase tag flipping at the CQ wrap; the SQ head a CQE
 * reports as the only thing that frees SQ entries; cid allocation and every kind
 * of bad completion (unknown, not in flight, twice, stale after re-use,
 * abandoned). Then randomized sequences against a reference model kept here: a
 * device that fetches in order and completes in any order, posts bogus CQEs, and
 * a host that submits, reaps, abandons and puts, with every index, slot state and
 * generation compared after each step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <drivers/nvme.h>
#include <kernel/errno.h>

#define MAXD 1024u
#define GENS 64u                        /* 16 - NVME_CID_INDEX_BITS bits of generation */

static struct nvme_sqe sq[MAXD];
static struct nvme_cqe cq[MAXD];
static uint32_t st[MAXD];
static uint16_t gn[MAXD];

static void ring_new(struct nvme_ring *r, uint32_t depth)
{
	memset(sq, 0, sizeof sq);
	memset(cq, 0, sizeof cq);
	nvme_ring_init(r, sq, cq, depth, st, gn);
}

/* Device side: write a CQE at index i with phase p. */
static void post(unsigned i, uint16_t cid, uint16_t sq_head, unsigned phase, uint16_t status)
{
	cq[i].cid = cid;
	cq[i].sq_head = sq_head;
	cq[i].sq_id = 1;
	cq[i].dw0 = 0xC0FFEE00u | i;
	cq[i].status = (uint16_t)((status & ~NVME_STATUS_P) | (phase ? NVME_STATUS_P : 0));
}

static uint16_t get_push(struct nvme_ring *r)
{
	uint16_t cid = 0xFFFF;
	assert_int_equal(nvme_ring_slot_get(r, &cid), 0);
	struct nvme_sqe e = { .opc = NVME_CMD_READ, .cid = cid };
	assert_true(nvme_ring_push(r, &e) >= 0);
	return cid;
}

static void test_sq_wrap_full_empty(void **state)
{
	(void)state;
	struct nvme_ring r;
	ring_new(&r, 4);
	struct nvme_sqe e = { .opc = NVME_CMD_WRITE };
	/* three of four entries: one always stays empty */
	for (unsigned i = 1; i <= 3; i++) {
		e.cid = (uint16_t)i;
		assert_int_equal(nvme_ring_push(&r, &e), i % 4);
		assert_int_equal(sq[i - 1].cid, i);
	}
	assert_int_equal(nvme_ring_push(&r, &e), -EAGAIN);
	assert_int_equal(r.sq_tail, 3);
	/* the controller fetched two: head 2 in a CQE frees two entries */
	struct nvme_cqe out;
	post(0, 0x3FF, 2, 1, 0);
	assert_true(nvme_ring_pop(&r, &out));
	assert_int_equal(r.sq_head, 2);
	e.cid = 4;
	assert_int_equal(nvme_ring_push(&r, &e), 0);    /* tail wraps to 0 */
	assert_int_equal(sq[3].cid, 4);
	e.cid = 5;
	assert_int_equal(nvme_ring_push(&r, &e), 1);
	assert_int_equal(sq[0].cid, 5);
	assert_int_equal(nvme_ring_push(&r, &e), -EAGAIN);   /* tail 1 + 1 == head 2 */
	/* everything fetched: empty (head == tail), three entries free again */
	post(1, 0x3FF, 1, 1, 0);
	assert_true(nvme_ring_pop(&r, &out));
	assert_int_equal(r.sq_head, 1);
	assert_int_equal(r.sq_tail, 1);
	for (unsigned i = 0; i < 3; i++)
		assert_true(nvme_ring_push(&r, &e) >= 0);
	assert_int_equal(nvme_ring_push(&r, &e), -EAGAIN);
}

static void test_phase_flips_at_wrap(void **state)
{
	(void)state;
	struct nvme_ring r;
	struct nvme_cqe out;
	ring_new(&r, 4);
	assert_int_equal(r.phase, NVME_STATUS_P);
	assert_false(nvme_ring_pop(&r, &out));  /* zeroed CQ: phase 0 is old */
	for (unsigned pass = 0; pass < 3; pass++) {
		unsigned ph = (pass % 2) == 0;  /* 1 on the first pass, then 0, then 1 */
		for (unsigned i = 0; i < 4; i++) {
			post(i, (uint16_t)(0x100 + i), 0, ph, 0);
			assert_true(nvme_ring_pop(&r, &out));
			assert_int_equal(out.cid, 0x100 + i);
			assert_int_equal(out.dw0, 0xC0FFEE00u | i);
			assert_int_equal(out.status & NVME_STATUS_P, ph);
			assert_false(nvme_ring_pop(&r, &out));  /* the next slot is old */
		}
		assert_int_equal(r.cq_head, 0);
		assert_int_equal(r.phase, ph ? 0 : NVME_STATUS_P);
	}
	/* reset: phase back to 1, CQ zeroed, indices 0 */
	post(0, 7, 0, 0, 0);
	nvme_ring_reset(&r);
	assert_int_equal(r.phase, NVME_STATUS_P);
	assert_int_equal(r.cq_head, 0);
	assert_int_equal(r.sq_head, 0);
	assert_int_equal(r.sq_tail, 0);
	assert_int_equal(cq[0].status, 0);
	assert_false(nvme_ring_pop(&r, &out));
}

static void test_sq_head_flow_control(void **state)
{
	(void)state;
	struct nvme_ring r;
	struct nvme_cqe out;
	unsigned idx;
	ring_new(&r, 8);
	uint16_t cids[7];
	for (unsigned i = 0; i < 7; i++)
		cids[i] = get_push(&r);
	uint16_t c;
	assert_int_equal(nvme_ring_slot_get(&r, &c), -EAGAIN);
	/* all seven complete, but every CQE says head 0 (fetched nothing?): slots
	 * come back, the SQ entries do not */
	for (unsigned i = 0; i < 7; i++) {
		post(i, cids[i], 0, 1, 0);
		assert_true(nvme_ring_pop(&r, &out));
		assert_int_equal(nvme_ring_claim(&r, out.cid, &idx), 0);
		nvme_ring_slot_put(&r, idx);
	}
	assert_int_equal(r.inflight, 0);
	assert_int_equal(nvme_ring_slot_get(&r, &c), -EAGAIN);  /* SQ full by the head */
	/* a head outside the ring, or ahead of the tail, is ignored */
	post(7, 0x3FF, 200, 1, 0);
	assert_true(nvme_ring_pop(&r, &out));
	assert_int_equal(r.sq_head, 0);
	assert_int_equal(r.phase, 0);
	post(0, 0x3FF, 5, 0, 0);                /* fetched five */
	assert_true(nvme_ring_pop(&r, &out));
	assert_int_equal(r.sq_head, 5);
	post(1, 0x3FF, 3, 0, 0);                /* backwards */
	assert_true(nvme_ring_pop(&r, &out));
	assert_int_equal(r.sq_head, 5);
	post(2, 0x3FF, 0, 0, 0);                /* past the tail (7): never submitted there */
	assert_true(nvme_ring_pop(&r, &out));
	assert_int_equal(r.sq_head, 5);
	assert_int_equal(nvme_ring_slot_get(&r, &c), 0);        /* 2 used of 7: room */
	struct nvme_sqe e = { .cid = c };
	assert_int_equal(nvme_ring_push(&r, &e), 0);            /* tail 7 -> 0 */
	post(3, 0x3FF, 7, 0, 0);                /* head 7: in the window 5..0 */
	assert_true(nvme_ring_pop(&r, &out));
	assert_int_equal(r.sq_head, 7);
	post(4, 0x3FF, 0, 0, 0);                /* == tail: all fetched */
	assert_true(nvme_ring_pop(&r, &out));
	assert_int_equal(r.sq_head, 0);
	assert_int_equal(nvme_ring_slot_get(&r, &c), 0);
}

static void test_cid_table(void **state)
{
	(void)state;
	struct nvme_ring r;
	unsigned idx = 999;
	enum { D = 16 };
	ring_new(&r, D);
	uint16_t cids[D - 1];
	bool seen[D] = { false };
	for (unsigned i = 0; i < D - 1; i++) {
		uint16_t c;
		assert_int_equal(nvme_ring_slot_get(&r, &c), 0);
		unsigned k = nvme_cid_index(c);
		assert_true(k < D - 1);
		assert_false(seen[k]);          /* no slot given twice */
		seen[k] = true;
		assert_int_equal(c >> NVME_CID_INDEX_BITS, 0);   /* first generation */
		assert_int_equal(st[k], NVME_SLOT_ISSUED);
		cids[i] = c;
	}
	uint16_t c;
	assert_int_equal(nvme_ring_slot_get(&r, &c), -EAGAIN);
	assert_int_equal(r.inflight, D - 1);
	/* unknown: index beyond the table */
	assert_int_equal(nvme_ring_claim(&r, (uint16_t)D, &idx), -ENOENT);
	assert_int_equal(nvme_ring_claim(&r, 0x3FF, &idx), -ENOENT);
	assert_int_equal(nvme_ring_claim(&r, 0xFFFF, &idx), -ENOENT);
	/* right index, wrong generation */
	assert_int_equal(nvme_ring_claim(&r, (uint16_t)(cids[3] + (1u << NVME_CID_INDEX_BITS)), &idx), -ENOENT);
	assert_int_equal(st[nvme_cid_index(cids[3])], NVME_SLOT_ISSUED);
	/* first completion claims, the second of the same cid is refused */
	assert_int_equal(nvme_ring_claim(&r, cids[3], &idx), 0);
	assert_int_equal(idx, nvme_cid_index(cids[3]));
	assert_int_equal(st[idx], NVME_SLOT_COMPLETING);
	assert_int_equal(nvme_ring_claim(&r, cids[3], &idx), -EALREADY);
	nvme_ring_slot_put(&r, nvme_cid_index(cids[3]));
	assert_int_equal(r.inflight, D - 2);
	/* after the put: the old cid is stale (generation moved) */
	assert_int_equal(nvme_ring_claim(&r, cids[3], &idx), -ENOENT);
	/* a second put of a free slot changes nothing */
	nvme_ring_slot_put(&r, nvme_cid_index(cids[3]));
	assert_int_equal(r.inflight, D - 2);
	assert_int_equal(gn[nvme_cid_index(cids[3])], 1);
	/* re-use: same index, next generation; the old cid stays stale */
	uint16_t again;
	assert_int_equal(nvme_ring_slot_get(&r, &again), 0);
	assert_int_equal(nvme_cid_index(again), nvme_cid_index(cids[3]));
	assert_int_equal(again >> NVME_CID_INDEX_BITS, 1);
	assert_int_equal(nvme_ring_claim(&r, cids[3], &idx), -ENOENT);
	assert_int_equal(nvme_ring_claim(&r, again, &idx), 0);
	nvme_ring_slot_put(&r, idx);
	/* not in flight: a free slot's current cid */
	uint16_t free_cid = (uint16_t)(gn[idx] << NVME_CID_INDEX_BITS | idx);
	assert_int_equal(nvme_ring_claim(&r, free_cid, &idx), -EALREADY);
	/* the never-used last slot (index depth-1) is not in flight either */
	assert_int_equal(nvme_ring_claim(&r, D - 1, &idx), -EALREADY);
	/* abandoned: the late completion frees the slot and says so */
	unsigned k = nvme_cid_index(cids[5]);
	st[k] = NVME_SLOT_ABANDONED;
	unsigned before = r.inflight;
	assert_int_equal(nvme_ring_claim(&r, cids[5], &idx), -ECANCELED);
	assert_int_equal(st[k], NVME_SLOT_FREE);
	assert_int_equal(r.inflight, before - 1);
	assert_int_equal(nvme_ring_claim(&r, cids[5], &idx), -ENOENT);
	/* generations wrap within their bits */
	for (unsigned g = 0; g < 2 * GENS; g++) {
		uint16_t x;
		assert_int_equal(nvme_ring_slot_get(&r, &x), 0);
		assert_true((x >> NVME_CID_INDEX_BITS) < GENS);
		assert_int_equal(nvme_ring_claim(&r, x, &idx), 0);
		nvme_ring_slot_put(&r, idx);
	}
	/* a put of an index outside the table is ignored */
	nvme_ring_slot_put(&r, D);
	nvme_ring_slot_put(&r, 5000);
}

/* ---- randomized sequences against a reference model ---------------------------------- */

static uint64_t rng;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

struct model {
	uint32_t depth;
	uint32_t tail, head;            /* host SQ tail; last head reported */
	uint32_t fetched;               /* device's SQ head (entries fetched) */
	uint32_t cq_posted, cq_popped;  /* CQEs written by the device / taken by the host */
	uint32_t state[MAXD];
	uint16_t gen[MAXD];
	uint32_t inflight;
	/* device: commands fetched and not completed yet */
	uint16_t at_dev[MAXD];
	uint32_t ndev;
	/* SQ contents by position: which cid */
	uint16_t sq_cid[MAXD];
	/* posted CQEs in order, not yet popped */
	struct { uint16_t cid, head; } cqe[MAXD];
	uint16_t last_done[64];         /* recently completed cids (duplicates) */
	unsigned nlast;
};

static uint32_t used(const struct model *m) { return (m->tail + m->depth - m->head) % m->depth; }

static void compare(const struct nvme_ring *r, const struct model *m)
{
	assert_int_equal(r->sq_tail, m->tail);
	assert_int_equal(r->sq_head, m->head);
	assert_int_equal(r->cq_head, m->cq_popped % m->depth);
	assert_int_equal(r->phase, ((m->cq_popped / m->depth) % 2) == 0 ? NVME_STATUS_P : 0);
	assert_int_equal(r->inflight, m->inflight);
	for (uint32_t i = 0; i < m->depth; i++) {
		assert_int_equal(st[i], m->state[i]);
		assert_int_equal(gn[i], m->gen[i]);
	}
}

static void dev_post(struct model *m, uint16_t cid, uint16_t head)
{
	uint32_t at = m->cq_posted % m->depth;
	unsigned phase = ((m->cq_posted / m->depth) % 2) == 0;
	post(at, cid, head, phase, (uint16_t)(rnd(4) << NVME_STATUS_SC_SHIFT));
	m->cqe[at].cid = cid;
	m->cqe[at].head = head;
	m->cq_posted++;
}

static void model_put(struct model *m, unsigned i)
{
	if (m->state[i] == NVME_SLOT_FREE)
		return;
	m->gen[i] = (uint16_t)((m->gen[i] + 1u) % GENS);
	m->state[i] = NVME_SLOT_FREE;
	m->inflight--;
}

static void run_sequence(uint32_t depth, uint64_t seed, unsigned steps)
{
	static struct model m;
	struct nvme_ring r;
	memset(&m, 0, sizeof m);
	m.depth = depth;
	rng = seed;
	ring_new(&r, depth);
	unsigned claims = 0, drops = 0;
	for (unsigned s = 0; s < steps; s++) {
		switch (rnd(8)) {
		case 0:
		case 1: {                       /* host: submit */
			uint32_t lowest = MAXD;
			for (uint32_t i = 0; i + 1 < depth; i++)
				if (m.state[i] == NVME_SLOT_FREE) {
					lowest = i;
					break;
				}
			bool ok = m.inflight < depth - 1 && used(&m) < depth - 1 && lowest != MAXD;
			uint16_t cid = 0xFFFF;
			int rc = nvme_ring_slot_get(&r, &cid);
			assert_int_equal(rc, ok ? 0 : -EAGAIN);
			if (!ok)
				break;
			assert_int_equal(cid, (uint16_t)(m.gen[lowest] << NVME_CID_INDEX_BITS | lowest));
			m.state[lowest] = NVME_SLOT_ISSUED;
			m.inflight++;
			struct nvme_sqe e = { .opc = NVME_CMD_READ, .cid = cid };
			assert_int_equal(nvme_ring_push(&r, &e), (int)((m.tail + 1) % depth));
			assert_int_equal(sq[m.tail].cid, cid);
			m.sq_cid[m.tail] = cid;
			m.tail = (m.tail + 1) % depth;
			break;
		}
		case 2:                         /* device: fetch some entries in order */
			while (m.fetched != m.tail && rnd(3)) {
				m.at_dev[m.ndev++] = m.sq_cid[m.fetched];
				m.fetched = (m.fetched + 1) % depth;
			}
			break;
		case 3:
		case 4: {                       /* device: complete one fetched command, any order */
			if (!m.ndev || m.cq_posted - m.cq_popped >= depth - 1)
				break;
			uint32_t k = rnd(m.ndev);
			uint16_t cid = m.at_dev[k];
			m.at_dev[k] = m.at_dev[--m.ndev];
			dev_post(&m, cid, (uint16_t)m.fetched);
			m.last_done[m.nlast++ % 64] = cid;
			break;
		}
		case 5: {                       /* device: a bogus CQE */
			if (m.cq_posted - m.cq_popped >= depth - 1)
				break;
			uint16_t cid;
			uint32_t kind = rnd(4);
			if (kind == 0 && m.nlast)
				cid = m.last_done[rnd(m.nlast < 64 ? m.nlast : 64)];   /* duplicate */
			else if (kind == 1)
				cid = (uint16_t)(rnd(GENS) << NVME_CID_INDEX_BITS | (depth + rnd(MAXD - depth + 1)));
			else
				cid = (uint16_t)rnd(0x10000);
			/* head: the real one, or a random value: outside the ring,
			 * behind, or ahead of the tail must be ignored. A lie between
			 * the real head and the tail cannot be told from the truth:
			 * the device is given the real one there. */
			uint16_t head = rnd(2) ? (uint16_t)m.fetched : (uint16_t)rnd(depth + 4);
			uint32_t ahead = (head + depth - m.fetched) % depth;
			if (head < depth && ahead > 0 && ahead <= (m.tail + depth - m.fetched) % depth)
				head = (uint16_t)m.fetched;
			dev_post(&m, cid, head);
			break;
		}
		case 6:
		case 7: {                       /* host: reap one */
			struct nvme_cqe out;
			bool have = m.cq_posted != m.cq_popped;
			assert_int_equal(nvme_ring_pop(&r, &out), have);
			if (!have)
				break;
			uint32_t at = m.cq_popped % depth;
			m.cq_popped++;
			assert_int_equal(out.cid, m.cqe[at].cid);
			uint32_t nh = m.cqe[at].head;
			if (nh < depth && (nh + depth - m.head) % depth <= used(&m))
				m.head = nh;
			/* predicted claim result */
			uint16_t cid = out.cid;
			unsigned i = nvme_cid_index(cid);
			int want;
			if (i >= depth || (cid >> NVME_CID_INDEX_BITS) != m.gen[i])
				want = -ENOENT;
			else if (m.state[i] == NVME_SLOT_ISSUED)
				want = 0;
			else if (m.state[i] == NVME_SLOT_ABANDONED)
				want = -ECANCELED;
			else
				want = -EALREADY;
			unsigned idx = 9999;
			assert_int_equal(nvme_ring_claim(&r, cid, &idx), want);
			if (want == 0) {
				assert_int_equal(idx, i);
				m.state[i] = NVME_SLOT_COMPLETING;
				claims++;
				if (rnd(4)) {   /* usually finished at once, sometimes later */
					nvme_ring_slot_put(&r, idx);
					model_put(&m, i);
				}
			} else if (want == -ECANCELED) {
				model_put(&m, i);
			} else {
				drops++;
			}
			break;
		}
		}
		/* now and then: the host gives up on one command, or finishes a
		 * completing one */
		if (rnd(16) == 0) {
			uint32_t i = rnd(depth);
			if (m.state[i] == NVME_SLOT_ISSUED) {
				st[i] = NVME_SLOT_ABANDONED;    /* what the waiter's CAS does */
				m.state[i] = NVME_SLOT_ABANDONED;
			} else if (m.state[i] == NVME_SLOT_COMPLETING) {
				nvme_ring_slot_put(&r, i);
				model_put(&m, i);
			}
		}
		compare(&r, &m);
	}
	print_message("depth %u seed %llu: %u steps, %u claims, %u dropped\n", depth, (unsigned long long)seed, steps,
		      claims, drops);
	assert_true(claims > 0);
}

static void test_random_sequences_vs_model(void **state)
{
	(void)state;
	static const uint32_t depths[] = { 2, 3, 4, 8, 32, 256, 1024 };
	for (unsigned d = 0; d < sizeof depths / sizeof depths[0]; d++)
		for (uint64_t seed = 1; seed <= 6; seed++)
			run_sequence(depths[d], seed * 0x9E3779B97F4A7C15ull, 20000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sq_wrap_full_empty),
		cmocka_unit_test(test_phase_flips_at_wrap),
		cmocka_unit_test(test_sq_head_flow_control),
		cmocka_unit_test(test_cid_table),
		cmocka_unit_test(test_random_sequences_vs_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
