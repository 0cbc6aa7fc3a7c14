/*
 * sched_rr.c — the round-robin policy, the first scheduling class: one FIFO per
 * CPU, the running thread goes to the tail when its slice (sched.preempt_us) is
 * used up and another thread waits. The weighted fair class (virtual runtime)
 * and the real-time class plug into the same hooks (sched_internal.h).
 */
#include <kernel/atomic.h>
#include <kernel/panic.h>
#include <kernel/sched.h>
#include "sched_internal.h"

static void rr_enqueue(struct sched_rq *rq, struct thread *t)
{
	assert_held(&rq->lock);
	t->rq_next = 0;
	if (rq->rr_tail)
		rq->rr_tail->rq_next = t;
	else
		rq->rr_head = t;
	rq->rr_tail = t;
	atomic_store32(&rq->nr_queued, rq->nr_queued + 1, MO_RELAXED);
}

static void rr_dequeue(struct sched_rq *rq, struct thread *t)
{
	assert_held(&rq->lock);
	struct thread **pp = &rq->rr_head, *prev = 0;
	while (*pp && *pp != t) {
		prev = *pp;
		pp = &(*pp)->rq_next;
	}
	if (!*pp)
		return;
	*pp = t->rq_next;
	if (rq->rr_tail == t)
		rq->rr_tail = prev;
	t->rq_next = 0;
	atomic_store32(&rq->nr_queued, rq->nr_queued - 1, MO_RELAXED);
}

static struct thread *rr_pick(struct sched_rq *rq)
{
	struct thread *t = rq->rr_head;
	if (t)
		rr_dequeue(rq, t);
	return t;
}

static bool rr_tick(struct sched_rq *rq, struct thread *curr, uint64_t now_ns)
{
	return rq->rr_head && now_ns - curr->slice_start_ns >= sched_preempt_ns();
}

static struct thread *rr_steal(struct sched_rq *rq, unsigned dst_cpu)
{
	assert_held(&rq->lock);
	for (struct thread *t = rq->rr_head; t; t = t->rq_next)
		if (cpumask_test(&t->affinity, dst_cpu) && !atomic_load32(&t->on_cpu, MO_ACQUIRE)) {
			rr_dequeue(rq, t);
			return t;
		}
	return 0;
}

const struct sched_class sched_rr_class = {
	.name = "rr",
	.enqueue = rr_enqueue,
	.dequeue = rr_dequeue,
	.pick = rr_pick,
	.tick = rr_tick,
	.steal = rr_steal,
};
