/*
 * edu.h — driver for QEMU's educational PCI device (1234:11e8; QEMU docs/specs/edu.txt):
 * its DMA engine (28-bit DMA mask, 4 KiB device buffer at device address 0x40000)
 * and its interrupt, used to exercise the IOMMU and the DMA API before the storage
 * drivers exist. The same device is modelled in doppel-sim (models/edu). The
 * driver's public header: the IOMMU and DMA ktests and benchmarks drive it too.
 */
#ifndef DRIVERS_EDU_H
#define DRIVERS_EDU_H
#include <stdbool.h>
#include <stdint.h>
#include <kernel/dma.h>
#include <kernel/pci.h>
#include <hw/dev/edu.h>     /* EDU_BUF_ADDR, EDU_BUF_SIZE, EDU_DMA_MASK */

struct edu;

/* Probe the nth edu: map BAR0, check the identification register, declare DMA
 * parameters (dma_dev_attach), take an interrupt (pci_irq_alloc, any mode). NULL
 * (logged) when absent or broken. */
struct edu *edu_probe(unsigned nth);
/* Free the interrupt and the DMA state; returns dma_dev_release's leak count. */
int edu_remove(struct edu *e);
struct pci_dev *edu_pci(struct edu *e);
struct dma_dev *edu_dma_dev(struct edu *e);
/* One DMA transfer of len bytes (1..EDU_BUF_SIZE) between bus address `bus` and
 * the device buffer at offset buf_off: to_device = memory -> device buffer. Waits
 * for completion (interrupt, or polling the command register), bounded: 0,
 * -EINVAL (range), -ETIMEDOUT. The bus address is used as given (no mapping).
 * buf_off + len must stay below EDU_BUF_SIZE: QEMU 7.2 stops the machine on a
 * transfer that reaches the buffer's last byte (its range check is off by one). */
int edu_dma(struct edu *e, dma_addr_t bus, uint32_t buf_off, uint32_t len, bool to_device);

/* For the DMA ktests and benchmarks: edu_probe, with the DMA policy forced (enum
 * dma_policy; < 0 = the normal choice) and, when p is not NULL, other DMA
 * parameters than the device's own (a smaller max_seg or mask, say; the mask must
 * stay within the device's 28 bits). */
struct edu *edu_probe_policy(unsigned nth, int policy, const struct dma_params *p);
/* Interrupts taken since probe (0 in polling mode). */
uint64_t edu_irq_count(struct edu *e);
#endif
