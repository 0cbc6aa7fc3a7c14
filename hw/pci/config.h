/*
 * hw/pci/config.h — PCI configuration space: the common header and the type 0 and
 * type 1 (PCI-to-PCI bridge) layouts, Command/Status bits, BARs, ECAM addressing and
 * the legacy configuration mechanism #1 (ports 0xCF8/0xCFC). PCI Local Bus 3.0 §3.2.2.3.2
 * and §6, PCI-to-PCI Bridge 1.2 §3.2, PCIe Base 4.0 §7.2.2 (hw/README.md: editions).
 */
#ifndef DOPPEL_HW_PCI_CONFIG_H
#define DOPPEL_HW_PCI_CONFIG_H
#include <stdint.h>

/* ---- sizes ------------------------------------------------------------------------- */
#define PCI_LEGACY_CFG_SIZE 256             /* per function, PCI 3.0 §6.1 */
#define PCI_ECAM_CFG_SIZE 4096              /* per function with ECAM, PCIe 4.0 §7.2.2 */
#define PCI_HEADER_END 0x40                 /* first byte after the predefined header, PCI 3.0 §6.1 */

/* ---- common header, type 0 and 1 (PCI 3.0 §6.1 Figure 6-1, §6.2) -------------------- */
#define PCI_VENDOR_ID 0x00                  /* 16 bits; 0xFFFF: no function, PCI 3.0 §6.2.1 */
#define PCI_DEVICE_ID 0x02                  /* 16 bits, §6.2.1 */
#define PCI_COMMAND 0x04                    /* 16 bits, §6.2.2 */
#define  PCI_COMMAND_IO (1u << 0)           /* I/O space decode */
#define  PCI_COMMAND_MEM (1u << 1)          /* memory space decode */
#define  PCI_COMMAND_MASTER (1u << 2)       /* bus master (needed for DMA and MSI) */
#define  PCI_COMMAND_SPECIAL (1u << 3)      /* special cycles */
#define  PCI_COMMAND_MWI (1u << 4)          /* memory write and invalidate */
#define  PCI_COMMAND_VGA_SNOOP (1u << 5)    /* VGA palette snoop */
#define  PCI_COMMAND_PARITY (1u << 6)       /* parity error response */
#define  PCI_COMMAND_SERR (1u << 8)         /* SERR# enable */
#define  PCI_COMMAND_FAST_BACK (1u << 9)    /* fast back-to-back enable */
#define  PCI_COMMAND_INTX_DISABLE (1u << 10) /* Interrupt Disable: INTx# not asserted */
#define PCI_STATUS 0x06                     /* 16 bits, §6.2.3 */
#define  PCI_STATUS_INTX (1u << 3)          /* Interrupt Status, RO: the function asserts INTx */
#define  PCI_STATUS_CAP_LIST (1u << 4)      /* capabilities list present, RO */
#define  PCI_STATUS_66MHZ (1u << 5)         /* 66 MHz capable, RO */
#define  PCI_STATUS_FAST_BACK (1u << 7)     /* fast back-to-back capable, RO */
#define  PCI_STATUS_PARITY (1u << 8)        /* Master Data Parity Error, RW1C */
#define  PCI_STATUS_DEVSEL_MASK (3u << 9)   /* DEVSEL timing, RO */
#define  PCI_STATUS_SIG_TARGET_ABORT (1u << 11) /* RW1C */
#define  PCI_STATUS_REC_TARGET_ABORT (1u << 12) /* RW1C */
#define  PCI_STATUS_REC_MASTER_ABORT (1u << 13) /* RW1C */
#define  PCI_STATUS_SIG_SYSTEM_ERROR (1u << 14) /* RW1C; Received System Error in Secondary Status */
#define  PCI_STATUS_DETECTED_PARITY (1u << 15)  /* RW1C */
#define  PCI_STATUS_ERR_BITS 0xF900u        /* the RW1C error bits above: 8, 11..15 */
#define PCI_REVISION 0x08                   /* 8 bits, §6.2.1 */
#define PCI_CLASS_PROG 0x09                 /* Class Code: prog-if, then sub-class 0x0A, base 0x0B (§6.2.1) */
#define PCI_CLASS_DEVICE 0x0A               /* sub-class and base class, 16 bits */
#define PCI_CACHE_LINE_SIZE 0x0C            /* 8 bits, §6.2.4 */
#define PCI_LATENCY_TIMER 0x0D              /* 8 bits, §6.2.4 */
#define PCI_HEADER_TYPE 0x0E                /* 8 bits, §6.2.1 */
#define  PCI_HEADER_MULTIFN 0x80            /* bit 7: multi-function device */
#define  PCI_HEADER_TYPE_MASK 0x7F          /* bits 6:0: layout of 0x10..0x3F */
#define  PCI_HEADER_NORMAL 0                /* type 0: endpoint */
#define  PCI_HEADER_BRIDGE 1                /* type 1: PCI-to-PCI bridge */
#define  PCI_HEADER_CARDBUS 2               /* type 2: CardBus bridge */
#define PCI_BIST 0x0F                       /* 8 bits, §6.2.4 */
#define PCI_BAR0 0x10                       /* six dwords to 0x24 (type 0), two (type 1), §6.2.5.1 */
#define  PCI_BAR_IO_SPACE (1u << 0)         /* 1: I/O BAR, 0: memory BAR */
#define  PCI_BAR_IO_RSVD (1u << 1)          /* I/O BAR: reserved, reads 0 */
#define  PCI_BAR_IO_MASK 0xFFFFFFFCu        /* I/O BAR: address bits */
#define  PCI_BAR_MEM_TYPE_SHIFT 1           /* memory BAR bits 2:1: */
#define  PCI_BAR_MEM_TYPE_MASK 3u
#define  PCI_BAR_MEM_TYPE_32 0u             /*   00: 32-bit */
#define  PCI_BAR_MEM_TYPE_1M 1u             /*   01: below 1 MiB (legacy, reserved in 3.0) */
#define  PCI_BAR_MEM_TYPE_64 2u             /*   10: 64-bit, the next BAR holds bits 63:32 */
#define  PCI_BAR_MEM_PREFETCH (1u << 3)     /* memory BAR: prefetchable */
#define  PCI_BAR_MEM_MASK 0xFFFFFFF0u       /* memory BAR: address bits */
#define PCI_CAP_PTR 0x34                    /* type 0 and 1: first capability; bits 1:0 reserved (§6.7) */
#define PCI_INTERRUPT_LINE 0x3C             /* 8 bits, RW, firmware's routing; 0xFF: unknown (§6.2.4) */
#define PCI_INTERRUPT_PIN 0x3D              /* 8 bits, RO: 0 none, 1..4 INTA#..INTD# (§6.2.4) */

/* ---- type 0 only (PCI 3.0 §6.2.4, §6.2.5.2) ------------------------------------------- */
#define PCI_CARDBUS_CIS 0x28
#define PCI_SUBSYS_VENDOR 0x2C              /* 16 bits */
#define PCI_SUBSYS_ID 0x2E                  /* 16 bits */
#define PCI_ROM_ADDRESS 0x30                /* expansion ROM BAR */
#define PCI_MIN_GNT 0x3E
#define PCI_MAX_LAT 0x3F

/* ---- type 1: PCI-to-PCI bridge (Bridge 1.2 §3.2, Figure 3-1) -------------------------- */
#define PCI_PRIMARY_BUS 0x18                /* 8 bits, Bridge 1.2 §3.2.5.2 */
#define PCI_SECONDARY_BUS 0x19              /* 8 bits, §3.2.5.3 */
#define PCI_SUBORDINATE_BUS 0x1A            /* 8 bits, highest bus below, §3.2.5.4 */
#define PCI_SEC_LATENCY_TIMER 0x1B          /* 8 bits, §3.2.5.5 */
#define PCI_IO_BASE 0x1C                    /* 8 bits, §3.2.5.6 */
#define PCI_IO_LIMIT 0x1D                   /* 8 bits, §3.2.5.6 */
#define  PCI_IO_RANGE_MASK 0xF0             /* bits 7:4 = address bits 15:12 */
#define  PCI_IO_RANGE_SHIFT 8               /* (reg & mask) << shift: the address */
#define  PCI_IO_RANGE_TYPE_MASK 0x0F        /* 0: 16-bit decode, 1: 32-bit (upper 16 at 0x30) */
#define  PCI_IO_RANGE_TYPE_32 0x01
#define  PCI_IO_WINDOW_GRAN 0x1000u         /* windows are 4 KiB aligned and sized */
#define PCI_SEC_STATUS 0x1E                 /* 16 bits, Status bit layout, §3.2.5.7 */
#define PCI_MEMORY_BASE 0x20                /* 16 bits, §3.2.5.8 */
#define PCI_MEMORY_LIMIT 0x22               /* 16 bits, §3.2.5.8 */
#define  PCI_MEMORY_RANGE_MASK 0xFFF0u      /* bits 15:4 = address bits 31:20 */
#define  PCI_MEMORY_RANGE_SHIFT 16          /* (reg & mask) << shift: the address */
#define  PCI_MEMORY_WINDOW_GRAN 0x100000u   /* windows are 1 MiB aligned and sized */
#define PCI_PREF_MEMORY_BASE 0x24           /* 16 bits, §3.2.5.9 */
#define PCI_PREF_MEMORY_LIMIT 0x26          /* 16 bits, §3.2.5.9 */
#define  PCI_PREF_RANGE_TYPE_MASK 0x0Fu     /* 0: 32-bit, 1: 64-bit (upper halves below) */
#define  PCI_PREF_RANGE_TYPE_64 0x01u
#define PCI_PREF_BASE_UPPER32 0x28          /* §3.2.5.10 */
#define PCI_PREF_LIMIT_UPPER32 0x2C         /* §3.2.5.10 */
#define PCI_IO_BASE_UPPER16 0x30            /* §3.2.5.11 */
#define PCI_IO_LIMIT_UPPER16 0x32           /* §3.2.5.11 */
#define PCI_ROM_ADDRESS1 0x38               /* bridge expansion ROM BAR */
#define PCI_BRIDGE_CONTROL 0x3E             /* 16 bits, Bridge 1.2 §3.2.5 (Bridge Control) */
#define  PCI_BRIDGE_CTL_PARITY (1u << 0)    /* parity error response */
#define  PCI_BRIDGE_CTL_SERR (1u << 1)      /* SERR# forwarding */
#define  PCI_BRIDGE_CTL_ISA (1u << 2)       /* ISA enable */
#define  PCI_BRIDGE_CTL_VGA (1u << 3)       /* VGA enable */
#define  PCI_BRIDGE_CTL_MASTER_ABORT (1u << 5) /* master abort mode */
#define  PCI_BRIDGE_CTL_SEC_BUS_RESET (1u << 6) /* Secondary Bus Reset */

/* ---- type 2: CardBus bridge (PC Card Standard; only what the walker needs) ------------ */
#define PCI_CB_CAP_PTR 0x14
#define PCI_CB_SUBSYS_VENDOR 0x40
#define PCI_CB_SUBSYS_ID 0x42

/* ---- ECAM (PCIe 4.0 §7.2.2, Table 7-1): 1 MiB per bus, 4 KiB per function ------------ */
#define PCI_ECAM_BUS_SHIFT 20               /* A[27:20]: bus (relative to the region's base) */
#define PCI_ECAM_DEV_SHIFT 15               /* A[19:15]: device */
#define PCI_ECAM_FN_SHIFT 12                /* A[14:12]: function */
#define PCI_ECAM_REG_MASK 0xFFFu            /* A[11:0]: register offset */
#define PCI_ECAM_BUS_SIZE (1ull << PCI_ECAM_BUS_SHIFT)

static inline uint64_t pci_ecam_offset(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
	return (uint64_t)(bus & 0xFF) << PCI_ECAM_BUS_SHIFT | (uint64_t)(dev & 31) << PCI_ECAM_DEV_SHIFT |
	       (uint64_t)(fn & 7) << PCI_ECAM_FN_SHIFT | (reg & PCI_ECAM_REG_MASK);
}

/* ---- configuration mechanism #1, PCI 3.0 §3.2.2.3.2 ------------------------------------ */
#define PCI_CONF_ADDR 0xCF8                 /* CONFIG_ADDRESS, a 32-bit I/O port */
#define  PCI_CONF_ENABLE 0x80000000u        /* bit 31: the next CONFIG_DATA access is a config cycle */
#define  PCI_CONF_BUS_SHIFT 16              /* bits 23:16 bus */
#define  PCI_CONF_DEV_SHIFT 11              /* bits 15:11 device */
#define  PCI_CONF_FN_SHIFT 8                /* bits 10:8 function */
#define  PCI_CONF_REG_MASK 0xFCu            /* bits 7:2 dword register; 1:0 read 0 */
#define  PCI_CONF_ADDR_MASK 0x80FFFFFCu     /* implemented bits; 30:24 and 1:0 reserved */
#define PCI_CONF_DATA 0xCFC                 /* CONFIG_DATA: 0xCFC..0xCFF, byte lane = offset & 3 */

static inline uint32_t pci_conf_address(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
	return PCI_CONF_ENABLE | (uint32_t)(bus & 0xFF) << PCI_CONF_BUS_SHIFT |
	       (uint32_t)(dev & 31) << PCI_CONF_DEV_SHIFT | (uint32_t)(fn & 7) << PCI_CONF_FN_SHIFT |
	       (reg & PCI_CONF_REG_MASK);
}

/* Requester ID (bus 15:8, device 7:3, function 2:0), PCIe 4.0 §2.2.6.2. */
static inline uint16_t pci_requester_id(unsigned bus, unsigned dev, unsigned fn)
{
	return (uint16_t)((bus & 0xFF) << 8 | (dev & 31) << 3 | (fn & 7));
}

#endif
