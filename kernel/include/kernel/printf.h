/* printf.h — formatted output for the kernel: %d %i %u %x %X %o %c %s %p %% with
 * flags '-' '0', width, precision for %s, and length modifiers hh h l ll z. */
#ifndef KERNEL_PRINTF_H
#define KERNEL_PRINTF_H
#include <stdarg.h>
#include <stddef.h>

int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#endif
