/*
 * sanitizer_options.c — default runtime options for the sanitizers doppel-sim may
 * be built with (DOPPEL_SANITIZE). A sanitizer report ends the run with its own
 * exit code, distinct from the kernel's statuses 0..3 and from usage errors (64):
 * ASan (and its leak check) 66, UBSan 67, TSan 68. Environment variables
 * (ASAN_OPTIONS, ...) still override these. The runtimes call them before main.
 */
const char *__asan_default_options(void);
const char *__ubsan_default_options(void);
const char *__tsan_default_options(void);

__attribute__((used, visibility("default")))
const char *__asan_default_options(void)
{
	return "exitcode=66:abort_on_error=0:detect_leaks=1";
}

__attribute__((used, visibility("default")))
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1:exitcode=67";
}

__attribute__((used, visibility("default")))
const char *__tsan_default_options(void)
{
	return "exitcode=68:halt_on_error=1";
}
