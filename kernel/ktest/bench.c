/*
 * bench.c — the benchmark runner beside ktest: cases from the "bench_cases"
 * linker section whose name matches a glob of `bench=`, each printing
 * `doppel-bench: <name> <value> <unit>` (docs/smp.md). Benchmarks never fail on
 * a figure; only a case that cannot run is an error.
 */
#include <kernel/bench.h>
#include <kernel/log.h>
#include <kernel/printf.h>
#include <kernel/panic.h>
#include <kernel/run_hook.h>
#include <kernel/string.h>

/* Weak: a link without any case (or a linker script without the section) has none. */
extern const struct bench_case *const __start_bench_cases[] __attribute__((weak));
extern const struct bench_case *const __stop_bench_cases[] __attribute__((weak));

void bench_report(const char *name, uint64_t value, const char *unit)
{
	kprintf("doppel-bench: %s %llu %s\n", name, (unsigned long long)value, unit);
}

uint64_t bench_percentile(uint64_t *v, size_t n, unsigned pct)
{
	for (size_t i = 1; i < n; i++)          /* insertion sort: n is a few thousand */
		for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	size_t rank = (n * pct + 99) / 100;     /* nearest rank, 1-based */
	if (rank == 0)
		rank = 1;
	return v[rank - 1];
}

int bench_run(const char *globs)
{
	int rc = 0;
	unsigned n = 0;
	if (__start_bench_cases && __stop_bench_cases)
		for (const struct bench_case *const *c = __start_bench_cases; c < __stop_bench_cases; c++) {
			if (!kglob_any(globs, (*c)->name))
				continue;
			n++;
			int r = (*c)->run();
			if (r) {
				klog("bench", "%s could not run (%d)", (*c)->name, r);
				rc = -1;
			}
		}
	if (!n) {
		klog("bench", "no benchmark matches '%s'", globs);
		return -1;
	}
	return rc;
}

/* kmain runs the cases `bench=` names through this hook (kernel/run_hook.h). */
static int bench_hook(const char *globs)
{
	return bench_run(globs) == 0 ? KERNEL_EXIT_PASS : KERNEL_EXIT_FAIL;
}
RUN_HOOK(bench_hook_entry, "bench", bench_hook);
