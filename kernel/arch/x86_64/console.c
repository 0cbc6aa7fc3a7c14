/*
 * console.c — the console on COM1 (16550 UART at 0x3F8, 115200 8N1, FIFO on),
 * a small line formatter for messages the platform prints before or without the
 * kernel's printf (early boot, exception reports), and hal_exit via QEMU's
 * isa-debug-exit. National Semiconductor PC16550D datasheet (register map, LSR
 * THRE, FCR); QEMU hw/misc/debugexit.c behaviour as described in docs/protocol.md.
 */
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"
#include "kernel/atomic.h"
#include "x86.h"

#define COM1        0x3F8
#define UART_THR    0                  /* transmit holding (DLAB = 0) */
#define UART_DLL    0                  /* divisor latch low (DLAB = 1) */
#define UART_IER    1
#define UART_DLM    1
#define UART_FCR    2                  /* FIFO control (write) */
#define UART_IIR    2                  /* interrupt identification (read) */
#define   UART_IIR_FIFO_ON   0xC0      /* both bits set: 16550A FIFO enabled */
#define UART_LCR    3
#define   UART_LCR_8N1       0x03
#define   UART_LCR_DLAB      0x80
#define UART_MCR    4
#define   UART_MCR_DTR_RTS_OUT2 0x0B
#define UART_LSR    5
#define   UART_LSR_THRE      0x20      /* transmit FIFO/holding register empty */
#define UART_FIFO_DEPTH 16
#define UART_DIVISOR 1                 /* 115200 = 1.8432 MHz / (16 * 1) */

/* How long the transmitter may stay busy before the UART is declared dead, in
 * TSC cycles (the TSC is not calibrated yet when the console starts): 2^35 is
 * 7-34 s at 1-5 GHz. A real 16550 drains a full FIFO in ~1.4 ms at 115200, but
 * under QEMU THRE stays clear for as long as whoever reads the serial chardev
 * (a pipe to the test harness) is not reading, and on a loaded host that can be
 * seconds. A count of polls is no clock here: 2^20 polls were ~0.2 s under TCG,
 * and a reader that paused that long silenced the kernel for the rest of the
 * run. A missing UART reads 0xFF, THRE set, and never waits. */
#define UART_STALL_TSC (1ull << 35)
/* How long a CPU waits for the console lock before it takes it over anyway, in
 * TSC cycles: a CPU that died holding it must not silence everyone else's panic
 * report. Twice the UART stall limit, so an owner that is only waiting for a
 * slow reader finishes (or gives up on the UART) first. */
#define LOCK_TAKEOVER_TSC (2 * UART_STALL_TSC)

#define DEBUG_EXIT_PORT 0xF4

static unsigned uart_fifo_room = 1;
static int uart_dead;

/* 0 = free, else (owner CPU index + 1). Re-entry by the owner (an exception
 * taken while printing) is allowed so the exception report still appears. */
static uint32_t console_owner;

void x86_console_init(void)
{
	x86_outb(COM1 + UART_IER, 0x00);
	x86_outb(COM1 + UART_LCR, UART_LCR_DLAB);
	x86_outb(COM1 + UART_DLL, UART_DIVISOR & 0xFF);
	x86_outb(COM1 + UART_DLM, UART_DIVISOR >> 8);
	x86_outb(COM1 + UART_LCR, UART_LCR_8N1);
	x86_outb(COM1 + UART_FCR, 0xC7);   /* enable, clear both FIFOs, 14-byte trigger */
	x86_outb(COM1 + UART_MCR, UART_MCR_DTR_RTS_OUT2);
	if ((x86_inb(COM1 + UART_IIR) & UART_IIR_FIFO_ON) == UART_IIR_FIFO_ON)
		uart_fifo_room = UART_FIFO_DEPTH;
	uart_dead = 0;
}

/* Wait until the transmitter is empty; on timeout stop using the UART for good. */
static int uart_wait_empty(void)
{
	uint64_t t0 = x86_rdtsc();

	while (x86_rdtsc() - t0 < UART_STALL_TSC) {
		if (x86_inb(COM1 + UART_LSR) & UART_LSR_THRE)
			return 0;
		__asm__ volatile("pause");
	}
	uart_dead = 1;
	return -1;
}

static void uart_write(const char *buf, size_t len)
{
	unsigned room = 0;

	for (size_t i = 0; i < len && !uart_dead; i++) {
		int crlf = buf[i] == '\n';

		for (int k = crlf ? 2 : 1; k > 0; k--) {
			if (room == 0) {
				if (uart_wait_empty() < 0)
					return;
				room = uart_fifo_room;
			}
			x86_outb(COM1 + UART_THR, (k == 2) ? '\r' : (uint8_t)buf[i]);
			room--;
		}
	}
}

static unsigned long console_lock(int *nested)
{
	unsigned long flags = hal_irq_save();
	uint32_t me = hal_cpu_index() + 1;

	*nested = 0;
	if (atomic_load32(&console_owner, MO_RELAXED) == me) {
		*nested = 1;
		return flags;
	}
	for (uint64_t t0 = x86_rdtsc(); x86_rdtsc() - t0 < LOCK_TAKEOVER_TSC;) {
		uint32_t expected = 0;

		/* acquire: orders our UART accesses after the previous owner's */
		if (atomic_cas32(&console_owner, &expected, me, MO_ACQUIRE, MO_RELAXED))
			return flags;
		__asm__ volatile("pause");
	}
	atomic_store32(&console_owner, me, MO_SEQ_CST);
	return flags;
}

static void console_unlock(unsigned long flags, int nested)
{
	if (!nested) /* release: our UART writes happen before the next owner's */
		atomic_store32(&console_owner, 0, MO_RELEASE);
	hal_irq_restore(flags);
}

/* Each call is written whole: callers pass complete lines so CPUs never
 * interleave mid-line. "\n" goes out as "\r\n". */
void hal_console_write(const char *buf, size_t len)
{
	int nested;
	unsigned long flags = console_lock(&nested);

	uart_write(buf, len);
	console_unlock(flags, nested);
}

/* ---- early line formatting ------------------------------------------------------ */

void x86_puts(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	hal_console_write(s, n);
}

void x86_line_str(struct x86_line *l, const char *s)
{
	while (*s && l->len < sizeof(l->buf) - 1)
		l->buf[l->len++] = *s++;
}

void x86_line_hex(struct x86_line *l, uint64_t v, int digits)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[19];
	int n = 0;

	if (digits < 1) {                  /* 0: as many digits as the value needs */
		digits = 1;
		while (digits < 16 && (v >> (4 * digits)))
			digits++;
	}
	if (digits > 16)
		digits = 16;
	tmp[n++] = '0';
	tmp[n++] = 'x';
	for (int i = digits - 1; i >= 0; i--)
		tmp[n++] = hex[(v >> (4 * i)) & 0xF];
	tmp[n] = '\0';
	x86_line_str(l, tmp);
}

void x86_line_dec(struct x86_line *l, uint64_t v)
{
	char tmp[21];
	int n = sizeof(tmp) - 1;

	tmp[n] = '\0';
	do {
		tmp[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	x86_line_str(l, &tmp[n]);
}

void x86_line_end(struct x86_line *l)
{
	l->buf[l->len++] = '\n';           /* x86_line_str always leaves one byte */
	hal_console_write(l->buf, l->len);
	l->len = 0;
}

/* ---- exit ------------------------------------------------------------------------- */

/*
 * The kernel has already printed "doppel-info: exit=N". Under QEMU with
 * -device isa-debug-exit,iobase=0xf4,iosize=4 the 32-bit write ends QEMU with
 * exit code (N << 1) | 1. Without that device (a real PC) nothing decodes the
 * port and we get here: say so once and stop this CPU. A shutdown through other
 * QEMU/Bochs ports would be wrong on real hardware, so none is attempted.
 */
void hal_exit(int status)
{
	struct x86_line l = { .len = 0 };

	hal_irq_disable();
	x86_outl(DEBUG_EXIT_PORT, (uint32_t)status);
	x86_line_str(&l, "doppel: halted (status ");
	x86_line_dec(&l, (uint64_t)(uint32_t)status);
	x86_line_str(&l, "); no isa-debug-exit device");
	x86_line_end(&l);
	x86_halt_forever();
}

/* end=hold: interrupts off and HLT for good; QEMU stays up for its monitor. */
void hal_hold(int status)
{
	(void)status;
	hal_irq_disable();
	x86_halt_forever();
}
