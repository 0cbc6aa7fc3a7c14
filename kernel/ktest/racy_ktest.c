/*
 * racy_ktest.c — the `racy` suite: deliberately broken concurrent code and its
 * fixed twin, to prove that doppel-sim's deterministic scheduler (docs/det.md)
 * finds races. No production code uses anything here. A *_broken case runs only
 * when named exactly (ktest=racy.lost_update_broken), and fails when its race hits;
 * each *_fixed twin must pass under every schedule. Two CPUs run each case at once
 * (smp_run_parallel); tests/sim/test_sim_det.py searches seeds with explore().
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/cpumask.h>
#include <kernel/errno.h>
#include <kernel/irq.h>
#include <kernel/ktest.h>
#include <kernel/pmm.h>
#include <kernel/sched.h>
#include <kernel/smp.h>
#include <kernel/spinlock.h>
#include <kernel/string.h>
#include <kernel/thread.h>
#include <kernel/time.h>
#include <kernel/ktest_smp.h>

#define RUN_TIMEOUT_US 5000000ull

struct racy_ctx {
	struct tu_barrier start;
	unsigned cpu[2];            /* the two CPUs of the run: [0] the caller */
	bool fixed;
};

static struct racy_ctx ctx;

/* Is the broken case `name` selected by name (not by a glob such as racy.*)? */
static bool named_exactly(const char *name)
{
	const char *sel = ktest_cmdline_get("ktest");
	size_t n = kstrlen(name);

	for (const char *p = sel; p && *p;) {
		const char *end = p;
		while (*end && *end != ',')
			end++;
		if ((size_t)(end - p) == 5 + n && memcmp(p, "racy.", 5) == 0 && memcmp(p + 5, name, n) == 0)
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

/* Pick two online CPUs and run fn on both at once; false (skipped) if impossible. */
static bool run_pair(struct ktest *t, const char *name, bool fixed, void (*fn)(uint64_t))
{
	struct cpumask m, pair;

	if (!fixed && !named_exactly(name)) {
		ktest_skip(t, "deliberately broken: runs only as ktest=racy.%s", name);
		return false;
	}
	smp_online_mask(&m);
	ctx.cpu[0] = hal_cpu_index();
	ctx.cpu[1] = HAL_MAX_CPUS;
	for_each_cpu(c, &m)
		if (c != ctx.cpu[0]) {
			ctx.cpu[1] = c;
			break;
		}
	if (ctx.cpu[1] == HAL_MAX_CPUS) {
		ktest_skip(t, "needs two online CPUs");
		return false;
	}
	cpumask_clear(&pair);
	cpumask_set(&pair, ctx.cpu[0]);
	cpumask_set(&pair, ctx.cpu[1]);
	ctx.fixed = fixed;
	tu_barrier_init(&ctx.start, 2);
	KTEST_EXPECT_EQ(t, smp_run_parallel(&pair, fn, 0, RUN_TIMEOUT_US, 0), 0);
	return true;
}

static bool start(void)
{
	return tu_barrier_wait(&ctx.start, RUN_TIMEOUT_US);
}

/* ---- lost update: load, then store, instead of one read-modify-write ------------------ */

#define LU_ITERS 3
static uint32_t lu_counter;

static void lu_worker(uint64_t arg)
{
	(void)arg;
	start();
	for (int i = 0; i < LU_ITERS; i++) {
		if (ctx.fixed) {
			atomic_fetch_add32(&lu_counter, 1, MO_RELAXED);
		} else {
			uint32_t v = atomic_load32(&lu_counter, MO_RELAXED);
			atomic_store32(&lu_counter, v + 1, MO_RELAXED);   /* BUG: not atomic with the load */
		}
	}
}

static void lost_update(struct ktest *t, bool fixed)
{
	atomic_store32(&lu_counter, 0, MO_RELAXED);
	if (run_pair(t, "lost_update_broken", fixed, lu_worker))
		KTEST_EXPECT_EQ(t, atomic_load32(&lu_counter, MO_RELAXED), 2 * LU_ITERS);
}
static void lost_update_broken(struct ktest *t) { lost_update(t, false); }
static void lost_update_fixed(struct ktest *t) { lost_update(t, true); }

/* ---- check-then-act: test a flag, then set it, as two steps ---------------------------- */

static uint32_t cta_flag, cta_winners;

static void cta_worker(uint64_t arg)
{
	bool won;

	(void)arg;
	start();
	if (ctx.fixed) {
		won = atomic_xchg32(&cta_flag, 1, MO_ACQ_REL) == 0;
	} else {
		won = atomic_load32(&cta_flag, MO_ACQUIRE) == 0;
		if (won)
			atomic_store32(&cta_flag, 1, MO_RELEASE);          /* BUG: another CPU may be here too */
	}
	if (won)
		atomic_fetch_add32(&cta_winners, 1, MO_RELAXED);
}

static void check_then_act(struct ktest *t, bool fixed)
{
	atomic_store32(&cta_flag, 0, MO_RELAXED);
	atomic_store32(&cta_winners, 0, MO_RELAXED);
	if (run_pair(t, "check_then_act_broken", fixed, cta_worker))
		KTEST_EXPECT_EQ(t, atomic_load32(&cta_winners, MO_RELAXED), 1);
}
static void check_then_act_broken(struct ktest *t) { check_then_act(t, false); }
static void check_then_act_fixed(struct ktest *t) { check_then_act(t, true); }

/* ---- ABA in a Treiber stack: a CAS on the top index alone ------------------------------- */

#define ABA_NODES 3
#define ABA_ROUNDS 6                    /* more rounds, more chances for the interleaving */
/* top: bits 31:0 = node index + 1 (0: empty), bits 63:32 = tag (fixed twin only). */
static uint64_t aba_top;
static uint64_t aba_next[ABA_NODES];    /* index + 1 of the node below, 0: none */
static uint32_t aba_owned[ABA_NODES];   /* 1 while a CPU holds the node */
static uint32_t aba_double;             /* a node popped while already held */

static int aba_pop(void)
{
	for (;;) {
		uint64_t old = atomic_load64(&aba_top, MO_ACQUIRE);
		uint32_t idx = (uint32_t)old;
		if (!idx)
			return -1;
		uint64_t next = atomic_load64(&aba_next[idx - 1], MO_RELAXED);
		uint64_t tag = ctx.fixed ? (old >> 32) + 1 : 0;     /* BUG when broken: no tag */
		if (atomic_cas64(&aba_top, &old, next | (tag << 32), MO_ACQ_REL, MO_ACQUIRE)) {
			if (atomic_xchg32(&aba_owned[idx - 1], 1, MO_ACQ_REL))
				atomic_store32(&aba_double, 1, MO_RELAXED);
			return (int)idx - 1;
		}
	}
}

static void aba_push(int n)
{
	if (n < 0)
		return;
	atomic_store32(&aba_owned[n], 0, MO_RELEASE);
	for (;;) {
		uint64_t old = atomic_load64(&aba_top, MO_ACQUIRE);
		uint64_t tag = ctx.fixed ? (old >> 32) + 1 : 0;
		atomic_store64(&aba_next[n], (uint32_t)old, MO_RELAXED);
		if (atomic_cas64(&aba_top, &old, (uint64_t)(n + 1) | (tag << 32), MO_ACQ_REL, MO_ACQUIRE))
			return;
	}
}

static void aba_worker(uint64_t arg)
{
	(void)arg;
	start();
	for (int round = 0; round < ABA_ROUNDS; round++) {
		int a = aba_pop();
		int b = aba_pop();
		aba_push(a);
		aba_push(b);
	}
}

static void aba(struct ktest *t, bool fixed)
{
	bool seen[ABA_NODES] = { false };
	unsigned count = 0;

	/* stack: 0 -> 1 -> 2 */
	for (int i = 0; i < ABA_NODES; i++) {
		atomic_store64(&aba_next[i], i + 1 < ABA_NODES ? (uint64_t)i + 2 : 0, MO_RELAXED);
		atomic_store32(&aba_owned[i], 0, MO_RELAXED);
	}
	atomic_store64(&aba_top, 1, MO_RELAXED);
	atomic_store32(&aba_double, 0, MO_RELAXED);
	if (!run_pair(t, "aba_broken", fixed, aba_worker))
		return;
	KTEST_EXPECT_EQ(t, atomic_load32(&aba_double, MO_RELAXED), 0);
	/* Every node exactly once on the stack afterwards, no cycle. */
	for (uint64_t i = (uint32_t)atomic_load64(&aba_top, MO_RELAXED); i; i = atomic_load64(&aba_next[i - 1], MO_RELAXED)) {
		if (i > ABA_NODES || seen[i - 1] || ++count > ABA_NODES) {
			ktest_fail_at(t, __FILE__, __LINE__, "stack corrupted at node %llu", (unsigned long long)i - 1);
			return;
		}
		seen[i - 1] = true;
	}
	KTEST_EXPECT_EQ(t, count, ABA_NODES);
}
static void aba_broken(struct ktest *t) { aba(t, false); }
static void aba_fixed(struct ktest *t) { aba(t, true); }

/* ---- TLB shootdown whose initiator does not wait for the target --------------------------- */

#define TLB_TAG_A 0xA0A0A0A0A0A0A0A0ull
#define TLB_TAG_B 0xB0B0B0B0B0B0B0B0ull
#define TLB_POISON 0xDEADDEADDEADDEADull    /* page A after it was "freed" and reused */

static uintptr_t tlb_win;
static uint64_t tlb_pa[2];
static uint32_t tlb_request, tlb_ack, tlb_done, tlb_stale_use;

static void tlb_worker(uint64_t arg)
{
	(void)arg;
	if (hal_cpu_index() == ctx.cpu[0]) {
		/* initiator: remap the page to B, ask the target to flush, free A */
		start();
		hal_vmap_unmap(tlb_win);
		hal_vmap_map(tlb_win, tlb_pa[1]);
		hal_tlb_flush_page(tlb_win);
		atomic_store32(&tlb_request, 1, MO_RELEASE);
		if (ctx.fixed)
			while (!atomic_load32(&tlb_ack, MO_ACQUIRE))
				hal_cpu_relax();
		/* BUG when broken: page A is reused while the target may still reach it */
		atomic_store64((uint64_t *)hal_phys_to_virt(tlb_pa[0]), TLB_POISON, MO_RELEASE);
		atomic_store32(&tlb_done, 1, MO_RELEASE);
		return;
	}
	/* target: read through its TLB, serving flush requests, until both are over */
	start();
	for (;;) {
		if (atomic_load32(&tlb_request, MO_ACQUIRE) && !atomic_load32(&tlb_ack, MO_RELAXED)) {
			hal_tlb_flush_page(tlb_win);
			atomic_store32(&tlb_ack, 1, MO_RELEASE);
		}
		uint64_t *p = hal_vmap_access(tlb_win);
		if (p && atomic_load64(p, MO_ACQUIRE) == TLB_POISON)
			atomic_store32(&tlb_stale_use, 1, MO_RELAXED);
		if (atomic_load32(&tlb_done, MO_ACQUIRE) && atomic_load32(&tlb_ack, MO_RELAXED))
			return;
		hal_cpu_relax();
	}
}

static void tlb_read_fill(uint64_t arg)
{
	uint64_t *p = hal_vmap_access((uintptr_t)arg);
	if (p)
		(void)atomic_load64(p, MO_ACQUIRE);     /* loads the translation into this TLB */
}

static void tlb_flush_one(uint64_t arg)
{
	(void)arg;
	hal_tlb_flush_all();
}

static void tlb_flush_all_cpus(const struct cpumask *m)
{
	smp_call(m, tlb_flush_one, 0, SMP_CALL_TIMEOUT_US, 0);
}

static void tlb_no_wait(struct ktest *t, bool fixed)
{
	size_t len;
	struct cpumask m;

	if (!fixed && !named_exactly("tlb_no_wait_broken")) {
		ktest_skip(t, "deliberately broken: runs only as ktest=racy.tlb_no_wait_broken");
		return;
	}
	tlb_win = hal_vmap_window(&len);
	KTEST_ASSERT(t, tlb_win && len >= 4096);
	tlb_pa[0] = pmm_alloc_page();
	tlb_pa[1] = pmm_alloc_page();
	KTEST_ASSERT(t, tlb_pa[0] && tlb_pa[1]);
	*(uint64_t *)hal_phys_to_virt(tlb_pa[0]) = TLB_TAG_A;
	*(uint64_t *)hal_phys_to_virt(tlb_pa[1]) = TLB_TAG_B;
	atomic_store32(&tlb_request, 0, MO_RELAXED);
	atomic_store32(&tlb_ack, 0, MO_RELAXED);
	atomic_store32(&tlb_done, 0, MO_RELAXED);
	atomic_store32(&tlb_stale_use, 0, MO_RELAXED);
	hal_vmap_unmap(tlb_win);
	KTEST_ASSERT(t, hal_vmap_map(tlb_win, tlb_pa[0]) == 0);
	smp_online_mask(&m);
	/* every CPU caches the translation to A */
	KTEST_EXPECT_EQ(t, smp_call(&m, tlb_read_fill, tlb_win, SMP_CALL_TIMEOUT_US, 0), 0);
	if (run_pair(t, "tlb_no_wait_broken", fixed, tlb_worker))
		KTEST_EXPECT_EQ(t, atomic_load32(&tlb_stale_use, MO_RELAXED), 0);
	hal_vmap_unmap(tlb_win);
	tlb_flush_all_cpus(&m);
	pmm_free_pages(tlb_pa[0], 1);
	pmm_free_pages(tlb_pa[1], 1);
}
static void tlb_no_wait_broken(struct ktest *t) { tlb_no_wait(t, false); }
static void tlb_no_wait_fixed(struct ktest *t) { tlb_no_wait(t, true); }

/* ---- a vector freed on the wrong CPU: whoever closes first frees in its own bitmap -------- */

static struct irq_vec vf_h;
static uint32_t vf_closed;

static void vf_handler(uint8_t vector, void *arg)
{
	(void)vector;
	(void)arg;
}

static void vf_worker(uint64_t arg)
{
	(void)arg;
	start();
	if (atomic_xchg32(&vf_closed, 1, MO_ACQ_REL) != 0)
		return;                     /* the other CPU closes it */
	if (ctx.fixed)
		irq_free(&vf_h);            /* frees on vf_h.cpu, whichever CPU calls */
	else
		vec_space_free(irq_vec_space(hal_cpu_index()), vf_h.vector, vf_h.count); /* BUG */
}

static void vector_wrong_cpu(struct ktest *t, bool fixed)
{
	struct cpumask m;
	unsigned owner;
	uint8_t vec;

	if (!fixed && !named_exactly("vector_wrong_cpu_broken")) {
		ktest_skip(t, "deliberately broken: runs only as ktest=racy.vector_wrong_cpu_broken");
		return;
	}
	smp_online_mask(&m);
	owner = tu_last_online();
	if (owner == hal_cpu_index()) {
		ktest_skip(t, "needs two online CPUs");
		return;
	}
	unsigned free0 = vec_space_free_count(irq_vec_space(hal_cpu_index()));
	KTEST_ASSERT(t, irq_alloc(owner, 1, vf_handler, 0, &vf_h) == 0);
	vec = vf_h.vector;
	atomic_store32(&vf_closed, 0, MO_RELAXED);
	if (!run_pair(t, "vector_wrong_cpu_broken", fixed, vf_worker))
		return;
	KTEST_EXPECT_EQ(t, vec_space_free_count(irq_vec_space(hal_cpu_index())), free0);
	if (vec_space_is_taken(irq_vec_space(owner), vec)) {
		ktest_fail_at(t, __FILE__, __LINE__, "vector 0x%02x leaked on CPU %u: it was freed on "
		              "another CPU's bitmap", vec, owner);
		if (vf_h.vector)
			irq_free(&vf_h);
	}
}
static void vector_wrong_cpu_broken(struct ktest *t) { vector_wrong_cpu(t, false); }
static void vector_wrong_cpu_fixed(struct ktest *t) { vector_wrong_cpu(t, true); }

/* ---- MCS lock that publishes its queue node before initialising it ---------------------- */

/* A two-CPU MCS lock (kernel/lock/mcs.c's algorithm, one node per CPU). The fixed
 * twin initialises its node (next = 0, wait = 1) before swapping it into the tail;
 * the broken one swaps first and sets wait = 1 only after linking behind the
 * holder, so a handoff that lands in between (wait = 0) is overwritten and the
 * waiter waits for ever: it gives up after MH_STUCK_NS of (virtual) time. */
#define MH_ROUNDS 4
#define MH_STUCK_NS 50000000ull

struct mh_node {
	uint64_t next;              /* struct mh_node * of the waiter behind, 0 none */
	uint32_t wait;              /* 1 while waiting; the handoff stores 0 */
};
static struct mh_node mh_nodes[2];
static uint32_t mh_tail;                /* index + 1 of the last node, 0 free */
static uint64_t mh_counter;             /* plain, under the lock */
static uint32_t mh_stuck;

static bool mh_lock(unsigned slot)
{
	struct mh_node *me = &mh_nodes[slot];
	if (ctx.fixed) {
		atomic_store64(&me->next, 0, MO_RELAXED);
		atomic_store32(&me->wait, 1, MO_RELAXED);
	}
	/* acq_rel: publishes the initialised node; orders us after the previous tail */
	uint32_t prev = atomic_xchg32(&mh_tail, slot + 1, MO_ACQ_REL);
	if (!ctx.fixed)
		atomic_store64(&me->next, 0, MO_RELAXED);       /* BUG: after publishing */
	if (!prev)
		return true;
	/* release: our node before the predecessor's handoff */
	atomic_store64(&mh_nodes[prev - 1].next, (uint64_t)(uintptr_t)me, MO_RELEASE);
	if (!ctx.fixed)
		atomic_store32(&me->wait, 1, MO_RELAXED);       /* BUG: may overwrite the handoff */
	uint64_t end = time_now_ns() + MH_STUCK_NS;
	/* acquire: pairs with the handoff's release */
	while (atomic_load32(&me->wait, MO_ACQUIRE)) {
		if (time_now_ns() > end) {
			atomic_store32(&mh_stuck, 1, MO_RELAXED);
			return false;
		}
		hal_cpu_relax();
	}
	return true;
}

static void mh_unlock(unsigned slot)
{
	struct mh_node *me = &mh_nodes[slot];
	uint64_t next = atomic_load64(&me->next, MO_ACQUIRE);
	if (!next) {
		uint32_t expect = slot + 1;
		/* release: our critical section before the next taker's */
		if (atomic_cas32(&mh_tail, &expect, 0, MO_RELEASE, MO_RELAXED))
			return;
		uint64_t end = time_now_ns() + MH_STUCK_NS;
		while (!(next = atomic_load64(&me->next, MO_ACQUIRE))) {
			if (time_now_ns() > end) {
				atomic_store32(&mh_stuck, 1, MO_RELAXED);
				return;
			}
			hal_cpu_relax();
		}
	}
	/* release: the handoff; our critical section before the successor's */
	atomic_store32(&((struct mh_node *)(uintptr_t)next)->wait, 0, MO_RELEASE);
}

static void mh_worker(uint64_t arg)
{
	(void)arg;
	unsigned slot = hal_cpu_index() == ctx.cpu[0] ? 0 : 1;
	start();
	for (int i = 0; i < MH_ROUNDS; i++) {
		if (!mh_lock(slot))
			return;
		uint64_t v = *(volatile uint64_t *)&mh_counter;
		atomic_fetch_add32(&mh_stuck, 0, MO_RELAXED);  /* a switch point inside */
		*(volatile uint64_t *)&mh_counter = v + 1;
		mh_unlock(slot);
	}
}

static void mcs_handoff(struct ktest *t, bool fixed)
{
	atomic_store32(&mh_tail, 0, MO_RELAXED);
	atomic_store32(&mh_stuck, 0, MO_RELAXED);
	for (unsigned i = 0; i < 2; i++) {
		atomic_store64(&mh_nodes[i].next, 0, MO_RELAXED);
		atomic_store32(&mh_nodes[i].wait, 0, MO_RELAXED);
	}
	mh_counter = 0;
	if (!run_pair(t, "mcs_handoff_broken", fixed, mh_worker))
		return;
	if (atomic_load32(&mh_stuck, MO_RELAXED))
		ktest_fail_at(t, __FILE__, __LINE__, "a waiter never got the lock: its handoff was lost");
	else
		KTEST_EXPECT_EQ(t, mh_counter, 2 * MH_ROUNDS);
}
static void mcs_handoff_broken(struct ktest *t) { mcs_handoff(t, false); }
static void mcs_handoff_fixed(struct ktest *t) { mcs_handoff(t, true); }

/* ---- lost wake-up: the condition tested before the blocked state ----------------------- */

/* A waiter thread and a waker thread on the two CPUs. The broken waiter tests the
 * flag and only then marks itself blocked: a wake-up that lands in between finds it
 * running, does nothing, and the waiter sleeps for good. The case notices by a
 * timeout (not a hang), says so, and releases the waiter. */
#define LW_STUCK_NS 100000000ull
static struct thread *lw_waiter_t;
static uint32_t lw_flag, lw_done, lw_go, lw_work;

/* Work between the test of the flag and the sleep (switch points for det mode). */
static void lw_busy(void)
{
	for (int i = 0; i < 8; i++)
		atomic_fetch_add32(&lw_work, 1, MO_RELAXED);
}

/* Both threads start their part together. */
static void lw_meet(void)
{
	atomic_fetch_add32(&lw_go, 1, MO_ACQ_REL);
	while (atomic_load32(&lw_go, MO_ACQUIRE) < 2)
		hal_cpu_relax();
}

static void lw_waiter(void *arg)
{
	(void)arg;
	lw_meet();
	if (ctx.fixed) {
		for (;;) {
			sched_prepare_wait();
			if (atomic_load32(&lw_flag, MO_ACQUIRE))
				break;
			lw_busy();
			sched_block();
		}
		sched_finish_wait();
	} else {
		while (!atomic_load32(&lw_flag, MO_ACQUIRE)) {
			lw_busy();
			sched_prepare_wait();       /* BUG: after the test of the flag */
			sched_block();
			sched_finish_wait();
		}
	}
	atomic_store32(&lw_done, 1, MO_RELEASE);
}

static void lw_waker(void *arg)
{
	(void)arg;
	lw_meet();
	atomic_store32(&lw_flag, 1, MO_RELEASE);
	sched_wake(lw_waiter_t);
}

static void lost_wakeup(struct ktest *t, bool fixed)
{
	struct cpumask m;
	unsigned other = HAL_MAX_CPUS;

	if (!fixed && !named_exactly("lost_wakeup_broken")) {
		ktest_skip(t, "deliberately broken: runs only as ktest=racy.lost_wakeup_broken");
		return;
	}
	smp_online_mask(&m);
	for_each_cpu(c, &m)
		if (c != hal_cpu_index()) {
			other = c;
			break;
		}
	if (other == HAL_MAX_CPUS) {
		ktest_skip(t, "needs two online CPUs");
		return;
	}
	ctx.fixed = fixed;
	atomic_store32(&lw_flag, 0, MO_RELAXED);
	atomic_store32(&lw_done, 0, MO_RELAXED);
	atomic_store32(&lw_go, 0, MO_RELAXED);
	struct thread_opts ow = { 0 }, ok = { 0 };
	cpumask_set(&ow.affinity, other);
	cpumask_set(&ok.affinity, hal_cpu_index());
	lw_waiter_t = thread_create("racy-waiter", lw_waiter, 0, &ow);
	KTEST_ASSERT(t, lw_waiter_t != 0);
	struct thread *waker = thread_create("racy-waker", lw_waker, 0, &ok);
	KTEST_ASSERT(t, waker != 0);
	uint64_t t0 = time_now_ns();
	while (!atomic_load32(&lw_done, MO_ACQUIRE)) {
		if (time_now_ns() - t0 > LW_STUCK_NS) {
			ktest_fail_at(t, __FILE__, __LINE__,
				      "the waiter still sleeps %llu ms after its wake-up: the wake-up was lost",
				      (unsigned long long)(LW_STUCK_NS / 1000000));
			sched_wake(lw_waiter_t);    /* release it: the flag is set */
			break;
		}
		thread_sleep_ns(1000000);
	}
	KTEST_EXPECT(t, thread_join(waker, 0) == 0);
	KTEST_EXPECT(t, thread_join(lw_waiter_t, 0) == 0);
}
static void lost_wakeup_broken(struct ktest *t) { lost_wakeup(t, false); }
static void lost_wakeup_fixed(struct ktest *t) { lost_wakeup(t, true); }

/* ---- PI chain: a walk that reads the next link before it lends ------------------------- */

/* A model of the mutex inheritance walk (kernel/sched/mutex.c) on three actors:
 * H (thread_prio 150) waits for pm[0], owned by X (20), while X, on the other CPU,
 * starts to wait for pm[1], owned by Y (10). Every loan must reach Y: either H's
 * walk sees X's blocked_on and lends Y itself, or X's own walk reads its number
 * after H's loan. The fixed walk lends X first and then reads X's blocked_on,
 * under pm[0]'s lock; the broken one reads blocked_on first, outside the lock:
 * when X blocks in between and lends its old number, H stops at X and Y keeps 10
 * while H waits behind it. */
enum { PC_H, PC_X, PC_Y, PC_ACTORS };
struct pc_mutex {
	struct spinlock lock;
	uint32_t owner;             /* actor index + 1 */
	uint32_t waiter;            /* actor index + 1, 0 none */
};
static struct pc_mutex pc_m[2];
static int32_t pc_base[PC_ACTORS] = { 150, 20, 10 };
static uint32_t pc_pi[PC_ACTORS];       /* lent numbers (atomic) */
static uint32_t pc_blocked[PC_ACTORS];  /* mutex index + 1 the actor waits for (atomic) */
static uint32_t pc_work;

static int32_t pc_prio(unsigned a)
{
	int32_t pi = (int32_t)atomic_load32(&pc_pi[a], MO_SEQ_CST);
	return pi > pc_base[a] ? pi : pc_base[a];
}

static void pc_raise(unsigned a, int32_t v)
{
	uint32_t cur = atomic_load32(&pc_pi[a], MO_SEQ_CST);
	while ((int32_t)cur < v && !atomic_cas32(&pc_pi[a], &cur, (uint32_t)v, MO_SEQ_CST, MO_SEQ_CST))
		;
}

/* Work in the walk's window (switch points for det mode). */
static void pc_busy(int n)
{
	for (int i = 0; i < n; i++)
		atomic_fetch_add32(&pc_work, 1, MO_RELAXED);
}

/* Actor a queues on mutex mi and walks: lends its number to the owner, and on
 * along the owner's blocked_on while it is queued there. */
static void pc_lock_and_walk(unsigned a, unsigned mi)
{
	spin_lock(&pc_m[mi].lock);
	pc_m[mi].waiter = a + 1;
	atomic_store32(&pc_blocked[a], mi + 1, MO_SEQ_CST);
	spin_unlock(&pc_m[mi].lock);
	unsigned waiter = a;
	for (unsigned m = mi;;) {
		uint32_t next;
		spin_lock(&pc_m[m].lock);
		if (pc_m[m].waiter != waiter + 1) {
			spin_unlock(&pc_m[m].lock);
			return;
		}
		unsigned owner = pc_m[m].owner - 1;
		if (ctx.fixed) {
			pc_raise(owner, pc_prio(waiter));
			pc_busy(12);
			next = atomic_load32(&pc_blocked[owner], MO_SEQ_CST);
			spin_unlock(&pc_m[m].lock);
		} else {
			spin_unlock(&pc_m[m].lock);
			next = atomic_load32(&pc_blocked[owner], MO_SEQ_CST);  /* BUG: before the loan, unlocked */
			pc_busy(12);
			spin_lock(&pc_m[m].lock);
			pc_raise(owner, pc_prio(waiter));
			spin_unlock(&pc_m[m].lock);
		}
		if (!next)
			return;
		waiter = owner;
		m = next - 1;
	}
}

static void pc_worker(uint64_t arg)
{
	(void)arg;
	bool h = hal_cpu_index() == ctx.cpu[0];
	start();
	if (h) {
		pc_lock_and_walk(PC_H, 0);
	} else {
		pc_busy(8);                 /* X comes a little after H */
		pc_lock_and_walk(PC_X, 1);
	}
}

static void pi_chain(struct ktest *t, bool fixed)
{
	for (unsigned i = 0; i < 2; i++) {
		spin_init(&pc_m[i].lock, "racy.pi_chain");
		pc_m[i].waiter = 0;
	}
	pc_m[0].owner = PC_X + 1;
	pc_m[1].owner = PC_Y + 1;
	for (unsigned a = 0; a < PC_ACTORS; a++) {
		atomic_store32(&pc_pi[a], 0, MO_RELAXED);
		atomic_store32(&pc_blocked[a], 0, MO_RELAXED);
	}
	if (!run_pair(t, "pi_chain_broken", fixed, pc_worker))
		return;
	if (pc_prio(PC_Y) < pc_base[PC_H])
		ktest_fail_at(t, __FILE__, __LINE__, "Y owns the mutex X waits for, with H (%d) waiting for X, "
			      "and still has thread_prio %d: the walk dropped a link", pc_base[PC_H], pc_prio(PC_Y));
	KTEST_EXPECT_EQ(t, pc_prio(PC_X), pc_base[PC_H]);
}
static void pi_chain_broken(struct ktest *t) { pi_chain(t, false); }
static void pi_chain_fixed(struct ktest *t) { pi_chain(t, true); }

static const struct ktest_case racy_cases[] = {
	KTEST_CASE(lost_update_broken),
	KTEST_CASE(lost_update_fixed),
	KTEST_CASE(check_then_act_broken),
	KTEST_CASE(check_then_act_fixed),
	KTEST_CASE(aba_broken),
	KTEST_CASE(aba_fixed),
	KTEST_CASE(tlb_no_wait_broken),
	KTEST_CASE(tlb_no_wait_fixed),
	KTEST_CASE(vector_wrong_cpu_broken),
	KTEST_CASE(vector_wrong_cpu_fixed),
	KTEST_CASE(mcs_handoff_broken),
	KTEST_CASE(mcs_handoff_fixed),
	KTEST_CASE(lost_wakeup_broken),
	KTEST_CASE(lost_wakeup_fixed),
	KTEST_CASE(pi_chain_broken),
	KTEST_CASE(pi_chain_fixed),
};
KTEST_SUITE(racy_suite, "racy", racy_cases);
