/*
 * sched_ktest.c — the `sched` suite (docs/sched.md): threads created and joined on
 * every CPU, affinity never violated (the scheduler also checks it at every
 * switch and panics), yield ping-pong, the tick preempting a busy thread, a
 * cross-CPU wake-up, sleeps that never end early, and a wake-before-sleep stress
 * on two or more CPUs that hangs (and is reported, then released) if a wake-up is
 * ever lost. Runs in the kmain thread (pinned to the boot CPU).
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/cpumask.h>
#include <kernel/errno.h>
#include <kernel/ktest.h>
#include <kernel/ktest_smp.h>
#include <kernel/sched.h>
#include <kernel/smp.h>
#include <kernel/string.h>
#include <kernel/thread.h>
#include <kernel/time.h>
#include "sched_class_ktest.h"

#define MAX_CPUS_USED 64
#define PER_CPU 3
#define YIELDS 20
#define PINGPONG_ROUNDS 500
#define STRESS_ROUNDS 2000
#define WAIT_TIMEOUT_NS 30000000000ull     /* 30 s: only a broken scheduler gets near */

static struct thread_opts pinned(unsigned cpu)
{
	struct thread_opts o = { 0 };
	cpumask_set(&o.affinity, cpu);
	return o;
}

/* The online CPUs, at most MAX_CPUS_USED, in *n; returns the mask. */
static struct cpumask some_cpus(unsigned *n)
{
	struct cpumask on, out;
	smp_online_mask(&on);
	cpumask_clear(&out);
	*n = 0;
	for_each_cpu(c, &on) {
		if (*n == MAX_CPUS_USED)
			break;
		cpumask_set(&out, c);
		(*n)++;
	}
	return out;
}

/* Poll (sleeping 1 ms at a time) until *p >= want; false after the timeout. */
static bool wait_ge(const uint64_t *p, uint64_t want)
{
	uint64_t t0 = time_now_ns();
	while (atomic_load64(p, MO_ACQUIRE) < want) {
		if (time_now_ns() - t0 > WAIT_TIMEOUT_NS)
			return false;
		thread_sleep_ns(1000000);
	}
	return true;
}

/* ---- create, join, names, affinity ------------------------------------------------- */

struct worker {
	struct thread *t;
	struct cpumask mask;
	uint32_t outside;               /* times it found itself on a CPU outside mask */
	uint32_t ran;
	uint32_t cpu_seen;
	uint32_t name_ok;
	struct thread *self;            /* thread_current() as the thread saw it */
};

static struct worker workers[MAX_CPUS_USED * PER_CPU];

static void check_here(struct worker *w)
{
	if (!cpumask_test(&w->mask, hal_cpu_index()))
		atomic_fetch_add32(&w->outside, 1, MO_RELAXED);
}

static void worker_entry(void *arg)
{
	struct worker *w = arg;
	w->self = thread_current();
	w->name_ok = kstrcmp(thread_name(w->self), "sched-worker") == 0;
	for (int i = 0; i < YIELDS; i++) {
		check_here(w);
		w->cpu_seen = hal_cpu_index();
		thread_yield();
	}
	check_here(w);
	atomic_store32(&w->ran, 1, MO_RELEASE);
	thread_exit((int)(w - workers) + 1);
}

static void sched_create_join_every_cpu(struct ktest *t)
{
	unsigned n;
	struct cpumask cpus = some_cpus(&n);
	unsigned k = 0;
	for_each_cpu(c, &cpus) {
		for (int j = 0; j < PER_CPU; j++) {
			struct worker *w = &workers[k];
			*w = (struct worker){ 0 };
			struct thread_opts o = pinned(c);
			w->mask = o.affinity;
			w->t = thread_create("sched-worker", worker_entry, w, &o);
			KTEST_ASSERT(t, w->t != 0);
			k++;
		}
	}
	for (unsigned i = 0; i < k; i++) {
		int code = -1;
		struct thread *th = workers[i].t;
		KTEST_ASSERT(t, thread_join(th, &code) == 0);
		KTEST_EXPECT(t, workers[i].self == th);
		KTEST_EXPECT_EQ(t, workers[i].name_ok, 1);
		KTEST_EXPECT_EQ(t, code, i + 1);
		KTEST_EXPECT_EQ(t, workers[i].ran, 1);
		KTEST_EXPECT_EQ(t, workers[i].outside, 0);
		KTEST_EXPECT(t, cpumask_test(&workers[i].mask, workers[i].cpu_seen));
	}
	ktest_log(t, "%u threads on %u CPUs created, run and joined", k, n);
	/* Bad input is refused with a log line, not a crash. */
	struct thread_opts bad = { .nice = 40 };
	KTEST_EXPECT(t, thread_create("bad-nice", worker_entry, 0, &bad) == 0);
	struct thread_opts off = { 0 };
	cpumask_set(&off.affinity, tu_first_offline() < HAL_MAX_CPUS ? tu_first_offline() : 0);
	if (tu_first_offline() < HAL_MAX_CPUS)
		KTEST_EXPECT(t, thread_create("no-cpu", worker_entry, 0, &off) == 0);
	KTEST_EXPECT(t, thread_join(thread_current(), 0) == -EINVAL);
}

/* Threads with two-CPU masks that yield and sleep, moved to another CPU half way:
 * before the move they may be on either mask's CPUs, after it (and one switch)
 * only on the new one. Both masks are set before the thread starts. */
struct move {
	struct thread *t;
	struct cpumask before, after, either;
	uint32_t outside_before, outside_after, ran;
};
static struct move moves[MAX_CPUS_USED];
static uint32_t move_now;

static void mover_entry(void *arg)
{
	struct move *m = arg;
	for (int i = 0; i < 2 * YIELDS; i++) {
		if (!cpumask_test(&m->either, hal_cpu_index()))
			atomic_fetch_add32(&m->outside_before, 1, MO_RELAXED);
		if (i & 1)
			thread_sleep_ns(100000);
		else
			thread_yield();
	}
	while (!atomic_load32(&move_now, MO_ACQUIRE))
		thread_sleep_ns(200000);
	thread_yield();                 /* the switch that moves it if it still has to */
	for (int i = 0; i < 2 * YIELDS; i++) {
		if (!cpumask_test(&m->after, hal_cpu_index()))
			atomic_fetch_add32(&m->outside_after, 1, MO_RELAXED);
		if (i & 1)
			thread_sleep_ns(100000);
		else
			thread_yield();
	}
	atomic_store32(&m->ran, 1, MO_RELEASE);
}

static void sched_affinity_respected(struct ktest *t)
{
	unsigned n;
	struct cpumask cpus = some_cpus(&n);
	unsigned list[MAX_CPUS_USED], k = 0;
	for_each_cpu(c, &cpus)
		list[k++] = c;
	struct sched_cpu_stats s;
	uint64_t before = 0, checks = 0;
	for (unsigned i = 0; i < n; i++) {
		sched_cpu_stats(list[i], &s);
		before += s.affinity_checks;
	}
	atomic_store32(&move_now, 0, MO_RELAXED);
	for (unsigned i = 0; i < n; i++) {
		struct move *m = &moves[i];
		*m = (struct move){ 0 };
		cpumask_set(&m->before, list[i]);
		cpumask_set(&m->before, list[(i + 1) % n]);
		cpumask_set(&m->after, list[(i + n / 2) % n]);
		m->either = m->before;
		cpumask_set(&m->either, list[(i + n / 2) % n]);
		struct thread_opts o = { .affinity = m->before };
		m->t = thread_create("sched-mover", mover_entry, m, &o);
		KTEST_ASSERT(t, m->t != 0);
	}
	thread_sleep_ns(2000000);
	for (unsigned i = 0; i < n; i++)
		KTEST_EXPECT_EQ(t, thread_set_affinity(moves[i].t, &moves[i].after), 0);
	atomic_store32(&move_now, 1, MO_RELEASE);
	for (unsigned i = 0; i < n; i++) {
		KTEST_ASSERT(t, thread_join(moves[i].t, 0) == 0);
		KTEST_EXPECT_EQ(t, moves[i].outside_before, 0);
		KTEST_EXPECT_EQ(t, moves[i].outside_after, 0);
		KTEST_EXPECT_EQ(t, moves[i].ran, 1);
	}
	struct cpumask empty;
	cpumask_clear(&empty);
	KTEST_EXPECT_EQ(t, thread_set_affinity(thread_current(), &empty), -EINVAL);
	for (unsigned i = 0; i < n; i++) {
		sched_cpu_stats(list[i], &s);
		checks += s.affinity_checks;
	}
	KTEST_EXPECT(t, checks > before);
	ktest_log(t, "%llu switches checked against the affinity mask",
		  (unsigned long long)(checks - before));
}

/* ---- yield ping-pong ------------------------------------------------------------------ */

static uint64_t turn, pp_done;
static uint32_t pp_cpu_bad;

static void pp_entry(void *arg)
{
	uint64_t me = (uint64_t)(uintptr_t)arg;
	unsigned cpu = hal_cpu_index();
	uint64_t t0 = time_now_ns();
	for (int i = 0; i < PINGPONG_ROUNDS; i++) {
		while (atomic_load64(&turn, MO_ACQUIRE) != me) {
			if (time_now_ns() - t0 > WAIT_TIMEOUT_NS)
				goto out;
			thread_yield();
		}
		if (hal_cpu_index() != cpu)
			pp_cpu_bad = 1;
		atomic_store64(&turn, me ^ 1, MO_RELEASE);
	}
out:
	atomic_fetch_add64(&pp_done, 1, MO_RELEASE);
}

static void sched_yield_pingpong(struct ktest *t)
{
	unsigned cpu = tu_last_online();
	struct sched_cpu_stats s0, s1;
	sched_cpu_stats(cpu, &s0);
	atomic_store64(&turn, 0, MO_RELAXED);
	atomic_store64(&pp_done, 0, MO_RELAXED);
	pp_cpu_bad = 0;
	struct thread_opts o = pinned(cpu);
	struct thread *a = thread_create("sched-ping", pp_entry, (void *)0, &o);
	struct thread *b = thread_create("sched-pong", pp_entry, (void *)1, &o);
	KTEST_ASSERT(t, a && b);
	KTEST_ASSERT(t, thread_join(a, 0) == 0);
	KTEST_ASSERT(t, thread_join(b, 0) == 0);
	sched_cpu_stats(cpu, &s1);
	KTEST_EXPECT_EQ(t, atomic_load64(&turn, MO_RELAXED), 0);     /* 2 x 500 hand-overs */
	KTEST_EXPECT_EQ(t, pp_cpu_bad, 0);
	KTEST_EXPECT(t, s1.switches - s0.switches >= 2 * PINGPONG_ROUNDS);
}

/* ---- preemption by the tick ---------------------------------------------------------- */

static uint64_t busy_running, busy_stop, other_ran;
static uint32_t busy_timed_out;

static void busy_entry(void *unused)
{
	(void)unused;
	uint64_t t0 = time_now_ns();
	atomic_store64(&busy_running, 1, MO_RELEASE);
	/* Never yields, never blocks: only the tick can take the CPU away. */
	while (!atomic_load64(&busy_stop, MO_ACQUIRE)) {
		if (time_now_ns() - t0 > WAIT_TIMEOUT_NS) {
			busy_timed_out = 1;
			break;
		}
		hal_cpu_relax();
	}
}

static void other_entry(void *unused)
{
	(void)unused;
	atomic_store64(&other_ran, 1, MO_RELEASE);
	atomic_store64(&busy_stop, 1, MO_RELEASE);
}

static void sched_tick_preempts_busy_thread(struct ktest *t)
{
	if (!time_can_halt()) {
		ktest_skip(t, "no timer tick on this machine");
		return;
	}
	unsigned cpu = tu_last_online();
	struct sched_cpu_stats s0, s1;
	sched_cpu_stats(cpu, &s0);
	atomic_store64(&busy_running, 0, MO_RELAXED);
	atomic_store64(&busy_stop, 0, MO_RELAXED);
	atomic_store64(&other_ran, 0, MO_RELAXED);
	busy_timed_out = 0;
	struct thread_opts o = pinned(cpu);
	struct thread *b = thread_create("sched-busy", busy_entry, 0, &o);
	KTEST_ASSERT(t, b != 0);
	KTEST_ASSERT(t, wait_ge(&busy_running, 1));
	uint64_t t0 = time_now_ns();
	struct thread *p = thread_create("sched-other", other_entry, 0, &o);
	KTEST_ASSERT(t, p != 0);
	KTEST_EXPECT(t, wait_ge(&other_ran, 1));
	uint64_t waited = time_now_ns() - t0;
	KTEST_ASSERT(t, thread_join(p, 0) == 0);
	KTEST_ASSERT(t, thread_join(b, 0) == 0);
	sched_cpu_stats(cpu, &s1);
	KTEST_EXPECT_EQ(t, busy_timed_out, 0);
	KTEST_EXPECT(t, s1.preemptions > s0.preemptions);
	ktest_log(t, "the second thread ran %llu us after it was queued (slice %llu us)",
		  (unsigned long long)(waited / 1000), (unsigned long long)(sched_preempt_ns() / 1000));
}

/* ---- cross-CPU wake-up ---------------------------------------------------------------- */

static uint64_t xw_flag, xw_woken;
static uint32_t xw_cpu;

static void xw_entry(void *unused)
{
	(void)unused;
	for (;;) {
		sched_prepare_wait();
		if (atomic_load64(&xw_flag, MO_ACQUIRE))
			break;
		sched_block();
	}
	sched_finish_wait();
	xw_cpu = hal_cpu_index();
	atomic_store64(&xw_woken, 1, MO_RELEASE);
}

static void sched_cross_cpu_wake(struct ktest *t)
{
	unsigned cpu = tu_last_online();
	if (cpu == hal_cpu_index()) {
		ktest_skip(t, "needs two online CPUs");
		return;
	}
	atomic_store64(&xw_flag, 0, MO_RELAXED);
	atomic_store64(&xw_woken, 0, MO_RELAXED);
	struct thread_opts o = pinned(cpu);
	struct thread *w = thread_create("sched-sleeper", xw_entry, 0, &o);
	KTEST_ASSERT(t, w != 0);
	/* Let it block (or not: a wake-up before the sleep must not be lost either). */
	thread_sleep_ns(2000000);
	struct sched_cpu_stats me0, me1;
	sched_cpu_stats(hal_cpu_index(), &me0);
	atomic_store64(&xw_flag, 1, MO_RELEASE);
	bool was_blocked = sched_wake(w);
	KTEST_EXPECT(t, wait_ge(&xw_woken, 1));
	KTEST_ASSERT(t, thread_join(w, 0) == 0);
	sched_cpu_stats(hal_cpu_index(), &me1);
	KTEST_EXPECT_EQ(t, xw_cpu, cpu);
	if (was_blocked)
		KTEST_EXPECT(t, me1.wakeups_remote > me0.wakeups_remote);
	ktest_log(t, "woke a thread on CPU %u from CPU %u (%s)", cpu, hal_cpu_index(),
		  was_blocked ? "it was blocked" : "it had not blocked yet");
}

/* ---- sleep ----------------------------------------------------------------------------- */

static const uint64_t sleep_ns_list[] = { 1000, 500000, 1000000, 3000000, 10000000 };
static uint64_t sleep_early, sleep_done;

static void sleeper_entry(void *arg)
{
	uint64_t ns = sleep_ns_list[(uintptr_t)arg % (sizeof sleep_ns_list / sizeof sleep_ns_list[0])];
	for (int i = 0; i < 3; i++) {
		uint64_t t0 = time_now_ns();
		thread_sleep_ns(ns);
		if (time_now_ns() - t0 < ns)
			atomic_fetch_add64(&sleep_early, 1, MO_RELAXED);
	}
	atomic_fetch_add64(&sleep_done, 1, MO_RELEASE);
}

static void sched_sleep_not_early(struct ktest *t)
{
	if (!time_can_halt()) {
		ktest_skip(t, "no timer tick on this machine");
		return;
	}
	unsigned n;
	struct cpumask cpus = some_cpus(&n);
	struct thread *th[MAX_CPUS_USED];
	unsigned k = 0;
	atomic_store64(&sleep_early, 0, MO_RELAXED);
	atomic_store64(&sleep_done, 0, MO_RELAXED);
	for_each_cpu(c, &cpus) {
		struct thread_opts o = pinned(c);
		th[k] = thread_create("sched-nap", sleeper_entry, (void *)(uintptr_t)k, &o);
		KTEST_ASSERT(t, th[k] != 0);
		k++;
	}
	uint64_t t0 = time_now_ns();
	thread_sleep_ns(5000000);
	KTEST_EXPECT(t, time_now_ns() - t0 >= 5000000);
	for (unsigned i = 0; i < k; i++)
		KTEST_ASSERT(t, thread_join(th[i], 0) == 0);
	KTEST_EXPECT_EQ(t, atomic_load64(&sleep_done, MO_RELAXED), k);
	KTEST_EXPECT_EQ(t, atomic_load64(&sleep_early, MO_RELAXED), 0);
}

/* ---- no lost wake-up -------------------------------------------------------------------- */

/* Pairs of threads on two different CPUs hand a token back and forth: each sets
 * the other's flag and wakes it, often before the other has gone to sleep. A
 * lost wake-up leaves both asleep: the test notices after the timeout, says so,
 * and releases them (abort) so the run goes on. */
struct pair {
	struct thread *th[2];
	uint64_t flag[2];
	uint64_t rounds[2];
};

#define STRESS_PAIRS 4
static struct pair pairs[STRESS_PAIRS];
static uint64_t stress_abort;

static void pair_entry(void *arg)
{
	struct pair *p = &pairs[(uintptr_t)arg >> 1];
	unsigned me = (uintptr_t)arg & 1;
	for (int i = 0; i < STRESS_ROUNDS; i++) {
		for (;;) {
			sched_prepare_wait();
			if (atomic_load64(&p->flag[me], MO_ACQUIRE) || atomic_load64(&stress_abort, MO_ACQUIRE))
				break;
			sched_block();
		}
		sched_finish_wait();
		if (atomic_load64(&stress_abort, MO_ACQUIRE))
			break;
		atomic_store64(&p->flag[me], 0, MO_RELAXED);
		atomic_store64(&p->rounds[me], (uint64_t)i + 1, MO_RELEASE);
		atomic_store64(&p->flag[me ^ 1], 1, MO_RELEASE);
		sched_wake(p->th[me ^ 1]);
	}
}

static void sched_no_lost_wakeup(struct ktest *t)
{
	unsigned n;
	struct cpumask cpus = some_cpus(&n);
	if (n < 2) {
		ktest_skip(t, "needs two online CPUs");
		return;
	}
	unsigned list[MAX_CPUS_USED], k = 0;
	for_each_cpu(c, &cpus)
		list[k++] = c;
	atomic_store64(&stress_abort, 0, MO_RELAXED);
	for (unsigned i = 0; i < STRESS_PAIRS; i++) {
		struct pair *p = &pairs[i];
		*p = (struct pair){ 0 };
		for (unsigned s = 0; s < 2; s++) {
			struct thread_opts o = pinned(list[(2 * i + s) % n]);
			p->th[s] = thread_create("sched-token", pair_entry, (void *)(uintptr_t)(2 * i + s), &o);
			KTEST_ASSERT(t, p->th[s] != 0);
		}
	}
	/* Threads may already wait; the first wake-up starts each pair. */
	for (unsigned i = 0; i < STRESS_PAIRS; i++) {
		atomic_store64(&pairs[i].flag[0], 1, MO_RELEASE);
		sched_wake(pairs[i].th[0]);
	}
	for (unsigned i = 0; i < STRESS_PAIRS; i++) {
		if (!wait_ge(&pairs[i].rounds[1], STRESS_ROUNDS)) {
			ktest_fail_at(t, __FILE__, __LINE__, "pair %u stuck at rounds %llu/%llu: a lost wake-up",
				      i, (unsigned long long)pairs[i].rounds[0],
				      (unsigned long long)pairs[i].rounds[1]);
			atomic_store64(&stress_abort, 1, MO_RELEASE);
			for (unsigned j = 0; j < STRESS_PAIRS; j++)
				for (unsigned s = 0; s < 2; s++)
					sched_wake(pairs[j].th[s]);
			break;
		}
	}
	for (unsigned i = 0; i < STRESS_PAIRS; i++)
		for (unsigned s = 0; s < 2; s++)
			KTEST_ASSERT(t, thread_join(pairs[i].th[s], 0) == 0);
	ktest_log(t, "%u pairs x %d hand-overs across CPUs", STRESS_PAIRS, STRESS_ROUNDS);
}

static const struct ktest_case sched_cases[] = {
	KTEST_CASE(sched_create_join_every_cpu),
	KTEST_CASE(sched_affinity_respected),
	KTEST_CASE(sched_yield_pingpong),
	KTEST_CASE(sched_tick_preempts_busy_thread),
	KTEST_CASE(sched_cross_cpu_wake),
	KTEST_CASE(sched_sleep_not_early),
	KTEST_CASE(sched_no_lost_wakeup),
	/* the fair and RT classes: sched_class_ktest.c */
	KTEST_CASE(sched_fair_nice_weight_ratio),
	KTEST_CASE(sched_fair_equal_nice_shares),
	KTEST_CASE(sched_fair_newcomer_starts_at_min_vruntime),
	KTEST_CASE(sched_rt_preempts_fair_within_a_tick),
	KTEST_CASE(sched_rt_higher_preempts_lower),
	KTEST_CASE(sched_rt_fifo_rr_order),
	KTEST_CASE(sched_rt_throttle_leaves_fair_share),
	KTEST_CASE(sched_rt_invalid_rejected),
	KTEST_CASE(sched_pi_boost_runs_ahead_of_rt),
};
KTEST_SUITE(sched_suite, "sched", sched_cases);
