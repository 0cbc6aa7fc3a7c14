/*
 * panic.c — ending the machine: panic() for broken kernel invariants (message,
 * backtrace, status 2) and kernel_exit() for an orderly end with a status. With
 * `end=hold` an orderly end keeps the machine up, halted, so the harness can read
 * the device state from QEMU's monitor (docs/protocol.md, docs/pci.md).
 */
#include <stdbool.h>
#include <hal/hal.h>
#include <kernel/cmdline.h>
#include <kernel/log.h>
#include <kernel/panic.h>
#include <kernel/printf.h>
#include <kernel/string.h>

static int panicking;

/* end=hold: the status line is out; the platform stops for good (hal_hold) so
 * nothing the kernel does changes device state any more. The harness reads
 * QEMU's view over QMP and then quits QEMU. */
static void __attribute__((noreturn)) hold_forever(int status)
{
	klog("doppel", "holding (end=hold)");
	hal_hold(status);
}

void kernel_exit(int status)
{
	const char *end = cmdline_get("end");
	bool hold = false;

	if (end && !__atomic_load_n(&panicking, __ATOMIC_ACQUIRE)) {
		hold = kstrcmp(end, "hold") == 0;
		if (!hold)
			klog("doppel", "end=%s is not a known way to end (want end=hold); ending normally",
			     end);
	}
	kinfo("exit", "%d", status);
	if (hold)
		hold_forever(status);
	hal_exit(status);
}

void panic(const char *fmt, ...)
{
	hal_irq_disable();
	if (__atomic_exchange_n(&panicking, 1, __ATOMIC_ACQ_REL)) {
		/* A second panic (e.g. inside the backtrace) or another CPU: just stop. */
		hal_exit(KERNEL_EXIT_PANIC);
	}
	char buf[400];
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	kprintf("\nKERNEL PANIC on cpu %u: %s\n", hal_cpu_index(), buf);
	hal_backtrace();
	kernel_exit(KERNEL_EXIT_PANIC);
}
