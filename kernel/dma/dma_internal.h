/*
 * dma_internal.h — the DMA layer's private view (never included by drivers):
 * the per-device state behind struct dma_dev and the bounce-buffer pool
 * (swiotlb.c). docs/dma.md.
 */
#ifndef KERNEL_DMA_INTERNAL_H
#define KERNEL_DMA_INTERNAL_H
#include <stdbool.h>
#include <stdint.h>
#include <kernel/dma.h>
#include <kernel/iommu.h>
#include <kernel/spinlock.h>
#include "iova.h"

/* ---- bounce-buffer pools (SWIOTLB), swiotlb.c ------------------------------------- */

#define SWIOTLB_SLOT 2048u          /* slot size: a mapping takes whole slots */

/* Make sure a pool lies wholly at or below mask (made on first need, below 4 GiB
 * for wider masks; `dma.bounce_kib=` KiB, default 1024). 0 or -ENOMEM. */
int swiotlb_init(uint64_t mask);
/* Slots for len bytes, the first aligned to align (power of two, <= 4096), the
 * whole run at or below mask (the device's DMA mask). 0 and *pa, -ENOSPC (pools
 * full), -ENOMEM (no pool within reach), -EINVAL. */
int swiotlb_alloc(size_t len, uint32_t align, uint64_t mask, uint64_t *pa);
/* Give back what swiotlb_alloc returned. -EINVAL for a foreign or double free. */
int swiotlb_free(uint64_t pa, size_t len);
/* Is [pa, pa+len) inside one pool? Slots in use over all pools. */
bool swiotlb_owns(uint64_t pa, size_t len);
size_t swiotlb_slots_used(void);

/* ---- per-device state --------------------------------------------------------------- */

enum dma_rec_kind { DMA_REC_SINGLE, DMA_REC_SG, DMA_REC_COHERENT };

/* One buffer the device reaches: the caller's memory or a bounce slot, made
 * reachable through the IOMMU (an IOVA range), the identity domain (pages mapped
 * 1:1, reference counted) or nothing (bus = physical). */
struct dma_piece {
	void *va;                   /* the caller's buffer (coherent: the allocation) */
	size_t len;
	dma_addr_t bus;             /* what the device drives: first byte */
	uint64_t dev_pa;            /* physical address of the first byte the device reaches */
	uint64_t bounce_pa;         /* bounce slot, 0 when not bounced */
	uint64_t iova;              /* policy iommu: the IOVA range (page aligned), else 0 */
	uint64_t iova_len;
	bool per_page;              /* iommu: mapped page by page (physically scattered) */
	bool idmapped;              /* identity domain: pages taken in the refcount table */
};

struct dma_rec {
	struct dma_rec *next;
	enum dma_rec_kind kind;
	enum dma_dir dir;
	const void *key;            /* SG: the caller's dma_sg array */
	const char *file;           /* where it was mapped (NULL: ra is known instead) */
	int line;
	void *ra;
	size_t bytes, pages;        /* ledger contribution */
	int npieces;
	struct dma_piece piece[];
};

struct dma_idpage {                 /* identity domain: one page mapped 1:1 */
	uint64_t pfn;
	uint32_t refs;
};

struct dma_dev {
	struct dma_dev *next;       /* all attached devices, for dma_dump */
	struct pci_dev *pci;
	struct dma_params p;
	enum dma_policy policy;
	const struct iommu_ops *ops;    /* non-NULL when dom is attached */
	struct iommu_domain *dom;
	bool identity;              /* dom maps pages 1:1 on demand (direct/bounce under VT-d) */
	bool have_iova;
	struct iova_space iova;
	struct dma_idpage *idp;
	size_t nidp, capidp;
	/* Ranges the IOMMU keeps mapped 1:1 for this device (VT-d RMRRs, from
	 * iommu_reserved_region): out of the IOVA window, never mapped by idmap. */
#define DMA_MAX_RESV 4
	uint64_t resv_base[DMA_MAX_RESV], resv_limit[DMA_MAX_RESV];
	unsigned nresv;
	struct dma_rec *live;
	struct dma_ledger led;
	/* dma.flush=lazy (docs/dma.md "Lazy unmapping"): IOVA ranges unmapped from the
	 * tables but still possibly cached in the IOTLB; freed only after one
	 * domain-wide flush, which happens when the queue is full, when the IOVA space
	 * runs out, and at release. */
	bool lazy;
#define DMA_FQ_LEN 64
	uint64_t fq_iova[DMA_FQ_LEN], fq_len[DMA_FQ_LEN];
	unsigned fq_n;
	struct spinlock lock;       /* taken before any IOMMU or pool lock */
};

/* The IOMMU domain of dd, NULL when none (tests translate through it). */
struct iommu_domain *dma_dev_domain(const struct dma_dev *dd, const struct iommu_ops **ops);
#endif
