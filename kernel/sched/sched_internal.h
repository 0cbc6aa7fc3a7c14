/* sched_internal.h — what the files of kernel/sched/ share: the per-CPU run
 * queue and the scheduling-class hooks. Nothing outside kernel/sched/ includes it. */
#ifndef KERNEL_SCHED_INTERNAL_H
#define KERNEL_SCHED_INTERNAL_H
#include <stdbool.h>
#include <stdint.h>
#include <kernel/sched.h>
#include <kernel/spinlock.h>
#include <kernel/thread.h>

#define JOIN_DONE 1ull              /* thread.join_word once the thread is gone */

/* A scheduling class: its queue lives in the run queue; every hook is called with
 * that run queue's lock held and interrupts off. */
struct sched_class {
	const char *name;
	void (*enqueue)(struct sched_rq *rq, struct thread *t);
	void (*dequeue)(struct sched_rq *rq, struct thread *t);     /* t is queued */
	struct thread *(*pick)(struct sched_rq *rq);                /* dequeues; NULL: none */
	/* The running thread curr has run since curr->slice_start_ns: true when it
	 * should give way (the tick then asks for a reschedule). */
	bool (*tick)(struct sched_rq *rq, struct thread *curr, uint64_t now_ns);
	/* Work stealing: dequeue and return a queued thread whose affinity allows
	 * dst_cpu (never rq->curr, never one still on a CPU), or NULL. */
	struct thread *(*steal)(struct sched_rq *rq, unsigned dst_cpu);
};

extern const struct sched_class sched_rr_class;

struct sched_rq {
	struct spinlock lock;       /* protects everything below but the atomics */
	unsigned cpu;
	uint32_t ready;             /* 1 once sched_cpu_start ran (atomic, release) */
	uint32_t need_resched;      /* atomic: switch on the way out of the interrupt */
	uint32_t irq_depth;         /* interrupts being handled on this CPU */
	uint32_t nr_queued;         /* atomic for lock-free peeks */
	uint32_t busy;              /* atomic: 1 while a thread other than idle runs */
	struct thread *curr;
	struct thread *idle;
	struct thread *last;        /* switched away from; its successor finishes the switch */
	struct thread *rr_head, *rr_tail;   /* the round-robin class's queue */
	struct thread *sleepers;    /* thread_sleep_ns, by deadline */
	uint64_t switches, preemptions, wakeups_remote, resched_ipis, affinity_checks;
} __attribute__((aligned(64)));

struct sched_rq *sched_rq_of(unsigned cpu);
const struct sched_class *sched_class_of(const struct thread *t);
/* The CPU a waking or new thread goes to: prefer, if allowed and open, else the
 * allowed open CPU with the fewest queued threads. HAL_MAX_CPUS when none. */
unsigned sched_select_cpu(const struct thread *t, unsigned prefer);
/* Queue a RUNNABLE t on cpu's run queue (t->cpu already cpu) and wake that CPU if
 * it idles. Takes and releases the lock. */
void sched_enqueue_on(unsigned cpu, struct thread *t);
/* thread.c: the first code of a new thread's context. */
void thread_trampoline(void *arg);
/* sched.c: tell t's joiner (if any) that t is gone for good. */
void sched_announce_exit(struct thread *dead);
uint64_t sched_now_ns(void);
/* sched.c: the calling thread exits (thread_exit's second half). */
void sched_exit_current(int code) __attribute__((noreturn));
/* sched.c: thread_set_affinity's run-queue half (mask already checked). */
int sched_set_affinity(struct thread *t, const struct cpumask *mask);
/* t's thread_prio changed (priority inheritance lent or took back a number):
 * move it to the class and place its new number says, and ask its CPU to
 * reschedule if it now outranks, or is outranked by, that CPU's current thread.
 * Any thread context; takes t's run queue lock. */
void sched_prio_changed(struct thread *t);
/* sleep.c: wake cpu's sleepers whose deadline is <= now (the tick). */
void sched_sleep_tick(unsigned cpu, uint64_t now_ns);
/* Set up a CPU's sleep list (sched_cpu_start, before its run queue opens). */
void sched_sleep_cpu_init(unsigned cpu);
#endif
