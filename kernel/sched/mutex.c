/*
 * mutex.c — the sleeping mutex (docs/sched.md, "Blocking"). Everything happens
 * under the mutex's spinlock: a locker takes the mutex if it has no owner, else
 * queues an entry on its stack and sleeps (prepare/check/block) until an unlock
 * makes it the owner. Unlock hands the mutex straight to the first waiter (FIFO,
 * no barging) and wakes it under the lock, so the waiter, which takes the lock
 * once more before it returns, cannot have exited meanwhile.
 *
 * Priority inheritance hook: when the RT class lands, mutex_lock's slow path walks
 * the owner chain (owner -> the mutex it waits on -> its owner ...) and boosts each
 * owner; the waiter's entry and m->owner are what that walk reads.
 */
#include <kernel/atomic.h>
#include <kernel/mutex.h>
#include <kernel/panic.h>
#include <kernel/sched.h>
#include <kernel/spinlock.h>
#include <kernel/thread.h>

void mutex_init(struct mutex *m, const char *name)
{
	spin_init(&m->lock, "mutex");
	m->owner = 0;
	m->head = m->tail = 0;
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
	if (got)
		atomic_fetch_add64(&m->acquired, 1, MO_RELAXED);
	return got;
}

void mutex_lock(struct mutex *m)
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
		atomic_fetch_add64(&m->acquired, 1, MO_RELAXED);
		return;
	}
	if (m->tail)
		m->tail->next = &e;
	else
		m->head = &e;
	m->tail = &e;
	e.queued = 1;
	spin_unlock(&m->lock);
	atomic_fetch_add64(&m->blocks, 1, MO_RELAXED);
	/* (priority inheritance: walk and boost the owner chain here) */
	for (;;) {
		sched_prepare_wait();
		if (mutex_owner(m) == me)
			break;
		sched_block();
	}
	sched_finish_wait();
	spin_lock(&m->lock);            /* the unlocker may still be in sched_wake */
	spin_unlock(&m->lock);
	atomic_fetch_add64(&m->acquired, 1, MO_RELAXED);
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
	struct waitq_entry *e = m->head;
	if (e) {
		m->head = e->next;
		if (!m->head)
			m->tail = 0;
		e->queued = 0;
		set_owner(m, e->t);     /* handed over: nobody can barge in */
		sched_wake(e->t);
	} else {
		set_owner(m, 0);
	}
	spin_unlock(&m->lock);
}
