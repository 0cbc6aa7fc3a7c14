/*
 * hw/pci/caps.h — PCI capability lists: capability IDs and the list header (PCI Local
 * Bus 3.0 §6.7, Appendix H), extended capability header and IDs (PCIe Base 4.0 §7.6.3),
 * the PCI Express capability (§7.5.3), Power Management (§7.5.2), AER (§7.8.4) and the
 * bridge Subsystem Vendor ID capability. MSI and MSI-X: hw/pci/msi.h.
 */
#ifndef DOPPEL_HW_PCI_CAPS_H
#define DOPPEL_HW_PCI_CAPS_H
#include <stdint.h>

/* ---- the capability list in the first 256 bytes, PCI 3.0 §6.7 ------------------------ */
#define PCI_CAP_LIST_ID 0x00                /* 8 bits: capability ID */
#define PCI_CAP_LIST_NEXT 0x01              /* 8 bits: next pointer, 0 ends the list */
#define PCI_CAP_PTR_MASK 0xFCu              /* pointers are dword aligned; bits 1:0 reserved */

/* Capability IDs, PCI 3.0 Appendix H. */
#define PCI_CAP_ID_PM 0x01                  /* Power Management */
#define PCI_CAP_ID_AGP 0x02
#define PCI_CAP_ID_VPD 0x03                 /* Vital Product Data */
#define PCI_CAP_ID_SLOTID 0x04              /* Slot Identification */
#define PCI_CAP_ID_MSI 0x05
#define PCI_CAP_ID_CHSWP 0x06               /* CompactPCI hot swap */
#define PCI_CAP_ID_PCIX 0x07
#define PCI_CAP_ID_HT 0x08                  /* HyperTransport */
#define PCI_CAP_ID_VNDR 0x09                /* vendor specific; length byte at +2 */
#define PCI_CAP_ID_DBG 0x0A                 /* debug port */
#define PCI_CAP_ID_CCRC 0x0B                /* CompactPCI central resource control */
#define PCI_CAP_ID_HOTPLUG 0x0C             /* PCI Standard Hot-Plug Controller */
#define PCI_CAP_ID_SSVID 0x0D               /* bridge Subsystem Vendor ID */
#define PCI_CAP_ID_AGP3 0x0E
#define PCI_CAP_ID_SECDEV 0x0F              /* secure device */
#define PCI_CAP_ID_EXP 0x10                 /* PCI Express, PCIe 4.0 §7.5.3 */
#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_SATA 0x12                /* Serial ATA data/index configuration */
#define PCI_CAP_ID_AF 0x13                  /* Advanced Features */

/* Vendor specific capability, PCI 3.0 Appendix H. */
#define PCI_VNDR_LEN 0x02                   /* 8 bits: length of the capability in bytes */

/* Bridge Subsystem Vendor ID capability (ID 0Dh), PCI 3.0 Appendix H, Bridge 1.2 §3.2. */
#define PCI_SSVID_VENDOR 0x04               /* 16 bits */
#define PCI_SSVID_DEVICE 0x06               /* 16 bits */
#define PCI_SSVID_LEN 8u

/* ---- extended capabilities from 0x100, PCIe 4.0 §7.6.3 -------------------------------- */
#define PCI_EXT_CAP_START 0x100             /* the first header; 0 or all ones: no list */
#define  PCI_EXT_CAP_ID_MASK 0xFFFFu        /* header bits 15:0: capability ID */
#define  PCI_EXT_CAP_VER_SHIFT 16           /* bits 19:16: capability version */
#define  PCI_EXT_CAP_VER_MASK 0xFu
#define  PCI_EXT_CAP_NEXT_SHIFT 20          /* bits 31:20: next offset, 0 ends the list */
#define  PCI_EXT_CAP_NEXT_MASK 0xFFCu       /* (bits 1:0 of the offset reserved) */

static inline uint16_t pci_ext_cap_id(uint32_t hdr) { return (uint16_t)(hdr & PCI_EXT_CAP_ID_MASK); }
static inline uint8_t pci_ext_cap_ver(uint32_t hdr)
{
	return (uint8_t)((hdr >> PCI_EXT_CAP_VER_SHIFT) & PCI_EXT_CAP_VER_MASK);
}
static inline unsigned pci_ext_cap_next(uint32_t hdr)
{
	return (hdr >> PCI_EXT_CAP_NEXT_SHIFT) & PCI_EXT_CAP_NEXT_MASK;
}

/* Extended capability IDs (each in its capability's section of PCIe 4.0). */
#define PCI_EXT_CAP_ID_AER 0x0001           /* Advanced Error Reporting, §7.8.4 */
#define PCI_EXT_CAP_ID_VC 0x0002            /* Virtual Channel */
#define PCI_EXT_CAP_ID_DSN 0x0003           /* Device Serial Number */
#define PCI_EXT_CAP_ID_PWR 0x0004           /* Power Budgeting */
#define PCI_EXT_CAP_ID_VNDR 0x000B          /* Vendor-Specific Extended Capability */
#define PCI_EXT_CAP_ID_ACS 0x000D           /* Access Control Services */
#define PCI_EXT_CAP_ID_ARI 0x000E           /* Alternative Routing-ID Interpretation */
#define PCI_EXT_CAP_ID_ATS 0x000F           /* Address Translation Services */
#define PCI_EXT_CAP_ID_SRIOV 0x0010         /* Single Root I/O Virtualization */

/* ---- Power Management capability, PCIe 4.0 §7.5.2 ----------------------------------- */
#define PCI_PM_PMC 0x02                     /* 16 bits: Power Management Capabilities, §7.5.2.1 */
#define  PCI_PM_PMC_VERSION_MASK 0x7u       /* bits 2:0: 011b for PCI PM 1.2 */
#define  PCI_PM_PMC_VERSION_1_2 0x3u
#define PCI_PM_CTRL 0x04                    /* 16 bits: PMCSR, §7.5.2.2 */
#define  PCI_PM_CTRL_STATE_MASK 0x3u        /* bits 1:0: D0..D3hot */
#define PCI_PM_CAP_LEN 8u

/* ---- PCI Express capability, PCIe 4.0 §7.5.3 (offsets from the capability) ---------- */
#define PCI_EXP_FLAGS 0x02                  /* 16 bits: PCI Express Capabilities, §7.5.3.2 */
#define  PCI_EXP_FLAGS_VERS_MASK 0x000Fu    /* capability version: 2 */
#define  PCI_EXP_FLAGS_VERS_2 0x0002u
#define  PCI_EXP_FLAGS_TYPE_SHIFT 4         /* bits 7:4: Device/Port Type */
#define  PCI_EXP_FLAGS_TYPE_MASK (0xFu << 4)
#define   PCI_EXP_TYPE_ENDPOINT 0x0         /* PCI Express Endpoint */
#define   PCI_EXP_TYPE_LEG_END 0x1          /* Legacy PCI Express Endpoint */
#define   PCI_EXP_TYPE_ROOT_PORT 0x4        /* Root Port of a Root Complex */
#define   PCI_EXP_TYPE_UPSTREAM 0x5         /* Upstream Port of a Switch */
#define   PCI_EXP_TYPE_DOWNSTREAM 0x6       /* Downstream Port of a Switch */
#define   PCI_EXP_TYPE_RC_END 0x9           /* Root Complex Integrated Endpoint */
#define  PCI_EXP_FLAGS_SLOT (1u << 8)       /* Slot Implemented */
#define PCI_EXP_DEVCAP 0x04                 /* 32 bits: Device Capabilities, §7.5.3.3 */
#define  PCI_EXP_DEVCAP_PAYLOAD_MASK 0x7u   /* Max_Payload_Size Supported: 128 << n bytes */
#define  PCI_EXP_DEVCAP_RBER (1u << 15)     /* Role-Based Error Reporting */
#define PCI_EXP_DEVCTL 0x08                 /* 16 bits: Device Control, §7.5.3.4 */
#define  PCI_EXP_DEVCTL_CERE (1u << 0)      /* Correctable Error Reporting Enable */
#define  PCI_EXP_DEVCTL_NFERE (1u << 1)     /* Non-Fatal Error Reporting Enable */
#define  PCI_EXP_DEVCTL_FERE (1u << 2)      /* Fatal Error Reporting Enable */
#define  PCI_EXP_DEVCTL_URRE (1u << 3)      /* Unsupported Request Reporting Enable */
#define  PCI_EXP_DEVCTL_RELAX_EN (1u << 4)  /* Enable Relaxed Ordering */
#define  PCI_EXP_DEVCTL_PAYLOAD_SHIFT 5     /* bits 7:5: Max_Payload_Size, 128 << n */
#define  PCI_EXP_DEVCTL_NOSNOOP_EN (1u << 11) /* Enable No Snoop */
#define  PCI_EXP_DEVCTL_READRQ_SHIFT 12     /* bits 14:12: Max_Read_Request_Size, 128 << n */
#define  PCI_EXP_DEVCTL_READRQ_512B (2u << 12)
#define  PCI_EXP_DEVCTL_BCR_FLR (1u << 15)  /* Bridge Configuration Retry Enable / Initiate FLR */
#define PCI_EXP_DEVSTA 0x0A                 /* 16 bits: Device Status, §7.5.3.5 */
#define  PCI_EXP_DEVSTA_ERR_BITS 0x000Fu    /* CED, NFED, FED, URD: RW1C */
#define PCI_EXP_LNKCAP 0x0C                 /* 32 bits: Link Capabilities, §7.5.3.6 */
#define  PCI_EXP_LNKCAP_SLS_MASK 0x0000000Fu /* Max Link Speed: index into LNKCAP2 speeds */
#define  PCI_EXP_LNKCAP_SLS_2_5GT 0x1u
#define  PCI_EXP_LNKCAP_MLW_SHIFT 4         /* bits 9:4: Maximum Link Width */
#define  PCI_EXP_LNKCAP_DLLLARC (1u << 20)  /* Data Link Layer Link Active Reporting Capable */
#define  PCI_EXP_LNKCAP_PN_SHIFT 24         /* bits 31:24: Port Number */
#define PCI_EXP_LNKCTL 0x10                 /* 16 bits: Link Control, §7.5.3.7 */
#define  PCI_EXP_LNKCTL_ASPM_MASK 0x0003u   /* ASPM Control */
#define  PCI_EXP_LNKCTL_RCB (1u << 3)       /* Read Completion Boundary: 128 bytes */
#define  PCI_EXP_LNKCTL_CCC (1u << 6)       /* Common Clock Configuration */
#define  PCI_EXP_LNKCTL_ES (1u << 7)        /* Extended Synch */
#define PCI_EXP_LNKSTA 0x12                 /* 16 bits: Link Status, §7.5.3.8 */
#define  PCI_EXP_LNKSTA_CLS_MASK 0x000Fu    /* Current Link Speed */
#define  PCI_EXP_LNKSTA_CLS_2_5GT 0x0001u
#define  PCI_EXP_LNKSTA_NLW_SHIFT 4         /* bits 9:4: Negotiated Link Width */
#define  PCI_EXP_LNKSTA_DLLLA (1u << 13)    /* Data Link Layer Link Active */
#define PCI_EXP_SLTCAP 0x14                 /* Slot Capabilities, §7.5.3.9 */
#define PCI_EXP_SLTCTL 0x18                 /* Slot Control, §7.5.3.10 */
#define PCI_EXP_SLTSTA 0x1A                 /* Slot Status, §7.5.3.11 */
#define PCI_EXP_RTCTL 0x1C                  /* Root Control, §7.5.3.12 */
#define PCI_EXP_RTCAP 0x1E                  /* Root Capabilities, §7.5.3.13 */
#define PCI_EXP_RTSTA 0x20                  /* Root Status, §7.5.3.14 */
#define PCI_EXP_DEVCAP2 0x24                /* Device Capabilities 2, §7.5.3.15 */
#define PCI_EXP_DEVCTL2 0x28                /* Device Control 2, §7.5.3.16 */
#define PCI_EXP_DEVSTA2 0x2A                /* Device Status 2, §7.5.3.17 */
#define PCI_EXP_LNKCAP2 0x2C                /* 32 bits: Link Capabilities 2, §7.5.3.18 */
#define  PCI_EXP_LNKCAP2_SLS_2_5GT (1u << 1) /* Supported Link Speeds Vector (7:1): 2.5 GT/s */
#define PCI_EXP_LNKCTL2 0x30                /* 16 bits: Link Control 2, §7.5.3.19 */
#define  PCI_EXP_LNKCTL2_TLS_MASK 0x000Fu   /* Target Link Speed */
#define  PCI_EXP_LNKCTL2_TLS_2_5GT 0x0001u
#define PCI_EXP_LNKSTA2 0x32                /* Link Status 2, §7.5.3.20 */
#define PCI_EXP_CAP_LEN 0x3C                /* version 2 structure, through Slot Status 2 */

/* ---- Advanced Error Reporting extended capability, PCIe 4.0 §7.8.4 ------------------ */
#define PCI_ERR_UNCOR_STATUS 0x04           /* 32 bits, RW1CS, §7.8.4.2 */
#define PCI_ERR_UNCOR_MASK 0x08             /* 32 bits, §7.8.4.3 */
#define PCI_ERR_UNCOR_SEVER 0x0C            /* 32 bits, §7.8.4.4 */
#define PCI_ERR_COR_STATUS 0x10             /* 32 bits, RW1CS, §7.8.4.5 */
#define PCI_ERR_COR_MASK 0x14               /* 32 bits, §7.8.4.6 */
#define PCI_ERR_CAP 0x18                    /* Advanced Error Capabilities and Control, §7.8.4.7 */
#define PCI_ERR_HEADER_LOG 0x1C             /* 16 bytes, §7.8.4.8 */

#endif
