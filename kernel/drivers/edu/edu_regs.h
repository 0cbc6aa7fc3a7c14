/*
 * edu_regs.h — QEMU's edu device registers as the driver uses them (QEMU
 * docs/specs/edu.txt, "MMIO area spec", "IRQ controller", "DMA controller").
 */
#ifndef DRIVERS_EDU_REGS_H
#define DRIVERS_EDU_REGS_H

#define EDU_VENDOR 0x1234u
#define EDU_DEVICE 0x11e8u

#define EDU_REG_ID 0x00u            /* RO 0xRRrr00ed: major, minor, 0x00ed */
#define  EDU_ID_MAGIC 0x00edu
#define EDU_REG_LIVENESS 0x04u      /* RW: reads back the inverse of the last write */
#define EDU_REG_IRQ_STATUS 0x24u    /* RO: what raised the interrupt */
#define EDU_REG_IRQ_ACK 0x64u       /* WO: clear those bits (lowers INTx) */
#define EDU_REG_DMA_SRC 0x80u       /* 64-bit accesses allowed from 0x80 */
#define EDU_REG_DMA_DST 0x88u
#define EDU_REG_DMA_COUNT 0x90u
#define EDU_REG_DMA_CMD 0x98u
#define  EDU_CMD_START 0x1u         /* start; reads 1 while the transfer runs */
#define  EDU_CMD_TO_RAM 0x2u        /* 1: device buffer -> RAM, 0: RAM -> device buffer */
#define  EDU_CMD_IRQ 0x4u           /* raise EDU_IRQ_DMA when done */
#define EDU_IRQ_DMA 0x100u          /* interrupt status bit of a finished DMA */
#endif
