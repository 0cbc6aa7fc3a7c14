/*
 * selftest_ktest.c — the `selftest` suite: the kernel's own little library
 * (formatter, glob, command line) and, on request, a deliberate crash so the
 * harness can prove it reports one (docs/protocol.md: selftest.panic/fault).
 */
#include <kernel/cmdline.h>
#include <kernel/ktest.h>
#include <kernel/panic.h>
#include <kernel/printf.h>
#include <kernel/string.h>

static void printf_formats(struct ktest *t)
{
	char b[64];
	ksnprintf(b, sizeof b, "%d|%5u|%-4x|%08llx|%s|%c|%%", -42, 7u, 0xabu, 0x1234ull, "ok", 'z');
	KTEST_EXPECT(t, kstrcmp(b, "-42|    7|ab  |00001234|ok|z|%") == 0);
	ksnprintf(b, sizeof b, "%zu %ld %hhu %.2s", (size_t)9, -3L, 300, "abc");
	KTEST_EXPECT(t, kstrcmp(b, "9 -3 44 ab") == 0);
	int n = ksnprintf(b, 4, "%s", "truncated");
	KTEST_EXPECT_EQ(t, n, 9);
	KTEST_EXPECT(t, kstrcmp(b, "tru") == 0);
}

static void glob_match(struct ktest *t)
{
	KTEST_EXPECT(t, kglob("*", "acpi"));
	KTEST_EXPECT(t, kglob("ac?i", "acpi"));
	KTEST_EXPECT(t, kglob("a*i", "acpi"));
	KTEST_EXPECT(t, !kglob("a*x", "acpi"));
	KTEST_EXPECT(t, !kglob("acp", "acpi"));
	KTEST_EXPECT(t, kglob("*_*_*", "a_b_c"));
}

static void cmdline_words(struct ktest *t)
{
	KTEST_EXPECT(t, cmdline_get("ktest") != 0);   /* we only run when ktest= was given */
	KTEST_EXPECT(t, cmdline_get("no.such.key") == 0);
	unsigned long long v;
	KTEST_EXPECT(t, kstrtou64("0x10", &v) == 0 && v == 16);
	KTEST_EXPECT(t, kstrtou64("12a", &v) != 0);
	KTEST_EXPECT(t, kstrtou64("99999999999999999999", &v) != 0);
}

static void crash_when_asked(struct ktest *t)
{
	if (cmdline_has("selftest.panic"))
		panic("selftest: deliberate panic (selftest.panic on the command line)");
	if (cmdline_has("selftest.fault")) {
		volatile uint64_t *bad = (volatile uint64_t *)(uintptr_t)0xdead000000000000ull;
		*bad = 1;               /* non-canonical: #GP on any x86_64 */
		KTEST_EXPECT(t, 0);     /* not reached */
	}
	ktest_skip(t, "add selftest.panic or selftest.fault to crash on purpose");
}

static const struct ktest_case selftest_cases[] = {
	KTEST_CASE(printf_formats),
	KTEST_CASE(glob_match),
	KTEST_CASE(cmdline_words),
	KTEST_CASE(crash_when_asked),
};
KTEST_SUITE(selftest_suite, "selftest", selftest_cases);
