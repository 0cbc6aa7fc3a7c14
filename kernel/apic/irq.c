/*
 * irq.c — the kernel's interrupt entry (irq_dispatch, declared in hal/hal.h) and
 * per-CPU handler tables over the vector allocator (vector.c). Every vector but
 * the spurious one is acknowledged with an EOI after its handler (Intel SDM
 * Vol. 3A §11.8.5; §11.9: no EOI for the spurious vector). Vector map: docs/smp.md.
 */
#include <hal/hal.h>
#include <kernel/apic.h>
#include <kernel/atomic.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/irq.h>
#include <kernel/lockdep.h>
#include <kernel/log.h>
#include <kernel/percpu.h>

#define LOG_FIRST_N 4               /* log the first few odd events per CPU, then count */

static void bump(uint64_t *ctr)
{
	/* Only the owning CPU writes its counters; others read them atomically. */
	atomic_store64(ctr, atomic_load64(ctr, MO_RELAXED) + 1, MO_RELAXED);
}

int irq_cpu_prepare(unsigned cpu)
{
	if (cpu >= HAL_MAX_CPUS)
		return -EINVAL;
	struct percpu *c = percpu_of(cpu);
	if (c->handlers)
		return 0;
	struct irq_slot *t = kzalloc(sizeof(struct irq_slot) * VEC_NALLOC);
	if (!t) {
		klog("irq", "no memory for CPU %u's handler table", cpu);
		return -ENOMEM;
	}
	vec_space_init(&c->vecs);
	c->index = cpu;
	c->handlers = t;
	return 0;
}

struct vec_space *irq_vec_space(unsigned cpu)
{
	return cpu < HAL_MAX_CPUS && percpu_of(cpu)->handlers ? &percpu_of(cpu)->vecs : 0;
}

static void slot_set(struct percpu *c, uint8_t v, irq_handler_fn fn, void *arg)
{
	struct irq_slot *s = &c->handlers[v - VEC_FIRST];
	atomic_store64(&s->arg, (uint64_t)(uintptr_t)arg, MO_RELAXED);
	/* release: arg (and whatever fn will touch) is visible once fn is */
	atomic_store64(&s->fn, (uint64_t)(uintptr_t)fn, MO_RELEASE);
}

static int install(unsigned cpu, uint8_t first, unsigned count, irq_handler_fn fn, void *arg,
		   struct irq_vec *out)
{
	struct percpu *c = percpu_of(cpu);
	for (unsigned i = 0; i < count; i++)
		slot_set(c, (uint8_t)(first + i), fn, arg);
	out->cpu = (uint16_t)cpu;
	out->vector = first;
	out->count = (uint8_t)count;
	return 0;
}

int irq_alloc(unsigned cpu, unsigned count, irq_handler_fn fn, void *arg, struct irq_vec *out)
{
	struct vec_space *vs = irq_vec_space(cpu);
	if (!vs || !fn || !out)
		return -EINVAL;
	uint8_t first;
	int rc = vec_space_alloc(vs, count, &first);
	if (rc)
		return rc;
	return install(cpu, first, count, fn, arg, out);
}

int irq_reserve(unsigned cpu, uint8_t vector, irq_handler_fn fn, void *arg, struct irq_vec *out)
{
	struct vec_space *vs = irq_vec_space(cpu);
	if (!vs || !fn || !out)
		return -EINVAL;
	int rc = vec_space_reserve(vs, vector, 1);
	if (rc)
		return rc;
	return install(cpu, vector, 1, fn, arg, out);
}

int irq_free(struct irq_vec *h)
{
	if (!h || !h->vector)
		return -EINVAL;
	/* The block belongs to h->cpu, whoever calls (seed P19-2). */
	struct vec_space *vs = irq_vec_space(h->cpu);
	if (!vs)
		return -EINVAL;
	for (unsigned i = 0; i < h->count; i++) {
		if (!vec_space_is_taken(vs, (uint8_t)(h->vector + i))) {
			klog("irq", "free of vector 0x%x on CPU %u that is not allocated", h->vector + i, h->cpu);
			return -EINVAL;
		}
	}
	for (unsigned i = 0; i < h->count; i++)
		slot_set(percpu_of(h->cpu), (uint8_t)(h->vector + i), 0, 0);
	int rc = vec_space_free(vs, h->vector, h->count);
	if (rc == 0)
		*h = (struct irq_vec){ 0 };
	return rc;
}

int irq_set_affinity(struct irq_vec *h, unsigned cpu,
		     int (*reprogram)(const struct irq_vec *nh, void *ctx), void *ctx)
{
	if (!h || !h->vector || !irq_vec_space(h->cpu))
		return -EINVAL;
	if (cpu >= HAL_MAX_CPUS || !atomic_load32(&percpu_of(cpu)->irq_ready, MO_ACQUIRE) ||
	    !percpu_of(cpu)->handlers) {
		klog("irq", "affinity of vector 0x%x: CPU %u is not online", h->vector, cpu);
		return -EINVAL;
	}
	if (cpu == h->cpu)
		return 0;
	struct irq_slot *old = &percpu_of(h->cpu)->handlers[h->vector - VEC_FIRST];
	irq_handler_fn fn = (irq_handler_fn)(uintptr_t)atomic_load64(&old->fn, MO_ACQUIRE);
	void *arg = (void *)(uintptr_t)atomic_load64(&old->arg, MO_RELAXED);
	if (!fn)
		return -EINVAL;
	struct irq_vec nh;
	int rc = irq_alloc(cpu, h->count, fn, arg, &nh);
	if (rc)
		return rc;
	if (reprogram && (rc = reprogram(&nh, ctx)) != 0) {
		irq_free(&nh);
		return rc;
	}
	struct irq_vec oldh = *h;
	*h = nh;
	/* The source now targets nh; an old-vector message still in flight finds the
	 * handler until this point, then counts as unhandled (logged), never lost silently. */
	return irq_free(&oldh);
}

void irq_stats_get(unsigned cpu, struct irq_stats *o)
{
	struct percpu *c = percpu_of(cpu);
	o->total = atomic_load64(&c->irq_total, MO_RELAXED);
	o->spurious = atomic_load64(&c->irq_spurious, MO_RELAXED);
	o->error = atomic_load64(&c->irq_error, MO_RELAXED);
	o->unhandled = atomic_load64(&c->irq_unhandled, MO_RELAXED);
	o->eoi = atomic_load64(&c->irq_eoi, MO_RELAXED);
	o->last_esr = atomic_load32(&c->last_esr, MO_RELAXED);
}

/* Handlers of the system vectors VEC_TIMER..VEC_RUN, by vector - VEC_TIMER. */
static uint64_t system_handlers[VEC_RUN - VEC_TIMER + 1];

void irq_set_system_handler(uint8_t vector, irq_system_fn fn)
{
	if (vector < VEC_TIMER || vector > VEC_RUN || vector == VEC_RESCHED) {
		klog("irq", "vector 0x%x is not a system vector with a handler", vector);
		return;
	}
	/* release: whoever dispatches the vector sees the handler's setup */
	atomic_store64(&system_handlers[vector - VEC_TIMER], (uint64_t)(uintptr_t)fn, MO_RELEASE);
}

static uint64_t hooks;              /* const struct irq_hooks *, published with release */

void irq_set_hooks(const struct irq_hooks *h)
{
	atomic_store64(&hooks, (uint64_t)(uintptr_t)h, MO_RELEASE);
}

void irq_dispatch(uint8_t v, void *frame)
{
	(void)frame;
	unsigned cpu = hal_cpu_index();
	struct percpu *c = percpu_of(cpu);
	bump(&c->irq_total);
	if (v == VEC_SPURIOUS) {
		bump(&c->irq_spurious);
		return;                 /* SDM §11.9: the spurious vector gets no EOI */
	}
	lockdep_irq_enter();
	/* acquire: pairs with irq_set_hooks' release */
	const struct irq_hooks *hk = (const struct irq_hooks *)(uintptr_t)atomic_load64(&hooks, MO_ACQUIRE);
	if (hk)
		hk->enter();
	switch (v) {
	case VEC_TIMER:
	case VEC_CALL:
	case VEC_TLB:
	case VEC_RUN: {
		/* acquire: pairs with irq_set_system_handler's release */
		irq_system_fn fn = (irq_system_fn)(uintptr_t)atomic_load64(&system_handlers[v - VEC_TIMER],
		                                                            MO_ACQUIRE);
		if (fn) {
			fn();
		} else {
			bump(&c->irq_unhandled);
			if (atomic_load64(&c->irq_unhandled, MO_RELAXED) <= LOG_FIRST_N)
				klog("irq", "CPU %u: system vector 0x%x with no handler", cpu, v);
		}
		break;
	}
	case VEC_RESCHED:
		break;                  /* a wake-up: the exit hook below switches if due */
	case VEC_APIC_ERROR: {
		uint32_t esr = lapic_esr_read_clear();
		atomic_store32(&c->last_esr, esr, MO_RELAXED);
		/* keep the bits for lapic_esr_collect (AP bring-up reads them after SIPI) */
		atomic_store32(&c->esr_pending, atomic_load32(&c->esr_pending, MO_RELAXED) | esr, MO_RELAXED);
		bump(&c->irq_error);
		if (atomic_load64(&c->irq_error, MO_RELAXED) <= LOG_FIRST_N)
			klog("apic", "CPU %u: APIC error interrupt, ESR 0x%x", cpu, esr);
		break;
	}
	default: {
		irq_handler_fn fn = 0;
		void *arg = 0;
		if (v >= VEC_FIRST && v <= VEC_LAST && c->handlers) {
			struct irq_slot *s = &c->handlers[v - VEC_FIRST];
			/* acquire: pairs with slot_set's release of fn */
			fn = (irq_handler_fn)(uintptr_t)atomic_load64(&s->fn, MO_ACQUIRE);
			arg = (void *)(uintptr_t)atomic_load64(&s->arg, MO_RELAXED);
		}
		if (fn) {
			fn(v, arg);
		} else {
			bump(&c->irq_unhandled);
			if (atomic_load64(&c->irq_unhandled, MO_RELAXED) <= LOG_FIRST_N)
				klog("irq", "CPU %u: interrupt on vector 0x%x with no handler", cpu, v);
		}
		break;
	}
	}
	lockdep_irq_exit();
	if (apic_mode() != APIC_MODE_NONE)
		lapic_eoi();
	/* After the EOI: a context switch there leaves no vector in service. */
	if (hk)
		hk->exit();
}
