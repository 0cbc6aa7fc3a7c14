/*
 * pic.h — the PC's 8259A pair: I/O ports, the initialization command words
 * ICW1–ICW4 and the operation command words OCW1–OCW3. Intel 8259A datasheet,
 * "Programming the 8259A" (edition in hw/README.md).
 */
#ifndef DOPPEL_HW_X86_PIC_H
#define DOPPEL_HW_X86_PIC_H

/* ---- ports (A0 = 0: command, A0 = 1: data) -------------------------------------- */
#define PIC1_CMD 0x20                       /* master: ICW1, OCW2, OCW3; reads IRR/ISR */
#define PIC1_DATA 0x21                      /* master: ICW2-ICW4, OCW1 (IMR) */
#define PIC2_CMD 0xA0                       /* slave, cascaded on master IR2 */
#define PIC2_DATA 0xA1
#define PIC_CASCADE_IRQ 2                   /* the master input the slave drives on a PC */

/* ---- command port writes: bits 4:3 tell ICW1, OCW2 and OCW3 apart ---------------- */
#define PIC_CMD_SEL_MASK 0x18u
#define  PIC_ICW1_INIT 0x10u                /* bit 4 set: ICW1, starts initialization */
#define  PIC_OCW2_SEL 0x00u                 /* bits 4:3 = 00: OCW2 */
#define  PIC_OCW3_SEL 0x08u                 /* bits 4:3 = 01: OCW3 */
#define PIC_ICW1_IC4 0x01u                  /* ICW4 follows */
#define PIC_ICW1_SNGL 0x02u                 /* single 8259: no ICW3 */
#define PIC_ICW1_LTIM 0x08u                 /* level-triggered inputs */
#define PIC_ICW2_VECTOR_MASK 0xF8u          /* ICW2 bits 7:3: vector of IR0 (8086 mode) */
#define PIC_ICW4_8086 0x01u                 /* 8086/8088 mode */
#define PIC_ICW4_AEOI 0x02u                 /* automatic end of interrupt */
#define PIC_OCW2_EOI 0x20u                  /* non-specific EOI */
#define PIC_OCW3_RIS 0x01u                  /* with RR: 1 read ISR, 0 read IRR */
#define PIC_OCW3_RR 0x02u                   /* read register command */

#endif /* DOPPEL_HW_X86_PIC_H */
