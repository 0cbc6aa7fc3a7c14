/*
 * pit.h — 8254 programmable interval timer as wired in a PC: I/O ports, control
 * word, read-back command and status byte (Intel 8254 datasheet, edition in
 * hw/README.md), its input clock, and system control port B at 0x61 (PC/AT), which
 * gates channel 2 and shows its output.
 */
#ifndef DOPPEL_HW_X86_PIT_H
#define DOPPEL_HW_X86_PIT_H

#define PIT_HZ 1193182u                     /* input clock: 14.31818 MHz / 12 on every PC */

/* ---- ports (A1:A0 select, 8254 "Read/Write Logic") ------------------------------ */
#define PIT_CH0 0x40                        /* counter 0: IRQ 0 */
#define PIT_CH1 0x41                        /* counter 1 */
#define PIT_CH2 0x42                        /* counter 2: gate and output on port 0x61 */
#define PIT_CMD 0x43                        /* control word register, write only */
#define PIT_PORT_COUNT 4                    /* 0x40-0x43 */

/* ---- control word (8254 "Control Word Format") ---------------------------------- */
#define  PIT_CMD_BCD 0x01u                  /* bit 0: BCD counting */
#define  PIT_CMD_MODE_SHIFT 1               /* bits 3:1: mode 0..5 */
#define  PIT_CMD_MODE_MASK (7u << 1)
#define   PIT_CMD_MODE0 (0u << 1)           /* interrupt on terminal count */
#define   PIT_CMD_MODE2 (2u << 1)           /* rate generator */
#define   PIT_CMD_MODE3 (3u << 1)           /* square wave */
#define  PIT_CMD_RW_SHIFT 4                 /* bits 5:4: read/write */
#define  PIT_CMD_RW_MASK (3u << 4)
#define   PIT_CMD_LATCH (0u << 4)           /* counter latch command */
#define   PIT_CMD_LSB (1u << 4)             /* least significant byte only */
#define   PIT_CMD_MSB (2u << 4)             /* most significant byte only */
#define   PIT_CMD_LOHI (3u << 4)            /* LSB, then MSB */
#define  PIT_CMD_SC_SHIFT 6                 /* bits 7:6: select counter */
#define  PIT_CMD_SC_MASK (3u << 6)
#define   PIT_CMD_CH0 (0u << 6)
#define   PIT_CMD_CH1 (1u << 6)
#define   PIT_CMD_CH2 (2u << 6)
#define   PIT_CMD_READBACK (3u << 6)        /* read-back command */

/* ---- read-back command (SC = 11), 8254 "Read-Back Command" ---------------------- */
#define  PIT_RB_CNT(n) (1u << (1 + (n)))    /* bits 3:1: counters selected */
#define  PIT_RB_NO_STATUS (1u << 4)         /* 0: latch status */
#define  PIT_RB_NO_COUNT (1u << 5)          /* 0: latch count */

/* ---- status byte (after read-back), bits 5:0 as in the control word -------------- */
#define  PIT_ST_NULL (1u << 6)              /* null count: the new count is not loaded yet */
#define  PIT_ST_OUT (1u << 7)               /* state of the OUT pin */

/* ---- system control port B (PC/AT) ---------------------------------------------- */
#define PIT_PORT_B 0x61
#define  PIT_B_GATE2 (1u << 0)              /* channel 2 gate */
#define  PIT_B_SPEAKER (1u << 1)            /* speaker data enable */
#define  PIT_B_RW_MASK 0x0Fu                /* bits 3:0 are writable; 7:4 read only */
#define  PIT_B_REFRESH (1u << 4)            /* refresh request: toggles every ... */
#define   PIT_B_REFRESH_TOGGLE_NS 15085u    /* ... 15.085 us */
#define  PIT_B_OUT2 (1u << 5)               /* channel 2 output (read only) */

#endif /* DOPPEL_HW_X86_PIT_H */
