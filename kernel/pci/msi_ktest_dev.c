/*
 * msi_ktest_dev.c — `msi` ktest cases on devices with many vectors: an NVMe
 * controller's admin queue over MSI-X (NVMe 1.4 §3.1 registers, §4.6 phase tag,
 * §5.15 Identify; queues from the DMA API): enable, fire, mask with the PBA bit,
 * unmask; the sim's testdev (docs/pci.md) with 32 MSI messages, 64 MSI-X vectors
 * moved over all CPUs, and 2048 MSI-X vectors placed over the CPUs by the kernel.
 */
#include "msi_ktest.h"
#include <drivers/nvme.h>

#define NVME_QDEPTH 16               /* admin queue entries this test uses */

/* ---- NVMe admin queue over MSI-X -------------------------------------------------------- */

struct nvme_t {
	struct pci_dev *d;
	volatile uint8_t *regs;
	uint64_t cap;
	struct dma_dev *dd;             /* DMA API: reachable under VT-d translation too */
	dma_addr_t sq_pa, cq_pa, id_pa; /* bus addresses of the coherent buffers */
	void *id;
	struct nvme_sqe *sq;
	volatile struct nvme_cqe *cq;
	unsigned sq_tail, cq_head;
	uint32_t cq_db;
};

static bool nvme_wait_csts(struct nvme_t *n, uint32_t mask, uint32_t want)
{
	/* CAP.TO is the worst case the controller may take (500 ms units). */
	uint64_t to_us = (nvme_cap_to(n->cap) + 1) * 500000ull;
	uint64_t t0 = time_now_ns();
	while ((hal_mmio_read32(n->regs + NVME_REG_CSTS) & mask) != want) {
		if (time_now_ns() - t0 > to_us * 1000)
			return false;
		hal_cpu_relax();
	}
	return true;
}

static void nvme_submit_identify(struct nvme_t *n, uint16_t cid)
{
	struct nvme_sqe *e = &n->sq[n->sq_tail];
	memset(e, 0, sizeof *e);
	e->opc = NVME_ADM_IDENTIFY;
	e->cid = cid;
	e->prp1 = n->id_pa;
	e->cdw10 = NVME_CNS_CTRL;
	n->sq_tail = (n->sq_tail + 1) % NVME_QDEPTH;
	/* release: the entry is in memory before the doorbell tells the device */
	atomic_fence(MO_RELEASE);
	hal_mmio_write32(n->regs + NVME_SQ_TDBL(0, nvme_cap_dstrd(n->cap)), n->sq_tail);
}

/* Poll the next completion's phase tag (§4.6: 1 on the first pass). */
static bool nvme_poll_cqe(struct nvme_t *n, uint16_t cid, struct ktest *t)
{
	volatile struct nvme_cqe *e = &n->cq[n->cq_head];
	uint64_t t0 = time_now_ns();
	while (!(atomic_load16(&e->status, MO_ACQUIRE) & NVME_STATUS_P)) {
		if (time_now_ns() - t0 > WAIT_US * 1000ull) {
			ktest_fail_at(t, __FILE__, __LINE__, "no completion for cid %u; CSTS 0x%x", cid,
				      hal_mmio_read32(n->regs + NVME_REG_CSTS));
			return false;
		}
		hal_cpu_relax();
	}
	KTEST_EXPECT_EQ(t, e->cid, cid);
	KTEST_EXPECT_EQ(t, e->status & ~NVME_STATUS_P, 0);  /* success */
	n->cq_head++;
	hal_mmio_write32(n->regs + n->cq_db, n->cq_head);
	return true;
}

static void nvme_msix_case(struct ktest *t)
{
	if (!need_mode(t, PCI_IRQ_MSIX))
		return;
	if (!need_pci(t))
		return;
	struct nvme_t n = { 0 };
	n.d = pci_find_class(NVME_PCI_CLASS, 0xFFFFFF, 0);
	if (!n.d) {
		ktest_skip(t, "no NVMe controller");
		return;
	}
	struct pci_dev *d = n.d;
	if (!d->msix.valid) {
		ktest_skip(t, "NVMe controller without a usable MSI-X capability");
		return;
	}
	pci_enable(d, true, false, true);
	n.regs = pci_bar_map(d, 0);
	KTEST_ASSERT(t, n.regs != 0);
	vec_snapshot();
	n.cap = hal_mmio_read64(n.regs + NVME_REG_CAP);
	n.cq_db = NVME_CQ_HDBL(0, nvme_cap_dstrd(n.cap));
	struct pci_irq pi = { 0 };
	bool have_irq = false;
	/* Queues and the Identify buffer through the DMA API (docs/dma.md): with VT-d
	 * translating, a device without a domain is blocked. 64-bit, page-aligned. */
	struct dma_params dp = { .mask = ~0ull, .max_seg = 0, .align = (uint32_t)PAGE_SIZE };
	n.dd = dma_dev_attach(d, &dp);
	if (n.dd) {
		n.sq = dma_alloc_coherent(n.dd, PAGE_SIZE, &n.sq_pa);
		n.cq = dma_alloc_coherent(n.dd, PAGE_SIZE, &n.cq_pa);
		n.id = dma_alloc_coherent(n.dd, PAGE_SIZE, &n.id_pa);
	}
	if (!n.sq || !n.cq || !n.id) {
		ktest_fail_at(t, __FILE__, __LINE__, "no DMA state or coherent memory");
		goto out;
	}
	KTEST_EXPECT_EQ(t, n.sq_pa % PAGE_SIZE, 0);

	/* Reset to a known state (§7.6.1): CC.EN 0, wait RDY 0. */
	hal_mmio_write32(n.regs + NVME_REG_CC, 0);
	if (!nvme_wait_csts(&n, NVME_CSTS_RDY, 0)) {
		ktest_fail_at(t, __FILE__, __LINE__, "CSTS.RDY stays 1 after CC.EN=0: CSTS 0x%x",
			      hal_mmio_read32(n.regs + NVME_REG_CSTS));
		goto out;
	}
	unsigned target = last_msi_cpu();
	counts_reset(0, ACK_NONE);
	int rc = pci_irq_alloc(d, 1, target, PCI_IRQ_ALLOW_MSIX, count_irq, &msi_cnt, &pi);
	if (rc) {
		ktest_fail_at(t, __FILE__, __LINE__, "MSI-X for NVMe: %d (%s)", rc,
			      pi.fallback_why[0] ? pi.fallback_why[0] : "?");
		goto out;
	}
	have_irq = true;
	KTEST_EXPECT_EQ(t, pi.mode, PCI_IRQ_MSIX);
	KTEST_EXPECT_EQ(t, pi.nvec, 1);
	KTEST_EXPECT_EQ(t, pi.vec[0].cpu, target);
	uint16_t mc = cfg16(d, d->msix.off + PCI_MSIX_CTRL);
	KTEST_EXPECT_EQ(t, mc & (PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_MASKALL), PCI_MSIX_CTRL_ENABLE);
	volatile uint32_t *e0 = pi.msix_table;
	KTEST_EXPECT_EQ(t, hal_mmio_read32(&e0[MSIX_ENT_ADDR_LO]),
			0xFEE00000u | (percpu_of(target)->apic_id << 12));
	KTEST_EXPECT_EQ(t, hal_mmio_read32(&e0[MSIX_ENT_DATA]), pi.vec[0].vector);
	KTEST_EXPECT(t, hal_mmio_read32(&e0[MSIX_ENT_CTRL]) & MSIX_ENT_CTRL_MASK);     /* starts masked */
	if (d->msix.table_size > 1)     /* entries beyond the grant stay masked */
		KTEST_EXPECT(t, hal_mmio_read32(&e0[MSIX_ENTRY_DW + MSIX_ENT_CTRL]) & MSIX_ENT_CTRL_MASK);
	KTEST_EXPECT_EQ(t, pci_irq_unmask(&pi, 0), 0);
	KTEST_EXPECT(t, !(hal_mmio_read32(&e0[MSIX_ENT_CTRL]) & MSIX_ENT_CTRL_MASK));

	/* Admin queues (§3.1.8-3.1.10) and enable: 64-byte SQEs, 16-byte CQEs. */
	hal_mmio_write32(n.regs + NVME_REG_AQA, ((NVME_QDEPTH - 1u) << NVME_AQA_ACQS_SHIFT) | (NVME_QDEPTH - 1u));
	hal_mmio_write64(n.regs + NVME_REG_ASQ, n.sq_pa);
	hal_mmio_write64(n.regs + NVME_REG_ACQ, n.cq_pa);
	hal_mmio_write32(n.regs + NVME_REG_CC, NVME_CC_EN | NVME_SQES_LOG2 << NVME_CC_IOSQES_SHIFT |
			 NVME_CQES_LOG2 << NVME_CC_IOCQES_SHIFT);
	if (!nvme_wait_csts(&n, NVME_CSTS_RDY | NVME_CSTS_CFS, NVME_CSTS_RDY)) {
		ktest_fail_at(t, __FILE__, __LINE__, "CSTS.RDY never 1: CAP 0x%llx CC 0x%x CSTS 0x%x AQA 0x%x",
			      (unsigned long long)n.cap, hal_mmio_read32(n.regs + NVME_REG_CC),
			      hal_mmio_read32(n.regs + NVME_REG_CSTS), hal_mmio_read32(n.regs + NVME_REG_AQA));
		goto out;
	}

	/* 1: Identify; the admin completion interrupts on vector 0, on target. */
	nvme_submit_identify(&n, 1);
	if (!wait_exactly(1))
		ktest_fail_at(t, __FILE__, __LINE__, "Identify: %llu interrupts, want 1",
			      (unsigned long long)total());
	KTEST_EXPECT_EQ(t, atomic_load64(&msi_cnt.per_cpu[target], MO_RELAXED), 1);
	if (!nvme_poll_cqe(&n, 1, t))
		goto out_disable;
	const uint16_t *idc = n.id;
	KTEST_EXPECT_EQ(t, idc[0], d->vendor);              /* Identify Controller VID */

	/* 2: masked in the table: it completes (phase tag), no interrupt, PBA bit set. */
	KTEST_EXPECT_EQ(t, pci_irq_mask(&pi, 0), 0);
	nvme_submit_identify(&n, 2);
	if (!nvme_poll_cqe(&n, 2, t))
		goto out_disable;
	KTEST_EXPECT(t, !tu_wait_ge(&msi_cnt.total, 2, QUIET_US));
	KTEST_EXPECT_EQ(t, total(), 1);
	KTEST_EXPECT_EQ(t, pci_irq_pending(&pi, 0), 1);
	/* Unmask: the pending message goes out, exactly once. */
	KTEST_EXPECT_EQ(t, pci_irq_unmask(&pi, 0), 0);
	if (!wait_exactly(2))
		ktest_fail_at(t, __FILE__, __LINE__, "after unmask: %llu interrupts, want 2",
			      (unsigned long long)total());
	KTEST_EXPECT_EQ(t, atomic_load64(&msi_cnt.per_cpu[target], MO_RELAXED), 2);
	KTEST_EXPECT_EQ(t, pci_irq_pending(&pi, 0), 0);
	if (!t->failed)
		ktest_log(t, "NVMe %04x:%04x MSI-X vector 0x%x on CPU %u: fired, masked (PBA set), unmasked",
			  d->vendor, d->device, pi.vec[0].vector, target);

out_disable:
	hal_mmio_write32(n.regs + NVME_REG_CC, 0);
	if (!nvme_wait_csts(&n, NVME_CSTS_RDY, 0))
		ktest_fail_at(t, __FILE__, __LINE__, "CSTS.RDY stays 1 after disable: CSTS 0x%x",
			      hal_mmio_read32(n.regs + NVME_REG_CSTS));
out:
	if (have_irq) {
		volatile uint32_t *tbl = pi.msix_table;
		pci_irq_free(&pi);
		expect_quiet(t, d);
		/* The table (still mapped through our BAR0 mapping when it lives there). */
		if (d->msix.table_bar == 0 && tbl) {
			volatile uint32_t *e = (volatile uint32_t *)(n.regs + d->msix.table_off);
			KTEST_EXPECT(t, hal_mmio_read32(&e[MSIX_ENT_CTRL]) & MSIX_ENT_CTRL_MASK);
			KTEST_EXPECT_EQ(t, hal_mmio_read32(&e[MSIX_ENT_DATA]), 0);
		}
	}
	vec_check(t, "after free");
	if (n.sq)
		dma_free_coherent(n.dd, PAGE_SIZE, n.sq, n.sq_pa);
	if (n.cq)
		dma_free_coherent(n.dd, PAGE_SIZE, (void *)n.cq, n.cq_pa);
	if (n.id)
		dma_free_coherent(n.dd, PAGE_SIZE, n.id, n.id_pa);
	if (n.dd)
		KTEST_EXPECT_EQ(t, dma_dev_release(n.dd), 0);
	hal_mmio_unmap((void *)n.regs, (size_t)d->bar[0].size);
}

/* The NVMe driver owns the controller from boot: it lets go for the case (vectors,
 * queues and DMA state freed, controller disabled) and takes it back after, so
 * what runs later (the io= workload) still finds its block devices working. */
void msi_nvme_msix_enable_fire_mask(struct ktest *t)
{
	bool released = nvme_test_release(0) == 0;
	nvme_msix_case(t);
	if (released && nvme_test_reclaim(0) != 0)
		ktest_fail_at(t, __FILE__, __LINE__, "the NVMe driver could not take nvme0 back");
}

/* ---- testdev (sim): 32 MSI messages, MSI-X vectors over every CPU ---------------------- */

#define ALL_CPUS_NVEC 64            /* msi_testdev_msix_all_cpus: vectors moved by affinity */

static struct pci_dev *testdev_open(struct ktest *t, uint16_t device, volatile uint8_t **regs)
{
	if (!need_pci(t))
		return 0;
	struct pci_dev *d = pci_find(TESTDEV_VENDOR, device, 0);
	if (!d) {
		ktest_skip(t, "no testdev %04x:%04x (the simulator's test endpoint)", TESTDEV_VENDOR, device);
		return 0;
	}
	pci_enable(d, true, false, true);
	*regs = pci_bar_map(d, 0);
	if (!*regs) {
		ktest_fail_at(t, __FILE__, __LINE__, "testdev BAR0 cannot be mapped");
		return 0;
	}
	return d;
}

static bool raise_and_wait(volatile uint8_t *regs, unsigned idx, uint64_t want_total)
{
	hal_mmio_write32(regs + TESTDEV_REG_RAISE, idx);
	return tu_wait_ge(&msi_cnt.total, want_total, WAIT_US);
}

/* The start of a testdev case: the function open, vectors snapshotted, counts reset and
 * nvec vectors of `mode` granted from CPU start. NULL when the case ends here (skipped,
 * or failed and cleaned up). */
static struct pci_dev *testdev_alloc(struct ktest *t, uint16_t device, enum pci_irq_mode mode,
				     unsigned nvec, unsigned start, volatile uint8_t **regs,
				     struct pci_irq *pi)
{
	struct pci_dev *d = testdev_open(t, device, regs);
	if (!d)
		return 0;
	vec_snapshot();
	counts_reset(0, ACK_NONE);
	unsigned allow = mode == PCI_IRQ_MSI ? PCI_IRQ_ALLOW_MSI : PCI_IRQ_ALLOW_MSIX;
	int rc = pci_irq_alloc(d, nvec, start, allow, count_irq, &msi_cnt, pi);
	KTEST_EXPECT_EQ(t, rc, 0);
	if (!rc) {
		KTEST_EXPECT_EQ(t, pi->mode, mode);
		return d;
	}
	vec_check(t, "after free");
	hal_mmio_unmap((void *)*regs, (size_t)d->bar[0].size);
	return 0;
}

void msi_testdev_multi_message(struct ktest *t)
{
	if (!need_mode(t, PCI_IRQ_MSI))
		return;
	volatile uint8_t *regs;
	struct pci_irq pi;
	struct pci_dev *d = testdev_alloc(t, TESTDEV_DEVICE_MSI, PCI_IRQ_MSI, 32, 0, &regs, &pi);
	if (!d)
		return;
	unsigned nv = pi.nvec;
	KTEST_EXPECT(t, nv >= 1 && nv <= 32 && (nv & (nv - 1)) == 0);
	KTEST_EXPECT_EQ(t, pi.vec[0].vector % nv, 0);       /* aligned block */
	KTEST_EXPECT_EQ(t, pi.vec[0].count, nv);
	uint16_t mc = cfg16(d, d->msi.off + PCI_MSI_CTRL);
	KTEST_EXPECT_EQ(t, 1u << ((mc >> PCI_MSI_CTRL_MME_SHIFT) & 7), nv);
	KTEST_EXPECT(t, d->msi.is64 && d->msi.maskable);
	ktest_log(t, "MSI block of %u at vector 0x%x", nv, pi.vec[0].vector);
	/* Masked at start: a raise waits in the Pending Bits. */
	hal_mmio_write32(regs + TESTDEV_REG_RAISE, 0);
	KTEST_EXPECT(t, !tu_wait_ge(&msi_cnt.total, 1, QUIET_US));
	KTEST_EXPECT_EQ(t, pci_irq_pending(&pi, 0), 1);
	for (unsigned i = 0; i < nv; i++)
		KTEST_EXPECT_EQ(t, pci_irq_unmask(&pi, i), 0);
	KTEST_EXPECT(t, tu_wait_ge(&msi_cnt.total, 1, WAIT_US));
	KTEST_EXPECT_EQ(t, pci_irq_pending(&pi, 0), 0);
	counts_reset(0, ACK_NONE);
	for (unsigned i = 0; i < nv; i++) {
		if (!raise_and_wait(regs, i, i + 1)) {
			ktest_fail_at(t, __FILE__, __LINE__, "MSI message %u never arrived", i);
			break;
		}
		KTEST_EXPECT_EQ(t, atomic_load64(&msi_cnt.per_idx[i], MO_RELAXED), 1);
	}
	KTEST_EXPECT(t, wait_exactly(nv));
	KTEST_EXPECT_EQ(t, atomic_load64(&msi_cnt.per_cpu[0], MO_RELAXED), nv);

	/* Per-vector mask: pending while masked, delivered on unmask. */
	unsigned v = nv > 5 ? 5 : nv - 1;
	counts_reset(0, ACK_NONE);
	KTEST_EXPECT_EQ(t, pci_irq_mask(&pi, v), 0);
	hal_mmio_write32(regs + TESTDEV_REG_RAISE, v);
	KTEST_EXPECT(t, !tu_wait_ge(&msi_cnt.total, 1, QUIET_US));
	KTEST_EXPECT_EQ(t, pci_irq_pending(&pi, v), 1);
	KTEST_EXPECT_EQ(t, pci_irq_unmask(&pi, v), 0);
	KTEST_EXPECT(t, wait_exactly(1));
	KTEST_EXPECT_EQ(t, atomic_load64(&msi_cnt.per_idx[v], MO_RELAXED), 1);
	KTEST_EXPECT_EQ(t, pci_irq_pending(&pi, v), 0);

	/* The whole block moves with affinity. */
	unsigned to = last_msi_cpu();
	counts_reset(0, ACK_NONE);
	KTEST_EXPECT_EQ(t, pci_irq_set_affinity(&pi, 0, to), 0);
	KTEST_EXPECT_EQ(t, pi.vec[0].cpu, to);
	KTEST_EXPECT_EQ(t, pi.vec[0].vector % nv, 0);
	KTEST_EXPECT(t, raise_and_wait(regs, nv - 1, 1));
	KTEST_EXPECT(t, wait_exactly(1));
	KTEST_EXPECT_EQ(t, atomic_load64(&msi_cnt.per_cpu[to], MO_RELAXED), 1);
	KTEST_EXPECT_EQ(t, atomic_load64(&msi_cnt.per_idx[nv - 1], MO_RELAXED), 1);

	pci_irq_free(&pi);
	expect_quiet(t, d);
	uint32_t mask = pci_cfg_read32(&d->addr, d->msi.off + (d->msi.is64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32));
	KTEST_EXPECT_EQ(t, mask, 0xFFFFFFFFu);
	vec_check(t, "after free");
	hal_mmio_unmap((void *)regs, (size_t)d->bar[0].size);
}

void msi_testdev_msix_all_cpus(struct ktest *t)
{
	if (!need_mode(t, PCI_IRQ_MSIX))
		return;
	volatile uint8_t *regs;
	struct pci_irq pi;
	struct pci_dev *d = testdev_alloc(t, TESTDEV_DEVICE_MSIX, PCI_IRQ_MSIX, ALL_CPUS_NVEC, 0, &regs, &pi);
	if (!d)
		return;
	KTEST_EXPECT_EQ(t, pi.nvec, ALL_CPUS_NVEC);
	KTEST_EXPECT_EQ(t, d->msix.table_size, MSIX_MAX_ENTRIES);
	unsigned all[HAL_MAX_CPUS], cpus[HAL_MAX_CPUS], na = online_list(all), n = 0;
	for (unsigned i = 0; i < na; i++)
		if (msi_reachable(all[i]))
			cpus[n++] = all[i];
	for (unsigned i = 0; i < pi.nvec; i++) {
		int rc = pci_irq_set_affinity(&pi, i, cpus[i % n]);
		if (rc)
			ktest_fail_at(t, __FILE__, __LINE__, "vector %u to CPU %u: %d", i, cpus[i % n], rc);
		KTEST_EXPECT_EQ(t, pci_irq_unmask(&pi, i), 0);
	}
	for (unsigned i = 0; i < pi.nvec; i++) {
		if (!raise_and_wait(regs, i, i + 1)) {
			ktest_fail_at(t, __FILE__, __LINE__, "MSI-X vector %u never arrived", i);
			break;
		}
		KTEST_EXPECT_EQ(t, atomic_load64(&msi_cnt.per_idx[i], MO_RELAXED), 1);
		KTEST_EXPECT_EQ(t, atomic_load64(&msi_cnt.last_cpu[i], MO_RELAXED), cpus[i % n]);
	}
	KTEST_EXPECT(t, wait_exactly(pi.nvec));
	/* An entry beyond the grant is masked: its raise only sets the PBA bit. */
	volatile uint32_t *last = pi.msix_table + (size_t)(MSIX_MAX_ENTRIES - 1) * MSIX_ENTRY_DW;
	KTEST_EXPECT(t, hal_mmio_read32(&last[MSIX_ENT_CTRL]) & MSIX_ENT_CTRL_MASK);
	hal_mmio_write32(regs + TESTDEV_REG_RAISE, MSIX_MAX_ENTRIES - 1);
	KTEST_EXPECT(t, !tu_wait_ge(&msi_cnt.total, pi.nvec + 1, QUIET_US));
	if (!t->failed)
		ktest_log(t, "64 MSI-X vectors over %u CPUs, each counted on its CPU", n);
	pci_irq_free(&pi);
	expect_quiet(t, d);
	vec_check(t, "after free");
	hal_mmio_unmap((void *)regs, (size_t)d->bar[0].size);
}

/* The CPU vector i of a 2048-vector grant must be on, replaying the kernel's rule
 * (docs/pci.md "MSI-X") from the free counts before: start CPU first until it is
 * full, then round-robin in CPU order after it, a full CPU leaving the round. */
static void expected_placement(unsigned start, const unsigned *cpus, unsigned n, unsigned nvec,
			       uint16_t *out)
{
	static unsigned rem[HAL_MAX_CPUS];
	for (unsigned c = 0; c < HAL_MAX_CPUS; c++)
		rem[c] = 0;
	for (unsigned k = 0; k < n; k++)
		rem[cpus[k]] = msi_free_before[cpus[k]];
	unsigned i = 0, prev = start;
	for (; i < nvec && rem[start]; i++, rem[start]--)
		out[i] = (uint16_t)start;
	for (; i < nvec; i++) {
		unsigned pick = HAL_MAX_CPUS;
		for (unsigned step = 1; step <= HAL_MAX_CPUS && pick == HAL_MAX_CPUS; step++) {
			unsigned c = (prev + step) % HAL_MAX_CPUS;
			if (c != start && rem[c])
				pick = c;
		}
		if (pick == HAL_MAX_CPUS)
			break;
		out[i] = (uint16_t)pick;
		rem[pick]--;
		prev = pick;
	}
	for (; i < nvec; i++)
		out[i] = 0xFFFF;            /* no vector left anywhere */
}

/* 2048 vectors, placed by the kernel: the first CPU an MSI reaches until it has no
 * free vector, then round-robin over the other CPUs; each message aimed at its own
 * vector's CPU and counted there exactly once; every vector back at free. */
void msi_testdev_msix_2048(struct ktest *t)
{
	static uint16_t want_cpu[MSIX_MAX_ENTRIES];
	static unsigned on[HAL_MAX_CPUS];
	if (!need_mode(t, PCI_IRQ_MSIX))
		return;
	volatile uint8_t *regs;
	struct pci_dev *d = testdev_open(t, TESTDEV_DEVICE_MSIX, &regs);
	if (!d)
		return;
	vec_snapshot();
	unsigned all[HAL_MAX_CPUS], cpus[HAL_MAX_CPUS], na = online_list(all), n = 0, have = 0;
	for (unsigned i = 0; i < na; i++)
		if (msi_reachable(all[i])) {
			cpus[n++] = all[i];
			have += msi_free_before[all[i]];
		}
	if (have < MSIX_MAX_ENTRIES) {
		ktest_skip(t, "too few free vectors: %u over %u CPUs, 2048 need 10+ CPUs", have, n);
		goto out_unmap;
	}
	unsigned start = cpus[0];
	struct pci_irq pi;
	counts_reset(0, ACK_NONE);
	int rc = pci_irq_alloc(d, MSIX_MAX_ENTRIES, start, PCI_IRQ_ALLOW_MSIX, count_irq, &msi_cnt, &pi);
	KTEST_EXPECT_EQ(t, rc, 0);
	if (rc)
		goto out;
	KTEST_EXPECT_EQ(t, pi.mode, PCI_IRQ_MSIX);
	KTEST_EXPECT_EQ(t, pi.nvec, MSIX_MAX_ENTRIES);
	if (pi.nvec != MSIX_MAX_ENTRIES)
		goto out_free;

	/* Placement: the rule replayed, the table entries aimed accordingly, and each
	 * CPU's allocator short by exactly the vectors it holds. */
	expected_placement(start, cpus, n, pi.nvec, want_cpu);
	for (unsigned c = 0; c < HAL_MAX_CPUS; c++)
		on[c] = 0;
	unsigned misplaced = 0, bad_msg = 0;
	for (unsigned i = 0; i < pi.nvec; i++) {
		const struct irq_vec *v = &pi.vec[i];
		if (v->cpu < HAL_MAX_CPUS)
			on[v->cpu]++;
		if (v->cpu != want_cpu[i] || !v->vector || v->count != 1) {
			if (!misplaced++)
				ktest_fail_at(t, __FILE__, __LINE__, "vector %u: CPU %u vector 0x%x count %u; "
					      "the rule puts it on CPU %u", i, v->cpu, v->vector, v->count, want_cpu[i]);
			continue;
		}
		volatile uint32_t *e = pi.msix_table + (size_t)i * MSIX_ENTRY_DW;
		uint32_t alo = hal_mmio_read32(&e[MSIX_ENT_ADDR_LO]), dat = hal_mmio_read32(&e[MSIX_ENT_DATA]);
		if (alo != (0xFEE00000u | (percpu_of(v->cpu)->apic_id << 12)) || dat != v->vector) {
			if (!bad_msg++)
				ktest_fail_at(t, __FILE__, __LINE__, "entry %u: address 0x%x data 0x%x, want CPU %u "
					      "vector 0x%x", i, alo, dat, v->cpu, v->vector);
		}
	}
	KTEST_EXPECT_EQ(t, misplaced, 0);
	KTEST_EXPECT_EQ(t, bad_msg, 0);
	KTEST_EXPECT_EQ(t, on[start], msi_free_before[start]);     /* the start CPU filled first */
	unsigned lo = ~0u, hi = 0;
	for (unsigned k = 0; k < n; k++) {
		unsigned c = cpus[k];
		unsigned now = vec_space_free_count(irq_vec_space(c));
		if (msi_free_before[c] - now != on[c])
			ktest_fail_at(t, __FILE__, __LINE__, "CPU %u: %u vectors taken, %u held by the grant", c,
				      msi_free_before[c] - now, on[c]);
		if (c != start) {
			lo = on[c] < lo ? on[c] : lo;
			hi = on[c] > hi ? on[c] : hi;
		}
	}

	/* Delivery: each raised once, counted once, on its vector's CPU. A Pending Bit
	 * an earlier user left (msi_testdev_msix_all_cpus raises a masked entry) goes
	 * out on unmask (§7.7.2): those are counted first, then the counts restart. */
	unsigned unmask_fail = 0, stale = 0;
	for (unsigned i = 0; i < pi.nvec; i++)
		stale += pci_irq_pending(&pi, i) == 1;
	for (unsigned i = 0; i < pi.nvec; i++)
		if (pci_irq_unmask(&pi, i) != 0)
			unmask_fail++;
	KTEST_EXPECT_EQ(t, unmask_fail, 0);
	if (stale) {
		KTEST_EXPECT(t, wait_exactly(stale));
		ktest_log(t, "%u message(s) pending from before went out on unmask", stale);
		counts_reset(0, ACK_NONE);
	}
	unsigned wrong = 0;
	for (unsigned i = 0; i < pi.nvec; i++) {
		if (!raise_and_wait(regs, i, i + 1)) {
			ktest_fail_at(t, __FILE__, __LINE__, "MSI-X vector %u (CPU %u) never arrived", i,
				      pi.vec[i].cpu);
			break;
		}
		uint64_t got = atomic_load64(&msi_cnt.per_idx[i], MO_RELAXED);
		uint64_t where = atomic_load64(&msi_cnt.last_cpu[i], MO_RELAXED);
		if (got != 1 || where != pi.vec[i].cpu) {
			if (!wrong++)
				ktest_fail_at(t, __FILE__, __LINE__, "vector %u: counted %llu times, last on CPU "
					      "%llu, its vector lives on CPU %u", i, (unsigned long long)got,
					      (unsigned long long)where, pi.vec[i].cpu);
		}
	}
	KTEST_EXPECT_EQ(t, wrong, 0);
	KTEST_EXPECT(t, wait_exactly(pi.nvec));
	for (unsigned k = 0; k < n; k++)
		KTEST_EXPECT_EQ(t, atomic_load64(&msi_cnt.per_cpu[cpus[k]], MO_RELAXED), on[cpus[k]]);
	if (!t->failed)
		ktest_log(t, "2048 MSI-X vectors: %u on CPU %u, %u round-robin over %u more CPUs (%u-%u each); "
			  "each interrupt counted once on its vector's CPU", on[start], start,
			  pi.nvec - on[start], n - 1, lo, hi);
out_free:
	pci_irq_free(&pi);
	KTEST_EXPECT(t, pi.vec == 0);
	expect_quiet(t, d);
out:
	vec_check(t, "after free");
out_unmap:
	hal_mmio_unmap((void *)regs, (size_t)d->bar[0].size);
}
