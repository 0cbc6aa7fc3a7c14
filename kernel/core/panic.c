/*
 * panic.c — ending the machine: panic() for broken kernel invariants (message,
 * backtrace, status 2) and kernel_exit() for an orderly end with a status.
 */
#include <hal/hal.h>
#include <kernel/log.h>
#include <kernel/panic.h>
#include <kernel/printf.h>

static int panicking;

void kernel_exit(int status)
{
	kinfo("exit", "%d", status);
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
