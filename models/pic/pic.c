/*
 * pic.c — 8259A model without interrupt output (pic.h): initialisation command
 * words ICW1-ICW4, OCW1 (mask), OCW2 (EOI commands, accepted and ignored: nothing
 * is ever in service), OCW3 (read IRR/ISR select). Intel 8259A datasheet, "Programming
 * the 8259A". Enough for a kernel to mask it and move on.
 */
#include "bus.h"
#include "pic/pic.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

struct chip {
	uint8_t imr, vector_base, icw3, icw4;
	unsigned init_step;             /* 0: operating; 2, 3, 4: expecting that ICW */
	bool need_icw3, need_icw4, read_isr;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct chip chips[2];

static const struct model_bus *bus;     /* where the ports are claimed */

/* ctx: the chip's command port. Byte accesses only: the 8259A is 8 bits wide. */
static void size_check(uintptr_t port, uint64_t off, unsigned size)
{
	if (size != 1)
		bus->fatal(bus->ctx, "%u-byte port access to the 8259 PIC at 0x%llx: it is an 8-bit "
		           "device", size, (unsigned long long)(port + off));
}

static uint64_t bus_read(void *ctx, uint64_t off, unsigned size)
{
	size_check((uintptr_t)ctx, off, size);
	return pic_model_read((uintptr_t)ctx == PIC2_CMD, (unsigned)off);
}

static void bus_write(void *ctx, uint64_t off, unsigned size, uint64_t v)
{
	size_check((uintptr_t)ctx, off, size);
	pic_model_write((uintptr_t)ctx == PIC2_CMD, (unsigned)off, (uint8_t)v);
}

int pic_model_init(const struct model_bus *b)
{
	int err;

	if (!model_bus_valid(b))
		return -EINVAL;
	if (bus) {                      /* a previous init's ports (errors: a reset fake bus) */
		bus->pio_release(bus->ctx, PIC1_CMD);
		bus->pio_release(bus->ctx, PIC2_CMD);
		bus = NULL;
	}
	if ((err = b->pio_claim(b->ctx, PIC1_CMD, 2, bus_read, bus_write,
	                        (void *)(uintptr_t)PIC1_CMD)) != 0)
		return err;
	if ((err = b->pio_claim(b->ctx, PIC2_CMD, 2, bus_read, bus_write,
	                        (void *)(uintptr_t)PIC2_CMD)) != 0) {
		b->pio_release(b->ctx, PIC1_CMD);
		return err;
	}
	bus = b;
	for (unsigned i = 0; i < 2; i++)
		chips[i] = (struct chip){ .imr = 0 };
	return 0;
}

uint8_t pic_model_read(unsigned chip, unsigned offset)
{
	uint8_t v;

	pthread_mutex_lock(&lock);
	/* Command port: IRR or ISR (both empty: nothing is ever requested); data: IMR. */
	v = offset ? chips[chip & 1].imr : 0;
	pthread_mutex_unlock(&lock);
	return v;
}

static void next_step(struct chip *c)
{
	if (c->init_step == 2)
		c->init_step = c->need_icw3 ? 3 : c->need_icw4 ? 4 : 0;
	else if (c->init_step == 3)
		c->init_step = c->need_icw4 ? 4 : 0;
	else
		c->init_step = 0;
}

void pic_model_write(unsigned chip, unsigned offset, uint8_t v)
{
	struct chip *c = &chips[chip & 1];

	pthread_mutex_lock(&lock);
	if (offset == 0) {
		if (v & PIC_ICW1_INIT) {
			c->init_step = 2;
			c->need_icw3 = !(v & PIC_ICW1_SNGL);
			c->need_icw4 = v & PIC_ICW1_IC4;
			c->imr = 0;             /* initialisation clears the mask */
		} else if ((v & PIC_CMD_SEL_MASK) == PIC_OCW3_SEL) {
			if (v & PIC_OCW3_RR)
				c->read_isr = v & PIC_OCW3_RIS;
		}
		/* OCW2 (EOI and rotation): nothing is ever in service, nothing to do. */
	} else {
		switch (c->init_step) {
		case 2: c->vector_base = v & PIC_ICW2_VECTOR_MASK; next_step(c); break;
		case 3: c->icw3 = v; next_step(c); break;
		case 4: c->icw4 = v; next_step(c); break;
		default: c->imr = v; break;  /* OCW1 */
		}
	}
	pthread_mutex_unlock(&lock);
}

uint8_t pic_model_imr(unsigned chip)
{
	uint8_t v;

	pthread_mutex_lock(&lock);
	v = chips[chip & 1].imr;
	pthread_mutex_unlock(&lock);
	return v;
}
