/*
 * nvme.h — a minimal NVMe controller model on the simulated PCIe fabric (NVM
 * Express 1.4): controller registers, enable/disable, the admin queue pair with
 * Identify and Get/Set Features (Number of Queues), MSI-X (65 vectors) or INTx.
 * No I/O queues or namespace data yet; the layout is made to grow (docs/pci.md).
 */
#ifndef DOPPEL_MODELS_NVME_H
#define DOPPEL_MODELS_NVME_H
#include <stdint.h>

#include "pci/pci_model.h"

/* Add an NVMe controller function at bus index bus_index, slot dev, function 0,
 * with one namespace of NVME_MODEL_NS_BYTES. host is copied. 0 or -errno (-EINVAL
 * bad host, -ENOMEM, -ENOSPC too many instances, or pci_model_add's). */
int nvme_model_add(uint8_t bus_index, uint8_t dev, const struct pci_model_host *host);

#define NVME_MODEL_NS_BYTES (64ull << 20)   /* the namespace's size: 64 MiB */

#endif /* DOPPEL_MODELS_NVME_H */
