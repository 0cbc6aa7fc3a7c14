/*
 * iommu.h — the IOMMU seen by the DMA layer: an ops table (domains, attach, map,
 * unmap, translate) with two implementations, Intel VT-d (kernel/iommu/vtd*.c) and
 * identity (no remapping, the same strict argument checks), plus the DMAR parser
 * and fault accounting. Intel VT-d spec rev 3.x: §8 (DMAR), §9 (tables), §10 (registers).
 * docs/iommu.md.
 */
#ifndef KERNEL_IOMMU_H
#define KERNEL_IOMMU_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <kernel/pci.h>

#define IOMMU_READ 1u       /* the device may read memory (DMA to device) */
#define IOMMU_WRITE 2u      /* the device may write memory (DMA from device) */
#define IOMMU_PAGE 4096ull

struct iommu_domain;        /* an address space: owned by one implementation */

/* What an implementation can do (iommu_ops.caps); callers ask these, never the name. */
#define IOMMU_CAP_TRANSLATE 1u  /* remaps DMA: a device with no domain attached is
				 * blocked, a domain maps any IOVA to any page */

struct iommu_ops {
	const char *name;                   /* "vtd" or "identity": for logs only */
	unsigned caps;                      /* IOMMU_CAP_* */
	/* A new empty domain whose IOVAs run 0..(1 << addr_bits)-1 (the unit's widest
	 * supported width, AGAW/SAGAW for VT-d). NULL on no memory. */
	struct iommu_domain *(*domain_alloc)(void);
	/* Refused (-EBUSY) while devices are attached or mappings are live. */
	int (*domain_free)(struct iommu_domain *dom);
	/* Give d's requester ID this domain (context entry + context-cache invalidation
	 * for VT-d). -EBUSY when already attached elsewhere, -ENODEV when no unit covers d. */
	int (*attach)(struct iommu_domain *dom, struct pci_dev *d);
	int (*detach)(struct iommu_domain *dom, struct pci_dev *d);
	/* Map [iova, iova+len) to [pa, pa+len): page-aligned, non-zero len, inside the
	 * domain's width and the machine's physical range, no overlap with a live
	 * mapping (-EEXIST). prot: IOMMU_READ|IOMMU_WRITE. -EINVAL for bad arguments. */
	int (*map)(struct iommu_domain *dom, uint64_t iova, uint64_t pa, size_t len, unsigned prot);
	/* Unmap exactly what map mapped (partial ranges of a mapping: -EINVAL; not mapped:
	 * -ENOENT), and invalidate the IOTLB (VT-d) before returning. */
	int (*unmap)(struct iommu_domain *dom, uint64_t iova, size_t len);
	/* Lazy unmapping (dma.flush=lazy, docs/dma.md), both NULL when the implementation
	 * caches nothing: unmap_noflush is unmap without the IOTLB invalidation — the
	 * device may still reach the pages through cached translations until flush, so
	 * the caller must not reuse the IOVA range nor hand the pages back before it;
	 * flush invalidates every cached translation of the domain (domain-selective). */
	int (*unmap_noflush)(struct iommu_domain *dom, uint64_t iova, size_t len);
	int (*flush)(struct iommu_domain *dom);
	/* Walk the domain's tables: 0 with *pa and *prot, -ENOENT when unmapped. */
	int (*translate)(struct iommu_domain *dom, uint64_t iova, uint64_t *pa, unsigned *prot);
	/* Read and record pending fault records of every unit (the fault interrupt's
	 * work, also a fallback when an interrupt was lost); returns how many. NULL
	 * when the implementation never faults. */
	unsigned (*fault_poll)(void);
};

/* Width of a domain's IOVA space, from any implementation: IOVAs run
 * 0..(1 << bits)-1. 0 for NULL. */
unsigned iommu_domain_addr_bits(const struct iommu_domain *dom);

/* Parse the DMAR (when `iommu=` allows), bring up every VT-d unit, enable
 * translation. Devices with no domain attached are blocked (their DMA faults).
 * Call after pci_init. 0, or -errno with the reason logged (then identity for all). */
int iommu_init(void);
/* The implementation that covers d: VT-d when a unit's scope (or INCLUDE_PCI_ALL)
 * names it and translation is on, identity otherwise. Never NULL. */
const struct iommu_ops *iommu_ops_for(const struct pci_dev *d);
extern const struct iommu_ops iommu_identity_ops;
/* Does an IOMMU remap d's DMA (iommu_ops_for(d) has IOMMU_CAP_TRANSLATE)? */
bool iommu_translates(const struct pci_dev *d);

/* The n-th memory range firmware reserved for d's own DMA (a VT-d RMRR naming d,
 * spec §8.4): while d is attached to a VT-d domain, [*base, *limit] (inclusive,
 * page granular) is mapped 1:1 read+write there, and unmapping it is refused; the
 * DMA layer keeps those IOVAs out of its allocator. 0, or -ENOENT past the last one
 * (always for a device VT-d does not translate). */
int iommu_reserved_region(const struct pci_dev *d, unsigned n, uint64_t *base, uint64_t *limit);

/* Faults the handler recorded for d (requester ID match), since boot. */
uint64_t iommu_fault_count(const struct pci_dev *d);
/* The last fault recorded: 0 with fields, -ENOENT if none. */
struct iommu_fault {
	uint16_t sid;               /* requester ID: bus << 8 | dev << 3 | fn */
	uint64_t addr;              /* faulting IOVA (page) */
	uint8_t reason;             /* VT-d fault reason (spec §7.1.3 / Appendix A) */
	bool write;                 /* access type: true = write request */
};
int iommu_fault_last(struct iommu_fault *out);
/* Diagnostics: each unit (base, version, CAP/ECAP decoded, invalidation mode,
 * faults) and each attached device. */
void iommu_dump(void);
#endif
