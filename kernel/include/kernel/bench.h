/* bench.h — benchmark cases, registered in the "bench_cases" linker section like
 * ktest suites and run by `bench=<glob>[,<glob>...]` after the tests. Each prints
 * `doppel-bench: <name> <value> <unit>` lines (docs/smp.md); figures are reported,
 * never asserted. A case returns 0, or a negative errno when it could not run. */
#ifndef KERNEL_BENCH_H
#define KERNEL_BENCH_H
#include <stddef.h>
#include <stdint.h>

struct bench_case {
	const char *name;
	int (*run)(void);
};

#define BENCH_CASE(sym, bname, fn)                                                 \
	static const struct bench_case sym = { .name = bname, .run = fn };            \
	static const struct bench_case *const __bench_ptr_##sym                        \
		__attribute__((used, section("bench_cases"), aligned(8))) = &sym

void bench_report(const char *name, uint64_t value, const char *unit);
/* Sort v[0..n) and return the pct-th percentile (nearest rank). n > 0. */
uint64_t bench_percentile(uint64_t *v, size_t n, unsigned pct);
/* Run the matching cases; 0 when each ran, -1 when any failed or none matched. */
int bench_run(const char *globs);
#endif
