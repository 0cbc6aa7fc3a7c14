/*
 * ahci_conf_ktest.c — `ahci.conformance` (docs/ahci.md "Model vs QEMU"): one fixed
 * list of raw commands sent through the first disk's command list, one line each:
 * `ahci-conf: <case> tfd=<PxTFD> is=<PxIS> ci=<PxCI> sact=<PxSACT> serr=<PxSERR>`.
 * Each case breaks one rule or none (`*_good`): LBAs beyond the capacity, PRDT
 * byte-count rules (AHCI 1.3.1 §4.2.3.3), unsupported commands and subcommands
 * (ACS-3), NCQ with a busy tag and its error log (SATA 3.2 §13.6, ACS-3 A.13).
 */
#include "ahci_int.h"
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/block.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/ktest.h>
#include <kernel/log.h>
#include <kernel/pmm.h>
#include <kernel/printf.h>
#include <kernel/string.h>
#include <kernel/time.h>

/* The port is lent by the driver: its block device is shut down (flush, engines
 * stopped, §10.3.2), PxIE is cleared so no handler reads and clears PxIS, and the
 * test runs the engines itself; at the end PxIE comes back and the driver restarts
 * the port. The slot headers it borrows are restored. Memory the commands point at
 * comes from the HBA's DMA device, so a target that takes a bad pointer touches
 * only pages of this test. In the kernel a case checks only what every target must
 * give; the host (qemu-tests/test_ahci_conformance.py) compares the lines. */

#define CONF_LBA 24576u                 /* the test's blocks (the suite writes from 8192) */
#define CONF_SLOTS 6u
#define CONF_TIMEOUT_MS 2000u
#define CONF_SETTLE_US 2000u            /* after completion, before the registers are read */
#define CONF_QUIET_MS 100u              /* fpdma_busy_tag: what arrived this long after the doorbell */
#define CONF_BIG_BYTES (256u << 10)
#define CONF_BIG_PRDS 128u              /* 128 x 256 KiB over one buffer: 65536 sectors */
#define CONF_ZERO_COUNT_SECTORS 65536u  /* a count of 0 in a 48-bit command (ACS-3 §7.22) */
#define CONF_PAGES 2u                   /* data page, log/range page */

struct conf {
	struct ktest *t;
	struct ahci_port *pt;
	struct blk_dev *d;
	uint64_t nblocks;
	bool ncq, trim;
	struct ahci_cmd_table *tbl[CONF_SLOTS];
	dma_addr_t tbl_bus[CONF_SLOTS];
	uint8_t *pg[CONF_PAGES];
	dma_addr_t pg_bus[CONF_PAGES];
	uint8_t *big;
	dma_addr_t big_bus;
	struct ahci_cmd_hdr saved[CONF_SLOTS];
	uint32_t ie;
};

struct conf_out {
	bool done;
	uint32_t tfd, is, ci, sact, serr, prdbc;
};

static struct ahci_prd conf_prd(dma_addr_t bus, uint32_t bytes)
{
	return (struct ahci_prd){ .dba = (uint32_t)bus, .dbau = (uint32_t)(bus >> 32), .dbc_i = AHCI_PRD_DBC(bytes) };
}

/* Slot's header and table: fis, W bit, nprd entries. */
static void conf_prep(struct conf *e, unsigned slot, const struct fis_reg_h2d *f, bool write,
		      const struct ahci_prd *prd, unsigned nprd)
{
	struct ahci_cmd_table *t = e->tbl[slot];
	memset(t, 0, PAGE_SIZE);
	memcpy(t->cfis, f, sizeof *f);
	for (unsigned i = 0; i < nprd; i++)
		t->prdt[i] = prd[i];
	struct ahci_cmd_hdr *h = &e->pt->cl[slot];
	memset(h, 0, sizeof *h);
	h->flags = (uint16_t)(FIS_H2D_CFL | (write ? AHCI_CMDH_W : 0u));
	h->prdtl = (uint16_t)nprd;
	h->ctba = (uint32_t)e->tbl_bus[slot];
	h->ctbau = (uint32_t)(e->tbl_bus[slot] >> 32);
}

/* Issue slots (NCQ: PxSACT first, §5.6.4.1) and wait: done when their PxCI (and
 * PxSACT) bits cleared, or an error bit came (PxIS error bits; for NCQ also a Set
 * Device Bits FIS with ERR), or (quiet) after a fixed time, whatever came. */
static struct conf_out conf_run(struct conf *e, uint32_t slots, bool ncq, bool quiet)
{
	struct ahci_port *pt = e->pt;
	struct conf_out o = { 0 };
	atomic_fence(MO_SEQ_CST);       /* headers and tables are in memory before the doorbells */
	if (ncq)
		ahci_pwr(pt, AHCI_PxSACT, slots);
	ahci_pwr(pt, AHCI_PxCI, slots);
	uint64_t deadline = time_now_ns() + CONF_TIMEOUT_MS * 1000000ull;
	for (o.done = quiet; !o.done;) {
		uint32_t busy = ahci_prd(pt, AHCI_PxCI) & slots;
		busy |= ncq ? ahci_prd(pt, AHCI_PxSACT) & slots : 0u;
		uint32_t is = ahci_prd(pt, AHCI_PxIS), tfd = ahci_prd(pt, AHCI_PxTFD);
		if (!busy || (is & AHCI_PxIS_ERRORS) || (ncq && (is & AHCI_PxIS_SDBS) && (tfd & ATA_SR_ERR))) {
			o.done = true;
			break;
		}
		if (time_now_ns() > deadline)
			break;
		udelay(10);
	}
	udelay(quiet ? CONF_QUIET_MS * 1000u : CONF_SETTLE_US);
	atomic_fence(MO_SEQ_CST);       /* data and PRDBC are read after the registers said done */
	o.tfd = ahci_prd(pt, AHCI_PxTFD);
	o.is = ahci_prd(pt, AHCI_PxIS) & AHCI_PxIS_DEFINED;
	o.ci = ahci_prd(pt, AHCI_PxCI);
	o.sact = ahci_prd(pt, AHCI_PxSACT);
	o.serr = ahci_prd(pt, AHCI_PxSERR);
	o.prdbc = pt->cl[__builtin_ctz(slots)].prdbc;
	return o;
}

static void conf_print(struct conf *e, const char *name, const struct conf_out *o, const char *extra)
{
	if (!o->done) {
		kprintf("ahci-conf: %s no completion in %u ms: tfd=%x is=%x ci=%x sact=%x\n", name, CONF_TIMEOUT_MS,
			o->tfd, o->is, o->ci, o->sact);
		ktest_fail_at(e->t, __FILE__, __LINE__, "%s: no completion", name);
		return;
	}
	kprintf("ahci-conf: %s tfd=%x is=%x ci=%x sact=%x serr=%x%s\n", name, o->tfd, o->is, o->ci, o->sact, o->serr,
		extra ? extra : "");
}

static void conf_skip(const char *name, const char *why)
{
	kprintf("ahci-conf: %s skipped (%s)\n", name, why);
}

/* ---- engines -------------------------------------------------------------------------------- */

static int conf_stop(struct conf *e, bool fis_too)
{
	struct ahci_port *pt = e->pt;
	ahci_pwr(pt, AHCI_PxCMD, ahci_prd(pt, AHCI_PxCMD) & ~AHCI_PxCMD_ST);
	if (ahci_port_wait(pt, AHCI_PxCMD, AHCI_PxCMD_CR, 0, AHCI_STOP_WAIT_MS))
		return -ETIMEDOUT;
	if (!fis_too)
		return 0;
	ahci_pwr(pt, AHCI_PxCMD, ahci_prd(pt, AHCI_PxCMD) & ~AHCI_PxCMD_FRE);
	return ahci_port_wait(pt, AHCI_PxCMD, AHCI_PxCMD_FR, 0, AHCI_STOP_WAIT_MS);
}

static void conf_clear(struct conf *e)
{
	ahci_pwr(e->pt, AHCI_PxSERR, 0xFFFFFFFFu);
	ahci_pwr(e->pt, AHCI_PxIS, 0xFFFFFFFFu);
	ahci_wr(e->pt->h, AHCI_IS, 1u << e->pt->no);
}

/* §10.3.1: FRE, the device not busy, then ST. */
static int conf_start(struct conf *e)
{
	struct ahci_port *pt = e->pt;
	ahci_pwr(pt, AHCI_PxCMD, ahci_prd(pt, AHCI_PxCMD) | AHCI_PxCMD_FRE);
	if (ahci_port_wait(pt, AHCI_PxCMD, AHCI_PxCMD_FR, AHCI_PxCMD_FR, AHCI_STOP_WAIT_MS) ||
	    ahci_port_wait(pt, AHCI_PxTFD, ATA_SR_BSY | ATA_SR_DRQ, 0, CONF_TIMEOUT_MS))
		return -ETIMEDOUT;
	ahci_pwr(pt, AHCI_PxCMD, ahci_prd(pt, AHCI_PxCMD) | AHCI_PxCMD_ST);
	return (ahci_prd(pt, AHCI_PxCMD) & AHCI_PxCMD_ST) ? 0 : -EIO;
}

/* Recovery as the driver's (§6.2.2.2): stop, clear the errors, COMRESET when the
 * device stays busy (or asked), start. Non-zero: the port is not usable. */
static int conf_recover(struct conf *e, bool comreset)
{
	struct ahci_port *pt = e->pt;
	if (conf_stop(e, false)) {
		ktest_fail_at(e->t, __FILE__, __LINE__, "PxCMD.CR did not clear after ST=0");
		return -ETIMEDOUT;
	}
	conf_clear(e);
	if (comreset || (ahci_prd(pt, AHCI_PxTFD) & (ATA_SR_BSY | ATA_SR_DRQ))) {
		uint32_t sctl = ahci_prd(pt, AHCI_PxSCTL) & ~AHCI_SCTL_DET_MASK;
		ahci_pwr(pt, AHCI_PxSCTL, sctl | AHCI_SCTL_DET_COMRESET);
		udelay(1100);           /* §10.4.2: DET=1 for at least 1 ms */
		ahci_pwr(pt, AHCI_PxSCTL, sctl | AHCI_SCTL_DET_NONE);
		ahci_port_wait(pt, AHCI_PxSSTS, AHCI_SSTS_DET_MASK, AHCI_SSTS_DET_PRESENT, AHCI_LINK_WAIT_MS);
		ahci_port_wait(pt, AHCI_PxTFD, ATA_SR_BSY | ATA_SR_DRQ, 0, CONF_TIMEOUT_MS);
		conf_clear(e);
	}
	if (conf_start(e)) {
		ktest_fail_at(e->t, __FILE__, __LINE__, "port not restarted (PxCMD 0x%x PxTFD 0x%x)",
			      ahci_prd(pt, AHCI_PxCMD), ahci_prd(pt, AHCI_PxTFD));
		return -EIO;
	}
	conf_clear(e);
	return 0;
}

static struct conf_out conf_run(struct conf *e, uint32_t slots, bool ncq, bool quiet);

/* After a case: recover when it left an error, a busy device or slots issued. A
 * clean recovery ends with a good FLUSH CACHE EXT in slot 0 (not printed): QEMU
 * keeps ERR in the device's status after a failed command until the next
 * non-queued one starts and shows it in the D2H FIS that accepts a queued command
 * (case read_fpdma_after_error), so each case starts from a good status. */
static int conf_after(struct conf *e, const struct conf_out *o, uint32_t slots, bool clean)
{
	if (!o->done || (o->is & AHCI_PxIS_ERRORS) || (o->tfd & (ATA_SR_ERR | ATA_SR_BSY | ATA_SR_DRQ)) ||
	    ((o->ci | o->sact) & slots)) {
		int rc = conf_recover(e, false);
		if (rc || !clean)
			return rc;
		struct fis_reg_h2d f;
		ahci_fis_simple(&f, ATA_CMD_FLUSH_CACHE_EXT);
		conf_prep(e, 0, &f, false, 0, 0);
		struct conf_out fo = conf_run(e, 1u, false, false);
		if (!fo.done || (fo.tfd & ATA_SR_ERR) || (fo.is & AHCI_PxIS_ERRORS)) {
			ktest_fail_at(e->t, __FILE__, __LINE__, "FLUSH after recovery: tfd 0x%x is 0x%x", fo.tfd, fo.is);
			return conf_recover(e, true);
		}
	}
	conf_clear(e);
	return 0;
}

/* ---- the cases -------------------------------------------------------------------------------- */

static bool conf_ok(const struct conf_out *o)
{
	return o->done && !(o->tfd & ATA_SR_ERR) && !(o->is & AHCI_PxIS_ERRORS);
}

static void fill(uint8_t *b, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 37u + i * 11u + (i >> 9));
}

/* One command in slot 0 (non-queued) or slot `tag` (NCQ); prints, recovers.
 * quiet: the registers as they are CONF_QUIET_MS after the doorbell. */
static struct conf_out conf_one_as(struct conf *e, const char *name, unsigned slot, const struct fis_reg_h2d *f,
				  bool write, const struct ahci_prd *prd, unsigned nprd, bool ncq, bool quiet)
{
	conf_prep(e, slot, f, write, prd, nprd);
	struct conf_out o = conf_run(e, 1u << slot, ncq, quiet);
	conf_print(e, name, &o, 0);
	conf_after(e, &o, 1u << slot, true);
	return o;
}

static struct conf_out conf_one(struct conf *e, const char *name, unsigned slot, const struct fis_reg_h2d *f,
				bool write, const struct ahci_prd *prd, unsigned nprd, bool ncq)
{
	return conf_one_as(e, name, slot, f, write, prd, nprd, ncq, false);
}

static void conf_rw_fis(struct fis_reg_h2d *f, bool write, bool ncq, unsigned tag, uint64_t lba, uint32_t count)
{
	if (ahci_fis_rw(f, write, ncq, tag, lba, count ? count : CONF_ZERO_COUNT_SECTORS))
		memset(f, 0, sizeof *f);
}

static void conf_non_queued(struct conf *e)
{
	struct fis_reg_h2d f;
	uint8_t *data = e->pg[0];
	uint32_t bs = ATA_SECTOR_BYTES;
	struct ahci_prd one = conf_prd(e->pg_bus[0], bs);
	struct conf_out o;

	ahci_fis_simple(&f, ATA_CMD_IDENTIFY);
	memset(data, 0, PAGE_SIZE);
	o = conf_one(e, "identify_good", 0, &f, false, &one, 1, false);
	struct ahci_id_info id;
	const char *why = 0;
	KTEST_EXPECT(e->t, conf_ok(&o));
	if (conf_ok(&o) && ahci_identify_parse(data, bs, &id, &why) == 0)
		KTEST_EXPECT_EQ(e->t, id.sectors, e->nblocks);
	else
		ktest_fail_at(e->t, __FILE__, __LINE__, "IDENTIFY data: %s", why ? why : "command failed");

	struct ahci_prd eight = conf_prd(e->pg_bus[0], 8u * bs);
	fill(data, 8u * bs, 7);
	conf_rw_fis(&f, true, false, 0, CONF_LBA, 8);
	o = conf_one(e, "write_dma_ext_good", 0, &f, true, &eight, 1, false);
	KTEST_EXPECT(e->t, conf_ok(&o));
	memset(data, 0, 8u * bs);
	conf_rw_fis(&f, false, false, 0, CONF_LBA, 8);
	o = conf_one(e, "read_dma_ext_good", 0, &f, false, &eight, 1, false);
	KTEST_EXPECT(e->t, conf_ok(&o));
	fill(e->pg[1], 8u * bs, 7);
	KTEST_EXPECT(e->t, memcmp(data, e->pg[1], 8u * bs) == 0);

	conf_rw_fis(&f, false, false, 0, e->nblocks, 1);
	o = conf_one(e, "read_dma_ext_lba_beyond", 0, &f, false, &one, 1, false);
	KTEST_EXPECT(e->t, (o.is & AHCI_PxIS_TFES) && (o.tfd & ATA_SR_ERR));
	struct ahci_prd two = conf_prd(e->pg_bus[0], 2u * bs);
	conf_rw_fis(&f, true, false, 0, e->nblocks - 1u, 2);
	o = conf_one(e, "write_dma_ext_lba_beyond", 0, &f, true, &two, 1, false);
	KTEST_EXPECT(e->t, (o.is & AHCI_PxIS_TFES) && (o.tfd & ATA_SR_ERR));

	/* Count 0 means 65536 sectors: a PRDT of 32 MiB whose entries all land in one
	 * 256 KiB buffer; PRDBC says how many bytes moved. */
	if (e->nblocks >= CONF_LBA + CONF_ZERO_COUNT_SECTORS && e->big) {
		struct ahci_prd big[CONF_BIG_PRDS];
		for (unsigned i = 0; i < CONF_BIG_PRDS; i++)
			big[i] = conf_prd(e->big_bus, CONF_BIG_BYTES);
		conf_rw_fis(&f, false, false, 0, CONF_LBA, 0);
		conf_prep(e, 0, &f, false, big, CONF_BIG_PRDS);
		o = conf_run(e, 1u, false, false);
		char extra[24];
		ksnprintf(extra, sizeof extra, " prdbc=%x", o.prdbc);
		conf_print(e, "read_dma_ext_zero_count", &o, extra);
		conf_after(e, &o, 1u, true);
	} else {
		conf_skip("read_dma_ext_zero_count", "disk smaller than the test's LBA + 65536 sectors");
	}

	/* PRDT rules, §4.2.3.3: fewer bytes than the command moves; a byte count odd. */
	struct ahci_prd half = conf_prd(e->pg_bus[0], bs / 2u);
	conf_rw_fis(&f, false, false, 0, CONF_LBA, 1);
	conf_one(e, "read_dma_ext_prdt_short", 0, &f, false, &half, 1, false);
	struct ahci_prd odd[2] = { conf_prd(e->pg_bus[0], bs / 2u + 1u), conf_prd(e->pg_bus[0] + 0x400u, bs / 2u - 1u) };
	conf_one(e, "read_dma_ext_prd_odd_count", 0, &f, false, odd, 2, false);

	ahci_fis_simple(&f, ATA_CMD_SET_FEATURES);
	f.feature_lo = ATA_SETF_RESERVED;
	conf_one(e, "set_features_bad_subcommand", 0, &f, false, 0, 0, false);
	ahci_fis_simple(&f, ATA_CMD_FLUSH_CACHE_EXT);
	o = conf_one(e, "flush_cache_ext", 0, &f, false, 0, 0, false);
	KTEST_EXPECT(e->t, conf_ok(&o));
	ahci_fis_simple(&f, ATA_CMD_RESERVED_01);
	conf_one(e, "unsupported_opcode", 0, &f, false, 0, 0, false);

	if (!e->trim) {
		conf_skip("dsm_trim_good", "IDENTIFY word 169 offers no TRIM");
		conf_skip("dsm_trim_lba_beyond", "IDENTIFY word 169 offers no TRIM");
		return;
	}
	uint64_t *rng = (uint64_t *)e->pg[1];
	struct ahci_prd rb = conf_prd(e->pg_bus[1], bs);
	ahci_trim_ranges(rng, CONF_LBA, 8);
	ahci_fis_trim(&f, 1);
	o = conf_one(e, "dsm_trim_good", 0, &f, true, &rb, 1, false);
	KTEST_EXPECT(e->t, conf_ok(&o));
	ahci_trim_ranges(rng, e->nblocks - 4u, 8);
	conf_one(e, "dsm_trim_lba_beyond", 0, &f, true, &rb, 1, false);
}

static void conf_queued(struct conf *e)
{
	static const char *const cases[] = { "write_fpdma_good", "read_fpdma_good", "read_fpdma_after_error",
					     "read_fpdma_lba_beyond",
					     "read_log_ext_10h", "read_fpdma_prdtl_0", "fpdma_busy_tag" };
	if (!e->ncq) {
		for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++)
			conf_skip(cases[i], "NCQ not offered by the disk and HBA, or ahci.ncq=0");
		return;
	}
	struct fis_reg_h2d f;
	uint8_t *data = e->pg[0];
	uint32_t bs = ATA_SECTOR_BYTES;
	struct ahci_prd four = conf_prd(e->pg_bus[0], 4u * bs);
	struct conf_out o;

	fill(data, 4u * bs, 21);
	conf_rw_fis(&f, true, true, 1, CONF_LBA + 16u, 4);
	o = conf_one(e, "write_fpdma_good", 1, &f, true, &four, 1, true);
	KTEST_EXPECT(e->t, conf_ok(&o));
	memset(data, 0, 4u * bs);
	conf_rw_fis(&f, false, true, 1, CONF_LBA + 16u, 4);
	o = conf_one(e, "read_fpdma_good", 1, &f, false, &four, 1, true);
	KTEST_EXPECT(e->t, conf_ok(&o));
	fill(e->pg[1], 4u * bs, 21);
	KTEST_EXPECT(e->t, memcmp(data, e->pg[1], 4u * bs) == 0);

	/* A queued command right after a failed non-queued one and the recovery
	 * (stop, clear, start; no command in between); what came within
	 * CONF_QUIET_MS (an error at acceptance ends nothing on QEMU). */
	struct fis_reg_h2d bad;
	ahci_fis_simple(&bad, ATA_CMD_RESERVED_01);
	conf_prep(e, 0, &bad, false, 0, 0);
	o = conf_run(e, 1u, false, false);
	conf_after(e, &o, 1u, false);
	conf_rw_fis(&f, false, true, 1, CONF_LBA + 16u, 4);
	conf_one_as(e, "read_fpdma_after_error", 1, &f, false, &four, 1, true, true);

	/* An NCQ error on tag 2, then the log that names it (the driver's recovery). */
	conf_rw_fis(&f, false, true, 2, e->nblocks, 1);
	conf_one(e, "read_fpdma_lba_beyond", 2, &f, false, &four, 1, true);
	memset(e->pg[1], 0xFF, PAGE_SIZE);
	ahci_fis_read_log(&f, ATA_LOG_NCQ_ERROR, 1);
	struct ahci_prd lg = conf_prd(e->pg_bus[1], bs);
	conf_prep(e, 0, &f, false, &lg, 1);
	o = conf_run(e, 1u, false, false);
	char extra[32] = " log=untouched";
	bool touched = false;
	for (unsigned i = 0; i < bs; i++)
		touched |= e->pg[1][i] != 0xFF;
	if (touched) {
		struct ahci_ncq_err ne;
		if (ahci_ncq_err_parse(e->pg[1], bs, &ne, 0) == 0)
			ksnprintf(extra, sizeof extra, " log=%s%u", ne.nq ? "nq" : "tag", ne.tag);
		else
			ksnprintf(extra, sizeof extra, " log=bad_checksum");
	}
	conf_print(e, "read_log_ext_10h", &o, extra);
	conf_after(e, &o, 1u, true);

	/* No PRDT at all for a queued read (the non-queued form is not sent: see
	 * docs/ahci.md). */
	conf_rw_fis(&f, false, true, 3, CONF_LBA, 1);
	conf_one(e, "read_fpdma_prdtl_0", 3, &f, false, 0, 0, true);

	/* Two queued commands with the same tag at once: slot 4 names tag 4 (the
	 * command), slot 5 names tag 4 too, issued in one PxCI write. */
	conf_rw_fis(&f, false, true, 4, CONF_LBA, 1);
	struct ahci_prd p4 = conf_prd(e->pg_bus[0], bs), p5 = conf_prd(e->pg_bus[0] + 0x400u, bs);
	conf_prep(e, 4, &f, false, &p4, 1);
	conf_prep(e, 5, &f, false, &p5, 1);
	o = conf_run(e, 1u << 4 | 1u << 5, true, true);
	conf_print(e, "fpdma_busy_tag", &o, 0);
	conf_recover(e, true);          /* COMRESET: the device forgets the NCQ error */
}

void ahci_conformance_ktest(struct ktest *t)
{
	if (ahci_disk_count() == 0) {
		ktest_skip(t, ahci_count() ? "no SATA disk on any AHCI port" : "no AHCI HBA started");
		return;
	}
	struct ahci_disk_info di;
	ahci_disk_info_get(0, &di);
	struct conf e = { .t = t, .pt = ahci_disks[0] };
	e.d = blk_find(di.name);
	KTEST_ASSERT(t, e.d);
	if (di.id.block_size != ATA_SECTOR_BYTES || di.id.sectors < CONF_LBA + 64u) {
		ktest_skip(t, "%s: %u-byte sectors or fewer than %u sectors", di.name, di.id.block_size, CONF_LBA + 64u);
		return;
	}
	e.nblocks = di.id.sectors;
	e.ncq = e.pt->ncq_ok;
	e.trim = di.id.trim;
	struct dma_dev *dd = e.pt->h->dd;
	bool mem = true;
	for (unsigned s = 0; s < CONF_SLOTS; s++)
		mem &= (e.tbl[s] = dma_alloc_coherent(dd, PAGE_SIZE, &e.tbl_bus[s])) != 0;
	for (unsigned i = 0; i < CONF_PAGES; i++)
		mem &= (e.pg[i] = dma_alloc_coherent(dd, PAGE_SIZE, &e.pg_bus[i])) != 0;
	e.big = dma_alloc_coherent(dd, CONF_BIG_BYTES, &e.big_bus);
	if (!mem) {
		ktest_fail_at(t, __FILE__, __LINE__, "no DMA memory for the command tables");
		goto out_free;
	}
	/* Borrow the port: shut down (flush, engines stopped), interrupts off. */
	e.d->ops->shutdown(e.d);
	ahci_disk_info_get(0, &di);
	if (di.pxcmd & (AHCI_PxCMD_ST | AHCI_PxCMD_CR)) {
		ktest_fail_at(t, __FILE__, __LINE__, "%s: engines still running after shutdown", di.name);
		goto out_free;
	}
	e.ie = ahci_prd(e.pt, AHCI_PxIE);
	ahci_pwr(e.pt, AHCI_PxIE, 0);
	memcpy(e.saved, e.pt->cl, sizeof e.saved);
	conf_clear(&e);
	if (conf_start(&e)) {
		ktest_fail_at(t, __FILE__, __LINE__, "%s: engines not started (PxCMD 0x%x PxTFD 0x%x)", di.name,
			      ahci_prd(e.pt, AHCI_PxCMD), ahci_prd(e.pt, AHCI_PxTFD));
	} else {
		ktest_log(t, "%s (port %u): %llu sectors, NCQ %s, TRIM %s", di.name, di.port,
			  (unsigned long long)e.nblocks, e.ncq ? "yes" : "no", e.trim ? "yes" : "no");
		conf_non_queued(&e);
		conf_queued(&e);
	}
	/* Give the port back: engines off, errors cleared, headers and PxIE restored. */
	if (conf_stop(&e, true))
		ktest_fail_at(t, __FILE__, __LINE__, "%s: engines did not stop at the end", di.name);
	conf_clear(&e);
	memcpy(e.pt->cl, e.saved, sizeof e.saved);
	ahci_pwr(e.pt, AHCI_PxIE, e.ie);
	KTEST_EXPECT_EQ(t, ahci_test_restart(0), 0);
	uint8_t *b = kzalloc(ATA_SECTOR_BYTES);
	KTEST_EXPECT(t, b && blk_rw_sync(e.d, BLK_OP_READ, CONF_LBA, 1, b) == 0);
	kfree(b);
out_free:
	if (e.big)
		dma_free_coherent(dd, CONF_BIG_BYTES, e.big, e.big_bus);
	for (unsigned i = 0; i < CONF_PAGES; i++)
		if (e.pg[i])
			dma_free_coherent(dd, PAGE_SIZE, e.pg[i], e.pg_bus[i]);
	for (unsigned s = 0; s < CONF_SLOTS; s++)
		if (e.tbl[s])
			dma_free_coherent(dd, PAGE_SIZE, e.tbl[s], e.tbl_bus[s]);
}
