/*
 * ahci_ata.c — AHCI model, the SATA disk behind a port (ATA/ACS-3 clause 7; SATA 3.2
 * §13.6 NCQ): IDENTIFY DEVICE data a real drive gives (LBA48 capacity, sector size
 * words, NCQ depth, TRIM, write cache, integrity word), READ/WRITE DMA EXT, the data
 * phase of READ/WRITE FPDMA QUEUED, FLUSH CACHE (EXT), DATA SET MANAGEMENT with TRIM,
 * READ LOG (DMA) EXT of the log directory and the NCQ Command Error log (page 10h),
 * SET FEATURES (write cache, transfer mode); and the PRDT walk that moves the data
 * (AHCI 1.3.1 §4.2.3.3: DBC + 1 bytes, even, at a word-aligned address).
 */
#include "ahci/ahci_int.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define STS_OK (ATA_SR_DRDY | 0x10u)
#define STS_ERR (ATA_SR_DRDY | ATA_SR_ERR)
#define LOG_DIRECTORY 0x00u         /* General Purpose Log Directory (ACS-3 A.2) */
#define SETF_WC_ON 0x02u            /* SET FEATURES subcommands (ACS-3 7.45) */
#define SETF_XFER_MODE 0x03u
#define SETF_WC_OFF 0x82u

static const struct ahci_ata_res ok = { STS_OK, 0, 0, false };

static struct ahci_ata_res err(uint8_t error)
{
	return (struct ahci_ata_res){ STS_ERR, error, 0, false };
}

int ahci_ata_proto(const struct ahci_disk *d, uint8_t op)
{
	switch (op) {
	case ATA_CMD_IDENTIFY:
	case ATA_CMD_READ_LOG_EXT:
		return AHCIM_P_PIO_IN;
	case ATA_CMD_READ_DMA_EXT:
	case ATA_CMD_READ_LOG_DMA_EXT:
		return AHCIM_P_DMA_IN;
	case ATA_CMD_WRITE_DMA_EXT:
	case ATA_CMD_DSM:
		return AHCIM_P_DMA_OUT;
	case ATA_CMD_FLUSH_CACHE:
	case ATA_CMD_FLUSH_CACHE_EXT:
	case ATA_CMD_SET_FEATURES:
		return AHCIM_P_NONE;
	case ATA_CMD_READ_FPDMA:
	case ATA_CMD_WRITE_FPDMA:
		return d->ncq ? AHCIM_P_NCQ : -1;
	default:
		return -1;
	}
}

/* ---- the PRDT (§4.2.3.3) -------------------------------------------------------------- */

static void prdt_fatal(struct ahci_port *p, uint32_t bit, unsigned slot, const char *why)
{
	p->h->st.fatal_errors++;
	ahci_log(p->h, "port %u slot %u: %s (PxIS.%s, port stopped)", p->idx, slot, why,
		 bit == AHCI_PxIS_OFS ? "OFS" : "HBFS");
	p->is |= bit;
	p->halted = true;
	ahci_port_irq(p);
}

/* Move len bytes between the slot's PRDT and the store at byte off, or mem when not
 * NULL. 0; -1 after an HBA-side fatal error; -2 a store failure (a media error). */
static int prdt_xfer(struct ahci_port *p, unsigned slot, uint64_t off, uint8_t *mem, uint32_t len,
		     bool to_host)
{
	struct ahci_hba *h = p->h;
	struct ahci_cmd_hdr hdr;
	uint64_t ctba;
	uint32_t pos = 0;

	if (ahci_dma(h, p->clb + slot * sizeof(hdr), &hdr, sizeof(hdr), false)) {
		prdt_fatal(p, AHCI_PxIS_HBFS, slot, "command header DMA failed");
		return -1;
	}
	ctba = hdr.ctba | (uint64_t)hdr.ctbau << 32;
	for (unsigned i = 0; i < hdr.prdtl && pos < len; i++) {
		struct ahci_prd e;
		uint64_t dba;
		uint32_t dbc, n;

		if (ahci_dma(h, ctba + offsetof(struct ahci_cmd_table, prdt) + i * sizeof(e), &e,
			     sizeof(e), false)) {
			prdt_fatal(p, AHCI_PxIS_HBFS, slot, "PRDT DMA failed");
			return -1;
		}
		dba = e.dba | (uint64_t)e.dbau << 32;
		dbc = e.dbc_i & AHCI_PRD_DBC_MASK;
		if (dba & 1u) {
			prdt_fatal(p, AHCI_PxIS_HBFS, slot, "a PRD data address is odd (bit 0 must be 0)");
			return -1;
		}
		if (!(dbc & 1u)) {
			prdt_fatal(p, AHCI_PxIS_HBFS, slot,
				   "a PRD byte count is odd (DBC bit 0 must be 1: an even count)");
			return -1;
		}
		n = dbc + 1u < len - pos ? dbc + 1u : len - pos;
		while (n) {
			uint32_t k = n < AHCIM_XFER_CHUNK ? n : AHCIM_XFER_CHUNK;
			uint8_t *b = mem ? mem + pos : h->buf;

			if (to_host && !mem && model_store_read(&p->disk.store, off + pos, b, k))
				return -2;
			if (ahci_dma(h, dba, b, k, to_host)) {
				prdt_fatal(p, AHCI_PxIS_HBFS, slot, "data DMA blocked or outside RAM");
				return -1;
			}
			if (!to_host && !mem && model_store_write(&p->disk.store, off + pos, b, k))
				return -2;
			dba += k;
			pos += k;
			n -= k;
		}
	}
	if (pos < len) {
		char why[96];

		snprintf(why, sizeof(why), "the PRDT (%u entries) holds fewer bytes than the %u the "
			 "command moves", hdr.prdtl, len);
		prdt_fatal(p, AHCI_PxIS_OFS, slot, why);
		return -1;
	}
	return 0;
}

static struct ahci_ata_res xfer_res(int rc, uint32_t bytes)
{
	if (rc == -1)
		return (struct ahci_ata_res){ 0, 0, 0, true };
	if (rc == -2)
		return err(ATA_ER_UNC | ATA_ER_ABRT);
	return (struct ahci_ata_res){ STS_OK, 0, bytes, false };
}

/* ---- IDENTIFY DEVICE (ACS-3 7.12.7) ----------------------------------------------------- */

/* ATA strings: two characters per word, the first in the high byte, space padded. */
static void id_string(uint16_t *w, unsigned words, const char *s)
{
	size_t len = strlen(s);

	for (unsigned i = 0; i < words * 2u; i++) {
		uint8_t c = i < len ? (uint8_t)s[i] : ' ';

		w[i / 2] |= (uint16_t)(i % 2 ? c : c << 8);
	}
}

void ahci_ata_identify(const struct ahci_disk *d, uint16_t id[ATA_ID_WORDS])
{
	uint64_t n = d->sectors;
	uint8_t sum = 0;

	memset(id, 0, ATA_ID_WORDS * sizeof(id[0]));
	id[0] = 0x0040;                         /* fixed, not removable, ATA device */
	id[1] = 16383; id[3] = 16; id[6] = 63;  /* obsolete CHS, as drives still report */
	id_string(&id[ATA_ID_SERIAL], 10, d->serial);
	id_string(&id[ATA_ID_FW_REV], 4, "1.0");
	id_string(&id[ATA_ID_MODEL], 20, d->model);
	id[47] = 0x8010;                        /* READ/WRITE MULTIPLE: 16 sectors per DRQ */
	id[ATA_ID_CAPS] = ATA_ID_CAPS_LBA | ATA_ID_CAPS_DMA;
	id[53] = 0x0006;                        /* words 64-70 and 88 valid */
	id[ATA_ID_LBA28] = (uint16_t)(n < 0x0FFFFFFFu ? n : 0x0FFFFFFFu);
	id[ATA_ID_LBA28 + 1] = (uint16_t)((n < 0x0FFFFFFFu ? n : 0x0FFFFFFFu) >> 16);
	id[63] = 0x0007;                        /* multiword DMA 0-2 */
	id[64] = 0x0003;                        /* PIO 3-4 */
	id[ATA_ID_ADD_SUPPORTED] = ATA_ID_ADD_DRAT | ATA_ID_ADD_RZAT;   /* trimmed sectors read 0 */
	if (d->ncq) {
		id[ATA_ID_QUEUE_DEPTH] = AHCIM_NCQ_DEPTH - 1u;
		id[ATA_ID_SATA_CAPS] = ATA_ID_SATA_NCQ;
	}
	id[ATA_ID_SATA_CAPS] |= 1u << 1;        /* Gen1 signalling, as CAP.ISS */
	id[ATA_ID_MAJOR_VER] = 0x07E0;          /* ATA/ATAPI-5 .. ACS-3 */
	id[ATA_ID_CMDSET1] = ATA_ID_CMDSET1_WCACHE;
	id[ATA_ID_CMDSET2] = 0x4000u | ATA_ID_CMDSET2_LBA48 | ATA_ID_CMDSET2_FLUSH_EXT | 1u << 12;
	id[84] = 0x4000;
	id[ATA_ID_CMDSET1_EN] = d->wce ? ATA_ID_CMDSET1_WCACHE : 0;
	id[ATA_ID_CMDSET2_EN] = ATA_ID_CMDSET2_LBA48 | ATA_ID_CMDSET2_FLUSH_EXT | 1u << 12;
	id[87] = 0x4000;
	id[88] = 0x407F;                        /* UDMA 0-6, mode 6 selected */
	for (unsigned i = 0; i < 4; i++)
		id[ATA_ID_LBA48 + i] = (uint16_t)(n >> (16 * i));
	id[ATA_ID_DSM_MAX] = AHCIM_DSM_BLOCKS_MAX;
	id[ATA_ID_SECTOR_SIZE] = ATA_ID_SECTOR_VALID;   /* one 512-byte logical per physical */
	id[ATA_ID_DSM] = ATA_ID_DSM_TRIM;
	id[ATA_ID_ROTATION] = 1;                /* non-rotating */
	/* Integrity word 255: signature A5h, then a checksum making the 512 bytes sum to 0. */
	id[255] = 0x00A5;
	for (unsigned i = 0; i < 255; i++)
		sum = (uint8_t)(sum + (id[i] & 0xFF) + (id[i] >> 8));
	sum = (uint8_t)(sum + 0xA5);
	id[255] |= (uint16_t)((uint8_t)-sum << 8);
}

/* ---- logs (ACS-3 Annex A) ----------------------------------------------------------------- */

void ahci_ata_ncq_fail(struct ahci_disk *d, unsigned tag, uint8_t status, uint8_t error,
		       uint64_t lba, uint32_t count)
{
	uint8_t *l = d->ncq_log, sum = 0;

	memset(l, 0, ATA_SECTOR_BYTES);
	l[0] = tag & ATA_NCQ_ERR_NQ ? ATA_NCQ_ERR_NQ : (uint8_t)(tag & ATA_NCQ_ERR_TAG_MASK);
	l[2] = status;
	l[3] = error;
	l[4] = (uint8_t)lba; l[5] = (uint8_t)(lba >> 8); l[6] = (uint8_t)(lba >> 16);
	l[7] = ATA_DEV_LBA;
	l[8] = (uint8_t)(lba >> 24); l[9] = (uint8_t)(lba >> 32); l[10] = (uint8_t)(lba >> 40);
	l[12] = (uint8_t)count; l[13] = (uint8_t)(count >> 8);
	for (unsigned i = 0; i < ATA_SECTOR_BYTES - 1u; i++)
		sum = (uint8_t)(sum + l[i]);
	l[ATA_SECTOR_BYTES - 1u] = (uint8_t)-sum;
	d->ncq_error = !(tag & ATA_NCQ_ERR_NQ) || d->ncq_error;
}

static struct ahci_ata_res read_log(struct ahci_port *p, unsigned slot, const struct fis_reg_h2d *f)
{
	uint8_t page[ATA_SECTOR_BYTES];
	unsigned addr = f->lba0, pageno = f->lba1 | (unsigned)f->lba3 << 8;
	unsigned count = f->count_lo | (unsigned)f->count_hi << 8;
	int rc;

	if (count != 1 || pageno != 0 || (addr != LOG_DIRECTORY && addr != ATA_LOG_NCQ_ERROR)) {
		ahci_log(p->h, "port %u: READ LOG of log 0x%02x page %u count %u: not offered; ABRT",
			 p->idx, addr, pageno, count);
		return err(ATA_ER_ABRT);
	}
	memset(page, 0, sizeof(page));
	if (addr == LOG_DIRECTORY) {
		page[0] = 0x01;                         /* version 1 */
		page[ATA_LOG_NCQ_ERROR * 2] = 1;        /* log 10h: one page */
	} else {
		memcpy(page, p->disk.ncq_log, sizeof(page));
	}
	rc = prdt_xfer(p, slot, 0, page, sizeof(page), true);
	if (rc == 0 && addr == ATA_LOG_NCQ_ERROR) {
		p->disk.ncq_error = false;              /* reading the log ends the error state */
		p->h->st.log_reads++;
	}
	return xfer_res(rc, sizeof(page));
}

/* ---- commands ------------------------------------------------------------------------------- */

static bool in_range(const struct ahci_disk *d, uint64_t lba, uint64_t count)
{
	return lba <= d->sectors && count <= d->sectors - lba;
}

static struct ahci_ata_res rw(struct ahci_port *p, unsigned slot, uint64_t lba, uint32_t count,
			      bool write)
{
	struct ahci_model_stats *st = &p->h->st;
	struct ahci_ata_res r;

	if (!in_range(&p->disk, lba, count)) {
		ahci_log(p->h, "port %u slot %u: LBA %llu + %u beyond the disk's %llu sectors; IDNF",
			 p->idx, slot, (unsigned long long)lba, count,
			 (unsigned long long)p->disk.sectors);
		return err(ATA_ER_IDNF | ATA_ER_ABRT);
	}
	r = xfer_res(prdt_xfer(p, slot, lba * AHCIM_SECTOR, NULL, count * AHCIM_SECTOR, !write),
		     count * AHCIM_SECTOR);
	if (r.status == STS_OK) {
		if (write) {
			st->writes++;
			st->bytes_written += r.bytes;
		} else {
			st->reads++;
			st->bytes_read += r.bytes;
		}
	}
	return r;
}

static struct ahci_ata_res trim(struct ahci_port *p, unsigned slot, const struct fis_reg_h2d *f)
{
	uint8_t ranges[AHCIM_DSM_BLOCKS_MAX * ATA_SECTOR_BYTES];
	unsigned blocks = f->count_lo | (unsigned)f->count_hi << 8;
	int rc;

	if (!(f->feature_lo & ATA_DSM_TRIM) || blocks == 0 || blocks > AHCIM_DSM_BLOCKS_MAX) {
		ahci_log(p->h, "port %u: DATA SET MANAGEMENT features 0x%02x, %u blocks (TRIM with "
			 "1..%u blocks only); ABRT", p->idx, f->feature_lo, blocks,
			 AHCIM_DSM_BLOCKS_MAX);
		return err(ATA_ER_ABRT);
	}
	rc = prdt_xfer(p, slot, 0, ranges, blocks * ATA_SECTOR_BYTES, false);
	if (rc)
		return xfer_res(rc, 0);
	/* Range entries: LBA in bits 47:0, sector count in 63:48 (0: unused entry). */
	for (unsigned i = 0; i < blocks * ATA_SECTOR_BYTES / 8u; i++) {
		uint64_t e = 0, lba, n;

		for (unsigned b = 0; b < 8; b++)
			e |= (uint64_t)ranges[i * 8 + b] << (8 * b);
		lba = e & 0xFFFFFFFFFFFFull;
		n = e >> 48;
		if (n && !in_range(&p->disk, lba, n)) {
			ahci_log(p->h, "port %u: TRIM range %u (LBA %llu + %llu) beyond the disk; ABRT",
				 p->idx, i, (unsigned long long)lba, (unsigned long long)n);
			return err(ATA_ER_IDNF | ATA_ER_ABRT);
		}
	}
	for (unsigned i = 0; i < blocks * ATA_SECTOR_BYTES / 8u; i++) {
		uint64_t e = 0;

		for (unsigned b = 0; b < 8; b++)
			e |= (uint64_t)ranges[i * 8 + b] << (8 * b);
		if (e >> 48 && model_store_write(&p->disk.store, (e & 0xFFFFFFFFFFFFull) * AHCIM_SECTOR,
						NULL, (e >> 48) * AHCIM_SECTOR))
			return err(ATA_ER_ABRT);
	}
	p->h->st.trims++;
	return (struct ahci_ata_res){ STS_OK, 0, blocks * ATA_SECTOR_BYTES, false };
}

static struct ahci_ata_res set_features(struct ahci_port *p, const struct fis_reg_h2d *f)
{
	switch (f->feature_lo) {
	case SETF_WC_ON: p->disk.wce = true; return ok;
	case SETF_WC_OFF: p->disk.wce = false; return ok;
	case SETF_XFER_MODE: return ok;
	default:
		ahci_log(p->h, "port %u: SET FEATURES subcommand 0x%02x not supported; ABRT", p->idx,
			 f->feature_lo);
		return err(ATA_ER_ABRT);
	}
}

struct ahci_ata_res ahci_ata_exec(struct ahci_port *p, unsigned slot, const struct fis_reg_h2d *f,
				  bool write_bit)
{
	uint32_t count = f->count_lo | (uint32_t)f->count_hi << 8;
	uint16_t id[ATA_ID_WORDS];

	(void)write_bit;        /* checked against the protocol by the port */
	switch (f->command) {
	case ATA_CMD_IDENTIFY:
		ahci_ata_identify(&p->disk, id);
		p->h->st.identifies++;
		return xfer_res(prdt_xfer(p, slot, 0, (uint8_t *)id, sizeof(id), true), sizeof(id));
	case ATA_CMD_READ_DMA_EXT:
	case ATA_CMD_WRITE_DMA_EXT:
		return rw(p, slot, ahci_fis_lba(f), count ? count : 65536u,
			  f->command == ATA_CMD_WRITE_DMA_EXT);
	case ATA_CMD_FLUSH_CACHE:
	case ATA_CMD_FLUSH_CACHE_EXT:
		p->h->st.flushes++;
		return model_store_sync(&p->disk.store) ? err(ATA_ER_ABRT) : ok;
	case ATA_CMD_DSM:
		return trim(p, slot, f);
	case ATA_CMD_READ_LOG_EXT:
	case ATA_CMD_READ_LOG_DMA_EXT:
		return read_log(p, slot, f);
	case ATA_CMD_SET_FEATURES:
		return set_features(p, f);
	default:
		return err(ATA_ER_ABRT);
	}
}

struct ahci_ata_res ahci_ata_ncq_exec(struct ahci_port *p, const struct ahci_cmd *c)
{
	return rw(p, c->slot, c->lba, c->count, c->op == ATA_CMD_WRITE_FPDMA);
}
