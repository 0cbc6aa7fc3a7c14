/*
 * lapic.h — the local APIC model's interface to the machine that hosts it (the
 * sim's CPUs, bus and clock): one banked LAPIC per CPU, reached as xAPIC MMIO or
 * x2APIC MSRs by the accessing CPU, interrupt acceptance for the CPU's delivery
 * loop, and inter-processor messages (fixed, NMI, INIT, SIPI) between LAPICs.
 * Intel SDM Vol. 3A ch. 11. Test-only controls are in lapic_model.h.
 */
#ifndef DOPPEL_MODELS_LAPIC_H
#define DOPPEL_MODELS_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

#define LAPIC_MAX_CPUS 256
#define LAPIC_NEVER UINT64_MAX      /* "no event" for lapic_model_next_event_ns */

/* What the model needs from its host. Every callback may be called on any CPU's
 * thread; cpu numbers are the host's CPU slots (0 .. ncpus-1), not kernel indices. */
struct lapic_host {
	uint64_t (*now_ns)(void);                   /* the machine clock */
	uint64_t (*tsc)(void);                      /* the TSC on that clock */
	void (*kick)(unsigned cpu);                 /* wake cpu if it sleeps in hlt */
	/* A SIPI was accepted by cpu (INIT seen, not ignored): start it at the
	 * trampoline for vector. The host checks the trampoline. */
	void (*start_ap)(unsigned cpu, uint8_t vector);
	/* An EOI of a level-triggered vector (for the I/O APIC's remote IRR). */
	void (*eoi_broadcast)(uint8_t vector);
	void (*log)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
	/* The kernel did what hardware punishes (#GP, undefined behaviour). */
	void (*fatal)(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
	/* Optional: should this hit of the named fault site fail (seeded, in the
	 * style of FoundationDB's BUGGIFY)? Sites: "lapic.sipi_lost" (an accepted
	 * SIPI is dropped, as a real AP can miss one), "lapic.ipi_late" (a fixed IPI
	 * arrives LAPIC_SITE_LATE_NS late). Called without the model's locks held
	 * on the IPI path and with the target's lock held on the SIPI path. */
	bool (*fault_site)(const char *site);
};

#define LAPIC_SITE_LATE_NS 200000ull   /* 200 us: several ticks of a spinning sender */

struct lapic_config {
	unsigned ncpus;             /* 1..LAPIC_MAX_CPUS; CPU 0 is the BSP */
	const uint32_t *apic_ids;   /* ncpus x2APIC IDs (duplicates allowed on purpose) */
	uint64_t base;              /* MMIO base, 0 = 0xFEE00000 */
	bool x2apic;                /* CPUID.1:ECX[21]: EXTD may be set */
	bool tsc_deadline;          /* CPUID.1:ECX[24]: IA32_TSC_DEADLINE exists */
	uint64_t timer_hz;          /* the timer's input clock before the divider */
	uint64_t tsc_hz;            /* for the late-IPI and deadline arithmetic */
	uint64_t init_settle_ns;    /* INIT-to-SIPI time below which a SIPI is ignored */
};

struct model_bus;

/* Reset every LAPIC (power-on state: xAPIC mode, software-disabled, APs waiting
 * for INIT) and claim on bus (kept; it must outlive the model) the xAPIC page at
 * cfg->base, IA32_APIC_BASE, IA32_TSC_DEADLINE and the x2APIC MSRs 0x800-0xBFF,
 * releasing what a previous init claimed. An access reaches the LAPIC of the CPU
 * bus->current_cpu names (fatal when none does). 0, -EINVAL, or a claim's error.
 * Not thread-safe against the accessors. */
int lapic_model_init(const struct lapic_config *cfg, const struct lapic_host *host,
                     const struct model_bus *bus);
uint64_t lapic_model_base(void);

/* Register access by the CPU in slot cpu (its own LAPIC: the page is banked), as the
 * bus callbacks make it once they know the CPU; unit tests call them directly. */
uint64_t lapic_model_mmio_read(unsigned cpu, uint64_t offset, unsigned size);
void lapic_model_mmio_write(unsigned cpu, uint64_t offset, unsigned size, uint64_t value);
/* IA32_APIC_BASE, IA32_TSC_DEADLINE and 0x800-0xBFF. */
uint64_t lapic_model_msr_read(unsigned cpu, uint32_t msr);
void lapic_model_msr_write(unsigned cpu, uint32_t msr, uint64_t value);

/* ---- delivery, called on cpu's own thread ------------------------------------ */

/* Cheap hint: might an interrupt be deliverable now? (false positives allowed) */
bool lapic_model_maybe_pending(unsigned cpu);
/* Accept the highest deliverable interrupt (IRR -> ISR) and return its vector, or
 * the spurious vector (nothing goes in service), or -1 if nothing can be
 * delivered. Call only when the CPU's interrupt flag is set. */
int lapic_model_accept(unsigned cpu);
/* Is an interrupt deliverable now (what wakes hlt)? */
bool lapic_model_deliverable(unsigned cpu);
/* Can anything ever wake this CPU from hlt? false when the LAPIC is globally or
 * software disabled (fixed interrupts are not accepted then). */
bool lapic_model_can_wake(unsigned cpu);
/* Clock time of the CPU's next local event (timer, late IPI), LAPIC_NEVER if none. */
uint64_t lapic_model_next_event_ns(unsigned cpu);

/* ---- messages from devices (I/O APIC, MSI) ------------------------------------- */

/* Deliver a fixed interrupt by destination (physical APIC ID or logical),
 * as an I/O APIC redirection entry or MSI names it. level: trigger mode. */
void lapic_model_deliver_external(uint32_t dest, bool logical, uint8_t vector, bool level);

#endif /* DOPPEL_MODELS_LAPIC_H */
