/*
 * smp.c — application processor bring-up (Intel SDM Vol. 3A §9.4.4 "MP
 * initialization example"): hal_smp_prepare_ap, INIT, 10 ms, SIPI, 200 µs, SIPI
 * again, the ESR cleared before and read after each SIPI, then an AP_READY
 * handshake with a timeout. By default every AP at once (INITs back to back, one
 * 10 ms wait, SIPI rounds, handshakes collected together); smp.parallel=0 starts
 * them one by one. One sequence for xAPIC and x2APIC. A CPU that fails is logged
 * with its APIC ID and the reason; boot goes on. Publication order of a new CPU
 * (seed K8) and the parallel path are documented in docs/smp.md.
 */
#include <hal/hal.h>
#include <kernel/acpi.h>
#include <kernel/apic.h>
#include <kernel/atomic.h>
#include <kernel/cmdline.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/log.h>
#include <kernel/percpu.h>
#include <kernel/printf.h>
#include <kernel/sched.h>
#include <kernel/smp.h>
#include <kernel/srat.h>
#include <kernel/thread.h>
#include <kernel/time.h>
#include <hw/x86/lapic.h>

struct percpu percpu_data[HAL_MAX_CPUS];
static struct cpumask online_mask;
static uint32_t nfailed;
static uint64_t tsc_last_online, tsc_boot;
static uint64_t tsc_first_init;     /* the first AP INIT (boot CPU only) */
static bool bringup_parallel;       /* set by smp_boot before any AP starts */
static uint64_t online_hook;        /* void (*)(unsigned) */

bool cpu_online(unsigned cpu)
{
	return cpumask_test_atomic(&online_mask, cpu, MO_ACQUIRE);
}

void smp_online_mask(struct cpumask *out)
{
	/* acquire: everything published before a CPU's online bit is visible */
	cpumask_snapshot(out, &online_mask, MO_ACQUIRE);
}

unsigned smp_online_count(void)
{
	struct cpumask m;
	smp_online_mask(&m);
	return cpumask_weight(&m);
}

unsigned smp_failed_count(void)
{
	return atomic_load32(&nfailed, MO_RELAXED);
}

uint64_t smp_online_us(void)
{
	uint64_t last = atomic_load64(&tsc_last_online, MO_ACQUIRE);
	return last > tsc_boot ? time_tsc_to_ns(last - tsc_boot) / 1000 : 0;
}

void smp_set_online_hook(void (*fn)(unsigned cpu))
{
	atomic_store64(&online_hook, (uint64_t)(uintptr_t)fn, MO_RELEASE);
}

/* Make cpu visible. Its NUMA node and APIC ID were written before (K8): the
 * release on the online bit publishes them to every reader of the mask. */
static void set_online(unsigned cpu)
{
	struct percpu *c = percpu_of(cpu);
	c->boot.numa_at_online = atomic_load32(&c->numa_node, MO_RELAXED);
	cpumask_set_atomic(&online_mask, cpu, MO_RELEASE);
	void (*hook)(unsigned) = (void (*)(unsigned))(uintptr_t)atomic_load64(&online_hook, MO_ACQUIRE);
	if (hook)
		hook(cpu);
}

void smp_bsp_online(uint32_t apic_id)
{
	unsigned cpu = hal_cpu_index();
	struct percpu *c = percpu_of(cpu);
	c->index = cpu;
	c->apic_id = apic_id;
	atomic_store32(&c->numa_node, numa_node_of_apic(apic_id), MO_RELAXED);
	atomic_store64(&c->state, CPU_ONLINE, MO_RELEASE);
	set_online(cpu);
}

/* Park a CPU that lost the race against its timeout: never online, no interrupts.
 * lapic_up: apic_init_ap ran on it; its LAPIC is then software-disabled again and
 * irq_ready cleared, so no IPI (all-but-self included) or interrupt reaches it.
 * Before that its LAPIC is as INIT left it (xAPIC mode, software-disabled: SDM
 * Vol. 3A §11.4.7.3) and must not be written in the boot CPU's mode. */
static void __attribute__((noreturn)) ap_park(unsigned idx, bool lapic_up)
{
	hal_irq_disable();
	if (lapic_up) {
		/* release: pairs with the acquire of whoever aims interrupts here */
		atomic_store32(&percpu_of(idx)->irq_ready, 0, MO_RELEASE);
		lapic_soft_disable();
	}
	hal_cpu_stop();
}

/* An AP whose AP_READY came after the boot CPU had marked it FAILED: it says so
 * (the boot CPU has counted it failed already) and parks, never online. */
static void __attribute__((noreturn)) ap_park_late(unsigned idx, bool lapic_up)
{
	klog("smp", "CPU %u (APIC ID 0x%x) answered after the boot CPU gave up on it: parked, "
	     "not brought online", idx, percpu_of(idx)->apic_id);
	ap_park(idx, lapic_up);
}

/* A CPU's idle thread (docs/sched.md): its boot flow, made the idle thread by
 * sched_cpu_start. It gives the CPU to queued threads, else halts. The check runs
 * with interrupts off and hal_cpu_halt opens them only for the sleep (sti; hlt),
 * so a wake-up IPI (a thread queued here) sent between the check and the halt is
 * not lost. */
static void __attribute__((noreturn)) ap_idle(void)
{
	sched_cpu_start();
	hal_irq_disable();
	for (;;) {
		if (sched_idle_has_work()) {
			thread_yield();
			continue;
		}
		hal_cpu_halt();
	}
}

void smp_idle_loop(void)
{
	ap_idle();
}

struct run_part {
	void (*fn)(uint64_t);
	uint64_t arg;
};

static void run_entry(void *p)
{
	const struct run_part *r = p;
	r->fn(r->arg);
}

#define RUN_READY_WAIT_NS 2000000000ull     /* an online CPU opens its run queue at once */

int smp_run_threads(const struct cpumask *targets, void (*fn)(uint64_t), uint64_t arg)
{
	unsigned self = hal_cpu_index();
	struct cpumask on, to;
	smp_online_mask(&on);
	cpumask_and(&to, targets, &on);
	bool here = cpumask_test(&to, self);
	cpumask_unset(&to, self);
	struct thread **ts = kzalloc(sizeof(*ts) * HAL_MAX_CPUS);
	if (!ts)
		return -ENOMEM;
	const struct run_part part = { fn, arg };
	int rc = 0;
	for_each_cpu(c, &to) {
		/* online comes just before the CPU's idle loop opens its run queue */
		uint64_t t0 = time_now_ns();
		while (!sched_cpu_ready(c) && time_now_ns() - t0 < RUN_READY_WAIT_NS)
			hal_cpu_relax();
		struct thread_opts o = { 0 };
		cpumask_set(&o.affinity, c);
		char name[THREAD_NAME_MAX];
		ksnprintf(name, sizeof name, "run%u", c);
		ts[c] = sched_cpu_ready(c) ? thread_create(name, run_entry, (void *)&part, &o) : 0;
		if (!ts[c]) {
			klog("smp", "smp_run_threads: no thread for CPU %u (%s): its part is not run", c,
			     sched_cpu_ready(c) ? "out of memory" : "its scheduler never started");
			rc = -ENOMEM;
			break;
		}
	}
	if (here && rc == 0)
		fn(arg);
	for_each_cpu(c, &to)
		if (ts[c])
			thread_join(ts[c], 0);
	kfree(ts);
	return rc;
}

/* tsc_last_online = max(itself, t): APs going online together must not move it back. */
static void note_online_time(uint64_t t)
{
	uint64_t seen = atomic_load64(&tsc_last_online, MO_RELAXED);
	/* release: pairs with smp_online_us/smp_bringup_us' acquire */
	while (seen < t && !atomic_cas64(&tsc_last_online, &seen, t, MO_RELEASE, MO_RELAXED))
		;
}

static void __attribute__((noreturn)) ap_entry(unsigned idx)
{
	if (idx >= HAL_MAX_CPUS) {
		hal_irq_disable();
		hal_cpu_stop();
	}
	struct percpu *c = percpu_of(idx);
	/* acquire: pairs with the BSP's release of CPU_BOOTING: apic_id, numa_node,
	 * the handler table and the vector space are ready */
	uint64_t st = atomic_load64(&c->state, MO_ACQUIRE);
	if (st == CPU_FAILED)
		ap_park_late(idx, false);
	if (st != CPU_BOOTING)
		ap_park(idx, false);
	apic_init_ap();
	uint32_t id = lapic_id();
	if (id != c->apic_id)
		klog("smp", "CPU %u: LAPIC reports APIC ID 0x%x, the MADT said 0x%x", idx, id, c->apic_id);
	time_cpu_start();
	uint64_t expect = CPU_BOOTING;
	/* AP_READY: whoever moves the state first wins; a late AP parks. */
	if (!atomic_cas64(&c->state, &expect, CPU_ONLINE, MO_ACQ_REL, MO_ACQUIRE))
		ap_park_late(idx, true);
	c->boot.t_online = hal_rdtsc();
	set_online(idx);
	note_online_time(c->boot.t_online);
	ap_idle();
}

/* Wait for the AP's online bit (set after it won the state CAS: seeing the state
 * alone is not enough, the fact lines would count it too early). */
static bool wait_online(unsigned idx, uint64_t us)
{
	uint64_t t0 = hal_rdtsc(), limit = us * time_tsc_khz() / 1000;
	while (hal_rdtsc() - t0 < limit) {
		if (cpu_online(idx))
			return true;
		hal_cpu_relax();
	}
	return cpu_online(idx);
}

static void fail_cpu(unsigned idx, int err, const char *why, uint32_t esr)
{
	struct percpu *c = percpu_of(idx);
	c->boot.error = err;
	atomic_fetch_add32(&nfailed, 1, MO_RELAXED);
	if (esr)
		klog("smp", "CPU %u (APIC ID 0x%x) failed to start: %s (ESR 0x%x); continuing without it",
		     idx, c->apic_id, why, esr);
	else
		klog("smp", "CPU %u (APIC ID 0x%x) failed to start: %s; continuing without it",
		     idx, c->apic_id, why);
}

/* Step 1 for one AP: per-CPU data, interrupt table and the platform's start-up slot,
 * then state BOOTING (release). Returns the SIPI vector, or a negative errno after
 * naming the CPU. */
static int ap_prepare(unsigned idx, uint32_t apic_id)
{
	struct percpu *c = percpu_of(idx);
	c->index = idx;
	c->apic_id = apic_id;
	atomic_store32(&c->numa_node, NUMA_NODE_NONE, MO_RELAXED);
	/* K8: the NUMA node before anything can make the CPU visible. */
	atomic_store32(&c->numa_node, numa_node_of_apic(apic_id), MO_RELAXED);
	int rc = irq_cpu_prepare(idx);
	if (rc) {
		fail_cpu(idx, rc, "no memory for its interrupt table", 0);
		return rc;
	}
	int vec = hal_smp_prepare_ap(idx, apic_id, ap_entry);
	if (vec < 0 || vec > 0xFF) {
		fail_cpu(idx, vec < 0 ? vec : -EINVAL, "the platform could not prepare its start-up", 0);
		return vec < 0 ? vec : -EINVAL;
	}
	/* release: everything above before the AP can observe CPU_BOOTING */
	atomic_store64(&c->state, CPU_BOOTING, MO_RELEASE);
	return vec;
}

/* INIT (level assert) to one AP, the ESR cleared first. */
static int ap_send_init(unsigned idx)
{
	struct percpu *c = percpu_of(idx);
	struct ap_boot_record *b = &c->boot;
	(void)lapic_esr_collect();
	b->esr_clears++;
	b->icr_init = apic_icr_init();
	b->t_init = hal_rdtsc();
	if (!tsc_first_init)
		tsc_first_init = b->t_init;
	return lapic_send_icr(b->icr_init, c->apic_id);
}

/* SIPI number s (0, 1) to one AP: ESR cleared before (K40), read after settle_us. */
static int ap_send_sipi(unsigned idx, unsigned s, uint8_t vec, uint64_t settle_us)
{
	struct percpu *c = percpu_of(idx);
	struct ap_boot_record *b = &c->boot;
	(void)lapic_esr_collect();
	b->esr_clears++;
	b->icr_sipi[s] = apic_icr_sipi(vec);
	b->t_sipi[s] = hal_rdtsc();
	int rc = lapic_send_icr(b->icr_sipi[s], c->apic_id);
	b->nsipi++;
	if (settle_us)
		udelay(settle_us);
	b->esr_after[s] = lapic_esr_collect();
	b->nesr_reads++;
	return rc;
}

/* The last step for one AP whose wait is over: 0 when it is online; otherwise move
 * it BOOTING -> FAILED (a later AP_READY then parks it) and name it with what it
 * did not do. rc: the error of sending its INIT/SIPIs. */
static int ap_conclude(unsigned idx, int rc)
{
	struct percpu *c = percpu_of(idx);
	if (cpu_online(idx))
		return 0;
	uint64_t expect = CPU_BOOTING;
	if (!atomic_cas64(&c->state, &expect, CPU_FAILED, MO_ACQ_REL, MO_ACQUIRE)) {
		/* it won the race just now: its online bit follows in a few instructions */
		if (wait_online(idx, SMP_AP_TIMEOUT_MS * 1000ull))
			return 0;
		klog("smp", "CPU %u (APIC ID 0x%x) answered but never set its online bit", idx, c->apic_id);
		return -ETIMEDOUT;
	}
	uint32_t esr = c->boot.esr_after[0] | c->boot.esr_after[1];
	if (rc)
		fail_cpu(idx, rc, "the IPI could not be sent (ICR stuck busy)", esr);
	else if (esr & APIC_ESR_SEND_MASK)
		fail_cpu(idx, -EIO, "SIPI was not accepted", esr);
	else
		fail_cpu(idx, -ETIMEDOUT, "no AP_READY within the timeout after the second SIPI", esr);
	return c->boot.error;
}

/* Sequential start of one AP (smp.parallel=0): INIT, 10 ms, SIPI, 200 µs, SIPI,
 * 200 µs, then up to SMP_AP_TIMEOUT_MS for its AP_READY. 0 when it came online. */
static int start_ap(unsigned idx, uint32_t apic_id)
{
	int vec = ap_prepare(idx, apic_id);
	if (vec < 0)
		return vec;
	int rc = ap_send_init(idx);
	if (rc == 0) {
		udelay(10000);                          /* SDM §9.4.4: 10 ms after INIT (K39) */
		for (unsigned s = 0; s < 2 && rc == 0; s++)     /* two SIPIs (K46) */
			rc = ap_send_sipi(idx, s, (uint8_t)vec, 200);   /* 200 µs after each */
	}
	if (rc == 0)
		(void)wait_online(idx, SMP_AP_TIMEOUT_MS * 1000ull);
	return ap_conclude(idx, rc);
}

/* One AP of a parallel start. */
struct ap_start {
	uint16_t idx;
	uint8_t vec;
	bool seen;                  /* its online bit was seen while waiting */
	int rc;                     /* error of sending its INIT/SIPIs */
};
static struct ap_start par[HAL_MAX_CPUS];

/*
 * Parallel start (smp.parallel=1, docs/smp.md "Parallel bring-up"): every AP is
 * prepared, then INIT to each back to back (per AP, never all-excluding-self,
 * which would also hit disabled and unlisted CPUs), ONE 10 ms wait, the first SIPI
 * to each back to back, 200 µs, the second round, 200 µs; then the AP_READY
 * handshakes are collected together. The wait ends SMP_AP_TIMEOUT_MS after the
 * later of the second SIPI round and the last AP seen online, so a dead AP costs
 * one timeout in all, not one each. The ESR is cleared before and read right after
 * each SIPI (per AP, so an error names its AP). Returns how many came online.
 */
static unsigned start_aps_parallel(const uint32_t *ids, unsigned n, unsigned first_idx)
{
	unsigned np = 0, started = 0;
	for (unsigned i = 0; i < n; i++) {
		int vec = ap_prepare(first_idx + i, ids[i]);
		if (vec >= 0)
			par[np++] = (struct ap_start){ .idx = (uint16_t)(first_idx + i), .vec = (uint8_t)vec };
	}
	if (!np)
		return 0;
	for (unsigned i = 0; i < np; i++)
		par[i].rc = ap_send_init(par[i].idx);
	udelay(10000);                                  /* SDM §9.4.4: 10 ms after INIT (K39) */
	for (unsigned s = 0; s < 2; s++) {              /* two SIPIs (K46) */
		for (unsigned i = 0; i < np; i++)
			if (par[i].rc == 0)
				par[i].rc = ap_send_sipi(par[i].idx, s, par[i].vec, 0);
		udelay(200);                            /* 200 µs after each round */
	}
	uint64_t limit = SMP_AP_TIMEOUT_MS * time_tsc_khz(), t_progress = hal_rdtsc();
	for (;;) {
		unsigned waiting = 0;
		for (unsigned i = 0; i < np; i++) {
			if (par[i].seen || par[i].rc)
				continue;
			if (cpu_online(par[i].idx)) {
				par[i].seen = true;
				t_progress = hal_rdtsc();
			} else {
				waiting++;
			}
		}
		if (!waiting || hal_rdtsc() - t_progress >= limit)
			break;
		hal_cpu_relax();
	}
	for (unsigned i = 0; i < np; i++)
		if (ap_conclude(par[i].idx, par[i].rc) == 0)
			started++;
	return started;
}

/* smp.parallel=1|0 (default 1); anything else is logged and the default used. */
static bool parallel_wanted(void)
{
	uint64_t v = 1;
	int rc = cmdline_get_u64("smp.parallel", &v);
	if (rc == -EINVAL || (rc == 0 && v > 1)) {
		klog("smp", "smp.parallel=%s is not 0 or 1, using 1 (parallel bring-up)",
		     cmdline_get("smp.parallel"));
		v = 1;
	}
	return v != 0;
}

bool smp_bringup_parallel(void)
{
	return bringup_parallel;
}

uint64_t smp_bringup_us(void)
{
	uint64_t last = atomic_load64(&tsc_last_online, MO_ACQUIRE);
	return tsc_first_init && last > tsc_first_init ? time_tsc_to_ns(last - tsc_first_init) / 1000 : 0;
}

static uint32_t ap_ids[HAL_MAX_CPUS];   /* APIC ID of CPU index i + 1 */

unsigned smp_boot(const struct acpi_madt_info *madt, uint64_t tsc_kmain)
{
	tsc_boot = tsc_kmain;
	atomic_store64(&tsc_last_online, hal_rdtsc(), MO_RELEASE);
	uint64_t max = HAL_MAX_CPUS;
	if (cmdline_get_u64("smp.max_cpus", &max) == 0 && (max < 1 || max > HAL_MAX_CPUS)) {
		klog("smp", "smp.max_cpus=%llu out of range 1..%u, using %u", (unsigned long long)max,
		     HAL_MAX_CPUS, HAL_MAX_CPUS);
		max = HAL_MAX_CPUS;
	}
	if (cmdline_has("smp.nosmp"))
		max = 1;
	uint32_t bsp_id = percpu_of(hal_cpu_index())->apic_id;
	bool bsp_listed = false;
	unsigned next = 1, started = 0, skipped = 0;
	for (unsigned i = 0; madt && i < madt->ncpus; i++) {
		const struct acpi_cpu *m = &madt->cpus[i];
		if (m->apic_id == bsp_id) {
			bsp_listed = true;
			continue;
		}
		if (!(m->flags & ACPI_LAPIC_ENABLED))
			continue;           /* online-capable only: a hot-plug slot, not present */
		if (next >= max || next >= HAL_MAX_CPUS) {
			skipped++;
			continue;
		}
		if (apic_mode() == APIC_MODE_XAPIC && m->apic_id > 0xFE) {
			klog("smp", "APIC ID 0x%x needs x2APIC mode, which is off: CPU not started", m->apic_id);
			skipped++;
			continue;
		}
		ap_ids[next - 1] = m->apic_id;          /* CPU index next */
		next++;
	}
	bool parallel = parallel_wanted();
	bringup_parallel = parallel;
	if (parallel) {
		started = start_aps_parallel(ap_ids, next - 1, 1);
	} else {
		for (unsigned i = 1; i < next; i++)
			if (start_ap(i, ap_ids[i - 1]) == 0)
				started++;
	}
	if (madt && !bsp_listed)
		klog("smp", "the boot CPU's APIC ID 0x%x is not in the MADT (firmware bug)", bsp_id);
	if (skipped)
		klog("smp", "%u CPU(s) not started (smp.max_cpus/smp.nosmp or addressing limits)", skipped);
	kinfo("smp.online", "%u", smp_online_count());
	kinfo("smp.failed", "%u", smp_failed_count());
	kinfo("smp.online_us", "%llu", (unsigned long long)smp_online_us());
	kinfo("smp.parallel", "%u", parallel ? 1u : 0u);
	kinfo("smp.bringup_us", "%llu", (unsigned long long)smp_bringup_us());
	(void)started;
	return smp_online_count();
}
