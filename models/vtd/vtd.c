/*
 * vtd.c — model of an Intel VT-d DMA-remapping unit (VT-d spec rev 3.x), one
 * struct vtd_model per unit: the register page (§10.4), legacy-mode translation
 * through root, context and second-level tables (§3.4, §9.1, §9.3, §9.8), a context
 * cache and an IOTLB that serve what they hold until software invalidates it (§6.1,
 * §6.5), primary fault recording and the fault event (§7.1, §7.3), queued
 * invalidation (§6.5.2). Everything runs inside the MMIO or DMA call that causes it.
 */
#include "vtd/vtd.h"
#include "vtd/vtd_model.h"

#include <hw/iommu/vtd.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"

#define CTX_CACHE_SIZE 64u          /* context-cache entries (direct mapped by source id) */
#define IOTLB_SIZE 512u             /* IOTLB entries (direct mapped by domain and page) */
#define LOG_BUDGET 200u             /* general log lines, then quiet */
#define EVENT_LOG_BUDGET 64u        /* fault / stale-hit lines each */
#define MAMV 9u                     /* page-selective invalidation up to 2^9 pages */
#define ND 6u                       /* 2^(4+2*6) = 65536 domains, as QEMU */
#define MAX_MSIS 4u
/* Where this model puts the registers CAP.FRO and ECAP.IRO point at (a choice). */
#define IOTLB_BASE 0x200u           /* IVA_REG and IOTLB_REG */
#define FRCD_BASE 0x220u            /* the one fault recording register (NFR = 0) */

struct ctx_ent {
	bool valid;
	uint16_t sid, did;
	uint8_t levels;             /* 3 (39-bit) or 4 (48-bit) */
	bool fpd;
	uint64_t slpt;
};

struct tlb_ent {
	bool valid;
	uint16_t did;
	uint8_t perm;               /* VTD_SL_R | VTD_SL_W; 0 = cached not-present (CM = 1) */
	uint64_t page;              /* iova >> 12 */
	uint64_t pa;                /* page frame address */
};

struct walk {
	uint8_t reason;             /* 0: walked (perm may be 0: not present) */
	uint8_t perm;
	uint64_t pa;
};

struct vtd_model {
	pthread_mutex_t lock;
	bool built;
	struct vtd_config cfg;
	const struct model_bus *bus;
	uint64_t cap, ecap;
	uint32_t gsts;
	uint64_t rtaddr, root_active;   /* RTADDR as written / as latched by SRTP */
	bool root_set;
	uint64_t ccmd, iotlb_reg, iva;
	uint32_t fsts, fectl, fedata, feaddr, feuaddr;
	uint64_t frcd_lo, frcd_hi;
	uint64_t iqh, iqt, iqa;
	uint32_t ics, iectl, iedata, ieaddr, ieuaddr;
	struct ctx_ent ctx[CTX_CACHE_SIZE];
	struct tlb_ent tlb[IOTLB_SIZE];
	struct vtd_model_stats st;
	unsigned logs, fault_logs, stale_logs;
	struct { uint64_t addr; uint32_t data; } out[MAX_MSIS];
	unsigned nout;
};

/* ---- helpers ------------------------------------------------------------------------ */

static void vlog_budget(struct vtd_model *vt, unsigned *used, unsigned budget, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void vlog_budget(struct vtd_model *vt, unsigned *used, unsigned budget, const char *fmt, ...)
{
	char msg[320];
	va_list ap;

	if (*used > budget)
		return;
	if ((*used)++ == budget) {
		vt->bus->log(vt->bus->ctx, "vtd: further lines of this kind are not logged");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vt->bus->log(vt->bus->ctx, "vtd: %s", msg);
}
#define vlog(...) vlog_budget(vt, &vt->logs, LOG_BUDGET, __VA_ARGS__)

/* Interrupt messages leave after the lock is dropped (the LAPIC model has its own). */
static void queue_msi(struct vtd_model *vt, uint64_t addr, uint32_t data)
{
	if (vt->nout == MAX_MSIS) {
		vlog("interrupt message to 0x%llx dropped: too many in one access (model bug)",
		     (unsigned long long)addr);
		return;
	}
	vt->out[vt->nout].addr = addr;
	vt->out[vt->nout++].data = data;
}

static void unlock_and_send(struct vtd_model *vt)
{
	struct { uint64_t addr; uint32_t data; } out[MAX_MSIS];
	unsigned n = vt->nout;

	memcpy(out, vt->out, sizeof(out));
	vt->nout = 0;
	pthread_mutex_unlock(&vt->lock);
	for (unsigned i = 0; i < n; i++)
		vt->bus->msi(vt->bus->ctx, out[i].addr, out[i].data);
}

/* ---- fault events (§7.3) ------------------------------------------------------------ */

/* Conditions that keep a fault event pending: PPF (any F bit), PFO, IQE, ICE, ITE. */
static bool fault_conditions(struct vtd_model *vt)
{
	return (vt->frcd_hi & VTD_FRCD_HI_F) ||
	       (vt->fsts & (VTD_FSTS_PFO | VTD_FSTS_IQE | VTD_FSTS_ICE | VTD_FSTS_ITE));
}

static void fault_event(struct vtd_model *vt)
{
	if (vt->fectl & VTD_FECTL_IM) {
		vt->fectl |= VTD_FECTL_IP;       /* sent when software unmasks */
		return;
	}
	vt->fectl &= ~VTD_FECTL_IP;
	vt->st.fault_msis++;
	queue_msi(vt, (uint64_t)vt->feuaddr << 32 | vt->feaddr, vt->fedata);
}

/* Software serviced every condition: a masked pending event is dropped (§7.3.1). */
static void fault_event_recheck(struct vtd_model *vt)
{
	if ((vt->fectl & VTD_FECTL_IP) && !fault_conditions(vt))
		vt->fectl &= ~VTD_FECTL_IP;
}

static void set_fsts_error(struct vtd_model *vt, uint32_t bit)
{
	bool had = fault_conditions(vt);

	vt->fsts |= bit;
	if (!had)
		fault_event(vt);
}

static void record_fault(struct vtd_model *vt, uint16_t sid, uint64_t iova, uint8_t reason, bool write, bool fpd)
{
	bool had;

	vt->st.faults++;
	if (fpd)
		return;                         /* context entry's FPD: not recorded (§9.3) */
	if (vt->frcd_hi & VTD_FRCD_HI_F) {
		/* The one recording register (NFR = 0) is full: overflow (§7.1.3). */
		vt->fsts |= VTD_FSTS_PFO;
		vt->st.overflows++;
		vlog_budget(vt, &vt->fault_logs, EVENT_LOG_BUDGET, "fault overflow (FSTS.PFO): sid 0x%04x "
		            "addr 0x%llx reason 0x%02x %s not recorded", sid, (unsigned long long)iova,
		            reason, write ? "write" : "read");
		return;
	}
	had = fault_conditions(vt);
	vt->frcd_lo = iova & ~0xFFFull;
	vt->frcd_hi = VTD_FRCD_HI_F | (write ? 0 : VTD_FRCD_HI_T) |
	             (uint64_t)reason << VTD_FRCD_HI_FR_SHIFT | sid;
	vt->st.faults_recorded++;
	vlog_budget(vt, &vt->fault_logs, EVENT_LOG_BUDGET, "fault recorded: sid 0x%04x addr 0x%llx "
	            "reason 0x%02x %s", sid, (unsigned long long)(iova & ~0xFFFull), reason,
	            write ? "write" : "read");
	if (!had)
		fault_event(vt);
}

/* ---- translation (§3.4, §9) --------------------------------------------------------- */

static unsigned ctx_slot(uint16_t sid)
{
	return (sid ^ (sid >> 8)) % CTX_CACHE_SIZE;
}

static unsigned tlb_slot(uint16_t did, uint64_t page)
{
	uint64_t h = page * 0x9E3779B97F4A7C15ull ^ did;

	return (unsigned)(h >> 40) % IOTLB_SIZE;
}

static bool mem_rd(struct vtd_model *vt, uint64_t pa, void *buf, unsigned len)
{
	return vt->bus->mem_read(vt->bus->ctx, pa, buf, len) == 0;
}

/* Fetch the context entry of sid from the tables (no cache). 0 or a fault reason. */
static uint8_t ctx_fetch(struct vtd_model *vt, uint16_t sid, struct ctx_ent *out)
{
	uint64_t re[2], ce[2];
	unsigned aw, tt;

	if (!vt->root_set || (vt->root_active >> VTD_RTADDR_TTM_SHIFT & 3))
		return VTD_FR_ROOT_TABLE;       /* no legacy-mode root table latched */
	if (!mem_rd(vt, (vt->root_active & ~0xFFFull) + (uint64_t)(sid >> 8) * 16, re, 16))
		return VTD_FR_ROOT_TABLE;
	if (!(re[0] & VTD_ROOT_P))
		return VTD_FR_ROOT_NOT_PRESENT;
	if ((re[0] & VTD_ROOT_LO_RSVD) || (re[0] & ~VTD_SL_ADDR & ~0xFFFull) || re[1])
		return VTD_FR_ROOT_RSVD;
	if (!mem_rd(vt, (re[0] & VTD_SL_ADDR) + (uint64_t)(sid & 0xFF) * 16, ce, 16))
		return VTD_FR_CTX_TABLE;
	if (!(ce[0] & VTD_CTX_P))
		return VTD_FR_CTX_NOT_PRESENT;
	if ((ce[0] & VTD_CTX_LO_RSVD) || (ce[0] & ~VTD_SL_ADDR & ~0xFFFull) ||
	    (ce[1] & VTD_CTX_HI_RSVD))
		return VTD_FR_CTX_RSVD;
	tt = (unsigned)(ce[0] >> VTD_CTX_TT_SHIFT) & 3;
	aw = (unsigned)(ce[1] & VTD_CTX_AW_MASK);
	*out = (struct ctx_ent){
		.valid = true, .sid = sid,
		.did = (uint16_t)(ce[1] >> VTD_CTX_DID_SHIFT),
		.levels = (uint8_t)(aw + 2), .fpd = (ce[0] & VTD_CTX_FPD) != 0,
		.slpt = ce[0] & VTD_SL_ADDR,
	};
	if (tt != 0) {
		vlog("context entry of sid 0x%04x: translation type %u needs ECAP.DT/PT, "
		     "which this unit does not offer", sid, tt);
		return VTD_FR_CTX_INV;
	}
	if (!((vt->cap >> VTD_CAP_SAGAW_SHIFT) & (1ull << aw))) {
		vlog("context entry of sid 0x%04x: AW %u is not in SAGAW 0x%llx", sid, aw,
		     (unsigned long long)((vt->cap >> VTD_CAP_SAGAW_SHIFT) & 0x1F));
		return VTD_FR_CTX_INV;
	}
	if (vt->cfg.caching_mode && out->did == 0) {
		vlog("context entry of sid 0x%04x: domain id 0 is reserved when CAP.CM = 1", sid);
		return VTD_FR_CTX_INV;
	}
	return 0;
}

/* Walk the second-level tables for iova (§3.6): the AND of R/W over every level.
 * perm 0 = not present. Never touches the caches or the fault record. */
static struct walk sl_walk(struct vtd_model *vt, const struct ctx_ent *c, uint64_t iova)
{
	struct walk w = { .perm = VTD_SL_R | VTD_SL_W };
	uint64_t table = c->slpt, pte;

	for (unsigned lvl = c->levels; lvl >= 1; lvl--) {
		unsigned idx = (unsigned)(iova >> (12 + 9 * (lvl - 1))) & 511;

		if (!mem_rd(vt, table + idx * 8ull, &pte, 8)) {
			w.reason = VTD_FR_SL_FETCH;
			return w;
		}
		if (!(pte & (VTD_SL_R | VTD_SL_W))) {
			w.perm = 0;
			return w;
		}
		/* Address bits above the 48-bit host width; PS with CAP.SLLPS = 0. */
		if ((pte & 0x000F000000000000ull) || (lvl > 1 && (pte & VTD_SL_PS))) {
			w.reason = VTD_FR_SL_RSVD;
			return w;
		}
		w.perm &= (uint8_t)(pte & (VTD_SL_R | VTD_SL_W));
		table = pte & VTD_SL_ADDR;
	}
	w.pa = table;
	return w;
}

/* Translate one page-contained access. 0 and *pa, or a fault reason; *fpd tells
 * whether the context entry suppresses recording. */
static uint8_t translate(struct vtd_model *vt, uint16_t sid, uint64_t iova, bool write, uint64_t *pa, bool *fpd)
{
	struct ctx_ent *cc = &vt->ctx[ctx_slot(sid)], c = { .valid = false };
	struct tlb_ent *t;
	struct walk w;
	uint64_t page = iova >> 12;
	uint8_t reason;

	*fpd = false;
	if (cc->valid && cc->sid == sid) {
		c = *cc;
		vt->st.ctx_hits++;
	} else {
		reason = ctx_fetch(vt, sid, &c);
		if (reason)
			return reason;              /* FPD counts only for a valid entry */
		*cc = c;                        /* only present, valid entries are cached */
	}
	*fpd = c.fpd;
	if (iova >> (c.levels == 3 ? 39 : 48))
		return VTD_FR_BEYOND_AW;
	t = &vt->tlb[tlb_slot(c.did, page)];
	if (t->valid && t->did == c.did && t->page == page) {
		vt->st.iotlb_hits++;
		/* Check only: is what the IOTLB serves still what the tables say? */
		w = sl_walk(vt, &c, iova);
		if (w.reason || w.perm != t->perm || (w.perm && w.pa != t->pa)) {
			vt->st.stale_iotlb_hits++;
			vlog_budget(vt, &vt->stale_logs, EVENT_LOG_BUDGET, "stale IOTLB translation used: "
			            "sid 0x%04x iova 0x%llx (domain %u: IOTLB pa 0x%llx perm %u, tables %s "
			            "pa 0x%llx perm %u)", sid, (unsigned long long)(page << 12), c.did,
			            (unsigned long long)t->pa, t->perm, w.reason ? "fault" : "now",
			            (unsigned long long)w.pa, w.perm);
		}
		w = (struct walk){ .perm = t->perm, .pa = t->pa };
	} else {
		vt->st.iotlb_misses++;
		w = sl_walk(vt, &c, iova);
		if (w.reason)
			return w.reason;
		/* Not-present entries are cached only in caching mode (CAP.CM, §6.1). */
		if (w.perm || vt->cfg.caching_mode)
			*t = (struct tlb_ent){ .valid = true, .did = c.did, .perm = w.perm,
			                       .page = page, .pa = w.pa };
	}
	if (!(w.perm & (write ? VTD_SL_W : VTD_SL_R)))
		return write ? VTD_FR_WRITE : VTD_FR_READ;
	*pa = w.pa | (iova & 0xFFF);
	return 0;
}

int vtd_model_dma(struct vtd_model *vt, uint16_t rid, uint64_t addr, void *buf, unsigned len,
                  bool write)
{
	uint8_t *p = buf;
	unsigned done = 0;
	int rc = 0;

	pthread_mutex_lock(&vt->lock);
	if (!(vt->gsts & VTD_GCMD_TE)) {
		const struct model_bus *b = vt->bus;

		pthread_mutex_unlock(&vt->lock);
		return write ? b->mem_write(b->ctx, addr, buf, len) : b->mem_read(b->ctx, addr, buf, len);
	}
	while (done < len) {
		uint64_t iova = addr + done, pa;
		unsigned chunk = 4096u - (unsigned)(iova & 0xFFF);
		uint8_t reason;
		bool fpd;

		if (chunk > len - done)
			chunk = len - done;
		vt->st.translations++;
		reason = translate(vt, rid, iova, write, &pa, &fpd);
		if (reason) {
			/* One fault per request; the rest of it is not performed either:
			 * reads see zeros, writes vanish (as QEMU's unassigned memory). */
			record_fault(vt, rid, iova, reason, write, fpd);
			if (!write)
				memset(p + done, 0, len - done);
			rc = -EFAULT;
			break;
		}
		if ((write ? vt->bus->mem_write(vt->bus->ctx, pa, p + done, chunk) :
		     vt->bus->mem_read(vt->bus->ctx, pa, p + done, chunk)))
			rc = -EFAULT;
		done += chunk;
	}
	unlock_and_send(vt);
	return rc;
}

/* ---- invalidation (§6.5) ------------------------------------------------------------ */

static void ctx_invalidate(struct vtd_model *vt, unsigned gran, uint16_t did, uint16_t sid, unsigned fm)
{
	/* FM: 0 none, 1..3 mask function bits 2, 2:1, 2:0 of the source id (§10.4.7). */
	uint16_t mask = (uint16_t)~((fm == 0) ? 0 : fm == 1 ? 4 : fm == 2 ? 6 : 7);

	for (unsigned i = 0; i < CTX_CACHE_SIZE; i++) {
		struct ctx_ent *c = &vt->ctx[i];
		if (!c->valid)
			continue;
		if (gran == VTD_GRAN_GLOBAL || (gran == VTD_GRAN_DOMAIN && c->did == did) ||
		    (gran == VTD_GRAN_DEVICE && (c->sid & mask) == (sid & mask)))
			c->valid = false;
	}
}

/* Returns the granularity actually done. */
static unsigned iotlb_invalidate(struct vtd_model *vt, unsigned gran, uint16_t did, uint64_t addr, unsigned am)
{
	uint64_t first = 0, n = 0;

	if (gran == VTD_GRAN_DEVICE) {
		if (am > MAMV) {
			vlog("page-selective invalidation with AM %u > MAMV %u: done domain-wide",
			     am, MAMV);
			gran = VTD_GRAN_DOMAIN;
		} else {
			n = 1ull << am;
			first = (addr >> 12) & ~(n - 1);   /* address bits below AM are ignored */
		}
	}
	for (unsigned i = 0; i < IOTLB_SIZE; i++) {
		struct tlb_ent *t = &vt->tlb[i];
		if (!t->valid)
			continue;
		if (gran == VTD_GRAN_GLOBAL || (gran == VTD_GRAN_DOMAIN && t->did == did) ||
		    (gran == VTD_GRAN_DEVICE && t->did == did && t->page - first < n))
			t->valid = false;
	}
	return gran;
}

static void ccmd_write(struct vtd_model *vt, uint64_t v)
{
	unsigned gran = (unsigned)(v >> VTD_CCMD_CIRG_SHIFT) & 3;

	vt->ccmd = v & ~(VTD_CCMD_ICC | 3ull << VTD_CCMD_CAIG_SHIFT);
	if (!(v & VTD_CCMD_ICC))
		return;
	if (vt->gsts & VTD_GCMD_QIE) {
		/* As QEMU: register-based invalidation is ignored while QI is on; the
		 * ICC bit clears with CAIG = 0 (not performed) so nobody spins. */
		vt->st.inval_reg_ignored++;
		vlog("context-cache invalidation through CCMD ignored: queued invalidation is enabled");
		return;
	}
	if (gran == 0) {
		vlog("CCMD invalidation with CIRG 0 (reserved): not performed");
		return;
	}
	ctx_invalidate(vt, gran, (uint16_t)v, (uint16_t)(v >> VTD_CCMD_SID_SHIFT),
	               (unsigned)(v >> VTD_CCMD_FM_SHIFT) & 3);
	vt->st.inval_reg++;
	vt->ccmd |= (uint64_t)gran << VTD_CCMD_CAIG_SHIFT;
}

static void iotlb_reg_write(struct vtd_model *vt, uint64_t v)
{
	unsigned gran = (unsigned)(v >> VTD_IOTLB_IIRG_SHIFT) & 3;

	vt->iotlb_reg = v & ~(VTD_IOTLB_IVT | 3ull << VTD_IOTLB_IAIG_SHIFT);
	if (!(v & VTD_IOTLB_IVT))
		return;
	if (vt->gsts & VTD_GCMD_QIE) {
		vt->st.inval_reg_ignored++;
		vlog("IOTLB invalidation through IOTLB_REG ignored: queued invalidation is enabled");
		return;
	}
	if (gran == 0) {
		vlog("IOTLB_REG invalidation with IIRG 0 (reserved): not performed");
		return;
	}
	gran = iotlb_invalidate(vt, gran, (uint16_t)(v >> VTD_IOTLB_DID_SHIFT), vt->iva & ~0xFFFull,
	                        (unsigned)(vt->iva & VTD_IVA_AM_MASK));
	vt->st.inval_reg++;
	vt->iotlb_reg |= (uint64_t)gran << VTD_IOTLB_IAIG_SHIFT;
}

static unsigned qi_entries(struct vtd_model *vt)
{
	return 256u << (vt->iqa & VTD_IQA_QS_MASK);
}

static void qi_error(struct vtd_model *vt, const char *why, uint64_t d0, uint64_t d1)
{
	vlog("invalidation queue error (FSTS.IQE) at head 0x%llx: %s (descriptor 0x%016llx "
	     "0x%016llx)", (unsigned long long)vt->iqh, why, (unsigned long long)d1,
	     (unsigned long long)d0);
	set_fsts_error(vt, VTD_FSTS_IQE);
}

/* One descriptor; false (IQE raised) when it is invalid. */
static bool qi_one(struct vtd_model *vt, uint64_t d0, uint64_t d1)
{
	unsigned type = (unsigned)(d0 & 0xF), gran = (unsigned)(d0 >> VTD_INV_G_SHIFT) & 3;

	if (d0 & (7ull << 9)) {
		qi_error(vt, "type bits 11:9 set (256-bit descriptor types need scalable mode)", d0, d1);
		return false;
	}
	switch (type) {
	case VTD_INV_CC:
		if ((d0 & 0xFFC0ull) || (d0 >> 50) || d1 || gran == 0) {
			qi_error(vt, "context-cache descriptor with reserved bits or granularity 0", d0, d1);
			return false;
		}
		ctx_invalidate(vt, gran, (uint16_t)(d0 >> VTD_INV_DID_SHIFT),
		               (uint16_t)(d0 >> VTD_INV_CC_SID_SHIFT), (unsigned)(d0 >> VTD_INV_CC_FM_SHIFT) & 3);
		break;
	case VTD_INV_IOTLB:
		if ((d0 & 0xFF00ull) || (d0 >> 32) || (d1 & 0xF80ull) || gran == 0) {
			qi_error(vt, "IOTLB descriptor with reserved bits or granularity 0", d0, d1);
			return false;
		}
		iotlb_invalidate(vt, gran, (uint16_t)(d0 >> VTD_INV_DID_SHIFT), d1 & ~0xFFFull,
		                 (unsigned)(d1 & VTD_INV_IOTLB_AM_MASK));
		break;
	case VTD_INV_WAIT:
		if ((d0 & 0xFFFFFF80ull) || (d1 & 3)) {
			qi_error(vt, "wait descriptor with reserved bits", d0, d1);
			return false;
		}
		if (d0 & VTD_INV_WAIT_SW) {
			uint32_t data = (uint32_t)(d0 >> VTD_INV_WAIT_DATA_SHIFT);
			if (vt->bus->mem_write(vt->bus->ctx, d1 & ~3ull, &data, 4))
				vlog("wait descriptor status write to 0x%llx: not RAM",
				     (unsigned long long)(d1 & ~3ull));
		}
		if ((d0 & VTD_INV_WAIT_IF) && !(vt->ics & VTD_ICS_IWC)) {
			vt->ics |= VTD_ICS_IWC;
			if (vt->iectl & VTD_IECTL_IM) {
				vt->iectl |= VTD_IECTL_IP;
			} else {
				vt->st.inval_msis++;
				queue_msi(vt, (uint64_t)vt->ieuaddr << 32 | vt->ieaddr, vt->iedata);
			}
		}
		break;
	default:
		qi_error(vt, type == 3 ? "device-TLB invalidation needs ECAP.DT" :
		         type == 4 ? "interrupt-entry-cache invalidation needs ECAP.IR" :
		         "unknown descriptor type", d0, d1);
		return false;
	}
	vt->st.inval_qi++;
	return true;
}

static void qi_run(struct vtd_model *vt)
{
	unsigned n = qi_entries(vt);

	if (!(vt->gsts & VTD_GCMD_QIE) || (vt->fsts & VTD_FSTS_IQE))
		return;
	if (vt->iqa & VTD_IQA_DW) {
		qi_error(vt, "IQA.DW = 1 (256-bit descriptors) needs scalable mode", 0, 0);
		return;
	}
	if ((vt->iqt >> 4) >= n) {
		qi_error(vt, "tail beyond the queue size", 0, 0);
		return;
	}
	while (vt->iqh != vt->iqt) {
		uint64_t d[2], at = (vt->iqa & ~0xFFFull) + vt->iqh;

		if (!mem_rd(vt, at, d, 16)) {
			qi_error(vt, "descriptor fetch outside RAM", 0, 0);
			return;
		}
		if (!qi_one(vt, d[0], d[1]))
			return;
		vt->iqh = (((vt->iqh >> 4) + 1) % n) << 4;
	}
}

/* ---- GCMD (§10.4.4) ----------------------------------------------------------------- */

static void gcmd_write(struct vtd_model *vt, uint32_t v)
{
	uint32_t persist = VTD_GCMD_TE | VTD_GCMD_QIE, dropped;

	if (v & (VTD_GCMD_SFL | VTD_GCMD_EAFL | VTD_GCMD_IRE | VTD_GCMD_SIRTP | VTD_GCMD_CFI))
		vlog("GCMD 0x%08x: SFL/EAFL/IRE/SIRTP/CFI are not offered by CAP/ECAP (ignored)", v);
	/* A write sets every persistent bit from the value: bits left out turn off. */
	dropped = vt->gsts & persist & ~v;
	if (dropped && ((v & (VTD_GCMD_SRTP | VTD_GCMD_WBF)) || (v & persist & ~vt->gsts)))
		vlog("GCMD 0x%08x turns off %s%s while setting other bits: write GSTS | bit", v,
		     dropped & VTD_GCMD_TE ? "TE " : "", dropped & VTD_GCMD_QIE ? "QIE" : "");
	if (v & VTD_GCMD_WBF)
		vlog("GCMD.WBF written but CAP.RWBF = 0: ignored");
	if (v & VTD_GCMD_SRTP) {
		vt->root_active = vt->rtaddr;
		vt->root_set = true;
		vt->gsts |= VTD_GCMD_SRTP;       /* RTPS */
		if (vt->rtaddr >> VTD_RTADDR_TTM_SHIFT & 3)
			vlog("root table pointer 0x%llx with TTM %llu: only legacy mode (00) is "
			     "offered; every DMA will fault", (unsigned long long)vt->rtaddr,
			     (unsigned long long)(vt->rtaddr >> VTD_RTADDR_TTM_SHIFT & 3));
	}
	if ((v & VTD_GCMD_QIE) && !(vt->gsts & VTD_GCMD_QIE)) {
		if (!(vt->ecap & VTD_ECAP_QI)) {
			vlog("GCMD.QIE set but ECAP.QI = 0: ignored");
		} else {
			vt->gsts |= VTD_GCMD_QIE;
			vt->iqh = 0;
			if (vt->iqt)
				vlog("queued invalidation enabled with IQT 0x%llx (software sets IQT 0 "
				     "first): processing from 0", (unsigned long long)vt->iqt);
			qi_run(vt);
		}
	} else if (!(v & VTD_GCMD_QIE) && (vt->gsts & VTD_GCMD_QIE)) {
		if (vt->iqh != vt->iqt)
			vlog("queued invalidation disabled with IQH 0x%llx != IQT 0x%llx",
			     (unsigned long long)vt->iqh, (unsigned long long)vt->iqt);
		vt->gsts &= ~VTD_GCMD_QIE;
		vt->iqh = 0;
	}
	if ((v & VTD_GCMD_TE) && !(vt->gsts & VTD_GCMD_TE)) {
		if (!vt->root_set)
			vlog("translation enabled before a root table pointer was set: every DMA "
			     "faults (reason 0x08)");
		vt->gsts |= VTD_GCMD_TE;
		vt->bus->log(vt->bus->ctx, "vtd: translation enabled (root table 0x%llx)",
		            (unsigned long long)vt->root_active);
	} else if (!(v & VTD_GCMD_TE) && (vt->gsts & VTD_GCMD_TE)) {
		vt->gsts &= ~VTD_GCMD_TE;
		vt->bus->log(vt->bus->ctx, "vtd: translation disabled");
	}
}

/* ---- registers ---------------------------------------------------------------------- */

static bool is64(uint64_t off)
{
	switch (off) {
	case VTD_REG_CAP: case VTD_REG_ECAP: case VTD_REG_RTADDR: case VTD_REG_CCMD:
	case VTD_REG_IQH: case VTD_REG_IQT: case VTD_REG_IQA: case IOTLB_BASE + VTD_IOTLB_IVA:
	case IOTLB_BASE + VTD_IOTLB_CMD: case FRCD_BASE: case FRCD_BASE + 8:
		return true;
	}
	return false;
}

static bool is32(uint64_t off)
{
	switch (off) {
	case VTD_REG_VER: case VTD_REG_GCMD: case VTD_REG_GSTS: case VTD_REG_FSTS:
	case VTD_REG_FECTL: case VTD_REG_FEDATA: case VTD_REG_FEADDR: case VTD_REG_FEUADDR:
	case VTD_REG_ICS: case VTD_REG_IECTL: case VTD_REG_IEDATA: case VTD_REG_IEADDR:
	case VTD_REG_IEUADDR:
		return true;
	}
	return false;
}

static uint64_t rd64(struct vtd_model *vt, uint64_t off)
{
	switch (off) {
	case VTD_REG_CAP: return vt->cap;
	case VTD_REG_ECAP: return vt->ecap;
	case VTD_REG_RTADDR: return vt->rtaddr;
	case VTD_REG_CCMD: return vt->ccmd;
	case VTD_REG_IQH: return vt->iqh;
	case VTD_REG_IQT: return vt->iqt;
	case VTD_REG_IQA: return vt->iqa;
	case IOTLB_BASE + VTD_IOTLB_IVA: return vt->iva;
	case IOTLB_BASE + VTD_IOTLB_CMD: return vt->iotlb_reg;
	case FRCD_BASE: return vt->frcd_lo;
	default: return vt->frcd_hi;
	}
}

static uint32_t rd32(struct vtd_model *vt, uint64_t off)
{
	switch (off) {
	case VTD_REG_VER: return 0x10;  /* 1.0 */
	case VTD_REG_GCMD: return 0;    /* write-only */
	case VTD_REG_GSTS: return vt->gsts;
	case VTD_REG_FSTS:              /* PPF mirrors the F bit; FRI is 0 (one register) */
		return vt->fsts | ((vt->frcd_hi & VTD_FRCD_HI_F) ? VTD_FSTS_PPF : 0);
	case VTD_REG_FECTL: return vt->fectl;
	case VTD_REG_FEDATA: return vt->fedata;
	case VTD_REG_FEADDR: return vt->feaddr;
	case VTD_REG_FEUADDR: return vt->feuaddr;
	case VTD_REG_ICS: return vt->ics;
	case VTD_REG_IECTL: return vt->iectl;
	case VTD_REG_IEDATA: return vt->iedata;
	case VTD_REG_IEADDR: return vt->ieaddr;
	default: return vt->ieuaddr;
	}
}

/* v: the register's new 64-bit image; hi: the upper half was written. */
static void wr64(struct vtd_model *vt, uint64_t off, uint64_t v, bool hi)
{
	switch (off) {
	case VTD_REG_CAP: case VTD_REG_ECAP: case VTD_REG_IQH: case FRCD_BASE:
		vt->st.bad_access++;
		vlog("write 0x%llx to read-only register 0x%03llx ignored", (unsigned long long)v,
		     (unsigned long long)off);
		break;
	case VTD_REG_RTADDR:
		vt->rtaddr = v & ~0x3FFull;
		break;
	case VTD_REG_CCMD:
		if (hi)
			ccmd_write(vt, v);
		else
			vt->ccmd = (vt->ccmd & ~0xFFFFFFFFull) | (v & 0xFFFFFFFFull);
		break;
	case IOTLB_BASE + VTD_IOTLB_CMD:
		if (hi)
			iotlb_reg_write(vt, v);
		else
			vt->iotlb_reg = (vt->iotlb_reg & ~0xFFFFFFFFull) | (v & 0xFFFFFFFFull);
		break;
	case IOTLB_BASE + VTD_IOTLB_IVA:
		vt->iva = v & ~0xF80ull;
		break;
	case VTD_REG_IQA:
		if (vt->gsts & VTD_GCMD_QIE)
			vlog("IQA written while queued invalidation is enabled");
		vt->iqa = v & (~0xFFFull | VTD_IQA_DW | VTD_IQA_QS_MASK);
		break;
	case VTD_REG_IQT:
		if (v & ~VTD_IQ_QPTR_MASK)
			vlog("IQT 0x%llx: bits outside 18:4 are reserved", (unsigned long long)v);
		vt->iqt = v & VTD_IQ_QPTR_MASK;
		qi_run(vt);
		break;
	default:                            /* FRCD upper half: F is RW1C, the rest RO */
		if (hi && (v & VTD_FRCD_HI_F)) {
			vt->frcd_hi &= ~VTD_FRCD_HI_F;
			fault_event_recheck(vt);
		}
		break;
	}
}

static void wr32(struct vtd_model *vt, uint64_t off, uint32_t v)
{
	switch (off) {
	case VTD_REG_VER: case VTD_REG_GSTS:
		vt->st.bad_access++;
		vlog("write 0x%x to read-only register 0x%03llx ignored", v, (unsigned long long)off);
		break;
	case VTD_REG_GCMD:
		gcmd_write(vt, v);
		break;
	case VTD_REG_FSTS: {
		bool iqe = vt->fsts & VTD_FSTS_IQE;
		vt->fsts &= ~(v & (VTD_FSTS_PFO | VTD_FSTS_IQE | VTD_FSTS_ICE | VTD_FSTS_ITE));
		fault_event_recheck(vt);
		if (iqe && !(vt->fsts & VTD_FSTS_IQE))
			qi_run(vt);                   /* fetching resumes at IQH */
		break;
	}
	case VTD_REG_FECTL:
		vt->fectl = (vt->fectl & VTD_FECTL_IP) | (v & VTD_FECTL_IM);
		if (!(v & VTD_FECTL_IM) && (vt->fectl & VTD_FECTL_IP))
			fault_event(vt);
		break;
	case VTD_REG_FEDATA: vt->fedata = v; break;
	case VTD_REG_FEADDR: vt->feaddr = v & ~3u; break;
	case VTD_REG_FEUADDR: vt->feuaddr = v; break;
	case VTD_REG_ICS:
		vt->ics &= ~(v & VTD_ICS_IWC);
		if (!(vt->ics & VTD_ICS_IWC))
			vt->iectl &= ~VTD_IECTL_IP;
		break;
	case VTD_REG_IECTL:
		vt->iectl = (vt->iectl & VTD_IECTL_IP) | (v & VTD_IECTL_IM);
		if (!(v & VTD_IECTL_IM) && (vt->iectl & VTD_IECTL_IP)) {
			vt->iectl &= ~VTD_IECTL_IP;
			vt->st.inval_msis++;
			queue_msi(vt, (uint64_t)vt->ieuaddr << 32 | vt->ieaddr, vt->iedata);
		}
		break;
	case VTD_REG_IEDATA: vt->iedata = v; break;
	case VTD_REG_IEADDR: vt->ieaddr = v & ~3u; break;
	default: vt->ieuaddr = v; break;
	}
}

static void bad(struct vtd_model *vt, const char *what, uint64_t off, unsigned size)
{
	vt->st.bad_access++;
	vlog("%s of %u bytes at offset 0x%03llx: not a register access §10.4 allows "
	     "(32-bit registers as DWORDs, 64-bit ones as DWORDs or QWORDs)", what, size,
	     (unsigned long long)off);
}

static uint64_t mmio_read(struct vtd_model *vt, uint64_t off, unsigned size)
{
	uint64_t v = ~0ull;

	pthread_mutex_lock(&vt->lock);
	if (size == 8 && is64(off))
		v = rd64(vt, off);
	else if (size == 4 && !(off & 3) && is64(off & ~7ull))
		v = (uint32_t)(rd64(vt, off & ~7ull) >> ((off & 4) * 8));
	else if (size == 4 && is32(off))
		v = rd32(vt, off);
	else if ((size == 4 || size == 8) && !(off & (size - 1)) && off < VTD_REG_SIZE)
		v = 0;                          /* reserved register: reads 0 */
	else
		bad(vt, "read", off, size);
	pthread_mutex_unlock(&vt->lock);
	return v;
}

static void mmio_write(struct vtd_model *vt, uint64_t off, unsigned size, uint64_t v)
{
	pthread_mutex_lock(&vt->lock);
	if (size == 8 && is64(off)) {
		wr64(vt, off, v, true);
	} else if (size == 4 && !(off & 3) && is64(off & ~7ull)) {
		uint64_t base = off & ~7ull, cur, img;
		unsigned sh = (unsigned)(off & 4) * 8;

		/* The other half as stored (no read side effects exist here). */
		cur = base == VTD_REG_CCMD ? vt->ccmd : base == IOTLB_BASE + VTD_IOTLB_CMD ? vt->iotlb_reg : rd64(vt, base);
		img = (cur & ~(0xFFFFFFFFull << sh)) | ((v & 0xFFFFFFFFull) << sh);
		wr64(vt, base, img, sh != 0);
	} else if (size == 4 && is32(off)) {
		wr32(vt, off, (uint32_t)v);
	} else if ((size == 4 || size == 8) && !(off & (size - 1)) && off < VTD_REG_SIZE) {
		vt->st.bad_access++;
		vlog("write 0x%llx to reserved offset 0x%03llx ignored", (unsigned long long)v,
		     (unsigned long long)off);
	} else {
		bad(vt, "write", off, size);
	}
	unlock_and_send(vt);
}

static uint64_t bus_read(void *ctx, uint64_t off, unsigned size)
{
	struct vtd_model *vt = ctx;

	return mmio_read(vt, off, size);
}

static void bus_write(void *ctx, uint64_t off, unsigned size, uint64_t v)
{
	struct vtd_model *vt = ctx;

	mmio_write(vt, off, size, v);
}

/* ---- life cycle --------------------------------------------------------------------- */

void vtd_model_destroy(struct vtd_model *vt)
{
	if (!vt)
		return;
	if (vt->built)
		vt->bus->mmio_release(vt->bus->ctx, vt->cfg.base);
	pthread_mutex_destroy(&vt->lock);
	free(vt);
}

int vtd_model_create(const struct vtd_config *cfg, const struct model_bus *bus,
                     struct vtd_model **out)
{
	struct vtd_model *vt;
	int err;

	if (!cfg || !out || !model_bus_valid(bus))
		return -EINVAL;
	vt = calloc(1, sizeof(*vt));
	if (!vt)
		return -ENOMEM;
	pthread_mutex_init(&vt->lock, NULL);
	vt->cfg = *cfg;
	if (!vt->cfg.base)
		vt->cfg.base = VTD_MODEL_BASE;
	if (vt->cfg.base & 0xFFF) {
		err = -EINVAL;
		goto out_free;
	}
	vt->bus = bus;
	vt->cap = (uint64_t)ND << VTD_CAP_ND_SHIFT |
	          (cfg->caching_mode ? VTD_CAP_CM : 0) |
	          (VTD_SAGAW_39 | VTD_SAGAW_48) << VTD_CAP_SAGAW_SHIFT |
	          47ull << VTD_CAP_MGAW_SHIFT |
	          (uint64_t)(FRCD_BASE / 16) << VTD_CAP_FRO_SHIFT |
	          VTD_CAP_PSI |
	          0ull << VTD_CAP_NFR_SHIFT |    /* one fault recording register */
	          (uint64_t)MAMV << VTD_CAP_MAMV_SHIFT;
	vt->ecap = (cfg->no_qi ? 0 : VTD_ECAP_QI) |
	           (uint64_t)(IOTLB_BASE / 16) << VTD_ECAP_IRO_SHIFT;
	vt->fectl = VTD_FECTL_IM;           /* reset values: events masked (§10.4.10) */
	vt->iectl = VTD_IECTL_IM;
	err = bus->mmio_claim(bus->ctx, vt->cfg.base, VTD_REG_SIZE, bus_read, bus_write, vt);
	if (err)
		goto out_free;
	vt->built = true;
	*out = vt;
	return 0;
out_free:
	pthread_mutex_destroy(&vt->lock);
	free(vt);
	return err;
}

void vtd_model_stats(struct vtd_model *vt, struct vtd_model_stats *out)
{
	pthread_mutex_lock(&vt->lock);
	*out = vt->st;
	pthread_mutex_unlock(&vt->lock);
}
