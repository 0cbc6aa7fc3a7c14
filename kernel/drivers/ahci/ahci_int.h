/*
 * ahci_int.h — the AHCI driver's private structures shared by its files: the HBA,
 * its ports with per-slot trackers (what the hardware holds for one command: the
 * command table, the DMA mapping, NCQ or not) apart from the block parts, and the
 * functions each file offers the others. AHCI 1.3.1.
 */
#ifndef AHCI_INT_H
#define AHCI_INT_H
#include <drivers/ahci.h>
#include <kernel/block.h>
#include <kernel/dma.h>
#include <kernel/pci.h>
#include <kernel/spinlock.h>

/* Driver policy numbers (not hardware facts). */
#define AHCI_MAX_HBA 4u
#define AHCI_MAX_DISKS 16u
#define AHCI_STOP_WAIT_MS 500u          /* PxCMD.CR / FR to clear, AHCI §10.1.2 */
#define AHCI_HR_WAIT_MS 1000u           /* GHC.HR to clear, AHCI §10.4.3 */
#define AHCI_BOH_WAIT_MS 25u            /* BOHC.BOS to clear, AHCI §10.6.3 */
#define AHCI_BOH_BUSY_WAIT_MS 2000u     /* ... when BIOS Busy is set */
#define AHCI_LINK_WAIT_MS 50u           /* SStatus.DET = 3 after COMRESET */
#define AHCI_DEFAULT_TIMEOUT_MS 5000u   /* ahci.timeout_ms */
#define AHCI_MAX_XFER (4u << 20)        /* bytes per part */
/* Layout of the driver's own pages (policy, not hardware facts). */
enum {
	AHCI_TBL_BYTES = 4096,          /* one page per command table */
	/* Port page: command list, received FISes, the internal command's table and buffer. */
	AHCI_PG_CL = 0,
	AHCI_PG_RX = 1024,
	AHCI_PG_ITBL = 2048,
	AHCI_PG_IBUF = 3072,
	AHCI_DONE_BATCH = 64,           /* completions gathered under the port lock */
};
#define AHCI_TRIM_OFF (AHCI_TBL_BYTES - ATA_SECTOR_BYTES)     /* DSM range block in it */
#define AHCI_MAX_PRD ((AHCI_TRIM_OFF - sizeof(struct ahci_cmd_table)) / sizeof(struct ahci_prd))
#define AHCI_RESUBMIT_MAX 2u            /* issues of one part after errors/resets */

struct ahci_slot {
	struct blk_part *part;          /* NULL: free */
	struct ahci_cmd_table *tbl;
	dma_addr_t tbl_bus;
	struct dma_sg sg[BLK_MAX_SEGS];
	int nsg;                        /* entries given to dma_map_sg (0: nothing mapped) */
	enum dma_dir dir;
	bool ncq;
	uint32_t resubmits;
};

enum ahci_port_state { AHCI_PORT_LIVE = 0, AHCI_PORT_STOPPED, AHCI_PORT_FAILED };

/* Parts waiting to be issued are chained through blk_part.drv. */
struct ahci_done {
	struct blk_part *p;
	int status;
	uint32_t dev_status;
};
struct ahci_batch {
	unsigned n;
	struct ahci_done d[AHCI_DONE_BATCH];
};

struct ahci_hba;

struct ahci_port {
	struct ahci_hba *h;
	unsigned no;                    /* port number in the HBA */
	unsigned disk;                  /* index in ahci_disks */
	volatile uint8_t *regs;
	/* Lock order: port lock, then the block layer's device lock (blk_part_done is
	 * called only after the port lock is dropped). */
	struct spinlock lock;
	uint8_t *page;                  /* command list + rx FIS + internal command */
	dma_addr_t page_bus;
	struct ahci_cmd_hdr *cl;
	struct ahci_rx_fis *rx;
	struct ahci_slot slot[AHCI_MAX_SLOTS];
	unsigned nslots;                /* slots in use: NCQ depth, or 1 */
	uint32_t issued;                /* slots at the device (PxCI/PxSACT set by us) */
	uint32_t ncq_issued;            /* of those, the NCQ ones */
	struct blk_part *pend_head, *pend_tail;
	bool ncq_ok;                    /* the HBA and the disk offer NCQ, ahci.ncq allows */
	bool ncq_on;
	uint32_t state;                 /* enum ahci_port_state, under lock (atomics for readers) */
	struct ahci_id_info id;
	struct blk_dev bdev;
	char model[64];
	uint64_t submitted, completed, errors, resets, resubmitted, flushes, trims;
	unsigned max_inflight;
};

struct ahci_hba {
	unsigned idx;
	char name[8];
	struct pci_dev *pci;
	volatile uint8_t *abar;
	uint32_t cap, cap2, pi, vs;
	bool s64;
	struct dma_dev *dd;
	struct pci_irq irq;
	bool have_irq;
	bool per_port;                  /* MSI vector i serves port i only (AHCI §3.1.2 MRSM clear) */
	uint64_t timeout_ns;
	uint64_t irqs;                  /* atomic */
	uint64_t not_ours;              /* atomic: interrupts that found IS clear (shared INTx, late MSI) */
	uint64_t vec_irqs[AHCI_MAX_PORTS];      /* atomic: interrupts by vector */
	struct ahci_port *port[AHCI_MAX_PORTS];
};

/* ahci_hba.c */
uint32_t ahci_rd(struct ahci_hba *h, uint32_t off);
void ahci_wr(struct ahci_hba *h, uint32_t off, uint32_t v);
uint32_t ahci_prd(struct ahci_port *pt, uint32_t reg);
void ahci_pwr(struct ahci_port *pt, uint32_t reg, uint32_t v);
/* Wait until (read() & mask) == want, at most ms. 0 or -ETIMEDOUT. */
int ahci_port_wait(struct ahci_port *pt, uint32_t reg, uint32_t mask, uint32_t want, uint64_t ms);

/* ahci_port.c */
/* Bring port up: idle it, program its memory, COMRESET when needed, check the
 * signature, IDENTIFY. 0 = a disk ready to register; -ENODEV = nothing usable (the
 * port's line was printed). */
int ahci_port_init(struct ahci_hba *h, unsigned no, struct ahci_port **out);
int ahci_port_register(struct ahci_port *pt, unsigned disk_no);
/* Interrupt (or poll) work for a port whose PxIS was read and cleared. */
void ahci_port_intr(struct ahci_port *pt, uint32_t pxis);
/* Read and clear PxIS, then IS's bit (AHCI §10.7.2.1 order), and handle. */
unsigned ahci_port_service(struct ahci_port *pt);
void ahci_port_shutdown(struct ahci_port *pt);
int ahci_port_restart(struct ahci_port *pt);
int ahci_port_reset_now(struct ahci_port *pt, const char *why);

/* ahci_conf_ktest.c (test builds): the `ahci.conformance` case, listed in ahci_ktest.c. */
struct ktest;
void ahci_conformance_ktest(struct ktest *t);

extern struct ahci_hba *ahci_hbas[AHCI_MAX_HBA];
extern unsigned ahci_nhba;
extern struct ahci_port *ahci_disks[AHCI_MAX_DISKS];
extern unsigned ahci_ndisks;
#endif
