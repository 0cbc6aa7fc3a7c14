/*
 * test_nvme_model.c — CMocka tests of the NVMe controller model's I/O side
 * (models/nvme/) on the strict fake bus, stepped (no worker thread): admin queue
 * creation/deletion status codes (NVM Express 1.4 §5.3-5.6), Abort (§5.1), NVM
 * Read/Write/Write Zeroes/Dataset Management (§6), PRP lists (§4.3), MDTS, LBA
 * range, namespaces, CQ-full back-pressure, MSI-X per CQ vector, CFS and reset,
 * and every fault site.
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
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include <hw/pci/config.h>
#include "fake_bus.h"
#include "nvme/nvme.h"
#include "nvme/nvme_model.h"
#include <hw/dev/nvme.h>
#include "pci/pci_model.h"

#define RAM_SIZE (8u << 20)
#define ECAM 0xB0000000ull
#define ASQ 0x10000u
#define ACQ 0x11000u
#define IOSQ 0x12000u
#define IOCQ 0x13000u
#define LIST 0x14000u           /* PRP list pages */
#define DATA 0x100000u          /* data buffers */
#define QS 8u                   /* entries in every queue these tests make */
#define NS_BYTES (1u << 20)
#define NVME_PAGE 4096u

static struct fake_bus fb;
static uint64_t nb;
static uint16_t asq_tail, acq_head, iosq_tail, iocq_head;
static unsigned iocq_phase = 1;
static uint16_t cid_next = 1;

static uint64_t rd(uint64_t a, unsigned size) { return fake_bus_mmio_read(&fb, a, size); }
static void wr(uint64_t a, unsigned size, uint64_t v) { fake_bus_mmio_write(&fb, a, size, v); }
static uint32_t cfg_rd(unsigned off, unsigned size) { return (uint32_t)rd(ECAM + (3u << 15) + off, size); }
static void cfg_wr(unsigned off, unsigned size, uint32_t v) { wr(ECAM + (3u << 15) + off, size, v); }

static unsigned msix_cap(void)
{
	unsigned p = cfg_rd(0x34, 1) & 0xFC;

	for (unsigned n = 0; p && n < 48; n++, p = cfg_rd(p + 1, 1) & 0xFC)
		if (cfg_rd(p, 1) == 0x11)
			return p;
	fail_msg("no MSI-X capability");
	return 0;
}

static void run(void)
{
	for (unsigned n = 0; nvme_model_step(); n++)
		assert_true(n < 100000);
}

static struct nvme_model_stats stats(void)
{
	struct nvme_model_stats s;

	assert_int_equal(nvme_model_stats(0, &s), 0);
	return s;
}

static void add(const struct nvme_model_config *k)
{
	struct pci_model_config cfg = { .ecam_base = ECAM, .bus_start = 0, .bus_end = 255 };
	uint32_t lo;

	fake_bus_init(&fb, RAM_SIZE);
	nvme_model_reset();
	assert_int_equal(pci_model_init(&cfg, &fb.bus), 0);
	assert_int_equal(nvme_model_add_cfg(0, 3, k, &fb.bus), 0);
	assert_int_equal(pci_model_firmware(0xC0000000ull, 0xFEBFFFFFull, 0xC000, 0xFFFF), 0);
	lo = cfg_rd(0x10, 4);
	nb = (lo & ~0xFull) | (uint64_t)cfg_rd(0x14, 4) << 32;
	cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_MEM | PCI_COMMAND_MASTER);
}

/* MSI-X on: entry i sends data 0x40 + i. */
static void msix_on(void)
{
	for (unsigned i = 0; i < 4; i++) {
		wr(nb + 0x2000 + 16 * i, 4, 0xFEE00000u);
		wr(nb + 0x2004 + 16 * i, 4, 0);
		wr(nb + 0x2008 + 16 * i, 4, 0x40 + i);
		wr(nb + 0x200C + 16 * i, 4, 0);
	}
	cfg_wr(msix_cap() + 2, 2, 0x8000);
}

static void enable(void)
{
	wr(nb + NVME_REG_AQA, 4, (QS - 1) << 16 | (QS - 1));
	wr(nb + NVME_REG_ASQ, 8, ASQ);
	wr(nb + NVME_REG_ACQ, 8, ACQ);
	wr(nb + NVME_REG_CC, 4, NVME_CC_EN | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT);
	assert_int_equal(rd(nb + NVME_REG_CSTS, 4) & 3, NVME_CSTS_RDY);
	asq_tail = acq_head = iosq_tail = iocq_head = 0;
	iocq_phase = 1;
}

static int setup(void **state)
{
	struct nvme_model_config k = { .size = NS_BYTES };

	(void)state;
	add(&k);
	msix_on();
	enable();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nvme_model_reset();
	assert_int_equal(fb.bad_mem, 0);
	fake_bus_fini(&fb);
	return 0;
}

static struct nvme_cqe cqe(uint64_t cq, unsigned slot)
{
	struct nvme_cqe e;

	memcpy(&e, fb.ram + cq + (size_t)slot * 16, 16);
	return e;
}

/* SC | SCT << 8 of a completion. */
static unsigned st(struct nvme_cqe e)
{
	return nvme_status_sc(e.status) | nvme_status_sct(e.status) << 8;
}

/* Queue cmd in the admin SQ, ring, run, and take its completion. */
static struct nvme_cqe admin(struct nvme_sqe c)
{
	struct nvme_cqe e;

	if (!c.cid)
		c.cid = cid_next++;
	memcpy(fb.ram + ASQ + (size_t)asq_tail * 64, &c, 64);
	asq_tail = (asq_tail + 1) % QS;
	wr(nb + NVME_SQ_TDBL(0, 0), 4, asq_tail);
	run();
	e = cqe(ACQ, acq_head);
	assert_int_equal(e.cid, c.cid);
	acq_head = (acq_head + 1) % QS;
	wr(nb + NVME_CQ_HDBL(0, 0), 4, acq_head);
	return e;
}

static struct nvme_sqe create_cq_cmd(uint16_t qid, uint32_t qsize0, uint64_t base, uint16_t iv,
				     uint32_t flags)
{
	return (struct nvme_sqe){ .opc = NVME_ADM_CREATE_CQ, .prp1 = base,
				  .cdw10 = qsize0 << 16 | qid, .cdw11 = (uint32_t)iv << 16 | flags };
}

static struct nvme_sqe create_sq_cmd(uint16_t qid, uint32_t qsize0, uint64_t base, uint16_t cqid,
				     uint32_t flags)
{
	return (struct nvme_sqe){ .opc = NVME_ADM_CREATE_SQ, .prp1 = base,
				  .cdw10 = qsize0 << 16 | qid, .cdw11 = (uint32_t)cqid << 16 | flags };
}

static void ioq_create(uint16_t iv)
{
	assert_int_equal(st(admin(create_cq_cmd(1, QS - 1, IOCQ, iv,
						NVME_CREATE_CQ_PC | NVME_CREATE_CQ_IEN))), 0);
	assert_int_equal(st(admin(create_sq_cmd(1, QS - 1, IOSQ, 1, NVME_CREATE_SQ_PC))), 0);
}

/* Put c in I/O SQ 1 and ring (no run). */
static uint16_t io_submit(struct nvme_sqe c)
{
	if (!c.cid)
		c.cid = cid_next++;
	memcpy(fb.ram + IOSQ + (size_t)iosq_tail * 64, &c, 64);
	iosq_tail = (iosq_tail + 1) % QS;
	wr(nb + NVME_SQ_TDBL(1, 0), 4, iosq_tail);
	return c.cid;
}

static bool io_cqe_ready(void)
{
	return (cqe(IOCQ, iocq_head).status & NVME_STATUS_P) == iocq_phase;
}

static struct nvme_cqe io_reap(void)
{
	struct nvme_cqe e = cqe(IOCQ, iocq_head);

	assert_int_equal(e.status & NVME_STATUS_P, iocq_phase);    /* a new entry */
	iocq_head = (iocq_head + 1) % QS;
	if (iocq_head == 0)
		iocq_phase ^= 1;
	wr(nb + NVME_CQ_HDBL(1, 0), 4, iocq_head);
	return e;
}

static struct nvme_cqe io(struct nvme_sqe c)
{
	uint16_t cid = io_submit(c);
	struct nvme_cqe e;

	run();
	e = io_reap();
	assert_int_equal(e.cid, cid);
	assert_int_equal(e.sq_id, 1);
	return e;
}

static struct nvme_sqe rw_cmd(uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nlb,
			      uint64_t prp1, uint64_t prp2)
{
	return (struct nvme_sqe){ .opc = opc, .nsid = nsid, .prp1 = prp1, .prp2 = prp2,
				  .cdw10 = (uint32_t)slba, .cdw11 = (uint32_t)(slba >> 32),
				  .cdw12 = nlb - 1 };
}

static void fill(uint64_t a, unsigned len, uint8_t seed)
{
	for (unsigned i = 0; i < len; i++)
		fb.ram[a + i] = (uint8_t)(seed + i * 7 + (i >> 9));
}

/* ---- admin: queues -------------------------------------------------------------------- */

static void test_create_delete_status(void **state)
{
	(void)state;
	/* Create I/O CQ: qid 0, beyond the allocation, sizes, alignment, vector, PC. */
	assert_int_equal(st(admin(create_cq_cmd(0, 7, IOCQ, 0, 3))), 0x101);
	assert_int_equal(st(admin(create_cq_cmd(65, 7, IOCQ, 0, 3))), 0x101);
	assert_int_equal(st(admin(create_cq_cmd(1, 0, IOCQ, 0, 3))), 0x102);
	assert_int_equal(st(admin(create_cq_cmd(1, NVME_CAP_MQES_MASK & 0x800, IOCQ, 0, 3))), 0x102);
	assert_int_equal(st(admin(create_cq_cmd(1, 7, IOCQ + 0x100, 0, 3))), NVME_SC_PRP_OFFSET_INVALID);
	assert_int_equal(st(admin(create_cq_cmd(1, 7, IOCQ, 65, 3))), 0x108);
	assert_int_equal(st(admin(create_cq_cmd(1, 7, IOCQ, 0, NVME_CREATE_CQ_IEN))), NVME_SC_INVALID_FIELD);
	assert_int_equal(st(admin(create_cq_cmd(1, 7, IOCQ, 1, 3))), 0);
	assert_int_equal(st(admin(create_cq_cmd(1, 7, IOCQ, 1, 3))), 0x101);   /* exists */
	/* Create I/O SQ: no such CQ, qid 0, exists, size, PC. */
	assert_int_equal(st(admin(create_sq_cmd(1, 7, IOSQ, 2, 1))), 0x100);
	assert_int_equal(st(admin(create_sq_cmd(1, 7, IOSQ, 0, 1))), 0x100);
	assert_int_equal(st(admin(create_sq_cmd(0, 7, IOSQ, 1, 1))), 0x101);
	assert_int_equal(st(admin(create_sq_cmd(1, 0, IOSQ, 1, 1))), 0x102);
	assert_int_equal(st(admin(create_sq_cmd(1, 7, IOSQ, 1, 0))), NVME_SC_INVALID_FIELD);
	assert_int_equal(st(admin(create_sq_cmd(1, 7, IOSQ, 1, 1))), 0);
	assert_int_equal(st(admin(create_sq_cmd(1, 7, IOSQ, 1, 1))), 0x101);
	/* Delete: the CQ an SQ uses, no such queue, then in the right order. */
	assert_int_equal(st(admin((struct nvme_sqe){ .opc = NVME_ADM_DELETE_CQ, .cdw10 = 1 })), 0x10C);
	assert_int_equal(st(admin((struct nvme_sqe){ .opc = NVME_ADM_DELETE_SQ, .cdw10 = 2 })), 0x101);
	assert_int_equal(st(admin((struct nvme_sqe){ .opc = NVME_ADM_DELETE_SQ, .cdw10 = 0 })), 0x101);
	assert_int_equal(st(admin((struct nvme_sqe){ .opc = NVME_ADM_DELETE_SQ, .cdw10 = 1 })), 0);
	assert_int_equal(st(admin((struct nvme_sqe){ .opc = NVME_ADM_DELETE_CQ, .cdw10 = 1 })), 0);
	assert_int_equal(st(admin((struct nvme_sqe){ .opc = NVME_ADM_DELETE_CQ, .cdw10 = 1 })), 0x101);
	/* Unknown admin opcode; Identify with an unknown CNS. */
	assert_int_equal(st(admin((struct nvme_sqe){ .opc = 0x7F })), NVME_SC_INVALID_OPCODE);
	assert_int_equal(st(admin((struct nvme_sqe){ .opc = NVME_ADM_IDENTIFY, .prp1 = DATA,
						     .cdw10 = 0x55 })), NVME_SC_INVALID_FIELD);
	assert_int_equal(stats().admin_ops[NVME_ADM_CREATE_CQ], 9);
}

static void test_number_of_queues_limits_qids(void **state)
{
	struct nvme_model_config k = { .size = NS_BYTES, .queues = 2 };
	struct nvme_cqe e;

	(void)state;
	teardown(NULL);
	add(&k);
	msix_on();
	enable();
	/* Ask for 1 SQ and 1 CQ: like QEMU 7.2, the controller allocates all it offers
	 * (2 pairs, 0-based 1), and qids beyond that are invalid. */
	e = admin((struct nvme_sqe){ .opc = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES,
				     .cdw11 = 0u << 16 | 0u });
	assert_int_equal(st(e), 0);
	assert_int_equal(e.dw0, 1u << 16 | 1u);
	assert_int_equal(st(admin(create_cq_cmd(3, 7, IOCQ, 0, 3))), 0x101);
	assert_int_equal(st(admin(create_cq_cmd(2, 7, IOCQ, 0, 3))), 0);
	assert_int_equal(st(admin(create_sq_cmd(3, 7, IOSQ, 2, 1))), 0x101);
	assert_int_equal(st(admin(create_sq_cmd(2, 7, IOSQ, 2, 1))), 0);
	/* Once a queue exists the allocation is fixed: Command Sequence Error (QEMU 7.2). */
	e = admin((struct nvme_sqe){ .opc = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES,
				     .cdw11 = 0u << 16 | 0u });
	assert_int_equal(st(e), NVME_SC_CMD_SEQ_ERROR);
	/* A reset forgets the queues: Number of Queues is accepted again. */
	wr(nb + NVME_REG_CC, 4, 0);
	enable();
	e = admin((struct nvme_sqe){ .opc = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES,
				     .cdw11 = 0u << 16 | 0u });
	assert_int_equal(st(e), 0);
}

static void test_vector_without_msix(void **state)
{
	(void)state;
	cfg_wr(msix_cap() + 2, 2, 0);                    /* MSI-X off: only vector 0 */
	assert_int_equal(st(admin(create_cq_cmd(1, 7, IOCQ, 1, 3))), 0x108);
	assert_int_equal(st(admin(create_cq_cmd(1, 7, IOCQ, 0, 3))), 0);
}

static void test_identify_namespaces(void **state)
{
	struct nvme_model_config k = { .size = 4u << 20, .ns = 2, .lbads = 12 };
	const struct nvme_id_ctrl *id;
	const struct nvme_id_ns *ns;
	const uint32_t *list;

	(void)state;
	teardown(NULL);
	add(&k);
	id = (const void *)(fb.ram + DATA);
	ns = (const void *)(fb.ram + DATA + 0x1000);
	list = (const void *)(fb.ram + DATA + 0x2000);
	msix_on();
	enable();
	assert_int_equal(st(admin((struct nvme_sqe){ .opc = NVME_ADM_IDENTIFY, .prp1 = DATA,
						     .cdw10 = NVME_CNS_CTRL })), 0);
	assert_int_equal(id->nn, 2);
	assert_int_equal(id->mdts, 7);
	assert_int_equal(id->oncs, NVME_ONCS_DSM | NVME_ONCS_WRITE_ZEROES);
	assert_true(id->vwc & NVME_VWC_PRESENT);
	assert_int_equal(st(admin((struct nvme_sqe){ .opc = NVME_ADM_IDENTIFY, .nsid = 2,
						     .prp1 = DATA + 0x1000, .cdw10 = NVME_CNS_NS })), 0);
	assert_int_equal(ns->nsze, (2u << 20) / 4096);
	assert_int_equal(ns->lbaf[0].lbads, 12);
	assert_int_equal(st(admin((struct nvme_sqe){ .opc = NVME_ADM_IDENTIFY, .nsid = 3,
						     .prp1 = DATA + 0x1000, .cdw10 = NVME_CNS_NS })),
			 NVME_SC_INVALID_NS);
	assert_int_equal(st(admin((struct nvme_sqe){ .opc = NVME_ADM_IDENTIFY, .nsid = 0,
						     .prp1 = DATA + 0x2000, .cdw10 = NVME_CNS_NS_LIST })), 0);
	assert_int_equal(list[0], 1);
	assert_int_equal(list[1], 2);
	assert_int_equal(list[2], 0);
}

/* ---- NVM I/O ---------------------------------------------------------------------------- */

static void test_read_write_round_trip(void **state)
{
	uint8_t back[1024];

	(void)state;
	ioq_create(1);
	fill(DATA, 1024, 3);
	/* PRP1 at an offset inside its page, 1 KiB: PRP1 alone. */
	assert_int_equal(st(io(rw_cmd(NVME_CMD_WRITE, 1, 10, 2, DATA + 0x200, 0))), 0);
	memcpy(back, fb.ram + DATA + 0x200, 1024);
	assert_int_equal(st(io(rw_cmd(NVME_CMD_READ, 1, 10, 2, DATA + 0x10000, 0))), 0);
	assert_memory_equal(fb.ram + DATA + 0x10000, back, 1024);
	assert_int_equal(nvme_model_ns_access(0, 1, 10, back, 2, false), 0);
	assert_memory_equal(fb.ram + DATA + 0x200, back, 1024);
	/* Flush; Write then read across two pages with PRP2. */
	assert_int_equal(st(io((struct nvme_sqe){ .opc = NVME_CMD_FLUSH, .nsid = 1 })), 0);
	fill(DATA + 0xE00, 1024, 9);
	assert_int_equal(st(io(rw_cmd(NVME_CMD_WRITE, 1, 0, 2, DATA + 0xE00, DATA + 0x1000))), 0);
	assert_int_equal(nvme_model_ns_access(0, 1, 0, back, 2, false), 0);
	assert_memory_equal(fb.ram + DATA + 0xE00, back, 1024);
	assert_int_equal(stats().writes, 2);
	assert_int_equal(stats().reads, 1);
	assert_int_equal(stats().bytes_written, 2048);
	assert_int_equal(stats().io_ops[NVME_CMD_FLUSH], 1);
}

static void test_prp_list_crossing_pages(void **state)
{
	/* 128 KiB = 32 pages at PRP1 offset 0: PRP1 + 31 list entries. The list starts 8
	 * entries before the end of its page, so its last slot chains to a second page. */
	uint64_t list1 = LIST + NVME_PAGE - 8 * 8, list2 = LIST + 2 * NVME_PAGE;
	uint64_t *l1 = (uint64_t *)(fb.ram + list1), *l2 = (uint64_t *)(fb.ram + list2);
	const unsigned pages = 32;
	uint8_t *back = malloc(pages * NVME_PAGE);
	uint64_t page[32];

	(void)state;
	assert_non_null(back);
	ioq_create(1);
	for (unsigned i = 0; i < pages; i++)    /* pages scattered backwards */
		page[i] = DATA + (uint64_t)(pages - 1 - i) * 2 * NVME_PAGE;
	for (unsigned i = 0; i < 7; i++)
		l1[i] = page[1 + i];
	l1[7] = list2;
	for (unsigned i = 0; i < pages - 8; i++)
		l2[i] = page[8 + i];
	for (unsigned i = 0; i < pages; i++)
		fill(page[i], NVME_PAGE, (uint8_t)i);
	assert_int_equal(st(io(rw_cmd(NVME_CMD_WRITE, 1, 64, pages * 8, page[0], list1))), 0);
	assert_int_equal(nvme_model_ns_access(0, 1, 64, back, pages * 8, false), 0);
	for (unsigned i = 0; i < pages; i++)
		assert_memory_equal(back + (size_t)i * NVME_PAGE, fb.ram + page[i], NVME_PAGE);
	/* Read it back through the same list into cleared pages. */
	for (unsigned i = 0; i < pages; i++)
		memset(fb.ram + page[i], 0, NVME_PAGE);
	assert_int_equal(st(io(rw_cmd(NVME_CMD_READ, 1, 64, pages * 8, page[0], list1))), 0);
	for (unsigned i = 0; i < pages; i++)
		assert_memory_equal(back + (size_t)i * NVME_PAGE, fb.ram + page[i], NVME_PAGE);
	/* A list entry with an offset, a chain pointer with an offset, a list pointer not
	 * qword aligned, PRP2 with an offset for a two-page transfer, PRP1 not dword aligned. */
	l1[3] |= 0x200;
	assert_int_equal(st(io(rw_cmd(NVME_CMD_READ, 1, 64, pages * 8, page[0], list1))),
			 NVME_SC_PRP_OFFSET_INVALID);
	l1[3] &= ~0x200ull;
	l1[7] |= 0x40;
	assert_int_equal(st(io(rw_cmd(NVME_CMD_READ, 1, 64, pages * 8, page[0], list1))),
			 NVME_SC_PRP_OFFSET_INVALID);
	l1[7] &= ~0x40ull;
	assert_int_equal(st(io(rw_cmd(NVME_CMD_READ, 1, 64, pages * 8, page[0], list1 + 4))),
			 NVME_SC_PRP_OFFSET_INVALID);
	assert_int_equal(st(io(rw_cmd(NVME_CMD_READ, 1, 0, 16, DATA, DATA + 0x1800))),
			 NVME_SC_PRP_OFFSET_INVALID);
	assert_int_equal(st(io(rw_cmd(NVME_CMD_READ, 1, 0, 1, DATA + 2, 0))),
			 NVME_SC_PRP_OFFSET_INVALID);
	free(back);
}

static void test_io_errors(void **state)
{
	uint64_t blocks = NS_BYTES / 512;

	(void)state;
	ioq_create(1);
	/* LBA out of range: start beyond, end beyond; fine at the last block. */
	assert_int_equal(st(io(rw_cmd(NVME_CMD_READ, 1, blocks, 1, DATA, 0))), NVME_SC_LBA_RANGE);
	assert_int_equal(st(io(rw_cmd(NVME_CMD_WRITE, 1, blocks - 1, 2, DATA, 0))), NVME_SC_LBA_RANGE);
	assert_int_equal(st(io(rw_cmd(NVME_CMD_READ, 1, blocks - 1, 1, DATA, 0))), 0);
	/* MDTS 7: 512 KiB allowed, one block more is Invalid Field. */
	assert_int_equal(st(io(rw_cmd(NVME_CMD_READ, 1, 0, 1025, DATA, LIST))), NVME_SC_INVALID_FIELD);
	/* Invalid namespace: 0, 2, broadcast for a Read. */
	assert_int_equal(st(io(rw_cmd(NVME_CMD_READ, 0, 0, 1, DATA, 0))), NVME_SC_INVALID_NS);
	assert_int_equal(st(io(rw_cmd(NVME_CMD_READ, 2, 0, 1, DATA, 0))), NVME_SC_INVALID_NS);
	assert_int_equal(st(io(rw_cmd(NVME_CMD_READ, 0xFFFFFFFFu, 0, 1, DATA, 0))), NVME_SC_INVALID_NS);
	assert_int_equal(st(io((struct nvme_sqe){ .opc = NVME_CMD_FLUSH, .nsid = 0xFFFFFFFFu })), 0);
	/* Invalid opcode (Compare is not offered); a DMA the IOMMU blocks. */
	assert_int_equal(st(io(rw_cmd(NVME_CMD_COMPARE, 1, 0, 1, DATA, 0))), NVME_SC_INVALID_OPCODE);
	fb.dma_block_base = DATA + 0x3000;
	fb.dma_block_len = 0x1000;
	assert_int_equal(st(io(rw_cmd(NVME_CMD_READ, 1, 0, 8, DATA + 0x3000, 0))),
			 NVME_SC_DATA_XFER_ERROR);
	fb.dma_block_len = 0;
	assert_int_equal(stats().io_errors, 8);
	assert_int_equal(rd(nb + NVME_REG_CSTS, 4) & NVME_CSTS_CFS, 0);
}

static void test_dsm_and_write_zeroes(void **state)
{
	struct nvme_dsm_range *r = (struct nvme_dsm_range *)(fb.ram + DATA + 0x8000);
	uint8_t back[4096], zero[4096] = { 0 };

	(void)state;
	ioq_create(1);
	fill(DATA, 4096, 5);
	assert_int_equal(st(io(rw_cmd(NVME_CMD_WRITE, 1, 100, 8, DATA, 0))), 0);
	assert_int_equal(st(io(rw_cmd(NVME_CMD_WRITE, 1, 200, 8, DATA, 0))), 0);
	/* Deallocate 100..103 and 202..203: those read as zeros, the rest stays. */
	r[0] = (struct nvme_dsm_range){ .nlb = 4, .slba = 100 };
	r[1] = (struct nvme_dsm_range){ .nlb = 2, .slba = 202 };
	assert_int_equal(st(io((struct nvme_sqe){ .opc = NVME_CMD_DSM, .nsid = 1, .prp1 = DATA + 0x8000,
						  .cdw10 = 1, .cdw11 = NVME_DSM_AD })), 0);
	assert_int_equal(st(io(rw_cmd(NVME_CMD_READ, 1, 100, 8, DATA + 0x10000, 0))), 0);
	assert_memory_equal(fb.ram + DATA + 0x10000, zero, 2048);
	assert_memory_equal(fb.ram + DATA + 0x10000 + 2048, fb.ram + DATA + 2048, 2048);
	assert_int_equal(nvme_model_ns_access(0, 1, 202, back, 2, false), 0);
	assert_memory_equal(back, zero, 1024);
	/* A range beyond the namespace: LBA Out of Range, nothing deallocated. */
	r[0] = (struct nvme_dsm_range){ .nlb = 1, .slba = 104 };
	r[1] = (struct nvme_dsm_range){ .nlb = 1, .slba = NS_BYTES / 512 };
	assert_int_equal(st(io((struct nvme_sqe){ .opc = NVME_CMD_DSM, .nsid = 1, .prp1 = DATA + 0x8000,
						  .cdw10 = 1, .cdw11 = NVME_DSM_AD })), NVME_SC_LBA_RANGE);
	assert_int_equal(nvme_model_ns_access(0, 1, 104, back, 1, false), 0);
	assert_memory_equal(back, fb.ram + DATA + 2048, 512);
	/* Write Zeroes 205..207. */
	assert_int_equal(st(io(rw_cmd(NVME_CMD_WRITE_ZEROES, 1, 205, 3, 0, 0))), 0);
	assert_int_equal(nvme_model_ns_access(0, 1, 204, back, 4, false), 0);
	assert_memory_equal(back, fb.ram + DATA + 2048, 512);
	assert_memory_equal(back + 512, zero, 1536);
	assert_int_equal(st(io(rw_cmd(NVME_CMD_WRITE_ZEROES, 1, NS_BYTES / 512 - 1, 2, 0, 0))),
			 NVME_SC_LBA_RANGE);
}

static void test_file_backing(void **state)
{
	char path[] = "/tmp/doppel-nvme-test-XXXXXX";
	int fd = mkstemp(path);
	struct nvme_model_config k = { .size = NS_BYTES, .ns = 2 };
	uint8_t back[1024];

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	teardown(NULL);
	k.path = path;
	add(&k);
	msix_on();
	enable();
	ioq_create(1);
	fill(DATA, 1024, 11);
	assert_int_equal(st(io(rw_cmd(NVME_CMD_WRITE, 1, 3, 2, DATA, 0))), 0);
	assert_int_equal(st(io(rw_cmd(NVME_CMD_WRITE, 2, 0, 1, DATA, 0))), 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, back, 1024, 3 * 512), 1024);      /* ns 1 at offset 0 */
	assert_memory_equal(back, fb.ram + DATA, 1024);
	assert_int_equal(pread(fd, back, 512, NS_BYTES / 2), 512);    /* ns 2 after it */
	assert_memory_equal(back, fb.ram + DATA, 512);
	close(fd);
	unlink(path);
}

/* ---- queues, aborts, interrupts, reset --------------------------------------------------- */

static void test_abort_queued_command(void **state)
{
	struct nvme_cqe e;
	uint16_t victim;

	(void)state;
	ioq_create(1);
	/* Two reads queued, not run; then Abort of the second. The SQs are served round
	 * robin one command a step from the one after the last served (the admin SQ):
	 * read 1, the Abort, then the victim, which is found marked. */
	io_submit(rw_cmd(NVME_CMD_READ, 1, 0, 1, DATA, 0));
	victim = io_submit(rw_cmd(NVME_CMD_READ, 1, 1, 1, DATA + 0x1000, 0));
	e = admin((struct nvme_sqe){ .opc = NVME_ADM_ABORT, .cdw10 = (uint32_t)victim << 16 | 1 });
	assert_int_equal(e.dw0 & NVME_ABORT_NOT_ABORTED, 0);
	e = io_reap();
	assert_int_equal(st(e), 0);
	e = io_reap();
	assert_int_equal(e.cid, victim);
	assert_int_equal(st(e), NVME_SC_ABORT_REQUESTED);
	assert_int_equal(stats().aborted, 1);
	/* Abort of a command that is not there: DW0 bit 0 set. */
	e = admin((struct nvme_sqe){ .opc = NVME_ADM_ABORT, .cdw10 = 0x7777u << 16 | 1 });
	assert_int_equal(st(e), 0);
	assert_int_equal(e.dw0 & NVME_ABORT_NOT_ABORTED, 1);
	/* Abort naming an SQ that does not exist: Invalid Field, not aborted (QEMU 7.2). */
	e = admin((struct nvme_sqe){ .opc = NVME_ADM_ABORT, .cdw10 = 0x7777u << 16 | 5 });
	assert_int_equal(st(e), NVME_SC_INVALID_FIELD);
	assert_int_equal(e.dw0 & NVME_ABORT_NOT_ABORTED, 1);
}

static void test_delete_sq_aborts_queued_commands(void **state)
{
	struct nvme_cqe e;
	uint16_t first, second, third;

	(void)state;
	ioq_create(1);
	/* Three reads queued, not run; then Delete I/O SQ. Served round robin: the
	 * first read runs, then the deletion, which ends the other two with
	 * Command Aborted due to SQ Deletion (§5.6), in order, on the SQ's CQ. */
	first = io_submit(rw_cmd(NVME_CMD_READ, 1, 0, 1, DATA, 0));
	second = io_submit(rw_cmd(NVME_CMD_READ, 1, 1, 1, DATA + 0x1000, 0));
	third = io_submit(rw_cmd(NVME_CMD_READ, 1, 2, 1, DATA + 0x2000, 0));
	assert_int_equal(st(admin((struct nvme_sqe){ .opc = NVME_ADM_DELETE_SQ, .cdw10 = 1 })), 0);
	e = io_reap();
	assert_int_equal(e.cid, first);
	assert_int_equal(st(e), 0);
	e = io_reap();
	assert_int_equal(e.cid, second);
	assert_int_equal(st(e), NVME_SC_ABORTED_SQ_DELETION);
	assert_int_equal(e.sq_id, 1);
	e = io_reap();
	assert_int_equal(e.cid, third);
	assert_int_equal(st(e), NVME_SC_ABORTED_SQ_DELETION);
	assert_int_equal(stats().reads, 1);
	assert_int_equal(stats().lost, 0);
	/* The CQ can go now; nothing more arrives on it. */
	assert_int_equal(st(admin((struct nvme_sqe){ .opc = NVME_ADM_DELETE_CQ, .cdw10 = 1 })), 0);
}

static void test_cq_full_back_pressure(void **state)
{
	(void)state;
	ioq_create(1);
	/* The CQ holds QS-1 entries: the QS-th command waits in the SQ until the head moves. */
	for (unsigned i = 0; i < QS - 1; i++)
		io_submit((struct nvme_sqe){ .opc = NVME_CMD_FLUSH, .nsid = 1 });
	run();
	assert_int_equal(stats().io_ops[NVME_CMD_FLUSH], QS - 1);
	io_submit((struct nvme_sqe){ .opc = NVME_CMD_FLUSH, .nsid = 1 });
	run();
	assert_int_equal(stats().io_ops[NVME_CMD_FLUSH], QS - 1);   /* not fetched */
	assert_false(nvme_model_has_work());
	io_reap();                                                  /* head moves by one */
	assert_true(nvme_model_has_work());
	run();
	assert_int_equal(stats().io_ops[NVME_CMD_FLUSH], QS);
	assert_int_equal(stats().bad_doorbell, 0);
	/* With every entry consumed, a head doorbell one further passes the tail: refused
	 * and counted, as is an SQ tail beyond the queue size. */
	for (unsigned i = 0; i < QS - 1; i++)
		io_reap();
	wr(nb + NVME_CQ_HDBL(1, 0), 4, (iocq_head + 1) % QS);
	wr(nb + NVME_SQ_TDBL(1, 0), 4, QS);
	assert_int_equal(stats().bad_doorbell, 2);
}

static void test_msix_per_cq_vector(void **state)
{
	unsigned before;

	(void)state;
	ioq_create(3);                              /* CQ 1 on MSI-X entry 3 */
	before = fb.nmsi;
	io((struct nvme_sqe){ .opc = NVME_CMD_FLUSH, .nsid = 1 });
	assert_int_equal(fb.nmsi, before + 1);
	assert_int_equal(fb.msis[fb.nmsi - 1].data, 0x43);
	/* Masked entry: no message; unmasking sends the pending one. */
	wr(nb + 0x2000 + 16 * 3 + 12, 4, 1);
	io((struct nvme_sqe){ .opc = NVME_CMD_FLUSH, .nsid = 1 });
	assert_int_equal(fb.nmsi, before + 1);
	assert_int_equal(rd(nb + 0x3000, 4) & (1u << 3), 1u << 3);
	wr(nb + 0x2000 + 16 * 3 + 12, 4, 0);
	assert_int_equal(fb.nmsi, before + 2);
	assert_int_equal(fb.msis[fb.nmsi - 1].data, 0x43);
	/* A polled CQ (IEN=0): no interrupt at all. */
	assert_int_equal(st(admin(create_cq_cmd(2, QS - 1, IOCQ + 0x1000, 2, NVME_CREATE_CQ_PC))), 0);
	assert_int_equal(st(admin(create_sq_cmd(2, QS - 1, IOSQ + 0x1000, 2, 1))), 0);
	before = fb.nmsi;
	memcpy(fb.ram + IOSQ + 0x1000, &(struct nvme_sqe){ .opc = NVME_CMD_FLUSH, .nsid = 1, .cid = 9 }, 64);
	wr(nb + NVME_SQ_TDBL(2, 0), 4, 1);
	run();
	assert_int_equal(cqe(IOCQ + 0x1000, 0).cid, 9);
	assert_int_equal(fb.nmsi, before);
}

static void test_cfs_and_reset_drop_queues(void **state)
{
	(void)state;
	ioq_create(1);
	io_submit((struct nvme_sqe){ .opc = NVME_CMD_FLUSH, .nsid = 1 });
	assert_int_equal(nvme_model_fault_cfs(0), 0);
	assert_false(nvme_model_has_work());                 /* CFS: nothing runs */
	run();
	assert_int_equal(stats().io_ops[NVME_CMD_FLUSH], 0);
	assert_int_equal(rd(nb + NVME_REG_CSTS, 4) & NVME_CSTS_CFS, NVME_CSTS_CFS);
	/* Reset: the queued command is lost, the I/O queues are gone. */
	wr(nb + NVME_REG_CC, 4, 0);
	assert_int_equal(rd(nb + NVME_REG_CSTS, 4), 0);
	assert_int_equal(stats().lost, 1);
	enable();
	wr(nb + NVME_SQ_TDBL(1, 0), 4, 1);
	assert_int_equal(stats().bad_doorbell, 1);
	assert_true(fake_bus_logged(&fb, "SQ 1 tail doorbell: no such queue"));
	/* Shutdown notification completes. */
	wr(nb + NVME_REG_CC, 4, NVME_CC_EN | NVME_CC_SHN_NORMAL);
	assert_int_equal(rd(nb + NVME_REG_CSTS, 4) & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_DONE);
}

/* ---- fault sites ---------------------------------------------------------------------- */

static void test_fault_timeout_and_abort(void **state)
{
	struct nvme_cqe e;
	uint16_t cid;

	(void)state;
	ioq_create(1);
	fake_bus_fault_set(&fb, "nvme.cmd_timeout", 0, 1);
	cid = io_submit((struct nvme_sqe){ .opc = NVME_CMD_FLUSH, .nsid = 1 });
	run();
	assert_false(io_cqe_ready());                        /* consumed, never completed */
	assert_int_equal(stats().faults[NVME_FAULT_CMD_TIMEOUT], 1);
	assert_true(fake_bus_logged(&fb, "fault site nvme.cmd_timeout fired on SQ 1"));
	e = admin((struct nvme_sqe){ .opc = NVME_ADM_ABORT, .cdw10 = (uint32_t)cid << 16 | 1 });
	assert_int_equal(e.dw0 & NVME_ABORT_NOT_ABORTED, 0);
	run();
	e = io_reap();
	assert_int_equal(e.cid, cid);
	assert_int_equal(st(e), NVME_SC_ABORT_REQUESTED);
}

static void test_fault_duplicate_wrong_cid_media(void **state)
{
	struct nvme_cqe e;
	uint16_t cid;

	(void)state;
	ioq_create(1);
	fake_bus_fault_set(&fb, "nvme.cqe_duplicate", 0, 1);
	cid = io_submit((struct nvme_sqe){ .opc = NVME_CMD_FLUSH, .nsid = 1 });
	run();
	assert_int_equal(io_reap().cid, cid);
	assert_int_equal(io_reap().cid, cid);               /* posted twice */
	assert_int_equal(stats().cqes_posted, 2 + 2);       /* + the two queue creations */
	fake_bus_fault_set(&fb, "nvme.cqe_wrong_cid", 0, 1);
	cid = io_submit((struct nvme_sqe){ .opc = NVME_CMD_FLUSH, .nsid = 1 });
	run();
	e = io_reap();
	assert_int_not_equal(e.cid, cid);
	fake_bus_fault_set(&fb, "nvme.media_error", 0, 1);
	e = io(rw_cmd(NVME_CMD_READ, 1, 0, 1, DATA, 0));
	assert_int_equal(st(e), NVME_SCT_MEDIA << 8 | NVME_SC_UNRECOVERED_READ);
	assert_int_equal(st(io(rw_cmd(NVME_CMD_READ, 1, 0, 1, DATA, 0))), 0);   /* once only */
	assert_int_equal(stats().faults[NVME_FAULT_MEDIA_ERROR], 1);
	assert_int_equal(stats().faults[NVME_FAULT_CQE_WRONG_CID], 1);
	assert_int_equal(stats().faults[NVME_FAULT_CQE_DUPLICATE], 1);
}

static void test_fault_slow_and_cfs(void **state)
{
	uint16_t cid;

	(void)state;
	ioq_create(1);
	fb.now = 1000;
	fake_bus_fault_set(&fb, "nvme.slow", 0, 1);
	cid = io_submit((struct nvme_sqe){ .opc = NVME_CMD_FLUSH, .nsid = 1 });
	run();
	assert_false(io_cqe_ready());                        /* held back */
	assert_int_equal(nvme_model_next_event_ns(), 1000 + 10000000ull);
	fb.now += 10000000ull;
	assert_true(nvme_model_has_work());
	run();
	assert_int_equal(io_reap().cid, cid);
	fake_bus_fault_set(&fb, "nvme.cfs", 0, 1);
	io_submit((struct nvme_sqe){ .opc = NVME_CMD_FLUSH, .nsid = 1 });
	run();
	assert_false(io_cqe_ready());
	assert_int_equal(rd(nb + NVME_REG_CSTS, 4) & NVME_CSTS_CFS, NVME_CSTS_CFS);
	assert_int_equal(stats().faults[NVME_FAULT_CFS], 1);
}

static void test_bad_config_refused(void **state)
{
	struct nvme_model_config k = { .ns = 17 };

	(void)state;
	assert_int_equal(nvme_model_add_cfg(0, 5, &k, &fb.bus), -EINVAL);
	k = (struct nvme_model_config){ .lbads = 10 };
	assert_int_equal(nvme_model_add_cfg(0, 5, &k, &fb.bus), -EINVAL);
	k = (struct nvme_model_config){ .path = "/nonexistent-dir/x.img" };
	assert_int_equal(nvme_model_add_cfg(0, 5, &k, &fb.bus), -ENOENT);
	assert_true(fake_bus_logged(&fb, "bad configuration"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_delete_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_number_of_queues_limits_qids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vector_without_msix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identify_namespaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_write_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prp_list_crossing_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dsm_and_write_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_backing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_queued_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_sq_aborts_queued_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cq_full_back_pressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_per_cq_vector, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cfs_and_reset_drop_queues, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_timeout_and_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_duplicate_wrong_cid_media, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_slow_and_cfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_config_refused, setup, teardown),
	};

	return cmocka_run_group_tests_name("nvme_model", tests, NULL, NULL);
}
