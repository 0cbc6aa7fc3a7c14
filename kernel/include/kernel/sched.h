/* sched.h — the scheduler core (docs/sched.md): per-CPU run queues under a
 * per-CPU lock, an idle thread per CPU (its boot flow), yield, preemption from the
 * tick on the way out of an interrupt, wake-ups with a reschedule IPI, and the
 * block primitive (yield is thread_yield in thread.h: a kernel `sched_yield`
 * would shadow the C library's in doppel-sim, where both share one namespace) the wait queues, mutexes and sleeps are built on. */
#ifndef KERNEL_SCHED_H
#define KERNEL_SCHED_H
#include <stdbool.h>
#include <stdint.h>
#include <hal/hal.h>
#include <kernel/thread.h>

#define SCHED_PREEMPT_US_DEFAULT 4000
#define SCHED_RT_SHARE_DEFAULT 95          /* sched.rt_share: percent of each period */
#define SCHED_RT_PERIOD_MS_DEFAULT 1000    /* sched.rt_period_ms */

/* ---- bring-up ------------------------------------------------------------------- */

/* Make the calling CPU's boot flow its idle thread and open its run queue; from
 * here on threads may be placed on this CPU. Once per CPU, from its boot flow. */
void sched_cpu_start(void);
/* True once cpu's run queue is open (sched_cpu_start ran there). */
bool sched_cpu_ready(unsigned cpu);
/* True when something other than the idle thread is queued on this CPU. The idle
 * loop calls it with interrupts off, then halts when it is false. */
bool sched_idle_has_work(void);
/* The HAL context the caller runs on (its thread's; the boot context before the
 * scheduler started on this CPU). */
struct hal_ctx *sched_current_ctx(void);

/* ---- switching ------------------------------------------------------------------ */

/*
 * Blocking without lost wake-ups. The waiter:
 *     for (;;) {
 *         sched_prepare_wait();          // state BLOCKED, then a full barrier
 *         if (condition) break;
 *         sched_block();                 // sleeps unless woken since prepare
 *     }
 *     sched_finish_wait();               // state RUNNING
 * The waker makes the condition true, then calls sched_wake(t) (a full barrier
 * first). sched_block may return without a wake (the thread was preempted while
 * preparing): callers always loop. Not with a spinlock held, not in IRQ context,
 * not in an idle thread.
 */
void sched_prepare_wait(void);
void sched_block(void);
void sched_finish_wait(void);
/* sched_block that also ends when ns nanoseconds have passed (the CPU's tick
 * wakes it): for waiters that must look at something now and then (deadlines).
 * The same rules as sched_block; callers loop. */
void sched_block_timeout_ns(uint64_t ns);
/* Make a BLOCKED t runnable on a CPU its mask allows (its last one if it can) and
 * send that CPU a reschedule IPI when it idles. True if t was blocked. Any
 * context, interrupts on or off (also from interrupt handlers). */
bool sched_wake(struct thread *t);

/* ---- tick and interrupts ---------------------------------------------------------- */

/* The tick (kernel/time/timer.c): wakes due sleepers, asks for a reschedule when
 * the running thread has had sched.preempt_us with others waiting. IRQ context. */
void sched_tick(void);
/* irq_dispatch's head and tail: the tail switches when a reschedule is due and
 * the interrupted code holds no spinlock (preempt count 0) and is not itself an
 * interrupt. Interrupts off. */
void sched_irq_enter(void);
void sched_irq_exit(void);

/* ---- statistics (tests, benchmarks) ---------------------------------------------- */

struct sched_cpu_stats {
	uint64_t switches, preemptions, wakeups_remote, resched_ipis, affinity_checks;
	uint64_t rt_throttled_periods;      /* periods whose RT budget ran out */
	uint32_t queued;
};
void sched_cpu_stats(unsigned cpu, struct sched_cpu_stats *out);
uint64_t sched_preempt_ns(void);
#endif
