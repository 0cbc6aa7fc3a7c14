/*
 * nvme_ctrl.c — NVMe controller model, registers and bring-up (NVM Express 1.4
 * §3.1 controller registers, §7.6.1 initialization, §7.3.2 controller reset):
 * BAR0 decode, CC.EN 0->1 checks the admin queue setup (CSTS.RDY, else CSTS.CFS),
 * 1->0 resets, shutdown completes at once, INTMS/INTMC. Everything runs inside the
 * MMIO callback: the deterministic mode has no device threads.
 */
#include "nvme/nvme_int.h"
#include "pci/pci_model_insts.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NVME_MAX_INSTANCES 8u
#define NVME_LOG_BUDGET 64u
#define NVME_READY_TO 0x0Fu         /* 7.5 s to become ready (500 ms units) */

PCI_MODEL_INSTS_DEFINE(insts, NVME_MAX_INSTANCES);

void nvme_log(struct nvme_ctrl *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pci_model_inst_vlog(c->bus, c->name, &c->logged, NVME_LOG_BUDGET, fmt, ap);
	va_end(ap);
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

static int attach(void *inst, unsigned idx)
{
	struct nvme_ctrl *c = inst;

	c->index = idx;
	return pci_model_add(c->bus_index, c->dev, 0, &c->desc, &c->fn);
}

int nvme_model_add(uint8_t bus_index, uint8_t dev, const struct model_bus *bus)
{
	struct nvme_ctrl *c;
	int err;

	if (!model_bus_valid(bus))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->bus = bus;
	c->bus_index = bus_index;
	c->dev = dev;
	snprintf(c->name, sizeof(c->name), "nvme@b%u:%02x", bus_index, dev);
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
		pthread_mutex_destroy(&c->lock);
		free(c);
	}
	return err;
}

static struct nvme_ctrl *inst(unsigned idx)
{
	return pci_model_insts_get(&insts, idx);
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

static void release(void *inst)
{
	struct nvme_ctrl *c = inst;

	pthread_mutex_destroy(&c->lock);
	free(c);
}

void nvme_model_reset(void)
{
	pci_model_insts_clear(&insts, release);
}
