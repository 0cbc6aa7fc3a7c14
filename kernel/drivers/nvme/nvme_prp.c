/*
 * nvme_prp.c — Physical Region Page entries and lists (NVMe 1.4 §4.3), PURE (no
 * HAL; host unit tests call it): from the bus segments of one command build PRP1,
 * PRP2 or a PRP list (list pages supplied by the caller; a full list page chains
 * to the next through its last entry), checking the PRP rules and MDTS first and
 * refusing input that breaks them.
 */
#include <drivers/nvme.h>
#include <kernel/errno.h>

#define PG ((uint64_t)NVME_PAGE)
#define PG_MASK (PG - 1u)

unsigned nvme_prp_list_pages(uint64_t npages)
{
	if (npages <= 2)
		return 0;
	uint64_t n = npages - 1;        /* entries after PRP1 */
	if (n <= NVME_PRP_PER_PAGE)
		return 1;
	/* p pages hold (PER_PAGE - 1) * p + 1 entries: every page but the last gives
	 * its last entry to the chain pointer. */
	return (unsigned)((n - 1 + (NVME_PRP_PER_PAGE - 1) - 1) / (NVME_PRP_PER_PAGE - 1));
}

/* Memory pages a segment touches (len > 0 and bus + len not wrapping: checked);
 * counted from the last byte, so a segment ending near 2^64 does not wrap. */
static uint64_t seg_pages(uint64_t bus, uint64_t len)
{
	return ((bus + len - 1u) >> 12) - (bus >> 12) + 1u;
}

/* Check the segments; the number of memory pages touched into *npages. */
static int prp_check(const struct nvme_prp_seg *seg, unsigned nseg, uint64_t total, uint64_t max_bytes,
		     uint64_t *npages, const char **why)
{
	uint64_t sum = 0, pages = 0;
	if (!seg || nseg == 0 || total == 0) {
		*why = "no data segments";
		return -EINVAL;
	}
	if (max_bytes && total > max_bytes) {
		*why = "transfer larger than MDTS";
		return -E2BIG;
	}
	for (unsigned i = 0; i < nseg; i++) {
		uint64_t b = seg[i].bus, l = seg[i].len;
		if (l == 0) {
			*why = "empty segment";
			return -EINVAL;
		}
		if (b & NVME_PRP_ENTRY_RSVD) {
			*why = "segment not dword aligned";
			return -EINVAL;
		}
		if (b + l < b) {
			*why = "segment wraps the bus address space";
			return -EINVAL;
		}
		if (i > 0 && (b & PG_MASK)) {
			*why = "a segment after the first does not start on a page";
			return -EINVAL;
		}
		if (i + 1 < nseg && ((b + l) & PG_MASK)) {
			*why = "a segment before the last does not end on a page";
			return -EINVAL;
		}
		sum += l;
		pages += seg_pages(b, l);
	}
	if (sum != total) {
		*why = "segment lengths do not add up to the transfer";
		return -EINVAL;
	}
	*npages = pages;
	return 0;
}

int nvme_prp_build(const struct nvme_prp_seg *seg, unsigned nseg, uint64_t total, uint64_t max_bytes,
		   struct nvme_prp_pages *pages, uint64_t *prp1, uint64_t *prp2, const char **why)
{
	const char *dummy;
	uint64_t npages;
	if (!why)
		why = &dummy;
	*why = 0;
	int rc = prp_check(seg, nseg, total, max_bytes, &npages, why);
	if (rc)
		return rc;
	unsigned need = nvme_prp_list_pages(npages);
	if (pages)
		pages->used = 0;
	if (need && (!pages || pages->n < need)) {
		*why = "not enough PRP list pages";
		return -ENOSPC;
	}
	*prp1 = seg[0].bus;
	*prp2 = 0;
	if (npages == 1)
		return 0;
	/* Walk every page after the first: seg 0's later pages, then each later
	 * segment's pages (page aligned by the check), by count, not by address. */
	uint64_t left = npages - 1;
	unsigned lp = 0, slot = 0;
	for (unsigned i = 0; i < nseg; i++) {
		uint64_t first = seg[i].bus & ~PG_MASK, cnt = seg_pages(seg[i].bus, seg[i].len);
		for (uint64_t k = i == 0 ? 1u : 0u; k < cnt; k++, left--) {
			uint64_t b = first + k * PG;
			if (npages == 2) {
				*prp2 = b;
				return 0;
			}
			if (lp == 0 && slot == 0) {
				*prp2 = pages->bus[0];
				pages->used = 1;
			}
			if (slot == NVME_PRP_PER_PAGE - 1 && left > 1) {
				/* chain: the last entry points to the next list page */
				pages->va[lp][slot] = pages->bus[lp + 1];
				lp++;
				slot = 0;
				pages->used = lp + 1;
			}
			pages->va[lp][slot++] = b;
		}
	}
	return 0;
}
