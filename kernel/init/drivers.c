/*
 * drivers.c — start and stop the drivers of the "drivers" linker section
 * (kernel/include/kernel/driver.h), in link order. `<name>=off` on the command
 * line leaves a driver out (said plainly).
 */
#include <stdbool.h>
#include <kernel/cmdline.h>
#include <kernel/driver.h>
#include <kernel/log.h>
#include <kernel/string.h>

/* Weak: an image may have no driver at all. */
extern const struct driver *const __start_drivers[] __attribute__((weak));
extern const struct driver *const __stop_drivers[] __attribute__((weak));

static bool driver_off(const struct driver *d)
{
	const char *v = cmdline_get(d->name);
	if (!v)
		return false;
	if (kstrcmp(v, "off") == 0)
		return true;
	return false;
}

void drivers_probe_all(void)
{
	if (!__start_drivers || !__stop_drivers)
		return;
	for (const struct driver *const *d = __start_drivers; d < __stop_drivers; d++) {
		if (driver_off(*d)) {
			klog("drivers", "%s=off: driver %s not started", (*d)->name, (*d)->name);
			continue;
		}
		int n = (*d)->probe();
		klog("drivers", "%s: %d device(s) started", (*d)->name, n);
	}
}

void drivers_shutdown_all(void)
{
	if (!__start_drivers || !__stop_drivers)
		return;
	for (const struct driver *const *d = __start_drivers; d < __stop_drivers; d++)
		if (!driver_off(*d) && (*d)->shutdown)
			(*d)->shutdown();
}
