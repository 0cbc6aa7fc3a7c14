/* time.h — TSC calibrated against the 8254 PIT channel 2, the LAPIC timer
 * calibrated against the TSC, a per-CPU tick (TSC-deadline mode when CPUID offers
 * it, periodic otherwise) and TSC-based delays. Intel SDM Vol. 3A §11.5.4. */
#ifndef KERNEL_TIME_H
#define KERNEL_TIME_H
#include <stdbool.h>
#include <stdint.h>

/* Calibrate TSC and LAPIC timer (boot CPU, LAPIC up, interrupts off) and start
 * the boot CPU's tick. Prints the time.* facts. 0 or a negative errno (logged; a
 * fallback frequency is used so delays still work). */
int time_init(void);
/* Start the calling CPU's tick (APs from their entry). */
void time_cpu_start(void);
/* The timer vector's handler (irq_dispatch calls it). */
void time_tick(void);
/* Called at the end of every tick on the CPU that took it (IRQ context); the
 * scheduler installs it (sleepers, preemption requests). NULL removes it. */
void time_set_tick_hook(void (*fn)(void));

uint64_t time_tsc_khz(void);
uint64_t time_lapic_khz(void);
unsigned time_hz(void);
bool time_deadline_mode(void);
const char *time_source(void);
/* Nanoseconds for a TSC delta, and since the TSC was calibrated. */
uint64_t time_tsc_to_ns(uint64_t tsc_delta);
uint64_t time_now_ns(void);
/* Busy-wait at least us microseconds on the TSC. Any context. */
void udelay(uint64_t us);
/* Ticks taken so far by a CPU's timer. */
uint64_t time_ticks(unsigned cpu);
/* May a wait loop on the calling CPU halt? True when its local APIC takes
 * interrupts and its tick has fired (so a halt ends within one tick even if the
 * awaited interrupt never comes). False early in boot, on a CPU whose LAPIC could
 * not be set up, or without a timer: spin (hal_cpu_relax) instead. */
bool time_can_halt(void);
/* How many TSC ticks one window of `ms` milliseconds (<= 54) of PIT channel 2
 * lasts: every window measured gives an interval sure to hold the true count (a
 * preempted CPU only widens it), and the answer is their intersection over at
 * least min_windows and at most max_windows (<= TSC_BRACKET_MAX) windows, stopping
 * once it is within tol_ppm either side of its middle. consistent = false when two
 * windows contradicted each other (lo = hi = the median of their middles then).
 * Returns 0, or -ENODEV when the PIT does not count. Calibration and tests. */
#define TSC_BRACKET_MAX 64
struct tsc_bracket {
	uint64_t lo, hi;
	unsigned windows;
	bool consistent;
};
int time_pit_bracket(unsigned ms, unsigned min_windows, unsigned max_windows, unsigned tol_ppm,
		     struct tsc_bracket *out);
#endif
