/*
 * panic.c — ending the machine: panic() for broken kernel invariants (message,
 * backtrace, status 2) and kernel_exit() for an orderly end with a status. With
 * `end=hold` an orderly end keeps the machine up, halted, so the harness can read
 * the device state from QEMU's monitor (docs/protocol.md, docs/pci.md).
 */
#include <stdbool.h>
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/console.h>
#include <kernel/panic.h>
#include <kernel/printf.h>

static uint32_t panicking;          /* atomic: 1 once a panic began */
static uint32_t hold_on_end;        /* atomic: end=hold, set at boot by kmain */

/* end=hold: the status line is out; the platform stops for good (hal_hold) so
 * nothing the kernel does changes device state any more. The harness reads
 * QEMU's view over QMP and then quits QEMU. */
static void __attribute__((noreturn)) hold_forever(int status)
{
	console_printf("doppel: holding (end=hold)\n");
	hal_hold(status);
}

void kernel_exit_set_hold(bool hold)
{
	atomic_store32(&hold_on_end, hold ? 1 : 0, MO_RELAXED);
}

void kernel_exit(int status)
{
	/* A panic never holds: its end must reach the harness as it is. */
	bool hold = atomic_load32(&hold_on_end, MO_RELAXED) && !atomic_load32(&panicking, MO_ACQUIRE);

	console_printf("doppel-info: exit=%d\n", status);
	if (hold)
		hold_forever(status);
	hal_exit(status);
}

void panic(const char *fmt, ...)
{
	hal_irq_disable();
	if (atomic_xchg32(&panicking, 1, MO_ACQ_REL)) {
		/* A second panic (e.g. inside the backtrace) or another CPU: just stop. */
		hal_exit(KERNEL_EXIT_PANIC);
	}
	char buf[400];
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	console_printf("\nKERNEL PANIC on cpu %u: %s\n", hal_cpu_index(), buf);
	hal_backtrace();
	kernel_exit(KERNEL_EXIT_PANIC);
}
