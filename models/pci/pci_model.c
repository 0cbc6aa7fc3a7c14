/*
 * pci_model.c — the simulated PCIe fabric's buses and config routing: the ECAM
 * window (PCIe Base 4.0 §7.2.2: bus 27:20, device 19:15, function 14:12, register
 * 11:0), the legacy CONFIG_ADDRESS/CONFIG_DATA ports 0xCF8/0xCFC (PCI Local Bus 3.0
 * §3.2.2.3.2), type 1 forwarding through bridges by secondary/subordinate bus number
 * (PCI-to-PCI Bridge 1.2 §3.2.5.3), endpoint/bridge registration and the lspci-format
 * config dump. Everything runs synchronously on the accessing CPU (docs/pci.md).
 */
#include "pci/pci_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pci_fabric pci_fab = { .lock = PTHREAD_MUTEX_INITIALIZER };


void pcim_log(struct pci_model_fn *f, const char *fmt, ...)
{
	char buf[400];
	va_list ap;
	unsigned *n = f ? &f->logs : &pci_fab.logs;
	unsigned max = f ? PCI_MODEL_LOG_MAX : 4 * PCI_MODEL_LOG_MAX;
	unsigned seen;

	/* Some callers hold the fabric lock, some do not: count atomically. */
	if (!pci_fab.mbus || (seen = __atomic_add_fetch(n, 1, __ATOMIC_RELAXED)) > max)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (f)
		pci_fab.mbus->log(pci_fab.mbus->ctx, "pci: %s (bus index %u %02x.%u): %s%s",
		                  f->d.name ? f->d.name : "?", f->bus_index, f->dev, f->fn, buf,
		                  seen == max ? " (further lines about it are not logged)" : "");
	else
		pci_fab.mbus->log(pci_fab.mbus->ctx, "pci: %s%s", buf,
		                  seen == max ? " (further lines are not logged)" : "");
}

/* ---- routing ------------------------------------------------------------------------- */

/* The function a type 0/1 config cycle to bus/dev/fn reaches, or NULL (master abort).
 * *via: the last bridge the cycle went through (NULL on the root bus). */
static struct pci_model_fn *route(unsigned bus, unsigned dev, unsigned fn,
                                  struct pci_model_fn **via)
{
	struct pbus *b = &pci_fab.bus[0];

	*via = NULL;
	if (bus == 0)
		return b->slot[dev][fn];
	for (;;) {
		struct pci_model_fn *br = NULL;
		unsigned sec = 0;

		for (unsigned d = 0; d < 32 && !br; d++) {
			for (unsigned fi = 0; fi < 8; fi++) {
				struct pci_model_fn *f = b->slot[d][fi];
				unsigned s, u;
				if (!f || f->kind != FN_BRIDGE || f->vanished)
					continue;
				s = f->cfg[PCI_SECONDARY_BUS];
				u = f->cfg[PCI_SUBORDINATE_BUS];
				/* Bus 0 is the root bus: a secondary of 0 is an unassigned bridge. */
				if (s != 0 && s <= bus && bus <= u) {
					br = f;
					sec = s;
					break;
				}
			}
		}
		if (!br)
			return NULL;
		*via = br;
		b = &pci_fab.bus[br->sec_index];
		if (bus == sec) {
			/* Type 1 -> type 0 on the secondary side. The bridge is a PCIe root port:
			 * its link leads to device 0 only (PCIe 4.0 §7.3.1, no ARI). */
			return dev == 0 ? b->slot[dev][fn] : NULL;
		}
	}
}

static void master_abort(struct pci_model_fn *via)
{
	/* A type 0 cycle nobody claimed on the bridge's secondary side: the bridge
	 * records Received Master Abort in its Secondary Status (Bridge 1.2 §3.2.5.7). */
	if (via) {
		uint16_t s = (uint16_t)cfg_get(via->cfg, PCI_SEC_STATUS, 2);
		cfg_put(via->cfg, PCI_SEC_STATUS, 2, s | PCI_STATUS_REC_MASTER_ABORT);
	}
}

static uint32_t config_read(unsigned bus, unsigned dev, unsigned fn, unsigned reg, unsigned size)
{
	struct pci_model_fn *via, *f = route(bus, dev, fn, &via);

	if (!f) {
		master_abort(via);
		return size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
	}
	return pcim_cfg_read(f, reg, size, true);
}

static void config_write(unsigned bus, unsigned dev, unsigned fn, unsigned reg, unsigned size,
                         uint32_t v)
{
	struct pci_model_fn *via, *f = route(bus, dev, fn, &via);

	if (!f) {
		master_abort(via);
		return;
	}
	pcim_cfg_write(f, reg, size, v);
}

/* ---- ECAM ----------------------------------------------------------------------------- */

static bool ecam_access_ok(uint64_t off, unsigned size)
{
	if (size == 8) {
		/* PCIe 4.0 §7.2.2.2: a Root Complex need not support config requests wider
		 * than a DW; ours does not (the kernel must split). */
		pcim_log(NULL, "8-byte ECAM access at offset 0x%llx: not supported (PCIe 4.0 "
		         "§7.2.2.2, use 4-byte accesses); reads all ones, writes dropped",
		         (unsigned long long)off);
		return false;
	}
	return size == 1 || size == 2 || size == 4;
}

static uint64_t ecam_read(void *ctx, uint64_t off, unsigned size)
{
	uint64_t a = off + (uint64_t)pci_fab.cfg.bus_start * PCI_ECAM_BUS_SIZE;
	uint64_t v;

	(void)ctx;
	if (!ecam_access_ok(off, size))
		return ~0ull;
	pthread_mutex_lock(&pci_fab.lock);
	v = config_read((unsigned)(a >> PCI_ECAM_BUS_SHIFT) & 0xFF, (unsigned)(a >> PCI_ECAM_DEV_SHIFT) & 31,
	                (unsigned)(a >> PCI_ECAM_FN_SHIFT) & 7, (unsigned)a & PCI_ECAM_REG_MASK, size);
	pthread_mutex_unlock(&pci_fab.lock);
	return v;
}

static void ecam_write(void *ctx, uint64_t off, unsigned size, uint64_t v)
{
	uint64_t a = off + (uint64_t)pci_fab.cfg.bus_start * PCI_ECAM_BUS_SIZE;

	(void)ctx;
	if (!ecam_access_ok(off, size))
		return;
	pthread_mutex_lock(&pci_fab.lock);
	config_write((unsigned)(a >> PCI_ECAM_BUS_SHIFT) & 0xFF, (unsigned)(a >> PCI_ECAM_DEV_SHIFT) & 31,
	             (unsigned)(a >> PCI_ECAM_FN_SHIFT) & 7, (unsigned)a & PCI_ECAM_REG_MASK, size,
	             (uint32_t)v);
	pthread_mutex_unlock(&pci_fab.lock);
}

/* ---- 0xCF8 / 0xCFC ---------------------------------------------------------------------- */

static uint64_t cf8_read(void *ctx, uint64_t off, unsigned size)
{
	uint32_t v;

	(void)ctx;
	if (off != 0 || size != 4) {
		/* PCI 3.0 §3.2.2.3.2: only a DWORD access is CONFIG_ADDRESS; narrower ones
		 * are ordinary I/O, and nothing else answers there. */
		pcim_log(NULL, "%u-byte read of port 0x%llx: CONFIG_ADDRESS is a 32-bit port "
		         "(reads all ones)", size, (unsigned long long)(PCI_CONF_ADDR + off));
		return ~0ull;
	}
	pthread_mutex_lock(&pci_fab.lock);
	v = pci_fab.cf8;
	pthread_mutex_unlock(&pci_fab.lock);
	return v;
}

static void cf8_write(void *ctx, uint64_t off, unsigned size, uint64_t v)
{
	(void)ctx;
	if (off != 0 || size != 4) {
		pcim_log(NULL, "%u-byte write of 0x%llx to port 0x%llx: CONFIG_ADDRESS is a 32-bit "
		         "port (ignored)", size, (unsigned long long)v,
		         (unsigned long long)(PCI_CONF_ADDR + off));
		return;
	}
	pthread_mutex_lock(&pci_fab.lock);
	pci_fab.cf8 = (uint32_t)v & PCI_CONF_ADDR_MASK;
	pthread_mutex_unlock(&pci_fab.lock);
}

static bool cfc_ok(uint64_t off, unsigned size)
{
	return (size == 1 || size == 2 || size == 4) && (off & (size - 1)) == 0 && off + size <= 4;
}

static uint64_t cfc_read(void *ctx, uint64_t off, unsigned size)
{
	uint32_t a, v = ~0u;

	(void)ctx;
	if (!cfc_ok(off, size)) {
		pcim_log(NULL, "%u-byte read of port 0x%llx: misaligned CONFIG_DATA access (reads "
		         "all ones)", size, (unsigned long long)(PCI_CONF_DATA + off));
		return ~0ull;
	}
	pthread_mutex_lock(&pci_fab.lock);
	a = pci_fab.cf8;
	if (a & PCI_CONF_ENABLE)
		v = config_read((a >> PCI_CONF_BUS_SHIFT) & 0xFF, (a >> PCI_CONF_DEV_SHIFT) & 31,
		                (a >> PCI_CONF_FN_SHIFT) & 7, (a & PCI_CONF_REG_MASK) + (unsigned)off, size);
	/* Enable clear: not a config cycle, plain I/O that nothing claims. */
	pthread_mutex_unlock(&pci_fab.lock);
	return size == 4 ? v : v & ((1u << (8 * size)) - 1);
}

static void cfc_write(void *ctx, uint64_t off, unsigned size, uint64_t v)
{
	uint32_t a;

	(void)ctx;
	if (!cfc_ok(off, size)) {
		pcim_log(NULL, "%u-byte write of port 0x%llx: misaligned CONFIG_DATA access "
		         "(ignored)", size, (unsigned long long)(PCI_CONF_DATA + off));
		return;
	}
	pthread_mutex_lock(&pci_fab.lock);
	a = pci_fab.cf8;
	if (a & PCI_CONF_ENABLE)
		config_write((a >> PCI_CONF_BUS_SHIFT) & 0xFF, (a >> PCI_CONF_DEV_SHIFT) & 31,
		             (a >> PCI_CONF_FN_SHIFT) & 7, (a & PCI_CONF_REG_MASK) + (unsigned)off, size,
		             (uint32_t)v);
	pthread_mutex_unlock(&pci_fab.lock);
}

/* ---- building the fabric ----------------------------------------------------------------- */

static void teardown(void)
{
	pcim_unmap_all();
	if (pci_fab.ecam_mapped)
		pci_fab.mbus->mmio_release(pci_fab.mbus->ctx, pci_fab.cfg.ecam_base +
		                          (uint64_t)pci_fab.cfg.bus_start * PCI_ECAM_BUS_SIZE);
	if (pci_fab.ports_mapped) {
		pci_fab.mbus->pio_release(pci_fab.mbus->ctx, PCI_CONF_ADDR);
		pci_fab.mbus->pio_release(pci_fab.mbus->ctx, PCI_CONF_DATA);
	}
	for (unsigned i = 0; i < pci_fab.nfns; i++) {
		free(pci_fab.fns[i]->msix_table);
		free(pci_fab.fns[i]->msix_pba);
		free(pci_fab.fns[i]);
	}
	memset(&pci_fab.cfg, 0, sizeof(pci_fab.cfg));
	pci_fab.mbus = NULL;
	memset(pci_fab.bus, 0, sizeof(pci_fab.bus));
	memset(pci_fab.fns, 0, sizeof(pci_fab.fns));
	memset(pci_fab.gsi_count, 0, sizeof(pci_fab.gsi_count));
	pci_fab.nfns = pci_fab.nbuses = pci_fab.logs = 0;
	pci_fab.cf8 = 0;
	pci_fab.ecam_mapped = pci_fab.ports_mapped = pci_fab.inited = false;
}

static const struct pci_model_desc host_bridge_desc = {
	.name = "host-bridge", .vendor = 0x8086, .device = 0x29c0,
	.subsys_vendor = 0x1af4, .subsys_id = 0x1100, .class_code = 0x060000,
};

int pci_model_init(const struct pci_model_config *cfg, const struct model_bus *bus)
{
	int err;

	if (!cfg || !model_bus_valid(bus))
		return -EINVAL;
	if (cfg->ecam_base && ((cfg->ecam_base & (PCI_ECAM_BUS_SIZE - 1)) || cfg->bus_end < cfg->bus_start))
		return -EINVAL;
	if (cfg->mmio64_limit && cfg->mmio64_limit <= cfg->mmio64_base)
		return -EINVAL;
	pthread_mutex_lock(&pci_fab.lock);
	teardown();
	pci_fab.cfg = *cfg;
	pci_fab.mbus = bus;
	pci_fab.nbuses = 1;
	pci_fab.inited = true;
	if (cfg->ecam_base) {
		err = bus->mmio_claim(bus->ctx, cfg->ecam_base + (uint64_t)cfg->bus_start * PCI_ECAM_BUS_SIZE,
		                      (uint64_t)(cfg->bus_end - cfg->bus_start + 1) * PCI_ECAM_BUS_SIZE,
		                      ecam_read, ecam_write, NULL);
		if (err)
			goto out;
		pci_fab.ecam_mapped = true;
	}
	if (cfg->legacy_ports) {
		if ((err = bus->pio_claim(bus->ctx, PCI_CONF_ADDR, 4, cf8_read, cf8_write,
		                          NULL)) != 0)
			goto out;
		if ((err = bus->pio_claim(bus->ctx, PCI_CONF_DATA, 4, cfc_read, cfc_write,
		                          NULL)) != 0) {
			bus->pio_release(bus->ctx, PCI_CONF_ADDR);
			goto out;
		}
		pci_fab.ports_mapped = true;
	}
	/* INTx# lines are wired-OR, active low and pulled up while idle (PCI 3.0 §2.2.6). */
	for (unsigned g = 0; g < 8; g++)
		bus->set_gsi(bus->ctx, PCI_MODEL_GSI_BASE + g, true);
	pthread_mutex_unlock(&pci_fab.lock);
	if ((err = pcim_add_fn(0, 0, 0, &host_bridge_desc, FN_HOST_BRIDGE, 0, NULL)) != 0)
		return err;
	for (unsigned k = 0; k < 5; k++)
		if ((cfg->hostile & (1u << k)) && (err = pcim_add_hostile(1u << k)) != 0)
			return err;
	return 0;
out:
	teardown();
	pthread_mutex_unlock(&pci_fab.lock);
	return err;
}

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* Why d cannot be built, or NULL. */
static const char *desc_error(const struct pci_model_desc *d)
{
	for (unsigned i = 0; i < 6; i++) {
		const struct pci_model_bar_desc *b = &d->bar[i];
		if (!b->size)
			continue;
		if (!pow2(b->size))
			return "a BAR size is not a power of two";
		if (b->flags & ~(PCI_MODEL_BAR_IO | PCI_MODEL_BAR_MEM64 | PCI_MODEL_BAR_PREFETCH))
			return "unknown BAR flags";
		if (b->flags & PCI_MODEL_BAR_IO) {
			if (b->flags != PCI_MODEL_BAR_IO || b->size < 4 || b->size > 256)
				return "an I/O BAR is 4..256 bytes, not 64-bit or prefetchable";
		} else if (b->size < 16 || (!(b->flags & PCI_MODEL_BAR_MEM64) && b->size > (1ull << 31))) {
			return "a memory BAR is at least 16 bytes (32-bit ones at most 2 GiB)";
		}
		if (b->flags & PCI_MODEL_BAR_MEM64) {
			if (i == 5 || d->bar[i + 1].size)
				return "a 64-bit BAR needs the next slot free";
			i++;
		}
	}
	if (d->irq_pin > 4)
		return "interrupt pin is 0..4";
	if (d->msi && d->msi_multi_log2 > PCI_MSI_MMC_MAX)
		return "MSI offers at most 32 vectors (log2 5)";
	if (d->msix) {
		uint64_t tlen = (uint64_t)d->msix_table_size * PCI_MSIX_ENTRY_SIZE;
		uint64_t plen = pci_msix_pba_bytes(d->msix_table_size);
		const struct pci_model_bar_desc *tb, *pb;
		if (d->msix_table_size < 1 || d->msix_table_size > MSIX_MAX_ENTRIES)
			return "MSI-X table size is 1..2048";
		if (d->msix_table_bar > 5 || d->msix_pba_bar > 5)
			return "MSI-X BIR is 0..5";
		tb = &d->bar[d->msix_table_bar];
		pb = &d->bar[d->msix_pba_bar];
		if (!tb->size || (tb->flags & PCI_MODEL_BAR_IO) || !pb->size || (pb->flags & PCI_MODEL_BAR_IO))
			return "MSI-X table and PBA must be in implemented memory BARs";
		if ((d->msix_table_off & PCI_MSIX_BIR_MASK) || (d->msix_pba_off & PCI_MSIX_BIR_MASK))
			return "MSI-X table and PBA offsets are QWORD aligned";
		if (d->msix_table_off + tlen > tb->size || d->msix_pba_off + plen > pb->size)
			return "MSI-X table or PBA runs past its BAR";
		if (d->msix_table_bar == d->msix_pba_bar && d->msix_table_off < d->msix_pba_off + plen &&
		    d->msix_pba_off < d->msix_table_off + tlen)
			return "MSI-X table and PBA overlap";
	}
	return NULL;
}

int pcim_add_fn(uint8_t bus_index, uint8_t dev, uint8_t fn, const struct pci_model_desc *d,
                enum fn_kind kind, unsigned hostile, struct pci_model_fn **out)
{
	struct pci_model_fn *f;
	struct pbus *b;
	const char *why;
	int err = 0;

	if (dev >= 32 || fn >= 8 || !d)
		return -EINVAL;
	if (!hostile && (why = desc_error(d)) != NULL) {
		pcim_log(NULL, "%s at bus index %u %02x.%u: bad description: %s",
		         d->name ? d->name : "?", bus_index, dev, fn, why);
		return -EINVAL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->d = *d;
	f->kind = kind;
	f->hostile = hostile;
	f->bus_index = bus_index;
	f->dev = dev;
	f->fn = fn;
	if (d->msix) {
		f->msix_table = calloc(d->msix_table_size, PCI_MSIX_ENTRY_SIZE);
		f->msix_pba = calloc(pci_msix_pba_bytes(d->msix_table_size), 1);
		if (!f->msix_table || !f->msix_pba) {
			err = -ENOMEM;
			goto out_free;
		}
		/* Vector Control Mask Bit is 1 after reset (PCIe 4.0 §7.7.2.4). */
		for (unsigned i = 0; i < d->msix_table_size; i++)
			f->msix_table[(size_t)i * MSIX_ENTRY_DW + MSIX_ENT_CTRL] = MSIX_ENT_CTRL_MASK;
	}
	pthread_mutex_lock(&pci_fab.lock);
	if (!pci_fab.inited) {
		err = -ENODEV;
		goto out_unlock;
	}
	if (bus_index >= pci_fab.nbuses) {
		err = -ENOENT;
		goto out_unlock;
	}
	b = &pci_fab.bus[bus_index];
	if (b->slot[dev][fn]) {
		err = -EBUSY;
		goto out_unlock;
	}
	if (b->bridge && dev != 0) {
		pcim_log(NULL, "%s: bus index %u is a root port's link: device 0 only",
		         d->name ? d->name : "?", bus_index);
		err = -EINVAL;
		goto out_unlock;
	}
	if (pci_fab.nfns == PCI_MODEL_MAX_FNS || (kind == FN_BRIDGE &&
	                                          pci_fab.nbuses == PCI_MODEL_MAX_BUSES)) {
		err = -ENOSPC;
		goto out_unlock;
	}
	if (kind == FN_BRIDGE) {
		f->sec_index = (uint8_t)pci_fab.nbuses;
		pci_fab.bus[pci_fab.nbuses++].bridge = f;
	}
	pcim_cfg_build(f);
	b->slot[dev][fn] = f;
	pci_fab.fns[pci_fab.nfns++] = f;
	/* Header Type bit 7 on every function of a slot that has more than function 0. */
	{
		bool multi = false;
		for (unsigned i = 1; i < 8; i++)
			multi |= b->slot[dev][i] != NULL;
		for (unsigned i = 0; i < 8 && multi; i++)
			if (b->slot[dev][i])
				b->slot[dev][i]->cfg[PCI_HEADER_TYPE] |= PCI_HEADER_MULTIFN;
	}
	pthread_mutex_unlock(&pci_fab.lock);
	if (out)
		*out = f;
	return 0;
out_unlock:
	pthread_mutex_unlock(&pci_fab.lock);
out_free:
	free(f->msix_table);
	free(f->msix_pba);
	free(f);
	return err;
}

int pci_model_add(uint8_t bus_index, uint8_t dev, uint8_t fn, const struct pci_model_desc *d,
                  struct pci_model_fn **out)
{
	return pcim_add_fn(bus_index, dev, fn, d, FN_ENDPOINT, 0, out);
}

static const struct pci_model_desc bridge_desc = {
	.name = "root-port", .vendor = 0x1b36, .device = 0x000c, .subsys_vendor = 0x1b36,
	.subsys_id = 0x0000, .class_code = 0x060400, .irq_pin = 1, .pcie = true,
};

int pci_model_add_bridge(uint8_t parent_bus_index, uint8_t dev)
{
	struct pci_model_fn *f;
	int err = pcim_add_fn(parent_bus_index, dev, 0, &bridge_desc, FN_BRIDGE, 0, &f);

	return err ? err : f->sec_index;
}

bool pci_model_bus_master(const struct pci_model_fn *f)
{
	bool on;

	pthread_mutex_lock(&pci_fab.lock);
	on = !f->vanished && (cfg_get(f->cfg, PCI_COMMAND, 2) & PCI_COMMAND_MASTER);
	pthread_mutex_unlock(&pci_fab.lock);
	return on;
}

/* Bus number of a bus index: 0 for the root bus, else the secondary bus number its
 * bridge is programmed with (lock held). */
static uint8_t busnum_of(unsigned bus_index)
{
	const struct pci_model_fn *br = bus_index ? pci_fab.bus[bus_index].bridge : NULL;

	return br ? br->cfg[PCI_SECONDARY_BUS] : 0;
}

uint16_t pci_model_rid(const struct pci_model_fn *f)
{
	uint16_t rid;

	pthread_mutex_lock(&pci_fab.lock);
	rid = pci_requester_id(busnum_of(f->bus_index), f->dev, f->fn);
	pthread_mutex_unlock(&pci_fab.lock);
	return rid;
}

static int dma(struct pci_model_fn *f, uint64_t addr, void *buf, unsigned len, bool write)
{
	const struct model_bus *b;
	uint16_t rid;
	bool master;

	pthread_mutex_lock(&pci_fab.lock);
	master = !f->vanished && (cfg_get(f->cfg, PCI_COMMAND, 2) & PCI_COMMAND_MASTER);
	rid = pci_requester_id(busnum_of(f->bus_index), f->dev, f->fn);
	b = pci_fab.mbus;
	if (!master)
		pcim_log(f, "DMA %s of %u bytes at 0x%llx not issued: Bus Master Enable is 0",
		         write ? "write" : "read", len, (unsigned long long)addr);
	pthread_mutex_unlock(&pci_fab.lock);
	if (!master)
		return -EACCES;
	if (!len)
		return 0;
	/* Outside the fabric lock: the IOMMU may raise a fault event (an MSI). */
	return b->dma(b->ctx, rid, addr, buf, len, write);
}

int pci_model_dma_read(struct pci_model_fn *f, uint64_t addr, void *buf, unsigned len)
{
	return dma(f, addr, buf, len, false);
}

int pci_model_dma_write(struct pci_model_fn *f, uint64_t addr, const void *buf, unsigned len)
{
	return dma(f, addr, (void *)buf, len, true);
}

void pci_model_signal_error(struct pci_model_fn *f, uint16_t bits)
{
	pthread_mutex_lock(&pci_fab.lock);
	cfg_put(f->cfg, PCI_STATUS, 2, cfg_get(f->cfg, PCI_STATUS, 2) | (bits & PCI_STATUS_ERR_BITS));
	pthread_mutex_unlock(&pci_fab.lock);
}

/* ---- dump ------------------------------------------------------------------------------- */


static void dump_fn(FILE *fp, unsigned busnum, const struct pci_model_fn *f)
{
	fprintf(fp, "0000:%02x:%02x.%x %s\n", busnum, f->dev, f->fn, f->d.name ? f->d.name : "");
	for (unsigned off = 0; off < PCI_ECAM_CFG_SIZE; off += 16) {
		fprintf(fp, "%02x:", off);
		for (unsigned i = 0; i < 16; i++)
			fprintf(fp, " %02x", f->cfg[off + i]);
		fputc('\n', fp);
	}
	fputc('\n', fp);
}

/* Bus numbers as the bridges decode them now: walk down from bus 0. */
static void dump_bus(FILE *fp, unsigned bus_index, unsigned busnum, unsigned depth)
{
	struct pbus *b = &pci_fab.bus[bus_index];

	if (depth > PCI_MODEL_MAX_BUSES)
		return;
	for (unsigned d = 0; d < 32; d++) {
		for (unsigned fi = 0; fi < 8; fi++) {
			struct pci_model_fn *f = b->slot[d][fi];
			if (!f || f->vanished)      /* gone from the bus: not listed, as lspci would not */
				continue;
			if (b->bridge && d != 0)
				continue;
			dump_fn(fp, busnum, f);
		}
	}
	for (unsigned d = 0; d < 32; d++) {
		for (unsigned fi = 0; fi < 8; fi++) {
			struct pci_model_fn *f = b->slot[d][fi];
			unsigned sec;
			if (!f || f->kind != FN_BRIDGE || f->vanished)
				continue;
			sec = f->cfg[PCI_SECONDARY_BUS];
			if (sec > busnum && sec <= f->cfg[PCI_SUBORDINATE_BUS])
				dump_bus(fp, f->sec_index, sec, depth + 1);
		}
	}
}

int pci_model_dump_config(const char *path)
{
	FILE *fp = fopen(path, "w");
	int err = 0;

	if (!fp)
		return -errno;
	pthread_mutex_lock(&pci_fab.lock);
	if (pci_fab.inited)
		dump_bus(fp, 0, 0, 0);
	pthread_mutex_unlock(&pci_fab.lock);
	if (ferror(fp))
		err = -EIO;
	if (fclose(fp) != 0 && !err)
		err = -errno;
	return err;
}
