/*
 * fault.c — the sim's answer to hal_fault_inject (kernel/fault.h, docs/det.md):
 * `--fault-sites GLOB=PROB` fails each hit of a site whose name matches GLOB with
 * that probability, drawn from the seeded stream "fault-sites"; `--fail-nth N`
 * fails exactly the Nth site hit of the run (counting every site), for enumerating
 * error paths one by one. Deterministic in det mode (one CPU at a time).
 */
#include "rng.h"
#include "sim.h"

#include <fnmatch.h>
#include <pthread.h>

static const struct sim_options *opts;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct sim_rng rng;
static uint64_t hits;

void sim_fault_init(const struct sim_options *o)
{
	opts = o;
	sim_rng_stream(&rng, "fault-sites");
	for (unsigned i = 0; i < o->nfault_sites; i++)
		sim_log("fault-site: %s=%g", o->fault_sites[i].glob, o->fault_sites[i].prob);
	if (o->fail_nth)
		sim_log("fault-site: fail-nth=%llu", (unsigned long long)o->fail_nth);
}

bool hal_fault_inject(const char *site)
{
	bool fail = false;
	uint64_t n;

	if (!opts || (!opts->nfault_sites && !opts->fail_nth))
		return false;
	pthread_mutex_lock(&lock);
	n = ++hits;
	if (opts->fail_nth && n == opts->fail_nth)
		fail = true;
	for (unsigned i = 0; !fail && i < opts->nfault_sites; i++) {
		if (fnmatch(opts->fault_sites[i].glob, site, 0) != 0)
			continue;
		/* 53 random bits as a double in [0, 1). */
		fail = (double)(sim_rng_next(&rng) >> 11) * 0x1.0p-53 < opts->fault_sites[i].prob;
		break;
	}
	pthread_mutex_unlock(&lock);
	if (fail)
		sim_log("fault-site: %s fails (site hit %llu)", site, (unsigned long long)n);
	return fail;
}
