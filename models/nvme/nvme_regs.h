/*
 * nvme_regs.h — NVM Express 1.4 definitions the controller model needs: the
 * controller registers (§3.1), the submission and completion queue entries (§4.2,
 * §4.6), status codes (§4.6.1.2), admin opcodes (§5), Identify data (§5.15.2) and
 * Number of Queues (§5.21.1.7). The model's own copy, apart from the driver's.
 */
#ifndef DOPPEL_MODELS_NVME_REGS_H
#define DOPPEL_MODELS_NVME_REGS_H
#include <stdint.h>

#define NVME_REG_CAP 0x00u          /* Controller Capabilities, 64-bit, RO, §3.1.1 */
#define   NVME_CAP_MQES_SHIFT 0     /* maximum queue entries supported, 0-based */
#define   NVME_CAP_CQR (1ull << 16) /* contiguous queues required */
#define   NVME_CAP_TO_SHIFT 24      /* timeout, 500 ms units */
#define   NVME_CAP_DSTRD_SHIFT 32   /* doorbell stride 2^(2+DSTRD) */
#define   NVME_CAP_CSS_NVM (1ull << 37) /* NVM command set supported */
#define   NVME_CAP_MPSMIN_SHIFT 48  /* minimum page size 2^(12+MPSMIN) */
#define   NVME_CAP_MPSMAX_SHIFT 52
#define NVME_REG_VS 0x08u           /* Version, RO, §3.1.2 */
#define   NVME_VS_1_4 0x00010400u
#define NVME_REG_INTMS 0x0Cu        /* Interrupt Mask Set, RW1S, §3.1.3 */
#define NVME_REG_INTMC 0x10u        /* Interrupt Mask Clear, RW1C, §3.1.4 */
#define NVME_REG_CC 0x14u           /* Controller Configuration, §3.1.5 */
#define   NVME_CC_EN (1u << 0)
#define   NVME_CC_CSS_SHIFT 4       /* I/O command set selected, 3 bits */
#define   NVME_CC_MPS_SHIFT 7       /* memory page size 2^(12+MPS), 4 bits */
#define   NVME_CC_AMS_SHIFT 11      /* arbitration mechanism, 3 bits */
#define   NVME_CC_SHN_SHIFT 14      /* shutdown notification, 2 bits */
#define   NVME_CC_IOSQES_SHIFT 16   /* I/O SQ entry size 2^n, 4 bits */
#define   NVME_CC_IOCQES_SHIFT 20
#define   NVME_CC_RSVD 0xFF00000Eu  /* reserved bits */
#define NVME_REG_CSTS 0x1Cu         /* Controller Status, §3.1.6 */
#define   NVME_CSTS_RDY (1u << 0)
#define   NVME_CSTS_CFS (1u << 1)   /* controller fatal status */
#define   NVME_CSTS_SHST_SHIFT 2    /* 0 normal, 1 occurring, 2 complete */
#define   NVME_CSTS_SHST_DONE (2u << 2)
#define NVME_REG_NSSR 0x20u         /* NVM Subsystem Reset (not supported: CAP.NSSRS 0) */
#define NVME_REG_AQA 0x24u          /* Admin Queue Attributes, §3.1.8 */
#define   NVME_AQA_ASQS_MASK 0xFFFu /* admin SQ size, 0-based, bits 11:0 */
#define   NVME_AQA_ACQS_SHIFT 16    /* admin CQ size, 0-based, bits 27:16 */
#define NVME_REG_ASQ 0x28u          /* Admin SQ Base Address, 64-bit, bits 11:0 reserved */
#define NVME_REG_ACQ 0x30u          /* Admin CQ Base Address, 64-bit */
#define NVME_REG_DBS 0x1000u        /* doorbells: SQ y tail at DBS + 2y*stride, CQ y head +1 */

/* Submission Queue Entry, §4.2 (64 bytes). */
struct nvme_sqe {
	uint8_t opc;
	uint8_t flags;              /* bits 1:0 FUSE, bits 7:6 PSDT */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2, cdw3;
	uint64_t mptr;
	uint64_t prp1, prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};
_Static_assert(sizeof(struct nvme_sqe) == 64, "NVMe 1.4 §4.2: SQE is 64 bytes");

/* Completion Queue Entry, §4.6 (16 bytes). */
struct nvme_cqe {
	uint32_t dw0;
	uint32_t rsvd1;
	uint16_t sq_head, sq_id;
	uint16_t cid;
	uint16_t status;            /* bit 0 phase tag, 8:1 SC, 11:9 SCT, 15 DNR */
};
_Static_assert(sizeof(struct nvme_cqe) == 16, "NVMe 1.4 §4.6: CQE is 16 bytes");

#define NVME_STATUS_P 0x0001u
#define NVME_STATUS_DNR 0x8000u
/* Generic command status (SCT 0), §4.6.1.2.1. */
#define NVME_SC_SUCCESS 0x00u
#define NVME_SC_INVALID_OPCODE 0x01u
#define NVME_SC_INVALID_FIELD 0x02u
#define NVME_SC_DATA_XFER_ERROR 0x04u
#define NVME_SC_INVALID_NS 0x0Bu
#define NVME_SC_FEAT_NOT_SAVEABLE 0x0Du /* command specific (SCT 1), §5.21 */
#define NVME_SC_PRP_OFFSET_INVALID 0x13u
#define NVME_SCT_CMD_SPECIFIC 1u

/* Admin opcodes, §5 Figure 139. */
#define NVME_ADM_IDENTIFY 0x06u
#define NVME_ADM_SET_FEATURES 0x09u
#define NVME_ADM_GET_FEATURES 0x0Au
#define NVME_CNS_NS 0x00u           /* Identify Namespace, §5.15.2.1 */
#define NVME_CNS_CTRL 0x01u         /* Identify Controller, §5.15.2.2 */
#define NVME_CNS_NS_LIST 0x02u      /* Active Namespace ID list, §5.15.2.3 */
#define NVME_FEAT_NUM_QUEUES 0x07u  /* §5.21.1.7 */

/* Identify Controller data structure, §5.15.2.2 (the fields the model fills). */
struct nvme_id_ctrl {
	uint16_t vid, ssvid;
	char sn[20], mn[40], fr[8];
	uint8_t rab, ieee[3], cmic, mdts;
	uint16_t cntlid;
	uint32_t ver;
	uint8_t rsvd84[172];        /* 84..255: RTD3R ... FGUID and reserved */
	uint16_t oacs;
	uint8_t acl, aerl, frmw, lpa, elpe, npss, avscc, apsta;
	uint8_t rsvd266[246];       /* 266..511 */
	uint8_t sqes, cqes;
	uint16_t maxcmd;
	uint32_t nn;
	uint16_t oncs, fuses;
	uint8_t fna, vwc;
	uint8_t rsvd526[242];       /* 526..767: AWUN ... SGLS and reserved */
	char subnqn[256];
	uint8_t rsvd1024[1024];
	uint8_t psd[32][32];        /* power state descriptors */
	uint8_t vs[1024];
};
_Static_assert(sizeof(struct nvme_id_ctrl) == 4096, "NVMe 1.4 §5.15.2.2: 4096 bytes");

struct nvme_lbaf {
	uint16_t ms;
	uint8_t lbads;              /* LBA data size 2^n */
	uint8_t rp;
};
_Static_assert(sizeof(struct nvme_lbaf) == 4, "NVMe 1.4 Figure 249: LBA format");

/* Identify Namespace data structure, §5.15.2.1. */
struct nvme_id_ns {
	uint64_t nsze, ncap, nuse;
	uint8_t nsfeat, nlbaf, flbas, mc, dpc, dps, nmic, rescap;
	uint8_t rsvd32[96];         /* 32..127 */
	struct nvme_lbaf lbaf[16];
	uint8_t rsvd192[3904];
};
_Static_assert(sizeof(struct nvme_id_ns) == 4096, "NVMe 1.4 §5.15.2.1: 4096 bytes");

#endif /* DOPPEL_MODELS_NVME_REGS_H */
