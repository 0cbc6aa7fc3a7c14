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
 * with one namespace of NVME_MODEL_NS_BYTES, logging through bus (kept: it must
 * outlive the controller). 0 or -errno (-EINVAL bad bus, -ENOMEM, -ENOSPC too many instances, or pci_model_add's). */
struct model_bus;
int nvme_model_add(uint8_t bus_index, uint8_t dev, const struct model_bus *bus);

#define NVME_MODEL_NS_BYTES (64ull << 20)   /* the namespace's size: 64 MiB */

#endif /* DOPPEL_MODELS_NVME_H */
