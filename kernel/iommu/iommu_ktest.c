/*
 * iommu_ktest.c — the `iommu` ktest suite, the same in doppel-sim and under QEMU's
 * intel-iommu: map/translate/unmap on a fresh VT-d domain, argument checks of both
 * implementations, attach/free rules, and isolation with the edu device: DMA
 * through a mapping lands in the right page; DMA to a never-mapped IOVA, to an IOVA
 * after unmap, and from a device without a domain is blocked and reported by the
 * fault interrupt; an RMRR naming edu is mapped 1:1 while attached and reachable.
 * Intel VT-d spec rev 3.x §3.6, §6.5, §7.3, §8.4; QEMU docs/specs/edu.txt.
 */
#include <drivers/edu.h>
#include <hal/hal.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/ktest.h>
#include <kernel/log.h>
#include <kernel/pmm.h>
#include <kernel/printf.h>
#include <kernel/string.h>
#include <kernel/time.h>
#include "iommu_priv.h"

#define FAULT_WAIT_NS 2000000000ull     /* the fault interrupt: 2 s at most */
#define TEST_IOVA 0x0F000000ull         /* below edu's 28-bit mask, far from the DMA layer's IOVAs */
/* Transfers stay below the 4 KiB buffer's end: QEMU 7.2's edu range check is off
 * by one and stops the machine ("hardware error") for a full-buffer transfer. */
#define XFER 2048u

static bool need_vtd(struct ktest *t)
{
	if (vtd_unit_count())
		return true;
	ktest_skip(t, "no VT-d unit in use (no DMAR, iommu=off, or bring-up failed)");
	return false;
}

#define page_is(pa, v) bytes_are(pa, PAGE_SIZE, v)

static uint64_t page_fill(uint8_t v)
{
	uint64_t pa = pmm_alloc_page();
	if (pa)
		memset(hal_phys_to_virt(pa), v, PAGE_SIZE);
	return pa;
}

static bool bytes_are(uint64_t pa, size_t n, uint8_t v)
{
	const uint8_t *p = hal_phys_to_virt(pa);
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* The same refusals from any implementation (iommu.h's contract). */
static void check_bad_args(struct ktest *t, const struct iommu_ops *ops, struct iommu_domain *dom,
			   uint64_t iova, uint64_t pa, bool identity)
{
	uint64_t top = 1ull << iommu_domain_addr_bits(dom);
	uint64_t iova2 = identity ? pa : iova;
	KTEST_EXPECT_EQ(t, ops->map(dom, iova2 + 1, pa + 1, PAGE_SIZE, IOMMU_READ), -EINVAL);
	KTEST_EXPECT_EQ(t, ops->map(dom, iova2, pa, 0, IOMMU_READ), -EINVAL);
	KTEST_EXPECT_EQ(t, ops->map(dom, iova2, pa, 100, IOMMU_READ), -EINVAL);
	KTEST_EXPECT_EQ(t, ops->map(dom, iova2, pa, PAGE_SIZE, 0), -EINVAL);
	KTEST_EXPECT_EQ(t, ops->map(dom, iova2, pa, PAGE_SIZE, 8), -EINVAL);
	if (!identity) {
		KTEST_EXPECT_EQ(t, ops->map(dom, top, pa, PAGE_SIZE, IOMMU_READ), -EINVAL);
		KTEST_EXPECT_EQ(t, ops->map(dom, top - PAGE_SIZE, pa, 2 * PAGE_SIZE, IOMMU_READ), -EINVAL);
		KTEST_EXPECT_EQ(t, ops->map(dom, iova2, 1ull << 60, PAGE_SIZE, IOMMU_READ), -EINVAL);
	} else {
		KTEST_EXPECT_EQ(t, ops->map(dom, iova2 + PAGE_SIZE, pa, PAGE_SIZE, IOMMU_READ), -EINVAL);
		KTEST_EXPECT_EQ(t, ops->map(dom, top, top, PAGE_SIZE, IOMMU_READ), -EINVAL);
	}
	/* Two pages mapped: overlaps and partial unmaps are refused, nothing changes. */
	KTEST_ASSERT(t, ops->map(dom, iova2, pa, 2 * PAGE_SIZE, IOMMU_READ | IOMMU_WRITE) == 0);
	KTEST_EXPECT_EQ(t, ops->map(dom, iova2 + PAGE_SIZE, pa + PAGE_SIZE, PAGE_SIZE, IOMMU_READ), -EEXIST);
	KTEST_EXPECT_EQ(t, ops->map(dom, iova2, pa, PAGE_SIZE, IOMMU_READ), -EEXIST);
	KTEST_EXPECT_EQ(t, ops->unmap(dom, iova2, PAGE_SIZE), -EINVAL);
	KTEST_EXPECT_EQ(t, ops->unmap(dom, iova2 + PAGE_SIZE, PAGE_SIZE), -EINVAL);
	KTEST_EXPECT_EQ(t, ops->unmap(dom, iova2, 3 * PAGE_SIZE), -EINVAL);
	KTEST_EXPECT_EQ(t, ops->unmap(dom, iova2 + 1, 2 * PAGE_SIZE), -EINVAL);
	KTEST_EXPECT_EQ(t, ops->unmap(dom, iova2 + 4 * PAGE_SIZE, PAGE_SIZE), -ENOENT);
	KTEST_EXPECT_EQ(t, ops->domain_free(dom), -EBUSY);     /* mappings live */
	uint64_t got = 0;
	unsigned prot = 0;
	KTEST_EXPECT_EQ(t, ops->translate(dom, iova2 + PAGE_SIZE + 8, &got, &prot), 0);
	KTEST_EXPECT_EQ(t, got, pa + PAGE_SIZE + 8);
	KTEST_EXPECT_EQ(t, ops->unmap(dom, iova2, 2 * PAGE_SIZE), 0);
	KTEST_EXPECT_EQ(t, ops->unmap(dom, iova2, 2 * PAGE_SIZE), -ENOENT);
}

static void vtd_map_translate_unmap(struct ktest *t)
{
	if (!need_vtd(t))
		return;
	const struct iommu_ops *ops = &iommu_vtd_ops;
	struct iommu_domain *dom = ops->domain_alloc();
	KTEST_ASSERT(t, dom != 0);
	unsigned bits = iommu_domain_addr_bits(dom);
	KTEST_EXPECT(t, bits == 39 || bits == 48);
	uint64_t pa = pmm_alloc_pages(2, 1);
	KTEST_ASSERT(t, pa != 0);
	uint64_t iova = 0x40000000ull, got = 0;
	unsigned prot = 0;
	KTEST_EXPECT_EQ(t, ops->translate(dom, iova, &got, &prot), -ENOENT);
	KTEST_EXPECT_EQ(t, ops->map(dom, iova, pa, PAGE_SIZE, IOMMU_READ), 0);
	KTEST_EXPECT_EQ(t, ops->map(dom, iova + PAGE_SIZE, pa + PAGE_SIZE, PAGE_SIZE, IOMMU_WRITE), 0);
	KTEST_EXPECT_EQ(t, ops->translate(dom, iova + 0x123, &got, &prot), 0);
	KTEST_EXPECT_EQ(t, got, pa + 0x123);
	KTEST_EXPECT_EQ(t, prot, IOMMU_READ);
	KTEST_EXPECT_EQ(t, ops->translate(dom, iova + PAGE_SIZE, &got, &prot), 0);
	KTEST_EXPECT_EQ(t, got, pa + PAGE_SIZE);
	KTEST_EXPECT_EQ(t, prot, IOMMU_WRITE);
	/* An IOVA at the top of the width, so every level's last slot is used. */
	uint64_t high = (1ull << bits) - PAGE_SIZE;
	KTEST_EXPECT_EQ(t, ops->map(dom, high, pa, PAGE_SIZE, IOMMU_READ | IOMMU_WRITE), 0);
	KTEST_EXPECT_EQ(t, ops->translate(dom, high + 4095, &got, &prot), 0);
	KTEST_EXPECT_EQ(t, got, pa + 4095);
	KTEST_EXPECT_EQ(t, prot, IOMMU_READ | IOMMU_WRITE);
	KTEST_EXPECT_EQ(t, ops->unmap(dom, iova, PAGE_SIZE), 0);
	KTEST_EXPECT_EQ(t, ops->translate(dom, iova, &got, &prot), -ENOENT);
	KTEST_EXPECT_EQ(t, ops->translate(dom, iova + PAGE_SIZE, &got, &prot), 0);
	KTEST_EXPECT_EQ(t, ops->unmap(dom, iova + PAGE_SIZE, PAGE_SIZE), 0);
	KTEST_EXPECT_EQ(t, ops->unmap(dom, high, PAGE_SIZE), 0);
	KTEST_EXPECT_EQ(t, ops->translate(dom, high, &got, &prot), -ENOENT);
	KTEST_EXPECT_EQ(t, ops->domain_free(dom), 0);
	pmm_free_pages(pa, 2);
}

static void vtd_bad_arguments(struct ktest *t)
{
	if (!need_vtd(t))
		return;
	struct iommu_domain *dom = iommu_vtd_ops.domain_alloc();
	KTEST_ASSERT(t, dom != 0);
	uint64_t pa = pmm_alloc_pages(2, 1);
	KTEST_ASSERT(t, pa != 0);
	check_bad_args(t, &iommu_vtd_ops, dom, 0x80000000ull, pa, false);
	KTEST_EXPECT_EQ(t, iommu_vtd_ops.domain_free(dom), 0);
	pmm_free_pages(pa, 2);
}

static void identity_bad_arguments(struct ktest *t)
{
	const struct iommu_ops *ops = &iommu_identity_ops;
	struct iommu_domain *dom = ops->domain_alloc();
	KTEST_ASSERT(t, dom != 0);
	uint64_t pa = pmm_alloc_pages(2, 1);
	KTEST_ASSERT(t, pa != 0);
	check_bad_args(t, ops, dom, pa, pa, true);
	KTEST_EXPECT_EQ(t, ops->domain_free(dom), 0);
	pmm_free_pages(pa, 2);
}

/* A device a unit covers that nobody has attached (the host bridge, typically). */
static struct pci_dev *idle_covered_device(void)
{
	for (unsigned i = 0; i < pci_count(); i++) {
		struct pci_dev *d = pci_get(i);
		if (!d->skipped && d->header_type == 0 && vtd_covers(d) && !iommu_domain_of(d))
			return d;
	}
	return 0;
}

static void vtd_attach_rules(struct ktest *t)
{
	if (!need_vtd(t))
		return;
	struct pci_dev *d = idle_covered_device();
	if (!d) {
		ktest_skip(t, "no unattached device behind a VT-d unit");
		return;
	}
	const struct iommu_ops *ops = iommu_ops_for(d);
	KTEST_ASSERT(t, ops == &iommu_vtd_ops);
	struct iommu_domain *a = ops->domain_alloc(), *b = ops->domain_alloc();
	KTEST_ASSERT(t, a && b);
	KTEST_EXPECT_EQ(t, ops->attach(a, d), 0);
	KTEST_EXPECT(t, iommu_domain_of(d) == a);
	KTEST_EXPECT_EQ(t, ops->attach(b, d), -EBUSY);
	KTEST_EXPECT_EQ(t, ops->attach(a, d), -EBUSY);
	KTEST_EXPECT_EQ(t, ops->domain_free(a), -EBUSY);       /* attached */
	KTEST_EXPECT_EQ(t, ops->detach(b, d), -ENOENT);
	KTEST_EXPECT_EQ(t, ops->detach(a, d), 0);
	KTEST_EXPECT(t, iommu_domain_of(d) == 0);
	KTEST_EXPECT_EQ(t, ops->domain_free(a), 0);
	KTEST_EXPECT_EQ(t, ops->domain_free(b), 0);
}

/* ---- isolation with edu -------------------------------------------------------------- */

struct edu_ctx {
	struct edu *e;
	struct pci_dev *d;
	const struct iommu_ops *ops;
	struct iommu_domain *dom;
	bool own_dom;               /* made here because the DMA layer did not attach one */
};

static bool edu_open(struct ktest *t, struct edu_ctx *c)
{
	memset(c, 0, sizeof *c);
	if (!need_vtd(t))
		return false;
	c->e = edu_probe(0);
	if (!c->e) {
		ktest_skip(t, "no edu device");
		return false;
	}
	c->d = edu_pci(c->e);
	c->ops = iommu_ops_for(c->d);
	if (c->ops != &iommu_vtd_ops) {
		ktest_skip(t, "edu is not behind a VT-d unit");
		edu_remove(c->e);
		return false;
	}
	c->dom = iommu_domain_of(c->d);
	if (!c->dom) {
		c->dom = c->ops->domain_alloc();
		if (!c->dom || c->ops->attach(c->dom, c->d)) {
			ktest_fail_at(t, __FILE__, __LINE__, "cannot give edu a domain");
			edu_remove(c->e);
			return false;
		}
		c->own_dom = true;
	}
	return true;
}

static void edu_close(struct ktest *t, struct edu_ctx *c)
{
	if (c->own_dom) {
		KTEST_EXPECT_EQ(t, c->ops->detach(c->dom, c->d), 0);
		KTEST_EXPECT_EQ(t, c->ops->domain_free(c->dom), 0);
	}
	KTEST_EXPECT_EQ(t, edu_remove(c->e), 0);
}

/* A free IOVA page of the edu's domain at or above TEST_IOVA; the buffer loads
 * use their own range above FILL_IOVA so they never reuse the IOVA under test. */
#define FILL_IOVA (TEST_IOVA + 0x400000ull)
static uint64_t free_iova_from(struct edu_ctx *c, uint64_t from, unsigned nth)
{
	uint64_t pa;
	unsigned prot;
	for (uint64_t iova = from; iova <= EDU_DMA_MASK - PAGE_SIZE + 1; iova += PAGE_SIZE)
		if (c->ops->translate(c->dom, iova, &pa, &prot) == -ENOENT && nth-- == 0)
			return iova;
	return 0;
}

static uint64_t free_iova(struct edu_ctx *c, unsigned nth)
{
	return free_iova_from(c, TEST_IOVA, nth);
}

static bool wait_fault_irq(uint64_t before)
{
	uint64_t t0 = time_now_ns();
	while (iommu_fault_irq_count() == before) {
		if (time_now_ns() - t0 > FAULT_WAIT_NS)
			return false;
		hal_cpu_relax();
	}
	return true;
}

/* Load the device buffer with v (through a mapped page), for the writes below. */
static bool edu_buffer_fill(struct ktest *t, struct edu_ctx *c, uint8_t v)
{
	uint64_t src = page_fill(v), iova = free_iova_from(c, FILL_IOVA, 0);
	if (!src || !iova) {
		ktest_fail_at(t, __FILE__, __LINE__, "no page or IOVA");
		return false;
	}
	bool ok = c->ops->map(c->dom, iova, src, PAGE_SIZE, IOMMU_READ) == 0;
	KTEST_EXPECT(t, ok);
	if (ok) {
		KTEST_EXPECT_EQ(t, edu_dma(c->e, iova, 0, XFER, true), 0);
		KTEST_EXPECT_EQ(t, c->ops->unmap(c->dom, iova, PAGE_SIZE), 0);
	}
	pmm_free_pages(src, 1);
	return ok;
}

/* The device at c faults once on iova: the interrupt arrives, the count for edu
 * goes up by one, the record matches, and the console line says so. */
static void expect_fault(struct ktest *t, struct edu_ctx *c, uint64_t irq_before, uint64_t count_before,
			 uint64_t iova, uint8_t reason, bool write)
{
	KTEST_EXPECT(t, wait_fault_irq(irq_before));
	KTEST_EXPECT_EQ(t, iommu_fault_count(c->d), count_before + 1);
	struct iommu_fault f;
	KTEST_ASSERT(t, iommu_fault_last(&f) == 0);
	uint16_t sid = (uint16_t)(c->d->addr.bus << 8 | c->d->addr.dev << 3 | c->d->addr.fn);
	KTEST_EXPECT_EQ(t, f.sid, sid);
	KTEST_EXPECT_EQ(t, f.addr, iova);
	KTEST_EXPECT_EQ(t, f.reason, reason);
	KTEST_EXPECT_EQ(t, f.write, write);
	char line[96];
	ksnprintf(line, sizeof line, "iommu: fault: %04x:%02x:%02x.%x sid 0x%04x addr 0x%016llx reason 0x%02x %s",
		  c->d->addr.seg, c->d->addr.bus, c->d->addr.dev, c->d->addr.fn, sid, (unsigned long long)iova,
		  reason, write ? "write" : "read");
	KTEST_EXPECT(t, klog_contains(line));
}

static void edu_dma_through_mapping(struct ktest *t)
{
	struct edu_ctx c;
	if (!edu_open(t, &c))
		return;
	uint64_t src = page_fill(0x3C), dst = page_fill(0), other = page_fill(0x11);
	uint64_t faults = iommu_fault_count(c.d);
	uint64_t is = free_iova(&c, 0), id = free_iova(&c, 1);
	KTEST_ASSERT(t, src && dst && other && is && id);
	KTEST_EXPECT_EQ(t, c.ops->map(c.dom, is, src, PAGE_SIZE, IOMMU_READ), 0);
	KTEST_EXPECT_EQ(t, c.ops->map(c.dom, id, dst, PAGE_SIZE, IOMMU_WRITE), 0);
	KTEST_EXPECT_EQ(t, edu_dma(c.e, is, 0, XFER, true), 0);
	KTEST_EXPECT_EQ(t, edu_dma(c.e, id, 0, XFER, false), 0);
	KTEST_EXPECT(t, bytes_are(dst, XFER, 0x3C));  /* the mapped page, */
	KTEST_EXPECT(t, bytes_are(dst + XFER, PAGE_SIZE - XFER, 0));
	KTEST_EXPECT(t, page_is(other, 0x11));       /* nothing else */
	KTEST_EXPECT(t, page_is(src, 0x3C));
	KTEST_EXPECT_EQ(t, iommu_fault_count(c.d), faults);
	KTEST_EXPECT_EQ(t, c.ops->unmap(c.dom, is, PAGE_SIZE), 0);
	KTEST_EXPECT_EQ(t, c.ops->unmap(c.dom, id, PAGE_SIZE), 0);
	pmm_free_pages(src, 1);
	pmm_free_pages(dst, 1);
	pmm_free_pages(other, 1);
	edu_close(t, &c);
}

static void edu_dma_unmapped_iova_faults(struct ktest *t)
{
	struct edu_ctx c;
	if (!edu_open(t, &c))
		return;
	if (!edu_buffer_fill(t, &c, 0x77))
		goto out;
	uint64_t iova = free_iova(&c, 0);
	/* Device -> memory at a never-mapped IOVA: a write fault (reason 0x05). */
	uint64_t irq = iommu_fault_irq_count(), n = iommu_fault_count(c.d);
	int rc = edu_dma(c.e, iova, 0, XFER, false);
	ktest_log(t, "write to unmapped 0x%llx: edu_dma %d", (unsigned long long)iova, rc);
	expect_fault(t, &c, irq, n, iova, VTD_FR_WRITE, true);
	/* Memory -> device from it: a read fault (reason 0x06). */
	irq = iommu_fault_irq_count();
	n = iommu_fault_count(c.d);
	rc = edu_dma(c.e, iova, 0, XFER, true);
	ktest_log(t, "read from unmapped 0x%llx: edu_dma %d", (unsigned long long)iova, rc);
	expect_fault(t, &c, irq, n, iova, VTD_FR_READ, false);
	/* Now map it: the next DMA must reach the page. Under caching mode the unit
	 * may hold the not-present translation the faults left: map invalidates it. */
	if (!edu_buffer_fill(t, &c, 0x77))      /* the blocked read left it undefined */
		goto out;
	uint64_t page = page_fill(0);
	KTEST_ASSERT(t, page != 0);
	KTEST_EXPECT_EQ(t, c.ops->map(c.dom, iova, page, PAGE_SIZE, IOMMU_WRITE), 0);
	n = iommu_fault_count(c.d);
	KTEST_EXPECT_EQ(t, edu_dma(c.e, iova, 0, XFER, false), 0);
	KTEST_EXPECT(t, bytes_are(page, XFER, 0x77));
	KTEST_EXPECT_EQ(t, iommu_fault_count(c.d), n);
	KTEST_EXPECT_EQ(t, c.ops->unmap(c.dom, iova, PAGE_SIZE), 0);
	pmm_free_pages(page, 1);
out:
	edu_close(t, &c);
}

/* Map, let the device see the page, unmap: a later DMA to the IOVA must fault and
 * leave the page alone (a missing IOTLB invalidation would write it). */
static void after_unmap(struct ktest *t, struct edu_ctx *c)
{
	uint64_t page = page_fill(0xAA), iova = free_iova(c, 0);
	KTEST_ASSERT(t, page && iova);
	KTEST_EXPECT_EQ(t, c->ops->map(c->dom, iova, page, PAGE_SIZE, IOMMU_READ | IOMMU_WRITE), 0);
	/* A read through the mapping caches its translation in the IOTLB. */
	KTEST_EXPECT_EQ(t, edu_dma(c->e, iova, 1024, 1024, true), 0);
	KTEST_EXPECT_EQ(t, c->ops->unmap(c->dom, iova, PAGE_SIZE), 0);
	if (!edu_buffer_fill(t, c, 0x5C))
		goto out;
	uint64_t irq = iommu_fault_irq_count(), n = iommu_fault_count(c->d);
	int rc = edu_dma(c->e, iova, 0, XFER, false);
	ktest_log(t, "write after unmap to 0x%llx: edu_dma %d", (unsigned long long)iova, rc);
	KTEST_EXPECT(t, page_is(page, 0xAA));
	expect_fault(t, c, irq, n, iova, VTD_FR_WRITE, true);
out:
	pmm_free_pages(page, 1);
}

static void edu_dma_after_unmap_faults(struct ktest *t)
{
	struct edu_ctx c;
	if (!edu_open(t, &c))
		return;
	ktest_log(t, "invalidation: %s", vtd_qi_enabled() ? "queued" : "register-based");
	after_unmap(t, &c);
	edu_close(t, &c);
}

/* The same with the other invalidation interface: register-based when QI is on
 * (switched for this case), queued when the boot chose registers but the unit
 * offers QI and the command line did not forbid it. */
static void edu_dma_after_unmap_other_invalidation(struct ktest *t)
{
	if (!need_vtd(t))
		return;
	bool qi = vtd_qi_enabled();
	const char *forbid = ktest_cmdline_get("iommu.qi");
	if (!qi && forbid && kstrcmp(forbid, "0") == 0) {
		ktest_skip(t, "iommu.qi=0: queued invalidation not allowed");
		return;
	}
	int rc = vtd_set_qi(!qi);
	if (rc == -EOPNOTSUPP) {
		ktest_skip(t, "the unit offers no queued invalidation (ECAP.QI = 0)");
		return;
	}
	KTEST_ASSERT(t, rc == 0);
	KTEST_EXPECT_EQ(t, vtd_qi_enabled(), !qi);
	struct edu_ctx c;
	if (edu_open(t, &c)) {
		ktest_log(t, "invalidation: %s", vtd_qi_enabled() ? "queued" : "register-based");
		after_unmap(t, &c);
		edu_close(t, &c);
	}
	KTEST_EXPECT_EQ(t, vtd_set_qi(qi), 0);
	KTEST_EXPECT_EQ(t, vtd_qi_enabled(), qi);
}

/* A device with no context entry is blocked: reason 0x02 (context not present). */
static void edu_dma_without_domain_faults(struct ktest *t)
{
	struct edu_ctx c;
	if (!edu_open(t, &c))
		return;
	uint64_t page = page_fill(0x42), iova = free_iova(&c, 0);
	KTEST_ASSERT(t, page && iova);
	KTEST_EXPECT_EQ(t, c.ops->map(c.dom, iova, page, PAGE_SIZE, IOMMU_READ | IOMMU_WRITE), 0);
	KTEST_EXPECT_EQ(t, c.ops->detach(c.dom, c.d), 0);
	uint64_t irq = iommu_fault_irq_count(), n = iommu_fault_count(c.d);
	int rc = edu_dma(c.e, iova, 0, XFER, false);
	ktest_log(t, "write without a domain to 0x%llx: edu_dma %d", (unsigned long long)iova, rc);
	KTEST_EXPECT(t, page_is(page, 0x42));
	expect_fault(t, &c, irq, n, iova, VTD_FR_CTX_NOT_PRESENT, true);
	KTEST_EXPECT_EQ(t, c.ops->attach(c.dom, c.d), 0);
	KTEST_EXPECT_EQ(t, c.ops->unmap(c.dom, iova, PAGE_SIZE), 0);
	pmm_free_pages(page, 1);
	edu_close(t, &c);
}

/* RMRR (§8.4): every page of a reserved region naming edu is mapped 1:1 read+write
 * in its domain while it is attached, the DMA layer never hands those IOVAs out,
 * unmapping them is refused, edu's DMA to the region reaches that physical memory
 * without a fault, and after detach the mapping is gone. */
static void iommu_rmrr_identity_mapped(struct ktest *t)
{
	if (!need_vtd(t))
		return;
	struct edu *e = edu_probe(0);
	if (!e) {
		ktest_skip(t, "no edu device (the DMAR names no present device in an RMRR it could test)");
		return;
	}
	struct pci_dev *d = edu_pci(e);
	uint64_t base, limit;
	if (iommu_ops_for(d) != &iommu_vtd_ops || iommu_reserved_region(d, 0, &base, &limit)) {
		ktest_skip(t, "the DMAR has no RMRR naming the edu device (a present device behind VT-d)");
		edu_remove(e);
		return;
	}
	ktest_log(t, "RMRR 0x%llx-0x%llx names edu", (unsigned long long)base, (unsigned long long)limit);
	struct iommu_domain *dom = iommu_domain_of(d);
	KTEST_ASSERT(t, dom != 0);
	const struct iommu_ops *ops = dom->ops;
	uint64_t pa, npages = (limit - base + 1) / PAGE_SIZE;
	unsigned prot;
	/* 1:1 with read and write, every page (bounded: a huge region samples). */
	uint64_t step = npages > 4096 ? npages / 4096 : 1;
	for (uint64_t i = 0; i < npages; i += step) {
		uint64_t iova = base + i * PAGE_SIZE;
		int rc = ops->translate(dom, iova + 8, &pa, &prot);
		if (rc || pa != iova + 8 || prot != (IOMMU_READ | IOMMU_WRITE)) {
			ktest_fail_at(t, __FILE__, __LINE__, "RMRR page 0x%llx: translate %d pa 0x%llx prot %u",
				      (unsigned long long)iova, rc, (unsigned long long)pa, prot);
			break;
		}
	}
	/* Nobody may take or drop those IOVAs: map and unmap are refused, and the DMA
	 * layer's allocator keeps them out of its free ranges. */
	uint64_t scratch = pmm_alloc_page();
	KTEST_ASSERT(t, scratch != 0);
	KTEST_EXPECT_EQ(t, ops->map(dom, base, scratch, PAGE_SIZE, IOMMU_READ), -EEXIST);
	KTEST_EXPECT_EQ(t, ops->unmap(dom, base, limit - base + 1), -EBUSY);
	struct dma_dev *dd = edu_dma_dev(e);
	if (dma_dev_policy(dd) == DMA_POLICY_IOMMU)
		KTEST_EXPECT(t, dma_dev_iova_excluded(dd, base, limit));
	/* edu reads the region's first page into its buffer and writes it back into
	 * the second half: both directions reach the physical page, no fault. */
	uint8_t *rp = hal_phys_to_virt(base);
	uint8_t *saved = kmalloc(PAGE_SIZE);
	if (rp && saved && base + PAGE_SIZE - 1 <= EDU_DMA_MASK) {
		memcpy(saved, rp, PAGE_SIZE);
		for (unsigned i = 0; i < XFER; i++)
			rp[i] = (uint8_t)(i * 7 + 1);
		memset(rp + XFER, 0, PAGE_SIZE - XFER);
		uint64_t faults = iommu_fault_count(d);
		KTEST_EXPECT_EQ(t, edu_dma(e, base, 0, XFER, true), 0);
		KTEST_EXPECT_EQ(t, edu_dma(e, base + XFER, 0, XFER, false), 0);
		bool same = true;
		for (unsigned i = 0; i < XFER; i++)
			if (rp[XFER + i] != (uint8_t)(i * 7 + 1))
				same = false;
		KTEST_EXPECT(t, same);
		KTEST_EXPECT_EQ(t, iommu_fault_count(d), faults);
		memcpy(rp, saved, PAGE_SIZE);
	} else {
		ktest_log(t, "RMRR not in RAM below edu's 28-bit mask: no DMA through it");
	}
	kfree(saved);
	KTEST_EXPECT_EQ(t, edu_remove(e), 0);
	KTEST_EXPECT(t, iommu_domain_of(d) == 0);
	/* A bare domain: mapped from attach to detach only, and freeable after. */
	struct iommu_domain *b = ops->domain_alloc();
	KTEST_ASSERT(t, b != 0);
	KTEST_EXPECT_EQ(t, ops->translate(b, base, &pa, &prot), -ENOENT);
	KTEST_EXPECT_EQ(t, ops->attach(b, d), 0);
	KTEST_EXPECT_EQ(t, ops->translate(b, limit & ~(PAGE_SIZE - 1), &pa, &prot), 0);
	KTEST_EXPECT_EQ(t, pa, limit & ~(PAGE_SIZE - 1));
	KTEST_EXPECT_EQ(t, ops->detach(b, d), 0);
	KTEST_EXPECT_EQ(t, ops->translate(b, base, &pa, &prot), -ENOENT);
	KTEST_EXPECT_EQ(t, ops->translate(b, limit & ~(PAGE_SIZE - 1), &pa, &prot), -ENOENT);
	KTEST_EXPECT_EQ(t, ops->domain_free(b), 0);
	pmm_free_pages(scratch, 1);
}

static void fault_totals(struct ktest *t)
{
	uint64_t n = 0;
	vtd_fault_poll();
	for (unsigned i = 0; i < vtd_unit_count(); i++)
		n += vtd_unit_faults(i);
	kinfo("iommu.faults", "%llu", (unsigned long long)n);
	kinfo("iommu.fault_irqs", "%llu", (unsigned long long)iommu_fault_irq_count());
	iommu_dump();
	KTEST_EXPECT(t, iommu_fault_irq_count() <= n);
}

static const struct ktest_case iommu_cases[] = {
	KTEST_CASE(vtd_map_translate_unmap),
	KTEST_CASE(vtd_bad_arguments),
	KTEST_CASE(identity_bad_arguments),
	KTEST_CASE(vtd_attach_rules),
	KTEST_CASE(edu_dma_through_mapping),
	KTEST_CASE(edu_dma_unmapped_iova_faults),
	KTEST_CASE(edu_dma_after_unmap_faults),
	KTEST_CASE(edu_dma_after_unmap_other_invalidation),
	KTEST_CASE(edu_dma_without_domain_faults),
	KTEST_CASE(iommu_rmrr_identity_mapped),
	KTEST_CASE(fault_totals),
};
KTEST_SUITE(iommu_suite, "iommu", iommu_cases);
