/*
 * ahci_port.c — one AHCI port (AHCI 1.3.1 §10.1.2 port bring-up, §10.3 engine
 * stop/start with their waits, §10.4.2 COMRESET, §4.2 command list and received
 * FISes through the DMA API) and its disk as a block device: commands issued in
 * slots (NCQ: a free tag, SActive then CI, §5.6.4; otherwise one at a time, the rest
 * queued), completions reaped from PxSACT/PxCI, and error recovery (§6.2.2: a
 * task-file error stops the port, READ LOG EXT 10h names the failing NCQ tag, the
 * port is reset and the others resubmitted; a PhyRdy change fails what is in flight).
 */
#include "ahci_int.h"
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/cmdline.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/log.h>
#include <kernel/pmm.h>
#include <kernel/printf.h>
#include <kernel/string.h>
#include <kernel/time.h>

#define PXIE_WANT (AHCI_PxIS_DHRS | AHCI_PxIS_PSS | AHCI_PxIS_SDBS | AHCI_PxIS_DPS | AHCI_PxIS_ERRORS | \
		   AHCI_PxIS_PRCS | AHCI_PxIS_PCS)

/* ---- engine stop / start, COMRESET ------------------------------------------------------- */

/* §10.3.2: clear ST, wait CR clear; then clear FRE, wait FR clear. */
static int engine_stop(struct ahci_port *pt, const char **why)
{
	uint32_t cmd = ahci_prd(pt, AHCI_PxCMD);
	if (cmd & AHCI_PxCMD_ST)
		ahci_pwr(pt, AHCI_PxCMD, cmd & ~AHCI_PxCMD_ST);
	if (ahci_port_wait(pt, AHCI_PxCMD, AHCI_PxCMD_CR, 0, AHCI_STOP_WAIT_MS)) {
		*why = "PxCMD.CR (command list running) did not clear within 500 ms of ST=0";
		return -ETIMEDOUT;
	}
	cmd = ahci_prd(pt, AHCI_PxCMD);
	if (cmd & AHCI_PxCMD_FRE)
		ahci_pwr(pt, AHCI_PxCMD, cmd & ~AHCI_PxCMD_FRE);
	if (ahci_port_wait(pt, AHCI_PxCMD, AHCI_PxCMD_FR, 0, AHCI_STOP_WAIT_MS)) {
		*why = "PxCMD.FR (FIS receive running) did not clear within 500 ms of FRE=0";
		return -ETIMEDOUT;
	}
	return 0;
}

/* §10.3.1: FRE first, the device not busy, then ST. */
static int engine_start(struct ahci_port *pt, const char **why)
{
	uint32_t cmd = ahci_prd(pt, AHCI_PxCMD);
	if (cmd & AHCI_PxCMD_CR) {
		*why = "PxCMD.CR still set before start";
		return -EBUSY;
	}
	ahci_pwr(pt, AHCI_PxCMD, cmd | AHCI_PxCMD_FRE);
	uint64_t ms = pt->h->timeout_ns / 1000000u;
	if (ahci_port_wait(pt, AHCI_PxTFD, ATA_SR_BSY | ATA_SR_DRQ, 0, ms)) {
		*why = "device busy (PxTFD BSY/DRQ) before start";
		return -ETIMEDOUT;
	}
	cmd = ahci_prd(pt, AHCI_PxCMD);
	ahci_pwr(pt, AHCI_PxCMD, cmd | AHCI_PxCMD_FRE | AHCI_PxCMD_ST);
	return 0;
}

static uint32_t det(struct ahci_port *pt)
{
	return ahci_prd(pt, AHCI_PxSSTS) & AHCI_SSTS_DET_MASK;
}

/* §10.4.2: SControl.DET = 1 for at least 1 ms, then 0; wait for the link. */
static void comreset(struct ahci_port *pt)
{
	uint32_t sctl = ahci_prd(pt, AHCI_PxSCTL) & ~AHCI_SCTL_DET_MASK;
	ahci_pwr(pt, AHCI_PxSCTL, sctl | AHCI_SCTL_DET_COMRESET);
	udelay(1100);
	ahci_pwr(pt, AHCI_PxSCTL, sctl | AHCI_SCTL_DET_NONE);
	ahci_port_wait(pt, AHCI_PxSSTS, AHCI_SSTS_DET_MASK, AHCI_SSTS_DET_PRESENT, AHCI_LINK_WAIT_MS);
	ahci_pwr(pt, AHCI_PxSERR, 0xFFFFFFFFu);
}

/* ---- internal (polled) commands ------------------------------------------------------------ */

/* One command in slot 0 through the port's own table, polled, the engine running
 * and nothing else issued (probe, recovery). Slot 0's header is restored after.
 * 0 with *tfd, or -ETIMEDOUT / -EIO (status ERR: *tfd says which). */
static int internal_cmd(struct ahci_port *pt, const struct fis_reg_h2d *fis, uint32_t len, bool write, uint32_t *tfd)
{
	struct ahci_cmd_table *t = (struct ahci_cmd_table *)(pt->page + AHCI_PG_ITBL);
	dma_addr_t tbus = pt->page_bus + AHCI_PG_ITBL;
	struct ahci_cmd_hdr save = pt->cl[0];
	memset(t, 0, sizeof *t + sizeof(struct ahci_prd));
	memcpy(t->cfis, fis, sizeof *fis);
	struct ahci_cmd_hdr *hd = &pt->cl[0];
	hd->flags = (uint16_t)(FIS_H2D_CFL | (write ? AHCI_CMDH_W : 0u));
	hd->prdtl = 0;
	if (len) {
		dma_addr_t b = pt->page_bus + AHCI_PG_IBUF;
		t->prdt[0].dba = (uint32_t)b;
		t->prdt[0].dbau = (uint32_t)(b >> 32);
		t->prdt[0].dbc_i = AHCI_PRD_DBC(len);
		hd->prdtl = 1;
	}
	hd->prdbc = 0;
	hd->ctba = (uint32_t)tbus;
	hd->ctbau = (uint32_t)(tbus >> 32);
	ahci_pwr(pt, AHCI_PxIS, AHCI_PxIS_TFES);
	atomic_fence(MO_SEQ_CST);       /* the header and table are in memory before CI */
	ahci_pwr(pt, AHCI_PxCI, 1u);
	/* Done when CI clears; a task-file error leaves CI set and the port halted. */
	uint64_t deadline = time_now_ns() + pt->h->timeout_ns;
	int rc = -ETIMEDOUT;
	for (;;) {
		/* CI first: once it reads clear, PxTFD read after it is the command's final
		 * status (read before, it may be the previous command's ERR). */
		uint32_t ci = ahci_prd(pt, AHCI_PxCI);
		*tfd = ahci_prd(pt, AHCI_PxTFD);
		if (!(ci & 1u)) {
			rc = (*tfd & (ATA_SR_ERR | ATA_SR_DF)) ? -EIO : 0;
			break;
		}
		if (ahci_prd(pt, AHCI_PxIS) & AHCI_PxIS_TFES) {   /* PxTFD may be stale before: not used */
			rc = -EIO;
			break;
		}
		if (time_now_ns() > deadline)
			break;
		udelay(10);
	}
	if (!rc)
		atomic_fence(MO_SEQ_CST);   /* the data is read after CI cleared */
	pt->cl[0] = save;
	return rc;
}

/* ---- recovery --------------------------------------------------------------------------------- */

static unsigned reap(struct ahci_port *pt, struct ahci_batch *b);

static void batch_add(struct ahci_batch *b, struct blk_part *p, int st, uint32_t ds)
{
	if (b->n < AHCI_DONE_BATCH)
		b->d[b->n++] = (struct ahci_done){ p, st, ds };
	else
		blk_part_done(p, st, ds);       /* never with more than 64 at once: cannot happen */
}

static void batch_run(struct ahci_batch *b)
{
	for (unsigned i = 0; i < b->n; i++)
		blk_part_done(b->d[i].p, b->d[i].status, b->d[i].dev_status);
	b->n = 0;
}

static void slot_release(struct ahci_port *pt, unsigned s)
{
	struct ahci_slot *sl = &pt->slot[s];
	if (sl->nsg) {
		dma_unmap_sg(pt->h->dd, sl->sg, sl->nsg, sl->dir);
		sl->nsg = 0;
	}
	sl->part = 0;
	pt->issued &= ~(1u << s);
	pt->ncq_issued &= ~(1u << s);
}

static void slot_finish(struct ahci_port *pt, unsigned s, int st, uint32_t ds, struct ahci_batch *b)
{
	struct blk_part *p = pt->slot[s].part;
	slot_release(pt, s);
	if (!p)
		return;
	if (st)
		pt->errors++;
	pt->completed++;
	batch_add(b, p, st, ds);
}

static void fail_everything(struct ahci_port *pt, int st, struct ahci_batch *b)
{
	for (unsigned s = 0; s < AHCI_MAX_SLOTS; s++)
		if (pt->slot[s].part)
			slot_finish(pt, s, st, 0, b);
	while (pt->pend_head) {
		struct blk_part *p = pt->pend_head;
		pt->pend_head = p->drv;
		p->drv = 0;
		batch_add(b, p, st, 0);
		if (b->n == AHCI_DONE_BATCH)
			break;
	}
	if (!pt->pend_head)
		pt->pend_tail = 0;
}

static void port_give_up(struct ahci_port *pt, const char *why, struct ahci_batch *b)
{
	klog("ahci", "%s port %u (%s): given up: %s", pt->h->name, pt->no, pt->bdev.name, why);
	atomic_store32(&pt->state, AHCI_PORT_FAILED, MO_RELEASE);
	blk_dev_fail(&pt->bdev, why);
	fail_everything(pt, BLK_E_NODEV, b);
}

/* Program the port's memory (CLB/FB), which survives a COMRESET but not an HBA reset. */
static void program_bases(struct ahci_port *pt)
{
	dma_addr_t cl = pt->page_bus + AHCI_PG_CL, fb = pt->page_bus + AHCI_PG_RX;
	ahci_pwr(pt, AHCI_PxCLB, (uint32_t)cl);
	ahci_pwr(pt, AHCI_PxCLBU, (uint32_t)(cl >> 32));
	ahci_pwr(pt, AHCI_PxFB, (uint32_t)fb);
	ahci_pwr(pt, AHCI_PxFBU, (uint32_t)(fb >> 32));
}

/* Stop, COMRESET, start. 0 or -errno with *why. */
static int port_reset(struct ahci_port *pt, const char **why)
{
	lock_assert_held(&pt->lock);
	const char *w = 0;
	pt->resets++;
	if (engine_stop(pt, &w)) {
		klog("ahci", "%s port %u: %s: COMRESET", pt->h->name, pt->no, w);
		comreset(pt);
		if (engine_stop(pt, &w)) {
			*why = "port never cleared PxCMD.CR/FR, even after COMRESET";
			return -ETIMEDOUT;
		}
	} else {
		comreset(pt);
	}
	if (det(pt) != AHCI_SSTS_DET_PRESENT) {
		*why = "no link after COMRESET (SStatus.DET not 3)";
		return -ENODEV;
	}
	program_bases(pt);
	ahci_pwr(pt, AHCI_PxIS, 0xFFFFFFFFu);
	if (engine_start(pt, &w)) {
		*why = w;
		return -EIO;
	}
	return 0;
}

/* Issue slot s again (its header and table are intact). */
static void slot_reissue(struct ahci_port *pt, unsigned s)
{
	lock_assert_held(&pt->lock);
	pt->cl[s].prdbc = 0;
	atomic_fence(MO_SEQ_CST);       /* the header is in memory before SACT/CI */
	if (pt->slot[s].ncq)
		ahci_pwr(pt, AHCI_PxSACT, 1u << s);
	ahci_pwr(pt, AHCI_PxCI, 1u << s);
}

/* Reset the port and issue again what was in flight (each at most
 * AHCI_RESUBMIT_MAX times; beyond that the part fails with fail_st; fail_st 0: a
 * reset no command caused, which charges none of them). at_device: every
 * slot in pt->issued has been at the device since the engine last started (not so
 * inside task-file error recovery, which restarted the engine before reissuing). */
static void reset_and_resubmit(struct ahci_port *pt, const char *reason, int fail_st, bool at_device,
			       struct ahci_batch *b)
{
	const char *why = 0;
	uint32_t keep = pt->issued;
	uint32_t tfd0 = ahci_prd(pt, AHCI_PxTFD);
	uint32_t ds = (tfd0 & ATA_SR_ERR) ? (tfd0 & AHCI_PxTFD_STS_MASK) << 8 | ((tfd0 >> AHCI_PxTFD_ERR_SHIFT) & 0xFFu) : 0;
	klog("ahci", "%s port %u (%s): port reset: %s (%u commands in flight)", pt->h->name, pt->no, pt->bdev.name,
	     reason, (unsigned)__builtin_popcount(keep));
	/* While ST is still set a slot whose PxCI and PxSACT bits cleared since the
	 * caller reaped has completed well (§3.3.13-14: errors leave the bits set); once
	 * ST clears the HBA clears them all, so look now. One that completes after this
	 * look is issued again: reads and writes of the same data are idempotent, and
	 * its part still completes once. */
	if (at_device && (ahci_prd(pt, AHCI_PxCMD) & AHCI_PxCMD_ST)) {
		uint32_t before = pt->issued;
		reap(pt, b);
		for (unsigned s = 0; s < AHCI_MAX_SLOTS; s++)
			if (before & ~pt->issued & (1u << s))
				klog("ahci", "%s port %u (%s): tag %u completed while the port was being reset", pt->h->name,
				     pt->no, pt->bdev.name, s);
		keep = pt->issued;
	}
	if (port_reset(pt, &why)) {
		port_give_up(pt, why, b);
		return;
	}
	for (unsigned s = 0; s < AHCI_MAX_SLOTS; s++) {
		if (!(keep & (1u << s)) || !pt->slot[s].part)
			continue;
		if (fail_st && ++pt->slot[s].resubmits > AHCI_RESUBMIT_MAX) {
			klog("ahci", "%s: tag %u (lba %llu) failed after %u issues", pt->bdev.name, s,
			     (unsigned long long)pt->slot[s].part->lba, AHCI_RESUBMIT_MAX + 1u);
			slot_finish(pt, s, fail_st, ds, b);
			continue;
		}
		pt->resubmitted++;
		slot_reissue(pt, s);
	}
}

/* Task-file error (§6.2.2.1/§6.2.2.2). Completed slots already reaped
 * (alongside of them in this pass). */
static void tf_error(struct ahci_port *pt, struct ahci_batch *b, unsigned alongside)
{
	lock_assert_held(&pt->lock);
	uint32_t tfd = ahci_prd(pt, AHCI_PxTFD);
	uint8_t st = (uint8_t)(tfd & AHCI_PxTFD_STS_MASK), er = (uint8_t)(tfd >> AHCI_PxTFD_ERR_SHIFT);
	const char *why = 0;
	uint32_t failing = pt->issued;
	uint32_t ncq = pt->ncq_issued;
	/* §6.2.2.2: stop, clear the errors, COMRESET only when the device stays busy
	 * (a reset would also clear the NCQ error log), start again. */
	if (engine_stop(pt, &why)) {
		reset_and_resubmit(pt, why, BLK_E_IO, false, b);
		return;
	}
	ahci_pwr(pt, AHCI_PxSERR, 0xFFFFFFFFu);
	ahci_pwr(pt, AHCI_PxIS, 0xFFFFFFFFu);
	if (ahci_prd(pt, AHCI_PxTFD) & (ATA_SR_BSY | ATA_SR_DRQ)) {
		pt->resets++;
		comreset(pt);
	}
	if (engine_start(pt, &why)) {
		reset_and_resubmit(pt, why, BLK_E_IO, false, b);
		return;
	}
	int bad = -1;
	uint64_t lba = 0;
	if (ncq) {
		/* The device holds its queue until log 10h is read (ACS-3 §7.23.5). */
		struct fis_reg_h2d f;
		uint32_t t2;
		struct ahci_ncq_err e;
		const char *w2 = 0;
		ahci_fis_read_log(&f, ATA_LOG_NCQ_ERROR, 1);
		memset(&e, 0, sizeof e);
		int lrc = internal_cmd(pt, &f, ATA_SECTOR_BYTES, false, &t2);
		if (lrc)
			w2 = lrc == -EIO ? "READ LOG EXT failed" : "READ LOG EXT timed out";
		else if (ahci_ncq_err_parse(pt->page + AHCI_PG_IBUF, ATA_SECTOR_BYTES, &e, &w2) == 0 && e.nq)
			w2 = "the log names a non-queued command";
		else if (!w2 && !(ncq & (1u << e.tag)))
			w2 = "the log names a tag not in flight";
		if (w2) {
			/* Without the log the failing tag is unknown: every queued command is
			 * issued again after a reset (the failing one fails again and, past
			 * AHCI_RESUBMIT_MAX issues, is failed with the status of that time). */
			char reason[96];
			ksnprintf(reason, sizeof reason, "NCQ error log: %s (PxTFD 0x%x)", w2, t2);
			reset_and_resubmit(pt, reason, BLK_E_IO, false, b);
			return;
		} else {
			bad = (int)e.tag;
			st = e.status;
			er = e.error;
			lba = e.lba;
		}
	} else {
		for (unsigned s = 0; s < AHCI_MAX_SLOTS; s++)
			if (failing & (1u << s))
				bad = (int)s;
	}
	uint32_t ds = (uint32_t)st << 8 | er;
	unsigned again = 0;
	for (unsigned s = 0; s < AHCI_MAX_SLOTS; s++) {
		if (!(failing & (1u << s)) || !pt->slot[s].part)
			continue;
		if ((int)s == bad || (bad < 0 && (ncq & (1u << s)))) {
			klog("ahci", "%s port %u (%s): tag %u failed: status 0x%02x error 0x%02x lba %llu", pt->h->name,
			     pt->no, pt->bdev.name, s, st, er,
			     (unsigned long long)(bad >= 0 && ncq ? lba : pt->slot[s].part->lba));
			slot_finish(pt, s, BLK_E_IO, ds, b);
		} else {
			pt->resubmitted++;
			again++;
			slot_reissue(pt, s);
		}
	}
	if (ncq && bad >= 0)
		klog("ahci", "%s port %u (%s): error on tag %d, %u others resubmitted, %u completed alongside",
		     pt->h->name, pt->no, pt->bdev.name, bad, again, alongside);
}

/* ---- issue ------------------------------------------------------------------------------------- */

static int slot_fill(struct ahci_port *pt, unsigned s, struct blk_part *p, bool ncq)
{
	struct ahci_slot *sl = &pt->slot[s];
	struct ahci_cmd_table *t = sl->tbl;
	struct ahci_cmd_hdr *hd = &pt->cl[s];
	struct fis_reg_h2d f;
	bool write = false;
	unsigned nprd = 0;
	memset(t, 0, sizeof *t);
	switch (p->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE: {
		write = p->op == BLK_OP_WRITE;
		uint64_t total = (uint64_t)p->nblocks * pt->id.block_size;
		uint32_t secs = p->nblocks;
		if (ahci_fis_rw(&f, write, ncq, s, p->lba, secs))
			return BLK_E_INVAL;
		memset(sl->sg, 0, sizeof sl->sg);
		for (unsigned i = 0; i < p->nsegs; i++) {
			sl->sg[i].va = p->segs[i].va;
			sl->sg[i].len = p->segs[i].len;
		}
		sl->dir = write ? DMA_TO_DEVICE : DMA_FROM_DEVICE;
		int n = dma_map_sg(pt->h->dd, sl->sg, (int)BLK_MAX_SEGS, sl->dir);
		if (n <= 0)
			return BLK_E_NOMEM;
		sl->nsg = (int)BLK_MAX_SEGS;
		struct ahci_prdt_seg seg[BLK_MAX_SEGS];
		for (int i = 0; i < n; i++) {
			seg[i].bus = sl->sg[i].bus;
			seg[i].len = sl->sg[i].bus_len;
		}
		const char *why = 0;
		int rc = ahci_prdt_build(seg, (unsigned)n, total, pt->h->s64, t->prdt, AHCI_MAX_PRD, &why);
		if (rc < 0) {
			klog("ahci", "%s: PRDT refused: %s", pt->bdev.name, why);
			dma_unmap_sg(pt->h->dd, sl->sg, sl->nsg, sl->dir);
			sl->nsg = 0;
			return BLK_E_INVAL;
		}
		nprd = (unsigned)rc;
		break;
	}
	case BLK_OP_FLUSH:
		ahci_fis_simple(&f, ATA_CMD_FLUSH_CACHE_EXT);
		pt->flushes++;
		break;
	case BLK_OP_DISCARD: {
		uint64_t *rng = (uint64_t *)((uint8_t *)t + AHCI_TRIM_OFF);
		if (ahci_trim_ranges(rng, p->lba * (pt->id.block_size / ATA_SECTOR_BYTES),
				     (uint64_t)p->nblocks * (pt->id.block_size / ATA_SECTOR_BYTES)) < 0)
			return BLK_E_INVAL;
		ahci_fis_trim(&f, 1);
		dma_addr_t rb = sl->tbl_bus + AHCI_TRIM_OFF;
		t->prdt[0].dba = (uint32_t)rb;
		t->prdt[0].dbau = (uint32_t)(rb >> 32);
		t->prdt[0].dbc_i = AHCI_PRD_DBC(ATA_SECTOR_BYTES);
		nprd = 1;
		write = true;
		pt->trims++;
		break;
	}
	default:
		return BLK_E_NOTSUP;
	}
	memcpy(t->cfis, &f, sizeof f);
	hd->flags = (uint16_t)(FIS_H2D_CFL | (write ? AHCI_CMDH_W : 0u));
	hd->prdtl = (uint16_t)nprd;
	hd->prdbc = 0;
	hd->ctba = (uint32_t)sl->tbl_bus;
	hd->ctbau = (uint32_t)(sl->tbl_bus >> 32);
	sl->part = p;
	sl->ncq = ncq;
	sl->resubmits = 0;
	p->tag = s;
	p->hwq = pt->no;
	return 0;
}

static bool queueable(const struct ahci_port *pt, const struct blk_part *p)
{
	return pt->ncq_on && (p->op == BLK_OP_READ || p->op == BLK_OP_WRITE);
}

/* Issue parts from the head of the pending queue while the rules allow: an NCQ
 * command when no non-queued one is at the device and a tag is free; a non-queued
 * command only on an idle port. */
static void kick(struct ahci_port *pt, struct ahci_batch *b)
{
	lock_assert_held(&pt->lock);
	while (pt->pend_head && atomic_load32(&pt->state, MO_RELAXED) == AHCI_PORT_LIVE && b->n < AHCI_DONE_BATCH) {
		struct blk_part *p = pt->pend_head;
		bool ncq = queueable(pt, p);
		unsigned s = AHCI_MAX_SLOTS;
		if (ncq) {
			if (pt->issued & ~pt->ncq_issued)
				return;
			for (unsigned k = 0; k < pt->nslots; k++)
				if (!(pt->issued & (1u << k)) && !pt->slot[k].part) {
					s = k;
					break;
				}
		} else if (!pt->issued) {
			s = 0;
		}
		if (s == AHCI_MAX_SLOTS)
			return;
		pt->pend_head = p->drv;
		if (!pt->pend_head)
			pt->pend_tail = 0;
		p->drv = 0;
		int rc = slot_fill(pt, s, p, ncq);
		if (rc) {
			batch_add(b, p, rc, 0);
			continue;
		}
		pt->submitted++;
		pt->issued |= 1u << s;
		if (ncq)
			pt->ncq_issued |= 1u << s;
		unsigned infl = (unsigned)__builtin_popcount(pt->issued);
		if (infl > pt->max_inflight)
			pt->max_inflight = infl;
		/* Header, table and data mapping are in memory before the HBA sees the bit. */
		atomic_fence(MO_SEQ_CST);
		if (ncq)
			ahci_pwr(pt, AHCI_PxSACT, 1u << s);     /* SActive before CI, §5.6.4.1 */
		ahci_pwr(pt, AHCI_PxCI, 1u << s);
	}
}

/* Reap slots whose PxSACT and PxCI bits both cleared. */
static unsigned reap(struct ahci_port *pt, struct ahci_batch *b)
{
	lock_assert_held(&pt->lock);
	if (!pt->issued)
		return 0;
	uint32_t busy = ahci_prd(pt, AHCI_PxCI) | ahci_prd(pt, AHCI_PxSACT);
	uint32_t done = pt->issued & ~busy;
	unsigned n = 0;
	if (done)
		atomic_fence(MO_SEQ_CST);   /* the data is read after the bits cleared */
	for (unsigned s = 0; s < AHCI_MAX_SLOTS && done; s++) {
		if (!(done & (1u << s)))
			continue;
		done &= ~(1u << s);
		slot_finish(pt, s, 0, 0, b);
		n++;
	}
	return n;
}

void ahci_port_intr(struct ahci_port *pt, uint32_t pxis)
{
	struct ahci_batch b = { 0 };
	spin_lock(&pt->lock);
	if (atomic_load32(&pt->state, MO_RELAXED) != AHCI_PORT_LIVE) {
		spin_unlock(&pt->lock);
		return;
	}
	if (pxis & AHCI_PxIS_PRCS) {
		uint32_t serr = ahci_prd(pt, AHCI_PxSERR);
		ahci_pwr(pt, AHCI_PxSERR, serr);
		if (det(pt) != AHCI_SSTS_DET_PRESENT) {
			reap(pt, &b);
			klog("ahci", "%s port %u (%s): link down (PhyRdy change, SError 0x%x, SStatus 0x%x): failing "
			     "%u commands in flight", pt->h->name, pt->no, pt->bdev.name, serr, ahci_prd(pt, AHCI_PxSSTS),
			     (unsigned)__builtin_popcount(pt->issued));
			const char *w = 0;
			engine_stop(pt, &w);
			port_give_up(pt, "SATA link down (PhyRdy change)", &b);
			spin_unlock(&pt->lock);
			batch_run(&b);
			return;
		}
	}
	unsigned reaped = reap(pt, &b);
	if (pxis & AHCI_PxIS_TFES) {
		tf_error(pt, &b, reaped);
	} else if (pxis & (AHCI_PxIS_ERRORS & ~AHCI_PxIS_TFES)) {
		char why[64];
		ksnprintf(why, sizeof why, "interface/host bus error (PxIS 0x%x)", pxis);
		reset_and_resubmit(pt, why, BLK_E_IO, true, &b);
	}
	kick(pt, &b);
	spin_unlock(&pt->lock);
	batch_run(&b);
}

unsigned ahci_port_service(struct ahci_port *pt)
{
	uint32_t pxis = ahci_prd(pt, AHCI_PxIS);
	if (pxis) {
		ahci_pwr(pt, AHCI_PxIS, pxis);          /* PxIS before IS, §10.7.2.1 */
		ahci_wr(pt->h, AHCI_IS, 1u << pt->no);
	}
	/* completed moves under the port lock (interrupt handlers on other CPUs) */
	spin_lock(&pt->lock);
	uint64_t before = pt->completed;
	spin_unlock(&pt->lock);
	ahci_port_intr(pt, pxis);
	spin_lock(&pt->lock);
	uint64_t after = pt->completed;
	spin_unlock(&pt->lock);
	return (unsigned)(after - before);
}

/* ---- block operations ----------------------------------------------------------------------- */

static int port_submit(struct blk_dev *d, struct blk_part *p)
{
	struct ahci_port *pt = d->drv;
	struct ahci_batch b = { 0 };
	if (p->op == BLK_OP_DISCARD && !pt->id.trim)
		return BLK_E_NOTSUP;
	if (p->op != BLK_OP_READ && p->op != BLK_OP_WRITE && p->op != BLK_OP_FLUSH && p->op != BLK_OP_DISCARD)
		return BLK_E_NOTSUP;
	spin_lock(&pt->lock);
	uint32_t st = atomic_load32(&pt->state, MO_RELAXED);
	if (st != AHCI_PORT_LIVE) {
		spin_unlock(&pt->lock);
		return BLK_E_NODEV;
	}
	p->drv = 0;
	if (pt->pend_tail)
		pt->pend_tail->drv = p;
	else
		pt->pend_head = p;
	pt->pend_tail = p;
	kick(pt, &b);
	spin_unlock(&pt->lock);
	batch_run(&b);
	return 0;
}

static unsigned port_poll(struct blk_dev *d, bool all)
{
	(void)all;
	return ahci_port_service(d->drv);
}

/* Overdue part: reset the port and issue what was in flight again; a part overdue
 * after AHCI_RESUBMIT_MAX resubmissions fails with BLK_E_TIMEDOUT. */
static void port_timeout(struct blk_dev *d, struct blk_part *p)
{
	struct ahci_port *pt = d->drv;
	struct ahci_batch b = { 0 };
	spin_lock(&pt->lock);
	bool ours = false;
	for (unsigned s = 0; s < AHCI_MAX_SLOTS; s++)
		if (pt->slot[s].part == p && (pt->issued & (1u << s)))
			ours = true;
	if (atomic_load32(&pt->state, MO_RELAXED) == AHCI_PORT_LIVE && ours) {
		unsigned tag = p->tag;
		reap(pt, &b);
		if (!(pt->issued & (1u << tag)) || pt->slot[tag].part != p) {
			/* It completed between the block layer's look and ours: no reset. */
			klog("ahci", "%s port %u (%s): tag %u completed while its timeout was handled: no reset",
			     pt->h->name, pt->no, pt->bdev.name, tag);
			kick(pt, &b);
			spin_unlock(&pt->lock);
			batch_run(&b);
			return;
		}
		char why[80];
		ksnprintf(why, sizeof why, "tag %u (lba %llu) overdue, PxCI 0x%x PxSACT 0x%x PxTFD 0x%x", p->tag,
			  (unsigned long long)p->lba, ahci_prd(pt, AHCI_PxCI), ahci_prd(pt, AHCI_PxSACT),
			  ahci_prd(pt, AHCI_PxTFD));
		if (pt->issued)
			reset_and_resubmit(pt, why, BLK_E_TIMEDOUT, true, &b);
		kick(pt, &b);
	}
	spin_unlock(&pt->lock);
	batch_run(&b);
}

void ahci_port_shutdown(struct ahci_port *pt)
{
	spin_lock(&pt->lock);
	if (atomic_load32(&pt->state, MO_RELAXED) != AHCI_PORT_LIVE) {
		spin_unlock(&pt->lock);
		return;
	}
	const char *why = 0;
	if (pt->issued || pt->pend_head) {
		klog("ahci", "%s: shutdown with commands in flight: no flush", pt->bdev.name);
	} else if (pt->id.wcache_on) {
		struct fis_reg_h2d f;
		uint32_t tfd;
		ahci_fis_simple(&f, ATA_CMD_FLUSH_CACHE_EXT);
		pt->flushes++;
		if (internal_cmd(pt, &f, 0, false, &tfd))
			klog("ahci", "%s: FLUSH CACHE EXT at shutdown failed (PxTFD 0x%x)", pt->bdev.name, tfd);
	}
	if (engine_stop(pt, &why))
		klog("ahci", "%s: engines not stopped at shutdown: %s", pt->bdev.name, why);
	atomic_store32(&pt->state, AHCI_PORT_STOPPED, MO_RELEASE);
	spin_unlock(&pt->lock);
}

static void port_blk_shutdown(struct blk_dev *d)
{
	ahci_port_shutdown(d->drv);
}

int ahci_port_restart(struct ahci_port *pt)
{
	spin_lock(&pt->lock);
	int rc = -EINVAL;
	const char *why = 0;
	if (atomic_load32(&pt->state, MO_RELAXED) == AHCI_PORT_STOPPED) {
		rc = engine_start(pt, &why);
		if (!rc)
			atomic_store32(&pt->state, AHCI_PORT_LIVE, MO_RELEASE);
		else
			klog("ahci", "%s: not restarted: %s", pt->bdev.name, why);
	}
	spin_unlock(&pt->lock);
	return rc;
}

int ahci_port_reset_now(struct ahci_port *pt, const char *why)
{
	struct ahci_batch b = { 0 };
	spin_lock(&pt->lock);
	if (atomic_load32(&pt->state, MO_RELAXED) != AHCI_PORT_LIVE) {
		spin_unlock(&pt->lock);
		return -EINVAL;
	}
	reap(pt, &b);
	reset_and_resubmit(pt, why, 0, true, &b);
	kick(pt, &b);
	int rc = atomic_load32(&pt->state, MO_RELAXED) == AHCI_PORT_LIVE ? 0 : -EIO;
	spin_unlock(&pt->lock);
	batch_run(&b);
	return rc;
}

static const struct blk_dev_ops ahci_blk_ops = {
	.submit = port_submit,
	.poll = port_poll,
	.timeout = port_timeout,
	.shutdown = port_blk_shutdown,
};

/* ---- bring-up ------------------------------------------------------------------------------- */

static void port_free(struct ahci_port *pt)
{
	for (unsigned s = 0; s < AHCI_MAX_SLOTS; s++)
		if (pt->slot[s].tbl)
			dma_free_coherent(pt->h->dd, AHCI_TBL_BYTES, pt->slot[s].tbl, pt->slot[s].tbl_bus);
	if (pt->page)
		dma_free_coherent(pt->h->dd, PAGE_SIZE, pt->page, pt->page_bus);
	kfree(pt);
}

int ahci_port_init(struct ahci_hba *h, unsigned no, struct ahci_port **out)
{
	struct ahci_port *pt = kzalloc(sizeof *pt);
	if (!pt)
		return -ENOMEM;
	pt->h = h;
	pt->no = no;
	pt->regs = h->abar + AHCI_PORT(no);
	spin_init(&pt->lock, "ahci.port");
	ksnprintf(pt->bdev.name, sizeof pt->bdev.name, "%s.p%u", h->name, no);
	const char *why = 0;
	if (engine_stop(pt, &why)) {
		klog("ahci", "%s port %u: %s: COMRESET", h->name, no, why);
		comreset(pt);
		if (engine_stop(pt, &why)) {
			klog("ahci", "%s port %u: given up: %s", h->name, no, why);
			kfree(pt);
			return -ENODEV;
		}
	}
	pt->page = dma_alloc_coherent(h->dd, PAGE_SIZE, &pt->page_bus);
	if (!pt->page) {
		klog("ahci", "%s port %u: no memory for the command list", h->name, no);
		kfree(pt);
		return -ENOMEM;
	}
	pt->cl = (struct ahci_cmd_hdr *)(pt->page + AHCI_PG_CL);
	pt->rx = (struct ahci_rx_fis *)(pt->page + AHCI_PG_RX);
	program_bases(pt);
	ahci_pwr(pt, AHCI_PxCMD, ahci_prd(pt, AHCI_PxCMD) | AHCI_PxCMD_FRE);
	ahci_pwr(pt, AHCI_PxSERR, 0xFFFFFFFFu);
	if (det(pt) != AHCI_SSTS_DET_PRESENT)
		comreset(pt);
	uint32_t ssts = ahci_prd(pt, AHCI_PxSSTS);
	if ((ssts & AHCI_SSTS_DET_MASK) != AHCI_SSTS_DET_PRESENT) {
		klog("ahci", "%s port %u: no device", h->name, no);
		goto out_idle;
	}
	if ((ssts & AHCI_SSTS_IPM_MASK) != AHCI_SSTS_IPM_ACTIVE) {
		/* Partial/slumber: ask for active (PxCMD.ICC, §3.3.7), then look again. */
		ahci_pwr(pt, AHCI_PxCMD, ahci_prd(pt, AHCI_PxCMD) | AHCI_PxCMD_ICC_ACTIVE);
		if (ahci_port_wait(pt, AHCI_PxSSTS, AHCI_SSTS_IPM_MASK, AHCI_SSTS_IPM_ACTIVE, AHCI_LINK_WAIT_MS))
			klog("ahci", "%s port %u: interface not active (SStatus 0x%x): going on", h->name, no,
			     ahci_prd(pt, AHCI_PxSSTS));
	}
	if (ahci_port_wait(pt, AHCI_PxTFD, ATA_SR_BSY | ATA_SR_DRQ, 0, h->timeout_ns / 1000000u)) {
		klog("ahci", "%s port %u: no device (busy, PxTFD 0x%x)", h->name, no, ahci_prd(pt, AHCI_PxTFD));
		goto out_idle;
	}
	uint32_t sig = ahci_prd(pt, AHCI_PxSIG);
	if (sig == AHCI_SIG_ATAPI) {
		klog("ahci", "%s port %u: ATAPI skipped", h->name, no);
		goto out_idle;
	}
	if (sig == AHCI_SIG_PM) {
		klog("ahci", "%s port %u: port multiplier skipped", h->name, no);
		goto out_idle;
	}
	if (sig != AHCI_SIG_ATA) {
		klog("ahci", "%s port %u: unknown signature 0x%08x skipped", h->name, no, sig);
		goto out_idle;
	}
	ahci_pwr(pt, AHCI_PxIS, 0xFFFFFFFFu);
	ahci_pwr(pt, AHCI_PxIE, PXIE_WANT);
	if (engine_start(pt, &why)) {
		klog("ahci", "%s port %u: engine not started: %s", h->name, no, why);
		goto out_idle;
	}
	struct fis_reg_h2d f;
	uint32_t tfd;
	ahci_fis_simple(&f, ATA_CMD_IDENTIFY);
	memset(pt->page + AHCI_PG_IBUF, 0, ATA_SECTOR_BYTES);
	if (internal_cmd(pt, &f, ATA_SECTOR_BYTES, false, &tfd)) {
		klog("ahci", "%s port %u: disk, IDENTIFY DEVICE failed (PxTFD 0x%x): skipped", h->name, no, tfd);
		goto out_stop;
	}
	if (ahci_identify_parse(pt->page + AHCI_PG_IBUF, ATA_SECTOR_BYTES, &pt->id, &why)) {
		klog("ahci", "%s port %u: disk, %s %s: skipped: %s", h->name, no, pt->id.model, pt->id.serial, why);
		goto out_stop;
	}
	pt->ncq_ok = pt->id.ncq && (h->cap & AHCI_CAP_SNCQ);
	uint64_t v;
	if (cmdline_get_u64("ahci.ncq", &v) == 0 && v == 0)
		pt->ncq_ok = false;
	unsigned ncs = ((h->cap & AHCI_CAP_NCS_MASK) >> AHCI_CAP_NCS_SHIFT) + 1u;
	pt->nslots = pt->ncq_ok ? (pt->id.ncq_depth < ncs ? pt->id.ncq_depth : ncs) : 1u;
	if (pt->nslots <= 1)
		pt->ncq_ok = false;
	pt->ncq_on = pt->ncq_ok;
	unsigned alloc = pt->ncq_ok ? pt->nslots : 1u;
	for (unsigned s = 0; s < alloc; s++) {
		pt->slot[s].tbl = dma_alloc_coherent(h->dd, AHCI_TBL_BYTES, &pt->slot[s].tbl_bus);
		if (!pt->slot[s].tbl) {
			klog("ahci", "%s port %u: no memory for command tables: skipped", h->name, no);
			goto out_stop;
		}
	}
	char depth[8] = "off";
	if (pt->ncq_ok)
		ksnprintf(depth, sizeof depth, "%u", pt->nslots);
	klog("ahci", "%s port %u: disk, %s %s, %llu sectors of %u, NCQ depth %s, TRIM %s, write cache %s", h->name, no,
	     pt->id.model, pt->id.serial, (unsigned long long)pt->id.sectors, pt->id.block_size, depth,
	     pt->id.trim ? "yes" : "no", pt->id.wcache_on ? "yes" : "no");
	*out = pt;
	return 0;
out_stop:
	engine_stop(pt, &why);
out_idle:
	ahci_pwr(pt, AHCI_PxIE, 0);
	{
		const char *w2 = 0;
		engine_stop(pt, &w2);
	}
	port_free(pt);
	return -ENODEV;
}

int ahci_port_register(struct ahci_port *pt, unsigned disk_no)
{
	struct blk_dev *d = &pt->bdev;
	ksnprintf(d->name, sizeof d->name, "sata%u", disk_no);
	ksnprintf(pt->model, sizeof pt->model, "%s %s", pt->id.model, pt->id.serial);
	d->nblocks = pt->id.sectors;
	d->lim.block_size = pt->id.block_size;
	uint32_t mb = AHCI_MAX_XFER / pt->id.block_size;
	d->lim.max_blocks = mb > 65536u ? 65536u : mb;
	d->lim.max_segs = BLK_MAX_SEGS;
	d->lim.virt_boundary = 0;
	d->lim.dma_align = 2;
	d->lim.flush = pt->id.wcache_on;
	d->lim.max_discard_blocks = pt->id.trim ? (64u * 0xFFFFu) / (pt->id.block_size / ATA_SECTOR_BYTES) : 0;
	d->lim.max_write_zeroes_blocks = 0;
	d->lim.nr_hwq = 1;
	d->lim.default_timeout_ns = pt->h->timeout_ns;
	d->lim.polled = pt->h->irq.mode == PCI_IRQ_POLL;
	d->ops = &ahci_blk_ops;
	d->drv = pt;
	d->model = pt->model;
	pt->disk = disk_no;
	int rc = blk_register(d);
	if (rc)
		klog("ahci", "%s port %u: %s not registered: %d", pt->h->name, pt->no, d->name, rc);
	return rc;
}
