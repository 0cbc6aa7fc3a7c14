/*
 * nvme_admin.c — NVMe controller model, admin command set (NVM Express 1.4 §5):
 * Identify (§5.15: CNS 00h namespace, 01h controller, 02h active namespace list)
 * and Get/Set Features Number of Queues (§5.13, §5.21, §5.21.1.7). Every other opcode
 * completes with Invalid Command Opcode; bad fields with the status §5 names.
 */
#include "nvme/nvme_int.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define SQE_FUSE(f) ((f) & NVME_SQE_FUSE_MASK)
#define SQE_PSDT(f) (((f) & NVME_SQE_PSDT_MASK) >> 6)
#define NS_BLOCKS (NVME_MODEL_NS_BYTES >> NVME_LBA_SHIFT)

/* Space-padded, not NUL-terminated ASCII field (§1.5 "ASCII string"). */
static void ascii_field(char *dst, size_t n, const char *src)
{
	size_t l = strlen(src);

	memset(dst, ' ', n);
	memcpy(dst, src, l < n ? l : n);
}

static uint16_t identify_ctrl(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	struct nvme_id_ctrl id;
	char sn[24];

	memset(&id, 0, sizeof(id));
	id.vid = 0x1b36;
	id.ssvid = 0x1af4;
	snprintf(sn, sizeof(sn), "DOPPEL%04u", c->index);
	ascii_field(id.sn, sizeof(id.sn), sn);
	ascii_field(id.mn, sizeof(id.mn), "Doppel NVMe model");
	ascii_field(id.fr, sizeof(id.fr), "1.0");
	id.rab = 6;
	id.mdts = NVME_MDTS;
	id.cntlid = 0;
	id.ver = NVME_VS_1_4;
	id.acl = 3;                 /* 0-based: 4 concurrent Aborts (when offered) */
	id.aerl = 3;
	id.frmw = 1 << 1;           /* one firmware slot */
	id.sqes = 0x66;             /* 64-byte SQEs, min and max */
	id.cqes = 0x44;             /* 16-byte CQEs */
	id.nn = 1;
	snprintf(id.subnqn, sizeof(id.subnqn), "nqn.2023-01.org.doppel:nvme:%s", sn);
	return nvme_prp_write(c, cmd->prp1, cmd->prp2, &id, sizeof(id));
}

static uint16_t identify_ns(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	struct nvme_id_ns ns;

	if (cmd->nsid != 1) {
		nvme_log(c, "Identify Namespace of NSID 0x%x: only namespace 1 exists", cmd->nsid);
		return NVME_SC_INVALID_NS;
	}
	memset(&ns, 0, sizeof(ns));
	ns.nsze = ns.ncap = ns.nuse = NS_BLOCKS;
	ns.nlbaf = 0;               /* one LBA format, 0-based */
	ns.flbas = 0;
	ns.lbaf[0].lbads = NVME_LBA_SHIFT;
	return nvme_prp_write(c, cmd->prp1, cmd->prp2, &ns, sizeof(ns));
}

static uint16_t identify_ns_list(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	uint32_t list[1024];

	if (cmd->nsid >= 0xFFFFFFFEu) {
		nvme_log(c, "Active Namespace list after NSID 0x%x", cmd->nsid);
		return NVME_SC_INVALID_NS;
	}
	memset(list, 0, sizeof(list));
	if (cmd->nsid < 1)
		list[0] = 1;        /* namespaces with an NSID greater than CDW1.NSID */
	return nvme_prp_write(c, cmd->prp1, cmd->prp2, list, sizeof(list));
}

static uint16_t identify(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	switch (cmd->cdw10 & 0xFFu) {
	case NVME_CNS_NS: return identify_ns(c, cmd);
	case NVME_CNS_CTRL: return identify_ctrl(c, cmd);
	case NVME_CNS_NS_LIST: return identify_ns_list(c, cmd);
	}
	nvme_log(c, "Identify CNS 0x%02x not supported", cmd->cdw10 & 0xFFu);
	return NVME_SC_INVALID_FIELD;
}

/* ---- features ------------------------------------------------------------------------- */

static uint32_t nq_value(const struct nvme_ctrl *c)
{
	return (uint32_t)c->ncqa << 16 | c->nsqa;
}

static uint16_t set_features(struct nvme_ctrl *c, const struct nvme_sqe *cmd, uint32_t *dw0)
{
	uint8_t fid = cmd->cdw10 & 0xFFu;
	uint32_t nsqr = cmd->cdw11 & 0xFFFFu, ncqr = cmd->cdw11 >> 16;

	if (cmd->cdw10 >> 31) {
		nvme_log(c, "Set Features FID 0x%02x with SV: nothing is saveable", fid);
		return NVME_SC_FEAT_NOT_SAVEABLE | NVME_SCT_CMD_SPECIFIC << 8;
	}
	if (fid != NVME_FEAT_NUM_QUEUES) {
		nvme_log(c, "Set Features FID 0x%02x not supported", fid);
		return NVME_SC_INVALID_FIELD;
	}
	if (nsqr == 0xFFFFu || ncqr == 0xFFFFu) {
		nvme_log(c, "Number of Queues request 0x%x: 65535 queues is invalid", cmd->cdw11);
		return NVME_SC_INVALID_FIELD;
	}
	/* The allocation is made once and does not change until a reset (§5.21.1.7). */
	if (!c->nq_set) {
		c->nsqa = (uint16_t)(nsqr < NVME_MAX_IOQ - 1 ? nsqr : NVME_MAX_IOQ - 1);
		c->ncqa = (uint16_t)(ncqr < NVME_MAX_IOQ - 1 ? ncqr : NVME_MAX_IOQ - 1);
		c->nq_set = true;
	}
	*dw0 = nq_value(c);
	return NVME_SC_SUCCESS;
}

static uint16_t get_features(struct nvme_ctrl *c, const struct nvme_sqe *cmd, uint32_t *dw0)
{
	uint8_t fid = cmd->cdw10 & 0xFFu;
	unsigned sel = cmd->cdw10 >> 8 & 7u;

	if (fid != NVME_FEAT_NUM_QUEUES) {
		nvme_log(c, "Get Features FID 0x%02x not supported", fid);
		return NVME_SC_INVALID_FIELD;
	}
	switch (sel) {
	case 0: *dw0 = nq_value(c); break;                              /* current */
	case 1: case 2:                                                 /* default, saved */
		*dw0 = (NVME_MAX_IOQ - 1) << 16 | (NVME_MAX_IOQ - 1);
		break;
	case 3: *dw0 = 1u << 2; break;      /* capabilities: changeable, not saveable */
	default:
		nvme_log(c, "Get Features SEL %u is reserved", sel);
		return NVME_SC_INVALID_FIELD;
	}
	return NVME_SC_SUCCESS;
}

void nvme_admin_reset(struct nvme_ctrl *c)
{
	c->nq_set = false;
	c->nsqa = c->ncqa = NVME_MAX_IOQ - 1;
}

uint16_t nvme_admin_exec(struct nvme_ctrl *c, const struct nvme_sqe *cmd, uint32_t *dw0)
{
	if (SQE_FUSE(cmd->flags) || SQE_PSDT(cmd->flags)) {
		nvme_log(c, "admin command 0x%02x cid %u: FUSE/PSDT 0x%02x (PRPs, unfused only)",
			 cmd->opc, cmd->cid, cmd->flags);
		return NVME_SC_INVALID_FIELD;
	}
	switch (cmd->opc) {
	case NVME_ADM_IDENTIFY: return identify(c, cmd);
	case NVME_ADM_SET_FEATURES: return set_features(c, cmd, dw0);
	case NVME_ADM_GET_FEATURES: return get_features(c, cmd, dw0);
	}
	nvme_log(c, "admin opcode 0x%02x cid %u not supported", cmd->opc, cmd->cid);
	return NVME_SC_INVALID_OPCODE;
}
