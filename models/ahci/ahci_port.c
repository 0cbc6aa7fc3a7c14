/*
 * ahci_port.c — AHCI HBA model, one port (AHCI 1.3.1 §3.3 port registers, §5
 * command processing, §6 error handling, §10.1-10.4 start/stop and resets):
 * PxCLB/PxFB (ignored while the engine that uses them runs), the PxCMD ST/FRE/CR/FR
 * state machine with the §10.3 rules (ST needs FR, a device with BSY/DRQ clear and
 * DET=3; FRE may not clear while ST or CR), COMRESET through PxSCTL.DET and the
 * device's signature D2H FIS, PxIS/PxSERR (RW1C; PRCS/PCS mirror SERR.DIAG.N/X),
 * PxSACT/PxCI doorbells, the command list walk, NCQ acceptance and Set Device Bits
 * completions, task-file errors that stop the port until ST is cleared (§6.2.2),
 * and the received FIS area (§4.2.1).
 */
#include "ahci/ahci_int.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define TFD_BSY ATA_SR_BSY
#define STS_OK (ATA_SR_DRDY | 0x10u)        /* DRDY | DSC, what the disk reports after a command */
#define STS_ERR (ATA_SR_DRDY | ATA_SR_ERR)
#define TFD_EMPTY 0x7Fu                     /* PxTFD of a port with no device (as QEMU) */
#define SIG_NONE 0xFFFFFFFFu
#define SSTS_UP (AHCI_SSTS_DET_PRESENT | 1u << AHCI_SSTS_SPD_SHIFT | AHCI_SSTS_IPM_ACTIVE)
#define PxIS_MIRRORS (AHCI_PxIS_PRCS | AHCI_PxIS_PCS)   /* read-only reflections of PxSERR */
#define PxIS_VALID (AHCI_PxIS_DHRS | AHCI_PxIS_PSS | AHCI_PxIS_DSS | AHCI_PxIS_SDBS | \
		    AHCI_PxIS_UFS | AHCI_PxIS_DPS | AHCI_PxIS_PCS | AHCI_PxIS_DMPS | \
		    AHCI_PxIS_PRCS | AHCI_PxIS_IPMS | AHCI_PxIS_ERRORS | AHCI_PxIS_CPDS)
#define PxCMD_RW (AHCI_PxCMD_ST | AHCI_PxCMD_FRE | AHCI_PxCMD_ATAPI | AHCI_PxCMD_DLAE | \
		  AHCI_PxCMD_ALPE | AHCI_PxCMD_ASP)
#define SRST 0x04u                          /* device control register: software reset */

static void refuse(struct ahci_port *p, const char *what, uint32_t v, const char *why)
{
	p->h->st.refused++;
	ahci_log(p->h, "port %u: %s 0x%08x ignored: %s", p->idx, what, v, why);
}

static bool running(const struct ahci_port *p)
{
	return (p->cmd & AHCI_PxCMD_ST) && !p->halted && !p->link_down && p->disk.present &&
	       (p->ssts & AHCI_SSTS_DET_MASK) == AHCI_SSTS_DET_PRESENT;
}

/* ---- received FISes (§4.2.1) -------------------------------------------------------------- */

static void fis_write(struct ahci_port *p, unsigned off, const void *fis, unsigned len)
{
	if (!(p->cmd & AHCI_PxCMD_FR))
		return;                 /* FIS receive off: the FIS is not copied */
	ahci_dma(p->h, p->fb + off, (void *)fis, len, true);
}

static void d2h(struct ahci_port *p, uint8_t status, uint8_t error, uint64_t lba, uint16_t count,
		bool irq)
{
	struct fis_reg_d2h f = {
		.type = FIS_TYPE_REG_D2H, .pmp_i = irq ? FIS_I : 0, .status = status,
		.error = error, .lba0 = (uint8_t)lba, .lba1 = (uint8_t)(lba >> 8),
		.lba2 = (uint8_t)(lba >> 16), .device = ATA_DEV_LBA, .lba3 = (uint8_t)(lba >> 24),
		.lba4 = (uint8_t)(lba >> 32), .lba5 = (uint8_t)(lba >> 40),
		.count_lo = (uint8_t)count, .count_hi = (uint8_t)(count >> 8),
	};

	fis_write(p, offsetof(struct ahci_rx_fis, rfis), &f, sizeof(f));
	p->h->st.d2h_fises++;
	p->tfd = (uint32_t)error << AHCI_PxTFD_ERR_SHIFT | status;
	/* §5.3 RegFIS:Entry: status ERR goes to ERR:FatalTaskfile (PxIS.TFES) instead of
	 * the FIS's interrupt (DHRS). QEMU 7.2 sets both: docs/ahci.md "Model vs QEMU". */
	if (status & ATA_SR_ERR)
		p->is |= AHCI_PxIS_TFES;
	else if (irq)
		p->is |= AHCI_PxIS_DHRS;
	ahci_port_irq(p);
}

static void pio_setup(struct ahci_port *p, uint8_t e_status, uint16_t bytes)
{
	struct fis_pio_setup f = {
		.type = FIS_TYPE_PIO_SETUP, .pmp_di = FIS_D | FIS_I, .status = STS_OK | ATA_SR_DRQ,
		.e_status = e_status, .xfer_count = bytes,
	};

	fis_write(p, offsetof(struct ahci_rx_fis, psfis), &f, sizeof(f));
	p->h->st.pio_fises++;
	p->is |= AHCI_PxIS_PSS;
	p->tfd = (p->tfd & ~AHCI_PxTFD_STS_MASK) | e_status;
}

/* Set Device Bits (SATA 3.2 §10.5.7): status bits 6:4 and 2:0 and the error register
 * go to PxTFD; the tags in sactive leave PxSACT. */
static void sdb(struct ahci_port *p, uint8_t status, uint8_t error, uint32_t done)
{
	struct fis_sdb f = { .type = FIS_TYPE_SDB, .pmp_in = FIS_I, .status = status & 0x77u,
			     .error = error, .sactive = done };

	fis_write(p, offsetof(struct ahci_rx_fis, sdbfis), &f, sizeof(f));
	p->h->st.sdb_fises++;
	p->tfd = (uint32_t)error << AHCI_PxTFD_ERR_SHIFT | (p->tfd & 0x88u) | (status & 0x77u);
	p->sact &= ~done;
	/* §5.3.13.1 SDB:Entry: status ERR goes to ERR:FatalTaskfile (PxIS.TFES, no SDBS). */
	if (status & ATA_SR_ERR)
		p->is |= AHCI_PxIS_TFES;
	else
		p->is |= AHCI_PxIS_SDBS;
	ahci_port_irq(p);
}

/* An HBA-side error (bad pointer, DMA blocked, PRDT too short): the port stops with
 * BSY left set, so software needs a COMRESET (§6.2.2.2). */
static void fatal(struct ahci_port *p, uint32_t bit, unsigned slot, const char *why)
{
	p->h->st.fatal_errors++;
	ahci_log(p->h, "port %u slot %u: %s (PxIS.%s, port stopped)", p->idx, slot, why,
		 bit == AHCI_PxIS_OFS ? "OFS" : "HBFS");
	p->is |= bit;
	p->halted = true;
	ahci_port_irq(p);
}

/* ---- device resets and the link ------------------------------------------------------------ */

static unsigned drop_queued(struct ahci_port *p)
{
	unsigned n = p->held.used ? 1u : 0u;

	for (unsigned t = 0; t < AHCIM_SLOTS; t++)
		n += p->ncq[t].used;
	memset(p->ncq, 0, sizeof(p->ncq));
	memset(&p->held, 0, sizeof(p->held));
	p->h->st.lost += n;
	return n;
}

/* The device answers a reset with its signature in a D2H FIS (ATA: status 50h,
 * error 01h, count/LBA 0101h), copied once FIS receive runs. */
static void signature(struct ahci_port *p)
{
	p->sig = AHCI_SIG_ATA;
	p->tfd = 0x01u << AHCI_PxTFD_ERR_SHIFT | STS_OK;
	p->disk.ncq_error = false;
	p->srst = false;
	if (p->cmd & AHCI_PxCMD_FR) {
		d2h(p, STS_OK, 0x01, 0x01, 0x01, true);
		p->sig_pending = false;
	} else {
		p->sig_pending = true;
	}
}

static void link_up(struct ahci_port *p)
{
	p->link_down = false;
	if (!p->disk.present) {
		p->ssts = AHCI_SSTS_DET_NONE;
		p->tfd = TFD_EMPTY;
		p->sig = SIG_NONE;
		return;
	}
	p->ssts = SSTS_UP;
	signature(p);
}

void ahci_port_reset(struct ahci_port *p, bool hba_reset)
{
	if (hba_reset)
		drop_queued(p);
	memset(p->ncq, 0, sizeof(p->ncq));
	memset(&p->held, 0, sizeof(p->held));
	/* PxCLB/PxFB keep their values: software reprograms them anyway. */
	p->is = p->ie = p->serr = p->sact = p->ci = p->sctl = 0;
	p->cmd = AHCI_PxCMD_SUD | AHCI_PxCMD_POD;  /* no staggered spin-up, no cold presence */
	p->halted = p->hang = p->sig_pending = false;
	p->disk.wce = true;
	link_up(p);
}

static void phy_down(struct ahci_port *p)
{
	drop_queued(p);
	p->link_down = true;
	p->ssts = AHCI_SSTS_DET_NONE;
	p->serr |= AHCI_SERR_DIAG_N;
	p->is |= AHCI_PxIS_PRCS;
	ahci_log(p->h, "port %u: PhyRdy lost (PxSSTS.DET=0, PxIS.PRCS); a COMRESET brings it back",
		 p->idx);
	ahci_port_irq(p);
}

static void sctl_write(struct ahci_port *p, uint32_t v)
{
	uint32_t old = p->sctl & AHCI_SCTL_DET_MASK, det = v & AHCI_SCTL_DET_MASK;

	if (det == AHCI_SCTL_DET_COMRESET && old != det && (p->cmd & AHCI_PxCMD_ST)) {
		refuse(p, "PxSCTL", v, "COMRESET while PxCMD.ST=1 (§3.3.11: only with ST clear)");
		return;
	}
	p->sctl = v & 0xFFFu;
	if (det == old)
		return;
	if (det == AHCI_SCTL_DET_COMRESET) {
		drop_queued(p);
		p->h->st.comresets++;
		p->link_down = false;
		p->ssts = p->disk.present ? AHCI_SSTS_DET_NOPHY : AHCI_SSTS_DET_NONE;
		p->tfd = p->disk.present ? TFD_BSY : TFD_EMPTY;
		p->sig = SIG_NONE;
		p->sig_pending = false;
	} else if (det == AHCI_SCTL_DET_DISABLE) {
		drop_queued(p);
		p->ssts = AHCI_SSTS_DET_OFFLINE;
	} else if (det == AHCI_SCTL_DET_NONE) {
		link_up(p);             /* COMRESET released: the link trains, the device signs in */
	}
}

/* ---- PxCMD (§3.3.7, §10.3) ------------------------------------------------------------------- */

static void stop_engine(struct ahci_port *p)
{
	unsigned lost = drop_queued(p);

	if (lost)
		ahci_log(p->h, "port %u: ST cleared with %u command(s) in the device; dropped",
			 p->idx, lost);
	p->ci = p->sact = 0;
	p->cmd &= ~(AHCI_PxCMD_ST | 0x1Fu << AHCI_PxCMD_CCS_SHIFT);
	p->halted = false;
	if (!p->hang && ahci_fault(p, AHCI_FAULT_PORT_HANG, 0))
		p->hang = true;
	if (!p->hang)
		p->cmd &= ~AHCI_PxCMD_CR;
}

static const char *start_error(const struct ahci_port *p)
{
	if (!(p->cmd & AHCI_PxCMD_FR))
		return "FIS receive is off (PxCMD.FRE=0; §10.3.1: set FRE first)";
	if (p->cmd & AHCI_PxCMD_CR)
		return "PxCMD.CR is still set (the command list engine has not stopped)";
	if ((p->ssts & AHCI_SSTS_DET_MASK) != AHCI_SSTS_DET_PRESENT)
		return "no device with Phy communication (PxSSTS.DET is not 3)";
	if (p->tfd & (ATA_SR_BSY | ATA_SR_DRQ))
		return "PxTFD.STS.BSY or DRQ is set (§10.3.1: a COMRESET is needed)";
	if (p->clb == 0)
		return "PxCLB is 0 (no command list)";
	return NULL;
}

static void cmd_write(struct ahci_port *p, uint32_t v)
{
	uint32_t old = p->cmd;

	if (v & AHCI_PxCMD_CLO)
		refuse(p, "PxCMD.CLO", v, "CAP.SCLO is 0 (no command list override)");
	p->cmd = (old & ~PxCMD_RW) | (v & PxCMD_RW);
	/* FRE first, so one write may set FRE and ST together. */
	if ((old & AHCI_PxCMD_FRE) && !(v & AHCI_PxCMD_FRE)) {
		if (old & (AHCI_PxCMD_ST | AHCI_PxCMD_CR)) {
			refuse(p, "PxCMD", v, "FRE cleared while ST or CR is set (§3.3.7); FRE stays 1");
			p->cmd |= AHCI_PxCMD_FRE;
		} else {
			p->cmd &= ~AHCI_PxCMD_FR;
		}
	} else if (!(old & AHCI_PxCMD_FRE) && (v & AHCI_PxCMD_FRE)) {
		p->cmd |= AHCI_PxCMD_FR;
		if (p->sig_pending) {
			p->sig_pending = false;
			d2h(p, STS_OK, 0x01, 0x01, 0x01, true);
		}
	}
	if (!(old & AHCI_PxCMD_ST) && (v & AHCI_PxCMD_ST)) {
		const char *why = start_error(p);

		p->cmd &= ~AHCI_PxCMD_ST;
		if (why) {
			refuse(p, "PxCMD", v, why);
		} else {
			p->cmd |= AHCI_PxCMD_ST | AHCI_PxCMD_CR;
			p->cmd &= ~(0x1Fu << AHCI_PxCMD_CCS_SHIFT);
			p->halted = false;
			ahci_kick(p->h);
		}
	} else if ((old & AHCI_PxCMD_ST) && !(v & AHCI_PxCMD_ST)) {
		stop_engine(p);
	}
}

/* ---- register access -------------------------------------------------------------------------- */

uint32_t ahci_port_read(struct ahci_port *p, uint32_t off)
{
	switch (off) {
	case AHCI_PxCLB: return (uint32_t)p->clb;
	case AHCI_PxCLBU: return (uint32_t)(p->clb >> 32);
	case AHCI_PxFB: return (uint32_t)p->fb;
	case AHCI_PxFBU: return (uint32_t)(p->fb >> 32);
	case AHCI_PxIS: return p->is;
	case AHCI_PxIE: return p->ie;
	case AHCI_PxCMD: return p->cmd;
	case AHCI_PxTFD: return p->tfd;
	case AHCI_PxSIG: return p->sig;
	case AHCI_PxSSTS: return p->ssts;
	case AHCI_PxSCTL: return p->sctl;
	case AHCI_PxSERR: return p->serr;
	case AHCI_PxSACT: return p->sact;
	case AHCI_PxCI: return p->ci;
	default: return 0;      /* SNTF, FBS (no FBSS), DEVSLP (no SDS), reserved, vendor */
	}
}

static void base_write(struct ahci_port *p, uint64_t *reg, bool high, uint32_t v, uint32_t align,
		       uint32_t busy, const char *name)
{
	if (p->cmd & busy) {
		refuse(p, name, v, busy & AHCI_PxCMD_ST ? "written while PxCMD.ST or CR is set"
							: "written while PxCMD.FRE or FR is set");
		return;
	}
	if (high) {
		*reg = (*reg & 0xffffffffull) | (uint64_t)v << 32;
		return;
	}
	if (v & (align - 1u)) {
		p->h->st.refused++;
		ahci_log(p->h, "port %u: %s 0x%08x is not %u-byte aligned; low bits read 0", p->idx,
			 name, v, align);
	}
	*reg = (*reg & ~0xffffffffull) | (v & ~(align - 1u));
}

void ahci_port_write(struct ahci_port *p, uint32_t off, uint32_t v)
{
	switch (off) {
	case AHCI_PxCLB: case AHCI_PxCLBU:
		base_write(p, &p->clb, off == AHCI_PxCLBU, v, AHCI_CMD_LIST_ALIGN,
			   AHCI_PxCMD_ST | AHCI_PxCMD_CR, off == AHCI_PxCLB ? "PxCLB" : "PxCLBU");
		break;
	case AHCI_PxFB: case AHCI_PxFBU:
		base_write(p, &p->fb, off == AHCI_PxFBU, v, AHCI_RX_FIS_ALIGN,
			   AHCI_PxCMD_FRE | AHCI_PxCMD_FR, off == AHCI_PxFB ? "PxFB" : "PxFBU");
		break;
	case AHCI_PxIS:
		p->is &= ~(v & ~PxIS_MIRRORS);
		break;
	case AHCI_PxIE:
		p->ie = v & PxIS_VALID;
		ahci_port_irq(p);
		break;
	case AHCI_PxCMD:
		cmd_write(p, v);
		break;
	case AHCI_PxSCTL:
		sctl_write(p, v);
		break;
	case AHCI_PxSERR:
		p->serr &= ~v;
		if (!(p->serr & AHCI_SERR_DIAG_N))
			p->is &= ~AHCI_PxIS_PRCS;
		if (!(p->serr & AHCI_SERR_DIAG_X))
			p->is &= ~AHCI_PxIS_PCS;
		break;
	case AHCI_PxSACT:
		if (!(p->cmd & AHCI_PxCMD_ST)) {
			refuse(p, "PxSACT", v, "PxCMD.ST is 0 (§3.3.13)");
			break;
		}
		p->sact |= v;
		break;
	case AHCI_PxCI:
		if (!(p->cmd & AHCI_PxCMD_ST)) {
			refuse(p, "PxCI", v, "PxCMD.ST is 0 (§3.3.14)");
			break;
		}
		p->ci |= v;
		ahci_kick(p->h);
		break;
	case AHCI_PxSNTF:
		break;                  /* RW1C, never set: no port multiplier notifications */
	default:
		p->h->st.bad_access++;
		ahci_log(p->h, "port %u: write 0x%08x to read-only/reserved PxREG+0x%02x; ignored",
			 p->idx, v, off);
		break;
	}
}

/* ---- commands (§5.3, §5.6) ---------------------------------------------------------------------- */

struct slot_cmd {
	struct ahci_cmd_hdr hdr;
	struct fis_reg_h2d fis;
};

/* Read the slot's header and command FIS; false after a fatal error. */
static bool load(struct ahci_port *p, unsigned slot, struct slot_cmd *c)
{
	uint64_t ctba;
	unsigned cfl;

	if (ahci_dma(p->h, p->clb + slot * sizeof(c->hdr), &c->hdr, sizeof(c->hdr), false)) {
		fatal(p, AHCI_PxIS_HBFS, slot, "command header DMA failed");
		return false;
	}
	ctba = c->hdr.ctba | (uint64_t)c->hdr.ctbau << 32;
	cfl = c->hdr.flags & AHCI_CMDH_CFL_MASK;
	if (ctba & (AHCI_CMD_TABLE_ALIGN - 1u)) {
		fatal(p, AHCI_PxIS_HBFS, slot, "command table address not 128-byte aligned");
		return false;
	}
	if (cfl < FIS_H2D_CFL || cfl > 16) {
		fatal(p, AHCI_PxIS_HBFS, slot, "command FIS length (CFL) outside 5..16 dwords");
		return false;
	}
	if (ahci_dma(p->h, ctba, &c->fis, sizeof(c->fis), false)) {
		fatal(p, AHCI_PxIS_HBFS, slot, "command table DMA failed");
		return false;
	}
	if (c->fis.type != FIS_TYPE_REG_H2D) {
		fatal(p, AHCI_PxIS_HBFS, slot, "command FIS is not a Register Host to Device FIS");
		return false;
	}
	return true;
}

static void complete_ok(struct ahci_port *p, unsigned slot)
{
	p->ci &= ~(1u << slot);
}

/* A non-queued command ends with ERR: the slot stays in PxCI, the port stops until
 * software clears PxCMD.ST (§6.2.2.1). */
static void fail_nonqueued(struct ahci_port *p, unsigned slot, uint8_t error, const char *why)
{
	p->h->st.tf_errors++;
	if (why)
		ahci_log(p->h, "port %u slot %u: %s: ABRT", p->idx, slot, why);
	p->halted = true;
	d2h(p, STS_ERR, error, 0, 0, true);
}

static void run_nonqueued(struct ahci_port *p, unsigned slot, const struct slot_cmd *c, int proto,
			  bool fault_checked)
{
	struct ahci_ata_res r;
	uint32_t prdbc;

	if (!fault_checked && ahci_fault(p, AHCI_FAULT_TFES, slot)) {
		fail_nonqueued(p, slot, ATA_ER_ABRT, NULL);
		return;
	}
	r = ahci_ata_exec(p, slot, &c->fis, (c->hdr.flags & AHCI_CMDH_W) != 0);
	if (r.fatal)
		return;
	prdbc = r.bytes;
	if (ahci_dma(p->h, p->clb + slot * sizeof(c->hdr) + offsetof(struct ahci_cmd_hdr, prdbc),
		     &prdbc, sizeof(prdbc), true)) {
		fatal(p, AHCI_PxIS_HBFS, slot, "PRDBC write-back DMA failed");
		return;
	}
	if (proto == AHCIM_P_PIO_IN && !(r.status & ATA_SR_ERR))
		pio_setup(p, r.status, (uint16_t)r.bytes);
	if (r.status & ATA_SR_ERR) {
		p->h->st.tf_errors++;
		p->halted = true;
		d2h(p, r.status, r.error, ahci_fis_lba(&c->fis), 0, true);
		return;
	}
	complete_ok(p, slot);
	d2h(p, r.status, r.error, 0, 0, true);
}

/* A control FIS (C = 0): SRST set, then cleared, resets the device (the software
 * reset of §10.4.1); the slot completes as the FIS is sent. */
static void control_fis(struct ahci_port *p, unsigned slot, const struct slot_cmd *c)
{
	bool srst = (c->fis.control & SRST) != 0;

	complete_ok(p, slot);
	if (srst) {
		drop_queued(p);
		p->srst = true;
		p->tfd = TFD_BSY;
	} else if (p->srst) {
		signature(p);
	}
}

/* An NCQ error (SATA 3.2 §13.6.3.3): Set Device Bits with ERR and no tags, the
 * device drops every queued command and aborts new ones until log 10h is read. */
static void ncq_error(struct ahci_port *p, unsigned tag, uint8_t error, uint64_t lba,
		      uint32_t count, const char *why)
{
	p->h->st.tf_errors++;
	p->h->st.ncq_errors++;
	if (why)
		ahci_log(p->h, "port %u tag %u: %s: NCQ error", p->idx, tag, why);
	ahci_ata_ncq_fail(&p->disk, tag, STS_ERR, error, lba, count);
	drop_queued(p);
	p->halted = true;
	p->tfd &= ~(uint32_t)(ATA_SR_BSY | ATA_SR_DRQ);     /* BSY went with the acceptance */
	sdb(p, STS_ERR, error, 0);
}

static void accept_ncq(struct ahci_port *p, unsigned slot, const struct slot_cmd *c, uint64_t now)
{
	unsigned tag = c->fis.count_lo >> ATA_FPDMA_TAG_SHIFT;
	uint32_t count = (uint32_t)c->fis.feature_hi << 8 | c->fis.feature_lo;
	uint64_t lba = ahci_fis_lba(&c->fis);
	bool wr = c->fis.command == ATA_CMD_WRITE_FPDMA;
	struct ahci_cmd *q;

	p->h->st.ncq_commands++;
	if (tag != slot) {
		complete_ok(p, slot);
		ncq_error(p, slot, ATA_ER_ABRT, lba, count, "NCQ tag in the FIS differs from the slot");
		return;
	}
	if (!(p->sact & (1u << slot))) {
		complete_ok(p, slot);
		ncq_error(p, tag, ATA_ER_ABRT, lba, count, "queued command without its PxSACT bit");
		return;
	}
	if (p->ncq[tag].used) {
		complete_ok(p, slot);
		ncq_error(p, tag, ATA_ER_ABRT, lba, count, "NCQ tag already busy in the device");
		return;
	}
	if (!(c->hdr.flags & AHCI_CMDH_W) != !wr) {
		complete_ok(p, slot);
		ncq_error(p, tag, ATA_ER_ABRT, lba, count,
			  "command header W bit disagrees with the data direction");
		return;
	}
	complete_ok(p, slot);
	if (p->disk.ncq_error) {
		ncq_error(p, tag, ATA_ER_ABRT, lba, count,
			  "queued command while the NCQ error log is unread");
		return;
	}
	/* Accepted: a D2H FIS with BSY clear and no I bit releases PxCI. Its status and
	 * the SDB's (bit 4 is command dependent in ACS-3, left open) are DRDY|DSC, as
	 * QEMU's. */
	d2h(p, STS_OK, 0, 0, 0, false);
	q = &p->ncq[tag];
	*q = (struct ahci_cmd){ .used = true, .op = c->fis.command, .slot = (uint8_t)slot,
				.lba = lba, .count = count ? count : 65536u, .due = now,
				.seq = p->seq++ };
	if (ahci_fault(p, AHCI_FAULT_SLOW, slot))
		q->due = now + AHCIM_SLOW_NS;
	if (ahci_fault(p, AHCI_FAULT_TFES, slot))
		q->op = 0;              /* marks the task-file error fault: fails when it runs */
}

static void finish_ncq(struct ahci_port *p, struct ahci_cmd *q)
{
	struct ahci_cmd c = *q;
	struct ahci_ata_res r;

	q->used = false;
	if (c.op == 0 || ahci_fault(p, AHCI_FAULT_NCQ_ERROR_TAG, c.slot)) {
		ncq_error(p, c.slot, ATA_ER_UNC | ATA_ER_ABRT, c.lba, c.count, NULL);
		return;
	}
	r = ahci_ata_ncq_exec(p, &c);
	if (r.fatal)
		return;
	if (r.status & ATA_SR_ERR) {
		ncq_error(p, c.slot, r.error, c.lba, c.count, NULL);
		return;
	}
	sdb(p, STS_OK, 0, 1u << c.slot);
}

static void fetch(struct ahci_port *p, unsigned slot, uint64_t now)
{
	struct slot_cmd c;
	int proto;
	bool queued_out = false;

	p->cmd = (p->cmd & ~(0x1Fu << AHCI_PxCMD_CCS_SHIFT)) | slot << AHCI_PxCMD_CCS_SHIFT;
	if (ahci_fault(p, AHCI_FAULT_PHY_DOWN, slot)) {
		phy_down(p);
		return;
	}
	p->tfd |= TFD_BSY;              /* the command FIS goes out */
	if (!load(p, slot, &c))
		return;
	if (!(c.fis.pmp_c & FIS_H2D_C)) {
		control_fis(p, slot, &c);
		return;
	}
	p->h->st.commands++;
	p->h->st.ops[c.fis.command]++;
	if (c.fis.pmp_c & 0x0Fu) {
		fail_nonqueued(p, slot, ATA_ER_ABRT, "FIS addressed to a port multiplier port");
		return;
	}
	proto = ahci_ata_proto(&p->disk, c.fis.command);
	if (proto == AHCIM_P_NCQ) {
		accept_ncq(p, slot, &c, now);
		return;
	}
	for (unsigned t = 0; t < AHCIM_SLOTS; t++)
		queued_out |= p->ncq[t].used;
	if (queued_out) {
		ahci_ata_ncq_fail(&p->disk, ATA_NCQ_ERR_NQ, STS_ERR, ATA_ER_ABRT, 0, 0);
		drop_queued(p);
		fail_nonqueued(p, slot, ATA_ER_ABRT, "non-queued command while NCQ commands are outstanding");
		return;
	}
	if (proto < 0) {
		char why[64];

		snprintf(why, sizeof(why), "unsupported ATA command 0x%02x", c.fis.command);
		fail_nonqueued(p, slot, ATA_ER_ABRT, why);
		return;
	}
	if ((proto == AHCIM_P_DMA_OUT) != ((c.hdr.flags & AHCI_CMDH_W) != 0) &&
	    proto != AHCIM_P_NONE) {
		fail_nonqueued(p, slot, ATA_ER_ABRT, "command header W bit disagrees with the data direction");
		return;
	}
	if (ahci_fault(p, AHCI_FAULT_TFES, slot)) {
		fail_nonqueued(p, slot, ATA_ER_ABRT, NULL);
		return;
	}
	if (ahci_fault(p, AHCI_FAULT_SLOW, slot)) {
		p->held = (struct ahci_cmd){ .used = true, .slot = (uint8_t)slot,
					     .due = now + AHCIM_SLOW_NS };
		return;
	}
	run_nonqueued(p, slot, &c, proto, true);
}

/* ---- the port's work ---------------------------------------------------------------------------- */

static struct ahci_cmd *next_ncq(struct ahci_port *p, uint64_t now)
{
	struct ahci_cmd *best = NULL;

	for (unsigned t = 0; t < AHCIM_SLOTS; t++) {
		struct ahci_cmd *q = &p->ncq[t];

		if (q->used && q->due <= now && (!best || q->seq < best->seq))
			best = q;
	}
	return best;
}

bool ahci_port_has_work(struct ahci_port *p, uint64_t now)
{
	if (!running(p))
		return false;
	if (p->held.used)
		return p->held.due <= now;
	return next_ncq(p, now) != NULL || p->ci != 0;
}

bool ahci_port_step(struct ahci_port *p, uint64_t now)
{
	struct ahci_cmd *q;
	unsigned from, slot;

	if (!running(p))
		return false;
	if (p->held.used) {
		struct slot_cmd c;
		unsigned s = p->held.slot;

		if (p->held.due > now)
			return false;
		p->held.used = false;
		if (load(p, s, &c))
			run_nonqueued(p, s, &c, ahci_ata_proto(&p->disk, c.fis.command), true);
		return true;
	}
	q = next_ncq(p, now);
	if (q) {
		finish_ncq(p, q);
		return true;
	}
	if (!p->ci)
		return false;
	/* The next issued slot after the current one (CCS), wrapping. */
	from = (p->cmd >> AHCI_PxCMD_CCS_SHIFT & 0x1Fu) + 1u;
	for (unsigned k = 0; k < AHCIM_SLOTS; k++) {
		slot = (from + k) % AHCIM_SLOTS;
		if (p->ci >> slot & 1u) {
			fetch(p, slot, now);
			return true;
		}
	}
	return false;
}

uint64_t ahci_port_next_due(struct ahci_port *p)
{
	uint64_t next = UINT64_MAX;

	if (!running(p))
		return next;
	if (p->held.used)
		return p->held.due;
	for (unsigned t = 0; t < AHCIM_SLOTS; t++)
		if (p->ncq[t].used && p->ncq[t].due < next)
			next = p->ncq[t].due;
	return next;
}
