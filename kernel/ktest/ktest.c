/*
 * ktest.c — runs the suites registered in the "ktest_suites" linker section and
 * reports KTAP version 1 (Documentation/dev-tools/ktap.rst in Linux): a top-level
 * plan over selected suites, each suite a subtest indented four spaces.
 * Selection: `ktest=<glob>[,<glob>...]`; a glob "suite.case" picks single cases.
 * A glob that selects no case is logged and makes the run fail (status 1).
 */
#include <kernel/cmdline.h>
#include <kernel/ktest.h>
#include <kernel/log.h>
#include <kernel/panic.h>
#include <kernel/printf.h>
#include <kernel/run_hook.h>
#include <kernel/string.h>

extern const struct ktest_suite *const __start_ktest_suites[];
extern const struct ktest_suite *const __stop_ktest_suites[];

#define MAX_GLOBS 16

struct selection {
	unsigned n;
	char suite[MAX_GLOBS][48];
	char kase[MAX_GLOBS][48];       /* "" = every case */
};

static void parse_globs(const char *globs, struct selection *sel)
{
	sel->n = 0;
	const char *p = globs;
	while (*p && sel->n < MAX_GLOBS) {
		char word[96];
		size_t k = 0;
		while (*p && *p != ',') {
			if (k + 1 < sizeof word)
				word[k++] = *p;
			p++;
		}
		word[k] = '\0';
		if (*p == ',')
			p++;
		if (!k)
			continue;
		char *dot = kstrchr(word, '.');
		if (dot)
			*dot = '\0';
		kstrlcpy(sel->suite[sel->n], word, sizeof sel->suite[0]);
		kstrlcpy(sel->kase[sel->n], dot ? dot + 1 : "", sizeof sel->kase[0]);
		sel->n++;
	}
}

static bool case_selected(const struct selection *sel, const char *suite, const char *kase)
{
	for (unsigned i = 0; i < sel->n; i++) {
		if (!kglob(sel->suite[i], suite))
			continue;
		if (!kase || !sel->kase[i][0] || kglob(sel->kase[i], kase))
			return true;
	}
	return false;
}

static struct ktest *current;

void ktest_fail_at(struct ktest *t, const char *file, int line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	t->failed++;
	kprintf("    # %s: %s at %s:%d\n", t->name, msg, file, line);
}

void ktest_skip(struct ktest *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(t->skip_reason, sizeof t->skip_reason, fmt, ap);
	va_end(ap);
	t->skipped = true;
}

void ktest_log(struct ktest *t, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	kprintf("    # %s: %s\n", t->name, msg);
}

const char *ktest_cmdline_get(const char *key)
{
	return cmdline_get(key);
}

/* Returns true when every selected case passed or skipped. */
static bool run_suite(const struct ktest_suite *s, const struct selection *sel, unsigned number)
{
	unsigned planned = 0;
	for (size_t i = 0; i < s->ncases; i++)
		if (case_selected(sel, s->name, s->cases[i].name))
			planned++;
	kprintf("    KTAP version 1\n    # Subtest: %s\n    1..%u\n", s->name, planned);
	bool ok = true;
	unsigned n = 0;
	for (size_t i = 0; i < s->ncases; i++) {
		const struct ktest_case *c = &s->cases[i];
		if (!case_selected(sel, s->name, c->name))
			continue;
		struct ktest t = { .name = c->name };
		current = &t;
		c->run(&t);
		current = 0;
		n++;
		if (t.failed) {
			ok = false;
			kprintf("    not ok %u %s\n", n, c->name);
		} else if (t.skipped) {
			kprintf("    ok %u %s # SKIP %s\n", n, c->name, t.skip_reason);
		} else {
			kprintf("    ok %u %s\n", n, c->name);
		}
	}
	kprintf("%s %u %s\n", ok ? "ok" : "not ok", number, s->name);
	return ok;
}

static bool glob_selects_any(const char *suite_glob, const char *case_glob)
{
	for (const struct ktest_suite *const *s = __start_ktest_suites; s < __stop_ktest_suites; s++) {
		if (!kglob(suite_glob, (*s)->name))
			continue;
		for (size_t c = 0; c < (*s)->ncases; c++)
			if (!case_glob[0] || kglob(case_glob, (*s)->cases[c].name))
				return true;
	}
	return false;
}

/* Logs each glob that selects no case at all (a typo must not pass), naming the
 * suites so the next try can be right. Returns true when every glob selects one. */
static bool every_glob_selects(const struct selection *sel)
{
	bool all = true;
	for (unsigned i = 0; i < sel->n; i++) {
		if (glob_selects_any(sel->suite[i], sel->kase[i]))
			continue;
		all = false;
		char names[512];
		size_t used = 0;
		names[0] = '\0';
		for (const struct ktest_suite *const *s = __start_ktest_suites; s < __stop_ktest_suites; s++) {
			int w = ksnprintf(names + used, sizeof names - used, " %s", (*s)->name);
			if (w < 0 || (size_t)w >= sizeof names - used)
				break;
			used += (size_t)w;
		}
		bool suite_hit = glob_selects_any(sel->suite[i], "");
		klog("ktest", "no %s matches '%s%s%s' (ktest=* runs every suite; the suites are:%s)",
		     suite_hit ? "case" : "suite", sel->suite[i], sel->kase[i][0] ? "." : "",
		     sel->kase[i], names);
	}
	return all;
}

int ktest_run(const char *globs)
{
	struct selection sel;
	parse_globs(globs, &sel);
	unsigned nsuites = 0;
	for (const struct ktest_suite *const *s = __start_ktest_suites; s < __stop_ktest_suites; s++)
		if (case_selected(&sel, (*s)->name, 0))
			nsuites++;
	bool ok = every_glob_selects(&sel) && sel.n > 0;
	if (sel.n == 0)
		klog("ktest", "no suite matches '%s' (ktest=* runs every suite)", globs);
	kprintf("KTAP version 1\n1..%u\n", nsuites);
	unsigned number = 0;
	for (const struct ktest_suite *const *s = __start_ktest_suites; s < __stop_ktest_suites; s++)
		if (case_selected(&sel, (*s)->name, 0))
			ok &= run_suite(*s, &sel, ++number);
	return ok ? KERNEL_EXIT_PASS : KERNEL_EXIT_FAIL;
}

/* kmain runs the suites `ktest=` names through this hook (kernel/run_hook.h). */
RUN_HOOK(ktest_hook, "ktest", ktest_run);
