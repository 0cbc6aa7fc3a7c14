/*
 * mutex.c — the sleeping mutex with priority inheritance and deadlock reports
 * (docs/sched.md, "Mutexes and priority inheritance"). A locker takes a free mutex
 * at once, else queues an entry on its stack, sets blocked_on, walks the owner
 * chain twice (first looking for a cycle back to itself: -EDEADLK; then lending
 * its priority to each owner) and sleeps (prepare/check/block) until an unlock
 * makes it the owner. Unlock hands the mutex to the first waiter (FIFO, no
 * barging), lends that new owner what the remaining waiters are worth, wakes it
 * under the lock, and takes back the unlocker's own loan: pi_prio becomes the
 * highest thread_prio among the waiters of the mutexes it still holds.
 *
 * Lock order: a mutex's spinlock, then a run queue lock (sched_wake,
 * sched_prio_changed). Two mutex spinlocks are never held at once: the walk takes
 * one link's lock, lends, reads the owner's blocked_on, lets go, and takes the
 * next link's lock, where it checks again that the previous owner is queued there.
 * pi_prio is written with atomics only: a raise bumps the thread's pi_seq first,
 * and an owner's recompute stores its result and starts again if pi_seq moved.
 */
#include <kernel/atomic.h>
#include <kernel/errno.h>
#include <kernel/log.h>
#include <kernel/mutex.h>
#include <kernel/panic.h>
#include <kernel/printf.h>
#include <kernel/sched.h>
#include <kernel/spinlock.h>
#include <kernel/string.h>
#include <kernel/thread.h>
#include "sched_internal.h"

#define REPORT_MAX 384

static struct spinlock report_lock = SPINLOCK_INIT("mutex.report");
static char last_report[REPORT_MAX];        /* under report_lock */
static uint32_t deadlocks, truncated;       /* atomic */

void mutex_init(struct mutex *m, const char *name)
{
	spin_init(&m->lock, "mutex");
	m->owner = 0;
	m->head = m->tail = 0;
	m->held_next = 0;
	m->name = name ? name : "mutex";
	m->blocks = m->acquired = 0;
}

static const char *tname(const struct thread *t)
{
	return t ? thread_name(t) : "nobody";
}

struct thread *mutex_owner(const struct mutex *m)
{
	return (struct thread *)atomic_load64((const uint64_t *)&m->owner, MO_ACQUIRE);
}

bool mutex_is_held_by_me(const struct mutex *m)
{
	struct thread *me = thread_current();
	return me && mutex_owner(m) == me;
}

static void set_owner(struct mutex *m, struct thread *t)
{
	atomic_store64((uint64_t *)&m->owner, (uint64_t)(uintptr_t)t, MO_RELEASE);
}

/* seq_cst: a locker stores its blocked_on and then reads its own pi_prio; a
 * walker raises pi_prio and then reads blocked_on. One of the two sees the other,
 * so no loan stops short of an owner (racy.pi_chain_broken is the reverse). */
static void set_blocked_on(struct thread *t, struct mutex *m)
{
	atomic_store64((uint64_t *)&t->blocked_on, (uint64_t)(uintptr_t)m, MO_SEQ_CST);
}

static struct mutex *blocked_on(const struct thread *t)
{
	return (struct mutex *)atomic_load64((const uint64_t *)&t->blocked_on, MO_SEQ_CST);
}

static int prio_of(const struct thread *t)
{
	int base = thread_base_prio(t);
	int pi = (int)atomic_load32((const uint32_t *)&t->pi_prio, MO_SEQ_CST);
	return pi > base ? pi : base;
}

/* ---- the owner's list of held mutexes (only the owner touches it) ---------------- */

static void held_push(struct thread *me, struct mutex *m)
{
	m->held_next = me->pi_held;
	me->pi_held = m;
}

static void held_remove(struct thread *me, struct mutex *m)
{
	for (struct mutex **p = (struct mutex **)&me->pi_held; *p; p = &(*p)->held_next)
		if (*p == m) {
			*p = m->held_next;
			m->held_next = 0;
			return;
		}
	panic("mutex %s: owner %s does not list it as held", m->name, tname(me));
}

/* ---- lending ------------------------------------------------------------------------ */

/* What m's waiters are worth: the highest thread_prio among them, 0 for none. */
static int waiters_prio(struct mutex *m)
{
	lock_assert_held(&m->lock);
	int best = 0;
	for (struct waitq_entry *e = m->head; e; e = e->next) {
		int p = prio_of(e->t);
		if (p > best)
			best = p;
	}
	return best;
}

/* Raise t's pi_prio to at least v. True when thread_prio(t) went up. The caller
 * keeps t alive (holds the lock of a mutex t owns or waits on). */
static bool pi_raise(struct thread *t, int v)
{
	if (v <= thread_base_prio(t))
		return false;
	/* Bump first: a recompute that stores after this raise sees pi_seq moved. */
	atomic_fetch_add32(&t->pi_seq, 1, MO_SEQ_CST);
	uint32_t cur = atomic_load32((uint32_t *)&t->pi_prio, MO_SEQ_CST);
	while ((int)cur < v)
		if (atomic_cas32((uint32_t *)&t->pi_prio, &cur, (uint32_t)v, MO_SEQ_CST, MO_SEQ_CST))
			return true;
	return false;
}

/* The caller's loan becomes what the waiters of the mutexes it still holds are
 * worth. Each held mutex's lock is taken alone. */
static void pi_recompute(struct thread *me)
{
	int before = prio_of(me);
	for (;;) {
		uint32_t seq = atomic_load32(&me->pi_seq, MO_SEQ_CST);
		int best = 0;
		for (struct mutex *h = me->pi_held; h; h = h->held_next) {
			spin_lock(&h->lock);
			int w = waiters_prio(h);
			spin_unlock(&h->lock);
			if (w > best)
				best = w;
		}
		if (best <= thread_base_prio(me))
			best = 0;
		atomic_store32((uint32_t *)&me->pi_prio, (uint32_t)best, MO_SEQ_CST);
		if (atomic_load32(&me->pi_seq, MO_SEQ_CST) == seq)
			break;          /* no raise since the scan began: best stands */
	}
	if (prio_of(me) != before)
		sched_prio_changed(me);
}

/* ---- the owner-chain walk ----------------------------------------------------------- */

enum walk_mode { WALK_DETECT, WALK_BOOST };

/* Is t queued on m? Compares pointers only, so t may already be gone. */
static bool queued_on(const struct mutex *m, const struct thread *t)
{
	for (const struct waitq_entry *e = m->head; e; e = e->next)
		if (e->t == t)
			return true;
	return false;
}

static void report_append(char *rep, size_t *n, const char *fmt, const char *a, const char *b)
{
	if (*n < REPORT_MAX)
		*n += (size_t)ksnprintf(rep + *n, REPORT_MAX - *n, fmt, a, b);
}

/*
 * From me, queued on m: link i is a mutex, its owner, and the mutex that owner
 * sleeps on. WALK_DETECT returns -EDEADLK with the report in rep when an owner
 * is me (a cycle). WALK_BOOST lends each owner the thread_prio of the waiter that
 * brought the walk there, for MAX_PI_CHAIN_DEPTH links. A link that has changed
 * meanwhile (the previous owner no longer queued here) ends the walk: whoever
 * changed it walks on from there itself.
 */
static int pi_walk(struct thread *me, struct mutex *m, enum walk_mode mode, char *rep)
{
	struct thread *waiter = me;
	struct mutex *cur = m;
	size_t n = 0;

	for (unsigned depth = 0; depth < MAX_PI_CHAIN_DEPTH; depth++) {
		spin_lock(&cur->lock);
		struct thread *o = cur->owner;
		if (!o || !queued_on(cur, waiter)) {
			spin_unlock(&cur->lock);
			return 0;
		}
		if (o == me) {
			if (mode == WALK_DETECT) {
				char tail[REPORT_MAX];
				kstrlcpy(tail, n ? rep : "", sizeof tail);
				ksnprintf(rep, REPORT_MAX, "mutex deadlock: thread %s holds %s and waits for %s%s",
					  tname(me), cur->name, m->name, tail);
				spin_unlock(&cur->lock);
				return -EDEADLK;
			}
			spin_unlock(&cur->lock);
			return 0;       /* a cycle formed after the check: its last locker reports it */
		}
		if (mode == WALK_DETECT)
			report_append(rep, &n, ", held by thread %s%s", tname(o), "");
		else if (pi_raise(o, prio_of(waiter)))
			sched_prio_changed(o);      /* o owns cur: alive while we hold its lock */
		struct mutex *next = blocked_on(o);
		if (next && mode == WALK_DETECT)
			report_append(rep, &n, ", which waits for %s%s", next->name, "");
		spin_unlock(&cur->lock);
		if (!next)
			return 0;
		waiter = o;
		cur = next;
	}
	if (mode == WALK_BOOST && atomic_fetch_add32(&truncated, 1, MO_RELAXED) == 0)
		klog("mutex", "priority inheritance from thread %s on %s: the owner chain is longer than "
		     "%d links; boosted %d deep (logged once)", tname(me), m->name, MAX_PI_CHAIN_DEPTH,
		     MAX_PI_CHAIN_DEPTH);
	return 0;
}

static void report_deadlock(const char *rep)
{
	atomic_fetch_add32(&deadlocks, 1, MO_RELAXED);
	spin_lock(&report_lock);
	kstrlcpy(last_report, rep, sizeof last_report);
	spin_unlock(&report_lock);
	kprintf("%s\n", rep);
}

uint32_t mutex_deadlock_count(void)
{
	return atomic_load32(&deadlocks, MO_RELAXED);
}

const char *mutex_deadlock_last_report(void)
{
	return last_report;
}

uint32_t mutex_pi_chain_truncated(void)
{
	return atomic_load32(&truncated, MO_RELAXED);
}

/* ---- lock and unlock --------------------------------------------------------------- */

bool mutex_trylock(struct mutex *m)
{
	struct thread *me = thread_current();
	bool got = false;
	spin_lock(&m->lock);
	if (!m->owner) {
		set_owner(m, me);
		got = true;
	}
	spin_unlock(&m->lock);
	if (got) {
		held_push(me, m);
		atomic_fetch_add64(&m->acquired, 1, MO_RELAXED);
	}
	return got;
}

static void dequeue(struct mutex *m, struct waitq_entry *e)
{
	struct waitq_entry **p = &m->head, *prev = 0;
	while (*p != e) {
		prev = *p;
		p = &(*p)->next;
	}
	*p = e->next;
	if (m->tail == e)
		m->tail = prev;
	e->queued = 0;
}

int mutex_lock(struct mutex *m)
{
	struct thread *me = thread_current();
	if (!me || me->idle)
		panic("mutex %s: mutex_lock outside a thread (on CPU %u)", m->name, hal_cpu_index());
	struct waitq_entry e = { .t = me };
	spin_lock(&m->lock);
	if (m->owner == me) {
		spin_unlock(&m->lock);
		panic("mutex %s: thread %s locks it again (owner %s): recursion", m->name,
		      tname(me), tname(me));
	}
	if (!m->owner) {
		set_owner(m, me);
		spin_unlock(&m->lock);
		goto acquired;
	}
	if (m->tail)
		m->tail->next = &e;
	else
		m->head = &e;
	m->tail = &e;
	e.queued = 1;
	set_blocked_on(me, m);
	spin_unlock(&m->lock);
	atomic_fetch_add64(&m->blocks, 1, MO_RELAXED);

	char rep[REPORT_MAX];
	if (pi_walk(me, m, WALK_DETECT, rep) == -EDEADLK) {
		spin_lock(&m->lock);
		bool still_queued = e.queued;
		if (still_queued) {
			dequeue(m, &e);
			set_blocked_on(me, 0);
		}
		spin_unlock(&m->lock);
		if (still_queued) {
			report_deadlock(rep);
			return -EDEADLK;
		}
		/* The cycle broke (another of its threads was refused and let go): m is ours. */
	} else {
		pi_walk(me, m, WALK_BOOST, 0);
	}
	for (;;) {
		sched_prepare_wait();
		if (mutex_owner(m) == me)
			break;
		sched_block();
	}
	sched_finish_wait();
	spin_lock(&m->lock);            /* the unlocker may still be in sched_wake */
	spin_unlock(&m->lock);
acquired:
	held_push(me, m);
	atomic_fetch_add64(&m->acquired, 1, MO_RELAXED);
	return 0;
}

void mutex_unlock(struct mutex *m)
{
	struct thread *me = thread_current();
	spin_lock(&m->lock);
	if (!me || m->owner != me) {
		struct thread *owner = m->owner;
		spin_unlock(&m->lock);
		panic("mutex %s: thread %s unlocks it but %s owns it", m->name, tname(me), tname(owner));
	}
	held_remove(me, m);
	struct waitq_entry *e = m->head;
	if (e) {
		struct thread *w = e->t;
		dequeue(m, e);
		set_blocked_on(w, 0);
		set_owner(m, w);        /* handed over: nobody can barge in */
		/* w takes m->lock before it returns, so it is alive until we let go. */
		bool raised = pi_raise(w, waiters_prio(m));
		sched_wake(w);
		if (raised)
			sched_prio_changed(w);
	} else {
		set_owner(m, 0);
	}
	spin_unlock(&m->lock);
	pi_recompute(me);
}
