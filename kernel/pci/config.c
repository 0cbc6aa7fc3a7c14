/*
 * config.c — PCI configuration access: ECAM (PCIe Base 4.0 §7.2.2, regions from the
 * ACPI MCFG, mcfg.c) for every segment group and bus range the MCFG lists, else the
 * legacy configuration mechanism #1 through ports 0xCF8/0xCFC (PCI Local Bus 3.0
 * §3.2.2.3.2), segment 0 only, 256 bytes per function. Every access is checked
 * against its function's space and alignment before it reaches the hardware.
 */
#include <hal/hal.h>
#include <kernel/acpi.h>
#include <kernel/cmdline.h>
#include <kernel/errno.h>
#include <kernel/log.h>
#include <kernel/spinlock.h>
#include <kernel/string.h>
#include "pci_internal.h"
#include <hw/pci/config.h>

#define REFUSED_LOG_MAX 8

enum mech { MECH_NONE, MECH_LEGACY, MECH_ECAM };

static enum mech mech;
static struct pci_ecam_seg segs[PCI_MAX_SEGMENTS];
static unsigned nsegs;
/* Lock order: leaf. Serialises the two-step 0xCF8/0xCFC access. */
static struct spinlock legacy_lock = SPINLOCK_INIT("pci-cf8");
static unsigned refused_logged;

unsigned pci_ecam_count(void)
{
	return mech == MECH_ECAM ? nsegs : 0;
}

const struct pci_ecam_seg *pci_ecam_get(unsigned i)
{
	return i < pci_ecam_count() ? &segs[i] : 0;
}

const char *pci_cfg_mechanism(void)
{
	return mech == MECH_ECAM ? "ecam" : mech == MECH_LEGACY ? "legacy" : "none";
}

static const struct pci_ecam_seg *seg_of(uint16_t seg, uint8_t bus)
{
	for (unsigned i = 0; i < nsegs; i++)
		if (segs[i].seg == seg && bus >= segs[i].start && bus <= segs[i].end)
			return &segs[i];
	return 0;
}

bool pci_seg_bus_range(uint16_t seg, uint8_t *first, uint8_t *last)
{
	if (mech == MECH_LEGACY && seg == 0) {
		*first = 0;
		*last = 255;
		return true;
	}
	for (unsigned i = 0; mech == MECH_ECAM && i < nsegs; i++)
		if (segs[i].seg == seg) {
			*first = segs[i].start;
			*last = segs[i].end;
			return true;
		}
	return false;
}

unsigned pci_cfg_space_size(const struct pci_addr *a)
{
	if (!a || a->dev > 31 || a->fn > 7)
		return 0;
	if (mech == MECH_ECAM)
		return seg_of(a->seg, a->bus) ? PCI_ECAM_CFG_SIZE : 0;
	if (mech == MECH_LEGACY)
		return a->seg == 0 ? PCI_LEGACY_CFG_SIZE : 0;
	return 0;
}

int pci_cfg_check(const struct pci_addr *a, uint16_t off, unsigned size)
{
	if (!a || (size != 1 && size != 2 && size != 4) || (off & (size - 1)) || a->dev > 31 || a->fn > 7)
		return -EINVAL;
	unsigned space = pci_cfg_space_size(a);
	if (space == 0)
		return -ENODEV;
	if ((unsigned)off + size > space)
		return -EINVAL;
	return 0;
}

static bool allowed(const struct pci_addr *a, uint16_t off, unsigned size, bool write)
{
	int rc = pci_cfg_check(a, off, size);
	if (rc == 0)
		return true;
	if (refused_logged < REFUSED_LOG_MAX) {
		refused_logged++;
		if (a)
			klog("pci", "refused config %s of %u bytes at 0x%x of %04x:%02x:%02x.%u (%s)%s",
			     write ? "write" : "read", size, off, a->seg, a->bus, a->dev, a->fn,
			     rc == -ENODEV ? "no such segment/bus" : "outside the function or misaligned",
			     refused_logged == REFUSED_LOG_MAX ? "; further refusals are not logged" : "");
	}
	return false;
}

static volatile uint8_t *ecam_ptr(const struct pci_addr *a, uint16_t off)
{
	const struct pci_ecam_seg *s = seg_of(a->seg, a->bus);
	return s->va + pci_ecam_offset((unsigned)(a->bus - s->start), a->dev, a->fn, off);
}

static uint32_t legacy_addr(const struct pci_addr *a, uint16_t off)
{
	return pci_conf_address(a->bus, a->dev, a->fn, off);
}

static uint32_t cfg_read(const struct pci_addr *a, uint16_t off, unsigned size)
{
	if (!allowed(a, off, size, false))
		return size == 4 ? 0xFFFFFFFFu : size == 2 ? 0xFFFFu : 0xFFu;
	if (mech == MECH_ECAM) {
		volatile uint8_t *p = ecam_ptr(a, off);
		return size == 4 ? hal_mmio_read32(p) : size == 2 ? hal_mmio_read16(p) : hal_mmio_read8(p);
	}
	uint32_t v;
	spin_lock(&legacy_lock);
	hal_pio_out32(PCI_CONF_ADDR, legacy_addr(a, off));
	uint16_t port = (uint16_t)(PCI_CONF_DATA + (off & 3));
	v = size == 4 ? hal_pio_in32(port) : size == 2 ? hal_pio_in16(port) : hal_pio_in8(port);
	spin_unlock(&legacy_lock);
	return v;
}

static void cfg_write(const struct pci_addr *a, uint16_t off, unsigned size, uint32_t v)
{
	if (!allowed(a, off, size, true))
		return;
	if (mech == MECH_ECAM) {
		volatile uint8_t *p = ecam_ptr(a, off);
		if (size == 4)
			hal_mmio_write32(p, v);
		else if (size == 2)
			hal_mmio_write16(p, (uint16_t)v);
		else
			hal_mmio_write8(p, (uint8_t)v);
		return;
	}
	spin_lock(&legacy_lock);
	hal_pio_out32(PCI_CONF_ADDR, legacy_addr(a, off));
	uint16_t port = (uint16_t)(PCI_CONF_DATA + (off & 3));
	if (size == 4)
		hal_pio_out32(port, v);
	else if (size == 2)
		hal_pio_out16(port, (uint16_t)v);
	else
		hal_pio_out8(port, (uint8_t)v);
	spin_unlock(&legacy_lock);
}

uint8_t pci_cfg_read8(const struct pci_addr *a, uint16_t off) { return (uint8_t)cfg_read(a, off, 1); }
uint16_t pci_cfg_read16(const struct pci_addr *a, uint16_t off) { return (uint16_t)cfg_read(a, off, 2); }
uint32_t pci_cfg_read32(const struct pci_addr *a, uint16_t off) { return cfg_read(a, off, 4); }
void pci_cfg_write8(const struct pci_addr *a, uint16_t off, uint8_t v) { cfg_write(a, off, 1, v); }
void pci_cfg_write16(const struct pci_addr *a, uint16_t off, uint16_t v) { cfg_write(a, off, 2, v); }
void pci_cfg_write32(const struct pci_addr *a, uint16_t off, uint32_t v) { cfg_write(a, off, 4, v); }

/* Does mechanism #1 answer? CONFIG_ADDRESS is a read/write register on a PC host
 * bridge; a port nothing decodes reads all ones (hal.h). */
static bool legacy_probe(void)
{
	spin_lock(&legacy_lock);
	uint32_t save = hal_pio_in32(PCI_CONF_ADDR);
	hal_pio_out32(PCI_CONF_ADDR, PCI_CONF_ENABLE);
	bool ok = hal_pio_in32(PCI_CONF_ADDR) == PCI_CONF_ENABLE;
	hal_pio_out32(PCI_CONF_ADDR, save);
	spin_unlock(&legacy_lock);
	return ok;
}

/* Parse the MCFG and map each region; returns how many regions are usable. */
static unsigned ecam_setup(void)
{
	const struct acpi_sdt_header *h = acpi_find(acpi_boot_info(), "MCFG");
	if (!h) {
		klog("pci", "no MCFG table: no ECAM");
		return 0;
	}
	struct pci_ecam_seg found[PCI_MAX_SEGMENTS];
	unsigned n = pci_mcfg_parse(h, h->length, found, PCI_MAX_SEGMENTS), kept = 0;
	for (unsigned i = 0; i < n; i++) {
		struct pci_ecam_seg *s = &found[i];
		uint64_t pa = s->base + (uint64_t)s->start * PCI_ECAM_BUS_SIZE;
		uint64_t len = (uint64_t)(s->end - s->start + 1) * PCI_ECAM_BUS_SIZE;
		s->va = hal_mmio_map(pa, (size_t)len);
		if (!s->va) {
			klog("pci", "ECAM of segment %u buses %02x-%02x at 0x%llx (+0x%llx) cannot be mapped: skipped",
			     s->seg, s->start, s->end, (unsigned long long)pa, (unsigned long long)len);
			continue;
		}
		klog("pci", "ECAM segment %u buses %02x-%02x at 0x%llx", s->seg, s->start, s->end,
		     (unsigned long long)s->base);
		segs[kept++] = *s;
	}
	return kept;
}

int pci_config_init(void)
{
	const char *m = cmdline_get("pci.mcfg");
	nsegs = 0;
	mech = MECH_NONE;
	if (m && kstrcmp(m, "0") == 0)
		klog("pci", "pci.mcfg=0: MCFG ignored");
	else
		nsegs = ecam_setup();
	if (nsegs) {
		mech = MECH_ECAM;
		return 0;
	}
	if (legacy_probe()) {
		mech = MECH_LEGACY;
		klog("pci", "using the legacy 0xCF8/0xCFC mechanism: segment 0, 256 bytes per function");
		return 0;
	}
	klog("pci", "no configuration mechanism: no usable ECAM and no answer at 0xCF8");
	return -ENODEV;
}
