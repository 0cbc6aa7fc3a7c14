/*
 * ioapic_model.h — test-only controls of the I/O APIC model: drive a GSI's input
 * pin and read back what the kernel programmed. Never seen by the kernel.
 */
#ifndef DOPPEL_MODELS_IOAPIC_MODEL_H
#define DOPPEL_MODELS_IOAPIC_MODEL_H

#include <stdbool.h>
#include <stdint.h>

/* Set the electrical level of the pin for gsi (true = high). An edge-triggered,
 * unmasked entry sends on the asserting edge; a level one while asserted and its
 * remote IRR is clear. -EINVAL when this I/O APIC has no such GSI. */
int ioapic_model_set_line(uint32_t gsi, bool high);
/* The 64-bit redirection entry for gsi (0 when out of range). */
uint64_t ioapic_model_entry(uint32_t gsi);
/* Interrupt messages sent so far. */
uint64_t ioapic_model_sent(void);

#endif /* DOPPEL_MODELS_IOAPIC_MODEL_H */
