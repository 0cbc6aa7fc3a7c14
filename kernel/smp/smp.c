/*
 * smp.c — application processor bring-up (Intel SDM Vol. 3A §9.4.4 "MP
 * initialization example"): for each enabled MADT CPU, hal_smp_prepare_ap, INIT,
 * 10 ms, SIPI, 200 µs, SIPI again, the ESR cleared before and read after each
 * SIPI, then an AP_READY handshake with a timeout. One sequence for xAPIC and
 * x2APIC. A CPU that fails is logged with its APIC ID and the reason; boot goes on.
 * Publication order of a new CPU (seed K8) is documented in docs/smp.md.
 */
#include <hal/hal.h>
#include <kernel/acpi.h>
#include <kernel/apic.h>
#include <kernel/atomic.h>
#include <kernel/cmdline.h>
#include <kernel/errno.h>
#include <kernel/log.h>
#include <kernel/percpu.h>
#include <kernel/sched.h>
#include <kernel/smp.h>
#include <kernel/srat.h>
#include <kernel/time.h>
#include <hw/x86/lapic.h>

struct percpu percpu_data[HAL_MAX_CPUS];
static struct cpumask online_mask;
static uint32_t nfailed;
static uint64_t tsc_last_online, tsc_boot;
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

/* Park a CPU that lost the race against its timeout: never online, no interrupts. */
static void __attribute__((noreturn)) ap_park(void)
{
	hal_irq_disable();
	lapic_soft_disable();
	for (;;)
		hal_cpu_halt();
}

/* A CPU's idle thread (docs/sched.md): its boot flow, made the idle thread by
 * sched_cpu_start. It runs work smp_run_threads left, gives the CPU to queued
 * threads, else halts. The checks run with interrupts off and hal_cpu_halt opens
 * them only for the sleep (sti; hlt), so a wake-up IPI (a thread queued here, or
 * work) sent between the checks and the halt is not lost. */
static void __attribute__((noreturn)) ap_idle(struct percpu *c)
{
	sched_cpu_start();
	hal_irq_disable();
	for (;;) {
		/* acquire: pairs with smp_run_threads' release of fn and arg */
		uint64_t fn = atomic_xchg64(&c->idle_fn, 0, MO_ACQUIRE);
		if (fn) {
			uint64_t arg = atomic_load64(&c->idle_arg, MO_RELAXED);
			hal_irq_enable();
			((void (*)(uint64_t))(uintptr_t)fn)(arg);
			hal_irq_disable();
			/* release: the work's effects before the caller sees it done */
			atomic_store32(&c->idle_done, 1, MO_RELEASE);
			continue;
		}
		if (sched_idle_has_work()) {
			thread_yield();
			continue;
		}
		hal_cpu_halt();
	}
}

void smp_idle_loop(void)
{
	ap_idle(this_cpu());
}

int smp_run_threads(const struct cpumask *targets, void (*fn)(uint64_t), uint64_t arg)
{
	unsigned self = hal_cpu_index();
	struct cpumask on, to;
	smp_online_mask(&on);
	cpumask_and(&to, targets, &on);
	bool here = cpumask_test(&to, self);
	cpumask_unset(&to, self);
	for_each_cpu(t, &to) {
		struct percpu *c = percpu_of(t);
		if (atomic_load64(&c->idle_fn, MO_ACQUIRE) != 0)
			return -EBUSY;
	}
	for_each_cpu(t, &to) {
		struct percpu *c = percpu_of(t);
		atomic_store32(&c->idle_done, 0, MO_RELAXED);
		atomic_store64(&c->idle_arg, arg, MO_RELAXED);
		/* release: arg and the cleared done flag before the CPU can take fn */
		atomic_store64(&c->idle_fn, (uint64_t)(uintptr_t)fn, MO_RELEASE);
		ipi_send(t, VEC_RESCHED);
	}
	if (here)
		fn(arg);
	for_each_cpu(t, &to) {
		/* acquire: pairs with the AP's release of idle_done */
		while (!atomic_load32(&percpu_of(t)->idle_done, MO_ACQUIRE)) {
			xcall_poll();
			hal_cpu_relax();
		}
	}
	return 0;
}

static void __attribute__((noreturn)) ap_entry(unsigned idx)
{
	if (idx >= HAL_MAX_CPUS)
		ap_park();
	struct percpu *c = percpu_of(idx);
	/* acquire: pairs with the BSP's release of CPU_BOOTING: apic_id, numa_node,
	 * the handler table and the vector space are ready */
	if (atomic_load64(&c->state, MO_ACQUIRE) != CPU_BOOTING)
		ap_park();
	apic_init_ap();
	uint32_t id = lapic_id();
	if (id != c->apic_id)
		klog("smp", "CPU %u: LAPIC reports APIC ID 0x%x, the MADT said 0x%x", idx, id, c->apic_id);
	time_cpu_start();
	uint64_t expect = CPU_BOOTING;
	/* AP_READY: whoever moves the state first wins; a late AP parks. */
	if (!atomic_cas64(&c->state, &expect, CPU_ONLINE, MO_ACQ_REL, MO_ACQUIRE))
		ap_park();
	c->boot.t_online = hal_rdtsc();
	set_online(idx);
	atomic_store64(&tsc_last_online, c->boot.t_online, MO_RELEASE);
	ap_idle(c);
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

/* Start one AP; returns 0 when it came online. */
static int start_ap(unsigned idx, uint32_t apic_id)
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

	struct ap_boot_record *b = &c->boot;
	(void)lapic_esr_collect();
	b->esr_clears++;
	b->icr_init = apic_icr_init();
	b->t_init = hal_rdtsc();
	rc = lapic_send_icr(b->icr_init, apic_id);
	if (rc == 0) {
		udelay(10000);                          /* SDM §9.4.4: 10 ms after INIT (K39) */
		for (unsigned s = 0; s < 2; s++) {      /* two SIPIs (K46) */
			(void)lapic_esr_collect();          /* clear before (K40) */
			b->esr_clears++;
			b->icr_sipi[s] = apic_icr_sipi((uint8_t)vec);
			b->t_sipi[s] = hal_rdtsc();
			rc = lapic_send_icr(b->icr_sipi[s], apic_id);
			b->nsipi++;
			udelay(200);                        /* 200 µs after each SIPI */
			b->esr_after[s] = lapic_esr_collect();       /* read after (K40) */
			b->nesr_reads++;
			if (rc)
				break;
		}
	}
	if (rc == 0 && wait_online(idx, SMP_AP_TIMEOUT_MS * 1000ull))
		return 0;
	uint64_t expect = CPU_BOOTING;
	if (!atomic_cas64(&c->state, &expect, CPU_FAILED, MO_ACQ_REL, MO_ACQUIRE)) {
		/* it won the race just now: its online bit follows in a few instructions */
		if (wait_online(idx, SMP_AP_TIMEOUT_MS * 1000ull))
			return 0;
		klog("smp", "CPU %u (APIC ID 0x%x) answered but never set its online bit", idx, apic_id);
		return -ETIMEDOUT;
	}
	uint32_t esr = b->esr_after[0] | b->esr_after[1];
	if (rc)
		fail_cpu(idx, rc, "the IPI could not be sent (ICR stuck busy)", esr);
	else if (esr & APIC_ESR_SEND_MASK)
		fail_cpu(idx, -EIO, "SIPI was not accepted", esr);
	else
		fail_cpu(idx, -ETIMEDOUT, "no AP_READY within the timeout after the second SIPI", esr);
	return c->boot.error;
}

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
		if (start_ap(next, m->apic_id) == 0)
			started++;
		next++;
	}
	if (madt && !bsp_listed)
		klog("smp", "the boot CPU's APIC ID 0x%x is not in the MADT (firmware bug)", bsp_id);
	if (skipped)
		klog("smp", "%u CPU(s) not started (smp.max_cpus/smp.nosmp or addressing limits)", skipped);
	kinfo("smp.online", "%u", smp_online_count());
	kinfo("smp.failed", "%u", smp_failed_count());
	kinfo("smp.online_us", "%llu", (unsigned long long)smp_online_us());
	return smp_online_count();
}
