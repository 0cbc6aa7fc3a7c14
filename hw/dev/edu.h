/*
 * hw/dev/edu.h — QEMU's educational PCI device "edu" (1234:11e8): identity, the
 * BAR0 register map, interrupt status bits and the DMA engine's buffer and reach.
 * Source: QEMU 7.2 docs/specs/edu.rst ("MMIO area spec", "IRQ controller",
 * "DMA controller"); the identity values are those QEMU 7.2's device presents.
 */
#ifndef DOPPEL_HW_DEV_EDU_H
#define DOPPEL_HW_DEV_EDU_H
#include <stdint.h>

#define EDU_VENDOR 0x1234u
#define EDU_DEVICE 0x11e8u
#define EDU_REVISION 0x10u
#define EDU_CLASS 0x00ff00u             /* base class 00h, subclass ffh ("other") */
#define EDU_BAR0_SIZE (1u << 20)        /* BAR0: 1 MiB memory */

/* BAR0 registers. Below EDU_REG_WIDE_FROM only 4-byte accesses; from there 4 or 8. */
#define EDU_REG_ID 0x00u                /* RO identification 0xRRrr00ed: major, minor */
#define   EDU_ID_MAGIC 0x00edu          /*   bits 15:0 */
#define   EDU_ID_VALUE 0x010000edu      /*   version 1.0 */
#define EDU_REG_LIVENESS 0x04u          /* RW: reads the bitwise inverse of the last write */
#define EDU_REG_FACT 0x08u              /* RW: write n, read n! (32-bit, wraps) */
#define EDU_REG_STATUS 0x20u            /* RW status */
#define   EDU_STATUS_COMPUTING 0x01u    /*   RO: factorial in progress */
#define   EDU_STATUS_IRQFACT 0x80u      /*   raise EDU_IRQ_FACT when the factorial is done */
#define EDU_REG_IRQ_STATUS 0x24u        /* RO: the bits that raised the interrupt */
#define EDU_REG_IRQ_RAISE 0x60u         /* WO: OR into the interrupt status and raise */
#define EDU_REG_IRQ_ACK 0x64u           /* WO: clear those status bits (lowers INTx) */
#define EDU_REG_WIDE_FROM 0x80u
#define EDU_REG_DMA_SRC 0x80u           /* RW DMA source address */
#define EDU_REG_DMA_DST 0x88u           /* RW DMA destination address */
#define EDU_REG_DMA_COUNT 0x90u         /* RW DMA transfer count, bytes */
#define EDU_REG_DMA_CMD 0x98u           /* RW DMA command */
#define   EDU_CMD_START 0x01u           /*   start; reads 1 while the transfer runs */
#define   EDU_CMD_TO_RAM 0x02u          /*   direction: 0 RAM -> buffer, 1 buffer -> RAM */
#define   EDU_CMD_IRQ 0x04u             /*   raise EDU_IRQ_DMA when done */

/* Interrupt status bits (EDU_REG_IRQ_STATUS). */
#define EDU_IRQ_FACT 0x00000001u        /* a factorial finished */
#define EDU_IRQ_DMA 0x00000100u         /* a DMA transfer finished */

/* The DMA engine: its buffer, as a device address, and the bus addresses it reaches
 * (QEMU's default dma_mask: 28 bits). */
#define EDU_BUF_ADDR 0x40000u
#define EDU_BUF_SIZE 4096u
#define EDU_DMA_MASK ((1ull << 28) - 1)

#endif /* DOPPEL_HW_DEV_EDU_H */
