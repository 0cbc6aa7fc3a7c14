/*
 * vtd_pt.h — VT-d second-level page tables (spec rev 4.1 §3.7, §9.8) and the
 * root/context entry encodings (§9.1, §9.3; layouts in hw/iommu/vtd.h). Pure: memory comes from the caller's
 * page allocator and is reached through hal_phys_to_virt, so the unit tests run it
 * against the fake HAL. 4 KiB leaves only (superpages, SLLPS, are not used).
 */
#ifndef KERNEL_IOMMU_VTD_PT_H
#define KERNEL_IOMMU_VTD_PT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <hw/iommu/vtd.h>

struct vtd_pt {
	uint64_t root;              /* physical address of the top-level table */
	unsigned levels;            /* 3 (39-bit) or 4 (48-bit) */
	uint64_t (*alloc_page)(void *ctx);          /* a zeroed 4 KiB page, 0 on failure */
	void (*free_page)(void *ctx, uint64_t pa);
	void *ctx;
	unsigned tables;            /* table pages held, root included */
};

/* 0, -EINVAL (levels not 3 or 4), -ENOMEM. */
int vtd_pt_init(struct vtd_pt *pt, unsigned levels, uint64_t (*alloc_page)(void *),
		void (*free_page)(void *, uint64_t), void *ctx);
/* Free every table. The caller has made sure no hardware walks it any more. */
void vtd_pt_destroy(struct vtd_pt *pt);
static inline unsigned vtd_pt_bits(const struct vtd_pt *pt) { return 12 + 9 * pt->levels; }
/* Map [iova, iova+len) -> [pa, pa+len), 4 KiB aligned, prot IOMMU_READ|IOMMU_WRITE
 * (1|2, at least one). -EINVAL for bad arguments, -EEXIST when a page is already
 * mapped, -ENOMEM: nothing is left mapped on failure. Intermediate tables stay
 * (freed at destroy) so an unmap never frees a table the hardware may still cache. */
int vtd_pt_map(struct vtd_pt *pt, uint64_t iova, uint64_t pa, size_t len, unsigned prot);
/* Clear the leaves of [iova, iova+len): -EINVAL bad arguments, -ENOENT when a page
 * in the range is not mapped (nothing changed then). */
int vtd_pt_unmap(struct vtd_pt *pt, uint64_t iova, size_t len);
/* 0 with *pa (of iova's byte) and *prot, -ENOENT when not mapped, -EINVAL beyond width. */
int vtd_pt_translate(const struct vtd_pt *pt, uint64_t iova, uint64_t *pa, unsigned *prot);

/* Entry encodings; the present bit is written last by vtd_entry_publish. */
void vtd_root_encode(struct vtd_root_entry *e, uint64_t context_table_pa);
/* Context entry for a second-level translation of `levels` (AW = levels - 2),
 * translation type 00 (untranslated requests only), fault processing enabled. */
int vtd_context_encode(struct vtd_context_entry *e, uint64_t slpt_pa, unsigned levels, unsigned did);
/* Store a 128-bit entry: high half first, then the low half with the present bit,
 * so the hardware never sees a present entry with a stale high half. */
void vtd_entry_publish(volatile uint64_t *slot, uint64_t lo, uint64_t hi);
/* Clear a 128-bit entry's present bit first, then the rest. */
void vtd_entry_clear(volatile uint64_t *slot);
#endif
