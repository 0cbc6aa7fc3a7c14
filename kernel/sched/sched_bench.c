/*
 * sched_bench.c — scheduler benchmarks (bench=<glob>, docs/bench.md, docs/sched.md):
 * a context switch on one CPU (two threads yielding to each other, p50/p99), a
 * cross-CPU wake-up (from sched_wake on the boot CPU to the woken thread running
 * on another, p50/p99), thread create+join (mean) and a priority-inheritance boost
 * through a chain of 8 mutex owners (p50). Reported, never asserted.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/bench.h>
#include <kernel/errno.h>
#include <kernel/ktest_smp.h>
#include <kernel/log.h>
#include <kernel/mutex.h>
#include <kernel/sched.h>
#include <kernel/thread.h>
#include <kernel/time.h>

#define SAMPLES 1000
#define CREATE_JOIN_N 200
static uint64_t samples[SAMPLES];

static struct thread_opts on_cpu(unsigned cpu)
{
	struct thread_opts o = { 0 };
	cpumask_set(&o.affinity, cpu);
	return o;
}

/* ---- context switch: A stamps, yields to B, B yields back; half a round trip ---- */

static uint64_t sw_stop;

static void sw_partner(void *unused)
{
	(void)unused;
	while (!atomic_load64(&sw_stop, MO_ACQUIRE))
		thread_yield();
}

static void sw_measure(void *unused)
{
	(void)unused;
	thread_yield();                 /* let the partner start */
	for (unsigned i = 0; i < SAMPLES; i++) {
		uint64_t t0 = hal_rdtsc();
		thread_yield();             /* to the partner and back: two switches */
		samples[i] = time_tsc_to_ns(hal_rdtsc() - t0) / 2;
	}
	atomic_store64(&sw_stop, 1, MO_RELEASE);
}

static int bench_ctx_switch(void)
{
	struct thread_opts o = on_cpu(tu_last_online());
	atomic_store64(&sw_stop, 0, MO_RELAXED);
	struct thread *b = thread_create("bench-partner", sw_partner, 0, &o);
	struct thread *a = thread_create("bench-switch", sw_measure, 0, &o);
	if (!a || !b) {
		atomic_store64(&sw_stop, 1, MO_RELEASE);
		if (a)
			thread_join(a, 0);
		if (b)
			thread_join(b, 0);
		return -ENOMEM;
	}
	thread_join(a, 0);
	thread_join(b, 0);
	bench_report("sched_ctx_switch_ns_p50", bench_percentile(samples, SAMPLES, 50), "ns");
	bench_report("sched_ctx_switch_ns_p99", bench_percentile(samples, SAMPLES, 99), "ns");
	return 0;
}
BENCH_CASE(sched_ctx_switch_case, "sched_ctx_switch", bench_ctx_switch);

/* ---- cross-CPU wake-up: the waker stamps, the woken thread measures ---------- */

static uint64_t wk_seq, wk_done, wk_t0;

static void wk_sleeper(void *unused)
{
	(void)unused;
	for (uint64_t i = 1; i <= SAMPLES; i++) {
		for (;;) {
			sched_prepare_wait();
			if (atomic_load64(&wk_seq, MO_ACQUIRE) >= i)
				break;
			sched_block();
		}
		sched_finish_wait();
		samples[i - 1] = time_tsc_to_ns(hal_rdtsc() - atomic_load64(&wk_t0, MO_RELAXED));
		atomic_store64(&wk_done, i, MO_RELEASE);
	}
}

static int bench_wakeup_cross_cpu(void)
{
	unsigned target = tu_last_online();
	if (target == hal_cpu_index()) {
		klog("bench", "sched_wakeup_cross_cpu needs two CPUs; not measured");
		return 0;
	}
	struct thread_opts o = on_cpu(target);
	atomic_store64(&wk_seq, 0, MO_RELAXED);
	atomic_store64(&wk_done, 0, MO_RELAXED);
	struct thread *s = thread_create("bench-sleeper", wk_sleeper, 0, &o);
	if (!s)
		return -ENOMEM;
	for (uint64_t i = 1; i <= SAMPLES; i++) {
		thread_sleep_ns(20000);     /* let it block (its CPU idles, halted) */
		atomic_store64(&wk_t0, hal_rdtsc(), MO_RELAXED);
		atomic_store64(&wk_seq, i, MO_RELEASE);
		sched_wake(s);
		while (atomic_load64(&wk_done, MO_ACQUIRE) < i)
			hal_cpu_relax();
	}
	thread_join(s, 0);
	bench_report("sched_wakeup_cross_cpu_ns_p50", bench_percentile(samples, SAMPLES, 50), "ns");
	bench_report("sched_wakeup_cross_cpu_ns_p99", bench_percentile(samples, SAMPLES, 99), "ns");
	return 0;
}
BENCH_CASE(sched_wakeup_cross_cpu_case, "sched_wakeup_cross_cpu", bench_wakeup_cross_cpu);

/* ---- create + join -------------------------------------------------------------- */

static void noop(void *unused)
{
	(void)unused;
}

static int bench_create_join(void)
{
	uint64_t t0 = hal_rdtsc();
	for (unsigned i = 0; i < CREATE_JOIN_N; i++) {
		struct thread *t = thread_create("bench-noop", noop, 0, 0);
		if (!t)
			return -ENOMEM;
		thread_join(t, 0);
	}
	uint64_t ns = time_tsc_to_ns(hal_rdtsc() - t0);
	bench_report("sched_thread_create_join_us", ns / CREATE_JOIN_N / 1000, "us");
	return 0;
}
BENCH_CASE(sched_create_join_case, "sched_thread_create_join", bench_create_join);

/* ---- PI boost 8 deep: a high thread enters mutex_lock on a chain of 8 owners; the
 * last owner, polling its own thread_prio on another CPU, stamps when it rises ---- */

#define PI_ROUNDS 31
#define PI_DEPTH MAX_PI_CHAIN_DEPTH
#define PI_HIGH_RT 90

static struct mutex pb_m[PI_DEPTH];
static struct thread *pb_t[PI_DEPTH];
static uint64_t pb_held, pb_t0, pb_t1;

static void pb_owner(void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg;
	mutex_lock(&pb_m[i]);
	atomic_fetch_add64(&pb_held, 1, MO_ACQ_REL);
	while (atomic_load64(&pb_held, MO_ACQUIRE) < PI_DEPTH)
		thread_yield();
	if (i + 1 < PI_DEPTH) {
		mutex_lock(&pb_m[i + 1]);
		mutex_unlock(&pb_m[i + 1]);
	} else {
		struct thread *me = thread_current();
		/* Spins as a fair thread (its CPU's others still get their turns); the
		 * loan that makes it RT ends the loop. pb_t1 set by hand: no high thread. */
		while (thread_prio(me) < THREAD_PRIO_RT_BASE + PI_HIGH_RT && !atomic_load64(&pb_t1, MO_ACQUIRE))
			hal_cpu_relax();
		atomic_store64(&pb_t1, hal_rdtsc(), MO_RELEASE);
	}
	mutex_unlock(&pb_m[i]);
}

/* Created once the chain has formed, so it never waits at RT priority on the CPU
 * the owners and the runner need: it stamps and blocks in mutex_lock at once. */
static void pb_high(void *unused)
{
	(void)unused;
	atomic_store64(&pb_t0, hal_rdtsc(), MO_RELAXED);
	mutex_lock(&pb_m[0]);
	mutex_unlock(&pb_m[0]);
}

static bool pb_chain_formed(void)
{
	for (unsigned i = 0; i + 1 < PI_DEPTH; i++)
		if (atomic_load64((const uint64_t *)&pb_t[i]->blocked_on, MO_ACQUIRE) !=
		    (uint64_t)(uintptr_t)&pb_m[i + 1])
			return false;
	return true;
}

static int bench_pi_boost_depth8(void)
{
	unsigned here = hal_cpu_index(), last = tu_last_online();
	if (last == here) {
		klog("bench", "sched_pi_boost_depth8 needs two CPUs; not measured");
		return 0;
	}
	struct thread_opts lo = on_cpu(here), poll = on_cpu(last), hi = on_cpu(here);
	hi.prio_class = SCHED_CLASS_RT;
	hi.rt_prio = PI_HIGH_RT;
	for (unsigned r = 0; r < PI_ROUNDS; r++) {
		atomic_store64(&pb_held, 0, MO_RELAXED);
		atomic_store64(&pb_t1, 0, MO_RELAXED);
		for (unsigned i = 0; i < PI_DEPTH; i++)
			mutex_init(&pb_m[i], "bench.pi");
		for (unsigned i = 0; i < PI_DEPTH; i++) {
			struct thread_opts *o = i + 1 < PI_DEPTH ? &lo : &poll;
			pb_t[i] = thread_create("bench-pi-owner", pb_owner, (void *)(uintptr_t)i, o);
			if (!pb_t[i]) {
				/* let the rest run through unchained and the high thread go */
				atomic_store64(&pb_held, 1ull << 32, MO_RELEASE);
				atomic_store64(&pb_t1, 1, MO_RELEASE);
				while (i-- > 0)
					thread_join(pb_t[i], 0);
				return -ENOMEM;
			}
		}
		while (!pb_chain_formed())
			thread_sleep_ns(100000);
		struct thread *h = thread_create("bench-pi-high", pb_high, 0, &hi);
		if (!h) {
			/* nobody boosts the last owner: let it go by hand */
			atomic_store64(&pb_t1, 1, MO_RELEASE);
			for (unsigned i = PI_DEPTH; i-- > 0;)
				thread_join(pb_t[i], 0);
			return -ENOMEM;
		}
		while (!atomic_load64(&pb_t1, MO_ACQUIRE))
			thread_sleep_ns(100000);
		samples[r] = time_tsc_to_ns(atomic_load64(&pb_t1, MO_ACQUIRE) - atomic_load64(&pb_t0, MO_RELAXED));
		for (unsigned i = PI_DEPTH; i-- > 0;)
			thread_join(pb_t[i], 0);
		thread_join(h, 0);
	}
	bench_report("sched_pi_boost_depth8_ns", bench_percentile(samples, PI_ROUNDS, 50), "ns");
	return 0;
}
BENCH_CASE(sched_pi_boost_case, "sched_pi_boost_depth8", bench_pi_boost_depth8);
