/*
 * sched_fair.c — the weighted fair class (docs/sched.md): each thread's virtual
 * runtime grows by its time on the CPU * 1024 / weight (weight from nice), the
 * queued thread with the smallest virtual runtime runs next, and the running one
 * gives way once it is a slice (sched.preempt_us) ahead of that one. The nice to
 * weight numbers are Linux's sched_prio_to_weight (kernel/sched/core.c).
 */
#include <kernel/atomic.h>
#include <kernel/panic.h>
#include <kernel/sched.h>
#include "sched_internal.h"

#define NICE_0_WEIGHT 1024u

/* nice -20..19: nice 0 is 1024, each step about 1.25x (Linux's sched_prio_to_weight,
 * kernel/sched/core.c), so one nice step is about 10% of CPU between two threads. */
static const uint32_t nice_weight[40] = {
	88761, 71755, 56483, 46273, 36291,
	29154, 23254, 18705, 14949, 11916,
	9548,  7620,  6100,  4904,  3906,
	3121,  2501,  1991,  1586,  1277,
	1024,  820,   655,   526,   423,
	335,   272,   215,   172,   137,
	110,   87,    70,    56,    45,
	36,    29,    23,    18,    15,
};

uint32_t sched_fair_weight(int nice)
{
	if (nice < THREAD_NICE_MIN)
		nice = THREAD_NICE_MIN;
	if (nice > THREAD_NICE_MAX)
		nice = THREAD_NICE_MAX;
	return nice_weight[nice - THREAD_NICE_MIN];
}

/* The credit a woken thread may bring back: half a slice of virtual runtime
 * behind min_vruntime, never more (a long sleeper does not own the CPU after). */
static int64_t wake_credit(void)
{
	return (int64_t)(sched_preempt_ns() / 2);
}

/* min_vruntime follows the smallest of the running fair thread and the queue's
 * head, and never goes back. */
static void update_min(struct sched_rq *rq)
{
	struct thread *c = rq->curr;
	bool cur = c && !c->idle && c->q_class == SCHED_Q_FAIR && !c->on_rq && !c->vr_relative;
	uint64_t v;
	if (rq->fair_head && cur)
		v = rq->fair_head->vruntime < c->vruntime ? rq->fair_head->vruntime : c->vruntime;
	else if (rq->fair_head)
		v = rq->fair_head->vruntime;
	else if (cur)
		v = c->vruntime;
	else
		return;
	if (v > rq->min_vruntime)
		rq->min_vruntime = v;
}

static void fair_enqueue(struct sched_rq *rq, struct thread *t)
{
	assert_held(&rq->lock);
	if (t->vr_relative) {
		/* new, woken or moved here: near this CPU's min_vruntime */
		int64_t lag = t->vlag;
		if (lag < -wake_credit())
			lag = -wake_credit();
		t->vruntime = lag < 0 && (uint64_t)-lag > rq->min_vruntime ? 0 : rq->min_vruntime + (uint64_t)lag;
		t->vr_relative = 0;
	}
	if (t->q_yield && rq->fair_head && t->vruntime < rq->fair_head->vruntime)
		t->vruntime = rq->fair_head->vruntime;  /* yield: behind the next one */
	t->q_yield = t->q_head = 0;
	/* Sorted, equal ones in arrival order; from the tail (newcomers go late). */
	struct thread *pos = 0;
	if (rq->fair_head) {
		struct thread *p = rq->fair_head->rq_prev;
		for (;;) {
			if (p->vruntime <= t->vruntime) {
				pos = p->rq_next == rq->fair_head ? 0 : p->rq_next;
				break;
			}
			if (p == rq->fair_head) {
				pos = p;        /* smallest: becomes the head */
				break;
			}
			p = p->rq_prev;
		}
	}
	bool new_head = rq->fair_head && pos == rq->fair_head;
	sched_list_insert_before(&rq->fair_head, pos, t);
	if (new_head)
		rq->fair_head = t;
	atomic_store32(&rq->fair_nr, rq->fair_nr + 1, MO_RELAXED);
	atomic_store32(&rq->nr_queued, rq->nr_queued + 1, MO_RELAXED);
	update_min(rq);
}

static void fair_dequeue(struct sched_rq *rq, struct thread *t)
{
	assert_held(&rq->lock);
	sched_list_remove(&rq->fair_head, t);
	atomic_store32(&rq->fair_nr, rq->fair_nr - 1, MO_RELAXED);
	atomic_store32(&rq->nr_queued, rq->nr_queued - 1, MO_RELAXED);
}

static struct thread *fair_pick(struct sched_rq *rq)
{
	struct thread *t = rq->fair_head;
	if (t)
		fair_dequeue(rq, t);
	return t;
}

static void fair_account(struct sched_rq *rq, struct thread *curr, uint64_t delta_ns)
{
	if (curr->vr_relative)
		return;                 /* came from another class while running */
	curr->vruntime += delta_ns * NICE_0_WEIGHT / sched_fair_weight(curr->nice);
	update_min(rq);
}

static bool fair_tick(struct sched_rq *rq, struct thread *curr, uint64_t now_ns)
{
	(void)now_ns;
	struct thread *l = rq->fair_head;
	if (!l)
		return false;
	if (curr->q_class != SCHED_Q_FAIR || curr->vr_relative)
		return true;            /* an RT thread that became fair: take its place in line */
	return curr->vruntime >= l->vruntime + sched_preempt_ns();
}

static void fair_leave(struct sched_rq *rq, struct thread *t)
{
	if (t->vr_relative)
		return;
	t->vlag = (int64_t)(t->vruntime - rq->min_vruntime);
	t->vr_relative = 1;
}

static struct thread *fair_steal(struct sched_rq *rq, unsigned dst_cpu)
{
	assert_held(&rq->lock);
	if (!rq->fair_head)
		return 0;
	/* From the tail: the thread that would wait longest here. */
	struct thread *t = rq->fair_head->rq_prev;
	for (;;) {
		if (cpumask_test(&t->affinity, dst_cpu) && !atomic_load32(&t->on_cpu, MO_ACQUIRE)) {
			fair_dequeue(rq, t);
			fair_leave(rq, t);
			return t;
		}
		if (t == rq->fair_head)
			return 0;
		t = t->rq_prev;
	}
}

const struct sched_class sched_fair_class = {
	.name = "fair",
	.q = SCHED_Q_FAIR,
	.enqueue = fair_enqueue,
	.dequeue = fair_dequeue,
	.pick = fair_pick,
	.tick = fair_tick,
	.steal = fair_steal,
	.account = fair_account,
	.leave = fair_leave,
};
