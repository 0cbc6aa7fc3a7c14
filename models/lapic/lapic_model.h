/*
 * lapic_model.h — test-only controls of the local APIC model: fault injection
 * (an AP that never starts, one that ignores its first SIPI, an ESR send-accept
 * error, a spurious-interrupt storm, late fixed IPIs) and counters of what the
 * kernel's LAPIC driver did. Never seen by the kernel (docs/sim.md, "Faults").
 */
#ifndef DOPPEL_MODELS_LAPIC_MODEL_H
#define DOPPEL_MODELS_LAPIC_MODEL_H

#include <stdint.h>

/* Faults; call after lapic_model_init. Each returns 0 or -EINVAL (no CPU has that ID). */
int lapic_model_fault_ap_dead(uint32_t apic_id);            /* ignores INIT and SIPI forever */
int lapic_model_fault_ignore_first_sipi(uint32_t apic_id);  /* first valid SIPI is lost */
int lapic_model_fault_esr_send_error(uint32_t apic_id);     /* IPIs to it refused: send-accept error */
int lapic_model_fault_spurious_storm(unsigned cpu, unsigned count); /* after SW enable */
void lapic_model_fault_late_ipi(uint64_t delay_ns);         /* fixed IPIs arrive late */

struct lapic_model_stats {
	uint64_t ipis_sent;             /* ICR / SELF IPI writes that sent something */
	uint64_t fixed_delivered;       /* fixed interrupts put in an IRR */
	uint64_t fixed_dropped;         /* target not running or software-disabled */
	uint64_t inits;                 /* INITs accepted by a waiting AP */
	uint64_t sipis_accepted;        /* SIPIs that started an AP */
	uint64_t sipis_ignored;         /* no INIT before, too early, faults, running AP */
	uint64_t nmis;                  /* NMIs received (no NMI path in the sim) */
	uint64_t esr_errors;            /* error bits latched into some ESR */
	uint64_t spurious;              /* spurious-vector deliveries */
	uint64_t eoi_without_isr;       /* EOIs while nothing was in service */
	uint64_t timer_fires;           /* LAPIC timer interrupts raised */
};
/* Sum over every LAPIC. Any thread. */
void lapic_model_stats(struct lapic_model_stats *out);
/* The vectors in service on cpu (ISR, §10.8.4: accepted, no EOI yet) as 8 words
 * of 32 bits into out; returns how many. Any thread (the exit report). */
unsigned lapic_model_in_service(unsigned cpu, uint32_t out[8]);

#endif /* DOPPEL_MODELS_LAPIC_MODEL_H */
