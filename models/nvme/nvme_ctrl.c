/*
 * nvme_ctrl.c — NVMe controller model, registers and bring-up (NVM Express 1.4
 * §3.1 controller registers, §7.6.1 initialization, §7.3.2 controller reset):
 * BAR0 decode, CC.EN 0->1 checks the admin queue setup (CSTS.RDY, else CSTS.CFS),
 * 1->0 resets (every I/O queue goes, outstanding commands are lost), shutdown
 * completes at once, INTMS/INTMC; the instances, their worker threads (free mode)
 * or the stepping entry points (deterministic mode, tests); the fault sites.
 */
#include "nvme/nvme_int.h"
#include "pci/pci_model_insts.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NVME_MAX_INSTANCES 8u
#define NVME_LOG_BUDGET 64u
#define NVME_FAULT_LOG_BUDGET 4u    /* lines per fault site and instance */
#define NVME_READY_TO 0x0Fu         /* 7.5 s to become ready (500 ms units) */

PCI_MODEL_INSTS_DEFINE(insts, NVME_MAX_INSTANCES);

void nvme_log(struct nvme_ctrl *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pci_model_inst_vlog(c->bus, c->name, &c->logged, NVME_LOG_BUDGET, fmt, ap);
	va_end(ap);
}

void nvme_fatal(struct nvme_ctrl *c, const char *why)
{
	c->csts |= NVME_CSTS_CFS;
	nvme_log(c, "controller fatal status (CSTS.CFS): %s", why);
}

static const char *const fault_names[NVME_FAULT_COUNT] = {
	[NVME_FAULT_CMD_TIMEOUT] = "nvme.cmd_timeout",
	[NVME_FAULT_CQE_DUPLICATE] = "nvme.cqe_duplicate",
	[NVME_FAULT_CQE_WRONG_CID] = "nvme.cqe_wrong_cid",
	[NVME_FAULT_CFS] = "nvme.cfs",
	[NVME_FAULT_MEDIA_ERROR] = "nvme.media_error",
	[NVME_FAULT_SLOW] = "nvme.slow",
};

const char *nvme_model_fault_name(enum nvme_model_fault f)
{
	return (unsigned)f < NVME_FAULT_COUNT ? fault_names[f] : "?";
}

bool nvme_fault(struct nvme_ctrl *c, enum nvme_model_fault f, uint16_t sqid, uint16_t cid)
{
	if (!c->bus->fault_site(c->bus->ctx, fault_names[f]))
		return false;
	c->st.faults[f]++;
	if (c->fault_logged[f] < NVME_FAULT_LOG_BUDGET) {
		c->fault_logged[f]++;
		c->bus->log(c->bus->ctx, "%s: fault site %s fired on SQ %u cid %u%s", c->name,
			    fault_names[f], sqid, cid,
			    c->fault_logged[f] == NVME_FAULT_LOG_BUDGET ? " (not logging more)" : "");
	}
	return true;
}

static uint64_t cap_value(void)
{
	return (uint64_t)NVME_MQES << NVME_CAP_MQES_SHIFT | NVME_CAP_CQR |
	       (uint64_t)NVME_READY_TO << NVME_CAP_TO_SHIFT | 0ull << NVME_CAP_DSTRD_SHIFT |
	       NVME_CAP_CSS_NVM | 0ull << NVME_CAP_MPSMIN_SHIFT | 0ull << NVME_CAP_MPSMAX_SHIFT;
}

bool nvme_ctrl_ready(const struct nvme_ctrl *c)
{
	return (c->csts & (NVME_CSTS_RDY | NVME_CSTS_CFS)) == NVME_CSTS_RDY;
}

/* ---- enable, reset, shutdown (§7.6.1, §7.3.2, §7.6.2) -------------------------------- */

/* Why the admin queue setup cannot be used, or NULL. */
static const char *admin_setup_error(const struct nvme_ctrl *c)
{
	uint32_t cc = c->cc;

	if ((cc >> NVME_CC_CSS_SHIFT & 7u) != 0)
		return "CC.CSS is not the NVM command set (the only one in CAP.CSS)";
	if ((cc >> NVME_CC_MPS_SHIFT & 0xFu) != 0)
		return "CC.MPS outside CAP.MPSMIN..MPSMAX (4 KiB only)";
	if ((cc >> NVME_CC_AMS_SHIFT & 7u) != 0)
		return "CC.AMS is not round robin (CAP.AMS offers no other)";
	if ((c->aqa & NVME_AQA_ASQS_MASK) == 0)
		return "AQA.ASQS is 0 (an admin SQ needs at least 2 entries)";
	if ((c->aqa >> NVME_AQA_ACQS_SHIFT & 0xFFFu) == 0)
		return "AQA.ACQS is 0 (an admin CQ needs at least 2 entries)";
	if (c->aqa & 0xF000F000u)
		return "AQA reserved bits set";
	if (c->asq == 0 || (c->asq & (NVME_PAGE - 1)))
		return "ASQ is 0 or not 4 KiB aligned";
	if (c->acq == 0 || (c->acq & (NVME_PAGE - 1)))
		return "ACQ is 0 or not 4 KiB aligned";
	return NULL;
}

static void ctrl_enable(struct nvme_ctrl *c)
{
	const char *why = admin_setup_error(c);

	if (why) {
		c->st.enable_failures++;
		c->csts |= NVME_CSTS_CFS;
		nvme_log(c, "enable refused (CSTS.CFS set): %s", why);
		return;
	}
	if (c->bus->fault_site(c->bus->ctx, "nvme.never_ready")) {
		nvme_log(c, "fault site nvme.never_ready: CSTS.RDY stays 0");
		return;     /* test site (docs/sim.md): this enable never completes */
	}
	nvme_queues_admin(c);
	c->st.enables++;
	c->csts |= NVME_CSTS_RDY;
}

static void ctrl_reset(struct nvme_ctrl *c)
{
	nvme_queues_reset(c);
	nvme_admin_reset(c);
	c->intms = 0;
	c->csts = 0;        /* RDY, CFS and SHST clear; AQA/ASQ/ACQ are kept (§7.3.2) */
	c->st.resets++;
}

static void cc_write(struct nvme_ctrl *c, uint32_t v)
{
	uint32_t old = c->cc;
	const uint32_t fixed_while_on = (7u << NVME_CC_CSS_SHIFT) | (0xFu << NVME_CC_MPS_SHIFT) |
					(7u << NVME_CC_AMS_SHIFT);

	if (v & NVME_CC_RSVD) {
		c->st.bad_access++;
		nvme_log(c, "CC write 0x%08x sets reserved bits; ignored", v);
		v &= ~NVME_CC_RSVD;
	}
	if ((old & NVME_CC_EN) && (v & NVME_CC_EN) && ((old ^ v) & fixed_while_on)) {
		c->st.bad_access++;
		nvme_log(c, "CC.CSS/MPS/AMS changed while CC.EN=1; kept");
		v = (v & ~fixed_while_on) | (old & fixed_while_on);
	}
	c->cc = v;
	if (!(old & NVME_CC_EN) && (v & NVME_CC_EN)) {
		ctrl_enable(c);
	} else if ((old & NVME_CC_EN) && !(v & NVME_CC_EN)) {
		ctrl_reset(c);
		c->cc = v;
	}
	/* Shutdown: nothing is in flight between MMIO accesses, so it completes now. */
	if (v >> NVME_CC_SHN_SHIFT & 3u)
		c->csts = (c->csts & ~(3u << NVME_CSTS_SHST_SHIFT)) | NVME_CSTS_SHST_DONE;
	else
		c->csts &= ~(3u << NVME_CSTS_SHST_SHIFT);
}

/* ---- BAR0 decode (§3.1) ---------------------------------------------------------------- */

static bool is_reg64(uint64_t off)
{
	return off == NVME_REG_CAP || off == NVME_REG_ASQ || off == NVME_REG_ACQ;
}

/* Registers are read/written as aligned dwords, the 64-bit ones also as qwords. */
static bool access_ok(uint64_t off, unsigned size)
{
	if (size == 4)
		return (off & 3) == 0;
	return size == 8 && is_reg64(off);
}

static uint64_t reg_read64(struct nvme_ctrl *c, uint64_t off)
{
	switch (off) {
	case NVME_REG_CAP: return cap_value();
	case NVME_REG_ASQ: return c->asq;
	case NVME_REG_ACQ: return c->acq;
	}
	return 0;
}

static uint64_t nvme_read(void *ctx, unsigned bar, uint64_t off, unsigned size)
{
	struct nvme_ctrl *c = ctx;
	uint64_t v = 0;

	pthread_mutex_lock(&c->lock);
	if (bar != 0 || !access_ok(off, size)) {
		c->st.bad_access++;
		nvme_log(c, "read of size %u at BAR%u+0x%llx: not an aligned register access",
			 size, bar, (unsigned long long)off);
		v = ~0ull;
		goto out;
	}
	if (off >= NVME_REG_DBS) {
		c->st.bad_access++;
		nvme_log(c, "read of doorbell/unused BAR0+0x%llx (doorbells are write-only)",
			 (unsigned long long)off);
		goto out;
	}
	if (size == 8) {
		v = reg_read64(c, off);
		goto out;
	}
	switch (off) {
	case NVME_REG_CAP: case NVME_REG_CAP + 4:
	case NVME_REG_ASQ: case NVME_REG_ASQ + 4:
	case NVME_REG_ACQ: case NVME_REG_ACQ + 4:
		v = reg_read64(c, off & ~7ull) >> ((off & 4) * 8) & 0xffffffffu;
		break;
	case NVME_REG_VS: v = NVME_VS_1_4; break;
	case NVME_REG_INTMS: case NVME_REG_INTMC: v = c->intms; break;
	case NVME_REG_CC: v = c->cc; break;
	case NVME_REG_CSTS: v = c->csts; break;
	case NVME_REG_AQA: v = c->aqa; break;
	default: v = 0; break;  /* NSSR (unsupported), CMB, BP, reserved: 0 */
	}
out:
	pthread_mutex_unlock(&c->lock);
	return size < 8 ? v & ((1ull << (size * 8)) - 1) : v;
}

/* A 32-bit half or a whole 64-bit base address register, writable while disabled. */
static void addr_write(struct nvme_ctrl *c, uint64_t *reg, uint64_t off, unsigned size,
		       uint64_t v)
{
	if (size == 8)
		*reg = v;
	else if (off & 4)
		*reg = (*reg & 0xffffffffull) | (v << 32);
	else
		*reg = (*reg & ~0xffffffffull) | (v & 0xffffffffull);
}

static void nvme_write(void *ctx, unsigned bar, uint64_t off, unsigned size, uint64_t v)
{
	struct nvme_ctrl *c = ctx;
	uint32_t old;

	pthread_mutex_lock(&c->lock);
	if (bar != 0 || !access_ok(off, size)) {
		c->st.bad_access++;
		nvme_log(c, "write of size %u at BAR%u+0x%llx: not an aligned register access",
			 size, bar, (unsigned long long)off);
		goto out;
	}
	if (off >= NVME_REG_DBS) {
		if (off < NVME_DB_END) {
			nvme_doorbell(c, off, (uint32_t)v);
		} else {
			c->st.bad_access++;
			nvme_log(c, "write to unused BAR0+0x%llx", (unsigned long long)off);
		}
		goto out;
	}
	switch (off) {
	case NVME_REG_INTMS:
		old = c->intms;
		c->intms |= (uint32_t)v;
		nvme_irq_mask_changed(c, old);
		break;
	case NVME_REG_INTMC:
		old = c->intms;
		c->intms &= ~(uint32_t)v;
		nvme_irq_mask_changed(c, old);
		break;
	case NVME_REG_CC:
		cc_write(c, (uint32_t)v);
		if (c->threaded)
			pthread_cond_signal(&c->work);
		break;
	case NVME_REG_AQA:
	case NVME_REG_ASQ: case NVME_REG_ASQ + 4:
	case NVME_REG_ACQ: case NVME_REG_ACQ + 4:
		if (c->cc & NVME_CC_EN) {
			c->st.bad_access++;
			nvme_log(c, "admin queue register 0x%llx written while CC.EN=1; ignored",
				 (unsigned long long)off);
			break;
		}
		if (off == NVME_REG_AQA)
			c->aqa = (uint32_t)v;
		else if ((off & ~7ull) == NVME_REG_ASQ)
			addr_write(c, &c->asq, off, size, v);
		else
			addr_write(c, &c->acq, off, size, v);
		break;
	default:
		c->st.bad_access++;
		nvme_log(c, "write 0x%llx to read-only/unsupported register 0x%llx; ignored",
			 (unsigned long long)v, (unsigned long long)off);
		break;
	}
out:
	pthread_mutex_unlock(&c->lock);
}

/* ---- instances ----------------------------------------------------------------------- */

static void *worker(void *arg)
{
	struct nvme_ctrl *c = arg;

	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		uint64_t due;

		if (nvme_step(c))
			continue;
		due = nvme_next_due(c);
		if (due == UINT64_MAX) {
			pthread_cond_wait(&c->work, &c->lock);
		} else {
			/* Held work falls due later: sleep until then (bus time is
			 * CLOCK_MONOTONIC based in free mode) or until a doorbell. */
			uint64_t now = c->bus->now_ns(c->bus->ctx), wait = due > now ? due - now : 0;
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)(wait / 1000000000ull);
			ts.tv_nsec += (long)(wait % 1000000000ull);
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&c->work, &c->lock, &ts);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static int attach(void *inst, unsigned idx)
{
	struct nvme_ctrl *c = inst;

	c->index = idx;
	return pci_model_add(c->bus_index, c->dev, 0, &c->desc, &c->fn);
}

static void destroy(struct nvme_ctrl *c)
{
	model_store_close(&c->store);
	pthread_cond_destroy(&c->work);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static const char *config_error(const struct nvme_model_config *k)
{
	if (k->ns < 1 || k->ns > NVME_MODEL_NS_MAX)
		return "namespaces outside 1..16";
	if (k->queues < 1 || k->queues > NVME_MODEL_QUEUES_MAX)
		return "queues outside 1..64";
	if (k->lbads != 9 && k->lbads != 12)
		return "block size not 512 or 4096 bytes";
	if (k->mdts < 1 || k->mdts > NVME_MDTS_MAX)
		return "MDTS outside 1..9";
	if (k->size / k->ns >> k->lbads == 0)
		return "a namespace smaller than one block";
	return NULL;
}

int nvme_model_add_cfg(uint8_t bus_index, uint8_t dev, const struct nvme_model_config *cfg,
		       const struct model_bus *bus)
{
	struct nvme_model_config k = cfg ? *cfg : (struct nvme_model_config){ 0 };
	struct nvme_ctrl *c;
	const char *why;
	uint64_t per_ns;
	pthread_condattr_t ca;
	int err;

	if (!model_bus_valid(bus))
		return -EINVAL;
	if (!k.size)
		k.size = NVME_MODEL_NS_BYTES;
	if (!k.ns)
		k.ns = 1;
	if (!k.queues)
		k.queues = NVME_MODEL_QUEUES_DEFAULT;
	if (!k.lbads)
		k.lbads = 9;
	if (!k.mdts)
		k.mdts = NVME_MODEL_MDTS_DEFAULT;
	why = config_error(&k);
	if (why) {
		bus->log(bus->ctx, "nvme@b%u:%02x: bad configuration: %s", bus_index, dev, why);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->work, &ca);
	pthread_condattr_destroy(&ca);
	c->bus = bus;
	c->bus_index = bus_index;
	c->dev = dev;
	c->queues = k.queues;
	c->mdts = k.mdts;
	c->lbads = k.lbads;
	c->nn = k.ns;
	per_ns = (k.size / k.ns) >> k.lbads;
	for (unsigned i = 0; i < k.ns; i++)
		c->ns[i] = (struct nvme_ns){ .blocks = per_ns, .off = (uint64_t)i * (per_ns << k.lbads) };
	snprintf(c->name, sizeof(c->name), "nvme@b%u:%02x", bus_index, dev);
	err = model_store_open(&c->store, k.path, per_ns * k.ns << k.lbads);
	if (err) {
		c->store.fd = -1;
		destroy(c);
		return err;
	}
	c->desc = (struct pci_model_desc){
		.name = "nvme",
		.vendor = 0x1b36, .device = 0x0010,             /* QEMU's NVMe controller ids */
		.subsys_vendor = 0x1af4, .subsys_id = 0x1100,
		.class_code = 0x010802, .revision = 0x02,       /* mass storage, NVM, NVMe I/O */
		.irq_pin = 1,
		.pcie = true,
		.bar[0] = { .size = NVME_BAR0_SIZE, .flags = PCI_MODEL_BAR_MEM64 },
		.msix = true, .msix_table_size = NVME_MSIX_VECTORS,
		.msix_table_bar = 0, .msix_pba_bar = 0,
		.msix_table_off = NVME_MSIX_TABLE_OFF, .msix_pba_off = NVME_MSIX_PBA_OFF,
		.bar_read = nvme_read, .bar_write = nvme_write, .ctx = c,
	};
	nvme_admin_reset(c);
	err = pci_model_insts_add(&insts, c, attach);
	if (err) {
		destroy(c);
		return err;
	}
	if (k.threaded) {
		pthread_mutex_lock(&c->lock);
		c->threaded = pthread_create(&c->thread, NULL, worker, c) == 0;
		pthread_mutex_unlock(&c->lock);
		if (!c->threaded)
			bus->fatal(bus->ctx, "%s: cannot create the worker thread", c->name);
	}
	return 0;
}

int nvme_model_add(uint8_t bus_index, uint8_t dev, const struct model_bus *bus)
{
	return nvme_model_add_cfg(bus_index, dev, NULL, bus);
}

static struct nvme_ctrl *inst(unsigned idx)
{
	return pci_model_insts_get(&insts, idx);
}

unsigned nvme_model_count(void)
{
	unsigned n = 0;

	while (inst(n))
		n++;
	return n;
}

bool nvme_model_has_work(void)
{
	struct nvme_ctrl *c;
	bool any = false;

	for (unsigned i = 0; !any && (c = inst(i)) != NULL; i++) {
		if (c->threaded)
			continue;
		/* No lock: without a worker thread (det mode) only the CPU holding the
		 * baton runs, and the baton's hand-off orders every earlier access. The
		 * engine asks this at every switch point, where a lock pair was half the
		 * cost of a det run. */
		any = nvme_has_work(c);
	}
	return any;
}

bool nvme_model_step(void)
{
	static unsigned next;           /* round robin over instances */
	unsigned n = nvme_model_count();

	for (unsigned k = 0; k < n; k++) {
		struct nvme_ctrl *c = inst((next + k) % n);
		bool did;

		if (!c || c->threaded)
			continue;
		pthread_mutex_lock(&c->lock);
		did = nvme_step(c);
		pthread_mutex_unlock(&c->lock);
		if (did) {
			next = (next + k + 1) % n;
			return true;
		}
	}
	return false;
}

uint64_t nvme_model_next_event_ns(void)
{
	struct nvme_ctrl *c;
	uint64_t next = UINT64_MAX;

	for (unsigned i = 0; (c = inst(i)) != NULL; i++) {
		uint64_t t;

		if (c->threaded)
			continue;
		pthread_mutex_lock(&c->lock);
		t = nvme_next_due(c);
		pthread_mutex_unlock(&c->lock);
		if (t < next)
			next = t;
	}
	return next;
}

int nvme_model_stats(unsigned idx, struct nvme_model_stats *out)
{
	struct nvme_ctrl *c = inst(idx);

	if (!c)
		return -ENOENT;
	pthread_mutex_lock(&c->lock);
	*out = c->st;
	out->csts = c->csts;
	out->intms = c->intms;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int nvme_model_fault_cfs(unsigned idx)
{
	struct nvme_ctrl *c = inst(idx);

	if (!c)
		return -ENOENT;
	pthread_mutex_lock(&c->lock);
	c->csts |= NVME_CSTS_CFS;
	nvme_log(c, "fault injected: controller fatal status");
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int nvme_model_ns_access(unsigned idx, uint32_t nsid, uint64_t lba, void *buf, uint32_t count,
			 bool write)
{
	struct nvme_ctrl *c = inst(idx);
	const struct nvme_ns *ns;
	int err;

	if (!c || nsid == 0 || nsid > c->nn)
		return -ENOENT;
	ns = &c->ns[nsid - 1];
	if (lba > ns->blocks || count > ns->blocks - lba)
		return -ERANGE;
	pthread_mutex_lock(&c->lock);
	err = write ? model_store_write(&c->store, ns->off + (lba << c->lbads), buf,
				       (uint64_t)count << c->lbads)
		    : model_store_read(&c->store, ns->off + (lba << c->lbads), buf,
				      (uint64_t)count << c->lbads);
	pthread_mutex_unlock(&c->lock);
	return err ? -EIO : 0;
}

static void release(void *p)
{
	struct nvme_ctrl *c = p;

	if (c->threaded) {
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		pthread_cond_signal(&c->work);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
	}
	destroy(c);
}

void nvme_model_reset(void)
{
	pci_model_insts_clear(&insts, release);
}
