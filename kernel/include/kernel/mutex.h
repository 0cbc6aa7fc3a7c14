/* mutex.h — a sleeping mutex with priority inheritance (docs/sched.md, "Mutexes
 * and priority inheritance"): one owner thread, waiters sleep and are served in
 * FIFO order (unlock hands the mutex to the longest waiter). A locker that sleeps
 * lends its thread_prio to the owner, and through the owner's own awaited mutex to
 * that one's owner, up to MAX_PI_CHAIN_DEPTH links; an owner's loan is what its
 * held mutexes' waiters are worth, recomputed when it unlocks. A lock that would
 * close a cycle of waiting threads is refused with -EDEADLK and one "mutex
 * deadlock:" log line naming every thread and mutex of the cycle.
 * Taking it twice, or unlocking it from a thread that does not own it, panics
 * naming both threads. Not with a spinlock held, not in interrupt context, not in
 * an idle thread. A mutex must outlive every thread that may lock it (the
 * inheritance walk follows pointers to mutexes other threads sleep on).
 * Not a lockdep class yet: lockdep tracks held locks per CPU, and a mutex is held
 * by a thread that may sleep and move. */
#ifndef KERNEL_MUTEX_H
#define KERNEL_MUTEX_H
#include <stdbool.h>
#include <stdint.h>
#include <kernel/spinlock.h>
#include <kernel/thread.h>
#include <kernel/wait.h>

/* Links the inheritance walk follows from a locker: owners boosted at most
 * (seed 004 P17-2). A longer chain is boosted this deep and logged once; a cycle
 * longer than this is not seen (the lockers sleep). */
#define MAX_PI_CHAIN_DEPTH 8

struct mutex {
	struct spinlock lock;       /* guards owner and the waiters; before run queue locks */
	struct thread *owner;       /* atomic reads allowed without the lock */
	struct waitq_entry *head, *tail;    /* FIFO */
	struct mutex *held_next;    /* the owner's list of held mutexes (only the owner) */
	const char *name;
	uint64_t blocks;            /* times a locker went to sleep on it (atomic) */
	uint64_t acquired;          /* atomic */
};

/* Every mutex is one spinlock class ("mutex") for its internal lock. */
void mutex_init(struct mutex *m, const char *name);
/* 0 once the caller owns m; -EDEADLK (logged, m not taken, nothing lent) when the
 * owner chain from m comes back to the caller within MAX_PI_CHAIN_DEPTH links. */
int mutex_lock(struct mutex *m);
bool mutex_trylock(struct mutex *m);
void mutex_unlock(struct mutex *m);
bool mutex_is_held_by_me(const struct mutex *m);
/* The owner of m, or NULL (a racy snapshot, for diagnostics). */
struct thread *mutex_owner(const struct mutex *m);
/* Deadlocks refused so far and the last report line (tests). */
uint32_t mutex_deadlock_count(void);
const char *mutex_deadlock_last_report(void);
/* Walks that met a chain longer than MAX_PI_CHAIN_DEPTH (tests). */
uint32_t mutex_pi_chain_truncated(void);
#endif
