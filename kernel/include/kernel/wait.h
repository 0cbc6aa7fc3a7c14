/* wait.h — blocking primitives built on the scheduler's prepare/check/block
 * protocol (kernel/sched.h, docs/sched.md "Blocking"): wait queues, completions
 * and counting semaphores. None of them may be used with a spinlock held, in
 * interrupt context (but the wake side: waitq_wake_*, complete*, sem_up) or in an
 * idle thread. */
#ifndef KERNEL_WAIT_H
#define KERNEL_WAIT_H
#include <stdbool.h>
#include <stdint.h>
#include <kernel/sched.h>
#include <kernel/spinlock.h>
#include <kernel/thread.h>

/* ---- wait queues ------------------------------------------------------------------ */

/* One waiter, on the waiting thread's stack while it waits. */
struct waitq_entry {
	struct thread *t;
	struct waitq_entry *next;
	uint32_t queued;            /* under the queue's lock */
};

struct waitq {
	struct spinlock lock;       /* before any run queue lock */
	struct waitq_entry *head, *tail;    /* FIFO */
};

/* Every wait queue is one lockdep class ("waitq"). */
void waitq_init(struct waitq *wq);
/* The waiting side of waitq_wait_event, for code that needs its own loop:
 * waitq_prepare queues e (if it is not queued) and marks the caller blocked;
 * waitq_finish marks it running and takes e off the queue. */
void waitq_prepare(struct waitq *wq, struct waitq_entry *e);
void waitq_finish(struct waitq *wq, struct waitq_entry *e);
/* Wake the longest waiter / every waiter. Any context. True if one was woken. */
bool waitq_wake_one(struct waitq *wq);
void waitq_wake_all(struct waitq *wq);
/* Is anyone queued? Without the lock (a full barrier first), for wakers on a hot
 * path: a waker that made its condition true and sees false may skip the wake,
 * because a waiter queues itself before it tests the condition. Any context. */
bool waitq_active(const struct waitq *wq);

/* Sleep until cond (an expression, evaluated again after every wake; it may have
 * side effects that only happen when it is true) holds. A waker makes cond true
 * and then calls waitq_wake_one or waitq_wake_all: the wake-up is never lost,
 * because the waiter is queued and marked blocked before it tests cond. */
#define waitq_wait_event(wq, cond)                                                 \
	do {                                                                          \
		struct waitq_entry wq_e_ = { 0 };                                         \
		for (;;) {                                                                \
			waitq_prepare((wq), &wq_e_);                                          \
			if (cond)                                                             \
				break;                                                            \
			sched_block();                                                        \
		}                                                                         \
		waitq_finish((wq), &wq_e_);                                               \
	} while (0)

/* ---- completions ------------------------------------------------------------------- */

struct completion {
	uint32_t done;              /* completions not yet consumed; COMPLETION_ALL: forever */
	struct waitq wq;
};
#define COMPLETION_ALL 0x80000000u

void completion_init(struct completion *c);
/* Let one waiter (present or future) through. Any context. */
void complete(struct completion *c);
/* Let every waiter through, now and from now on. Any context. */
void complete_all(struct completion *c);
void wait_for_completion(struct completion *c);
/* Like wait_for_completion, giving up after ns nanoseconds: true when completed,
 * false on timeout (never before ns has passed). The deadline is checked at least
 * every millisecond; a completion wakes the waiter at once. */
bool wait_for_completion_timeout_ns(struct completion *c, uint64_t ns);

/* ---- counting semaphores ---------------------------------------------------------- */

struct semaphore {
	uint32_t count;             /* atomic */
	struct waitq wq;
};
void sem_init(struct semaphore *s, uint32_t count);
void sem_down(struct semaphore *s);
/* Take one unit if there is one, without sleeping. */
bool sem_trydown(struct semaphore *s);
/* Any context. */
void sem_up(struct semaphore *s);
#endif
