/* boot.h — the platform's boot_info (hal/hal.h), kept by the core for any later
 * reader (memory map checks, tests). kmain records it first thing. */
#ifndef KERNEL_BOOT_H
#define KERNEL_BOOT_H
#include <hal/hal.h>
/* Record the platform's boot_info (kmain, once, before anything reads it). */
void boot_info_set(const struct boot_info *bi);
/* The recorded boot_info, NULL before boot_info_set. */
const struct boot_info *boot_info_get(void);
#endif
