/* sched.h — the scheduler core (docs/sched.md). */
#ifndef KERNEL_SCHED_H
#define KERNEL_SCHED_H
#include <hal/hal.h>

/* The HAL context the caller runs on (its thread's). Interrupts off or on. */
struct hal_ctx *sched_current_ctx(void);
#endif
