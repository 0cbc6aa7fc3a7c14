/*
 * dma.c — the DMA API of kernel/include/kernel/dma.h (docs/dma.md): per-device
 * policy (iommu | bounce | direct) chosen at attach, IOMMU domains with an IOVA
 * allocator (iova.c), bounce buffers (swiotlb.c) for devices whose mask or
 * alignment cannot reach a buffer, coherent allocations, scatter-gather with
 * max_seg splitting, and the ledger that names every leaked mapping's call site.
 */
#include <hal/hal.h>
#include <kernel/cmdline.h>
#include <kernel/dma.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/iommu.h>
#include <kernel/log.h>
#include <kernel/panic.h>
#include <kernel/pmm.h>
#include <kernel/printf.h>
#include <kernel/spinlock.h>
#include <kernel/string.h>
#include "dma_internal.h"

#define MIN_MASK ((1ull << 24) - 1)     /* narrower than ISA DMA's 24 bits: refused */
#define SEG_CAP 0x80000000u             /* a bus segment's length fits bus_len */

/* Lock order: devs_lock, then a device's lock, then IOMMU / pool / pmm locks. */
static struct spinlock devs_lock = SPINLOCK_INIT("dma.devs");
static struct dma_dev *devs;

static const char *const policy_names[] = { "iommu", "bounce", "direct" };

const char *dma_policy_name(enum dma_policy p)
{
	return (unsigned)p < 3 ? policy_names[p] : "?";
}

static void devname(const struct pci_dev *d, char *buf, size_t n)
{
	ksnprintf(buf, n, "%04x:%02x:%02x.%x", d->addr.seg, d->addr.bus, d->addr.dev, d->addr.fn);
}

/* The repository-relative part of a __FILE__ ("kernel/..."), for log lines. */
static const char *short_file(const char *f)
{
	for (const char *p = f; p && *p; p++)
		if (*p == '/' && !kstrncmp(p + 1, "kernel/", 7))
			return p + 1;
	return f ? f : "?";
}

static unsigned prot_of(enum dma_dir dir)
{
	return (dir & DMA_TO_DEVICE ? IOMMU_READ : 0) | (dir & DMA_FROM_DEVICE ? IOMMU_WRITE : 0);
}

static bool dir_ok(enum dma_dir dir)
{
	return dir == DMA_TO_DEVICE || dir == DMA_FROM_DEVICE || dir == DMA_BIDIRECTIONAL;
}

/* ---- attach: policy and parameters -------------------------------------------------- */

static int parse_policy(const char *v, enum dma_policy *out)
{
	for (unsigned i = 0; i < 3; i++)
		if (!kstrcmp(v, policy_names[i])) {
			*out = (enum dma_policy)i;
			return 0;
		}
	return -EINVAL;
}

static enum dma_policy choose_policy(const struct pci_dev *d, bool translated, const char *name)
{
	enum dma_policy dflt = translated ? DMA_POLICY_IOMMU : DMA_POLICY_DIRECT, p;
	char key[40];
	ksnprintf(key, sizeof key, "dma.policy.%s", name);
	const char *keys[2] = { key, "dma.policy" };
	for (unsigned i = 0; i < 2; i++) {
		const char *v = cmdline_get(keys[i]);
		if (!v)
			continue;
		if (parse_policy(v, &p) == 0)
			return p;
		klog("dma", "%s=%s is not iommu, bounce or direct: %s uses %s", keys[i], v, name,
		     dma_policy_name(dflt));
		return dflt;
	}
	return dflt;
}

/* `dma.flush=strict|lazy` for all, `dma.flush.SSSS:BB:DD.F=` for one device
 * (docs/dma.md "Lazy unmapping"). Strict unless asked. */
static bool flush_lazy(const char *name)
{
	char key[40];
	ksnprintf(key, sizeof key, "dma.flush.%s", name);
	const char *keys[2] = { key, "dma.flush" };
	for (unsigned i = 0; i < 2; i++) {
		const char *v = cmdline_get(keys[i]);
		if (!v)
			continue;
		if (!kstrcmp(v, "lazy"))
			return true;
		if (kstrcmp(v, "strict"))
			klog("dma", "%s=%s is not strict or lazy: %s unmaps strictly", keys[i], v, name);
		return false;
	}
	return false;
}

static bool params_ok(const struct dma_params *p, const char *name)
{
	uint32_t al = p->align ? p->align : 1;
	const char *why = 0;
	if (p->mask < MIN_MASK)
		why = "mask below 2^24-1";
	else if ((p->mask & (p->mask + 1)) != 0)
		why = "mask is not of the form 2^n-1";
	else if (al & (al - 1))
		why = "alignment is not a power of two";
	else if (al > PAGE_SIZE)
		why = "alignment above 4096";
	else if (p->max_seg && (p->max_seg < al || p->max_seg % al))
		why = "max_seg is not a multiple of the alignment";
	if (!why)
		return true;
	klog("dma", "%s: bad DMA parameters (mask 0x%llx max_seg %u align %u): %s", name,
	     (unsigned long long)p->mask, p->max_seg, p->align, why);
	return false;
}

struct dma_dev *dma_dev_attach_policy(struct pci_dev *d, const struct dma_params *p, int policy)
{
	char name[16];
	if (!d || !p) {
		klog("dma", "attach without a device or parameters");
		return 0;
	}
	devname(d, name, sizeof name);
	if (!params_ok(p, name))
		return 0;
	struct dma_dev *dd = kzalloc(sizeof *dd);
	if (!dd) {
		klog("dma", "%s: no memory for DMA state", name);
		return 0;
	}
	dd->pci = d;
	dd->p = *p;
	if (!dd->p.align)
		dd->p.align = 1;
	spin_init(&dd->lock, "dma.dev");
	/* Asked of the implementation's capabilities, never its name. */
	bool translated = iommu_translates(d);
	if (policy >= 0 && policy <= DMA_POLICY_DIRECT)
		dd->policy = (enum dma_policy)policy;
	else
		dd->policy = choose_policy(d, translated, name);
	if (dd->policy == DMA_POLICY_IOMMU && !translated) {
		klog("dma", "%s: policy iommu, but no IOMMU translates for it: direct", name);
		dd->policy = DMA_POLICY_DIRECT;
	}
	if (translated) {
		/* Under a translating IOMMU every device needs a domain, or its DMA is blocked: policy
		 * iommu remaps through IOVAs, direct and bounce map the pages they use 1:1. */
		const struct iommu_ops *ops = iommu_ops_for(d);
		struct iommu_domain *dom = ops->domain_alloc();
		if (!dom) {
			klog("dma", "%s: no IOMMU domain (out of memory)", name);
			goto out_free;
		}
		int rc = ops->attach(dom, d);
		if (rc) {
			klog("dma", "%s: IOMMU attach failed (%d)", name, rc);
			ops->domain_free(dom);
			goto out_free;
		}
		dd->ops = ops;
		dd->dom = dom;
		for (unsigned n = 0; dd->nresv < DMA_MAX_RESV; n++) {
			uint64_t b, l;
			if (iommu_reserved_region(d, n, &b, &l))
				break;
			dd->resv_base[dd->nresv] = b;
			dd->resv_limit[dd->nresv++] = l;
		}
		if (dd->policy == DMA_POLICY_IOMMU) {
			unsigned bits = iommu_domain_addr_bits(dom);
			uint64_t top = bits >= 64 ? ~0ull : (1ull << bits) - 1;
			uint64_t hi = dd->p.mask < top ? dd->p.mask : top;
			rc = iova_init(&dd->iova, IOMMU_PAGE, hi, kmalloc, kfree);
			if (rc) {
				klog("dma", "%s: IOVA window [0x1000, 0x%llx]: %d", name, (unsigned long long)hi, rc);
				goto out_detach;
			}
			dd->have_iova = true;
			dd->lazy = flush_lazy(name) && ops->unmap_noflush && ops->flush;
			/* The IOMMU maps the device's reserved regions 1:1 itself. */
			for (unsigned i = 0; i < dd->nresv; i++) {
				rc = iova_reserve(&dd->iova, dd->resv_base[i], dd->resv_limit[i]);
				if (rc) {
					klog("dma", "%s: reserving IOVA 0x%llx-0x%llx: %d", name,
					     (unsigned long long)dd->resv_base[i], (unsigned long long)dd->resv_limit[i], rc);
					iova_destroy(&dd->iova);
					dd->have_iova = false;
					goto out_detach;
				}
				klog("dma", "%s: IOVA 0x%llx-0x%llx reserved (mapped 1:1 by the IOMMU)", name,
				     (unsigned long long)dd->resv_base[i], (unsigned long long)dd->resv_limit[i]);
			}
		} else {
			dd->identity = true;
		}
	}
	spin_lock(&devs_lock);
	dd->next = devs;
	devs = dd;
	spin_unlock(&devs_lock);
	klog("dma", "%s: policy %s mask 0x%llx max_seg %u align %u%s%s", name, dma_policy_name(dd->policy),
	     (unsigned long long)dd->p.mask, dd->p.max_seg, dd->p.align,
	     dd->dom ? (dd->identity ? " (VT-d domain, pages mapped 1:1)" : " (VT-d domain)") : "",
	     dd->lazy ? ", lazy unmapping" : "");
	return dd;
out_detach:
	dd->ops->detach(dd->dom, d);
	dd->ops->domain_free(dd->dom);
out_free:
	kfree(dd);
	return 0;
}

struct dma_dev *dma_dev_attach(struct pci_dev *d, const struct dma_params *p)
{
	return dma_dev_attach_policy(d, p, -1);
}

enum dma_policy dma_dev_policy(const struct dma_dev *dd)
{
	return dd->policy;
}

struct iommu_domain *dma_dev_domain(const struct dma_dev *dd, const struct iommu_ops **ops)
{
	if (ops)
		*ops = dd->ops;
	return dd->dom;
}

static void fq_flush(struct dma_dev *dd);

int dma_dev_set_flush(struct dma_dev *dd, bool lazy)
{
	if (!dd->have_iova || !dd->ops->unmap_noflush || !dd->ops->flush)
		return -EOPNOTSUPP;
	spin_lock(&dd->lock);
	if (!lazy)
		fq_flush(dd);
	dd->lazy = lazy;
	spin_unlock(&dd->lock);
	return 0;
}

bool dma_dev_iova_excluded(struct dma_dev *dd, uint64_t base, uint64_t limit)
{
	bool out = true;
	spin_lock(&dd->lock);
	if (dd->have_iova) {
		for (const struct iova_range *f = dd->iova.free_list; f; f = f->next)
			if (f->start <= limit && base <= f->end)
				out = false;
		if (base >= dd->iova.lo && limit <= dd->iova.hi && iova_free(&dd->iova, base, PAGE_SIZE) != -EINVAL)
			out = false;
	}
	spin_unlock(&dd->lock);
	return out;
}

void dma_ledger_get(const struct dma_dev *dd, struct dma_ledger *out)
{
	struct dma_dev *m = (struct dma_dev *)dd;
	spin_lock(&m->lock);
	*out = dd->led;
	out->lazy_pending = dd->fq_n;
	out->lazy = dd->lazy;
	spin_unlock(&m->lock);
}

/* ---- identity domain: pages mapped 1:1, reference counted ----------------------------- */

static struct dma_idpage *idp_find(struct dma_dev *dd, uint64_t pfn)
{
	for (size_t i = 0; i < dd->nidp; i++)
		if (dd->idp[i].pfn == pfn)
			return &dd->idp[i];
	return 0;
}

static void idmap_put(struct dma_dev *dd, uint64_t pa, size_t npages)
{
	for (size_t k = 0; k < npages; k++) {
		uint64_t pfn = pa / PAGE_SIZE + k;
		struct dma_idpage *e = idp_find(dd, pfn);
		if (!e)
			continue;               /* not taken: an undo of a partial get */
		if (--e->refs)
			continue;
		int rc = dd->ops->unmap(dd->dom, pfn * PAGE_SIZE, PAGE_SIZE);
		if (rc)
			klog("dma", "identity unmap of page 0x%llx: %d", (unsigned long long)(pfn * PAGE_SIZE), rc);
		*e = dd->idp[--dd->nidp];
	}
}

/* A page the IOMMU keeps mapped 1:1 for the device already (an RMRR). */
static bool in_resv(const struct dma_dev *dd, uint64_t pfn)
{
	for (unsigned i = 0; i < dd->nresv; i++)
		if (pfn >= dd->resv_base[i] / PAGE_SIZE && pfn <= dd->resv_limit[i] / PAGE_SIZE)
			return true;
	return false;
}

static int idmap_get(struct dma_dev *dd, uint64_t pa, size_t npages)
{
	for (size_t k = 0; k < npages; k++) {
		uint64_t pfn = pa / PAGE_SIZE + k;
		if (in_resv(dd, pfn))
			continue;               /* idmap_put finds no entry and skips it too */
		struct dma_idpage *e = idp_find(dd, pfn);
		if (e) {
			e->refs++;
			continue;
		}
		if (dd->nidp == dd->capidp) {
			size_t cap = dd->capidp ? dd->capidp * 2 : 16;
			struct dma_idpage *n = kmalloc(cap * sizeof *n);
			if (!n) {
				idmap_put(dd, pa, k);
				return -ENOMEM;
			}
			if (dd->nidp)
				memcpy(n, dd->idp, dd->nidp * sizeof *n);
			kfree(dd->idp);
			dd->idp = n;
			dd->capidp = cap;
		}
		/* Both directions: a page may carry several mappings of different ones. */
		int rc = dd->ops->map(dd->dom, pfn * PAGE_SIZE, pfn * PAGE_SIZE, PAGE_SIZE, IOMMU_READ | IOMMU_WRITE);
		if (rc) {
			idmap_put(dd, pa, k);
			return rc;
		}
		dd->idp[dd->nidp++] = (struct dma_idpage){ .pfn = pfn, .refs = 1 };
	}
	return 0;
}

/* ---- making memory reachable ------------------------------------------------------------ */

/* Physical address of va's page run; *contig: each page follows the previous. */
static uint64_t phys_run(const uint8_t *va, size_t len, size_t *npages, bool *contig)
{
	uint64_t off = (uintptr_t)va & (PAGE_SIZE - 1);
	const uint8_t *pg = va - off;
	size_t n = (size_t)((off + len + PAGE_SIZE - 1) / PAGE_SIZE);
	uint64_t pa0 = hal_virt_to_phys(pg);
	*contig = pa0 != ~0ull;
	for (size_t i = 1; i < n && *contig; i++)
		if (hal_virt_to_phys(pg + i * PAGE_SIZE) != pa0 + i * PAGE_SIZE)
			*contig = false;
	*npages = n;
	return pa0 + off;
}

static void iova_give_back(struct dma_dev *dd, uint64_t iova, uint64_t len)
{
	int rc = iova_free(&dd->iova, iova, len);
	if (rc)
		klog("dma", "IOVA free of 0x%llx+0x%llx refused (%d)", (unsigned long long)iova,
		     (unsigned long long)len, rc);
}

/* Lazy mode: one domain-wide IOTLB flush, then the queued IOVA ranges go back to
 * the allocator — never before the flush returned (a range reused while a stale
 * translation of it survives would let the device reach the new owner's pages
 * through the old one's). */
static void fq_flush(struct dma_dev *dd)
{
	lock_assert_held(&dd->lock);
	if (!dd->fq_n)
		return;
	int rc = dd->ops->flush(dd->dom);
	if (rc) {
		/* A unit that cannot invalidate is failed by the IOMMU layer; keep the
		 * ranges out of the allocator for good rather than risk reuse. */
		klog("dma", "lazy IOTLB flush failed (%d): %u IOVA range(s) withheld", rc, dd->fq_n);
		dd->fq_n = 0;
		return;
	}
	dd->led.lazy_flushes++;
	for (unsigned i = 0; i < dd->fq_n; i++)
		iova_give_back(dd, dd->fq_iova[i], dd->fq_len[i]);
	dd->fq_n = 0;
}

static void unreach(struct dma_dev *dd, struct dma_piece *pc)
{
	if (pc->iova_len) {
		size_t n = (size_t)(pc->iova_len / PAGE_SIZE);
		int (*unmap)(struct iommu_domain *, uint64_t, size_t) =
			dd->lazy ? dd->ops->unmap_noflush : dd->ops->unmap;
		int rc = 0;
		if (pc->per_page)
			for (size_t i = 0; i < n; i++)
				rc |= unmap(dd->dom, pc->iova + i * PAGE_SIZE, PAGE_SIZE);
		else
			rc = unmap(dd->dom, pc->iova, pc->iova_len);
		if (rc)
			klog("dma", "IOMMU unmap of iova 0x%llx+0x%llx failed (%d)", (unsigned long long)pc->iova,
			     (unsigned long long)pc->iova_len, rc);
		if (dd->lazy) {
			if (dd->fq_n == DMA_FQ_LEN)
				fq_flush(dd);
			dd->fq_iova[dd->fq_n] = pc->iova;
			dd->fq_len[dd->fq_n++] = pc->iova_len;
		} else {
			iova_give_back(dd, pc->iova, pc->iova_len);
		}
		pc->iova_len = 0;
	}
	if (pc->idmapped) {
		uint64_t off = pc->dev_pa & (PAGE_SIZE - 1);
		idmap_put(dd, pc->dev_pa - off, (size_t)((off + pc->len + PAGE_SIZE - 1) / PAGE_SIZE));
		pc->idmapped = false;
	}
}

/* Give the device a bus address for the memory at va (the caller's buffer or a
 * bounce slot): an IOVA range (iommu), 1:1 pages (identity domain), or the
 * physical address itself. */
static int reach(struct dma_dev *dd, struct dma_piece *pc, const uint8_t *va, size_t len, unsigned prot)
{
	size_t n;
	bool contig;
	uint64_t pa = phys_run(va, len, &n, &contig);
	uint64_t off = pa & (PAGE_SIZE - 1);
	pc->dev_pa = pa;
	if (dd->have_iova) {
		uint64_t iova;
		int rc = iova_alloc(&dd->iova, n * PAGE_SIZE, 0, &iova);
		if (rc && dd->fq_n) {
			fq_flush(dd);       /* lazy: ranges waiting for a flush may be all that is left */
			rc = iova_alloc(&dd->iova, n * PAGE_SIZE, 0, &iova);
		}
		if (rc)
			return rc;
		const uint8_t *pg = va - off;
		if (contig) {
			rc = dd->ops->map(dd->dom, iova, pa - off, n * PAGE_SIZE, prot);
		} else {
			for (size_t i = 0; i < n && !rc; i++) {
				rc = dd->ops->map(dd->dom, iova + i * PAGE_SIZE, hal_virt_to_phys(pg + i * PAGE_SIZE),
						  PAGE_SIZE, prot);
				if (rc)
					while (i-- > 0)
						dd->ops->unmap(dd->dom, iova + i * PAGE_SIZE, PAGE_SIZE);
			}
		}
		if (rc) {
			iova_free(&dd->iova, iova, n * PAGE_SIZE);
			return rc;
		}
		pc->iova = iova;
		pc->iova_len = n * PAGE_SIZE;
		pc->per_page = !contig;
		pc->bus = iova + off;
		return 0;
	}
	if (!contig || pa + len - 1 > dd->p.mask || pa + len - 1 < pa)
		return -ERANGE;
	if (dd->identity) {
		int rc = idmap_get(dd, pa - off, n);
		if (rc)
			return rc;
		pc->idmapped = true;
	}
	pc->bus = pa;
	return 0;
}

/* Does the device have to go through a bounce slot for [va, va+len)? */
static bool must_bounce(struct dma_dev *dd, const uint8_t *va, size_t len)
{
	if (dd->policy == DMA_POLICY_BOUNCE)
		return true;
	if ((uintptr_t)va % dd->p.align)
		return true;                /* the IOVA keeps the page offset too */
	if (dd->policy == DMA_POLICY_IOMMU)
		return false;
	size_t n;
	bool contig;
	uint64_t pa = phys_run(va, len, &n, &contig);
	return !contig || pa + len - 1 > dd->p.mask;     /* SWIOTLB: the mask cannot reach it */
}

static int map_piece(struct dma_dev *dd, struct dma_piece *pc, void *va, size_t len, enum dma_dir dir)
{
	memset(pc, 0, sizeof *pc);
	pc->va = va;
	pc->len = len;
	if (!must_bounce(dd, va, len))
		return reach(dd, pc, va, len, prot_of(dir));
	uint64_t spa;
	uint64_t mask = dd->have_iova ? ~0ull : dd->p.mask;
	int rc = swiotlb_alloc(len, dd->p.align, mask, &spa);
	if (rc)
		return rc;
	uint8_t *slot = hal_phys_to_virt(spa);
	/* Copied in for every direction: a device that writes only part of a
	 * FROM_DEVICE buffer leaves the rest as it was (docs/dma.md). */
	memcpy(slot, va, len);
	dd->led.bounce_bytes += len;
	rc = reach(dd, pc, slot, len, prot_of(dir));
	if (rc) {
		swiotlb_free(spa, len);
		return rc;
	}
	pc->bounce_pa = spa;
	return 0;
}

static void unmap_piece(struct dma_dev *dd, struct dma_piece *pc, enum dma_dir dir, bool copy)
{
	if (pc->bounce_pa && copy && (dir & DMA_FROM_DEVICE)) {
		memcpy(pc->va, hal_phys_to_virt(pc->bounce_pa), pc->len);
		dd->led.bounce_bytes += pc->len;
	}
	unreach(dd, pc);
	if (pc->bounce_pa)
		swiotlb_free(pc->bounce_pa, pc->len);
	pc->bounce_pa = 0;
}

static size_t piece_pages(const struct dma_piece *pc)
{
	if (pc->iova_len)
		return (size_t)(pc->iova_len / PAGE_SIZE);
	uint64_t off = pc->bus & (PAGE_SIZE - 1);
	return (size_t)((off + pc->len + PAGE_SIZE - 1) / PAGE_SIZE);
}

/* ---- records and the ledger ----------------------------------------------------------- */

static struct dma_rec *rec_new(int npieces, enum dma_rec_kind kind, enum dma_dir dir, const char *file,
			       int line, void *ra)
{
	struct dma_rec *r = kzalloc(sizeof *r + (size_t)npieces * sizeof(struct dma_piece));
	if (!r)
		return 0;
	r->kind = kind;
	r->dir = dir;
	r->file = file;
	r->line = line;
	r->ra = ra;
	r->npieces = npieces;
	return r;
}

static void rec_link(struct dma_dev *dd, struct dma_rec *r)
{
	lock_assert_held(&dd->lock);
	r->bytes = r->pages = 0;
	for (int i = 0; i < r->npieces; i++) {
		r->bytes += r->piece[i].len;
		r->pages += piece_pages(&r->piece[i]);
	}
	r->next = dd->live;
	dd->live = r;
	dd->led.live_maps++;
	dd->led.live_bytes += r->bytes;
	dd->led.live_pages += r->pages;
	dd->led.total_maps++;
}

static void rec_unlink(struct dma_dev *dd, struct dma_rec *r)
{
	lock_assert_held(&dd->lock);
	for (struct dma_rec **pp = &dd->live; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	dd->led.live_maps--;
	dd->led.live_bytes -= r->bytes;
	dd->led.live_pages -= r->pages;
}

static void refuse(struct dma_dev *dd, const char *what, size_t len, int rc)
{
	char name[16];
	devname(dd->pci, name, sizeof name);
	spin_lock(&dd->lock);
	dd->led.errors++;
	spin_unlock(&dd->lock);
	klog("dma", "%s: %s of %zu bytes refused (%d)", name, what, len, rc);
}

/* ---- streaming: single ------------------------------------------------------------------ */

static dma_addr_t map_single(struct dma_dev *dd, void *va, size_t len, enum dma_dir dir, const char *file,
			     int line, void *ra)
{
	if (!dd)
		return DMA_MAPPING_ERROR;
	int rc = -EINVAL;
	if (!va || len == 0 || !dir_ok(dir) || (dd->p.max_seg && len > dd->p.max_seg) || len > SEG_CAP)
		goto out_refuse;
	rc = -ENOMEM;
	struct dma_rec *r = rec_new(1, DMA_REC_SINGLE, dir, file, line, ra);
	if (!r)
		goto out_refuse;
	spin_lock(&dd->lock);
	rc = map_piece(dd, &r->piece[0], va, len, dir);
	if (rc) {
		spin_unlock(&dd->lock);
		kfree(r);
		goto out_refuse;
	}
	rec_link(dd, r);
	dma_addr_t bus = r->piece[0].bus;
	spin_unlock(&dd->lock);
	return bus;
out_refuse:
	refuse(dd, "map_single", len, rc);
	return DMA_MAPPING_ERROR;
}

dma_addr_t dma_map_single_at(struct dma_dev *dd, void *va, size_t len, enum dma_dir dir, const char *file,
			     int line)
{
	return map_single(dd, va, len, dir, file, line, 0);
}

dma_addr_t (dma_map_single)(struct dma_dev *dd, void *va, size_t len, enum dma_dir dir)
{
	return map_single(dd, va, len, dir, 0, 0, __builtin_return_address(0));
}

static struct dma_rec *find_rec(struct dma_dev *dd, enum dma_rec_kind kind, dma_addr_t bus, const void *key)
{
	for (struct dma_rec *r = dd->live; r; r = r->next)
		if (r->kind == kind && (kind == DMA_REC_SG ? r->key == key : r->piece[0].bus == bus))
			return r;
	return 0;
}

void dma_unmap_single(struct dma_dev *dd, dma_addr_t bus, size_t len, enum dma_dir dir)
{
	if (!dd)
		return;
	char name[16];
	devname(dd->pci, name, sizeof name);
	spin_lock(&dd->lock);
	struct dma_rec *r = find_rec(dd, DMA_REC_SINGLE, bus, 0);
	if (!r) {
		dd->led.errors++;
		spin_unlock(&dd->lock);
		klog("dma", "%s: unmap of bus 0x%llx, which is not mapped", name, (unsigned long long)bus);
		return;
	}
	if (r->piece[0].len != len || r->dir != dir)
		klog("dma", "%s: unmap of bus 0x%llx with len %zu dir %d; mapped with len %zu dir %d", name,
		     (unsigned long long)bus, len, dir, r->piece[0].len, r->dir);
	unmap_piece(dd, &r->piece[0], r->dir, true);
	rec_unlink(dd, r);
	spin_unlock(&dd->lock);
	kfree(r);
}

/* ---- streaming: scatter-gather ---------------------------------------------------------- */

static int map_sg(struct dma_dev *dd, struct dma_sg *sg, int nents, enum dma_dir dir, const char *file,
		  int line, void *ra)
{
	if (!dd)
		return 0;
	int rc = -EINVAL, m = 0;
	size_t total = 0;
	struct dma_rec *r = 0;
	struct dma_sg *seg = 0;
	if (!sg || nents <= 0 || !dir_ok(dir))
		goto out_refuse;
	for (int i = 0; i < nents; i++) {
		if (sg[i].len && !sg[i].va)
			goto out_refuse;
		if (sg[i].len)
			m++;
		total += sg[i].len;
	}
	if (!m)
		goto out_refuse;
	rc = -ENOMEM;
	r = rec_new(m, DMA_REC_SG, dir, file, line, ra);
	seg = kmalloc((size_t)nents * sizeof *seg);
	if (!r || !seg)
		goto out_refuse;
	r->key = sg;
	spin_lock(&dd->lock);
	int k = 0, mapped = 0;
	uint32_t cap = dd->p.max_seg ? dd->p.max_seg : SEG_CAP;
	for (int i = 0; i < nents; i++) {
		if (!sg[i].len)
			continue;
		struct dma_piece *pc = &r->piece[mapped];
		rc = map_piece(dd, pc, sg[i].va, sg[i].len, dir);
		if (rc)
			goto out_undo;
		mapped++;
		/* Cut into segments of at most max_seg; extend the previous segment when
		 * the bus addresses continue it and there is room. */
		dma_addr_t b = pc->bus;
		size_t left = pc->len;
		while (left) {
			if (k && seg[k - 1].bus + seg[k - 1].bus_len == b && seg[k - 1].bus_len < cap) {
				size_t take = cap - seg[k - 1].bus_len < left ? cap - seg[k - 1].bus_len : left;
				seg[k - 1].bus_len += (uint32_t)take;
				b += take;
				left -= take;
				continue;
			}
			if (k == nents) {
				rc = -E2BIG;        /* more segments than the list has room for */
				goto out_undo;
			}
			size_t take = left < cap ? left : cap;
			seg[k].bus = b;
			seg[k].bus_len = (uint32_t)take;
			k++;
			b += take;
			left -= take;
		}
	}
	rec_link(dd, r);
	spin_unlock(&dd->lock);
	for (int i = 0; i < nents; i++) {
		sg[i].bus = i < k ? seg[i].bus : DMA_MAPPING_ERROR;
		sg[i].bus_len = i < k ? seg[i].bus_len : 0;
	}
	kfree(seg);
	return k;
out_undo:
	while (mapped-- > 0)
		unmap_piece(dd, &r->piece[mapped], dir, false);
	spin_unlock(&dd->lock);
out_refuse:
	kfree(r);
	kfree(seg);
	refuse(dd, "map_sg", total, rc);
	return 0;
}

int dma_map_sg_at(struct dma_dev *dd, struct dma_sg *sg, int nents, enum dma_dir dir, const char *file, int line)
{
	return map_sg(dd, sg, nents, dir, file, line, 0);
}

int (dma_map_sg)(struct dma_dev *dd, struct dma_sg *sg, int nents, enum dma_dir dir)
{
	return map_sg(dd, sg, nents, dir, 0, 0, __builtin_return_address(0));
}

void dma_unmap_sg(struct dma_dev *dd, struct dma_sg *sg, int nents, enum dma_dir dir)
{
	(void)nents;
	if (!dd)
		return;
	spin_lock(&dd->lock);
	struct dma_rec *r = find_rec(dd, DMA_REC_SG, 0, sg);
	if (!r) {
		dd->led.errors++;
		spin_unlock(&dd->lock);
		char name[16];
		devname(dd->pci, name, sizeof name);
		klog("dma", "%s: unmap_sg of a list that is not mapped", name);
		return;
	}
	(void)dir;
	for (int i = 0; i < r->npieces; i++)
		unmap_piece(dd, &r->piece[i], r->dir, true);
	rec_unlink(dd, r);
	spin_unlock(&dd->lock);
	kfree(r);
}

/* ---- syncs -------------------------------------------------------------------------------- */

/* The bounced piece holding [bus, bus+len), or NULL (nothing to copy). */
static struct dma_piece *find_piece(struct dma_dev *dd, dma_addr_t bus, size_t len, bool *known)
{
	*known = false;
	for (struct dma_rec *r = dd->live; r; r = r->next)
		for (int i = 0; i < r->npieces; i++) {
			struct dma_piece *pc = &r->piece[i];
			if (bus >= pc->bus && bus - pc->bus < pc->len && len <= pc->len - (bus - pc->bus)) {
				*known = true;
				return pc->bounce_pa ? pc : 0;
			}
		}
	return 0;
}

static void sync(struct dma_dev *dd, dma_addr_t bus, size_t len, enum dma_dir dir, bool for_cpu)
{
	if (!dd || len == 0)
		return;
	bool known;
	spin_lock(&dd->lock);
	struct dma_piece *pc = find_piece(dd, bus, len, &known);
	if (!known) {
		dd->led.errors++;
		spin_unlock(&dd->lock);
		char name[16];
		devname(dd->pci, name, sizeof name);
		klog("dma", "%s: sync of bus 0x%llx+%zu, which is not mapped", name, (unsigned long long)bus, len);
		return;
	}
	if (pc) {
		uint64_t off = bus - pc->bus;
		uint8_t *slot = (uint8_t *)hal_phys_to_virt(pc->bounce_pa) + off;
		uint8_t *mem = (uint8_t *)pc->va + off;
		if (for_cpu && (dir & DMA_FROM_DEVICE)) {
			memcpy(mem, slot, len);
			dd->led.bounce_bytes += len;
		} else if (!for_cpu) {
			memcpy(slot, mem, len);     /* every direction, as at map */
			dd->led.bounce_bytes += len;
		}
	}
	spin_unlock(&dd->lock);
}

void dma_sync_for_cpu(struct dma_dev *dd, dma_addr_t bus, size_t len, enum dma_dir dir)
{
	sync(dd, bus, len, dir, true);
}

void dma_sync_for_device(struct dma_dev *dd, dma_addr_t bus, size_t len, enum dma_dir dir)
{
	sync(dd, bus, len, dir, false);
}

bool dma_mapping_error(const struct dma_dev *dd, dma_addr_t bus)
{
	(void)dd;
	return bus == DMA_MAPPING_ERROR;
}

/* ---- coherent ----------------------------------------------------------------------------- */

static void *alloc_coherent(struct dma_dev *dd, size_t len, dma_addr_t *bus, const char *file, int line,
			    void *ra)
{
	if (bus)
		*bus = DMA_MAPPING_ERROR;
	if (!dd)
		return 0;
	int rc = -EINVAL;
	size_t n = (len + PAGE_SIZE - 1) / PAGE_SIZE;
	uint64_t pa = 0;
	struct dma_rec *r = 0;
	if (!bus || len == 0 || len > SEG_CAP)
		goto out_refuse;
	rc = -ENOMEM;
	if (dd->have_iova)
		pa = pmm_alloc_pages(n, 1);
	else
		pa = pmm_alloc_pages_in(n, 1, 0, dd->p.mask == ~0ull ? ~0ull : dd->p.mask + 1);
	r = rec_new(1, DMA_REC_COHERENT, DMA_BIDIRECTIONAL, file, line, ra);
	if (!pa || !r || !hal_phys_to_virt(pa))
		goto out_refuse;
	void *va = hal_phys_to_virt(pa);
	memset(va, 0, n * PAGE_SIZE);
	spin_lock(&dd->lock);
	struct dma_piece *pc = &r->piece[0];
	pc->va = va;
	pc->len = len;
	rc = reach(dd, pc, va, len, IOMMU_READ | IOMMU_WRITE);
	if (rc) {
		spin_unlock(&dd->lock);
		goto out_refuse;
	}
	rec_link(dd, r);
	*bus = pc->bus;
	spin_unlock(&dd->lock);
	return va;
out_refuse:
	if (pa)
		pmm_free_pages(pa, n);
	kfree(r);
	refuse(dd, "alloc_coherent", len, rc);
	return 0;
}

void *dma_alloc_coherent_at(struct dma_dev *dd, size_t len, dma_addr_t *bus, const char *file, int line)
{
	return alloc_coherent(dd, len, bus, file, line, 0);
}

void *(dma_alloc_coherent)(struct dma_dev *dd, size_t len, dma_addr_t *bus)
{
	return alloc_coherent(dd, len, bus, 0, 0, __builtin_return_address(0));
}

void dma_free_coherent(struct dma_dev *dd, size_t len, void *va, dma_addr_t bus)
{
	if (!dd || !va)
		return;
	char name[16];
	devname(dd->pci, name, sizeof name);
	spin_lock(&dd->lock);
	struct dma_rec *r = find_rec(dd, DMA_REC_COHERENT, bus, 0);
	if (!r || r->piece[0].va != va) {
		dd->led.errors++;
		spin_unlock(&dd->lock);
		klog("dma", "%s: free_coherent of %p (bus 0x%llx), which was not allocated", name, va,
		     (unsigned long long)bus);
		return;
	}
	if (r->piece[0].len != len)
		klog("dma", "%s: free_coherent with len %zu; allocated with %zu", name, len, r->piece[0].len);
	size_t n = (r->piece[0].len + PAGE_SIZE - 1) / PAGE_SIZE;
	unreach(dd, &r->piece[0]);
	rec_unlink(dd, r);
	spin_unlock(&dd->lock);
	pmm_free_pages(hal_virt_to_phys(va), n);
	kfree(r);
}

/* ---- release and diagnostics ---------------------------------------------------------------- */

int dma_dev_release(struct dma_dev *dd)
{
	if (!dd)
		return 0;
	char name[16];
	devname(dd->pci, name, sizeof name);
	spin_lock(&devs_lock);
	for (struct dma_dev **pp = &devs; *pp; pp = &(*pp)->next)
		if (*pp == dd) {
			*pp = dd->next;
			break;
		}
	spin_unlock(&devs_lock);
	int leaks = 0;
	spin_lock(&dd->lock);
	while (dd->live) {
		struct dma_rec *r = dd->live;
		if (r->file)
			klog("dma", "leak: %s bus 0x%llx len %zu (mapped at %s:%d)", name,
			     (unsigned long long)r->piece[0].bus, r->bytes, short_file(r->file), r->line);
		else
			klog("dma", "leak: %s bus 0x%llx len %zu (mapped at %p)", name,
			     (unsigned long long)r->piece[0].bus, r->bytes, r->ra);
		/* The device loses access; a leaked coherent buffer's pages stay the
		 * driver's (it may still use them), bounce slots go back to the pool. */
		for (int i = 0; i < r->npieces; i++)
			unmap_piece(dd, &r->piece[i], r->dir, false);
		rec_unlink(dd, r);
		kfree(r);
		leaks++;
	}
	fq_flush(dd);
	spin_unlock(&dd->lock);
	if (dd->dom) {
		int rc = dd->ops->detach(dd->dom, dd->pci);
		if (rc)
			klog("dma", "%s: IOMMU detach: %d", name, rc);
		rc = dd->ops->domain_free(dd->dom);
		if (rc)
			klog("dma", "%s: IOMMU domain free: %d", name, rc);
	}
	if (dd->have_iova)
		iova_destroy(&dd->iova);
	if (leaks)
		klog("dma", "%s released with %d leaked mapping(s)", name, leaks);
	kfree(dd->idp);
	kfree(dd);
	return leaks;
}

void dma_dump(void)
{
	spin_lock(&devs_lock);
	for (struct dma_dev *dd = devs; dd; dd = dd->next) {
		char name[16];
		devname(dd->pci, name, sizeof name);
		struct dma_ledger l;
		spin_lock(&dd->lock);
		l = dd->led;
		spin_unlock(&dd->lock);
		klog("dma", "%s policy %s mask 0x%llx live %llu bytes %llu pages %llu maps %llu bounced %llu errors %llu",
		     name, dma_policy_name(dd->policy), (unsigned long long)dd->p.mask,
		     (unsigned long long)l.live_maps, (unsigned long long)l.live_bytes,
		     (unsigned long long)l.live_pages, (unsigned long long)l.total_maps,
		     (unsigned long long)l.bounce_bytes, (unsigned long long)l.errors);
	}
	spin_unlock(&devs_lock);
}
