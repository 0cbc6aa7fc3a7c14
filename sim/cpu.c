/*
 * cpu.c — simulated CPUs as host threads: the boot CPU runs kmain, APs park until
 * the LAPIC model accepts a SIPI for them and then run the entry the kernel gave
 * hal_smp_prepare_ap. Per-CPU interrupt flag and interrupt delivery at HAL calls,
 * halt on a condition variable, a synthetic CPUID (Intel SDM Vol. 2A, leaves 0, 1,
 * 0xB), a per-CPU MSR file and a virtual TSC. Implements the "cpu" and "smp"
 * groups of kernel/include/hal/hal.h.
 */
#include "sim_bus.h"
#include "det.h"
#include "sim.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lapic/lapic.h"

#include <hw/x86/cpuid.h>
#include <hw/x86/msr.h>

#define BSP_STACK_SIZE (8u << 20)
#define AP_STACK_SIZE (2u << 20)
#define MSR_SLOTS 32
#define AP_LATE_NS 1500000000ull    /* fault ap-late: SIPI to first instruction */

struct msr_slot {
	uint32_t msr;
	uint64_t value;
};

struct sim_cpu {
	unsigned slot;                  /* position in the machine (MADT order) */
	unsigned index;                 /* what hal_cpu_index returns (the kernel's) */
	uint32_t apic_id;
	atomic_bool irq_enabled;        /* RFLAGS.IF; off at reset */
	pthread_mutex_t lock;           /* protects everything below */
	pthread_cond_t cond;
	bool started;
	bool prepared;                  /* hal_smp_prepare_ap recorded an entry */
	bool late;                      /* fault ap-late: starts AP_LATE_NS after its SIPI */
	void (*entry)(unsigned);
	unsigned entry_index;
	unsigned kicks;                 /* wake-ups not yet seen by a halt */
	bool idle_forever;              /* halted with nothing that could wake it */
	struct msr_slot msrs[MSR_SLOTS];
	unsigned nmsrs;
};

static struct sim_cpu *cpus;
static unsigned ncpus;
static __thread struct sim_cpu *self;
static struct timespec t0;
static struct sim_cpu_features features = { .x2apic = true, .tsc_deadline = true };
static atomic_uint running_cpus;    /* started CPUs */
static atomic_uint idle_cpus;       /* of those, halted with no event that could wake them */
static atomic_uint device_events;   /* device timers armed (they may wake a CPU) */
static atomic_ullong last_ap_start_ns;

/* ---- time: the one place the sim reads the host clock -------------------------------- */

void sim_time_init(void)
{
	clock_gettime(CLOCK_MONOTONIC, &t0);
}

uint64_t sim_time_ns(void)
{
	struct timespec ts;

	if (sim_det_on)
		return sim_det_now();   /* det mode: virtual time (docs/det.md) */

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)(ts.tv_sec - t0.tv_sec) * 1000000000ull + (uint64_t)ts.tv_nsec -
	       (uint64_t)t0.tv_nsec;
}

void sim_time_abs(uint64_t t, struct timespec *ts)
{
	uint64_t ns = (uint64_t)t0.tv_nsec + t;

	ts->tv_sec = t0.tv_sec + (time_t)(ns / 1000000000ull);
	ts->tv_nsec = (long)(ns % 1000000000ull);
}

/* Sleep on cond until woken or until sim time `deadline` (SIM_TIME_NEVER: no limit). */
static void time_wait(pthread_cond_t *cond, pthread_mutex_t *m, uint64_t deadline)
{
	struct timespec ts;

	if (deadline == SIM_TIME_NEVER) {
		pthread_cond_wait(cond, m);
		return;
	}
	sim_time_abs(deadline, &ts);
	pthread_cond_timedwait(cond, m, &ts);
}

uint64_t hal_rdtsc(void)
{
	/* 2 GHz: two ticks a nanosecond, counted from the sim's start ("reset"). */
	return sim_time_ns() * (SIM_TSC_HZ / 1000000000ull);
}

/* ---- CPU threads -------------------------------------------------------------------- */

static struct sim_cpu *cur(const char *what)
{
	if (!self)
		sim_fatal("%s called on a host thread that is not a simulated CPU", what);
	return self;
}

void sim_cpu_set_features(const struct sim_cpu_features *f)
{
	features = *f;
}

const struct sim_cpu_features *sim_cpu_features(void)
{
	return &features;
}

unsigned sim_cpu_count(void)
{
	return ncpus;
}

int sim_cpu_self(void)
{
	return self ? (int)self->index : -1;
}

int sim_cpu_slot(void)
{
	return self ? (int)self->slot : -1;
}

struct sim_cpu *sim_cpu_current(void)
{
	return self;
}

void sim_cpu_adopt(struct sim_cpu *c)
{
	self = c;
}

uint32_t sim_cpu_apic_id(unsigned slot)
{
	return slot < ncpus ? cpus[slot].apic_id : 0;
}

uint64_t sim_cpu_last_ap_start_ns(void)
{
	return atomic_load(&last_ap_start_ns);
}

static void msr_store(struct sim_cpu *c, uint32_t msr, uint64_t value)
{
	for (unsigned i = 0; i < c->nmsrs; i++) {
		if (c->msrs[i].msr == msr) {
			c->msrs[i].value = value;
			return;
		}
	}
	if (c->nmsrs == MSR_SLOTS)
		sim_fatal("wrmsr 0x%x: this CPU's MSR file (%d slots) is full; grow MSR_SLOTS",
		          msr, MSR_SLOTS);
	c->msrs[c->nmsrs++] = (struct msr_slot){ msr, value };
}

/* gdb's `info threads` and top show "cpu3" instead of the program name
 * (docs/debugging.md). Linux keeps 15 characters. */
static void name_thread(const char *what, unsigned n)
{
	char name[16];

	snprintf(name, sizeof(name), "%s%u", what, n);
	pthread_setname_np(pthread_self(), name);
}

/* Fault ap-late: the AP took its SIPI but runs its first instruction AP_LATE_NS
 * later (in det mode: virtual time, spent in relax switch points). */
static void ap_wait_late(struct sim_cpu *c)
{
	uint64_t until = sim_time_ns() + AP_LATE_NS;

	if (sim_det_on) {
		while (sim_time_ns() < until)
			sim_det_point(DET_RELAX);
	} else {
		struct timespec ts;

		sim_time_abs(until, &ts);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
	}
	sim_log("fault ap-late: CPU slot %u (APIC ID %u) starts now, %llu ms after its SIPI", c->slot,
	        c->apic_id, (unsigned long long)(AP_LATE_NS / 1000000));
}

static uint32_t late_ids[SIM_MAX_FAULTS];
static unsigned nlate;

int sim_cpu_fault_late(uint32_t apic_id, const uint32_t *apic_ids, unsigned n)
{
	for (unsigned i = 1; i < n; i++) {
		if (apic_ids[i] == apic_id && nlate < SIM_MAX_FAULTS) {
			late_ids[nlate++] = apic_id;
			return 0;
		}
	}
	return -EINVAL;
}

static void *ap_thread(void *p)
{
	struct sim_cpu *c = p;
	void (*entry)(unsigned);
	unsigned index;

	self = c;
	pthread_mutex_lock(&c->lock);
	while (!c->started)
		pthread_cond_wait(&c->cond, &c->lock);
	entry = c->entry;
	index = c->entry_index;
	c->index = index;
	c->kicks = 0;
	pthread_mutex_unlock(&c->lock);
	name_thread("cpu", index);
	if (sim_det_on)
		sim_det_enter(c->slot);
	if (c->late)
		ap_wait_late(c);
	/* The AP enters the kernel with interrupts disabled (HAL contract). */
	atomic_store(&c->irq_enabled, false);
	entry(index);
	sim_fatal("the AP entry function returned (it must end in a halt loop or hal_exit)");
}

int sim_cpus_init(unsigned n, const uint32_t *apic_ids)
{
	pthread_attr_t attr;
	int err;

	cpus = calloc(n, sizeof(*cpus));
	if (!cpus)
		return -ENOMEM;
	ncpus = n;
	for (unsigned i = 0; i < n; i++) {
		struct sim_cpu *c = &cpus[i];
		pthread_condattr_t ca;
		c->slot = i;
		c->index = i;
		c->apic_id = apic_ids[i];
		for (unsigned k = 0; k < nlate; k++)
			c->late |= i > 0 && late_ids[k] == apic_ids[i];
		atomic_init(&c->irq_enabled, false);
		pthread_mutex_init(&c->lock, NULL);
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&c->cond, &ca);
		pthread_condattr_destroy(&ca);
	}

	/* APs: detached threads parked on their condition variable, so they never
	 * keep the process alive and exit() never waits for them. */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, AP_STACK_SIZE);
	for (unsigned i = 1; i < n; i++) {
		pthread_t t;
		err = pthread_create(&t, &attr, ap_thread, &cpus[i]);
		if (err) {
			pthread_attr_destroy(&attr);
			return -err;
		}
	}
	pthread_attr_destroy(&attr);
	return 0;
}

static void *bsp_thread(void *bi)
{
	struct sim_cpu *c = &cpus[0];

	self = c;
	name_thread("cpu", 0);
	pthread_mutex_lock(&c->lock);
	c->started = true;
	pthread_mutex_unlock(&c->lock);
	atomic_fetch_add(&running_cpus, 1);
	if (sim_det_on)
		sim_det_enter(0);
	kmain(bi);
}

int sim_cpus_boot(struct boot_info *bi)
{
	pthread_attr_t attr;
	pthread_t t;
	int err;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, BSP_STACK_SIZE);
	err = pthread_create(&t, &attr, bsp_thread, bi);
	pthread_attr_destroy(&attr);
	if (err)
		return -err;
	/* kmain never returns: the process ends in hal_exit (or a fatal report). */
	pthread_join(t, NULL);
	return -EINVAL;
}

/* The LAPIC model accepted a SIPI for slot: start it at the trampoline. */
void sim_cpu_sipi(unsigned slot, uint8_t vector)
{
	struct sim_cpu *c;

	if (slot == 0 || slot >= ncpus)
		sim_fatal("SIPI accepted by CPU slot %u, which cannot be started", slot);
	c = &cpus[slot];
	if (vector != SIM_SIPI_VECTOR)
		sim_fatal("SIPI vector 0x%02x starts APIC ID %u at physical 0x%x, but the "
		          "trampoline hal_smp_prepare_ap installed is at 0x%x (vector 0x%02x): "
		          "on hardware the AP would run whatever is there (kernel bug)", vector,
		          c->apic_id, (unsigned)vector << 12, SIM_SIPI_VECTOR << 12, SIM_SIPI_VECTOR);
	pthread_mutex_lock(&c->lock);
	if (!c->prepared) {
		pthread_mutex_unlock(&c->lock);
		sim_fatal("APIC ID %u (CPU slot %u) accepted a SIPI, but hal_smp_prepare_ap was "
		          "never called for it: the trampoline has no entry for this AP (kernel bug)",
		          c->apic_id, slot);
	}
	c->started = true;
	atomic_fetch_add(&running_cpus, 1);
	atomic_store(&last_ap_start_ns, sim_time_ns());
	if (sim_det_on)
		sim_det_cpu_started(slot);
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

int hal_smp_prepare_ap(unsigned cpu_index, uint32_t apic_id, void (*entry)(unsigned cpu_index))
{
	struct sim_cpu *c = cur("hal_smp_prepare_ap");
	int err = 0;

	if (c->slot != 0)
		sim_fatal("hal_smp_prepare_ap called on an AP: the contract says boot CPU only");
	if (!entry || cpu_index == 0 || cpu_index >= HAL_MAX_CPUS)
		return -EINVAL;
	/* Every not-yet-started CPU with that APIC ID (duplicates included, as real
	 * hardware would answer with both). */
	for (unsigned i = 1; i < ncpus; i++) {
		struct sim_cpu *t = &cpus[i];
		if (t->apic_id != apic_id)
			continue;
		pthread_mutex_lock(&t->lock);
		if (t->started) {
			err = -EBUSY;
		} else {
			t->prepared = true;
			t->entry = entry;
			t->entry_index = cpu_index;
		}
		pthread_mutex_unlock(&t->lock);
	}
	return err ? err : (int)SIM_SIPI_VECTOR;
}

/* ---- interrupts ------------------------------------------------------------------------ */

/* Until the kernel defines its dispatcher, log what arrives (HAL contract). */
__attribute__((weak)) void irq_dispatch(uint8_t vector, void *frame)
{
	(void)frame;
	sim_warn("interrupt vector 0x%02x arrived, but the kernel has no irq_dispatch", vector);
}

void sim_cpu_kick(unsigned slot)
{
	struct sim_cpu *c;

	if (slot >= ncpus)
		return;
	c = &cpus[slot];
	pthread_mutex_lock(&c->lock);
	c->kicks++;
	if (c->idle_forever) {
		c->idle_forever = false;
		atomic_fetch_sub(&idle_cpus, 1);
	}
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void sim_device_event_armed(int delta)
{
	atomic_fetch_add(&device_events, (unsigned)delta);
}

bool sim_cpu_irq_enabled(unsigned slot)
{
	return slot < ncpus && atomic_load(&cpus[slot].irq_enabled);
}

/* Deliver what the LAPIC has for us, one interrupt at a time, as the CPU does
 * between instructions: IF is cleared for the handler and set again after it
 * (iret restores RFLAGS). Returns how many were delivered. */
static unsigned deliver(struct sim_cpu *c)
{
	unsigned n = 0;
	int v;

	while (atomic_load(&c->irq_enabled) && (v = lapic_model_accept(c->slot)) >= 0) {
		if (v < 32)
			sim_fatal("interrupt vector 0x%02x delivered: vectors 0-31 are exceptions, "
			          "not interrupts (an LVT, I/O APIC entry or IPI was programmed with "
			          "it: kernel bug)", v);
		atomic_store(&c->irq_enabled, false);
		irq_dispatch((uint8_t)v, NULL);
		/* The kernel may have switched contexts on the way out (preemption):
		 * the code that resumes here can be on another CPU by now. */
		c = self;
		atomic_store(&c->irq_enabled, true);
		n++;
	}
	return n;
}

void sim_irq_poll(void)
{
	struct sim_cpu *c = self;

	if (!c || !atomic_load_explicit(&c->irq_enabled, memory_order_relaxed))
		return;
	if (lapic_model_maybe_pending(c->slot) && (!sim_det_on || sim_det_deliver_now()))
		deliver(c);
}

/* ---- HAL: cpu ------------------------------------------------------------------------ */

unsigned hal_cpu_index(void)
{
	return cur("hal_cpu_index")->index;
}

unsigned long hal_irq_save(void)
{
	if (sim_det_on)
		sim_det_point(DET_IRQ);
	return atomic_exchange(&cur("hal_irq_save")->irq_enabled, false) ? 1ul : 0ul;
}

void hal_irq_restore(unsigned long flags)
{
	atomic_store(&cur("hal_irq_restore")->irq_enabled, flags != 0);
	if (sim_det_on)
		sim_det_point(DET_IRQ);
	if (flags)
		sim_irq_poll();
}

void hal_irq_enable(void)
{
	atomic_store(&cur("hal_irq_enable")->irq_enabled, true);
	if (sim_det_on)
		sim_det_point(DET_IRQ);
	sim_irq_poll();
}

void hal_irq_disable(void)
{
	atomic_store(&cur("hal_irq_disable")->irq_enabled, false);
}

void hal_cpu_relax(void)
{
	if (sim_det_on) {
		sim_det_point(DET_RELAX);   /* PCT lowers the spinner's priority */
	} else {
		/* Two host cores may carry 256 CPUs: give the spinner's core away. */
		sched_yield();
	}
	sim_irq_poll();
}

void hal_cpu_halt(void)
{
	struct sim_cpu *c = cur("hal_cpu_halt");
	/* sti; hlt; (cli): interrupts are on for the sleep itself (HAL contract). */
	bool was = atomic_exchange(&c->irq_enabled, true);

	if (sim_det_on) {
		for (;;) {
			if (lapic_model_deliverable(c->slot) && deliver(c))
				break;
			if (!lapic_model_can_wake(c->slot))
				sim_fatal("hlt while this CPU's local APIC is %s: no interrupt can wake it "
				          "(kernel bug)", "disabled (IA32_APIC_BASE.EN or SVR bit 8 clear)");
			sim_det_halt(c->slot);  /* back when an interrupt can be delivered */
		}
		c = self;                   /* deliver() may have resumed us elsewhere */
		atomic_store(&c->irq_enabled, was);
		return;
	}
	for (;;) {
		uint64_t deadline;

		if (lapic_model_deliverable(c->slot) && deliver(c))
			break;
		if (!lapic_model_can_wake(c->slot))
			sim_fatal("hlt while this CPU's local APIC is %s: no interrupt can wake it "
			          "(kernel bug)", "disabled (IA32_APIC_BASE.EN or SVR bit 8 clear)");
		deadline = lapic_model_next_event_ns(c->slot);
		pthread_mutex_lock(&c->lock);
		if (c->kicks == 0) {
			if (deadline == LAPIC_NEVER) {
				unsigned idle = atomic_fetch_add(&idle_cpus, 1) + 1;
				c->idle_forever = true;
				if (idle == atomic_load(&running_cpus) && atomic_load(&device_events) == 0) {
					pthread_mutex_unlock(&c->lock);
					sim_fatal("every running CPU (%u) is halted with no interrupt pending and "
					          "no timer armed: the machine would hang forever (kernel bug)", idle);
				}
				time_wait(&c->cond, &c->lock, SIM_TIME_NEVER);
				if (c->idle_forever) {
					c->idle_forever = false;
					atomic_fetch_sub(&idle_cpus, 1);
				}
			} else if (sim_time_ns() < deadline) {
				time_wait(&c->cond, &c->lock, deadline);
			}
		}
		c->kicks = 0;
		pthread_mutex_unlock(&c->lock);
	}
	c = self;                       /* deliver() may have resumed us elsewhere */
	atomic_store(&c->irq_enabled, was);
}

void hal_cpu_stop(void)
{
	struct sim_cpu *c = cur("hal_cpu_stop");

	atomic_store(&c->irq_enabled, false);
	/* It no longer counts for "every running CPU is halted" (it never wakes). */
	atomic_fetch_sub(&running_cpus, 1);
	if (sim_det_on)
		sim_det_stop(c->slot);
	pthread_mutex_lock(&c->lock);
	for (;;)
		pthread_cond_wait(&c->cond, &c->lock);
}

static uint32_t str4(const char *s)
{
	uint32_t v;

	memcpy(&v, s, 4);
	return v;
}

void hal_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	struct sim_cpu *c = cur("hal_cpuid");

	(void)subleaf;
	out[0] = out[1] = out[2] = out[3] = 0;
	switch (leaf) {
	case CPUID_LEAF_VENDOR:         /* max basic leaf, vendor in EBX, EDX, ECX */
		out[0] = CPUID_LEAF_TOPOLOGY;
		out[1] = str4("Dopp");
		out[3] = str4("elSi");
		out[2] = str4("mCPU");
		break;
	case CPUID_LEAF_FEATURES:       /* family 6, model 15, stepping 1 */
		out[0] = (6u << CPUID_1_EAX_FAMILY_SHIFT) | (15u << CPUID_1_EAX_MODEL_SHIFT) |
		         (1u << CPUID_1_EAX_STEPPING_SHIFT);
		out[1] = ((c->apic_id & 0xFFu) << CPUID_1_EBX_APIC_ID_SHIFT) |
		         (8u << CPUID_1_EBX_CLFLUSH_SHIFT);  /* CLFLUSH line: 8 * 8 = 64 bytes */
		out[2] = (features.x2apic ? CPUID_1_ECX_X2APIC : 0) |
		         (features.tsc_deadline ? CPUID_1_ECX_TSC_DEADLINE : 0);
		out[3] = CPUID_1_EDX_TSC | CPUID_1_EDX_MSR | CPUID_1_EDX_APIC;
		break;
	case CPUID_LEAF_TOPOLOGY:       /* only EDX (x2APIC ID) is described */
		out[3] = c->apic_id;
		break;
	default:
		break;
	}
}

uint64_t hal_rdmsr(uint32_t msr)
{
	struct sim_cpu *c;
	model_msr_read_fn rd;
	model_msr_write_fn wr;
	void *ctx;
	uint64_t v = 0;

	if (sim_det_on)
		sim_det_point(DET_MSR);
	sim_irq_poll();
	c = cur("hal_rdmsr");           /* after the poll: a preemption may have moved us */
	if (sim_bus_msr_lookup(msr, &rd, &wr, &ctx) == 0)
		return rd(ctx, msr);
	if (msr == MSR_IA32_TSC)
		return hal_rdtsc();
	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < c->nmsrs; i++) {
		if (c->msrs[i].msr == msr) {
			v = c->msrs[i].value;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return v;                       /* never written: 0, as the HAL contract says */
}

void hal_wrmsr(uint32_t msr, uint64_t value)
{
	struct sim_cpu *c;
	model_msr_read_fn rd;
	model_msr_write_fn wr;
	void *ctx;

	if (sim_det_on)
		sim_det_point(DET_MSR);
	sim_irq_poll();
	c = cur("hal_wrmsr");           /* after the poll: a preemption may have moved us */
	if (sim_bus_msr_lookup(msr, &rd, &wr, &ctx) == 0) {
		wr(ctx, msr, value);
		return;
	}
	if (msr == MSR_IA32_TSC) {
		sim_warn("wrmsr IA32_TSC: the virtual TSC cannot be set; ignored");
		return;
	}
	pthread_mutex_lock(&c->lock);
	msr_store(c, msr, value);
	pthread_mutex_unlock(&c->lock);
}

/* ---- deterministic mode: kernel atomics are switch points -------------------------- */

void hal_sched_point(void)
{
	if (sim_det_on)
		sim_det_point(DET_ATOMIC);
}
