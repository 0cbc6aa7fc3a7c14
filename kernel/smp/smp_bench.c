/*
 * smp_bench.c — benchmark cases for interrupts and SMP (bench=<glob>, docs/smp.md):
 * cross-CPU call round trip (median and p99), TLB shootdown latency to every
 * other CPU (median and p99), boot-to-all-CPUs-online from the TSC, and the AP
 * bring-up time (first INIT to last AP online, smp_bringup_ms).
 */
#include <hal/hal.h>
#include <kernel/bench.h>
#include <kernel/errno.h>
#include <kernel/log.h>
#include <kernel/smp.h>
#include <kernel/time.h>
#include <kernel/tlb.h>
#include <kernel/ktest_smp.h>

#define SAMPLES 1000
static uint64_t samples[SAMPLES];

static void noop(uint64_t unused) {}

static int bench_ipi_roundtrip(void)
{
	unsigned target = tu_last_online();
	if (target == hal_cpu_index()) {
		klog("bench", "ipi_roundtrip needs two CPUs; not measured");
		return 0;
	}
	struct cpumask m;
	cpumask_clear(&m);
	cpumask_set(&m, target);
	for (unsigned i = 0; i < SAMPLES; i++) {
		uint64_t t0 = hal_rdtsc();
		if (smp_call(&m, noop, 0, SMP_CALL_TIMEOUT_US, 0) != 0)
			return -ETIMEDOUT;
		samples[i] = time_tsc_to_ns(hal_rdtsc() - t0);
	}
	bench_report("ipi_roundtrip_p50", bench_percentile(samples, SAMPLES, 50), "ns");
	bench_report("ipi_roundtrip_p99", bench_percentile(samples, SAMPLES, 99), "ns");
	return 0;
}
BENCH_CASE(ipi_roundtrip_case, "ipi_roundtrip", bench_ipi_roundtrip);

static int bench_tlb_shootdown(void)
{
	if (smp_online_count() < 2) {
		klog("bench", "tlb_shootdown needs two CPUs; not measured");
		return 0;
	}
	size_t len;
	uintptr_t va = hal_vmap_window(&len);
	for (unsigned i = 0; i < SAMPLES; i++) {
		uint64_t t0 = hal_rdtsc();
		if (tlb_shootdown(va, 1, 0) != 0)
			return -ETIMEDOUT;
		samples[i] = time_tsc_to_ns(hal_rdtsc() - t0);
	}
	bench_report("tlb_shootdown_p50", bench_percentile(samples, SAMPLES, 50), "ns");
	bench_report("tlb_shootdown_p99", bench_percentile(samples, SAMPLES, 99), "ns");
	bench_report("tlb_shootdown_cpus", smp_online_count(), "cpus");
	return 0;
}
BENCH_CASE(tlb_shootdown_case, "tlb_shootdown", bench_tlb_shootdown);

static int bench_boot_online(void)
{
	bench_report("boot_all_online", smp_online_us(), "us");
	bench_report("boot_cpus_online", smp_online_count(), "cpus");
	return 0;
}
BENCH_CASE(boot_online_case, "boot_all_online", bench_boot_online);

/* The boot CPU's first AP INIT to the last AP online, in the mode smp.parallel chose. */
static int bench_smp_bringup(void)
{
	bench_report("smp_bringup_ms", (smp_bringup_us() + 500) / 1000, "ms");
	return 0;
}
BENCH_CASE(smp_bringup_case, "smp_bringup", bench_smp_bringup);
