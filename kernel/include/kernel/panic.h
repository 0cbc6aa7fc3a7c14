/* panic.h — stop the machine on a broken kernel invariant (never on bad input). */
#ifndef KERNEL_PANIC_H
#define KERNEL_PANIC_H
#include <stdbool.h>

#define KERNEL_EXIT_PASS 0
#define KERNEL_EXIT_FAIL 1
#define KERNEL_EXIT_PANIC 2
#define KERNEL_EXIT_BOOT_ERROR 3

void panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Print a final "doppel-info: exit=N" and end the machine via hal_exit. */
void kernel_exit(int status) __attribute__((noreturn));
/* end=hold (docs/protocol.md; kmain reads the command line): an orderly
 * kernel_exit keeps the machine up, halted (hal_hold), instead of ending it. */
void kernel_exit_set_hold(bool hold);

#define ASSERT(cond)                                                              \
	do {                                                                          \
		if (!(cond))                                                              \
			panic("assertion failed: %s at %s:%d", #cond, __FILE__, __LINE__);    \
	} while (0)
#endif
