/*
 * pi_ktest.c — the priority inheritance and deadlock cases of the `locks` suite
 * (docs/sched.md, "Mutexes and priority inheritance"): chains of 3, 8 and 10
 * owners (thread i holds m_i and waits for m_{i+1}; a high RT thread then waits
 * for m_0) boosted MAX_PI_CHAIN_DEPTH deep and unwound to every base as the chain
 * unlocks; an ABBA pair refused with -EDEADLK and one report naming both; two
 * waiters of different priorities sharing one owner's boost. The cases check
 * thread_prio() numbers, not who runs; a boosted owner runs as RT, so every check
 * waits (generously) for the walks and unlocks it observes to finish.
 * Registered as a second half of the `locks` suite (ktest.h allows one suite
 * name in several files; KTAP shows it twice).
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/errno.h>
#include <kernel/ktest.h>
#include <kernel/mutex.h>
#include <kernel/sched.h>
#include <kernel/string.h>
#include <kernel/thread.h>
#include <kernel/time.h>
#include "pi_ktest.h"

#define PI_WAIT_NS 10000000000ull       /* generous: 10 s on a loaded host */
#define PI_POLL_NS 200000ull
#define PI_HIGH_RT 90                   /* the high waiter: thread_prio 190 */
#define PI_HIGH (THREAD_PRIO_RT_BASE + PI_HIGH_RT)
#define PI_MAX_CHAIN 10

static bool wait_for(bool (*cond)(uintptr_t), uintptr_t arg)
{
	uint64_t t0 = time_now_ns();
	while (!cond(arg)) {
		if (time_now_ns() - t0 > PI_WAIT_NS)
			return false;
		thread_sleep_ns(PI_POLL_NS);
	}
	return true;
}

static struct mutex *waits_on(const struct thread *t)
{
	return (struct mutex *)atomic_load64((const uint64_t *)&t->blocked_on, MO_ACQUIRE);
}

/* Odd threads RT (rt_prio 10 + i, round-robin), even ones fair with nice i - 3. */
static struct thread_opts chain_opts(unsigned i)
{
	struct thread_opts o = { 0 };
	if (i & 1) {
		o.prio_class = SCHED_CLASS_RT;
		o.rt_prio = (uint8_t)(10 + i);
		o.rt_policy = SCHED_RT_RR;
	} else {
		o.nice = (int8_t)((int)i - 3);
	}
	return o;
}

static struct thread_opts rt_opts(unsigned rt_prio)
{
	struct thread_opts o = { 0 };
	o.prio_class = SCHED_CLASS_RT;
	o.rt_prio = (uint8_t)rt_prio;
	o.rt_policy = SCHED_RT_FIFO;
	return o;
}

/* ---- chains -------------------------------------------------------------------------- */

static const char *const chain_names[PI_MAX_CHAIN] = {
	"pi.m0", "pi.m1", "pi.m2", "pi.m3", "pi.m4", "pi.m5", "pi.m6", "pi.m7", "pi.m8", "pi.m9",
};
static struct mutex cm[PI_MAX_CHAIN];
static struct thread *ct[PI_MAX_CHAIN], *chigh;
static unsigned cn;
static uint32_t c_held, c_release, c_high_done;
static int c_end[PI_MAX_CHAIN], c_after[PI_MAX_CHAIN], c_rc[PI_MAX_CHAIN];
static int c_high_rc, c_high_prio;

static bool all_held(uintptr_t n) { return atomic_load32(&c_held, MO_ACQUIRE) >= n; }

static void chain_owner(void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg;
	struct thread *me = thread_current();
	mutex_lock(&cm[i]);
	atomic_fetch_add32(&c_held, 1, MO_ACQ_REL);
	wait_for(all_held, cn);
	if (i + 1 < cn) {
		c_rc[i] = mutex_lock(&cm[i + 1]);   /* sleeps until the chain unwinds to here */
		c_end[i] = thread_prio(me);
		mutex_unlock(&cm[i + 1]);
	} else {
		while (!atomic_load32(&c_release, MO_ACQUIRE))
			thread_sleep_ns(PI_POLL_NS);
		c_end[i] = thread_prio(me);
	}
	mutex_unlock(&cm[i]);
	c_after[i] = thread_prio(me);
}

static void chain_high(void *arg)
{
	(void)arg;
	c_high_rc = mutex_lock(&cm[0]);
	c_high_prio = thread_prio(thread_current());
	mutex_unlock(&cm[0]);
	atomic_store32(&c_high_done, 1, MO_RELEASE);
}

static bool chain_blocked(uintptr_t n)
{
	for (unsigned i = 0; i + 1 < n; i++)
		if (waits_on(ct[i]) != &cm[i + 1])
			return false;
	return true;
}

static const int *c_pre;

static bool pre_lent(uintptr_t n)
{
	for (unsigned i = 0; i < n; i++)
		if (thread_prio(ct[i]) != c_pre[i])
			return false;
	return true;
}

static bool boosted_to(uintptr_t i) { return thread_prio(ct[i]) == PI_HIGH; }

static void run_chain(struct ktest *t, unsigned n)
{
	unsigned deep = n < MAX_PI_CHAIN_DEPTH ? n : MAX_PI_CHAIN_DEPTH;
	int base[PI_MAX_CHAIN], pre[PI_MAX_CHAIN];
	uint32_t trunc0 = mutex_pi_chain_truncated();

	cn = n;
	atomic_store32(&c_held, 0, MO_RELAXED);
	atomic_store32(&c_release, 0, MO_RELAXED);
	atomic_store32(&c_high_done, 0, MO_RELAXED);
	for (unsigned i = 0; i < n; i++) {
		mutex_init(&cm[i], chain_names[i]);
		c_end[i] = c_after[i] = c_rc[i] = -1;
	}
	for (unsigned i = 0; i < n; i++) {
		struct thread_opts o = chain_opts(i);
		ct[i] = thread_create("pi-owner", chain_owner, (void *)(uintptr_t)i, &o);
		KTEST_ASSERT(t, ct[i] != 0);
		base[i] = thread_base_prio(ct[i]);
		/* What the owners lend each other before the high thread comes: every
		 * waiter above lends its number down the chain (the odd RT owners' bases
		 * rise with i, so the highest is always within reach). */
		pre[i] = i && pre[i - 1] > base[i] ? pre[i - 1] : base[i];
	}
	if (!wait_for(chain_blocked, n)) {
		ktest_fail_at(t, __FILE__, __LINE__, "the chain of %u never formed (threads left behind)", n);
		return;
	}
	/* blocked_on is set before the locker's boost walk: wait for the walks too. */
	c_pre = pre;
	wait_for(pre_lent, n);
	for (unsigned i = 0; i < n; i++)
		KTEST_EXPECT_EQ(t, thread_prio(ct[i]), pre[i]);

	struct thread_opts ho = rt_opts(PI_HIGH_RT);
	chigh = thread_create("pi-high", chain_high, 0, &ho);
	KTEST_ASSERT(t, chigh != 0);
	if (!wait_for(boosted_to, deep - 1))
		ktest_fail_at(t, __FILE__, __LINE__, "owner %u of %u never boosted to %d (it has %d)",
			      deep - 1, n, PI_HIGH, thread_prio(ct[deep - 1]));
	KTEST_EXPECT(t, waits_on(chigh) == &cm[0]);
	for (unsigned i = 0; i < n; i++) {
		int want = i < deep ? PI_HIGH : pre[i];
		if (thread_prio(ct[i]) != want)
			ktest_fail_at(t, __FILE__, __LINE__, "chain of %u: owner %u has thread_prio %d, expected %d",
				      n, i, thread_prio(ct[i]), want);
	}
	KTEST_EXPECT_EQ(t, mutex_pi_chain_truncated() > trunc0, n > MAX_PI_CHAIN_DEPTH);

	atomic_store32(&c_release, 1, MO_RELEASE);
	for (unsigned i = n; i-- > 0;) {
		KTEST_EXPECT_EQ(t, thread_join(ct[i], 0), 0);
		int want = i < deep ? PI_HIGH : pre[i];
		if (c_end[i] != want || c_after[i] != base[i])
			ktest_fail_at(t, __FILE__, __LINE__, "chain of %u: owner %u had %d before its last unlock "
				      "(expected %d) and %d after (expected its base %d)", n, i, c_end[i], want,
				      c_after[i], base[i]);
		if (i + 1 < n)
			KTEST_EXPECT_EQ(t, c_rc[i], 0);
	}
	KTEST_EXPECT_EQ(t, thread_join(chigh, 0), 0);
	KTEST_EXPECT_EQ(t, c_high_rc, 0);
	KTEST_EXPECT_EQ(t, c_high_prio, PI_HIGH);
	ktest_log(t, "chain of %u: %u owners boosted to %d and unwound", n, deep, PI_HIGH);
}

void pi_chain_of_3_boosted_and_unwound(struct ktest *t) { run_chain(t, 3); }
void pi_chain_of_8_boosted_and_unwound(struct ktest *t) { run_chain(t, 8); }
void pi_chain_of_10_boosted_8_deep(struct ktest *t) { run_chain(t, 10); }

/* ---- ABBA: the second locker closes a cycle and is refused --------------------------- */

static struct mutex ab1, ab2;
static struct thread *ab_a, *ab_b;
static uint32_t ab_b_holds, ab_b_done;
static int ab_rc, ab_a_prio_then;

static void abba_a(void *arg)
{
	(void)arg;
	mutex_lock(&ab1);
	while (!atomic_load32(&ab_b_holds, MO_ACQUIRE))
		thread_sleep_ns(PI_POLL_NS);
	mutex_lock(&ab2);               /* sleeps until B, refused, lets go of ab2 */
	mutex_unlock(&ab2);
	mutex_unlock(&ab1);
}

static bool a_waits(uintptr_t unused) { (void)unused; return waits_on(ab_a) == &ab2; }

static void abba_b(void *arg)
{
	(void)arg;
	mutex_lock(&ab2);
	atomic_store32(&ab_b_holds, 1, MO_RELEASE);
	wait_for(a_waits, 0);
	ab_rc = mutex_lock(&ab1);       /* A holds ab1 and waits for ab2, ours */
	ab_a_prio_then = thread_prio(ab_a);
	if (ab_rc == 0)
		mutex_unlock(&ab1);
	mutex_unlock(&ab2);
	atomic_store32(&ab_b_done, 1, MO_RELEASE);
}

static bool b_done(uintptr_t unused) { (void)unused; return atomic_load32(&ab_b_done, MO_ACQUIRE); }

void pi_deadlock_abba_reported(struct ktest *t)
{
	static const char want[] = "mutex deadlock: thread pi-abba-b holds pi.abba_2 and waits for "
				   "pi.abba_1, held by thread pi-abba-a, which waits for pi.abba_2";
	uint32_t n0 = mutex_deadlock_count();
	mutex_init(&ab1, "pi.abba_1");
	mutex_init(&ab2, "pi.abba_2");
	atomic_store32(&ab_b_holds, 0, MO_RELAXED);
	atomic_store32(&ab_b_done, 0, MO_RELAXED);
	ab_rc = 1;
	struct thread_opts oa = { 0 }, ob = rt_opts(20);
	ab_a = thread_create("pi-abba-a", abba_a, 0, &oa);
	KTEST_ASSERT(t, ab_a != 0);
	ab_b = thread_create("pi-abba-b", abba_b, 0, &ob);
	KTEST_ASSERT(t, ab_b != 0);
	if (!wait_for(b_done, 0)) {
		/* Both sleep for good: report, and leave them (they cannot be joined). */
		ktest_fail_at(t, __FILE__, __LINE__, "the ABBA pair deadlocked: no -EDEADLK");
		return;
	}
	KTEST_EXPECT_EQ(t, thread_join(ab_b, 0), 0);
	KTEST_EXPECT_EQ(t, thread_join(ab_a, 0), 0);
	KTEST_EXPECT_EQ(t, ab_rc, -EDEADLK);
	KTEST_EXPECT_EQ(t, mutex_deadlock_count(), n0 + 1);
	if (kstrcmp(mutex_deadlock_last_report(), want) != 0)
		ktest_fail_at(t, __FILE__, __LINE__, "report \"%s\", expected \"%s\"",
			      mutex_deadlock_last_report(), want);
	KTEST_EXPECT_EQ(t, ab_a_prio_then, 20);     /* the refused locker lent nothing */
	KTEST_EXPECT(t, mutex_owner(&ab1) == 0 && mutex_owner(&ab2) == 0);
}

/* ---- two waiters of different priorities share one owner's boost --------------------- */

#define SH_LOW_RT 10
#define SH_HIGH_RT 60
#define SH_LOW (THREAD_PRIO_RT_BASE + SH_LOW_RT)
#define SH_HIGH (THREAD_PRIO_RT_BASE + SH_HIGH_RT)

static struct mutex sa, sb;
static struct thread *so, *sl, *sh;
static uint32_t s_step, s_held, s_two_mutexes;
static int s_after_a, s_after_b, s_low_got, s_low_after;

static void shared_owner(void *arg)
{
	(void)arg;
	struct thread *me = thread_current();
	mutex_lock(&sa);
	if (s_two_mutexes)
		mutex_lock(&sb);
	atomic_store32(&s_held, 1, MO_RELEASE);
	while (atomic_load32(&s_step, MO_ACQUIRE) < 1)
		thread_sleep_ns(PI_POLL_NS);
	mutex_unlock(&sa);              /* the high waiter's mutex */
	s_after_a = thread_prio(me);
	atomic_store32(&s_step, 2, MO_RELEASE);
	if (!s_two_mutexes)
		return;
	while (atomic_load32(&s_step, MO_ACQUIRE) < 3)
		thread_sleep_ns(PI_POLL_NS);
	mutex_unlock(&sb);
	s_after_b = thread_prio(me);
}

static void shared_low(void *arg)
{
	(void)arg;
	struct mutex *m = s_two_mutexes ? &sb : &sa;
	mutex_lock(m);
	s_low_got = thread_prio(thread_current());
	mutex_unlock(m);
	s_low_after = thread_prio(thread_current());
}

static void shared_high(void *arg)
{
	(void)arg;
	mutex_lock(&sa);
	mutex_unlock(&sa);
}

static bool prio_is(uintptr_t want) { return thread_prio(so) == (int)want; }
static bool step_is(uintptr_t want) { return atomic_load32(&s_step, MO_ACQUIRE) >= want; }
static bool held(uintptr_t unused) { (void)unused; return atomic_load32(&s_held, MO_ACQUIRE); }
static bool low_waits(uintptr_t m) { return waits_on(sl) == (struct mutex *)m; }

static void shared_round(struct ktest *t, bool two)
{
	mutex_init(&sa, "pi.shared_a");
	mutex_init(&sb, "pi.shared_b");
	s_two_mutexes = two;
	atomic_store32(&s_step, 0, MO_RELAXED);
	atomic_store32(&s_held, 0, MO_RELAXED);
	s_after_a = s_after_b = s_low_got = s_low_after = -1;
	struct thread_opts oo = { 0 }, ol = rt_opts(SH_LOW_RT), oh = rt_opts(SH_HIGH_RT);
	so = thread_create("pi-shared-owner", shared_owner, 0, &oo);
	KTEST_ASSERT(t, so != 0);
	KTEST_ASSERT(t, wait_for(held, 0));
	sl = thread_create("pi-shared-low", shared_low, 0, &ol);
	KTEST_ASSERT(t, sl != 0);
	KTEST_ASSERT(t, wait_for(low_waits, (uintptr_t)(two ? &sb : &sa)));
	KTEST_EXPECT(t, wait_for(prio_is, SH_LOW));
	sh = thread_create("pi-shared-high", shared_high, 0, &oh);
	KTEST_ASSERT(t, sh != 0);
	KTEST_EXPECT(t, wait_for(prio_is, SH_HIGH));     /* the higher loan wins */
	atomic_store32(&s_step, 1, MO_RELEASE);
	KTEST_ASSERT(t, wait_for(step_is, 2));
	if (two) {
		/* The high waiter got sa and left: the low one's loan remains. */
		KTEST_EXPECT_EQ(t, s_after_a, SH_LOW);
		atomic_store32(&s_step, 3, MO_RELEASE);
	} else {
		/* FIFO: the low waiter got sa, with the high one behind it: it inherits. */
		KTEST_EXPECT_EQ(t, s_after_a, 20);
	}
	KTEST_EXPECT_EQ(t, thread_join(so, 0), 0);
	KTEST_EXPECT_EQ(t, thread_join(sl, 0), 0);
	KTEST_EXPECT_EQ(t, thread_join(sh, 0), 0);
	if (two) {
		KTEST_EXPECT_EQ(t, s_after_b, 20);
		KTEST_EXPECT_EQ(t, s_low_got, SH_LOW);
	} else {
		KTEST_EXPECT_EQ(t, s_low_got, SH_HIGH);
	}
	KTEST_EXPECT_EQ(t, s_low_after, SH_LOW);
}

void pi_boost_shared_by_two_waiters(struct ktest *t)
{
	shared_round(t, true);          /* one waiter on each of two held mutexes */
	shared_round(t, false);         /* both waiters on one mutex */
}
