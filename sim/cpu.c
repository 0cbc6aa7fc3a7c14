/*
 * cpu.c — simulated CPUs as host threads: the boot CPU runs kmain, APs park until
 * a model starts them (SIPI). Per-CPU interrupt flag, halt, a synthetic CPUID
 * (Intel SDM Vol. 2A, CPUID leaves 0, 1, 0xB), a per-CPU MSR file with
 * IA32_APIC_BASE (SDM Vol. 3A §11.4.4), and a virtual TSC at a nominal 2 GHz.
 * Implements the "cpu" group of kernel/include/hal/hal.h.
 */
#include "bus.h"
#include "sim.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BSP_STACK_SIZE (8u << 20)
#define AP_STACK_SIZE (2u << 20)
#define MSR_SLOTS 32

#define MSR_IA32_TSC 0x10u
#define MSR_IA32_APIC_BASE 0x1Bu            /* SDM Vol. 3A §11.4.4 */
#define   APIC_BASE_BSP (1ull << 8)
#define   APIC_BASE_ENABLE (1ull << 11)
#define   APIC_BASE_ADDR 0xFEE00000ull

struct msr_slot {
	uint32_t msr;
	uint64_t value;
};

struct sim_cpu {
	unsigned index;
	uint32_t apic_id;
	atomic_bool irq_enabled;        /* RFLAGS.IF; off at reset */
	pthread_mutex_t lock;           /* protects everything below */
	pthread_cond_t cond;
	bool started;
	void (*entry)(void *);
	void *arg;
	unsigned kicks;                 /* wake-ups not yet consumed by a halt */
	struct msr_slot msrs[MSR_SLOTS];
	unsigned nmsrs;
};

static struct sim_cpu *cpus;
static unsigned ncpus;
static __thread struct sim_cpu *self;
static atomic_uint irq_sources;
static struct timespec t0;

/* ---- time --------------------------------------------------------------------------- */

void sim_time_init(void)
{
	clock_gettime(CLOCK_MONOTONIC, &t0);
}

uint64_t sim_time_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)(ts.tv_sec - t0.tv_sec) * 1000000000ull + (uint64_t)ts.tv_nsec -
	       (uint64_t)t0.tv_nsec;
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

unsigned sim_cpu_count(void)
{
	return ncpus;
}

int sim_cpu_self(void)
{
	return self ? (int)self->index : -1;
}

uint32_t sim_cpu_apic_id(unsigned cpu)
{
	return cpu < ncpus ? cpus[cpu].apic_id : 0;
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

static void *ap_thread(void *p)
{
	struct sim_cpu *c = p;
	void (*entry)(void *);
	void *arg;

	self = c;
	pthread_mutex_lock(&c->lock);
	while (!c->entry)
		pthread_cond_wait(&c->cond, &c->lock);
	entry = c->entry;
	arg = c->arg;
	pthread_mutex_unlock(&c->lock);
	entry(arg);
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
		c->index = i;
		c->apic_id = apic_ids[i];
		atomic_init(&c->irq_enabled, false);
		pthread_mutex_init(&c->lock, NULL);
		pthread_cond_init(&c->cond, NULL);
		msr_store(c, MSR_IA32_APIC_BASE,
		          APIC_BASE_ADDR | APIC_BASE_ENABLE | (i == 0 ? APIC_BASE_BSP : 0));
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
	pthread_mutex_lock(&c->lock);
	c->started = true;
	pthread_mutex_unlock(&c->lock);
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

int sim_cpu_start(unsigned cpu, void (*entry)(void *), void *arg)
{
	struct sim_cpu *c;
	int err = 0;

	if (cpu == 0 || cpu >= ncpus || !entry)
		return -EINVAL;
	c = &cpus[cpu];
	pthread_mutex_lock(&c->lock);
	if (c->started) {
		err = -EBUSY;
	} else {
		c->started = true;
		c->arg = arg;
		c->entry = entry;
		pthread_cond_signal(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	return err;
}

void sim_irq_source_add(void)
{
	atomic_fetch_add(&irq_sources, 1);
}

void sim_cpu_kick(unsigned cpu)
{
	struct sim_cpu *c;

	if (cpu >= ncpus)
		return;
	c = &cpus[cpu];
	pthread_mutex_lock(&c->lock);
	c->kicks++;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

bool sim_cpu_irq_enabled(unsigned cpu)
{
	return cpu < ncpus && atomic_load(&cpus[cpu].irq_enabled);
}

/* ---- HAL: cpu ------------------------------------------------------------------------ */

unsigned hal_cpu_index(void)
{
	return cur("hal_cpu_index")->index;
}

unsigned long hal_irq_save(void)
{
	return atomic_exchange(&cur("hal_irq_save")->irq_enabled, false) ? 1ul : 0ul;
}

void hal_irq_restore(unsigned long flags)
{
	atomic_store(&cur("hal_irq_restore")->irq_enabled, flags != 0);
}

void hal_irq_enable(void)
{
	atomic_store(&cur("hal_irq_enable")->irq_enabled, true);
}

void hal_irq_disable(void)
{
	atomic_store(&cur("hal_irq_disable")->irq_enabled, false);
}

void hal_cpu_relax(void)
{
	/* Two host cores may carry 256 CPUs: give the spinner's core away. */
	sched_yield();
}

void hal_cpu_halt(void)
{
	struct sim_cpu *c = cur("hal_cpu_halt");

	if (!atomic_load(&c->irq_enabled))
		sim_fatal("hlt with interrupts disabled: this CPU would never wake up (kernel bug)");
	if (atomic_load(&irq_sources) == 0)
		sim_fatal("hlt with interrupts enabled, but no device model of this machine can "
		          "raise an interrupt yet: this CPU would sleep forever");
	pthread_mutex_lock(&c->lock);
	while (c->kicks == 0)
		pthread_cond_wait(&c->cond, &c->lock);
	c->kicks--;
	pthread_mutex_unlock(&c->lock);
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
	case 0x0:                       /* max basic leaf, vendor in EBX, EDX, ECX */
		out[0] = 0xB;
		out[1] = str4("Dopp");
		out[3] = str4("elSi");
		out[2] = str4("mCPU");
		break;
	case 0x1:
		out[0] = (6u << 8) | (15u << 4) | 1u;      /* family 6, model 15, stepping 1 */
		out[1] = ((c->apic_id & 0xFFu) << 24) |    /* initial APIC ID, 8 bits */
		         (8u << 8);                        /* CLFLUSH line: 8 * 8 = 64 bytes */
		out[2] = 1u << 21;                         /* x2APIC */
		out[3] = (1u << 4) | (1u << 5) | (1u << 9); /* TSC, MSR, APIC */
		break;
	case 0xB:                       /* only EDX (x2APIC ID) is described */
		out[3] = c->apic_id;
		break;
	default:
		break;
	}
}

uint64_t hal_rdmsr(uint32_t msr)
{
	struct sim_cpu *c = cur("hal_rdmsr");
	sim_msr_read_fn rd;
	sim_msr_write_fn wr;
	void *ctx;
	uint64_t v = 0;

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
	struct sim_cpu *c = cur("hal_wrmsr");
	sim_msr_read_fn rd;
	sim_msr_write_fn wr;
	void *ctx;

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

/* ---- HAL: tlb ------------------------------------------------------------------------ */

/* The sim has no guest page tables yet: the direct map is the host mapping. */
void hal_tlb_flush_page(uintptr_t va)
{
	(void)va;
}

void hal_tlb_flush_all(void)
{
}
