/*
 * nvme_prp.c — NVMe controller model, Physical Region Page walks (NVM Express 1.4
 * §4.3): PRP1 may start anywhere dword aligned in its page; a transfer reaching one
 * more page names it in PRP2 (offset 0); a longer one makes PRP2 a PRP list pointer
 * (qword aligned), whose entries all have offset 0 and whose last entry in a list
 * page, when more entries are needed, points to the next list page. A violated rule
 * completes with PRP Offset Invalid (or Invalid Field for a missing pointer); a DMA
 * the IOMMU blocks with Data Transfer Error (as QEMU does).
 */
#include "nvme/nvme_int.h"

#include <errno.h>
#include <string.h>

#define LIST_ENTRIES (NVME_PAGE / NVME_PRP_ENTRY_BYTES)

struct seg {
	uint64_t addr;
	uint32_t len;
};

static uint16_t bad_entry(struct nvme_ctrl *c, const char *what, uint64_t v)
{
	nvme_log(c, "PRP: %s 0x%llx has a non-zero page offset", what, (unsigned long long)v);
	return NVME_SC_PRP_OFFSET_INVALID;
}

/* Build the segment list of a len-byte transfer. */
static uint16_t prp_map(struct nvme_ctrl *c, uint64_t prp1, uint64_t prp2, uint32_t len,
			struct seg *segs, unsigned *nseg)
{
	uint32_t first = NVME_PAGE - (uint32_t)(prp1 & (NVME_PAGE - 1));
	uint32_t left;
	uint64_t list;
	unsigned n = 0;

	if (prp1 & NVME_PRP_ENTRY_RSVD) {
		nvme_log(c, "PRP: PRP1 0x%llx is not dword aligned", (unsigned long long)prp1);
		return NVME_SC_PRP_OFFSET_INVALID;
	}
	if (first > len)
		first = len;
	segs[n++] = (struct seg){ prp1, first };
	left = len - first;
	if (left == 0)
		goto done;
	if (left <= NVME_PAGE) {
		if (prp2 & (NVME_PAGE - 1))
			return bad_entry(c, "PRP2 (second page)", prp2);
		segs[n++] = (struct seg){ prp2, left };
		goto done;
	}
	/* PRP2 is a list pointer. */
	if (prp2 & 7u) {
		nvme_log(c, "PRP: list pointer 0x%llx is not qword aligned", (unsigned long long)prp2);
		return NVME_SC_PRP_OFFSET_INVALID;
	}
	list = prp2;
	while (left) {
		uint64_t ents[LIST_ENTRIES];
		unsigned idx = (unsigned)((list & (NVME_PAGE - 1)) / NVME_PRP_ENTRY_BYTES);
		unsigned slots = LIST_ENTRIES - idx;
		unsigned need = (left + NVME_PAGE - 1) / NVME_PAGE;
		bool chain = need > slots;
		unsigned take = chain ? slots : need;
		int err = nvme_dma_read(c, list, ents, take * NVME_PRP_ENTRY_BYTES);

		if (err) {
			nvme_log(c, "PRP: list at 0x%llx could not be read", (unsigned long long)list);
			return NVME_SC_DATA_XFER_ERROR;
		}
		for (unsigned i = 0; i < (chain ? take - 1 : take); i++) {
			uint32_t l = left < NVME_PAGE ? left : NVME_PAGE;

			if (ents[i] & (NVME_PAGE - 1))
				return bad_entry(c, "list entry", ents[i]);
			if (n == NVME_MAX_SEGS) {
				nvme_log(c, "PRP: more than %u segments", NVME_MAX_SEGS);
				return NVME_SC_INVALID_FIELD;
			}
			segs[n++] = (struct seg){ ents[i], l };
			left -= l;
		}
		if (chain) {
			list = ents[take - 1];
			if (list & (NVME_PAGE - 1))
				return bad_entry(c, "list chain pointer", list);
		}
	}
done:
	*nseg = n;
	return NVME_SC_SUCCESS;
}

uint16_t nvme_prp_xfer(struct nvme_ctrl *c, uint64_t prp1, uint64_t prp2, void *buf,
		       uint32_t len, bool to_host)
{
	struct seg segs[NVME_MAX_SEGS];
	unsigned nseg = 0;
	uint8_t *p = buf;
	uint16_t st;

	if (len == 0)
		return NVME_SC_SUCCESS;
	st = prp_map(c, prp1, prp2, len, segs, &nseg);
	if (st)
		return st;
	for (unsigned i = 0; i < nseg; i++) {
		int err = to_host ? nvme_dma_write(c, segs[i].addr, p, segs[i].len)
				  : nvme_dma_read(c, segs[i].addr, p, segs[i].len);

		if (err)
			return NVME_SC_DATA_XFER_ERROR;
		p += segs[i].len;
	}
	return NVME_SC_SUCCESS;
}
