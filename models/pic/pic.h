/*
 * pic.h — the legacy 8259A pair (master at ports 0x20-0x21, slave at 0xA0-0xA1) as
 * far as a kernel that uses the APICs touches it: the ICW1-ICW4 initialisation
 * sequence, the interrupt mask register (OCW1) and OCW2/OCW3 commands (Intel 8259A
 * datasheet). It never raises an interrupt: the sim routes ISA lines through the
 * I/O APIC only, as a kernel that masked the 8259 expects.
 */
#ifndef DOPPEL_MODELS_PIC_H
#define DOPPEL_MODELS_PIC_H

#include <stdint.h>

#include <hw/x86/pic.h>       /* PIC1_CMD, PIC2_CMD and the command words */

struct model_bus;

/* Reset both chips and claim ports 0x20-0x21 and 0xA0-0xA1 on bus (kept; it must
 * outlive the model), releasing a previous init's; byte accesses only (wider:
 * bus->fatal). 0, -EINVAL, or a claim's error. */
int pic_model_init(const struct model_bus *bus);
/* chip 0 master, 1 slave; offset 0 (command) or 1 (data); byte accesses. */
uint8_t pic_model_read(unsigned chip, unsigned offset);
void pic_model_write(unsigned chip, unsigned offset, uint8_t value);
/* The interrupt mask register of a chip (for tests). */
uint8_t pic_model_imr(unsigned chip);

#endif /* DOPPEL_MODELS_PIC_H */
