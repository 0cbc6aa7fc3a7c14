/*
 * fake_bus.c — the unit tests' model bus (fake_bus.h): strict about claims and
 * accesses, records what devices did. Set DOPPEL_TEST_VERBOSE to see the log.
 */
#include "fake_bus.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define FB(ctx) ((struct fake_bus *)(ctx))

static int range_add(struct fake_bus_range *t, struct fake_bus_range r)
{
	struct fake_bus_range *slot = NULL;

	if (!r.len)
		return -EINVAL;
	for (unsigned i = 0; i < FAKE_BUS_RANGES; i++) {
		if (!t[i].used) {
			if (!slot)
				slot = &t[i];
			continue;
		}
		if (r.base < t[i].base + t[i].len && t[i].base < r.base + r.len)
			return -EBUSY;
	}
	if (!slot)
		return -ENOSPC;
	r.used = true;
	*slot = r;
	return 0;
}

static int range_del(struct fake_bus_range *t, uint64_t base)
{
	for (unsigned i = 0; i < FAKE_BUS_RANGES; i++) {
		if (t[i].used && t[i].base == base) {
			t[i].used = false;
			return 0;
		}
	}
	return -ENOENT;
}

static struct fake_bus_range *range_find(struct fake_bus_range *t, uint64_t a, uint64_t size)
{
	for (unsigned i = 0; i < FAKE_BUS_RANGES; i++)
		if (t[i].used && a >= t[i].base && a - t[i].base + size <= t[i].len)
			return &t[i];
	return NULL;
}

/* ---- the ops -------------------------------------------------------------------------- */

static int op_mmio_claim(void *bus, uint64_t base, uint64_t len, model_bus_read_fn rd,
                         model_bus_write_fn wr, void *ctx)
{
	if (!rd || !wr || base + len < base)
		return -EINVAL;
	return range_add(FB(bus)->mmio, (struct fake_bus_range){ .base = base, .len = len,
	                                                        .rd = rd, .wr = wr, .ctx = ctx });
}

static int op_mmio_release(void *bus, uint64_t base)
{
	return range_del(FB(bus)->mmio, base);
}

static int op_pio_claim(void *bus, uint16_t base, uint32_t len, model_bus_read_fn rd,
                        model_bus_write_fn wr, void *ctx)
{
	if (!rd || !wr || (uint32_t)base + len > 0x10000)
		return -EINVAL;
	return range_add(FB(bus)->pio, (struct fake_bus_range){ .base = base, .len = len,
	                                                       .rd = rd, .wr = wr, .ctx = ctx });
}

static int op_pio_release(void *bus, uint16_t base)
{
	return range_del(FB(bus)->pio, base);
}

static int op_msr_claim(void *bus, uint32_t first, uint32_t last, model_msr_read_fn rd,
                        model_msr_write_fn wr, void *ctx)
{
	if (!rd || !wr || last < first)
		return -EINVAL;
	return range_add(FB(bus)->msr, (struct fake_bus_range){ .base = first,
	                 .len = (uint64_t)last - first + 1, .mrd = rd, .mwr = wr, .ctx = ctx });
}

static int op_msr_release(void *bus, uint32_t first)
{
	return range_del(FB(bus)->msr, first);
}

static int op_current_cpu(void *bus)
{
	return FB(bus)->cpu;
}

static bool in_ram(const struct fake_bus *fb, uint64_t pa, unsigned len)
{
	return pa < fb->ram_size && len <= fb->ram_size - pa;
}

static int op_mem_read(void *bus, uint64_t pa, void *buf, unsigned len)
{
	struct fake_bus *fb = bus;

	if (!in_ram(fb, pa, len)) {
		fb->bad_mem++;
		memset(buf, 0xFF, len);
		return -EFAULT;
	}
	memcpy(buf, fb->ram + pa, len);
	return 0;
}

static int op_mem_write(void *bus, uint64_t pa, const void *buf, unsigned len)
{
	struct fake_bus *fb = bus;

	if (!in_ram(fb, pa, len)) {
		fb->bad_mem++;
		return -EFAULT;
	}
	fb->ram_writes++;
	memcpy(fb->ram + pa, buf, len);
	return 0;
}

static int op_dma(void *bus, uint16_t rid, uint64_t addr, void *buf, unsigned len, bool write)
{
	struct fake_bus *fb = bus;

	fb->last_rid = rid;
	fb->ndma++;
	if (fb->dma_hook)
		return fb->dma_hook(fb->dma_hook_ctx, rid, addr, buf, len, write);
	if (fb->dma_block || (fb->dma_block_len && addr < fb->dma_block_base + fb->dma_block_len &&
	                      addr + len > fb->dma_block_base)) {
		if (!write)
			memset(buf, 0, len);
		return -EFAULT;
	}
	return write ? op_mem_write(bus, addr, buf, len) : op_mem_read(bus, addr, buf, len);
}

static uint64_t op_now_ns(void *bus)
{
	return ((struct fake_bus *)bus)->now;
}

static bool op_fault_site(void *bus, const char *site)
{
	struct fake_bus *fb = bus;

	assert_non_null(site);
	for (unsigned i = 0; i < FAKE_BUS_FAULTS; i++) {
		struct fake_bus_fault *f = &fb->faults[i];

		if (!f->site[0] || strcmp(f->site, site) != 0)
			continue;
		f->hits++;
		if (f->hits > f->skip && f->hits <= f->skip + f->count) {
			f->fired++;
			return true;
		}
		return false;
	}
	return false;
}

void fake_bus_fault_set(struct fake_bus *fb, const char *site, unsigned skip, unsigned count)
{
	struct fake_bus_fault *free_slot = NULL;

	assert_true(strlen(site) < sizeof(fb->faults[0].site));
	for (unsigned i = 0; i < FAKE_BUS_FAULTS; i++) {
		struct fake_bus_fault *f = &fb->faults[i];

		if (f->site[0] && strcmp(f->site, site) == 0) {
			free_slot = f;
			break;
		}
		if (!f->site[0] && !free_slot)
			free_slot = f;
	}
	assert_non_null(free_slot);
	memset(free_slot, 0, sizeof(*free_slot));
	strcpy(free_slot->site, site);
	free_slot->skip = skip;
	free_slot->count = count;
}

static void op_msi(void *bus, uint64_t addr, uint32_t data)
{
	struct fake_bus *fb = bus;

	if (fb->nmsi < FAKE_BUS_MSIS)
		fb->msis[fb->nmsi] = (struct fake_bus_msi){ addr, data };
	fb->nmsi++;
}

static int op_set_gsi(void *bus, uint32_t gsi, bool high)
{
	struct fake_bus *fb = bus;

	if (gsi >= FAKE_BUS_GSIS)
		return -EINVAL;
	fb->gsi_high[gsi] = high;
	fb->gsi_changes++;
	return 0;
}

static void op_log(void *bus, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void op_log(void *bus, const char *fmt, ...)
{
	struct fake_bus *fb = bus;
	char line[768];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fb->nlogs++;
	n = snprintf(fb->log + fb->loglen, sizeof(fb->log) - fb->loglen, "%s\n", line);
	if (n > 0)
		fb->loglen = strlen(fb->log);
	if (getenv("DOPPEL_TEST_VERBOSE"))
		fprintf(stderr, "log: %s\n", line);
}

static void op_fatal(void *bus, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));
static void op_fatal(void *bus, const char *fmt, ...)
{
	struct fake_bus *fb = bus;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fb->fatal_msg, sizeof(fb->fatal_msg), fmt, ap);
	va_end(ap);
	if (fb->fatal_jmp)
		longjmp(*(jmp_buf *)fb->fatal_jmp, 1);
	fail_msg("fatal: %s", fb->fatal_msg);
	abort();                        /* fail_msg does not return */
}

/* ---- set-up and accesses -------------------------------------------------------------- */

void fake_bus_init(struct fake_bus *fb, uint64_t ram_size)
{
	memset(fb, 0, sizeof(*fb));
	fb->bus = (struct model_bus){
		.version = MODEL_BUS_VERSION, .ctx = fb,
		.mmio_claim = op_mmio_claim, .mmio_release = op_mmio_release,
		.pio_claim = op_pio_claim, .pio_release = op_pio_release,
		.msr_claim = op_msr_claim, .msr_release = op_msr_release,
		.current_cpu = op_current_cpu, .dma = op_dma,
		.mem_read = op_mem_read, .mem_write = op_mem_write,
		.msi = op_msi, .set_gsi = op_set_gsi, .now_ns = op_now_ns,
		.fault_site = op_fault_site, .log = op_log, .fatal = op_fatal,
	};
	fb->cpu = -1;
	fb->last_rid = 0xFFFF;
	fb->ram_size = ram_size;
	if (ram_size) {
		fb->ram = calloc(1, ram_size);
		assert_non_null(fb->ram);
	}
}

void fake_bus_fini(struct fake_bus *fb)
{
	free(fb->ram);
	fb->ram = NULL;
	fb->ram_size = 0;
}

unsigned fake_bus_claims(const struct fake_bus *fb)
{
	unsigned n = 0;

	for (unsigned i = 0; i < FAKE_BUS_RANGES; i++)
		n += fb->mmio[i].used + fb->pio[i].used + fb->msr[i].used;
	return n;
}

static struct fake_bus_range *must_find(struct fake_bus_range *t, const char *what, uint64_t a,
                                        unsigned size)
{
	struct fake_bus_range *r = range_find(t, a, size);

	if (!r)
		fail_msg("%s at 0x%llx (%u bytes): nothing claims it", what, (unsigned long long)a,
		         size);
	return r;
}

uint64_t fake_bus_mmio_read(struct fake_bus *fb, uint64_t addr, unsigned size)
{
	struct fake_bus_range *r = must_find(fb->mmio, "MMIO read", addr, size);

	return r->rd(r->ctx, addr - r->base, size);
}

void fake_bus_mmio_write(struct fake_bus *fb, uint64_t addr, unsigned size, uint64_t v)
{
	struct fake_bus_range *r = must_find(fb->mmio, "MMIO write", addr, size);

	r->wr(r->ctx, addr - r->base, size, v);
}

uint64_t fake_bus_pio_read(struct fake_bus *fb, uint16_t port, unsigned size)
{
	struct fake_bus_range *r = must_find(fb->pio, "port read", port, size);

	return r->rd(r->ctx, port - r->base, size);
}

void fake_bus_pio_write(struct fake_bus *fb, uint16_t port, unsigned size, uint64_t v)
{
	struct fake_bus_range *r = must_find(fb->pio, "port write", port, size);

	r->wr(r->ctx, port - r->base, size, v);
}

uint64_t fake_bus_rdmsr(struct fake_bus *fb, uint32_t msr)
{
	struct fake_bus_range *r = must_find(fb->msr, "rdmsr", msr, 1);

	return r->mrd(r->ctx, msr);
}

void fake_bus_wrmsr(struct fake_bus *fb, uint32_t msr, uint64_t v)
{
	struct fake_bus_range *r = must_find(fb->msr, "wrmsr", msr, 1);

	r->mwr(r->ctx, msr, v);
}

bool fake_bus_mmio_claimed(const struct fake_bus *fb, uint64_t addr, uint64_t len)
{
	uint64_t end = addr + len;
	bool progress = true;

	while (addr < end && progress) {
		progress = false;
		for (unsigned i = 0; i < FAKE_BUS_RANGES; i++) {
			const struct fake_bus_range *r = &fb->mmio[i];
			if (r->used && addr >= r->base && addr < r->base + r->len) {
				addr = r->base + r->len;
				progress = true;
				break;
			}
		}
	}
	return addr >= end;
}

bool fake_bus_logged(const struct fake_bus *fb, const char *needle)
{
	return strstr(fb->log, needle) != NULL;
}
