/*
 * vtd_inv.c — VT-d context-cache and IOTLB invalidation: register-based through
 * CCMD and the IOTLB registers at ECAP.IRO (§11.4.6, §11.4.8), or queued through
 * the invalidation queue, each batch closed by an invalidation wait descriptor
 * with a status write that is polled (§6.5.2). Intel VT-d spec rev 4.1.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/errno.h>
#include <kernel/log.h>
#include <kernel/pmm.h>
#include <kernel/string.h>
#include <kernel/time.h>
#include "vtd_inv.h"

/* ---- invalidation ----------------------------------------------------------------- */

/* Queue descriptors plus an invalidation wait with status write, move the tail,
 * wait for the status word (§6.5.2.8). The queue is empty on entry: every
 * submission waits for its own completion, so three slots always fit. */
static int qi_submit(struct vtd_unit *u, const struct vtd_inv_desc *d, unsigned n)
{
	uint32_t seq = ++u->status_seq;
	atomic_store32(u->status, 0, MO_RELAXED);
	for (unsigned i = 0; i <= n; i++) {
		struct vtd_inv_desc w = {
			VTD_INV_WAIT | VTD_INV_WAIT_SW | VTD_INV_WAIT_FN | VTD_INV_WAIT_DATA(seq),
			u->status_pa };
		const struct vtd_inv_desc *src = i < n ? &d[i] : &w;
		u->iq[u->iq_tail].hi = src->hi;
		u->iq[u->iq_tail].lo = src->lo;
		u->iq_tail = (u->iq_tail + 1) % IQ_ENTRIES;
	}
	/* Descriptors (and the cleared status word) in memory before the tail
	 * register tells the unit: the MMIO write is ordered after the stores
	 * before it (on the image a memory clobber, and x86 does not reorder
	 * stores with stores, uncached ones included; in the sim a synchronous
	 * call into the model, which takes its lock). */
	wr64(u, VTD_REG_IQT, (uint64_t)u->iq_tail << VTD_IQ_QPTR_SHIFT);
	uint64_t t0 = time_now_ns();
	while (atomic_load32(u->status, MO_ACQUIRE) != seq) {
		uint32_t fsts = rd32(u, VTD_REG_FSTS);
		if (fsts & VTD_FSTS_IQE) {
			klog("iommu", "unit %u: invalidation queue error (FSTS 0x%x, IQH 0x%llx)", u->idx, fsts,
			     (unsigned long long)rd64(u, VTD_REG_IQH));
			wr32(u, VTD_REG_FSTS, VTD_FSTS_IQE);
			return vtd_unit_fail(u, "queued invalidation", -EIO);
		}
		if (time_now_ns() - t0 > VTD_WAIT_NS)
			return vtd_unit_fail(u, "queued invalidation", -ETIMEDOUT);
		hal_cpu_relax();
	}
	return 0;
}

/* gran: VTD_GRAN_* (§11.4.6 CIRG / §6.5.2.1 G). */
int vtd_inv_context(struct vtd_unit *u, unsigned gran, unsigned did, uint16_t sid)
{
	if (u->broken)
		return -EIO;
	if (u->qi) {
		struct vtd_inv_desc d = { VTD_INV_CC | VTD_INV_G(gran) | VTD_INV_DID(did) | VTD_INV_CC_SID(sid), 0 };
		return qi_submit(u, &d, 1);
	}
	int rc = vtd_wait64_clear(u, VTD_REG_CCMD, VTD_CCMD_ICC);
	if (rc)
		return vtd_unit_fail(u, "context-cache invalidation", rc);
	wr64(u, VTD_REG_CCMD, VTD_CCMD_ICC | VTD_CCMD_CIRG(gran) | VTD_CCMD_SID(sid) | VTD_CCMD_DID(did));
	rc = vtd_wait64_clear(u, VTD_REG_CCMD, VTD_CCMD_ICC);
	return rc ? vtd_unit_fail(u, "context-cache invalidation", rc) : 0;
}

/* gran: VTD_GRAN_*, VTD_GRAN_DEVICE = page-selective over 2^am pages at addr. */
int vtd_inv_iotlb(struct vtd_unit *u, unsigned gran, unsigned did, uint64_t addr, unsigned am)
{
	if (u->broken)
		return -EIO;
	bool dr = u->cap & VTD_CAP_DRD, dw = u->cap & VTD_CAP_DWD;
	if (u->qi) {
		struct vtd_inv_desc d = {
			VTD_INV_IOTLB | VTD_INV_G(gran) | VTD_INV_DID(did) | (dr ? VTD_INV_IOTLB_DR : 0) |
				(dw ? VTD_INV_IOTLB_DW : 0),
			gran == VTD_GRAN_DEVICE ? (addr | am) : 0 };
		return qi_submit(u, &d, 1);
	}
	unsigned off = u->iotlb_off;
	int rc = vtd_wait64_clear(u, off + VTD_IOTLB_CMD, VTD_IOTLB_IVT);
	if (rc)
		return vtd_unit_fail(u, "IOTLB invalidation", rc);
	if (gran == VTD_GRAN_DEVICE)
		wr64(u, off + VTD_IOTLB_IVA, addr | am);
	wr64(u, off + VTD_IOTLB_CMD, VTD_IOTLB_IVT | VTD_IOTLB_IIRG(gran) | VTD_IOTLB_DID(did) |
					     (dr ? VTD_IOTLB_DR : 0) | (dw ? VTD_IOTLB_DW : 0));
	rc = vtd_wait64_clear(u, off + VTD_IOTLB_CMD, VTD_IOTLB_IVT);
	return rc ? vtd_unit_fail(u, "IOTLB invalidation", rc) : 0;
}

/* Invalidate [iova, iova+len) of domain did: page-selective with the smallest
 * naturally aligned power-of-two block covering it when CAP.PSI and MAMV allow,
 * else domain-selective. */
int vtd_inv_range(struct vtd_unit *u, unsigned did, uint64_t iova, uint64_t len)
{
	uint64_t addr;
	unsigned am = vtd_psi_block(iova, len, &addr);
	if ((u->cap & VTD_CAP_PSI) && am <= VTD_CAP_MAMV(u->cap))
		return vtd_inv_iotlb(u, VTD_GRAN_DEVICE, did, addr, am);
	return vtd_inv_iotlb(u, VTD_GRAN_DOMAIN, did, 0, 0);
}

int vtd_qi_enable(struct vtd_unit *u)
{
	if (!u->iq_pa) {
		u->iq_pa = pmm_alloc_page();
		u->status_pa = pmm_alloc_page();
		if (!u->iq_pa || !u->status_pa)
			return -ENOMEM;
		u->iq = hal_phys_to_virt(u->iq_pa);
		u->status = hal_phys_to_virt(u->status_pa);
		memset((void *)u->iq, 0, PAGE_SIZE);
	}
	u->iq_tail = 0;
	wr64(u, VTD_REG_IQT, 0);
	wr64(u, VTD_REG_IQA, u->iq_pa);     /* DW = 0 (128-bit), QS = 0: 256 entries */
	int rc = vtd_gcmd(u, VTD_GCMD_QIE, true, "queued invalidation enable");
	if (rc == 0)
		u->qi = true;
	return rc;
}

int vtd_qi_disable(struct vtd_unit *u)
{
	/* The queue is drained: every submission waited for its completion. */
	int rc = vtd_gcmd(u, VTD_GCMD_QIE, false, "queued invalidation disable");
	if (rc == 0)
		u->qi = false;
	return rc;
}
