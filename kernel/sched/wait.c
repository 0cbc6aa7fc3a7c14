/*
 * wait.c — wait queues, completions and counting semaphores (docs/sched.md,
 * "Blocking"). A waiter queues an entry on its stack and marks itself blocked
 * (sched_prepare_wait) before it tests its condition; a waker makes the condition
 * true, then takes entries off the queue and sched_wake()s their threads with the
 * queue's lock held. A waiter always takes that lock before it returns
 * (waitq_finish), so a waker never touches a thread that could have exited. Lock
 * order: a wait queue's lock before any run queue's lock.
 */
#include <kernel/atomic.h>
#include <kernel/sched.h>
#include <kernel/spinlock.h>
#include <kernel/thread.h>
#include <kernel/time.h>
#include <kernel/wait.h>

#define TIMED_SLICE_NS 1000000ull   /* a timed wait looks at its deadline this often */

/* head is written with atomic stores (under the lock) so waitq_active may look
 * at it without the lock. */
static void set_head(struct waitq *wq, struct waitq_entry *e)
{
	atomic_store64((uint64_t *)&wq->head, (uint64_t)(uintptr_t)e, MO_RELAXED);
}

void waitq_init(struct waitq *wq)
{
	spin_init(&wq->lock, "waitq");
	set_head(wq, 0);
	wq->tail = 0;
}

bool waitq_active(const struct waitq *wq)
{
	/* seq_cst: the caller's condition store before this load; the waiter's
	 * enqueue before its condition load (sched_prepare_wait's fence). */
	atomic_fence(MO_SEQ_CST);
	return atomic_load64((const uint64_t *)&wq->head, MO_RELAXED) != 0;
}

static void enqueue(struct waitq *wq, struct waitq_entry *e)
{
	e->next = 0;
	if (wq->tail)
		wq->tail->next = e;
	else
		set_head(wq, e);
	wq->tail = e;
	e->queued = 1;
}

static struct waitq_entry *dequeue_first(struct waitq *wq)
{
	struct waitq_entry *e = wq->head;
	if (e) {
		set_head(wq, e->next);
		if (!wq->head)
			wq->tail = 0;
		e->queued = 0;
	}
	return e;
}

static void unlink(struct waitq *wq, struct waitq_entry *e)
{
	struct waitq_entry *prev = 0;
	for (struct waitq_entry *p = wq->head; p; prev = p, p = p->next) {
		if (p != e)
			continue;
		if (prev)
			prev->next = e->next;
		else
			set_head(wq, e->next);
		if (wq->tail == e)
			wq->tail = prev;
		break;
	}
	e->queued = 0;
}

void waitq_prepare(struct waitq *wq, struct waitq_entry *e)
{
	spin_lock(&wq->lock);
	if (!e->queued) {
		e->t = thread_current();
		enqueue(wq, e);
	}
	spin_unlock(&wq->lock);
	sched_prepare_wait();           /* blocked, then a full barrier: before cond */
}

void waitq_finish(struct waitq *wq, struct waitq_entry *e)
{
	sched_finish_wait();
	spin_lock(&wq->lock);           /* always: a waker may still be in sched_wake */
	if (e->queued)
		unlink(wq, e);
	spin_unlock(&wq->lock);
}

bool waitq_wake_one(struct waitq *wq)
{
	atomic_fence(MO_SEQ_CST);       /* the caller's condition before our look */
	spin_lock(&wq->lock);
	struct waitq_entry *e = dequeue_first(wq);
	if (e)
		sched_wake(e->t);           /* under the lock: e->t cannot be gone */
	spin_unlock(&wq->lock);
	return e != 0;
}

void waitq_wake_all(struct waitq *wq)
{
	atomic_fence(MO_SEQ_CST);
	spin_lock(&wq->lock);
	struct waitq_entry *e;
	while ((e = dequeue_first(wq)))
		sched_wake(e->t);
	spin_unlock(&wq->lock);
}

/* ---- completions ---------------------------------------------------------------------- */

void completion_init(struct completion *c)
{
	atomic_store32(&c->done, 0, MO_RELAXED);
	waitq_init(&c->wq);
}

void complete(struct completion *c)
{
	uint32_t d = atomic_load32(&c->done, MO_RELAXED);
	do {
		if (d & COMPLETION_ALL)
			return;
	} while (!atomic_cas32(&c->done, &d, d + 1, MO_RELEASE, MO_RELAXED));
	waitq_wake_one(&c->wq);
}

void complete_all(struct completion *c)
{
	uint32_t d = atomic_load32(&c->done, MO_RELAXED);
	while (!atomic_cas32(&c->done, &d, d | COMPLETION_ALL, MO_RELEASE, MO_RELAXED))
		;
	waitq_wake_all(&c->wq);
}

/* Consume one completion if there is one. */
static bool try_consume(struct completion *c)
{
	uint32_t d = atomic_load32(&c->done, MO_ACQUIRE);
	do {
		if (d & COMPLETION_ALL)
			return true;
		if (!d)
			return false;
	} while (!atomic_cas32(&c->done, &d, d - 1, MO_ACQUIRE, MO_ACQUIRE));
	return true;
}

/* A wake-up given to a waiter that left without needing it (it found its
 * completion by itself, or timed out) is passed on while completions remain. */
static void pass_on(struct completion *c)
{
	if (atomic_load32(&c->done, MO_ACQUIRE))
		waitq_wake_one(&c->wq);
}

void wait_for_completion(struct completion *c)
{
	waitq_wait_event(&c->wq, try_consume(c));
	pass_on(c);
}

bool wait_for_completion_timeout_ns(struct completion *c, uint64_t ns)
{
	uint64_t deadline = time_now_ns() + ns;
	struct waitq_entry e = { 0 };
	bool got = false;
	for (;;) {
		waitq_prepare(&c->wq, &e);
		if (try_consume(c)) {
			got = true;
			break;
		}
		uint64_t now = time_now_ns();
		if (now >= deadline)
			break;
		sched_finish_wait();
		/* Still queued: a complete() meanwhile ends this nap early (the wake
		 * finds the nap's blocked state) or is seen by the next try_consume. */
		uint64_t left = deadline - now;
		thread_sleep_ns(left < TIMED_SLICE_NS ? left : TIMED_SLICE_NS);
	}
	waitq_finish(&c->wq, &e);
	pass_on(c);
	return got;
}

/* ---- counting semaphores ------------------------------------------------------------- */

void sem_init(struct semaphore *s, uint32_t count)
{
	atomic_store32(&s->count, count, MO_RELAXED);
	waitq_init(&s->wq);
}

bool sem_trydown(struct semaphore *s)
{
	uint32_t v = atomic_load32(&s->count, MO_ACQUIRE);
	do {
		if (!v)
			return false;
	} while (!atomic_cas32(&s->count, &v, v - 1, MO_ACQUIRE, MO_ACQUIRE));
	return true;
}

void sem_down(struct semaphore *s)
{
	if (sem_trydown(s))
		return;
	waitq_wait_event(&s->wq, sem_trydown(s));
	if (atomic_load32(&s->count, MO_ACQUIRE))
		waitq_wake_one(&s->wq);     /* pass on a wake-up we may have taken */
}

void sem_up(struct semaphore *s)
{
	atomic_fetch_add32(&s->count, 1, MO_RELEASE);
	waitq_wake_one(&s->wq);
}
