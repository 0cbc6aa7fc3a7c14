/*
 * nvme_admin.c — NVMe controller model, admin command set (NVM Express 1.4 §5):
 * Create/Delete I/O Completion and Submission Queues (§5.3-5.6), Abort (§5.1),
 * Identify (§5.15: CNS 00h namespace, 01h controller, 02h active namespace list),
 * Get/Set Features Number of Queues and Volatile Write Cache (§5.13, §5.21).
 * Every other opcode completes with Invalid Command Opcode; bad fields with the
 * status §5 names, checked in the order QEMU 7.2's controller checks them.
 */
#include "nvme/nvme_int.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define SQE_FUSE(f) ((f) & NVME_SQE_FUSE_MASK)
#define SQE_PSDT(f) (((f) & NVME_SQE_PSDT_MASK) >> 6)
#define CMD_SPECIFIC(sc) NVME_ST(NVME_SCT_CMD_SPECIFIC, sc)

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
	id.mdts = (uint8_t)c->mdts;
	id.cntlid = 0;
	id.ver = NVME_VS_1_4;
	id.acl = 3;                 /* 0-based: 4 concurrent Aborts (when offered) */
	id.aerl = 3;
	id.frmw = 1 << 1;           /* one firmware slot */
	id.sqes = 0x66;             /* 64-byte SQEs, min and max */
	id.cqes = 0x44;             /* 16-byte CQEs */
	id.nn = c->nn;
	id.oncs = NVME_ONCS_DSM | NVME_ONCS_WRITE_ZEROES;
	id.vwc = NVME_VWC_PRESENT | 3u << NVME_VWC_FLUSH_BCAST_SHIFT;
	snprintf(id.subnqn, sizeof(id.subnqn), "nqn.2023-01.org.doppel:nvme:%s", sn);
	return nvme_prp_xfer(c, cmd->prp1, cmd->prp2, &id, sizeof(id), true);
}

static uint16_t identify_ns(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	struct nvme_id_ns ns;

	if (cmd->nsid == 0 || cmd->nsid > c->nn) {
		nvme_log(c, "Identify Namespace of NSID 0x%x: namespaces are 1..%u", cmd->nsid,
			 c->nn);
		return NVME_SC_INVALID_NS;
	}
	memset(&ns, 0, sizeof(ns));
	ns.nsze = ns.ncap = ns.nuse = c->ns[cmd->nsid - 1].blocks;
	ns.nlbaf = 0;               /* one LBA format, 0-based */
	ns.flbas = 0;
	ns.dlfeat = 1;              /* deallocated blocks read as zeros */
	ns.lbaf[0].lbads = (uint8_t)c->lbads;
	/* Test sites (docs/sim.md): a namespace the host must skip, named in its log. */
	if (c->bus->fault_site(c->bus->ctx, "nvme.ns_size0")) {
		nvme_log(c, "fault site nvme.ns_size0: namespace %u reports NSZE 0", cmd->nsid);
		ns.nsze = ns.ncap = ns.nuse = 0;
	} else if (c->bus->fault_site(c->bus->ctx, "nvme.ns_bad_lbaf")) {
		nvme_log(c, "fault site nvme.ns_bad_lbaf: namespace %u reports 8 bytes of metadata", cmd->nsid);
		ns.lbaf[0].ms = 8;
	}
	return nvme_prp_xfer(c, cmd->prp1, cmd->prp2, &ns, sizeof(ns), true);
}

static uint16_t identify_ns_list(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	uint32_t list[1024];

	if (cmd->nsid >= 0xFFFFFFFEu) {
		nvme_log(c, "Active Namespace list after NSID 0x%x", cmd->nsid);
		return NVME_SC_INVALID_NS;
	}
	memset(list, 0, sizeof(list));
	for (uint32_t id = cmd->nsid + 1, n = 0; id <= c->nn; id++)
		list[n++] = id;     /* namespaces with an NSID greater than CDW1.NSID */
	return nvme_prp_xfer(c, cmd->prp1, cmd->prp2, list, sizeof(list), true);
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
	uint32_t nsqr = cmd->cdw11 & 0xFFFFu, ncqr = cmd->cdw11 >> 16;  /* 0-based requests */

	if (cmd->cdw10 >> 31) {
		nvme_log(c, "Set Features FID 0x%02x with SV: nothing is saveable", fid);
		return CMD_SPECIFIC(NVME_SC_FEAT_NOT_SAVEABLE);
	}
	if (fid == NVME_FEAT_VOLATILE_WC) {
		c->wce = cmd->cdw11 & NVME_FEAT_VWC_WCE;
		return NVME_SC_SUCCESS;
	}
	if (fid != NVME_FEAT_NUM_QUEUES) {
		nvme_log(c, "Set Features FID 0x%02x not supported", fid);
		return NVME_SC_INVALID_FIELD;
	}
	/* Like QEMU 7.2: once an I/O queue exists the allocation cannot change
	 * (Command Sequence Error), and the allocation is the controller's maximum
	 * whatever was asked (§5.21.1.7 lets NSQA/NCQA differ from the request). */
	if (c->qs_created) {
		nvme_log(c, "Set Features Number of Queues after I/O queues were created");
		return NVME_SC_CMD_SEQ_ERROR;
	}
	if (nsqr == 0xFFFFu || ncqr == 0xFFFFu) {
		nvme_log(c, "Number of Queues request 0x%x: 65535 queues is invalid", cmd->cdw11);
		return NVME_SC_INVALID_FIELD;
	}
	c->nsqa = c->ncqa = (uint16_t)(c->queues - 1);
	*dw0 = nq_value(c);
	return NVME_SC_SUCCESS;
}

static uint16_t get_features(struct nvme_ctrl *c, const struct nvme_sqe *cmd, uint32_t *dw0)
{
	uint8_t fid = cmd->cdw10 & 0xFFu;
	unsigned sel = cmd->cdw10 >> 8 & 7u;

	if (fid == NVME_FEAT_VOLATILE_WC && sel <= 2) {
		*dw0 = sel == 0 ? c->wce : 1u;
		return NVME_SC_SUCCESS;
	}
	if (fid != NVME_FEAT_NUM_QUEUES) {
		nvme_log(c, "Get Features FID 0x%02x not supported", fid);
		return NVME_SC_INVALID_FIELD;
	}
	switch (sel) {
	case 0: *dw0 = nq_value(c); break;                              /* current */
	case 1: case 2:                                                 /* default, saved */
		*dw0 = (c->queues - 1) << 16 | (c->queues - 1);
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
	c->qs_created = false;
	c->nsqa = c->ncqa = (uint16_t)(c->queues - 1);
	c->wce = true;
}

/* ---- I/O queues (§5.3-5.6) ---------------------------------------------------------- */

static uint16_t create_cq(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	uint16_t qid = cmd->cdw10 & NVME_CDW10_QID_MASK;
	uint32_t qsize = cmd->cdw10 >> NVME_CDW10_QSIZE_SHIFT;     /* 0-based */
	uint16_t iv = (uint16_t)(cmd->cdw11 >> NVME_CREATE_CQ_IV_SHIFT);

	if (qid == 0 || qid > c->ncqa + 1u || c->cq[qid].valid) {
		nvme_log(c, "Create I/O CQ %u: %s", qid, qid == 0 ? "queue 0 is the admin CQ" :
			 c->cq[qid % NVME_NQ].valid && qid <= c->ncqa + 1u ? "already exists" :
			 "beyond the queues allocated");
		return CMD_SPECIFIC(NVME_SC_QID_INVALID);
	}
	if (qsize == 0 || qsize > NVME_MQES) {
		nvme_log(c, "Create I/O CQ %u: size %u (0-based) outside 1..%u", qid, qsize,
			 NVME_MQES);
		return CMD_SPECIFIC(NVME_SC_QUEUE_SIZE);
	}
	if (cmd->prp1 & (NVME_PAGE - 1)) {
		nvme_log(c, "Create I/O CQ %u: base 0x%llx is not page aligned", qid,
			 (unsigned long long)cmd->prp1);
		return NVME_SC_PRP_OFFSET_INVALID;
	}
	if (!pci_model_msix_enabled(c->fn) && iv != 0) {
		nvme_log(c, "Create I/O CQ %u: vector %u without MSI-X (only 0)", qid, iv);
		return CMD_SPECIFIC(NVME_SC_INVALID_VECTOR);
	}
	if (iv >= NVME_MSIX_VECTORS) {
		nvme_log(c, "Create I/O CQ %u: vector %u beyond the MSI-X table (%u entries)", qid,
			 iv, NVME_MSIX_VECTORS);
		return CMD_SPECIFIC(NVME_SC_INVALID_VECTOR);
	}
	if (!(cmd->cdw11 & NVME_CREATE_CQ_PC)) {
		nvme_log(c, "Create I/O CQ %u: PC=0, but CAP.CQR requires contiguous queues", qid);
		return NVME_SC_INVALID_FIELD;
	}
	c->qs_created = true;
	c->cq[qid] = (struct nvme_cq){
		.valid = true, .ien = cmd->cdw11 & NVME_CREATE_CQ_IEN, .base = cmd->prp1,
		.size = (uint16_t)(qsize + 1u), .iv = iv, .phase = true,
	};
	return NVME_SC_SUCCESS;
}

static uint16_t create_sq(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	uint16_t qid = cmd->cdw10 & NVME_CDW10_QID_MASK;
	uint32_t qsize = cmd->cdw10 >> NVME_CDW10_QSIZE_SHIFT;
	uint16_t cqid = (uint16_t)(cmd->cdw11 >> NVME_CREATE_SQ_CQID_SHIFT);

	if (cqid == 0 || cqid >= NVME_NQ || !c->cq[cqid].valid) {
		nvme_log(c, "Create I/O SQ %u: completion queue %u does not exist", qid, cqid);
		return CMD_SPECIFIC(NVME_SC_CQ_INVALID);
	}
	if (qid == 0 || qid > c->nsqa + 1u || c->sq[qid].valid) {
		nvme_log(c, "Create I/O SQ %u: %s", qid, qid == 0 ? "queue 0 is the admin SQ" :
			 c->sq[qid % NVME_NQ].valid && qid <= c->nsqa + 1u ? "already exists" :
			 "beyond the queues allocated");
		return CMD_SPECIFIC(NVME_SC_QID_INVALID);
	}
	if (qsize == 0 || qsize > NVME_MQES) {
		nvme_log(c, "Create I/O SQ %u: size %u (0-based) outside 1..%u", qid, qsize,
			 NVME_MQES);
		return CMD_SPECIFIC(NVME_SC_QUEUE_SIZE);
	}
	if (cmd->prp1 & (NVME_PAGE - 1)) {
		nvme_log(c, "Create I/O SQ %u: base 0x%llx is not page aligned", qid,
			 (unsigned long long)cmd->prp1);
		return NVME_SC_PRP_OFFSET_INVALID;
	}
	if (!(cmd->cdw11 & NVME_CREATE_SQ_PC)) {
		nvme_log(c, "Create I/O SQ %u: PC=0, but CAP.CQR requires contiguous queues", qid);
		return NVME_SC_INVALID_FIELD;
	}
	c->qs_created = true;
	c->sq[qid] = (struct nvme_sq){
		.valid = true, .base = cmd->prp1, .size = (uint16_t)(qsize + 1u), .cqid = cqid,
	};
	return NVME_SC_SUCCESS;
}

static uint16_t delete_sq(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	uint16_t qid = cmd->cdw10 & NVME_CDW10_QID_MASK;

	if (qid == 0 || qid >= NVME_NQ || !c->sq[qid].valid) {
		nvme_log(c, "Delete I/O SQ %u: no such I/O queue", qid);
		return CMD_SPECIFIC(NVME_SC_QID_INVALID);
	}
	nvme_sq_drop(c, qid);
	c->sq[qid] = (struct nvme_sq){ 0 };
	return NVME_SC_SUCCESS;
}

static uint16_t delete_cq(struct nvme_ctrl *c, const struct nvme_sqe *cmd)
{
	uint16_t qid = cmd->cdw10 & NVME_CDW10_QID_MASK;

	if (qid == 0 || qid >= NVME_NQ || !c->cq[qid].valid) {
		nvme_log(c, "Delete I/O CQ %u: no such I/O queue", qid);
		return CMD_SPECIFIC(NVME_SC_QID_INVALID);
	}
	for (unsigned q = 1; q < NVME_NQ; q++)
		if (c->sq[q].valid && c->sq[q].cqid == qid) {
			nvme_log(c, "Delete I/O CQ %u: SQ %u still posts to it", qid, q);
			return CMD_SPECIFIC(NVME_SC_INVALID_QUEUE_DELETION);
		}
	c->cq[qid] = (struct nvme_cq){ 0 };
	return NVME_SC_SUCCESS;
}

/* Abort (§5.1): DW0 bit 0 clear when the command was aborted. */
static uint16_t abort_cmd(struct nvme_ctrl *c, const struct nvme_sqe *cmd, uint32_t *dw0)
{
	uint16_t sqid = cmd->cdw10 & NVME_ABORT_SQID_MASK;
	uint16_t cid = (uint16_t)(cmd->cdw10 >> NVME_ABORT_CID_SHIFT);

	*dw0 = NVME_ABORT_NOT_ABORTED;
	if (sqid >= NVME_NQ || !c->sq[sqid].valid) {
		/* QEMU 7.2 answers Invalid Field for an SQ that does not exist. */
		nvme_log(c, "Abort of cid %u on SQ %u: no such submission queue", cid, sqid);
		return NVME_SC_INVALID_FIELD;
	}
	if (nvme_abort(c, sqid, cid))
		*dw0 = 0;
	return NVME_SC_SUCCESS;
}

uint16_t nvme_admin_exec(struct nvme_ctrl *c, const struct nvme_sqe *cmd, uint32_t *dw0)
{
	if (SQE_FUSE(cmd->flags) || SQE_PSDT(cmd->flags)) {
		nvme_log(c, "admin command 0x%02x cid %u: FUSE/PSDT 0x%02x (PRPs, unfused only)",
			 cmd->opc, cmd->cid, cmd->flags);
		return NVME_SC_INVALID_FIELD;
	}
	switch (cmd->opc) {
	case NVME_ADM_DELETE_SQ: return delete_sq(c, cmd);
	case NVME_ADM_CREATE_SQ: return create_sq(c, cmd);
	case NVME_ADM_DELETE_CQ: return delete_cq(c, cmd);
	case NVME_ADM_CREATE_CQ: return create_cq(c, cmd);
	case NVME_ADM_ABORT: return abort_cmd(c, cmd, dw0);
	case NVME_ADM_IDENTIFY: return identify(c, cmd);
	case NVME_ADM_SET_FEATURES: return set_features(c, cmd, dw0);
	case NVME_ADM_GET_FEATURES: return get_features(c, cmd, dw0);
	}
	nvme_log(c, "admin opcode 0x%02x cid %u not supported", cmd->opc, cmd->cid);
	return NVME_SC_INVALID_OPCODE;
}
