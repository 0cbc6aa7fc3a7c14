/*
 * lapic.h — local APIC: xAPIC MMIO register offsets and fields, the x2APIC MSR
 * mapping, and the bits of IA32_APIC_BASE. SDM Vol. 3A chapter 11 (edition in
 * hw/README.md): Table 11-1 register map, §11.12.1.2 Table 11-6 x2APIC MSRs.
 */
#ifndef DOPPEL_HW_X86_LAPIC_H
#define DOPPEL_HW_X86_LAPIC_H

#include <hw/x86/msr.h>

/* ---- IA32_APIC_BASE (MSR_IA32_APIC_BASE), SDM Vol. 3A §11.4.4 ------------------- */
#define APIC_BASE_BSP (1ull << 8)           /* this CPU is the bootstrap processor */
#define APIC_BASE_EXTD (1ull << 10)         /* x2APIC mode (with EN), §11.12.1 */
#define APIC_BASE_EN (1ull << 11)           /* APIC globally enabled */
#define APIC_BASE_ADDR_MASK 0x000FFFFFFFFFF000ull /* register page, bits MAXPHYADDR-1:12 */
#define APIC_BASE_ADDR_RESET 0xFEE00000ull  /* the page after power-up or RESET */

/* ---- x2APIC MSRs, SDM Vol. 3A §11.12.1.2 --------------------------------------- */
#define APIC_X2_MSR_BASE 0x800              /* MSR of xAPIC offset off: base + (off >> 4) */
#define APIC_X2_MSR_LAST 0xBFF              /* 0x800-0xBFF: the range reserved for the x2APIC */
#define APIC_X2_MSR(off) (APIC_X2_MSR_BASE + ((off) >> 4))
#define APIC_X2_SELF_IPI_MSR 0x83F          /* SELF IPI, x2APIC only, §11.12.11 */

/* ---- registers: xAPIC MMIO offsets, SDM Vol. 3A Table 11-1 ---------------------- */
#define APIC_MMIO_LEN 0x1000                /* the 4 KiB register page */
#define APIC_ID 0x020                       /* xAPIC: ID in bits 31:24; x2APIC: 32-bit ID, RO */
#define  APIC_ID_XAPIC_SHIFT 24
#define APIC_VERSION 0x030                  /* RO, §11.4.8 */
#define  APIC_VERSION_MASK 0xFFu            /* bits 7:0: 0x1X integrated APIC */
#define  APIC_VERSION_MAX_LVT_SHIFT 16      /* bits 23:16: number of LVT entries minus 1 */
#define  APIC_VERSION_EOI_SUPPRESS (1u << 24) /* EOI-broadcast suppression supported */
#define APIC_TPR 0x080                      /* task priority, bits 7:0, §11.8.3.1 */
#define APIC_APR 0x090                      /* arbitration priority, xAPIC only, RO */
#define APIC_PPR 0x0A0                      /* processor priority, RO, §11.8.3.1 */
#define APIC_EOI 0x0B0                      /* WO: write 0 to signal end of interrupt, §11.8.5 */
#define APIC_RRD 0x0C0                      /* remote read, xAPIC only, RO */
#define APIC_LDR 0x0D0                      /* logical destination: RW xAPIC, RO x2APIC, §11.6.2.2 */
#define APIC_DFR 0x0E0                      /* destination format, xAPIC only, §11.6.2.2 */
#define APIC_SVR 0x0F0                      /* spurious interrupt vector, §11.9 */
#define  APIC_SVR_VECTOR 0xFFu              /* bits 7:0 */
#define  APIC_SVR_ENABLE (1u << 8)          /* APIC software enable */
#define  APIC_SVR_FOCUS (1u << 9)           /* focus processor checking disabled */
#define APIC_ISR0 0x100                     /* in-service, 8 x 32 bits at stride 0x10, RO, §11.8.4 */
#define APIC_TMR0 0x180                     /* trigger mode, 8 x 32 bits, RO */
#define APIC_IRR0 0x200                     /* interrupt request, 8 x 32 bits, RO */
#define  APIC_VEC_REG_STRIDE 0x10           /* ISR/TMR/IRR: vectors 32n..32n+31 at base + n * 0x10 */
#define  APIC_VEC_REG_LEN 0x80              /* eight registers each */
#define APIC_ESR 0x280                      /* error status, §11.5.3: write, then read */
#define  APIC_ESR_SEND_CS (1u << 0)         /* send checksum error (P6/Pentium) */
#define  APIC_ESR_RECV_CS (1u << 1)         /* receive checksum error (P6/Pentium) */
#define  APIC_ESR_SEND_ACCEPT (1u << 2)     /* no APIC accepted the sent message */
#define  APIC_ESR_RECV_ACCEPT (1u << 3)     /* received message accepted by none (P6/Pentium) */
#define  APIC_ESR_REDIR_IPI (1u << 4)       /* lowest-priority IPI not supported */
#define  APIC_ESR_SEND_ILLEGAL_VEC (1u << 5) /* sent vector 0..15 */
#define  APIC_ESR_RECV_ILLEGAL_VEC (1u << 6) /* received or LVT vector 0..15 */
#define  APIC_ESR_ILLEGAL_REG (1u << 7)     /* access to a reserved register, xAPIC */
#define  APIC_ESR_SEND_MASK (APIC_ESR_SEND_CS | APIC_ESR_SEND_ACCEPT | APIC_ESR_SEND_ILLEGAL_VEC)
#define APIC_LVT_CMCI 0x2F0                 /* LVT entries, §11.5.1 */
#define APIC_ICR_LO 0x300                   /* interrupt command, §11.6.1; xAPIC: writing sends */
#define APIC_ICR_HI 0x310                   /* xAPIC: destination in bits 31:24 */
#define APIC_LVT_TIMER 0x320
#define APIC_LVT_THERMAL 0x330
#define APIC_LVT_PERF 0x340
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_LVT_ERROR 0x370
#define APIC_TIMER_ICR 0x380                /* timer initial count, §11.5.4 */
#define APIC_TIMER_CCR 0x390                /* timer current count, RO */
#define APIC_TIMER_DCR 0x3E0                /* timer divide configuration: bits 3, 1:0 */
#define  APIC_TIMER_DIV_MASK 0xBu           /* the three divide bits */
#define  APIC_TIMER_DIV_16 0x3u             /* bits 3,1:0 = 0,11 */
#define  APIC_TIMER_DIV_1 0xBu              /* bits 3,1:0 = 1,11 */
#define APIC_SELF_IPI 0x3F0                 /* x2APIC only (APIC_X2_SELF_IPI_MSR), WO */

/* ---- LVT entry fields, SDM Vol. 3A §11.5.1 Figure 11-8 -------------------------- */
#define APIC_LVT_VECTOR 0xFFu               /* bits 7:0 */
#define APIC_LVT_DM_MASK (7u << 8)          /* delivery mode (not timer, error) */
#define  APIC_LVT_DM_FIXED (0u << 8)
#define  APIC_LVT_DM_SMI (2u << 8)
#define  APIC_LVT_DM_NMI (4u << 8)
#define  APIC_LVT_DM_INIT (5u << 8)
#define  APIC_LVT_DM_EXTINT (7u << 8)
#define APIC_LVT_PENDING (1u << 12)         /* delivery status, RO */
#define APIC_LVT_POLARITY (1u << 13)        /* LINT only: active low */
#define APIC_LVT_REMOTE_IRR (1u << 14)      /* LINT only, RO */
#define APIC_LVT_LEVEL (1u << 15)           /* LINT only: level triggered */
#define APIC_LVT_MASKED (1u << 16)
#define APIC_LVT_TIMER_MODE_MASK (3u << 17) /* timer only, §11.5.4 */
#define  APIC_LVT_TIMER_ONESHOT (0u << 17)
#define  APIC_LVT_TIMER_PERIODIC (1u << 17)
#define  APIC_LVT_TIMER_DEADLINE (2u << 17) /* only if CPUID.01H:ECX[24], §11.5.4.1 */

/* ---- ICR fields, SDM Vol. 3A §11.6.1 Figure 11-12 ------------------------------- */
#define APIC_ICR_VECTOR 0xFFu               /* bits 7:0 */
#define APIC_ICR_DM_MASK (7u << 8)          /* delivery mode */
#define  APIC_ICR_DM_FIXED (0u << 8)
#define  APIC_ICR_DM_LOWEST (1u << 8)
#define  APIC_ICR_DM_SMI (2u << 8)
#define  APIC_ICR_DM_NMI (4u << 8)
#define  APIC_ICR_DM_INIT (5u << 8)
#define  APIC_ICR_DM_STARTUP (6u << 8)
#define APIC_ICR_DEST_LOGICAL (1u << 11)    /* destination mode */
#define APIC_ICR_BUSY (1u << 12)            /* delivery status (send pending), xAPIC only, RO */
#define APIC_ICR_LEVEL_ASSERT (1u << 14)    /* level: 0 only for INIT level de-assert */
#define APIC_ICR_TRIGGER_LEVEL (1u << 15)   /* trigger mode */
#define APIC_ICR_SH_MASK (3u << 18)         /* destination shorthand */
#define  APIC_ICR_SH_NONE (0u << 18)
#define  APIC_ICR_SH_SELF (1u << 18)
#define  APIC_ICR_SH_ALL (2u << 18)
#define  APIC_ICR_SH_ALL_BUT_SELF (3u << 18)
/* The defined, writable bits of the low word; in x2APIC mode all others are reserved. */
#define APIC_ICR_LO_VALID (APIC_ICR_VECTOR | APIC_ICR_DM_MASK | APIC_ICR_DEST_LOGICAL | \
                           APIC_ICR_LEVEL_ASSERT | APIC_ICR_TRIGGER_LEVEL | APIC_ICR_SH_MASK)
#define APIC_ICR_XAPIC_DEST_SHIFT 24        /* in ICR_HI: 8-bit destination */
#define APIC_ICR_X2APIC_DEST_SHIFT 32       /* in the 64-bit ICR MSR: 32-bit destination, §11.12.9 */

#endif /* DOPPEL_HW_X86_LAPIC_H */
