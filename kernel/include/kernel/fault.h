/* fault.h — fault-injection sites in the manner of FoundationDB's BUGGIFY: a named
 * place in kernel code that may be told to fail, so error paths run in tests.
 * `if (FAULT_SITE("pmm.alloc")) return 0;` fails exactly like the real failure.
 * The platform decides (hal_fault_inject): doppel-sim by seeded probability per
 * site (--fault-sites GLOB=PROB) or the Nth hit (--fail-nth N); the image never. */
#ifndef KERNEL_FAULT_H
#define KERNEL_FAULT_H
#include <stdbool.h>
#include <stdint.h>

/* True when this hit of site `name` (a string literal, "subsys.what") should fail. */
bool fault_site_hit(const char *name);
/* Sites that fired since boot (all sites together). */
uint64_t fault_fired_count(void);

#define FAULT_SITE(name) fault_site_hit(name)
#endif
