/*
 * sched.c — the scheduler core (docs/sched.md): per-CPU run queues under a
 * per-CPU spinlock, the switch (the lock is held across hal_ctx_switch and
 * released by the thread that runs next), the idle thread (each CPU's boot flow),
 * yield, block and wake with no lost wake-up, the tick's preemption request and
 * the switch on the way out of an interrupt, and reschedule IPIs (VEC_RESCHED).
 * The policy is two classes (sched_internal.h): real-time (sched_rt.c) above
 * weighted fair (sched_fair.c); a thread's class follows its thread_prio.
 */
#include <hal/hal.h>
#include <kernel/apic.h>
#include <kernel/atomic.h>
#include <kernel/cmdline.h>
#include <kernel/irq.h>
#include <kernel/log.h>
#include <kernel/panic.h>
#include <kernel/preempt.h>
#include <kernel/printf.h>
#include <kernel/sched.h>
#include <kernel/string.h>
#include <kernel/time.h>
#include "sched_internal.h"

#define PREEMPT_US_MIN 100
#define PREEMPT_US_MAX 1000000

static struct sched_rq rqs[HAL_MAX_CPUS];
static struct thread idle_threads[HAL_MAX_CPUS];
static uint64_t preempt_ns = SCHED_PREEMPT_US_DEFAULT * 1000ull;
static uint32_t config_done;

struct sched_rq *sched_rq_of(unsigned cpu)
{
	return &rqs[cpu];
}

static struct sched_rq *this_rq(void)
{
	return &rqs[hal_cpu_index()];
}

static bool rq_ready(unsigned cpu)
{
	return cpu < HAL_MAX_CPUS && atomic_load32(&rqs[cpu].ready, MO_ACQUIRE);
}

bool sched_cpu_ready(unsigned cpu)
{
	return rq_ready(cpu);
}

uint64_t sched_preempt_ns(void)
{
	return preempt_ns;
}

uint64_t sched_now_ns(void)
{
	return time_now_ns();
}

const struct sched_class *sched_class_of(const struct thread *t)
{
	return thread_prio(t) >= THREAD_PRIO_RT_BASE ? &sched_rt_class : &sched_fair_class;
}

/* The classes in the order they are asked for a thread. */
static const struct sched_class *const classes[] = { &sched_rt_class, &sched_fair_class };

const struct sched_class *sched_class_by_q(unsigned q)
{
	for (unsigned i = 0; i < sizeof classes / sizeof classes[0]; i++)
		if (classes[i]->q == q)
			return classes[i];
	return 0;
}

bool sched_rq_has_runnable(struct sched_rq *rq)
{
	return atomic_load32(&rq->fair_nr, MO_RELAXED) ||
	       (atomic_load32(&rq->rt_nr, MO_RELAXED) && !atomic_load32(&rq->rt_throttled, MO_RELAXED));
}

/* Charge rq->curr for its time on the CPU up to now (rq locked). */
static void account_curr(struct sched_rq *rq, uint64_t now)
{
	struct thread *c = rq->curr;
	if (now <= c->exec_start_ns)
		return;
	uint64_t d = now - c->exec_start_ns;
	c->exec_start_ns = now;
	atomic_store64(&c->runtime_ns, c->runtime_ns + d, MO_RELAXED);
	const struct sched_class *k = c->idle ? 0 : sched_class_by_q(c->q_class);
	if (k)
		k->account(rq, c, d);
}

/* t leaves rq's class state for good (blocks, exits, moves, changes class). */
static void class_leave(struct sched_rq *rq, struct thread *t)
{
	const struct sched_class *k = sched_class_by_q(t->q_class);
	if (k && k->leave)
		k->leave(rq, t);
	t->q_head = t->q_yield = 0;
}

/* Take a queued t off its class queue (the one it was put in). */
static void rq_dequeue(struct sched_rq *rq, struct thread *t)
{
	sched_class_by_q(t->q_class)->dequeue(rq, t);
	t->on_rq = 0;
}

/* Does t (queued on rq) outrank what rq's CPU runs, so that it should switch now?
 * RT over fair, a higher RT number over a lower; fair threads wait for the tick. */
static bool outranks(struct sched_rq *rq, const struct thread *t, const struct thread *curr)
{
	int p = thread_prio(t);
	if (p < THREAD_PRIO_RT_BASE || atomic_load32(&rq->rt_throttled, MO_RELAXED))
		return false;
	return curr->idle || p > thread_prio(curr);
}

static void config_once(void)
{
	uint32_t expect = 0;
	if (!atomic_cas32(&config_done, &expect, 1, MO_ACQ_REL, MO_ACQUIRE))
		return;
	uint64_t us = SCHED_PREEMPT_US_DEFAULT;
	if (cmdline_get_u64("sched.preempt_us", &us) == 0 &&
	    (us < PREEMPT_US_MIN || us > PREEMPT_US_MAX)) {
		klog("sched", "sched.preempt_us=%llu out of range %u..%u, using %u",
		     (unsigned long long)us, PREEMPT_US_MIN, PREEMPT_US_MAX, SCHED_PREEMPT_US_DEFAULT);
		us = SCHED_PREEMPT_US_DEFAULT;
	}
	preempt_ns = us * 1000ull;
	kinfo("sched.preempt_us", "%llu", (unsigned long long)us);
	sched_rt_config();
	static const struct irq_hooks hooks = { sched_irq_enter, sched_irq_exit };
	irq_set_hooks(&hooks);
	time_set_tick_hook(sched_tick);
}

void sched_cpu_start(void)
{
	unsigned long f = hal_irq_save();
	unsigned cpu = hal_cpu_index();
	struct sched_rq *rq = &rqs[cpu];
	if (atomic_load32(&rq->ready, MO_ACQUIRE)) {
		hal_irq_restore(f);
		return;
	}
	config_once();
	struct thread *idle = &idle_threads[cpu];
	ksnprintf(idle->name, sizeof idle->name, "idle%u", cpu);
	idle->ctx = hal_ctx_boot();
	idle->state = THREAD_RUNNING;
	idle->cpu = cpu;
	idle->on_cpu = 1;
	idle->idle = 1;
	idle->id = cpu;
	cpumask_clear(&idle->affinity);
	cpumask_set(&idle->affinity, cpu);
	spin_init(&rq->lock, "sched.rq");       /* one lock class for every CPU's run queue */
	sched_sleep_cpu_init(cpu);
	rq->cpu = cpu;
	rq->curr = idle;
	rq->idle = idle;
	rq->rt_period_start_ns = idle->exec_start_ns = sched_now_ns();
	/* release: the run queue is whole before any CPU may place a thread here */
	atomic_store32(&rq->ready, 1, MO_RELEASE);
	hal_irq_restore(f);
}

bool sched_idle_has_work(void)
{
	return sched_rq_has_runnable(this_rq());
}

struct thread *thread_current(void)
{
	unsigned long f = hal_irq_save();
	struct sched_rq *rq = this_rq();
	struct thread *t = atomic_load32(&rq->ready, MO_ACQUIRE) ? rq->curr : 0;
	hal_irq_restore(f);
	return t;
}

struct hal_ctx *sched_current_ctx(void)
{
	struct thread *t = thread_current();
	return t ? t->ctx : hal_ctx_boot();
}

/* ---- placement -------------------------------------------------------------------- */

unsigned sched_select_cpu(const struct thread *t, unsigned prefer)
{
	if (prefer < HAL_MAX_CPUS && cpumask_test(&t->affinity, prefer) && rq_ready(prefer))
		return prefer;
	unsigned best = HAL_MAX_CPUS, best_load = ~0u;
	for_each_cpu(c, &t->affinity) {
		if (!rq_ready(c))
			continue;
		struct sched_rq *rq = &rqs[c];
		unsigned load = atomic_load32(&rq->nr_queued, MO_RELAXED) +
				atomic_load32(&rq->busy, MO_RELAXED);
		if (load < best_load) {
			best = c;
			best_load = load;
		}
	}
	return best;
}

/* t was queued on rq: make its CPU look when it idles or t outranks its current
 * thread (rq locked). True: send it a reschedule IPI (kick_send, after unlocking). */
static bool kick(struct sched_rq *rq, const struct thread *t)
{
	if (!outranks(rq, t, rq->curr))
		return false;               /* fair after fair: the tick gives it its turn */
	atomic_store32(&rq->need_resched, 1, MO_RELAXED);
	if (rq->cpu != hal_cpu_index())
		return true;
	/* This CPU: an idle thread looks itself, an interrupt switches on its way
	 * out; a thread gets a self-IPI, taken as soon as its interrupts are on. */
	return !rq->curr->idle && !rq->irq_depth;
}

static void kick_send(unsigned cpu)
{
	if (cpu == hal_cpu_index())
		ipi_send_self(VEC_RESCHED);
	else
		ipi_send(cpu, VEC_RESCHED);
}

static void rq_enqueue(struct sched_rq *rq, struct thread *t)
{
	if (t->on_rq)
		panic("sched: thread %s queued twice (CPU %u)", t->name, rq->cpu);
	if (t != rq->curr && atomic_load32(&t->on_cpu, MO_ACQUIRE))
		panic("sched: thread %s queued on CPU %u while it still runs", t->name, rq->cpu);
	const struct sched_class *k = sched_class_of(t);
	if (t->q_class != k->q)
		class_leave(rq, t);         /* e.g. a fair thread boosted into the RT class */
	k->enqueue(rq, t);
	t->q_class = (uint8_t)k->q;
	t->on_rq = 1;
}

void sched_enqueue_on(unsigned cpu, struct thread *t)
{
	unsigned long f = hal_irq_save();
	for (;;) {
		struct sched_rq *rq = &rqs[cpu];
		spin_lock(&rq->lock);
		if (!cpumask_test(&t->affinity, cpu)) {
			/* its mask changed while it was on the way: choose again */
			unsigned to = sched_select_cpu(t, HAL_MAX_CPUS);
			if (to == HAL_MAX_CPUS)
				panic("sched: thread %s has no open CPU in its affinity", t->name);
			atomic_store32(&t->cpu, to, MO_RELEASE);
			spin_unlock(&rq->lock);
			cpu = to;
			continue;
		}
		rq_enqueue(rq, t);
		bool ipi = kick(rq, t);
		if (ipi)
			rq->resched_ipis++;
		spin_unlock(&rq->lock);
		if (ipi)
			kick_send(cpu);
		break;
	}
	hal_irq_restore(f);
}

/* ---- the switch -------------------------------------------------------------------- */

struct sched_post {
	struct thread *dead;            /* exited on the way out: announce to its joiner */
	struct thread *moved;           /* left a CPU its mask no longer allows */
};

static struct thread *pick_next(struct sched_rq *rq)
{
	for (unsigned i = 0; i < sizeof classes / sizeof classes[0]; i++) {
		struct thread *t = classes[i]->pick(rq);
		if (t) {
			t->on_rq = 0;
			return t;
		}
	}
	return rq->idle;
}

/* t runs from here on: its runtime and slice count from now, not from the
 * switch, which may take long where a context is a host thread (doppel-sim). */
static void started(struct thread *t)
{
	uint64_t now = sched_now_ns();
	t->exec_start_ns = now;
	t->slice_start_ns = now;
}

static void switch_finish(struct sched_rq *rq, struct sched_post *post)
{
	struct thread *last = rq->last;
	rq->last = 0;
	post->dead = post->moved = 0;
	if (!last)
		return;
	uint32_t st = atomic_load32(&last->state, MO_RELAXED);
	if (last->migrate && st == THREAD_BLOCKED)
		post->moved = last;
	last->migrate = 0;
	/* release: its context is free (saved) before anyone may run or reap it */
	atomic_store32(&last->on_cpu, 0, MO_RELEASE);
	if (st == THREAD_EXITED)
		post->dead = last;
}

void sched_announce_exit(struct thread *dead)
{
	/* acq_rel: everything the thread did before its exit is visible to the joiner */
	uint64_t j = atomic_xchg64(&dead->join_word, JOIN_DONE, MO_ACQ_REL);
	if (j && j != JOIN_DONE)
		sched_wake((struct thread *)(uintptr_t)j);
}

static void post_run(const struct sched_post *post)
{
	if (post->dead)
		sched_announce_exit(post->dead);
	if (post->moved)
		sched_wake(post->moved);
}

/* Switch away from rq->curr (rq = this CPU's, locked, interrupts off). Returns
 * the run queue locked when the caller runs again, with its post-switch work. */
static struct sched_rq *do_switch(struct sched_rq *rq, bool preempt, struct sched_post *post)
{
	struct thread *prev = rq->curr;
	unsigned cpu = rq->cpu;
	uint32_t st = atomic_load32(&prev->state, MO_RELAXED);
	uint64_t now = sched_now_ns();
	post->dead = post->moved = 0;
	account_curr(rq, now);
	bool requeued = false;
	if (!prev->idle && (st == THREAD_RUNNING || (preempt && st == THREAD_BLOCKED))) {
		if (!cpumask_test(&prev->affinity, cpu)) {
			/* its mask no longer holds this CPU: off the CPU, then woken elsewhere */
			prev->migrate = 1;
			atomic_store32(&prev->state, THREAD_BLOCKED, MO_RELAXED);
		} else {
			/* a preempted waiter becomes runnable: its sched_block returns at once.
			 * Preempted: first in its RT level again; yielded: behind its equals. */
			if (preempt)
				prev->q_head = 1;
			else if (st == THREAD_RUNNING)
				prev->q_yield = 1;
			atomic_store32(&prev->state, THREAD_RUNNABLE, MO_RELAXED);
			rq_enqueue(rq, prev);
			requeued = true;
		}
	}
	if (!prev->idle && !requeued)
		class_leave(rq, prev);      /* blocks, exits or moves */
	struct thread *next = pick_next(rq);
	atomic_store32(&rq->need_resched, 0, MO_RELAXED);
	if (next == prev) {
		atomic_store32(&prev->state, THREAD_RUNNING, MO_RELAXED);
		prev->slice_start_ns = now;
		prev->exec_start_ns = now;
		return rq;
	}
	/* Affinity, checked at every switch (docs/sched.md). */
	if (!cpumask_test(&next->affinity, cpu))
		panic("sched: CPU %u switches to thread %s, whose affinity does not hold it", cpu,
		      next->name);
	rq->affinity_checks++;
	if (atomic_load32(&next->on_cpu, MO_ACQUIRE))
		panic("sched: CPU %u switches to thread %s, which is still on a CPU", cpu, next->name);
	atomic_store32(&next->state, THREAD_RUNNING, MO_RELAXED);
	atomic_store32(&next->on_cpu, 1, MO_RELAXED);
	next->slice_start_ns = now;
	next->exec_start_ns = now;
	next->switches_in++;
	rq->curr = next;
	atomic_store32(&rq->busy, !next->idle, MO_RELAXED);
	rq->last = prev;
	rq->switches++;
	if (preempt)
		rq->preemptions++;
	/* The run queue's lock is the only one a thread may hold across a switch. */
	if (preempt_count() != 1)
		panic("sched: thread %s switches away holding %u spinlock(s) besides the run queue's",
		      prev->name, preempt_count() - 1);
	hal_ctx_switch(prev->ctx, next->ctx);
	/* Back in prev, maybe on another CPU: whoever switched here holds its lock. */
	rq = this_rq();
	switch_finish(rq, post);
	started(prev);
	return rq;
}

/* Switch and finish: lock, switch, unlock, announce. Interrupts must be off. */
static void resched(bool preempt)
{
	struct sched_post post;
	struct sched_rq *rq = this_rq();
	spin_lock(&rq->lock);
	rq = do_switch(rq, preempt, &post);
	spin_unlock(&rq->lock);
	post_run(&post);
}

void thread_trampoline(void *arg)
{
	struct thread *t = arg;
	struct sched_rq *rq = this_rq();
	struct sched_post post;
	switch_finish(rq, &post);
	started(t);
	spin_unlock(&rq->lock);
	post_run(&post);
	hal_irq_enable();
	t->entry(t->arg);
	thread_exit(0);
}

void thread_yield(void)
{
	unsigned long f = hal_irq_save();
	struct sched_rq *rq = this_rq();
	bool others = atomic_load32(&rq->ready, MO_ACQUIRE) &&
		      (atomic_load32(&rq->nr_queued, MO_RELAXED) || atomic_load32(&rq->need_resched, MO_RELAXED));
	if (others)
		resched(false);
	hal_irq_restore(f);
	/* Nobody to yield to: the caller spins, waiting for another CPU. Say so, so
	 * the CPU (or the sim's det scheduler) lets that CPU run. */
	if (!others)
		hal_cpu_relax();
}

void sched_exit_current(int code)
{
	hal_irq_disable();
	struct sched_rq *rq = this_rq();
	spin_lock(&rq->lock);
	struct thread *cur = rq->curr;
	if (cur->idle)
		panic("thread_exit in CPU %u's idle thread", rq->cpu);
	cur->exit_code = code;
	atomic_store32(&cur->state, THREAD_EXITED, MO_RELEASE);
	struct sched_post post;
	do_switch(rq, false, &post);
	panic("sched: exited thread %s was switched to again", cur->name);
}

/* ---- blocking and waking ---------------------------------------------------------- */

void sched_prepare_wait(void)
{
	struct thread *t = thread_current();
	if (!t || t->idle)
		return;                     /* the callers' loops spin instead (sched_block) */
	atomic_store32(&t->state, THREAD_BLOCKED, MO_SEQ_CST);
	/* seq_cst: the state store is ordered before the waiter's condition loads,
	 * against the waker's condition store and state load (sched_wake). */
	atomic_fence(MO_SEQ_CST);
}

void sched_finish_wait(void)
{
	struct thread *t = thread_current();
	if (t && !t->idle)
		atomic_store32(&t->state, THREAD_RUNNING, MO_RELAXED);
}

void sched_block(void)
{
	unsigned long f = hal_irq_save();
	struct sched_rq *rq = this_rq();
	if (!atomic_load32(&rq->ready, MO_ACQUIRE) || rq->curr->idle) {
		/* a boot flow or idle thread cannot sleep: the caller's loop polls */
		hal_irq_restore(f);
		hal_cpu_relax();
		return;
	}
	if (preempt_count() != 0)
		panic("sched_block in thread %s with a spinlock held (preempt count %u)", rq->curr->name, preempt_count());
	if (rq->irq_depth)
		panic("sched_block in interrupt context (thread %s)", rq->curr->name);
	spin_lock(&rq->lock);
	struct sched_post post = { 0, 0 };
	if (atomic_load32(&rq->curr->state, MO_RELAXED) == THREAD_BLOCKED)
		rq = do_switch(rq, false, &post);
	spin_unlock(&rq->lock);
	post_run(&post);
	hal_irq_restore(f);
}

/* Lock the run queue that owns t (t->cpu may change until its lock is held). */
static struct sched_rq *lock_owner(struct thread *t)
{
	for (;;) {
		unsigned cpu = atomic_load32(&t->cpu, MO_ACQUIRE);
		struct sched_rq *rq = &rqs[cpu];
		spin_lock(&rq->lock);
		if (atomic_load32(&t->cpu, MO_RELAXED) == cpu)
			return rq;
		spin_unlock(&rq->lock);
	}
}

bool sched_wake(struct thread *t)
{
	if (!t)
		return false;
	/* seq_cst: the waker's condition store before its state load (sched.h) */
	atomic_fence(MO_SEQ_CST);
	unsigned long f = hal_irq_save();
	struct sched_rq *rq = lock_owner(t);
	if (atomic_load32(&t->state, MO_ACQUIRE) != THREAD_BLOCKED) {
		spin_unlock(&rq->lock);
		hal_irq_restore(f);
		return false;
	}
	if (rq->curr == t) {
		/* still on its CPU (between prepare and the switch): it does not sleep */
		atomic_store32(&t->state, THREAD_RUNNING, MO_RELAXED);
		spin_unlock(&rq->lock);
		hal_irq_restore(f);
		return true;
	}
	/* Off its CPU: the lock's holder finished that switch (switch_finish). */
	unsigned to = sched_select_cpu(t, rq->cpu);
	if (to == HAL_MAX_CPUS)
		panic("sched: thread %s has no open CPU in its affinity", t->name);
	atomic_store32(&t->state, THREAD_RUNNABLE, MO_RELAXED);
	if (to == rq->cpu) {
		rq_enqueue(rq, t);
		bool ipi = kick(rq, t);
		if (ipi)
			rq->resched_ipis++;
		unsigned cpu = rq->cpu;
		spin_unlock(&rq->lock);
		if (ipi)
			kick_send(cpu);
	} else {
		atomic_store32(&t->cpu, to, MO_RELEASE);
		spin_unlock(&rq->lock);
		sched_enqueue_on(to, t);
	}
	if (to != hal_cpu_index())
		atomic_fetch_add64(&this_rq()->wakeups_remote, 1, MO_RELAXED);
	hal_irq_restore(f);
	return true;
}

int sched_set_affinity(struct thread *t, const struct cpumask *mask)
{
	unsigned long f = hal_irq_save();
	struct sched_rq *rq = lock_owner(t);
	t->affinity = *mask;
	struct thread *moved = 0;
	bool ipi = false, self = false;
	if (!cpumask_test(mask, rq->cpu)) {
		if (rq->curr == t) {
			atomic_store32(&rq->need_resched, 1, MO_RELAXED);
			self = rq->cpu == hal_cpu_index();
			ipi = !self;
		} else if (t->on_rq) {
			rq_dequeue(rq, t);
			class_leave(rq, t);
			t->migrate = 0;
			atomic_store32(&t->state, THREAD_BLOCKED, MO_RELAXED);
			moved = t;
		}
	}
	unsigned cpu = rq->cpu;
	spin_unlock(&rq->lock);
	if (ipi)
		ipi_send(cpu, VEC_RESCHED);
	if (moved)
		sched_wake(moved);
	if (self)
		resched(false);
	hal_irq_restore(f);
	return 0;
}

void sched_prio_changed(struct thread *t)
{
	if (!t || t->idle)
		return;
	unsigned long f = hal_irq_save();
	struct sched_rq *rq = lock_owner(t);
	bool ipi = false;
	if (t->on_rq) {
		/* queued: to its new class and level, then maybe ahead of the CPU's thread */
		rq_dequeue(rq, t);
		rq_enqueue(rq, t);
		ipi = kick(rq, t);
	} else if (rq->curr == t) {
		/* running: charge the time so far to the class it ran in; give way when a
		 * queued thread now outranks it (RT over fair, higher RT over lower) */
		account_curr(rq, sched_now_ns());
		/* Its class changed (a loan came or went): switch once so it is charged
		 * and queued in the class it now belongs to, not the one it was picked from. */
		if (sched_rt_top_prio(rq) > thread_prio(t) || sched_class_of(t)->q != t->q_class) {
			atomic_store32(&rq->need_resched, 1, MO_RELAXED);
			ipi = rq->cpu != hal_cpu_index() || !rq->irq_depth;
		}
	}
	if (ipi)
		rq->resched_ipis++;
	unsigned cpu = rq->cpu;
	spin_unlock(&rq->lock);
	if (ipi)
		kick_send(cpu);
	hal_irq_restore(f);
}

/* ---- tick and interrupt exit -------------------------------------------------------- */

void sched_tick(void)
{
	struct sched_rq *rq = this_rq();
	if (!atomic_load32(&rq->ready, MO_ACQUIRE))
		return;
	uint64_t now = sched_now_ns();
	sched_sleep_tick(rq->cpu, now);
	spin_lock(&rq->lock);
	struct thread *curr = rq->curr;
	/* Renew an RT period that is over first: the time charged next is clamped
	 * to the period it falls in (sched_rt.c). */
	bool want = sched_rt_period_tick(rq, now);
	account_curr(rq, now);
	want |= curr->idle ? sched_rq_has_runnable(rq) : sched_class_of(curr)->tick(rq, curr, now);
	if (want)
		atomic_store32(&rq->need_resched, 1, MO_RELAXED);
	spin_unlock(&rq->lock);
}

void sched_irq_enter(void)
{
	this_rq()->irq_depth++;
}

void sched_irq_exit(void)
{
	struct sched_rq *rq = this_rq();
	rq->irq_depth--;
	if (rq->irq_depth || !atomic_load32(&rq->ready, MO_ACQUIRE))
		return;
	if (!atomic_load32(&rq->need_resched, MO_RELAXED) || preempt_count() != 0)
		return;
	resched(true);
}

void sched_cpu_stats(unsigned cpu, struct sched_cpu_stats *o)
{
	struct sched_rq *rq = &rqs[cpu];
	*o = (struct sched_cpu_stats){ 0 };
	if (!rq_ready(cpu))
		return;
	unsigned long f = hal_irq_save();
	spin_lock(&rq->lock);
	o->switches = rq->switches;
	o->preemptions = rq->preemptions;
	o->resched_ipis = rq->resched_ipis;
	o->affinity_checks = rq->affinity_checks;
	o->rt_throttled_periods = rq->rt_throttled_periods;
	o->queued = rq->nr_queued;
	spin_unlock(&rq->lock);
	o->wakeups_remote = atomic_load64(&rq->wakeups_remote, MO_RELAXED);
	hal_irq_restore(f);
}
