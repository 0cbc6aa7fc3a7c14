/* log.h — kernel log lines "<subsys>: message" and the "doppel-info:" facts the
 * harness reads (docs/protocol.md). */
#ifndef KERNEL_LOG_H
#define KERNEL_LOG_H
#include <stdarg.h>
#include <stdint.h>

/* Console output, whole line atomic with respect to other CPUs' kprintf. */
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kvprintf(const char *fmt, va_list ap);

void klog(const char *subsys, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "doppel-info: key=value". */
void kinfo(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Count of klog lines since boot (tests check that bad input was reported). */
uint64_t klog_count(void);
/* Copy of the most recent klog line (without newline), for tests. */
const char *klog_last(void);
/* Does any of the last KLOG_RING lines contain needle? For tests. */
int klog_contains(const char *needle);
#endif
