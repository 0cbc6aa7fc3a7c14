/* cmdline.h — the kernel command line: space-separated `key=value` or `key` words
 * (docs/protocol.md lists the known keys). */
#ifndef KERNEL_CMDLINE_H
#define KERNEL_CMDLINE_H
#include <stdbool.h>
#include <stdint.h>

void cmdline_init(const char *line);
const char *cmdline_raw(void);
/* Value of key=value, "" for a bare key, NULL when absent. */
const char *cmdline_get(const char *key);
bool cmdline_has(const char *key);
/* Numeric value; returns 0 on success, -ENOENT if absent, -EINVAL (logged) if not a number. */
int cmdline_get_u64(const char *key, uint64_t *out);
#endif
