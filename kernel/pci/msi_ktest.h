/*
 * msi_ktest.h — shared by the `msi` ktest suite's files (msi_ktest.c: compose, edu,
 * fallback; msi_ktest_dev.c: NVMe MSI-X, the sim's testdev): interrupt counting per
 * CPU and per vector index, free-vector snapshots for leak checks, device and CPU
 * helpers. PCIe Base 4.0 §7.7; docs/pci.md "The msi ktest suite".
 */
#ifndef KERNEL_PCI_MSI_KTEST_H
#define KERNEL_PCI_MSI_KTEST_H
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
#include <hw/dev/edu.h>
#include <hw/dev/nvme.h>
#include <hw/dev/testdev.h>
#include <kernel/ktest_smp.h>
#include "msi_priv.h"

#define WAIT_US 2000000             /* an interrupt that should come: 2 s at most */
#define QUIET_US 20000              /* how long "nothing arrives" is watched */

/* ---- counting interrupts ---------------------------------------------------------- */

enum ack_kind { ACK_NONE, ACK_EDU };

struct counts {
	uint64_t total;
	uint64_t per_cpu[HAL_MAX_CPUS];
	uint64_t per_idx[MSIX_MAX_ENTRIES];
	uint64_t last_cpu[MSIX_MAX_ENTRIES];
	volatile uint8_t *regs;         /* device registers the handler acknowledges */
	enum ack_kind ack;
};

extern struct counts msi_cnt;   /* msi_ktest.c */

/* Reset one set of counts (a case with two devices keeps one per device). */
static inline void counts_reset_of(struct counts *c, volatile uint8_t *regs, enum ack_kind ack)
{
	memset(c, 0, sizeof *c);
	c->regs = regs;
	c->ack = ack;
	/* release: the reset is visible before any interrupt handler can run */
	atomic_store64(&c->total, 0, MO_RELEASE);
}

static inline void counts_reset(volatile uint8_t *regs, enum ack_kind ack)
{
	counts_reset_of(&msi_cnt, regs, ack);
}

static inline void count_irq(unsigned idx, void *arg)
{
	struct counts *c = arg;
	unsigned cpu = hal_cpu_index();
	if (c->ack == ACK_EDU) {
		/* edu.rst: the interrupt status holds what raised it; writing those bits
		 * to the acknowledge register clears them and lowers INTx (needed before
		 * the EOI of a level interrupt). */
		uint32_t st = hal_mmio_read32(c->regs + EDU_REG_IRQ_STATUS);
		if (st)
			hal_mmio_write32(c->regs + EDU_REG_IRQ_ACK, st);
	}
	atomic_fetch_add64(&c->per_cpu[cpu], 1, MO_RELAXED);
	if (idx < MSIX_MAX_ENTRIES) {
		atomic_fetch_add64(&c->per_idx[idx], 1, MO_RELAXED);
		atomic_store64(&c->last_cpu[idx], cpu, MO_RELAXED);
	}
	/* release: the per-CPU and per-index counts before the total waiters read */
	atomic_fetch_add64(&c->total, 1, MO_RELEASE);
}

static inline uint64_t total(void)
{
	return atomic_load64(&msi_cnt.total, MO_ACQUIRE);
}

/* Wait for c's total to reach want, then watch a little longer for extras. */
static inline bool wait_exactly_of(struct counts *c, uint64_t want)
{
	if (!tu_wait_ge(&c->total, want, WAIT_US))
		return false;
	(void)tu_wait_ge(&c->total, want + 1, QUIET_US);
	return atomic_load64(&c->total, MO_ACQUIRE) == want;
}

static inline bool wait_exactly(uint64_t want)
{
	return wait_exactly_of(&msi_cnt, want);
}

/* ---- leak bookkeeping --------------------------------------------------------------- */

extern unsigned msi_free_before[HAL_MAX_CPUS];

static inline void vec_snapshot(void)
{
	for (unsigned c = 0; c < HAL_MAX_CPUS; c++) {
		struct vec_space *vs = irq_vec_space(c);
		msi_free_before[c] = vs ? vec_space_free_count(vs) : 0;
	}
}

static inline void vec_check(struct ktest *t, const char *when)
{
	for (unsigned c = 0; c < HAL_MAX_CPUS; c++) {
		struct vec_space *vs = irq_vec_space(c);
		unsigned now = vs ? vec_space_free_count(vs) : 0;
		if (now != msi_free_before[c])
			ktest_fail_at(t, __FILE__, __LINE__, "%s: CPU %u has %u free vectors, %u before",
				      when, c, now, msi_free_before[c]);
	}
}

/* Every CPU but one has the free-vector count of the snapshot. */
static inline void vec_check_except(struct ktest *t, unsigned skip, const char *when)
{
	for (unsigned c = 0; c < HAL_MAX_CPUS; c++) {
		struct vec_space *vs = irq_vec_space(c);
		unsigned now = vs ? vec_space_free_count(vs) : 0;
		if (c != skip && now != msi_free_before[c])
			ktest_fail_at(t, __FILE__, __LINE__, "%s: CPU %u has %u free vectors, %u before",
				      when, c, now, msi_free_before[c]);
	}
}

/* PCI present (and, when irqs, a LAPIC to deliver interrupts), else skip. */
static inline bool need_pci_irqs(struct ktest *t, bool irqs)
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

static inline bool need_pci(struct ktest *t)
{
	return need_pci_irqs(t, true);
}

static inline uint16_t cfg16(struct pci_dev *d, uint16_t off)
{
	return pci_cfg_read16(&d->addr, off);
}

/* The function is quiet: MSI and MSI-X off, INTx Disable set, irq_mode none. */
static inline void expect_quiet(struct ktest *t, struct pci_dev *d)
{
	if (d->msi.present)
		KTEST_EXPECT(t, !(cfg16(d, d->msi.off + PCI_MSI_CTRL) & PCI_MSI_CTRL_ENABLE));
	if (d->msix.present)
		KTEST_EXPECT(t, !(cfg16(d, d->msix.off + PCI_MSIX_CTRL) & PCI_MSIX_CTRL_ENABLE));
	KTEST_EXPECT(t, cfg16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
	KTEST_EXPECT_EQ(t, d->irq_mode, PCI_IRQ_NONE);
}

static inline unsigned online_list(unsigned *out)
{
	struct cpumask m;
	smp_online_mask(&m);
	unsigned n = 0;
	for_each_cpu(c, &m)
		out[n++] = c;
	return n;
}

static inline enum pci_irq_mode chain_step(unsigned i)
{
	static const enum pci_irq_mode order[4] = { PCI_IRQ_MSIX, PCI_IRQ_MSI, PCI_IRQ_INTX, PCI_IRQ_POLL };
	return order[i];
}

/* Does pci.irq= (the first step of the chain allowed) leave mode m in? */
static inline bool cmdline_allows(enum pci_irq_mode m)
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

static inline bool need_mode(struct ktest *t, enum pci_irq_mode m)
{
	if (cmdline_allows(m))
		return true;
	ktest_skip(t, "pci.irq=%s excludes %s", cmdline_get("pci.irq"), pci_irq_mode_name(m));
	return false;
}

/* Can an MSI reach this CPU? Not when its APIC ID needs more than 8 bits. */
static inline bool msi_reachable(unsigned cpu)
{
	return percpu_of(cpu)->apic_id <= 0xFF;
}

/* The highest online CPU an MSI can reach (the boot CPU at least). */
static inline unsigned last_msi_cpu(void)
{
	unsigned cpus[HAL_MAX_CPUS], n = online_list(cpus);
	for (unsigned i = n; i-- > 0;)
		if (msi_reachable(cpus[i]))
			return cpus[i];
	return 0;
}

/* msi_ktest_dev.c */
void msi_nvme_msix_enable_fire_mask(struct ktest *t);
void msi_testdev_multi_message(struct ktest *t);
void msi_testdev_msix_all_cpus(struct ktest *t);
void msi_testdev_msix_2048(struct ktest *t);
#endif
