/*
 * vtd_inv.h — private to the VT-d driver (vtd.c, vtd_inv.c): the per-unit state,
 * register access and bounded command waits, and the invalidation entry points —
 * context cache and IOTLB, register-based (§11.4.6, §11.4.8) or through the
 * invalidation queue (§6.5.2). Intel VT-d spec rev 4.1.
 */
#ifndef KERNEL_IOMMU_VTD_INV_H
#define KERNEL_IOMMU_VTD_INV_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <hal/hal.h>
#include <hw/iommu/vtd.h>
#include "vtd_pt.h"

#define VTD_WAIT_NS 1000000000ull   /* any unit command: 1 s at most */
#define IQ_ENTRIES 256              /* one 4 KiB page of 128-bit descriptors (IQA.QS = 0) */

struct vtd_unit {
	unsigned idx;
	uint64_t base;
	uint16_t seg;
	uint8_t flags;              /* DRHD flags */
	uint16_t first_scope, nscopes;
	volatile uint8_t *regs;
	size_t regs_len;
	uint32_t ver;
	uint64_t cap, ecap;
	unsigned levels, mgaw, iotlb_off;
	bool qi, broken;
	uint64_t root_pa;
	volatile struct vtd_root_entry *root;
	uint64_t ctx_pa[256];       /* context table per bus, 0 = none yet */
	uint64_t iq_pa;             /* invalidation queue page */
	volatile struct vtd_inv_desc *iq;
	unsigned iq_tail;
	uint64_t status_pa;         /* invalidation-wait status word */
	uint32_t *status;           /* written by the unit: atomic loads only */
	uint32_t status_seq;
};

static inline uint32_t rd32(struct vtd_unit *u, unsigned off) { return hal_mmio_read32(u->regs + off); }
static inline uint64_t rd64(struct vtd_unit *u, unsigned off) { return hal_mmio_read64(u->regs + off); }
static inline void wr32(struct vtd_unit *u, unsigned off, uint32_t v) { hal_mmio_write32(u->regs + off, v); }
static inline void wr64(struct vtd_unit *u, unsigned off, uint64_t v) { hal_mmio_write64(u->regs + off, v); }

/* ---- register commands (vtd.c) ---------------------------------------------------------- */

/* Spin until (32-bit reg & mask) == want, or until a 64-bit register's bit clears;
 * bounded by VTD_WAIT_NS: 0 or -ETIMEDOUT. */
int vtd_wait32(struct vtd_unit *u, unsigned off, uint32_t mask, uint32_t want);
int vtd_wait64_clear(struct vtd_unit *u, unsigned off, uint64_t bit);
/* Log that what did not complete, mark the unit broken, return rc. */
int vtd_unit_fail(struct vtd_unit *u, const char *what, int rc);
/* Set or clear one GCMD bit, written as GSTS (one-shot bits dropped) with that bit
 * changed (§11.4.4.1), then poll GSTS. 0 or -ETIMEDOUT (unit marked broken). */
int vtd_gcmd(struct vtd_unit *u, uint32_t bit, bool on, const char *what);
/* Write-buffer flush when CAP.RWBF asks for it (§6.8). */
void vtd_flush_write_buffer(struct vtd_unit *u);

/* ---- invalidation (vtd_inv.c) -------------------------------------------------------------- */

/* Context cache: gran 1 global, 2 domain did, 3 device sid in domain did (§11.4.6
 * CIRG, §6.5.2.1). 0, -EIO (unit broken), -ETIMEDOUT. */
int vtd_inv_context(struct vtd_unit *u, unsigned gran, unsigned did, uint16_t sid);
/* IOTLB: gran 1 global, 2 domain, 3 page-selective over 2^am pages at addr
 * (§11.4.8.1, §6.5.2.3). */
int vtd_inv_iotlb(struct vtd_unit *u, unsigned gran, unsigned did, uint64_t addr, unsigned am);
/* [iova, iova+len) of domain did: page-selective over the smallest aligned
 * power-of-two block covering it when CAP.PSI and MAMV allow, else domain-wide. */
int vtd_inv_range(struct vtd_unit *u, unsigned did, uint64_t iova, uint64_t len);
/* The page-selective block for [iova, iova+len), len > 0: the smallest naturally
 * aligned block of 2^AM pages holding every page the range touches (ADDR aligned
 * to 2^AM pages, §6.5.2.3, §10.4.8.1). Returns AM; *addr gets the block's first
 * byte. Pure: vtd_inv_range's arithmetic, tested alone. */
static inline unsigned vtd_psi_block(uint64_t iova, uint64_t len, uint64_t *addr)
{
	uint64_t first = iova >> 12, last = (iova + len - 1) >> 12;
	unsigned am = 0;
	while ((first >> am) != (last >> am))
		am++;
	*addr = am >= 52 ? 0 : (first >> am) << (12 + am);
	return am;
}
/* Queued invalidation on (queue page and status word made on first use, IQA,
 * GCMD.QIE) or off; u->qi follows. 0, -ENOMEM, -ETIMEDOUT. */
int vtd_qi_enable(struct vtd_unit *u);
int vtd_qi_disable(struct vtd_unit *u);
#endif
