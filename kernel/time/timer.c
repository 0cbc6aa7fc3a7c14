/*
 * timer.c — the per-CPU tick on the local APIC timer (Intel SDM Vol. 3A §11.5.4):
 * TSC-deadline mode when CPUID.01H:ECX[24] offers it (re-armed from the handler on
 * a fixed grid of TSC deadlines), periodic mode otherwise, with the LAPIC timer
 * calibrated against the TSC. time.hz= sets the rate (default 1000 Hz). Each CPU
 * counts its own ticks.
 */
#include <hal/hal.h>
#include <kernel/apic.h>
#include <kernel/atomic.h>
#include <kernel/cmdline.h>
#include <kernel/errno.h>
#include <kernel/irq.h>
#include <kernel/log.h>
#include <kernel/percpu.h>
#include <kernel/time.h>
#include <hw/x86/cpuid.h>
#include <hw/x86/lapic.h>
#include "time_internal.h"

#define HZ_DEFAULT 1000
#define HZ_MAX 10000
#define LAPIC_CAL_US 50000     /* total over all calibration rounds */

static uint64_t lapic_khz;          /* timer input clock after divide-by-16, kHz */
static unsigned hz = HZ_DEFAULT;
static bool deadline;
static uint64_t tsc_per_tick, lapic_per_tick;

uint64_t time_lapic_khz(void) { return lapic_khz; }
unsigned time_hz(void) { return hz; }
bool time_deadline_mode(void) { return deadline; }

uint64_t time_ticks(unsigned cpu)
{
	return cpu < HAL_MAX_CPUS ? atomic_load64(&percpu_of(cpu)->ticks, MO_RELAXED) : 0;
}

bool time_can_halt(void)
{
	struct percpu *c = this_cpu();
	return atomic_load32(&c->irq_ready, MO_ACQUIRE) && atomic_load64(&c->ticks, MO_RELAXED) > 0;
}

/*
 * Count the LAPIC timer (divide by 16) against the TSC. Each read of the current
 * count is bracketed by two TSC reads, and the time between the brackets' midpoints
 * is what the count is divided by: a vCPU descheduled between a counter read and
 * the start of the wait (a loaded emulator host) widens one bracket instead of
 * silently stretching the measured interval. Of LAPIC_CAL_ROUNDS rounds the one
 * with the narrowest brackets wins.
 */
#define LAPIC_CAL_ROUNDS 5

static uint32_t lapic_ccr_bracketed(uint64_t *mid, uint64_t *width)
{
	uint64_t a = hal_rdtsc();
	uint32_t v = lapic_read(APIC_TIMER_CCR);
	uint64_t b = hal_rdtsc();
	*mid = a + (b - a) / 2;
	*width = b - a;
	return v;
}

static uint64_t lapic_calibrate(void)
{
	uint64_t best_khz = 0, best_width = ~0ull;
	lapic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | APIC_LVT_TIMER_ONESHOT | VEC_TIMER);
	lapic_write(APIC_TIMER_DCR, APIC_TIMER_DIV_16);
	for (int round = 0; round < LAPIC_CAL_ROUNDS; round++) {
		uint64_t m0, w0, m1, w1;
		lapic_write(APIC_TIMER_ICR, 0xFFFFFFFFu);
		uint32_t c0 = lapic_ccr_bracketed(&m0, &w0);
		udelay(LAPIC_CAL_US / LAPIC_CAL_ROUNDS);
		uint32_t c1 = lapic_ccr_bracketed(&m1, &w1);
		if (c1 >= c0 || m1 <= m0)
			continue;               /* not counting (or wrapped): no measurement */
		uint64_t ns = time_tsc_to_ns(m1 - m0);
		if (ns == 0)
			continue;
		if (w0 + w1 < best_width) {
			best_width = w0 + w1;
			best_khz = (uint64_t)(c0 - c1) * 1000000 / ns;  /* counts per ms = kHz */
		}
	}
	lapic_write(APIC_TIMER_ICR, 0);
	return best_khz;
}

static void arm_deadline(struct percpu *c, uint64_t now)
{
	uint64_t next = c->tsc_next_deadline + tsc_per_tick;
	if (!c->tsc_next_deadline || next <= now)
		next = now + tsc_per_tick;      /* missed ticks are dropped, not replayed */
	c->tsc_next_deadline = next;
	hal_wrmsr(MSR_IA32_TSC_DEADLINE, next);
}

void time_cpu_start(void)
{
	struct percpu *c = this_cpu();
	if (!deadline && !lapic_khz)
		return;                 /* no usable timer (logged at calibration) */
	lapic_write(APIC_TIMER_DCR, APIC_TIMER_DIV_16);
	if (deadline) {
		c->timer_mode = APIC_LVT_TIMER_DEADLINE;
		lapic_write(APIC_LVT_TIMER, APIC_LVT_TIMER_DEADLINE | VEC_TIMER);
		/* SDM §11.5.4.1: the LVT write must be ordered before the MSR write; a
		 * full fence does it (WRMSR to the x2APIC LVT is not serializing). */
		atomic_fence(MO_SEQ_CST);
		c->tsc_next_deadline = 0;
		arm_deadline(c, hal_rdtsc());
	} else {
		c->timer_mode = APIC_LVT_TIMER_PERIODIC;
		lapic_write(APIC_LVT_TIMER, APIC_LVT_TIMER_PERIODIC | VEC_TIMER);
		lapic_write(APIC_TIMER_ICR, (uint32_t)lapic_per_tick);
	}
}

static uint64_t tick_hook;          /* void (*)(void), published with release */

void time_set_tick_hook(void (*fn)(void))
{
	atomic_store64(&tick_hook, (uint64_t)(uintptr_t)fn, MO_RELEASE);
}

void time_tick(void)
{
	struct percpu *c = this_cpu();
	atomic_store64(&c->ticks, atomic_load64(&c->ticks, MO_RELAXED) + 1, MO_RELAXED);
	if (c->timer_mode == APIC_LVT_TIMER_DEADLINE)
		arm_deadline(c, hal_rdtsc());
	/* acquire: pairs with time_set_tick_hook's release */
	void (*hook)(void) = (void (*)(void))(uintptr_t)atomic_load64(&tick_hook, MO_ACQUIRE);
	if (hook)
		hook();                     /* the scheduler: sleepers, preemption requests */
}

int time_init(void)
{
	uint64_t want = HZ_DEFAULT;
	if (cmdline_get_u64("time.hz", &want) == 0 && (want < 1 || want > HZ_MAX)) {
		klog("time", "time.hz=%llu out of range 1..%u, using %u", (unsigned long long)want, HZ_MAX,
		     HZ_DEFAULT);
		want = HZ_DEFAULT;
	}
	hz = (unsigned)want;
	irq_set_system_handler(VEC_TIMER, time_tick);      /* before the timer can fire */
	int rc = tsc_calibrate();
	uint32_t r[4];
	hal_cpuid(CPUID_LEAF_FEATURES, 0, r);
	deadline = (r[2] & CPUID_1_ECX_TSC_DEADLINE) != 0;
	uint64_t given;
	if (cmdline_get_u64("time.lapic_khz", &given) == 0 && given > 0 && given <= 20000000) {
		klog("time", "LAPIC timer clock %llu kHz (after divide-by-16) from the command line; "
		     "calibration skipped", (unsigned long long)given);
		lapic_khz = given;
	} else {
		lapic_khz = lapic_calibrate();
	}
	if (!lapic_khz && !deadline) {
		klog("time", "the LAPIC timer does not count: no tick");
		rc = rc ? rc : -ENODEV;
	}
	tsc_per_tick = time_tsc_khz() * 1000 / hz;
	lapic_per_tick = lapic_khz * 1000 / hz;
	if (!deadline && lapic_per_tick > 0xFFFFFFFFu)
		lapic_per_tick = 0xFFFFFFFFu;
	if (!deadline && lapic_per_tick == 0)
		lapic_per_tick = 1;
	kinfo("time.tsc_khz", "%llu", (unsigned long long)time_tsc_khz());
	kinfo("time.lapic_khz", "%llu", (unsigned long long)lapic_khz);
	kinfo("time.source", "%s", time_source());
	kinfo("time.deadline", "%d", deadline ? 1 : 0);
	kinfo("time.hz", "%u", hz);
	time_cpu_start();
	return rc;
}
