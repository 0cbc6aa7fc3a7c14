/*
 * ahci_model.h — test-only view of the AHCI HBA model: counters of what the driver
 * made it do, a port's registers, direct access to a disk's sectors, the fault sites,
 * and a reset between tests. Never seen by the kernel.
 */
#ifndef DOPPEL_MODELS_AHCI_MODEL_H
#define DOPPEL_MODELS_AHCI_MODEL_H
#include <stdbool.h>
#include <stdint.h>

enum ahci_model_fault {             /* the fault sites (docs/sim.md "AHCI") */
	AHCI_FAULT_TFES,                /* "ahci.tfes": a command ends in a task-file error */
	AHCI_FAULT_NCQ_ERROR_TAG,       /* "ahci.ncq_error_tag": one NCQ command fails */
	AHCI_FAULT_PORT_HANG,           /* "ahci.port_hang": PxCMD.CR stays set after ST clears */
	AHCI_FAULT_PHY_DOWN,            /* "ahci.phy_down": the link drops (PxIS.PRCS) */
	AHCI_FAULT_SLOW,                /* "ahci.slow": the command finishes ~10 ms late */
	AHCI_FAULT_COUNT
};

struct ahci_model_stats {
	uint64_t bad_access;            /* bad size/offset, writes to read-only registers */
	uint64_t refused;               /* writes the hardware ignores (CLB while running...) */
	uint64_t commands;              /* command FISes taken from command lists */
	uint64_t ncq_commands;          /* of them READ/WRITE FPDMA QUEUED */
	uint64_t ops[256];              /* by ATA opcode */
	uint64_t reads, writes;         /* read/write commands that succeeded */
	uint64_t bytes_read, bytes_written;
	uint64_t flushes, trims, identifies, log_reads;
	uint64_t tf_errors;             /* commands ended with ERR (PxIS.TFES) */
	uint64_t ncq_errors;            /* of them NCQ errors (Set Device Bits with ERR) */
	uint64_t fatal_errors;          /* HBFS/OFS: bad pointers, short PRDTs, DMA blocked */
	uint64_t lost;                  /* commands dropped by ST clear, COMRESET, HBA reset */
	uint64_t comresets, hba_resets;
	uint64_t d2h_fises, sdb_fises, pio_fises;
	uint64_t irqs;                  /* interrupt raises (an MSI, or INTx asserted) */
	uint64_t dma_no_master, dma_blocked;
	uint64_t faults[AHCI_FAULT_COUNT];
};

struct ahci_model_port_regs {       /* a port's registers as software reads them */
	uint32_t is, ie, cmd, tfd, sig, ssts, sctl, serr, sact, ci;
};

/* The site's name ("ahci.tfes", ...). */
const char *ahci_model_fault_name(enum ahci_model_fault f);
/* Instances in order of ahci_model_add. 0 or -ENOENT. Any thread. */
int ahci_model_stats(unsigned idx, struct ahci_model_stats *out);
/* Port p's registers and the HBA's IS. 0 or -ENOENT. */
int ahci_model_port_regs(unsigned idx, unsigned port, struct ahci_model_port_regs *out,
			 uint32_t *hba_is);
/* Read/write count sectors of the disk on port from sector lba, bypassing the HBA
 * (tests). 0, -ENOENT (no such HBA/disk), -ERANGE, -EIO. */
int ahci_model_disk_access(unsigned idx, unsigned port, uint64_t lba, void *buf, uint32_t count,
			   bool write);
/* Forget every instance (tests: call after pci_model_init starts a new fabric);
 * stops worker threads and closes backing files. */
void ahci_model_reset(void);

#endif /* DOPPEL_MODELS_AHCI_MODEL_H */
