/* ktest.h — in-kernel test suites (in the manner of KUnit), reported as KTAP v1.
 * A suite is registered in the "ktest_suites" linker section and runs in both
 * builds when `ktest=<glob>` selects it. See README "Adding a ktest suite". */
#ifndef KERNEL_KTEST_H
#define KERNEL_KTEST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ktest {
	const char *name;
	int failed;                 /* count of failed expectations */
	bool skipped;
	char skip_reason[96];
};

struct ktest_case {
	const char *name;
	void (*run)(struct ktest *t);
};

struct ktest_suite {
	const char *name;
	const struct ktest_case *cases;
	size_t ncases;
};

void ktest_fail_at(struct ktest *t, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void ktest_skip(struct ktest *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print a "# ..." diagnostic line inside the current case. */
void ktest_log(struct ktest *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Run every suite matching the glob list; returns KERNEL_EXIT_PASS or _FAIL. */
int ktest_run(const char *globs);
/* Value of a `key=value` word of the kernel command line, or NULL. */
const char *ktest_cmdline_get(const char *key);

#define KTEST_CASE(fn) { #fn, fn }
#define KTEST_SUITE(sym, sname, case_array)                                        \
	static const struct ktest_suite sym = {                                        \
		.name = sname, .cases = case_array,                                        \
		.ncases = sizeof(case_array) / sizeof((case_array)[0]) };                 \
	static const struct ktest_suite *const __ktest_ptr_##sym                       \
		__attribute__((used, section("ktest_suites"), aligned(8))) = &sym

#define KTEST_EXPECT(t, cond)                                                      \
	do { if (!(cond)) ktest_fail_at(t, __FILE__, __LINE__, "expected %s", #cond); } while (0)
#define KTEST_ASSERT(t, cond)                                                      \
	do { if (!(cond)) { ktest_fail_at(t, __FILE__, __LINE__, "assertion %s", #cond); return; } } while (0)
#define KTEST_EXPECT_EQ(t, a, b)                                                   \
	do { unsigned long long _a = (unsigned long long)(a), _b = (unsigned long long)(b); \
	     if (_a != _b) ktest_fail_at(t, __FILE__, __LINE__, "expected %s == %s (%llu vs %llu)", \
	                                 #a, #b, _a, _b); } while (0)
#endif
