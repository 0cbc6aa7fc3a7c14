/* console.h — the console at the bottom of the kernel: writes go out whole under
 * one leaf lock that never fails (it cannot panic), so both the log (log.h) and
 * panic (panic.h) build on it without depending on each other. */
#ifndef KERNEL_CONSOLE_H
#define KERNEL_CONSOLE_H
#include <stdarg.h>
#include <stddef.h>

/* Take the console lock with interrupts off; returns the interrupt state for
 * console_unlock. A leaf: nothing else is taken while it is held. */
unsigned long console_lock(void);
void console_unlock(unsigned long irq_flags);
/* Write len bytes as one piece (takes the lock). */
void console_write(const char *buf, size_t len);
/* Format (at most 512 bytes) and write as one piece; returns the formatted length. */
int console_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int console_vprintf(const char *fmt, va_list ap);
#endif
