/*
 * nvme_io.c — NVMe controller model, NVM command set (NVM Express 1.4 §6): Read
 * (§6.8), Write (§6.14), Flush (§6.7), Write Zeroes (§6.16), Dataset Management
 * with Deallocate (§6.6; deallocated blocks read as zeros, Identify DLFEAT = 1).
 * Checks in QEMU 7.2's order: namespace (Invalid Namespace or Format), transfer
 * size against MDTS (Invalid Field), LBA range (LBA Out of Range), then the PRPs.
 */
#include "nvme/nvme_int.h"

#include <string.h>

#define SQE_FUSE(f) ((f) & NVME_SQE_FUSE_MASK)
#define SQE_PSDT(f) (((f) & NVME_SQE_PSDT_MASK) >> 6)

static uint16_t check_range(struct nvme_ctrl *c, const struct nvme_ns *ns, uint64_t slba,
			    uint64_t nlb, uint16_t cid)
{
	if (slba >= ns->blocks || nlb > ns->blocks - slba) {
		nvme_log(c, "cid %u: LBA %llu + %llu blocks beyond the namespace (%llu blocks)",
			 cid, (unsigned long long)slba, (unsigned long long)nlb,
			 (unsigned long long)ns->blocks);
		return NVME_SC_LBA_RANGE;
	}
	return NVME_SC_SUCCESS;
}

static uint16_t rw(struct nvme_ctrl *c, const struct nvme_ns *ns, const struct nvme_sqe *cmd,
		   bool write)
{
	uint64_t slba = (uint64_t)cmd->cdw11 << 32 | cmd->cdw10;
	uint64_t nlb = (cmd->cdw12 & NVME_RW_NLB_MASK) + 1u;
	uint64_t len = nlb << c->lbads;
	uint64_t off = ns->off + (slba << c->lbads);
	uint16_t st;

	if (len > ((uint64_t)NVME_PAGE << c->mdts)) {
		nvme_log(c, "cid %u: %s of %llu bytes exceeds MDTS (%u bytes)", cmd->cid,
			 write ? "Write" : "Read", (unsigned long long)len, NVME_PAGE << c->mdts);
		return NVME_SC_INVALID_FIELD;
	}
	st = check_range(c, ns, slba, nlb, cmd->cid);
	if (st)
		return st;
	if (write) {
		st = nvme_prp_xfer(c, cmd->prp1, cmd->prp2, c->buf, (uint32_t)len, false);
		if (st)
			return st;
		if (model_store_write(&c->store, off, c->buf, len)) {
			nvme_log(c, "cid %u: backing store write failed", cmd->cid);
			return NVME_ST(NVME_SCT_MEDIA, NVME_SC_WRITE_FAULT);
		}
		c->st.writes++;
		c->st.bytes_written += len;
		return NVME_SC_SUCCESS;
	}
	if (model_store_read(&c->store, off, c->buf, len)) {
		nvme_log(c, "cid %u: backing store read failed", cmd->cid);
		return NVME_ST(NVME_SCT_MEDIA, NVME_SC_UNRECOVERED_READ);
	}
	st = nvme_prp_xfer(c, cmd->prp1, cmd->prp2, c->buf, (uint32_t)len, true);
	if (st)
		return st;
	c->st.reads++;
	c->st.bytes_read += len;
	return NVME_SC_SUCCESS;
}

static uint16_t write_zeroes(struct nvme_ctrl *c, const struct nvme_ns *ns,
			     const struct nvme_sqe *cmd)
{
	uint64_t slba = (uint64_t)cmd->cdw11 << 32 | cmd->cdw10;
	uint64_t nlb = (cmd->cdw12 & NVME_RW_NLB_MASK) + 1u;
	uint16_t st = check_range(c, ns, slba, nlb, cmd->cid);

	if (st)
		return st;
	if (model_store_write(&c->store, ns->off + (slba << c->lbads), NULL, nlb << c->lbads))
		return NVME_ST(NVME_SCT_MEDIA, NVME_SC_WRITE_FAULT);
	return NVME_SC_SUCCESS;
}

static uint16_t dsm(struct nvme_ctrl *c, const struct nvme_ns *ns, const struct nvme_sqe *cmd)
{
	struct nvme_dsm_range r[NVME_DSM_MAX_RANGES];
	unsigned nr = (cmd->cdw10 & NVME_DSM_NR_MASK) + 1u;
	uint16_t st;

	st = nvme_prp_xfer(c, cmd->prp1, cmd->prp2, r, nr * (uint32_t)sizeof(r[0]), false);
	if (st)
		return st;
	if (!(cmd->cdw11 & NVME_DSM_AD))
		return NVME_SC_SUCCESS;     /* attributes are hints: nothing to do */
	for (unsigned i = 0; i < nr; i++) {
		st = check_range(c, ns, r[i].slba, r[i].nlb, cmd->cid);
		if (st)
			return st;
	}
	for (unsigned i = 0; i < nr; i++)
		if (r[i].nlb && model_store_write(&c->store, ns->off + (r[i].slba << c->lbads), NULL,
						 (uint64_t)r[i].nlb << c->lbads))
			return NVME_ST(NVME_SCT_MEDIA, NVME_SC_WRITE_FAULT);
	return NVME_SC_SUCCESS;
}

uint16_t nvme_io_exec(struct nvme_ctrl *c, uint16_t sqid, const struct nvme_sqe *cmd)
{
	const struct nvme_ns *ns;

	(void)sqid;
	if (SQE_FUSE(cmd->flags) || SQE_PSDT(cmd->flags)) {
		nvme_log(c, "I/O command 0x%02x cid %u: FUSE/PSDT 0x%02x (PRPs, unfused only)",
			 cmd->opc, cmd->cid, cmd->flags);
		return NVME_SC_INVALID_FIELD;
	}
	switch (cmd->opc) {
	case NVME_CMD_FLUSH: case NVME_CMD_WRITE: case NVME_CMD_READ:
	case NVME_CMD_WRITE_ZEROES: case NVME_CMD_DSM:
		break;
	default:
		nvme_log(c, "I/O opcode 0x%02x cid %u not supported", cmd->opc, cmd->cid);
		return NVME_SC_INVALID_OPCODE;
	}
	if (cmd->opc == NVME_CMD_FLUSH && cmd->nsid == NVME_NSID_ALL)
		return model_store_sync(&c->store) ? NVME_ST(NVME_SCT_MEDIA, NVME_SC_WRITE_FAULT) : 0;
	if (cmd->nsid == 0 || cmd->nsid > c->nn) {
		nvme_log(c, "I/O command 0x%02x cid %u: NSID 0x%x is not an active namespace",
			 cmd->opc, cmd->cid, cmd->nsid);
		return NVME_SC_INVALID_NS;
	}
	ns = &c->ns[cmd->nsid - 1];
	switch (cmd->opc) {
	case NVME_CMD_FLUSH:
		return model_store_sync(&c->store) ? NVME_ST(NVME_SCT_MEDIA, NVME_SC_WRITE_FAULT) : 0;
	case NVME_CMD_WRITE: return rw(c, ns, cmd, true);
	case NVME_CMD_READ: return rw(c, ns, cmd, false);
	case NVME_CMD_WRITE_ZEROES: return write_zeroes(c, ns, cmd);
	default: return dsm(c, ns, cmd);
	}
}
