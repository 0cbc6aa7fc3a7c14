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

/* The class queues, in the order pick_next asks them (t->q_class). */
enum sched_q {
	SCHED_Q_NONE = 0,           /* never queued yet (a new thread) */
	SCHED_Q_RT,                 /* sched_rt.c: priority levels 1..99 */
	SCHED_Q_FAIR,               /* sched_fair.c: weighted by nice, by virtual runtime */
	SCHED_Q_COUNT,
};

#define SCHED_RT_LEVELS (THREAD_RT_PRIO_MAX + 1)

/* A scheduling class: its queue lives in the run queue; every hook is called with
 * that run queue's lock held and interrupts off. enqueue/dequeue/pick/steal keep
 * rq->nr_queued and the class's own count; on_rq is the core's. */
struct sched_class {
	const char *name;
	enum sched_q q;
	void (*enqueue)(struct sched_rq *rq, struct thread *t);
	void (*dequeue)(struct sched_rq *rq, struct thread *t);     /* t is queued */
	struct thread *(*pick)(struct sched_rq *rq);                /* dequeues; NULL: none */
	/* The running thread curr has run since curr->slice_start_ns: true when it
	 * should give way (the tick then asks for a reschedule). */
	bool (*tick)(struct sched_rq *rq, struct thread *curr, uint64_t now_ns);
	/* Work stealing: dequeue and return a queued thread whose affinity allows
	 * dst_cpu (never rq->curr, never one still on a CPU), or NULL. The thread's
	 * class state is made CPU-independent (the fair class: its virtual runtime
	 * becomes a lag against this CPU's min_vruntime, placed again on dst). */
	struct thread *(*steal)(struct sched_rq *rq, unsigned dst_cpu);
	/* curr (queued in this class when it was picked) ran delta_ns more. */
	void (*account)(struct sched_rq *rq, struct thread *curr, uint64_t delta_ns);
	/* t leaves this CPU's class state for good (blocks, exits, moves, changes
	 * class): keep nothing relative to rq. NULL: nothing to do. */
	void (*leave)(struct sched_rq *rq, struct thread *t);
};

extern const struct sched_class sched_rt_class;
extern const struct sched_class sched_fair_class;

/* A class queue: circular and doubly linked through rq_next/rq_prev; head or NULL. */
static inline void sched_list_insert_before(struct thread **head, struct thread *pos,
					    struct thread *t)
{
	if (!*head) {
		t->rq_next = t->rq_prev = t;
		*head = t;
		return;
	}
	if (!pos)
		pos = *head;            /* before the head = at the tail */
	t->rq_next = pos;
	t->rq_prev = pos->rq_prev;
	pos->rq_prev->rq_next = t;
	pos->rq_prev = t;
}

static inline void sched_list_remove(struct thread **head, struct thread *t)
{
	if (t->rq_next == t) {
		*head = 0;
	} else {
		t->rq_prev->rq_next = t->rq_next;
		t->rq_next->rq_prev = t->rq_prev;
		if (*head == t)
			*head = t->rq_next;
	}
	t->rq_next = t->rq_prev = 0;
}

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
	/* the fair class (sched_fair.c) */
	struct thread *fair_head;   /* sorted by vruntime, smallest first */
	uint64_t min_vruntime;      /* never decreases; new and woken threads start near it */
	uint32_t fair_nr;           /* atomic for lock-free peeks */
	/* the RT class (sched_rt.c) */
	uint64_t rt_bitmap[2];      /* bit L: level L has queued threads */
	struct thread *rt_head[SCHED_RT_LEVELS];
	uint32_t rt_nr;             /* atomic for lock-free peeks */
	uint32_t rt_throttled;      /* atomic: the RT class is skipped until the period renews */
	uint32_t rt_episode;        /* this throttling episode was logged */
	uint64_t rt_period_start_ns, rt_used_ns, rt_throttled_periods;
	struct thread *sleepers;    /* thread_sleep_ns, by deadline */
	uint64_t switches, preemptions, wakeups_remote, resched_ipis, affinity_checks;
} __attribute__((aligned(64)));

struct sched_rq *sched_rq_of(unsigned cpu);
/* The class t's thread_prio says (RT from THREAD_PRIO_RT_BASE on, else fair). */
const struct sched_class *sched_class_of(const struct thread *t);
/* The class whose queue t was last put in (t->q_class), or NULL. */
const struct sched_class *sched_class_by_q(unsigned q);
/* True when rq has a thread its classes would hand out now (throttled RT not). */
bool sched_rq_has_runnable(struct sched_rq *rq);
/* sched_rt.c: the RT words (sched.rt_share, sched.rt_period_ms), once at start. */
void sched_rt_config(void);
uint64_t sched_rt_period_ns(void);
unsigned sched_rt_share(void);
/* sched_rt.c, from the tick: renew the throttling period when it is over. True
 * when throttled RT threads may run again and the current thread is not RT. */
bool sched_rt_period_tick(struct sched_rq *rq, uint64_t now_ns);
/* sched_rt.c: the highest RT number (THREAD_PRIO_RT_BASE + level) queued and
 * allowed to run now (not throttled), or 0. */
int sched_rt_top_prio(struct sched_rq *rq);
/* sched_fair.c: the weight of a nice value (Linux's sched_prio_to_weight). */
uint32_t sched_fair_weight(int nice);
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
