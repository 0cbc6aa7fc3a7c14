/*
 * ahci_int.h — the AHCI HBA model's state, shared by its parts: the HBA registers,
 * interrupts, instances and the work loop (ahci_hba.c), the port registers, the
 * PxCMD state machine, the command list walk, PRDTs and received FISes
 * (ahci_port.c), and the SATA disk: IDENTIFY, the ATA commands, NCQ and its error
 * log, the backing store (ahci_ata.c, models/store). AHCI 1.3.1, ACS-3. Model-internal.
 */
#ifndef DOPPEL_MODELS_AHCI_INT_H
#define DOPPEL_MODELS_AHCI_INT_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "ahci/ahci.h"
#include "ahci/ahci_model.h"
#include "pci/pci_model.h"
#include <hw/dev/ahci.h>
#include "store/store.h"

#define AHCIM_ABAR_SIZE 0x1000u     /* BAR5 size, as QEMU's ich9-ahci */
#define AHCIM_SLOTS 32u             /* CAP.NCS + 1 */
#define AHCIM_NCQ_DEPTH 32u         /* IDENTIFY word 75 + 1 */
#define AHCIM_DSM_BLOCKS_MAX 8u     /* IDENTIFY word 105: 512-byte blocks of TRIM ranges */
#define AHCIM_SLOW_NS 10000000ull   /* ahci.slow holds a command back 10 ms */
#define AHCIM_XFER_CHUNK (64u << 10)/* bytes moved per store access */
#define AHCIM_SECTOR 512u

/* A command the device holds: a queued (NCQ) one between its acceptance and its Set
 * Device Bits FIS, or a non-queued one held back by ahci.slow. */
struct ahci_cmd {
	bool used;
	uint8_t op;                     /* ATA command */
	uint8_t slot;                   /* command slot = NCQ tag */
	uint64_t lba;
	uint32_t count;                 /* sectors */
	uint64_t due;                   /* bus time it may finish at */
	uint64_t seq;                   /* order of acceptance */
};

struct ahci_disk {
	bool present, ncq;
	uint64_t sectors;
	bool wce;                       /* volatile write cache enabled */
	bool ncq_error;                 /* NCQ error state: queued commands abort until log 10h is read */
	uint8_t ncq_log[ATA_SECTOR_BYTES];      /* NCQ Command Error log page */
	char serial[21], model[41];
	struct model_store store;
};

struct ahci_hba;

struct ahci_port {
	struct ahci_hba *h;
	unsigned idx;
	struct ahci_disk disk;
	/* registers (AHCI §3.3) */
	uint64_t clb, fb;
	uint32_t is, ie, cmd, tfd, sig, ssts, sctl, serr, sact, ci;
	/* state behind them */
	bool link_down;                 /* ahci.phy_down: no Phy communication until COMRESET */
	bool halted;                    /* an error: no command processing until ST is cleared */
	bool hang;                      /* ahci.port_hang: CR does not clear until GHC.HR */
	bool sig_pending;               /* the signature D2H FIS waits for FRE */
	bool srst;                      /* a software reset FIS asserted SRST */
	struct ahci_cmd held;           /* a non-queued command held by ahci.slow */
	struct ahci_cmd ncq[AHCIM_SLOTS];       /* queued commands in the device, by tag */
	uint64_t seq;
};

struct ahci_hba {
	pthread_mutex_t lock;
	pthread_cond_t work;            /* threaded: the worker sleeps here */
	pthread_t thread;
	bool threaded, stop;
	const struct model_bus *bus;
	struct pci_model_desc desc;
	struct pci_model_fn *fn;
	unsigned index;
	uint8_t bus_index, dev, func;
	char name[32];
	unsigned logged;
	unsigned fault_logged[AHCI_FAULT_COUNT];
	unsigned rr;                    /* round robin: the port served last */
	uint32_t ghc, is;
	struct ahci_port port[AHCIM_PORTS];
	struct ahci_model_stats st;
	uint8_t buf[AHCIM_XFER_CHUNK];  /* data of the store access under way */
};

/* ahci_hba.c */
void ahci_log(struct ahci_hba *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Did fault site f fire for this command (logged, counted)? */
bool ahci_fault(struct ahci_port *p, enum ahci_model_fault f, unsigned slot);
/* Port p has a new PxIS bit (or PxIE enabled one): IS, then the interrupt. */
void ahci_port_irq(struct ahci_port *p);
/* Device DMA: 0, -EACCES (bus mastering off), -EFAULT (blocked or outside RAM). Logged. */
int ahci_dma(struct ahci_hba *h, uint64_t addr, void *buf, unsigned len, bool write);
void ahci_kick(struct ahci_hba *h);

/* ahci_port.c — port registers at offset off inside the port's 0x80 bytes. */
uint32_t ahci_port_read(struct ahci_port *p, uint32_t off);
void ahci_port_write(struct ahci_port *p, uint32_t off, uint32_t v);
/* Power-on / GHC.HR state of the port and its device. */
void ahci_port_reset(struct ahci_port *p, bool hba_reset);
/* Work the port can do now / do one unit of it (the lock held). */
bool ahci_port_has_work(struct ahci_port *p, uint64_t now);
bool ahci_port_step(struct ahci_port *p, uint64_t now);
uint64_t ahci_port_next_due(struct ahci_port *p);

/* ahci_ata.c — the disk. */
/* How an ATA command moves data. */
enum ahci_proto { AHCIM_P_NONE, AHCIM_P_PIO_IN, AHCIM_P_DMA_IN, AHCIM_P_DMA_OUT, AHCIM_P_NCQ };
/* The protocol of a command the disk knows, or -1. */
int ahci_ata_proto(const struct ahci_disk *d, uint8_t op);
/* Outcome of a command: status and error registers, bytes moved. */
struct ahci_ata_res {
	uint8_t status, error;
	uint32_t bytes;
	bool fatal;                     /* an HBA-side failure (PxIS.HBFS/OFS already set) */
};
/* Run a decoded command whose data is described by the slot's PRDT. */
struct ahci_ata_res ahci_ata_exec(struct ahci_port *p, unsigned slot, const struct fis_reg_h2d *f,
				  bool write_bit);
/* Run a queued command's data phase. */
struct ahci_ata_res ahci_ata_ncq_exec(struct ahci_port *p, const struct ahci_cmd *c);
/* Record an NCQ error for tag (enters the NCQ error state). */
void ahci_ata_ncq_fail(struct ahci_disk *d, unsigned tag, uint8_t status, uint8_t error,
		       uint64_t lba, uint32_t count);
void ahci_ata_identify(const struct ahci_disk *d, uint16_t id[ATA_ID_WORDS]);

static inline uint64_t ahci_fis_lba(const struct fis_reg_h2d *f)
{
	return (uint64_t)f->lba0 | (uint64_t)f->lba1 << 8 | (uint64_t)f->lba2 << 16 |
	       (uint64_t)f->lba3 << 24 | (uint64_t)f->lba4 << 32 | (uint64_t)f->lba5 << 40;
}

#endif /* DOPPEL_MODELS_AHCI_INT_H */
