/*
 * iommu_priv.h — what kernel/iommu/ shares inside itself: the domain object, the
 * table of live mappings both implementations check arguments against, the
 * device -> domain attachment table, fault accounting and the VT-d driver's entry
 * points. Not for drivers (they include kernel/dma.h) nor for the DMA layer
 * (kernel/iommu.h). Intel VT-d spec rev 3.x.
 */
#ifndef KERNEL_IOMMU_PRIV_H
#define KERNEL_IOMMU_PRIV_H
#include <stdbool.h>
#include <stdint.h>
#include <kernel/iommu.h>
#include <kernel/spinlock.h>
#include "dmar.h"
#include "vtd_pt.h"

/* ---- live mappings: a sorted array of what map() was given ---------------------------- */

struct iommu_map {
	uint64_t iova, len, pa;
	unsigned prot;
	bool reserved;              /* an RMRR identity mapping: unmap() refuses it */
};
struct maptab {
	struct iommu_map *v;
	unsigned n, cap;
};
/* Index of a mapping overlapping [iova, iova+len), or -1. */
int maptab_overlap(const struct maptab *t, uint64_t iova, uint64_t len);
/* 0, -ENOMEM. The caller checked for overlaps. */
int maptab_insert(struct maptab *t, uint64_t iova, uint64_t len, uint64_t pa, unsigned prot);
/* The exact mapping [iova, iova+len): its index, -ENOENT when nothing overlaps,
 * -EINVAL when the range covers only part of mappings (or several). */
int maptab_find_exact(const struct maptab *t, uint64_t iova, uint64_t len);
void maptab_remove(struct maptab *t, unsigned idx);
void maptab_free(struct maptab *t);
/* The checks every implementation's map() shares: alignment, length, wrap, prot,
 * width of the domain, the physical range, overlap. 0 or -EINVAL / -EEXIST. */
int iommu_map_check(const struct maptab *t, unsigned addr_bits, unsigned pa_bits, uint64_t iova,
		    uint64_t pa, size_t len, unsigned prot);
/* Same for unmap: 0 with *idx of the exact mapping, -EINVAL, -ENOENT. */
int iommu_unmap_check(const struct maptab *t, unsigned addr_bits, uint64_t iova, size_t len, int *idx);

/* ---- domains ------------------------------------------------------------------------- */

struct vtd_unit;
struct iommu_domain {
	const struct iommu_ops *ops;
	unsigned id;                /* VT-d domain id (1.. ; 0 is reserved under caching mode) */
	unsigned addr_bits;
	unsigned nattached;
	struct maptab maps;
	struct vtd_pt pt;           /* VT-d only */
	uint64_t units_mask;        /* VT-d units devices of this domain sit behind */
	uint16_t rmrr_refs[DMAR_MAX_RMRR];  /* attached devices needing RMRR i mapped */
};

/* ---- attachments: which domain each device is in ---------------------------------- */

/* 0, -EBUSY (attached elsewhere or here already), -ENOSPC. */
int iommu_attach_record(struct pci_dev *d, struct iommu_domain *dom);
/* 0, -ENOENT (d is not attached to dom). */
int iommu_attach_forget(struct pci_dev *d, struct iommu_domain *dom);
/* The domain d is attached to, or NULL. */
struct iommu_domain *iommu_domain_of(const struct pci_dev *d);
/* The n-th attached device (dumps), NULL past the end. */
struct pci_dev *iommu_attached_nth(unsigned n, struct iommu_domain **dom);

/* Machine physical address width (CPUID 0x80000008, else 36), for map checks. */
unsigned iommu_pa_bits(void);

/* ---- faults ---------------------------------------------------------------------------- */

/* Count and log one fault record (the console line of docs/iommu.md). Any context. */
void iommu_fault_note(uint16_t seg, const struct iommu_fault *f);
/* Fault-event interrupts taken since boot (all units). */
uint64_t iommu_fault_irq_count(void);
void iommu_fault_irq_note(void);
/* Read and clear pending fault records of every unit (the interrupt's work, also
 * usable as a polling fallback). Returns the records read. */
unsigned vtd_fault_poll(void);

/* ---- the VT-d driver -------------------------------------------------------------------- */

extern const struct iommu_ops iommu_vtd_ops;
/* Bring up every unit the DMAR lists: 0 with translation on, -errno (logged, all
 * units left with translation off). */
int vtd_init(const struct dmar_info *dmar, bool allow_qi);
/* Does a working unit cover d? */
bool vtd_covers(const struct pci_dev *d);
unsigned vtd_unit_count(void);
/* The n-th RMRR whose device scope names d (d behind a working unit): 0 with its
 * range, -ENOENT past the last. */
int vtd_rmrr_region(const struct pci_dev *d, unsigned n, uint64_t *base, uint64_t *limit);
bool vtd_qi_enabled(void);          /* every unit uses queued invalidation */
bool vtd_caching_mode(void);        /* some unit has CAP.CM */
/* Switch unit invalidation between queued (on) and register-based (off) at run
 * time, for tests. 0, -EOPNOTSUPP (no ECAP.QI), -ETIMEDOUT. */
int vtd_set_qi(bool on);
void vtd_dump(void);
/* Fault-event interrupts and records per unit, for vtd_dump. */
uint64_t vtd_unit_faults(unsigned unit);
/* The unit's interrupt fault handling, called from vtd.c's setup. */
int vtd_fault_setup(unsigned unit, volatile uint8_t *regs, uint64_t cap, uint16_t seg);
#endif
