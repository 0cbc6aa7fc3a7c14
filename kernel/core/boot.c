/*
 * boot.c — where the platform's boot_info is kept after kmain receives it, so
 * layers above the core (IOMMU RMRR checks, memory tests) read it without
 * depending on the boot flow itself (kernel/init/kmain.c).
 */
#include <kernel/boot.h>

static const struct boot_info *boot;

void boot_info_set(const struct boot_info *bi)
{
	boot = bi;
}

const struct boot_info *boot_info_get(void)
{
	return boot;
}
