/* spinlock.h — a test-and-test-and-set spinlock that disables interrupts while
 * held (so an interrupt handler on the same CPU cannot deadlock on it).
 * Lock order is checked by lockdep (kernel/lockdep.h, docs/locks.md): a static
 * lock (SPINLOCK_INIT) is its own class; a lock in a structure gets the class of
 * its spin_init call site. */
#ifndef KERNEL_SPINLOCK_H
#define KERNEL_SPINLOCK_H
#include <stdbool.h>
#include <stdint.h>
#include <kernel/lockdep.h>

struct spinlock {
	uint32_t locked;            /* 0 free, 1 held */
	uint32_t owner_cpu;         /* valid while locked; for lock_assert_held */
	unsigned long irq_flags;    /* interrupt state saved by the holder */
	const char *name;
	struct lockdep_map dep;
};

/* A static lock: `static struct spinlock l = SPINLOCK_INIT("name");` */
#define SPINLOCK_INIT(n) { .locked = 0, .owner_cpu = 0, .irq_flags = 0, .name = (n), .dep = LOCKDEP_MAP_INIT(n) }
/* A lock in a structure: every lock initialised at one spin_init site is one class. */
#define spin_init(l, n)                                                            \
	do {                                                                          \
		static const struct lockdep_key spin_key_ = { (n) };                      \
		spin_init_key((l), (n), &spin_key_);                                      \
	} while (0)
void spin_init_key(struct spinlock *l, const char *name, const struct lockdep_key *key);

/* spin_lock(l): take l (interrupts off until spin_unlock); the call site is
 * what lockdep reports. */
#define spin_lock(l) spin_lock_at((l), LOCKDEP_SITE)
void spin_lock_at(struct spinlock *l, const char *site);
void spin_unlock(struct spinlock *l);
bool spin_is_held_by_me(const struct spinlock *l);
#define assert_held(l) lock_assert_held(l)
#endif
