/*
 * msi_ktest.c — the `msi` ktest suite: PCI interrupts end to end in both builds.
 * Here: the message composition, edu (QEMU docs/specs/edu.rst) over MSI with
 * affinity to every CPU and over INTx (alone, and two functions sharing one line),
 * and the fallback chain under vector exhaustion with leak checks; the NVMe and
 * testdev cases are msi_ktest_dev.c.
 * PCIe Base 4.0 §7.7; docs/pci.md "The msi ktest suite".
 */
#include <kernel/heap.h>
#include "msi_ktest.h"
#include <drivers/nvme.h>

struct counts msi_cnt;
unsigned msi_free_before[HAL_MAX_CPUS];

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
		KTEST_EXPECT_EQ(t, a, (uint64_t)(MSI_ADDR_BASE | id << MSI_ADDR_DEST_SHIFT));
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

/* Enable and map an edu function and check its registers answer. */
static struct pci_dev *edu_open_dev(struct ktest *t, struct pci_dev *d, volatile uint8_t **regs)
{
	pci_enable(d, true, false, true);   /* MSI is a memory write: bus mastering */
	*regs = pci_bar_map(d, 0);
	if (!*regs) {
		ktest_fail_at(t, __FILE__, __LINE__, "edu BAR0 cannot be mapped");
		return 0;
	}
	uint32_t id = hal_mmio_read32(*regs + EDU_REG_ID);
	hal_mmio_write32(*regs + EDU_REG_LIVENESS, 0x12345678u);
	uint32_t live = hal_mmio_read32(*regs + EDU_REG_LIVENESS);
	if ((id & 0xFFFF) != 0x00ed || live != ~0x12345678u) {
		ktest_fail_at(t, __FILE__, __LINE__, "edu registers: id 0x%x, liveness 0x%x", id, live);
		hal_mmio_unmap((void *)*regs, (size_t)d->bar[0].size);
		return 0;
	}
	return d;
}

static struct pci_dev *edu_open(struct ktest *t, volatile uint8_t **regs)
{
	if (!need_pci(t))
		return 0;
	struct pci_dev *d = pci_find(EDU_VENDOR, EDU_DEVICE, 0);
	if (!d) {
		ktest_skip(t, "no edu device (QEMU: -device edu)");
		return 0;
	}
	return edu_open_dev(t, d, regs);
}

static void edu_close(struct pci_dev *d, volatile uint8_t *regs)
{
	hal_mmio_unmap((void *)regs, (size_t)d->bar[0].size);
}

/* edu for an INTx case: INTx allowed by pci.irq=, an edu, an I/O APIC; else skip. */
static struct pci_dev *edu_open_intx(struct ktest *t, volatile uint8_t **regs)
{
	if (!need_mode(t, PCI_IRQ_INTX))
		return 0;
	struct pci_dev *d = edu_open(t, regs);
	if (d && !ioapic_pin_count()) {
		ktest_skip(t, "no I/O APIC");
		edu_close(d, *regs);
		return 0;
	}
	return d;
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
	int rc = pci_irq_alloc(d, 1, 0, PCI_IRQ_ALLOW_MSI, count_irq, &msi_cnt, &pi);
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
		hal_mmio_write32(regs + EDU_REG_IRQ_RAISE, 1);
		if (!wait_exactly(1))
			ktest_fail_at(t, __FILE__, __LINE__, "CPU %u: %llu interrupts, want 1", c,
				      (unsigned long long)total());
		else if (atomic_load64(&msi_cnt.per_cpu[c], MO_RELAXED) != 1)
			ktest_fail_at(t, __FILE__, __LINE__, "the interrupt aimed at CPU %u landed on CPU %llu",
				      c, (unsigned long long)atomic_load64(&msi_cnt.last_cpu[0], MO_RELAXED));
		else
			reached++;
	}
	if (!t->failed)
		ktest_log(t, "edu MSI delivered on each of %u CPUs (%u online)", reached, n);
	pci_irq_free(&pi);
	expect_quiet(t, d);
	vec_check(t, "after free");
	KTEST_EXPECT_EQ(t, hal_mmio_read32(regs + EDU_REG_IRQ_STATUS), 0);
	edu_close(d, regs);
}

static void msi_edu_intx(struct ktest *t)
{
	volatile uint8_t *regs;
	struct pci_dev *d = edu_open_intx(t, &regs);
	if (!d)
		return;
	vec_snapshot();
	struct pci_irq pi;
	counts_reset(regs, ACK_EDU);
	int rc = pci_irq_alloc(d, 1, 0, PCI_IRQ_ALLOW_INTX, count_irq, &msi_cnt, &pi);
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
	hal_mmio_write32(regs + EDU_REG_IRQ_RAISE, 1);
	KTEST_EXPECT(t, !tu_wait_ge(&msi_cnt.total, 1, QUIET_US));
	KTEST_EXPECT_EQ(t, pci_irq_unmask(&pi, 0), 0);
	KTEST_EXPECT(t, !(cfg16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE));
	/* The line was held asserted: unmasking delivers it, the handler acks it. */
	if (!wait_exactly(1))
		ktest_fail_at(t, __FILE__, __LINE__, "INTx: %llu interrupts after unmask, want 1",
			      (unsigned long long)total());
	KTEST_EXPECT_EQ(t, atomic_load64(&msi_cnt.per_cpu[0], MO_RELAXED), total());

	unsigned to = last_msi_cpu();       /* the I/O APIC has 8-bit destinations too */
	counts_reset(regs, ACK_EDU);
	KTEST_EXPECT_EQ(t, pci_irq_set_affinity(&pi, 0, to), 0);
	hal_mmio_write32(regs + EDU_REG_IRQ_RAISE, 2);
	if (!wait_exactly(1))
		ktest_fail_at(t, __FILE__, __LINE__, "INTx on CPU %u: %llu interrupts, want 1", to,
			      (unsigned long long)total());
	KTEST_EXPECT_EQ(t, atomic_load64(&msi_cnt.per_cpu[to], MO_RELAXED), 1);
	KTEST_EXPECT_EQ(t, hal_mmio_read32(regs + EDU_REG_IRQ_STATUS), 0);    /* acked */
	uint32_t gsi = pi.gsi;
	pci_irq_free(&pi);
	expect_quiet(t, d);
	KTEST_ASSERT(t, ioapic_read_entry(gsi, &lo, &hi) == 0);
	KTEST_EXPECT(t, lo & (1u << 16));                   /* masked again */
	vec_check(t, "after free");
	edu_close(d, regs);
}

/* ---- edu: two functions on one INTx line ---------------------------------------------- */

static struct counts cnt_b;                 /* the second edu's; the first uses msi_cnt */
static volatile uint8_t *shared_regs[2];

/* Two usable edu functions with the same interrupt line (pin set, line valid). */
static bool edu_pair_on_one_line(struct pci_dev **a, struct pci_dev **b)
{
	struct pci_dev *x, *y;
	for (unsigned i = 0; (x = pci_find(EDU_VENDOR, EDU_DEVICE, i)) != 0; i++) {
		if (x->skipped || !x->irq_pin || x->irq_line == 0 || x->irq_line == 0xFF)
			continue;
		for (unsigned j = i + 1; (y = pci_find(EDU_VENDOR, EDU_DEVICE, j)) != 0; j++)
			if (!y->skipped && y->irq_pin && y->irq_line == x->irq_line) {
				*a = x;
				*b = y;
				return true;
			}
	}
	return false;
}

/* Vectors taken since vec_snapshot, over every CPU. */
static unsigned vectors_taken(void)
{
	unsigned n = 0;
	for (unsigned c = 0; c < HAL_MAX_CPUS; c++) {
		struct vec_space *vs = irq_vec_space(c);
		unsigned now = vs ? vec_space_free_count(vs) : 0;
		n += msi_free_before[c] - now;
	}
	return n;
}

static bool got_exactly(struct counts *c, uint64_t want)
{
	if (want)
		return wait_exactly_of(c, want);
	return !tu_wait_ge(&c->total, 1, QUIET_US);
}

static void shared_reset(void)
{
	counts_reset_of(&msi_cnt, shared_regs[0], ACK_EDU);
	counts_reset_of(&cnt_b, shared_regs[1], ACK_EDU);
}

/* Raise on A and/or B (edu 0x60), then A's and B's handlers must have run exactly
 * want_a and want_b times. */
static void shared_step(struct ktest *t, const char *what, bool raise_a, bool raise_b, uint64_t want_a,
			uint64_t want_b)
{
	shared_reset();
	if (raise_a)
		hal_mmio_write32(shared_regs[0] + EDU_REG_IRQ_RAISE, 1);
	if (raise_b)
		hal_mmio_write32(shared_regs[1] + EDU_REG_IRQ_RAISE, 1);
	bool ok_a = got_exactly(&msi_cnt, want_a);
	bool ok_b = got_exactly(&cnt_b, want_b);
	if (!ok_a || !ok_b)
		ktest_fail_at(t, __FILE__, __LINE__, "%s: A's handler ran %llu times (want %llu), B's %llu (want %llu)",
			      what, (unsigned long long)atomic_load64(&msi_cnt.total, MO_ACQUIRE),
			      (unsigned long long)want_a, (unsigned long long)atomic_load64(&cnt_b.total, MO_ACQUIRE),
			      (unsigned long long)want_b);
}

static void expect_routed(struct ktest *t, uint32_t gsi, uint8_t vector)
{
	uint32_t lo, hi;
	KTEST_ASSERT(t, ioapic_read_entry(gsi, &lo, &hi) == 0);
	KTEST_EXPECT_EQ(t, lo & 0xFF, vector);
	KTEST_EXPECT(t, lo & (1u << 15));                   /* level-triggered */
	KTEST_EXPECT(t, !(lo & (1u << 16)));                /* routed, unmasked */
}

/* The INTx storm guard (irq.c): a handler that never quiets edu's level interrupt
 * gets exactly PCI_INTX_STORM_LIMIT calls, then the function is masked with INTx
 * Disable and logged; the line stays routed, and once the device is acknowledged
 * pci_irq_unmask brings it back. The line is aimed at the last CPU, so with more
 * than one CPU a missing guard storms that CPU while this one sees the count run
 * past the limit (with one CPU it would hang here, and the run's timeout fails it). */
static void msi_edu_intx_storm_masked(struct ktest *t)
{
	volatile uint8_t *regs;
	struct pci_dev *d = edu_open_intx(t, &regs);
	if (!d)
		return;
	vec_snapshot();
	struct pci_irq pi;
	unsigned cpu = last_msi_cpu();
	counts_reset(regs, ACK_NONE);       /* counts, never acknowledges: a stuck line */
	int rc = pci_irq_alloc(d, 1, cpu, PCI_IRQ_ALLOW_INTX, count_irq, &msi_cnt, &pi);
	if (rc) {
		ktest_fail_at(t, __FILE__, __LINE__, "INTx for edu: %d, %s", rc,
			      pi.fallback_why[2] ? pi.fallback_why[2] : "?");
		edu_close(d, regs);
		return;
	}
	hal_mmio_write32(regs + EDU_REG_IRQ_RAISE, 1);
	KTEST_EXPECT_EQ(t, pci_irq_unmask(&pi, 0), 0);
	/* A thousand interrupts may take a while under Valgrind: 10x the usual wait. */
	(void)tu_wait_ge(&msi_cnt.total, PCI_INTX_STORM_LIMIT, 10 * WAIT_US);
	(void)tu_wait_ge(&msi_cnt.total, PCI_INTX_STORM_LIMIT + 1, QUIET_US);
	uint64_t got = total();
	if (got != PCI_INTX_STORM_LIMIT)
		ktest_fail_at(t, __FILE__, __LINE__, "stuck INTx on CPU %u: %llu handler calls, want the "
			      "guard to stop them at %u", cpu, (unsigned long long)got, PCI_INTX_STORM_LIMIT);
	KTEST_EXPECT(t, cfg16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
	KTEST_EXPECT_EQ(t, atomic_load32(&((struct pci_irq_priv *)pi.priv)->intx_storms, MO_RELAXED), 1);   /* the guard did it */
	uint32_t lo, hi;
	KTEST_ASSERT(t, ioapic_read_entry(pi.gsi, &lo, &hi) == 0);
	KTEST_EXPECT(t, !(lo & (1u << 16)));                /* the line itself stays routed */
	ktest_log(t, "stuck INTx stopped after %llu handler calls", (unsigned long long)got);

	/* Acknowledged and unmasked, the function works again. */
	hal_mmio_write32(regs + EDU_REG_IRQ_ACK, hal_mmio_read32(regs + EDU_REG_IRQ_STATUS));
	counts_reset(regs, ACK_EDU);
	KTEST_EXPECT_EQ(t, pci_irq_unmask(&pi, 0), 0);
	hal_mmio_write32(regs + EDU_REG_IRQ_RAISE, 2);
	if (!wait_exactly(1))
		ktest_fail_at(t, __FILE__, __LINE__, "after unmask: %llu interrupts, want 1",
			      (unsigned long long)total());
	KTEST_EXPECT_EQ(t, hal_mmio_read32(regs + EDU_REG_IRQ_STATUS), 0);
	pci_irq_free(&pi);
	expect_quiet(t, d);
	vec_check(t, "after free");
	edu_close(d, regs);
}

static void msi_edu_intx_shared(struct ktest *t)
{
	if (!need_mode(t, PCI_IRQ_INTX))
		return;
	if (!need_pci(t))
		return;
	if (!ioapic_pin_count()) {
		ktest_skip(t, "no I/O APIC");
		return;
	}
	struct pci_dev *da, *db;
	if (!edu_pair_on_one_line(&da, &db)) {
		ktest_skip(t, "no two edu functions on one interrupt line (sim: --pci shared-intx)");
		return;
	}
	if (!edu_open_dev(t, da, &shared_regs[0]))
		return;
	if (!edu_open_dev(t, db, &shared_regs[1])) {
		edu_close(da, shared_regs[0]);
		return;
	}
	ktest_log(t, "edu %02x:%02x.%x and %02x:%02x.%x share line %u", da->addr.bus, da->addr.dev,
		  da->addr.fn, db->addr.bus, db->addr.dev, db->addr.fn, da->irq_line);
	vec_snapshot();
	shared_reset();
	struct pci_irq pa, pb;
	int rc = pci_irq_alloc(da, 1, 0, PCI_IRQ_ALLOW_INTX, count_irq, &msi_cnt, &pa);
	if (rc) {
		ktest_fail_at(t, __FILE__, __LINE__, "INTx for A: %d, %s", rc,
			      pa.fallback_why[2] ? pa.fallback_why[2] : "?");
		goto out_close;
	}
	/* B asks for another CPU: it joins the line's vector wherever that is. */
	unsigned to = last_msi_cpu();
	rc = pci_irq_alloc(db, 1, to, PCI_IRQ_ALLOW_INTX, count_irq, &cnt_b, &pb);
	if (rc) {
		ktest_fail_at(t, __FILE__, __LINE__, "INTx for B on A's line: %d, %s", rc,
			      pb.fallback_why[2] ? pb.fallback_why[2] : "?");
		pci_irq_free(&pa);
		goto out_close;
	}
	KTEST_EXPECT_EQ(t, pa.mode, PCI_IRQ_INTX);
	KTEST_EXPECT_EQ(t, pb.mode, PCI_IRQ_INTX);
	KTEST_EXPECT_EQ(t, pa.nvec, 1);
	KTEST_EXPECT_EQ(t, pb.nvec, 1);
	KTEST_EXPECT_EQ(t, pa.gsi, pb.gsi);
	KTEST_EXPECT_EQ(t, pb.vec[0].vector, pa.vec[0].vector);
	KTEST_EXPECT_EQ(t, pb.vec[0].cpu, pa.vec[0].cpu);
	KTEST_EXPECT_EQ(t, pa.vec[0].cpu, 0);
	KTEST_EXPECT_EQ(t, vectors_taken(), 1);            /* one vector for the line */
	expect_routed(t, pa.gsi, pa.vec[0].vector);
	KTEST_EXPECT(t, cfg16(da, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);     /* both start masked */
	KTEST_EXPECT(t, cfg16(db, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
	ktest_log(t, "GSI %u, vector 0x%x on CPU %u for both", pa.gsi, pa.vec[0].vector, pa.vec[0].cpu);
	KTEST_EXPECT_EQ(t, pci_irq_unmask(&pa, 0), 0);
	KTEST_EXPECT_EQ(t, pci_irq_unmask(&pb, 0), 0);

	/* Each handler runs for its own function only, once per raise. */
	shared_step(t, "raise on A", true, false, 1, 0);
	shared_step(t, "raise on B", false, true, 0, 1);
	shared_step(t, "raise on both", true, true, 1, 1);

	/* Affinity through B moves the line for both. */
	KTEST_EXPECT_EQ(t, pci_irq_set_affinity(&pb, 0, to), 0);
	KTEST_EXPECT_EQ(t, pb.vec[0].cpu, to);
	KTEST_EXPECT_EQ(t, pa.vec[0].cpu, to);
	KTEST_EXPECT_EQ(t, pa.vec[0].vector, pb.vec[0].vector);
	KTEST_EXPECT_EQ(t, vectors_taken(), 1);
	expect_routed(t, pa.gsi, pa.vec[0].vector);
	shared_step(t, "raise on A after affinity", true, false, 1, 0);
	KTEST_EXPECT_EQ(t, atomic_load64(&msi_cnt.per_cpu[to], MO_RELAXED), 1);

	/* A masked (INTx Disable): its raise reaches nobody, B still works and A's
	 * asserted Interrupt Status does not get A's handler called; unmasking A
	 * delivers the held line to A once. */
	KTEST_EXPECT_EQ(t, pci_irq_mask(&pa, 0), 0);
	KTEST_EXPECT(t, cfg16(da, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
	shared_step(t, "raise on A while A is masked", true, false, 0, 0);
	KTEST_EXPECT(t, cfg16(da, PCI_STATUS) & PCI_STATUS_INTX);  /* asserting, kept off the line */
	shared_step(t, "raise on B while A is masked and asserting", false, true, 0, 1);
	shared_reset();
	KTEST_EXPECT_EQ(t, pci_irq_unmask(&pa, 0), 0);
	if (!got_exactly(&msi_cnt, 1) || !got_exactly(&cnt_b, 0))
		ktest_fail_at(t, __FILE__, __LINE__, "unmask A: A's handler ran %llu times, B's %llu; want 1, 0",
			      (unsigned long long)atomic_load64(&msi_cnt.total, MO_ACQUIRE),
			      (unsigned long long)atomic_load64(&cnt_b.total, MO_ACQUIRE));

	/* Free A: B keeps the line, the vector and the route. */
	uint32_t gsi = pb.gsi;
	pci_irq_free(&pa);
	expect_quiet(t, da);
	KTEST_EXPECT(t, pa.vec == 0 && pa.mode == PCI_IRQ_NONE);
	KTEST_EXPECT_EQ(t, vectors_taken(), 1);
	expect_routed(t, gsi, pb.vec[0].vector);
	KTEST_EXPECT_EQ(t, pb.vec[0].cpu, to);
	shared_step(t, "raise on B after A was freed", false, true, 0, 1);
	shared_step(t, "raise on A after A was freed", true, false, 0, 0);
	hal_mmio_write32(shared_regs[0] + EDU_REG_IRQ_ACK, hal_mmio_read32(shared_regs[0] + EDU_REG_IRQ_STATUS));

	/* Free B, the last one: the pin masked, every vector back. */
	pci_irq_free(&pb);
	expect_quiet(t, db);
	uint32_t lo, hi;
	KTEST_ASSERT(t, ioapic_read_entry(gsi, &lo, &hi) == 0);
	KTEST_EXPECT(t, lo & (1u << 16));                   /* masked again */
	vec_check(t, "after both were freed");
	KTEST_EXPECT_EQ(t, hal_mmio_read32(shared_regs[0] + EDU_REG_IRQ_STATUS), 0);
	KTEST_EXPECT_EQ(t, hal_mmio_read32(shared_regs[1] + EDU_REG_IRQ_STATUS), 0);
	if (!t->failed)
		ktest_log(t, "shared GSI %u: each handler only for its function, masking per function, "
			  "affinity for both, the line kept until the last free", gsi);
out_close:
	edu_close(db, shared_regs[1]);
	edu_close(da, shared_regs[0]);
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
	struct pci_dev *d = pci_find(TESTDEV_VENDOR, TESTDEV_DEVICE_MSIX, 0);
	if (!d)
		d = pci_find_class(NVME_PCI_CLASS, 0xFFFFFF, 0);
	if (!d)
		d = pci_find(EDU_VENDOR, EDU_DEVICE, 0);
	return d && (d->msix.valid || d->msi.present) && !d->skipped ? d : 0;
}

static struct irq_vec held[VEC_NALLOC];

/* Take every free vector of cpu into h[0..VEC_NALLOC); returns how many. */
static unsigned exhaust_into(unsigned cpu, struct irq_vec *h)
{
	unsigned n = 0;
	while (n < VEC_NALLOC && irq_alloc(cpu, 1, dummy_handler, 0, &h[n]) == 0)
		n++;
	return n;
}

static unsigned exhaust(unsigned cpu)
{
	return exhaust_into(cpu, held);
}

static void release_from(struct irq_vec *h, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (h[i].vector)
			irq_free(&h[i]);
}

static void release(unsigned n)
{
	release_from(held, n);
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

static void msi_fallback_when_vectors_exhausted_body(struct ktest *t)
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
	unsigned all[HAL_MAX_CPUS], others[HAL_MAX_CPUS], na = online_list(all), no = 0;
	for (unsigned i = 0; i < na; i++)
		if (all[i] != cpu && msi_reachable(all[i]))
			others[no++] = all[i];
	struct irq_vec *oheld = no ? kzalloc((size_t)no * VEC_NALLOC * sizeof *oheld) : 0;
	if (no && !oheld) {
		ktest_fail_at(t, __FILE__, __LINE__, "no memory to hold the other CPUs' vectors");
		return;
	}
	vec_snapshot();
	unsigned took = exhaust(cpu);
	KTEST_EXPECT_EQ(t, took, msi_free_before[cpu]);
	KTEST_EXPECT_EQ(t, vec_space_free_count(irq_vec_space(cpu)), 0);
	struct pci_irq pi;
	counts_reset(0, ACK_NONE);

	/* Only cpu full: MSI-X spreads over the other CPUs (docs/pci.md "MSI-X"),
	 * none of its vectors on cpu, the first ones on different CPUs. */
	int rc;
	if (d->msix.valid && no) {
		rc = pci_irq_alloc(d, 4, cpu, PCI_IRQ_ALLOW_MSIX, count_irq, &msi_cnt, &pi);
		KTEST_EXPECT_EQ(t, rc, 0);
		if (rc == 0) {
			unsigned want = d->msix.table_size < 4 ? d->msix.table_size : 4;
			KTEST_EXPECT_EQ(t, pi.nvec, want);
			KTEST_EXPECT_EQ(t, pi.vec[0].cpu, others[0]);   /* the round wraps after cpu */
			for (unsigned i = 0; i < pi.nvec; i++) {
				KTEST_EXPECT(t, pi.vec[i].cpu != cpu);
				KTEST_EXPECT_EQ(t, pi.vec[i].cpu, others[i % no]);
			}
			ktest_log(t, "CPU %u full: %u MSI-X vectors from CPU %u on", cpu, pi.nvec, pi.vec[0].cpu);
			pci_irq_free(&pi);
		}
		KTEST_EXPECT_EQ(t, vec_space_free_count(irq_vec_space(cpu)), 0);
		vec_check_except(t, cpu, "after the spread grant");
	}
	/* Now every CPU an MSI can reach is full. */
	unsigned otook[HAL_MAX_CPUS];
	for (unsigned k = 0; k < no; k++)
		otook[k] = exhaust_into(others[k], oheld + (size_t)k * VEC_NALLOC);

	/* Nothing free: MSI-X, MSI and INTx all need a vector; polling remains. */
	rc = pci_irq_alloc(d, 4, cpu, PCI_IRQ_ALLOW_ALL, count_irq, &msi_cnt, &pi);
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
			   count_irq, &msi_cnt, &pi);
	KTEST_EXPECT_EQ(t, rc, -ENOSPC);
	KTEST_EXPECT_EQ(t, d->irq_mode, PCI_IRQ_NONE);
	KTEST_EXPECT_EQ(t, vec_space_free_count(irq_vec_space(cpu)), 0);

	/* One vector back: the first allowed mode with a vector takes it (MSI-X grants
	 * fewer than asked; MSI a block of one). */
	KTEST_EXPECT(t, took > 0);
	if (took)
		irq_free(&held[--took]);
	rc = pci_irq_alloc(d, 4, cpu, PCI_IRQ_ALLOW_ALL, count_irq, &msi_cnt, &pi);
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
	for (unsigned k = 0; k < no; k++)
		release_from(oheld + (size_t)k * VEC_NALLOC, otook[k]);
	kfree(oheld);
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
	int rc = pci_irq_alloc(d, 1, 0, PCI_IRQ_ALLOW_ALL, count_irq, &msi_cnt, &pi);
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

static void msi_alloc_rejects_bad_arguments_body(struct ktest *t)
{
	if (!need_pci(t))
		return;
	struct pci_dev *d = pick_msi_device();
	if (!d) {
		ktest_skip(t, "no device with MSI or MSI-X");
		return;
	}
	struct pci_irq pi, pi2;
	KTEST_EXPECT_EQ(t, pci_irq_alloc(d, 1, 0, 0, count_irq, &msi_cnt, &pi), -EINVAL);
	KTEST_EXPECT_EQ(t, pci_irq_alloc(d, 1, 0, PCI_IRQ_ALLOW_ALL, 0, &msi_cnt, &pi), -EINVAL);
	unsigned off = tu_first_offline();
	if (off < HAL_MAX_CPUS)
		KTEST_EXPECT_EQ(t, pci_irq_alloc(d, 1, off, PCI_IRQ_ALLOW_ALL, count_irq, &msi_cnt, &pi), -EINVAL);
	vec_snapshot();
	KTEST_ASSERT(t, pci_irq_alloc(d, 1, 0, PCI_IRQ_ALLOW_POLL, count_irq, &msi_cnt, &pi) == 0);
	KTEST_EXPECT_EQ(t, pi.mode, PCI_IRQ_POLL);
	/* One allocation per function at a time. */
	KTEST_EXPECT_EQ(t, pci_irq_alloc(d, 1, 0, PCI_IRQ_ALLOW_ALL, count_irq, &msi_cnt, &pi2), -EBUSY);
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
static void msi_fallback_undo_leaves_nothing_body(struct ktest *t)
{
	if (!need_pci_irqs(t, false))
		return;
	static const uint16_t ids[][2] = { { TESTDEV_VENDOR, TESTDEV_DEVICE_MSIX }, { TESTDEV_VENDOR, TESTDEV_DEVICE_MSI },
					   { EDU_VENDOR, EDU_DEVICE } };
	struct pci_dev *devs[4];
	unsigned nd = 0;
	for (unsigned i = 0; i < 3; i++)
		if ((devs[nd] = pci_find(ids[i][0], ids[i][1], 0)) != 0)
			nd++;
	if ((devs[nd] = pci_find_class(NVME_PCI_CLASS, 0xFFFFFF, 0)) != 0)
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
		int rc = pci_irq_alloc(d, 4, last_msi_cpu(), PCI_IRQ_ALLOW_ALL, count_irq, &msi_cnt, &pi);
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
		vec_check(t, "after free");     /* per CPU; the totals go to the log for the harness */
		unsigned before = 0, after = 0;
		for (unsigned c = 0; c < HAL_MAX_CPUS; c++) {
			struct vec_space *vs = irq_vec_space(c);
			before += msi_free_before[c];
			after += vs ? vec_space_free_count(vs) : 0;
		}
		ktest_log(t, "%02x:%02x.%x: free vectors %u before, %u after free", d->addr.bus, d->addr.dev,
			  d->addr.fn, before, after);
	}
	ktest_log(t, "fault sites fired meanwhile: %llu", (unsigned long long)(fault_fired_count() - faults0));
}

/* The NVMe driver owns its controller from boot (its vectors allocated): a case
 * that may pick that controller borrows it from the driver and gives it back. */
static void with_nvme_borrowed(struct ktest *t, void (*body)(struct ktest *t))
{
	bool borrowed = nvme_test_release(0) == 0;
	body(t);
	if (borrowed && nvme_test_reclaim(0) != 0)
		ktest_fail_at(t, __FILE__, __LINE__, "the NVMe driver could not take nvme0 back");
}

static void msi_fallback_when_vectors_exhausted(struct ktest *t)
{
	with_nvme_borrowed(t, msi_fallback_when_vectors_exhausted_body);
}

static void msi_alloc_rejects_bad_arguments(struct ktest *t)
{
	with_nvme_borrowed(t, msi_alloc_rejects_bad_arguments_body);
}

static void msi_fallback_undo_leaves_nothing(struct ktest *t)
{
	with_nvme_borrowed(t, msi_fallback_undo_leaves_nothing_body);
}

static const struct ktest_case msi_cases[] = {
	KTEST_CASE(msi_compose_address_data),
	KTEST_CASE(msi_alloc_rejects_bad_arguments),
	KTEST_CASE(msi_edu_msi_every_cpu),
	KTEST_CASE(msi_edu_intx),
	KTEST_CASE(msi_edu_intx_storm_masked),
	KTEST_CASE(msi_edu_intx_shared),
	KTEST_CASE(msi_nvme_msix_enable_fire_mask),
	KTEST_CASE(msi_testdev_multi_message),
	KTEST_CASE(msi_testdev_msix_all_cpus),
	KTEST_CASE(msi_testdev_msix_2048),
	KTEST_CASE(msi_fallback_when_vectors_exhausted),
	KTEST_CASE(msi_fallback_msix_table_without_bar),
	KTEST_CASE(msi_fallback_undo_leaves_nothing),
};
KTEST_SUITE(msi_suite, "msi", msi_cases);
