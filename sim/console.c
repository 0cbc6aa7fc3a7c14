/*
 * console.c — the sim HAL's console, exit and diagnostics: hal_console_write
 * (stdout, plus the --console tee), hal_exit, hal_backtrace, hal_version, the
 * "sim: ..." log lines, and the fatal path the sim takes when it catches the kernel
 * doing something hardware would punish (HAL contract: kernel/include/hal/hal.h).
 */
#include "sim_bus.h"
#include "det.h"
#include "sim.h"

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t console_lock = PTHREAD_MUTEX_INITIALIZER;
static int tee_fd = -1;
static atomic_int exiting;

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;                 /* nowhere left to report it */
		}
		buf += n;
		len -= (size_t)n;
	}
}

static void console_put_locked(const char *buf, size_t len)
{
	write_all(STDOUT_FILENO, buf, len);
	if (tee_fd >= 0)
		write_all(tee_fd, buf, len);
}

int sim_console_init(const char *tee_path)
{
	void *warm[2];

	/* The first backtrace() loads libgcc's unwinder (and allocates): do it now,
	 * not inside a signal handler later. */
	backtrace(warm, 2);
	if (!tee_path)
		return 0;
	tee_fd = open(tee_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	return tee_fd < 0 ? -errno : 0;
}

void hal_console_write(const char *buf, size_t len)
{
	pthread_mutex_lock(&console_lock);
	console_put_locked(buf, len);
	pthread_mutex_unlock(&console_lock);
}

static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	char line[4096];                /* room for a replay line with a full cmdline */
	int n = snprintf(line, sizeof(line), "%s", prefix);

	if (n < 0)
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	n = (int)strlen(line);
	if (n == (int)sizeof(line) - 1)
		n--;                        /* truncated: keep room for the newline */
	line[n++] = '\n';
	hal_console_write(line, (size_t)n);
}

void sim_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("sim: ", fmt, ap);
	va_end(ap);
}

void sim_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("sim: warning: ", fmt, ap);
	va_end(ap);
}

static void backtrace_locked(void)
{
	void *frames[64];
	int n = backtrace(frames, 64);

	backtrace_symbols_fd(frames, n, STDOUT_FILENO);
	if (tee_fd >= 0)
		backtrace_symbols_fd(frames, n, tee_fd);
}

void hal_backtrace(void)
{
	pthread_mutex_lock(&console_lock);
	backtrace_locked();
	pthread_mutex_unlock(&console_lock);
}

void sim_fatal(const char *fmt, ...)
{
	char prefix[48];
	int cpu = sim_cpu_self();
	va_list ap;

	if (cpu >= 0)
		snprintf(prefix, sizeof(prefix), "sim: FATAL: cpu%d: ", cpu);
	else
		snprintf(prefix, sizeof(prefix), "sim: FATAL: ");
	va_start(ap, fmt);
	vlog(prefix, fmt, ap);
	va_end(ap);
	hal_backtrace();
	abort();
}

uint32_t hal_version(void)
{
	return HAL_VERSION;
}

void hal_exit(int status)
{
	int code = status;

	/* exit() is not safe to run twice at once: the first CPU to get here ends
	 * the machine, any other one waits for the process to go. */
	if (atomic_exchange(&exiting, 1)) {
		for (;;)
			pause();
	}
	sim_devices_report();
	if (status < 0 || status > 3) {
		sim_warn("kernel exit status %d is outside the protocol's 0..3; exiting 2 (panic)",
		         status);
		code = 2;
	}
	sim_det_finish(code);
	/* Close the tee between two lines (under the console lock), then exit()
	 * (not _exit) so atexit handlers and the sanitizers' leak check still run.
	 * Parked APs wait on their own condition variables and hold no lock that
	 * exit() needs; a CPU still printing keeps writing to stdout alone. */
	pthread_mutex_lock(&console_lock);
	if (tee_fd >= 0) {
		close(tee_fd);
		tee_fd = -1;
	}
	pthread_mutex_unlock(&console_lock);
	fflush(NULL);
	exit(code);
}

/* end=hold keeps a machine up for an outside monitor; the simulator has none (its
 * state is read by the models' own reports), so holding would only hang. */
void hal_hold(int status)
{
	sim_warn("end=hold: the simulator has no monitor to hold for; ending with status %d", status);
	hal_exit(status);
}

/* ---- crash reporting ----------------------------------------------------------------- */

static struct sigaction old_segv, old_bus;

/* Async-signal-safe formatting of "sim: FATAL: ..." lines. */
static size_t put_str(char *buf, size_t at, size_t size, const char *s)
{
	while (*s && at + 1 < size)
		buf[at++] = *s++;
	return at;
}

static size_t put_hex(char *buf, size_t at, size_t size, uint64_t v)
{
	char tmp[19];
	int i = 18;

	tmp[i] = '\0';
	do {
		tmp[--i] = "0123456789abcdef"[v & 0xF];
		v >>= 4;
	} while (v && i > 2);
	tmp[--i] = 'x';
	tmp[--i] = '0';
	return put_str(buf, at, size, tmp + i);
}

static void crash_handler(int sig, siginfo_t *si, void *uctx)
{
	uint8_t *win = sim_mmio_window_base();
	uint8_t *addr = si->si_addr;
	uint8_t *mem = sim_mem_base();
	char line[256];
	size_t n = 0;
	int cpu = sim_cpu_self();
	struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;

	n = put_str(line, n, sizeof(line), "sim: FATAL: ");
	if (cpu >= 0) {
		char c[8] = "cpu";
		int i = 3;
		if (cpu >= 100)
			c[i++] = (char)('0' + cpu / 100);
		if (cpu >= 10)
			c[i++] = (char)('0' + cpu / 10 % 10);
		c[i++] = (char)('0' + cpu % 10);
		c[i++] = ':';
		c[i++] = ' ';
		c[i] = '\0';
		n = put_str(line, n, sizeof(line), c);
	}
	if (win && addr >= win && (uint64_t)(addr - win) < sim_mmio_window_size()) {
		n = put_str(line, n, sizeof(line), "direct access to MMIO at physical ");
		n = put_hex(line, n, sizeof(line), (uint64_t)(addr - win));
		n = put_str(line, n, sizeof(line),
		            ": device registers must go through hal_mmio_read*/write* (kernel bug)");
	} else if (mem && addr >= mem + sim_mem_size() && addr < mem + sim_mem_size() + (1u << 30)) {
		n = put_str(line, n, sizeof(line), "access past the end of guest RAM at physical ");
		n = put_hex(line, n, sizeof(line), (uint64_t)(addr - mem));
		n = put_str(line, n, sizeof(line), " (kernel bug)");
	} else {
		n = put_str(line, n, sizeof(line), sig == SIGSEGV ? "segmentation fault at " :
		                                                    "bus error at ");
		n = put_hex(line, n, sizeof(line), (uint64_t)(uintptr_t)addr);
		n = put_str(line, n, sizeof(line), " (like a page fault in the kernel)");
	}
	line[n++] = '\n';
	/* No lock: the faulting CPU may hold it. Lines may interleave; that is fine
	 * for a last word. */
	console_put_locked(line, n);
	backtrace_locked();

	/* Hand over to whoever was there before (a sanitizer's report), else die of
	 * the signal with the default action. */
	if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
		old->sa_sigaction(sig, si, uctx);
		return;
	}
	if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
		return;
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

int sim_signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = crash_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &old_segv) != 0 || sigaction(SIGBUS, &sa, &old_bus) != 0)
		return -errno;
	return 0;
}
