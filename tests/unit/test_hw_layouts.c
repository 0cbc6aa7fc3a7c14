/*
 * test_hw_layouts.c — CMocka checks of hw/dev facts against the spec tables, written
 * as byte offsets and bit positions read from the documents (NVMe 1.4, AHCI 1.3.1,
 * SATA 3.2, QEMU's edu.rst, docs/pci.md "testdev"): a field placed or a bit shifted
 * wrongly in a header fails here, where the compile-time size asserts cannot see it.
 * Raw images are built byte by byte, then read through the header's structs/macros.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <hw/dev/ahci.h>
#include <hw/dev/edu.h>
#include <hw/dev/nvme.h>
#include <hw/dev/testdev.h>

static void put32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- NVMe ------------------------------------------------------------------------- */

static void test_nvme_registers(void **state)
{
	(void)state;
	/* §3.1 register map */
	assert_int_equal(NVME_REG_CC, 0x14);
	assert_int_equal(NVME_REG_CSTS, 0x1C);
	assert_int_equal(NVME_REG_AQA, 0x24);
	assert_int_equal(NVME_REG_ASQ, 0x28);
	assert_int_equal(NVME_REG_ACQ, 0x30);
	/* CC with EN, IOSQES 6 (19:16), IOCQES 4 (23:20): the well-known 0x00460001 */
	uint32_t cc = NVME_CC_EN | NVME_SQES_LOG2 << NVME_CC_IOSQES_SHIFT | NVME_CQES_LOG2 << NVME_CC_IOCQES_SHIFT;
	assert_int_equal(cc, 0x00460001u);
	assert_int_equal(NVME_CC_SHN_NORMAL, 1u << 14);
	assert_int_equal(NVME_CSTS_SHST_DONE, 0x8u);
	/* CAP: MQES 15:0, TO 31:24, DSTRD 35:32, CSS bit 37 (NVM), MPSMIN 51:48, MPSMAX 55:52 */
	uint64_t cap = 0x07FFull | 0x0Full << 24 | 0x2ull << 32 | 1ull << 37 | 0x1ull << 48 | 0x4ull << 52;
	assert_int_equal(nvme_cap_mqes(cap), 0x7FF);
	assert_int_equal(nvme_cap_to(cap), 0x0F);
	assert_int_equal(nvme_cap_dstrd(cap), 2);
	assert_true(cap & NVME_CAP_CSS_NVM);
	assert_int_equal(nvme_cap_css(cap), 1);
	assert_int_equal(nvme_cap_mpsmin(cap), 1);
	assert_int_equal(nvme_cap_mpsmax(cap), 4);
	assert_int_equal(NVME_MPS_BYTES(0), 4096);
	assert_int_equal(NVME_MPS_BYTES(4), 65536);
	/* doorbells: SQ y tail at 1000h + (2y)(4 << DSTRD), CQ y head at 1000h + (2y+1)(4 << DSTRD) */
	assert_int_equal(NVME_SQ_TDBL(0, 0), 0x1000);
	assert_int_equal(NVME_CQ_HDBL(0, 0), 0x1004);
	assert_int_equal(NVME_SQ_TDBL(1, 0), 0x1008);
	assert_int_equal(NVME_CQ_HDBL(1, 0), 0x100C);
	assert_int_equal(NVME_SQ_TDBL(3, 2), 0x1000 + 6 * 16);
	assert_int_equal(NVME_CQ_HDBL(3, 2), 0x1000 + 7 * 16);
	assert_int_equal(NVME_PCI_CLASS, 0x010802);
}

static void test_nvme_sqe_cqe(void **state)
{
	(void)state;
	/* SQE: CDW0 opcode 7:0, CID 31:16; NSID dword 1; PRP1 dwords 6-7; CDW10 dword 10 */
	uint8_t raw[64] = { 0 };
	put32(raw, 0x00AB0006u);            /* CID 0xAB, Identify */
	put32(raw + 4, 1);
	put32(raw + 24, 0x12345000u);
	put32(raw + 40, NVME_CNS_CTRL);
	put32(raw + 60, 0xC0FFEEu);         /* CDW15 */
	struct nvme_sqe s;
	memcpy(&s, raw, sizeof s);
	assert_int_equal(s.opc, NVME_ADM_IDENTIFY);
	assert_int_equal(s.cid, 0xAB);
	assert_int_equal(s.nsid, 1);
	assert_int_equal(s.prp1, 0x12345000u);
	assert_int_equal(s.cdw10, 1);
	assert_int_equal(s.cdw15, 0xC0FFEEu);

	/* CQE DW3: CID 15:0, P 16, SC 24:17, SCT 27:25, M 30, DNR 31 (§4.6, §4.6.1) */
	uint8_t cr[16] = { 0 };
	put32(cr, 0x11223344u);
	put32(cr + 8, 0x0002000Fu);         /* SQ ID 2, SQ head 15 */
	uint32_t dw3 = 0x0042u | 1u << 16 | (uint32_t)NVME_SC_INVALID_VECTOR << 17 |
		       (uint32_t)NVME_SCT_CMD_SPECIFIC << 25 | 1u << 31;
	put32(cr + 12, dw3);
	struct nvme_cqe c;
	memcpy(&c, cr, sizeof c);
	assert_int_equal(c.dw0, 0x11223344u);
	assert_int_equal(c.sq_head, 15);
	assert_int_equal(c.sq_id, 2);
	assert_int_equal(c.cid, 0x42);
	assert_true(c.status & NVME_STATUS_P);
	assert_true(c.status & NVME_STATUS_DNR);
	assert_false(c.status & NVME_STATUS_M);
	assert_int_equal(nvme_status_sc(c.status), NVME_SC_INVALID_VECTOR);
	assert_int_equal(nvme_status_sct(c.status), NVME_SCT_CMD_SPECIFIC);
	/* the More bit is DW3 bit 30 */
	put32(cr + 12, 1u << 30);
	memcpy(&c, cr, sizeof c);
	assert_int_equal(c.status, NVME_STATUS_M);
}

static void test_nvme_identify(void **state)
{
	(void)state;
	/* Identify Controller byte offsets, §5.15.2.2 */
	assert_int_equal(offsetof(struct nvme_id_ctrl, sn), 4);
	assert_int_equal(offsetof(struct nvme_id_ctrl, mn), 24);
	assert_int_equal(offsetof(struct nvme_id_ctrl, fr), 64);
	assert_int_equal(offsetof(struct nvme_id_ctrl, mdts), 77);
	assert_int_equal(offsetof(struct nvme_id_ctrl, cntlid), 78);
	assert_int_equal(offsetof(struct nvme_id_ctrl, acl), 258);
	assert_int_equal(offsetof(struct nvme_id_ctrl, cqes), 513);
	assert_int_equal(offsetof(struct nvme_id_ctrl, maxcmd), 514);
	assert_int_equal(offsetof(struct nvme_id_ctrl, fuses), 522);
	assert_int_equal(offsetof(struct nvme_id_ctrl, awun), 526);
	assert_int_equal(offsetof(struct nvme_id_ctrl, mnan), 540);
	assert_int_equal(offsetof(struct nvme_id_ctrl, vs), 3072);
	/* Identify Namespace, §5.15.2.1: NSZE 0, NCAP 8, NUSE 16, NLBAF 25, LBAF0 at 128 */
	assert_int_equal(offsetof(struct nvme_id_ns, ncap), 8);
	assert_int_equal(offsetof(struct nvme_id_ns, nuse), 16);
	assert_int_equal(offsetof(struct nvme_id_ns, nlbaf), 25);
	assert_int_equal(offsetof(struct nvme_id_ns, noiob), 46);
	assert_int_equal(offsetof(struct nvme_id_ns, nvmcap), 48);
	assert_int_equal(offsetof(struct nvme_id_ns, lbaf), 128);
	assert_int_equal(offsetof(struct nvme_id_ns, lbaf[15]), 188);
	assert_int_equal(offsetof(struct nvme_id_ns, vs), 384);
	/* LBA format dword: MS 15:0, LBADS 23:16, RP 25:24 */
	static uint8_t img[4096];
	memset(img, 0, sizeof img);
	put32(img + 128 + 4 * 2, 8u | 12u << 16 | 2u << 24);     /* LBAF2: 4 KiB + 8 B, RP 2 */
	img[26] = 2 | NVME_FLBAS_EXTENDED;
	const struct nvme_id_ns *ns = (const void *)img;
	assert_int_equal(ns->flbas & NVME_FLBAS_INDEX_MASK, 2);
	assert_int_equal(ns->lbaf[2].ms, 8);
	assert_int_equal(ns->lbaf[2].lbads, 12);
	assert_int_equal(ns->lbaf[2].rp, 2);
	/* DSM range: context attributes, length, starting LBA (16 bytes) */
	assert_int_equal(offsetof(struct nvme_dsm_range, nlb), 4);
	assert_int_equal(offsetof(struct nvme_dsm_range, slba), 8);
}

/* ---- AHCI and FIS ----------------------------------------------------------------- */

static void test_ahci_registers(void **state)
{
	(void)state;
	assert_int_equal(AHCI_CAP2, 0x24);
	assert_int_equal(AHCI_BOHC, 0x28);
	/* port p at 100h + p * 80h; PxCMD 18h, PxTFD 20h, PxSSTS 28h, PxCI 38h, PxDEVSLP 44h */
	assert_int_equal(AHCI_PORT(0) + AHCI_PxCLB, 0x100);
	assert_int_equal(AHCI_PORT(3) + AHCI_PxCI, 0x2B8);
	assert_int_equal(AHCI_PORT(31) + AHCI_PxDEVSLP, 0x100 + 31 * 0x80 + 0x44);
	assert_int_equal(AHCI_PORT(1) + AHCI_PxSSTS, 0x1A8);
	assert_int_equal(AHCI_PxTFD, 0x20);
	assert_int_equal(AHCI_PxSACT, 0x34);
	/* CAP: NP 4:0, NCS 12:8, ISS 23:20, SNCQ 30, S64A 31 */
	uint32_t cap = 5u | 31u << 8 | 3u << 20 | 1u << 30 | 1u << 31;
	assert_int_equal(cap & AHCI_CAP_NP_MASK, 5);
	assert_int_equal((cap & AHCI_CAP_NCS_MASK) >> AHCI_CAP_NCS_SHIFT, 31);
	assert_int_equal((cap & AHCI_CAP_ISS_MASK) >> AHCI_CAP_ISS_SHIFT, 3);
	assert_true(cap & AHCI_CAP_SNCQ);
	assert_true(cap & AHCI_CAP_S64A);
	/* PxCMD ST 0, FRE 4, FR 14, CR 15; PxIS TFES 30 */
	assert_int_equal(AHCI_PxCMD_ST | AHCI_PxCMD_FRE | AHCI_PxCMD_FR | AHCI_PxCMD_CR, 0xC011u);
	assert_int_equal(AHCI_PxIS_TFES, 0x40000000u);
	/* SSTS 0x123: Gen2, active, device present with Phy communication */
	uint32_t ssts = 0x123;
	assert_int_equal(ssts & AHCI_SSTS_DET_MASK, AHCI_SSTS_DET_PRESENT);
	assert_int_equal((ssts & AHCI_SSTS_SPD_MASK) >> AHCI_SSTS_SPD_SHIFT, 2);
	assert_int_equal(ssts & AHCI_SSTS_IPM_MASK, AHCI_SSTS_IPM_ACTIVE);
	assert_int_equal(AHCI_SIG_ATAPI, 0xEB140101u);
}

static void test_ahci_structures(void **state)
{
	(void)state;
	/* Command header: DW0 CFL 4:0, W 6, PRDTL 31:16; DW2 CTBA */
	uint8_t raw[32] = { 0 };
	put32(raw, 5u | 1u << 6 | 3u << 16);
	put32(raw + 8, 0xABCD0080u);
	struct ahci_cmd_hdr h;
	memcpy(&h, raw, sizeof h);
	assert_int_equal(h.flags & AHCI_CMDH_CFL_MASK, FIS_H2D_CFL);
	assert_true(h.flags & AHCI_CMDH_W);
	assert_int_equal(h.prdtl, 3);
	assert_int_equal(h.ctba, 0xABCD0080u);
	assert_int_equal(AHCI_CMD_LIST_BYTES, AHCI_MAX_SLOTS * sizeof(struct ahci_cmd_hdr));
	/* Command table: ACMD at 40h, PRDT at 80h */
	assert_int_equal(offsetof(struct ahci_cmd_table, acmd), 0x40);
	assert_int_equal(offsetof(struct ahci_cmd_table, prdt[1]), 0x90);
	/* PRD DW3: DBC 21:0 is the byte count minus one, I bit 31; 4 MiB at most */
	assert_int_equal(AHCI_PRD_DBC_MASK, (1u << 22) - 1);
	assert_int_equal(AHCI_PRD_DBC(AHCI_PRD_MAX_BYTES), 0x3FFFFFu);
	assert_int_equal(AHCI_PRD_DBC(512), 511);
	assert_int_equal(AHCI_PRD_DBC(512) & 1, 1);     /* an even count: bit 0 set */
	assert_int_equal(offsetof(struct ahci_prd, dbc_i), 12);
	/* received FIS area: DSFIS 00h, PSFIS 20h, RFIS 40h, SDBFIS 58h, UFIS 60h */
	assert_int_equal(offsetof(struct ahci_rx_fis, dsfis), 0x00);
	assert_int_equal(offsetof(struct ahci_rx_fis, psfis), 0x20);
	assert_int_equal(offsetof(struct ahci_rx_fis, rfis), 0x40);
	assert_int_equal(offsetof(struct ahci_rx_fis, sdbfis), 0x58);
	assert_int_equal(offsetof(struct ahci_rx_fis, ufis), 0x60);
}

static void test_fis_layouts(void **state)
{
	(void)state;
	/* Register H2D: type, PM/C, command, features 7:0, LBA 7:0..23:16, device,
	 * LBA 31:24..47:40, features 15:8, count 7:0, count 15:8, ICC, control */
	assert_int_equal(offsetof(struct fis_reg_h2d, command), 2);
	assert_int_equal(offsetof(struct fis_reg_h2d, device), 7);
	assert_int_equal(offsetof(struct fis_reg_h2d, lba3), 8);
	assert_int_equal(offsetof(struct fis_reg_h2d, feature_hi), 11);
	assert_int_equal(offsetof(struct fis_reg_h2d, count_lo), 12);
	assert_int_equal(offsetof(struct fis_reg_h2d, control), 15);
	assert_int_equal(offsetof(struct fis_reg_d2h, status), 2);
	assert_int_equal(offsetof(struct fis_reg_d2h, error), 3);
	assert_int_equal(offsetof(struct fis_reg_d2h, count_hi), 13);
	assert_int_equal(offsetof(struct fis_sdb, sactive), 4);
	assert_int_equal(offsetof(struct fis_dma_setup, buf_id_lo), 4);
	assert_int_equal(offsetof(struct fis_dma_setup, count), 20);
	assert_int_equal(offsetof(struct fis_pio_setup, e_status), 15);
	assert_int_equal(offsetof(struct fis_pio_setup, xfer_count), 16);
	assert_int_equal(FIS_TYPE_REG_H2D, 0x27);
	assert_int_equal(FIS_TYPE_REG_D2H, 0x34);
	assert_int_equal(FIS_TYPE_SDB, 0xA1);
	assert_int_equal(FIS_TYPE_PIO_SETUP, 0x5F);
	assert_int_equal(FIS_TYPE_DMA_SETUP, 0x41);
	/* ATA opcodes and IDENTIFY words used by a driver */
	assert_int_equal(ATA_CMD_READ_FPDMA, 0x60);
	assert_int_equal(ATA_CMD_WRITE_DMA_EXT, 0x35);
	assert_int_equal(ATA_CMD_FLUSH_CACHE_EXT, 0xEA);
	assert_int_equal(ATA_ID_LBA48, 100);
	assert_int_equal(ATA_ID_LOGICAL_SIZE, 117);
	assert_int_equal(ATA_ID_DSM, 169);
}

/* ---- edu and testdev ------------------------------------------------------------- */

static void test_edu_testdev(void **state)
{
	(void)state;
	/* edu.rst "MMIO area spec" */
	assert_int_equal(EDU_REG_LIVENESS, 0x04);
	assert_int_equal(EDU_REG_FACT, 0x08);
	assert_int_equal(EDU_REG_STATUS, 0x20);
	assert_int_equal(EDU_REG_IRQ_STATUS, 0x24);
	assert_int_equal(EDU_REG_IRQ_RAISE, 0x60);
	assert_int_equal(EDU_REG_IRQ_ACK, 0x64);
	assert_int_equal(EDU_REG_DMA_SRC, 0x80);
	assert_int_equal(EDU_REG_DMA_CMD, 0x98);
	assert_int_equal(EDU_ID_VALUE & 0xFFFF, EDU_ID_MAGIC);
	assert_int_equal(EDU_BUF_ADDR, 0x40000);
	/* docs/pci.md "testdev (ours)" */
	assert_int_equal(TESTDEV_REG_RAISE, 0x00);
	assert_int_equal(TESTDEV_REG_LOWER, 0x04);
	assert_int_equal(TESTDEV_REG_COUNT, 0x08);
	assert_int_equal(1u << TESTDEV_MSI_LOG2, 32);
	assert_int_equal(TESTDEV_MSIX_TABLE_OFF + TESTDEV_MSIX_VECTORS * 16u, TESTDEV_MSIX_PBA_OFF);
	assert_true(TESTDEV_MSIX_PBA_OFF + TESTDEV_MSIX_VECTORS / 8u <= TESTDEV_BAR2_SIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nvme_registers),
		cmocka_unit_test(test_nvme_sqe_cqe),
		cmocka_unit_test(test_nvme_identify),
		cmocka_unit_test(test_ahci_registers),
		cmocka_unit_test(test_ahci_structures),
		cmocka_unit_test(test_fis_layouts),
		cmocka_unit_test(test_edu_testdev),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
