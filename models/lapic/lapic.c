/*
 * lapic.c — local APIC model, one per CPU, banked: xAPIC MMIO and x2APIC MSRs with
 * the SDM's access rules (Intel SDM Vol. 3A ch. 11: §11.4.4 IA32_APIC_BASE, §11.5
 * LVT/ESR/timer, §11.6 ICR, §11.8 IRR/ISR/EOI/TPR/PPR, §11.9 spurious vector,
 * §11.12 x2APIC incl. §11.12.5 state transitions), INIT/SIPI start-up of APs
 * (§9.4.4) and injectable faults (lapic_model.h). What hardware answers with #GP
 * or leaves undefined ends the run through host->fatal, naming the rule.
 */
#include "bus.h"
#include "lapic/lapic.h"
#include "lapic/lapic_model.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <hw/x86/lapic.h>

#define ICR_BUSY_NS 1000ull         /* xAPIC: delivery status pending this long after a send */

/* What this model's version register reads: an integrated APIC (0x14), seven LVT
 * entries (CMCI..error), no EOI-broadcast suppression. A choice, not a fact. */
static const uint32_t version_value = 0x14u | (6u << APIC_VERSION_MAX_LVT_SHIFT);

enum { LVT_CMCI, LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LVT_COUNT };
enum ap_state { AP_WAIT_INIT, AP_WAIT_SIPI, AP_RUNNING };

struct lapic {
	unsigned cpu;
	uint32_t id;
	/* Owner-only: touched by this CPU's own thread alone. */
	uint64_t apic_base;
	uint32_t tpr, svr, icr_lo, icr_hi;
	uint32_t lvt[LVT_COUNT];
	uint32_t esr;                   /* what ESR reads: latched at the last ESR write */
	uint32_t timer_icr, timer_dcr;
	uint64_t timer_start_ns;        /* when the current count was last loaded */
	uint64_t timer_next_ns;         /* next expiry, LAPIC_NEVER when disarmed */
	uint64_t tsc_deadline;          /* IA32_TSC_DEADLINE, 0 = disarmed */
	uint64_t icr_busy_until;        /* xAPIC delivery status pending until then */
	uint32_t isr[8];
	/* Shared with senders. */
	_Atomic uint32_t irr[8], tmr[8];
	atomic_uint esr_pending;        /* errors not yet latched by an ESR write */
	atomic_uint ldr, dfr;           /* read by senders for logical destinations */
	atomic_uint lvt_error;          /* read by senders to raise receive errors */
	atomic_bool hint;               /* something may have become deliverable */
	atomic_bool running;            /* started (BSP from reset, APs by SIPI) */
	atomic_bool enabled;            /* globally and software enabled */
	atomic_uint storm, storm_armed;
	atomic_bool late_any;
	pthread_mutex_t lock;           /* ap state, faults, late queue */
	enum ap_state ap;
	uint64_t init_ns;
	bool dead, ignore_first_sipi, esr_send_error;
	uint64_t late_at[256];          /* late-ipi fault: vector -> arrival time, 0 none */
	bool id_write_logged, nmi_logged;
};

static struct lapic lapics[LAPIC_MAX_CPUS];
static unsigned ncpus;
static struct lapic_config cfg;
static struct lapic_host host;
static atomic_ullong late_ns;
static atomic_bool bsp_x2;          /* the BSP's mode, for device messages from any thread */

static struct {
	atomic_ullong ipis_sent, fixed_delivered, fixed_dropped, inits, sipis_accepted,
		sipis_ignored, nmis, esr_errors, spurious, eoi_without_isr, timer_fires;
} st;
#define COUNT(f) atomic_fetch_add_explicit(&st.f, 1, memory_order_relaxed)

/* Writable bits per LVT (Figure 11-8): vector, delivery mode, mask, ... */
static const uint32_t lvt_valid[LVT_COUNT] = {
	[LVT_CMCI] = 0xFF | APIC_LVT_DM_MASK | APIC_LVT_MASKED,
	[LVT_TIMER] = 0xFF | APIC_LVT_MASKED | APIC_LVT_TIMER_MODE_MASK,
	[LVT_THERMAL] = 0xFF | APIC_LVT_DM_MASK | APIC_LVT_MASKED,
	[LVT_PERF] = 0xFF | APIC_LVT_DM_MASK | APIC_LVT_MASKED,
	[LVT_LINT0] = 0xFF | APIC_LVT_DM_MASK | APIC_LVT_POLARITY | APIC_LVT_LEVEL | APIC_LVT_MASKED,
	[LVT_LINT1] = 0xFF | APIC_LVT_DM_MASK | APIC_LVT_POLARITY | APIC_LVT_LEVEL | APIC_LVT_MASKED,
	[LVT_ERROR] = 0xFF | APIC_LVT_MASKED,
};
/* Read-only bits software may write back unchanged (delivery status, remote IRR). */
static const uint32_t lvt_ro_bits = APIC_LVT_PENDING | APIC_LVT_REMOTE_IRR;

/* ---- helpers --------------------------------------------------------------------- */

static bool is_x2(const struct lapic *l)
{
	return (l->apic_base & (APIC_BASE_EN | APIC_BASE_EXTD)) == (APIC_BASE_EN | APIC_BASE_EXTD);
}

static bool is_xapic(const struct lapic *l)
{
	return (l->apic_base & (APIC_BASE_EN | APIC_BASE_EXTD)) == APIC_BASE_EN;
}

static uint32_t x2_ldr(uint32_t id)
{
	/* §11.12.10.2: cluster ID in 31:16, one bit of 16 in 15:0. */
	return ((id >> 4) << 16) | (1u << (id & 0xF));
}

static int highest(const uint32_t *w)
{
	for (int i = 7; i >= 0; i--)
		if (w[i])
			return i * 32 + 31 - __builtin_clz(w[i]);
	return -1;
}

static int highest_atomic(_Atomic uint32_t *w)
{
	for (int i = 7; i >= 0; i--) {
		uint32_t v = atomic_load_explicit(&w[i], memory_order_acquire);
		if (v)
			return i * 32 + 31 - __builtin_clz(v);
	}
	return -1;
}

static uint32_t ppr(const struct lapic *l)
{
	int isrv = highest(l->isr);
	uint32_t isr_class = isrv < 0 ? 0 : ((uint32_t)isrv & 0xF0);

	/* §11.8.3.1: PPR = TPR if TPR[7:4] >= ISRV[7:4], else ISRV[7:4]:0. */
	return (l->tpr & 0xF0) >= isr_class ? l->tpr & 0xFF : isr_class;
}

static void update_enabled(struct lapic *l)
{
	bool en = (l->apic_base & APIC_BASE_EN) && (l->svr & APIC_SVR_ENABLE);
	atomic_store(&l->enabled, en);
}

static bool accepting(struct lapic *t)
{
	return atomic_load(&t->running) && atomic_load(&t->enabled);
}

/* Put vector in t's IRR (and TMR for level) and wake t. */
static void set_irr(struct lapic *t, uint8_t v, bool level, unsigned from_cpu)
{
	uint32_t bit = 1u << (v & 31);

	if (level)
		atomic_fetch_or(&t->tmr[v >> 5], bit);
	else
		atomic_fetch_and(&t->tmr[v >> 5], ~bit);
	atomic_fetch_or_explicit(&t->irr[v >> 5], bit, memory_order_release);
	atomic_store_explicit(&t->hint, true, memory_order_release);
	if (t->cpu != from_cpu)
		host.kick(t->cpu);
}

/* Latch an error into t's internal ESR and raise LVT error if unmasked. */
static void raise_error(struct lapic *t, uint32_t bits, unsigned from_cpu)
{
	uint32_t lvt = atomic_load(&t->lvt_error);

	atomic_fetch_or(&t->esr_pending, bits);
	COUNT(esr_errors);
	if (!(lvt & APIC_LVT_MASKED) && (lvt & APIC_LVT_VECTOR) >= 16 && accepting(t))
		set_irr(t, (uint8_t)(lvt & APIC_LVT_VECTOR), false, from_cpu);
}

/* A locally generated interrupt (LVT entry fires). Owner thread. */
static void raise_lvt(struct lapic *l, uint32_t lvt)
{
	if (lvt & APIC_LVT_MASKED)
		return;
	if ((lvt & APIC_LVT_VECTOR) < 16) {
		raise_error(l, APIC_ESR_RECV_ILLEGAL_VEC, l->cpu);
		return;
	}
	set_irr(l, (uint8_t)(lvt & APIC_LVT_VECTOR), false, l->cpu);
}

static void reset_regs(struct lapic *l)
{
	/* Power-on / INIT values (§11.4.7.1, §11.12.5.1): LVTs masked, SVR 0xFF
	 * (software-disabled), DFR all ones, everything else zero. */
	l->tpr = 0;
	l->svr = 0xFF;
	l->icr_lo = l->icr_hi = 0;
	for (int i = 0; i < LVT_COUNT; i++)
		l->lvt[i] = APIC_LVT_MASKED;
	atomic_store(&l->lvt_error, APIC_LVT_MASKED);
	l->esr = 0;
	atomic_store(&l->esr_pending, 0);
	l->timer_icr = l->timer_dcr = 0;
	l->timer_next_ns = LAPIC_NEVER;
	l->tsc_deadline = 0;
	l->icr_busy_until = 0;
	memset(l->isr, 0, sizeof(l->isr));
	for (int i = 0; i < 8; i++) {
		atomic_store(&l->irr[i], 0);
		atomic_store(&l->tmr[i], 0);
	}
	atomic_store(&l->ldr, 0);
	atomic_store(&l->dfr, 0xFFFFFFFFu);
	update_enabled(l);
}

/* ---- attachment: the page and the MSRs, banked by the accessing CPU ---------------- */

static const struct model_bus *bus;         /* where the claims below live */

static unsigned accessor(const char *what)
{
	int slot = bus->current_cpu(bus->ctx);

	if (slot < 0)
		host.fatal("%s from a thread that is not a simulated CPU", what);
	return (unsigned)slot;
}

static uint64_t bus_mmio_read(void *ctx, uint64_t off, unsigned size)
{
	(void)ctx;
	return lapic_model_mmio_read(accessor("local APIC MMIO read"), off, size);
}

static void bus_mmio_write(void *ctx, uint64_t off, unsigned size, uint64_t v)
{
	(void)ctx;
	lapic_model_mmio_write(accessor("local APIC MMIO write"), off, size, v);
}

static uint64_t bus_rdmsr(void *ctx, uint32_t msr)
{
	(void)ctx;
	return lapic_model_msr_read(accessor("local APIC rdmsr"), msr);
}

static void bus_wrmsr(void *ctx, uint32_t msr, uint64_t v)
{
	(void)ctx;
	lapic_model_msr_write(accessor("local APIC wrmsr"), msr, v);
}

static void release(void)
{
	if (!bus)
		return;
	/* Errors ignored: a test may have reset its fake bus in between. */
	bus->mmio_release(bus->ctx, cfg.base);
	bus->msr_release(bus->ctx, MSR_IA32_APIC_BASE);
	bus->msr_release(bus->ctx, MSR_IA32_TSC_DEADLINE);
	bus->msr_release(bus->ctx, APIC_X2_MSR_BASE);
	bus = NULL;
}

/* The xAPIC page at cfg.base, IA32_APIC_BASE, IA32_TSC_DEADLINE and the x2APIC range. */
static int claim(const struct model_bus *b)
{
	int err;

	if ((err = b->mmio_claim(b->ctx, cfg.base, APIC_MMIO_LEN, bus_mmio_read, bus_mmio_write,
	                         NULL)) != 0)
		return err;
	if ((err = b->msr_claim(b->ctx, MSR_IA32_APIC_BASE, MSR_IA32_APIC_BASE, bus_rdmsr, bus_wrmsr,
	                        NULL)) != 0)
		goto out_mmio;
	if ((err = b->msr_claim(b->ctx, MSR_IA32_TSC_DEADLINE, MSR_IA32_TSC_DEADLINE, bus_rdmsr,
	                        bus_wrmsr, NULL)) != 0)
		goto out_apic_base;
	if ((err = b->msr_claim(b->ctx, APIC_X2_MSR_BASE, APIC_X2_MSR_LAST, bus_rdmsr, bus_wrmsr,
	                        NULL)) != 0)
		goto out_deadline;
	bus = b;
	return 0;
out_deadline:
	b->msr_release(b->ctx, MSR_IA32_TSC_DEADLINE);
out_apic_base:
	b->msr_release(b->ctx, MSR_IA32_APIC_BASE);
out_mmio:
	b->mmio_release(b->ctx, cfg.base);
	return err;
}

int lapic_model_init(const struct lapic_config *c, const struct lapic_host *h,
                     const struct model_bus *b)
{
	if (!model_bus_valid(b) || !c || !h || c->ncpus == 0 || c->ncpus > LAPIC_MAX_CPUS || !c->apic_ids ||
	    !c->timer_hz || !c->tsc_hz || !h->now_ns || !h->tsc || !h->kick || !h->start_ap ||
	    !h->log || !h->fatal)
		return -EINVAL;
	release();
	cfg = *c;
	if (!cfg.base)
		cfg.base = APIC_BASE_ADDR_RESET;
	host = *h;
	ncpus = c->ncpus;
	memset(&st, 0, sizeof(st));
	atomic_store(&late_ns, 0);
	atomic_store(&bsp_x2, false);
	for (unsigned i = 0; i < ncpus; i++) {
		struct lapic *l = &lapics[i];
		memset(l, 0, sizeof(*l));
		l->cpu = i;
		l->id = c->apic_ids[i];
		l->apic_base = cfg.base | APIC_BASE_EN | (i == 0 ? APIC_BASE_BSP : 0);
		pthread_mutex_init(&l->lock, NULL);
		l->ap = i == 0 ? AP_RUNNING : AP_WAIT_INIT;
		atomic_store(&l->running, i == 0);
		reset_regs(l);
	}
	return claim(b);
}

uint64_t lapic_model_base(void)
{
	return cfg.base;
}

static struct lapic *lapic_of(unsigned cpu)
{
	if (cpu >= ncpus)
		host.fatal("local APIC access from CPU slot %u, but the machine has %u CPUs", cpu, ncpus);
	return &lapics[cpu];
}

/* ---- timer (§11.5.4) --------------------------------------------------------------- */

static unsigned timer_mode(const struct lapic *l)
{
	return l->lvt[LVT_TIMER] & APIC_LVT_TIMER_MODE_MASK;
}

static uint64_t timer_divisor(uint32_t dcr)
{
	/* Figure 11-10: bits 3,1,0; 111b divides by 1, else 2 << value. */
	unsigned v = (dcr & 3u) | ((dcr >> 1) & 4u);
	return v == 7 ? 1 : 2ull << v;
}

static uint64_t ticks_to_ns(const struct lapic *l, uint64_t ticks)
{
	unsigned __int128 ns = (unsigned __int128)ticks * timer_divisor(l->timer_dcr) * 1000000000u;
	return (uint64_t)((ns + cfg.timer_hz - 1) / cfg.timer_hz);
}

static uint64_t ns_to_ticks(const struct lapic *l, uint64_t ns)
{
	unsigned __int128 t = (unsigned __int128)ns * cfg.timer_hz;
	return (uint64_t)(t / ((unsigned __int128)timer_divisor(l->timer_dcr) * 1000000000u));
}

static void timer_arm_count(struct lapic *l, uint64_t now)
{
	l->timer_start_ns = now;
	l->timer_next_ns = l->timer_icr ? now + ticks_to_ns(l, l->timer_icr) : LAPIC_NEVER;
}

static void timer_arm_deadline(struct lapic *l)
{
	uint64_t tsc = host.tsc(), now = host.now_ns();

	if (!l->tsc_deadline) {
		l->timer_next_ns = LAPIC_NEVER;
	} else if (l->tsc_deadline <= tsc) {
		l->timer_next_ns = now;
	} else {
		unsigned __int128 d = (unsigned __int128)(l->tsc_deadline - tsc) * 1000000000u;
		l->timer_next_ns = now + (uint64_t)((d + cfg.tsc_hz - 1) / cfg.tsc_hz);
	}
}

/* Fire the timer if its time has come. Owner thread. */
static void timer_poll(struct lapic *l, uint64_t now)
{
	if (now < l->timer_next_ns)
		return;
	switch (timer_mode(l)) {
	case APIC_LVT_TIMER_DEADLINE:
		if (host.tsc() < l->tsc_deadline) {     /* ns rounding: not yet */
			timer_arm_deadline(l);
			return;
		}
		l->tsc_deadline = 0;
		l->timer_next_ns = LAPIC_NEVER;
		break;
	case APIC_LVT_TIMER_PERIODIC: {
		uint64_t period = ticks_to_ns(l, l->timer_icr);
		/* Missed periods coalesce into one interrupt (one IRR bit). */
		uint64_t k = (now - l->timer_start_ns) / period;
		l->timer_start_ns += k * period;
		l->timer_next_ns = l->timer_start_ns + period;
		break;
	}
	default:
		l->timer_next_ns = LAPIC_NEVER;
		break;
	}
	COUNT(timer_fires);
	raise_lvt(l, l->lvt[LVT_TIMER]);
}

static uint32_t timer_ccr(struct lapic *l)
{
	uint64_t ticks;

	if (timer_mode(l) == APIC_LVT_TIMER_DEADLINE || !l->timer_icr)
		return 0;
	ticks = ns_to_ticks(l, host.now_ns() - l->timer_start_ns);
	if (timer_mode(l) == APIC_LVT_TIMER_PERIODIC)
		return l->timer_icr - (uint32_t)(ticks % l->timer_icr);
	return ticks >= l->timer_icr ? 0 : l->timer_icr - (uint32_t)ticks;
}

/* ---- late IPIs (fault) ----------------------------------------------------------- */

static void late_poll(struct lapic *l, uint64_t now)
{
	bool any = false;

	if (!atomic_load(&l->late_any))
		return;
	pthread_mutex_lock(&l->lock);
	for (unsigned v = 0; v < 256; v++) {
		if (!l->late_at[v])
			continue;
		if (l->late_at[v] <= now) {
			l->late_at[v] = 0;
			if (accepting(l)) {
				COUNT(fixed_delivered);
				set_irr(l, (uint8_t)v, false, l->cpu);
			} else {
				COUNT(fixed_dropped);
			}
		} else {
			any = true;
		}
	}
	atomic_store(&l->late_any, any);
	pthread_mutex_unlock(&l->lock);
}

static uint64_t late_next(struct lapic *l)
{
	uint64_t next = LAPIC_NEVER;

	if (!atomic_load(&l->late_any))
		return next;
	pthread_mutex_lock(&l->lock);
	for (unsigned v = 0; v < 256; v++)
		if (l->late_at[v] && l->late_at[v] < next)
			next = l->late_at[v];
	pthread_mutex_unlock(&l->lock);
	return next;
}

/* ---- delivery to the CPU ------------------------------------------------------------ */

bool lapic_model_maybe_pending(unsigned cpu)
{
	struct lapic *l = lapic_of(cpu);

	if (atomic_load_explicit(&l->hint, memory_order_acquire) || atomic_load(&l->storm) ||
	    atomic_load(&l->late_any))
		return true;
	return l->timer_next_ns != LAPIC_NEVER && host.now_ns() >= l->timer_next_ns;
}

static void poll_local(struct lapic *l)
{
	uint64_t now = host.now_ns();

	timer_poll(l, now);
	late_poll(l, now);
}

int lapic_model_accept(unsigned cpu)
{
	struct lapic *l = lapic_of(cpu);
	unsigned storm;
	int v;

	poll_local(l);
	storm = atomic_load(&l->storm);
	while (storm && atomic_load(&l->enabled)) {
		if (atomic_compare_exchange_weak(&l->storm, &storm, storm - 1)) {
			COUNT(spurious);
			return (int)(l->svr & APIC_SVR_VECTOR);
		}
	}
	/* Clear the hint before scanning: a sender sets IRR, then the hint. */
	atomic_store_explicit(&l->hint, false, memory_order_seq_cst);
	v = highest_atomic(l->irr);
	if (v < 0 || ((uint32_t)v & 0xF0) <= (ppr(l) & 0xF0))
		return -1;                  /* nothing, or held back by TPR / in-service */
	atomic_fetch_and(&l->irr[v >> 5], ~(1u << (v & 31)));
	/* atomic: lapic_model_in_service reads it from the exit report's thread */
	__atomic_fetch_or(&l->isr[v >> 5], 1u << (v & 31), __ATOMIC_RELAXED);
	atomic_store(&l->hint, true);   /* more may be waiting behind it */
	return v;
}

bool lapic_model_deliverable(unsigned cpu)
{
	struct lapic *l = lapic_of(cpu);
	int v;

	poll_local(l);
	if (atomic_load(&l->storm) && atomic_load(&l->enabled))
		return true;
	v = highest_atomic(l->irr);
	return v >= 0 && ((uint32_t)v & 0xF0) > (ppr(l) & 0xF0);
}

bool lapic_model_can_wake(unsigned cpu)
{
	return atomic_load(&lapic_of(cpu)->enabled);
}

uint64_t lapic_model_next_event_ns(unsigned cpu)
{
	struct lapic *l = lapic_of(cpu);
	uint64_t t = l->timer_next_ns, late = late_next(l);

	return late < t ? late : t;
}

static void do_eoi(struct lapic *l)
{
	int v = highest(l->isr);

	if (v < 0) {
		COUNT(eoi_without_isr);
		return;
	}
	__atomic_fetch_and(&l->isr[v >> 5], ~(1u << (v & 31)), __ATOMIC_RELAXED);
	atomic_store(&l->hint, true);
	if ((atomic_load(&l->tmr[v >> 5]) & (1u << (v & 31))) && host.eoi_broadcast)
		host.eoi_broadcast((uint8_t)v);
}

unsigned lapic_model_in_service(unsigned cpu, uint32_t out[8])
{
	unsigned n = 0;
	for (unsigned w = 0; w < 8; w++) {
		out[w] = cpu < ncpus ? __atomic_load_n(&lapics[cpu].isr[w], __ATOMIC_RELAXED) : 0;
		n += (unsigned)__builtin_popcount(out[w]);
	}
	return n;
}

/* ---- inter-processor messages (§11.6) --------------------------------------------- */

static bool dest_match(const struct lapic *t, uint32_t dest, bool logical, bool x2)
{
	if (x2) {
		if (dest == 0xFFFFFFFFu)
			return true;
		if (!logical)
			return t->id == dest;
		uint32_t ldr = x2_ldr(t->id);
		return (ldr >> 16) == (dest >> 16) && (ldr & dest & 0xFFFFu);
	}
	dest &= 0xFF;
	if (dest == 0xFF)
		return true;
	if (!logical)
		return (t->id & 0xFF) == dest;
	uint32_t ldr = atomic_load(&((struct lapic *)t)->ldr) >> 24;
	if ((atomic_load(&((struct lapic *)t)->dfr) >> 28) == 0xF)      /* flat */
		return (ldr & dest) != 0;
	/* cluster: 4-bit cluster, 4 member bits; cluster 0xF is every cluster */
	return ((dest >> 4) == 0xF || (dest >> 4) == (ldr >> 4)) && (ldr & dest & 0xF);
}

static void deliver_fixed(struct lapic *from, struct lapic *t, uint8_t v, bool level, bool ipi)
{
	uint64_t delay = ipi ? atomic_load(&late_ns) : 0;

	if (ipi && !delay && host.fault_site && host.fault_site("lapic.ipi_late"))
		delay = LAPIC_SITE_LATE_NS;

	if (!accepting(t)) {
		COUNT(fixed_dropped);
		return;
	}
	if (v < 16) {
		raise_error(t, APIC_ESR_RECV_ILLEGAL_VEC, from ? from->cpu : LAPIC_MAX_CPUS);
		return;
	}
	if (delay) {
		uint64_t at = host.now_ns() + delay;
		pthread_mutex_lock(&t->lock);
		if (!t->late_at[v] || at < t->late_at[v])
			t->late_at[v] = at;
		atomic_store(&t->late_any, true);
		pthread_mutex_unlock(&t->lock);
		if (!from || t->cpu != from->cpu)
			host.kick(t->cpu);  /* a halted target must re-arm its wake-up */
		return;
	}
	COUNT(fixed_delivered);
	set_irr(t, v, level, from ? from->cpu : LAPIC_MAX_CPUS);
}

static void deliver_init(struct lapic *from, struct lapic *t)
{
	pthread_mutex_lock(&t->lock);
	if (t->dead) {
		pthread_mutex_unlock(&t->lock);
		host.log("lapic: CPU slot %u (APIC ID %u): INIT ignored (fault ap-dead)", t->cpu, t->id);
		return;
	}
	if (t->ap == AP_RUNNING) {
		pthread_mutex_unlock(&t->lock);
		host.fatal("INIT IPI to APIC ID %u (CPU slot %u), which is running: it would reset "
		           "that CPU under the kernel's feet (the sim cannot; kernel bug)", t->id, t->cpu);
	}
	t->ap = AP_WAIT_SIPI;
	t->init_ns = host.now_ns();
	pthread_mutex_unlock(&t->lock);
	COUNT(inits);
	(void)from;
}

static void sipi_ignored(struct lapic *t, const char *why)
{
	COUNT(sipis_ignored);
	host.log("lapic: CPU slot %u (APIC ID %u): SIPI ignored: %s", t->cpu, t->id, why);
}

static void deliver_sipi(struct lapic *t, uint8_t vector)
{
	char why[160];
	uint64_t since;

	pthread_mutex_lock(&t->lock);
	if (t->ap == AP_RUNNING) {
		/* The usual second SIPI of INIT-SIPI-SIPI: a started AP ignores it. */
		pthread_mutex_unlock(&t->lock);
		return;
	}
	if (t->dead) {
		pthread_mutex_unlock(&t->lock);
		sipi_ignored(t, "fault ap-dead");
		return;
	}
	if (t->ap != AP_WAIT_SIPI) {
		pthread_mutex_unlock(&t->lock);
		sipi_ignored(t, "no INIT before it (SDM §9.4.4.1: INIT, then SIPI)");
		return;
	}
	since = host.now_ns() - t->init_ns;
	if (since < cfg.init_settle_ns) {
		pthread_mutex_unlock(&t->lock);
		snprintf(why, sizeof(why), "it came %llu us after INIT; the AP is still in INIT "
		         "(SDM §9.4.4.1 waits 10 ms; the model needs %llu us)",
		         (unsigned long long)(since / 1000), (unsigned long long)(cfg.init_settle_ns / 1000));
		sipi_ignored(t, why);
		return;
	}
	if (t->ignore_first_sipi) {
		t->ignore_first_sipi = false;
		pthread_mutex_unlock(&t->lock);
		sipi_ignored(t, "fault ap-ignore-first-sipi");
		return;
	}
	if (host.fault_site && host.fault_site("lapic.sipi_lost")) {
		pthread_mutex_unlock(&t->lock);
		sipi_ignored(t, "fault site lapic.sipi_lost");
		return;
	}
	t->ap = AP_RUNNING;
	reset_regs(t);
	atomic_store(&t->running, true);
	pthread_mutex_unlock(&t->lock);
	COUNT(sipis_accepted);
	host.start_ap(t->cpu, vector);
}

static void deliver_nmi(struct lapic *t)
{
	COUNT(nmis);
	if (!t->nmi_logged) {
		t->nmi_logged = true;
		host.log("lapic: CPU slot %u (APIC ID %u): NMI received; the sim has no NMI entry "
		         "path, counted only", t->cpu, t->id);
	}
}

/* Does the esr-send-error fault refuse messages to t? It stays on: the INIT and
 * both SIPIs of the start-up sequence fail alike, so the ESR read after each SIPI
 * (where the SDM's sequence and Linux look) shows the send-accept error. */
static bool take_send_error(struct lapic *t)
{
	bool hit;

	pthread_mutex_lock(&t->lock);
	hit = t->esr_send_error;
	pthread_mutex_unlock(&t->lock);
	return hit;
}

/* Send what the ICR (low word lo, destination dest) describes. Owner thread. */
static void send_ipi(struct lapic *l, uint32_t lo, uint32_t dest)
{
	uint8_t v = (uint8_t)(lo & APIC_ICR_VECTOR);
	unsigned dm = lo & APIC_ICR_DM_MASK;
	unsigned sh = lo & APIC_ICR_SH_MASK;
	bool logical = lo & APIC_ICR_DEST_LOGICAL, x2 = is_x2(l), level = lo & APIC_ICR_TRIGGER_LEVEL;
	bool send_error = false;

	switch (dm) {
	case APIC_ICR_DM_FIXED:
	case APIC_ICR_DM_LOWEST:
	case APIC_ICR_DM_NMI:
		break;
	case APIC_ICR_DM_INIT:
		if (!(lo & APIC_ICR_LEVEL_ASSERT) && level) {
			/* INIT level de-assert: no effect on P4 and later (§11.6.1). */
			return;
		}
		/* fall through */
	case APIC_ICR_DM_STARTUP:
		if (sh == APIC_ICR_SH_SELF)
			host.fatal("ICR 0x%08x: %s with the 'self' shorthand is an illegal combination "
			           "(SDM §11.6.1)", lo, dm == APIC_ICR_DM_INIT ? "INIT" : "SIPI");
		break;
	case APIC_ICR_DM_SMI:
		host.fatal("ICR 0x%08x: SMI IPIs are not modelled (the kernel has no business sending one)", lo);
	default:
		host.fatal("ICR 0x%08x: reserved delivery mode %u (SDM §11.6.1)", lo, dm >> 8);
	}
	if ((dm == APIC_ICR_DM_FIXED || dm == APIC_ICR_DM_LOWEST) && v < 16) {
		raise_error(l, APIC_ESR_SEND_ILLEGAL_VEC, l->cpu);
		return;
	}
	if (dm == APIC_ICR_DM_LOWEST && sh == APIC_ICR_SH_ALL)
		host.fatal("ICR 0x%08x: lowest-priority with 'all including self' is an illegal "
		           "combination (SDM §11.6.1)", lo);
	COUNT(ipis_sent);

	for (unsigned i = 0; i < ncpus; i++) {
		struct lapic *t = &lapics[i];
		bool hit;

		switch (sh) {
		case APIC_ICR_SH_SELF: hit = t == l; break;
		case APIC_ICR_SH_ALL: hit = true; break;
		case APIC_ICR_SH_ALL_BUT_SELF: hit = t != l; break;
		default: hit = dest_match(t, dest, logical, x2); break;
		}
		if (!hit)
			continue;
		if (take_send_error(t)) {
			send_error = true;
			host.log("lapic: IPI from CPU slot %u to APIC ID %u not accepted (fault "
			         "esr-send-error): ESR send-accept error", l->cpu, t->id);
			continue;
		}
		switch (dm) {
		case APIC_ICR_DM_FIXED:
		case APIC_ICR_DM_LOWEST:
			deliver_fixed(l, t, v, level, true);
			break;
		case APIC_ICR_DM_NMI:
			deliver_nmi(t);
			break;
		case APIC_ICR_DM_INIT:
			deliver_init(l, t);
			break;
		case APIC_ICR_DM_STARTUP:
			deliver_sipi(t, v);
			break;
		}
		if (dm == APIC_ICR_DM_LOWEST)
			break;                  /* one target is enough */
	}
	if (send_error)
		raise_error(l, APIC_ESR_SEND_ACCEPT, l->cpu);
}

void lapic_model_deliver_external(uint32_t dest, bool logical, uint8_t vector, bool level)
{
	/* Destinations are read in the format the LAPICs are in (all CPUs run the
	 * same mode); the BSP's mode stands for the machine's. */
	bool x2 = atomic_load(&bsp_x2);
	for (unsigned i = 0; i < ncpus; i++)
		if (dest_match(&lapics[i], dest, logical, x2))
			deliver_fixed(NULL, &lapics[i], vector, level, false);
}

/* ---- registers --------------------------------------------------------------------- */

static int lvt_index(uint32_t off)
{
	switch (off) {
	case APIC_LVT_CMCI: return LVT_CMCI;
	case APIC_LVT_TIMER: return LVT_TIMER;
	case APIC_LVT_THERMAL: return LVT_THERMAL;
	case APIC_LVT_PERF: return LVT_PERF;
	case APIC_LVT_LINT0: return LVT_LINT0;
	case APIC_LVT_LINT1: return LVT_LINT1;
	case APIC_LVT_ERROR: return LVT_ERROR;
	default: return -1;
	}
}

/* How a register is named in messages: MMIO offset or MSR number. */
static const char *where(uint32_t off, bool x2, char *buf, size_t n)
{
	if (x2)
		snprintf(buf, n, "x2APIC MSR 0x%x", APIC_X2_MSR_BASE + (off >> 4));
	else
		snprintf(buf, n, "xAPIC register 0x%03x", off);
	return buf;
}

static uint32_t reg_read(struct lapic *l, uint32_t off, bool x2)
{
	char w[40];
	int lvt = lvt_index(off);

	if (lvt >= 0)
		return l->lvt[lvt];
	if (off >= APIC_ISR0 && off < APIC_ISR0 + 0x80)
		return l->isr[(off - APIC_ISR0) >> 4];
	if (off >= APIC_TMR0 && off < APIC_TMR0 + 0x80)
		return atomic_load(&l->tmr[(off - APIC_TMR0) >> 4]);
	if (off >= APIC_IRR0 && off < APIC_IRR0 + 0x80) {
		poll_local(l);
		return atomic_load(&l->irr[(off - APIC_IRR0) >> 4]);
	}
	switch (off) {
	case APIC_ID: return x2 ? l->id : (l->id & 0xFF) << APIC_ID_XAPIC_SHIFT;
	case APIC_VERSION: return version_value;
	case APIC_TPR: return l->tpr;
	case APIC_PPR: return ppr(l);
	case APIC_LDR: return x2 ? x2_ldr(l->id) : atomic_load(&l->ldr);
	case APIC_SVR: return l->svr;
	case APIC_ESR: return l->esr;
	case APIC_TIMER_ICR: return l->timer_icr;
	case APIC_TIMER_CCR: poll_local(l); return timer_ccr(l);
	case APIC_TIMER_DCR: return l->timer_dcr;
	case APIC_APR:
	case APIC_RRD:
		if (!x2)
			return 0;
		break;
	case APIC_DFR:
		if (!x2)
			return atomic_load(&l->dfr);
		break;
	case APIC_ICR_LO:
		if (!x2)
			return l->icr_lo | (host.now_ns() < l->icr_busy_until ? APIC_ICR_BUSY : 0);
		break;
	case APIC_ICR_HI:
		if (!x2)
			return l->icr_hi;
		break;
	case APIC_EOI:
		host.fatal("read of the write-only EOI register (%s)%s", where(off, x2, w, sizeof(w)),
		           x2 ? ": #GP (SDM §11.12.1.2)" : " (kernel bug)");
	case APIC_SELF_IPI:
		if (x2)
			host.fatal("read of the write-only SELF IPI register (MSR 0x83F): #GP (SDM §11.12.1.2)");
		break;
	default:
		break;
	}
	host.fatal("read of reserved %s%s", where(off, x2, w, sizeof(w)),
	           x2 ? ": #GP (SDM §11.12.1.2)" : " (hardware: ESR illegal register address; kernel bug)");
}

static void check_rsvd(uint32_t off, bool x2, uint64_t v, uint64_t valid)
{
	char w[40];

	if (x2 && (v & ~valid))
		host.fatal("wrmsr %s = 0x%llx sets reserved bits 0x%llx: #GP (SDM §11.12.1.3)",
		           where(off, x2, w, sizeof(w)), (unsigned long long)v,
		           (unsigned long long)(v & ~valid));
}

static void write_lvt(struct lapic *l, int i, uint32_t off, uint32_t v, bool x2)
{
	uint32_t old_mode = timer_mode(l);

	check_rsvd(off, x2, v, lvt_valid[i] | lvt_ro_bits);
	v &= lvt_valid[i];
	if (!(l->svr & APIC_SVR_ENABLE))
		v |= APIC_LVT_MASKED;      /* §11.4.7.2: masks cannot be cleared while disabled */
	if (i == LVT_TIMER) {
		unsigned mode = v & APIC_LVT_TIMER_MODE_MASK;
		if (mode == APIC_LVT_TIMER_MODE_MASK)
			host.fatal("LVT timer 0x%08x: timer mode 11b is reserved (SDM §11.5.1)", v);
		if (mode == APIC_LVT_TIMER_DEADLINE && !cfg.tsc_deadline)
			host.fatal("LVT timer 0x%08x: TSC-deadline mode, but CPUID.1:ECX[24] says this "
			           "CPU has none (SDM §11.5.4.1)", v);
		l->lvt[i] = v;
		if ((old_mode == APIC_LVT_TIMER_DEADLINE) != (mode == APIC_LVT_TIMER_DEADLINE)) {
			/* Switching into or out of TSC-deadline mode disarms the timer. */
			l->tsc_deadline = 0;
			l->timer_icr = 0;
			l->timer_next_ns = LAPIC_NEVER;
		}
		return;
	}
	l->lvt[i] = v;
	if (i == LVT_ERROR)
		atomic_store(&l->lvt_error, v);
}

static void reg_write(struct lapic *l, uint32_t off, uint32_t v, bool x2)
{
	char w[40];
	int lvt = lvt_index(off);

	if (lvt >= 0) {
		write_lvt(l, lvt, off, v, x2);
		return;
	}
	if ((off >= APIC_ISR0 && off < APIC_IRR0 + 0x80) || off == APIC_VERSION ||
	    off == APIC_PPR || off == APIC_TIMER_CCR || (x2 && (off == APIC_ID || off == APIC_LDR)))
		host.fatal("write of 0x%x to read-only %s%s", v, where(off, x2, w, sizeof(w)),
		           x2 ? ": #GP (SDM §11.12.1.2)" : " (hardware ignores it; kernel bug)");
	switch (off) {
	case APIC_ID:
		/* xAPIC: writable on some models only (§11.4.6); this one keeps its ID. */
		if (!l->id_write_logged) {
			l->id_write_logged = true;
			host.log("lapic: CPU slot %u: write 0x%x to the APIC ID register ignored "
			         "(model-specific; this model keeps its ID)", l->cpu, v);
		}
		return;
	case APIC_TPR:
		check_rsvd(off, x2, v, 0xFF);
		l->tpr = v & 0xFF;
		atomic_store(&l->hint, true);
		return;
	case APIC_EOI:
		if (x2 && v != 0)
			host.fatal("wrmsr EOI (0x80B) = 0x%x: a non-zero value is #GP (SDM §11.12.1.2)", v);
		do_eoi(l);
		return;
	case APIC_LDR:
		l->ldr = v & 0xFF000000u;
		return;
	case APIC_DFR:
		if (x2)
			break;
		if ((v >> 28) != 0xF && (v >> 28) != 0)
			host.fatal("DFR 0x%08x: model 0x%x is reserved (flat 1111b or cluster 0000b, "
			           "SDM §11.6.2.2)", v, v >> 28);
		atomic_store(&l->dfr, v | 0x0FFFFFFFu);
		return;
	case APIC_SVR: {
		bool was = l->svr & APIC_SVR_ENABLE;
		check_rsvd(off, x2, v, 0xFF | APIC_SVR_ENABLE | APIC_SVR_FOCUS);
		l->svr = v & (0xFF | APIC_SVR_ENABLE | APIC_SVR_FOCUS);
		if (!(l->svr & APIC_SVR_ENABLE)) {
			for (int i = 0; i < LVT_COUNT; i++)
				l->lvt[i] |= APIC_LVT_MASKED;
			atomic_store(&l->lvt_error, l->lvt[LVT_ERROR]);
		} else if (!was) {
			unsigned armed = atomic_exchange(&l->storm_armed, 0);
			if (armed)
				atomic_store(&l->storm, armed);
		}
		update_enabled(l);
		atomic_store(&l->hint, true);
		return;
	}
	case APIC_ESR:
		if (x2 && v != 0)
			host.fatal("wrmsr ESR (0x828) = 0x%x: a non-zero value is #GP (SDM §11.12.1.2)", v);
		/* §11.5.3: a write latches the errors since the last write and clears them. */
		l->esr = atomic_exchange(&l->esr_pending, 0);
		return;
	case APIC_ICR_LO:
		if (x2)
			break;
		if (host.now_ns() < l->icr_busy_until)
			host.fatal("ICR written while the previous IPI is still pending (delivery status "
			           "1): software must wait for idle first (SDM §11.6.1)");
		l->icr_lo = v & APIC_ICR_LO_VALID;
		/* The message takes a moment on the bus: delivery status reads 1 until then. */
		l->icr_busy_until = host.now_ns() + ICR_BUSY_NS;
		send_ipi(l, l->icr_lo, l->icr_hi >> 24);
		return;
	case APIC_ICR_HI:
		if (x2)
			break;
		l->icr_hi = v & 0xFF000000u;
		return;
	case APIC_TIMER_ICR:
		if (timer_mode(l) == APIC_LVT_TIMER_DEADLINE)
			return;                 /* ignored in TSC-deadline mode (§11.5.4.1) */
		l->timer_icr = v;
		timer_arm_count(l, host.now_ns());
		return;
	case APIC_TIMER_DCR: {
		uint32_t cur = timer_ccr(l);
		check_rsvd(off, x2, v, 0xB);
		l->timer_dcr = v & 0xB;
		/* Keep counting from the current value at the new rate. */
		if (l->timer_icr && timer_mode(l) != APIC_LVT_TIMER_DEADLINE && cur) {
			uint64_t now = host.now_ns();
			l->timer_start_ns = now - ticks_to_ns(l, l->timer_icr - cur);
			l->timer_next_ns = now + ticks_to_ns(l, cur);
		}
		return;
	}
	case APIC_SELF_IPI:
		if (!x2)
			break;
		check_rsvd(off, x2, v, 0xFF);
		send_ipi(l, (v & APIC_ICR_VECTOR) | APIC_ICR_SH_SELF, 0);
		return;
	default:
		break;
	}
	host.fatal("write of 0x%x to reserved %s%s", v, where(off, x2, w, sizeof(w)),
	           x2 ? ": #GP (SDM §11.12.1.2)" : " (hardware: ESR illegal register address; kernel bug)");
}

uint64_t lapic_model_mmio_read(unsigned cpu, uint64_t offset, unsigned size)
{
	struct lapic *l = lapic_of(cpu);

	if (!is_xapic(l))
		host.fatal("xAPIC MMIO read at offset 0x%03llx while the local APIC is %s: the MMIO "
		           "page is not the APIC then (SDM §11.12.1.2, §11.4.3)", (unsigned long long)offset,
		           is_x2(l) ? "in x2APIC mode" : "globally disabled");
	if (size != 4 || (offset & 0xF))
		host.fatal("xAPIC MMIO read of %u bytes at offset 0x%03llx: registers are 32 bits "
		           "wide on 16-byte boundaries (SDM §11.4.1)", size, (unsigned long long)offset);
	return reg_read(l, (uint32_t)offset, false);
}

void lapic_model_mmio_write(unsigned cpu, uint64_t offset, unsigned size, uint64_t value)
{
	struct lapic *l = lapic_of(cpu);

	if (!is_xapic(l))
		host.fatal("xAPIC MMIO write of 0x%llx at offset 0x%03llx while the local APIC is %s: "
		           "the MMIO page is not the APIC then (SDM §11.12.1.2, §11.4.3)",
		           (unsigned long long)value, (unsigned long long)offset,
		           is_x2(l) ? "in x2APIC mode" : "globally disabled");
	if (size != 4 || (offset & 0xF))
		host.fatal("xAPIC MMIO write of %u bytes at offset 0x%03llx: registers are 32 bits "
		           "wide on 16-byte boundaries (SDM §11.4.1)", size, (unsigned long long)offset);
	reg_write(l, (uint32_t)offset, (uint32_t)value, false);
}

static void write_apic_base(struct lapic *l, uint64_t v)
{
	uint64_t valid = APIC_BASE_ADDR_MASK | APIC_BASE_BSP | APIC_BASE_EN |
	                 (cfg.x2apic ? APIC_BASE_EXTD : 0);
	bool en = v & APIC_BASE_EN, extd = v & APIC_BASE_EXTD;
	bool was_en = l->apic_base & APIC_BASE_EN, was_x2 = is_x2(l);

	if (v & ~valid)
		host.fatal("wrmsr IA32_APIC_BASE = 0x%llx sets reserved bits 0x%llx%s: #GP (SDM §11.4.4)",
		           (unsigned long long)v, (unsigned long long)(v & ~valid),
		           (v & APIC_BASE_EXTD) && !cfg.x2apic ? " (EXTD without CPUID x2APIC)" : "");
	if ((v & APIC_BASE_ADDR_MASK) != cfg.base)
		host.fatal("wrmsr IA32_APIC_BASE = 0x%llx moves the APIC page from 0x%llx: not "
		           "modelled", (unsigned long long)v, (unsigned long long)cfg.base);
	if (extd && !en)
		host.fatal("wrmsr IA32_APIC_BASE = 0x%llx: EXTD=1 with EN=0 is the invalid state: "
		           "#GP (SDM §11.12.5.1)", (unsigned long long)v);
	if (was_x2 && en && !extd)
		host.fatal("wrmsr IA32_APIC_BASE = 0x%llx: x2APIC to xAPIC directly is an illegal "
		           "transition (disable first): #GP (SDM §11.12.5.1)", (unsigned long long)v);
	if (!was_en && en && extd)
		host.fatal("wrmsr IA32_APIC_BASE = 0x%llx: disabled to x2APIC directly is an illegal "
		           "transition (enable xAPIC first): #GP (SDM §11.12.5.1)", (unsigned long long)v);
	l->apic_base = (v & ~APIC_BASE_BSP) | (l->cpu == 0 ? APIC_BASE_BSP : 0);
	if (l->cpu == 0)
		atomic_store(&bsp_x2, is_x2(l));
	if (!en && was_en)
		reset_regs(l);              /* state is not kept across disable (§11.12.5.1) */
	update_enabled(l);
}

uint64_t lapic_model_msr_read(unsigned cpu, uint32_t msr)
{
	struct lapic *l = lapic_of(cpu);
	uint32_t off;

	if (msr == MSR_IA32_APIC_BASE)
		return l->apic_base;
	if (msr == MSR_IA32_TSC_DEADLINE) {
		if (!cfg.tsc_deadline)
			host.fatal("rdmsr IA32_TSC_DEADLINE, but CPUID.1:ECX[24] says this CPU has no "
			           "TSC-deadline timer: #GP");
		poll_local(l);
		return timer_mode(l) == APIC_LVT_TIMER_DEADLINE ? l->tsc_deadline : 0;
	}
	if (!is_x2(l))
		host.fatal("rdmsr 0x%x (x2APIC register) while the local APIC is not in x2APIC "
		           "mode: #GP (SDM §11.12.1.2)", msr);
	if (msr == APIC_X2_MSR(APIC_ICR_LO))
		return ((uint64_t)l->icr_hi << 32) | l->icr_lo;
	if (msr > 0x8FF)
		host.fatal("rdmsr 0x%x: reserved x2APIC MSR: #GP (SDM §11.12.1.2)", msr);
	off = (msr - APIC_X2_MSR_BASE) << 4;
	if (off == APIC_ICR_HI || off == APIC_DFR || off == APIC_APR || off == APIC_RRD)
		host.fatal("rdmsr 0x%x: no such x2APIC register (reserved): #GP (SDM §11.12.1.2)", msr);
	return reg_read(l, off, true);
}

void lapic_model_msr_write(unsigned cpu, uint32_t msr, uint64_t value)
{
	struct lapic *l = lapic_of(cpu);
	uint32_t off;

	if (msr == MSR_IA32_APIC_BASE) {
		write_apic_base(l, value);
		return;
	}
	if (msr == MSR_IA32_TSC_DEADLINE) {
		if (!cfg.tsc_deadline)
			host.fatal("wrmsr IA32_TSC_DEADLINE, but CPUID.1:ECX[24] says this CPU has no "
			           "TSC-deadline timer: #GP");
		if (timer_mode(l) != APIC_LVT_TIMER_DEADLINE)
			return;                 /* ignored outside TSC-deadline mode (§11.5.4.1) */
		l->tsc_deadline = value;
		timer_arm_deadline(l);
		return;
	}
	if (!is_x2(l))
		host.fatal("wrmsr 0x%x (x2APIC register) while the local APIC is not in x2APIC "
		           "mode: #GP (SDM §11.12.1.2)", msr);
	if (msr == APIC_X2_MSR(APIC_ICR_LO)) {
		uint32_t lo = (uint32_t)value;
		if (lo & ~APIC_ICR_LO_VALID)
			host.fatal("wrmsr ICR (0x830) = 0x%llx sets reserved bits 0x%x (delivery status "
			           "included): #GP (SDM §11.12.9)", (unsigned long long)value,
			           lo & ~APIC_ICR_LO_VALID);
		l->icr_lo = lo;
		l->icr_hi = (uint32_t)(value >> 32);
		send_ipi(l, lo, l->icr_hi);
		return;
	}
	if (msr > 0x8FF)
		host.fatal("wrmsr 0x%x: reserved x2APIC MSR: #GP (SDM §11.12.1.2)", msr);
	off = (msr - APIC_X2_MSR_BASE) << 4;
	if (off == APIC_ICR_HI || off == APIC_DFR || off == APIC_APR || off == APIC_RRD)
		host.fatal("wrmsr 0x%x: no such x2APIC register (reserved): #GP (SDM §11.12.1.2)", msr);
	if (value >> 32)
		host.fatal("wrmsr 0x%x = 0x%llx: bits 63:32 of x2APIC registers other than the ICR "
		           "are reserved: #GP (SDM §11.12.1.2)", msr, (unsigned long long)value);
	reg_write(l, off, (uint32_t)value, true);
}

/* ---- test controls (lapic_model.h) ----------------------------------------------- */

static int for_apic_id(uint32_t apic_id, void (*fn)(struct lapic *))
{
	int found = -EINVAL;

	for (unsigned i = 0; i < ncpus; i++) {
		if (lapics[i].id == apic_id) {
			pthread_mutex_lock(&lapics[i].lock);
			fn(&lapics[i]);
			pthread_mutex_unlock(&lapics[i].lock);
			found = 0;
		}
	}
	return found;
}

static void set_dead(struct lapic *l) { l->dead = true; }
static void set_ignore_first(struct lapic *l) { l->ignore_first_sipi = true; }
static void set_send_error(struct lapic *l) { l->esr_send_error = true; }

int lapic_model_fault_ap_dead(uint32_t apic_id)
{
	return for_apic_id(apic_id, set_dead);
}

int lapic_model_fault_ignore_first_sipi(uint32_t apic_id)
{
	return for_apic_id(apic_id, set_ignore_first);
}

int lapic_model_fault_esr_send_error(uint32_t apic_id)
{
	return for_apic_id(apic_id, set_send_error);
}

int lapic_model_fault_spurious_storm(unsigned cpu, unsigned count)
{
	if (cpu >= ncpus || count == 0)
		return -EINVAL;
	atomic_store(&lapics[cpu].storm_armed, count);
	return 0;
}

void lapic_model_fault_late_ipi(uint64_t delay_ns)
{
	atomic_store(&late_ns, delay_ns);
}

void lapic_model_stats(struct lapic_model_stats *o)
{
	o->ipis_sent = atomic_load(&st.ipis_sent);
	o->fixed_delivered = atomic_load(&st.fixed_delivered);
	o->fixed_dropped = atomic_load(&st.fixed_dropped);
	o->inits = atomic_load(&st.inits);
	o->sipis_accepted = atomic_load(&st.sipis_accepted);
	o->sipis_ignored = atomic_load(&st.sipis_ignored);
	o->nmis = atomic_load(&st.nmis);
	o->esr_errors = atomic_load(&st.esr_errors);
	o->spurious = atomic_load(&st.spurious);
	o->eoi_without_isr = atomic_load(&st.eoi_without_isr);
	o->timer_fires = atomic_load(&st.timer_fires);
}
