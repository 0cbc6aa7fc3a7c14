/*
 * test_pci_devices.c — CMocka tests of the device models on the simulated PCIe
 * fabric (docs/pci.md "Simulator: device models"): QEMU's edu (docs/specs/edu.txt),
 * the minimal NVMe controller (NVM Express 1.4 §3.1, §4, §5.15, §5.21, §7.5) and
 * the interrupt test endpoint (PCIe Base 4.0 §7.7.1, §7.7.2). Every access goes
 * through the fabric: ECAM config cycles and BAR decode on a fake sim bus.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <hw/pci/config.h>
#include "fake_bus.h"
#include "edu/edu.h"
#include "edu/edu_model.h"
#include <hw/dev/edu.h>
#include "nvme/nvme.h"
#include "nvme/nvme_model.h"
#include <hw/dev/nvme.h>
#include "pci/pci_model.h"
#include "testdev/testdev.h"
#include "testdev/testdev_model.h"

/* ---- the fake bus: claimed ranges, RAM, MSI messages, GSI levels, DMA, the log --------- */

#define RAM_SIZE (4u << 20)

static struct fake_bus fb;

static uint64_t rd(uint64_t addr, unsigned size) { return fake_bus_mmio_read(&fb, addr, size); }
static void wr(uint64_t addr, unsigned size, uint64_t v) { fake_bus_mmio_write(&fb, addr, size, v); }
static bool logged(const char *needle) { return fake_bus_logged(&fb, needle); }
/* INTx# is active low: an asserted GSI is a low input. */
static bool gsi_asserted(unsigned gsi) { return !fb.gsi_high[gsi]; }

/* ---- the machine: ECAM at 0xB0000000, firmware-assigned like SeaBIOS -------------------- */

#define ECAM 0xB0000000ull

struct bdf {
	unsigned bus, dev, fn;
};
static struct bdf edu_bdf = { 0, 2, 0 }, nvme_bdf = { 0, 3, 0 }, td0, td1;

static uint64_t ecam_addr(struct bdf b, unsigned off)
{
	return ECAM + ((uint64_t)b.bus << 20 | b.dev << 15 | b.fn << 12 | off);
}
static uint32_t cfg_rd(struct bdf b, unsigned off, unsigned size)
{
	return (uint32_t)rd(ecam_addr(b, off), size);
}
static void cfg_wr(struct bdf b, unsigned off, unsigned size, uint32_t v)
{
	wr(ecam_addr(b, off), size, v);
}

/* Offset of capability id in b's list, 0 when absent (bounded walk). */
static unsigned find_cap(struct bdf b, uint8_t id)
{
	unsigned p = cfg_rd(b, 0x34, 1) & 0xFC;

	for (unsigned n = 0; p && n < 48; n++) {
		if (cfg_rd(b, p, 1) == id)
			return p;
		p = cfg_rd(b, p + 1, 1) & 0xFC;
	}
	return 0;
}

static uint64_t bar_addr(struct bdf b, unsigned i)
{
	uint32_t lo = cfg_rd(b, 0x10 + 4 * i, 4);
	uint64_t a = lo & ~0xFull;

	if ((lo & 6) == 4)
		a |= (uint64_t)cfg_rd(b, 0x14 + 4 * i, 4) << 32;
	return a;
}

static void set_command(struct bdf b, uint16_t set, uint16_t clear)
{
	cfg_wr(b, PCI_COMMAND, 2, (cfg_rd(b, PCI_COMMAND, 2) | set) & ~clear);
}

static int setup(void **state)
{
	struct pci_model_config cfg = {
		.ecam_base = ECAM, .bus_start = 0, .bus_end = 255, .legacy_ports = true,
	};
	int sec;

	(void)state;
	fake_bus_init(&fb, RAM_SIZE);
	edu_model_reset();
	nvme_model_reset();
	testdev_model_reset();
	assert_int_equal(pci_model_init(&cfg, &fb.bus), 0);
	assert_int_equal(edu_model_add(0, 2, &fb.bus), 0);
	assert_int_equal(nvme_model_add(0, 3, &fb.bus), 0);
	sec = pci_model_add_bridge(0, 4);
	assert_true(sec > 0);
	assert_int_equal(testdev_model_add((uint8_t)sec, 0, &fb.bus), 0);
	assert_int_equal(pci_model_firmware(0xC0000000ull, 0xFEBFFFFFull, 0xC000, 0xFFFF), 0);
	/* The bridge's secondary bus number, as firmware numbered it. */
	td0 = (struct bdf){ cfg_rd((struct bdf){ 0, 4, 0 }, 0x19, 1), 0, 0 };
	td1 = (struct bdf){ td0.bus, 0, 1 };
	assert_int_equal(cfg_rd(edu_bdf, 0, 4), 0x11e81234u);
	assert_int_equal(cfg_rd(nvme_bdf, 0, 4), 0x00101b36u);
	assert_int_equal(cfg_rd(td0, 0, 4), 0xd0e01234u);
	assert_int_equal(cfg_rd(td1, 0, 4), 0xd0e11234u);
	assert_int_equal(fb.nmsi, 0);
	fb.gsi_changes = 0;                 /* the fabric pulled its idle lines up */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	assert_int_equal(fb.bad_mem, 0);
	fake_bus_fini(&fb);
	return 0;
}

/* ---- edu ---------------------------------------------------------------------------------- */

static uint64_t edu_bar(void)
{
	set_command(edu_bdf, PCI_COMMAND_MEM | PCI_COMMAND_MASTER, 0);
	return bar_addr(edu_bdf, 0);
}

static struct edu_model_stats edu_stats(void)
{
	struct edu_model_stats s;

	assert_int_equal(edu_model_stats(0, &s), 0);
	return s;
}

static void test_edu_config_header(void **state)
{
	uint32_t bar0;

	(void)state;
	assert_int_equal(cfg_rd(edu_bdf, 0x08, 4), 0x00ff0010u);     /* class 00ff00, rev 10 */
	assert_int_equal(cfg_rd(edu_bdf, 0x3D, 1), 1);               /* INTA */
	bar0 = cfg_rd(edu_bdf, 0x10, 4);
	assert_int_equal(bar0 & 0xF, 0);                              /* 32-bit memory */
	assert_int_equal(bar0 & (EDU_BAR0_SIZE - 1), 0);
	assert_int_not_equal(find_cap(edu_bdf, 0x05), 0);
	assert_int_equal(find_cap(edu_bdf, 0x11), 0);                 /* no MSI-X */
	/* MSI: 1 vector, 64-bit, not maskable. */
	assert_int_equal(cfg_rd(edu_bdf, find_cap(edu_bdf, 0x05) + 2, 2) & 0x18E, 0x80);
}

static void test_edu_registers(void **state)
{
	uint64_t b = edu_bar();
	struct edu_model_stats s;

	(void)state;
	assert_int_equal(rd(b + EDU_REG_ID, 4), EDU_ID_VALUE);
	wr(b + EDU_REG_LIVENESS, 4, 0x12345678);
	assert_int_equal(rd(b + EDU_REG_LIVENESS, 4), 0xEDCBA987u);
	wr(b + EDU_REG_FACT, 4, 5);
	assert_int_equal(rd(b + EDU_REG_STATUS, 4) & EDU_STATUS_COMPUTING, 0);
	assert_int_equal(rd(b + EDU_REG_FACT, 4), 120);
	wr(b + EDU_REG_FACT, 4, 13);                                  /* 13! wraps in 32 bits */
	assert_int_equal(rd(b + EDU_REG_FACT, 4), (uint32_t)6227020800ull);
	/* Strict sizes: 4 bytes below 0x80; a 2-byte read is all ones and logged. */
	assert_int_equal(rd(b + EDU_REG_ID, 2), 0xFFFF);
	wr(b + EDU_REG_LIVENESS, 8, 1);
	assert_int_equal(rd(b + EDU_REG_LIVENESS, 4), 0xEDCBA987u);
	wr(b + EDU_REG_ID, 4, 0);                                     /* read-only */
	assert_int_equal(rd(b + EDU_REG_ID, 4), EDU_ID_VALUE);
	/* 8-byte accesses are fine from 0x80. */
	wr(b + EDU_REG_DMA_SRC, 8, 0x123456789ull);
	assert_int_equal(rd(b + EDU_REG_DMA_SRC, 8), 0x123456789ull);
	s = edu_stats();
	assert_int_equal(s.bad_access, 3);
	assert_true(logged("edu@b0:02"));
}

/* The instance registry and log limit the models share (models/pci/pci_model_insts.h):
 * instances by order of adds, a full registry refused, the log quiet after its budget. */
static void test_instances_and_log_limit(void **state)
{
	uint64_t b = edu_bar();
	struct edu_model_stats s;
	struct nvme_model_stats ns;
	unsigned lines = 0;

	(void)state;
	assert_int_equal(edu_model_add(0, 5, &fb.bus), 0);
	assert_int_equal(edu_model_stats(1, &s), 0);
	assert_int_equal(s.bad_access, 0);
	assert_int_equal(edu_model_stats(2, &s), -ENOENT);
	assert_int_equal(nvme_model_stats(0, &ns), 0);
	assert_int_equal(nvme_model_stats(1, &ns), -ENOENT);
	assert_true(edu_model_add(0, 2, &fb.bus) < 0);                /* slot taken: not kept */
	assert_int_equal(edu_model_stats(2, &s), -ENOENT);
	for (unsigned slot = 6; slot < 12; slot++)
		assert_int_equal(edu_model_add(0, (uint8_t)slot, &fb.bus), 0);
	assert_int_equal(edu_model_add(0, 12, &fb.bus), -ENOSPC);    /* 8 instances at most */
	assert_int_equal(edu_model_stats(7, &s), 0);
	assert_int_equal(edu_model_stats(8, &s), -ENOENT);
	/* 100 misuses of instance 0: 64 lines, one saying the rest are dropped, then quiet. */
	fb.loglen = 0;
	fb.log[0] = '\0';
	for (unsigned i = 0; i < 100; i++)
		rd(b + EDU_REG_ID, 2);
	assert_int_equal(edu_stats().bad_access, 100);
	for (const char *p = fb.log; (p = strstr(p, "edu@b0:02: ")); p++)
		lines++;
	assert_int_equal(lines, 65);
	assert_true(logged("edu@b0:02: too many errors, not logging more"));
}

static void test_edu_irq_intx(void **state)
{
	uint64_t b = edu_bar();
	unsigned gsi = cfg_rd(edu_bdf, 0x3C, 1);

	(void)state;
	assert_true(gsi >= 16 && gsi < 24);
	wr(b + EDU_REG_IRQ_RAISE, 4, 0x5);
	assert_int_equal(rd(b + EDU_REG_IRQ_STATUS, 4), 0x5);
	assert_true(gsi_asserted(gsi));
	assert_int_equal(cfg_rd(edu_bdf, 0x06, 2) & 0x8, 0x8);        /* Interrupt Status */
	wr(b + EDU_REG_IRQ_ACK, 4, 0x1);
	assert_true(gsi_asserted(gsi));                                  /* 0x4 still set */
	wr(b + EDU_REG_IRQ_ACK, 4, 0x4);
	assert_false(gsi_asserted(gsi));
	assert_int_equal(rd(b + EDU_REG_IRQ_STATUS, 4), 0);
	/* Factorial with the interrupt bit: raises status bit 0. */
	wr(b + EDU_REG_STATUS, 4, EDU_STATUS_IRQFACT | EDU_STATUS_COMPUTING);
	assert_int_equal(rd(b + EDU_REG_STATUS, 4), EDU_STATUS_IRQFACT);  /* bit 0 is RO */
	wr(b + EDU_REG_FACT, 4, 4);
	assert_int_equal(rd(b + EDU_REG_FACT, 4), 24);
	assert_int_equal(rd(b + EDU_REG_IRQ_STATUS, 4), EDU_IRQ_FACT);
	assert_true(gsi_asserted(gsi));
	assert_int_equal(fb.nmsi, 0);
	wr(b + EDU_REG_IRQ_ACK, 4, EDU_IRQ_FACT);
	assert_false(gsi_asserted(gsi));
}

static void test_edu_irq_msi(void **state)
{
	uint64_t b = edu_bar();
	unsigned cap = find_cap(edu_bdf, 0x05);
	unsigned gsi = cfg_rd(edu_bdf, 0x3C, 1);

	(void)state;
	cfg_wr(edu_bdf, cap + 4, 4, 0xFEE01000u);                     /* APIC ID 1 */
	cfg_wr(edu_bdf, cap + 8, 4, 0);
	cfg_wr(edu_bdf, cap + 12, 2, 0x4041);
	cfg_wr(edu_bdf, cap + 2, 2, cfg_rd(edu_bdf, cap + 2, 2) | 1);
	wr(b + EDU_REG_IRQ_RAISE, 4, 0x10);
	assert_int_equal(fb.nmsi, 1);
	assert_int_equal(fb.msis[0].addr, 0xFEE01000u);
	assert_int_equal(fb.msis[0].data, 0x4041);
	assert_false(gsi_asserted(gsi));
	assert_int_equal(fb.gsi_changes, 0);
	assert_int_equal(edu_stats().irq_raised, 1);
	/* The status must still be acknowledged; a second raise sends again. */
	wr(b + EDU_REG_IRQ_RAISE, 4, 0x20);
	assert_int_equal(fb.nmsi, 2);
	assert_int_equal(rd(b + EDU_REG_IRQ_STATUS, 4), 0x30);
	wr(b + EDU_REG_IRQ_ACK, 4, 0x30);
	assert_int_equal(rd(b + EDU_REG_IRQ_STATUS, 4), 0);
	assert_int_equal(fb.nmsi, 2);
}

static void edu_dma(uint64_t b, uint64_t src, uint64_t dst, uint64_t cnt, uint32_t cmd)
{
	wr(b + EDU_REG_DMA_SRC, 8, src);
	wr(b + EDU_REG_DMA_DST, 8, dst);
	wr(b + EDU_REG_DMA_COUNT, 8, cnt);
	wr(b + EDU_REG_DMA_CMD, 8, cmd);
	/* Synchronous: the transfer is over when the command write returns. */
	assert_int_equal(rd(b + EDU_REG_DMA_CMD, 8) & EDU_CMD_START, 0);
}

static void test_edu_dma(void **state)
{
	uint64_t b = edu_bar();
	unsigned gsi = cfg_rd(edu_bdf, 0x3C, 1);
	uint8_t buf[100];
	struct edu_model_stats s;

	(void)state;
	for (unsigned i = 0; i < 100; i++)
		fb.ram[0x1000 + i] = (uint8_t)(i * 7 + 1);
	/* RAM -> device buffer at 0x40000 + 0x10. */
	edu_dma(b, 0x1000, EDU_BUF_ADDR + 0x10, 100, EDU_CMD_START);
	assert_int_equal(edu_model_buffer(0, 0x10, buf, 100), 0);
	assert_memory_equal(buf, fb.ram + 0x1000, 100);
	assert_false(gsi_asserted(gsi));
	/* Buffer -> RAM with the completion interrupt 0x100. */
	edu_dma(b, EDU_BUF_ADDR + 0x10, 0x3000, 100,
		EDU_CMD_START | EDU_CMD_TO_RAM | EDU_CMD_IRQ);
	assert_memory_equal(fb.ram + 0x3000, fb.ram + 0x1000, 100);
	assert_int_equal(rd(b + EDU_REG_IRQ_STATUS, 4), EDU_IRQ_DMA);
	assert_true(gsi_asserted(gsi));
	wr(b + EDU_REG_IRQ_ACK, 4, EDU_IRQ_DMA);
	s = edu_stats();
	assert_int_equal(s.dma_done, 2);
	assert_int_equal(s.dma_refused, 0);
}

/* Device DMA carries the requester ID; a blocked DMA completes as on QEMU. */
static void test_edu_dma_rid_and_blocked(void **state)
{
	uint64_t b = edu_bar();
	uint8_t buf[64];
	struct edu_model_stats s;

	(void)state;
	memset(fb.ram + 0x1000, 0x5A, 64);
	edu_dma(b, 0x1000, EDU_BUF_ADDR, 64, EDU_CMD_START);
	assert_int_equal(fb.ndma, 1);
	assert_int_equal(fb.last_rid, 0x0010);                         /* 00:02.0 */
	fb.dma_block = true;
	edu_dma(b, 0x1000, EDU_BUF_ADDR, 64, EDU_CMD_START | EDU_CMD_IRQ);
	assert_int_equal(edu_model_buffer(0, 0, buf, 64), 0);
	assert_int_equal(buf[0], 0);                                /* zeros, not 0x5A */
	assert_int_equal(buf[63], 0);
	assert_int_equal(rd(b + EDU_REG_IRQ_STATUS, 4), EDU_IRQ_DMA); /* completed anyway */
	s = edu_stats();
	assert_int_equal(s.dma_done, 2);
	assert_true(logged("blocked or outside RAM"));
	/* Bus mastering off: no DMA reaches the host at all. */
	set_command(edu_bdf, 0, PCI_COMMAND_MASTER);
	edu_dma(b, 0x1000, EDU_BUF_ADDR, 64, EDU_CMD_START);
	assert_int_equal(fb.ndma, 2);
}

static void test_edu_dma_refused(void **state)
{
	uint64_t b = edu_bar();
	unsigned writes;
	struct edu_model_stats s;

	(void)state;
	memset(fb.ram + 0x5000, 0xAB, 0x200);
	writes = fb.ram_writes;
	/* Past the end of the 4 KiB buffer. */
	edu_dma(b, EDU_BUF_ADDR + 0xF00, 0x5000, 0x200, EDU_CMD_START | EDU_CMD_TO_RAM |
		EDU_CMD_IRQ);
	/* Below the buffer. */
	edu_dma(b, 0x5000, EDU_BUF_ADDR - 4, 8, EDU_CMD_START);
	/* RAM beyond the 28-bit DMA mask, and a range that crosses it. */
	edu_dma(b, EDU_BUF_ADDR, 0x10000000ull, 16, EDU_CMD_START | EDU_CMD_TO_RAM);
	edu_dma(b, 0x0FFFFFF8ull, EDU_BUF_ADDR, 16, EDU_CMD_START);
	/* A count that wraps the address space. */
	edu_dma(b, 0x1000, EDU_BUF_ADDR, ~0ull, EDU_CMD_START);
	s = edu_stats();
	assert_int_equal(s.dma_refused, 5);
	assert_int_equal(s.dma_done, 0);
	assert_int_equal(fb.ram_writes, writes);
	assert_int_equal(fb.ram[0x5000], 0xAB);
	assert_int_equal(rd(b + EDU_REG_IRQ_STATUS, 4), 0);          /* no completion irq */
	assert_true(logged("DMA refused"));
	/* Bus mastering off: dropped, RAM untouched. */
	set_command(edu_bdf, 0, PCI_COMMAND_MASTER);
	edu_dma(b, EDU_BUF_ADDR, 0x5000, 16, EDU_CMD_START | EDU_CMD_TO_RAM);
	s = edu_stats();
	assert_int_equal(s.dma_no_master, 1);
	assert_int_equal(s.dma_done, 0);
	assert_int_equal(fb.ram_writes, writes);
	assert_true(logged("bus mastering is off"));
}

/* ---- NVMe ----------------------------------------------------------------------------------- */

#define ASQ 0x10000u
#define ACQ 0x11000u
#define DATA 0x20000u

static uint64_t nb;                     /* NVMe BAR0 */
static uint16_t sq_tail, cq_head_, cq_size;

static struct nvme_model_stats nvme_stats(void)
{
	struct nvme_model_stats s;

	assert_int_equal(nvme_model_stats(0, &s), 0);
	return s;
}

static uint64_t nvme_bar(void)
{
	set_command(nvme_bdf, PCI_COMMAND_MEM | PCI_COMMAND_MASTER, 0);
	nb = bar_addr(nvme_bdf, 0);
	assert_int_equal(cfg_rd(nvme_bdf, 0x10, 4) & 0x6, 0x4);     /* 64-bit BAR */
	return nb;
}

static void nvme_enable(uint16_t sqs, uint16_t cqs)
{
	wr(nb + NVME_REG_AQA, 4, (uint32_t)(cqs - 1) << 16 | (uint32_t)(sqs - 1));
	wr(nb + NVME_REG_ASQ, 8, ASQ);
	wr(nb + NVME_REG_ACQ, 8, ACQ);
	wr(nb + NVME_REG_CC, 4, NVME_CC_EN | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT);
	assert_int_equal(rd(nb + NVME_REG_CSTS, 4) & 3, NVME_CSTS_RDY);
	sq_tail = cq_head_ = 0;
	cq_size = cqs;
}

static struct nvme_sqe sqe(uint8_t opc, uint16_t cid, uint64_t prp1, uint32_t cdw10)
{
	return (struct nvme_sqe){ .opc = opc, .cid = cid, .prp1 = prp1, .cdw10 = cdw10 };
}

/* Put commands in the admin SQ (size sqs) and ring the tail doorbell once. */
static void submit(const struct nvme_sqe *cmds, unsigned n, uint16_t sqs)
{
	for (unsigned i = 0; i < n; i++) {
		memcpy(fb.ram + ASQ + (size_t)sq_tail * 64, &cmds[i], 64);
		sq_tail = (uint16_t)((sq_tail + 1) % sqs);
	}
	wr(nb + NVME_REG_DBS, 4, sq_tail);
	while (nvme_model_step())   /* the doorbell only records work: run it */
		;
}

static struct nvme_cqe cqe_at(unsigned slot)
{
	struct nvme_cqe e;

	memcpy(&e, fb.ram + ACQ + (size_t)slot * 16, 16);
	return e;
}

static void cq_consume(unsigned n)
{
	cq_head_ = (uint16_t)((cq_head_ + n) % cq_size);
	wr(nb + NVME_REG_DBS + 4, 4, cq_head_);
	while (nvme_model_step())   /* commands held back by a full CQ run now */
		;
}

static void nvme_msix_setup(uint32_t data)
{
	unsigned cap = find_cap(nvme_bdf, 0x11);

	assert_int_not_equal(cap, 0);
	assert_int_equal(cfg_rd(nvme_bdf, cap + 2, 2) & 0x7FF, 64);  /* 65 entries */
	assert_int_equal(cfg_rd(nvme_bdf, cap + 4, 4), 0x2000);      /* table BAR0 + 0x2000 */
	assert_int_equal(cfg_rd(nvme_bdf, cap + 8, 4), 0x3000);      /* PBA BAR0 + 0x3000 */
	wr(nb + 0x2000, 4, 0xFEE02000u);
	wr(nb + 0x2004, 4, 0);
	wr(nb + 0x2008, 4, data);
	wr(nb + 0x200C, 4, 0);                                        /* unmask */
	cfg_wr(nvme_bdf, cap + 2, 2, 0x8000);                         /* MSI-X Enable */
}

static void test_nvme_registers_and_bad_enable(void **state)
{
	uint64_t cap;
	struct nvme_model_stats s;

	(void)state;
	nvme_bar();
	assert_int_equal(cfg_rd(nvme_bdf, 0x08, 4) >> 8, 0x010802);
	assert_int_equal(find_cap(nvme_bdf, 0x05), 0);               /* no MSI */
	assert_int_not_equal(find_cap(nvme_bdf, 0x10), 0);           /* PCIe */
	cap = rd(nb + NVME_REG_CAP, 8);
	assert_int_equal(cap & 0xFFFF, 0x7FF);
	assert_true(cap & NVME_CAP_CQR);
	assert_true(cap & NVME_CAP_CSS_NVM);
	assert_int_equal(cap >> 32 & 0xF, 0);                         /* DSTRD */
	assert_int_equal(cap >> 48 & 0xFF, 0);                        /* MPSMIN, MPSMAX */
	assert_int_equal(rd(nb + NVME_REG_CAP + 4, 4), cap >> 32);
	assert_int_equal(rd(nb + NVME_REG_VS, 4), 0x00010400);
	assert_int_equal(rd(nb + NVME_REG_CSTS, 4), 0);
	/* AQA 0: the admin queues cannot be used; CFS, not RDY. */
	wr(nb + NVME_REG_ASQ, 8, ASQ);
	wr(nb + NVME_REG_ACQ, 8, ACQ);
	wr(nb + NVME_REG_CC, 4, NVME_CC_EN);
	assert_int_equal(rd(nb + NVME_REG_CSTS, 4) & 3, NVME_CSTS_CFS);
	wr(nb + NVME_REG_DBS, 4, 1);                                  /* not ready: ignored */
	wr(nb + NVME_REG_CC, 4, 0);
	assert_int_equal(rd(nb + NVME_REG_CSTS, 4), 0);
	/* ASQ not page aligned. */
	wr(nb + NVME_REG_AQA, 4, 0x00030003);
	wr(nb + NVME_REG_ASQ, 8, ASQ + 0x800);
	wr(nb + NVME_REG_CC, 4, NVME_CC_EN);
	assert_int_equal(rd(nb + NVME_REG_CSTS, 4) & 3, NVME_CSTS_CFS);
	wr(nb + NVME_REG_CC, 4, 0);
	/* ACQ 0. */
	wr(nb + NVME_REG_ASQ, 8, ASQ);
	wr(nb + NVME_REG_ACQ, 8, 0);
	wr(nb + NVME_REG_CC, 4, NVME_CC_EN);
	assert_int_equal(rd(nb + NVME_REG_CSTS, 4) & 3, NVME_CSTS_CFS);
	wr(nb + NVME_REG_CC, 4, 0);
	/* A page size other than 4 KiB. */
	wr(nb + NVME_REG_ACQ, 8, ACQ);
	wr(nb + NVME_REG_CC, 4, NVME_CC_EN | 1u << NVME_CC_MPS_SHIFT);
	assert_int_equal(rd(nb + NVME_REG_CSTS, 4) & 3, NVME_CSTS_CFS);
	wr(nb + NVME_REG_CC, 4, 0);
	/* Now good; the admin registers are then frozen. */
	nvme_enable(4, 4);
	wr(nb + NVME_REG_AQA, 4, 0x00070007);
	assert_int_equal(rd(nb + NVME_REG_AQA, 4), 0x00030003);
	wr(nb + NVME_REG_CSTS, 4, 0);                                 /* read-only */
	assert_int_equal(rd(nb + NVME_REG_VS, 2), 0xFFFF);            /* bad size */
	s = nvme_stats();
	assert_int_equal(s.enable_failures, 4);
	assert_int_equal(s.enables, 1);
	assert_int_equal(s.bad_doorbell, 1);
	assert_int_equal(s.bad_access, 3);
	assert_int_equal(s.commands, 0);
	assert_true(logged("AQA.ASQS is 0"));
	/* Disable: RDY drops, shutdown reports complete. */
	wr(nb + NVME_REG_CC, 4, 1u << NVME_CC_SHN_SHIFT);
	assert_int_equal(rd(nb + NVME_REG_CSTS, 4), NVME_CSTS_SHST_DONE);
}

static void test_nvme_identify_msix(void **state)
{
	struct nvme_sqe c[3];
	struct nvme_cqe e;
	const struct nvme_id_ctrl *id = (const void *)(fb.ram + DATA);
	const struct nvme_id_ns *ns = (const void *)(fb.ram + DATA + 0x1000);
	unsigned gsi = cfg_rd(nvme_bdf, 0x3C, 1);

	(void)state;
	nvme_bar();
	nvme_msix_setup(0x45);
	nvme_enable(8, 8);
	c[0] = sqe(NVME_ADM_IDENTIFY, 0xABCD, DATA, NVME_CNS_CTRL);
	submit(c, 1, 8);
	e = cqe_at(0);
	assert_int_equal(e.cid, 0xABCD);
	assert_int_equal(e.status, NVME_STATUS_P);                    /* success, phase 1 */
	assert_int_equal(e.sq_head, 1);
	assert_int_equal(e.sq_id, 0);
	assert_int_equal(id->vid, 0x1b36);
	assert_memory_equal(id->mn, "Doppel NVMe model   ", 20);
	assert_int_equal(id->mdts, 7);
	assert_int_equal(id->sqes, 0x66);
	assert_int_equal(id->cqes, 0x44);
	assert_int_equal(id->nn, 1);
	assert_int_equal(id->ver, 0x00010400);
	assert_int_equal(fb.nmsi, 1);
	assert_int_equal(fb.msis[0].addr, 0xFEE02000u);
	assert_int_equal(fb.msis[0].data, 0x45);
	assert_false(gsi_asserted(gsi));
	cq_consume(1);
	/* Namespace 1, then a namespace that does not exist, then an unknown opcode. */
	c[0] = sqe(NVME_ADM_IDENTIFY, 2, DATA + 0x1000, NVME_CNS_NS);
	c[0].nsid = 1;
	c[1] = sqe(NVME_ADM_IDENTIFY, 3, DATA + 0x2000, NVME_CNS_NS);
	c[1].nsid = 2;
	c[2] = sqe(0x7F, 4, 0, 0);
	submit(c, 3, 8);
	assert_int_equal(ns->nsze, (64u << 20) / 512);
	assert_int_equal(ns->lbaf[0].lbads, 9);
	assert_int_equal(cqe_at(1).status, NVME_STATUS_P);
	assert_int_equal(cqe_at(2).cid, 3);
	assert_int_equal(cqe_at(2).status, NVME_SC_INVALID_NS << 1 | NVME_STATUS_DNR | NVME_STATUS_P);
	assert_int_equal(cqe_at(3).cid, 4);
	assert_int_equal(cqe_at(3).status,
			 NVME_SC_INVALID_OPCODE << 1 | NVME_STATUS_DNR | NVME_STATUS_P);
	assert_int_equal(cqe_at(3).sq_head, 4);
	assert_int_equal(fb.nmsi, 4);                                    /* one per completion */
	assert_int_equal(nvme_stats().errors, 2);
}

static void test_nvme_masked_vector_pba(void **state)
{
	struct nvme_sqe c = sqe(NVME_ADM_GET_FEATURES, 7, 0, NVME_FEAT_NUM_QUEUES);

	(void)state;
	nvme_bar();
	nvme_msix_setup(0x46);
	nvme_enable(4, 4);
	wr(nb + 0x200C, 4, 1);                                        /* mask vector 0 */
	submit(&c, 1, 4);
	assert_int_equal(cqe_at(0).status, NVME_STATUS_P);
	assert_int_equal(cqe_at(0).dw0, 63u << 16 | 63u);
	assert_int_equal(fb.nmsi, 0);
	assert_int_equal(rd(nb + 0x3000, 4) & 1, 1);                  /* pending */
	wr(nb + 0x200C, 4, 0);                                        /* unmask: delivered */
	assert_int_equal(fb.nmsi, 1);
	assert_int_equal(fb.msis[0].data, 0x46);
	assert_int_equal(rd(nb + 0x3000, 4) & 1, 0);
	/* The function mask holds it back the same way. */
	cq_consume(1);
	cfg_wr(nvme_bdf, find_cap(nvme_bdf, 0x11) + 2, 2, 0xC000);    /* enable | function mask */
	c = sqe(NVME_ADM_SET_FEATURES, 8, 0, NVME_FEAT_NUM_QUEUES);
	c.cdw11 = 3u << 16 | 1u;
	submit(&c, 1, 4);
	/* Like QEMU 7.2, the model allocates its maximum whatever was asked. */
	assert_int_equal(cqe_at(1).dw0, 63u << 16 | 63u);
	assert_int_equal(fb.nmsi, 1);
	cfg_wr(nvme_bdf, find_cap(nvme_bdf, 0x11) + 2, 2, 0x8000);
	assert_int_equal(fb.nmsi, 2);
}

static void test_nvme_cq_wrap_phase(void **state)
{
	struct nvme_sqe c[3];

	(void)state;
	nvme_bar();
	nvme_msix_setup(0x47);
	nvme_enable(8, 4);                    /* CQ of 4 holds 3 entries */
	for (unsigned i = 0; i < 3; i++)
		c[i] = sqe(NVME_ADM_GET_FEATURES, (uint16_t)(1 + i), 0, NVME_FEAT_NUM_QUEUES);
	submit(c, 3, 8);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(cqe_at(i).cid, 1 + i);
		assert_int_equal(cqe_at(i).status & NVME_STATUS_P, 1);
	}
	cq_consume(3);
	c[0].cid = 4;
	c[1].cid = 5;
	submit(c, 2, 8);
	assert_int_equal(cqe_at(3).cid, 4);
	assert_int_equal(cqe_at(3).status & NVME_STATUS_P, 1);
	assert_int_equal(cqe_at(0).cid, 5);                           /* wrapped */
	assert_int_equal(cqe_at(0).status & NVME_STATUS_P, 0);        /* phase flipped */
	assert_int_equal(cqe_at(0).sq_head, 5);
	/* A full CQ holds commands back until the head doorbell makes room. */
	c[0].cid = 6;
	c[1].cid = 7;
	submit(c, 2, 8);
	assert_int_equal(cqe_at(1).cid, 6);
	assert_int_equal(cqe_at(1).status & NVME_STATUS_P, 0);
	assert_int_equal(cqe_at(2).cid, 3);                           /* not yet overwritten */
	assert_int_equal(nvme_stats().cqes_posted, 6);
	cq_consume(3);
	assert_int_equal(cqe_at(2).cid, 7);
	assert_int_equal(cqe_at(2).status & NVME_STATUS_P, 0);
	assert_int_equal(cqe_at(2).sq_head, 7);
	assert_int_equal(nvme_stats().cqes_posted, 7);
}

static void test_nvme_strict_errors(void **state)
{
	struct nvme_sqe c[2];
	struct nvme_model_stats s;
	const struct nvme_id_ctrl *id = (const void *)(fb.ram + DATA + 0x800);

	(void)state;
	nvme_bar();
	nvme_msix_setup(0x48);
	nvme_enable(8, 8);
	/* PRP1 not dword aligned; PRP2 with an offset where the data crosses a page. */
	c[0] = sqe(NVME_ADM_IDENTIFY, 1, DATA + 2, NVME_CNS_CTRL);
	c[1] = sqe(NVME_ADM_IDENTIFY, 2, DATA + 0x800, NVME_CNS_CTRL);
	c[1].prp2 = 0x30010;
	submit(c, 2, 8);
	assert_int_equal(cqe_at(0).status,
			 NVME_SC_PRP_OFFSET_INVALID << 1 | NVME_STATUS_DNR | NVME_STATUS_P);
	assert_int_equal(cqe_at(1).status,
			 NVME_SC_PRP_OFFSET_INVALID << 1 | NVME_STATUS_DNR | NVME_STATUS_P);
	assert_int_equal(fb.ram[DATA + 0x800], 0);                       /* nothing written */
	/* A good PRP2: the structure is split over two pages. */
	memset(fb.ram + DATA + 0x1000, 0xEE, 0x1000);
	memset(fb.ram + 0x30000, 0xEE, 0x1000);
	c[0] = sqe(NVME_ADM_IDENTIFY, 3, DATA + 0x800, NVME_CNS_CTRL);
	c[0].prp2 = 0x30000;
	submit(c, 1, 8);
	assert_int_equal(cqe_at(2).status, NVME_STATUS_P);
	assert_int_equal(id->vid, 0x1b36);
	assert_int_equal(fb.ram[DATA + 0x1000], 0xEE);                   /* PRP1's page ends */
	assert_int_equal(fb.ram[0x30000], 0);                            /* byte 2048 on: PRP2 */
	assert_int_equal(fb.ram[0x307FF], 0);
	assert_int_equal(fb.ram[0x30800], 0xEE);                         /* 4096 bytes in all */
	/* Fused and SGL commands are refused. */
	c[0] = sqe(NVME_ADM_IDENTIFY, 4, DATA, NVME_CNS_CTRL);
	c[0].flags = 0x40;
	submit(c, 1, 8);
	assert_int_equal(cqe_at(3).status,
			 NVME_SC_INVALID_FIELD << 1 | NVME_STATUS_DNR | NVME_STATUS_P);
	cq_consume(4);
	/* Doorbells: beyond the SQ size, beyond the CQ size, passing the CQ tail, no queue. */
	wr(nb + NVME_REG_DBS, 4, 8);
	wr(nb + NVME_REG_DBS + 4, 4, 8);
	wr(nb + NVME_REG_DBS + 4, 4, 5);
	wr(nb + NVME_REG_DBS + 8, 4, 1);
	s = nvme_stats();
	assert_int_equal(s.bad_doorbell, 4);
	assert_int_equal(s.cqes_posted, 4);
	assert_true(logged("beyond the queue size"));
	assert_true(logged("passes the tail"));
	/* Bus mastering off: the SQE fetch fails, the controller reports a fatal status. */
	set_command(nvme_bdf, 0, PCI_COMMAND_MASTER);
	c[0] = sqe(NVME_ADM_GET_FEATURES, 9, 0, NVME_FEAT_NUM_QUEUES);
	submit(c, 1, 8);
	s = nvme_stats();
	assert_int_equal(s.dma_no_master, 1);
	assert_int_equal(s.cqes_posted, 4);
	assert_int_equal(rd(nb + NVME_REG_CSTS, 4) & NVME_CSTS_CFS, NVME_CSTS_CFS);
	/* A reset clears it. */
	wr(nb + NVME_REG_CC, 4, 0);
	assert_int_equal(rd(nb + NVME_REG_CSTS, 4), 0);
}

static void test_nvme_intx(void **state)
{
	struct nvme_sqe c = sqe(NVME_ADM_GET_FEATURES, 1, 0, NVME_FEAT_NUM_QUEUES);
	unsigned gsi = cfg_rd(nvme_bdf, 0x3C, 1);

	(void)state;
	assert_true(gsi >= 16 && gsi < 24);
	nvme_bar();                              /* MSI-X stays off: INTx */
	nvme_enable(4, 4);
	submit(&c, 1, 4);
	assert_true(gsi_asserted(gsi));
	assert_int_equal(fb.nmsi, 0);
	cq_consume(1);                           /* all consumed: deasserted */
	assert_false(gsi_asserted(gsi));
	/* INTMS masks the pin; INTMC with entries pending asserts it again. */
	wr(nb + NVME_REG_INTMS, 4, 1);
	assert_int_equal(rd(nb + NVME_REG_INTMC, 4), 1);
	c.cid = 2;
	submit(&c, 1, 4);
	assert_false(gsi_asserted(gsi));
	assert_int_equal(cqe_at(1).cid, 2);
	wr(nb + NVME_REG_INTMC, 4, 1);
	assert_true(gsi_asserted(gsi));
	wr(nb + NVME_REG_INTMS, 4, 1);
	assert_false(gsi_asserted(gsi));
	wr(nb + NVME_REG_INTMC, 4, 1);
	assert_true(gsi_asserted(gsi));
	cq_consume(1);
	assert_false(gsi_asserted(gsi));
	/* A reset deasserts a line left high. */
	c.cid = 3;
	submit(&c, 1, 4);
	assert_true(gsi_asserted(gsi));
	wr(nb + NVME_REG_CC, 4, 0);
	assert_false(gsi_asserted(gsi));
	assert_int_equal(nvme_stats().intms, 0);
}

/* Two controllers on one fabric: their registers, state and faults are their own. */
static void test_nvme_two_controllers_are_independent(void **state)
{
	struct bdf n2 = { 0, 5, 0 };
	struct nvme_model_stats s0, s1;
	uint64_t b2 = 0xE0000000ull;        /* a free spot in the hole, assigned by hand */

	(void)state;
	assert_int_equal(nvme_model_add(0, 5, &fb.bus), 0);
	assert_int_equal(cfg_rd(n2, 0, 4), 0x00101b36u);
	cfg_wr(n2, 0x10, 4, (uint32_t)b2);
	cfg_wr(n2, 0x14, 4, 0);
	set_command(n2, PCI_COMMAND_MEM | PCI_COMMAND_MASTER, 0);
	assert_int_equal(bar_addr(n2, 0), b2);
	nvme_bar();
	assert_true(nb != b2);
	nvme_enable(4, 4);                                          /* controller 0 ready */
	assert_int_equal(rd(b2 + NVME_REG_CSTS, 4) & NVME_CSTS_RDY, 0); /* controller 1 not */
	assert_int_equal(nvme_model_fault_cfs(1), 0);
	assert_true(rd(b2 + NVME_REG_CSTS, 4) & NVME_CSTS_CFS);
	assert_false(rd(nb + NVME_REG_CSTS, 4) & NVME_CSTS_CFS);
	assert_int_equal(nvme_model_stats(0, &s0), 0);
	assert_int_equal(nvme_model_stats(1, &s1), 0);
	assert_int_equal(s0.enables, 1);
	assert_int_equal(s1.enables, 0);
	assert_int_equal(nvme_model_stats(2, &s1), -ENOENT);
}

/* ---- testdev --------------------------------------------------------------------------------- */

static struct testdev_model_stats td_stats(unsigned fn)
{
	struct testdev_model_stats s;

	assert_int_equal(testdev_model_stats(0, fn, &s), 0);
	return s;
}

static void test_testdev_msi_multi(void **state)
{
	unsigned cap = find_cap(td0, 0x05);
	uint64_t b;
	uint32_t ctrl;

	(void)state;
	assert_int_equal(cfg_rd(td0, 0x0E, 1) & 0x80, 0x80);          /* multi-function */
	assert_int_equal(cfg_rd(td0, 0x08, 4) >> 8, 0xff0000);
	assert_int_not_equal(cap, 0);
	ctrl = cfg_rd(td0, cap + 2, 2);
	assert_int_equal(ctrl >> 1 & 7, 5);                           /* 32 vectors capable */
	assert_true(ctrl & 0x80);                                     /* 64-bit */
	assert_true(ctrl & 0x100);                                    /* per-vector masking */
	set_command(td0, PCI_COMMAND_MEM | PCI_COMMAND_MASTER, 0);
	b = bar_addr(td0, 0);
	cfg_wr(td0, cap + 4, 4, 0xFEE03000u);
	cfg_wr(td0, cap + 8, 4, 0);
	cfg_wr(td0, cap + 12, 2, 0x60);                               /* base vector 0x60 */
	cfg_wr(td0, cap + 2, 2, 5u << 4 | 1u);                        /* 32 enabled */
	wr(b + TESTDEV_REG_RAISE, 4, 7);
	wr(b + TESTDEV_REG_RAISE, 4, 31);
	wr(b + TESTDEV_REG_RAISE, 4, 32);                             /* not offered */
	assert_int_equal(fb.nmsi, 2);
	assert_int_equal(fb.msis[0].addr, 0xFEE03000u);
	assert_int_equal(fb.msis[0].data, 0x67);
	assert_int_equal(fb.msis[1].data, 0x7F);
	assert_int_equal(td_stats(0).bad_vector, 1);
	assert_true(logged("only 32 offered"));
	/* Mask vector 3: pending, then delivered on unmask. */
	cfg_wr(td0, cap + 0x10, 4, 1u << 3);
	wr(b + TESTDEV_REG_RAISE, 4, 3);
	assert_int_equal(fb.nmsi, 2);
	assert_int_equal(cfg_rd(td0, cap + 0x14, 4), 1u << 3);
	assert_int_equal(rd(b + TESTDEV_REG_COUNT, 4), 2);
	cfg_wr(td0, cap + 0x10, 4, 0);
	assert_int_equal(fb.nmsi, 3);
	assert_int_equal(fb.msis[2].data, 0x63);
	assert_int_equal(td_stats(0).quiet, 1);
	/* Fewer enabled vectors: the low bits of data carry a smaller index. */
	cfg_wr(td0, cap + 2, 2, 2u << 4 | 1u);                        /* 4 enabled */
	wr(b + TESTDEV_REG_RAISE, 4, 2);
	assert_int_equal(fb.msis[3].data, 0x62);
	/* Strict access sizes. */
	assert_int_equal(rd(b + TESTDEV_REG_COUNT, 2), 0xFFFF);
	assert_int_equal(td_stats(0).bad_access, 1);
}

static void test_testdev_msix(void **state)
{
	unsigned cap = find_cap(td1, 0x11);
	uint64_t b0, b2;

	(void)state;
	assert_int_not_equal(cap, 0);
	assert_int_equal(find_cap(td1, 0x05), 0);
	assert_int_equal(cfg_rd(td1, cap + 2, 2) & 0x7FF, 2047);
	assert_int_equal(cfg_rd(td1, cap + 4, 4), 0x0 | 2);           /* table BAR2 + 0 */
	assert_int_equal(cfg_rd(td1, cap + 8, 4), 0x8000 | 2);        /* PBA BAR2 + 0x8000 */
	assert_int_equal(cfg_rd(td1, 0x18, 4) & 0x6, 0x4);           /* BAR2 64-bit */
	set_command(td1, PCI_COMMAND_MEM | PCI_COMMAND_MASTER, 0);
	b0 = bar_addr(td1, 0);
	b2 = bar_addr(td1, 2);
	wr(b2 + 2047 * 16, 4, 0xFEE04000u);
	wr(b2 + 2047 * 16 + 4, 4, 0);
	wr(b2 + 2047 * 16 + 8, 4, 0x77);
	wr(b2 + 2047 * 16 + 12, 4, 0);
	wr(b2 + 5 * 16, 8, 0xFEE05000u);
	wr(b2 + 5 * 16 + 8, 4, 0x45);
	wr(b2 + 5 * 16 + 12, 4, 0);
	cfg_wr(td1, cap + 2, 2, 0x8000);
	wr(b0 + TESTDEV_REG_RAISE, 4, 2047);
	wr(b0 + TESTDEV_REG_RAISE, 4, 5);
	wr(b0 + TESTDEV_REG_RAISE, 4, 2048);                          /* not offered */
	assert_int_equal(fb.nmsi, 2);
	assert_int_equal(fb.msis[0].addr, 0xFEE04000u);
	assert_int_equal(fb.msis[0].data, 0x77);
	assert_int_equal(fb.msis[1].addr, 0xFEE05000u);
	assert_int_equal(fb.msis[1].data, 0x45);
	assert_int_equal(td_stats(1).bad_vector, 1);
	/* Entry 6 is still masked (reset state): its PBA bit is set. */
	wr(b0 + TESTDEV_REG_RAISE, 4, 6);
	assert_int_equal(fb.nmsi, 2);
	assert_int_equal(rd(b2 + 0x8000, 8) & (1u << 6), 1u << 6);
	assert_int_equal(rd(b0 + TESTDEV_REG_COUNT, 4), 2);
	/* Function 0 saw none of this. */
	assert_int_equal(td_stats(0).raised, 0);
}

static void test_testdev_intx(void **state)
{
	unsigned g0 = cfg_rd(td0, 0x3C, 1), g1 = cfg_rd(td1, 0x3C, 1);
	uint64_t b0, b1;

	(void)state;
	assert_int_equal(cfg_rd(td0, 0x3D, 1), 1);                    /* INTA */
	assert_int_equal(cfg_rd(td1, 0x3D, 1), 2);                    /* INTB */
	assert_int_not_equal(g0, g1);
	set_command(td0, PCI_COMMAND_MEM, 0);
	set_command(td1, PCI_COMMAND_MEM, 0);
	b0 = bar_addr(td0, 0);
	b1 = bar_addr(td1, 0);
	wr(b0 + TESTDEV_REG_RAISE, 4, 0);
	assert_true(gsi_asserted(g0));
	assert_false(gsi_asserted(g1));
	wr(b1 + TESTDEV_REG_RAISE, 4, 9);
	assert_true(gsi_asserted(g1));
	wr(b0 + TESTDEV_REG_LOWER, 4, 0);
	assert_false(gsi_asserted(g0));
	assert_true(gsi_asserted(g1));
	/* Interrupt Disable holds the line low. */
	set_command(td1, PCI_COMMAND_INTX_DISABLE, 0);
	assert_false(gsi_asserted(g1));
	assert_int_equal(rd(b1 + TESTDEV_REG_COUNT, 4), 1);
	assert_int_equal(fb.nmsi, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_edu_config_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edu_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_instances_and_log_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edu_irq_intx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edu_irq_msi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edu_dma, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edu_dma_rid_and_blocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edu_dma_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvme_registers_and_bad_enable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvme_identify_msix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvme_masked_vector_pba, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvme_cq_wrap_phase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvme_strict_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvme_intx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvme_two_controllers_are_independent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_testdev_msi_multi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_testdev_msix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_testdev_intx, setup, teardown),
	};

	return cmocka_run_group_tests_name("pci_devices", tests, NULL, NULL);
}
