/*
 * hw/dev/testdev.h — Doppel's own interrupt test endpoint, one multi-function
 * device: fn 0 offers 32 maskable 64-bit MSI vectors, fn 1 2048 MSI-X vectors with
 * table and PBA in BAR2; BAR0 of each raises a vector on demand. The device is
 * ours: its specification is docs/pci.md "testdev (ours)".
 */
#ifndef DOPPEL_HW_DEV_TESTDEV_H
#define DOPPEL_HW_DEV_TESTDEV_H
#include <stdint.h>

#define TESTDEV_VENDOR 0x1234u
#define TESTDEV_DEVICE_MSI 0xd0e0u      /* fn 0 */
#define TESTDEV_DEVICE_MSIX 0xd0e1u     /* fn 1 */
#define TESTDEV_CLASS 0xff0000u         /* unassigned class */

/* BAR0 registers (4 KiB memory BAR), 32-bit accesses only. */
#define TESTDEV_BAR0_SIZE 0x1000u
#define TESTDEV_REG_RAISE 0x00u         /* WO: raise the vector written */
#define TESTDEV_REG_LOWER 0x04u         /* WO: any value deasserts INTx */
#define TESTDEV_REG_COUNT 0x08u         /* RO: raises that sent a message or asserted INTx */

#define TESTDEV_MSI_LOG2 5u             /* fn 0: 32 MSI vectors (Multiple Message Capable 5) */
#define TESTDEV_MSIX_VECTORS 2048u      /* fn 1 */
#define TESTDEV_MSIX_BAR 2u             /* fn 1: table and PBA in BAR2 */
#define TESTDEV_MSIX_TABLE_OFF 0x0u     /* 2048 * 16 = 32 KiB */
#define TESTDEV_MSIX_PBA_OFF 0x8000u
#define TESTDEV_BAR2_SIZE 0x10000u      /* 64 KiB, 64-bit */

#endif /* DOPPEL_HW_DEV_TESTDEV_H */
