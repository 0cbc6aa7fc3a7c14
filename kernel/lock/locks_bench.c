/*
 * locks_bench.c — lock benchmarks (bench=locks_*, docs/locks.md, docs/bench.md):
 * the cost of one acquisition+release while every online CPU hammers the same
 * lock, for the MCS queue lock and for the test-and-test-and-set spinlock.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/bench.h>
#include <kernel/errno.h>
#include <kernel/ktest_smp.h>
#include <kernel/mcs.h>
#include <kernel/smp.h>
#include <kernel/spinlock.h>
#include <kernel/time.h>

#define ITERS 2000
#define TIMEOUT_US 60000000ull

static struct mcs_lock b_mcs = MCS_LOCK_INIT("bench.mcs");
static struct spinlock b_spin = SPINLOCK_INIT("bench.spin");
static uint64_t b_shared;               /* the critical section's one write */
static struct tu_barrier b_start;
static uint64_t b_elapsed_max;          /* TSC ticks of the slowest CPU (atomic max) */

static void worker(uint64_t use_mcs)
{
	tu_barrier_wait(&b_start, TIMEOUT_US);
	uint64_t t0 = hal_rdtsc();
	for (unsigned i = 0; i < ITERS; i++) {
		if (use_mcs)
			mcs_lock(&b_mcs);
		else
			spin_lock(&b_spin);
		b_shared++;
		if (use_mcs)
			mcs_unlock(&b_mcs);
		else
			spin_unlock(&b_spin);
	}
	uint64_t d = hal_rdtsc() - t0, cur = atomic_load64(&b_elapsed_max, MO_RELAXED);
	while (d > cur && !atomic_cas64(&b_elapsed_max, &cur, d, MO_RELAXED, MO_RELAXED))
		;
}

static int contended(bool use_mcs, const char *name)
{
	struct cpumask online;
	smp_online_mask(&online);
	unsigned n = smp_online_count();
	tu_barrier_init(&b_start, n);
	atomic_store64(&b_elapsed_max, 0, MO_RELAXED);
	if (smp_run_parallel(&online, worker, use_mcs, TIMEOUT_US, 0) != 0)
		return -ETIMEDOUT;
	bench_report(name, time_tsc_to_ns(atomic_load64(&b_elapsed_max, MO_RELAXED)) / ((uint64_t)n * ITERS), "ns");
	return 0;
}

static int bench_locks_contended(void)
{
	int rc = contended(true, "locks_mcs_contended_ns");
	if (rc == 0)
		rc = contended(false, "locks_spin_contended_ns");
	if (rc == 0)
		bench_report("locks_contended_cpus", smp_online_count(), "cpus");
	return rc;
}
BENCH_CASE(locks_contended_case, "locks_contended", bench_locks_contended);
