/*
 * console.c — the bottom of the kernel's output: a leaf lock (test-and-test-and-set
 * with interrupts off, like kernel/lock/spinlock.c, but with no misuse check, so it
 * never panics) and whole writes under it. log.c and panic.c both print through it;
 * neither depends on the other, and spinlock.c may panic.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/console.h>
#include <kernel/printf.h>

#define CONSOLE_LINE_MAX 512

static uint32_t locked;                 /* 0 free, 1 held */

unsigned long console_lock(void)
{
	unsigned long flags = hal_irq_save();
	for (;;) {
		/* acquire: the previous holder's writes happen-before ours */
		if (atomic_xchg32(&locked, 1, MO_ACQUIRE) == 0)
			return flags;
		while (atomic_load32(&locked, MO_RELAXED))
			hal_cpu_relax();
	}
}

void console_unlock(unsigned long irq_flags)
{
	/* release: our writes happen-before the next holder's */
	atomic_store32(&locked, 0, MO_RELEASE);
	hal_irq_restore(irq_flags);
}

void console_write(const char *buf, size_t len)
{
	unsigned long f = console_lock();
	hal_console_write(buf, len);
	console_unlock(f);
}

int console_vprintf(const char *fmt, va_list ap)
{
	char buf[CONSOLE_LINE_MAX];
	int n = kvsnprintf(buf, sizeof buf, fmt, ap);
	size_t len = n < (int)sizeof buf ? (size_t)n : sizeof buf - 1;
	console_write(buf, len);
	return n;
}

int console_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = console_vprintf(fmt, ap);
	va_end(ap);
	return n;
}
