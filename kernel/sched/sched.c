/*
 * sched.c — the scheduler core (docs/sched.md). Until threads exist every CPU runs
 * its boot flow, so the current context is the boot context.
 */
#include <hal/hal.h>
#include <kernel/sched.h>

struct hal_ctx *sched_current_ctx(void)
{
	return hal_ctx_boot();
}
