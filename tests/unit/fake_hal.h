/* fake_hal.h — a HAL for host unit tests and fuzz targets: guest "physical memory"
 * is one host buffer, the console is captured for assertions, exit aborts. */
#ifndef FAKE_HAL_H
#define FAKE_HAL_H
#include <stddef.h>
#include <stdint.h>
#include <hal/hal.h>

/* Give the fake a physical memory of `len` bytes starting at physical 0 (zeroed). */
uint8_t *fake_hal_mem_reset(size_t len);
/* Same, but keep the buffer (and its contents) when the size is unchanged: for
 * fuzz loops that clear what they used themselves. */
uint8_t *fake_hal_mem_reuse(size_t len);
size_t fake_hal_mem_len(void);
/* Console bytes captured since the last reset (NUL-terminated). */
const char *fake_hal_console(void);
void fake_hal_console_reset(void);
/* Echo console output to stderr too (default: only when DOPPEL_FAKE_HAL_VERBOSE is set). */
void fake_hal_console_echo(int on);
#endif
