/*
 * hw/dev/nvme.h — NVM Express controller facts: the PCI class code, the controller
 * registers in BAR0, submission/completion queue entries and status, admin and NVM
 * opcodes, Identify data, features, Dataset Management ranges and PRP rules.
 * NVM Express Base Specification revision 1.4 (June 2019), section numbers of 1.4.
 */
#ifndef DOPPEL_HW_DEV_NVME_H
#define DOPPEL_HW_DEV_NVME_H
#include <stddef.h>
#include <stdint.h>

#define NVME_PCI_CLASS 0x010802u        /* mass storage / NVM / NVMe, §2.1.5 */

/* ---- Controller registers (BAR0), §3.1 -------------------------------------------- */

#define NVME_REG_CAP 0x00u              /* Controller Capabilities, 64-bit RO, §3.1.1 */
#define   NVME_CAP_MQES_SHIFT 0         /* 15:0 max queue entries, 0-based */
#define   NVME_CAP_MQES_MASK 0xFFFFull
#define   NVME_CAP_CQR (1ull << 16)     /* contiguous queues required */
#define   NVME_CAP_AMS_SHIFT 17         /* 18:17 arbitration mechanisms supported */
#define   NVME_CAP_AMS_WRR (1ull << 17) /*   weighted round robin with urgent class */
#define   NVME_CAP_AMS_VS (1ull << 18)  /*   vendor specific */
#define   NVME_CAP_TO_SHIFT 24          /* 31:24 worst-case ready time, 500 ms units */
#define   NVME_CAP_TO_MASK 0xFFull
#define   NVME_CAP_DSTRD_SHIFT 32       /* 35:32 doorbell stride 2^(2+DSTRD) bytes */
#define   NVME_CAP_DSTRD_MASK 0xFull
#define   NVME_CAP_NSSRS (1ull << 36)   /* NVM subsystem reset supported */
#define   NVME_CAP_CSS_SHIFT 37         /* 44:37 command sets supported */
#define   NVME_CAP_CSS_MASK 0xFFull
#define   NVME_CAP_CSS_NVM (1ull << 37) /*   bit 37: the NVM command set */
#define   NVME_CAP_BPS (1ull << 45)     /* boot partition support */
#define   NVME_CAP_MPSMIN_SHIFT 48      /* 51:48 min memory page size 2^(12+MPSMIN) */
#define   NVME_CAP_MPSMAX_SHIFT 52      /* 55:52 max memory page size 2^(12+MPSMAX) */
#define   NVME_CAP_MPS_MASK 0xFull
#define   NVME_CAP_PMRS (1ull << 56)    /* persistent memory region supported */
#define   NVME_CAP_CMBS (1ull << 57)    /* controller memory buffer supported */
#define NVME_REG_VS 0x08u               /* Version, RO, §3.1.2: MJR 31:16, MNR 15:8, TER 7:0 */
#define   NVME_VS(mjr, mnr, ter) (((uint32_t)(mjr) << 16) | ((uint32_t)(mnr) << 8) | (uint32_t)(ter))
#define   NVME_VS_1_4 0x00010400u
#define NVME_REG_INTMS 0x0Cu            /* Interrupt Mask Set, RW1S, §3.1.3 (not with MSI-X) */
#define NVME_REG_INTMC 0x10u            /* Interrupt Mask Clear, RW1C, §3.1.4 */
#define NVME_REG_CC 0x14u               /* Controller Configuration, §3.1.5 */
#define   NVME_CC_EN (1u << 0)          /* enable */
#define   NVME_CC_CSS_SHIFT 4           /* 6:4 I/O command set selected (0: NVM) */
#define   NVME_CC_CSS_NVM 0u
#define   NVME_CC_MPS_SHIFT 7           /* 10:7 memory page size 2^(12+MPS) */
#define   NVME_CC_AMS_SHIFT 11          /* 13:11 arbitration: 0 RR, 1 WRR+urgent, 7 VS */
#define   NVME_CC_SHN_SHIFT 14          /* 15:14 shutdown notification */
#define   NVME_CC_SHN_MASK (3u << 14)
#define   NVME_CC_SHN_NORMAL (1u << 14)
#define   NVME_CC_SHN_ABRUPT (2u << 14)
#define   NVME_CC_IOSQES_SHIFT 16       /* 19:16 I/O SQ entry size 2^n (6: 64 B) */
#define   NVME_CC_IOCQES_SHIFT 20       /* 23:20 I/O CQ entry size 2^n (4: 16 B) */
#define   NVME_CC_RSVD 0xFF00000Eu      /* 31:24 and 3:1 reserved */
#define NVME_REG_CSTS 0x1Cu             /* Controller Status, §3.1.6 */
#define   NVME_CSTS_RDY (1u << 0)       /* ready */
#define   NVME_CSTS_CFS (1u << 1)       /* controller fatal status */
#define   NVME_CSTS_SHST_SHIFT 2        /* 3:2 shutdown status */
#define   NVME_CSTS_SHST_MASK (3u << 2)
#define   NVME_CSTS_SHST_NORMAL (0u << 2)   /* no shutdown requested */
#define   NVME_CSTS_SHST_OCCURRING (1u << 2)
#define   NVME_CSTS_SHST_DONE (2u << 2)     /* shutdown processing complete */
#define   NVME_CSTS_NSSRO (1u << 4)     /* NVM subsystem reset occurred, RW1C */
#define   NVME_CSTS_PP (1u << 5)        /* processing paused */
#define NVME_REG_NSSR 0x20u             /* NVM Subsystem Reset, §3.1.7 */
#define   NVME_NSSR_VALUE 0x4E564D65u   /* "NVMe": writing it starts the reset */
#define NVME_REG_AQA 0x24u              /* Admin Queue Attributes, §3.1.8 */
#define   NVME_AQA_ASQS_MASK 0xFFFu     /* 11:0 admin SQ size, 0-based */
#define   NVME_AQA_ACQS_SHIFT 16        /* 27:16 admin CQ size, 0-based */
#define NVME_REG_ASQ 0x28u              /* Admin SQ Base Address, 64-bit, 11:0 reserved, §3.1.9 */
#define NVME_REG_ACQ 0x30u              /* Admin CQ Base Address, 64-bit, 11:0 reserved, §3.1.10 */
#define NVME_REG_CMBLOC 0x38u           /* Controller Memory Buffer Location, §3.1.11 */
#define   NVME_CMBLOC_BIR_MASK 0x7u     /* 2:0 BAR indicator */
#define   NVME_CMBLOC_OFST_SHIFT 12     /* 31:12 offset in CMBSZ.SZU units */
#define NVME_REG_CMBSZ 0x3Cu            /* Controller Memory Buffer Size, §3.1.12 */
#define   NVME_CMBSZ_SQS (1u << 0)      /* submission queues may live in the CMB */
#define   NVME_CMBSZ_CQS (1u << 1)
#define   NVME_CMBSZ_SZU_SHIFT 8        /* 11:8 size unit 4 KiB * 16^SZU */
#define   NVME_CMBSZ_SZ_SHIFT 12        /* 31:12 size in SZU units */
#define NVME_REG_DBS 0x1000u            /* doorbells start here, §3.1.24 / §3.1.25 */
/* Doorbell offsets for queue y, dstrd = CAP.DSTRD: SQ y Tail Doorbell and CQ y Head
 * Doorbell, each a 32-bit register (15:0 the new tail/head). */
#define NVME_SQ_TDBL(y, dstrd) (NVME_REG_DBS + (2u * (uint32_t)(y)) * (4u << (dstrd)))
#define NVME_CQ_HDBL(y, dstrd) (NVME_REG_DBS + (2u * (uint32_t)(y) + 1u) * (4u << (dstrd)))

/* CAP field extractors (§3.1.1). */
static inline uint32_t nvme_cap_mqes(uint64_t cap) { return (uint32_t)(cap & NVME_CAP_MQES_MASK); }
static inline uint32_t nvme_cap_to(uint64_t cap) { return (uint32_t)((cap >> NVME_CAP_TO_SHIFT) & NVME_CAP_TO_MASK); }
static inline uint32_t nvme_cap_dstrd(uint64_t cap) { return (uint32_t)((cap >> NVME_CAP_DSTRD_SHIFT) & NVME_CAP_DSTRD_MASK); }
static inline uint32_t nvme_cap_css(uint64_t cap) { return (uint32_t)((cap >> NVME_CAP_CSS_SHIFT) & NVME_CAP_CSS_MASK); }
static inline uint32_t nvme_cap_mpsmin(uint64_t cap) { return (uint32_t)((cap >> NVME_CAP_MPSMIN_SHIFT) & NVME_CAP_MPS_MASK); }
static inline uint32_t nvme_cap_mpsmax(uint64_t cap) { return (uint32_t)((cap >> NVME_CAP_MPSMAX_SHIFT) & NVME_CAP_MPS_MASK); }

/* Memory page size in bytes for an MPS value (CC.MPS, CAP.MPSMIN/MPSMAX): §3.1.5. */
#define NVME_MPS_BYTES(mps) (4096ull << (mps))

/* ---- Submission Queue Entry, §4.2 (64 bytes) ------------------------------------- */

struct nvme_sqe {
	uint8_t opc;                    /* CDW0 7:0 opcode */
	uint8_t flags;                  /* CDW0 15:8: FUSE 9:8, PSDT 15:14 (bits 1:0, 7:6 here) */
	uint16_t cid;                   /* CDW0 31:16 command identifier */
	uint32_t nsid;                  /* CDW1 namespace (0xFFFFFFFF: every namespace) */
	uint32_t cdw2, cdw3;
	uint64_t mptr;                  /* CDW4-5 metadata pointer */
	uint64_t prp1, prp2;            /* CDW6-9 data pointer (PRP entries 1 and 2) */
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};
_Static_assert(sizeof(struct nvme_sqe) == 64, "NVMe 1.4 §4.2: SQE is 64 bytes");
_Static_assert(offsetof(struct nvme_sqe, prp1) == 24, "NVMe 1.4 §4.2: DPTR at CDW6");
_Static_assert(offsetof(struct nvme_sqe, cdw10) == 40, "NVMe 1.4 §4.2: CDW10");

#define NVME_SQE_FUSE_MASK 0x03u        /* in flags: 0 normal, 1 first fused, 2 second */
#define NVME_SQE_PSDT_MASK 0xC0u        /* in flags: 0 PRPs, 1/2 SGLs */
#define NVME_NSID_ALL 0xFFFFFFFFu       /* broadcast namespace ID, §6.1 */
#define NVME_SQES_LOG2 6u               /* 64-byte SQE: the value for CC.IOSQES */

/* ---- Completion Queue Entry, §4.6 (16 bytes) ------------------------------------- */

struct nvme_cqe {
	uint32_t dw0;                   /* command specific */
	uint32_t rsvd1;
	uint16_t sq_head;               /* DW2 15:0 SQ head pointer */
	uint16_t sq_id;                 /* DW2 31:16 SQ identifier */
	uint16_t cid;                   /* DW3 15:0 command identifier */
	uint16_t status;                /* DW3 31:16: phase tag and Status Field, §4.6.1 */
};
_Static_assert(sizeof(struct nvme_cqe) == 16, "NVMe 1.4 §4.6: CQE is 16 bytes");
_Static_assert(offsetof(struct nvme_cqe, status) == 14, "NVMe 1.4 §4.6: status in DW3 31:16");

#define NVME_CQES_LOG2 4u               /* 16-byte CQE: the value for CC.IOCQES */

/* The 16-bit status half of DW3 (bit n here is DW3 bit 16+n), §4.6.1. */
#define NVME_STATUS_P 0x0001u           /* phase tag; 1 on the first pass through the queue */
#define NVME_STATUS_SC_SHIFT 1          /* 8:1 status code */
#define NVME_STATUS_SC_MASK (0xFFu << 1)
#define NVME_STATUS_SCT_SHIFT 9         /* 11:9 status code type */
#define NVME_STATUS_SCT_MASK (0x7u << 9)
#define NVME_STATUS_CRD_SHIFT 12        /* 13:12 command retry delay */
#define NVME_STATUS_M 0x4000u           /* more: a log page holds more */
#define NVME_STATUS_DNR 0x8000u         /* do not retry */

static inline uint32_t nvme_status_sc(uint16_t st) { return (st & NVME_STATUS_SC_MASK) >> NVME_STATUS_SC_SHIFT; }
static inline uint32_t nvme_status_sct(uint16_t st) { return (st & NVME_STATUS_SCT_MASK) >> NVME_STATUS_SCT_SHIFT; }

/* Status Code Type, §4.6.1.1. */
#define NVME_SCT_GENERIC 0u
#define NVME_SCT_CMD_SPECIFIC 1u
#define NVME_SCT_MEDIA 2u               /* media and data integrity errors */
#define NVME_SCT_PATH 3u                /* path related */
#define NVME_SCT_VENDOR 7u

/* Generic command status (SCT 0), §4.6.1.2.1. */
#define NVME_SC_SUCCESS 0x00u
#define NVME_SC_INVALID_OPCODE 0x01u
#define NVME_SC_INVALID_FIELD 0x02u
#define NVME_SC_CID_CONFLICT 0x03u
#define NVME_SC_DATA_XFER_ERROR 0x04u
#define NVME_SC_ABORTED_POWER_LOSS 0x05u
#define NVME_SC_INTERNAL 0x06u
#define NVME_SC_ABORT_REQUESTED 0x07u   /* aborted by an Abort command */
#define NVME_SC_ABORTED_SQ_DELETION 0x08u
#define NVME_SC_ABORTED_FUSE_FAIL 0x09u
#define NVME_SC_ABORTED_FUSE_MISSING 0x0Au
#define NVME_SC_INVALID_NS 0x0Bu        /* invalid namespace or format */
#define NVME_SC_CMD_SEQ_ERROR 0x0Cu
#define NVME_SC_SGL_INVALID_LAST 0x0Du
#define NVME_SC_SGL_INVALID_COUNT 0x0Eu
#define NVME_SC_SGL_INVALID_DATA 0x0Fu
#define NVME_SC_SGL_INVALID_METADATA 0x10u
#define NVME_SC_SGL_INVALID_TYPE 0x11u
#define NVME_SC_CMB_INVALID_USE 0x12u
#define NVME_SC_PRP_OFFSET_INVALID 0x13u
#define NVME_SC_ATOMIC_WU_EXCEEDED 0x14u
#define NVME_SC_OPERATION_DENIED 0x15u
#define NVME_SC_SGL_INVALID_OFFSET 0x16u
#define NVME_SC_NS_WRITE_PROTECTED 0x20u
#define NVME_SC_CMD_INTERRUPTED 0x21u
/* Generic status, NVM command set (SCT 0), §4.6.1.2.1. */
#define NVME_SC_LBA_RANGE 0x80u         /* LBA out of range */
#define NVME_SC_CAP_EXCEEDED 0x81u      /* capacity exceeded */
#define NVME_SC_NS_NOT_READY 0x82u
#define NVME_SC_RESERVATION_CONFLICT 0x83u
#define NVME_SC_FORMAT_IN_PROGRESS 0x84u

/* Command specific status (SCT 1), §4.6.1.2.2. */
#define NVME_SC_CQ_INVALID 0x00u        /* Create I/O SQ: completion queue invalid */
#define NVME_SC_QID_INVALID 0x01u       /* invalid queue identifier */
#define NVME_SC_QUEUE_SIZE 0x02u        /* invalid queue size */
#define NVME_SC_ABORT_LIMIT 0x03u       /* abort command limit exceeded */
#define NVME_SC_AER_LIMIT 0x05u         /* asynchronous event request limit exceeded */
#define NVME_SC_INVALID_VECTOR 0x08u    /* invalid interrupt vector */
#define NVME_SC_INVALID_LOG_PAGE 0x09u
#define NVME_SC_INVALID_FORMAT 0x0Au
#define NVME_SC_INVALID_QUEUE_DELETION 0x0Cu    /* Delete I/O CQ with SQs still on it */
#define NVME_SC_FEAT_NOT_SAVEABLE 0x0Du
#define NVME_SC_FEAT_NOT_CHANGEABLE 0x0Eu
#define NVME_SC_FEAT_NOT_PER_NS 0x0Fu
#define NVME_SC_ATTRIBUTES_CONFLICT 0x80u       /* NVM: conflicting attributes (DSM) */
#define NVME_SC_INVALID_PI 0x81u                /* NVM: invalid protection information */
#define NVME_SC_WRITE_TO_RO 0x82u               /* NVM: write to read-only range */

/* Media and data integrity errors (SCT 2), §4.6.1.2.3. */
#define NVME_SC_WRITE_FAULT 0x80u
#define NVME_SC_UNRECOVERED_READ 0x81u
#define NVME_SC_COMPARE_FAILED 0x85u
#define NVME_SC_ACCESS_DENIED 0x86u
#define NVME_SC_DEALLOCATED 0x87u       /* deallocated or unwritten logical block */

/* ---- Admin command set, §5 -------------------------------------------------------- */

#define NVME_ADM_DELETE_SQ 0x00u        /* Delete I/O Submission Queue, §5.6 */
#define NVME_ADM_CREATE_SQ 0x01u        /* Create I/O Submission Queue, §5.4 */
#define NVME_ADM_GET_LOG_PAGE 0x02u     /* §5.14 */
#define NVME_ADM_DELETE_CQ 0x04u        /* Delete I/O Completion Queue, §5.5 */
#define NVME_ADM_CREATE_CQ 0x05u        /* Create I/O Completion Queue, §5.3 */
#define NVME_ADM_IDENTIFY 0x06u         /* §5.15 */
#define NVME_ADM_ABORT 0x08u            /* §5.1 */
#define NVME_ADM_SET_FEATURES 0x09u     /* §5.21 */
#define NVME_ADM_GET_FEATURES 0x0Au     /* §5.13 */
#define NVME_ADM_ASYNC_EVENT 0x0Cu      /* Asynchronous Event Request, §5.2 */
#define NVME_ADM_KEEP_ALIVE 0x18u       /* §5.16 */
#define NVME_ADM_DBBUF_CONFIG 0x7Cu     /* Doorbell Buffer Config, §5.10 */
#define NVME_ADM_FORMAT_NVM 0x80u       /* §5.23 */

/* Create I/O Completion Queue, §5.3; Create I/O Submission Queue, §5.4. */
#define NVME_CDW10_QID_MASK 0xFFFFu     /* CDW10 15:0 queue identifier */
#define NVME_CDW10_QSIZE_SHIFT 16       /* CDW10 31:16 queue size, 0-based */
#define NVME_CREATE_CQ_PC (1u << 0)     /* CDW11: physically contiguous */
#define NVME_CREATE_CQ_IEN (1u << 1)    /* CDW11: interrupts enabled */
#define NVME_CREATE_CQ_IV_SHIFT 16      /* CDW11 31:16 interrupt vector (MSI-X entry) */
#define NVME_CREATE_SQ_PC (1u << 0)     /* CDW11: physically contiguous */
#define NVME_CREATE_SQ_QPRIO_SHIFT 1    /* CDW11 2:1 priority (weighted round robin) */
#define NVME_CREATE_SQ_CQID_SHIFT 16    /* CDW11 31:16 the completion queue it posts to */

/* Abort, §5.1: CDW10 15:0 SQID, 31:16 CID; DW0 bit 0 clear when it was aborted. */
#define NVME_ABORT_SQID_MASK 0xFFFFu
#define NVME_ABORT_CID_SHIFT 16
#define NVME_ABORT_NOT_ABORTED (1u << 0)

/* Identify, §5.15: CDW10 7:0 CNS, 31:16 CNTID; the data is 4096 bytes. */
#define NVME_IDENTIFY_CNS_MASK 0xFFu
#define NVME_IDENTIFY_CNTID_SHIFT 16
#define NVME_IDENTIFY_BYTES 4096u
#define NVME_CNS_NS 0x00u               /* Identify Namespace, §5.15.2.1 */
#define NVME_CNS_CTRL 0x01u             /* Identify Controller, §5.15.2.2 */
#define NVME_CNS_NS_LIST 0x02u          /* active namespace ID list, §5.15.2.3 */
#define NVME_CNS_NS_DESC_LIST 0x03u     /* namespace identification descriptors, §5.15.2.4 */
#define NVME_CNS_NVMSET_LIST 0x04u      /* NVM set list */
#define NVME_CNS_NS_ALLOC_LIST 0x10u    /* allocated namespace ID list */
#define NVME_CNS_NS_ALLOC 0x11u         /* Identify Namespace of an allocated NSID */
#define NVME_CNS_CTRL_NS_LIST 0x12u     /* controllers attached to NSID */
#define NVME_CNS_CTRL_LIST 0x13u        /* controllers in the subsystem */

/* Get Features (§5.13) and Set Features (§5.21): CDW10 7:0 FID; Set 31 SV (save);
 * Get 10:8 SEL (0 current, 1 default, 2 saved, 3 supported capabilities). */
#define NVME_FEAT_FID_MASK 0xFFu
#define NVME_SET_FEAT_SV (1u << 31)
#define NVME_GET_FEAT_SEL_SHIFT 8
/* Feature identifiers, §5.21.1. */
#define NVME_FEAT_ARBITRATION 0x01u     /* §5.21.1.1 */
#define NVME_FEAT_POWER_MGMT 0x02u      /* §5.21.1.2 */
#define NVME_FEAT_LBA_RANGE 0x03u       /* §5.21.1.3 */
#define NVME_FEAT_TEMP_THRESH 0x04u     /* §5.21.1.4 */
#define NVME_FEAT_ERR_RECOVERY 0x05u    /* §5.21.1.5 */
#define NVME_FEAT_VOLATILE_WC 0x06u     /* §5.21.1.6: CDW11 bit 0 WCE */
#define   NVME_FEAT_VWC_WCE (1u << 0)
#define NVME_FEAT_NUM_QUEUES 0x07u      /* §5.21.1.7 */
/* Number of Queues: CDW11 15:0 NSQR, 31:16 NCQR requested; DW0 of the completion
 * 15:0 NSQA, 31:16 NCQA allocated; all 0-based, 0xFFFF invalid in a request. */
#define   NVME_NUMQ_SQ_MASK 0xFFFFu
#define   NVME_NUMQ_CQ_SHIFT 16
#define NVME_FEAT_IRQ_COALESCE 0x08u    /* §5.21.1.8: CDW11 7:0 THR (0-based), 15:8 TIME (100 us) */
#define   NVME_IRQ_COALESCE_THR_MASK 0xFFu
#define   NVME_IRQ_COALESCE_TIME_SHIFT 8
#define NVME_FEAT_IRQ_CONFIG 0x09u      /* §5.21.1.9: CDW11 15:0 IV, bit 16 CD (coalescing disable) */
#define   NVME_IRQ_CONFIG_CD (1u << 16)
#define NVME_FEAT_WRITE_ATOMIC 0x0Au    /* §5.21.1.10 */
#define NVME_FEAT_ASYNC_EVENT 0x0Bu     /* §5.21.1.11 */
#define NVME_FEAT_AUTO_PST 0x0Cu        /* §5.21.1.12 */
#define NVME_FEAT_HOST_MEM_BUF 0x0Du    /* §5.21.1.13 */
#define NVME_FEAT_TIMESTAMP 0x0Eu       /* §5.21.1.14 */
#define NVME_FEAT_KATO 0x0Fu            /* keep alive timer, §5.21.1.15 */

/* Get Log Page, §5.14: CDW10 7:0 LID, 31:16 NUMDL (dwords, 0-based). */
#define NVME_LOG_LID_MASK 0xFFu
#define NVME_LOG_NUMDL_SHIFT 16
#define NVME_LOG_ERROR 0x01u            /* error information */
#define NVME_LOG_SMART 0x02u            /* SMART / health information */
#define NVME_LOG_FW_SLOT 0x03u

/* ---- Identify Controller data structure, §5.15.2.2 (CNS 01h, 4096 bytes) ---------- */

struct nvme_id_ctrl {
	uint16_t vid;                   /* 0: PCI vendor ID */
	uint16_t ssvid;                 /* 2: PCI subsystem vendor ID */
	char sn[20];                    /* 4: serial number, ASCII, space padded */
	char mn[40];                    /* 24: model number */
	char fr[8];                     /* 64: firmware revision */
	uint8_t rab;                    /* 72: recommended arbitration burst */
	uint8_t ieee[3];                /* 73: IEEE OUI */
	uint8_t cmic;                   /* 76: multi-path I/O and namespace sharing */
	uint8_t mdts;                   /* 77: max data transfer 2^n * CAP.MPSMIN pages, 0 none */
	uint16_t cntlid;                /* 78: controller ID */
	uint32_t ver;                   /* 80: version, as VS */
	uint32_t rtd3r, rtd3e;          /* 84: RTD3 resume / entry latency, us */
	uint32_t oaes;                  /* 92: optional asynchronous events supported */
	uint32_t ctratt;                /* 96: controller attributes */
	uint8_t rsvd100[156];           /* 100..255: RRLS, CNTRLTYPE, FGUID, CRDT1-3, MI */
	uint16_t oacs;                  /* 256: optional admin command support */
	uint8_t acl;                    /* 258: abort command limit, 0-based */
	uint8_t aerl;                   /* 259: async event request limit, 0-based */
	uint8_t frmw, lpa, elpe, npss, avscc, apsta;    /* 260..265 */
	uint8_t rsvd266[246];           /* 266..511: WCTEMP ... PELS and reserved */
	uint8_t sqes;                   /* 512: 3:0 required, 7:4 max SQ entry size, log2 */
	uint8_t cqes;                   /* 513: likewise for CQ entries */
	uint16_t maxcmd;                /* 514: max outstanding commands (fabrics) */
	uint32_t nn;                    /* 516: number of namespaces (highest NSID) */
	uint16_t oncs;                  /* 520: optional NVM command support */
	uint16_t fuses;                 /* 522: fused operations */
	uint8_t fna;                    /* 524: format NVM attributes */
	uint8_t vwc;                    /* 525: volatile write cache */
	uint16_t awun, awupf;           /* 526, 528: atomic write unit (normal, power fail) */
	uint8_t nvscc, nwpc;            /* 530, 531 */
	uint16_t acwu;                  /* 532: atomic compare & write unit */
	uint8_t rsvd534[2];
	uint32_t sgls;                  /* 536: SGL support */
	uint32_t mnan;                  /* 540: maximum number of allowed namespaces */
	uint8_t rsvd544[224];           /* 544..767 */
	char subnqn[256];               /* 768: NVM subsystem NQN */
	uint8_t rsvd1024[1024];         /* 1024..2047: reserved, fabrics */
	uint8_t psd[32][32];            /* 2048: power state descriptors 0..31 */
	uint8_t vs[1024];               /* 3072: vendor specific */
};
_Static_assert(sizeof(struct nvme_id_ctrl) == 4096, "NVMe 1.4 §5.15.2.2: 4096 bytes");
_Static_assert(offsetof(struct nvme_id_ctrl, mdts) == 77, "NVMe 1.4 §5.15.2.2: MDTS");
_Static_assert(offsetof(struct nvme_id_ctrl, ver) == 80, "NVMe 1.4 §5.15.2.2: VER");
_Static_assert(offsetof(struct nvme_id_ctrl, oacs) == 256, "NVMe 1.4 §5.15.2.2: OACS");
_Static_assert(offsetof(struct nvme_id_ctrl, sqes) == 512, "NVMe 1.4 §5.15.2.2: SQES");
_Static_assert(offsetof(struct nvme_id_ctrl, nn) == 516, "NVMe 1.4 §5.15.2.2: NN");
_Static_assert(offsetof(struct nvme_id_ctrl, oncs) == 520, "NVMe 1.4 §5.15.2.2: ONCS");
_Static_assert(offsetof(struct nvme_id_ctrl, vwc) == 525, "NVMe 1.4 §5.15.2.2: VWC");
_Static_assert(offsetof(struct nvme_id_ctrl, sgls) == 536, "NVMe 1.4 §5.15.2.2: SGLS");
_Static_assert(offsetof(struct nvme_id_ctrl, subnqn) == 768, "NVMe 1.4 §5.15.2.2: SUBNQN");
_Static_assert(offsetof(struct nvme_id_ctrl, psd) == 2048, "NVMe 1.4 §5.15.2.2: PSD0");

#define NVME_OACS_SECURITY (1u << 0)    /* Security Send/Receive */
#define NVME_OACS_FORMAT (1u << 1)      /* Format NVM */
#define NVME_OACS_FW (1u << 2)          /* Firmware Commit / Image Download */
#define NVME_OACS_NS_MGMT (1u << 3)
#define NVME_OACS_SELF_TEST (1u << 4)
#define NVME_OACS_DIRECTIVES (1u << 5)
#define NVME_OACS_DBBUF (1u << 8)       /* Doorbell Buffer Config */
#define NVME_ONCS_COMPARE (1u << 0)
#define NVME_ONCS_WRITE_UNCORR (1u << 1)
#define NVME_ONCS_DSM (1u << 2)         /* Dataset Management */
#define NVME_ONCS_WRITE_ZEROES (1u << 3)
#define NVME_ONCS_SAVE_SELECT (1u << 4) /* Set Features SV, Get Features SEL */
#define NVME_ONCS_RESERVATIONS (1u << 5)
#define NVME_ONCS_TIMESTAMP (1u << 6)
#define NVME_ONCS_VERIFY (1u << 7)
#define NVME_VWC_PRESENT (1u << 0)      /* a volatile write cache: Flush matters */
#define NVME_VWC_FLUSH_BCAST_SHIFT 1    /* 2:1 Flush with NSID FFFFFFFFh: 2 no, 3 yes */
#define NVME_SGLS_SUPPORT_MASK 0x3u     /* 1:0: 0 no SGLs, 1 any alignment, 2 dword aligned */

/* ---- Identify Namespace data structure, §5.15.2.1 (CNS 00h, 4096 bytes) ----------- */

struct nvme_lbaf {                      /* LBA Format Data Structure */
	uint16_t ms;                    /* 15:0 metadata bytes per block */
	uint8_t lbads;                  /* 23:16 data size 2^n (>= 9); 0: not supported */
	uint8_t rp;                     /* 25:24 relative performance, 0 best */
};
_Static_assert(sizeof(struct nvme_lbaf) == 4, "NVMe 1.4 §5.15.2.1: LBA format is 4 bytes");

struct nvme_id_ns {
	uint64_t nsze;                  /* 0: namespace size, blocks */
	uint64_t ncap;                  /* 8: capacity, blocks */
	uint64_t nuse;                  /* 16: utilization, blocks */
	uint8_t nsfeat;                 /* 24: features */
	uint8_t nlbaf;                  /* 25: number of LBA formats, 0-based */
	uint8_t flbas;                  /* 26: formatted LBA size: 3:0 index, 4 extended */
	uint8_t mc;                     /* 27: metadata capabilities */
	uint8_t dpc;                    /* 28: end-to-end protection capabilities */
	uint8_t dps;                    /* 29: protection type settings */
	uint8_t nmic;                   /* 30: multi-path I/O and sharing */
	uint8_t rescap;                 /* 31: reservation capabilities */
	uint8_t fpi;                    /* 32: format progress indicator */
	uint8_t dlfeat;                 /* 33: deallocate logical block features */
	uint16_t nawun, nawupf, nacwu;  /* 34..39 */
	uint16_t nabsn, nabo, nabspf;   /* 40..45 */
	uint16_t noiob;                 /* 46: optimal I/O boundary, blocks */
	uint8_t nvmcap[16];             /* 48: NVM capacity, bytes */
	uint8_t rsvd64[64];             /* 64..127: NPWG ... EUI64 */
	struct nvme_lbaf lbaf[16];      /* 128: LBA formats 0..15 */
	uint8_t rsvd192[192];           /* 192..383 */
	uint8_t vs[3712];               /* 384: vendor specific */
};
_Static_assert(sizeof(struct nvme_id_ns) == 4096, "NVMe 1.4 §5.15.2.1: 4096 bytes");
_Static_assert(offsetof(struct nvme_id_ns, nsfeat) == 24, "NVMe 1.4 §5.15.2.1: NSFEAT");
_Static_assert(offsetof(struct nvme_id_ns, flbas) == 26, "NVMe 1.4 §5.15.2.1: FLBAS");
_Static_assert(offsetof(struct nvme_id_ns, dlfeat) == 33, "NVMe 1.4 §5.15.2.1: DLFEAT");
_Static_assert(offsetof(struct nvme_id_ns, lbaf) == 128, "NVMe 1.4 §5.15.2.1: LBAF0");

#define NVME_NSFEAT_THINP (1u << 0)     /* thin provisioning: NCAP may be < NSZE */
#define NVME_NSFEAT_DAE (1u << 2)       /* deallocated/unwritten block error supported */
#define NVME_FLBAS_INDEX_MASK 0x0Fu     /* the LBA format in use */
#define NVME_FLBAS_EXTENDED (1u << 4)   /* metadata at the end of each block */
#define NVME_DLFEAT_READ_MASK 0x7u      /* 2:0 reads of deallocated blocks: 1 zeroes, 2 ones */
#define NVME_DLFEAT_WZ_DEAC (1u << 3)   /* Write Zeroes DEAC bit supported */

/* ---- NVM command set, §6 ----------------------------------------------------------- */

#define NVME_CMD_FLUSH 0x00u            /* §6.7 */
#define NVME_CMD_WRITE 0x01u            /* §6.14 */
#define NVME_CMD_READ 0x02u             /* §6.8 */
#define NVME_CMD_WRITE_UNCORR 0x04u     /* §6.15 */
#define NVME_CMD_COMPARE 0x05u          /* §6.5 */
#define NVME_CMD_WRITE_ZEROES 0x08u     /* §6.16 */
#define NVME_CMD_DSM 0x09u              /* Dataset Management, §6.6 */
#define NVME_CMD_VERIFY 0x0Cu           /* §6.13 */

/* Read, Write, Write Zeroes: CDW10-11 SLBA (64-bit starting block); CDW12: */
#define NVME_RW_NLB_MASK 0xFFFFu        /* 15:0 number of blocks, 0-based */
#define NVME_RW_DEAC (1u << 25)         /* Write Zeroes: deallocate */
#define NVME_RW_PRINFO_SHIFT 26         /* 29:26 protection information action/check */
#define NVME_RW_FUA (1u << 30)          /* force unit access */
#define NVME_RW_LR (1u << 31)           /* limited retry */

/* Dataset Management: CDW10 7:0 NR (ranges, 0-based, up to 256); CDW11 attributes. */
#define NVME_DSM_NR_MASK 0xFFu
#define NVME_DSM_MAX_RANGES 256u
#define NVME_DSM_IDR (1u << 0)          /* integral dataset for read */
#define NVME_DSM_IDW (1u << 1)          /* integral dataset for write */
#define NVME_DSM_AD (1u << 2)           /* attribute deallocate */

struct nvme_dsm_range {                 /* one range of the DSM data buffer */
	uint32_t cattr;                 /* context attributes */
	uint32_t nlb;                   /* length in logical blocks (1-based) */
	uint64_t slba;                  /* starting LBA */
};
_Static_assert(sizeof(struct nvme_dsm_range) == 16, "NVMe 1.4 §6.6: DSM range is 16 bytes");

/* ---- Physical Region Page entries and lists, §4.3 ------------------------------------
 * The page size is CC.MPS's (NVME_MPS_BYTES). An entry is a 64-bit address with bits
 * 1:0 clear (dword aligned). Only PRP1 may have a non-zero offset inside its page;
 * every later entry starts at a page boundary. A transfer within PRP1's page uses
 * PRP1 alone; one that reaches exactly one more page puts that page in PRP2; one
 * that needs more makes PRP2 point to a PRP list: a page of entries whose last
 * entry, when more follow, points to the next list page instead of data. */
#define NVME_PRP_ENTRY_RSVD 0x3ull      /* bits 1:0 of every entry are zero */
#define NVME_PRP_ENTRY_BYTES 8u

#endif /* DOPPEL_HW_DEV_NVME_H */
