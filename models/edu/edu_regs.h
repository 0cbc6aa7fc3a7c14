/*
 * edu_regs.h — register map of QEMU's edu device (QEMU docs/specs/edu.txt,
 * "MMIO area spec", "IRQ controller", "DMA controller"): offsets in BAR0 and bits.
 */
#ifndef DOPPEL_MODELS_EDU_REGS_H
#define DOPPEL_MODELS_EDU_REGS_H

#define EDU_VENDOR_ID 0x1234u
#define EDU_DEVICE_ID 0x11e8u
#define EDU_REVISION 0x10u
#define EDU_CLASS 0x00ff00u              /* base class 0x00, subclass 0xff ("other") */
#define EDU_BAR0_SIZE (1u << 20)         /* 1 MiB memory BAR */

#define EDU_REG_ID 0x00u                 /* RO identification 0xRRrr00ed */
#define   EDU_ID_VALUE 0x010000edu       /* version 1.0 */
#define EDU_REG_LIVENESS 0x04u           /* RW: reads the bitwise inverse of the last write */
#define EDU_REG_FACT 0x08u               /* RW: write n, read n! (32-bit, wraps) */
#define EDU_REG_STATUS 0x20u             /* RW status */
#define   EDU_STATUS_COMPUTING 0x01u     /* RO: factorial in progress */
#define   EDU_STATUS_IRQFACT 0x80u       /* raise interrupt 0x1 when the factorial is done */
#define EDU_REG_IRQ_STATUS 0x24u         /* RO: bits that raised the interrupt */
#define EDU_REG_IRQ_RAISE 0x60u          /* WO: OR into interrupt status, raise */
#define EDU_REG_IRQ_ACK 0x64u            /* WO: clear from interrupt status */
#define EDU_REG_DMA_SRC 0x80u            /* RW 4 or 8 bytes */
#define EDU_REG_DMA_DST 0x88u
#define EDU_REG_DMA_COUNT 0x90u
#define EDU_REG_DMA_CMD 0x98u
#define   EDU_DMA_CMD_START 0x01u        /* start; reads 1 while the transfer runs */
#define   EDU_DMA_CMD_TO_RAM 0x02u       /* direction: 0 RAM -> buffer, 1 buffer -> RAM */
#define   EDU_DMA_CMD_IRQ 0x04u          /* raise interrupt 0x100 when done */
#define EDU_REG_WIDE_FROM 0x80u          /* below: 4-byte accesses only; from here 4 or 8 */

#define EDU_IRQ_FACT 0x00000001u         /* interrupt status bit of a finished factorial */
#define EDU_IRQ_DMA 0x00000100u          /* interrupt status bit of a finished DMA */

#define EDU_DMA_BUF_ADDR 0x40000u        /* device address of the DMA buffer */
#define EDU_DMA_BUF_SIZE 4096u
#define EDU_DMA_MASK ((1ull << 28) - 1)  /* QEMU's default dma_mask: 28 bits */

#endif /* DOPPEL_MODELS_EDU_REGS_H */
