/*
 * testdev.c — Doppel's interrupt test endpoint (testdev.h): two functions whose
 * BAR0 raises any vector on demand, so MSI multi-message data (base + index,
 * PCIe Base 4.0 §7.7.1.5) and MSI-X table entries (§7.7.2) can be checked end to
 * end. Synchronous inside the MMIO callback; strict about sizes and offsets.
 */
#include "testdev/testdev.h"
#include "testdev/testdev_model.h"
#include "pci/pci_model_insts.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define TESTDEV_MAX 4u
#define TESTDEV_LOG_BUDGET 64u

struct testdev_fn {
	pthread_mutex_t lock;
	const struct model_bus *bus;
	struct pci_model_desc desc;
	struct pci_model_fn *fn;
	unsigned vectors;               /* offered: 32 (MSI) or 2048 (MSI-X) */
	char name[28];
	unsigned logged;
	struct testdev_model_stats st;
};

struct testdev {
	struct testdev_fn f[2];
	uint8_t bus_index, dev;         /* where it goes on the fabric */
};

PCI_MODEL_INSTS_DEFINE(insts, TESTDEV_MAX);

static void tlog(struct testdev_fn *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tlog(struct testdev_fn *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pci_model_inst_vlog(t->bus, t->name, &t->logged, TESTDEV_LOG_BUDGET, fmt, ap);
	va_end(ap);
}

static uint64_t td_read(void *ctx, unsigned bar, uint64_t off, unsigned size)
{
	struct testdev_fn *t = ctx;
	uint64_t v = 0;

	pthread_mutex_lock(&t->lock);
	if (bar == 0 && size == 4 && off == TESTDEV_REG_COUNT) {
		v = (uint32_t)t->st.raised;
	} else {
		t->st.bad_access++;
		tlog(t, "read of size %u at BAR%u+0x%llx (only 0x08, 4 bytes, is readable)", size,
		     bar, (unsigned long long)off);
		v = size < 8 ? (1ull << (size * 8)) - 1 : ~0ull;
	}
	pthread_mutex_unlock(&t->lock);
	return v;
}

static void td_write(void *ctx, unsigned bar, uint64_t off, unsigned size, uint64_t v)
{
	struct testdev_fn *t = ctx;

	pthread_mutex_lock(&t->lock);
	if (bar != 0 || size != 4 || (off != TESTDEV_REG_RAISE && off != TESTDEV_REG_LOWER)) {
		t->st.bad_access++;
		tlog(t, "write of size %u at BAR%u+0x%llx (0x00 and 0x04, 4 bytes, are writable)",
		     size, bar, (unsigned long long)off);
	} else if (off == TESTDEV_REG_LOWER) {
		t->st.lowered++;
		pci_model_irq_lower(t->fn);
	} else if (v >= t->vectors) {
		t->st.bad_vector++;
		tlog(t, "raise of vector %llu: only %u offered; ignored", (unsigned long long)v,
		     t->vectors);
	} else if (pci_model_irq_raise(t->fn, (unsigned)v)) {
		t->st.raised++;
	} else {
		t->st.quiet++;
	}
	pthread_mutex_unlock(&t->lock);
}

static void fn_init(struct testdev_fn *t, const struct model_bus *bus, unsigned fn,
		    uint8_t bus_index, uint8_t dev)
{
	pthread_mutex_init(&t->lock, NULL);
	t->bus = bus;
	snprintf(t->name, sizeof(t->name), "testdev@b%u:%02x.%u", bus_index, dev, fn);
	t->desc = (struct pci_model_desc){
		.name = fn ? "testdev-msix" : "testdev-msi",
		.vendor = TESTDEV_VENDOR,
		.device = fn ? TESTDEV_DEVICE_MSIX : TESTDEV_DEVICE_MSI,
		.subsys_vendor = TESTDEV_VENDOR, .subsys_id = fn ? TESTDEV_DEVICE_MSIX : TESTDEV_DEVICE_MSI,
		.class_code = TESTDEV_CLASS, .revision = 0x01,
		.irq_pin = (uint8_t)(fn + 1),       /* INTA on fn 0, INTB on fn 1 */
		.pcie = true,
		.bar[0] = { .size = TESTDEV_BAR0_SIZE, .flags = 0 },
		.bar_read = td_read, .bar_write = td_write, .ctx = t,
	};
	if (fn == 0) {
		t->vectors = 1u << TESTDEV_MSI_LOG2;
		t->desc.msi = true;
		t->desc.msi_multi_log2 = TESTDEV_MSI_LOG2;
		t->desc.msi_64 = true;
		t->desc.msi_maskable = true;
	} else {
		t->vectors = TESTDEV_MSIX_VECTORS;
		t->desc.bar[TESTDEV_MSIX_BAR] = (struct pci_model_bar_desc){
			.size = TESTDEV_BAR2_SIZE, .flags = PCI_MODEL_BAR_MEM64 };
		t->desc.msix = true;
		t->desc.msix_table_size = TESTDEV_MSIX_VECTORS;
		t->desc.msix_table_bar = TESTDEV_MSIX_BAR;
		t->desc.msix_pba_bar = TESTDEV_MSIX_BAR;
		t->desc.msix_table_off = TESTDEV_MSIX_TABLE_OFF;
		t->desc.msix_pba_off = TESTDEV_MSIX_PBA_OFF;
	}
}

static int attach(void *inst, unsigned idx)
{
	struct testdev *d = inst;
	int err = 0;

	(void)idx;
	/* Function 0 first: the fabric sees a multi-function device once fn 1 joins. */
	for (unsigned fn = 0; fn < 2 && !err; fn++)
		err = pci_model_add(d->bus_index, d->dev, (uint8_t)fn, &d->f[fn].desc, &d->f[fn].fn);
	return err;
}

int testdev_model_add(uint8_t bus_index, uint8_t dev, const struct model_bus *bus)
{
	struct testdev *d;
	int err;

	if (!model_bus_valid(bus))
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	for (unsigned fn = 0; fn < 2; fn++)
		fn_init(&d->f[fn], bus, fn, bus_index, dev);
	d->bus_index = bus_index;
	d->dev = dev;
	err = pci_model_insts_add(&insts, d, attach);
	/* A function 0 already added stays in the fabric (it has no removal); keep its
	 * context alive so the fabric never calls into freed memory. */
	if (!err || d->f[0].fn)
		return err;
	for (unsigned fn = 0; fn < 2; fn++)
		pthread_mutex_destroy(&d->f[fn].lock);
	free(d);
	return err;
}

int testdev_model_stats(unsigned idx, unsigned fn, struct testdev_model_stats *out)
{
	struct testdev *d = pci_model_insts_get(&insts, idx);

	if (!d || fn > 1)
		return -ENOENT;
	pthread_mutex_lock(&d->f[fn].lock);
	*out = d->f[fn].st;
	pthread_mutex_unlock(&d->f[fn].lock);
	return 0;
}

static void release(void *inst)
{
	struct testdev *d = inst;

	for (unsigned fn = 0; fn < 2; fn++)
		pthread_mutex_destroy(&d->f[fn].lock);
	free(d);
}

void testdev_model_reset(void)
{
	pci_model_insts_clear(&insts, release);
}
