/* boot.h — the boot_info kmain was handed, for code that needs the memory map later. */
#ifndef KERNEL_BOOT_H
#define KERNEL_BOOT_H
#include <hal/hal.h>
const struct boot_info *boot_info_get(void);
#endif
