/*
 * test_ahci_model.c — CMocka tests of the AHCI HBA and SATA disk model
 * (models/ahci/) on the strict fake bus, stepped (no worker thread): the PCI
 * identity and generic host control (AHCI 1.3.1 §3.1), the port register rules and
 * the PxCMD ST/FRE/CR/FR state machine (§3.3, §10.3), COMRESET and the signature
 * FIS, IDENTIFY DEVICE words (ACS-3), READ/WRITE DMA EXT, NCQ with several tags and
 * its error log (page 10h), TRIM, FLUSH, PRDT byte-count rules (§4.2.3.3), the
 * interrupt (IS after PxIS, §10.7; INTx level, MSI), and every fault site.
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
#include <unistd.h>

#include <cmocka.h>

#include <hw/pci/config.h>
#include <hw/dev/ahci.h>
#include "fake_bus.h"
#include "ahci/ahci.h"
#include "ahci/ahci_model.h"
#include "pci/pci_model.h"

#define RAM_SIZE (8u << 20)
#define ECAM 0xB0000000ull
#define CFG (ECAM + (0x1fu << 15) + (2u << 12))
#define CLB 0x10000u            /* port p's command list: CLB + p * 0x1000 */
#define FB 0x18000u             /* port p's received FIS area: FB + p * 0x100 */
#define CT 0x20000u             /* slot s's command table: CT + s * 0x400 */
#define DATA 0x100000u
#define DISK_BYTES (1u << 20)
#define SECTORS (DISK_BYTES / 512u)
#define INTX_GSI 19u            /* 16 + (0x1f + 0) mod 4 */

static struct fake_bus fb;
static uint64_t abar;

static uint32_t rd(uint64_t a) { return (uint32_t)fake_bus_mmio_read(&fb, a, 4); }
static void wr(uint64_t a, uint32_t v) { fake_bus_mmio_write(&fb, a, 4, v); }
static uint32_t cfg_rd(unsigned off, unsigned size) { return (uint32_t)fake_bus_mmio_read(&fb, CFG + off, size); }
static void cfg_wr(unsigned off, unsigned size, uint32_t v) { fake_bus_mmio_write(&fb, CFG + off, size, v); }
static uint32_t prd(unsigned p, unsigned off) { return rd(abar + AHCI_PORT(p) + off); }
static void pwr(unsigned p, unsigned off, uint32_t v) { wr(abar + AHCI_PORT(p) + off, v); }

static void run(void)
{
	for (unsigned n = 0; ahci_model_step(); n++)
		assert_true(n < 10000);
}

static struct ahci_model_stats stats(void)
{
	struct ahci_model_stats s;

	assert_int_equal(ahci_model_stats(0, &s), 0);
	return s;
}

static void add(const struct ahci_model_config *k)
{
	struct pci_model_config cfg = { .ecam_base = ECAM, .bus_start = 0, .bus_end = 255 };

	fake_bus_init(&fb, RAM_SIZE);
	ahci_model_reset();
	assert_int_equal(pci_model_init(&cfg, &fb.bus), 0);
	assert_int_equal(ahci_model_add(0, 0x1f, 2, k, &fb.bus), 0);
	assert_int_equal(pci_model_firmware(0xC0000000ull, 0xFEBFFFFFull, 0xC000, 0xFFFF), 0);
	abar = cfg_rd(0x10 + 4 * AHCI_ABAR_BAR, 4) & ~0xFull;
	assert_true(abar != 0);
	cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_MEM | PCI_COMMAND_MASTER);
}

static int setup(void **state)
{
	struct ahci_model_config k = { 0 };

	(void)state;
	k.port[0] = (struct ahci_disk_config){ .present = true, .size = DISK_BYTES };
	k.port[2] = (struct ahci_disk_config){ .present = true, .size = DISK_BYTES, .no_ncq = true };
	add(&k);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ahci_model_reset();
	assert_int_equal(fb.bad_mem, 0);
	fake_bus_fini(&fb);
	return 0;
}

static void start(unsigned p)
{
	pwr(p, AHCI_PxCLB, CLB + p * 0x1000u);
	pwr(p, AHCI_PxCLBU, 0);
	pwr(p, AHCI_PxFB, FB + p * 0x100u);
	pwr(p, AHCI_PxFBU, 0);
	pwr(p, AHCI_PxCMD, AHCI_PxCMD_FRE);
	pwr(p, AHCI_PxSERR, 0xFFFFFFFFu);
	pwr(p, AHCI_PxIS, 0xFFFFFFFFu);
	wr(abar + AHCI_IS, 0xFFFFFFFFu);
	pwr(p, AHCI_PxCMD, AHCI_PxCMD_FRE | AHCI_PxCMD_ST);
	assert_true(prd(p, AHCI_PxCMD) & AHCI_PxCMD_CR);
}

static void stop(unsigned p)
{
	pwr(p, AHCI_PxCMD, AHCI_PxCMD_FRE);
	assert_false(prd(p, AHCI_PxCMD) & AHCI_PxCMD_CR);
}

struct seg { uint64_t addr; uint32_t bytes; };

/* Build slot's command: header, H2D FIS, PRDT. */
static void cmd(unsigned p, unsigned slot, uint8_t op, uint64_t lba, uint16_t count, uint16_t feat,
		bool w, const struct seg *segs, unsigned nseg)
{
	struct ahci_cmd_hdr h = { 0 };
	struct fis_reg_h2d f = { 0 };
	uint64_t ct = CT + slot * 0x400u;

	h.flags = (uint16_t)(FIS_H2D_CFL | (w ? AHCI_CMDH_W : 0));
	h.prdtl = (uint16_t)nseg;
	h.ctba = (uint32_t)ct;
	memcpy(fb.ram + CLB + p * 0x1000u + slot * 32u, &h, sizeof(h));
	f.type = FIS_TYPE_REG_H2D;
	f.pmp_c = FIS_H2D_C;
	f.command = op;
	f.device = ATA_DEV_LBA;
	f.lba0 = (uint8_t)lba; f.lba1 = (uint8_t)(lba >> 8); f.lba2 = (uint8_t)(lba >> 16);
	f.lba3 = (uint8_t)(lba >> 24); f.lba4 = (uint8_t)(lba >> 32); f.lba5 = (uint8_t)(lba >> 40);
	f.count_lo = (uint8_t)count; f.count_hi = (uint8_t)(count >> 8);
	f.feature_lo = (uint8_t)feat; f.feature_hi = (uint8_t)(feat >> 8);
	memset(fb.ram + ct, 0, 0x80);
	memcpy(fb.ram + ct, &f, sizeof(f));
	for (unsigned i = 0; i < nseg; i++) {
		struct ahci_prd e = { .dba = (uint32_t)segs[i].addr, .dbau = (uint32_t)(segs[i].addr >> 32),
				      .dbc_i = AHCI_PRD_DBC(segs[i].bytes) };
		memcpy(fb.ram + ct + 0x80 + i * 16u, &e, sizeof(e));
	}
}

static void ncq(unsigned p, unsigned tag, bool write, uint64_t lba, uint16_t count, uint64_t buf)
{
	struct seg s = { buf, count * 512u };

	cmd(p, tag, write ? ATA_CMD_WRITE_FPDMA : ATA_CMD_READ_FPDMA, lba,
	    (uint16_t)(tag << ATA_FPDMA_TAG_SHIFT), count, write, &s, 1);
}

static void issue(unsigned p, uint32_t slots)
{
	pwr(p, AHCI_PxCI, slots);
	run();
}

static uint32_t prdbc(unsigned p, unsigned slot)
{
	uint32_t v;

	memcpy(&v, fb.ram + CLB + p * 0x1000u + slot * 32u + 4, 4);
	return v;
}

static const uint8_t *rfis(unsigned p)
{
	return fb.ram + FB + p * 0x100u;
}

static void fill(uint64_t addr, uint32_t len, uint8_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		fb.ram[addr + i] = (uint8_t)(seed + i * 7u + (i >> 9));
}

/* ---- PCI identity and generic host control ------------------------------------------------ */

static void test_pci_identity_and_cap(void **state)
{
	uint32_t cap = rd(abar + AHCI_CAP);
	unsigned c;

	(void)state;
	assert_int_equal(cfg_rd(0, 2), 0x8086);
	assert_int_equal(cfg_rd(2, 2), 0x2922);
	assert_int_equal(cfg_rd(0x08, 4) >> 8, AHCI_PCI_CLASS);
	assert_int_equal(cfg_rd(PCI_INTERRUPT_PIN, 1), 1);
	for (c = cfg_rd(0x34, 1); c && cfg_rd(c, 1) != 0x05; c = cfg_rd(c + 1, 1))
		;
	assert_true(c != 0);                          /* an MSI capability */
	assert_int_equal(cfg_rd(c + 2, 2) >> 1 & 7, 0);  /* one message */
	assert_true(cap & AHCI_CAP_S64A);
	assert_true(cap & AHCI_CAP_SNCQ);
	assert_false(cap & AHCI_CAP_SSS);
	assert_int_equal(cap & AHCI_CAP_NP_MASK, 5);
	assert_int_equal((cap & AHCI_CAP_NCS_MASK) >> AHCI_CAP_NCS_SHIFT, 31);
	assert_int_equal(rd(abar + AHCI_PI), 0x3F);
	assert_int_equal(rd(abar + AHCI_VS), AHCI_VS_1_3_1);
	assert_int_equal(rd(abar + AHCI_CAP2) & AHCI_CAP2_BOH, 0);
	assert_true(rd(abar + AHCI_GHC) & AHCI_GHC_AE);
	wr(abar + AHCI_GHC, 0);                       /* AE stays: CAP.SAM */
	assert_true(rd(abar + AHCI_GHC) & AHCI_GHC_AE);
	assert_int_equal(rd(abar + AHCI_PORT(6) + AHCI_PxSSTS), 0);   /* port 6 not implemented */
	wr(abar + AHCI_PORT(6) + AHCI_PxCMD, 1);
	assert_true(fake_bus_logged(&fb, "not implemented"));
	fake_bus_mmio_read(&fb, abar + AHCI_CAP, 2);
	assert_true(stats().bad_access >= 2);
}

static void test_ports_initial_state(void **state)
{
	(void)state;
	assert_int_equal(prd(0, AHCI_PxSSTS) & AHCI_SSTS_DET_MASK, AHCI_SSTS_DET_PRESENT);
	assert_int_equal(prd(0, AHCI_PxSIG), AHCI_SIG_ATA);
	assert_int_equal(prd(0, AHCI_PxTFD) & 0xFF, 0x50);
	assert_int_equal(prd(1, AHCI_PxSSTS) & AHCI_SSTS_DET_MASK, AHCI_SSTS_DET_NONE);
	assert_int_equal(prd(1, AHCI_PxSIG), 0xFFFFFFFFu);
	assert_int_equal(prd(1, AHCI_PxTFD), 0x7F);
	assert_int_equal(prd(0, AHCI_PxCMD) & (AHCI_PxCMD_ST | AHCI_PxCMD_CR | AHCI_PxCMD_FR), 0);
}

/* ---- the PxCMD state machine and base registers ------------------------------------------- */

static void test_fre_delivers_signature_fis(void **state)
{
	(void)state;
	pwr(0, AHCI_PxFB, FB);
	pwr(0, AHCI_PxIE, AHCI_PxIS_DHRS);
	assert_int_equal(rfis(0)[0x40], 0);
	pwr(0, AHCI_PxCMD, AHCI_PxCMD_FRE);
	assert_true(prd(0, AHCI_PxCMD) & AHCI_PxCMD_FR);
	assert_int_equal(rfis(0)[0x40], FIS_TYPE_REG_D2H);
	assert_int_equal(rfis(0)[0x42], 0x50);
	assert_true(prd(0, AHCI_PxIS) & AHCI_PxIS_DHRS);
	assert_int_equal(rd(abar + AHCI_IS), 1);
}

static void test_st_rules(void **state)
{
	(void)state;
	pwr(0, AHCI_PxCLB, CLB);
	pwr(0, AHCI_PxCMD, AHCI_PxCMD_ST);            /* no FRE: refused */
	assert_int_equal(prd(0, AHCI_PxCMD) & (AHCI_PxCMD_ST | AHCI_PxCMD_CR), 0);
	assert_true(fake_bus_logged(&fb, "FRE=0"));
	pwr(1, AHCI_PxCLB, CLB + 0x1000);
	pwr(1, AHCI_PxFB, FB + 0x100);
	pwr(1, AHCI_PxCMD, AHCI_PxCMD_FRE | AHCI_PxCMD_ST);   /* no device: refused */
	assert_int_equal(prd(1, AHCI_PxCMD) & AHCI_PxCMD_ST, 0);
	assert_true(fake_bus_logged(&fb, "DET is not 3"));
	pwr(1, AHCI_PxCI, 1);                         /* CI with ST clear: ignored */
	assert_int_equal(prd(1, AHCI_PxCI), 0);
	start(0);
	pwr(0, AHCI_PxCLB, 0x40000);                  /* refused while running */
	assert_int_equal(prd(0, AHCI_PxCLB), CLB);
	pwr(0, AHCI_PxFB, 0x40000);
	assert_int_equal(prd(0, AHCI_PxFB), FB);
	pwr(0, AHCI_PxCMD, AHCI_PxCMD_ST);            /* FRE may not clear while ST */
	assert_true(prd(0, AHCI_PxCMD) & AHCI_PxCMD_FRE);
	pwr(0, AHCI_PxCMD, AHCI_PxCMD_FRE | AHCI_PxCMD_ST);
	pwr(0, AHCI_PxSACT, 0x6);
	pwr(0, AHCI_PxCMD, AHCI_PxCMD_FRE);           /* ST clear: CR, CI and SACT follow */
	assert_int_equal(prd(0, AHCI_PxCMD) & (AHCI_PxCMD_ST | AHCI_PxCMD_CR), 0);
	assert_int_equal(prd(0, AHCI_PxSACT), 0);
	pwr(0, AHCI_PxCMD, 0);
	assert_int_equal(prd(0, AHCI_PxCMD) & (AHCI_PxCMD_FRE | AHCI_PxCMD_FR), 0);
	pwr(0, AHCI_PxCLB, CLB + 0x123);              /* low bits reserved */
	assert_int_equal(prd(0, AHCI_PxCLB), CLB);
	assert_true(stats().refused >= 5);
}

static void test_comreset_resignature(void **state)
{
	(void)state;
	pwr(0, AHCI_PxFB, FB);
	pwr(0, AHCI_PxCMD, AHCI_PxCMD_FRE);
	memset(fb.ram + FB, 0, 256);
	pwr(0, AHCI_PxSCTL, AHCI_SCTL_DET_COMRESET);
	assert_int_equal(prd(0, AHCI_PxSSTS) & AHCI_SSTS_DET_MASK, AHCI_SSTS_DET_NOPHY);
	assert_true(prd(0, AHCI_PxTFD) & ATA_SR_BSY);
	assert_int_equal(prd(0, AHCI_PxSIG), 0xFFFFFFFFu);
	pwr(0, AHCI_PxSCTL, 0);
	assert_int_equal(prd(0, AHCI_PxSSTS), 0x113);
	assert_int_equal(prd(0, AHCI_PxSIG), AHCI_SIG_ATA);
	assert_int_equal(prd(0, AHCI_PxTFD), 0x150);
	assert_int_equal(rfis(0)[0x40], FIS_TYPE_REG_D2H);
	assert_int_equal(stats().comresets, 1);
	start(0);                                     /* COMRESET refused while ST=1 */
	pwr(0, AHCI_PxSCTL, AHCI_SCTL_DET_COMRESET);
	assert_int_equal(prd(0, AHCI_PxSCTL) & 0xF, 0);
}

/* ---- commands -------------------------------------------------------------------------------- */

static void test_identify(void **state)
{
	struct seg s = { DATA, 512 };
	uint16_t id[256];
	uint8_t sum = 0;

	(void)state;
	start(0);
	cmd(0, 0, ATA_CMD_IDENTIFY, 0, 0, 0, false, &s, 1);
	issue(0, 1);
	assert_int_equal(prd(0, AHCI_PxCI), 0);
	assert_int_equal(prdbc(0, 0), 512);
	assert_true(prd(0, AHCI_PxIS) & AHCI_PxIS_PSS);
	assert_true(prd(0, AHCI_PxIS) & AHCI_PxIS_DHRS);
	assert_int_equal(prd(0, AHCI_PxTFD), 0x50);
	memcpy(id, fb.ram + DATA, 512);
	assert_int_equal(id[ATA_ID_LBA48] | (uint32_t)id[ATA_ID_LBA48 + 1] << 16, SECTORS);
	assert_int_equal(id[ATA_ID_LBA48 + 2] | id[ATA_ID_LBA48 + 3], 0);
	assert_int_equal(id[ATA_ID_QUEUE_DEPTH] & ATA_ID_QDEPTH_MASK, 31);
	assert_true(id[ATA_ID_SATA_CAPS] & ATA_ID_SATA_NCQ);
	assert_true(id[ATA_ID_DSM] & ATA_ID_DSM_TRIM);
	assert_true(id[ATA_ID_CMDSET1] & ATA_ID_CMDSET1_WCACHE);
	assert_true(id[ATA_ID_CMDSET1_EN] & ATA_ID_CMDSET1_WCACHE);
	assert_true(id[ATA_ID_CMDSET2] & ATA_ID_CMDSET2_LBA48);
	assert_int_equal(id[ATA_ID_SECTOR_SIZE], ATA_ID_SECTOR_VALID);
	assert_true(id[ATA_ID_DSM_MAX] >= 1);
	assert_int_equal(id[ATA_ID_MODEL] >> 8, 'D');
	for (unsigned i = 0; i < 512; i++)
		sum = (uint8_t)(sum + fb.ram[DATA + i]);
	assert_int_equal(sum, 0);                     /* integrity word */
	assert_int_equal(stats().identifies, 1);
	/* The non-NCQ disk on port 2 says so. */
	start(2);
	cmd(2, 0, ATA_CMD_IDENTIFY, 0, 0, 0, false, &s, 1);
	issue(2, 1);
	memcpy(id, fb.ram + DATA, 512);
	assert_false(id[ATA_ID_SATA_CAPS] & ATA_ID_SATA_NCQ);
	assert_int_equal(id[ATA_ID_QUEUE_DEPTH], 0);
}

static void test_read_write_dma_ext(void **state)
{
	struct seg w[2] = { { DATA, 1024 }, { DATA + 0x10000, 3072 } };
	struct seg r[1] = { { DATA + 0x40000, 4096 } };
	uint8_t disk[4096];

	(void)state;
	start(0);
	fill(DATA, 1024, 1);
	fill(DATA + 0x10000, 3072, 9);
	cmd(0, 3, ATA_CMD_WRITE_DMA_EXT, 100, 8, 0, true, w, 2);
	issue(0, 1u << 3);
	assert_int_equal(prd(0, AHCI_PxCI), 0);
	assert_int_equal(prdbc(0, 3), 4096);
	assert_int_equal(ahci_model_disk_access(0, 0, 100, disk, 8, false), 0);
	assert_memory_equal(disk, fb.ram + DATA, 1024);
	assert_memory_equal(disk + 1024, fb.ram + DATA + 0x10000, 3072);
	cmd(0, 4, ATA_CMD_READ_DMA_EXT, 100, 8, 0, false, r, 1);
	issue(0, 1u << 4);
	assert_memory_equal(fb.ram + DATA + 0x40000, disk, 4096);
	assert_int_equal(stats().reads, 1);
	assert_int_equal(stats().writes, 1);
	assert_int_equal(stats().bytes_read, 4096);
	assert_true(fb.last_rid == (0x1f << 3 | 2));  /* DMA by the function's requester ID */
}

static void expect_tf_error(unsigned p, unsigned slot, uint8_t error)
{
	assert_int_equal(prd(p, AHCI_PxTFD), 0x41u | (uint32_t)error << 8);
	assert_true(prd(p, AHCI_PxIS) & AHCI_PxIS_TFES);
	assert_true(prd(p, AHCI_PxCI) & (1u << slot));    /* stays until ST is cleared */
}

static void test_lba_beyond_capacity_stops_port(void **state)
{
	struct seg s = { DATA, 1024 };

	(void)state;
	start(0);
	cmd(0, 0, ATA_CMD_READ_DMA_EXT, SECTORS - 1, 2, 0, false, &s, 1);
	cmd(0, 1, ATA_CMD_READ_DMA_EXT, 0, 2, 0, false, &s, 1);
	issue(0, 1);
	expect_tf_error(0, 0, ATA_ER_IDNF | ATA_ER_ABRT);
	assert_int_equal(rfis(0)[0x42], 0x41);
	issue(0, 2);                                  /* the port processes nothing more */
	assert_int_equal(prd(0, AHCI_PxCI), 3);
	assert_false(ahci_model_has_work());
	stop(0);                                      /* §6.2.2.1: clear ST, then start again */
	assert_int_equal(prd(0, AHCI_PxCI), 0);
	pwr(0, AHCI_PxCMD, AHCI_PxCMD_FRE | AHCI_PxCMD_ST);
	issue(0, 2);
	assert_int_equal(prd(0, AHCI_PxCI), 0);
	assert_int_equal(prd(0, AHCI_PxTFD), 0x50);
	assert_int_equal(stats().tf_errors, 1);
}

static void test_unsupported_command_aborts(void **state)
{
	(void)state;
	start(0);
	cmd(0, 0, 0xC8 /* READ DMA (28-bit): not offered */, 0, 1, 0, false, NULL, 0);
	issue(0, 1);
	expect_tf_error(0, 0, ATA_ER_ABRT);
	assert_true(fake_bus_logged(&fb, "unsupported ATA command 0xc8"));
}

static void test_w_bit_mismatch_aborts(void **state)
{
	struct seg s = { DATA, 512 };

	(void)state;
	start(0);
	cmd(0, 0, ATA_CMD_WRITE_DMA_EXT, 0, 1, 0, false, &s, 1);
	issue(0, 1);
	expect_tf_error(0, 0, ATA_ER_ABRT);
	assert_true(fake_bus_logged(&fb, "W bit"));
}

static void test_flush_and_set_features(void **state)
{
	(void)state;
	start(0);
	cmd(0, 0, ATA_CMD_FLUSH_CACHE_EXT, 0, 0, 0, false, NULL, 0);
	issue(0, 1);
	assert_int_equal(prd(0, AHCI_PxTFD), 0x50);
	cmd(0, 1, ATA_CMD_SET_FEATURES, 0, 0, 0x82, false, NULL, 0);  /* write cache off */
	issue(0, 2);
	assert_int_equal(prd(0, AHCI_PxCI), 0);
	assert_int_equal(stats().flushes, 1);
}

static void test_trim(void **state)
{
	uint8_t buf[4096], zero[4096] = { 0 };
	uint64_t e[64] = { 0 };
	struct seg s = { DATA, 512 };

	(void)state;
	memset(buf, 0xAB, sizeof(buf));
	assert_int_equal(ahci_model_disk_access(0, 0, 16, buf, 8, true), 0);
	e[0] = 16 | (uint64_t)8 << 48;
	memcpy(fb.ram + DATA, e, sizeof(e));
	start(0);
	cmd(0, 0, ATA_CMD_DSM, 0, 1, ATA_DSM_TRIM, true, &s, 1);
	issue(0, 1);
	assert_int_equal(prd(0, AHCI_PxCI), 0);
	assert_int_equal(ahci_model_disk_access(0, 0, 16, buf, 8, false), 0);
	assert_memory_equal(buf, zero, sizeof(buf));
	assert_int_equal(stats().trims, 1);
	e[0] = (SECTORS - 2) | (uint64_t)8 << 48;     /* beyond the disk */
	memcpy(fb.ram + DATA, e, sizeof(e));
	cmd(0, 1, ATA_CMD_DSM, 0, 1, ATA_DSM_TRIM, true, &s, 1);
	issue(0, 2);
	expect_tf_error(0, 1, ATA_ER_IDNF | ATA_ER_ABRT);
}

/* ---- PRDT byte-count rules ------------------------------------------------------------------------ */

static void test_prdt_odd_count_is_fatal(void **state)
{
	struct seg s = { DATA, 511 };                 /* DBC bit 0 would be 0: odd count */

	(void)state;
	start(0);
	cmd(0, 0, ATA_CMD_READ_DMA_EXT, 0, 1, 0, false, &s, 1);
	issue(0, 1);
	assert_true(prd(0, AHCI_PxIS) & AHCI_PxIS_HBFS);
	assert_true(prd(0, AHCI_PxTFD) & ATA_SR_BSY);
	stop(0);
	pwr(0, AHCI_PxCMD, AHCI_PxCMD_FRE | AHCI_PxCMD_ST);   /* BSY: refused until COMRESET */
	assert_int_equal(prd(0, AHCI_PxCMD) & AHCI_PxCMD_ST, 0);
	pwr(0, AHCI_PxSCTL, AHCI_SCTL_DET_COMRESET);
	pwr(0, AHCI_PxSCTL, 0);
	pwr(0, AHCI_PxCMD, AHCI_PxCMD_FRE | AHCI_PxCMD_ST);
	assert_true(prd(0, AHCI_PxCMD) & AHCI_PxCMD_ST);
	assert_int_equal(stats().fatal_errors, 1);
}

static void test_prdt_short_is_overflow(void **state)
{
	struct seg s[2] = { { DATA, 1024 }, { DATA + 0x1000, 1024 } };

	(void)state;
	start(0);
	cmd(0, 0, ATA_CMD_READ_DMA_EXT, 0, 8, 0, false, s, 2);    /* 4096 wanted, 2048 given */
	issue(0, 1);
	assert_true(prd(0, AHCI_PxIS) & AHCI_PxIS_OFS);
	assert_true(fake_bus_logged(&fb, "fewer bytes"));
	/* 4 MiB in one entry is the most; a longer PRDT than needed is fine. */
	cmd(0, 1, ATA_CMD_READ_DMA_EXT, 0, 2, 0, false, s, 2);
	stop(0);
	pwr(0, AHCI_PxSCTL, AHCI_SCTL_DET_COMRESET);
	pwr(0, AHCI_PxSCTL, 0);
	pwr(0, AHCI_PxCMD, AHCI_PxCMD_FRE | AHCI_PxCMD_ST);
	issue(0, 2);
	assert_int_equal(prd(0, AHCI_PxCI), 0);
	assert_int_equal(prdbc(0, 1), 1024);
}

static void test_dma_blocked_is_fatal(void **state)
{
	struct seg s = { DATA, 512 };

	(void)state;
	start(0);
	cmd(0, 0, ATA_CMD_READ_DMA_EXT, 0, 1, 0, false, &s, 1);
	fb.dma_block_base = DATA;
	fb.dma_block_len = 512;
	issue(0, 1);
	assert_true(prd(0, AHCI_PxIS) & AHCI_PxIS_HBFS);
	assert_int_equal(stats().dma_blocked, 1);
}

/* ---- NCQ ------------------------------------------------------------------------------------------- */

static void test_ncq_several_tags(void **state)
{
	uint8_t disk[2048];

	(void)state;
	start(0);
	for (unsigned t = 0; t < 4; t++) {
		fill(DATA + t * 0x1000u, 1024, (uint8_t)(t * 31));
		ncq(0, t, true, 10 + 2 * t, 2, DATA + t * 0x1000u);
	}
	pwr(0, AHCI_PxIE, AHCI_PxIS_SDBS);
	pwr(0, AHCI_PxSACT, 0xF);
	pwr(0, AHCI_PxCI, 0xF);
	assert_true(ahci_model_step());               /* one accepted: CI bit goes, SACT stays */
	assert_int_equal(__builtin_popcount(prd(0, AHCI_PxCI)), 3);
	assert_int_equal(prd(0, AHCI_PxSACT), 0xF);
	run();
	assert_int_equal(prd(0, AHCI_PxCI), 0);
	assert_int_equal(prd(0, AHCI_PxSACT), 0);
	assert_true(prd(0, AHCI_PxIS) & AHCI_PxIS_SDBS);
	assert_int_equal(rfis(0)[0x58], FIS_TYPE_SDB);
	assert_int_equal(rd(abar + AHCI_IS), 1);
	assert_int_equal(ahci_model_disk_access(0, 0, 10, disk, 4, false), 0);
	assert_memory_equal(disk, fb.ram + DATA, 1024);
	assert_memory_equal(disk + 1024, fb.ram + DATA + 0x1000, 1024);
	for (unsigned t = 0; t < 4; t++)
		ncq(0, t, false, 10 + 2 * t, 2, DATA + 0x80000 + t * 0x1000u);
	pwr(0, AHCI_PxSACT, 0xF);
	issue(0, 0xF);
	for (unsigned t = 0; t < 4; t++)
		assert_memory_equal(fb.ram + DATA + 0x80000 + t * 0x1000u, fb.ram + DATA + t * 0x1000u, 1024);
	assert_int_equal(stats().ncq_commands, 8);
	assert_int_equal(stats().sdb_fises, 8);
}

/* READ LOG EXT page 10h into DATA + 0x7000 from slot 31; returns the page. */
static const uint8_t *read_ncq_log(unsigned p)
{
	struct seg s = { DATA + 0x7000, 512 };

	cmd(p, 31, ATA_CMD_READ_LOG_EXT, ATA_LOG_NCQ_ERROR, 1, 0, false, &s, 1);
	issue(p, 1u << 31);
	assert_int_equal(prd(p, AHCI_PxCI), 0);
	return fb.ram + DATA + 0x7000;
}

static void test_ncq_error_tag_and_log(void **state)
{
	const uint8_t *log;
	uint8_t sum = 0;

	(void)state;
	start(0);
	for (unsigned t = 0; t < 3; t++)
		ncq(0, t, false, 40 + t, 1, DATA + t * 0x1000u);
	fake_bus_fault_set(&fb, "ahci.ncq_error_tag", 0, 1);
	pwr(0, AHCI_PxSACT, 0x7);
	issue(0, 0x7);
	/* The first to finish (tag 0) fails; the device drops the others. */
	assert_true(prd(0, AHCI_PxIS) & AHCI_PxIS_TFES);
	assert_false(prd(0, AHCI_PxIS) & AHCI_PxIS_SDBS);   /* §5.3.13.1: TFES instead */
	assert_int_equal(prd(0, AHCI_PxTFD) & 0xFF, 0x41);
	assert_int_equal(prd(0, AHCI_PxSACT), 0x7);
	assert_int_equal(stats().ncq_errors, 1);
	stop(0);
	pwr(0, AHCI_PxCMD, AHCI_PxCMD_FRE | AHCI_PxCMD_ST);
	/* NCQ aborts until the log is read. */
	ncq(0, 5, false, 1, 1, DATA);
	pwr(0, AHCI_PxSACT, 1u << 5);
	issue(0, 1u << 5);
	assert_true(fake_bus_logged(&fb, "log is unread"));
	stop(0);
	pwr(0, AHCI_PxCMD, AHCI_PxCMD_FRE | AHCI_PxCMD_ST);
	log = read_ncq_log(0);
	assert_int_equal(log[0], 5);                  /* the last failure: tag 5 */
	for (unsigned i = 0; i < 512; i++)
		sum = (uint8_t)(sum + log[i]);
	assert_int_equal(sum, 0);
	assert_int_equal(stats().log_reads, 1);
	ncq(0, 6, false, 1, 1, DATA);                 /* NCQ runs again */
	pwr(0, AHCI_PxSACT, 1u << 6);
	issue(0, 1u << 6);
	assert_int_equal(prd(0, AHCI_PxSACT), 0);
	assert_int_equal(prd(0, AHCI_PxTFD) & 0xFF, 0x50);        /* DRDY|DSC, as QEMU */
}

static void test_ncq_error_log_names_failing_tag(void **state)
{
	const uint8_t *log;

	(void)state;
	start(0);
	ncq(0, 2, false, 1, 1, DATA);
	ncq(0, 9, false, SECTORS, 1, DATA);           /* beyond the disk */
	pwr(0, AHCI_PxSACT, 1u << 2 | 1u << 9);
	issue(0, 1u << 2 | 1u << 9);
	assert_true(prd(0, AHCI_PxIS) & AHCI_PxIS_TFES);
	assert_int_equal(prd(0, AHCI_PxSACT), 1u << 9);       /* tag 2 completed */
	stop(0);
	pwr(0, AHCI_PxCMD, AHCI_PxCMD_FRE | AHCI_PxCMD_ST);
	log = read_ncq_log(0);
	assert_int_equal(log[0] & ATA_NCQ_ERR_TAG_MASK, 9);
	assert_false(log[0] & ATA_NCQ_ERR_NQ);
	assert_int_equal(log[2], 0x41);
	assert_int_equal(log[3], ATA_ER_IDNF | ATA_ER_ABRT);
	assert_int_equal(log[4] | log[5] << 8 | log[6] << 16, SECTORS);
}

static void test_ncq_busy_tag(void **state)
{
	const uint8_t *log;

	(void)state;
	start(0);
	ncq(0, 3, false, 1, 1, DATA);
	fake_bus_fault_set(&fb, "ahci.slow", 0, 1);   /* tag 3 stays in the device */
	pwr(0, AHCI_PxSACT, 1u << 3);
	issue(0, 1u << 3);
	assert_int_equal(prd(0, AHCI_PxCI), 0);
	assert_int_equal(prd(0, AHCI_PxSACT), 1u << 3);
	issue(0, 1u << 3);                            /* the same tag again */
	assert_true(prd(0, AHCI_PxIS) & AHCI_PxIS_TFES);
	assert_true(fake_bus_logged(&fb, "already busy"));
	stop(0);
	pwr(0, AHCI_PxCMD, AHCI_PxCMD_FRE | AHCI_PxCMD_ST);
	log = read_ncq_log(0);
	assert_int_equal(log[0], 3);
	assert_int_equal(log[3], ATA_ER_ABRT);
}

static void test_ncq_refused_by_non_ncq_disk(void **state)
{
	(void)state;
	start(2);
	ncq(2, 0, false, 1, 1, DATA);
	pwr(2, AHCI_PxSACT, 1);
	issue(2, 1);
	expect_tf_error(2, 0, ATA_ER_ABRT);
}

/* ---- interrupts ----------------------------------------------------------------------------------- */

static void test_intx_level_and_clear_order(void **state)
{
	(void)state;
	start(0);
	pwr(0, AHCI_PxIE, AHCI_PxIS_DHRS);
	wr(abar + AHCI_GHC, AHCI_GHC_AE | AHCI_GHC_IE);
	assert_true(fb.gsi_high[INTX_GSI]);           /* idle: high (active low) */
	cmd(0, 0, ATA_CMD_FLUSH_CACHE_EXT, 0, 0, 0, false, NULL, 0);
	issue(0, 1);
	assert_false(fb.gsi_high[INTX_GSI]);
	wr(abar + AHCI_IS, 1);                        /* IS before PxIS: comes back */
	assert_int_equal(rd(abar + AHCI_IS), 1);
	assert_false(fb.gsi_high[INTX_GSI]);
	pwr(0, AHCI_PxIS, AHCI_PxIS_DHRS);            /* PxIS, then IS: lowered */
	assert_false(fb.gsi_high[INTX_GSI]);
	wr(abar + AHCI_IS, 1);
	assert_int_equal(rd(abar + AHCI_IS), 0);
	assert_true(fb.gsi_high[INTX_GSI]);
	/* GHC.IE clear: no interrupt, IS still records the port. */
	wr(abar + AHCI_GHC, AHCI_GHC_AE);
	cmd(0, 0, ATA_CMD_FLUSH_CACHE_EXT, 0, 0, 0, false, NULL, 0);
	issue(0, 1);
	assert_true(fb.gsi_high[INTX_GSI]);
	assert_int_equal(rd(abar + AHCI_IS), 1);
}

static void test_msi_per_event(void **state)
{
	unsigned c, before;

	(void)state;
	for (c = cfg_rd(0x34, 1); c && cfg_rd(c, 1) != 0x05; c = cfg_rd(c + 1, 1))
		;
	cfg_wr(c + 4, 4, 0xFEE00000u);
	cfg_wr(c + 8, 4, 0);
	cfg_wr(c + 12, 2, 0x45);
	cfg_wr(c + 2, 2, 1);
	start(0);
	pwr(0, AHCI_PxIE, AHCI_PxIS_DHRS | AHCI_PxIS_SDBS);
	wr(abar + AHCI_GHC, AHCI_GHC_AE | AHCI_GHC_IE);
	before = fb.nmsi;
	cmd(0, 0, ATA_CMD_FLUSH_CACHE_EXT, 0, 0, 0, false, NULL, 0);
	issue(0, 1);
	assert_int_equal(fb.nmsi, before + 1);
	assert_int_equal(fb.msis[before].data, 0x45);
	assert_true(fb.gsi_high[INTX_GSI]);           /* no INTx with MSI on */
}

/* --ahci-msi: MMC for 8 messages; with 8 enabled port i interrupts on message i,
 * with 2 or 4 the HBA reverts to message 0 and says so in GHC.MRSM (AHCI 1.3.1
 * §3.1.2), with 1 it uses message 0 without MRSM. Fewer than 8 offered (but more
 * than 1) is a configuration the model refuses: 6 ports need 8. */
static void test_msi_per_port(void **state)
{
	struct ahci_model_config k = { .msi_log2 = AHCIM_MSI_LOG2_PER_PORT };
	static const struct { unsigned mme, msg0, msg2; bool mrsm; } want[] = {
		{ 3, 0x40, 0x42, false }, { 1, 0x40, 0x40, true }, { 2, 0x40, 0x40, true }, { 0, 0x40, 0x40, false },
	};
	unsigned c;

	(void)state;
	k.port[0] = (struct ahci_disk_config){ .present = true, .size = DISK_BYTES };
	k.port[2] = (struct ahci_disk_config){ .present = true, .size = DISK_BYTES };
	add(&k);
	for (c = cfg_rd(0x34, 1); c && cfg_rd(c, 1) != 0x05; c = cfg_rd(c + 1, 1))
		;
	assert_true(c != 0);
	assert_int_equal(cfg_rd(c + 2, 2) >> 1 & 7u, AHCIM_MSI_LOG2_PER_PORT);     /* MMC */
	cfg_wr(c + 4, 4, 0xFEE00000u);
	cfg_wr(c + 8, 4, 0);
	cfg_wr(c + 12, 2, 0x40);
	start(0);
	start(2);
	pwr(0, AHCI_PxIE, AHCI_PxIS_DHRS);
	pwr(2, AHCI_PxIE, AHCI_PxIS_DHRS);
	wr(abar + AHCI_GHC, AHCI_GHC_AE | AHCI_GHC_IE);
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		unsigned before;

		cfg_wr(c + 2, 2, want[i].mme << 4 | 1u);
		assert_int_equal(!!(rd(abar + AHCI_GHC) & AHCI_GHC_MRSM), want[i].mrsm);
		before = fb.nmsi;
		cmd(0, 0, ATA_CMD_FLUSH_CACHE_EXT, 0, 0, 0, false, NULL, 0);
		issue(0, 1);
		cmd(2, 0, ATA_CMD_FLUSH_CACHE_EXT, 0, 0, 0, false, NULL, 0);
		issue(2, 1);
		assert_int_equal(fb.nmsi, before + 2);
		assert_int_equal(fb.msis[before].data, want[i].msg0);
		assert_int_equal(fb.msis[before + 1].data, want[i].msg2);
		pwr(0, AHCI_PxIS, 0xFFFFFFFFu);
		pwr(2, AHCI_PxIS, 0xFFFFFFFFu);
		wr(abar + AHCI_IS, 0xFFFFFFFFu);
	}
	cfg_wr(c + 2, 2, 0);                            /* MSI off: MRSM clear */
	assert_int_equal(rd(abar + AHCI_GHC) & AHCI_GHC_MRSM, 0);
	ahci_model_reset();
	k.msi_log2 = 1;
	assert_int_equal(ahci_model_add(0, 0x1e, 2, &k, &fb.bus), -EINVAL);
}

static void test_hba_reset(void **state)
{
	(void)state;
	start(0);
	pwr(0, AHCI_PxIE, 0xFFFFFFFFu);
	wr(abar + AHCI_GHC, AHCI_GHC_AE | AHCI_GHC_IE | AHCI_GHC_HR);
	assert_int_equal(rd(abar + AHCI_GHC), AHCI_GHC_AE);
	assert_int_equal(prd(0, AHCI_PxCMD) & (AHCI_PxCMD_ST | AHCI_PxCMD_CR | AHCI_PxCMD_FRE), 0);
	assert_int_equal(prd(0, AHCI_PxIE), 0);
	assert_int_equal(prd(0, AHCI_PxSIG), AHCI_SIG_ATA);
	assert_int_equal(stats().hba_resets, 1);
}

/* ---- fault sites ------------------------------------------------------------------------------------ */

static void test_fault_tfes(void **state)
{
	(void)state;
	start(0);
	fake_bus_fault_set(&fb, "ahci.tfes", 0, 1);
	cmd(0, 0, ATA_CMD_FLUSH_CACHE_EXT, 0, 0, 0, false, NULL, 0);
	issue(0, 1);
	expect_tf_error(0, 0, ATA_ER_ABRT);
	assert_int_equal(stats().faults[AHCI_FAULT_TFES], 1);
	assert_true(fake_bus_logged(&fb, "ahci.tfes"));
}

static void test_fault_port_hang(void **state)
{
	(void)state;
	start(0);
	fake_bus_fault_set(&fb, "ahci.port_hang", 0, 1);
	pwr(0, AHCI_PxCMD, AHCI_PxCMD_FRE);
	assert_true(prd(0, AHCI_PxCMD) & AHCI_PxCMD_CR);      /* CR never clears */
	pwr(0, AHCI_PxCMD, AHCI_PxCMD_FRE);
	assert_true(prd(0, AHCI_PxCMD) & AHCI_PxCMD_CR);
	pwr(0, AHCI_PxCMD, AHCI_PxCMD_FRE | AHCI_PxCMD_ST);   /* nor may ST start again */
	assert_int_equal(prd(0, AHCI_PxCMD) & AHCI_PxCMD_ST, 0);
	wr(abar + AHCI_GHC, AHCI_GHC_AE | AHCI_GHC_HR);      /* only an HBA reset helps */
	assert_int_equal(prd(0, AHCI_PxCMD) & AHCI_PxCMD_CR, 0);
	start(0);
}

static void test_fault_phy_down(void **state)
{
	struct ahci_model_port_regs r;

	(void)state;
	start(0);
	pwr(0, AHCI_PxIE, AHCI_PxIS_PRCS);
	fake_bus_fault_set(&fb, "ahci.phy_down", 0, 1);
	cmd(0, 0, ATA_CMD_FLUSH_CACHE_EXT, 0, 0, 0, false, NULL, 0);
	issue(0, 1);
	assert_true(prd(0, AHCI_PxIS) & AHCI_PxIS_PRCS);
	assert_int_equal(prd(0, AHCI_PxSSTS) & AHCI_SSTS_DET_MASK, 0);
	assert_true(prd(0, AHCI_PxSERR) & AHCI_SERR_DIAG_N);
	assert_int_equal(prd(0, AHCI_PxCI), 1);       /* the command never ran */
	pwr(0, AHCI_PxIS, AHCI_PxIS_PRCS);            /* PRCS mirrors DIAG.N */
	assert_true(prd(0, AHCI_PxIS) & AHCI_PxIS_PRCS);
	pwr(0, AHCI_PxSERR, AHCI_SERR_DIAG_N);
	assert_false(prd(0, AHCI_PxIS) & AHCI_PxIS_PRCS);
	stop(0);
	pwr(0, AHCI_PxSCTL, AHCI_SCTL_DET_COMRESET);
	pwr(0, AHCI_PxSCTL, 0);
	assert_int_equal(ahci_model_port_regs(0, 0, &r, NULL), 0);
	assert_int_equal(r.ssts & AHCI_SSTS_DET_MASK, AHCI_SSTS_DET_PRESENT);
	start(0);
	issue(0, 1);
	assert_int_equal(prd(0, AHCI_PxCI), 0);
}

static void test_fault_slow(void **state)
{
	(void)state;
	start(0);
	fake_bus_fault_set(&fb, "ahci.slow", 0, 1);
	cmd(0, 0, ATA_CMD_FLUSH_CACHE_EXT, 0, 0, 0, false, NULL, 0);
	issue(0, 1);
	assert_int_equal(prd(0, AHCI_PxCI), 1);       /* held */
	assert_false(ahci_model_has_work());
	assert_int_equal(ahci_model_next_event_ns(), fb.now + 10000000ull);
	fb.now += 10000000ull;
	run();
	assert_int_equal(prd(0, AHCI_PxCI), 0);
	assert_int_equal(stats().faults[AHCI_FAULT_SLOW], 1);
}

/* ---- backing file ------------------------------------------------------------------------------------- */

static void test_file_backing(void **state)
{
	struct ahci_model_config k = { 0 };
	char path[] = "/tmp/ahci_model_XXXXXX";
	struct seg s = { DATA, 512 };
	uint8_t got[512];
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	ahci_model_reset();
	fake_bus_fini(&fb);
	k.port[4] = (struct ahci_disk_config){ .present = true, .path = path, .size = 64u << 10 };
	add(&k);
	start(4);
	fill(DATA, 512, 77);
	cmd(4, 0, ATA_CMD_WRITE_DMA_EXT, 3, 1, 0, true, &s, 1);
	issue(4, 1);
	assert_int_equal(pread(fd, got, 512, 3 * 512), 512);
	assert_memory_equal(got, fb.ram + DATA, 512);
	assert_int_equal(lseek(fd, 0, SEEK_END), 64 << 10);
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_pci_identity_and_cap),
		T(test_ports_initial_state),
		T(test_fre_delivers_signature_fis),
		T(test_st_rules),
		T(test_comreset_resignature),
		T(test_identify),
		T(test_read_write_dma_ext),
		T(test_lba_beyond_capacity_stops_port),
		T(test_unsupported_command_aborts),
		T(test_w_bit_mismatch_aborts),
		T(test_flush_and_set_features),
		T(test_trim),
		T(test_prdt_odd_count_is_fatal),
		T(test_prdt_short_is_overflow),
		T(test_dma_blocked_is_fatal),
		T(test_ncq_several_tags),
		T(test_ncq_error_tag_and_log),
		T(test_ncq_error_log_names_failing_tag),
		T(test_ncq_busy_tag),
		T(test_ncq_refused_by_non_ncq_disk),
		T(test_intx_level_and_clear_order),
		T(test_msi_per_event),
		cmocka_unit_test_setup_teardown(test_msi_per_port, NULL, teardown),
		T(test_hba_reset),
		T(test_fault_tfes),
		T(test_fault_port_hang),
		T(test_fault_phy_down),
		T(test_fault_slow),
		T(test_file_backing),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
