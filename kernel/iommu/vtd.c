/*
 * vtd.c — Intel VT-d remapping units: bring-up (VER/CAP/ECAP, levels from SAGAW,
 * root table through RTADDR + GCMD.SRTP, translation enable), context entries for
 * attach/detach with the RMRR identity mappings of the device (§8.4), and the
 * iommu_ops over second-level tables (vtd_pt.c); invalidation is in vtd_inv.c.
 * GCMD is always written as GSTS|bit (§10.4.4). Spec rev 3.x §6, §8.4, §9, §10.
 */
#include <hal/hal.h>
#include <kernel/errno.h>
#include <kernel/fault.h>
#include <kernel/heap.h>
#include <kernel/log.h>
#include <kernel/pmm.h>
#include <kernel/printf.h>
#include <kernel/string.h>
#include <kernel/time.h>
#include "iommu_priv.h"
#include "vtd_inv.h"

#define VTD_MAX_DIDS 1024           /* domain ids handed out (also bounded by CAP.ND) */

static struct dmar_info dmar;
static struct vtd_unit units[DMAR_MAX_UNITS];
static unsigned nunits;
static bool vtd_on;
static unsigned dom_levels;         /* every domain's depth: the deepest all units take */
static unsigned max_did;            /* highest usable domain id */
static uint64_t did_map[VTD_MAX_DIDS / 64];
/* Protects units' tables and invalidation, domains' page tables and mapping
 * tables, the domain-id bitmap. Outermost; only the attachment table's lock and
 * the page allocator are taken inside it. */
static struct spinlock vtd_lock = SPINLOCK_INIT("iommu.vtd");

/* ---- registers ----------------------------------------------------------------------- */

/* Spin until (reg & mask) == want, bounded. */
int vtd_wait32(struct vtd_unit *u, unsigned off, uint32_t mask, uint32_t want)
{
	uint64_t t0 = time_now_ns();
	while ((rd32(u, off) & mask) != want) {
		if (time_now_ns() - t0 > VTD_WAIT_NS)
			return -ETIMEDOUT;
		hal_cpu_relax();
	}
	return 0;
}

int vtd_wait64_clear(struct vtd_unit *u, unsigned off, uint64_t bit)
{
	uint64_t t0 = time_now_ns();
	while (rd64(u, off) & bit) {
		if (time_now_ns() - t0 > VTD_WAIT_NS)
			return -ETIMEDOUT;
		hal_cpu_relax();
	}
	return 0;
}

int vtd_unit_fail(struct vtd_unit *u, const char *what, int rc)
{
	klog("iommu", "unit %u (0x%llx): %s did not complete (%d): unit marked broken", u->idx,
	     (unsigned long long)u->base, what, rc);
	u->broken = true;
	return rc;
}

/* Set or clear one GCMD bit: GCMD is written as the current state (GSTS without
 * its one-shot bits) with that bit changed (§10.4.4), then GSTS is polled for the
 * matching status. */
int vtd_gcmd(struct vtd_unit *u, uint32_t bit, bool on, const char *what)
{
	uint32_t sts = rd32(u, VTD_REG_GSTS) & ~VTD_GSTS_ONESHOT;
	wr32(u, VTD_REG_GCMD, on ? sts | bit : sts & ~bit);
	int rc;
	if (bit == VTD_GCMD_WBF)
		rc = vtd_wait32(u, VTD_REG_GSTS, VTD_GCMD_WBF, 0);   /* WBFS clears when done */
	else
		rc = vtd_wait32(u, VTD_REG_GSTS, bit, on ? bit : 0);
	return rc ? vtd_unit_fail(u, what, rc) : 0;
}

void vtd_flush_write_buffer(struct vtd_unit *u)
{
	if (u->cap & VTD_CAP_RWBF)
		vtd_gcmd(u, VTD_GCMD_WBF, true, "write-buffer flush");
}

/* ---- unit bring-up --------------------------------------------------------------- */

static unsigned pick_levels(uint64_t cap)
{
	unsigned sagaw = VTD_CAP_SAGAW(cap), mgaw = VTD_CAP_MGAW(cap);
	if ((sagaw & 4) && mgaw >= 48)
		return 4;
	if ((sagaw & 2) && mgaw >= 39)
		return 3;
	return 0;
}

static bool covers_offset(const struct vtd_unit *u, size_t off, size_t len)
{
	return off + len <= u->regs_len;
}

/* Map the registers and read what the unit offers. */
static int unit_open(struct vtd_unit *u, unsigned size_log2)
{
	u->regs_len = (size_t)PAGE_SIZE << (size_log2 > 4 ? 4 : size_log2);
	u->regs = hal_mmio_map(u->base, u->regs_len);
	if (!u->regs) {
		klog("iommu", "unit %u: cannot map registers at 0x%llx", u->idx, (unsigned long long)u->base);
		return -ENOMEM;
	}
	u->ver = rd32(u, VTD_REG_VER);
	u->cap = rd64(u, VTD_REG_CAP);
	u->ecap = rd64(u, VTD_REG_ECAP);
	if (u->cap == 0 || u->cap == ~0ull || u->ver == ~0u) {
		klog("iommu", "unit %u at 0x%llx does not answer (VER 0x%x CAP 0x%llx)", u->idx,
		     (unsigned long long)u->base, u->ver, (unsigned long long)u->cap);
		return -ENODEV;
	}
	u->mgaw = VTD_CAP_MGAW(u->cap);
	u->levels = pick_levels(u->cap);
	u->iotlb_off = VTD_IOTLB_REGS(u->ecap);
	size_t fro = (size_t)VTD_CAP_FRO(u->cap) * 16, nfr = VTD_CAP_NFR(u->cap);
	if (!u->levels) {
		klog("iommu", "unit %u: SAGAW 0x%x / MGAW %u offers neither 3- nor 4-level tables", u->idx,
		     VTD_CAP_SAGAW(u->cap), u->mgaw);
		return -ENODEV;
	}
	if (!covers_offset(u, u->iotlb_off, 16) || !covers_offset(u, fro, nfr * 16)) {
		klog("iommu", "unit %u: IOTLB (0x%x) or fault registers (0x%zx, %zu) outside the %zu-byte register set",
		     u->idx, u->iotlb_off, fro, nfr, u->regs_len);
		return -ENODEV;
	}
	return 0;
}

static int unit_start(struct vtd_unit *u, bool allow_qi)
{
	uint32_t sts = rd32(u, VTD_REG_GSTS);
	if (sts & VTD_GCMD_TE) {
		klog("iommu", "unit %u: firmware left translation on: turning it off first", u->idx);
		if (vtd_gcmd(u, VTD_GCMD_TE, false, "translation disable"))
			return -ETIMEDOUT;
	}
	if (sts & VTD_GCMD_QIE) {
		if (vtd_gcmd(u, VTD_GCMD_QIE, false, "queued invalidation disable"))
			return -ETIMEDOUT;
	}
	u->root_pa = pmm_alloc_page();
	if (!u->root_pa)
		return -ENOMEM;
	u->root = hal_phys_to_virt(u->root_pa);
	memset((void *)u->root, 0, PAGE_SIZE);
	vtd_flush_write_buffer(u);
	wr64(u, VTD_REG_RTADDR, u->root_pa);    /* TTM = 00: legacy root/context entries */
	if (vtd_gcmd(u, VTD_GCMD_SRTP, true, "set root table pointer"))
		return -ETIMEDOUT;
	if (allow_qi && (u->ecap & VTD_ECAP_QI)) {
		int rc = vtd_qi_enable(u);
		if (rc)
			return rc;
	}
	/* After SRTP nothing cached may survive: global context, then global IOTLB (§6.5). */
	if (vtd_inv_context(u, 1, 0, 0) || vtd_inv_iotlb(u, 1, 0, 0, 0))
		return -ETIMEDOUT;
	int rc = vtd_fault_setup(u->idx, u->regs, u->cap, u->seg);
	if (rc)
		klog("iommu", "unit %u: no fault interrupt (%d): faults are read by polling", u->idx, rc);
	if (vtd_gcmd(u, VTD_GCMD_TE, true, "translation enable"))
		return -ETIMEDOUT;
	return 0;
}

/* Undo as much as possible after a failed start: translation and QI off. */
static void unit_stop(struct vtd_unit *u)
{
	if (!u->regs)
		return;
	bool was = u->broken;
	u->broken = false;
	uint32_t sts = rd32(u, VTD_REG_GSTS);
	if (sts & VTD_GCMD_TE)
		vtd_gcmd(u, VTD_GCMD_TE, false, "translation disable");
	if (sts & VTD_GCMD_QIE)
		vtd_gcmd(u, VTD_GCMD_QIE, false, "queued invalidation disable");
	u->qi = false;
	u->broken = was;
}

static unsigned did_limit(uint64_t cap)
{
	unsigned nd = VTD_CAP_ND(cap);
	uint64_t n = 1ull << (4 + 2 * nd);
	return n > VTD_MAX_DIDS ? VTD_MAX_DIDS - 1 : (unsigned)n - 1;
}

int vtd_init(const struct dmar_info *d, bool allow_qi)
{
	dmar = *d;
	nunits = 0;
	dom_levels = 4;
	max_did = VTD_MAX_DIDS - 1;
	int rc = 0;
	for (unsigned i = 0; i < d->nunits; i++) {
		struct vtd_unit *u = &units[i];
		memset(u, 0, sizeof *u);
		u->idx = i;
		u->base = d->units[i].reg_base;
		u->seg = d->units[i].segment;
		u->flags = d->units[i].flags;
		u->first_scope = d->units[i].first_scope;
		u->nscopes = d->units[i].nscopes;
		nunits = i + 1;
		rc = unit_open(u, d->units[i].size_log2);
		if (rc)
			goto out_stop;
		if (u->levels < dom_levels)
			dom_levels = u->levels;
		if (did_limit(u->cap) < max_did)
			max_did = did_limit(u->cap);
	}
	/* Domains are shared across units: every unit must walk the same depth. */
	for (unsigned i = 0; i < nunits; i++) {
		unsigned sagaw = VTD_CAP_SAGAW(units[i].cap);
		if (!(sagaw & (1u << (dom_levels - 2)))) {
			klog("iommu", "units disagree on table depth (unit %u lacks %u levels)", i, dom_levels);
			rc = -ENODEV;
			goto out_stop;
		}
		units[i].levels = dom_levels;
	}
	for (unsigned i = 0; i < nunits; i++) {
		rc = unit_start(&units[i], allow_qi);
		if (rc)
			goto out_stop;
	}
	memset(did_map, 0, sizeof did_map);
	did_map[0] = 1;                         /* id 0: reserved under caching mode */
	vtd_on = nunits > 0;
	return vtd_on ? 0 : -ENODEV;

out_stop:
	for (unsigned i = 0; i < nunits; i++)
		unit_stop(&units[i]);
	nunits = 0;
	vtd_on = false;
	return rc;
}

unsigned vtd_unit_count(void) { return vtd_on ? nunits : 0; }

bool vtd_qi_enabled(void)
{
	for (unsigned i = 0; i < nunits; i++)
		if (!units[i].qi)
			return false;
	return vtd_on;
}

bool vtd_caching_mode(void)
{
	for (unsigned i = 0; vtd_on && i < nunits; i++)
		if (units[i].cap & VTD_CAP_CM)
			return true;
	return false;
}

int vtd_set_qi(bool on)
{
	int rc = 0;
	spin_lock(&vtd_lock);
	for (unsigned i = 0; vtd_on && i < nunits && !rc; i++) {
		struct vtd_unit *u = &units[i];
		if (!(u->ecap & VTD_ECAP_QI)) {
			rc = on ? -EOPNOTSUPP : 0;
			continue;
		}
		if (u->qi != on)
			rc = on ? vtd_qi_enable(u) : vtd_qi_disable(u);
		if (!rc)
			rc = vtd_inv_context(u, 1, 0, 0);
		if (!rc)
			rc = vtd_inv_iotlb(u, 1, 0, 0, 0);
	}
	spin_unlock(&vtd_lock);
	return rc;
}

/* ---- which unit covers a device (§8.3.1, INCLUDE_PCI_ALL) ------------------------------ */

static int bridge_lookup(void *ctx, uint16_t seg, uint8_t bus, uint8_t dev, uint8_t fn)
{
	(void)ctx;
	for (unsigned i = 0; i < pci_count(); i++) {
		struct pci_dev *p = pci_get(i);
		if (p->addr.seg == seg && p->addr.bus == bus && p->addr.dev == dev && p->addr.fn == fn)
			return p->header_type == 1 ? p->sec_bus : -ENODEV;
	}
	return -ENOENT;
}

static bool scope_matches(const struct dmar_scope_info *s, uint16_t seg, const struct pci_dev *d)
{
	uint8_t bus, dev, fn;
	if (s->type != DMAR_SCOPE_ENDPOINT && s->type != DMAR_SCOPE_BRIDGE)
		return false;
	if (dmar_scope_resolve(s, seg, bridge_lookup, 0, &bus, &dev, &fn))
		return false;
	if (d->addr.bus == bus && d->addr.dev == dev && d->addr.fn == fn)
		return true;
	if (s->type == DMAR_SCOPE_BRIDGE) {
		int sec = bridge_lookup(0, seg, bus, dev, fn);
		for (unsigned i = 0; sec >= 0 && i < pci_count(); i++) {
			struct pci_dev *b = pci_get(i);
			if (b->addr.seg == seg && b->addr.bus == bus && b->addr.dev == dev && b->addr.fn == fn)
				return d->addr.bus >= b->sec_bus && d->addr.bus <= b->sub_bus;
		}
	}
	return false;
}

static struct vtd_unit *unit_of(const struct pci_dev *d)
{
	if (!vtd_on || !d)
		return 0;
	for (unsigned i = 0; i < nunits; i++) {
		struct vtd_unit *u = &units[i];
		if (u->seg != d->addr.seg || (u->flags & DMAR_DRHD_INCLUDE_PCI_ALL))
			continue;
		for (unsigned s = 0; s < u->nscopes; s++)
			if (scope_matches(&dmar.scopes[u->first_scope + s], u->seg, d))
				return u;
	}
	for (unsigned i = 0; i < nunits; i++)
		if (units[i].seg == d->addr.seg && (units[i].flags & DMAR_DRHD_INCLUDE_PCI_ALL))
			return &units[i];
	return 0;
}

bool vtd_covers(const struct pci_dev *d)
{
	return unit_of(d) != 0;
}

/* ---- reserved memory regions (§8.4) ------------------------------------------------------ */

/* Index into dmar.rmrr of the n-th RMRR whose scope names d, or -ENOENT. */
static int rmrr_nth(const struct pci_dev *d, unsigned n)
{
	if (!unit_of(d))
		return -ENOENT;
	for (unsigned i = 0; i < dmar.nrmrr; i++) {
		const struct dmar_rmrr_info *r = &dmar.rmrr[i];
		if (r->segment != d->addr.seg)
			continue;
		for (unsigned s = 0; s < r->nscopes; s++)
			if (scope_matches(&dmar.scopes[r->first_scope + s], r->segment, d)) {
				if (n-- == 0)
					return (int)i;
				break;
			}
	}
	return -ENOENT;
}

int vtd_rmrr_region(const struct pci_dev *d, unsigned n, uint64_t *base, uint64_t *limit)
{
	int i = rmrr_nth(d, n);
	if (i < 0)
		return i;
	*base = dmar.rmrr[i].base;
	*limit = dmar.rmrr[i].limit;
	return 0;
}

/* ---- domains and the ops ------------------------------------------------------------- */

static uint64_t pt_alloc(void *ctx)
{
	(void)ctx;
	uint64_t pa = pmm_alloc_page();
	void *va = pa ? hal_phys_to_virt(pa) : 0;
	if (!va)
		return 0;
	memset(va, 0, PAGE_SIZE);
	return pa;
}

static void pt_free(void *ctx, uint64_t pa)
{
	(void)ctx;
	pmm_free_pages(pa, 1);
}

static struct iommu_domain *vtd_domain_alloc(void)
{
	if (!vtd_on)
		return 0;
	struct iommu_domain *dom = kzalloc(sizeof *dom);
	if (!dom)
		return 0;
	dom->ops = &iommu_vtd_ops;
	spin_lock(&vtd_lock);
	for (unsigned id = 1; id <= max_did && !dom->id; id++)
		if (!(did_map[id / 64] & (1ull << (id % 64)))) {
			did_map[id / 64] |= 1ull << (id % 64);
			dom->id = id;
		}
	spin_unlock(&vtd_lock);
	if (!dom->id) {
		klog("iommu", "no free VT-d domain id (limit %u from CAP.ND)", max_did);
		goto out_free;
	}
	if (vtd_pt_init(&dom->pt, dom_levels, pt_alloc, pt_free, 0))
		goto out_id;
	dom->addr_bits = vtd_pt_bits(&dom->pt);
	return dom;

out_id:
	spin_lock(&vtd_lock);
	did_map[dom->id / 64] &= ~(1ull << (dom->id % 64));
	spin_unlock(&vtd_lock);
out_free:
	kfree(dom);
	return 0;
}

static bool is_vtd(const struct iommu_domain *dom)
{
	return dom && dom->ops == &iommu_vtd_ops;
}

static int vtd_domain_free(struct iommu_domain *dom)
{
	if (!is_vtd(dom))
		return -EINVAL;
	spin_lock(&vtd_lock);
	if (dom->nattached || dom->maps.n) {
		spin_unlock(&vtd_lock);
		return -EBUSY;
	}
	did_map[dom->id / 64] &= ~(1ull << (dom->id % 64));
	spin_unlock(&vtd_lock);
	/* No device points at the tables any more and detach invalidated the IOTLB. */
	vtd_pt_destroy(&dom->pt);
	maptab_free(&dom->maps);
	kfree(dom);
	return 0;
}

static uint16_t sid_of(const struct pci_dev *d)
{
	return (uint16_t)(d->addr.bus << 8 | d->addr.dev << 3 | d->addr.fn);
}

static volatile uint64_t *context_slot(struct vtd_unit *u, uint8_t bus, uint8_t devfn, bool create)
{
	if (!u->ctx_pa[bus]) {
		if (!create)
			return 0;
		uint64_t pa = pt_alloc(0);
		if (!pa)
			return 0;
		u->ctx_pa[bus] = pa;
		struct vtd_root_entry re;
		vtd_root_encode(&re, pa);
		vtd_entry_publish((volatile uint64_t *)&u->root[bus], re.lo, re.hi);
	}
	volatile struct vtd_context_entry *ct = hal_phys_to_virt(u->ctx_pa[bus]);
	return (volatile uint64_t *)&ct[devfn];
}

static bool dom_caching_mode(const struct iommu_domain *dom)
{
	for (unsigned i = 0; i < nunits; i++)
		if ((dom->units_mask & (1ull << i)) && (units[i].cap & VTD_CAP_CM))
			return true;
	return false;
}

static int inv_domain_range(struct iommu_domain *dom, uint64_t iova, uint64_t len);

static void dev_name(const struct pci_dev *d, char *buf, size_t n)
{
	ksnprintf(buf, n, "%04x:%02x:%02x.%x", d->addr.seg, d->addr.bus, d->addr.dev, d->addr.fn);
}

/* Drop d's reference on its first count RMRRs; the last reference unmaps the
 * region and invalidates it on every unit of the domain. */
static void rmrr_put(struct iommu_domain *dom, const struct pci_dev *d, unsigned count)
{
	lock_assert_held(&vtd_lock);
	char name[16];
	dev_name(d, name, sizeof name);
	int i;
	for (unsigned n = 0; n < count && (i = rmrr_nth(d, n)) >= 0; n++) {
		if (!dom->rmrr_refs[i] || --dom->rmrr_refs[i])
			continue;
		const struct dmar_rmrr_info *r = &dmar.rmrr[i];
		uint64_t len = r->limit - r->base + 1;
		int idx = maptab_find_exact(&dom->maps, r->base, len);
		if (idx < 0 || !dom->maps.v[idx].reserved) {
			klog("iommu", "%s: RMRR %d of domain %u is not in its mapping table (%d)", name, i, dom->id, idx);
			continue;
		}
		vtd_pt_unmap(&dom->pt, r->base, len);
		maptab_remove(&dom->maps, (unsigned)idx);
		for (unsigned k = 0; k < nunits; k++)
			if (dom->units_mask & (1ull << k))
				vtd_flush_write_buffer(&units[k]);
		inv_domain_range(dom, r->base, len);
		klog("iommu", "%s: RMRR %d 0x%llx-0x%llx unmapped from domain %u", name, i,
		     (unsigned long long)r->base, (unsigned long long)r->limit, dom->id);
	}
}

/* Map every RMRR naming d 1:1 read+write in dom (a reference per attached device
 * that needs it), before d's context entry points at dom (§8.4).
 * 0, or the map's error with nothing left behind. */
static int rmrr_get(struct iommu_domain *dom, const struct pci_dev *d)
{
	lock_assert_held(&vtd_lock);
	char name[16];
	int i;
	dev_name(d, name, sizeof name);
	for (unsigned n = 0; (i = rmrr_nth(d, n)) >= 0; n++) {
		if (dom->rmrr_refs[i]++)
			continue;
		const struct dmar_rmrr_info *r = &dmar.rmrr[i];
		uint64_t len = r->limit - r->base + 1;
		unsigned prot = IOMMU_READ | IOMMU_WRITE;
		int rc = iommu_map_check(&dom->maps, dom->addr_bits, dmar.haw, r->base, r->base, len, prot);
		if (!rc)
			rc = maptab_insert(&dom->maps, r->base, len, r->base, prot);
		if (!rc) {
			int idx = maptab_find_exact(&dom->maps, r->base, len);
			dom->maps.v[idx].reserved = true;
			rc = vtd_pt_map(&dom->pt, r->base, r->base, len, prot);
			/* Caching mode: the unit may hold the not-present entries (§6.1). */
			if (!rc && dom_caching_mode(dom)) {
				rc = inv_domain_range(dom, r->base, len);
				if (rc)
					vtd_pt_unmap(&dom->pt, r->base, len);
			}
			if (rc)
				maptab_remove(&dom->maps, (unsigned)maptab_find_exact(&dom->maps, r->base, len));
		}
		if (rc) {
			dom->rmrr_refs[i]--;
			klog("iommu", "%s: RMRR %d 0x%llx-0x%llx cannot be mapped 1:1 in domain %u (%d): attach refused",
			     name, i, (unsigned long long)r->base, (unsigned long long)r->limit, dom->id, rc);
			rmrr_put(dom, d, n);
			return rc;
		}
		klog("iommu", "%s: RMRR %d 0x%llx-0x%llx mapped 1:1 read+write in domain %u", name, i,
		     (unsigned long long)r->base, (unsigned long long)r->limit, dom->id);
	}
	return 0;
}

static int vtd_attach(struct iommu_domain *dom, struct pci_dev *d)
{
	if (!is_vtd(dom) || !d)
		return -EINVAL;
	struct vtd_unit *u = unit_of(d);
	if (!u)
		return -ENODEV;
	spin_lock(&vtd_lock);
	int rc = iommu_attach_record(d, dom);
	if (rc)
		goto out_unlock;
	uint8_t devfn = (uint8_t)(d->addr.dev << 3 | d->addr.fn);
	volatile uint64_t *slot = context_slot(u, d->addr.bus, devfn, true);
	rc = !slot ? -ENOMEM : (slot[0] & VTD_CTX_P) ? -EBUSY : 0;
	if (rc)
		goto out_forget;
	struct vtd_context_entry ce;
	rc = vtd_context_encode(&ce, dom->pt.root, dom->pt.levels, dom->id);
	if (rc)
		goto out_forget;
	/* The device's reserved regions are reachable from its first DMA on. */
	rc = rmrr_get(dom, d);
	if (rc)
		goto out_forget;
	vtd_entry_publish(slot, ce.lo, ce.hi);
	vtd_flush_write_buffer(u);
	/* Not-present -> present: under caching mode the unit may have cached the
	 * not-present entry, tagged with domain id 0 (§6.1); invalidate that device's
	 * context entry, then the domain's IOTLB entries. */
	bool cm = u->cap & VTD_CAP_CM;
	rc = vtd_inv_context(u, 3, cm ? 0 : dom->id, sid_of(d));
	if (!rc)
		rc = vtd_inv_iotlb(u, 2, dom->id, 0, 0);
	if (rc) {
		vtd_entry_clear(slot);
		goto out_rmrr;
	}
	dom->nattached++;
	dom->units_mask |= 1ull << u->idx;
	spin_unlock(&vtd_lock);
	return 0;

out_rmrr:
	rmrr_put(dom, d, ~0u);
out_forget:
	iommu_attach_forget(d, dom);
out_unlock:
	spin_unlock(&vtd_lock);
	return rc;
}

static int vtd_detach(struct iommu_domain *dom, struct pci_dev *d)
{
	if (!is_vtd(dom) || !d)
		return -EINVAL;
	struct vtd_unit *u = unit_of(d);
	if (!u)
		return -ENODEV;
	spin_lock(&vtd_lock);
	int rc = iommu_attach_forget(d, dom);
	if (rc)
		goto out_unlock;
	uint8_t devfn = (uint8_t)(d->addr.dev << 3 | d->addr.fn);
	volatile uint64_t *slot = context_slot(u, d->addr.bus, devfn, false);
	if (slot)
		vtd_entry_clear(slot);
	vtd_flush_write_buffer(u);
	/* Present -> not-present: the device's cached context entry and every IOTLB
	 * entry of the domain go (§6.5.2.1, §6.5.2.3). Failures are logged by the
	 * unit; the device is detached either way. */
	vtd_inv_context(u, 3, dom->id, sid_of(d));
	vtd_inv_iotlb(u, 2, dom->id, 0, 0);
	/* Only now, with the device's translations gone, its reserved regions. */
	rmrr_put(dom, d, ~0u);
	dom->nattached--;
out_unlock:
	spin_unlock(&vtd_lock);
	return rc;
}

/* After a change to dom's tables: invalidate the range on every unit it is on. */
static int inv_domain_range(struct iommu_domain *dom, uint64_t iova, uint64_t len)
{
	int rc = 0;
	for (unsigned i = 0; i < nunits; i++)
		if (dom->units_mask & (1ull << i)) {
			int r = vtd_inv_range(&units[i], dom->id, iova, len);
			if (r && !rc)
				rc = r;
		}
	return rc;
}

static int vtd_map(struct iommu_domain *dom, uint64_t iova, uint64_t pa, size_t len, unsigned prot)
{
	if (!is_vtd(dom))
		return -EINVAL;
	spin_lock(&vtd_lock);
	int rc = iommu_map_check(&dom->maps, dom->addr_bits, dmar.haw, iova, pa, len, prot);
	if (rc)
		goto out_unlock;
	rc = maptab_insert(&dom->maps, iova, len, pa, prot);
	if (rc)
		goto out_unlock;
	rc = vtd_pt_map(&dom->pt, iova, pa, len, prot);
	if (rc)
		goto out_remove;
	if (dom_caching_mode(dom)) {
		/* Caching mode: not-present entries may be cached too (§6.1). */
		rc = inv_domain_range(dom, iova, len);
		if (rc) {
			vtd_pt_unmap(&dom->pt, iova, len);
			goto out_remove;
		}
	} else {
		for (unsigned i = 0; i < nunits; i++)
			if (dom->units_mask & (1ull << i))
				vtd_flush_write_buffer(&units[i]);
	}
	spin_unlock(&vtd_lock);
	return 0;

out_remove:
	maptab_remove(&dom->maps, (unsigned)maptab_find_exact(&dom->maps, iova, len));
out_unlock:
	spin_unlock(&vtd_lock);
	return rc;
}

static int vtd_unmap_inv(struct iommu_domain *dom, uint64_t iova, size_t len, bool inv)
{
	if (!is_vtd(dom))
		return -EINVAL;
	int idx = -1;
	spin_lock(&vtd_lock);
	int rc = iommu_unmap_check(&dom->maps, dom->addr_bits, iova, len, &idx);
	if (rc)
		goto out_unlock;
	if (dom->maps.v[idx].reserved) {
		klog("iommu", "domain %u: unmap of 0x%llx refused: an RMRR of an attached device", dom->id,
		     (unsigned long long)iova);
		rc = -EBUSY;
		goto out_unlock;
	}
	rc = vtd_pt_unmap(&dom->pt, iova, len);
	if (rc) {
		klog("iommu", "domain %u: tables disagree with the mapping table at 0x%llx (%d)", dom->id,
		     (unsigned long long)iova, rc);
		goto out_unlock;
	}
	maptab_remove(&dom->maps, (unsigned)idx);
	for (unsigned i = 0; i < nunits; i++)
		if (dom->units_mask & (1ull << i))
			vtd_flush_write_buffer(&units[i]);
	/* The pages go back to their owner once we return: no cached translation of
	 * them may survive. The fault site leaves this out on purpose (docs/iommu.md). */
	if (inv && !FAULT_SITE("iommu.skip_invalidate"))
		rc = inv_domain_range(dom, iova, len);
out_unlock:
	spin_unlock(&vtd_lock);
	return rc;
}

static int vtd_unmap(struct iommu_domain *dom, uint64_t iova, size_t len)
{
	return vtd_unmap_inv(dom, iova, len, true);
}

/* Lazy unmapping: the tables change now, the IOTLB at vtd_flush. */
static int vtd_unmap_noflush(struct iommu_domain *dom, uint64_t iova, size_t len)
{
	return vtd_unmap_inv(dom, iova, len, false);
}

/* One domain-selective IOTLB invalidation on every unit of the domain (VT-d 4.1
 * §6.5.2.3: granularity domain, so each unit drops every translation tagged with
 * the domain id). */
static int vtd_flush(struct iommu_domain *dom)
{
	if (!is_vtd(dom))
		return -EINVAL;
	int rc = 0;
	spin_lock(&vtd_lock);
	for (unsigned i = 0; i < nunits; i++)
		if (dom->units_mask & (1ull << i)) {
			int r = vtd_inv_iotlb(&units[i], VTD_GRAN_DOMAIN, dom->id, 0, 0);
			if (r && !rc)
				rc = r;
		}
	spin_unlock(&vtd_lock);
	return rc;
}

static int vtd_translate(struct iommu_domain *dom, uint64_t iova, uint64_t *pa, unsigned *prot)
{
	if (!is_vtd(dom))
		return -EINVAL;
	spin_lock(&vtd_lock);
	int rc = vtd_pt_translate(&dom->pt, iova, pa, prot);
	spin_unlock(&vtd_lock);
	return rc == -EINVAL ? -ENOENT : rc;
}

const struct iommu_ops iommu_vtd_ops = {
	.name = "vtd",
	.caps = IOMMU_CAP_TRANSLATE,
	.domain_alloc = vtd_domain_alloc,
	.domain_free = vtd_domain_free,
	.attach = vtd_attach,
	.detach = vtd_detach,
	.map = vtd_map,
	.unmap = vtd_unmap,
	.unmap_noflush = vtd_unmap_noflush,
	.flush = vtd_flush,
	.translate = vtd_translate,
	.fault_poll = vtd_fault_poll,
};

/* ---- diagnostics ------------------------------------------------------------------- */

void vtd_dump(void)
{
	for (unsigned i = 0; vtd_on && i < nunits; i++) {
		struct vtd_unit *u = &units[i];
		klog("iommu", "unit %u base 0x%llx ver %u.%u cap 0x%llx ecap 0x%llx sagaw 0x%x mgaw %u qi %d cm %d faults %llu",
		     i, (unsigned long long)u->base, VTD_VER_MAJOR(u->ver), VTD_VER_MINOR(u->ver),
		     (unsigned long long)u->cap, (unsigned long long)u->ecap, VTD_CAP_SAGAW(u->cap), u->mgaw,
		     u->qi ? 1 : 0, (u->cap & VTD_CAP_CM) ? 1 : 0, (unsigned long long)vtd_unit_faults(i));
		struct iommu_domain *dom;
		struct pci_dev *d;
		for (unsigned n = 0; (d = iommu_attached_nth(n, &dom)) != 0; n++)
			if (dom->ops == &iommu_vtd_ops && unit_of(d) == u)
				klog("iommu", "  %04x:%02x:%02x.%x domain %u levels %u", d->addr.seg, d->addr.bus,
				     d->addr.dev, d->addr.fn, dom->id, dom->pt.levels);
	}
}
