/*
 * spinlock.c — test-and-test-and-set spinlock with interrupts disabled while held.
 * Acquire on lock, release on unlock (C11 memory orders via kernel/atomic.h).
 * lockdep (lockdep.c) sees every acquisition and release.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/lockdep.h>
#include <kernel/panic.h>
#include <kernel/preempt.h>
#include <kernel/spinlock.h>

uint32_t preempt_counts[HAL_MAX_CPUS];     /* kernel/preempt.h */

void spin_init_key(struct spinlock *l, const char *name, const struct lockdep_key *key)
{
	*l = (struct spinlock)SPINLOCK_INIT(name);
	lockdep_map_init(&l->dep, name, key);
}

void spin_lock_at(struct spinlock *l, const char *site)
{
	unsigned long flags = hal_irq_save();
	unsigned dep_flags = 0;
	lockdep_before_wait(&l->dep, site);
	preempt_counts[hal_cpu_index()]++;         /* no preemption while held */
	for (;;) {
		/* acquire: the holder's critical section happens-before ours */
		if (atomic_xchg32(&l->locked, 1, MO_ACQUIRE) == 0)
			break;
		dep_flags = LOCKDEP_CONTENDED;
		while (atomic_load32(&l->locked, MO_RELAXED))
			hal_cpu_relax();
	}
	l->owner_cpu = hal_cpu_index();
	l->irq_flags = flags;
	lockdep_acquire(&l->dep, site, dep_flags);
}

void spin_unlock(struct spinlock *l)
{
	unsigned long flags = l->irq_flags;
	if (!atomic_load32(&l->locked, MO_RELAXED))
		panic("spin_unlock of unheld lock %s", l->name ? l->name : "?");
	lockdep_release(&l->dep);
	/* release: our critical section happens-before the next holder's */
	atomic_store32(&l->locked, 0, MO_RELEASE);
	preempt_counts[hal_cpu_index()]--;         /* before interrupts can come back */
	hal_irq_restore(flags);
}

bool spin_is_held_by_me(const struct spinlock *l)
{
	return atomic_load32(&l->locked, MO_RELAXED) && l->owner_cpu == hal_cpu_index();
}
