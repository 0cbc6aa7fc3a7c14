/*
 * pci_regs.h — PCI configuration-space register offsets and bits used by
 * kernel/pci/: the common header and type 0/1/2 headers (PCI Local Bus 3.0 §6.1,
 * PCI-to-PCI Bridge 1.2 §3.2, PC Card 8.0 for type 2), capability and extended
 * capability headers (PCI 3.0 §6.7, PCIe Base 4.0 §7.6), MSI and MSI-X (PCIe 4.0 §7.7).
 */
#ifndef KERNEL_PCI_REGS_H
#define KERNEL_PCI_REGS_H

/* ---- common header, PCI 3.0 §6.1 Figure 6-1 ---- */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define  PCI_COMMAND_IO (1u << 0)           /* I/O space decode */
#define  PCI_COMMAND_MEM (1u << 1)          /* memory space decode */
#define  PCI_COMMAND_MASTER (1u << 2)       /* bus master */
#define  PCI_COMMAND_INTX_DISABLE (1u << 10)
#define PCI_STATUS 0x06
#define  PCI_STATUS_CAP_LIST (1u << 4)      /* capabilities list present */
#define PCI_REVISION 0x08
#define PCI_CLASS_PROG 0x09                 /* prog-if, then sub-class 0x0A, base 0x0B */
#define PCI_HEADER_TYPE 0x0E
#define  PCI_HEADER_MULTIFN 0x80            /* bit 7: multi-function device */
#define  PCI_HEADER_TYPE_MASK 0x7F
#define  PCI_HEADER_NORMAL 0
#define  PCI_HEADER_BRIDGE 1
#define  PCI_HEADER_CARDBUS 2
#define PCI_BAR0 0x10                       /* six dwords to 0x24 (type 0), two (type 1) */
#define  PCI_BAR_IO_SPACE (1u << 0)         /* 1: I/O BAR */
#define  PCI_BAR_IO_RSVD (1u << 1)          /* I/O BAR: reserved, reads 0 */
#define  PCI_BAR_IO_MASK 0xFFFFFFFCu
#define  PCI_BAR_MEM_TYPE_SHIFT 1           /* bits 2:1: 00 32-bit, 01 below 1 MiB (legacy), */
#define  PCI_BAR_MEM_TYPE_MASK 3u           /*           10 64-bit, 11 reserved */
#define  PCI_BAR_MEM_TYPE_32 0u
#define  PCI_BAR_MEM_TYPE_1M 1u
#define  PCI_BAR_MEM_TYPE_64 2u
#define  PCI_BAR_MEM_PREFETCH (1u << 3)
#define  PCI_BAR_MEM_MASK 0xFFFFFFF0u
#define PCI_SUBSYS_VENDOR 0x2C              /* type 0 */
#define PCI_SUBSYS_ID 0x2E
#define PCI_CAP_PTR 0x34                    /* type 0 and 1; bits 1:0 reserved */
#define PCI_INTERRUPT_LINE 0x3C
#define PCI_INTERRUPT_PIN 0x3D
#define PCI_HEADER_END 0x40                 /* first byte after the predefined header */
#define PCI_LEGACY_CFG_SIZE 256
#define PCI_ECAM_CFG_SIZE 4096

/* ---- type 1 (PCI-to-PCI bridge 1.2 §3.2) ---- */
#define PCI_PRIMARY_BUS 0x18
#define PCI_SECONDARY_BUS 0x19
#define PCI_SUBORDINATE_BUS 0x1A

/* ---- type 2 (CardBus bridge, PC Card Standard 8.0 Vol. 10) ---- */
#define PCI_CB_CAP_PTR 0x14
#define PCI_CB_SUBSYS_VENDOR 0x40
#define PCI_CB_SUBSYS_ID 0x42

/* ---- capabilities, PCI 3.0 §6.7 and Appendix H ---- */
#define PCI_CAP_ID_PM 0x01
#define PCI_CAP_ID_VPD 0x03
#define PCI_CAP_ID_SLOTID 0x04
#define PCI_CAP_ID_MSI 0x05
#define PCI_CAP_ID_HT 0x08
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_DBG 0x0A
#define PCI_CAP_ID_HOTPLUG 0x0C
#define PCI_CAP_ID_SSVID 0x0D               /* bridge subsystem vendor ID at +4 */
#define PCI_CAP_ID_EXP 0x10
#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_SATA 0x12
#define PCI_CAP_ID_AF 0x13
#define PCI_CAP_MAX_WALK 48                 /* (0x100 - 0x40) / 4 dwords */
#define PCI_EXT_CAP_START 0x100             /* PCIe 4.0 §7.6.3: id 15:0, ver 19:16, next 31:20 */

/* ---- MSI, PCIe 4.0 §7.7.1 ---- */
#define PCI_MSI_CTRL 0x02
#define  PCI_MSI_CTRL_ENABLE (1u << 0)
#define  PCI_MSI_CTRL_MMC_SHIFT 1           /* Multiple Message Capable, bits 3:1 (log2) */
#define  PCI_MSI_CTRL_MME_SHIFT 4           /* Multiple Message Enable, bits 6:4 (log2) */
#define  PCI_MSI_CTRL_MM_MASK 7u
#define  PCI_MSI_CTRL_64BIT (1u << 7)
#define  PCI_MSI_CTRL_MASKABLE (1u << 8)    /* per-vector masking capable */
#define PCI_MSI_ADDR_LO 0x04
#define PCI_MSI_ADDR_HI 0x08                /* 64-bit only */
#define PCI_MSI_DATA_32 0x08
#define PCI_MSI_DATA_64 0x0C
#define PCI_MSI_MASK_32 0x0C
#define PCI_MSI_MASK_64 0x10
#define PCI_MSI_PENDING_32 0x10
#define PCI_MSI_PENDING_64 0x14

/* ---- MSI-X, PCIe 4.0 §7.7.2 ---- */
#define PCI_MSIX_CTRL 0x02
#define  PCI_MSIX_CTRL_SIZE_MASK 0x7FFu     /* table size - 1 */
#define  PCI_MSIX_CTRL_MASKALL (1u << 14)   /* Function Mask */
#define  PCI_MSIX_CTRL_ENABLE (1u << 15)
#define PCI_MSIX_TABLE 0x04                 /* BIR in bits 2:0, offset in 31:3 */
#define PCI_MSIX_PBA 0x08
#define  PCI_MSIX_BIR_MASK 7u
#define PCI_MSIX_CAP_LEN 12
#define PCI_MSIX_ENTRY_SIZE 16              /* addr lo, addr hi, data, vector control */

#endif
