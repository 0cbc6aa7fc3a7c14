/*
 * hw/iommu/vtd.h — Intel VT-d DMA-remapping hardware: the register page (§11.4),
 * legacy-mode root and context entries (§9.1, §9.3), second-level paging entries
 * (§9.8), queued invalidation descriptors (§6.5.2), fault reasons (§7.1) and the
 * interrupt-remapping entry (§9.9, §5.1). Intel VT-d spec revision 4.1.
 */
#ifndef DOPPEL_HW_IOMMU_VTD_H
#define DOPPEL_HW_IOMMU_VTD_H
#include <stdint.h>

/* ---- register page (§11.4) ------------------------------------------------------------
 * 32-bit registers are read and written as DWORDs, 64-bit ones as QWORDs or as two
 * DWORDs (§11.2). A unit's registers take at least one 4 KiB page (the DRHD Size
 * field gives 2^N pages). */
#define VTD_REG_SIZE 0x1000u                /* one register page, §11.1 */

#define VTD_REG_VER 0x00                    /* Version, 32-bit, §11.4.1 */
#define  VTD_VER_MAJOR(v) (((v) >> 4) & 0xF)                 /* 7:4 major */
#define  VTD_VER_MINOR(v) ((v) & 0xF)                        /* 3:0 minor */

#define VTD_REG_CAP 0x08                    /* Capability, 64-bit, §11.4.2 */
#define  VTD_CAP_ND_SHIFT 0                                   /* 2:0 number of domains: 2^(4+2*ND) */
#define  VTD_CAP_ND(c) ((unsigned)((c) & 7))
#define  VTD_CAP_AFL (1ull << 3)                              /* advanced fault logging */
#define  VTD_CAP_RWBF (1ull << 4)                             /* write-buffer flush required */
#define  VTD_CAP_PLMR (1ull << 5)                             /* protected low-memory region */
#define  VTD_CAP_PHMR (1ull << 6)                             /* protected high-memory region */
#define  VTD_CAP_CM (1ull << 7)                               /* caching mode: not-present entries may be cached */
#define  VTD_CAP_SAGAW_SHIFT 8                                /* 12:8 supported adjusted guest address widths */
#define  VTD_CAP_SAGAW(c) ((unsigned)(((c) >> 8) & 0x1F))
#define   VTD_SAGAW_39 (1u << 1)                              /*   39-bit, 3-level tables */
#define   VTD_SAGAW_48 (1u << 2)                              /*   48-bit, 4-level tables */
#define   VTD_SAGAW_57 (1u << 3)                              /*   57-bit, 5-level tables */
#define  VTD_CAP_MGAW_SHIFT 16                                /* 21:16 maximum guest address width - 1 */
#define  VTD_CAP_MGAW(c) ((unsigned)(((c) >> 16) & 0x3F) + 1) /* ... as a width in bits */
#define  VTD_CAP_ZLR (1ull << 22)                             /* zero-length reads */
#define  VTD_CAP_FRO_SHIFT 24                                 /* 33:24 fault recording register offset / 16 */
#define  VTD_CAP_FRO(c) ((unsigned)(((c) >> 24) & 0x3FF))
#define  VTD_CAP_SLLPS_SHIFT 34                               /* 37:34 second-level large pages */
#define  VTD_CAP_SLLPS(c) ((unsigned)(((c) >> 34) & 0xF))    /*   bit 0: 2 MiB, bit 1: 1 GiB */
#define  VTD_CAP_PSI (1ull << 39)                             /* page-selective invalidation */
#define  VTD_CAP_NFR_SHIFT 40                                 /* 47:40 number of fault recording registers - 1 */
#define  VTD_CAP_NFR(c) ((unsigned)(((c) >> 40) & 0xFF) + 1) /* ... as a count */
#define  VTD_CAP_MAMV_SHIFT 48                                /* 53:48 maximum address mask value */
#define  VTD_CAP_MAMV(c) ((unsigned)(((c) >> 48) & 0x3F))
#define  VTD_CAP_DWD (1ull << 54)                             /* write draining */
#define  VTD_CAP_DRD (1ull << 55)                             /* read draining */
#define  VTD_CAP_FL1GP (1ull << 56)                           /* first-level 1 GiB pages */
#define  VTD_CAP_PI (1ull << 59)                              /* posted interrupts */
#define  VTD_CAP_FL5LP (1ull << 60)                           /* first-level 5-level paging */
#define  VTD_CAP_ECMDS (1ull << 61)                           /* enhanced command */
#define  VTD_CAP_ESIRTPS (1ull << 62)                         /* SIRTP also invalidates the IEC */
#define  VTD_CAP_ESRTPS (1ull << 63)                          /* SRTP also invalidates the caches */

#define VTD_REG_ECAP 0x10                   /* Extended Capability, 64-bit, §11.4.3 */
#define  VTD_ECAP_C (1ull << 0)                               /* page walks snoop processor caches */
#define  VTD_ECAP_QI (1ull << 1)                              /* queued invalidation */
#define  VTD_ECAP_DT (1ull << 2)                              /* device-TLBs (ATS) */
#define  VTD_ECAP_IR (1ull << 3)                              /* interrupt remapping */
#define  VTD_ECAP_EIM (1ull << 4)                             /* extended interrupt mode (x2APIC ids) */
#define  VTD_ECAP_PT (1ull << 6)                              /* pass-through translation type */
#define  VTD_ECAP_SC (1ull << 7)                              /* snoop control */
#define  VTD_ECAP_IRO_SHIFT 8                                 /* 17:8 IOTLB register offset / 16 */
#define  VTD_ECAP_IRO(e) ((unsigned)(((e) >> 8) & 0x3FF))
#define  VTD_ECAP_MHMV(e) ((unsigned)(((e) >> 20) & 0xF))    /* 23:20 maximum handle mask value */
#define  VTD_ECAP_NEST (1ull << 26)                           /* nested translation */
#define  VTD_ECAP_PRS (1ull << 29)                            /* page requests */
#define  VTD_ECAP_PASID (1ull << 40)                          /* process address space ids */
#define  VTD_ECAP_SMTS (1ull << 43)                           /* scalable-mode translation */
#define  VTD_ECAP_SLTS (1ull << 46)                           /* second-level translation (scalable mode) */
#define  VTD_ECAP_FLTS (1ull << 47)                           /* first-level translation */

/* GCMD is write-only; GSTS reports each command at the same bit position (TES,
 * RTPS, FLS, AFLS, WBFS, QIES, IRES, IRTPS, CFIS). Software writes GSTS's state bits
 * with the one bit changed (§11.4.4.1). */
#define VTD_REG_GCMD 0x18                   /* Global Command, 32-bit, §11.4.4.1 */
#define VTD_REG_GSTS 0x1C                   /* Global Status, 32-bit, §11.4.4.2 */
#define  VTD_GCMD_TE (1u << 31)                               /* translation enable / TES */
#define  VTD_GCMD_SRTP (1u << 30)                             /* set root table pointer / RTPS */
#define  VTD_GCMD_SFL (1u << 29)                              /* set fault log / FLS */
#define  VTD_GCMD_EAFL (1u << 28)                             /* enable advanced fault logging / AFLS */
#define  VTD_GCMD_WBF (1u << 27)                              /* write-buffer flush / WBFS */
#define  VTD_GCMD_QIE (1u << 26)                              /* queued invalidation enable / QIES */
#define  VTD_GCMD_IRE (1u << 25)                              /* interrupt remapping enable / IRES */
#define  VTD_GCMD_SIRTP (1u << 24)                            /* set interrupt remap table pointer / IRTPS */
#define  VTD_GCMD_CFI (1u << 23)                              /* compatibility format interrupts / CFIS */
/* GSTS bits that report one-shot commands (RTPS, FLS, WBFS, IRTPS) rather than a
 * state: left out when GSTS is written back as GCMD. */
#define  VTD_GSTS_ONESHOT (VTD_GCMD_SRTP | VTD_GCMD_SFL | VTD_GCMD_WBF | VTD_GCMD_SIRTP)

#define VTD_REG_RTADDR 0x20                 /* Root Table Address, 64-bit, §11.4.5 */
#define  VTD_RTADDR_TTM_SHIFT 10                              /* 11:10 translation table mode */
#define   VTD_TTM_LEGACY 0u                                   /*   root/context entries of §9.1, §9.3 */
#define   VTD_TTM_SCALABLE 1u                                 /*   scalable-mode root/context entries */
#define  VTD_RTADDR_ADDR 0xFFFFFFFFFFFFF000ull                /* 63:12 root table, 4 KiB aligned */

#define VTD_REG_CCMD 0x28                   /* Context Command, 64-bit, §11.4.6 */
#define  VTD_CCMD_ICC (1ull << 63)                            /* invalidate context cache; busy while set */
#define  VTD_CCMD_CIRG_SHIFT 61                               /* 62:61 requested granularity (VTD_GRAN_*) */
#define  VTD_CCMD_CIRG(g) ((uint64_t)(g) << 61)
#define  VTD_CCMD_GLOBAL VTD_CCMD_CIRG(1)
#define  VTD_CCMD_DOMAIN VTD_CCMD_CIRG(2)
#define  VTD_CCMD_DEVICE VTD_CCMD_CIRG(3)
#define  VTD_CCMD_CAIG_SHIFT 59                               /* 60:59 actual granularity, 0: not done */
#define  VTD_CCMD_CAIG(c) (((c) >> 59) & 3)
#define  VTD_CCMD_FM_SHIFT 32                                 /* 33:32 function mask */
#define  VTD_CCMD_SID_SHIFT 16                                /* 31:16 source id */
#define  VTD_CCMD_SID(s) ((uint64_t)(s) << 16)
#define  VTD_CCMD_DID(d) ((uint64_t)(d))                      /* 15:0 domain id */

/* Invalidation granularity: CCMD.CIRG, IOTLB.IIRG and the G field of context-cache
 * and IOTLB descriptors use the same numbers (§11.4.6, §11.4.8.1, §6.5.2.1, §6.5.2.3). */
#define VTD_GRAN_GLOBAL 1u
#define VTD_GRAN_DOMAIN 2u
#define VTD_GRAN_DEVICE 3u                  /* device-selective (context) / page-selective (IOTLB) */

/* Fault logging registers (§11.4.7). */
#define VTD_REG_FSTS 0x34                   /* Fault Status, 32-bit, §11.4.7.1 */
#define  VTD_FSTS_PFO (1u << 0)                               /* primary fault overflow, RW1C */
#define  VTD_FSTS_PPF (1u << 1)                               /* primary pending fault, RO (OR of the F bits) */
#define  VTD_FSTS_AFO (1u << 2)                               /* advanced fault overflow, RW1C */
#define  VTD_FSTS_APF (1u << 3)                               /* advanced pending fault, RW1C */
#define  VTD_FSTS_IQE (1u << 4)                               /* invalidation queue error, RW1C */
#define  VTD_FSTS_ICE (1u << 5)                               /* invalidation completion error, RW1C */
#define  VTD_FSTS_ITE (1u << 6)                               /* invalidation time-out error, RW1C */
#define  VTD_FSTS_FRI_SHIFT 8                                 /* 15:8 fault record index, RO */
#define  VTD_FSTS_FRI(f) (((f) >> 8) & 0xFF)
#define VTD_REG_FECTL 0x38                  /* Fault Event Control, 32-bit, §11.4.7.2 */
#define  VTD_FECTL_IM (1u << 31)                              /* interrupt mask (set at reset) */
#define  VTD_FECTL_IP (1u << 30)                              /* interrupt pending, RO */
#define VTD_REG_FEDATA 0x3C                 /* Fault Event Data, 32-bit, §11.4.7.3: 15:0 data */
#define VTD_REG_FEADDR 0x40                 /* Fault Event Address, 32-bit, §11.4.7.4: 31:2 */
#define VTD_REG_FEUADDR 0x44                /* Fault Event Upper Address, 32-bit, §11.4.7.5 */
#define VTD_REG_AFLOG 0x58                  /* Advanced Fault Log, 64-bit, §11.4.7.7 */
#define  VTD_AFLOG_FLS_SHIFT 9                                /* 11:9 log size: 2^FLS pages */
#define  VTD_AFLOG_FLA 0xFFFFFFFFFFFFF000ull                  /* 63:12 log address */

/* Protected memory regions (CAP.PLMR, CAP.PHMR). */
#define VTD_REG_PMEN 0x64                   /* Protected Memory Enable, 32-bit, §11.4.11 */
#define  VTD_PMEN_EPM (1u << 31)                              /* enable protected memory */
#define  VTD_PMEN_PRS (1u << 0)                               /* protected region status, RO */
#define VTD_REG_PLMBASE 0x68                /* Protected Low-Memory Base, 32-bit, §11.4.11 */
#define VTD_REG_PLMLIMIT 0x6C               /* Protected Low-Memory Limit, 32-bit, §11.4.11 */
#define VTD_REG_PHMBASE 0x70                /* Protected High-Memory Base, 64-bit, §11.4.11 */
#define VTD_REG_PHMLIMIT 0x78               /* Protected High-Memory Limit, 64-bit, §11.4.11 */

/* Queued invalidation interface (§11.4.9). */
#define VTD_REG_IQH 0x80                    /* Invalidation Queue Head, 64-bit, §11.4.9.1 */
#define VTD_REG_IQT 0x88                    /* Invalidation Queue Tail, 64-bit, §11.4.9.2 */
#define  VTD_IQ_QPTR_SHIFT 4                                  /* IQH/IQT 18:4: descriptor index << 4 (128-bit) */
#define  VTD_IQ_QPTR_MASK 0x7FFF0ull
#define VTD_REG_IQA 0x90                    /* Invalidation Queue Address, 64-bit, §11.4.9.3 */
#define  VTD_IQA_ADDR 0xFFFFFFFFFFFFF000ull                   /* 63:12 queue base, 4 KiB aligned */
#define  VTD_IQA_DW (1ull << 11)                              /* 256-bit descriptors (scalable mode) */
#define  VTD_IQA_QS_MASK 7ull                                 /* 2:0 queue size: 2^QS pages, 256 << QS entries */
#define VTD_REG_ICS 0x9C                    /* Invalidation Completion Status, 32-bit, §11.4.9.4 */
#define  VTD_ICS_IWC 1u                                       /* invalidation wait completed, RW1C */
#define VTD_REG_IECTL 0xA0                  /* Invalidation Event Control, 32-bit, §11.4.9.5 */
#define  VTD_IECTL_IM (1u << 31)                              /* interrupt mask (set at reset) */
#define  VTD_IECTL_IP (1u << 30)                              /* interrupt pending, RO */
#define VTD_REG_IEDATA 0xA4                 /* Invalidation Event Data, 32-bit, §11.4.9.6 */
#define VTD_REG_IEADDR 0xA8                 /* Invalidation Event Address, 32-bit, §11.4.9.7 */
#define VTD_REG_IEUADDR 0xAC                /* Invalidation Event Upper Address, 32-bit, §11.4.9.8 */
#define VTD_REG_IQERCD 0xB0                 /* Invalidation Queue Error Record, 64-bit, §11.4.9.9 */

#define VTD_REG_IRTA 0xB8                   /* Interrupt Remapping Table Address, 64-bit, §11.4.10 */
#define  VTD_IRTA_ADDR 0xFFFFFFFFFFFFF000ull                  /* 63:12 table, 4 KiB aligned */
#define  VTD_IRTA_EIME (1ull << 11)                           /* extended interrupt mode (32-bit DST) */
#define  VTD_IRTA_S_MASK 0xFull                               /* 3:0 size: 2^(S+1) entries */

/* IOTLB registers: a pair at ECAP.IRO * 16 (§11.4.8). */
#define VTD_IOTLB_REGS(ecap) ((unsigned)VTD_ECAP_IRO(ecap) * 16u)
#define VTD_IOTLB_IVA 0x00                  /* + Invalidate Address, 64-bit, §11.4.8.2 */
#define  VTD_IVA_ADDR 0xFFFFFFFFFFFFF000ull                   /* 63:12 page address */
#define  VTD_IVA_IH (1ull << 6)                               /* invalidation hint: leaf entries only */
#define  VTD_IVA_AM_MASK 0x3Full                              /* 5:0 address mask: 2^AM pages */
#define VTD_IOTLB_CMD 0x08                  /* + IOTLB Invalidate, 64-bit, §11.4.8.1 */
#define  VTD_IOTLB_IVT (1ull << 63)                           /* invalidate IOTLB; busy while set */
#define  VTD_IOTLB_IIRG_SHIFT 60                              /* 61:60 requested granularity (VTD_GRAN_*) */
#define  VTD_IOTLB_IIRG(g) ((uint64_t)(g) << 60)
#define  VTD_IOTLB_GLOBAL VTD_IOTLB_IIRG(1)
#define  VTD_IOTLB_DOMAIN VTD_IOTLB_IIRG(2)
#define  VTD_IOTLB_PAGE VTD_IOTLB_IIRG(3)
#define  VTD_IOTLB_IAIG_SHIFT 57                              /* 58:57 actual granularity, 0: not done */
#define  VTD_IOTLB_IAIG(c) (((c) >> 57) & 3)
#define  VTD_IOTLB_DR (1ull << 49)                            /* drain reads */
#define  VTD_IOTLB_DW (1ull << 48)                            /* drain writes */
#define  VTD_IOTLB_DID_SHIFT 32                               /* 47:32 domain id */
#define  VTD_IOTLB_DID(d) ((uint64_t)(d) << 32)

/* Fault recording registers: CAP.NFR records of 128 bits from CAP.FRO * 16
 * (§11.4.7.6); the high qword is at +8, F (bit 127) is RW1C in the top DWORD (+12). */
#define VTD_FRCD_SIZE 16u
#define VTD_FRCD_REG(cap, i) ((unsigned)VTD_CAP_FRO(cap) * 16u + (unsigned)(i) * VTD_FRCD_SIZE)
#define VTD_FRCD_LO_FI(l) ((l) & ~0xFFFull)                   /* lo 63:12 faulting page */
#define VTD_FRCD_HI_F (1ull << 63)                            /* 127 fault; write 1 to clear */
#define VTD_FRCD_HI_T (1ull << 62)                            /* 126 type: 0 write, 1 read */
#define VTD_FRCD_HI_AT(h) ((unsigned)((h) >> 60) & 3)         /* 125:124 address type */
#define VTD_FRCD_HI_PV(h) ((unsigned)((h) >> 40) & 0xFFFFF)   /* 123:104 PASID value */
#define VTD_FRCD_HI_FR_SHIFT 32                               /* 103:96 fault reason (VTD_FR_*) */
#define VTD_FRCD_HI_FR(h) ((uint8_t)((h) >> 32))
#define VTD_FRCD_HI_PP (1ull << 31)                           /* 95 PASID present */
#define VTD_FRCD_HI_SID(h) ((uint16_t)(h))                    /* 79:64 source id */

/* ---- translation structures, legacy mode (RTADDR.TTM = 00) ------------------------------ */

/* Root entry, §9.1: one per bus, 256 in the 4 KiB root table. */
struct vtd_root_entry {
	uint64_t lo;                        /* 0 P, 11:1 reserved, 63:12 context-table pointer */
	uint64_t hi;                        /* reserved */
};
_Static_assert(sizeof(struct vtd_root_entry) == 16, "VT-d §9.1: root entry is 128 bits");
#define VTD_ROOT_P 1ull                                       /* present */
#define VTD_ROOT_LO_RSVD 0xFFEull                             /* 11:1 */
#define VTD_ROOT_CTP 0xFFFFFFFFFFFFF000ull                    /* 63:12 context table */

/* Context entry, §9.3: one per device/function, 256 in a 4 KiB context table. */
struct vtd_context_entry {
	uint64_t lo;                        /* 0 P, 1 FPD, 3:2 TT, 11:4 reserved, 63:12 SLPTPTR */
	uint64_t hi;                        /* 2:0 AW, 6:3 ignored, 7 reserved, 23:8 DID, 63:24 reserved */
};
_Static_assert(sizeof(struct vtd_context_entry) == 16, "VT-d §9.3: context entry is 128 bits");
#define VTD_CTX_P 1ull                                        /* lo: present */
#define VTD_CTX_FPD 2ull                                      /* lo: fault processing disable */
#define VTD_CTX_TT_SHIFT 2                                    /* lo 3:2 translation type */
#define  VTD_CTX_TT_UNTRANSLATED (0ull << 2)                  /*   untranslated requests, second-level table */
#define  VTD_CTX_TT_DEVTLB (1ull << 2)                        /*   also translated/translation requests (ECAP.DT) */
#define  VTD_CTX_TT_PASSTHROUGH (2ull << 2)                   /*   pass-through (ECAP.PT) */
#define VTD_CTX_LO_RSVD 0xFF0ull                              /* lo 11:4 */
#define VTD_CTX_SLPTPTR 0xFFFFFFFFFFFFF000ull                 /* lo 63:12 second-level table */
#define VTD_CTX_AW_MASK 7ull                                  /* hi 2:0 address width: levels - 2 */
#define VTD_CTX_AW(aw) ((uint64_t)(aw) & 7)                   /*   1: 39-bit, 2: 48-bit, 3: 57-bit */
#define VTD_CTX_DID_SHIFT 8                                   /* hi 23:8 domain id */
#define VTD_CTX_DID(d) ((uint64_t)(d) << 8)
#define VTD_CTX_HI_RSVD 0xFFFFFFFFFF000080ull                 /* hi 63:24 and 7 */

/* Second-level paging entry, §9.8: 512 per 4 KiB table; an entry is present when R
 * or W is set, and a non-leaf entry's R/W limit everything below it. */
#define VTD_SL_R (1ull << 0)                                  /* read */
#define VTD_SL_W (1ull << 1)                                  /* write */
#define VTD_SL_PS (1ull << 7)                                 /* page size: a leaf above level 1 (CAP.SLLPS) */
#define VTD_SL_SNP (1ull << 11)                               /* snoop (ECAP.SC), leaf only */
#define VTD_SL_ADDR 0x000FFFFFFFFFF000ull                     /* 51:12 next table or page */

/* ---- invalidation descriptors (§6.5.2), 128 bits in legacy mode ------------------------- */

struct vtd_inv_desc {
	uint64_t lo;                        /* 3:0 type, 11:9 type high bits (0 here), fields below */
	uint64_t hi;
};
_Static_assert(sizeof(struct vtd_inv_desc) == 16, "VT-d §6.5.2: legacy descriptors are 128 bits");
#define VTD_INV_DESC_SIZE 16u
#define VTD_INV_TYPE(lo) ((unsigned)((lo) & 0xF) | (unsigned)(((lo) >> 5) & 0x70))  /* 3:0 | 11:9 << 4 */
#define VTD_INV_CC 0x1ull                   /* context-cache invalidate, §6.5.2.1 */
#define VTD_INV_IOTLB 0x2ull                /* IOTLB invalidate, §6.5.2.3 */
#define VTD_INV_DEVTLB 0x3ull               /* device-TLB invalidate, §6.5.2.5 */
#define VTD_INV_IEC 0x4ull                  /* interrupt entry cache invalidate, §6.5.2.7 */
#define VTD_INV_WAIT 0x5ull                 /* invalidation wait, §6.5.2.8 */
/* Context-cache and IOTLB descriptors, lo. */
#define  VTD_INV_G_SHIFT 4                                    /* 5:4 granularity (VTD_GRAN_*) */
#define  VTD_INV_G(g) ((uint64_t)(g) << 4)
#define  VTD_INV_DID_SHIFT 16                                 /* 31:16 domain id */
#define  VTD_INV_DID(d) ((uint64_t)(d) << 16)
/* Context-cache, lo (hi reserved). */
#define  VTD_INV_CC_SID_SHIFT 32                              /* 47:32 source id */
#define  VTD_INV_CC_SID(s) ((uint64_t)(s) << 32)
#define  VTD_INV_CC_FM_SHIFT 48                               /* 49:48 function mask */
#define  VTD_INV_CC_FM(f) ((uint64_t)(f) << 48)
/* IOTLB, lo: drain bits; hi: address, hint, mask (as IVA_REG). */
#define  VTD_INV_IOTLB_DW (1ull << 6)
#define  VTD_INV_IOTLB_DR (1ull << 7)
#define  VTD_INV_IOTLB_ADDR 0xFFFFFFFFFFFFF000ull             /* hi 63:12 */
#define  VTD_INV_IOTLB_IH (1ull << 6)                         /* hi: invalidation hint */
#define  VTD_INV_IOTLB_AM_MASK 0x3Full                        /* hi 5:0: 2^AM pages */
/* Device-TLB, lo: PFSID, MIP, SID; hi: S and address. */
#define  VTD_INV_DEVTLB_PFSID(p) (((uint64_t)(p) & 0xF) << 12 | ((uint64_t)(p) >> 4) << 52)
#define  VTD_INV_DEVTLB_MIP(m) ((uint64_t)((m) & 0x1F) << 16) /* 20:16 max invalidations pending */
#define  VTD_INV_DEVTLB_SID(s) ((uint64_t)(s) << 32)          /* 47:32 */
#define  VTD_INV_DEVTLB_S 1ull                                /* hi 0: size given by address bits */
#define  VTD_INV_DEVTLB_ADDR 0xFFFFFFFFFFFFF000ull            /* hi 63:12 */
/* Interrupt entry cache, lo (hi reserved). */
#define  VTD_INV_IEC_INDEX (1ull << 4)                        /* G: 0 global, 1 index-selective */
#define  VTD_INV_IEC_IM(m) ((uint64_t)((m) & 0x1F) << 27)     /* 31:27 index mask: 2^IM entries */
#define  VTD_INV_IEC_IIDX(i) ((uint64_t)(i) << 32)            /* 47:32 interrupt index */
/* Invalidation wait, lo; hi 63:2 status address (DWORD aligned). */
#define  VTD_INV_WAIT_IF (1ull << 4)                          /* interrupt: set ICS.IWC, event */
#define  VTD_INV_WAIT_SW (1ull << 5)                          /* status write */
#define  VTD_INV_WAIT_FN (1ull << 6)                          /* fence: later descriptors wait */
#define  VTD_INV_WAIT_PD (1ull << 7)                          /* page-request drain */
#define  VTD_INV_WAIT_DATA_SHIFT 32                           /* 63:32 status data */
#define  VTD_INV_WAIT_DATA(d) ((uint64_t)(d) << 32)
#define  VTD_INV_WAIT_ADDR 0xFFFFFFFFFFFFFFFCull              /* hi 63:2 */

/* ---- fault reasons (§7.1), FRCD.FR ------------------------------------------------------ */

/* DMA remapping, legacy mode. */
#define VTD_FR_ROOT_NOT_PRESENT 0x01        /* root entry not present */
#define VTD_FR_CTX_NOT_PRESENT 0x02         /* context entry not present */
#define VTD_FR_CTX_INV 0x03                 /* invalid context entry (TT, AW, ...) */
#define VTD_FR_BEYOND_AW 0x04               /* address above the domain's width */
#define VTD_FR_WRITE 0x05                   /* write to a page without W */
#define VTD_FR_READ 0x06                    /* read from a page without R */
#define VTD_FR_SL_FETCH 0x07                /* second-level entry fetch failed */
#define VTD_FR_ROOT_TABLE 0x08              /* root table fetch failed */
#define VTD_FR_CTX_TABLE 0x09               /* context table fetch failed */
#define VTD_FR_ROOT_RSVD 0x0A               /* reserved bit set in a root entry */
#define VTD_FR_CTX_RSVD 0x0B                /* reserved bit set in a context entry */
#define VTD_FR_SL_RSVD 0x0C                 /* reserved bit set in a second-level entry */
/* Interrupt remapping. */
#define VTD_FR_IR_REQ_RSVD 0x20             /* reserved field set in the interrupt request */
#define VTD_FR_IR_INDEX 0x21                /* index beyond the table size (IRTA.S) */
#define VTD_FR_IR_NOT_PRESENT 0x22          /* IRTE not present */
#define VTD_FR_IR_FETCH 0x23                /* IRTE fetch failed */
#define VTD_FR_IR_RSVD 0x24                 /* reserved field set in the IRTE */
#define VTD_FR_IR_COMPAT 0x25               /* compatibility-format request blocked (CFIS = 0) */
#define VTD_FR_IR_SID 0x26                  /* source-id verification failed */

/* ---- interrupt remapping (§9.9, §5.1) --------------------------------------------------- */

/* Interrupt remapping table entry, remapped format (IM = 0), §9.9. */
struct vtd_irte {
	uint64_t lo;                        /* 0 P, 1 FPD, 2 DM, 3 RH, 4 TM, 7:5 DLM, 15 IM, 23:16 V, 63:32 DST */
	uint64_t hi;                        /* 15:0 SID, 17:16 SQ, 19:18 SVT */
};
_Static_assert(sizeof(struct vtd_irte) == 16, "VT-d §9.9: IRTE is 128 bits");
#define VTD_IRTE_P (1ull << 0)                                /* lo: present */
#define VTD_IRTE_FPD (1ull << 1)                              /* lo: fault processing disable */
#define VTD_IRTE_DM (1ull << 2)                               /* lo: destination mode, 1 logical */
#define VTD_IRTE_RH (1ull << 3)                               /* lo: redirection hint */
#define VTD_IRTE_TM (1ull << 4)                               /* lo: trigger mode, 1 level */
#define VTD_IRTE_DLM(m) ((uint64_t)((m) & 7) << 5)            /* lo 7:5 delivery mode */
#define VTD_IRTE_IM (1ull << 15)                              /* lo: 1 = posted format */
#define VTD_IRTE_V(v) ((uint64_t)((v) & 0xFF) << 16)          /* lo 23:16 vector */
#define VTD_IRTE_DST_X2APIC(d) ((uint64_t)(uint32_t)(d) << 32) /* lo 63:32, IRTA.EIME = 1 */
#define VTD_IRTE_DST_XAPIC(d) ((uint64_t)((d) & 0xFF) << 40)  /* lo 47:40, IRTA.EIME = 0 */
#define VTD_IRTE_SID(s) ((uint64_t)(uint16_t)(s))             /* hi 15:0 source id */
#define VTD_IRTE_SQ(q) ((uint64_t)((q) & 3) << 16)            /* hi 17:16 SID qualifier */
#define VTD_IRTE_SVT(t) ((uint64_t)((t) & 3) << 18)           /* hi 19:18 verification type */
#define  VTD_SVT_NONE 0u                                      /*   no check */
#define  VTD_SVT_SID 1u                                       /*   SID, masked by SQ */
#define  VTD_SVT_BUS 2u                                       /*   bus range in SID 15:8 / 7:0 */

/* Remappable-format MSI address and data, §5.1.5.2: the entry index is handle
 * (+ data 15:0 when SHV = 1). */
#define VTD_MSI_ADDR_BASE 0xFEE00000u                         /* 31:20 0xFEE */
#define VTD_MSI_ADDR_HANDLE_LO(h) (((uint32_t)(h) & 0x7FFF) << 5)  /* 19:5 handle 14:0 */
#define VTD_MSI_ADDR_IF (1u << 4)                             /* interrupt format: 1 remappable */
#define VTD_MSI_ADDR_SHV (1u << 3)                            /* subhandle valid (data 15:0) */
#define VTD_MSI_ADDR_HANDLE_HI(h) ((((uint32_t)(h) >> 15) & 1) << 2) /* 2: handle 15 */
#define VTD_MSI_ADDR_HANDLE(a) ((((a) >> 5) & 0x7FFF) | (((a) >> 2) & 1) << 15)
#endif
