/*
 * identity.c — the IOMMU ops for devices no remapping unit translates: bus address
 * equals physical address, but every call is checked as strictly as VT-d's
 * (alignment, length, width, overlaps against a table of live mappings, -ENOENT for
 * unmapping what was never mapped), so a driver bug shows without VT-d too.
 */
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/log.h>
#include "iommu_priv.h"

/* Protects every identity domain's table. Taken alone (no other lock inside). */
static struct spinlock id_lock = SPINLOCK_INIT("iommu.identity");

static struct iommu_domain *id_domain_alloc(void)
{
	struct iommu_domain *dom = kzalloc(sizeof *dom);
	if (!dom)
		return 0;
	dom->ops = &iommu_identity_ops;
	dom->addr_bits = iommu_pa_bits();
	return dom;
}

static int id_domain_free(struct iommu_domain *dom)
{
	if (!dom || dom->ops != &iommu_identity_ops)
		return -EINVAL;
	spin_lock(&id_lock);
	int busy = dom->nattached || dom->maps.n;
	spin_unlock(&id_lock);
	if (busy)
		return -EBUSY;
	maptab_free(&dom->maps);
	kfree(dom);
	return 0;
}

static int id_attach(struct iommu_domain *dom, struct pci_dev *d)
{
	if (!dom || !d || dom->ops != &iommu_identity_ops)
		return -EINVAL;
	int rc = iommu_attach_record(d, dom);
	if (rc == 0) {
		spin_lock(&id_lock);
		dom->nattached++;
		spin_unlock(&id_lock);
	}
	return rc;
}

static int id_detach(struct iommu_domain *dom, struct pci_dev *d)
{
	if (!dom || !d || dom->ops != &iommu_identity_ops)
		return -EINVAL;
	int rc = iommu_attach_forget(d, dom);
	if (rc == 0) {
		spin_lock(&id_lock);
		dom->nattached--;
		spin_unlock(&id_lock);
	}
	return rc;
}

static int id_map(struct iommu_domain *dom, uint64_t iova, uint64_t pa, size_t len, unsigned prot)
{
	if (!dom || dom->ops != &iommu_identity_ops || iova != pa)
		return -EINVAL;
	spin_lock(&id_lock);
	int rc = iommu_map_check(&dom->maps, dom->addr_bits, iommu_pa_bits(), iova, pa, len, prot);
	if (rc == 0)
		rc = maptab_insert(&dom->maps, iova, len, pa, prot);
	spin_unlock(&id_lock);
	return rc;
}

static int id_unmap(struct iommu_domain *dom, uint64_t iova, size_t len)
{
	if (!dom || dom->ops != &iommu_identity_ops)
		return -EINVAL;
	int idx = -1;
	spin_lock(&id_lock);
	int rc = iommu_unmap_check(&dom->maps, dom->addr_bits, iova, len, &idx);
	if (rc == 0)
		maptab_remove(&dom->maps, (unsigned)idx);
	spin_unlock(&id_lock);
	return rc;
}

static int id_translate(struct iommu_domain *dom, uint64_t iova, uint64_t *pa, unsigned *prot)
{
	if (!dom || dom->ops != &iommu_identity_ops)
		return -EINVAL;
	spin_lock(&id_lock);
	int i = maptab_overlap(&dom->maps, iova, 1);
	if (i >= 0) {
		*pa = iova;
		*prot = dom->maps.v[i].prot;
	}
	spin_unlock(&id_lock);
	return i >= 0 ? 0 : -ENOENT;
}

const struct iommu_ops iommu_identity_ops = {
	.name = "identity",
	.caps = 0,                  /* no remapping; DMA reaches physical addresses */
	.domain_alloc = id_domain_alloc,
	.domain_free = id_domain_free,
	.attach = id_attach,
	.detach = id_detach,
	.map = id_map,
	.unmap = id_unmap,
	.translate = id_translate,
};
