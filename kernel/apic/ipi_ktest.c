/*
 * ipi_ktest.c — the `ipi` ktest suite: fixed IPIs to each CPU, all-but-self,
 * self, cross-CPU calls on a chosen set, a call timeout that names the CPU that
 * never answered, and a stress of concurrent calls between all CPUs whose
 * duration `stress.seconds=` sets. docs/smp.md.
 */
#include <hal/hal.h>
#include <kernel/apic.h>
#include <kernel/atomic.h>
#include <kernel/errno.h>
#include <kernel/irq.h>
#include <kernel/ktest.h>
#include <kernel/log.h>
#include <kernel/printf.h>
#include <kernel/smp.h>
#include <kernel/time.h>
#include <kernel/ktest_smp.h>

static uint64_t hits[HAL_MAX_CPUS];

static void hit_here(uint8_t v, void *arg)
{
	atomic_fetch_add64(&hits[hal_cpu_index()], 1, MO_RELEASE);
}

static void clear_hits(void)
{
	for (unsigned i = 0; i < HAL_MAX_CPUS; i++)
		atomic_store64(&hits[i], 0, MO_RELAXED);
}

static void ipi_fixed_to_each_cpu(struct ktest *t)
{
	struct cpumask m;
	smp_online_mask(&m);
	clear_hits();
	for_each_cpu(c, &m) {
		struct irq_vec h;
		KTEST_ASSERT(t, irq_alloc(c, 1, hit_here, 0, &h) == 0);
		KTEST_EXPECT_EQ(t, ipi_send(c, h.vector), 0);
		if (!tu_wait_ge(&hits[c], 1, 1000000))
			ktest_fail_at(t, __FILE__, __LINE__, "IPI to CPU %u (vector 0x%x) never arrived", c, h.vector);
		KTEST_EXPECT_EQ(t, irq_free(&h), 0);
	}
}

/* One vector number free on every online CPU, reserved on all of them. */
static int reserve_everywhere(const struct cpumask *m, struct irq_vec *hs)
{
	for (int v = VEC_LAST; v >= VEC_FIRST; v--) {
		bool ok = true;
		for_each_cpu(c, m) {
			if (irq_reserve(c, (uint8_t)v, hit_here, 0, &hs[c]) != 0) {
				for_each_cpu(d, m) {
					if (d == c)
						break;
					irq_free(&hs[d]);
				}
				ok = false;
				break;
			}
		}
		if (ok)
			return v;
	}
	return -ENOSPC;
}

static void ipi_all_but_self(struct ktest *t)
{
	static struct irq_vec hs[HAL_MAX_CPUS];
	struct cpumask m;
	smp_online_mask(&m);
	unsigned me = hal_cpu_index();
	if (cpumask_weight(&m) < 2) {
		ktest_skip(t, "needs two CPUs");
		return;
	}
	int v = reserve_everywhere(&m, hs);
	KTEST_ASSERT(t, v > 0);
	clear_hits();
	KTEST_EXPECT_EQ(t, ipi_send_allbutself((uint8_t)v), 0);
	for_each_cpu(c, &m) {
		if (c == me)
			continue;
		if (!tu_wait_ge(&hits[c], 1, 1000000))
			ktest_fail_at(t, __FILE__, __LINE__, "all-but-self IPI never reached CPU %u", c);
	}
	udelay(2000);
	KTEST_EXPECT_EQ(t, atomic_load64(&hits[me], MO_ACQUIRE), 0);
	for_each_cpu(c, &m) {
		KTEST_EXPECT_EQ(t, atomic_load64(&hits[c], MO_ACQUIRE), c == me ? 0 : 1);
		irq_free(&hs[c]);
	}
}

static void ipi_self(struct ktest *t)
{
	unsigned me = hal_cpu_index();
	struct irq_vec h;
	clear_hits();
	KTEST_ASSERT(t, irq_alloc(me, 1, hit_here, 0, &h) == 0);
	KTEST_EXPECT_EQ(t, ipi_send_self(h.vector), 0);
	KTEST_EXPECT(t, tu_wait_ge(&hits[me], 1, 1000000));
	KTEST_EXPECT_EQ(t, irq_free(&h), 0);
}

static uint64_t ran[HAL_MAX_CPUS];

static void mark_ran(uint64_t tag)
{
	atomic_fetch_add64(&ran[hal_cpu_index()], tag, MO_RELAXED);
}

static void ipi_call_runs_on_set(struct ktest *t)
{
	struct cpumask online, set;
	smp_online_mask(&online);
	cpumask_clear(&set);
	unsigned i = 0;
	for_each_cpu(c, &online)
		if (i++ % 2 == 0 || c == hal_cpu_index())
			cpumask_set(&set, c);
	for (unsigned c = 0; c < HAL_MAX_CPUS; c++)
		atomic_store64(&ran[c], 0, MO_RELAXED);
	KTEST_ASSERT(t, smp_call(&set, mark_ran, 1, SMP_CALL_TIMEOUT_US, 0) == 0);
	for_each_cpu(c, &online)
		KTEST_EXPECT_EQ(t, atomic_load64(&ran[c], MO_ACQUIRE), cpumask_test(&set, c) ? 1 : 0);
}

/* A CPU kept busy with interrupts off by a raw IPI whose handler spins. */
static uint64_t spinning, release_spin;

static void spin_handler(uint8_t v, void *arg)
{
	atomic_store64(&spinning, 1, MO_RELEASE);
	uint64_t t0 = hal_rdtsc(), limit = 2000ull * time_tsc_khz();    /* 2 s at most */
	while (!atomic_load64(&release_spin, MO_ACQUIRE) && hal_rdtsc() - t0 < limit)
		hal_cpu_relax();
	atomic_store64(&spinning, 0, MO_RELEASE);
}

static void ipi_call_timeout_names_cpu(struct ktest *t)
{
	unsigned victim = tu_last_online();
	if (victim == hal_cpu_index()) {
		ktest_skip(t, "needs two CPUs");
		return;
	}
	struct irq_vec h;
	KTEST_ASSERT(t, irq_alloc(victim, 1, spin_handler, 0, &h) == 0);
	atomic_store64(&release_spin, 0, MO_RELAXED);
	atomic_store64(&spinning, 0, MO_RELAXED);
	KTEST_EXPECT_EQ(t, ipi_send(victim, h.vector), 0);
	if (!tu_wait_ge(&spinning, 1, 1000000)) {
		ktest_fail_at(t, __FILE__, __LINE__, "CPU %u never started spinning", victim);
		irq_free(&h);
		return;
	}
	struct cpumask m;
	cpumask_clear(&m);
	cpumask_set(&m, victim);
	atomic_store64(&ran[victim], 0, MO_RELAXED);
	unsigned failed = HAL_MAX_CPUS;
	int rc = smp_call(&m, mark_ran, 1, 20000, &failed);
	KTEST_EXPECT_EQ(t, rc, -ETIMEDOUT);
	KTEST_EXPECT_EQ(t, failed, victim);
	char needle[32];
	ksnprintf(needle, sizeof needle, "CPU %u (APIC ID", victim);
	KTEST_EXPECT(t, klog_contains(needle));
	atomic_store64(&release_spin, 1, MO_RELEASE);
	uint64_t t0 = hal_rdtsc();
	while (atomic_load64(&spinning, MO_ACQUIRE) && hal_rdtsc() - t0 < 3000ull * time_tsc_khz())
		hal_cpu_relax();
	udelay(5000);
	/* the request was taken back: it must not run late */
	KTEST_EXPECT_EQ(t, atomic_load64(&ran[victim], MO_ACQUIRE), 0);
	/* and the CPU answers again */
	KTEST_EXPECT_EQ(t, smp_call(&m, mark_ran, 1, SMP_CALL_TIMEOUT_US, 0), 0);
	KTEST_EXPECT_EQ(t, atomic_load64(&ran[victim], MO_ACQUIRE), 1);
	irq_free(&h);
}

/* Every CPU calls random sets of CPUs at once, for stress.seconds. */
static uint64_t stress_expected, stress_errors, stress_calls, stress_until;
static uint64_t stress_count[HAL_MAX_CPUS];

static void stress_inc(uint64_t unused)
{
	atomic_fetch_add64(&stress_count[hal_cpu_index()], 1, MO_RELAXED);
}

static void stress_worker(uint64_t unused)
{
	unsigned me = hal_cpu_index();
	uint64_t rnd = 0xC0FFEEull * (me + 1);
	struct cpumask online;
	smp_online_mask(&online);
	uint64_t until = atomic_load64(&stress_until, MO_ACQUIRE);
	while (hal_rdtsc() < until) {
		struct cpumask set;
		cpumask_clear(&set);
		for_each_cpu(c, &online)
			if (tu_rand(&rnd) & 1)
				cpumask_set(&set, c);
		int rc = smp_call(&set, stress_inc, 0, 3 * SMP_CALL_TIMEOUT_US, 0);
		if (rc)
			atomic_fetch_add64(&stress_errors, 1, MO_RELAXED);
		atomic_fetch_add64(&stress_expected, cpumask_weight(&set), MO_RELAXED);
		atomic_fetch_add64(&stress_calls, 1, MO_RELAXED);
	}
}

static void ipi_stress_concurrent_calls(struct ktest *t)
{
	struct cpumask m;
	smp_online_mask(&m);
	uint64_t us = tu_stress_us(200000);
	for (unsigned c = 0; c < HAL_MAX_CPUS; c++)
		atomic_store64(&stress_count[c], 0, MO_RELAXED);
	atomic_store64(&stress_expected, 0, MO_RELAXED);
	atomic_store64(&stress_errors, 0, MO_RELAXED);
	atomic_store64(&stress_calls, 0, MO_RELAXED);
	atomic_store64(&stress_until, hal_rdtsc() + us * time_tsc_khz() / 1000, MO_RELEASE);
	KTEST_ASSERT(t, smp_run_parallel(&m, stress_worker, 0, us + 60000000ull, 0) == 0);
	uint64_t got = 0;
	for (unsigned c = 0; c < HAL_MAX_CPUS; c++)
		got += atomic_load64(&stress_count[c], MO_ACQUIRE);
	KTEST_EXPECT_EQ(t, atomic_load64(&stress_errors, MO_ACQUIRE), 0);
	KTEST_EXPECT_EQ(t, got, atomic_load64(&stress_expected, MO_ACQUIRE));
	ktest_log(t, "%llu calls, %llu function runs on %u CPUs in %llu ms",
		  (unsigned long long)atomic_load64(&stress_calls, MO_RELAXED), (unsigned long long)got,
		  cpumask_weight(&m), (unsigned long long)(us / 1000));
}

static const struct ktest_case ipi_cases[] = {
	KTEST_CASE(ipi_fixed_to_each_cpu),
	KTEST_CASE(ipi_all_but_self),
	KTEST_CASE(ipi_self),
	KTEST_CASE(ipi_call_runs_on_set),
	KTEST_CASE(ipi_call_timeout_names_cpu),
	KTEST_CASE(ipi_stress_concurrent_calls),
};
KTEST_SUITE(ipi_suite, "ipi", ipi_cases);
