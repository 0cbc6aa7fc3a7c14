/* mutex.h — a sleeping mutex (docs/sched.md, "Blocking"): one owner thread,
 * waiters sleep in FIFO order and unlock hands the mutex to the longest waiter.
 * Taking it twice, or unlocking it from a thread that does not own it, panics
 * naming both threads. Not with a spinlock held, not in interrupt context, not in
 * an idle thread. No priority inheritance yet (mutex_owner_chain is its hook).
 * Not a lockdep class yet: lockdep tracks held locks per CPU, and a mutex is held
 * by a thread that may sleep and move. */
#ifndef KERNEL_MUTEX_H
#define KERNEL_MUTEX_H
#include <stdbool.h>
#include <stdint.h>
#include <kernel/spinlock.h>
#include <kernel/thread.h>
#include <kernel/wait.h>

struct mutex {
	struct spinlock lock;       /* guards owner and the waiters; before run queue locks */
	struct thread *owner;       /* atomic reads allowed without the lock */
	struct waitq_entry *head, *tail;
	const char *name;
	uint64_t blocks;            /* times a locker went to sleep on it (atomic) */
	uint64_t acquired;          /* atomic */
};

/* Every mutex is one spinlock class ("mutex") for its internal lock. */
void mutex_init(struct mutex *m, const char *name);
void mutex_lock(struct mutex *m);
bool mutex_trylock(struct mutex *m);
void mutex_unlock(struct mutex *m);
bool mutex_is_held_by_me(const struct mutex *m);
/* The owner of m, or NULL (a racy snapshot, for diagnostics and the priority
 * inheritance walk to come: a blocked owner's own awaited mutex is the next link). */
struct thread *mutex_owner(const struct mutex *m);
#endif
