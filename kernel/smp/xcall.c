/*
 * xcall.c — cross-CPU calls on inter-processor interrupts (kernel/apic/ipi.c).
 * A caller publishes one request per channel in its own per-CPU slot (fn, arg),
 * then sets its bit in each target's inbox with release; a target takes inbox bits
 * with acquire, runs the request and sets its bit in the request's done mask with
 * release. A request is never reused before every target has answered or its inbox
 * bit was taken back, so no target can read a half-written or recycled request.
 * Each channel's IPI vector is handed to the interrupt layer by xcall_init.
 * Protocol: docs/smp.md.
 */
#include <hal/hal.h>
#include <kernel/apic.h>
#include <kernel/atomic.h>
#include <kernel/errno.h>
#include <kernel/irq.h>
#include <kernel/log.h>
#include <kernel/percpu.h>
#include <kernel/smp.h>
#include <kernel/time.h>

static const uint8_t chan_vector[XCALL_NCHAN] = { VEC_CALL, VEC_TLB, VEC_RUN };

/* Run every request waiting in our inbox on channel ch. */
void xcall_handle(enum xcall_chan ch)
{
	unsigned self = hal_cpu_index();
	struct percpu *me = percpu_of(self);
	for (unsigned w = 0; w < CPUMASK_WORDS; w++) {
		/* acquire: pairs with the caller's release when it set our bit, so its
		 * fn/arg stores are visible */
		uint64_t bits = cpumask_take_word(&me->xcall_inbox[ch], w, MO_ACQUIRE);
		while (bits) {
			unsigned src = w * 64 + (unsigned)__builtin_ctzll(bits);
			bits &= bits - 1;
			struct xcall_req *r = &percpu_of(src)->xcall_out[ch];
			void (*fn)(uint64_t) = (void (*)(uint64_t))(uintptr_t)atomic_load64(&r->fn, MO_RELAXED);
			uint64_t arg = atomic_load64(&r->arg, MO_RELAXED);
			if (fn)
				fn(arg);
			/* release: fn's effects happen-before the caller sees us done */
			cpumask_set_atomic(&r->done, self, MO_RELEASE);
		}
	}
}

void xcall_poll(void)
{
	unsigned long flags = hal_irq_save();
	for (unsigned ch = 0; ch < XCALL_NCHAN; ch++)
		xcall_handle((enum xcall_chan)ch);
	hal_irq_restore(flags);
}

static bool all_done(const struct xcall_req *r, const struct cpumask *want)
{
	for (unsigned i = 0; i < CPUMASK_WORDS; i++) {
		uint64_t d = atomic_load64(&r->done.w[i], MO_ACQUIRE);
		if ((d & want->w[i]) != want->w[i])
			return false;
	}
	return true;
}

static void send_requests(enum xcall_chan ch, const struct cpumask *to, unsigned self)
{
	struct cpumask others, online;
	smp_online_mask(&online);
	cpumask_unset(&online, self);
	uint8_t vec = chan_vector[ch];
	/* The shorthand reaches every APIC, parked ones too: only when none failed. */
	if (cpumask_weight(to) > 1 && cpumask_equal(to, &online) && smp_failed_count() == 0) {
		if (ipi_send_allbutself(vec) == 0)
			return;
	}
	others = *to;
	for_each_cpu(t, &others)
		ipi_send(t, vec);
}

int xcall_run(enum xcall_chan ch, const struct cpumask *targets, void (*fn)(uint64_t), uint64_t arg,
	      uint64_t timeout_us, unsigned *failed_cpu)
{
	unsigned self = hal_cpu_index();
	struct percpu *me = percpu_of(self);
	if (ch >= XCALL_NCHAN || !fn)
		return -EINVAL;
	if (atomic_xchg32(&me->xcall_busy[ch], 1, MO_ACQUIRE))
		return -EBUSY;
	struct cpumask online, to;
	smp_online_mask(&online);
	cpumask_and(&to, targets, &online);
	bool run_here = cpumask_test(&to, self);
	cpumask_unset(&to, self);

	struct xcall_req *r = &me->xcall_out[ch];
	atomic_store64(&r->fn, (uint64_t)(uintptr_t)fn, MO_RELAXED);
	atomic_store64(&r->arg, arg, MO_RELAXED);
	for (unsigned i = 0; i < CPUMASK_WORDS; i++)
		atomic_store64(&r->done.w[i], 0, MO_RELAXED);
	/* release: fn, arg and the cleared done mask before the target sees our bit */
	for_each_cpu(t, &to)
		cpumask_set_atomic(&percpu_of(t)->xcall_inbox[ch], self, MO_RELEASE);
	if (!cpumask_empty(&to))
		send_requests(ch, &to, self);
	if (run_here) {
		unsigned long flags = hal_irq_save();
		fn(arg);
		hal_irq_restore(flags);
	}

	uint64_t t0 = hal_rdtsc();
	uint64_t limit = timeout_us * (time_tsc_khz() ? time_tsc_khz() : 1000000) / 1000;
	while (!all_done(r, &to) && hal_rdtsc() - t0 < limit) {
		xcall_poll();
		hal_cpu_relax();
	}
	int rc = 0;
	if (!all_done(r, &to)) {
		unsigned first = HAL_MAX_CPUS;
		for_each_cpu(t, &to) {
			if (cpumask_test_atomic(&r->done, t, MO_ACQUIRE))
				continue;
			/* Take our request back; if the target already took it, it is
			 * running it and will finish: wait for that instead. */
			if (cpumask_clear_atomic(&percpu_of(t)->xcall_inbox[ch], self, MO_ACQUIRE)) {
				if (first == HAL_MAX_CPUS)
					first = t;
				klog("smp", "cross-CPU call from CPU %u: CPU %u (APIC ID 0x%x) never answered "
				     "within %llu us", self, t, percpu_of(t)->apic_id,
				     (unsigned long long)timeout_us);
			} else {
				while (!cpumask_test_atomic(&r->done, t, MO_ACQUIRE)) {
					xcall_poll();
					hal_cpu_relax();
				}
			}
		}
		if (first != HAL_MAX_CPUS) {
			rc = -ETIMEDOUT;
			if (failed_cpu)
				*failed_cpu = first;
		}
	}
	atomic_store32(&me->xcall_busy[ch], 0, MO_RELEASE);
	return rc;
}

int smp_call(const struct cpumask *targets, void (*fn)(uint64_t), uint64_t arg, uint64_t timeout_us,
	     unsigned *failed_cpu)
{
	return xcall_run(XCALL_CALL, targets, fn, arg, timeout_us, failed_cpu);
}

int smp_run_parallel(const struct cpumask *targets, void (*fn)(uint64_t), uint64_t arg, uint64_t timeout_us,
		     unsigned *failed_cpu)
{
	return xcall_run(XCALL_RUN, targets, fn, arg, timeout_us, failed_cpu);
}

static void xcall_vec_call(void) { xcall_handle(XCALL_CALL); }
static void xcall_vec_tlb(void) { xcall_handle(XCALL_TLB); }
static void xcall_vec_run(void) { xcall_handle(XCALL_RUN); }

void xcall_init(void)
{
	irq_set_system_handler(VEC_CALL, xcall_vec_call);
	irq_set_system_handler(VEC_TLB, xcall_vec_tlb);
	irq_set_system_handler(VEC_RUN, xcall_vec_run);
}
