/*
 * sched_rt.c — the real-time class (docs/sched.md): levels 1..99 (a bitmap and a
 * FIFO per level), the highest level runs; SCHED_RT_FIFO until it blocks, yields
 * or is outranked, SCHED_RT_RR rotating among its level every slice
 * (sched.preempt_us). Throttling: a CPU's RT threads get at most sched.rt_share
 * percent of each sched.rt_period_ms; then the class is skipped until the period renews.
 */
#include <kernel/atomic.h>
#include <kernel/cmdline.h>
#include <kernel/log.h>
#include <kernel/panic.h>
#include <kernel/sched.h>
#include "sched_internal.h"

#define RT_SHARE_MIN 50
#define RT_SHARE_MAX 100            /* 100: no throttling */
#define RT_PERIOD_MS_MIN 10
#define RT_PERIOD_MS_MAX 10000

static unsigned rt_share = SCHED_RT_SHARE_DEFAULT;
static uint64_t rt_period_ns = SCHED_RT_PERIOD_MS_DEFAULT * 1000000ull;

static uint64_t word(const char *name, uint64_t def, uint64_t lo, uint64_t hi)
{
	uint64_t v = def;
	if (cmdline_get(name) && cmdline_get_u64(name, &v) != 0) {
		klog("sched", "%s=%s is not a number (allowed %llu..%llu), using %llu", name,
		     cmdline_get(name), (unsigned long long)lo, (unsigned long long)hi,
		     (unsigned long long)def);
		return def;
	}
	if (v < lo || v > hi) {
		klog("sched", "%s=%llu out of range %llu..%llu, using %llu", name, (unsigned long long)v,
		     (unsigned long long)lo, (unsigned long long)hi, (unsigned long long)def);
		return def;
	}
	return v;
}

void sched_rt_config(void)
{
	rt_share = (unsigned)word("sched.rt_share", SCHED_RT_SHARE_DEFAULT, RT_SHARE_MIN, RT_SHARE_MAX);
	uint64_t ms = word("sched.rt_period_ms", SCHED_RT_PERIOD_MS_DEFAULT, RT_PERIOD_MS_MIN,
			   RT_PERIOD_MS_MAX);
	rt_period_ns = ms * 1000000ull;
	kinfo("sched.rt_share", "%u", rt_share);
	kinfo("sched.rt_period_ms", "%llu", (unsigned long long)ms);
}

uint64_t sched_rt_period_ns(void)
{
	return rt_period_ns;
}

unsigned sched_rt_share(void)
{
	return rt_share;
}

/* The level t runs at: its thread_prio above THREAD_PRIO_RT_BASE (a boosted fair
 * thread runs at the number it was lent). */
static unsigned level_of(const struct thread *t)
{
	int l = thread_prio(t) - THREAD_PRIO_RT_BASE;
	if (l < THREAD_RT_PRIO_MIN)
		l = THREAD_RT_PRIO_MIN;
	if (l > THREAD_RT_PRIO_MAX)
		l = THREAD_RT_PRIO_MAX;
	return (unsigned)l;
}

static int top_level(const struct sched_rq *rq)
{
	if (rq->rt_bitmap[1])
		return 64 + 63 - __builtin_clzll(rq->rt_bitmap[1]);
	if (rq->rt_bitmap[0])
		return 63 - __builtin_clzll(rq->rt_bitmap[0]);
	return -1;
}

int sched_rt_top_prio(struct sched_rq *rq)
{
	int l = top_level(rq);
	if (l < 0 || atomic_load32(&rq->rt_throttled, MO_RELAXED))
		return 0;
	return THREAD_PRIO_RT_BASE + l;
}

static void rt_enqueue(struct sched_rq *rq, struct thread *t)
{
	assert_held(&rq->lock);
	unsigned l = level_of(t);
	t->q_level = (uint8_t)l;
	struct thread **head = &rq->rt_head[l];
	bool at_head = t->q_head && !t->q_yield;
	sched_list_insert_before(head, 0, t);    /* at the tail */
	if (at_head)
		*head = t;              /* preempted before its slice ended: first again */
	t->q_head = t->q_yield = 0;
	rq->rt_bitmap[l / 64] |= 1ull << (l % 64);
	atomic_store32(&rq->rt_nr, rq->rt_nr + 1, MO_RELAXED);
	atomic_store32(&rq->nr_queued, rq->nr_queued + 1, MO_RELAXED);
}

static void rt_dequeue(struct sched_rq *rq, struct thread *t)
{
	assert_held(&rq->lock);
	unsigned l = t->q_level;
	sched_list_remove(&rq->rt_head[l], t);
	if (!rq->rt_head[l])
		rq->rt_bitmap[l / 64] &= ~(1ull << (l % 64));
	atomic_store32(&rq->rt_nr, rq->rt_nr - 1, MO_RELAXED);
	atomic_store32(&rq->nr_queued, rq->nr_queued - 1, MO_RELAXED);
}

static struct thread *rt_pick(struct sched_rq *rq)
{
	if (atomic_load32(&rq->rt_throttled, MO_RELAXED))
		return 0;
	int l = top_level(rq);
	if (l < 0)
		return 0;
	struct thread *t = rq->rt_head[l];
	rt_dequeue(rq, t);
	return t;
}

static void rt_account(struct sched_rq *rq, struct thread *curr, uint64_t delta_ns)
{
	/* Only the part of delta_ns inside the current period counts against it: a
	 * CPU that took no tick for long (a loaded host) renews the period late, and
	 * the time before the renewal belongs to periods already over. account_curr
	 * set curr->exec_start_ns to now. */
	uint64_t in_period = curr->exec_start_ns - rq->rt_period_start_ns;
	if (curr->exec_start_ns < rq->rt_period_start_ns)
		in_period = 0;
	if (delta_ns > in_period)
		delta_ns = in_period;
	rq->rt_used_ns += delta_ns;
	if (rt_share >= RT_SHARE_MAX || atomic_load32(&rq->rt_throttled, MO_RELAXED))
		return;
	if (rq->rt_used_ns < rt_period_ns / 100 * rt_share)
		return;
	atomic_store32(&rq->rt_throttled, 1, MO_RELAXED);
	rq->rt_throttled_periods++;
	if (!rq->rt_episode) {
		rq->rt_episode = 1;
		klog("sched", "CPU %u: RT throttled: RT threads used %llu ms of a %llu ms period "
		     "(sched.rt_share=%u); other threads run until it renews", rq->cpu,
		     (unsigned long long)(rq->rt_used_ns / 1000000),
		     (unsigned long long)(rt_period_ns / 1000000), rt_share);
	}
}

bool sched_rt_period_tick(struct sched_rq *rq, uint64_t now_ns)
{
	assert_held(&rq->lock);
	if (now_ns - rq->rt_period_start_ns < rt_period_ns)
		return false;
	bool was = atomic_load32(&rq->rt_throttled, MO_RELAXED);
	if (!was)
		rq->rt_episode = 0;     /* a period without throttling ends the episode */
	rq->rt_period_start_ns = now_ns;
	rq->rt_used_ns = 0;
	atomic_store32(&rq->rt_throttled, 0, MO_RELAXED);
	return was && rq->rt_nr && (rq->curr->idle || rq->curr->q_class != SCHED_Q_RT);
}

static bool rt_tick(struct sched_rq *rq, struct thread *curr, uint64_t now_ns)
{
	if (atomic_load32(&rq->rt_throttled, MO_RELAXED))
		return true;
	/* A queued thread that outranks curr asked for the switch when it was queued
	 * (wake preemption, sched_prio_changed): only the slice is the tick's. */
	unsigned l = level_of(curr);
	int top = top_level(rq);
	if (top == (int)l && curr->prio_class == SCHED_CLASS_RT && curr->rt_policy == SCHED_RT_RR &&
	    now_ns - curr->slice_start_ns >= sched_preempt_ns()) {
		curr->q_yield = 1;      /* slice over: to the tail of its level */
		return true;
	}
	return false;
}

static struct thread *rt_steal(struct sched_rq *rq, unsigned dst_cpu)
{
	assert_held(&rq->lock);
	/* The most urgent thread dst_cpu may run. */
	for (int l = THREAD_RT_PRIO_MAX; l >= THREAD_RT_PRIO_MIN; l--) {
		struct thread *h = rq->rt_head[l];
		if (!h)
			continue;
		struct thread *t = h;
		do {
			if (cpumask_test(&t->affinity, dst_cpu) && !atomic_load32(&t->on_cpu, MO_ACQUIRE)) {
				rt_dequeue(rq, t);
				return t;
			}
			t = t->rq_next;
		} while (t != h);
	}
	return 0;
}

const struct sched_class sched_rt_class = {
	.name = "rt",
	.q = SCHED_Q_RT,
	.enqueue = rt_enqueue,
	.dequeue = rt_dequeue,
	.pick = rt_pick,
	.tick = rt_tick,
	.steal = rt_steal,
	.account = rt_account,
	.leave = 0,
};
