/*
 * fault.c — fault-injection sites (kernel/fault.h): asks the platform through
 * hal_fault_inject whether this hit should fail, and logs each injected failure so
 * a console log shows which site failed. Shared by both builds; docs/det.md.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/fault.h>
#include <kernel/log.h>

static uint64_t fired;

bool fault_site_hit(const char *name)
{
	if (!hal_fault_inject(name))
		return false;
	atomic_fetch_add64(&fired, 1, MO_RELAXED);   /* a statistic: orders nothing */
	klog("fault", "injected failure at site %s", name);
	return true;
}

uint64_t fault_fired_count(void)
{
	return atomic_load64(&fired, MO_RELAXED);
}
