/*
 * dma.h — the DMA API, the one header a driver includes for DMA: per-device
 * parameters declared at probe, coherent allocations, streaming mappings (single
 * and scatter-gather) with syncs, bounce buffers (SWIOTLB) where a device's mask
 * cannot reach a buffer or policy says so, and a ledger per device that reports
 * leaks at release. Policy per device: iommu | bounce | direct. docs/dma.md.
 */
#ifndef KERNEL_DMA_H
#define KERNEL_DMA_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <kernel/pci.h>

typedef uint64_t dma_addr_t;
#define DMA_MAPPING_ERROR (~(dma_addr_t)0)

enum dma_dir { DMA_TO_DEVICE = 1, DMA_FROM_DEVICE = 2, DMA_BIDIRECTIONAL = 3 };
enum dma_policy { DMA_POLICY_IOMMU, DMA_POLICY_BOUNCE, DMA_POLICY_DIRECT };

struct dma_params {
	uint64_t mask;              /* highest bus address the device can drive, e.g. 2^32-1 */
	uint32_t max_seg;           /* largest segment the device takes (bytes), 0 = no limit */
	uint32_t align;             /* required alignment of bus addresses (power of two), 0 = 1 */
};

struct dma_ledger {
	uint64_t live_maps;         /* streaming mappings + coherent allocations live now */
	uint64_t live_bytes, live_pages;
	uint64_t total_maps, bounce_bytes;  /* since attach: mappings made, bytes copied */
	uint64_t errors;            /* mappings refused */
	uint64_t lazy_flushes;      /* dma.flush=lazy: domain-wide IOTLB flushes made */
	uint32_t lazy_pending;      /* dma.flush=lazy: IOVA ranges waiting for the next flush */
	bool lazy;                  /* the device unmaps lazily */
};

struct dma_dev;

/* At probe: declare d's DMA parameters. The policy comes from the command line
 * (`dma.policy=iommu|bounce|direct` for all, `dma.policy.SSSS:BB:DD.F=...` for one
 * device), else iommu when an IOMMU covers d, else direct. An IOMMU domain is made
 * and attached for policy iommu. NULL (logged) on bad params or no memory. */
struct dma_dev *dma_dev_attach(struct pci_dev *d, const struct dma_params *p);
/* dma_dev_attach with the policy chosen by the caller (enum dma_policy; < 0 = the
 * normal choice above): tests and benchmarks run one device under each policy.
 * Policy iommu without an IOMMU translating for d falls back to direct (logged). */
struct dma_dev *dma_dev_attach_policy(struct pci_dev *d, const struct dma_params *p, int policy);
/* At release: detach, free the domain; every mapping still live is logged as a leak
 * (device, bus address, length, where it was mapped) and counted. Returns the number
 * of leaks (0 = clean). */
int dma_dev_release(struct dma_dev *dd);
enum dma_policy dma_dev_policy(const struct dma_dev *dd);
/* Unmap lazily (true) or strictly (false) from now on — tests and benchmarks; the
 * normal choice is `dma.flush=` at attach (docs/dma.md "Lazy unmapping"). Going
 * strict flushes what is pending. 0, or -EOPNOTSUPP when dd has no IOVA space or
 * its IOMMU cannot defer invalidation. */
int dma_dev_set_flush(struct dma_dev *dd, bool lazy);
const char *dma_policy_name(enum dma_policy p);
void dma_ledger_get(const struct dma_dev *dd, struct dma_ledger *out);

/* Coherent memory: zeroed, page-granular, reachable by the device at *bus. NULL on
 * failure (*bus = DMA_MAPPING_ERROR). */
void *dma_alloc_coherent(struct dma_dev *dd, size_t len, dma_addr_t *bus);
void dma_free_coherent(struct dma_dev *dd, size_t len, void *va, dma_addr_t bus);

/* Streaming: the buffer belongs to the device between map and unmap (or a
 * sync_for_cpu). Bounced data is copied in at map (TO_DEVICE, BIDIRECTIONAL) and
 * out at unmap/sync_for_cpu (FROM_DEVICE, BIDIRECTIONAL). */
dma_addr_t dma_map_single(struct dma_dev *dd, void *va, size_t len, enum dma_dir dir);
void dma_unmap_single(struct dma_dev *dd, dma_addr_t bus, size_t len, enum dma_dir dir);

struct dma_sg {
	void *va;
	size_t len;
	dma_addr_t bus;             /* filled by dma_map_sg */
	uint32_t bus_len;
};
/* Map nents entries; returns the number of bus segments (>= 1), or 0 with nothing
 * left mapped on failure. */
int dma_map_sg(struct dma_dev *dd, struct dma_sg *sg, int nents, enum dma_dir dir);
void dma_unmap_sg(struct dma_dev *dd, struct dma_sg *sg, int nents, enum dma_dir dir);

void dma_sync_for_cpu(struct dma_dev *dd, dma_addr_t bus, size_t len, enum dma_dir dir);
void dma_sync_for_device(struct dma_dev *dd, dma_addr_t bus, size_t len, enum dma_dir dir);
bool dma_mapping_error(const struct dma_dev *dd, dma_addr_t bus);

/* For tests: is [base, limit] kept out of dd's IOVA allocator (no free range
 * touches it, freeing a page of it is refused)? true when dd has no IOVA space. */
bool dma_dev_iova_excluded(struct dma_dev *dd, uint64_t base, uint64_t limit);

/* Diagnostics: every attached device with policy, mask, domain and ledger. */
void dma_dump(void);

/* The ledger remembers where each live mapping was made: the calls above are
 * macros over these _at twins, which take the call site (docs/dma.md "Ledger").
 * The plain functions still exist (callable as (dma_map_single)(...), or through
 * a pointer) and record their caller's return address instead. */
void *dma_alloc_coherent_at(struct dma_dev *dd, size_t len, dma_addr_t *bus, const char *file, int line);
dma_addr_t dma_map_single_at(struct dma_dev *dd, void *va, size_t len, enum dma_dir dir,
			     const char *file, int line);
int dma_map_sg_at(struct dma_dev *dd, struct dma_sg *sg, int nents, enum dma_dir dir,
		  const char *file, int line);
#define dma_alloc_coherent(dd, len, bus) dma_alloc_coherent_at(dd, len, bus, __FILE__, __LINE__)
#define dma_map_single(dd, va, len, dir) dma_map_single_at(dd, va, len, dir, __FILE__, __LINE__)
#define dma_map_sg(dd, sg, nents, dir) dma_map_sg_at(dd, sg, nents, dir, __FILE__, __LINE__)
#endif
