/*
 * testdev.h — Doppel's interrupt test endpoint on the simulated PCIe fabric, one
 * multi-function device: fn 0 (1234:d0e0) offers 32 maskable 64-bit MSI vectors,
 * fn 1 (1234:d0e1) 2048 MSI-X vectors with table and PBA in BAR2. BAR0 of each:
 * write a vector index to raise it, write to lower INTx, read a counter.
 * PCIe Base 4.0 §7.7.1 (MSI), §7.7.2 (MSI-X); docs/pci.md. Registers: hw/dev/testdev.h.
 */
#ifndef DOPPEL_MODELS_TESTDEV_H
#define DOPPEL_MODELS_TESTDEV_H
#include <stdint.h>

#include <hw/dev/testdev.h>

#include "pci/pci_model.h"

/* Add both functions at bus index bus_index, slot dev (fn 0 MSI, pin A; fn 1
 * MSI-X, pin B), logging through bus (kept: it must outlive them). 0 or -errno (pci_model_add's, -ENOMEM, -ENOSPC). */
struct model_bus;
int testdev_model_add(uint8_t bus_index, uint8_t dev, const struct model_bus *bus);

#endif /* DOPPEL_MODELS_TESTDEV_H */
