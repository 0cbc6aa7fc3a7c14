/*
 * pic.c — 8259A model without interrupt output (pic.h): initialisation command
 * words ICW1-ICW4, OCW1 (mask), OCW2 (EOI commands, accepted and ignored: nothing
 * is ever in service), OCW3 (read IRR/ISR select). Intel 8259A datasheet, "Programming
 * the 8259A". Enough for a kernel to mask it and move on.
 */
#include "pic/pic.h"

#include <pthread.h>
#include <stdbool.h>

struct chip {
	uint8_t imr, vector_base, icw3, icw4;
	unsigned init_step;             /* 0: operating; 2, 3, 4: expecting that ICW */
	bool need_icw3, need_icw4, read_isr;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct chip chips[2];

void pic_model_init(void)
{
	for (unsigned i = 0; i < 2; i++)
		chips[i] = (struct chip){ .imr = 0 };
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
