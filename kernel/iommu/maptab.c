/*
 * maptab.c — the live-mapping table of an IOMMU domain and the argument checks the
 * VT-d and identity implementations share, so both refuse exactly the same calls
 * (kernel/include/kernel/iommu.h: alignment, zero length, width, overlap, partial
 * unmap). A sorted array searched by bisection.
 */
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/string.h>
#include "iommu_priv.h"

/* First index whose mapping ends above iova. */
static unsigned lower_bound(const struct maptab *t, uint64_t iova)
{
	unsigned lo = 0, hi = t->n;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (t->v[mid].iova + t->v[mid].len <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int maptab_overlap(const struct maptab *t, uint64_t iova, uint64_t len)
{
	unsigned i = lower_bound(t, iova);
	if (i < t->n && t->v[i].iova < iova + len)
		return (int)i;
	return -1;
}

int maptab_insert(struct maptab *t, uint64_t iova, uint64_t len, uint64_t pa, unsigned prot)
{
	if (t->n == t->cap) {
		unsigned cap = t->cap ? t->cap * 2 : 16;
		struct iommu_map *v = kmalloc(cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		if (t->n)
			memcpy(v, t->v, t->n * sizeof *v);
		kfree(t->v);
		t->v = v;
		t->cap = cap;
	}
	unsigned i = lower_bound(t, iova);
	memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof *t->v);
	t->v[i] = (struct iommu_map){ .iova = iova, .len = len, .pa = pa, .prot = prot, .reserved = false };
	t->n++;
	return 0;
}

int maptab_find_exact(const struct maptab *t, uint64_t iova, uint64_t len)
{
	int i = maptab_overlap(t, iova, len);
	if (i < 0)
		return -ENOENT;
	if (t->v[i].iova != iova || t->v[i].len != len)
		return -EINVAL;
	return i;
}

void maptab_remove(struct maptab *t, unsigned idx)
{
	memmove(&t->v[idx], &t->v[idx + 1], (t->n - idx - 1) * sizeof *t->v);
	t->n--;
}

void maptab_free(struct maptab *t)
{
	kfree(t->v);
	t->v = 0;
	t->n = t->cap = 0;
}

int iommu_map_check(const struct maptab *t, unsigned addr_bits, unsigned pa_bits, uint64_t iova,
		    uint64_t pa, size_t len, unsigned prot)
{
	uint64_t top = addr_bits >= 64 ? ~0ull : (1ull << addr_bits);
	uint64_t ptop = pa_bits >= 64 ? ~0ull : (1ull << pa_bits);
	if (!len || (iova | pa | len) & (IOMMU_PAGE - 1))
		return -EINVAL;
	if (!prot || (prot & ~(IOMMU_READ | IOMMU_WRITE)))
		return -EINVAL;
	if (iova >= top || len > top - iova || pa >= ptop || len > ptop - pa)
		return -EINVAL;
	if (maptab_overlap(t, iova, len) >= 0)
		return -EEXIST;
	return 0;
}

int iommu_unmap_check(const struct maptab *t, unsigned addr_bits, uint64_t iova, size_t len, int *idx)
{
	uint64_t top = addr_bits >= 64 ? ~0ull : (1ull << addr_bits);
	if (!len || (iova | len) & (IOMMU_PAGE - 1) || iova >= top || len > top - iova)
		return -EINVAL;
	int i = maptab_find_exact(t, iova, len);
	if (i < 0)
		return i;
	*idx = i;
	return 0;
}
