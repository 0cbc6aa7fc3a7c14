/*
 * iommu.c — the IOMMU layer's front: boot (DMAR from ACPI, `iommu=`/`iommu.qi=`,
 * VT-d bring-up or identity for all), which ops cover a device, the device ->
 * domain attachment table, fault accounting per requester ID, the facts and the
 * diagnostics dump of docs/iommu.md, the reserved regions (RMRR) of each device.
 * Intel VT-d spec rev 3.x §8 (DMAR), §8.4 (RMRR), §7.3 (faults).
 */
#include <hal/hal.h>
#include <kernel/acpi.h>
#include <kernel/atomic.h>
#include <kernel/boot.h>
#include <kernel/cmdline.h>
#include <kernel/errno.h>
#include <kernel/log.h>
#include <kernel/string.h>
#include "iommu_priv.h"

/* ---- attachments ---------------------------------------------------------------------- */

#define MAX_ATTACH 256
static struct {
	struct pci_dev *dev;
	struct iommu_domain *dom;
} attached[MAX_ATTACH];
/* Protects attached[]. Innermost (taken inside vtd_lock). */
static struct spinlock attach_lock = SPINLOCK_INIT("iommu.attach");

int iommu_attach_record(struct pci_dev *d, struct iommu_domain *dom)
{
	int rc = -ENOSPC;
	spin_lock(&attach_lock);
	for (unsigned i = 0; i < MAX_ATTACH; i++)
		if (attached[i].dev == d) {
			rc = -EBUSY;
			goto out;
		}
	for (unsigned i = 0; i < MAX_ATTACH; i++)
		if (!attached[i].dev) {
			attached[i].dev = d;
			attached[i].dom = dom;
			rc = 0;
			break;
		}
out:
	spin_unlock(&attach_lock);
	return rc;
}

int iommu_attach_forget(struct pci_dev *d, struct iommu_domain *dom)
{
	int rc = -ENOENT;
	spin_lock(&attach_lock);
	for (unsigned i = 0; i < MAX_ATTACH; i++)
		if (attached[i].dev == d && attached[i].dom == dom) {
			attached[i].dev = 0;
			attached[i].dom = 0;
			rc = 0;
			break;
		}
	spin_unlock(&attach_lock);
	return rc;
}

struct iommu_domain *iommu_domain_of(const struct pci_dev *d)
{
	struct iommu_domain *dom = 0;
	spin_lock(&attach_lock);
	for (unsigned i = 0; i < MAX_ATTACH && !dom; i++)
		if (attached[i].dev == d)
			dom = attached[i].dom;
	spin_unlock(&attach_lock);
	return dom;
}

struct pci_dev *iommu_attached_nth(unsigned n, struct iommu_domain **dom)
{
	struct pci_dev *d = 0;
	spin_lock(&attach_lock);
	for (unsigned i = 0; i < MAX_ATTACH && !d; i++)
		if (attached[i].dev && n-- == 0) {
			d = attached[i].dev;
			*dom = attached[i].dom;
		}
	spin_unlock(&attach_lock);
	return d;
}

unsigned iommu_domain_addr_bits(const struct iommu_domain *dom)
{
	return dom ? dom->addr_bits : 0;
}

unsigned iommu_pa_bits(void)
{
	uint32_t r[4];
	hal_cpuid(0x80000000u, 0, r);
	if (r[0] >= 0x80000008u) {
		hal_cpuid(0x80000008u, 0, r);
		if ((r[0] & 0xFF) >= 32 && (r[0] & 0xFF) <= 52)
			return r[0] & 0xFF;
	}
	return 36;
}

/* ---- faults --------------------------------------------------------------------------- */

#define MAX_FAULT_SOURCES 64
static struct {
	uint16_t seg, sid;
	uint64_t count;
} fault_src[MAX_FAULT_SOURCES];
static struct iommu_fault fault_last;
static bool have_fault_last;
static uint64_t fault_irqs, fault_total;
/* Protects fault_src and fault_last. Innermost. */
static struct spinlock count_lock = SPINLOCK_INIT("iommu.faultcount");

void iommu_fault_note(uint16_t seg, const struct iommu_fault *f)
{
	klog("iommu", "fault: %04x:%02x:%02x.%x sid 0x%04x addr 0x%016llx reason 0x%02x %s", seg,
	     f->sid >> 8, (f->sid >> 3) & 31, f->sid & 7, f->sid, (unsigned long long)f->addr, f->reason,
	     f->write ? "write" : "read");
	spin_lock(&count_lock);
	fault_total++;
	fault_last = *f;
	have_fault_last = true;
	unsigned i;
	for (i = 0; i < MAX_FAULT_SOURCES; i++)
		if (!fault_src[i].count || (fault_src[i].seg == seg && fault_src[i].sid == f->sid))
			break;
	if (i < MAX_FAULT_SOURCES) {
		fault_src[i].seg = seg;
		fault_src[i].sid = f->sid;
		fault_src[i].count++;
	}
	spin_unlock(&count_lock);
}

void iommu_fault_irq_note(void)
{
	atomic_fetch_add64(&fault_irqs, 1, MO_RELAXED);
}

uint64_t iommu_fault_irq_count(void)
{
	return atomic_load64(&fault_irqs, MO_RELAXED);
}

/* Every implementation's pending faults recorded (in case an interrupt was lost). */
static void fault_poll_all(void)
{
	static const struct iommu_ops *const impls[] = { &iommu_vtd_ops, &iommu_identity_ops };
	for (unsigned i = 0; i < sizeof impls / sizeof impls[0]; i++)
		if (impls[i]->fault_poll)
			impls[i]->fault_poll();
}

uint64_t iommu_fault_count(const struct pci_dev *d)
{
	if (!d)
		return 0;
	fault_poll_all();
	uint16_t sid = (uint16_t)(d->addr.bus << 8 | d->addr.dev << 3 | d->addr.fn);
	uint64_t n = 0;
	spin_lock(&count_lock);
	for (unsigned i = 0; i < MAX_FAULT_SOURCES && fault_src[i].count; i++)
		if (fault_src[i].seg == d->addr.seg && fault_src[i].sid == sid)
			n = fault_src[i].count;
	spin_unlock(&count_lock);
	return n;
}

int iommu_fault_last(struct iommu_fault *out)
{
	fault_poll_all();
	spin_lock(&count_lock);
	bool have = have_fault_last;
	if (have)
		*out = fault_last;
	spin_unlock(&count_lock);
	return have ? 0 : -ENOENT;
}

/* ---- boot ------------------------------------------------------------------------------ */

static struct dmar_info boot_dmar;
static const char *mode_reason = "not initialised";

const struct iommu_ops *iommu_ops_for(const struct pci_dev *d)
{
	return vtd_covers(d) ? &iommu_vtd_ops : &iommu_identity_ops;
}

bool iommu_translates(const struct pci_dev *d)
{
	return (iommu_ops_for(d)->caps & IOMMU_CAP_TRANSLATE) != 0;
}

int iommu_reserved_region(const struct pci_dev *d, unsigned n, uint64_t *base, uint64_t *limit)
{
	if (!d || !base || !limit || !vtd_covers(d))
		return -ENOENT;
	return vtd_rmrr_region(d, n, base, limit);
}

/* Log an RMRR (§8.4) and check it against the memory map: a region in RAM the
 * firmware handed to the OS as usable is a firmware bug, honoured anyway (the
 * device may be using it right now). */
static void rmrr_check(unsigned i, const struct dmar_rmrr_info *r)
{
	klog("iommu", "RMRR %u: segment %u 0x%llx-0x%llx (%u scope(s)): mapped 1:1 for its devices while attached",
	     i, r->segment, (unsigned long long)r->base, (unsigned long long)r->limit, r->nscopes);
	const struct boot_info *bi = boot_info_get();
	for (unsigned k = 0; bi && k < bi->mmap_count && k < BOOT_MMAP_MAX; k++) {
		const struct boot_mem_region *m = &bi->mmap[k];
		if (m->type != BOOT_MEM_USABLE || !m->len)
			continue;
		uint64_t mend = m->base + m->len - 1;
		if (m->base <= r->limit && r->base <= mend)
			klog("iommu", "firmware bug: RMRR %u 0x%llx-0x%llx overlaps usable RAM 0x%llx-0x%llx "
			     "(the kernel may use those pages): honoured anyway", i, (unsigned long long)r->base,
			     (unsigned long long)r->limit, (unsigned long long)m->base, (unsigned long long)mend);
	}
}

static void facts(void)
{
	bool vtd = vtd_unit_count() > 0;
	kinfo("iommu.mode", "%s", vtd ? "vtd" : "identity");
	kinfo("iommu.units", "%u", vtd_unit_count());
	kinfo("iommu.qi", "%d", vtd && vtd_qi_enabled() ? 1 : 0);
	kinfo("iommu.caching_mode", "%d", vtd && vtd_caching_mode() ? 1 : 0);
}

int iommu_init(void)
{
	int rc = 0;
	const char *on = cmdline_get("iommu");
	const char *qi = cmdline_get("iommu.qi");
	bool allow_qi = !(qi && kstrcmp(qi, "0") == 0);
	if (on && kstrcmp(on, "off") == 0) {
		mode_reason = "iommu=off";
		klog("iommu", "iommu=off: identity for every device");
		goto out;
	}
	if (on && kstrcmp(on, "on") != 0)
		klog("iommu", "iommu=%s is not on or off: using on", on);
	const struct acpi_sdt_header *h = acpi_find(acpi_boot_info(), "DMAR");
	if (!h) {
		mode_reason = "no DMAR";
		klog("iommu", "no DMAR table: identity for every device");
		rc = -ENODEV;
		goto out;
	}
	rc = dmar_parse(h, h->length, &boot_dmar);
	if (rc) {
		mode_reason = "DMAR rejected";
		klog("iommu", "DMAR rejected: VT-d is not used, identity for every device");
		goto out;
	}
	klog("iommu", "DMAR: host address width %u, flags 0x%x, %u unit(s), %u RMRR(s), %u other structure(s)",
	     boot_dmar.haw, boot_dmar.flags, boot_dmar.nunits, boot_dmar.nrmrr, boot_dmar.nskipped);
	for (unsigned i = 0; i < boot_dmar.nrmrr; i++)
		rmrr_check(i, &boot_dmar.rmrr[i]);
	if (!boot_dmar.nunits) {
		mode_reason = "no DRHD";
		klog("iommu", "DMAR lists no remapping unit: identity for every device");
		rc = -ENODEV;
		goto out;
	}
	rc = vtd_init(&boot_dmar, allow_qi);
	if (rc) {
		mode_reason = "VT-d bring-up failed";
		klog("iommu", "VT-d bring-up failed (%d): identity for every device", rc);
		goto out;
	}
	mode_reason = "vtd";
	klog("iommu", "VT-d on: %u unit(s), %s invalidation%s; devices without a domain are blocked",
	     vtd_unit_count(), vtd_qi_enabled() ? "queued" : "register-based",
	     vtd_caching_mode() ? ", caching mode" : "");
out:
	facts();
	return rc;
}

void iommu_dump(void)
{
	if (!vtd_unit_count()) {
		klog("iommu", "mode identity (%s)", mode_reason);
		return;
	}
	vtd_dump();
}
