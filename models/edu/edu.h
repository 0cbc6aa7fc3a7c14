/*
 * edu.h — QEMU's educational PCI device ("edu", 1234:11e8) as a model on the
 * simulated PCIe fabric: identification, liveness, factorial, interrupt raise and
 * acknowledge (MSI or INTx) and a 4 KiB DMA buffer. Register facts from QEMU's
 * docs/specs/edu.rst; see docs/pci.md "Simulator: device models".
 */
#ifndef DOPPEL_MODELS_EDU_H
#define DOPPEL_MODELS_EDU_H
#include <stdint.h>

#include "pci/pci_model.h"

/* Add an edu function at bus index bus_index (0 root, n = nth bridge's secondary),
 * slot dev, function 0, logging through bus (kept: it must outlive the device). 0 or -errno (-ENOMEM, -ENOSPC: too many instances, or pci_model_add's). */
struct model_bus;
int edu_model_add(uint8_t bus_index, uint8_t dev, const struct model_bus *bus);

#endif /* DOPPEL_MODELS_EDU_H */
