/*
 * nvme_ident.c — Identify Controller (NVMe 1.4 §5.15.2.2) and Identify Namespace
 * (§5.15.2.1) data parsed into what the driver keeps, PURE (the fuzz target and
 * unit tests call it): strings trimmed and made printable, MDTS, ONCS, VWC, NN,
 * and a namespace's format checked for what this driver can use.
 */
#include <drivers/nvme.h>
#include <kernel/errno.h>
#include <kernel/string.h>

/* Copy a space-padded ASCII field: trailing spaces and NULs dropped, anything
 * not printable shown as '?'. */
static void copy_field(char *dst, const char *src, size_t n)
{
	size_t len = n;
	while (len && (src[len - 1] == ' ' || src[len - 1] == '\0'))
		len--;
	for (size_t i = 0; i < len; i++) {
		char ch = src[i];
		dst[i] = (ch >= 0x20 && ch < 0x7F) ? ch : '?';
	}
	dst[len] = '\0';
}

uint64_t nvme_mdts_bytes(uint8_t mdts, uint32_t mpsmin)
{
	if (mdts == 0)
		return 0;
	/* past a terabyte: as good as no limit (MPSMIN is 4 bits; a larger value
	 * from a bad CAP must not wrap the sum into a small limit) */
	if (mpsmin >= 40u || mdts + 12u + mpsmin >= 40u)
		return 0;
	return 1ull << (mdts + 12u + mpsmin);
}

int nvme_id_ctrl_parse(const void *data, size_t len, struct nvme_id_info *out, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	*why = 0;
	memset(out, 0, sizeof *out);
	if (!data || len < sizeof(struct nvme_id_ctrl)) {
		*why = "Identify Controller data shorter than 4096 bytes";
		return -EINVAL;
	}
	const struct nvme_id_ctrl *id = data;
	copy_field(out->sn, id->sn, sizeof id->sn);
	copy_field(out->mn, id->mn, sizeof id->mn);
	copy_field(out->fr, id->fr, sizeof id->fr);
	out->mdts = id->mdts;
	out->oncs = id->oncs;
	out->vwc = id->vwc;
	out->nn = id->nn;
	out->rtd3e_us = id->rtd3e;
	out->acl = id->acl;
	out->vid = id->vid;
	out->ver = id->ver;
	/* SQES/CQES 3:0 are the required (minimum) sizes: 64/16-byte entries must be
	 * allowed, as every NVM controller must (§5.15.2.2). */
	if ((id->sqes & 0xFu) > NVME_SQES_LOG2 || (id->sqes >> 4) < NVME_SQES_LOG2) {
		*why = "SQES does not allow 64-byte submission entries";
		return -EINVAL;
	}
	if ((id->cqes & 0xFu) > NVME_CQES_LOG2 || (id->cqes >> 4) < NVME_CQES_LOG2) {
		*why = "CQES does not allow 16-byte completion entries";
		return -EINVAL;
	}
	return 0;
}

int nvme_id_ns_parse(const void *data, size_t len, struct nvme_ns_info *out, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	*why = 0;
	memset(out, 0, sizeof *out);
	if (!data || len < sizeof(struct nvme_id_ns)) {
		*why = "Identify Namespace data shorter than 4096 bytes";
		return -EINVAL;
	}
	const struct nvme_id_ns *id = data;
	out->nsze = id->nsze;
	out->ncap = id->ncap;
	out->dlfeat = id->dlfeat;
	out->flbas_index = id->flbas & NVME_FLBAS_INDEX_MASK;
	/* First: an inactive NSID's data is zero filled (§5.15), formats included;
	 * that is a namespace to skip, not bad data. */
	if (out->nsze == 0) {
		*why = "NSZE is 0 (inactive namespace)";
		return -EOPNOTSUPP;
	}
	if (out->flbas_index > id->nlbaf) {
		*why = "FLBAS names an LBA format beyond NLBAF";
		return -EINVAL;
	}
	const struct nvme_lbaf *f = &id->lbaf[out->flbas_index];
	out->ms = f->ms;
	if (f->lbads < 9 || f->lbads > 31) {
		*why = "LBA format with a data size below 512 bytes or unsupported";
		return -EINVAL;
	}
	out->block_size = 1u << f->lbads;
	if (out->ncap > out->nsze) {
		*why = "NCAP larger than NSZE";
		return -EINVAL;
	}
	if (out->ms) {
		*why = "LBA format with metadata";
		return -EOPNOTSUPP;
	}
	if (out->block_size != 512 && out->block_size != 4096) {
		*why = "LBA data size other than 512 or 4096 bytes";
		return -EOPNOTSUPP;
	}
	return 0;
}
