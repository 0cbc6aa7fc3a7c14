/*
 * lock_ktest.c — the `lock` suite: mutual exclusion of every kernel lock type (the
 * spinlock and the console's leaf lock),
 * checked directly. Every online CPU (up to LOCK_CPUS) takes the lock in a loop and,
 * inside, bumps a plain (non-atomic) counter in two steps and an occupancy count
 * that must read 0 on entry. A lock that lets two CPUs in at once shows as an
 * occupancy above one or a lost counter update: in free mode under TSan (a data
 * race on the counter), and in det mode, where the occupancy count's atomics are
 * switch points inside the critical section (tests/sim/test_sim_det.py).
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/console.h>
#include <kernel/cpumask.h>
#include <kernel/ktest.h>
#include <kernel/smp.h>
#include <kernel/spinlock.h>

#define LOCK_ITERS 40
#define LOCK_CPUS 4
#define LOCK_TIMEOUT_US 20000000ull

static struct spinlock lk = SPINLOCK_INIT("ktest.lock");
static uint64_t plain_counter;          /* written only under lk */
static uint32_t inside;                 /* CPUs inside the critical section */
static uint32_t overlaps;               /* entries that found another CPU inside */

enum lock_kind { LK_SPIN, LK_CONSOLE };

static void spin_worker(uint64_t kind)
{
	for (int i = 0; i < LOCK_ITERS; i++) {
		unsigned long f = 0;
		if (kind == LK_CONSOLE)
			f = console_lock();
		else
			spin_lock(&lk);
		if (atomic_fetch_add32(&inside, 1, MO_RELAXED) != 0)
			atomic_fetch_add32(&overlaps, 1, MO_RELAXED);
		/* Read and write back in two steps, with a switch point between. */
		uint64_t v = *(volatile uint64_t *)&plain_counter;
		atomic_fetch_add32(&inside, 0, MO_RELAXED);
		*(volatile uint64_t *)&plain_counter = v + 1;
		atomic_fetch_add32(&inside, (uint32_t)-1, MO_RELAXED);
		if (kind == LK_CONSOLE)
			console_unlock(f);
		else
			spin_unlock(&lk);
	}
}

static void mutual_exclusion(struct ktest *t, enum lock_kind kind)
{
	struct cpumask online, set;
	unsigned n = 0;

	smp_online_mask(&online);
	cpumask_clear(&set);
	cpumask_set(&set, hal_cpu_index());
	n = 1;
	for_each_cpu(c, &online) {
		if (n == LOCK_CPUS)
			break;
		if (c != hal_cpu_index() && !cpumask_test(&set, c)) {
			cpumask_set(&set, c);
			n++;
		}
	}
	if (n < 2) {
		ktest_skip(t, "needs two online CPUs");
		return;
	}
	plain_counter = 0;
	atomic_store32(&inside, 0, MO_RELAXED);
	atomic_store32(&overlaps, 0, MO_RELAXED);
	KTEST_ASSERT(t, smp_run_parallel(&set, spin_worker, kind, LOCK_TIMEOUT_US, 0) == 0);
	spin_lock(&lk);
	uint64_t total = plain_counter;
	spin_unlock(&lk);
	KTEST_EXPECT_EQ(t, atomic_load32(&overlaps, MO_RELAXED), 0);
	KTEST_EXPECT_EQ(t, total, (uint64_t)n * LOCK_ITERS);
	KTEST_EXPECT_EQ(t, atomic_load32(&inside, MO_RELAXED), 0);
}

static void spinlock_mutual_exclusion(struct ktest *t) { mutual_exclusion(t, LK_SPIN); }
static void console_lock_mutual_exclusion(struct ktest *t) { mutual_exclusion(t, LK_CONSOLE); }

static const struct ktest_case lock_cases[] = {
	KTEST_CASE(spinlock_mutual_exclusion),
	KTEST_CASE(console_lock_mutual_exclusion),
};
KTEST_SUITE(lock_suite, "lock", lock_cases);
