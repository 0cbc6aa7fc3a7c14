/* apic.h — the local APIC driver (xAPIC over MMIO or x2APIC over MSRs, chosen at
 * run time from CPUID and `apic.xapic`), IPIs, and the I/O APIC driver.
 * Intel SDM Vol. 3A ch. 11; 82093AA I/O APIC datasheet; docs/smp.md. */
#ifndef KERNEL_APIC_H
#define KERNEL_APIC_H
#include <stdbool.h>
#include <stdint.h>
#include <kernel/irq.h>

enum apic_mode { APIC_MODE_NONE = 0, APIC_MODE_XAPIC, APIC_MODE_X2APIC };

/* Boot CPU: choose the mode, enable the LAPIC (spurious vector 0xFF, error vector
 * 0xFE, LINT0/1 masked, TPR 0), prepare the irq tables. 0, or -ENODEV when the CPU
 * has no APIC or its registers cannot be mapped (logged). */
int apic_init_bsp(uint64_t madt_lapic_address);
/* An AP, from its entry: the same mode as the boot CPU. Interrupts disabled. */
void apic_init_ap(void);
enum apic_mode apic_mode(void);
const char *apic_mode_name(enum apic_mode m);

uint32_t lapic_read(uint32_t off);
void lapic_write(uint32_t off, uint32_t v);
/* APIC ID of the calling CPU (8 bits in xAPIC mode, 32 in x2APIC mode). */
uint32_t lapic_id(void);
void lapic_eoi(void);
/* Read the error status (after the write SDM §11.5.3 requires), which also clears it. */
uint32_t lapic_esr_read_clear(void);
/* Errors since the last collect: the ESR now plus what the error interrupt
 * (vector 0xFE) read meanwhile on this CPU; clears both. */
uint32_t lapic_esr_collect(void);
/* Soft-disable the calling CPU's LAPIC (a parked CPU). */
void lapic_soft_disable(void);

/* ICR encodings (pure; unit-tested). The low 32 bits are the xAPIC ICR_LO; the
 * destination goes to ICR_HI[31:24] (xAPIC) or ICR[63:32] (x2APIC). */
uint32_t apic_icr_init(void);               /* INIT, level assert, edge */
uint32_t apic_icr_sipi(uint8_t vector);     /* start-up: no level bit (seed K43) */
uint32_t apic_icr_fixed(uint8_t vector, uint32_t shorthand);
uint64_t apic_icr_compose(enum apic_mode m, uint32_t low, uint32_t dest_apic_id);
/* Send one IPI: low = an encoding above, dest ignored with a shorthand. Waits for
 * the xAPIC delivery-status bit (bounded); -ETIMEDOUT if it never clears,
 * -EINVAL for a destination the mode cannot address. Any context. */
int lapic_send_icr(uint32_t low, uint32_t dest_apic_id);

/* ---- IPIs (kernel/apic/ipi.c) ---- */
int ipi_send(unsigned cpu, uint8_t vector);         /* fixed, to one CPU index */
int ipi_send_allbutself(uint8_t vector);
int ipi_send_self(uint8_t vector);                  /* x2APIC SELF IPI MSR when there (K44) */

/* ---- I/O APIC (kernel/apic/ioapic.c) ---- */
struct madt_check;
/* Map every (validated) MADT I/O APIC, mask every redirection entry, mask the 8259
 * pair. Returns the number of pins (0 without I/O APICs). Bad entries are logged. */
int ioapic_init(const struct madt_check *mc);
unsigned ioapic_pin_count(void);
/* GSI range of the idx-th I/O APIC in use: 0 or -ENOENT past the last. */
int ioapic_get(unsigned idx, uint32_t *gsi_base, uint32_t *npins);
/* ISA IRQ -> GSI and MPS INTI flags, honouring MADT interrupt source overrides. */
int ioapic_isa_to_gsi(unsigned isa_irq, uint32_t *gsi, uint16_t *mps_flags);
/* Route a GSI to vector h->vector on h->cpu with polarity/trigger from mps_flags
 * (bus default: ISA = edge, active high). -ENOENT no such pin, -EBUSY routed. */
int ioapic_route(uint32_t gsi, const struct irq_vec *h, uint16_t mps_flags);
/* Mask the pin and forget the route (the caller then frees its vector with
 * irq_free: masked first, freed second). -ENOENT when not routed. */
int ioapic_unroute(uint32_t gsi);
/* Move a routed GSI to another CPU: new vector there, entry rewritten, old freed. */
int ioapic_set_affinity(uint32_t gsi, struct irq_vec *h, unsigned cpu);
/* Read back a redirection entry (tests). */
int ioapic_read_entry(uint32_t gsi, uint32_t *lo, uint32_t *hi);
#endif
