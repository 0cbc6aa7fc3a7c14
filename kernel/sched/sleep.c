/*
 * sleep.c — thread_sleep_ns: a sleep list per CPU, ordered by deadline, that the
 * CPU's tick walks (sched_tick). The tick wakes with the list's lock held, and a
 * sleeper takes itself off the list under the same lock before it returns, so a
 * woken thread is never touched after it could have exited. Lock order: a sleep
 * list's lock before any run queue's lock.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/sched.h>
#include <kernel/spinlock.h>
#include <kernel/thread.h>
#include "sched_internal.h"

struct sleep_list {
	struct spinlock lock;           /* before run queue locks */
	struct thread *head;            /* by sleep_deadline_ns, earliest first */
} __attribute__((aligned(64)));

static struct sleep_list lists[HAL_MAX_CPUS];

/* One lock class for every CPU's sleep list (lockdep keys a lock without an init
 * site by its address: 256 CPUs would fill its class table). */
void sched_sleep_cpu_init(unsigned cpu)
{
	spin_init(&lists[cpu].lock, "sched.sleep");
}

static void list_insert(struct thread *t)
{
	unsigned long f = hal_irq_save();
	unsigned cpu = hal_cpu_index();
	struct sleep_list *l = &lists[cpu];
	spin_lock(&l->lock);
	struct thread **pp = &l->head;
	while (*pp && (*pp)->sleep_deadline_ns <= t->sleep_deadline_ns)
		pp = &(*pp)->sleep_next;
	t->sleep_next = *pp;
	*pp = t;
	t->sleep_cpu = cpu;
	atomic_store32(&t->on_sleep_list, 1, MO_RELAXED);
	spin_unlock(&l->lock);
	hal_irq_restore(f);
}

static void list_remove(struct thread *t)
{
	struct sleep_list *l = &lists[t->sleep_cpu];
	spin_lock(&l->lock);
	if (atomic_load32(&t->on_sleep_list, MO_RELAXED)) {
		struct thread **pp = &l->head;
		while (*pp && *pp != t)
			pp = &(*pp)->sleep_next;
		if (*pp)
			*pp = t->sleep_next;
		atomic_store32(&t->on_sleep_list, 0, MO_RELAXED);
	}
	spin_unlock(&l->lock);
}

void thread_sleep_ns(uint64_t ns)
{
	uint64_t deadline = sched_now_ns() + ns;
	struct thread *me = thread_current();
	if (!me || me->idle) {
		while (sched_now_ns() < deadline)
			hal_cpu_relax();            /* a boot flow or idle thread cannot sleep */
		return;
	}
	me->sleep_deadline_ns = deadline;
	for (;;) {
		if (!atomic_load32(&me->on_sleep_list, MO_ACQUIRE))
			list_insert(me);            /* first time, or woken early by a skewed clock */
		sched_prepare_wait();
		if (sched_now_ns() >= deadline)
			break;
		sched_block();
	}
	sched_finish_wait();
	list_remove(me);
}

void sched_block_timeout_ns(uint64_t ns)
{
	struct thread *me = thread_current();
	if (!me || me->idle) {
		sched_block();                  /* relaxes: the caller's loop polls */
		return;
	}
	/* The caller is prepared (BLOCKED) and has tested its condition: the sleep
	 * list entry only bounds the block; any sched_wake ends it earlier. */
	me->sleep_deadline_ns = sched_now_ns() + ns;
	list_insert(me);
	sched_block();
	list_remove(me);
}

void sched_sleep_tick(unsigned cpu, uint64_t now_ns)
{
	struct sleep_list *l = &lists[cpu];
	spin_lock(&l->lock);
	while (l->head && l->head->sleep_deadline_ns <= now_ns) {
		struct thread *t = l->head;
		l->head = t->sleep_next;
		atomic_store32(&t->on_sleep_list, 0, MO_RELEASE);
		sched_wake(t);                  /* under the list lock: t cannot be gone */
	}
	spin_unlock(&l->lock);
}
