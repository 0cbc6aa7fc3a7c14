/*
 * tsc.c — TSC frequency from the 8254 PIT channel 2 (Intel 8254 datasheet: mode 0,
 * gate and output on PC/AT port 0x61), conversions and udelay on the TSC.
 * Calibration intersects the TSC intervals of several 10 ms windows (pit_window);
 * without a PIT it falls back to CPUID leaf 0x15/0x16, then to an assumed 1 GHz
 * (logged).
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/cmdline.h>
#include <kernel/errno.h>
#include <kernel/log.h>
#include <kernel/time.h>
#include <hw/x86/cpuid.h>
#include <hw/x86/pit.h>
#include "time_internal.h"

#define CAL_MS 10
#define CAL_RUNS 5
#define CAL_TRIES 40
#define CAL_TOL_PPM 1000            /* +-0.1% */
#define PIT_POLL_MAX 200000000ull   /* port reads before deciding the PIT is absent */
#define TSC_KHZ_ASSUMED 1000000ull  /* before calibration or without any source */
#define TSC_KHZ_MIN 10000u          /* 10 MHz .. 20 GHz: accepted from time.tsc_khz= */
#define TSC_KHZ_MAX 20000000u

static uint64_t tsc_khz;            /* written once by the boot CPU, before APs start */
static const char *source = "none";
static uint64_t tsc_zero;

uint64_t time_tsc_khz(void)
{
	uint64_t k = atomic_load64(&tsc_khz, MO_RELAXED);
	return k ? k : TSC_KHZ_ASSUMED;
}

const char *time_source(void)
{
	return source;
}

uint64_t time_tsc_to_ns(uint64_t d)
{
	uint64_t khz = time_tsc_khz();
	/* d * 1e6 / khz without overflowing for deltas up to ~days */
	return (d / khz) * 1000000ull + (d % khz) * 1000000ull / khz;
}

uint64_t time_now_ns(void)
{
	return time_tsc_to_ns(hal_rdtsc() - tsc_zero);
}

void udelay(uint64_t us)
{
	uint64_t t0 = hal_rdtsc();
	uint64_t ticks = us * time_tsc_khz() / 1000;
	while (hal_rdtsc() - t0 < ticks)
		hal_cpu_relax();
}

static uint64_t median(uint64_t *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return v[n / 2];
}

/*
 * One window of channel 2 over `ms` milliseconds. The count starts at the write of
 * its high byte (emulators) or the gate's rising edge (an 8254): both lie between
 * the TSC reads ta and tb around them. The end comes after the last poll that saw
 * OUT2 low, so after the TSC read taken just before that poll, and no later than
 * the TSC read after the poll that saw it high. The window therefore lasted between
 * *lo and *hi TSC ticks, whatever preempted the CPU in between (an emulator's vCPU
 * thread on a loaded host widens the interval; it never moves it off the truth).
 */
static int pit_window(unsigned ms, uint64_t *lo, uint64_t *hi)
{
	uint32_t latch = (uint32_t)((uint64_t)PIT_HZ * ms / 1000);
	if (latch == 0 || latch > 0xFFFF)
		return -EINVAL;
	unsigned long flags = hal_irq_save();
	/* gate low (stop), speaker off; program channel 2 mode 0; gate high starts it */
	uint8_t b = hal_pio_in8(PIT_PORT_B);
	hal_pio_out8(PIT_PORT_B, (uint8_t)(b & ~(PIT_B_GATE2 | PIT_B_SPEAKER)));
	uint64_t ta = hal_rdtsc();
	hal_pio_out8(PIT_CMD, PIT_CMD_CH2 | PIT_CMD_LOHI | PIT_CMD_MODE0);
	hal_pio_out8(PIT_CH2, (uint8_t)(latch & 0xFF));
	hal_pio_out8(PIT_CH2, (uint8_t)(latch >> 8));
	hal_pio_out8(PIT_PORT_B, (uint8_t)((b & ~PIT_B_SPEAKER) | PIT_B_GATE2));
	uint64_t tb = hal_rdtsc();
	uint64_t before = tb;           /* TSC read just before the current poll */
	uint64_t low_before = ta;       /* ... before the last poll that saw OUT2 low */
	uint64_t end_hi = 0;
	for (uint64_t i = 0; i < PIT_POLL_MAX; i++) {
		uint8_t v = hal_pio_in8(PIT_PORT_B);
		uint64_t now = hal_rdtsc();
		if (v == 0xFF)
			break;          /* nothing decodes port 0x61 */
		if (v & PIT_B_OUT2) {
			end_hi = now;
			break;
		}
		low_before = before;
		before = now;
	}
	hal_pio_out8(PIT_PORT_B, (uint8_t)(b & ~(PIT_B_GATE2 | PIT_B_SPEAKER)));
	hal_irq_restore(flags);
	if (!end_hi)
		return -ENODEV;
	*lo = low_before > tb ? low_before - tb : 0;
	*hi = end_hi - ta;
	return 0;
}

int time_pit_bracket(unsigned ms, unsigned min_windows, unsigned max_windows, unsigned tol_ppm,
		     struct tsc_bracket *out)
{
	uint64_t lo_max = 0, hi_min = ~0ull, mids[TSC_BRACKET_MAX];
	unsigned n = 0;
	if (max_windows > TSC_BRACKET_MAX)
		max_windows = TSC_BRACKET_MAX;
	out->windows = 0;
	out->consistent = true;
	while (n < max_windows) {
		uint64_t lo, hi;
		int rc = pit_window(ms, &lo, &hi);
		if (rc)
			return rc;
		mids[n++] = lo + (hi - lo) / 2;
		if (lo > lo_max)
			lo_max = lo;
		if (hi < hi_min)
			hi_min = hi;
		if (lo_max > hi_min)
			break;          /* two windows contradict each other */
		if (n >= min_windows && (hi_min - lo_max) * 1000000ull <= (uint64_t)tol_ppm * 2 * lo_max)
			break;
	}
	out->windows = n;
	out->lo = lo_max;
	out->hi = hi_min;
	if (lo_max > hi_min) {
		/* A TSC that does not tick at one rate against the PIT (or a PIT that does
		 * not count at PIT_HZ): no value fits every window. Give the median of the
		 * windows' middles so the caller can go on, and say so. */
		out->consistent = false;
		out->lo = out->hi = median(mids, n);
	}
	return 0;
}

static uint64_t cpuid_tsc_khz(void)
{
	uint32_t r[4];
	hal_cpuid(CPUID_LEAF_VENDOR, 0, r);
	uint32_t max = r[0];
	if (max >= CPUID_LEAF_TSC) {
		hal_cpuid(CPUID_LEAF_TSC, 0, r);      /* EBX/EAX = TSC/crystal ratio, ECX = crystal Hz */
		if (r[0] && r[1] && r[2])
			return (uint64_t)r[2] * r[1] / r[0] / 1000;
	}
	if (max >= CPUID_LEAF_FREQ) {
		hal_cpuid(CPUID_LEAF_FREQ, 0, r);      /* EAX = base frequency in MHz */
		if (r[0] & 0xFFFF)
			return (uint64_t)(r[0] & 0xFFFF) * 1000;
	}
	return 0;
}

int tsc_calibrate(void)
{
	tsc_zero = hal_rdtsc();
	/* time.tsc_khz=N trusts a known frequency and skips the PIT (like Linux's
	 * tsc_early_khz=): for machines without a PIT, and for the simulator's
	 * deterministic mode, where calibration would dominate every short run. */
	uint64_t given;
	if (cmdline_get_u64("time.tsc_khz", &given) == 0) {
		if (given >= TSC_KHZ_MIN && given <= TSC_KHZ_MAX) {
			klog("time", "TSC frequency %llu kHz from the command line; PIT calibration skipped",
			     (unsigned long long)given);
			source = "cmdline";
			atomic_store64(&tsc_khz, given, MO_RELEASE);
			return 0;
		}
		klog("time", "time.tsc_khz=%llu out of range %u..%u kHz: ignored, calibrating",
		     (unsigned long long)given, TSC_KHZ_MIN, TSC_KHZ_MAX);
	}
	/* Intersect the windows' intervals until the TSC count of one window is known
	 * to within CAL_TOL_PPM either side (CAL_RUNS windows at least, CAL_TRIES at
	 * most): a window where the CPU was preempted only fails to narrow it. */
	struct tsc_bracket br;
	uint64_t khz = 0;
	int rc = 0;
	uint32_t latch = (uint32_t)((uint64_t)PIT_HZ * CAL_MS / 1000);
	if (time_pit_bracket(CAL_MS, CAL_RUNS, CAL_TRIES, CAL_TOL_PPM, &br) == 0) {
		uint64_t mid = br.lo + (br.hi - br.lo) / 2;
		uint64_t ppm = mid ? (br.hi - br.lo) / 2 * 1000000ull / mid : 0;
		khz = mid * PIT_HZ / ((uint64_t)latch * 1000);
		source = "pit";
		if (!br.consistent)
			klog("time", "the TSC does not keep one rate against the PIT over %u windows: "
			     "using their median, %llu kHz; delays and timeouts are approximate", br.windows,
			     (unsigned long long)khz);
		else if (ppm > CAL_TOL_PPM)
			klog("time", "TSC %llu kHz from the PIT, only to within %llu ppm after %u windows "
			     "(every measurement was preempted: a busy host)", (unsigned long long)khz,
			     (unsigned long long)ppm, br.windows);
		else
			klog("time", "TSC %llu kHz from the PIT, to within %llu ppm, %u windows",
			     (unsigned long long)khz, (unsigned long long)ppm, br.windows);
	}
	if (!khz) {
		khz = cpuid_tsc_khz();
		if (khz) {
			klog("time", "PIT channel 2 does not count; TSC frequency %llu kHz from CPUID",
			     (unsigned long long)khz);
			source = "cpuid";
		} else {
			klog("time", "PIT channel 2 does not count and CPUID has no TSC frequency; "
			     "assuming %llu kHz: delays and timeouts are approximate",
			     (unsigned long long)TSC_KHZ_ASSUMED);
			khz = TSC_KHZ_ASSUMED;
			source = "assumed";
			rc = -ENODEV;
		}
	}
	atomic_store64(&tsc_khz, khz, MO_RELEASE);
	return rc;
}
