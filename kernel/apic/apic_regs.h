/*
 * apic_regs.h — local APIC, I/O APIC and 8254 PIT register definitions.
 * Intel SDM Vol. 3A ch. 11 "Advanced Programmable Interrupt Controller (APIC)"
 * (§11.4 xAPIC registers, §11.12 x2APIC), Intel 82093AA I/O APIC datasheet §3.2,
 * Intel 8254 PIT datasheet. Offsets are the xAPIC MMIO offsets; x2APIC MSRs are
 * derived from them with APIC_X2_MSR().
 */
#ifndef APIC_REGS_H
#define APIC_REGS_H

/* ---- MSRs and CPUID bits ---------------------------------------------------------- */
#define MSR_IA32_APIC_BASE 0x1B             /* SDM §11.4.4 */
#define  APIC_BASE_BSP (1ull << 8)          /* this CPU is the boot processor */
#define  APIC_BASE_EXTD (1ull << 10)        /* x2APIC mode (with EN) */
#define  APIC_BASE_EN (1ull << 11)          /* APIC globally enabled */
#define  APIC_BASE_ADDR_MASK 0x000FFFFFFFFFF000ull
#define MSR_IA32_TSC_DEADLINE 0x6E0         /* SDM §11.5.4.1 */
#define APIC_X2_MSR_BASE 0x800              /* SDM §11.12.1.2 */
#define APIC_X2_MSR(off) (APIC_X2_MSR_BASE + ((off) >> 4))
#define APIC_X2_SELF_IPI_MSR 0x83F          /* SDM §11.12.11, x2APIC only */

#define CPUID_1_ECX_X2APIC (1u << 21)       /* CPUID.01H:ECX[21] */
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24) /* CPUID.01H:ECX[24] */
#define CPUID_1_EDX_APIC (1u << 9)          /* CPUID.01H:EDX[9] on-chip APIC */

/* ---- local APIC registers (xAPIC MMIO offsets, SDM Table 11-1) -------------------- */
#define APIC_ID 0x020                       /* xAPIC: ID in bits 31:24; x2APIC: 32-bit ID */
#define APIC_VERSION 0x030                  /* bits 7:0 version, 23:16 max LVT entry */
#define APIC_TPR 0x080                      /* task priority */
#define APIC_PPR 0x0A0                      /* processor priority (read only) */
#define APIC_EOI 0x0B0                      /* write 0 to signal end of interrupt */
#define APIC_LDR 0x0D0                      /* logical destination */
#define APIC_DFR 0x0E0                      /* destination format (xAPIC only) */
#define APIC_SVR 0x0F0                      /* spurious interrupt vector, SDM §11.9 */
#define  APIC_SVR_ENABLE (1u << 8)          /* APIC software enable */
#define APIC_ISR0 0x100                     /* in-service, 8 x 32 bits, stride 0x10 */
#define APIC_TMR0 0x180                     /* trigger mode */
#define APIC_IRR0 0x200                     /* interrupt request */
#define APIC_ESR 0x280                      /* error status, SDM §11.5.3: write before read */
#define  APIC_ESR_SEND_CS (1u << 0)
#define  APIC_ESR_RECV_CS (1u << 1)
#define  APIC_ESR_SEND_ACCEPT (1u << 2)
#define  APIC_ESR_RECV_ACCEPT (1u << 3)
#define  APIC_ESR_REDIR_IPI (1u << 4)
#define  APIC_ESR_SEND_ILLEGAL_VEC (1u << 5)
#define  APIC_ESR_RECV_ILLEGAL_VEC (1u << 6)
#define  APIC_ESR_ILLEGAL_REG (1u << 7)
#define  APIC_ESR_SEND_MASK (APIC_ESR_SEND_CS | APIC_ESR_SEND_ACCEPT | APIC_ESR_SEND_ILLEGAL_VEC)
#define APIC_ICR_LO 0x300                   /* interrupt command, SDM §11.6.1 */
#define APIC_ICR_HI 0x310                   /* xAPIC: destination in bits 31:24 */
#define APIC_LVT_TIMER 0x320
#define APIC_LVT_THERMAL 0x330
#define APIC_LVT_PERF 0x340
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_LVT_ERROR 0x370
#define APIC_TIMER_ICR 0x380                /* timer initial count */
#define APIC_TIMER_CCR 0x390                /* timer current count */
#define APIC_TIMER_DCR 0x3E0                /* timer divide configuration */
#define  APIC_TIMER_DIV_16 0x3u             /* bits 3,1:0 = 0,11 */
#define  APIC_TIMER_DIV_1 0xBu              /* bits 3,1:0 = 1,11 */
#define APIC_MMIO_LEN 0x1000

/* LVT entry bits (SDM Figure 11-8) */
#define APIC_LVT_MASKED (1u << 16)
#define APIC_LVT_TIMER_ONESHOT (0u << 17)
#define APIC_LVT_TIMER_PERIODIC (1u << 17)
#define APIC_LVT_TIMER_DEADLINE (2u << 17)
#define APIC_LVT_DM_NMI (4u << 8)
#define APIC_LVT_DM_EXTINT (7u << 8)

/* ICR bits (SDM Figure 11-12) */
#define APIC_ICR_DM_FIXED (0u << 8)
#define APIC_ICR_DM_NMI (4u << 8)
#define APIC_ICR_DM_INIT (5u << 8)
#define APIC_ICR_DM_STARTUP (6u << 8)
#define APIC_ICR_DEST_LOGICAL (1u << 11)
#define APIC_ICR_BUSY (1u << 12)            /* delivery status, xAPIC only */
#define APIC_ICR_LEVEL_ASSERT (1u << 14)    /* only INIT uses it; never on SIPI (seed K43) */
#define APIC_ICR_TRIGGER_LEVEL (1u << 15)
#define APIC_ICR_SH_NONE (0u << 18)         /* destination shorthand */
#define APIC_ICR_SH_SELF (1u << 18)
#define APIC_ICR_SH_ALL (2u << 18)
#define APIC_ICR_SH_ALL_BUT_SELF (3u << 18)
#define APIC_ICR_XAPIC_DEST_SHIFT 24        /* in ICR_HI */
#define APIC_ICR_X2APIC_DEST_SHIFT 32       /* in the 64-bit ICR MSR */

/* ---- I/O APIC (82093AA datasheet §3.2) --------------------------------------------- */
#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN 0x10
#define IOAPIC_MMIO_LEN 0x20
#define IOAPIC_REG_ID 0x00                  /* bits 27:24 */
#define IOAPIC_REG_VER 0x01                 /* bits 7:0 version, 23:16 max redirection entry */
#define IOAPIC_REG_REDTBL(n) (0x10 + 2 * (n))   /* low dword; high dword at +1 */
#define  IOAPIC_RTE_MASKED (1u << 16)
#define  IOAPIC_RTE_LEVEL (1u << 15)        /* trigger mode: 1 level, 0 edge */
#define  IOAPIC_RTE_REMOTE_IRR (1u << 14)
#define  IOAPIC_RTE_ACTIVE_LOW (1u << 13)   /* polarity */
#define  IOAPIC_RTE_DELIVS (1u << 12)
#define  IOAPIC_RTE_DEST_LOGICAL (1u << 11)
#define  IOAPIC_RTE_DEST_SHIFT 24           /* in the high dword: physical APIC ID 7:0 */
#define IOAPIC_MAX_PINS 240

/* ---- 8259A PIC (masked when the I/O APIC takes over) and 8254 PIT ------------------- */
#define PIC1_DATA 0x21
#define PIC2_DATA 0xA1
#define PIT_CH0 0x40
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define  PIT_CMD_CH0 (0u << 6)
#define  PIT_CMD_CH2 (2u << 6)
#define  PIT_CMD_LOHI (3u << 4)
#define  PIT_CMD_MODE0 (0u << 1)            /* interrupt on terminal count */
#define  PIT_CMD_MODE2 (2u << 1)            /* rate generator */
#define PIT_PORT_B 0x61                     /* NMI status and control (PC/AT port B) */
#define  PIT_B_GATE2 (1u << 0)              /* channel 2 gate */
#define  PIT_B_SPEAKER (1u << 1)            /* speaker data enable */
#define  PIT_B_OUT2 (1u << 5)               /* channel 2 output (read only) */
#define PIT_HZ 1193182u
#endif
