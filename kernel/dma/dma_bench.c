/*
 * dma_bench.c — DMA benchmark cases (bench=<glob>, docs/bench.md, docs/dma.md
 * "Benchmarks"): map+unmap cost per 4 KiB page under each policy, and edu DMA
 * throughput (4095-byte transfers, memory -> device and back) under each policy.
 * Figures are printed, never asserted; a policy that does not apply is skipped.
 */
#include <drivers/edu.h>
#include <hal/hal.h>
#include <kernel/bench.h>
#include <kernel/dma.h>
#include <kernel/errno.h>
#include <kernel/log.h>
#include <kernel/pci.h>
#include <kernel/pmm.h>
#include <kernel/printf.h>
#include <kernel/time.h>
#include "dma_internal.h"

#define MAP_ITERS 10000
#define XFER_LEN (EDU_BUF_SIZE - 1)     /* edu_dma's longest transfer */
#define XFER_TIME_NS 1000000000ull      /* each throughput run: about 1 s */

static struct pci_dev *bench_edu(void)
{
	if (pci_init() != 0)
		return 0;
	return pci_find(0x1234, 0x11e8, 0);
}

static bool policy_applies(struct pci_dev *d, int p)
{
	return p != DMA_POLICY_IOMMU || iommu_translates(d);
}

/* One figure per policy that applies: a fresh edu attached with that policy, a
 * one-page buffer, and measure() returning the figure (0 = measured). */
typedef int (*measure_fn)(struct edu *e, void *buf, uint64_t *value);

static int bench_per_policy(const char *what, const char *fmt, const char *unit, measure_fn measure)
{
	struct pci_dev *d = bench_edu();
	if (!d) {
		klog("bench", "%s needs an edu device; not measured", what);
		return 0;
	}
	uint64_t pa = pmm_alloc_page();
	if (!pa)
		return -ENOMEM;
	void *buf = hal_phys_to_virt(pa);
	int rc = 0;
	for (int p = 0; p < 3 && !rc; p++) {
		if (!policy_applies(d, p))
			continue;
		struct edu *e = edu_probe_policy(0, p, 0);
		if (!e) {
			rc = -ENODEV;
			break;
		}
		uint64_t value = 0;
		rc = measure(e, buf, &value);
		if (!rc) {
			char name[48];
			ksnprintf(name, sizeof name, fmt, dma_policy_name((enum dma_policy)p));
			bench_report(name, value, unit);
		}
		edu_remove(e);
	}
	pmm_free_pages(pa, 1);
	return rc;
}

static int measure_map_unmap(struct edu *e, void *buf, uint64_t *ns_per_page)
{
	struct dma_dev *dd = edu_dma_dev(e);
	uint64_t t0 = hal_rdtsc();
	for (unsigned i = 0; i < MAP_ITERS; i++) {
		dma_addr_t b = dma_map_single(dd, buf, PAGE_SIZE, DMA_TO_DEVICE);
		if (dma_mapping_error(dd, b))
			return -EIO;
		dma_unmap_single(dd, b, PAGE_SIZE, DMA_TO_DEVICE);
	}
	*ns_per_page = time_tsc_to_ns(hal_rdtsc() - t0) / MAP_ITERS;
	return 0;
}

static int bench_map_unmap(void)
{
	return bench_per_policy("dma_map_unmap", "dma_map_unmap_4k_%s", "ns/page", measure_map_unmap);
}
BENCH_CASE(dma_map_unmap_case, "dma_map_unmap", bench_map_unmap);

static int measure_edu_throughput(struct edu *e, void *buf, uint64_t *kib_per_s)
{
	struct dma_dev *dd = edu_dma_dev(e);
	uint64_t bytes = 0, t0 = time_now_ns(), el = 0;
	int rc = 0;
	/* Each round: map, memory -> device, device -> memory, unmap. QEMU's edu
	 * takes 100 ms per transfer, so there only a handful of rounds fit. */
	while (el < XFER_TIME_NS) {
		dma_addr_t b = dma_map_single(dd, buf, XFER_LEN, DMA_BIDIRECTIONAL);
		if (dma_mapping_error(dd, b))
			return -EIO;
		rc = edu_dma(e, b, 0, XFER_LEN, true);
		if (!rc)
			rc = edu_dma(e, b, 0, XFER_LEN, false);
		dma_unmap_single(dd, b, XFER_LEN, DMA_BIDIRECTIONAL);
		if (rc)
			return rc;
		bytes += 2 * XFER_LEN;
		el = time_now_ns() - t0;
	}
	*kib_per_s = bytes * 1000000000ull / el / 1024;
	return 0;
}

static int bench_edu_throughput(void)
{
	return bench_per_policy("dma_edu_throughput", "dma_edu_%s_kbps", "KiB/s", measure_edu_throughput);
}
BENCH_CASE(dma_edu_throughput_case, "dma_edu_throughput", bench_edu_throughput);
