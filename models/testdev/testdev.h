/*
 * testdev.h — Doppel's interrupt test endpoint on the simulated PCIe fabric, one
 * multi-function device: fn 0 (1234:d0e0) offers 32 maskable 64-bit MSI vectors,
 * fn 1 (1234:d0e1) 2048 MSI-X vectors with table and PBA in BAR2. BAR0 of each:
 * write a vector index to raise it, write to lower INTx, read a counter.
 * PCIe Base 4.0 §7.7.1 (MSI), §7.7.2 (MSI-X); docs/pci.md.
 */
#ifndef DOPPEL_MODELS_TESTDEV_H
#define DOPPEL_MODELS_TESTDEV_H
#include <stdint.h>

#include "pci/pci_model.h"

#define TESTDEV_VENDOR 0x1234u
#define TESTDEV_DEVICE_MSI 0xd0e0u      /* fn 0 */
#define TESTDEV_DEVICE_MSIX 0xd0e1u     /* fn 1 */
#define TESTDEV_CLASS 0xff0000u         /* unassigned class */

/* BAR0 registers (4 KiB memory BAR), 32-bit accesses. */
#define TESTDEV_REG_RAISE 0x00u         /* WO: raise the vector written */
#define TESTDEV_REG_LOWER 0x04u         /* WO: any value lowers INTx */
#define TESTDEV_REG_COUNT 0x08u         /* RO: raises that sent a message or asserted INTx */
#define TESTDEV_BAR0_SIZE 0x1000u

#define TESTDEV_MSI_LOG2 5u             /* fn 0: 32 MSI vectors */
#define TESTDEV_MSIX_VECTORS 2048u      /* fn 1 */
#define TESTDEV_MSIX_BAR 2u
#define TESTDEV_MSIX_TABLE_OFF 0x0u     /* 2048 * 16 = 32 KiB */
#define TESTDEV_MSIX_PBA_OFF 0x8000u
#define TESTDEV_BAR2_SIZE 0x10000u      /* 64 KiB, 64-bit */

/* Add both functions at bus index bus_index, slot dev (fn 0 MSI, pin A; fn 1
 * MSI-X, pin B), logging through bus (kept: it must outlive them). 0 or -errno (pci_model_add's, -ENOMEM, -ENOSPC). */
struct model_bus;
int testdev_model_add(uint8_t bus_index, uint8_t dev, const struct model_bus *bus);

#endif /* DOPPEL_MODELS_TESTDEV_H */
