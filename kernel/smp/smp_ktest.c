/*
 * smp_ktest.c — the `smp` ktest suite: every started CPU online or accounted for,
 * hal_cpu_index and APIC ID on each CPU, the INIT-SIPI-SIPI sequence as recorded
 * (seeds K39 delay, K40 ESR, K43 ICR bits, K46 second SIPI), the NUMA node
 * recorded before the online bit (seed K8), the online mask, and 256 CPU slots
 * (seed P16-3), work run in thread context on every CPU (smp_run_threads), and
 * the order of the start-up IPIs in the mode smp.parallel chose (seed K41).
 */
#include <hal/hal.h>
#include <kernel/acpi.h>
#include <kernel/apic.h>
#include <kernel/atomic.h>
#include <kernel/cmdline.h>
#include <kernel/ktest.h>
#include <kernel/smp.h>
#include <kernel/srat.h>
#include <kernel/time.h>
#include <hw/x86/lapic.h>
#include <kernel/ktest_smp.h>

static void smp_started_cpus_accounted(struct ktest *t)
{
	const struct acpi_info *ai = acpi_boot_info();
	uint64_t max = HAL_MAX_CPUS, want;
	cmdline_get_u64("smp.max_cpus", &max);
	if (cmdline_has("smp.nosmp"))
		max = 1;
	unsigned enabled = ai->have_madt ? ai->madt.n_enabled : 1;
	unsigned expect = enabled < max ? enabled : (unsigned)max;
	ktest_log(t, "%u online, %u failed, MADT %u enabled, limit %llu", smp_online_count(), smp_failed_count(),
		  enabled, (unsigned long long)max);
	KTEST_EXPECT_EQ(t, smp_online_count() + smp_failed_count(), expect);
	if (cmdline_get_u64("expect.cpus", &want) == 0)
		KTEST_EXPECT_EQ(t, smp_online_count() + smp_failed_count(), want < max ? want : max);
}

static uint64_t seen[HAL_MAX_CPUS];

static void report_ids(uint64_t unused)
{
	unsigned c = hal_cpu_index();
	atomic_store64(&seen[c], ((uint64_t)lapic_id() << 16) | c | (1ull << 63), MO_RELEASE);
}

static void smp_index_and_apic_id_per_cpu(struct ktest *t)
{
	struct cpumask m;
	smp_online_mask(&m);
	for (unsigned c = 0; c < HAL_MAX_CPUS; c++)
		atomic_store64(&seen[c], 0, MO_RELAXED);
	KTEST_ASSERT(t, smp_call(&m, report_ids, 0, SMP_CALL_TIMEOUT_US, 0) == 0);
	for_each_cpu(c, &m) {
		uint64_t v = atomic_load64(&seen[c], MO_ACQUIRE);
		KTEST_EXPECT(t, v >> 63);
		KTEST_EXPECT_EQ(t, v & 0xFFFF, c);
		KTEST_EXPECT_EQ(t, (v >> 16) & 0xFFFFFFFFull, percpu_of(c)->apic_id);
		for_each_cpu(d, &m)
			if (d > c && percpu_of(d)->apic_id == percpu_of(c)->apic_id)
				ktest_fail_at(t, __FILE__, __LINE__, "CPUs %u and %u share APIC ID 0x%x", c, d,
					      percpu_of(c)->apic_id);
	}
}

/* K39/K40/K43/K46: what the boot CPU sent each AP. */
static void smp_init_sipi_sequence(struct ktest *t)
{
	uint64_t ms10 = 10 * time_tsc_khz(), us200 = time_tsc_khz() / 5;
	unsigned aps = 0;
	/* every AP the boot CPU tried, online or failed: a sequence so wrong that no
	 * AP starts must fail here, not skip */
	for (unsigned c = 1; c < HAL_MAX_CPUS; c++) {
		uint64_t st = atomic_load64(&percpu_of(c)->state, MO_ACQUIRE);
		const struct ap_boot_record *b = &percpu_of(c)->boot;
		if (st == CPU_ABSENT || b->t_init == 0)
			continue;       /* never tried (or the platform refused before INIT) */
		aps++;
		KTEST_EXPECT_EQ(t, b->icr_init, APIC_ICR_DM_INIT | APIC_ICR_LEVEL_ASSERT);
		KTEST_EXPECT_EQ(t, b->nsipi, 2);
		KTEST_EXPECT(t, b->t_sipi[0] - b->t_init >= ms10);
		KTEST_EXPECT(t, b->t_sipi[1] - b->t_sipi[0] >= us200);
		for (unsigned s = 0; s < 2; s++) {
			KTEST_EXPECT_EQ(t, b->icr_sipi[s] & ~APIC_ICR_VECTOR, APIC_ICR_DM_STARTUP);
			KTEST_EXPECT(t, (b->icr_sipi[s] & 0xFF) != 0);
		}
		KTEST_EXPECT(t, b->esr_clears >= 3);
		KTEST_EXPECT_EQ(t, b->nesr_reads, 2);
	}
	if (!aps)
		ktest_skip(t, "no application processor was started");
}

/* K41: parallel bring-up sends every INIT before any SIPI, one 10 ms wait for all,
 * every first SIPI before any second one; sequential finishes one AP's SIPIs before
 * the next AP's INIT. Only APs that got both SIPIs count (t_sipi[1] set). */
static void smp_bringup_mode_order(struct ktest *t)
{
	uint64_t ms10 = 10 * time_tsc_khz(), us200 = time_tsc_khz() / 5;
	uint64_t max_init = 0, min_s0 = UINT64_MAX, max_s0 = 0, min_s1 = UINT64_MAX, prev_s1 = 0;
	unsigned aps = 0, out_of_order = 0;
	for (unsigned c = 1; c < HAL_MAX_CPUS; c++) {
		const struct ap_boot_record *b = &percpu_of(c)->boot;
		if (b->t_init == 0 || b->nsipi != 2)
			continue;
		aps++;
		if (b->t_init > max_init)
			max_init = b->t_init;
		if (b->t_sipi[0] < min_s0)
			min_s0 = b->t_sipi[0];
		if (b->t_sipi[0] > max_s0)
			max_s0 = b->t_sipi[0];
		if (b->t_sipi[1] < min_s1)
			min_s1 = b->t_sipi[1];
		if (b->t_init < prev_s1)
			out_of_order++;     /* this INIT came before the previous AP's last SIPI */
		prev_s1 = b->t_sipi[1];
	}
	if (!aps) {
		ktest_skip(t, "no application processor got its two SIPIs");
		return;
	}
	bool par = smp_bringup_parallel();
	ktest_log(t, "%s bring-up of %u AP(s): %llu us from the first INIT to the last AP online", par ? "parallel" :
		  "sequential", aps, (unsigned long long)smp_bringup_us());
	uint64_t want = 1;
	(void)cmdline_get_u64("smp.parallel", &want);          /* absent or not a number: 1 */
	KTEST_EXPECT_EQ(t, par, want != 0);
	if (par) {
		KTEST_EXPECT(t, max_init < min_s0);
		KTEST_EXPECT(t, min_s0 - max_init >= ms10);             /* one 10 ms wait after the last INIT */
		KTEST_EXPECT(t, max_s0 < min_s1);
		KTEST_EXPECT(t, min_s1 - max_s0 >= us200);
		if (aps > 1)
			KTEST_EXPECT_EQ(t, out_of_order, aps - 1);      /* every INIT before every SIPI */
	} else {
		KTEST_EXPECT_EQ(t, out_of_order, 0);
	}
}

/* K8: the node was already set when the online bit went up. */
static void smp_numa_node_before_online(struct ktest *t)
{
	struct cpumask m;
	smp_online_mask(&m);
	for_each_cpu(c, &m) {
		const struct percpu *p = percpu_of(c);
		uint32_t want = numa_node_of_apic(p->apic_id);
		if (p->boot.numa_at_online != want || atomic_load32(&p->numa_node, MO_RELAXED) != want)
			ktest_fail_at(t, __FILE__, __LINE__, "CPU %u (APIC ID 0x%x): node %u at online, %u now, "
				      "SRAT says %u", c, p->apic_id, p->boot.numa_at_online, p->numa_node, want);
	}
	const struct srat_info *s = srat_boot_info();
	ktest_log(t, "%u NUMA node(s) in the SRAT", s ? s->nnodes : 1);
}

static void smp_online_mask_consistent(struct ktest *t)
{
	struct cpumask m;
	smp_online_mask(&m);
	unsigned n = 0;
	for (unsigned c = 0; c < HAL_MAX_CPUS; c++) {
		bool on = atomic_load64(&percpu_of(c)->state, MO_ACQUIRE) == CPU_ONLINE;
		KTEST_EXPECT_EQ(t, on, cpumask_test(&m, c));
		if (on) {
			n++;
			KTEST_EXPECT(t, percpu_of(c)->handlers != 0);
		}
	}
	KTEST_EXPECT_EQ(t, n, smp_online_count());
	KTEST_EXPECT(t, cpu_online(hal_cpu_index()));
}

/* P16-3: 256 CPUs, not 128. */
static void smp_room_for_256_cpus(struct ktest *t)
{
	KTEST_EXPECT_EQ(t, HAL_MAX_CPUS, 256);
	KTEST_EXPECT_EQ(t, sizeof percpu_data / sizeof percpu_data[0], 256);
	KTEST_EXPECT_EQ(t, CPUMASK_WORDS * 64, 256);
	KTEST_EXPECT(t, ACPI_MAX_CPUS >= 256);
}

/* smp_run_threads: every online CPU runs the work in thread context, where its own
 * timer tick (vector 0xF0) still arrives while it halts — inside an IPI handler
 * (priority class 0xF in service) the tick would be blocked and this would hang. */
static uint32_t threads_ran[HAL_MAX_CPUS];

static void threads_work(uint64_t want_ticks)
{
	unsigned cpu = hal_cpu_index();
	uint64_t t0 = time_ticks(cpu), start = hal_rdtsc();
	uint64_t limit = 2000ull * time_tsc_khz();          /* 2 s */
	unsigned long flags = hal_irq_save();
	while (time_ticks(cpu) - t0 < want_ticks && hal_rdtsc() - start < limit)
		hal_cpu_halt();
	hal_irq_restore(flags);
	atomic_store32(&threads_ran[cpu], time_ticks(cpu) - t0 >= want_ticks ? 1 : 2, MO_RELEASE);
}

static void smp_run_threads_thread_context(struct ktest *t)
{
	struct cpumask m;
	smp_online_mask(&m);
	for (unsigned c = 0; c < HAL_MAX_CPUS; c++)
		atomic_store32(&threads_ran[c], 0, MO_RELAXED);
	KTEST_ASSERT(t, smp_run_threads(&m, threads_work, 3) == 0);
	unsigned n = 0;
	for_each_cpu(c, &m) {
		uint32_t r = atomic_load32(&threads_ran[c], MO_ACQUIRE);
		if (r != 1)
			ktest_fail_at(t, __FILE__, __LINE__, "CPU %u: %s", c,
				      r == 0 ? "never ran the work" : "took no timer tick within 2 s while halted");
		n++;
	}
	KTEST_EXPECT_EQ(t, n, smp_online_count());
	/* Twice in a row: the idle loop takes new work after finishing the last. */
	KTEST_EXPECT_EQ(t, smp_run_threads(&m, threads_work, 1), 0);
}

static const struct ktest_case smp_cases[] = {
	KTEST_CASE(smp_started_cpus_accounted),
	KTEST_CASE(smp_index_and_apic_id_per_cpu),
	KTEST_CASE(smp_init_sipi_sequence),
	KTEST_CASE(smp_numa_node_before_online),
	KTEST_CASE(smp_online_mask_consistent),
	KTEST_CASE(smp_room_for_256_cpus),
	KTEST_CASE(smp_run_threads_thread_context),
	KTEST_CASE(smp_bringup_mode_order),
};
KTEST_SUITE(smp_suite, "smp", smp_cases);
