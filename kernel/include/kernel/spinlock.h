/* spinlock.h — a test-and-test-and-set spinlock that disables interrupts while
 * held (so an interrupt handler on the same CPU cannot deadlock on it).
 * Lock order is documented at each lock's definition. */
#ifndef KERNEL_SPINLOCK_H
#define KERNEL_SPINLOCK_H
#include <stdbool.h>
#include <stdint.h>

struct spinlock {
	uint32_t locked;            /* 0 free, 1 held */
	uint32_t owner_cpu;         /* valid while locked; for assert_held */
	unsigned long irq_flags;    /* interrupt state saved by the holder */
	const char *name;
};

#define SPINLOCK_INIT(n) { 0, 0, 0, (n) }

void spin_lock(struct spinlock *l);
void spin_unlock(struct spinlock *l);
bool spin_is_held_by_me(const struct spinlock *l);
#define assert_held(l) ASSERT(spin_is_held_by_me(l))
#endif
