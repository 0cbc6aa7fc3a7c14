/*
 * pit.c — 8254 PIT model (Intel 82C54 datasheet: control word, counter latch and
 * read-back commands, read/write flip-flop, modes 0, 2 and 3) with channel 2's gate
 * and OUT on port 0x61 as on a PC. Counts are derived from the machine clock, so
 * reading twice shows time passing. Modes 1, 4, 5 and BCD counting are not modelled
 * and end the run with a message rather than count wrongly.
 */
#include "bus.h"
#include "pit/pit.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

/* Control-word fields as numbers: counter 0-3 (3: read-back), read/write 0-3 (0:
 * latch), mode 0-7. */
static unsigned cw_sc(uint8_t cw) { return (cw & PIT_CMD_SC_MASK) >> PIT_CMD_SC_SHIFT; }
static unsigned cw_rw(uint8_t cw) { return (cw & PIT_CMD_RW_MASK) >> PIT_CMD_RW_SHIFT; }
static unsigned cw_mode(uint8_t cw) { return (cw & PIT_CMD_MODE_MASK) >> PIT_CMD_MODE_SHIFT; }

struct channel {
	unsigned mode, rw;
	bool programmed;                /* a control word was written */
	bool loaded;                    /* a complete count was written */
	bool write_msb_next, read_msb_next;
	uint8_t lsb_written;
	uint32_t reload;                /* 1..65536 */
	bool gate;
	uint64_t run_since_ns;          /* counting since (valid while gate high) */
	uint64_t ticks_before;          /* ticks counted before the gate last fell */
	bool count_latched, status_latched, latched_msb_next;
	uint16_t latched_count;
	uint8_t latched_status;
};

static struct pit_host host;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct channel ch[3];
static uint64_t irq0_edges;         /* channel 0 rising edges already reported */
static bool changed;                /* channel 0 reprogrammed: tell the host */
static uint8_t port61;

static const struct model_bus *bus;     /* where the ports are claimed */

/* The 8254 and port 0x61 are 8 bits wide: a wider access is a kernel bug. */
static void size_check(const char *dev, unsigned port, unsigned size)
{
	if (size != 1)
		host.fatal("%u-byte port access to the %s at 0x%x: it is an 8-bit device", size, dev,
		           port);
}

static uint64_t bus_pit_read(void *ctx, uint64_t off, unsigned size)
{
	(void)ctx;
	size_check("PIT", PIT_CH0 + (unsigned)off, size);
	return pit_model_read((unsigned)off);
}

static void bus_pit_write(void *ctx, uint64_t off, unsigned size, uint64_t v)
{
	(void)ctx;
	size_check("PIT", PIT_CH0 + (unsigned)off, size);
	pit_model_write((unsigned)off, (uint8_t)v);
}

static uint64_t bus_p61_read(void *ctx, uint64_t off, unsigned size)
{
	(void)ctx;
	(void)off;
	size_check("port 0x61 register", PIT_PORT_B, size);
	return pit_model_port61_read();
}

static void bus_p61_write(void *ctx, uint64_t off, unsigned size, uint64_t v)
{
	(void)ctx;
	(void)off;
	size_check("port 0x61 register", PIT_PORT_B, size);
	pit_model_port61_write((uint8_t)v);
}

int pit_model_init(const struct pit_host *h, const struct model_bus *b)
{
	int err;

	if (!h || !h->now_ns || !h->fatal || !model_bus_valid(b))
		return -EINVAL;
	if (bus) {                      /* a previous init's ports (errors: a reset fake bus) */
		bus->pio_release(bus->ctx, PIT_CH0);
		bus->pio_release(bus->ctx, PIT_PORT_B);
		bus = NULL;
	}
	if ((err = b->pio_claim(b->ctx, PIT_CH0, PIT_PORT_COUNT, bus_pit_read, bus_pit_write,
	                        NULL)) != 0)
		return err;
	if ((err = b->pio_claim(b->ctx, PIT_PORT_B, 1, bus_p61_read, bus_p61_write, NULL)) != 0) {
		b->pio_release(b->ctx, PIT_CH0);
		return err;
	}
	bus = b;
	host = *h;
	memset(ch, 0, sizeof(ch));
	ch[0].gate = ch[1].gate = true;     /* wired high on a PC */
	ch[2].gate = false;                 /* port 0x61 bit 0, clear at reset */
	port61 = 0;
	irq0_edges = 0;
	changed = false;
	return 0;
}

static uint64_t ticks(struct channel *c)
{
	uint64_t t = c->ticks_before;

	if (c->loaded && c->gate)
		t += (host.now_ns() - c->run_since_ns) * PIT_HZ / 1000000000ull;
	return t;
}

static uint16_t count_now(struct channel *c)
{
	uint64_t t, n = c->reload;

	if (!c->loaded)
		return 0;
	t = ticks(c);
	switch (c->mode) {
	case 0:                         /* counts down and wraps past zero */
		return (uint16_t)((n - t % 65536u) & 0xFFFFu);
	case 2:
		return (uint16_t)(n - t % n);
	default: {                      /* mode 3: down by two, twice a period */
		uint64_t half = n / 2 ? n / 2 : 1;
		return (uint16_t)((n & ~1ull) - 2 * (t % half));
	}
	}
}

static bool out_now(struct channel *c)
{
	uint64_t t, n = c->reload;

	if (!c->programmed)
		return false;
	if (!c->loaded)
		return c->mode != 0;        /* mode 0: low after the control word */
	t = ticks(c);
	switch (c->mode) {
	case 0:
		return t >= n;              /* high at terminal count, stays high */
	case 2:
		return t % n != n - 1;      /* low for one clock per period */
	default:
		return t % n < (n + 1) / 2; /* high for the first (larger) half */
	}
}

static uint8_t status_of(struct channel *c, unsigned idx)
{
	(void)idx;
	return (uint8_t)((out_now(c) ? PIT_ST_OUT : 0) | (c->loaded ? 0 : PIT_ST_NULL) |
	                 (c->rw << PIT_CMD_RW_SHIFT) | (c->mode << PIT_CMD_MODE_SHIFT));
}

static void set_gate(struct channel *c, bool gate)
{
	if (gate == c->gate)
		return;
	if (!gate) {
		c->ticks_before = ticks(c);
	} else {
		c->run_since_ns = host.now_ns();
		if (c->mode == 2 || c->mode == 3)
			c->ticks_before = 0;    /* a rising gate restarts the period */
	}
	c->gate = gate;
}

static void control_word(uint8_t cw)
{
	unsigned sc = cw_sc(cw);

	if (sc == 3) {                  /* read-back command */
		for (unsigned i = 0; i < 3; i++) {
			struct channel *c = &ch[i];
			if (!(cw & PIT_RB_CNT(i)))
				continue;
			if (!(cw & PIT_RB_NO_STATUS) && !c->status_latched) {
				c->latched_status = status_of(c, i);
				c->status_latched = true;
			}
			if (!(cw & PIT_RB_NO_COUNT) && !c->count_latched) {
				c->latched_count = count_now(c);
				c->count_latched = true;
				c->latched_msb_next = false;
			}
		}
		return;
	}
	struct channel *c = &ch[sc];
	if (cw_rw(cw) == 0) {           /* counter latch command */
		if (!c->count_latched) {
			c->latched_count = count_now(c);
			c->count_latched = true;
			c->latched_msb_next = false;
		}
		return;
	}
	if (cw & PIT_CMD_BCD)
		host.fatal("PIT control word 0x%02x: BCD counting is not modelled", cw);
	unsigned mode = cw_mode(cw);
	if (mode >= 6)
		mode -= 4;                  /* 110b, 111b are modes 2 and 3 */
	if (mode == 1 || mode == 4 || mode == 5)
		host.fatal("PIT control word 0x%02x: mode %u is not modelled (modes 0, 2, 3 are)",
		           cw, mode);
	c->mode = mode;
	c->rw = cw_rw(cw);
	c->programmed = true;
	c->loaded = false;
	c->write_msb_next = c->read_msb_next = false;
	c->count_latched = c->status_latched = false;
	c->ticks_before = 0;
	if (sc == 0) {
		irq0_edges = 0;
		changed = true;
	}
}

static void write_count(struct channel *c, uint8_t v)
{
	uint32_t n;

	if (!c->programmed)
		host.fatal("PIT counter written before any control word selected its mode");
	switch (c->rw) {
	case 1: n = v; break;
	case 2: n = (uint32_t)v << 8; break;
	default:
		if (!c->write_msb_next) {
			c->lsb_written = v;
			c->write_msb_next = true;
			if (c->mode == 0)
				c->loaded = false;  /* writing the LSB stops a mode-0 count */
			return;
		}
		c->write_msb_next = false;
		n = c->lsb_written | ((uint32_t)v << 8);
		break;
	}
	c->reload = n ? n : 65536u;
	if (c->mode == 0 || !c->loaded) {
		/* Mode 0 restarts on a new count; modes 2/3 pick it up now if idle
		 * (a running periodic count takes it at the next period: close enough). */
		c->loaded = true;
		c->ticks_before = 0;
		c->run_since_ns = host.now_ns();
		if (c == &ch[0]) {
			irq0_edges = 0;
			changed = true;
		}
	}
}

static uint8_t read_count(struct channel *c)
{
	uint16_t v;
	bool msb;

	if (c->status_latched) {
		c->status_latched = false;
		return c->latched_status;
	}
	if (c->count_latched) {
		v = c->latched_count;
		if (c->rw == 3) {
			msb = c->latched_msb_next;
			c->latched_msb_next = !msb;
			if (msb)
				c->count_latched = false;
		} else {
			msb = c->rw == 2;
			c->count_latched = false;
		}
		return msb ? (uint8_t)(v >> 8) : (uint8_t)v;
	}
	v = count_now(c);
	if (c->rw == 3) {
		msb = c->read_msb_next;
		c->read_msb_next = !msb;
	} else {
		msb = c->rw == 2;
	}
	return msb ? (uint8_t)(v >> 8) : (uint8_t)v;
}

uint8_t pit_model_read(unsigned offset)
{
	uint8_t v = 0xFF;

	pthread_mutex_lock(&lock);
	if (offset < 3)
		v = read_count(&ch[offset]);
	pthread_mutex_unlock(&lock);
	return v;                       /* the control port is write-only: all ones */
}

void pit_model_write(unsigned offset, uint8_t value)
{
	bool notify;

	pthread_mutex_lock(&lock);
	if (offset == 3)
		control_word(value);
	else if (offset < 3)
		write_count(&ch[offset], value);
	notify = changed;
	changed = false;
	pthread_mutex_unlock(&lock);
	if (notify && host.ch0_changed)
		host.ch0_changed();
}

/* Rising edges of channel 0's OUT up to tick t: modes 2 and 3 rise at the end of
 * every period, mode 0 once at terminal count. */
static uint64_t edges_at(const struct channel *c, uint64_t t)
{
	if (c->mode == 0)
		return t >= c->reload ? 1 : 0;
	return t / c->reload;
}

uint64_t pit_model_irq0_next_ns(void)
{
	struct channel *c = &ch[0];
	uint64_t next = PIT_NEVER, tick;

	pthread_mutex_lock(&lock);
	if (c->programmed && c->loaded && c->gate && !(c->mode == 0 && irq0_edges >= 1)) {
		tick = c->mode == 0 ? c->reload : (irq0_edges + 1) * c->reload;
		next = c->run_since_ns + (tick * 1000000000ull + PIT_HZ - 1) / PIT_HZ;
	}
	pthread_mutex_unlock(&lock);
	return next;
}

bool pit_model_irq0_take(uint64_t now_ns)
{
	struct channel *c = &ch[0];
	bool rose = false;

	(void)now_ns;
	pthread_mutex_lock(&lock);
	if (c->programmed && c->loaded) {
		uint64_t e = edges_at(c, ticks(c));
		rose = e > irq0_edges;
		irq0_edges = e;
	}
	pthread_mutex_unlock(&lock);
	return rose;
}

uint8_t pit_model_port61_read(void)
{
	uint8_t v;

	pthread_mutex_lock(&lock);
	v = (uint8_t)(port61 & PIT_B_RW_MASK);
	if ((host.now_ns() / PIT_B_REFRESH_TOGGLE_NS) & 1u)
		v |= PIT_B_REFRESH;
	if (out_now(&ch[2]))
		v |= PIT_B_OUT2;
	pthread_mutex_unlock(&lock);
	return v;
}

void pit_model_port61_write(uint8_t value)
{
	pthread_mutex_lock(&lock);
	port61 = (uint8_t)(value & PIT_B_RW_MASK);
	set_gate(&ch[2], value & PIT_B_GATE2);
	pthread_mutex_unlock(&lock);
}
