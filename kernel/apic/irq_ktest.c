/*
 * irq_ktest.c — the `irq` ktest suite: the dispatcher's path for a vector nobody
 * registered. Such an interrupt is counted as unhandled and still gets its EOI
 * (SDM §10.8.5): an in-service bit left behind would hold back every later
 * interrupt of its priority class and below on that CPU. The sim's LAPIC model
 * also reports in-service bits at exit (docs/mutants.md).
 */
#include <hal/hal.h>
#include <kernel/apic.h>
#include <kernel/atomic.h>
#include <kernel/irq.h>
#include <kernel/ktest.h>
#include <kernel/time.h>

#define WAIT_NS 1000000000ull       /* a self-IPI that should arrive: 1 s at most */

static uint64_t handled;

static void count_handler(uint8_t v, void *arg)
{
	(void)v;
	(void)arg;
	atomic_fetch_add64(&handled, 1, MO_RELEASE);
}

static bool wait_unhandled(unsigned cpu, uint64_t want)
{
	uint64_t t0 = time_now_ns();
	struct irq_stats s;
	for (;;) {
		irq_stats_get(cpu, &s);
		if (s.unhandled >= want)
			return true;
		if (time_now_ns() - t0 > WAIT_NS)
			return false;
		hal_cpu_relax();
	}
}

static bool wait_handled(uint64_t want)
{
	uint64_t t0 = time_now_ns();
	while (atomic_load64(&handled, MO_ACQUIRE) < want) {
		if (time_now_ns() - t0 > WAIT_NS)
			return false;
		hal_cpu_relax();
	}
	return true;
}

/* A self-IPI on a free vector: counted unhandled; then the same vector with a
 * handler must still arrive (it would not with the first one left in service). */
static void irq_unhandled_vector_gets_eoi(struct ktest *t)
{
	if (apic_mode() == APIC_MODE_NONE) {
		ktest_skip(t, "no local APIC");
		return;
	}
	unsigned cpu = hal_cpu_index();
	struct vec_space *vs = irq_vec_space(cpu);
	KTEST_ASSERT(t, vs != 0);
	int v = -1;
	for (int x = VEC_LAST; x >= VEC_FIRST; x--)
		if (!vec_space_is_taken(vs, (uint8_t)x)) {
			v = x;
			break;
		}
	if (v < 0) {
		ktest_skip(t, "no free vector on CPU %u", cpu);
		return;
	}
	struct irq_stats s0;
	irq_stats_get(cpu, &s0);
	KTEST_ASSERT(t, ipi_send_self((uint8_t)v) == 0);
	if (!wait_unhandled(cpu, s0.unhandled + 1)) {
		ktest_fail_at(t, __FILE__, __LINE__, "self-IPI on vector 0x%x not counted unhandled", v);
		return;
	}
	struct irq_vec h;
	KTEST_ASSERT(t, irq_reserve(cpu, (uint8_t)v, count_handler, 0, &h) == 0);
	uint64_t before = atomic_load64(&handled, MO_ACQUIRE);
	KTEST_EXPECT_EQ(t, ipi_send_self((uint8_t)v), 0);
	if (!wait_handled(before + 1))
		ktest_fail_at(t, __FILE__, __LINE__,
			      "vector 0x%x with a handler never arrived: the unhandled one before it got no EOI?", v);
	KTEST_EXPECT_EQ(t, irq_free(&h), 0);
	if (!t->failed)
		ktest_log(t, "CPU %u: unhandled vector 0x%x counted and EOI'd", cpu, v);
}

static const struct ktest_case irq_cases[] = {
	KTEST_CASE(irq_unhandled_vector_gets_eoi),
};
KTEST_SUITE(irq_suite, "irq", irq_cases);
