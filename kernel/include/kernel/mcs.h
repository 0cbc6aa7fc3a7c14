/* mcs.h — MCS queue spinlocks (Mellor-Crummey and Scott, ACM TOCS 1991): each
 * waiter spins on its own per-CPU queue node and the holder hands the lock to the
 * next in line, so waiters are served first come, first served and a contended
 * lock costs one cache line per waiter instead of a broadcast. Interrupts are off
 * while held, as with struct spinlock; lockdep sees every acquisition. A CPU has
 * MCS_NODES_PER_CPU nodes: at most that many MCS locks held at once (Linux's
 * qspinlock keeps 4 per CPU, one per context level). docs/locks.md. */
#ifndef KERNEL_MCS_H
#define KERNEL_MCS_H
#include <stdbool.h>
#include <stdint.h>
#include <kernel/lockdep.h>

#define MCS_NODES_PER_CPU 4

struct mcs_lock {
	uint32_t tail;              /* last queued node: cpu * MCS_NODES_PER_CPU + idx + 1; 0 free */
	uint32_t owner_cpu;         /* the holder's CPU (atomic), ~0 when free */
	uint32_t node;              /* the holder's node (tail encoding), for unlock */
	uint32_t rsvd0;
	unsigned long irq_flags;    /* interrupt state saved by the holder */
	const char *name;
	struct lockdep_map dep;
};

#define MCS_LOCK_INIT(n) { .tail = 0, .owner_cpu = ~0u, .node = 0, .rsvd0 = 0, .irq_flags = 0, \
                           .name = (n), .dep = LOCKDEP_MAP_INIT(n) }
/* A lock in a structure: every lock initialised at one mcs_init site is one class. */
#define mcs_init(l, n)                                                             \
	do {                                                                          \
		static const struct lockdep_key mcs_key_ = { (n) };                       \
		mcs_init_key((l), (n), &mcs_key_);                                        \
	} while (0)
void mcs_init_key(struct mcs_lock *l, const char *name, const struct lockdep_key *key);

/* Take l, queueing behind earlier waiters (interrupts off until mcs_unlock).
 * More than MCS_NODES_PER_CPU MCS locks held at once on one CPU is a kernel bug
 * (panics, naming the locks' count). */
#define mcs_lock(l) mcs_lock_at((l), LOCKDEP_SITE)
void mcs_lock_at(struct mcs_lock *l, const char *site);
/* Release l, handing it to the next waiter if there is one. */
void mcs_unlock(struct mcs_lock *l);
bool mcs_is_held_by_me(const struct mcs_lock *l);
/* The CPU of the last queued node (the holder or the last waiter), or
 * HAL_MAX_CPUS when the lock is free (tests watch the queue grow). */
unsigned mcs_tail_cpu(const struct mcs_lock *l);
#endif
