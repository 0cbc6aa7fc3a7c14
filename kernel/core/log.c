/*
 * log.c — console output for the kernel: kprintf, klog ("subsys: message") and the
 * "doppel-info: key=value" facts of docs/protocol.md. Each call formats into a
 * buffer and writes it whole under one lock, so lines from CPUs never interleave.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/log.h>
#include <kernel/printf.h>
#include <kernel/console.h>
#include <kernel/string.h>

#define LINE_MAX 512
#define KLOG_RING 32

/* The ring and its index are guarded by the console lock (kernel/console.h), a leaf. */
static char ring[KLOG_RING][160];
static unsigned ring_next;
static uint64_t nlog;

int kvprintf(const char *fmt, va_list ap)
{
	return console_vprintf(fmt, ap);
}

int kprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = kvprintf(fmt, ap);
	va_end(ap);
	return n;
}

void klog(const char *subsys, const char *fmt, ...)
{
	char buf[LINE_MAX];
	int n = ksnprintf(buf, sizeof buf, "%s: ", subsys);
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = kstrlen(buf);
	unsigned long f = console_lock();
	kstrlcpy(ring[ring_next % KLOG_RING], buf, sizeof ring[0]);
	ring_next++;
	atomic_fetch_add64(&nlog, 1, MO_RELAXED);   /* read without the lock */
	buf[len++] = '\n';
	hal_console_write(buf, len);
	console_unlock(f);
}

void kinfo(const char *key, const char *fmt, ...)
{
	char buf[LINE_MAX];
	int n = ksnprintf(buf, sizeof buf, "doppel-info: %s=", key);
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = kstrlen(buf);
	buf[len++] = '\n';
	console_write(buf, len);
}

uint64_t klog_count(void)
{
	return atomic_load64(&nlog, MO_RELAXED);
}

const char *klog_last(void)
{
	return ring_next ? ring[(ring_next - 1) % KLOG_RING] : "";
}

static int contains(const char *hay, const char *needle)
{
	size_t nl = kstrlen(needle);
	for (; *hay; hay++)
		if (kstrncmp(hay, needle, nl) == 0)
			return 1;
	return nl == 0;
}

int klog_contains(const char *needle)
{
	unsigned n = ring_next < KLOG_RING ? ring_next : KLOG_RING;
	for (unsigned i = 0; i < n; i++)
		if (contains(ring[(ring_next - 1 - i) % KLOG_RING], needle))
			return 1;
	return 0;
}
