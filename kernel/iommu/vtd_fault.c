/*
 * vtd_fault.c — VT-d primary fault logging: the fault-event interrupt (FECTL,
 * FEDATA/FEADDR composed by pci_msi_compose, a vector reserved on the boot CPU),
 * the fault recording registers read and cleared from FSTS.FRI on (F is
 * write-1-to-clear), overflow (PFO), and a polling path for a lost interrupt.
 * Intel VT-d spec rev 3.x §7.3.1, §10.4.9–§10.4.14; fault reasons Appendix A.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/errno.h>
#include <kernel/irq.h>
#include <kernel/log.h>
#include <kernel/pci.h>
#include "iommu_priv.h"

struct fault_unit {
	volatile uint8_t *regs;     /* NULL: unit not set up */
	uint16_t seg;
	unsigned fro, nfr;          /* first record's offset, number of records */
	struct irq_vec vec;
	uint64_t records, overflows;
};

static struct fault_unit funits[DMAR_MAX_UNITS];
/* Serialises reading and clearing of the records (the interrupt on the boot CPU
 * and pollers anywhere). Innermost: iommu_fault_note's lock is taken inside. */
static struct spinlock fault_lock = SPINLOCK_INIT("iommu.fault");

static unsigned drain(struct fault_unit *fu)
{
	unsigned n = 0;
	spin_lock(&fault_lock);
	uint32_t fsts = hal_mmio_read32(fu->regs + VTD_REG_FSTS);
	if (fsts & VTD_FSTS_PPF) {
		unsigned idx = VTD_FSTS_FRI(fsts) % fu->nfr;
		/* Walk from FRI until a record without F (§7.3.1 step 2). */
		for (unsigned k = 0; k < fu->nfr; k++) {
			volatile uint8_t *r = fu->regs + fu->fro + idx * 16;
			uint64_t hi = hal_mmio_read64(r + 8);
			if (!(hi & VTD_FRCD_HI_F))
				break;
			uint64_t lo = hal_mmio_read64(r);
			struct iommu_fault f = {
				.sid = VTD_FRCD_HI_SID(hi),
				.addr = VTD_FRCD_LO_FI(lo),
				.reason = VTD_FRCD_HI_FR(hi),
				.write = !(hi & VTD_FRCD_HI_T),
			};
			/* Clear the record: F is bit 127, write 1 to clear. */
			hal_mmio_write32(r + 12, (uint32_t)(VTD_FRCD_HI_F >> 32));
			iommu_fault_note(fu->seg, &f);
			fu->records++;
			n++;
			idx = (idx + 1) % fu->nfr;
		}
	}
	if (fsts & VTD_FSTS_PFO) {
		fu->overflows++;
		hal_mmio_write32(fu->regs + VTD_REG_FSTS, VTD_FSTS_PFO);
		klog("iommu", "fault: record overflow (FSTS 0x%x): faults were lost", fsts);
	}
	spin_unlock(&fault_lock);
	return n;
}

static void fault_irq(uint8_t vector, void *arg)
{
	(void)vector;
	iommu_fault_irq_note();
	drain(arg);
}

int vtd_fault_setup(unsigned unit, volatile uint8_t *regs, uint64_t cap, uint16_t seg)
{
	if (unit >= DMAR_MAX_UNITS)
		return -EINVAL;
	struct fault_unit *fu = &funits[unit];
	fu->seg = seg;
	fu->fro = VTD_CAP_FRO(cap) * 16;
	fu->nfr = VTD_CAP_NFR(cap);
	/* Mask while programming; clear whatever firmware left recorded. */
	hal_mmio_write32(regs + VTD_REG_FECTL, VTD_FECTL_IM);
	fu->regs = regs;
	drain(fu);
	/* A vector on the boot CPU, taken from the top of the allocatable range so
	 * this boot-long reservation does not shift the low vectors that irq_alloc
	 * hands out first (tests compare those across CPUs). */
	int rc = -ENOSPC;
	for (unsigned v = VEC_LAST; v >= VEC_FIRST && rc; v--)
		rc = irq_reserve(0, (uint8_t)v, fault_irq, fu, &fu->vec);
	if (rc)
		return rc;
	uint64_t addr;
	uint32_t data;
	rc = pci_msi_compose(0, fu->vec.vector, &addr, &data);
	if (rc) {
		irq_free(&fu->vec);
		return rc;
	}
	hal_mmio_write32(regs + VTD_REG_FEDATA, data);
	hal_mmio_write32(regs + VTD_REG_FEADDR, (uint32_t)addr);
	hal_mmio_write32(regs + VTD_REG_FEUADDR, (uint32_t)(addr >> 32));
	hal_mmio_write32(regs + VTD_REG_FECTL, 0);      /* IM = 0: deliver */
	return 0;
}

unsigned vtd_fault_poll(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < DMAR_MAX_UNITS; i++)
		if (funits[i].regs)
			n += drain(&funits[i]);
	return n;
}

uint64_t vtd_unit_faults(unsigned unit)
{
	return unit < DMAR_MAX_UNITS ? funits[unit].records : 0;
}
