/* run_hook.h — what the end of kmain runs when the command line asks for it
 * (`ktest=`, `bench=`): code that may be left out of an image (the tests and
 * benchmarks) registers a hook in the "run_hooks" linker section, so kmain never
 * names it. A key given to an image without its hook is a failure (kmain says so). */
#ifndef KERNEL_RUN_HOOK_H
#define KERNEL_RUN_HOOK_H

struct run_hook {
	const char *key;                    /* the command-line key: "ktest", "bench" */
	/* Run with the key's value; returns KERNEL_EXIT_PASS or KERNEL_EXIT_FAIL. */
	int (*run)(const char *value);
};

#define RUN_HOOK(sym, hkey, fn)                                                    \
	static const struct run_hook sym = { .key = hkey, .run = fn };                \
	static const struct run_hook *const __run_hook_ptr_##sym                       \
		__attribute__((used, section("run_hooks"), aligned(8))) = &sym
#endif
