/*
 * dma_ktest.c — the `dma` ktest suite (docs/dma.md "Tests"), both builds: data
 * round-trips exactly through QEMU's edu device (memory -> device buffer ->
 * memory) under each policy — iommu (when VT-d translates for edu), bounce,
 * direct — for to-device, from-device, bidirectional, partial device writes with
 * syncs, coherent buffers, scatter-gather split at max_seg; bouncing of buffers the
 * 28-bit mask cannot reach; the ledger's leak report; refused mappings counted;
 * several CPUs mapping, unmapping and doing DMA on one device at once.
 */
#include <drivers/edu.h>
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/cmdline.h>
#include <kernel/dma.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/iommu.h>
#include <kernel/ktest.h>
#include <kernel/log.h>
#include <kernel/pci.h>
#include <kernel/pmm.h>
#include <kernel/printf.h>
#include <kernel/smp.h>
#include <kernel/string.h>
#include "dma_internal.h"

#define EDU_XFER_MAX (EDU_BUF_SIZE - 1)     /* the longest transfer edu_dma takes */

/* ---- helpers --------------------------------------------------------------------------- */

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
}

/* First differing byte of p against the pattern (seed), or -1. */
static long check(const uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		if (p[i] != (uint8_t)(x >> 16))
			return (long)i;
	}
	return -1;
}

static long check_byte(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return (long)i;
	return -1;
}

#define EXPECT_PATTERN(t, p, n, seed)                                                   \
	do { long _at = check(p, n, seed);                                                  \
	     if (_at >= 0) ktest_fail_at(t, __FILE__, __LINE__, "%s: byte %ld of %zu differs", \
	                                 #p, _at, (size_t)(n)); } while (0)
#define EXPECT_BYTES(t, p, n, v)                                                        \
	do { long _at = check_byte(p, n, v);                                                \
	     if (_at >= 0) ktest_fail_at(t, __FILE__, __LINE__, "%s: byte %ld of %zu is 0x%x, want 0x%x", \
	                                 #p, _at, (size_t)(n), (p)[_at], (unsigned)(v)); } while (0)

/* Test memory: whole pages from the page allocator (the sim can translate them). */
static uint8_t *pages(size_t n)
{
	uint64_t pa = pmm_alloc_pages(n, 1);
	return pa ? hal_phys_to_virt(pa) : 0;
}

static void pages_free(uint8_t *p, size_t n)
{
	if (p)
		pmm_free_pages(hal_virt_to_phys(p), n);
}

static struct edu *open_edu(struct ktest *t, int policy, const struct dma_params *p)
{
	if (pci_init() != 0) {
		ktest_skip(t, "no PCI");
		return 0;
	}
	struct pci_dev *d = pci_find(0x1234, 0x11e8, 0);
	if (!d) {
		ktest_skip(t, "no edu device (QEMU: -device edu)");
		return 0;
	}
	if (policy == DMA_POLICY_IOMMU && !iommu_translates(d)) {
		ktest_skip(t, "VT-d does not translate for edu (QEMU: -device intel-iommu; sim: --iommu vtd)");
		return 0;
	}
	struct edu *e = edu_probe_policy(0, policy, p);
	if (!e) {
		ktest_fail_at(t, __FILE__, __LINE__, "edu probe failed");
		return 0;
	}
	if (policy >= 0)
		KTEST_EXPECT_EQ(t, dma_dev_policy(edu_dma_dev(e)), policy);
	return e;
}

static void close_edu(struct ktest *t, struct edu *e)
{
	struct dma_ledger l;
	dma_ledger_get(edu_dma_dev(e), &l);
	KTEST_EXPECT_EQ(t, l.live_maps, 0);
	KTEST_EXPECT_EQ(t, l.live_bytes, 0);
	KTEST_EXPECT_EQ(t, l.live_pages, 0);
	KTEST_EXPECT_EQ(t, edu_remove(e), 0);
}

/* Where a mapping may point for dd's policy; for iommu also: the IOMMU resolves
 * the bus address to the buffer's (or its bounce slot's) page. */
static void check_bus(struct ktest *t, struct edu *e, dma_addr_t bus, const void *va, size_t len)
{
	struct dma_dev *dd = edu_dma_dev(e);
	KTEST_EXPECT(t, !dma_mapping_error(dd, bus));
	KTEST_EXPECT(t, bus + len - 1 <= EDU_DMA_MASK);
	uint64_t pa = hal_virt_to_phys(va);
	switch (dma_dev_policy(dd)) {
	case DMA_POLICY_IOMMU: {
		const struct iommu_ops *ops;
		struct iommu_domain *dom = dma_dev_domain(dd, &ops);
		uint64_t tpa = 0;
		unsigned prot = 0;
		KTEST_ASSERT(t, dom != 0);
		KTEST_EXPECT_EQ(t, ops->translate(dom, bus & ~(IOMMU_PAGE - 1), &tpa, &prot), 0);
		KTEST_EXPECT_EQ(t, tpa, pa & ~(IOMMU_PAGE - 1));
		KTEST_EXPECT_EQ(t, bus & (IOMMU_PAGE - 1), pa & (IOMMU_PAGE - 1));
		break;
	}
	case DMA_POLICY_BOUNCE:
		KTEST_EXPECT(t, bus != pa);
		KTEST_EXPECT(t, swiotlb_owns(bus, len) && bus + len - 1 <= dd->p.mask);
		break;
	case DMA_POLICY_DIRECT:
		if (pa + len - 1 <= EDU_DMA_MASK)
			KTEST_EXPECT_EQ(t, bus, pa);
		break;
	}
}

#define PER_POLICY(fn)                                                                      \
	static void fn##_iommu(struct ktest *t) { fn(t, DMA_POLICY_IOMMU); }                    \
	static void fn##_bounce(struct ktest *t) { fn(t, DMA_POLICY_BOUNCE); }                  \
	static void fn##_direct(struct ktest *t) { fn(t, DMA_POLICY_DIRECT); }
#define POLICY_CASES(fn) KTEST_CASE(fn##_iommu), KTEST_CASE(fn##_bounce), KTEST_CASE(fn##_direct)

/* ---- to-device then from-device: memory -> device buffer -> other memory --------------- */

static void dma_roundtrip(struct ktest *t, int policy)
{
	struct edu *e = open_edu(t, policy, 0);
	if (!e)
		return;
	struct dma_dev *dd = edu_dma_dev(e);
	uint8_t *a = pages(2), *b = pages(2);
	if (!a || !b) {
		ktest_fail_at(t, __FILE__, __LINE__, "no pages");
		goto out;
	}
	const size_t len = 3000;
	uint8_t *src = a + 3000, *dst = b + 1000;       /* src crosses a page boundary */
	fill(src, len, 1);
	memset(b, 0xEE, 2 * PAGE_SIZE);
	struct dma_ledger l0, l1;
	dma_ledger_get(dd, &l0);
	dma_addr_t bs = dma_map_single(dd, src, len, DMA_TO_DEVICE);
	KTEST_ASSERT(t, !dma_mapping_error(dd, bs));
	check_bus(t, e, bs, src, len);
	dma_ledger_get(dd, &l1);
	KTEST_EXPECT_EQ(t, l1.live_maps, l0.live_maps + 1);
	KTEST_EXPECT_EQ(t, l1.live_bytes, len);
	KTEST_EXPECT_EQ(t, l1.live_pages, policy == DMA_POLICY_BOUNCE ? 1 : 2);
	KTEST_EXPECT_EQ(t, edu_dma(e, bs, 0, (uint32_t)len, true), 0);
	dma_unmap_single(dd, bs, len, DMA_TO_DEVICE);
	if (policy == DMA_POLICY_IOMMU) {           /* gone from the domain after unmap */
		const struct iommu_ops *ops;
		struct iommu_domain *dom = dma_dev_domain(dd, &ops);
		uint64_t pa;
		unsigned prot;
		KTEST_EXPECT_EQ(t, ops->translate(dom, bs & ~(IOMMU_PAGE - 1), &pa, &prot), -ENOENT);
	}

	dma_addr_t bd = dma_map_single(dd, dst, len, DMA_FROM_DEVICE);
	KTEST_ASSERT(t, !dma_mapping_error(dd, bd));
	check_bus(t, e, bd, dst, len);
	KTEST_EXPECT_EQ(t, edu_dma(e, bd, 0, (uint32_t)len, false), 0);
	dma_unmap_single(dd, bd, len, DMA_FROM_DEVICE);
	EXPECT_PATTERN(t, dst, len, 1);
	EXPECT_BYTES(t, b, 1000, 0xEE);
	EXPECT_BYTES(t, dst + len, 2 * PAGE_SIZE - 1000 - len, 0xEE);
	dma_ledger_get(dd, &l1);
	KTEST_EXPECT_EQ(t, l1.total_maps, l0.total_maps + 2);
	if (policy == DMA_POLICY_BOUNCE)            /* in at both maps, out at the FROM unmap */
		KTEST_EXPECT_EQ(t, l1.bounce_bytes - l0.bounce_bytes, 3 * len);
	else
		KTEST_EXPECT_EQ(t, l1.bounce_bytes, l0.bounce_bytes);
	if (!t->failed)
		ktest_log(t, "%s: 3000 bytes memory -> edu -> memory, bus 0x%llx / 0x%llx",
			  dma_policy_name(policy), (unsigned long long)bs, (unsigned long long)bd);
out:
	pages_free(a, 2);
	pages_free(b, 2);
	close_edu(t, e);
}
PER_POLICY(dma_roundtrip)

/* ---- bidirectional: the device reads the first half and writes it to the second -------- */

static void dma_bidirectional(struct ktest *t, int policy)
{
	struct edu *e = open_edu(t, policy, 0);
	if (!e)
		return;
	struct dma_dev *dd = edu_dma_dev(e);
	uint8_t *c = pages(1);
	KTEST_ASSERT(t, c != 0);
	fill(c, PAGE_SIZE, 2);
	dma_addr_t b = dma_map_single(dd, c, PAGE_SIZE, DMA_BIDIRECTIONAL);
	if (dma_mapping_error(dd, b)) {
		ktest_fail_at(t, __FILE__, __LINE__, "map refused");
		goto out;
	}
	check_bus(t, e, b, c, PAGE_SIZE);
	KTEST_EXPECT_EQ(t, edu_dma(e, b, 0, 2048, true), 0);
	KTEST_EXPECT_EQ(t, edu_dma(e, b + 2048, 0, 2048, false), 0);
	dma_unmap_single(dd, b, PAGE_SIZE, DMA_BIDIRECTIONAL);
	EXPECT_PATTERN(t, c, 2048, 2);
	EXPECT_PATTERN(t, c + 2048, 2048, 2);
out:
	pages_free(c, 1);
	close_edu(t, e);
}
PER_POLICY(dma_bidirectional)

/* ---- partial device writes, with sync_for_cpu / sync_for_device ---------------------------- */

static void dma_partial_write(struct ktest *t, int policy)
{
	struct edu *e = open_edu(t, policy, 0);
	if (!e)
		return;
	struct dma_dev *dd = edu_dma_dev(e);
	uint8_t *p = pages(1), *d = pages(1);
	KTEST_ASSERT(t, p && d);
	/* The device buffer's first 100 bytes get a known pattern. */
	fill(p, 100, 3);
	dma_addr_t bp = dma_map_single(dd, p, 100, DMA_TO_DEVICE);
	KTEST_ASSERT(t, !dma_mapping_error(dd, bp));
	KTEST_EXPECT_EQ(t, edu_dma(e, bp, 0, 100, true), 0);
	dma_unmap_single(dd, bp, 100, DMA_TO_DEVICE);

	/* A 4096-byte FROM_DEVICE mapping; the device writes 100 bytes of it. */
	fill(d, PAGE_SIZE, 4);
	dma_addr_t bd = dma_map_single(dd, d, PAGE_SIZE, DMA_FROM_DEVICE);
	if (dma_mapping_error(dd, bd)) {
		ktest_fail_at(t, __FILE__, __LINE__, "map refused");
		goto out;
	}
	KTEST_EXPECT_EQ(t, edu_dma(e, bd + 1000, 0, 100, false), 0);
	dma_sync_for_cpu(dd, bd, PAGE_SIZE, DMA_FROM_DEVICE);
	EXPECT_PATTERN(t, d + 1000, 100, 3);
	EXPECT_PATTERN(t, d, 1000, 4);
	/* The CPU changes bytes, gives the buffer back, the device writes again. */
	memset(d, 0x77, 10);
	dma_sync_for_device(dd, bd, PAGE_SIZE, DMA_FROM_DEVICE);
	KTEST_EXPECT_EQ(t, edu_dma(e, bd + 2000, 0, 100, false), 0);
	dma_unmap_single(dd, bd, PAGE_SIZE, DMA_FROM_DEVICE);
	EXPECT_BYTES(t, d, 10, 0x77);
	EXPECT_PATTERN(t, d + 1000, 100, 3);
	EXPECT_PATTERN(t, d + 2000, 100, 3);
	/* The 3796 bytes the device never wrote are what they were. */
	uint8_t *ref = pages(1);
	KTEST_ASSERT(t, ref != 0);
	fill(ref, PAGE_SIZE, 4);
	KTEST_EXPECT(t, !memcmp(d + 10, ref + 10, 990));
	KTEST_EXPECT(t, !memcmp(d + 1100, ref + 1100, 900));
	KTEST_EXPECT(t, !memcmp(d + 2100, ref + 2100, PAGE_SIZE - 2100));
	pages_free(ref, 1);
out:
	pages_free(p, 1);
	pages_free(d, 1);
	close_edu(t, e);
}
PER_POLICY(dma_partial_write)

/* ---- coherent ------------------------------------------------------------------------------ */

static void dma_coherent(struct ktest *t, int policy)
{
	struct edu *e = open_edu(t, policy, 0);
	if (!e)
		return;
	struct dma_dev *dd = edu_dma_dev(e);
	dma_addr_t bus;
	uint8_t *va = dma_alloc_coherent(dd, 2 * PAGE_SIZE, &bus);
	if (!va) {
		ktest_fail_at(t, __FILE__, __LINE__, "no coherent memory");
		close_edu(t, e);
		return;
	}
	EXPECT_BYTES(t, va, 2 * PAGE_SIZE, 0);
	KTEST_EXPECT_EQ(t, bus % PAGE_SIZE, 0);
	KTEST_EXPECT(t, bus + 2 * PAGE_SIZE - 1 <= EDU_DMA_MASK);
	struct dma_ledger l;
	dma_ledger_get(dd, &l);
	KTEST_EXPECT_EQ(t, l.live_maps, 1);
	KTEST_EXPECT_EQ(t, l.live_pages, 2);
	fill(va, PAGE_SIZE, 5);
	KTEST_EXPECT_EQ(t, edu_dma(e, bus, 0, EDU_XFER_MAX, true), 0);
	KTEST_EXPECT_EQ(t, edu_dma(e, bus + PAGE_SIZE, 0, EDU_XFER_MAX, false), 0);
	EXPECT_PATTERN(t, va + PAGE_SIZE, EDU_XFER_MAX, 5);
	EXPECT_BYTES(t, va + PAGE_SIZE + EDU_XFER_MAX, PAGE_SIZE - EDU_XFER_MAX, 0);
	/* The buffer's last byte is out of reach (QEMU 7.2, edu.h): refused. */
	KTEST_EXPECT_EQ(t, edu_dma(e, bus, 0, EDU_BUF_SIZE, true), -EINVAL);
	dma_free_coherent(dd, 2 * PAGE_SIZE, va, bus);
	dma_ledger_get(dd, &l);
	KTEST_EXPECT_EQ(t, l.bounce_bytes, 0);      /* coherent memory is never bounced */
	close_edu(t, e);
}
PER_POLICY(dma_coherent)

/* ---- scatter-gather split at max_seg; all or nothing --------------------------------------- */

static void dma_sg_max_seg(struct ktest *t, int policy)
{
	struct dma_params prm = { .mask = EDU_DMA_MASK, .max_seg = 1024, .align = 1 };
	struct edu *e = open_edu(t, policy, &prm);
	if (!e)
		return;
	struct dma_dev *dd = edu_dma_dev(e);
	uint8_t *a = pages(2), *b = pages(1), *dst = pages(1);
	if (!a || !b || !dst) {
		ktest_fail_at(t, __FILE__, __LINE__, "no pages");
		goto out;
	}
	fill(a + 3000, 2500, 6);
	fill(b + 100, 700, 7);
	struct dma_sg sg[6] = { { .va = a + 3000, .len = 2500 }, { .va = b + 100, .len = 700 } };
	struct dma_ledger l0, l1;

	/* Two entries need at least four segments of 1024: no room, nothing mapped. */
	dma_ledger_get(dd, &l0);
	size_t slots0 = swiotlb_slots_used();
	KTEST_EXPECT_EQ(t, dma_map_sg(dd, sg, 2, DMA_TO_DEVICE), 0);
	dma_ledger_get(dd, &l1);
	KTEST_EXPECT_EQ(t, l1.live_maps, l0.live_maps);
	KTEST_EXPECT_EQ(t, l1.errors, l0.errors + 1);
	KTEST_EXPECT_EQ(t, swiotlb_slots_used(), slots0);

	int n = dma_map_sg(dd, sg, 6, DMA_TO_DEVICE);
	KTEST_EXPECT(t, n >= 4 && n <= 6);
	if (n < 1)
		goto out;
	uint32_t off = 0;
	for (int i = 0; i < n; i++) {
		KTEST_EXPECT(t, sg[i].bus_len >= 1 && sg[i].bus_len <= 1024);
		KTEST_EXPECT(t, sg[i].bus + sg[i].bus_len - 1 <= EDU_DMA_MASK);
		if (off + sg[i].bus_len > EDU_BUF_SIZE)
			break;
		KTEST_EXPECT_EQ(t, edu_dma(e, sg[i].bus, off, sg[i].bus_len, true), 0);
		off += sg[i].bus_len;
	}
	KTEST_EXPECT_EQ(t, off, 3200);
	for (int i = n; i < 6; i++)
		KTEST_EXPECT_EQ(t, sg[i].bus, DMA_MAPPING_ERROR);
	dma_ledger_get(dd, &l1);
	KTEST_EXPECT_EQ(t, l1.live_maps, l0.live_maps + 1);
	KTEST_EXPECT_EQ(t, l1.live_bytes, 3200);
	dma_unmap_sg(dd, sg, 6, DMA_TO_DEVICE);

	memset(dst, 0, PAGE_SIZE);
	dma_addr_t bd = dma_map_single(dd, dst, 1000, DMA_FROM_DEVICE);
	KTEST_ASSERT(t, !dma_mapping_error(dd, bd));
	/* Read back as three pieces: the device buffer holds the list's bytes in order. */
	KTEST_EXPECT_EQ(t, edu_dma(e, bd, 2400, 800, false), 0);
	dma_unmap_single(dd, bd, 1000, DMA_FROM_DEVICE);
	EXPECT_PATTERN(t, dst + 100, 700, 7);
	{
		uint8_t *want = pages(1);
		KTEST_ASSERT(t, want != 0);
		fill(want, 2500, 6);
		KTEST_EXPECT(t, !memcmp(dst, want + 2400, 100));
		pages_free(want, 1);
	}
	if (!t->failed)
		ktest_log(t, "%s: 2 entries (2500 + 700 bytes) -> %d segments of <= 1024", dma_policy_name(policy), n);
out:
	pages_free(a, 2);
	pages_free(b, 1);
	pages_free(dst, 1);
	close_edu(t, e);
}
PER_POLICY(dma_sg_max_seg)

/* ---- a buffer the 28-bit mask cannot reach ------------------------------------------------ */

static void dma_beyond_mask(struct ktest *t, int policy)
{
	/* Above 4 GiB (sim --mem 6G), else above edu's 256 MiB limit (QEMU -m 512M). */
	uint64_t lo = 1ull << 32, pa = pmm_alloc_pages_in(2, 1, lo, ~0ull);
	if (!pa) {
		lo = EDU_DMA_MASK + 1;
		pa = pmm_alloc_pages_in(2, 1, lo, ~0ull);
	}
	if (!pa || !hal_phys_to_virt(pa)) {
		ktest_skip(t, "no RAM above edu's 28-bit DMA mask (sim: --mem 6G)");
		return;
	}
	struct edu *e = open_edu(t, policy, 0);
	if (!e) {
		pmm_free_pages(pa, 2);
		return;
	}
	struct dma_dev *dd = edu_dma_dev(e);
	uint8_t *hi = hal_phys_to_virt(pa);
	fill(hi, PAGE_SIZE, 8);
	memset(hi + PAGE_SIZE, 0, PAGE_SIZE);
	struct dma_ledger l0, l1;
	dma_ledger_get(dd, &l0);
	dma_addr_t b = dma_map_single(dd, hi, PAGE_SIZE, DMA_TO_DEVICE);
	KTEST_ASSERT(t, !dma_mapping_error(dd, b));
	KTEST_EXPECT(t, b + PAGE_SIZE - 1 <= EDU_DMA_MASK);
	KTEST_EXPECT_EQ(t, edu_dma(e, b, 0, EDU_XFER_MAX, true), 0);
	dma_unmap_single(dd, b, PAGE_SIZE, DMA_TO_DEVICE);
	dma_addr_t b2 = dma_map_single(dd, hi + PAGE_SIZE, PAGE_SIZE, DMA_FROM_DEVICE);
	KTEST_ASSERT(t, !dma_mapping_error(dd, b2));
	KTEST_EXPECT_EQ(t, edu_dma(e, b2, 0, EDU_XFER_MAX, false), 0);
	dma_unmap_single(dd, b2, PAGE_SIZE, DMA_FROM_DEVICE);
	EXPECT_PATTERN(t, hi + PAGE_SIZE, EDU_XFER_MAX, 8);
	EXPECT_BYTES(t, hi + PAGE_SIZE + EDU_XFER_MAX, PAGE_SIZE - EDU_XFER_MAX, 0);
	dma_ledger_get(dd, &l1);
	if (policy == DMA_POLICY_DIRECT)            /* SWIOTLB: bounced, both ways */
		KTEST_EXPECT(t, l1.bounce_bytes - l0.bounce_bytes >= 2 * PAGE_SIZE);
	else                                        /* the IOMMU remaps instead */
		KTEST_EXPECT_EQ(t, l1.bounce_bytes, l0.bounce_bytes);
	if (!t->failed)
		ktest_log(t, "%s: buffer at 0x%llx (above 0x%llx) through bus 0x%llx, bounced %llu bytes",
			  dma_policy_name(policy), (unsigned long long)pa, (unsigned long long)lo,
			  (unsigned long long)b, (unsigned long long)(l1.bounce_bytes - l0.bounce_bytes));
	pmm_free_pages(pa, 2);
	close_edu(t, e);
}

static void dma_beyond_mask_direct_bounces(struct ktest *t) { dma_beyond_mask(t, DMA_POLICY_DIRECT); }
static void dma_beyond_mask_iommu_remaps(struct ktest *t) { dma_beyond_mask(t, DMA_POLICY_IOMMU); }

/* ---- bounce slots below each device's own mask ------------------------------------------ */

/* Policy bounce with a 24-bit mask, then edu's own 28 bits: each device's slots
 * lie below its own mask (a pool made for the wider mask may not serve the
 * narrower one), and the data round-trips through them. */
static void dma_bounce_below_each_mask(struct ktest *t)
{
	static const uint64_t masks[] = { (1ull << 24) - 1, (1ull << 28) - 1 };
	for (unsigned m = 0; m < 2; m++) {
		struct dma_params p = { .mask = masks[m], .max_seg = EDU_BUF_SIZE, .align = 1 };
		struct edu *e = open_edu(t, DMA_POLICY_BOUNCE, &p);
		if (!e)
			return;
		struct dma_dev *dd = edu_dma_dev(e);
		uint8_t *src = pages(1), *dst = pages(1);
		KTEST_ASSERT(t, src && dst);
		fill(src, 1024, 11 + m);
		memset(dst, 0, 1024);
		dma_addr_t bs = dma_map_single(dd, src, 1024, DMA_TO_DEVICE);
		dma_addr_t bd = dma_map_single(dd, dst, 1024, DMA_FROM_DEVICE);
		KTEST_EXPECT(t, !dma_mapping_error(dd, bs) && !dma_mapping_error(dd, bd));
		if (!dma_mapping_error(dd, bs) && !dma_mapping_error(dd, bd)) {
			KTEST_EXPECT(t, bs + 1023 <= masks[m] && bd + 1023 <= masks[m]);
			KTEST_EXPECT(t, swiotlb_owns(bs, 1024) && swiotlb_owns(bd, 1024));
			KTEST_EXPECT_EQ(t, edu_dma(e, bs, 0, 1024, true), 0);
			KTEST_EXPECT_EQ(t, edu_dma(e, bd, 0, 1024, false), 0);
		}
		if (!dma_mapping_error(dd, bs))
			dma_unmap_single(dd, bs, 1024, DMA_TO_DEVICE);
		if (!dma_mapping_error(dd, bd))
			dma_unmap_single(dd, bd, 1024, DMA_FROM_DEVICE);
		EXPECT_PATTERN(t, dst, 1024, 11 + m);
		close_edu(t, e);
		pages_free(src, 1);
		pages_free(dst, 1);
	}
}

/* ---- ledger: a leak is reported at release --------------------------------------------- */

static void dma_ledger_reports_leak(struct ktest *t)
{
	struct edu *e = open_edu(t, -1, 0);
	if (!e)
		return;
	uint8_t *p = pages(1);
	KTEST_ASSERT(t, p != 0);
	int line = __LINE__ + 1;
	dma_addr_t b = dma_map_single(edu_dma_dev(e), p, 512, DMA_TO_DEVICE);
	KTEST_EXPECT(t, !dma_mapping_error(edu_dma_dev(e), b));
	dma_dump();
	KTEST_EXPECT_EQ(t, edu_remove(e), 1);
	char want[64];
	ksnprintf(want, sizeof want, "len 512 (mapped at kernel/dma/dma_ktest.c:%d)", line);
	KTEST_EXPECT(t, klog_contains(want));
	KTEST_EXPECT(t, klog_contains("dma: leak: "));
	KTEST_EXPECT(t, klog_contains("released with 1 leaked mapping(s)"));
	pages_free(p, 1);
}

/* ---- refused mappings are errors, counted ----------------------------------------------- */

static void dma_refusals_counted(struct ktest *t)
{
	struct edu *e = open_edu(t, -1, 0);
	if (!e)
		return;
	struct dma_dev *dd = edu_dma_dev(e);
	uint8_t *p = pages(2);
	KTEST_ASSERT(t, p != 0);
	struct dma_ledger l;
	dma_addr_t b = dma_map_single(dd, p, 0, DMA_TO_DEVICE);
	KTEST_EXPECT(t, dma_mapping_error(dd, b));
	b = dma_map_single(dd, p, EDU_BUF_SIZE + 1, DMA_TO_DEVICE);     /* above max_seg */
	KTEST_EXPECT(t, dma_mapping_error(dd, b));
	b = dma_map_single(dd, p, 16, (enum dma_dir)0);
	KTEST_EXPECT(t, dma_mapping_error(dd, b));
	KTEST_EXPECT_EQ(t, dma_map_sg(dd, 0, 1, DMA_TO_DEVICE), 0);
	dma_addr_t cb;
	KTEST_EXPECT(t, dma_alloc_coherent(dd, 0, &cb) == 0);
	KTEST_EXPECT(t, dma_mapping_error(dd, cb));
	dma_ledger_get(dd, &l);
	KTEST_EXPECT_EQ(t, l.errors, 5);
	KTEST_EXPECT_EQ(t, l.live_maps, 0);
	dma_unmap_single(dd, 0x123000, 16, DMA_TO_DEVICE);      /* never mapped: logged, counted */
	dma_ledger_get(dd, &l);
	KTEST_EXPECT_EQ(t, l.errors, 6);
	/* Parameters a device cannot mean are refused at attach. */
	struct pci_dev *d = edu_pci(e);
	struct dma_params bad[] = { { .mask = 0xFFFF }, { .mask = EDU_DMA_MASK, .align = 3 },
				    { .mask = 0x0FFFF0FF }, { .mask = EDU_DMA_MASK, .align = 8192 },
				    { .mask = EDU_DMA_MASK, .max_seg = 100, .align = 64 } };
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
		KTEST_EXPECT(t, dma_dev_attach(d, &bad[i]) == 0);
	KTEST_EXPECT(t, dma_dev_attach(0, &bad[0]) == 0);
	pages_free(p, 2);
	close_edu(t, e);
}

/* ---- policy: command line, else iommu under VT-d, else direct ----------------------------- */

static void dma_policy_default(struct ktest *t)
{
	struct edu *e = open_edu(t, -1, 0);
	if (!e)
		return;
	struct pci_dev *d = edu_pci(e);
	char key[40];
	ksnprintf(key, sizeof key, "dma.policy.%04x:%02x:%02x.%x", d->addr.seg, d->addr.bus, d->addr.dev, d->addr.fn);
	const char *v = cmdline_get(key);
	if (!v)
		v = cmdline_get("dma.policy");
	int want = iommu_translates(d) ? DMA_POLICY_IOMMU : DMA_POLICY_DIRECT;
	for (int p = 0; v && p < 3; p++)
		if (!kstrcmp(v, dma_policy_name((enum dma_policy)p)))
			want = p == DMA_POLICY_IOMMU && !iommu_translates(d) ? DMA_POLICY_DIRECT : p;
	KTEST_EXPECT_EQ(t, dma_dev_policy(edu_dma_dev(e)), want);
	KTEST_EXPECT(t, !kstrcmp(dma_policy_name(DMA_POLICY_BOUNCE), "bounce"));
	ktest_log(t, "edu policy %s (VT-d %s, command line %s)", dma_policy_name(dma_dev_policy(edu_dma_dev(e))),
		  iommu_translates(d) ? "translates" : "absent", v ? v : "-");
	close_edu(t, e);
}

/* ---- several CPUs mapping and unmapping on one device at once ------------------------ */

#define RACE_CPUS 4
#define RACE_ITERS 64
#define RACE_CHURN 8                /* map/unmap pairs without DMA per round */
#define RACE_TIMEOUT_US 60000000ull

/* What the workers share: the device, one engine lock, their buffers, the tallies. */
static struct {
	struct edu *e;
	uint32_t engine;                /* edu has one DMA engine: one transfer at a time */
	uint8_t *src[HAL_MAX_CPUS], *dst[HAL_MAX_CPUS];
	uint64_t rounds, map_errors, dma_errors, corrupt;
} race;

/* The engine's owner: a flag, not a spinlock, so that interrupts stay on while a
 * transfer waits for edu's completion interrupt. */
static void engine_take(void)
{
	while (atomic_xchg32(&race.engine, 1, MO_ACQUIRE))
		hal_cpu_relax();
}

static void engine_give(void)
{
	atomic_store32(&race.engine, 0, MO_RELEASE);
}

/* One CPU: map its source and destination, memory -> edu -> memory under the engine
 * lock, unmap, check; the mapping and unmapping overlap other CPUs' (only the
 * transfers are serialized), so IOVA ranges are freed and taken again meanwhile. */
static void race_worker(uint64_t arg)
{
	(void)arg;
	unsigned cpu = hal_cpu_index();
	struct dma_dev *dd = edu_dma_dev(race.e);
	uint8_t *a = race.src[cpu], *b = race.dst[cpu];
	for (unsigned i = 0; i < RACE_ITERS; i++) {
		size_t off = (i * 613u + cpu * 97u) % PAGE_SIZE;
		size_t len = 1 + (i * 1237u + cpu * 311u) % EDU_XFER_MAX;   /* one or two pages */
		uint32_t seed = cpu * 100003u + i;
		fill(a + off, len, seed);
		memset(b + off, 0, len);
		/* Churn first: mappings made and dropped back to back keep the device's
		 * IOVA space busy from every CPU at once. */
		for (unsigned j = 0; j < RACE_CHURN; j++) {
			size_t l = 1 + (len * (j + 3)) % EDU_XFER_MAX;
			dma_addr_t c = dma_map_single(dd, a + off, l, DMA_BIDIRECTIONAL);
			if (dma_mapping_error(dd, c)) {
				atomic_fetch_add64(&race.map_errors, 1, MO_RELAXED);
				continue;
			}
			dma_unmap_single(dd, c, l, DMA_BIDIRECTIONAL);
		}
		dma_addr_t bs = dma_map_single(dd, a + off, len, DMA_TO_DEVICE);
		dma_addr_t bd = dma_map_single(dd, b + off, len, DMA_FROM_DEVICE);
		if (dma_mapping_error(dd, bs) || dma_mapping_error(dd, bd)) {
			atomic_fetch_add64(&race.map_errors, 1, MO_RELAXED);
		} else {
			engine_take();
			int rc = edu_dma(race.e, bs, 0, (uint32_t)len, true);
			if (!rc)
				rc = edu_dma(race.e, bd, 0, (uint32_t)len, false);
			engine_give();
			if (rc)
				atomic_fetch_add64(&race.dma_errors, 1, MO_RELAXED);
		}
		if (!dma_mapping_error(dd, bs))
			dma_unmap_single(dd, bs, len, DMA_TO_DEVICE);
		if (!dma_mapping_error(dd, bd)) {
			dma_unmap_single(dd, bd, len, DMA_FROM_DEVICE);
			if (check(b + off, len, seed) >= 0)
				atomic_fetch_add64(&race.corrupt, 1, MO_RELAXED);
		}
		atomic_fetch_add64(&race.rounds, 1, MO_RELAXED);
	}
}

/* Every buffer's data arrives, no mapping is refused, the ledger balances; the
 * sim's VT-d model counts stale IOTLB hits, which the harness requires to be 0
 * (an IOVA handed out again before its old translation was invalidated). */
static void dma_iommu_concurrent_map_unmap(struct ktest *t)
{
	/* The workers run inside the RUN cross-call's interrupt; edu's completion
	 * interrupt goes to CPU 0 (edu_probe), which with this one only waits. */
	struct cpumask online, set;
	smp_online_mask(&online);
	cpumask_clear(&set);
	unsigned n = 0;
	for_each_cpu(c, &online)
		if (n < RACE_CPUS && c != hal_cpu_index() && c != 0) {
			cpumask_set(&set, c);
			n++;
		}
	if (n < 2) {
		ktest_skip(t, "needs three online CPUs");
		return;
	}
	struct edu *e = open_edu(t, DMA_POLICY_IOMMU, 0);
	if (!e)
		return;
	struct dma_dev *dd = edu_dma_dev(e);
	race.e = e;
	race.rounds = race.map_errors = race.dma_errors = race.corrupt = 0;
	bool ok = true;
	for_each_cpu(c, &set) {
		race.src[c] = pages(2);
		race.dst[c] = pages(2);
		ok = ok && race.src[c] && race.dst[c];
	}
	struct dma_ledger l0, l1;
	dma_ledger_get(dd, &l0);
	if (!ok)
		ktest_fail_at(t, __FILE__, __LINE__, "no pages");
	else
		KTEST_EXPECT_EQ(t, smp_run_parallel(&set, race_worker, 0, RACE_TIMEOUT_US, 0), 0);
	dma_ledger_get(dd, &l1);
	KTEST_EXPECT_EQ(t, atomic_load64(&race.rounds, MO_RELAXED), ok ? (uint64_t)n * RACE_ITERS : 0);
	KTEST_EXPECT_EQ(t, atomic_load64(&race.map_errors, MO_RELAXED), 0);
	KTEST_EXPECT_EQ(t, atomic_load64(&race.dma_errors, MO_RELAXED), 0);
	KTEST_EXPECT_EQ(t, atomic_load64(&race.corrupt, MO_RELAXED), 0);
	KTEST_EXPECT_EQ(t, l1.errors, l0.errors);
	KTEST_EXPECT_EQ(t, l1.total_maps - l0.total_maps, atomic_load64(&race.rounds, MO_RELAXED) * (2 + RACE_CHURN));
	for_each_cpu(c, &set) {
		pages_free(race.src[c], 2);
		pages_free(race.dst[c], 2);
		race.src[c] = race.dst[c] = 0;
	}
	if (!t->failed)
		ktest_log(t, "%u CPUs x %u rounds of map, edu DMA both ways, unmap on one device", n, RACE_ITERS);
	close_edu(t, e);
}

/* ---- lazy unmapping: IOVAs reused only after the domain-wide flush ------------------- */

static void dma_lazy_unmap_defers_iova_reuse(struct ktest *t)
{
	struct edu *e = open_edu(t, DMA_POLICY_IOMMU, 0);
	if (!e)
		return;
	struct dma_dev *dd = edu_dma_dev(e);
	const struct iommu_ops *ops;
	struct iommu_domain *dom = dma_dev_domain(dd, &ops);
	uint8_t *a = pages(1);
	dma_addr_t seen[DMA_FQ_LEN];
	struct dma_ledger l;
	KTEST_ASSERT(t, a != 0);
	KTEST_ASSERT(t, dma_dev_set_flush(dd, true) == 0);
	/* The same page mapped and unmapped DMA_FQ_LEN times: each unmap leaves the
	 * tables at once, but its IOVA stays out of the allocator until the flush, so
	 * every mapping gets a new IOVA — a strict allocator would hand the first back. */
	for (unsigned i = 0; i < DMA_FQ_LEN && !t->failed; i++) {
		fill(a, PAGE_SIZE, i);
		dma_addr_t b = dma_map_single(dd, a, PAGE_SIZE, DMA_TO_DEVICE);
		KTEST_ASSERT(t, !dma_mapping_error(dd, b));
		for (unsigned j = 0; j < i; j++)
			if (seen[j] == b)
				ktest_fail_at(t, __FILE__, __LINE__, "IOVA 0x%llx reused before the flush (map %u and %u)",
					      (unsigned long long)b, j, i);
		seen[i] = b;
		KTEST_EXPECT_EQ(t, edu_dma(e, b, 0, 64, true), 0);   /* the device reads through it */
		dma_unmap_single(dd, b, PAGE_SIZE, DMA_TO_DEVICE);
		uint64_t pa;
		unsigned prot;
		KTEST_EXPECT_EQ(t, ops->translate(dom, b, &pa, &prot), -ENOENT);
		dma_ledger_get(dd, &l);
		KTEST_EXPECT_EQ(t, l.lazy_pending, i + 1);
		KTEST_EXPECT_EQ(t, l.lazy_flushes, 0);
	}
	/* One more fills the queue: a single flush, then the old IOVAs are free again. */
	dma_addr_t b = dma_map_single(dd, a, PAGE_SIZE, DMA_TO_DEVICE);
	KTEST_ASSERT(t, !dma_mapping_error(dd, b));
	dma_unmap_single(dd, b, PAGE_SIZE, DMA_TO_DEVICE);
	dma_ledger_get(dd, &l);
	KTEST_EXPECT_EQ(t, l.lazy_flushes, 1);
	KTEST_EXPECT_EQ(t, l.lazy_pending, 1);
	/* Back to strict: what is pending is flushed at once. */
	KTEST_EXPECT_EQ(t, dma_dev_set_flush(dd, false), 0);
	dma_ledger_get(dd, &l);
	KTEST_EXPECT_EQ(t, l.lazy_flushes, 2);
	KTEST_EXPECT_EQ(t, l.lazy_pending, 0);
	KTEST_EXPECT(t, !l.lazy);
	pages_free(a, 1);
	close_edu(t, e);
}

static const struct ktest_case dma_cases[] = {
	KTEST_CASE(dma_policy_default),
	POLICY_CASES(dma_roundtrip),
	POLICY_CASES(dma_bidirectional),
	POLICY_CASES(dma_partial_write),
	POLICY_CASES(dma_coherent),
	POLICY_CASES(dma_sg_max_seg),
	KTEST_CASE(dma_beyond_mask_direct_bounces),
	KTEST_CASE(dma_beyond_mask_iommu_remaps),
	KTEST_CASE(dma_bounce_below_each_mask),
	KTEST_CASE(dma_ledger_reports_leak),
	KTEST_CASE(dma_refusals_counted),
	KTEST_CASE(dma_iommu_concurrent_map_unmap),
	KTEST_CASE(dma_lazy_unmap_defers_iova_reuse),
};
KTEST_SUITE(dma_suite, "dma", dma_cases);
