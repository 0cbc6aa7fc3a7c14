/* thread.h — kernel threads (docs/sched.md): a HAL context with a name, a state,
 * a CPU affinity mask and a scheduling class, created, run by the per-CPU
 * scheduler (sched.h), ended with thread_exit and reaped by thread_join. */
#ifndef KERNEL_THREAD_H
#define KERNEL_THREAD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <hal/hal.h>
#include <kernel/cpumask.h>

enum thread_state {
	THREAD_RUNNING = 0,         /* on a CPU now */
	THREAD_RUNNABLE,            /* on a run queue (or being moved to one) */
	THREAD_BLOCKED,             /* prepared to wait or waiting: only sched_wake ends it */
	THREAD_EXITED,              /* thread_exit ran; thread_join reaps it */
};

enum sched_prio_class {
	SCHED_CLASS_FAIR = 0,       /* weighted by nice */
	SCHED_CLASS_RT,             /* real-time: rt_prio 1..99, above every fair thread */
};

enum sched_rt_policy {
	SCHED_RT_FIFO = 0,          /* runs until it blocks, yields or a higher RT prio comes */
	SCHED_RT_RR,                /* FIFO with a slice among equal priorities */
};

#define THREAD_NAME_MAX 24
#define THREAD_STACK_DEFAULT (16u * 1024u)
#define THREAD_NICE_MIN (-20)
#define THREAD_NICE_MAX 19
#define THREAD_RT_PRIO_MIN 1
#define THREAD_RT_PRIO_MAX 99

/* One number for "how urgent", bigger wins (thread_prio): a fair thread's is
 * 20 - nice (1..40), an RT thread's THREAD_PRIO_RT_BASE + rt_prio (101..199).
 * Priority inheritance raises a thread to a waiter's number (pi_prio); a number
 * at or above THREAD_PRIO_RT_BASE schedules it in the RT class. */
#define THREAD_PRIO_RT_BASE 100

struct thread_opts {
	struct cpumask affinity;    /* CPUs it may run on; all zero = every CPU */
	uint8_t prio_class;         /* enum sched_prio_class */
	int8_t nice;                /* THREAD_NICE_MIN..MAX (a weight for the fair class) */
	uint8_t rt_prio;            /* SCHED_CLASS_RT: THREAD_RT_PRIO_MIN..MAX; else 0 */
	uint8_t rt_policy;          /* SCHED_CLASS_RT: enum sched_rt_policy */
	size_t stack_bytes;         /* 0 = THREAD_STACK_DEFAULT */
};

struct sched_rq;

struct thread {
	char name[THREAD_NAME_MAX];
	struct hal_ctx *ctx;
	uint32_t state;             /* enum thread_state; atomic */
	uint32_t cpu;               /* the run queue that owns it (atomic; changes under that lock) */
	uint32_t on_cpu;            /* 1 while its context is in use on a CPU (atomic) */
	uint32_t idle;              /* 1: a CPU's idle thread (its boot flow) */
	struct cpumask affinity;    /* changed under the owning run queue's lock */
	uint8_t prio_class;
	int8_t nice;
	uint8_t rt_prio;
	uint8_t rt_policy;
	int32_t pi_prio;            /* priority inheritance: a waiter's thread_prio, 0 none (atomic) */
	void *blocked_on;           /* the mutex it sleeps on (priority inheritance walk), or NULL */
	void *pi_held;              /* mutex.c: the mutexes it owns (a list only it changes) */
	uint32_t pi_seq;            /* mutex.c: bumped before every pi_prio raise (atomic) */
	uint8_t migrate;            /* switched out because its CPU left the mask */
	uint8_t on_rq;              /* in its run queue's class queue */
	void (*entry)(void *arg);
	void *arg;
	int exit_code;
	uint64_t join_word;         /* 0, the joiner (struct thread *), or JOIN_DONE; atomic */
	/* run queue and class state, under the owning run queue's lock */
	struct thread *rq_next, *rq_prev;
	uint64_t slice_start_ns;
	uint8_t q_class;            /* the class queue it was last put in (sched_internal.h) */
	uint8_t q_level;            /* RT: the priority level it is queued at */
	uint8_t q_head;             /* RT: requeue at the head of its level (preempted) */
	uint8_t q_yield;            /* requeued by thread_yield: behind its equals */
	uint8_t vr_relative;        /* fair: vlag holds its place, not vruntime */
	uint64_t vruntime;          /* fair: weighted ns on CPU, comparable within one run queue */
	int64_t vlag;               /* fair: vruntime - min_vruntime when it left its queue */
	uint64_t exec_start_ns;     /* runtime accounted up to here */
	uint64_t runtime_ns;        /* ns on a CPU in total (atomic; thread_runtime_ns) */
	/* thread_sleep_ns: on a CPU's sleep list */
	struct thread *sleep_next;
	uint64_t sleep_deadline_ns;
	uint32_t on_sleep_list;     /* atomic; the list's lock guards the links */
	uint32_t sleep_cpu;         /* whose sleep list */
	uint64_t switches_in;       /* times a CPU switched to it */
	uint64_t id;
};

/* A new thread that runs entry(arg) with interrupts enabled; returning from entry
 * is thread_exit(0). opts may be NULL (every CPU, fair class, nice 0, default
 * stack). It is queued at once on an allowed online CPU. NULL when out of memory,
 * or when the affinity holds no online CPU or nice/class is out of range (logged).
 * Not in IRQ context. */
struct thread *thread_create(const char *name, void (*entry)(void *arg), void *arg,
			     const struct thread_opts *opts);
/* End the calling thread with code; never returns. Not the idle thread. */
void thread_exit(int code) __attribute__((noreturn));
/* Wait until t has exited, store its code (if code is not NULL), free it. Each
 * thread is joined exactly once, by another thread. 0; -EINVAL for NULL, the
 * caller itself, an idle thread or a second joiner (logged). */
int thread_join(struct thread *t, int *code);
/* The calling CPU's current thread (NULL before the scheduler started there). */
struct thread *thread_current(void);
const char *thread_name(const struct thread *t);
/* Change t's CPU mask; t moves off a CPU that left it (at its next switch when
 * running, at once when queued). 0; -EINVAL when the mask has no online CPU. */
int thread_set_affinity(struct thread *t, const struct cpumask *mask);
/* Give the CPU to the next thread queued on this one, if any; the caller stays
 * runnable. Any thread context (a no-op before the scheduler runs on this CPU). */
void thread_yield(void);
/* t's own priority number (see THREAD_PRIO_RT_BASE) and its effective one, the
 * larger of that and what priority inheritance lent it. */
int thread_base_prio(const struct thread *t);
int thread_prio(const struct thread *t);
/* Nanoseconds t has run on a CPU, up to its last tick or switch (at most one
 * tick behind while it runs). Any context. */
uint64_t thread_runtime_ns(const struct thread *t);
/* Sleep at least ns nanoseconds (woken by the tick of the CPU it went to sleep on). */
void thread_sleep_ns(uint64_t ns);
#endif
