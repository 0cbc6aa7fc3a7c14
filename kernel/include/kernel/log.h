/* log.h — kernel log lines "<subsys>: message" and the "doppel-info:" facts the
 * harness reads (docs/protocol.md). */
#ifndef KERNEL_LOG_H
#define KERNEL_LOG_H
#include <stdint.h>

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
