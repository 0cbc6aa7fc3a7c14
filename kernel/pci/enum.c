/*
 * enum.c — PCI enumeration: every segment group and bus reachable from each MCFG
 * region's first bus (or bus 0 on the legacy mechanism), through PCI-PCI bridges
 * (PCI-to-PCI Bridge 1.2 §3.2.5.3-5: primary/secondary/subordinate bus numbers),
 * multi-function devices (PCI 3.0 §6.2.1, Header Type bit 7); CardBus bridges
 * (type 2) are recognised and skipped. Hostile functions are logged, marked
 * skipped with a reason, and the walk goes on.
 */
#include <stdarg.h>
#include <kernel/errno.h>
#include <kernel/log.h>
#include <kernel/printf.h>
#include <kernel/string.h>
#include "pci_internal.h"
#include <hw/pci/caps.h>
#include <hw/pci/config.h>

static struct pci_dev devs[PCI_MAX_DEVS];
static char reasons[PCI_MAX_DEVS][112];
static uint16_t fw_command[PCI_MAX_DEVS];   /* Command register as the firmware left it */
static uint16_t enum_command[PCI_MAX_DEVS]; /* ... and as enumeration left it */
static unsigned ndevs;
static bool overflowed;
static int init_rc = 1;                     /* 1: pci_init not run yet */
static uint8_t snap[PCI_ECAM_CFG_SIZE];    /* config image of the function being probed */

/* Buses waiting to be scanned: bus number and the bus range bridges on it may claim. */
struct pending {
	uint8_t bus, lo, hi;
};
static struct pending queue[256];
static uint8_t seen[256 / 8];               /* buses of the current segment already queued */

void pci_addr_str(const struct pci_addr *a, char out[16])
{
	ksnprintf(out, 16, "%04x:%02x:%02x.%u", a->seg, a->bus, a->dev, a->fn);
}

void pci_dev_skip(struct pci_dev *d, const char *fmt, ...)
{
	char why[112], name[16];
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	pci_addr_str(&d->addr, name);
	if (!d->skipped) {
		char *buf = reasons[d - devs];
		kstrlcpy(buf, why, sizeof reasons[0]);
		d->skipped = buf;
		klog("pci", "device %s %04x:%04x: %s; skipped", name, d->vendor, d->device, why);
	} else {
		klog("pci", "device %s %04x:%04x: also %s", name, d->vendor, d->device, why);
	}
}

bool pci_dev_boot_commands(const struct pci_dev *d, uint16_t *firmware, uint16_t *after_enum)
{
	if (d < devs || d >= devs + ndevs)
		return false;
	*firmware = fw_command[d - devs];
	*after_enum = enum_command[d - devs];
	return true;
}

unsigned pci_count(void)
{
	return ndevs;
}

struct pci_dev *pci_get(unsigned idx)
{
	return idx < ndevs ? &devs[idx] : 0;
}

struct pci_dev *pci_find(uint16_t vendor, uint16_t device, unsigned nth)
{
	for (unsigned i = 0; i < ndevs; i++)
		if (!devs[i].skipped && devs[i].vendor == vendor && devs[i].device == device && nth-- == 0)
			return &devs[i];
	return 0;
}

struct pci_dev *pci_find_class(uint32_t class_code, uint32_t mask, unsigned nth)
{
	for (unsigned i = 0; i < ndevs; i++)
		if (!devs[i].skipped && (devs[i].class_code & mask) == (class_code & mask) && nth-- == 0)
			return &devs[i];
	return 0;
}

static uint32_t snap32(unsigned off)
{
	return (uint32_t)snap[off] | (uint32_t)snap[off + 1] << 8 | (uint32_t)snap[off + 2] << 16 |
	       (uint32_t)snap[off + 3] << 24;
}

static uint16_t snap16(unsigned off)
{
	return (uint16_t)(snap[off] | snap[off + 1] << 8);
}

/* Has the function stopped answering since it was found (id dword all ones, or changed)? */
static bool vanished(struct pci_dev *d, uint32_t id, const char *when)
{
	uint32_t now = pci_cfg_read32(&d->addr, PCI_VENDOR_ID);
	if (now == id)
		return false;
	pci_dev_skip(d, "vanished during enumeration (id 0x%08x, was 0x%08x, %s)", now, id, when);
	return true;
}

/* Fill one table entry from the function's config space. Returns it, or NULL when
 * the table is full. */
static struct pci_dev *probe_fn(const struct pci_addr *a, uint32_t id)
{
	char name[16];
	pci_addr_str(a, name);
	if (ndevs == PCI_MAX_DEVS) {
		if (!overflowed)
			klog("pci", "device table full (%u functions): %s and later ones are ignored", PCI_MAX_DEVS, name);
		overflowed = true;
		return 0;
	}
	struct pci_dev *d = &devs[ndevs];
	memset(d, 0, sizeof *d);
	d->addr = *a;
	d->vendor = (uint16_t)id;
	d->device = (uint16_t)(id >> 16);
	ndevs++;

	unsigned size = pci_cfg_space_size(a);
	for (unsigned off = 0; off < size; off += 4) {
		uint32_t v = pci_cfg_read32(a, (uint16_t)off);
		memcpy(&snap[off], &v, 4);         /* little-endian, as config space is */
	}
	fw_command[d - devs] = snap16(PCI_COMMAND);
	uint8_t ht = snap[PCI_HEADER_TYPE];
	d->header_type = ht & PCI_HEADER_TYPE_MASK;
	d->multifunction = ht & PCI_HEADER_MULTIFN;
	d->revision = snap[PCI_REVISION];
	d->class_code = snap32(PCI_REVISION) >> 8;
	d->irq_line = snap[PCI_INTERRUPT_LINE];
	d->irq_pin = snap[PCI_INTERRUPT_PIN];
	if (vanished(d, id, "while its config space was read"))
		return d;
	if (d->irq_pin > 4) {
		klog("pci", "device %s: interrupt pin %u is not INTA..INTD; treated as none", name, d->irq_pin);
		d->irq_pin = 0;
	}

	switch (d->header_type) {
	case PCI_HEADER_NORMAL:
		d->subsys_vendor = snap16(PCI_SUBSYS_VENDOR);
		d->subsys_id = snap16(PCI_SUBSYS_ID);
		break;
	case PCI_HEADER_BRIDGE:
		d->sec_bus = snap[PCI_SECONDARY_BUS];
		d->sub_bus = snap[PCI_SUBORDINATE_BUS];
		break;
	case PCI_HEADER_CARDBUS:
		d->subsys_vendor = snap16(PCI_CB_SUBSYS_VENDOR);
		d->subsys_id = snap16(PCI_CB_SUBSYS_ID);
		pci_dev_skip(d, "CardBus bridge (header type 2) is not supported");
		break;
	default:
		pci_dev_skip(d, "unknown header type %u", d->header_type);
		return d;
	}

	char bar_why[112];
	const char *bw = pci_bars_probe(d, bar_why, sizeof bar_why);
	enum_command[d - devs] = pci_cfg_read16(a, PCI_COMMAND);
	if (vanished(d, id, "while its BARs were sized"))
		return d;
	if (bw)
		pci_dev_skip(d, "%s", bw);

	const char *err = 0;
	d->ncaps = pci_caps_parse(snap, size, d->caps, PCI_MAX_CAPS, &err);
	if (err)
		pci_dev_skip(d, "%s", err);
	for (unsigned i = 0; i < d->ncaps; i++) {
		if (d->caps[i].ext)
			continue;
		if (d->caps[i].id == PCI_CAP_ID_EXP)
			d->pcie = true;
		if (d->caps[i].id == PCI_CAP_ID_SSVID && d->header_type == PCI_HEADER_BRIDGE &&
		    d->caps[i].off + PCI_SSVID_LEN <= size) {
			d->subsys_vendor = snap16(d->caps[i].off + PCI_SSVID_VENDOR);
			d->subsys_id = snap16(d->caps[i].off + PCI_SSVID_DEVICE);
		}
	}
	err = 0;
	pci_msi_decode(snap, size, d->caps, d->ncaps, &d->msi, &d->msix, d->bar, &err);
	if (err)
		pci_dev_skip(d, "%s", err);
	klog("pci", "found %s %04x:%04x class %06x type %u%s", name, d->vendor, d->device, d->class_code,
	     d->header_type, d->skipped ? " (skipped)" : "");
	return d;
}

static bool test_and_set_seen(uint8_t bus)
{
	bool was = seen[bus / 8] & (1u << (bus % 8));
	seen[bus / 8] |= (uint8_t)(1u << (bus % 8));
	return was;
}

/* A bridge found on bus p->bus: queue its secondary bus if the numbers make sense. */
static void bridge_children(struct pci_dev *d, const struct pending *p, unsigned *qtail)
{
	unsigned sec = d->sec_bus, sub = d->sub_bus;
	if (sec == 0 && sub == 0) {
		pci_dev_skip(d, "bridge not configured by firmware (secondary bus 0)");
		return;
	}
	if (sec <= p->bus) {
		pci_dev_skip(d, "bridge secondary bus %02x is not above its own bus %02x", sec, p->bus);
		return;
	}
	if (sub < sec) {
		pci_dev_skip(d, "bridge subordinate bus %02x is below its secondary bus %02x", sub, sec);
		return;
	}
	if (sec < p->lo || sub > p->hi) {
		pci_dev_skip(d, "bridge buses %02x-%02x lie outside %02x-%02x (the parent's range or the MCFG's)",
			     sec, sub, p->lo, p->hi);
		return;
	}
	if (test_and_set_seen((uint8_t)sec)) {
		pci_dev_skip(d, "bridge secondary bus %02x was already scanned (bus loop)", sec);
		return;
	}
	queue[(*qtail)++] = (struct pending){ (uint8_t)sec, (uint8_t)(sec + 1 <= sub ? sec + 1 : sub), (uint8_t)sub };
}

/* Scan a bus and, breadth first, every bus behind its bridges. */
static unsigned scan_from(uint16_t seg, uint8_t first, uint8_t last)
{
	unsigned qhead = 0, qtail = 0, buses = 0;
	if (test_and_set_seen(first))
		return 0;
	queue[qtail++] = (struct pending){ first, first < last ? (uint8_t)(first + 1) : last, last };
	while (qhead < qtail) {
		struct pending p = queue[qhead++];
		buses++;
		for (unsigned dev = 0; dev < 32; dev++) {
			unsigned nfn = 1;
			for (unsigned fn = 0; fn < nfn; fn++) {
				struct pci_addr a = { seg, p.bus, (uint8_t)dev, (uint8_t)fn };
				uint32_t id = pci_cfg_read32(&a, PCI_VENDOR_ID);
				uint16_t vendor = (uint16_t)id;
				if (vendor == 0xFFFF || vendor == 0x0000)
					continue;           /* no function here */
				if (fn == 0 && (pci_cfg_read8(&a, PCI_HEADER_TYPE) & PCI_HEADER_MULTIFN))
					nfn = 8;
				struct pci_dev *d = probe_fn(&a, id);
				if (!d)
					return buses;       /* table full */
				if (d->header_type == PCI_HEADER_BRIDGE && !d->skipped)
					bridge_children(d, &p, &qtail);
			}
		}
	}
	return buses;
}

int pci_init(void)
{
	if (init_rc != 1)
		return init_rc;
	ndevs = 0;
	overflowed = false;
	int rc = pci_config_init();
	if (rc) {
		init_rc = rc;
		return rc;
	}
	unsigned buses = 0;
	unsigned n = pci_ecam_count();
	if (n == 0) {                           /* legacy: segment 0, from bus 0 */
		memset(seen, 0, sizeof seen);
		buses = scan_from(0, 0, 255);
	}
	for (unsigned i = 0; i < n; i++) {
		uint16_t seg = pci_ecam_get(i)->seg;
		bool first_of_seg = true;
		for (unsigned j = 0; j < i; j++)
			if (pci_ecam_get(j)->seg == seg)
				first_of_seg = false;
		if (!first_of_seg)
			continue;
		memset(seen, 0, sizeof seen);       /* buses are numbered per segment */
		for (unsigned j = i; j < n; j++) {  /* every region of this segment */
			const struct pci_ecam_seg *s = pci_ecam_get(j);
			if (s->seg == seg)
				buses += scan_from(seg, s->start, s->end);
		}
	}
	unsigned skipped = 0;
	for (unsigned i = 0; i < ndevs; i++)
		skipped += devs[i].skipped != 0;
	klog("pci", "%u functions (%u skipped) on %u buses via %s", ndevs, skipped, buses, pci_cfg_mechanism());
	init_rc = 0;
	return 0;
}
