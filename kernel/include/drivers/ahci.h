/*
 * drivers/ahci.h — the AHCI SATA driver (kernel/drivers/ahci/, docs/ahci.md) as
 * tests, benchmarks and fuzz targets see it: HBAs and their disks by index, facts
 * and counters, a test hook for the non-NCQ path, and the driver's pure pieces
 * (PRDT building, IDENTIFY DEVICE parsing, command FIS building, NCQ error log and
 * received-FIS decoding). Serial ATA AHCI 1.3.1, SATA 3.2, ATA/ACS-3.
 */
#ifndef DRIVERS_AHCI_H
#define DRIVERS_AHCI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <hw/dev/ahci.h>

/* ---- PRDT building (pure), AHCI 1.3.1 §4.2.3.3 ------------------------------------------ */

struct ahci_prdt_seg {                  /* one bus segment (after dma_map_sg) */
	uint64_t bus;
	uint32_t len;
};

/* Fill out[0..) with entries describing seg[0..nseg) (total bytes in all): each
 * address word aligned, each count even, at most AHCI_PRD_MAX_BYTES per entry
 * (longer segments are split), at most max_entries entries, addresses above 4 GiB
 * only when s64 (CAP.S64A). No I bit is set (completion comes from the D2H / SDB
 * FIS). Returns the number of entries (>= 1), or -EINVAL (a rule broken, *why says
 * which), -E2BIG (more entries than max_entries). */
int ahci_prdt_build(const struct ahci_prdt_seg *seg, unsigned nseg, uint64_t total, bool s64, struct ahci_prd *out,
		    unsigned max_entries, const char **why);

/* ---- IDENTIFY DEVICE parsing (pure), ACS-3 §7.12.7 ---------------------------------------- */

struct ahci_id_info {
	char model[41], serial[21], fw[9];      /* byte-swapped back, trimmed, printable */
	uint64_t sectors;               /* logical sectors (48-bit count) */
	uint32_t block_size;            /* logical sector bytes: 512 or 4096 */
	uint32_t phys_per_log;          /* logical sectors per physical sector */
	bool lba48, ncq, trim, wcache, wcache_on, flush_ext;
	uint32_t ncq_depth;             /* 1..32 when ncq */
	uint32_t dsm_max_blocks;        /* 512-byte blocks of DSM ranges per command (>= 1 when trim) */
};

/* Parse 512 bytes of IDENTIFY DEVICE data. 0 = usable; -EINVAL = malformed (checksum
 * wrong when present, sizes out of range), -EOPNOTSUPP = well formed but not usable
 * here (no LBA48, no DMA, a sector size other than 512/4096): *why says which. */
int ahci_identify_parse(const void *data, size_t len, struct ahci_id_info *out, const char **why);

/* ---- command FISes (pure), SATA 3.2 §10.5.5, ACS-3 ---------------------------------------- */

/* READ/WRITE DMA EXT (ncq false) or READ/WRITE FPDMA QUEUED with tag (ncq true) for
 * count sectors (1..65536) at a 48-bit lba. -EINVAL for a bad count/lba/tag. */
int ahci_fis_rw(struct fis_reg_h2d *f, bool write, bool ncq, unsigned tag, uint64_t lba, uint32_t count);
/* A non-data or simple command (IDENTIFY, FLUSH CACHE EXT): command, no LBA. */
void ahci_fis_simple(struct fis_reg_h2d *f, uint8_t command);
/* READ LOG EXT of `pages` 512-byte pages of log `log`. */
void ahci_fis_read_log(struct fis_reg_h2d *f, uint8_t log, uint16_t pages);
/* DATA SET MANAGEMENT / TRIM with `blocks` 512-byte blocks of range entries. */
void ahci_fis_trim(struct fis_reg_h2d *f, uint16_t blocks);
/* Fill a 512-byte DSM range block: ranges of at most 65535 sectors covering
 * [lba, lba + count). Returns the number of entries used, or -E2BIG when 64 entries
 * do not cover it. */
int ahci_trim_ranges(uint64_t *block, uint64_t lba, uint64_t count);

/* NCQ Command Error log page (READ LOG EXT 10h), ACS-3 Annex A.13. */
struct ahci_ncq_err {
	bool nq;                        /* a non-queued command failed (tag invalid) */
	unsigned tag;
	uint8_t status, error;
	uint64_t lba;
};
/* 0, or -EINVAL (checksum wrong: *why says so). */
int ahci_ncq_err_parse(const void *page, size_t len, struct ahci_ncq_err *out, const char **why);

/* Decode a received-FIS area (256 bytes) for diagnostics: the D2H FIS's status,
 * error and LBA; the SDB FIS's completed-tag bits. -EINVAL when a FIS's type byte
 * is neither zero nor its own type (*why says which). */
struct ahci_rx_info {
	bool d2h_valid, sdb_valid, pio_valid;
	uint8_t d2h_status, d2h_error;
	uint64_t d2h_lba;
	uint32_t sdb_sactive;
	uint8_t sdb_status, sdb_error;
	uint16_t pio_xfer;
};
int ahci_rx_fis_decode(const void *area, size_t len, struct ahci_rx_info *out, const char **why);

/* ---- HBAs and disks (kernel) --------------------------------------------------------------- */

struct ahci_info {
	char name[8];                   /* "ahci0" */
	uint32_t cap, cap2, pi, vs;
	unsigned nports, ndisks;
	const char *irq_mode;           /* "msi" | "intx" | "poll" */
	uint64_t irqs;
	bool s64, sncq;
};

struct ahci_disk_info {
	char name[16];                  /* "sata0" */
	unsigned hba, port;
	struct ahci_id_info id;
	bool ncq_on;                    /* NCQ in use now */
	unsigned depth;                 /* tags used: 1 without NCQ */
	unsigned max_prd;
	uint64_t submitted, completed, errors, resets, resubmitted, flushes, trims;
	unsigned max_inflight;          /* most commands at the device at once */
	bool failed;
	uint32_t pxcmd;                 /* PxCMD now */
};

unsigned ahci_count(void);
int ahci_info_get(unsigned idx, struct ahci_info *out);
unsigned ahci_disk_count(void);
int ahci_disk_info_get(unsigned idx, struct ahci_disk_info *out);
/* Tests: use NCQ or not from now on (the disk must be idle: -EBUSY otherwise;
 * -EOPNOTSUPP to turn on NCQ the disk or HBA lacks). */
int ahci_test_set_ncq(unsigned disk, bool on);
/* Tests: restart a disk's port after its shutdown (engines stopped). */
int ahci_test_restart(unsigned disk);
/* Tests: reset a disk's port now (COMRESET, resubmit in flight). */
int ahci_test_port_reset(unsigned disk, const char *why);
#endif
