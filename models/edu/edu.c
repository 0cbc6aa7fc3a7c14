/*
 * edu.c — QEMU's educational PCI device (QEMU docs/specs/edu.rst) on the simulated
 * fabric. Everything happens inside the MMIO callback (the deterministic mode has
 * no device threads): a factorial is done when its write returns, a DMA when the
 * command write returns. Stricter than QEMU: transfers outside the 4 KiB buffer or
 * the 28-bit DMA mask are refused (QEMU logs and goes on), each misuse is logged.
 */
#include "edu/edu.h"
#include "edu/edu_model.h"
#include <hw/dev/edu.h>
#include "pci/pci_model_insts.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EDU_MAX 8u
#define EDU_LOG_BUDGET 64u          /* log lines per instance before going quiet */

struct edu {
	pthread_mutex_t lock;
	const struct model_bus *bus;
	struct pci_model_desc desc;
	struct pci_model_fn *fn;
	uint8_t bus_index, dev;         /* where it goes on the fabric */
	char name[24];                  /* "edu@b0:02" (bus index, slot) for logs */
	unsigned logged;
	uint32_t liveness, fact, status, irq_status;
	uint64_t dma_src, dma_dst, dma_count, dma_cmd;
	uint8_t buf[EDU_BUF_SIZE];
	struct edu_model_stats st;
};

PCI_MODEL_INSTS_DEFINE(insts, EDU_MAX);

static void edu_log(struct edu *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void edu_log(struct edu *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pci_model_inst_vlog(e->bus, e->name, &e->logged, EDU_LOG_BUDGET, fmt, ap);
	va_end(ap);
}

static void bad_access(struct edu *e, const char *why, uint64_t off, unsigned size)
{
	e->st.bad_access++;
	edu_log(e, "%s: offset 0x%llx size %u", why, (unsigned long long)off, size);
}

/* ---- interrupts (edu.rst "IRQ controller") ------------------------------------------ */

static void irq_raise(struct edu *e, uint32_t bits)
{
	e->irq_status |= bits;
	if (!e->irq_status)
		return;
	/* MSI when enabled, else INTx assert; the fabric decides. */
	if (pci_model_irq_raise(e->fn, 0))
		e->st.irq_raised++;
}

static void irq_ack(struct edu *e, uint32_t bits)
{
	e->irq_status &= ~bits;
	if (!e->irq_status)
		pci_model_irq_lower(e->fn);
}

/* ---- factorial ---------------------------------------------------------------------- */

static void fact_start(struct edu *e, uint32_t n)
{
	uint32_t r = 1;

	e->fact = n;
	e->status |= EDU_STATUS_COMPUTING;
	while (n > 0)
		r *= n--;           /* 32-bit and wrapping, as the device's register */
	e->fact = r;
	e->status &= ~EDU_STATUS_COMPUTING;
	if (e->status & EDU_STATUS_IRQFACT)
		irq_raise(e, EDU_IRQ_FACT);
}

/* ---- DMA (edu.rst "DMA controller") ------------------------------------------------- */

/* [start, start+len) inside [lo, lo+size), without overflow. */
static bool range_in(uint64_t start, uint64_t len, uint64_t lo, uint64_t size)
{
	return start >= lo && start - lo <= size && len <= size - (start - lo);
}

static void dma_run(struct edu *e)
{
	bool to_ram = (e->dma_cmd & EDU_CMD_TO_RAM) != 0;
	uint64_t dev = to_ram ? e->dma_src : e->dma_dst;
	uint64_t ram = to_ram ? e->dma_dst : e->dma_src;
	uint64_t len = e->dma_count;

	if (!range_in(dev, len, EDU_BUF_ADDR, EDU_BUF_SIZE)) {
		e->st.dma_refused++;
		edu_log(e, "DMA refused: buffer range 0x%llx+0x%llx outside 0x%x-0x%x",
			(unsigned long long)dev, (unsigned long long)len, EDU_BUF_ADDR,
			EDU_BUF_ADDR + EDU_BUF_SIZE - 1);
		goto out;
	}
	if (!range_in(ram, len, 0, EDU_DMA_MASK + 1)) {
		e->st.dma_refused++;
		edu_log(e, "DMA refused: RAM range 0x%llx+0x%llx beyond the 28-bit DMA mask",
			(unsigned long long)ram, (unsigned long long)len);
		goto out;
	}
	if (!pci_model_bus_master(e->fn)) {
		e->st.dma_no_master++;
		edu_log(e, "DMA dropped: bus mastering is off (Command bit 2)");
		goto out;
	}
	if (len) {
		uint8_t *p = e->buf + (dev - EDU_BUF_ADDR);

		int err = to_ram ? pci_model_dma_write(e->fn, ram, p, (unsigned)len)
		                 : pci_model_dma_read(e->fn, ram, p, (unsigned)len);

		/* Blocked by the IOMMU: the transfer still completes, as on QEMU (a read
		 * brought zeros, a write went nowhere); the fault record tells. */
		if (err == -EFAULT)
			edu_log(e, "DMA %s 0x%llx+0x%llx blocked or outside RAM (completes anyway)",
				to_ram ? "to" : "from", (unsigned long long)ram, (unsigned long long)len);
	}
	e->st.dma_done++;
	e->dma_cmd &= ~(uint64_t)EDU_CMD_START;
	if (e->dma_cmd & EDU_CMD_IRQ)
		irq_raise(e, EDU_IRQ_DMA);
	return;
out:
	/* A refused transfer ends without data and without the completion interrupt. */
	e->dma_cmd &= ~(uint64_t)EDU_CMD_START;
}

/* ---- BAR0 --------------------------------------------------------------------------- */

static bool size_ok(uint64_t off, unsigned size)
{
	return off < EDU_REG_WIDE_FROM ? size == 4 : (size == 4 || size == 8);
}

static uint64_t edu_read(void *ctx, unsigned bar, uint64_t off, unsigned size)
{
	struct edu *e = ctx;
	uint64_t v = ~0ull;

	pthread_mutex_lock(&e->lock);
	if (bar != 0 || !size_ok(off, size)) {
		bad_access(e, "read of a bad size", off, size);
		goto out;
	}
	switch (off) {
	case EDU_REG_ID: v = EDU_ID_VALUE; break;
	case EDU_REG_LIVENESS: v = e->liveness; break;
	case EDU_REG_FACT: v = e->fact; break;
	case EDU_REG_STATUS: v = e->status; break;
	case EDU_REG_IRQ_STATUS: v = e->irq_status; break;
	case EDU_REG_DMA_SRC: v = e->dma_src; break;
	case EDU_REG_DMA_DST: v = e->dma_dst; break;
	case EDU_REG_DMA_COUNT: v = e->dma_count; break;
	case EDU_REG_DMA_CMD: v = e->dma_cmd; break;
	case EDU_REG_IRQ_RAISE:
	case EDU_REG_IRQ_ACK:
		bad_access(e, "read of a write-only register", off, size);
		break;
	default:
		bad_access(e, "read of an unimplemented register", off, size);
		break;
	}
out:
	pthread_mutex_unlock(&e->lock);
	if (size < 8)
		v &= (1ull << (size * 8)) - 1;
	return v;
}

static void edu_write(void *ctx, unsigned bar, uint64_t off, unsigned size, uint64_t v)
{
	struct edu *e = ctx;

	pthread_mutex_lock(&e->lock);
	if (bar != 0 || !size_ok(off, size)) {
		bad_access(e, "write of a bad size", off, size);
		goto out;
	}
	if (size == 4)
		v &= 0xffffffffull;
	switch (off) {
	case EDU_REG_LIVENESS: e->liveness = ~(uint32_t)v; break;
	case EDU_REG_FACT: fact_start(e, (uint32_t)v); break;
	case EDU_REG_STATUS:
		/* Only the interrupt-enable bit is writable; COMPUTING is read-only. */
		e->status = (e->status & ~EDU_STATUS_IRQFACT) | ((uint32_t)v & EDU_STATUS_IRQFACT);
		break;
	case EDU_REG_IRQ_RAISE: irq_raise(e, (uint32_t)v); break;
	case EDU_REG_IRQ_ACK: irq_ack(e, (uint32_t)v); break;
	case EDU_REG_DMA_SRC: e->dma_src = v; break;
	case EDU_REG_DMA_DST: e->dma_dst = v; break;
	case EDU_REG_DMA_COUNT: e->dma_count = v; break;
	case EDU_REG_DMA_CMD:
		/* As in QEMU, a command without the start bit is not stored. */
		if (v & EDU_CMD_START) {
			e->dma_cmd = v;
			dma_run(e);
		}
		break;
	case EDU_REG_ID:
	case EDU_REG_IRQ_STATUS:
		bad_access(e, "write to a read-only register", off, size);
		break;
	default:
		bad_access(e, "write to an unimplemented register", off, size);
		break;
	}
out:
	pthread_mutex_unlock(&e->lock);
}

/* ---- instances ---------------------------------------------------------------------- */

static int attach(void *inst, unsigned idx)
{
	struct edu *e = inst;

	(void)idx;
	return pci_model_add(e->bus_index, e->dev, 0, &e->desc, &e->fn);
}

int edu_model_add(uint8_t bus_index, uint8_t dev, const struct model_bus *bus)
{
	struct edu *e;
	int err;

	if (!model_bus_valid(bus))
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	pthread_mutex_init(&e->lock, NULL);
	e->bus = bus;
	e->bus_index = bus_index;
	e->dev = dev;
	snprintf(e->name, sizeof(e->name), "edu@b%u:%02x", bus_index, dev);
	e->desc = (struct pci_model_desc){
		.name = "edu",
		.vendor = EDU_VENDOR, .device = EDU_DEVICE,
		.subsys_vendor = 0x1af4, .subsys_id = 0x1100,   /* QEMU's default subsystem */
		.class_code = EDU_CLASS, .revision = EDU_REVISION,
		.irq_pin = 1,                                    /* INTA */
		.pcie = false,                                   /* conventional PCI in QEMU */
		.bar[0] = { .size = EDU_BAR0_SIZE, .flags = 0 },
		.msi = true, .msi_multi_log2 = 0, .msi_64 = true, .msi_maskable = false,
		.bar_read = edu_read, .bar_write = edu_write, .ctx = e,
	};
	err = pci_model_insts_add(&insts, e, attach);
	if (err) {
		pthread_mutex_destroy(&e->lock);
		free(e);
	}
	return err;
}

static struct edu *inst(unsigned idx)
{
	return pci_model_insts_get(&insts, idx);
}

int edu_model_stats(unsigned idx, struct edu_model_stats *out)
{
	struct edu *e = inst(idx);

	if (!e)
		return -ENOENT;
	pthread_mutex_lock(&e->lock);
	*out = e->st;
	out->irq_status = e->irq_status;
	pthread_mutex_unlock(&e->lock);
	return 0;
}

int edu_model_buffer(unsigned idx, unsigned off, void *out, unsigned len)
{
	struct edu *e = inst(idx);

	if (!e)
		return -ENOENT;
	if (off > EDU_BUF_SIZE || len > EDU_BUF_SIZE - off)
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	memcpy(out, e->buf + off, len);
	pthread_mutex_unlock(&e->lock);
	return 0;
}

static void release(void *inst)
{
	struct edu *e = inst;

	pthread_mutex_destroy(&e->lock);
	free(e);
}

void edu_model_reset(void)
{
	pci_model_insts_clear(&insts, release);
}
