/*
 * msi_ktest.c — the `msi` ktest suite: PCI interrupts end to end in both builds.
 * edu (QEMU docs/specs/edu.txt) over MSI with affinity to every CPU and over INTx;
 * an NVMe controller's admin queue over MSI-X (NVMe 1.4 §3.1 registers, §4.6 phase
 * tag, §5.15 Identify; queues from the DMA API): enable, fire, mask with the PBA
 * bit, unmask; the sim's testdev (docs/pci.md) with 32 MSI messages and 64 MSI-X vectors over all CPUs;
 * the fallback chain under vector exhaustion with leak checks. PCIe 4.0 §7.7.
 */
#include <hal/hal.h>
#include <kernel/apic.h>
#include <kernel/atomic.h>
#include <kernel/cmdline.h>
#include <kernel/dma.h>
#include <kernel/errno.h>
#include <kernel/fault.h>
#include <kernel/irq.h>
#include <kernel/ktest.h>
#include <kernel/log.h>
#include <kernel/pci.h>
#include <kernel/percpu.h>
#include <kernel/pmm.h>
#include <kernel/smp.h>
#include <kernel/string.h>
#include <kernel/time.h>
#include "../smp/smp_testutil.h"
#include "msi_priv.h"

#define WAIT_US 2000000             /* an interrupt that should come: 2 s at most */
#define QUIET_US 20000              /* how long "nothing arrives" is watched */

/* QEMU's edu device, docs/specs/edu.txt "MMIO area spec" (BAR0). */
#define EDU_VENDOR 0x1234
#define EDU_DEVICE 0x11e8
#define EDU_ID 0x00                 /* 0xRRrr00ed */
#define EDU_LIVENESS 0x04           /* reads back the inverse of what was written */
#define EDU_IRQ_STATUS 0x24
#define EDU_IRQ_RAISE 0x60
#define EDU_IRQ_ACK 0x64

/* The sim's testdev (docs/pci.md): BAR0 + 0 raises the vector written. */
#define TESTDEV_VENDOR 0x1234
#define TESTDEV_MSI 0xd0e0
#define TESTDEV_MSIX 0xd0e1
#define TESTDEV_RAISE 0x00

/* NVMe 1.4 §3.1 controller registers (BAR0), just what this test drives. */
#define NVME_CLASS 0x010802u        /* mass storage, NVM, NVMe */
#define NVME_CAP 0x00               /* 64-bit */
#define  NVME_CAP_TO(c) (((c) >> 24) & 0xFF)        /* 500 ms units */
#define  NVME_CAP_DSTRD(c) (((c) >> 32) & 0xF)
#define NVME_CC 0x14
#define  NVME_CC_EN 1u
#define  NVME_CC_IOSQES(n) ((uint32_t)(n) << 16)
#define  NVME_CC_IOCQES(n) ((uint32_t)(n) << 20)
#define NVME_CSTS 0x1C
#define  NVME_CSTS_RDY 1u
#define  NVME_CSTS_CFS 2u
#define NVME_AQA 0x24
#define NVME_ASQ 0x28
#define NVME_ACQ 0x30
#define NVME_DBS 0x1000             /* SQ0 tail; CQ0 head at + (4 << DSTRD) */
#define NVME_QDEPTH 16
#define NVME_OPC_IDENTIFY 0x06      /* §5.15 */
#define NVME_CNS_CTRL 1

struct t_sqe {                      /* NVMe 1.4 §4.2 */
	uint32_t cdw0;                  /* opcode 7:0, CID 31:16 */
	uint32_t nsid;
	uint32_t cdw2, cdw3;
	uint64_t mptr, prp1, prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};
_Static_assert(sizeof(struct t_sqe) == 64, "NVMe 1.4 §4.2: SQE is 64 bytes");

struct t_cqe {                      /* NVMe 1.4 §4.6 */
	uint32_t dw0, rsvd1;
	uint16_t sq_head, sq_id;
	uint16_t cid;
	uint16_t status;                /* bit 0: phase tag */
};
_Static_assert(sizeof(struct t_cqe) == 16, "NVMe 1.4 §4.6: CQE is 16 bytes");

/* ---- counting interrupts ---------------------------------------------------------- */

enum ack_kind { ACK_NONE, ACK_EDU };

struct counts {
	uint64_t total;
	uint64_t per_cpu[HAL_MAX_CPUS];
	uint64_t per_idx[PCI_IRQ_MAX_VEC];
	uint64_t last_cpu[PCI_IRQ_MAX_VEC];
	volatile uint8_t *regs;         /* device registers the handler acknowledges */
	enum ack_kind ack;
};

static struct counts cnt;

static void counts_reset(volatile uint8_t *regs, enum ack_kind ack)
{
	memset(&cnt, 0, sizeof cnt);
	cnt.regs = regs;
	cnt.ack = ack;
	/* release: the reset is visible before any interrupt handler can run */
	atomic_store64(&cnt.total, 0, MO_RELEASE);
}

static void count_irq(unsigned idx, void *arg)
{
	struct counts *c = arg;
	unsigned cpu = hal_cpu_index();
	if (c->ack == ACK_EDU) {
		/* edu.txt: 0x24 holds what raised it; writing those bits to 0x64 clears
		 * them and lowers INTx (needed before the EOI of a level interrupt). */
		uint32_t st = hal_mmio_read32(c->regs + EDU_IRQ_STATUS);
		if (st)
			hal_mmio_write32(c->regs + EDU_IRQ_ACK, st);
	}
	atomic_fetch_add64(&c->per_cpu[cpu], 1, MO_RELAXED);
	if (idx < PCI_IRQ_MAX_VEC) {
		atomic_fetch_add64(&c->per_idx[idx], 1, MO_RELAXED);
		atomic_store64(&c->last_cpu[idx], cpu, MO_RELAXED);
	}
	/* release: the per-CPU and per-index counts before the total waiters read */
	atomic_fetch_add64(&c->total, 1, MO_RELEASE);
}

static uint64_t total(void)
{
	return atomic_load64(&cnt.total, MO_ACQUIRE);
}

/* Wait for the total to reach want, then watch a little longer for extras. */
static bool wait_exactly(uint64_t want)
{
	if (!tu_wait_ge(&cnt.total, want, WAIT_US))
		return false;
	(void)tu_wait_ge(&cnt.total, want + 1, QUIET_US);
	return total() == want;
}

/* ---- leak bookkeeping --------------------------------------------------------------- */

static unsigned free_before[HAL_MAX_CPUS];

static void vec_snapshot(void)
{
	for (unsigned c = 0; c < HAL_MAX_CPUS; c++) {
		struct vec_space *vs = irq_vec_space(c);
		free_before[c] = vs ? vec_space_free_count(vs) : 0;
	}
}

static void vec_check(struct ktest *t, const char *when)
{
	for (unsigned c = 0; c < HAL_MAX_CPUS; c++) {
		struct vec_space *vs = irq_vec_space(c);
		unsigned now = vs ? vec_space_free_count(vs) : 0;
		if (now != free_before[c])
			ktest_fail_at(t, __FILE__, __LINE__, "%s: CPU %u has %u free vectors, %u before",
				      when, c, now, free_before[c]);
	}
}

/* PCI present (and, when irqs, a LAPIC to deliver interrupts), else skip. */
static bool need_pci_irqs(struct ktest *t, bool irqs)
{
	int rc = pci_init();
	if (rc) {
		ktest_skip(t, "no PCI configuration mechanism (%d)", rc);
		return 0;
	}
	if (irqs && smp_online_count() == 0) {
		ktest_skip(t, "no local APIC: no interrupt delivery");
		return 0;
	}
	return true;
}

static bool need_pci(struct ktest *t)
{
	return need_pci_irqs(t, true);
}

static uint16_t cfg16(struct pci_dev *d, uint16_t off)
{
	return pci_cfg_read16(&d->addr, off);
}

/* The function is quiet: MSI and MSI-X off, INTx Disable set, irq_mode none. */
static void expect_quiet(struct ktest *t, struct pci_dev *d)
{
	if (d->msi.present)
		KTEST_EXPECT(t, !(cfg16(d, d->msi.off + PCI_MSI_CTRL) & PCI_MSI_CTRL_ENABLE));
	if (d->msix.present)
		KTEST_EXPECT(t, !(cfg16(d, d->msix.off + PCI_MSIX_CTRL) & PCI_MSIX_CTRL_ENABLE));
	KTEST_EXPECT(t, cfg16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
	KTEST_EXPECT_EQ(t, d->irq_mode, PCI_IRQ_NONE);
}

static unsigned online_list(unsigned *out)
{
	struct cpumask m;
	smp_online_mask(&m);
	unsigned n = 0;
	for_each_cpu(c, &m)
		out[n++] = c;
	return n;
}

static enum pci_irq_mode chain_step(unsigned i)
{
	static const enum pci_irq_mode order[4] = { PCI_IRQ_MSIX, PCI_IRQ_MSI, PCI_IRQ_INTX, PCI_IRQ_POLL };
	return order[i];
}

/* Does pci.irq= (the first step of the chain allowed) leave mode m in? */
static bool cmdline_allows(enum pci_irq_mode m)
{
	const char *v = cmdline_get("pci.irq");
	if (!v)
		return true;
	for (unsigned i = 0; i < 4; i++) {
		if (!kstrcmp(v, pci_irq_mode_name(chain_step(i))))
			return true;        /* reached the first allowed step first */
		if (chain_step(i) == m)
			return false;
	}
	return true;                    /* an unknown value is ignored */
}

static bool need_mode(struct ktest *t, enum pci_irq_mode m)
{
	if (cmdline_allows(m))
		return true;
	ktest_skip(t, "pci.irq=%s excludes %s", cmdline_get("pci.irq"), pci_irq_mode_name(m));
	return false;
}

/* Can an MSI reach this CPU? Not when its APIC ID needs more than 8 bits. */
static bool msi_reachable(unsigned cpu)
{
	return percpu_of(cpu)->apic_id <= 0xFF;
}

/* The highest online CPU an MSI can reach (the boot CPU at least). */
static unsigned last_msi_cpu(void)
{
	unsigned cpus[HAL_MAX_CPUS], n = online_list(cpus);
	for (unsigned i = n; i-- > 0;)
		if (msi_reachable(cpus[i]))
			return cpus[i];
	return 0;
}

/* ---- compose ------------------------------------------------------------------------- */

static void msi_compose_address_data(struct ktest *t)
{
	unsigned cpus[HAL_MAX_CPUS], n = online_list(cpus);
	for (unsigned i = 0; i < n; i++) {
		uint64_t a;
		uint32_t dat;
		uint32_t id = percpu_of(cpus[i])->apic_id;
		int rc = pci_msi_compose(cpus[i], 0x41, &a, &dat);
		if (id > 0xFF) {
			KTEST_EXPECT_EQ(t, rc, -EINVAL);
			continue;
		}
		KTEST_EXPECT_EQ(t, rc, 0);
		KTEST_EXPECT_EQ(t, a, 0xFEE00000ull | ((uint64_t)id << 12));
		KTEST_EXPECT_EQ(t, dat, 0x41);      /* fixed, edge */
	}
	uint64_t a;
	uint32_t dat;
	unsigned off = tu_first_offline();
	if (off < HAL_MAX_CPUS)
		KTEST_EXPECT_EQ(t, pci_msi_compose(off, 0x41, &a, &dat), -EINVAL);
	KTEST_EXPECT(t, !kstrcmp(pci_irq_mode_name(PCI_IRQ_MSIX), "msix"));
	KTEST_EXPECT(t, !kstrcmp(pci_irq_mode_name(PCI_IRQ_POLL), "poll"));
}

/* ---- edu: MSI with affinity, then INTx ----------------------------------------------- */

static struct pci_dev *edu_open(struct ktest *t, volatile uint8_t **regs)
{
	if (!need_pci(t))
		return 0;
	struct pci_dev *d = pci_find(EDU_VENDOR, EDU_DEVICE, 0);
	if (!d) {
		ktest_skip(t, "no edu device (QEMU: -device edu)");
		return 0;
	}
	pci_enable(d, true, false, true);   /* MSI is a memory write: bus mastering */
	*regs = pci_bar_map(d, 0);
	if (!*regs) {
		ktest_fail_at(t, __FILE__, __LINE__, "edu BAR0 cannot be mapped");
		return 0;
	}
	uint32_t id = hal_mmio_read32(*regs + EDU_ID);
	hal_mmio_write32(*regs + EDU_LIVENESS, 0x12345678u);
	uint32_t live = hal_mmio_read32(*regs + EDU_LIVENESS);
	if ((id & 0xFFFF) != 0x00ed || live != ~0x12345678u) {
		ktest_fail_at(t, __FILE__, __LINE__, "edu registers: id 0x%x, liveness 0x%x", id, live);
		hal_mmio_unmap((void *)*regs, (size_t)d->bar[0].size);
		return 0;
	}
	return d;
}

static void edu_close(struct pci_dev *d, volatile uint8_t *regs)
{
	hal_mmio_unmap((void *)regs, (size_t)d->bar[0].size);
}

static void msi_edu_msi_every_cpu(struct ktest *t)
{
	if (!need_mode(t, PCI_IRQ_MSI))
		return;
	volatile uint8_t *regs;
	struct pci_dev *d = edu_open(t, &regs);
	if (!d)
		return;
	vec_snapshot();
	struct pci_irq pi;
	counts_reset(regs, ACK_EDU);
	int rc = pci_irq_alloc(d, 1, 0, PCI_IRQ_ALLOW_MSI, count_irq, &cnt, &pi);
	KTEST_EXPECT_EQ(t, rc, 0);
	if (rc) {
		edu_close(d, regs);
		return;
	}
	KTEST_EXPECT_EQ(t, pi.mode, PCI_IRQ_MSI);
	KTEST_EXPECT_EQ(t, d->irq_mode, PCI_IRQ_MSI);
	KTEST_EXPECT_EQ(t, pi.nvec, 1);
	KTEST_EXPECT(t, pi.fallback_why[0] != 0);           /* MSI-X not allowed */
	KTEST_EXPECT(t, cfg16(d, d->msi.off + PCI_MSI_CTRL) & PCI_MSI_CTRL_ENABLE);
	KTEST_EXPECT(t, cfg16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
	if (!d->msi.maskable) {
		KTEST_EXPECT_EQ(t, pci_irq_mask(&pi, 0), -EOPNOTSUPP);
		KTEST_EXPECT_EQ(t, pci_irq_pending(&pi, 0), -EOPNOTSUPP);
	}
	KTEST_EXPECT_EQ(t, pci_irq_unmask(&pi, 0), 0);
	KTEST_EXPECT_EQ(t, pci_irq_mask(&pi, 1), -EINVAL);

	unsigned cpus[HAL_MAX_CPUS], n = online_list(cpus), reached = 0;
	for (unsigned i = 0; i < n; i++) {
		unsigned c = cpus[i];
		if (!msi_reachable(c)) {
			KTEST_EXPECT_EQ(t, pci_irq_set_affinity(&pi, 0, c), -EINVAL);
			continue;
		}
		if (c != pi.vec[0].cpu) {
			rc = pci_irq_set_affinity(&pi, 0, c);
			if (rc) {
				ktest_fail_at(t, __FILE__, __LINE__, "affinity to CPU %u: %d", c, rc);
				continue;
			}
		}
		KTEST_EXPECT_EQ(t, pi.vec[0].cpu, c);
		/* The message address names that CPU's APIC (SDM §11.11.1). */
		uint32_t alo = pci_cfg_read32(&d->addr, d->msi.off + PCI_MSI_ADDR_LO);
		KTEST_EXPECT_EQ(t, (alo >> 12) & 0xFF, percpu_of(c)->apic_id);
		counts_reset(regs, ACK_EDU);
		hal_mmio_write32(regs + EDU_IRQ_RAISE, 1);
		if (!wait_exactly(1))
			ktest_fail_at(t, __FILE__, __LINE__, "CPU %u: %llu interrupts, want 1", c,
				      (unsigned long long)total());
		else if (atomic_load64(&cnt.per_cpu[c], MO_RELAXED) != 1)
			ktest_fail_at(t, __FILE__, __LINE__, "the interrupt aimed at CPU %u landed on CPU %llu",
				      c, (unsigned long long)atomic_load64(&cnt.last_cpu[0], MO_RELAXED));
		else
			reached++;
	}
	if (!t->failed)
		ktest_log(t, "edu MSI delivered on each of %u CPUs (%u online)", reached, n);
	pci_irq_free(&pi);
	expect_quiet(t, d);
	vec_check(t, "after free");
	KTEST_EXPECT_EQ(t, hal_mmio_read32(regs + EDU_IRQ_STATUS), 0);
	edu_close(d, regs);
}

static void msi_edu_intx(struct ktest *t)
{
	if (!need_mode(t, PCI_IRQ_INTX))
		return;
	volatile uint8_t *regs;
	struct pci_dev *d = edu_open(t, &regs);
	if (!d)
		return;
	if (!ioapic_pin_count()) {
		ktest_skip(t, "no I/O APIC");
		edu_close(d, regs);
		return;
	}
	vec_snapshot();
	struct pci_irq pi;
	counts_reset(regs, ACK_EDU);
	int rc = pci_irq_alloc(d, 1, 0, PCI_IRQ_ALLOW_INTX, count_irq, &cnt, &pi);
	if (rc) {
		ktest_fail_at(t, __FILE__, __LINE__, "INTx for edu (pin %u line %u): %d, %s", d->irq_pin,
			      d->irq_line, rc, pi.fallback_why[2] ? pi.fallback_why[2] : "?");
		edu_close(d, regs);
		return;
	}
	KTEST_EXPECT_EQ(t, pi.mode, PCI_IRQ_INTX);
	uint32_t lo, hi;
	KTEST_ASSERT(t, ioapic_read_entry(pi.gsi, &lo, &hi) == 0);
	KTEST_EXPECT_EQ(t, lo & 0xFF, pi.vec[0].vector);
	KTEST_EXPECT(t, lo & (1u << 15));                   /* level-triggered */
	KTEST_EXPECT(t, !(lo & (1u << 16)));                /* routed, unmasked */
	KTEST_EXPECT(t, cfg16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);  /* starts masked */
	ktest_log(t, "edu INTx: line %u -> GSI %u, entry 0x%x", d->irq_line, pi.gsi, lo);

	/* Raised while masked: nothing may arrive. */
	hal_mmio_write32(regs + EDU_IRQ_RAISE, 1);
	KTEST_EXPECT(t, !tu_wait_ge(&cnt.total, 1, QUIET_US));
	KTEST_EXPECT_EQ(t, pci_irq_unmask(&pi, 0), 0);
	KTEST_EXPECT(t, !(cfg16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE));
	/* The line was held asserted: unmasking delivers it, the handler acks it. */
	if (!wait_exactly(1))
		ktest_fail_at(t, __FILE__, __LINE__, "INTx: %llu interrupts after unmask, want 1",
			      (unsigned long long)total());
	KTEST_EXPECT_EQ(t, atomic_load64(&cnt.per_cpu[0], MO_RELAXED), total());

	unsigned to = last_msi_cpu();       /* the I/O APIC has 8-bit destinations too */
	counts_reset(regs, ACK_EDU);
	KTEST_EXPECT_EQ(t, pci_irq_set_affinity(&pi, 0, to), 0);
	hal_mmio_write32(regs + EDU_IRQ_RAISE, 2);
	if (!wait_exactly(1))
		ktest_fail_at(t, __FILE__, __LINE__, "INTx on CPU %u: %llu interrupts, want 1", to,
			      (unsigned long long)total());
	KTEST_EXPECT_EQ(t, atomic_load64(&cnt.per_cpu[to], MO_RELAXED), 1);
	KTEST_EXPECT_EQ(t, hal_mmio_read32(regs + EDU_IRQ_STATUS), 0);    /* acked */
	uint32_t gsi = pi.gsi;
	pci_irq_free(&pi);
	expect_quiet(t, d);
	KTEST_ASSERT(t, ioapic_read_entry(gsi, &lo, &hi) == 0);
	KTEST_EXPECT(t, lo & (1u << 16));                   /* masked again */
	vec_check(t, "after free");
	edu_close(d, regs);
}

/* ---- NVMe admin queue over MSI-X -------------------------------------------------------- */

struct nvme_t {
	struct pci_dev *d;
	volatile uint8_t *regs;
	uint64_t cap;
	struct dma_dev *dd;             /* DMA API: reachable under VT-d translation too */
	dma_addr_t sq_pa, cq_pa, id_pa; /* bus addresses of the coherent buffers */
	void *id;
	struct t_sqe *sq;
	volatile struct t_cqe *cq;
	unsigned sq_tail, cq_head;
	uint32_t cq_db;
};

static bool nvme_wait_csts(struct nvme_t *n, uint32_t mask, uint32_t want)
{
	/* CAP.TO is the worst case the controller may take (500 ms units). */
	uint64_t to_us = (NVME_CAP_TO(n->cap) + 1) * 500000ull;
	uint64_t t0 = time_now_ns();
	while ((hal_mmio_read32(n->regs + NVME_CSTS) & mask) != want) {
		if (time_now_ns() - t0 > to_us * 1000)
			return false;
		hal_cpu_relax();
	}
	return true;
}

static void nvme_submit_identify(struct nvme_t *n, uint16_t cid)
{
	struct t_sqe *e = &n->sq[n->sq_tail];
	memset(e, 0, sizeof *e);
	e->cdw0 = NVME_OPC_IDENTIFY | ((uint32_t)cid << 16);
	e->prp1 = n->id_pa;
	e->cdw10 = NVME_CNS_CTRL;
	n->sq_tail = (n->sq_tail + 1) % NVME_QDEPTH;
	/* release: the entry is in memory before the doorbell tells the device */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	hal_mmio_write32(n->regs + NVME_DBS, n->sq_tail);
}

/* Poll the next completion's phase tag (§4.6: 1 on the first pass). */
static bool nvme_poll_cqe(struct nvme_t *n, uint16_t cid, struct ktest *t)
{
	volatile struct t_cqe *e = &n->cq[n->cq_head];
	uint64_t t0 = time_now_ns();
	while (!(__atomic_load_n(&e->status, __ATOMIC_ACQUIRE) & 1)) {
		if (time_now_ns() - t0 > WAIT_US * 1000ull) {
			ktest_fail_at(t, __FILE__, __LINE__, "no completion for cid %u; CSTS 0x%x", cid,
				      hal_mmio_read32(n->regs + NVME_CSTS));
			return false;
		}
		hal_cpu_relax();
	}
	KTEST_EXPECT_EQ(t, e->cid, cid);
	KTEST_EXPECT_EQ(t, e->status >> 1, 0);              /* success */
	n->cq_head++;
	hal_mmio_write32(n->regs + n->cq_db, n->cq_head);
	return true;
}

static void msi_nvme_msix_enable_fire_mask(struct ktest *t)
{
	if (!need_mode(t, PCI_IRQ_MSIX))
		return;
	if (!need_pci(t))
		return;
	struct nvme_t n = { 0 };
	n.d = pci_find_class(NVME_CLASS, 0xFFFFFF, 0);
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
	n.cap = hal_mmio_read64(n.regs + NVME_CAP);
	n.cq_db = NVME_DBS + (4u << NVME_CAP_DSTRD(n.cap));
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
	hal_mmio_write32(n.regs + NVME_CC, 0);
	if (!nvme_wait_csts(&n, NVME_CSTS_RDY, 0)) {
		ktest_fail_at(t, __FILE__, __LINE__, "CSTS.RDY stays 1 after CC.EN=0: CSTS 0x%x",
			      hal_mmio_read32(n.regs + NVME_CSTS));
		goto out;
	}
	unsigned target = last_msi_cpu();
	counts_reset(0, ACK_NONE);
	int rc = pci_irq_alloc(d, 1, target, PCI_IRQ_ALLOW_MSIX, count_irq, &cnt, &pi);
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
	hal_mmio_write32(n.regs + NVME_AQA, ((NVME_QDEPTH - 1u) << 16) | (NVME_QDEPTH - 1u));
	hal_mmio_write64(n.regs + NVME_ASQ, n.sq_pa);
	hal_mmio_write64(n.regs + NVME_ACQ, n.cq_pa);
	hal_mmio_write32(n.regs + NVME_CC, NVME_CC_EN | NVME_CC_IOSQES(6) | NVME_CC_IOCQES(4));
	if (!nvme_wait_csts(&n, NVME_CSTS_RDY | NVME_CSTS_CFS, NVME_CSTS_RDY)) {
		ktest_fail_at(t, __FILE__, __LINE__, "CSTS.RDY never 1: CAP 0x%llx CC 0x%x CSTS 0x%x AQA 0x%x",
			      (unsigned long long)n.cap, hal_mmio_read32(n.regs + NVME_CC),
			      hal_mmio_read32(n.regs + NVME_CSTS), hal_mmio_read32(n.regs + NVME_AQA));
		goto out;
	}

	/* 1: Identify; the admin completion interrupts on vector 0, on target. */
	nvme_submit_identify(&n, 1);
	if (!wait_exactly(1))
		ktest_fail_at(t, __FILE__, __LINE__, "Identify: %llu interrupts, want 1",
			      (unsigned long long)total());
	KTEST_EXPECT_EQ(t, atomic_load64(&cnt.per_cpu[target], MO_RELAXED), 1);
	if (!nvme_poll_cqe(&n, 1, t))
		goto out_disable;
	const uint16_t *idc = n.id;
	KTEST_EXPECT_EQ(t, idc[0], d->vendor);              /* Identify Controller VID */

	/* 2: masked in the table: it completes (phase tag), no interrupt, PBA bit set. */
	KTEST_EXPECT_EQ(t, pci_irq_mask(&pi, 0), 0);
	nvme_submit_identify(&n, 2);
	if (!nvme_poll_cqe(&n, 2, t))
		goto out_disable;
	KTEST_EXPECT(t, !tu_wait_ge(&cnt.total, 2, QUIET_US));
	KTEST_EXPECT_EQ(t, total(), 1);
	KTEST_EXPECT_EQ(t, pci_irq_pending(&pi, 0), 1);
	/* Unmask: the pending message goes out, exactly once. */
	KTEST_EXPECT_EQ(t, pci_irq_unmask(&pi, 0), 0);
	if (!wait_exactly(2))
		ktest_fail_at(t, __FILE__, __LINE__, "after unmask: %llu interrupts, want 2",
			      (unsigned long long)total());
	KTEST_EXPECT_EQ(t, atomic_load64(&cnt.per_cpu[target], MO_RELAXED), 2);
	KTEST_EXPECT_EQ(t, pci_irq_pending(&pi, 0), 0);
	if (!t->failed)
		ktest_log(t, "NVMe %04x:%04x MSI-X vector 0x%x on CPU %u: fired, masked (PBA set), unmasked",
			  d->vendor, d->device, pi.vec[0].vector, target);

out_disable:
	hal_mmio_write32(n.regs + NVME_CC, 0);
	if (!nvme_wait_csts(&n, NVME_CSTS_RDY, 0))
		ktest_fail_at(t, __FILE__, __LINE__, "CSTS.RDY stays 1 after disable: CSTS 0x%x",
			      hal_mmio_read32(n.regs + NVME_CSTS));
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

/* ---- testdev (sim): 32 MSI messages, 64 MSI-X vectors over every CPU ------------------- */

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
	hal_mmio_write32(regs + TESTDEV_RAISE, idx);
	return tu_wait_ge(&cnt.total, want_total, WAIT_US);
}

static void msi_testdev_multi_message(struct ktest *t)
{
	if (!need_mode(t, PCI_IRQ_MSI))
		return;
	volatile uint8_t *regs;
	struct pci_dev *d = testdev_open(t, TESTDEV_MSI, &regs);
	if (!d)
		return;
	vec_snapshot();
	struct pci_irq pi;
	counts_reset(0, ACK_NONE);
	int rc = pci_irq_alloc(d, 32, 0, PCI_IRQ_ALLOW_MSI, count_irq, &cnt, &pi);
	KTEST_EXPECT_EQ(t, rc, 0);
	if (rc)
		goto out;
	KTEST_EXPECT_EQ(t, pi.mode, PCI_IRQ_MSI);
	unsigned nv = pi.nvec;
	KTEST_EXPECT(t, nv >= 1 && nv <= 32 && (nv & (nv - 1)) == 0);
	KTEST_EXPECT_EQ(t, pi.vec[0].vector % nv, 0);       /* aligned block */
	KTEST_EXPECT_EQ(t, pi.vec[0].count, nv);
	uint16_t mc = cfg16(d, d->msi.off + PCI_MSI_CTRL);
	KTEST_EXPECT_EQ(t, 1u << ((mc >> PCI_MSI_CTRL_MME_SHIFT) & 7), nv);
	KTEST_EXPECT(t, d->msi.is64 && d->msi.maskable);
	ktest_log(t, "MSI block of %u at vector 0x%x", nv, pi.vec[0].vector);
	/* Masked at start: a raise waits in the Pending Bits. */
	hal_mmio_write32(regs + TESTDEV_RAISE, 0);
	KTEST_EXPECT(t, !tu_wait_ge(&cnt.total, 1, QUIET_US));
	KTEST_EXPECT_EQ(t, pci_irq_pending(&pi, 0), 1);
	for (unsigned i = 0; i < nv; i++)
		KTEST_EXPECT_EQ(t, pci_irq_unmask(&pi, i), 0);
	KTEST_EXPECT(t, tu_wait_ge(&cnt.total, 1, WAIT_US));
	KTEST_EXPECT_EQ(t, pci_irq_pending(&pi, 0), 0);
	counts_reset(0, ACK_NONE);
	for (unsigned i = 0; i < nv; i++) {
		if (!raise_and_wait(regs, i, i + 1)) {
			ktest_fail_at(t, __FILE__, __LINE__, "MSI message %u never arrived", i);
			break;
		}
		KTEST_EXPECT_EQ(t, atomic_load64(&cnt.per_idx[i], MO_RELAXED), 1);
	}
	KTEST_EXPECT(t, wait_exactly(nv));
	KTEST_EXPECT_EQ(t, atomic_load64(&cnt.per_cpu[0], MO_RELAXED), nv);

	/* Per-vector mask: pending while masked, delivered on unmask. */
	unsigned v = nv > 5 ? 5 : nv - 1;
	counts_reset(0, ACK_NONE);
	KTEST_EXPECT_EQ(t, pci_irq_mask(&pi, v), 0);
	hal_mmio_write32(regs + TESTDEV_RAISE, v);
	KTEST_EXPECT(t, !tu_wait_ge(&cnt.total, 1, QUIET_US));
	KTEST_EXPECT_EQ(t, pci_irq_pending(&pi, v), 1);
	KTEST_EXPECT_EQ(t, pci_irq_unmask(&pi, v), 0);
	KTEST_EXPECT(t, wait_exactly(1));
	KTEST_EXPECT_EQ(t, atomic_load64(&cnt.per_idx[v], MO_RELAXED), 1);
	KTEST_EXPECT_EQ(t, pci_irq_pending(&pi, v), 0);

	/* The whole block moves with affinity. */
	unsigned to = last_msi_cpu();
	counts_reset(0, ACK_NONE);
	KTEST_EXPECT_EQ(t, pci_irq_set_affinity(&pi, 0, to), 0);
	KTEST_EXPECT_EQ(t, pi.vec[0].cpu, to);
	KTEST_EXPECT_EQ(t, pi.vec[0].vector % nv, 0);
	KTEST_EXPECT(t, raise_and_wait(regs, nv - 1, 1));
	KTEST_EXPECT(t, wait_exactly(1));
	KTEST_EXPECT_EQ(t, atomic_load64(&cnt.per_cpu[to], MO_RELAXED), 1);
	KTEST_EXPECT_EQ(t, atomic_load64(&cnt.per_idx[nv - 1], MO_RELAXED), 1);

	pci_irq_free(&pi);
	expect_quiet(t, d);
	uint32_t mask = pci_cfg_read32(&d->addr, d->msi.off + (d->msi.is64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32));
	KTEST_EXPECT_EQ(t, mask, 0xFFFFFFFFu);
out:
	vec_check(t, "after free");
	hal_mmio_unmap((void *)regs, (size_t)d->bar[0].size);
}

static void msi_testdev_msix_all_cpus(struct ktest *t)
{
	if (!need_mode(t, PCI_IRQ_MSIX))
		return;
	volatile uint8_t *regs;
	struct pci_dev *d = testdev_open(t, TESTDEV_MSIX, &regs);
	if (!d)
		return;
	vec_snapshot();
	struct pci_irq pi;
	counts_reset(0, ACK_NONE);
	int rc = pci_irq_alloc(d, PCI_IRQ_MAX_VEC, 0, PCI_IRQ_ALLOW_MSIX, count_irq, &cnt, &pi);
	KTEST_EXPECT_EQ(t, rc, 0);
	if (rc)
		goto out;
	KTEST_EXPECT_EQ(t, pi.mode, PCI_IRQ_MSIX);
	KTEST_EXPECT_EQ(t, pi.nvec, PCI_IRQ_MAX_VEC);
	KTEST_EXPECT_EQ(t, d->msix.table_size, MSIX_MAX_ENTRIES);
	unsigned all[HAL_MAX_CPUS], cpus[HAL_MAX_CPUS], na = online_list(all), n = 0;
	for (unsigned i = 0; i < na; i++)
		if (msi_reachable(all[i]))
			cpus[n++] = all[i];
	for (unsigned i = 0; i < pi.nvec; i++) {
		rc = pci_irq_set_affinity(&pi, i, cpus[i % n]);
		if (rc)
			ktest_fail_at(t, __FILE__, __LINE__, "vector %u to CPU %u: %d", i, cpus[i % n], rc);
		KTEST_EXPECT_EQ(t, pci_irq_unmask(&pi, i), 0);
	}
	for (unsigned i = 0; i < pi.nvec; i++) {
		if (!raise_and_wait(regs, i, i + 1)) {
			ktest_fail_at(t, __FILE__, __LINE__, "MSI-X vector %u never arrived", i);
			break;
		}
		KTEST_EXPECT_EQ(t, atomic_load64(&cnt.per_idx[i], MO_RELAXED), 1);
		KTEST_EXPECT_EQ(t, atomic_load64(&cnt.last_cpu[i], MO_RELAXED), cpus[i % n]);
	}
	KTEST_EXPECT(t, wait_exactly(pi.nvec));
	/* An entry beyond the grant is masked: its raise only sets the PBA bit. */
	volatile uint32_t *last = pi.msix_table + (size_t)(MSIX_MAX_ENTRIES - 1) * MSIX_ENTRY_DW;
	KTEST_EXPECT(t, hal_mmio_read32(&last[MSIX_ENT_CTRL]) & MSIX_ENT_CTRL_MASK);
	hal_mmio_write32(regs + TESTDEV_RAISE, MSIX_MAX_ENTRIES - 1);
	KTEST_EXPECT(t, !tu_wait_ge(&cnt.total, pi.nvec + 1, QUIET_US));
	if (!t->failed)
		ktest_log(t, "64 MSI-X vectors over %u CPUs, each counted on its CPU", n);
	pci_irq_free(&pi);
	expect_quiet(t, d);
out:
	vec_check(t, "after free");
	hal_mmio_unmap((void *)regs, (size_t)d->bar[0].size);
}

/* ---- fallback and exhaustion ---------------------------------------------------------- */

static void dummy_handler(uint8_t v, void *arg)
{
	(void)v;
	(void)arg;
}

/* A device with MSI-X or MSI (testdev, then NVMe, then edu). */
static struct pci_dev *pick_msi_device(void)
{
	struct pci_dev *d = pci_find(TESTDEV_VENDOR, TESTDEV_MSIX, 0);
	if (!d)
		d = pci_find_class(NVME_CLASS, 0xFFFFFF, 0);
	if (!d)
		d = pci_find(EDU_VENDOR, EDU_DEVICE, 0);
	return d && (d->msix.valid || d->msi.present) && !d->skipped ? d : 0;
}

static struct irq_vec held[VEC_NALLOC];

static unsigned exhaust(unsigned cpu)
{
	unsigned n = 0;
	while (n < VEC_NALLOC && irq_alloc(cpu, 1, dummy_handler, 0, &held[n]) == 0)
		n++;
	return n;
}

static void release(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (held[i].vector)
			irq_free(&held[i]);
}

static void check_table_masked(struct ktest *t, struct pci_dev *d)
{
	if (!d->msix.valid)
		return;
	volatile uint8_t *map = pci_bar_map(d, d->msix.table_bar);
	if (!map)
		return;
	volatile uint32_t *tbl = (volatile uint32_t *)(map + d->msix.table_off);
	unsigned n = d->msix.table_size < PCI_IRQ_MAX_VEC ? d->msix.table_size : PCI_IRQ_MAX_VEC;
	for (unsigned i = 0; i < n; i++)
		if (!(hal_mmio_read32(&tbl[i * MSIX_ENTRY_DW + MSIX_ENT_CTRL]) & MSIX_ENT_CTRL_MASK))
			ktest_fail_at(t, __FILE__, __LINE__, "MSI-X entry %u left unmasked", i);
	hal_mmio_unmap((void *)map, (size_t)d->bar[d->msix.table_bar].size);
}

static void msi_fallback_when_vectors_exhausted(struct ktest *t)
{
	if (!need_mode(t, PCI_IRQ_MSIX))
		return;
	if (!need_mode(t, PCI_IRQ_MSI))
		return;
	if (!need_pci(t))
		return;
	struct pci_dev *d = pick_msi_device();
	if (!d) {
		ktest_skip(t, "no device with MSI or MSI-X");
		return;
	}
	unsigned cpu = last_msi_cpu();
	vec_snapshot();
	unsigned took = exhaust(cpu);
	KTEST_EXPECT_EQ(t, took, free_before[cpu]);
	KTEST_EXPECT_EQ(t, vec_space_free_count(irq_vec_space(cpu)), 0);
	struct pci_irq pi;
	counts_reset(0, ACK_NONE);

	/* Nothing free: MSI-X, MSI and INTx all need a vector; polling remains. */
	int rc = pci_irq_alloc(d, 4, cpu, PCI_IRQ_ALLOW_ALL, count_irq, &cnt, &pi);
	KTEST_EXPECT_EQ(t, rc, 0);
	if (rc == 0) {
		KTEST_EXPECT_EQ(t, pi.mode, PCI_IRQ_POLL);
		KTEST_EXPECT_EQ(t, d->irq_mode, PCI_IRQ_POLL);
		KTEST_EXPECT(t, pi.fallback_why[0] && pi.fallback_why[1] && pi.fallback_why[2]);
		for (unsigned i = 0; i < 3; i++)
			ktest_log(t, "no vectors: not %s: %s", pci_irq_mode_name(chain_step(i)),
				  pi.fallback_why[i] ? pi.fallback_why[i] : "-");
		KTEST_EXPECT_EQ(t, pi.nvec, 4);
		pci_irq_poll(&pi);
		KTEST_EXPECT_EQ(t, total(), 4);
		KTEST_EXPECT_EQ(t, pci_irq_set_affinity(&pi, 0, cpu), -EOPNOTSUPP);
		if (d->msi.present)
			KTEST_EXPECT(t, !(cfg16(d, d->msi.off + PCI_MSI_CTRL) & PCI_MSI_CTRL_ENABLE));
		if (d->msix.present)
			KTEST_EXPECT(t, !(cfg16(d, d->msix.off + PCI_MSIX_CTRL) & PCI_MSIX_CTRL_ENABLE));
		pci_irq_free(&pi);
	}
	KTEST_EXPECT_EQ(t, vec_space_free_count(irq_vec_space(cpu)), 0);

	/* Polling not allowed either: -ENOSPC, and still nothing taken. */
	rc = pci_irq_alloc(d, 4, cpu, PCI_IRQ_ALLOW_MSIX | PCI_IRQ_ALLOW_MSI | PCI_IRQ_ALLOW_INTX,
			   count_irq, &cnt, &pi);
	KTEST_EXPECT_EQ(t, rc, -ENOSPC);
	KTEST_EXPECT_EQ(t, d->irq_mode, PCI_IRQ_NONE);
	KTEST_EXPECT_EQ(t, vec_space_free_count(irq_vec_space(cpu)), 0);

	/* One vector back: the first allowed mode with a vector takes it (MSI-X grants
	 * fewer than asked; MSI a block of one). */
	KTEST_ASSERT(t, took > 0);
	irq_free(&held[--took]);
	rc = pci_irq_alloc(d, 4, cpu, PCI_IRQ_ALLOW_ALL, count_irq, &cnt, &pi);
	KTEST_EXPECT_EQ(t, rc, 0);
	if (rc == 0) {
		enum pci_irq_mode want = d->msix.valid ? PCI_IRQ_MSIX : PCI_IRQ_MSI;
		KTEST_EXPECT_EQ(t, pi.mode, want);
		KTEST_EXPECT_EQ(t, pi.nvec, 1);
		KTEST_EXPECT_EQ(t, vec_space_free_count(irq_vec_space(cpu)), 0);
		ktest_log(t, "one vector free: %s with %u vector", pci_irq_mode_name(pi.mode), pi.nvec);
		pci_irq_free(&pi);
	}
	KTEST_EXPECT_EQ(t, vec_space_free_count(irq_vec_space(cpu)), 1);
	release(took);
	expect_quiet(t, d);
	check_table_masked(t, d);
	vec_check(t, "after the exhaustion run");
}

static void msi_fallback_msix_table_without_bar(struct ktest *t)
{
	if (!need_pci(t))
		return;
	struct pci_dev *d = 0;
	for (unsigned i = 0; i < pci_count(); i++) {
		struct pci_dev *x = pci_get(i);
		if (x && x->msix.present && !x->msix.valid && x->header_type == 0) {
			d = x;
			break;
		}
	}
	if (!d) {
		ktest_skip(t, "no function whose MSI-X table lies outside its BARs (sim: --pci-hostile msix-no-bar)");
		return;
	}
	vec_snapshot();
	struct pci_irq pi;
	counts_reset(0, ACK_NONE);
	int rc = pci_irq_alloc(d, 1, 0, PCI_IRQ_ALLOW_ALL, count_irq, &cnt, &pi);
	KTEST_EXPECT_EQ(t, rc, 0);
	if (rc)
		return;
	KTEST_EXPECT(t, pi.mode != PCI_IRQ_MSIX);
	KTEST_EXPECT(t, pi.fallback_why[0] && kstrcmp(pi.fallback_why[0], "no MSI-X capability") != 0);
	ktest_log(t, "%02x:%02x.%x: %s; MSI-X passed over: %s", d->addr.bus, d->addr.dev, d->addr.fn,
		  pci_irq_mode_name(pi.mode), pi.fallback_why[0] ? pi.fallback_why[0] : "-");
	KTEST_EXPECT(t, !(cfg16(d, d->msix.off + PCI_MSIX_CTRL) & PCI_MSIX_CTRL_ENABLE));
	pci_irq_free(&pi);
	expect_quiet(t, d);
	vec_check(t, "after free");
}

static void msi_alloc_rejects_bad_arguments(struct ktest *t)
{
	if (!need_pci(t))
		return;
	struct pci_dev *d = pick_msi_device();
	if (!d) {
		ktest_skip(t, "no device with MSI or MSI-X");
		return;
	}
	struct pci_irq pi, pi2;
	KTEST_EXPECT_EQ(t, pci_irq_alloc(d, 1, 0, 0, count_irq, &cnt, &pi), -EINVAL);
	KTEST_EXPECT_EQ(t, pci_irq_alloc(d, 1, 0, PCI_IRQ_ALLOW_ALL, 0, &cnt, &pi), -EINVAL);
	unsigned off = tu_first_offline();
	if (off < HAL_MAX_CPUS)
		KTEST_EXPECT_EQ(t, pci_irq_alloc(d, 1, off, PCI_IRQ_ALLOW_ALL, count_irq, &cnt, &pi), -EINVAL);
	vec_snapshot();
	KTEST_ASSERT(t, pci_irq_alloc(d, 1, 0, PCI_IRQ_ALLOW_POLL, count_irq, &cnt, &pi) == 0);
	KTEST_EXPECT_EQ(t, pi.mode, PCI_IRQ_POLL);
	/* One allocation per function at a time. */
	KTEST_EXPECT_EQ(t, pci_irq_alloc(d, 1, 0, PCI_IRQ_ALLOW_ALL, count_irq, &cnt, &pi2), -EBUSY);
	KTEST_EXPECT_EQ(t, pci_irq_mask(&pi, 1), -EINVAL);
	KTEST_EXPECT_EQ(t, pci_irq_pending(&pi, 0), -EOPNOTSUPP);
	pci_irq_free(&pi);
	pci_irq_free(&pi);          /* a second free does nothing */
	vec_check(t, "after free");
	KTEST_EXPECT_EQ(t, d->irq_mode, PCI_IRQ_NONE);
}

/* Whatever steps fail on the way (run with --fault-sites 'pci.*=1' or --fail-nth N
 * in the sim to fail them after they programmed the function), the mode chosen is
 * the only one enabled, every earlier step has a reason, and free leaves nothing. */
static void msi_fallback_undo_leaves_nothing(struct ktest *t)
{
	if (!need_pci_irqs(t, false))
		return;
	static const uint16_t ids[][2] = { { TESTDEV_VENDOR, TESTDEV_MSIX }, { TESTDEV_VENDOR, TESTDEV_MSI },
					   { EDU_VENDOR, EDU_DEVICE } };
	struct pci_dev *devs[4];
	unsigned nd = 0;
	for (unsigned i = 0; i < 3; i++)
		if ((devs[nd] = pci_find(ids[i][0], ids[i][1], 0)) != 0)
			nd++;
	if ((devs[nd] = pci_find_class(NVME_CLASS, 0xFFFFFF, 0)) != 0)
		nd++;
	if (!nd) {
		ktest_skip(t, "no device with MSI or MSI-X");
		return;
	}
	uint64_t faults0 = fault_fired_count();
	for (unsigned k = 0; k < nd; k++) {
		struct pci_dev *d = devs[k];
		vec_snapshot();
		struct pci_irq pi;
		counts_reset(0, ACK_NONE);
		uint64_t f0 = fault_fired_count();
		int rc = pci_irq_alloc(d, 4, last_msi_cpu(), PCI_IRQ_ALLOW_ALL, count_irq, &cnt, &pi);
		if (rc == -ENOMEM && fault_fired_count() != f0) {
			/* an injected allocation failure: refused, and nothing touched */
			KTEST_EXPECT_EQ(t, d->irq_mode, PCI_IRQ_NONE);
			vec_check(t, "after -ENOMEM");
			continue;
		}
		KTEST_EXPECT_EQ(t, rc, 0);
		if (rc)
			continue;
		for (unsigned i = 0; i < 4 && chain_step(i) != pi.mode; i++)
			if (!cmdline_allows(chain_step(i)))
				KTEST_EXPECT(t, pi.fallback_why[i] && !kstrcmp(pi.fallback_why[i], "excluded by pci.irq="));
			else if (!pi.fallback_why[i])
				ktest_fail_at(t, __FILE__, __LINE__, "%02x:%02x.%x: %s passed over without a reason",
					      d->addr.bus, d->addr.dev, d->addr.fn, pci_irq_mode_name(chain_step(i)));
		if (d->msix.present && pi.mode != PCI_IRQ_MSIX) {
			KTEST_EXPECT(t, !(cfg16(d, d->msix.off + PCI_MSIX_CTRL) & PCI_MSIX_CTRL_ENABLE));
			check_table_masked(t, d);
		}
		if (d->msi.present && pi.mode != PCI_IRQ_MSI)
			KTEST_EXPECT(t, !(cfg16(d, d->msi.off + PCI_MSI_CTRL) & PCI_MSI_CTRL_ENABLE));
		if (pi.mode == PCI_IRQ_POLL)
			KTEST_EXPECT(t, cfg16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
		ktest_log(t, "%02x:%02x.%x: %s (not msix: %s; not msi: %s; not intx: %s)", d->addr.bus,
			  d->addr.dev, d->addr.fn, pci_irq_mode_name(pi.mode),
			  pi.fallback_why[0] ? pi.fallback_why[0] : "-", pi.fallback_why[1] ? pi.fallback_why[1] : "-",
			  pi.fallback_why[2] ? pi.fallback_why[2] : "-");
		pci_irq_free(&pi);
		expect_quiet(t, d);
		check_table_masked(t, d);
		vec_check(t, "after free");
	}
	ktest_log(t, "fault sites fired meanwhile: %llu", (unsigned long long)(fault_fired_count() - faults0));
}

static const struct ktest_case msi_cases[] = {
	KTEST_CASE(msi_compose_address_data),
	KTEST_CASE(msi_alloc_rejects_bad_arguments),
	KTEST_CASE(msi_edu_msi_every_cpu),
	KTEST_CASE(msi_edu_intx),
	KTEST_CASE(msi_nvme_msix_enable_fire_mask),
	KTEST_CASE(msi_testdev_multi_message),
	KTEST_CASE(msi_testdev_msix_all_cpus),
	KTEST_CASE(msi_fallback_when_vectors_exhausted),
	KTEST_CASE(msi_fallback_msix_table_without_bar),
	KTEST_CASE(msi_fallback_undo_leaves_nothing),
};
KTEST_SUITE(msi_suite, "msi", msi_cases);
