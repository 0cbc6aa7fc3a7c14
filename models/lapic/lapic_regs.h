/*
 * lapic_regs.h — local APIC register map as the model sees it: xAPIC MMIO offsets
 * and the x2APIC MSRs (Intel SDM Vol. 3A ch. 10: Table 10-1, §10.12.1.2 Table 10-6),
 * IA32_APIC_BASE (§10.4.4), the ICR (§10.6.1), LVT (§10.5.1), ESR (§10.5.3),
 * SVR (§10.9) and timer (§10.5.4) fields. Written from the SDM for the model only.
 */
#ifndef DOPPEL_MODELS_LAPIC_REGS_H
#define DOPPEL_MODELS_LAPIC_REGS_H

#define LAPIC_MMIO_SIZE 0x1000u

/* xAPIC MMIO offsets (Table 10-1); x2APIC MSR = 0x800 + (offset >> 4). */
#define LAPIC_ID 0x020u             /* xAPIC: ID in bits 31:24 */
#define LAPIC_VERSION 0x030u        /* RO */
#define LAPIC_TPR 0x080u            /* task priority, bits 7:0 */
#define LAPIC_APR 0x090u            /* arbitration priority (xAPIC only), RO */
#define LAPIC_PPR 0x0A0u            /* processor priority, RO */
#define LAPIC_EOI 0x0B0u            /* WO */
#define LAPIC_RRD 0x0C0u            /* remote read (xAPIC only), RO */
#define LAPIC_LDR 0x0D0u            /* logical destination: RW xAPIC, RO x2APIC */
#define LAPIC_DFR 0x0E0u            /* destination format (xAPIC only) */
#define LAPIC_SVR 0x0F0u            /* spurious interrupt vector, §10.9 */
#define   LAPIC_SVR_ENABLE (1u << 8)          /* APIC software enable */
#define   LAPIC_SVR_FOCUS (1u << 9)           /* focus processor checking */
#define LAPIC_ISR0 0x100u           /* ISR 0x100..0x170, RO */
#define LAPIC_TMR0 0x180u           /* TMR 0x180..0x1F0, RO */
#define LAPIC_IRR0 0x200u           /* IRR 0x200..0x270, RO */
#define LAPIC_ESR 0x280u            /* error status, §10.5.3: write, then read */
#define   LAPIC_ESR_SEND_CS (1u << 0)
#define   LAPIC_ESR_RECV_CS (1u << 1)
#define   LAPIC_ESR_SEND_ACCEPT (1u << 2)     /* no APIC accepted the sent message */
#define   LAPIC_ESR_RECV_ACCEPT (1u << 3)
#define   LAPIC_ESR_REDIR_IPI (1u << 4)
#define   LAPIC_ESR_SEND_ILLEGAL (1u << 5)    /* sent vector 0..15 */
#define   LAPIC_ESR_RECV_ILLEGAL (1u << 6)    /* received / LVT vector 0..15 */
#define   LAPIC_ESR_ILLEGAL_REG (1u << 7)     /* reserved register (xAPIC) */
#define LAPIC_LVT_CMCI 0x2F0u
#define LAPIC_ICR_LO 0x300u         /* writing it sends (xAPIC) */
#define LAPIC_ICR_HI 0x310u         /* xAPIC destination in bits 31:24 */
#define LAPIC_LVT_TIMER 0x320u
#define LAPIC_LVT_THERMAL 0x330u
#define LAPIC_LVT_PERF 0x340u
#define LAPIC_LVT_LINT0 0x350u
#define LAPIC_LVT_LINT1 0x360u
#define LAPIC_LVT_ERROR 0x370u
#define LAPIC_TIMER_ICR 0x380u      /* initial count */
#define LAPIC_TIMER_CCR 0x390u      /* current count, RO */
#define LAPIC_TIMER_DCR 0x3E0u      /* divide configuration: bits 0, 1, 3 */
#define LAPIC_SELF_IPI 0x3F0u       /* x2APIC only (MSR 0x83F), WO */

/* ICR fields (§10.6.1, Figure 10-12). */
#define LAPIC_ICR_VECTOR 0xFFu
#define LAPIC_ICR_DM_SHIFT 8
#define LAPIC_ICR_DM_MASK (7u << 8)
#define   LAPIC_DM_FIXED 0u
#define   LAPIC_DM_LOWEST 1u
#define   LAPIC_DM_SMI 2u
#define   LAPIC_DM_NMI 4u
#define   LAPIC_DM_INIT 5u
#define   LAPIC_DM_SIPI 6u
#define LAPIC_ICR_LOGICAL (1u << 11)          /* destination mode */
#define LAPIC_ICR_PENDING (1u << 12)          /* delivery status (xAPIC only) */
#define LAPIC_ICR_ASSERT (1u << 14)           /* level */
#define LAPIC_ICR_LEVEL (1u << 15)            /* trigger mode */
#define LAPIC_ICR_SH_SHIFT 18
#define LAPIC_ICR_SH_MASK (3u << 18)
#define   LAPIC_SH_NONE 0u
#define   LAPIC_SH_SELF 1u
#define   LAPIC_SH_ALL 2u
#define   LAPIC_SH_OTHERS 3u
/* Writable low-word bits; x2APIC: every other bit of the low word is reserved. */
#define LAPIC_ICR_LO_VALID (LAPIC_ICR_VECTOR | LAPIC_ICR_DM_MASK | LAPIC_ICR_LOGICAL | \
                            LAPIC_ICR_ASSERT | LAPIC_ICR_LEVEL | LAPIC_ICR_SH_MASK)

/* LVT fields (§10.5.1, Figure 10-8). */
#define LAPIC_LVT_VECTOR 0xFFu
#define LAPIC_LVT_DM_MASK (7u << 8)
#define LAPIC_LVT_PENDING (1u << 12)          /* delivery status, RO */
#define LAPIC_LVT_POLARITY (1u << 13)         /* LINT only */
#define LAPIC_LVT_REMOTE_IRR (1u << 14)       /* LINT only, RO */
#define LAPIC_LVT_LEVEL (1u << 15)            /* LINT only */
#define LAPIC_LVT_MASKED (1u << 16)
#define LAPIC_LVT_TIMER_MODE_SHIFT 17
#define LAPIC_LVT_TIMER_MODE_MASK (3u << 17)
#define   LAPIC_TIMER_ONESHOT 0u
#define   LAPIC_TIMER_PERIODIC 1u
#define   LAPIC_TIMER_TSC_DEADLINE 2u         /* only if CPUID.1:ECX[24] */

/* Version register: integrated APIC version 0x14, max LVT entry 6 (CMCI..error:
 * seven entries), no EOI-broadcast suppression (bit 24 clear). */
#define LAPIC_VERSION_VALUE (0x14u | (6u << 16))

/* MSRs. */
#define MSR_IA32_APIC_BASE 0x1Bu    /* §10.4.4 */
#define   APIC_BASE_BSP (1ull << 8)
#define   APIC_BASE_EXTD (1ull << 10)         /* x2APIC mode */
#define   APIC_BASE_EN (1ull << 11)           /* global enable */
#define   APIC_BASE_ADDR_MASK 0x000FFFFFFFFFF000ull
#define MSR_IA32_TSC_DEADLINE 0x6E0u          /* §10.5.4.1 */
#define MSR_X2APIC_FIRST 0x800u
#define MSR_X2APIC_LAST 0xBFFu      /* 0x800-0xBFF: the x2APIC range, §10.12.1.2 */
#define MSR_X2APIC_ICR 0x830u       /* one 64-bit register; 0x831 does not exist */

#endif /* DOPPEL_MODELS_LAPIC_REGS_H */
