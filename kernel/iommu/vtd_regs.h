/*
 * vtd_regs.h — Intel VT-d remapping hardware registers and in-memory structures:
 * register offsets and bits (spec rev 3.x §10.4), root/context entries and
 * second-level paging entries (§9.1, §9.3, §9.8), invalidation descriptors (§6.5.2).
 */
#ifndef KERNEL_IOMMU_VTD_REGS_H
#define KERNEL_IOMMU_VTD_REGS_H
#include <stdint.h>

#define VTD_REG_VER 0x00            /* Version, §10.4.1 */
#define  VTD_VER_MAJOR(v) (((v) >> 4) & 0xF)
#define  VTD_VER_MINOR(v) ((v) & 0xF)
#define VTD_REG_CAP 0x08            /* Capability, §10.4.2 */
#define  VTD_CAP_ND(c) ((unsigned)((c) & 7))                 /* domains: 2^(4+2*ND) */
#define  VTD_CAP_RWBF (1ull << 4)                            /* write-buffer flush required */
#define  VTD_CAP_CM (1ull << 7)                              /* caching mode */
#define  VTD_CAP_SAGAW(c) ((unsigned)(((c) >> 8) & 0x1F))    /* bit 1: 39-bit 3-level, bit 2: 48-bit 4-level */
#define  VTD_CAP_MGAW(c) ((unsigned)(((c) >> 16) & 0x3F) + 1)
#define  VTD_CAP_FRO(c) ((unsigned)(((c) >> 24) & 0x3FF))   /* fault recording offset / 16 */
#define  VTD_CAP_PSI (1ull << 39)                            /* page-selective invalidation */
#define  VTD_CAP_NFR(c) ((unsigned)(((c) >> 40) & 0xFF) + 1) /* fault recording registers */
#define  VTD_CAP_MAMV(c) ((unsigned)(((c) >> 48) & 0x3F))    /* max address mask value */
#define  VTD_CAP_DWD (1ull << 54)                            /* drain writes */
#define  VTD_CAP_DRD (1ull << 55)                            /* drain reads */
#define VTD_REG_ECAP 0x10           /* Extended Capability, §10.4.3 */
#define  VTD_ECAP_C (1ull << 0)                              /* page walks snoop caches */
#define  VTD_ECAP_QI (1ull << 1)                             /* queued invalidation */
#define  VTD_ECAP_IRO(e) ((unsigned)(((e) >> 8) & 0x3FF))   /* IOTLB registers offset / 16 */
#define VTD_REG_GCMD 0x18           /* Global Command, §10.4.4 (write GSTS|bit) */
#define VTD_REG_GSTS 0x1C           /* Global Status, §10.4.5 */
#define  VTD_GCMD_TE (1u << 31)                              /* translation enable / status */
#define  VTD_GCMD_SRTP (1u << 30)                            /* set root table pointer / RTPS */
#define  VTD_GCMD_WBF (1u << 27)                             /* write-buffer flush / WBFS */
#define  VTD_GCMD_QIE (1u << 26)                             /* queued invalidation enable / QIES */
/* GSTS bits that report one-shot commands (RTPS, FLS, WBFS, IRTPS) rather than a
 * state: they are left out when GSTS is written back as GCMD. */
#define  VTD_GSTS_ONESHOT ((1u << 30) | (1u << 29) | (1u << 27) | (1u << 24))
#define VTD_REG_RTADDR 0x20         /* Root Table Address, §10.4.6; TTM 00 = legacy */
#define VTD_REG_CCMD 0x28           /* Context Command, §10.4.7 */
#define  VTD_CCMD_ICC (1ull << 63)
#define  VTD_CCMD_GLOBAL (1ull << 61)
#define  VTD_CCMD_DOMAIN (2ull << 61)
#define  VTD_CCMD_DEVICE (3ull << 61)
#define  VTD_CCMD_CAIG(c) (((c) >> 59) & 3)
#define  VTD_CCMD_SID(s) ((uint64_t)(s) << 16)
#define  VTD_CCMD_DID(d) ((uint64_t)(d))
#define VTD_REG_FSTS 0x34           /* Fault Status, §10.4.9 */
#define  VTD_FSTS_PFO (1u << 0)                              /* primary fault overflow (RW1C) */
#define  VTD_FSTS_PPF (1u << 1)                              /* primary pending fault (RO) */
#define  VTD_FSTS_IQE (1u << 4)                              /* invalidation queue error (RW1C) */
#define  VTD_FSTS_ICE (1u << 5)
#define  VTD_FSTS_ITE (1u << 6)
#define  VTD_FSTS_FRI(f) (((f) >> 8) & 0xFF)                 /* fault record index */
#define VTD_REG_FECTL 0x38          /* Fault Event Control, §10.4.10 */
#define  VTD_FECTL_IM (1u << 31)                             /* interrupt mask */
#define  VTD_FECTL_IP (1u << 30)
#define VTD_REG_FEDATA 0x3C         /* §10.4.11 */
#define VTD_REG_FEADDR 0x40         /* §10.4.12 */
#define VTD_REG_FEUADDR 0x44
#define VTD_REG_IQH 0x80            /* Invalidation Queue Head, §10.4.22 */
#define VTD_REG_IQT 0x88            /* Invalidation Queue Tail, §10.4.23: index << 4 */
#define VTD_REG_IQA 0x90            /* Invalidation Queue Address, §10.4.24: base | QS */
#define VTD_REG_ICS 0x9C            /* Invalidation Completion Status, §10.4.25 */
#define  VTD_ICS_IWC 1u

/* IOTLB registers at ECAP.IRO * 16, §10.4.8. */
#define VTD_IOTLB_IVA 0x00          /* address 63:12, IH bit 6, AM 5:0 */
#define VTD_IOTLB_CMD 0x08
#define  VTD_IOTLB_IVT (1ull << 63)
#define  VTD_IOTLB_GLOBAL (1ull << 60)
#define  VTD_IOTLB_DOMAIN (2ull << 60)
#define  VTD_IOTLB_PAGE (3ull << 60)
#define  VTD_IOTLB_IAIG(c) (((c) >> 57) & 3)
#define  VTD_IOTLB_DR (1ull << 49)
#define  VTD_IOTLB_DW (1ull << 48)
#define  VTD_IOTLB_DID(d) ((uint64_t)(d) << 32)

/* Fault recording register, 128 bits, §10.4.14 (high qword at +8). */
#define VTD_FRCD_HI_F (1ull << 63)                          /* fault; write 1 to clear */
#define VTD_FRCD_HI_T (1ull << 62)                          /* type: 1 = read, 0 = write */
#define VTD_FRCD_HI_FR(h) ((uint8_t)((h) >> 32))            /* fault reason, Appendix A */
#define VTD_FRCD_HI_SID(h) ((uint16_t)(h))
#define VTD_FRCD_LO_FI(l) ((l) & ~0xFFFull)                 /* faulting page */

/* Root entry, §9.1 (legacy mode): lo bit 0 present, 63:12 context-table pointer. */
struct vtd_root_entry {
	uint64_t lo, hi;
};
_Static_assert(sizeof(struct vtd_root_entry) == 16, "VT-d §9.1: root entry is 128 bits");
#define VTD_ROOT_P 1ull

/* Context entry, §9.3 (legacy mode). lo: P bit 0, FPD bit 1, T 3:2, SLPTPTR 63:12;
 * hi: AW 2:0, DID 23:8. */
struct vtd_context_entry {
	uint64_t lo, hi;
};
_Static_assert(sizeof(struct vtd_context_entry) == 16, "VT-d §9.3: context entry is 128 bits");
#define VTD_CTX_P 1ull
#define VTD_CTX_FPD 2ull
#define VTD_CTX_TT_UNTRANSLATED (0ull << 2)
#define VTD_CTX_AW(aw) ((uint64_t)(aw) & 7)                  /* 1: 39-bit, 2: 48-bit */
#define VTD_CTX_DID(d) ((uint64_t)(d) << 8)

/* Second-level paging entry, §9.8: R bit 0, W bit 1, PS bit 7, address 51:12. */
#define VTD_SL_R 1ull
#define VTD_SL_W 2ull
#define VTD_SL_PS (1ull << 7)
#define VTD_SL_ADDR 0x000FFFFFFFFFF000ull

/* Invalidation descriptors, 128 bits, §6.5.2. */
struct vtd_inv_desc {
	uint64_t lo, hi;
};
_Static_assert(sizeof(struct vtd_inv_desc) == 16, "VT-d §6.5.2: legacy descriptors are 128 bits");
#define VTD_INV_CC 0x1ull           /* context-cache invalidate, §6.5.2.1 */
#define VTD_INV_IOTLB 0x2ull        /* IOTLB invalidate, §6.5.2.3 */
#define VTD_INV_WAIT 0x5ull         /* invalidation wait, §6.5.2.8 */
#define VTD_INV_G(g) ((uint64_t)(g) << 4)                    /* 1 global, 2 domain, 3 device/page */
#define VTD_INV_DID(d) ((uint64_t)(d) << 16)
#define VTD_INV_CC_SID(s) ((uint64_t)(s) << 32)
#define VTD_INV_IOTLB_DW (1ull << 6)
#define VTD_INV_IOTLB_DR (1ull << 7)
#define VTD_INV_WAIT_SW (1ull << 5)                          /* status write */
#define VTD_INV_WAIT_FN (1ull << 6)                          /* fence */
#define VTD_INV_WAIT_DATA(d) ((uint64_t)(d) << 32)

/* Fault reasons used by tests and logs (Appendix A). */
#define VTD_FR_ROOT_NOT_PRESENT 0x01
#define VTD_FR_CTX_NOT_PRESENT 0x02
#define VTD_FR_WRITE 0x05           /* write to a page without write permission */
#define VTD_FR_READ 0x06            /* read from a page without read permission */
#endif
