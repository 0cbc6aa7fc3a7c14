/*
 * ioapic.h — I/O APIC model (Intel 82093AA datasheet §3): IOREGSEL/IOWIN at its
 * MMIO base, ID, version (24 redirection entries), arbitration ID and the
 * redirection table; lines raised by devices (or tests, ioapic_model.h) are sent to
 * the local APICs through the host's delivery callback. One I/O APIC per machine.
 */
#ifndef DOPPEL_MODELS_IOAPIC_H
#define DOPPEL_MODELS_IOAPIC_H

#include <stdbool.h>
#include <stdint.h>

#include <hw/x86/ioapic.h>

#define IOAPIC_LINES 24u            /* redirection entries, as on the 82093AA */

struct ioapic_host {
	/* Fixed interrupt to the LAPICs that dest names (physical or logical). */
	void (*deliver)(uint32_t dest, bool logical, uint8_t vector, bool level);
	void (*fatal)(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
};

struct model_bus;

/* Reset the I/O APIC (every entry masked) serving GSIs gsi_base.., and claim its
 * register window [mmio, mmio + IOAPIC_MMIO_LEN) on bus (kept; it must outlive the
 * model), releasing a previous init's. 0, -EINVAL, or the claim's error. */
int ioapic_model_init(uint8_t id, uint32_t gsi_base, uint64_t mmio, const struct ioapic_host *host,
                      const struct model_bus *bus);
/* MMIO access at offset from the base (32-bit accesses only), as the bus delivers it. */
uint64_t ioapic_model_mmio_read(uint64_t offset, unsigned size);
void ioapic_model_mmio_write(uint64_t offset, unsigned size, uint64_t value);
/* A LAPIC EOI of a level-triggered vector (clears remote IRR, re-sends if asserted). */
void ioapic_model_eoi(uint8_t vector);

#endif /* DOPPEL_MODELS_IOAPIC_H */
