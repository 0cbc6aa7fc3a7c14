/*
 * thread.c — kernel threads (docs/sched.md): create (a HAL context whose first
 * code finishes the switch that started it), exit, join and reap, names,
 * affinity. The join handshake is one atomic word (0, the joiner, or JOIN_DONE)
 * so the exiting side never touches the thread after the joiner may free it.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/log.h>
#include <kernel/panic.h>
#include <kernel/sched.h>
#include <kernel/string.h>
#include <kernel/thread.h>
#include "sched_internal.h"

static uint64_t next_id = HAL_MAX_CPUS;     /* ids below are the idle threads */

static bool mask_has_open_cpu(const struct cpumask *m)
{
	struct thread probe;
	probe.affinity = *m;
	return sched_select_cpu(&probe, HAL_MAX_CPUS) != HAL_MAX_CPUS;
}

struct thread *thread_create(const char *name, void (*entry)(void *arg), void *arg,
			     const struct thread_opts *opts)
{
	struct thread_opts o = { 0 };
	if (opts)
		o = *opts;
	if (!name)
		name = "thread";
	if (!entry) {
		klog("sched", "thread_create(%s): no entry function", name);
		return 0;
	}
	if (o.nice < THREAD_NICE_MIN || o.nice > THREAD_NICE_MAX) {
		klog("sched", "thread_create(%s): nice %d out of range %d..%d", name, o.nice,
		     THREAD_NICE_MIN, THREAD_NICE_MAX);
		return 0;
	}
	if (o.prio_class == SCHED_CLASS_RT) {
		if (o.rt_prio < THREAD_RT_PRIO_MIN || o.rt_prio > THREAD_RT_PRIO_MAX ||
		    o.rt_policy > SCHED_RT_RR) {
			klog("sched", "thread_create(%s): RT priority %u (allowed %d..%d) or policy %u "
			     "(0 FIFO, 1 RR) out of range", name, o.rt_prio, THREAD_RT_PRIO_MIN,
			     THREAD_RT_PRIO_MAX, o.rt_policy);
			return 0;
		}
	} else if (o.prio_class != SCHED_CLASS_FAIR) {
		klog("sched", "thread_create(%s): scheduling class %u unknown (0 fair, 1 RT)", name,
		     o.prio_class);
		return 0;
	} else if (o.rt_prio) {
		klog("sched", "thread_create(%s): rt_prio %u given to a fair thread", name, o.rt_prio);
		return 0;
	}
	if (cpumask_empty(&o.affinity))
		for (unsigned c = 0; c < HAL_MAX_CPUS; c++)
			cpumask_set(&o.affinity, c);
	if (!mask_has_open_cpu(&o.affinity)) {
		klog("sched", "thread_create(%s): its affinity holds no CPU that runs threads", name);
		return 0;
	}
	struct thread *t = kzalloc(sizeof(*t));
	if (!t)
		return 0;
	kstrlcpy(t->name, name, sizeof t->name);
	t->entry = entry;
	t->arg = arg;
	t->affinity = o.affinity;
	t->prio_class = o.prio_class;
	t->nice = o.nice;
	t->rt_prio = o.rt_prio;
	t->rt_policy = o.rt_policy;
	t->vr_relative = 1;             /* lag 0: it starts at its CPU's min_vruntime */
	t->id = atomic_fetch_add64(&next_id, 1, MO_RELAXED);
	t->ctx = hal_ctx_create(t->name, o.stack_bytes ? o.stack_bytes : THREAD_STACK_DEFAULT,
				thread_trampoline, t);
	if (!t->ctx) {
		kfree(t);
		return 0;
	}
	t->state = THREAD_RUNNABLE;
	unsigned cpu = sched_select_cpu(t, HAL_MAX_CPUS);
	if (cpu == HAL_MAX_CPUS)
		panic("sched: thread %s lost its last open CPU", t->name);
	t->cpu = cpu;
	sched_enqueue_on(cpu, t);
	return t;
}

void thread_exit(int code)
{
	sched_exit_current(code);
}

int thread_join(struct thread *t, int *code)
{
	struct thread *me = thread_current();
	if (!t || t == me || t->idle) {
		klog("sched", "thread_join of %s: not a thread another thread can join",
		     !t ? "NULL" : t == me ? "the caller itself" : "an idle thread");
		return -EINVAL;
	}
	uint64_t expect = 0;
	bool can_sleep = me && !me->idle;
	if (!atomic_cas64(&t->join_word, &expect, can_sleep ? (uint64_t)(uintptr_t)me : 0,
			  MO_ACQ_REL, MO_ACQUIRE) && expect != JOIN_DONE) {
		klog("sched", "thread_join of %s: joined twice", t->name);
		return -EINVAL;
	}
	for (;;) {
		sched_prepare_wait();
		if (atomic_load64(&t->join_word, MO_ACQUIRE) == JOIN_DONE)
			break;
		if (can_sleep)
			sched_block();
		else
			hal_cpu_relax();    /* a boot flow or idle thread polls */
	}
	sched_finish_wait();
	/* acquire: its context was given up (on_cpu 0) before JOIN_DONE was set */
	while (atomic_load32(&t->on_cpu, MO_ACQUIRE))
		hal_cpu_relax();
	if (code)
		*code = t->exit_code;
	hal_ctx_destroy(t->ctx);
	kfree(t);
	return 0;
}

const char *thread_name(const struct thread *t)
{
	return t ? t->name : "?";
}

int thread_set_affinity(struct thread *t, const struct cpumask *mask)
{
	if (!t || !mask || t->idle || !mask_has_open_cpu(mask)) {
		klog("sched", "thread_set_affinity of %s: %s", t ? t->name : "NULL",
		     !t || t->idle ? "not a thread that can move" : "the mask holds no CPU that runs threads");
		return -EINVAL;
	}
	return sched_set_affinity(t, mask);
}

int thread_base_prio(const struct thread *t)
{
	if (t->prio_class == SCHED_CLASS_RT)
		return THREAD_PRIO_RT_BASE + t->rt_prio;
	return 20 - t->nice;
}

int thread_prio(const struct thread *t)
{
	int base = thread_base_prio(t);
	int pi = (int)atomic_load32((uint32_t *)&t->pi_prio, MO_RELAXED);
	return pi > base ? pi : base;
}

uint64_t thread_runtime_ns(const struct thread *t)
{
	return t ? atomic_load64(&t->runtime_ns, MO_RELAXED) : 0;
}
