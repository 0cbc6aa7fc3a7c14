/*
 * locks_ktest.c — the `locks` suite (docs/locks.md): the MCS queue spinlock's
 * mutual exclusion on every CPU and its first-come-first-served handoff; lockdep
 * reporting a planted lock-order inversion (both orders taken one after the other
 * on one CPU, so nothing deadlocks) with both acquisition sites, staying quiet on
 * a consistent order, reporting a class taken in interrupt context and held with
 * interrupts on, and lock_assert_held firing on a lock that is not held (caught by
 * the test hook instead of panicking). The lockdep cases skip with lockdep=0.
 */
#include <hal/hal.h>
#include <kernel/apic.h>
#include <kernel/atomic.h>
#include <kernel/cpumask.h>
#include <kernel/irq.h>
#include <kernel/ktest.h>
#include <kernel/ktest_smp.h>
#include <kernel/lockdep.h>
#include <kernel/mcs.h>
#include <kernel/smp.h>
#include <kernel/spinlock.h>
#include <kernel/string.h>
#include <kernel/time.h>
#include "pi_ktest.h"

#define MX_ITERS 40
#define MX_TIMEOUT_US 20000000ull
#define FIFO_CPUS 8
#define WAIT_US 2000000ull

/* ---- MCS mutual exclusion on every online CPU ------------------------------------------ */

static struct mcs_lock mx_lock = MCS_LOCK_INIT("ktest.mcs");
static uint64_t mx_counter;             /* written only under mx_lock */
static uint32_t mx_inside, mx_overlaps;

static void mx_worker(uint64_t unused)
{
	(void)unused;
	for (int i = 0; i < MX_ITERS; i++) {
		mcs_lock(&mx_lock);
		if (atomic_fetch_add32(&mx_inside, 1, MO_RELAXED) != 0)
			atomic_fetch_add32(&mx_overlaps, 1, MO_RELAXED);
		/* Read and write back in two steps, with a switch point between. */
		uint64_t v = *(volatile uint64_t *)&mx_counter;
		atomic_fetch_add32(&mx_inside, 0, MO_RELAXED);
		*(volatile uint64_t *)&mx_counter = v + 1;
		atomic_fetch_add32(&mx_inside, (uint32_t)-1, MO_RELAXED);
		mcs_unlock(&mx_lock);
	}
}

static void mcs_mutual_exclusion(struct ktest *t)
{
	struct cpumask online;
	smp_online_mask(&online);
	unsigned n = smp_online_count();
	mx_counter = 0;
	atomic_store32(&mx_inside, 0, MO_RELAXED);
	atomic_store32(&mx_overlaps, 0, MO_RELAXED);
	KTEST_ASSERT(t, smp_run_parallel(&online, mx_worker, 0, MX_TIMEOUT_US, 0) == 0);
	mcs_lock(&mx_lock);
	uint64_t total = mx_counter;
	KTEST_EXPECT(t, mcs_is_held_by_me(&mx_lock));
	mcs_unlock(&mx_lock);
	KTEST_EXPECT(t, !mcs_is_held_by_me(&mx_lock));
	KTEST_EXPECT_EQ(t, atomic_load32(&mx_overlaps, MO_RELAXED), 0);
	KTEST_EXPECT_EQ(t, total, (uint64_t)n * MX_ITERS);
	KTEST_EXPECT_EQ(t, mcs_tail_cpu(&mx_lock), HAL_MAX_CPUS);
	ktest_log(t, "%u CPUs x %u acquisitions", n, MX_ITERS);
}

/* ---- FIFO: waiters get the lock in the order they queued ---------------------------------- */

static struct mcs_lock fifo_lock = MCS_LOCK_INIT("ktest.mcs_fifo");
static unsigned fifo_cpu[FIFO_CPUS];    /* [0] the holder, then the waiters in queue order */
static unsigned fifo_n;
static uint32_t fifo_turn;              /* index in fifo_cpu whose CPU may queue now */
static uint32_t fifo_got[FIFO_CPUS];    /* CPUs in the order they got the lock */
static uint32_t fifo_pos, fifo_stuck;

static bool wait_until(bool (*cond)(uint64_t), uint64_t arg)
{
	uint64_t end = time_now_ns() + WAIT_US * 1000;
	while (!cond(arg)) {
		if (time_now_ns() > end)
			return false;
		hal_cpu_relax();
	}
	return true;
}

static bool my_turn(uint64_t k) { return atomic_load32(&fifo_turn, MO_ACQUIRE) == k; }
static bool queued_last(uint64_t cpu) { return mcs_tail_cpu(&fifo_lock) == cpu; }

static void fifo_worker(uint64_t unused)
{
	(void)unused;
	unsigned me = hal_cpu_index(), k = 0;
	while (k < fifo_n && fifo_cpu[k] != me)
		k++;
	if (k == 0) {
		/* the holder: let each waiter queue, one at a time, then let go */
		mcs_lock(&fifo_lock);
		for (unsigned w = 1; w < fifo_n; w++) {
			atomic_store32(&fifo_turn, w, MO_RELEASE);
			if (!wait_until(queued_last, fifo_cpu[w]))
				atomic_store32(&fifo_stuck, 1, MO_RELAXED);
		}
		mcs_unlock(&fifo_lock);
		return;
	}
	if (!wait_until(my_turn, k)) {
		atomic_store32(&fifo_stuck, 1, MO_RELAXED);
		return;
	}
	mcs_lock(&fifo_lock);
	fifo_got[atomic_fetch_add32(&fifo_pos, 1, MO_RELAXED)] = me;
	mcs_unlock(&fifo_lock);
}

static void mcs_fifo_order(struct ktest *t)
{
	struct cpumask online, set;
	smp_online_mask(&online);
	cpumask_clear(&set);
	fifo_n = 0;
	fifo_cpu[fifo_n++] = hal_cpu_index();
	cpumask_set(&set, hal_cpu_index());
	/* the waiters queue from the highest index down, so queue order is not index order */
	for (unsigned c = HAL_MAX_CPUS; c-- > 0 && fifo_n < FIFO_CPUS;)
		if (cpumask_test(&online, c) && c != hal_cpu_index()) {
			fifo_cpu[fifo_n++] = c;
			cpumask_set(&set, c);
		}
	if (fifo_n < 3) {
		ktest_skip(t, "needs three online CPUs (a holder and two waiters)");
		return;
	}
	atomic_store32(&fifo_turn, 0, MO_RELAXED);
	atomic_store32(&fifo_pos, 0, MO_RELAXED);
	atomic_store32(&fifo_stuck, 0, MO_RELAXED);
	KTEST_ASSERT(t, smp_run_parallel(&set, fifo_worker, 0, MX_TIMEOUT_US, 0) == 0);
	KTEST_EXPECT_EQ(t, atomic_load32(&fifo_stuck, MO_RELAXED), 0);
	KTEST_EXPECT_EQ(t, atomic_load32(&fifo_pos, MO_RELAXED), fifo_n - 1);
	for (unsigned i = 1; i < fifo_n; i++)
		if (fifo_got[i - 1] != fifo_cpu[i])
			ktest_fail_at(t, __FILE__, __LINE__, "position %u: CPU %u got the lock, CPU %u queued there",
			              i, fifo_got[i - 1], fifo_cpu[i]);
	ktest_log(t, "%u waiters served in queue order", fifo_n - 1);
}

/* Four MCS locks held at once on one CPU: one per queue node (MCS_NODES_PER_CPU). */
static struct mcs_lock nest[MCS_NODES_PER_CPU];

static void mcs_nesting_uses_every_node(struct ktest *t)
{
	for (unsigned i = 0; i < MCS_NODES_PER_CPU; i++)
		mcs_init(&nest[i], "ktest.mcs_nest");
	/* Interrupts off around it all: each lock restores the state it found, which
	 * is right only in last-in-first-out order, and this case releases out of order. */
	unsigned long f = hal_irq_save();
	for (unsigned i = 0; i < MCS_NODES_PER_CPU; i++)
		mcs_lock(&nest[i]);
	for (unsigned i = 0; i < MCS_NODES_PER_CPU; i++)
		KTEST_EXPECT(t, mcs_is_held_by_me(&nest[i]));
	/* released out of order: each unlock frees its own node */
	mcs_unlock(&nest[1]);
	mcs_unlock(&nest[3]);
	mcs_lock(&nest[1]);
	mcs_unlock(&nest[0]);
	mcs_unlock(&nest[2]);
	mcs_unlock(&nest[1]);
	hal_irq_restore(f);
	for (unsigned i = 0; i < MCS_NODES_PER_CPU; i++)
		KTEST_EXPECT_EQ(t, mcs_tail_cpu(&nest[i]), HAL_MAX_CPUS);
}

/* ---- lockdep ------------------------------------------------------------------------------ */

static bool need_lockdep(struct ktest *t)
{
	if (lockdep_enabled())
		return true;
	ktest_skip(t, "lock-order checking is off (boot with lockdep=1)");
	return false;
}

static bool report_has(const char *needle)
{
	const char *r = lockdep_last_report();
	size_t n = kstrlen(needle);
	for (; *r; r++)
		if (kstrncmp(r, needle, n) == 0)
			return true;
	return false;
}

static struct spinlock inv_a = SPINLOCK_INIT("ktest.inv_a");
static struct spinlock inv_b = SPINLOCK_INIT("ktest.inv_b");

static void lockdep_inversion_reported(struct ktest *t)
{
	if (!need_lockdep(t))
		return;
	uint32_t n0 = lockdep_report_count();
	/* path 1: A then B */
	const char *p1_a = LOCKDEP_SITE; spin_lock_at(&inv_a, p1_a);
	const char *p1_b = LOCKDEP_SITE; spin_lock_at(&inv_b, p1_b);
	spin_unlock(&inv_b);
	spin_unlock(&inv_a);
	KTEST_EXPECT_EQ(t, lockdep_report_count(), n0);
	/* path 2, later: B then A — reported, and the run goes on */
	const char *p2_b = LOCKDEP_SITE; spin_lock_at(&inv_b, p2_b);
	const char *p2_a = LOCKDEP_SITE; spin_lock_at(&inv_a, p2_a);
	spin_unlock(&inv_a);
	spin_unlock(&inv_b);
	KTEST_EXPECT_EQ(t, lockdep_report_count(), n0 + 1);
	KTEST_EXPECT(t, report_has("lock order inversion"));
	KTEST_EXPECT(t, report_has("\"ktest.inv_a\""));
	KTEST_EXPECT(t, report_has("\"ktest.inv_b\""));
	/* the new edge's sites and the recorded edge's first sites */
	KTEST_EXPECT(t, report_has(p2_a));
	KTEST_EXPECT(t, report_has(p2_b));
	KTEST_EXPECT(t, report_has(p1_a));
	KTEST_EXPECT(t, report_has(p1_b));
	ktest_log(t, "report: %s", lockdep_last_report());
	/* reported once */
	spin_lock(&inv_b);
	spin_lock(&inv_a);
	spin_unlock(&inv_a);
	spin_unlock(&inv_b);
	KTEST_EXPECT_EQ(t, lockdep_report_count(), n0 + 1);
}

static struct spinlock cyc_e = SPINLOCK_INIT("ktest.cyc_e");
static struct spinlock cyc_f = SPINLOCK_INIT("ktest.cyc_f");
static struct mcs_lock cyc_g = MCS_LOCK_INIT("ktest.cyc_g");

static void lockdep_cycle_through_three_locks(struct ktest *t)
{
	if (!need_lockdep(t))
		return;
	uint32_t n0 = lockdep_report_count();
	spin_lock(&cyc_e); spin_lock(&cyc_f); spin_unlock(&cyc_f); spin_unlock(&cyc_e);
	spin_lock(&cyc_f); mcs_lock(&cyc_g); mcs_unlock(&cyc_g); spin_unlock(&cyc_f);
	KTEST_EXPECT_EQ(t, lockdep_report_count(), n0);
	mcs_lock(&cyc_g); spin_lock(&cyc_e); spin_unlock(&cyc_e); mcs_unlock(&cyc_g);
	KTEST_EXPECT_EQ(t, lockdep_report_count(), n0 + 1);
	KTEST_EXPECT(t, report_has("through other locks"));
	KTEST_EXPECT(t, report_has("\"ktest.cyc_g\""));
}

static struct spinlock ok_c = SPINLOCK_INIT("ktest.ok_c");
static struct spinlock ok_d = SPINLOCK_INIT("ktest.ok_d");
static struct mcs_lock ok_m = MCS_LOCK_INIT("ktest.ok_m");

static void ok_worker(uint64_t unused)
{
	(void)unused;
	spin_lock(&ok_c);
	spin_lock(&ok_d);
	mcs_lock(&ok_m);
	mcs_unlock(&ok_m);
	spin_unlock(&ok_d);
	spin_unlock(&ok_c);
	/* D alone, then M alone: no order at all */
	spin_lock(&ok_d);
	spin_unlock(&ok_d);
	mcs_lock(&ok_m);
	mcs_unlock(&ok_m);
}

static void lockdep_consistent_order_not_reported(struct ktest *t)
{
	if (!need_lockdep(t))
		return;
	struct cpumask online;
	smp_online_mask(&online);
	uint32_t n0 = lockdep_report_count();
	ok_worker(0);
	KTEST_EXPECT_EQ(t, smp_run_parallel(&online, ok_worker, 0, MX_TIMEOUT_US, 0), 0);
	ok_worker(0);
	KTEST_EXPECT_EQ(t, lockdep_report_count(), n0);
}

/* A lock kind that stays held with interrupts on (as sleeping mutexes will): lockdep
 * sees it through a bare map. Taken in an interrupt handler too, it is reported. */
static struct lockdep_map irq_map = LOCKDEP_MAP_INIT("ktest.irqs_on_lock");
static struct spinlock irq_spin = SPINLOCK_INIT("ktest.irq_spin");
static uint64_t irq_hits;
static uint32_t irq_was_irq;

static void irq_taker(uint8_t vector, void *arg)
{
	(void)vector;
	(void)arg;
	if (lockdep_in_irq())
		atomic_store32(&irq_was_irq, 1, MO_RELAXED);
	lockdep_acquire(&irq_map, LOCKDEP_SITE, 0);
	lockdep_release(&irq_map);
	spin_lock(&irq_spin);
	spin_unlock(&irq_spin);
	atomic_fetch_add64(&irq_hits, 1, MO_RELEASE);
}

static void lockdep_irq_usage_reported(struct ktest *t)
{
	if (!need_lockdep(t))
		return;
	struct irq_vec h;
	if (irq_alloc(hal_cpu_index(), 1, irq_taker, 0, &h) != 0) {
		ktest_skip(t, "no interrupt vector (no local APIC?)");
		return;
	}
	uint32_t n0 = lockdep_report_count();
	/* the interrupt-off spinlock in both contexts: never a deadlock, not reported */
	spin_lock(&irq_spin);
	spin_unlock(&irq_spin);
	atomic_store64(&irq_hits, 0, MO_RELAXED);
	KTEST_EXPECT_EQ(t, ipi_send_self(h.vector), 0);
	KTEST_EXPECT(t, tu_wait_ge(&irq_hits, 1, 500000));
	KTEST_EXPECT_EQ(t, atomic_load32(&irq_was_irq, MO_RELAXED), 1);
	KTEST_EXPECT_EQ(t, lockdep_report_count(), n0);
	/* the interrupts-on kind, held in thread context: reported */
	const char *site = LOCKDEP_SITE;
	lockdep_acquire(&irq_map, site, LOCKDEP_IRQS_ON);
	lockdep_release(&irq_map);
	KTEST_EXPECT_EQ(t, lockdep_report_count(), n0 + 1);
	KTEST_EXPECT(t, report_has("\"ktest.irqs_on_lock\" is taken in interrupt context"));
	KTEST_EXPECT(t, report_has(site));
	KTEST_EXPECT_EQ(t, irq_free(&h), 0);
}

static struct spinlock self_l = SPINLOCK_INIT("ktest.self");

static void lockdep_recursion_reported(struct ktest *t)
{
	if (!need_lockdep(t))
		return;
	uint32_t n0 = lockdep_report_count();
	spin_lock(&self_l);
	/* what spin_lock(&self_l) would check before spinning forever */
	lockdep_before_wait(&self_l.dep, LOCKDEP_SITE);
	spin_unlock(&self_l);
	KTEST_EXPECT_EQ(t, lockdep_report_count(), n0 + 1);
	KTEST_EXPECT(t, report_has("self-deadlock"));
}

/* ---- lock_assert_held ------------------------------------------------------------------- */

static struct spinlock as_spin = SPINLOCK_INIT("ktest.assert_spin");
static struct mcs_lock as_mcs = MCS_LOCK_INIT("ktest.assert_mcs");

static void lock_assert_held_fires_when_not_held(struct ktest *t)
{
	uint32_t c0 = lock_assert_caught();
	lock_assert_catch(true);
	lock_assert_held(&as_spin);
	lock_assert_held(&as_mcs);
	KTEST_EXPECT_EQ(t, lock_assert_caught(), c0 + 2);
	spin_lock(&as_spin);
	mcs_lock(&as_mcs);
	lock_assert_held(&as_spin);
	lock_assert_held(&as_mcs);
	mcs_unlock(&as_mcs);
	spin_unlock(&as_spin);
	lock_assert_catch(false);
	KTEST_EXPECT_EQ(t, lock_assert_caught(), c0 + 2);
}

static const struct ktest_case locks_cases[] = {
	KTEST_CASE(mcs_mutual_exclusion),
	KTEST_CASE(mcs_fifo_order),
	KTEST_CASE(mcs_nesting_uses_every_node),
	KTEST_CASE(lockdep_inversion_reported),
	KTEST_CASE(lockdep_cycle_through_three_locks),
	KTEST_CASE(lockdep_consistent_order_not_reported),
	KTEST_CASE(lockdep_irq_usage_reported),
	KTEST_CASE(lockdep_recursion_reported),
	KTEST_CASE(lock_assert_held_fires_when_not_held),
	/* priority inheritance through sleeping mutexes: pi_ktest.c */
	KTEST_CASE(pi_chain_of_3_boosted_and_unwound),
	KTEST_CASE(pi_chain_of_8_boosted_and_unwound),
	KTEST_CASE(pi_chain_of_10_boosted_8_deep),
	KTEST_CASE(pi_deadlock_abba_reported),
	KTEST_CASE(pi_boost_shared_by_two_waiters),
};
KTEST_SUITE(locks_suite, "locks", locks_cases);
