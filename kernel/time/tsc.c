/*
 * tsc.c — TSC frequency from the 8254 PIT channel 2 (Intel 8254 datasheet: mode 0,
 * gate and output on PC/AT port 0x61), conversions and udelay on the TSC.
 * Calibration takes the median of several 10 ms windows; without a PIT it falls
 * back to CPUID leaf 0x15/0x16, then to an assumed 1 GHz (logged).
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

uint64_t time_pit_measure_tsc(unsigned ms, uint64_t *uncertainty)
{
	uint32_t latch = (uint32_t)((uint64_t)PIT_HZ * ms / 1000);
	*uncertainty = ~0ull;
	if (latch == 0 || latch > 0xFFFF)
		return 0;
	unsigned long flags = hal_irq_save();
	/* gate low (stop), speaker off; program channel 2 mode 0; gate high starts it */
	uint8_t b = hal_pio_in8(PIT_PORT_B);
	hal_pio_out8(PIT_PORT_B, (uint8_t)(b & ~(PIT_B_GATE2 | PIT_B_SPEAKER)));
	/* The count starts at the gate's rising edge on an 8254, but in emulators at
	 * a write of the count (QEMU ignores the gate in mode 0): [ta, tb] brackets
	 * every such point. The end lies between the last poll that saw OUT2 low and
	 * the one that saw it high. A CPU preempted in either place (an emulator
	 * under load) widens these, which the caller sees as uncertainty. */
	uint64_t ta = hal_rdtsc();
	hal_pio_out8(PIT_CMD, PIT_CMD_CH2 | PIT_CMD_LOHI | PIT_CMD_MODE0);
	hal_pio_out8(PIT_CH2, (uint8_t)(latch & 0xFF));
	hal_pio_out8(PIT_CH2, (uint8_t)(latch >> 8));
	hal_pio_out8(PIT_PORT_B, (uint8_t)((b & ~PIT_B_SPEAKER) | PIT_B_GATE2));
	uint64_t tb = hal_rdtsc(), prev = tb, end = 0, end_unc = 0;
	for (uint64_t i = 0; i < PIT_POLL_MAX; i++) {
		uint8_t v = hal_pio_in8(PIT_PORT_B);
		uint64_t now = hal_rdtsc();
		if (v == 0xFF)
			break;          /* nothing decodes port 0x61 */
		if (v & PIT_B_OUT2) {
			end = prev + (now - prev) / 2;
			end_unc = now - prev;
			break;
		}
		prev = now;
	}
	hal_pio_out8(PIT_PORT_B, (uint8_t)(b & ~(PIT_B_GATE2 | PIT_B_SPEAKER)));
	hal_irq_restore(flags);
	if (!end)
		return 0;
	uint64_t start = ta + (tb - ta) / 2;
	*uncertainty = (tb - ta) + end_unc;
	return end - start;
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
	uint64_t d[CAL_TRIES], all[CAL_TRIES];   /* d may take all of them (below) */
	unsigned n = 0, tries = 0;
	/* Keep windows measured to within 0.5%; an emulator that preempted us in the
	 * middle of a measurement gives a wide window, and it is tried again. */
	while (n < CAL_RUNS && tries < CAL_TRIES) {
		uint64_t unc, v = time_pit_measure_tsc(CAL_MS, &unc);
		if (!v)
			break;
		all[tries++] = v;
		if (unc * 200 <= v)
			d[n++] = v;
	}
	if (n < CAL_RUNS && tries == CAL_TRIES) {
		klog("time", "only %u of %u PIT windows were measured precisely; using the median of all", n, tries);
		for (n = 0; n < tries; n++)
			d[n] = all[n];
	}
	uint64_t khz = 0;
	int rc = 0;
	if (n >= CAL_RUNS) {
		uint32_t latch = (uint32_t)((uint64_t)PIT_HZ * CAL_MS / 1000);
		khz = median(d, n) * PIT_HZ / ((uint64_t)latch * 1000);
		source = "pit";
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
