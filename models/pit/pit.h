/*
 * pit.h — 8254 programmable interval timer model (Intel 82C54 datasheet): channels
 * 0-2 behind ports 0x40-0x43, and port 0x61 (NMI status and control: channel 2
 * gate, speaker enable, OUT2), counting at 1.193182 MHz on the machine clock.
 * Enough for a kernel to calibrate its TSC the PC way. Modes 0, 2 and 3; binary.
 */
#ifndef DOPPEL_MODELS_PIT_H
#define DOPPEL_MODELS_PIT_H

#include <stdbool.h>
#include <stdint.h>

#include <hw/x86/pit.h>       /* ports, control word, PIT_HZ */

struct pit_host {
	uint64_t (*now_ns)(void);
	void (*fatal)(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
	/* Channel 0 was reprogrammed: its next IRQ0 edge moved (optional). */
	void (*ch0_changed)(void);
};

#define PIT_NEVER UINT64_MAX

struct model_bus;

/* Reset the PIT and claim ports 0x40-0x43 and 0x61 on bus (kept; it must outlive
 * the model), releasing a previous init's; byte accesses only (wider: host->fatal).
 * 0, -EINVAL, or a claim's error. */
int pit_model_init(const struct pit_host *host, const struct model_bus *bus);
/* offset 0..3 from PIT_CH0; 1-byte accesses only (the 8254 is 8 bits wide). */
uint8_t pit_model_read(unsigned offset);
void pit_model_write(unsigned offset, uint8_t value);
uint8_t pit_model_port61_read(void);
/* Channel 0's OUT drives ISA IRQ0. When does it next rise (machine clock ns,
 * PIT_NEVER if it will not)? And: did it rise since the last call (edges that
 * came in between coalesce into one, like an edge-triggered input)? */
uint64_t pit_model_irq0_next_ns(void);
bool pit_model_irq0_take(uint64_t now_ns);
void pit_model_port61_write(uint8_t value);

#endif /* DOPPEL_MODELS_PIT_H */
