/*
 * ahci_cmd.c — the ATA side of the AHCI driver, PURE (unit tests and the fuzz
 * target call it): IDENTIFY DEVICE parsing (ACS-3 §7.12.7: LBA48 capacity, sector
 * sizes, NCQ depth, TRIM, write cache), Register H2D FISes (SATA 3.2 §10.5.5) for
 * READ/WRITE DMA EXT, READ/WRITE FPDMA QUEUED, FLUSH CACHE EXT, DATA SET
 * MANAGEMENT and READ LOG EXT, TRIM range blocks (ACS-3 §7.5.3.2), the NCQ Command
 * Error log (ACS-3 Annex A.13) and the received-FIS area (AHCI 1.3.1 §4.2.1).
 */
#include <drivers/ahci.h>
#include <kernel/errno.h>
#include <kernel/string.h>

static uint16_t word(const uint8_t *b, unsigned w)
{
	return (uint16_t)(b[2u * w] | (b[2u * w + 1u] << 8));
}

/* ATA strings hold two characters per word, the first in the high byte. */
static void copy_ata_string(char *dst, const uint8_t *b, unsigned w0, unsigned nwords)
{
	unsigned n = 0;
	for (unsigned i = 0; i < nwords; i++) {
		uint16_t v = word(b, w0 + i);
		dst[n++] = (char)(v >> 8);
		dst[n++] = (char)(v & 0xFFu);
	}
	while (n && (dst[n - 1] == ' ' || dst[n - 1] == '\0'))
		n--;
	unsigned lead = 0;
	while (lead < n && dst[lead] == ' ')
		lead++;
	unsigned k = 0;
	for (unsigned i = lead; i < n; i++) {
		char ch = dst[i];
		dst[k++] = (ch >= 0x20 && ch < 0x7F) ? ch : '?';
	}
	dst[k] = 0;
}

int ahci_identify_parse(const void *data, size_t len, struct ahci_id_info *o, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	*why = 0;
	if (!data || !o || len < ATA_SECTOR_BYTES) {
		*why = "IDENTIFY data shorter than 512 bytes";
		return -EINVAL;
	}
	const uint8_t *b = data;
	memset(o, 0, sizeof *o);
	/* Word 255: 7:0 A5h means 15:8 is a checksum making the 512 bytes sum to 0. */
	if ((word(b, 255) & 0xFFu) == 0xA5u) {
		uint8_t sum = 0;
		for (unsigned i = 0; i < ATA_SECTOR_BYTES; i++)
			sum = (uint8_t)(sum + b[i]);
		if (sum) {
			*why = "IDENTIFY checksum (word 255) wrong";
			return -EINVAL;
		}
	}
	copy_ata_string(o->serial, b, ATA_ID_SERIAL, 10);
	copy_ata_string(o->fw, b, ATA_ID_FW_REV, 4);
	copy_ata_string(o->model, b, ATA_ID_MODEL, 20);
	uint16_t caps = word(b, ATA_ID_CAPS);
	uint16_t cs1 = word(b, ATA_ID_CMDSET1), cs2 = word(b, ATA_ID_CMDSET2), cs1e = word(b, ATA_ID_CMDSET1_EN);
	uint16_t cs2e = word(b, ATA_ID_CMDSET2_EN);
	/* Words 82..87 are valid when neither all zeros nor all ones. */
	bool cs_valid = cs1 != 0xFFFFu && cs2 != 0xFFFFu && (cs2 & 0xC000u) == 0x4000u;
	o->lba48 = cs_valid && (cs2 & ATA_ID_CMDSET2_LBA48) && (cs2e & ATA_ID_CMDSET2_LBA48);
	o->flush_ext = cs_valid && (cs2 & ATA_ID_CMDSET2_FLUSH_EXT);
	o->wcache = cs_valid && (cs1 & ATA_ID_CMDSET1_WCACHE);
	o->wcache_on = o->wcache && (cs1e & ATA_ID_CMDSET1_WCACHE);
	uint64_t sectors = 0;
	for (unsigned i = 0; i < 4; i++)
		sectors |= (uint64_t)word(b, ATA_ID_LBA48 + i) << (16u * i);
	o->sectors = sectors;
	uint16_t ss = word(b, ATA_ID_SECTOR_SIZE);
	o->block_size = ATA_SECTOR_BYTES;
	o->phys_per_log = 1;
	if ((ss & ATA_ID_SECTOR_VALID_MASK) == ATA_ID_SECTOR_VALID) {
		if (ss & ATA_ID_SECTOR_LONG_LOGICAL) {
			uint32_t words = (uint32_t)word(b, ATA_ID_LOGICAL_SIZE) |
					 (uint32_t)word(b, ATA_ID_LOGICAL_SIZE + 1u) << 16;
			if (words > (1u << 20)) {
				*why = "logical sector size (words 117..118) absurd";
				return -EINVAL;
			}
			o->block_size = words * 2u;
		}
		if (ss & ATA_ID_SECTOR_MULTI)
			o->phys_per_log = 1u << (ss & ATA_ID_SECTOR_LOG2_MASK);
	}
	uint16_t sata = word(b, ATA_ID_SATA_CAPS);
	if (sata != 0xFFFFu && (sata & ATA_ID_SATA_NCQ)) {
		o->ncq = true;
		o->ncq_depth = (word(b, ATA_ID_QUEUE_DEPTH) & ATA_ID_QDEPTH_MASK) + 1u;
	}
	uint16_t dsm = word(b, ATA_ID_DSM);
	if (dsm != 0xFFFFu && (dsm & ATA_DSM_TRIM)) {
		o->trim = true;
		uint16_t m = word(b, ATA_ID_DSM_MAX);
		o->dsm_max_blocks = m && m != 0xFFFFu ? m : 1u;
	}
	if (!(caps & ATA_ID_CAPS_LBA) || !(caps & ATA_ID_CAPS_DMA)) {
		*why = "no LBA or no DMA (IDENTIFY word 49)";
		return -EOPNOTSUPP;
	}
	if (!o->lba48) {
		*why = "no 48-bit address feature set (IDENTIFY words 83/86)";
		return -EOPNOTSUPP;
	}
	if (o->block_size != 512u && o->block_size != 4096u) {
		*why = "logical sector size other than 512 or 4096 bytes";
		return -EOPNOTSUPP;
	}
	if (sectors == 0 || sectors > (1ull << 48)) {
		*why = "48-bit capacity (words 100..103) zero or beyond 2^48";
		return -EINVAL;
	}
	return 0;
}

static void fis_lba(struct fis_reg_h2d *f, uint64_t lba)
{
	f->lba0 = (uint8_t)lba;
	f->lba1 = (uint8_t)(lba >> 8);
	f->lba2 = (uint8_t)(lba >> 16);
	f->lba3 = (uint8_t)(lba >> 24);
	f->lba4 = (uint8_t)(lba >> 32);
	f->lba5 = (uint8_t)(lba >> 40);
}

static void fis_init(struct fis_reg_h2d *f, uint8_t command)
{
	memset(f, 0, sizeof *f);
	f->type = FIS_TYPE_REG_H2D;
	f->pmp_c = FIS_H2D_C;
	f->command = command;
}

int ahci_fis_rw(struct fis_reg_h2d *f, bool write, bool ncq, unsigned tag, uint64_t lba, uint32_t count)
{
	if (!f || count == 0 || count > 65536u || lba >= (1ull << 48) || lba + count > (1ull << 48) ||
	    tag >= AHCI_MAX_SLOTS)
		return -EINVAL;
	uint16_t c16 = (uint16_t)(count & 0xFFFFu);     /* 0 means 65536 */
	if (ncq) {
		fis_init(f, write ? ATA_CMD_WRITE_FPDMA : ATA_CMD_READ_FPDMA);
		f->feature_lo = (uint8_t)c16;           /* FPDMA: the sector count is in features */
		f->feature_hi = (uint8_t)(c16 >> 8);
		f->count_lo = (uint8_t)(tag << ATA_FPDMA_TAG_SHIFT);
		f->count_hi = 0;
	} else {
		fis_init(f, write ? ATA_CMD_WRITE_DMA_EXT : ATA_CMD_READ_DMA_EXT);
		f->count_lo = (uint8_t)c16;
		f->count_hi = (uint8_t)(c16 >> 8);
	}
	f->device = ATA_DEV_LBA;
	fis_lba(f, lba);
	return 0;
}

void ahci_fis_simple(struct fis_reg_h2d *f, uint8_t command)
{
	fis_init(f, command);
	if (command == ATA_CMD_FLUSH_CACHE_EXT)
		f->device = ATA_DEV_LBA;
}

void ahci_fis_read_log(struct fis_reg_h2d *f, uint8_t log, uint16_t pages)
{
	fis_init(f, ATA_CMD_READ_LOG_EXT);
	f->lba0 = log;
	f->count_lo = (uint8_t)pages;
	f->count_hi = (uint8_t)(pages >> 8);
	f->device = ATA_DEV_LBA;
}

void ahci_fis_trim(struct fis_reg_h2d *f, uint16_t blocks)
{
	fis_init(f, ATA_CMD_DSM);
	f->feature_lo = ATA_DSM_TRIM;
	f->count_lo = (uint8_t)blocks;
	f->count_hi = (uint8_t)(blocks >> 8);
	f->device = ATA_DEV_LBA;
}

int ahci_trim_ranges(uint64_t *block, uint64_t lba, uint64_t count)
{
	const unsigned per_block = ATA_SECTOR_BYTES / 8u;
	memset(block, 0, ATA_SECTOR_BYTES);
	unsigned n = 0;
	while (count) {
		if (n >= per_block)
			return -E2BIG;
		uint64_t len = count > 0xFFFFu ? 0xFFFFu : count;
		/* Entry: 47:0 LBA, 63:48 sectors (ACS-3 §7.5.3.2), little-endian. */
		block[n++] = (lba & 0xFFFFFFFFFFFFull) | (len << 48);
		lba += len;
		count -= len;
	}
	return (int)n;
}

int ahci_ncq_err_parse(const void *page, size_t len, struct ahci_ncq_err *o, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	*why = 0;
	if (!page || !o || len < ATA_SECTOR_BYTES) {
		*why = "NCQ error log shorter than 512 bytes";
		return -EINVAL;
	}
	const uint8_t *b = page;
	uint8_t sum = 0;
	for (unsigned i = 0; i < ATA_SECTOR_BYTES; i++)
		sum = (uint8_t)(sum + b[i]);
	if (sum) {
		*why = "NCQ error log checksum (byte 511) wrong";
		return -EINVAL;
	}
	memset(o, 0, sizeof *o);
	o->nq = (b[0] & ATA_NCQ_ERR_NQ) != 0;
	o->tag = b[0] & ATA_NCQ_ERR_TAG_MASK;
	o->status = b[2];
	o->error = b[3];
	o->lba = (uint64_t)b[4] | (uint64_t)b[5] << 8 | (uint64_t)b[6] << 16 | (uint64_t)b[8] << 24 |
		 (uint64_t)b[9] << 32 | (uint64_t)b[10] << 40;
	return 0;
}

int ahci_rx_fis_decode(const void *area, size_t len, struct ahci_rx_info *o, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	*why = 0;
	if (!area || !o || len < sizeof(struct ahci_rx_fis)) {
		*why = "received-FIS area shorter than 256 bytes";
		return -EINVAL;
	}
	struct ahci_rx_fis rx;
	memcpy(&rx, area, sizeof rx);
	memset(o, 0, sizeof *o);
	if (rx.rfis.type == FIS_TYPE_REG_D2H) {
		o->d2h_valid = true;
		o->d2h_status = rx.rfis.status;
		o->d2h_error = rx.rfis.error;
		o->d2h_lba = (uint64_t)rx.rfis.lba0 | (uint64_t)rx.rfis.lba1 << 8 | (uint64_t)rx.rfis.lba2 << 16 |
			     (uint64_t)rx.rfis.lba3 << 24 | (uint64_t)rx.rfis.lba4 << 32 | (uint64_t)rx.rfis.lba5 << 40;
	} else if (rx.rfis.type) {
		*why = "D2H register FIS slot holds another FIS type";
		return -EINVAL;
	}
	if (rx.sdbfis.type == FIS_TYPE_SDB) {
		o->sdb_valid = true;
		o->sdb_sactive = rx.sdbfis.sactive;
		o->sdb_status = rx.sdbfis.status;
		o->sdb_error = rx.sdbfis.error;
	} else if (rx.sdbfis.type) {
		*why = "Set Device Bits FIS slot holds another FIS type";
		return -EINVAL;
	}
	if (rx.psfis.type == FIS_TYPE_PIO_SETUP) {
		o->pio_valid = true;
		o->pio_xfer = rx.psfis.xfer_count;
	} else if (rx.psfis.type) {
		*why = "PIO Setup FIS slot holds another FIS type";
		return -EINVAL;
	}
	return 0;
}
