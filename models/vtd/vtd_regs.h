/*
 * vtd_regs.h — Intel VT-d remapping hardware: register offsets and bits (spec rev
 * 3.x §10.4), root/context/second-level entry bits (§9.1, §9.3, §9.8), queued
 * invalidation descriptors (§6.5.2) and fault reasons (Appendix A). Shared by the
 * model (models/vtd/vtd.c) and its unit test.
 */
#ifndef DOPPEL_MODELS_VTD_REGS_H
#define DOPPEL_MODELS_VTD_REGS_H

#define VTD_REG_SIZE 0x1000u            /* one 4 KiB register page */

#define VTD_REG_VER 0x00                /* Version, 32-bit, §10.4.1 */
#define VTD_REG_CAP 0x08                /* Capability, 64-bit, §10.4.2 */
#define   VTD_CAP_ND_SHIFT 0            /* 2:0 number of domains: 2^(4+2*ND) */
#define   VTD_CAP_RWBF (1ull << 4)      /* required write-buffer flushing */
#define   VTD_CAP_CM (1ull << 7)        /* caching mode */
#define   VTD_CAP_SAGAW_SHIFT 8         /* 12:8 supported adjusted guest address widths */
#define     VTD_SAGAW_39 (1ull << 1)    /*   39-bit, 3-level tables */
#define     VTD_SAGAW_48 (1ull << 2)    /*   48-bit, 4-level tables */
#define   VTD_CAP_MGAW_SHIFT 16         /* 21:16 maximum guest address width - 1 */
#define   VTD_CAP_FRO_SHIFT 24          /* 33:24 fault recording register offset / 16 */
#define   VTD_CAP_SLLPS_SHIFT 34        /* 37:34 second-level large pages */
#define   VTD_CAP_PSI (1ull << 39)      /* page-selective invalidation */
#define   VTD_CAP_NFR_SHIFT 40          /* 47:40 number of fault recording registers - 1 */
#define   VTD_CAP_MAMV_SHIFT 48         /* 53:48 maximum address mask value */
#define VTD_REG_ECAP 0x10               /* Extended Capability, 64-bit, §10.4.3 */
#define   VTD_ECAP_QI (1ull << 1)       /* queued invalidation */
#define   VTD_ECAP_IRO_SHIFT 8          /* 17:8 IOTLB register offset / 16 */
#define VTD_REG_GCMD 0x18               /* Global Command, 32-bit, §10.4.4 */
#define VTD_REG_GSTS 0x1C               /* Global Status, 32-bit, §10.4.5 */
#define   VTD_GCMD_TE (1u << 31)        /* translation enable / TES */
#define   VTD_GCMD_SRTP (1u << 30)      /* set root table pointer / RTPS */
#define   VTD_GCMD_SFL (1u << 29)       /* set fault log / FLS */
#define   VTD_GCMD_EAFL (1u << 28)      /* enable advanced fault logging / AFLS */
#define   VTD_GCMD_WBF (1u << 27)       /* write buffer flush / WBFS */
#define   VTD_GCMD_QIE (1u << 26)       /* queued invalidation enable / QIES */
#define   VTD_GCMD_IRE (1u << 25)       /* interrupt remapping enable / IRES */
#define   VTD_GCMD_SIRTP (1u << 24)     /* set interrupt remap table pointer / IRTPS */
#define   VTD_GCMD_CFI (1u << 23)       /* compatibility format interrupt / CFIS */
#define VTD_REG_RTADDR 0x20             /* Root Table Address, 64-bit, §10.4.6 */
#define   VTD_RTADDR_TTM_SHIFT 10       /* 11:10 translation table mode: 00 legacy */
#define VTD_REG_CCMD 0x28               /* Context Command, 64-bit, §10.4.7 */
#define   VTD_CCMD_ICC (1ull << 63)     /* invalidate context cache (busy while set) */
#define   VTD_CCMD_CIRG_SHIFT 61        /* 62:61 requested granularity */
#define   VTD_CCMD_CAIG_SHIFT 59        /* 60:59 actual granularity */
#define   VTD_CCMD_FM_SHIFT 32          /* 33:32 function mask */
#define   VTD_CCMD_SID_SHIFT 16         /* 31:16 source id */
#define     VTD_GRAN_GLOBAL 1u          /* CIRG/IIRG and descriptor G: global */
#define     VTD_GRAN_DOMAIN 2u          /*   domain-selective */
#define     VTD_GRAN_DEVICE 3u          /*   device- (context) or page-selective (IOTLB) */
#define VTD_REG_FSTS 0x34               /* Fault Status, 32-bit, §10.4.9 */
#define   VTD_FSTS_PFO (1u << 0)        /* primary fault overflow, RW1C */
#define   VTD_FSTS_PPF (1u << 1)        /* primary pending fault, RO (OR of the F bits) */
#define   VTD_FSTS_IQE (1u << 4)        /* invalidation queue error, RW1C */
#define   VTD_FSTS_ICE (1u << 5)        /* invalidation completion error, RW1C */
#define   VTD_FSTS_ITE (1u << 6)        /* invalidation time-out error, RW1C */
#define   VTD_FSTS_FRI_SHIFT 8          /* 15:8 fault record index, RO */
#define VTD_REG_FECTL 0x38              /* Fault Event Control, 32-bit, §10.4.10 */
#define   VTD_FECTL_IM (1u << 31)       /* interrupt mask */
#define   VTD_FECTL_IP (1u << 30)       /* interrupt pending, RO */
#define VTD_REG_FEDATA 0x3C             /* Fault Event Data, §10.4.11 */
#define VTD_REG_FEADDR 0x40             /* Fault Event Address, §10.4.12 */
#define VTD_REG_FEUADDR 0x44            /* Fault Event Upper Address, §10.4.13 */
#define VTD_REG_IQH 0x80                /* Invalidation Queue Head, 64-bit, §10.4.22 */
#define VTD_REG_IQT 0x88                /* Invalidation Queue Tail, 64-bit, §10.4.23 */
#define   VTD_IQ_QPTR_MASK 0x7FFF0ull   /* 18:4: descriptor index << 4 */
#define VTD_REG_IQA 0x90                /* Invalidation Queue Address, 64-bit, §10.4.24 */
#define   VTD_IQA_DW (1ull << 11)       /* 256-bit descriptors (scalable mode only) */
#define   VTD_IQA_QS_MASK 7ull          /* 2:0 queue size: 2^QS pages */
#define VTD_REG_ICS 0x9C                /* Invalidation Completion Status, §10.4.25 */
#define   VTD_ICS_IWC 1u                /* invalidation wait completed, RW1C */
#define VTD_REG_IECTL 0xA0              /* Invalidation Event Control, §10.4.26 */
#define   VTD_IECTL_IM (1u << 31)
#define   VTD_IECTL_IP (1u << 30)
#define VTD_REG_IEDATA 0xA4
#define VTD_REG_IEADDR 0xA8
#define VTD_REG_IEUADDR 0xAC

/* Where this model puts the IOTLB and fault recording registers (CAP.FRO, ECAP.IRO). */
#define VTD_IRO_OFF 0x200u              /* IVA_REG at +0, IOTLB_REG at +8, §10.4.8 */
#define VTD_REG_IVA (VTD_IRO_OFF + 0)
#define   VTD_IVA_IH (1ull << 6)        /* invalidation hint (leaf entries only) */
#define   VTD_IVA_AM_MASK 0x3Full       /* 5:0 address mask: 2^AM pages */
#define VTD_REG_IOTLB (VTD_IRO_OFF + 8)
#define   VTD_IOTLB_IVT (1ull << 63)    /* invalidate IOTLB (busy while set) */
#define   VTD_IOTLB_IIRG_SHIFT 60       /* 61:60 requested granularity */
#define   VTD_IOTLB_IAIG_SHIFT 57       /* 58:57 actual granularity */
#define   VTD_IOTLB_DR (1ull << 49)
#define   VTD_IOTLB_DW (1ull << 48)
#define   VTD_IOTLB_DID_SHIFT 32        /* 47:32 domain id */
#define VTD_FRO_OFF 0x220u              /* fault recording register 0 (128 bits), §10.4.14 */
#define   VTD_FRCD_HI_F (1ull << 63)    /* bit 127: fault, RW1C */
#define   VTD_FRCD_HI_T (1ull << 62)    /* bit 126: type, 0 write / 1 read */
#define   VTD_FRCD_HI_FR_SHIFT 32       /* 103:96 fault reason */

/* Root entry (§9.1), 128 bits. */
#define VTD_RE_P 1ull
#define VTD_RE_LO_RSVD 0xFFEull         /* 11:1 */
/* Context entry, legacy mode (§9.3), 128 bits. */
#define VTD_CE_LO_P 1ull
#define VTD_CE_LO_FPD (1ull << 1)       /* fault processing disable */
#define VTD_CE_LO_TT_SHIFT 2            /* 3:2 translation type: 00 untranslated only */
#define VTD_CE_LO_RSVD 0xFF0ull         /* 11:4 */
#define VTD_CE_HI_AW_MASK 7ull          /* 2:0 address width: 1 = 39-bit, 2 = 48-bit */
#define VTD_CE_HI_DID_SHIFT 8           /* 23:8 domain id */
#define VTD_CE_HI_RSVD 0xFFFFFFFFFF000080ull /* 63:24 and 7 */
/* Second-level paging entry (§9.8). */
#define VTD_SL_R 1ull
#define VTD_SL_W 2ull
#define VTD_SL_PS (1ull << 7)           /* page size (non-leaf levels) */
#define VTD_SL_ADDR_MASK 0x000FFFFFFFFFF000ull   /* 51:12 */

/* Invalidation descriptors, 128-bit (§6.5.2). */
#define VTD_QI_DESC_SIZE 16u
#define VTD_QI_TYPE_CC 1u               /* context-cache invalidate */
#define VTD_QI_TYPE_IOTLB 2u            /* IOTLB invalidate */
#define VTD_QI_TYPE_WAIT 5u             /* invalidation wait */
#define VTD_QI_G_SHIFT 4                /* 5:4 granularity (types 1, 2) */
#define VTD_QI_IOTLB_DR (1ull << 7)
#define VTD_QI_IOTLB_DW (1ull << 6)
#define VTD_QI_DID_SHIFT 16             /* 31:16 */
#define VTD_QI_CC_SID_SHIFT 32          /* 47:32 */
#define VTD_QI_CC_FM_SHIFT 48           /* 49:48 */
#define VTD_QI_WAIT_IF (1ull << 4)
#define VTD_QI_WAIT_SW (1ull << 5)
#define VTD_QI_WAIT_FN (1ull << 6)
#define VTD_QI_WAIT_DATA_SHIFT 32

/* Fault reasons, non-recoverable DMA-remapping faults (Appendix A). QEMU 7.2 uses
 * the same numbers (its VTDFaultReason). */
#define VTD_FR_ROOT_P 0x01              /* root entry not present */
#define VTD_FR_CTX_P 0x02               /* context entry not present */
#define VTD_FR_CTX_INV 0x03             /* invalid context entry (TT, AW, ...) */
#define VTD_FR_BEYOND_AW 0x04           /* address above the domain's width */
#define VTD_FR_WRITE 0x05               /* write to a page without W */
#define VTD_FR_READ 0x06                /* read from a page without R */
#define VTD_FR_SL_FETCH 0x07            /* second-level entry fetch failed */
#define VTD_FR_ROOT_TABLE 0x08          /* root table fetch failed */
#define VTD_FR_CTX_TABLE 0x09           /* context table fetch failed */
#define VTD_FR_ROOT_RSVD 0x0A           /* reserved bit set in a root entry */
#define VTD_FR_CTX_RSVD 0x0B            /* reserved bit set in a context entry */
#define VTD_FR_SL_RSVD 0x0C             /* reserved bit set in a second-level entry */
#endif
