/*
 * ioapic.h — I/O APIC: the indirect register window (IOREGSEL/IOWIN), its registers
 * and the fields of a redirection table entry. Intel 82093AA I/O APIC datasheet
 * (edition in hw/README.md) §3.0–§3.2.
 */
#ifndef DOPPEL_HW_X86_IOAPIC_H
#define DOPPEL_HW_X86_IOAPIC_H

/* ---- MMIO window, §3.1 (32-bit accesses only) ----------------------------------- */
#define IOAPIC_REGSEL 0x00                  /* IOREGSEL: register index, bits 7:0 */
#define IOAPIC_WIN 0x10                     /* IOWIN: data of the selected register */
#define IOAPIC_MMIO_LEN 0x20                /* IOREGSEL and IOWIN */

/* ---- registers behind IOWIN, §3.2 ----------------------------------------------- */
#define IOAPIC_REG_ID 0x00                  /* IOAPICID, §3.2.1 */
#define  IOAPIC_ID_SHIFT 24                 /* bits 27:24: the I/O APIC's ID */
#define  IOAPIC_ID_MASK (0xFu << 24)
#define IOAPIC_REG_VER 0x01                 /* IOAPICVER, RO, §3.2.2 */
#define  IOAPIC_VER_MASK 0xFFu              /* bits 7:0: version (0x11 on the 82093AA) */
#define  IOAPIC_VER_82093AA 0x11u
#define  IOAPIC_VER_MAX_REDIR_SHIFT 16      /* bits 23:16: number of entries minus 1 */
#define  IOAPIC_VER_MAX_REDIR_MASK 0xFFu    /* after the shift */
#define IOAPIC_REG_ARB 0x02                 /* IOAPICARB, RO, §3.2.3: bits 27:24 */
#define IOAPIC_REG_REDTBL(n) (0x10 + 2 * (n)) /* IOREDTBL[n], §3.2.4: low dword; high at +1 */

/* ---- redirection entry, low dword, §3.2.4 --------------------------------------- */
#define  IOAPIC_RTE_VECTOR 0xFFu            /* bits 7:0 */
#define  IOAPIC_RTE_DM_MASK (7u << 8)       /* delivery mode */
#define   IOAPIC_RTE_DM_FIXED (0u << 8)
#define   IOAPIC_RTE_DM_LOWEST (1u << 8)
#define  IOAPIC_RTE_DEST_LOGICAL (1u << 11) /* destination mode */
#define  IOAPIC_RTE_DELIVS (1u << 12)       /* delivery status, RO */
#define  IOAPIC_RTE_ACTIVE_LOW (1u << 13)   /* polarity: 1 low active */
#define  IOAPIC_RTE_REMOTE_IRR (1u << 14)   /* level only, RO: accepted, EOI not yet seen */
#define  IOAPIC_RTE_LEVEL (1u << 15)        /* trigger mode: 1 level, 0 edge */
#define  IOAPIC_RTE_MASKED (1u << 16)
/* ---- redirection entry, high dword ---------------------------------------------- */
#define  IOAPIC_RTE_DEST_SHIFT 24           /* bits 63:56 of the entry: destination */
#define  IOAPIC_RTE_DEST_MASK 0xFFu         /* after the shift */

#endif /* DOPPEL_HW_X86_IOAPIC_H */
