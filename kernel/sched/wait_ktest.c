/*
 * wait_ktest.c — the `wait` suite (docs/sched.md, "Blocking"): completions across
 * CPUs, complete_all waking every waiter, timed waits never returning early, a
 * semaphore bounding concurrency, a mutex excluding threads on every CPU that
 * block (counted) rather than spin, and a wake-before-sleep stress through wait
 * queues on two or more CPUs that reports (and releases) a lost wake-up instead of
 * hanging. Runs in the kmain thread.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/cpumask.h>
#include <kernel/ktest.h>
#include <kernel/mutex.h>
#include <kernel/sched.h>
#include <kernel/smp.h>
#include <kernel/thread.h>
#include <kernel/time.h>
#include <kernel/wait.h>

#define MAX_T 64                    /* threads of a case: one per CPU, up to 64 */
#define SEM_UNITS 3
#define SEM_DOWNS 320               /* in all, shared by the threads (at least 5 each) */
#define MUTEX_LOCKINGS 640          /* in all, shared by the threads (at least 10 each) */
#define STRESS_ROUNDS 2000
#define STUCK_NS 60000000000ull     /* 60 s: only a lost wake-up (or a host far overloaded) gets near */

static unsigned cpu_list[MAX_T];

/* Up to MAX_T thread slots, one per online CPU first, then round again. */
static unsigned spread(unsigned *ncpus)
{
	struct cpumask on;
	smp_online_mask(&on);
	unsigned n = 0;
	for_each_cpu(c, &on) {
		if (n == MAX_T)
			break;
		cpu_list[n++] = c;
	}
	*ncpus = n;
	return n < 4 ? 4 : n;           /* at least 4 threads, sharing CPUs on small machines */
}

static struct thread *spawn(const char *name, unsigned i, unsigned ncpus, void (*fn)(void *), void *arg)
{
	struct thread_opts o = { 0 };
	cpumask_set(&o.affinity, cpu_list[i % ncpus]);
	return thread_create(name, fn, arg, &o);
}

static bool wait_ge32(const uint32_t *p, uint32_t want)
{
	uint64_t t0 = time_now_ns();
	while (atomic_load32(p, MO_ACQUIRE) < want) {
		if (time_now_ns() - t0 > STUCK_NS)
			return false;
		thread_sleep_ns(1000000);
	}
	return true;
}

/* ---- completions ---------------------------------------------------------------------- */

static struct completion comps[MAX_T], back;
static uint32_t arrived, passed;

static void comp_waiter(void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg;
	wait_for_completion(&comps[i]);
	atomic_fetch_add32(&passed, 1, MO_RELAXED);
	complete(&back);
}

static void wait_completion_across_cpus(struct ktest *t)
{
	unsigned ncpus, n = spread(&ncpus);
	struct thread *th[MAX_T];
	completion_init(&back);
	atomic_store32(&passed, 0, MO_RELAXED);
	for (unsigned i = 0; i < n; i++) {
		completion_init(&comps[i]);
		th[i] = spawn("wait-comp", i, ncpus, comp_waiter, (void *)(uintptr_t)i);
		KTEST_ASSERT(t, th[i] != 0);
	}
	thread_sleep_ns(1000000);       /* most are asleep by now; the rest come later */
	for (unsigned i = 0; i < n; i++) {
		complete(&comps[i]);
		KTEST_EXPECT(t, wait_for_completion_timeout_ns(&back, STUCK_NS));
	}
	for (unsigned i = 0; i < n; i++)
		KTEST_ASSERT(t, thread_join(th[i], 0) == 0);
	KTEST_EXPECT_EQ(t, atomic_load32(&passed, MO_RELAXED), n);
	ktest_log(t, "%u completions handed across %u CPUs", n, ncpus);
}

static struct completion gate;
static struct waitq all_wq;
static uint32_t all_flag, all_first;

static void all_waiter(void *arg)
{
	(void)arg;
	atomic_fetch_add32(&arrived, 1, MO_RELEASE);
	/* a bare wait queue first: nothing but waitq_wake_all wakes them all */
	waitq_wait_event(&all_wq, atomic_load32(&all_flag, MO_ACQUIRE));
	atomic_fetch_add32(&all_first, 1, MO_RELEASE);
	wait_for_completion(&gate);
	atomic_fetch_add32(&passed, 1, MO_RELEASE);
}

static void wait_complete_all_wakes_every_waiter(struct ktest *t)
{
	unsigned ncpus, n = spread(&ncpus);
	struct thread *th[MAX_T];
	completion_init(&gate);
	waitq_init(&all_wq);
	atomic_store32(&arrived, 0, MO_RELAXED);
	atomic_store32(&passed, 0, MO_RELAXED);
	atomic_store32(&all_flag, 0, MO_RELAXED);
	atomic_store32(&all_first, 0, MO_RELAXED);
	for (unsigned i = 0; i < n; i++) {
		th[i] = spawn("wait-all", i, ncpus, all_waiter, 0);
		KTEST_ASSERT(t, th[i] != 0);
	}
	KTEST_ASSERT(t, wait_ge32(&arrived, n));
	thread_sleep_ns(2000000);
	atomic_store32(&all_flag, 1, MO_RELEASE);
	waitq_wake_all(&all_wq);
	uint64_t t0 = time_now_ns();
	while (atomic_load32(&all_first, MO_ACQUIRE) < n && time_now_ns() - t0 < 2000000000ull)
		thread_sleep_ns(1000000);
	if (atomic_load32(&all_first, MO_ACQUIRE) < n) {
		ktest_fail_at(t, __FILE__, __LINE__, "waitq_wake_all woke %u of %u waiters",
			      atomic_load32(&all_first, MO_ACQUIRE), n);
		while (atomic_load32(&all_first, MO_ACQUIRE) < n) {
			waitq_wake_one(&all_wq);        /* release the rest */
			thread_sleep_ns(1000000);
		}
	}
	thread_sleep_ns(1000000);
	KTEST_EXPECT_EQ(t, atomic_load32(&passed, MO_ACQUIRE), 0);
	complete_all(&gate);
	KTEST_EXPECT(t, wait_ge32(&passed, n));
	for (unsigned i = 0; i < n; i++)
		KTEST_ASSERT(t, thread_join(th[i], 0) == 0);
	wait_for_completion(&gate);     /* stays completed */
}

static void wait_timeout_not_early(struct ktest *t)
{
	struct completion c;
	completion_init(&c);
	for (uint64_t ns = 100000; ns <= 4000000; ns *= 4) {
		uint64_t t0 = time_now_ns();
		KTEST_EXPECT(t, !wait_for_completion_timeout_ns(&c, ns));
		uint64_t took = time_now_ns() - t0;
		if (took < ns)
			ktest_fail_at(t, __FILE__, __LINE__, "timeout of %llu ns returned after %llu ns",
				      (unsigned long long)ns, (unsigned long long)took);
	}
	complete(&c);
	KTEST_EXPECT(t, wait_for_completion_timeout_ns(&c, 1000000000ull));
	KTEST_EXPECT(t, !wait_for_completion_timeout_ns(&c, 0));   /* consumed */
}

/* ---- semaphores ------------------------------------------------------------------------- */

static struct semaphore sem;
static uint32_t inside, max_inside, sem_rounds;

static void sem_worker(void *arg)
{
	(void)arg;
	for (uint32_t r = 0; r < sem_rounds; r++) {
		sem_down(&sem);
		uint32_t now = atomic_fetch_add32(&inside, 1, MO_ACQ_REL) + 1;
		uint32_t m = atomic_load32(&max_inside, MO_RELAXED);
		while (now > m && !atomic_cas32(&max_inside, &m, now, MO_RELAXED, MO_RELAXED))
			;
		if (r & 1)
			thread_sleep_ns(50000);
		else
			thread_yield();
		atomic_fetch_add32(&inside, (uint32_t)-1, MO_ACQ_REL);
		sem_up(&sem);
	}
	atomic_fetch_add32(&passed, 1, MO_RELEASE);
}

static void wait_semaphore_bounds_concurrency(struct ktest *t)
{
	unsigned ncpus, n = spread(&ncpus);
	struct thread *th[MAX_T];
	sem_init(&sem, SEM_UNITS);
	sem_rounds = SEM_DOWNS / n < 5 ? 5 : SEM_DOWNS / n;
	atomic_store32(&inside, 0, MO_RELAXED);
	atomic_store32(&max_inside, 0, MO_RELAXED);
	atomic_store32(&passed, 0, MO_RELAXED);
	for (unsigned i = 0; i < n; i++) {
		th[i] = spawn("wait-sem", i, ncpus, sem_worker, 0);
		KTEST_ASSERT(t, th[i] != 0);
	}
	KTEST_EXPECT(t, wait_ge32(&passed, n));
	for (unsigned i = 0; i < n; i++)
		KTEST_ASSERT(t, thread_join(th[i], 0) == 0);
	uint32_t mx = atomic_load32(&max_inside, MO_RELAXED);
	KTEST_EXPECT(t, mx <= SEM_UNITS);
	KTEST_EXPECT(t, mx >= 1);
	KTEST_EXPECT_EQ(t, atomic_load32(&sem.count, MO_RELAXED), SEM_UNITS);
	KTEST_EXPECT(t, sem_trydown(&sem));
	sem_up(&sem);
	ktest_log(t, "%u threads, at most %u of %u units held at once", n, mx, SEM_UNITS);
}

/* ---- mutexes -------------------------------------------------------------------------------- */

static struct mutex mtx;
static uint64_t guarded;            /* plain read-modify-write under mtx */
static uint32_t mutex_wrong, mutex_rounds;

static void mutex_worker(void *arg)
{
	(void)arg;
	for (uint32_t r = 0; r < mutex_rounds; r++) {
		mutex_lock(&mtx);
		if (!mutex_is_held_by_me(&mtx))
			atomic_fetch_add32(&mutex_wrong, 1, MO_RELAXED);
		uint64_t v = *(volatile uint64_t *)&guarded;
		if (r % 4 == 0)
			thread_sleep_ns(20000);         /* hold it while asleep: others must block */
		else
			thread_yield();
		*(volatile uint64_t *)&guarded = v + 1;
		mutex_unlock(&mtx);
	}
	atomic_fetch_add32(&passed, 1, MO_RELEASE);
}

static void wait_mutex_exclusion_blocks(struct ktest *t)
{
	unsigned ncpus, n = spread(&ncpus);
	struct thread *th[MAX_T];
	mutex_init(&mtx, "wait-test");
	mutex_rounds = MUTEX_LOCKINGS / n < 10 ? 10 : MUTEX_LOCKINGS / n;
	guarded = 0;
	atomic_store32(&mutex_wrong, 0, MO_RELAXED);
	atomic_store32(&passed, 0, MO_RELAXED);
	KTEST_EXPECT(t, mutex_trylock(&mtx));
	KTEST_EXPECT(t, mutex_is_held_by_me(&mtx));
	KTEST_EXPECT(t, !mutex_trylock(&mtx));
	for (unsigned i = 0; i < n; i++) {
		th[i] = spawn("wait-mutex", i, ncpus, mutex_worker, 0);
		KTEST_ASSERT(t, th[i] != 0);
	}
	thread_sleep_ns(1000000);
	mutex_unlock(&mtx);             /* the workers start behind a held mutex */
	KTEST_EXPECT(t, wait_ge32(&passed, n));
	for (unsigned i = 0; i < n; i++)
		KTEST_ASSERT(t, thread_join(th[i], 0) == 0);
	uint64_t blocks = atomic_load64(&mtx.blocks, MO_RELAXED);
	KTEST_EXPECT_EQ(t, guarded, (uint64_t)n * mutex_rounds);
	KTEST_EXPECT_EQ(t, atomic_load32(&mutex_wrong, MO_RELAXED), 0);
	KTEST_EXPECT(t, blocks >= n);   /* at least each worker behind the first hold */
	KTEST_EXPECT(t, mutex_owner(&mtx) == 0);
	ktest_log(t, "%u threads on %u CPUs, %llu lockings, %llu blocked", n, ncpus,
		  (unsigned long long)atomic_load64(&mtx.acquired, MO_RELAXED), (unsigned long long)blocks);
}

/* ---- no lost wake-up through wait queues ---------------------------------------------------- */

#define PAIRS 2
struct wpair {
	struct thread *th[2];
	struct waitq wq[2];
	uint32_t flag[2];
	uint32_t rounds[2];
};
static struct wpair wpairs[PAIRS];
static uint32_t wabort;

static void wpair_entry(void *arg)
{
	struct wpair *p = &wpairs[(uintptr_t)arg >> 1];
	unsigned me = (uintptr_t)arg & 1;
	for (uint32_t i = 0; i < STRESS_ROUNDS; i++) {
		waitq_wait_event(&p->wq[me], atomic_load32(&p->flag[me], MO_ACQUIRE) ||
				 atomic_load32(&wabort, MO_ACQUIRE));
		if (atomic_load32(&wabort, MO_ACQUIRE))
			return;
		atomic_store32(&p->flag[me], 0, MO_RELAXED);
		atomic_store32(&p->rounds[me], i + 1, MO_RELEASE);
		atomic_store32(&p->flag[me ^ 1], 1, MO_RELEASE);
		waitq_wake_one(&p->wq[me ^ 1]);
	}
}

static void wait_no_lost_wakeup(struct ktest *t)
{
	unsigned ncpus;
	spread(&ncpus);
	if (ncpus < 2) {
		ktest_skip(t, "needs two online CPUs");
		return;
	}
	atomic_store32(&wabort, 0, MO_RELAXED);
	for (unsigned i = 0; i < PAIRS; i++) {
		struct wpair *p = &wpairs[i];
		*p = (struct wpair){ 0 };
		waitq_init(&p->wq[0]);
		waitq_init(&p->wq[1]);
	}
	for (unsigned i = 0; i < PAIRS; i++)
		for (unsigned s = 0; s < 2; s++) {
			wpairs[i].th[s] = spawn("wait-token", 2 * i + s, ncpus, wpair_entry, (void *)(uintptr_t)(2 * i + s));
			KTEST_ASSERT(t, wpairs[i].th[s] != 0);
		}
	for (unsigned i = 0; i < PAIRS; i++) {
		atomic_store32(&wpairs[i].flag[0], 1, MO_RELEASE);
		waitq_wake_one(&wpairs[i].wq[0]);
	}
	for (unsigned i = 0; i < PAIRS; i++) {
		if (!wait_ge32(&wpairs[i].rounds[1], STRESS_ROUNDS)) {
			ktest_fail_at(t, __FILE__, __LINE__, "pair %u stuck at rounds %u/%u: a lost wake-up", i,
				      wpairs[i].rounds[0], wpairs[i].rounds[1]);
			atomic_store32(&wabort, 1, MO_RELEASE);
			for (unsigned j = 0; j < PAIRS; j++)
				for (unsigned s = 0; s < 2; s++)
					sched_wake(wpairs[j].th[s]);
			break;
		}
	}
	for (unsigned i = 0; i < PAIRS; i++)
		for (unsigned s = 0; s < 2; s++)
			KTEST_ASSERT(t, thread_join(wpairs[i].th[s], 0) == 0);
	ktest_log(t, "%u pairs x %d hand-overs through wait queues", PAIRS, STRESS_ROUNDS);
}

static const struct ktest_case wait_cases[] = {
	KTEST_CASE(wait_completion_across_cpus),
	KTEST_CASE(wait_complete_all_wakes_every_waiter),
	KTEST_CASE(wait_timeout_not_early),
	KTEST_CASE(wait_semaphore_bounds_concurrency),
	KTEST_CASE(wait_mutex_exclusion_blocks),
	KTEST_CASE(wait_no_lost_wakeup),
};
KTEST_SUITE(wait_suite, "wait", wait_cases);
