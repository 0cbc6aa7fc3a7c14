/*
 * smp_testutil.c — helpers for the interrupt/SMP ktest suites and benchmarks
 * (kernel/ktest_smp.h). Every wait is bounded by the TSC and serves cross-CPU
 * requests, so a test that goes wrong fails instead of hanging.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/cmdline.h>
#include <kernel/smp.h>
#include <kernel/time.h>
#include <kernel/ktest_smp.h>

bool tu_wait_ge(const uint64_t *p, uint64_t want, uint64_t timeout_us)
{
	uint64_t t0 = hal_rdtsc(), limit = timeout_us * time_tsc_khz() / 1000;
	while (atomic_load64(p, MO_ACQUIRE) < want) {
		if (hal_rdtsc() - t0 > limit)
			return atomic_load64(p, MO_ACQUIRE) >= want;
		xcall_poll();
		hal_cpu_relax();
	}
	return true;
}

int tu_run_on(unsigned cpu, void (*fn)(uint64_t), uint64_t arg)
{
	struct cpumask m;
	cpumask_clear(&m);
	cpumask_set(&m, cpu);
	return smp_call(&m, fn, arg, SMP_CALL_TIMEOUT_US, 0);
}

unsigned tu_last_online(void)
{
	struct cpumask m;
	smp_online_mask(&m);
	unsigned last = 0;
	for_each_cpu(c, &m)
		last = c;
	return last;
}

unsigned tu_first_offline(void)
{
	for (unsigned c = 0; c < HAL_MAX_CPUS; c++)
		if (!cpu_online(c))
			return c;
	return HAL_MAX_CPUS;
}

void tu_barrier_init(struct tu_barrier *b, unsigned parties)
{
	atomic_store64(&b->count, 0, MO_RELAXED);
	atomic_store64(&b->generation, 0, MO_RELAXED);
	atomic_store64(&b->parties, parties, MO_RELEASE);
}

bool tu_barrier_wait(struct tu_barrier *b, uint64_t timeout_us)
{
	uint64_t gen = atomic_load64(&b->generation, MO_ACQUIRE);
	uint64_t parties = atomic_load64(&b->parties, MO_RELAXED);
	if (atomic_fetch_add64(&b->count, 1, MO_ACQ_REL) + 1 == parties) {
		atomic_store64(&b->count, 0, MO_RELAXED);
		/* release: everything before the barrier by every party */
		atomic_store64(&b->generation, gen + 1, MO_RELEASE);
		return true;
	}
	return tu_wait_ge(&b->generation, gen + 1, timeout_us);
}

uint64_t tu_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

uint64_t tu_stress_us(uint64_t dflt_us)
{
	uint64_t s;
	if (cmdline_get_u64("stress.seconds", &s) == 0)
		return s * 1000000ull;
	return dflt_us;
}
