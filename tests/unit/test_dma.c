/*
 * test_dma.c — CMocka tests of the DMA layer (kernel/dma/dma.c, swiotlb.c;
 * docs/dma.md) over the fake HAL's memory, with a fake IOMMU and page allocator:
 * - the layer asks the IOMMU ops what they can do (IOMMU_CAP_TRANSLATE), never
 *   their name: a translating implementation with another name still gets a
 *   domain and policy iommu, one named "vtd" without the capability gets none;
 * - bounce slots lie below each device's own DMA mask (32, 28 and 24 bits), with
 *   a page allocator that hands out the highest pages it may.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kernel/dma.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/iommu.h>
#include <kernel/pmm.h>
#include "fake_hal.h"

#define MEM (512ull << 20)          /* fake physical memory: 0..512 MiB */

/* ---- fake heap and page allocator ---------------------------------------------------- */

void *kmalloc(size_t size) { return size ? malloc(size) : NULL; }
void *kzalloc(size_t size) { return size ? calloc(1, size) : NULL; }
void kfree(void *p) { free(p); }

#define MAX_RUNS 64
static struct { uint64_t pa, n; } runs[MAX_RUNS];
static unsigned nruns;

static int overlaps(uint64_t pa, uint64_t n)
{
	for (unsigned i = 0; i < nruns; i++)
		if (runs[i].n && pa < runs[i].pa + runs[i].n * PAGE_SIZE && runs[i].pa < pa + n * PAGE_SIZE)
			return 1;
	return 0;
}

/* The highest free run below hi: the worst placement a real allocator may pick. */
uint64_t pmm_alloc_pages_in(size_t n, size_t align_pages, uint64_t lo, uint64_t hi)
{
	(void)align_pages;
	if (hi > MEM)
		hi = MEM;
	for (uint64_t pa = hi - n * PAGE_SIZE; pa >= lo && pa < hi; pa -= PAGE_SIZE)
		if (!overlaps(pa, n)) {
			assert_true(nruns < MAX_RUNS);
			runs[nruns].pa = pa;
			runs[nruns++].n = n;
			return pa;
		}
	return 0;
}

uint64_t pmm_alloc_pages(size_t n, size_t align_pages)
{
	return pmm_alloc_pages_in(n, align_pages, PAGE_SIZE, MEM);
}

int pmm_free_pages(uint64_t pa, size_t n)
{
	for (unsigned i = 0; i < nruns; i++)
		if (runs[i].pa == pa && runs[i].n == n) {
			runs[i].n = 0;
			return 0;
		}
	return -EINVAL;
}

/* ---- fake IOMMU -------------------------------------------------------------------------- */

struct iommu_domain { int id; };
static unsigned domains_made, maps_made;

static struct iommu_domain *f_domain_alloc(void)
{
	domains_made++;
	return calloc(1, sizeof(struct iommu_domain));
}
static int f_domain_free(struct iommu_domain *dom) { free(dom); return 0; }
static int f_attach(struct iommu_domain *dom, struct pci_dev *d) { (void)dom; (void)d; return 0; }
static int f_detach(struct iommu_domain *dom, struct pci_dev *d) { (void)dom; (void)d; return 0; }
static int f_map(struct iommu_domain *dom, uint64_t iova, uint64_t pa, size_t len, unsigned prot)
{
	(void)dom; (void)iova; (void)pa; (void)len; (void)prot;
	maps_made++;
	return 0;
}
static int f_unmap(struct iommu_domain *dom, uint64_t iova, size_t len) { (void)dom; (void)iova; (void)len; return 0; }
static int f_translate(struct iommu_domain *dom, uint64_t iova, uint64_t *pa, unsigned *prot)
{
	(void)dom; (void)iova; (void)pa; (void)prot;
	return -ENOENT;
}

/* Remaps, under a name the DMA layer has never heard of. */
static const struct iommu_ops remap_ops = {
	.name = "remapper", .caps = IOMMU_CAP_TRANSLATE,
	.domain_alloc = f_domain_alloc, .domain_free = f_domain_free, .attach = f_attach,
	.detach = f_detach, .map = f_map, .unmap = f_unmap, .translate = f_translate,
};
/* Named like the real VT-d, but says it does not translate. */
static const struct iommu_ops passthrough_ops = {
	.name = "vtd", .caps = 0,
	.domain_alloc = f_domain_alloc, .domain_free = f_domain_free, .attach = f_attach,
	.detach = f_detach, .map = f_map, .unmap = f_unmap, .translate = f_translate,
};
const struct iommu_ops iommu_identity_ops = {
	.name = "identity", .caps = 0,
	.domain_alloc = f_domain_alloc, .domain_free = f_domain_free, .attach = f_attach,
	.detach = f_detach, .map = f_map, .unmap = f_unmap, .translate = f_translate,
};
static const struct iommu_ops *cur_ops = &iommu_identity_ops;

const struct iommu_ops *iommu_ops_for(const struct pci_dev *d) { (void)d; return cur_ops; }
bool iommu_translates(const struct pci_dev *d) { return (iommu_ops_for(d)->caps & IOMMU_CAP_TRANSLATE) != 0; }
unsigned iommu_domain_addr_bits(const struct iommu_domain *dom) { return dom ? 39 : 0; }
int iommu_reserved_region(const struct pci_dev *d, unsigned n, uint64_t *base, uint64_t *limit)
{
	(void)d; (void)n; (void)base; (void)limit;
	return -ENOENT;
}

/* ---- tests ------------------------------------------------------------------------------- */

static int setup(void **state)
{
	(void)state;
	fake_hal_mem_reset(MEM);
	return 0;
}

static struct pci_dev dev = { .addr = { .bus = 0, .dev = 3, .fn = 0 } };

static void test_translation_is_a_capability_not_a_name(void **state)
{
	(void)state;
	struct dma_params p = { .mask = (1ull << 32) - 1 };
	cur_ops = &remap_ops;
	unsigned before = domains_made;
	struct dma_dev *dd = dma_dev_attach(&dev, &p);
	assert_non_null(dd);
	assert_int_equal(dma_dev_policy(dd), DMA_POLICY_IOMMU);
	assert_int_equal(domains_made, before + 1);
	uint8_t *buf = (uint8_t *)hal_phys_to_virt(0x300000);
	unsigned maps = maps_made;
	dma_addr_t b = dma_map_single(dd, buf, 512, DMA_TO_DEVICE);
	assert_false(dma_mapping_error(dd, b));
	assert_true(maps_made > maps);              /* through the IOMMU's map op */
	dma_unmap_single(dd, b, 512, DMA_TO_DEVICE);
	assert_int_equal(dma_dev_release(dd), 0);

	cur_ops = &passthrough_ops;
	before = domains_made;
	dd = dma_dev_attach(&dev, &p);
	assert_non_null(dd);
	assert_int_equal(dma_dev_policy(dd), DMA_POLICY_DIRECT);
	assert_int_equal(domains_made, before);     /* no domain: nothing to attach */
	assert_int_equal(dma_dev_release(dd), 0);
	cur_ops = &iommu_identity_ops;
}

static void test_bounce_below_each_devices_mask(void **state)
{
	(void)state;
	static const uint64_t masks[] = { (1ull << 32) - 1, (1ull << 28) - 1, (1ull << 24) - 1 };
	uint8_t *buf = (uint8_t *)hal_phys_to_virt(0x200000);
	for (unsigned i = 0; i < 3; i++) {
		struct dma_params p = { .mask = masks[i] };
		struct dma_dev *dd = dma_dev_attach_policy(&dev, &p, DMA_POLICY_BOUNCE);
		assert_non_null(dd);
		assert_int_equal(dma_dev_policy(dd), DMA_POLICY_BOUNCE);
		memset(buf, 0x40 + (int)i, 3000);
		dma_addr_t b = dma_map_single(dd, buf, 3000, DMA_TO_DEVICE);
		assert_false(dma_mapping_error(dd, b));
		assert_true(b + 3000 - 1 <= masks[i]);
		assert_true(b != 0x200000);             /* bounced, not the buffer itself */
		const uint8_t *slot = hal_phys_to_virt(b);
		assert_non_null(slot);
		assert_int_equal(slot[0], 0x40 + i);
		assert_int_equal(slot[2999], 0x40 + i);
		dma_unmap_single(dd, b, 3000, DMA_TO_DEVICE);
		assert_int_equal(dma_dev_release(dd), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_translation_is_a_capability_not_a_name, setup),
		cmocka_unit_test_setup(test_bounce_below_each_devices_mask, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
