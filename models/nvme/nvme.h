/*
 * nvme.h — an NVMe controller model on the simulated PCIe fabric (NVM Express 1.4):
 * controller registers, enable/reset/shutdown, the admin command set (queue
 * creation and deletion, Identify, Number of Queues, Abort), the NVM I/O command
 * set (Read, Write, Flush, Write Zeroes, Dataset Management) on one or more
 * namespaces kept in memory (sparse) or in a host file, PRP lists, MSI-X per
 * completion queue, seeded fault sites. Doorbells only record work: a worker
 * thread per controller runs it (free mode), or the caller steps it one command
 * at a time (deterministic mode, unit tests). See docs/sim.md.
 */
#ifndef DOPPEL_MODELS_NVME_H
#define DOPPEL_MODELS_NVME_H
#include <stdbool.h>
#include <stdint.h>

#include "pci/pci_model.h"

struct model_bus;

#define NVME_MODEL_NS_BYTES (64ull << 20)   /* default space of a controller: 64 MiB */
#define NVME_MODEL_QUEUES_DEFAULT 64u       /* I/O queue pairs offered by default */
#define NVME_MODEL_QUEUES_MAX 64u
#define NVME_MODEL_NS_MAX 16u
#define NVME_MODEL_MDTS_DEFAULT 7u          /* 2^7 pages = 512 KiB, as QEMU 7.2 */

struct nvme_model_config {
	const char *path;       /* host file backing the namespaces, NULL: memory */
	uint64_t size;          /* bytes split evenly over the namespaces; 0: default */
	unsigned ns;            /* namespaces 1..NVME_MODEL_NS_MAX; 0: 1 */
	unsigned queues;        /* I/O queue pairs offered 1..64; 0: default */
	unsigned lbads;         /* log2 of the block size: 9 or 12; 0: 9 */
	unsigned mdts;          /* Identify MDTS (2^n pages) 1..9; 0: default */
	bool threaded;          /* a worker thread runs the queues (else nvme_model_step) */
};

/* Add an NVMe controller function at bus index bus_index, slot dev, function 0,
 * described by cfg (NULL: every default, not threaded), logging through bus (kept:
 * it must outlive the controller). 0 or -errno: -EINVAL bad bus or config, -ENOMEM,
 * -ENOSPC too many instances, a file's open/ftruncate errno, or pci_model_add's. */
int nvme_model_add(uint8_t bus_index, uint8_t dev, const struct model_bus *bus);
int nvme_model_add_cfg(uint8_t bus_index, uint8_t dev, const struct nvme_model_config *cfg,
		       const struct model_bus *bus);

/* Stepped mode (controllers added without a thread). Does any controller have work
 * it can do now (a command to fetch, a completion due)? Any thread. */
bool nvme_model_has_work(void);
/* Do one unit of work of one controller that has some (round robin): fetch and run
 * one command, or post one held completion. Returns false when nothing was done. */
bool nvme_model_step(void);
/* The earliest bus time at which held work falls due (UINT64_MAX: none). */
uint64_t nvme_model_next_event_ns(void);
/* How many controllers there are. */
unsigned nvme_model_count(void);

#endif /* DOPPEL_MODELS_NVME_H */
