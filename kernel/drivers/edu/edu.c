/*
 * edu.c — driver for QEMU's edu device (kernel/include/drivers/edu.h; QEMU
 * docs/specs/edu.txt): identification and liveness check, DMA parameters (28-bit
 * mask), one interrupt through pci_irq_alloc (any mode; the handler acknowledges
 * and wakes the waiter), and one-shot DMA transfers waited for with a bound.
 * QEMU completes a transfer from a timer 100 ms after the command; the sim at once.
 */
#include <drivers/edu.h>
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/dma.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/log.h>
#include <kernel/printf.h>
#include <kernel/pci.h>
#include <kernel/time.h>
#include <hw/dev/edu.h>

#define EDU_DMA_WAIT_US 2000000ull  /* QEMU takes 100 ms (virtual) per transfer */
#define EDU_IRQ_WAIT_US 1000000ull

struct edu {
	struct pci_dev *pci;
	volatile uint8_t *regs;
	struct dma_dev *dd;
	struct pci_irq irq;
	bool have_irq;
	uint64_t irqs;              /* interrupts with the DMA bit, atomic */
	char name[16];
};

static void edu_irq(unsigned idx, void *arg)
{
	struct edu *e = arg;
	(void)idx;
	/* edu.txt: 0x24 says what raised it; writing those bits to 0x64 clears them
	 * (and lowers INTx, before the EOI of a level interrupt). */
	uint32_t st = hal_mmio_read32(e->regs + EDU_REG_IRQ_STATUS);
	if (!st)
		return;
	hal_mmio_write32(e->regs + EDU_REG_IRQ_ACK, st);
	if (st & EDU_IRQ_DMA)
		atomic_fetch_add64(&e->irqs, 1, MO_RELEASE);   /* release: the DMA's data before the count */
}

struct edu *edu_probe_policy(unsigned nth, int policy, const struct dma_params *params)
{
	struct pci_dev *d = pci_find(EDU_VENDOR, EDU_DEVICE, nth);
	if (!d || d->skipped)
		return 0;                   /* absent: the caller says so */
	struct edu *e = kzalloc(sizeof *e);
	if (!e) {
		klog("edu", "no memory");
		return 0;
	}
	e->pci = d;
	ksnprintf(e->name, sizeof e->name, "%04x:%02x:%02x.%x", d->addr.seg, d->addr.bus, d->addr.dev, d->addr.fn);
	pci_enable(d, true, false, true);   /* memory decode; bus mastering for DMA and MSI */
	e->regs = pci_bar_map(d, 0);
	if (!e->regs || d->bar[0].size < 0x100) {
		klog("edu", "%s: BAR0 cannot be mapped", e->name);
		goto out_free;
	}
	uint32_t id = hal_mmio_read32(e->regs + EDU_REG_ID);
	hal_mmio_write32(e->regs + EDU_REG_LIVENESS, 0x5a5aa5a5u);
	uint32_t live = hal_mmio_read32(e->regs + EDU_REG_LIVENESS);
	if ((id & 0xFFFF) != EDU_ID_MAGIC || live != ~0x5a5aa5a5u) {
		klog("edu", "%s: not an edu: id 0x%x, liveness 0x%x", e->name, id, live);
		goto out_unmap;
	}
	struct dma_params p = { .mask = EDU_DMA_MASK, .max_seg = EDU_BUF_SIZE, .align = 1 };
	if (params && params->mask <= EDU_DMA_MASK)
		p = *params;
	e->dd = dma_dev_attach_policy(d, &p, policy);
	if (!e->dd) {
		klog("edu", "%s: DMA attach failed", e->name);
		goto out_unmap;
	}
	int rc = pci_irq_alloc(d, 1, 0, PCI_IRQ_ALLOW_ALL, edu_irq, e, &e->irq);
	if (rc) {
		klog("edu", "%s: no interrupt (%d)", e->name, rc);
		goto out_dma;
	}
	e->have_irq = true;
	pci_irq_unmask(&e->irq, 0);
	return e;
out_dma:
	dma_dev_release(e->dd);
out_unmap:
	hal_mmio_unmap((void *)e->regs, (size_t)d->bar[0].size);
out_free:
	kfree(e);
	return 0;
}

struct edu *edu_probe(unsigned nth)
{
	struct edu *e = edu_probe_policy(nth, -1, 0);
	if (!e && pci_find(EDU_VENDOR, EDU_DEVICE, nth))
		klog("edu", "edu #%u found but not usable", nth);
	return e;
}

int edu_remove(struct edu *e)
{
	if (!e)
		return 0;
	if (e->have_irq)
		pci_irq_free(&e->irq);
	int leaks = dma_dev_release(e->dd);
	hal_mmio_unmap((void *)e->regs, (size_t)e->pci->bar[0].size);
	kfree(e);
	return leaks;
}

struct pci_dev *edu_pci(struct edu *e) { return e->pci; }
struct dma_dev *edu_dma_dev(struct edu *e) { return e->dd; }
uint64_t edu_irq_count(struct edu *e) { return atomic_load64(&e->irqs, MO_ACQUIRE); }

int edu_dma(struct edu *e, dma_addr_t bus, uint32_t buf_off, uint32_t len, bool to_device)
{
	/* QEMU 7.2's range check wants the transfer's end strictly below the buffer's
	 * end (and stops the whole machine otherwise): its last byte is unusable. */
	if (!e || len == 0 || len > EDU_BUF_SIZE - 1 || buf_off > EDU_BUF_SIZE - 1 - len ||
	    bus > EDU_DMA_MASK || len - 1 > EDU_DMA_MASK - bus) {
		klog("edu", "%s: DMA of %u bytes at bus 0x%llx buffer +0x%x: out of range", e ? e->name : "?", len,
		     (unsigned long long)bus, buf_off);
		return -EINVAL;
	}
	if (hal_mmio_read32(e->regs + EDU_REG_DMA_CMD) & EDU_CMD_START) {
		klog("edu", "%s: DMA engine busy", e->name);
		return -EBUSY;
	}
	bool irq = e->have_irq && e->irq.mode != PCI_IRQ_POLL;
	uint64_t before = edu_irq_count(e);
	uint64_t dev = EDU_BUF_ADDR + buf_off;
	hal_mmio_write64(e->regs + EDU_REG_DMA_SRC, to_device ? bus : dev);
	hal_mmio_write64(e->regs + EDU_REG_DMA_DST, to_device ? dev : bus);
	hal_mmio_write64(e->regs + EDU_REG_DMA_COUNT, len);
	/* The buffers are written before the command starts the engine: MMIO writes
	 * are uncached and ordered after earlier stores on x86 (SDM §11.3). */
	atomic_fence(MO_SEQ_CST);
	hal_mmio_write64(e->regs + EDU_REG_DMA_CMD,
			 EDU_CMD_START | (to_device ? 0 : EDU_CMD_TO_RAM) | (e->have_irq ? EDU_CMD_IRQ : 0));
	uint64_t t0 = time_now_ns();
	while (hal_mmio_read64(e->regs + EDU_REG_DMA_CMD) & EDU_CMD_START) {
		if (time_now_ns() - t0 > EDU_DMA_WAIT_US * 1000) {
			klog("edu", "%s: DMA of %u bytes did not finish in %llu ms", e->name, len,
			     EDU_DMA_WAIT_US / 1000);
			return -ETIMEDOUT;
		}
		hal_cpu_relax();
	}
	if (!e->have_irq)
		return 0;
	if (!irq) {
		pci_irq_poll(&e->irq);      /* polling mode: the handler checks and acks */
		return 0;
	}
	t0 = time_now_ns();
	while (edu_irq_count(e) == before) {
		if (time_now_ns() - t0 > EDU_IRQ_WAIT_US * 1000) {
			klog("edu", "%s: DMA done but no completion interrupt (%s)", e->name,
			     pci_irq_mode_name(e->irq.mode));
			return -ETIMEDOUT;
		}
		hal_cpu_relax();
	}
	return 0;
}
