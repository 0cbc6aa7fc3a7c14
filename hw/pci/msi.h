/*
 * hw/pci/msi.h — Message Signalled Interrupts: the MSI capability (PCIe Base 4.0 §7.7.1,
 * PCI Local Bus 3.0 §6.8.1), the MSI-X capability, table entry and Pending Bit Array
 * (PCIe 4.0 §7.7.2, PCI 3.0 §6.8.2), and the x86 message format a LAPIC accepts
 * (Intel SDM Vol. 3A §11.11.1 address, §11.11.2 data).
 */
#ifndef DOPPEL_HW_PCI_MSI_H
#define DOPPEL_HW_PCI_MSI_H
#include <stdint.h>

/* ---- MSI capability, PCIe 4.0 §7.7.1 (offsets from the capability) ------------------ */
#define PCI_MSI_CTRL 0x02                   /* 16 bits: Message Control, §7.7.1.2 */
#define  PCI_MSI_CTRL_ENABLE (1u << 0)      /* MSI Enable */
#define  PCI_MSI_CTRL_MMC_SHIFT 1           /* bits 3:1: Multiple Message Capable (log2), RO */
#define  PCI_MSI_CTRL_MME_SHIFT 4           /* bits 6:4: Multiple Message Enable (log2) */
#define  PCI_MSI_CTRL_MM_MASK 7u            /* width of either field; 110b, 111b reserved */
#define  PCI_MSI_CTRL_64BIT (1u << 7)       /* 64 bit address capable, RO */
#define  PCI_MSI_CTRL_MASKABLE (1u << 8)    /* per-vector masking capable, RO */
#define PCI_MSI_ADDR_LO 0x04                /* 32 bits: Message Address, §7.7.1.3 */
#define  PCI_MSI_ADDR_LO_MASK 0xFFFFFFFCu   /* bits 1:0 reserved, read 0 */
#define PCI_MSI_ADDR_HI 0x08                /* 32 bits: Message Upper Address (64-bit only), §7.7.1.4 */
#define PCI_MSI_DATA_32 0x08                /* 16 bits: Message Data, §7.7.1.5 */
#define PCI_MSI_DATA_64 0x0C
#define PCI_MSI_MASK_32 0x0C                /* 32 bits: Mask Bits (maskable only), §7.7.1.7 */
#define PCI_MSI_MASK_64 0x10
#define PCI_MSI_PENDING_32 0x10             /* 32 bits: Pending Bits, RO, §7.7.1.8 */
#define PCI_MSI_PENDING_64 0x14
#define PCI_MSI_CAP_LEN_32 0x0A             /* structure sizes, §7.7.1 Figures 7-41..7-44 */
#define PCI_MSI_CAP_LEN_64 0x0E
#define PCI_MSI_CAP_LEN_32_MASK 0x14
#define PCI_MSI_CAP_LEN_64_MASK 0x18
#define PCI_MSI_MMC_MAX 5                   /* Multiple Message Capable: at most 2^5 vectors */
#define MSI_MAX_VECTORS 32

/* ---- MSI-X capability, PCIe 4.0 §7.7.2 (offsets from the capability) ---------------- */
#define PCI_MSIX_CTRL 0x02                  /* 16 bits: Message Control, §7.7.2.2 */
#define  PCI_MSIX_CTRL_SIZE_MASK 0x7FFu     /* bits 10:0: Table Size - 1, RO */
#define  PCI_MSIX_CTRL_MASKALL (1u << 14)   /* Function Mask */
#define  PCI_MSIX_CTRL_ENABLE (1u << 15)    /* MSI-X Enable */
#define PCI_MSIX_TABLE 0x04                 /* 32 bits: Table Offset (31:3) / Table BIR (2:0), §7.7.2.3 */
#define PCI_MSIX_PBA 0x08                   /* 32 bits: PBA Offset (31:3) / PBA BIR (2:0), §7.7.2.4 */
#define  PCI_MSIX_BIR_MASK 7u               /* BAR index register 0..5 (10h..24h); 6, 7 reserved */
#define PCI_MSIX_CAP_LEN 12
#define MSIX_MAX_ENTRIES 2048               /* Table Size field: 11 bits */

/* One MSI-X table entry, §7.7.2.5-§7.7.2.8, in a memory BAR (accessed as DWORDs or
 * QWORDs; software masks the entry before changing its message). */
struct msix_entry {
	uint32_t addr_lo;                   /* Message Address, bits 1:0 read 0 */
	uint32_t addr_hi;                   /* Message Upper Address */
	uint32_t data;                      /* Message Data */
	uint32_t vector_ctrl;               /* Vector Control: bit 0 Mask Bit, 31:1 reserved */
};
_Static_assert(sizeof(struct msix_entry) == 16, "PCIe 4.0 §7.7.2: MSI-X table entry is 16 bytes");
#define PCI_MSIX_ENTRY_SIZE 16
#define MSIX_ENTRY_DW 4                     /* dwords per entry, their indices: */
#define MSIX_ENT_ADDR_LO 0
#define MSIX_ENT_ADDR_HI 1
#define MSIX_ENT_DATA 2
#define MSIX_ENT_CTRL 3
#define  MSIX_ENT_CTRL_MASK 1u              /* Mask Bit; set at reset */

/* Pending Bit Array, §7.7.2.9: one bit per entry, in QWORDs. */
static inline uint64_t pci_msix_pba_bytes(unsigned entries)
{
	return ((uint64_t)entries + 63) / 64 * 8;
}

/* ---- the x86 message towards a LAPIC, SDM Vol. 3A §11.11 ------------------------------ */
/* Address, §11.11.1: 0xFEEx_xxxx, bits 63:32 zero. */
#define MSI_ADDR_BASE 0xFEE00000u           /* bits 31:20 = 0FEEh */
#define MSI_ADDR_BASE_MASK 0xFFF00000u
#define MSI_ADDR_WINDOW_LEN 0x00100000u     /* 0xFEE00000..0xFEEFFFFF */
#define  MSI_ADDR_DEST_SHIFT 12             /* bits 19:12: Destination ID (APIC ID) */
#define  MSI_ADDR_DEST_MASK 0x000FF000u
#define  MSI_ADDR_RSVD_MASK 0x00000FF0u     /* bits 11:4 reserved */
#define  MSI_ADDR_RH (1u << 3)              /* Redirection Hint */
#define  MSI_ADDR_DM_LOGICAL (1u << 2)      /* Destination Mode: 1 logical, 0 physical */
/* Data, §11.11.2. */
#define  MSI_DATA_VECTOR_MASK 0x000000FFu   /* bits 7:0: vector */
#define  MSI_DATA_DELIVERY_SHIFT 8          /* bits 10:8: delivery mode */
#define  MSI_DATA_DELIVERY_MASK (7u << 8)
#define   MSI_DATA_DELIVERY_FIXED 0u
#define   MSI_DATA_DELIVERY_LOWPRI 1u
#define   MSI_DATA_DELIVERY_SMI 2u
#define   MSI_DATA_DELIVERY_NMI 4u
#define   MSI_DATA_DELIVERY_INIT 5u
#define   MSI_DATA_DELIVERY_EXTINT 7u
#define  MSI_DATA_LEVEL_ASSERT (1u << 14)   /* Level: 1 assert (level-triggered only) */
#define  MSI_DATA_TRIGGER_LEVEL (1u << 15)  /* Trigger Mode: 1 level, 0 edge */
#define  MSI_DATA_RSVD_MASK 0xFFFF3800u     /* bits 31:16 and 13:11 reserved */

static inline uint32_t msi_addr_dest(uint64_t addr)
{
	return (uint32_t)((addr & MSI_ADDR_DEST_MASK) >> MSI_ADDR_DEST_SHIFT);
}
static inline uint32_t msi_data_delivery(uint32_t data)
{
	return (data & MSI_DATA_DELIVERY_MASK) >> MSI_DATA_DELIVERY_SHIFT;
}

#endif
