/* preempt.h — the per-CPU preempt count (docs/sched.md): spin_lock raises it and
 * spin_unlock lowers it, and the scheduler preempts on the way out of an
 * interrupt only where it is 0. Counted per CPU: a thread holding a spinlock is
 * never switched away, so the count never travels with a thread. */
#ifndef KERNEL_PREEMPT_H
#define KERNEL_PREEMPT_H
#include <stdint.h>
#include <hal/hal.h>

extern uint32_t preempt_counts[HAL_MAX_CPUS];

/* The calling CPU's count; call with interrupts off for a stable answer. */
static inline uint32_t preempt_count(void)
{
	return preempt_counts[hal_cpu_index()];
}
#endif
