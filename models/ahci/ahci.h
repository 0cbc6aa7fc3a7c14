/*
 * ahci.h — an AHCI host bus adapter model with SATA disks (Serial ATA AHCI 1.3.1,
 * ATA/ACS-3, SATA 3.2), register compatible with the ICH9 AHCI function q35 has at
 * 00:1f.2: ABAR in BAR5, one MSI message (or, by configuration, one per port) or
 * INTx, six ports, 32 command slots, NCQ.
 * Each port may hold a disk kept in a host file or in sparse memory. Register writes
 * (PxCI, PxSACT, PxCMD.ST) only record work: a worker thread per HBA runs it (free
 * mode), or the caller steps it one unit at a time (deterministic mode, unit tests).
 * See docs/sim.md "AHCI".
 */
#ifndef DOPPEL_MODELS_AHCI_H
#define DOPPEL_MODELS_AHCI_H
#include <stdbool.h>
#include <stdint.h>

struct model_bus;

#define AHCIM_PORTS 6u                 /* ports of the HBA (CAP.NP + 1, PI = 0x3F) */
#define AHCIM_DISK_BYTES (64ull << 20) /* default disk: 64 MiB */
#define AHCIM_DISK_MAX (1ull << 40)    /* largest disk: 1 TiB */

struct ahci_disk_config {
	bool present;           /* a SATA disk on this port (else the port is empty) */
	const char *path;       /* host file (created, grown to size), NULL: memory */
	uint64_t size;          /* bytes, a multiple of 512; 0: default */
	bool no_ncq;            /* the disk offers no NCQ (IDENTIFY word 76 bit 8 clear) */
};

struct ahci_model_config {
	struct ahci_disk_config port[AHCIM_PORTS];
	bool threaded;          /* a worker thread runs the ports (else ahci_model_step) */
	/* MSI Multiple Message Capable as log2: 0 = one message (ICH9, QEMU), or 3..5 =
	 * 8..32 messages, enough for port i to use message i (AHCI 1.3.1 §3.1.2 MRSM). */
	uint8_t msi_log2;
};
#define AHCIM_MSI_LOG2_PER_PORT 3u     /* the least log2 that gives each port its message */

/* Add an HBA function at bus index bus_index, slot dev, function fn, described by cfg
 * (NULL: one default disk on port 0, not threaded), logging through bus (kept: it
 * must outlive the HBA). 0 or -errno: -EINVAL bad bus or configuration, -ENOMEM,
 * -ENOSPC too many instances, a file's open/ftruncate errno, or pci_model_add's. */
int ahci_model_add(uint8_t bus_index, uint8_t dev, uint8_t fn, const struct ahci_model_config *cfg,
		   const struct model_bus *bus);

/* Stepped mode (HBAs added without a thread). Does any HBA have work it can do now
 * (a command to fetch, an NCQ command to finish)? Any thread. */
bool ahci_model_has_work(void);
/* Do one unit of work of one port that has some (round robin over HBAs and ports):
 * fetch and run one command, or finish one queued command. False: nothing done. */
bool ahci_model_step(void);
/* The earliest bus time at which held work falls due (UINT64_MAX: none). */
uint64_t ahci_model_next_event_ns(void);
/* How many HBAs there are. */
unsigned ahci_model_count(void);

#endif /* DOPPEL_MODELS_AHCI_H */
