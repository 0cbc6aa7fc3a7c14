/*
 * pci_ktest.c — the `pci` ktest suite: the device table pci_init built, checked
 * against the hardware (or the simulator's fabric) through fresh config reads:
 * ids, bridge bus ranges, BAR sizes/alignment/overlaps, sizing leaves no trace,
 * capability lists walk clean, out-of-bounds config access is refused, and the
 * simulator's hostile endpoints are skipped for the right reasons. docs/pci.md.
 */
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/ktest.h>
#include <kernel/log.h>
#include <kernel/string.h>
#include "pci_internal.h"
#include <hw/pci/config.h>

/* pci_init ran at boot; a machine without config access skips the suite. */
static bool have_pci(struct ktest *t)
{
	if (pci_init() != 0 || pci_count() == 0) {
		ktest_skip(t, "no PCI configuration mechanism or no device (mechanism %s)", pci_cfg_mechanism());
		return false;
	}
	return true;
}

static void host_bridge_at_00_00_0(struct ktest *t)
{
	if (!have_pci(t))
		return;
	ktest_log(t, "%u functions via %s", pci_count(), pci_cfg_mechanism());
	struct pci_dev *d = pci_get(0);
	KTEST_ASSERT(t, d != 0);
	KTEST_EXPECT_EQ(t, d->addr.bus, 0);
	KTEST_EXPECT_EQ(t, d->addr.dev, 0);
	KTEST_EXPECT_EQ(t, d->addr.fn, 0);
	KTEST_EXPECT_EQ(t, d->class_code >> 8, 0x0600);
	KTEST_EXPECT(t, pci_find_class(0x060000, 0xFFFF00, 0) == d);
	KTEST_EXPECT(t, pci_find(d->vendor, d->device, 0) == d);
}

/* Every entry's ids, class and header type agree with a fresh read; entries are unique. */
static void table_matches_config(struct ktest *t)
{
	if (!have_pci(t))
		return;
	for (unsigned i = 0; i < pci_count(); i++) {
		struct pci_dev *d = pci_get(i);
		char name[16];
		pci_addr_str(&d->addr, name);
		for (unsigned j = i + 1; j < pci_count(); j++) {
			struct pci_dev *e = pci_get(j);
			if (memcmp(&d->addr, &e->addr, sizeof d->addr) == 0)
				ktest_fail_at(t, __FILE__, __LINE__, "%s listed twice", name);
		}
		if (d->skipped)
			continue;                       /* a vanished device reads all ones now */
		uint32_t id = pci_cfg_read32(&d->addr, PCI_VENDOR_ID);
		uint32_t cls = pci_cfg_read32(&d->addr, PCI_REVISION);
		uint8_t ht = pci_cfg_read8(&d->addr, PCI_HEADER_TYPE);
		if (id != ((uint32_t)d->device << 16 | d->vendor) || cls >> 8 != d->class_code ||
		    (uint8_t)cls != d->revision || (ht & PCI_HEADER_TYPE_MASK) != d->header_type)
			ktest_fail_at(t, __FILE__, __LINE__, "%s: table %04x:%04x class %06x rev %02x type %u, config "
				      "reads 0x%08x class/rev 0x%08x header 0x%02x", name, d->vendor, d->device,
				      d->class_code, d->revision, d->header_type, id, cls, ht);
		if (d->addr.fn > 0) {               /* functions 1..7 only on multi-function devices */
			struct pci_addr f0 = d->addr;
			f0.fn = 0;
			KTEST_EXPECT(t, pci_cfg_read8(&f0, PCI_HEADER_TYPE) & PCI_HEADER_MULTIFN);
		}
	}
}

/* Every function that answers on a bus the table knows of, or behind a bridge in
 * it, is in the table: nothing was missed (functions 1..7, buses behind bridges). */
static bool listed(const struct pci_addr *a)
{
	for (unsigned i = 0; i < pci_count(); i++) {
		const struct pci_addr *b = &pci_get(i)->addr;
		if (b->seg == a->seg && b->bus == a->bus && b->dev == a->dev && b->fn == a->fn)
			return true;
	}
	return false;
}

static void every_function_listed(struct ktest *t)
{
	if (!have_pci(t))
		return;
	unsigned checked = 0;
	for (unsigned i = 0; i < pci_count(); i++) {
		struct pci_dev *d = pci_get(i);
		uint16_t seg = d->addr.seg;
		uint8_t buses[2] = { d->addr.bus, d->sec_bus };
		unsigned nb = d->header_type == PCI_HEADER_BRIDGE && !d->skipped ? 2 : 1;
		bool dup = false;                   /* each bus once: only from its first entry */
		for (unsigned j = 0; j < i; j++)
			if (pci_get(j)->addr.seg == seg && pci_get(j)->addr.bus == d->addr.bus)
				dup = true;
		for (unsigned k = dup ? 1 : 0; k < nb; k++) {
			for (unsigned dev = 0; dev < 32; dev++) {
				for (unsigned fn = 0; fn < 8; fn++) {
					struct pci_addr a = { seg, buses[k], (uint8_t)dev, (uint8_t)fn };
					uint16_t v = pci_cfg_read16(&a, PCI_VENDOR_ID);
					if (v == 0xFFFF || v == 0)
						continue;
					struct pci_addr f0 = a;
					f0.fn = 0;
					if (fn > 0 && !(pci_cfg_read8(&f0, PCI_HEADER_TYPE) & PCI_HEADER_MULTIFN))
						break;          /* single-function: fn 1..7 may alias fn 0 */
					checked++;
					if (!listed(&a))
						ktest_fail_at(t, __FILE__, __LINE__, "%04x:%02x:%02x.%u (vendor %04x) answers but "
							      "is not in the table", seg, a.bus, dev, fn, v);
				}
			}
		}
	}
	ktest_log(t, "%u answering functions checked", checked);
	KTEST_EXPECT(t, checked > 0);
}

/* Bridges: primary = own bus < secondary <= subordinate; every device off the root
 * bus sits inside exactly the range of the bridge that leads to it. */
static void bridge_bus_ranges(struct ktest *t)
{
	if (!have_pci(t))
		return;
	unsigned bridges = 0;
	for (unsigned i = 0; i < pci_count(); i++) {
		struct pci_dev *d = pci_get(i);
		if (d->header_type != PCI_HEADER_BRIDGE || d->skipped)
			continue;
		bridges++;
		KTEST_EXPECT_EQ(t, pci_cfg_read8(&d->addr, PCI_PRIMARY_BUS), d->addr.bus);
		KTEST_EXPECT_EQ(t, pci_cfg_read8(&d->addr, PCI_SECONDARY_BUS), d->sec_bus);
		KTEST_EXPECT(t, d->sec_bus > d->addr.bus);
		KTEST_EXPECT(t, d->sub_bus >= d->sec_bus);
	}
	for (unsigned i = 0; i < pci_count(); i++) {
		struct pci_dev *d = pci_get(i);
		uint8_t first, last;
		KTEST_ASSERT(t, pci_seg_bus_range(d->addr.seg, &first, &last));
		KTEST_EXPECT(t, d->addr.bus >= first && d->addr.bus <= last);
		if (d->addr.bus == first)
			continue;
		unsigned parents = 0;               /* bridges whose secondary bus is this one */
		for (unsigned j = 0; j < pci_count(); j++) {
			struct pci_dev *b = pci_get(j);
			if (b->header_type == PCI_HEADER_BRIDGE && !b->skipped && b->addr.seg == d->addr.seg &&
			    b->sec_bus == d->addr.bus)
				parents++;
		}
		if (parents != 1) {
			char name[16];
			pci_addr_str(&d->addr, name);
			ktest_fail_at(t, __FILE__, __LINE__, "%s: %u bridges lead to its bus", name, parents);
		}
	}
	ktest_log(t, "%u bridges", bridges);
}

static bool is_mem(const struct pci_bar *b)
{
	return b->kind == PCI_BAR_MEM32 || b->kind == PCI_BAR_MEM64;
}

/* Sizes are powers of two, addresses aligned, no two devices' BARs overlap. */
static void bars_aligned_disjoint(struct ktest *t)
{
	if (!have_pci(t))
		return;
	unsigned nbars = 0;
	for (unsigned i = 0; i < pci_count(); i++) {
		struct pci_dev *d = pci_get(i);
		char name[16];
		pci_addr_str(&d->addr, name);
		for (unsigned k = 0; k < 6; k++) {
			const struct pci_bar *b = &d->bar[k];
			if (b->kind == PCI_BAR_NONE || b->size == 0)
				continue;
			nbars++;
			if ((b->size & (b->size - 1)) || (b->addr & (b->size - 1)) || b->addr + b->size < b->addr ||
			    (b->kind == PCI_BAR_MEM32 && b->addr + b->size > (1ull << 32)) ||
			    (b->kind == PCI_BAR_IO && b->size < 4) || (is_mem(b) && b->size < 16))
				ktest_fail_at(t, __FILE__, __LINE__, "%s bar%u: 0x%llx size 0x%llx", name, k,
					      (unsigned long long)b->addr, (unsigned long long)b->size);
			if (b->kind == PCI_BAR_MEM64)
				KTEST_EXPECT(t, k < 5 && d->bar[k + 1].kind == PCI_BAR_NONE);
			if (b->addr == 0)
				continue;                   /* not assigned by the firmware */
			for (unsigned j = i + 1; j < pci_count(); j++) {
				struct pci_dev *e = pci_get(j);
				for (unsigned m = 0; m < 6; m++) {
					const struct pci_bar *c = &e->bar[m];
					if (c->size == 0 || c->addr == 0 || is_mem(b) != is_mem(c) ||
					    c->kind == PCI_BAR_NONE)
						continue;
					if (b->addr < c->addr + c->size && c->addr < b->addr + b->size) {
						char other[16];
						pci_addr_str(&e->addr, other);
						ktest_fail_at(t, __FILE__, __LINE__, "%s bar%u overlaps %s bar%u", name, k,
							      other, m);
					}
				}
			}
		}
	}
	ktest_log(t, "%u BARs", nbars);
	KTEST_EXPECT(t, nbars > 0);
}

/* Sizing again leaves the Command register and every BAR as they were, and finds
 * the same sizes as at boot. */
static void bar_sizing_restores(struct ktest *t)
{
	if (!have_pci(t))
		return;
	struct pci_dev *copy = kmalloc(sizeof *copy);
	KTEST_ASSERT(t, copy != 0);
	unsigned sized = 0;
	for (unsigned i = 0; i < pci_count(); i++) {
		struct pci_dev *d = pci_get(i);
		if (d->skipped || d->header_type > PCI_HEADER_BRIDGE)
			continue;
		unsigned nb = d->header_type == PCI_HEADER_NORMAL ? 6 : 2;
		uint32_t before[6], after[6];
		uint16_t cmd = pci_cfg_read16(&d->addr, PCI_COMMAND);
		for (unsigned k = 0; k < nb; k++)
			before[k] = pci_cfg_read32(&d->addr, (uint16_t)(PCI_BAR0 + 4 * k));
		char name[16];
		pci_addr_str(&d->addr, name);
		/* The boot-time sizing left Command as the firmware had it. */
		uint16_t fw = 0, enum_cmd = 0;
		KTEST_EXPECT(t, pci_dev_boot_commands(d, &fw, &enum_cmd));
		if (fw != enum_cmd)
			ktest_fail_at(t, __FILE__, __LINE__, "%s: command 0x%04x from the firmware was 0x%04x after "
				      "enumeration", name, fw, enum_cmd);
		*copy = *d;
		char buf[112];
		const char *why = pci_bars_probe(copy, buf, sizeof buf);
		for (unsigned k = 0; k < nb; k++)
			after[k] = pci_cfg_read32(&d->addr, (uint16_t)(PCI_BAR0 + 4 * k));
		if (why)
			ktest_fail_at(t, __FILE__, __LINE__, "%s: %s", name, why);
		KTEST_EXPECT_EQ(t, pci_cfg_read16(&d->addr, PCI_COMMAND), cmd);
		for (unsigned k = 0; k < nb; k++) {
			if (before[k] != after[k])
				ktest_fail_at(t, __FILE__, __LINE__, "%s bar%u was 0x%08x, 0x%08x after sizing", name, k,
					      before[k], after[k]);
			if (copy->bar[k].kind != d->bar[k].kind || copy->bar[k].size != d->bar[k].size ||
			    copy->bar[k].addr != d->bar[k].addr)
				ktest_fail_at(t, __FILE__, __LINE__, "%s bar%u sized differently now", name, k);
		}
		sized++;
	}
	kfree(copy);
	ktest_log(t, "%u functions re-sized", sized);
}

/* A fresh image of each function's config space parses clean (unless the device
 * was skipped) into the capabilities the table holds. */
static void caps_walk_clean(struct ktest *t)
{
	if (!have_pci(t))
		return;
	uint8_t *img = kmalloc(PCI_ECAM_CFG_SIZE);
	struct pci_cap *caps = kmalloc(sizeof(struct pci_cap) * PCI_MAX_CAPS);
	KTEST_ASSERT(t, img && caps);
	unsigned total = 0;
	for (unsigned i = 0; i < pci_count(); i++) {
		struct pci_dev *d = pci_get(i);
		if (d->skipped)
			continue;
		unsigned size = pci_cfg_space_size(&d->addr);
		for (unsigned off = 0; off < size; off += 4) {
			uint32_t v = pci_cfg_read32(&d->addr, (uint16_t)off);
			memcpy(img + off, &v, 4);
		}
		const char *err = 0;
		unsigned n = pci_caps_parse(img, size, caps, PCI_MAX_CAPS, &err);
		char name[16];
		pci_addr_str(&d->addr, name);
		if (err)
			ktest_fail_at(t, __FILE__, __LINE__, "%s: %s", name, err);
		KTEST_EXPECT_EQ(t, n, d->ncaps);
		for (unsigned k = 0; k < n && k < d->ncaps; k++)
			if (caps[k].id != d->caps[k].id || caps[k].off != d->caps[k].off || caps[k].ext != d->caps[k].ext)
				ktest_fail_at(t, __FILE__, __LINE__, "%s: capability %u differs", name, k);
		struct pci_msi_info msi;
		struct pci_msix_info msix;
		err = 0;
		pci_msi_decode(img, size, caps, n, &msi, &msix, d->bar, &err);
		if (err)
			ktest_fail_at(t, __FILE__, __LINE__, "%s: %s", name, err);
		KTEST_EXPECT(t, !msix.present || msix.valid);
		total += n;
	}
	kfree(img);
	kfree(caps);
	ktest_log(t, "%u capabilities", total);
}

/* Offsets past the function's space, misaligned ones and unknown segments are refused. */
static void cfg_access_bounded(struct ktest *t)
{
	if (!have_pci(t))
		return;
	struct pci_dev *d = pci_get(0);
	const struct pci_addr *a = &d->addr;
	unsigned space = pci_cfg_space_size(a);
	bool ecam = kstrcmp(pci_cfg_mechanism(), "ecam") == 0;
	KTEST_EXPECT_EQ(t, space, ecam ? PCI_ECAM_CFG_SIZE : PCI_LEGACY_CFG_SIZE);
	KTEST_EXPECT_EQ(t, pci_cfg_check(a, (uint16_t)(space - 4), 4), 0);
	KTEST_EXPECT_EQ(t, pci_cfg_check(a, (uint16_t)space, 4), -EINVAL);
	KTEST_EXPECT_EQ(t, pci_cfg_check(a, (uint16_t)(space - 2), 4), -EINVAL);
	KTEST_EXPECT_EQ(t, pci_cfg_check(a, (uint16_t)(space - 1), 2), -EINVAL);
	KTEST_EXPECT_EQ(t, pci_cfg_check(a, 2, 4), -EINVAL);
	KTEST_EXPECT_EQ(t, pci_cfg_check(a, 1, 2), -EINVAL);
	KTEST_EXPECT_EQ(t, pci_cfg_check(a, 0, 3), -EINVAL);
	KTEST_EXPECT_EQ(t, pci_cfg_check(a, PCI_LEGACY_CFG_SIZE, 4), ecam ? 0 : -EINVAL);
	KTEST_EXPECT_EQ(t, pci_cfg_read32(a, (uint16_t)space), 0xFFFFFFFFu);
	KTEST_EXPECT_EQ(t, pci_cfg_read32(a, PCI_DEVICE_ID), 0xFFFFFFFFu); /* misaligned: device id + command */
	KTEST_EXPECT_EQ(t, pci_cfg_read16(a, 1), 0xFFFFu);
	KTEST_EXPECT_EQ(t, pci_cfg_read16(a, 0), d->vendor);   /* the aligned neighbour works */
	struct pci_addr bad = *a;
	bad.dev = 32;
	KTEST_EXPECT_EQ(t, pci_cfg_check(&bad, 0, 4), -EINVAL);
	bad = *a;
	bad.fn = 8;
	KTEST_EXPECT_EQ(t, pci_cfg_check(&bad, 0, 4), -EINVAL);
	bad = *a;
	bad.seg = 0x7FFF;                       /* no MCFG region, and legacy is segment 0 only */
	KTEST_EXPECT_EQ(t, pci_cfg_check(&bad, 0, 4), -ENODEV);
	KTEST_EXPECT_EQ(t, pci_cfg_read32(&bad, 0), 0xFFFFFFFFu);
	KTEST_EXPECT_EQ(t, pci_cfg_space_size(&bad), 0);
	/* A dropped write must not land anywhere: the vendor ID register is read-only
	 * anyway, so aim it at the out-of-range offset and check the first dword. */
	uint32_t id = pci_cfg_read32(a, 0);
	pci_cfg_write32(a, (uint16_t)space, 0);
	KTEST_EXPECT_EQ(t, pci_cfg_read32(a, 0), id);
}

/* Memory BARs map through the HAL; skipped devices are refused. */
static void bar_map_and_enable(struct ktest *t)
{
	if (!have_pci(t))
		return;
	unsigned mapped = 0;
	for (unsigned i = 0; i < pci_count(); i++) {
		struct pci_dev *d = pci_get(i);
		for (unsigned k = 0; k < 6; k++) {
			const struct pci_bar *b = &d->bar[k];
			void *va = pci_bar_map(d, k);
			bool want = !d->skipped && is_mem(b) && b->size && b->addr && b->addr + b->size <= (1ull << 32);
			if (want) {
				KTEST_EXPECT(t, va != 0);
				mapped += va != 0;
			} else if (d->skipped || !is_mem(b)) {
				KTEST_EXPECT(t, va == 0);
			}
		}
	}
	KTEST_EXPECT(t, pci_bar_map(pci_get(0), 6) == 0);
	ktest_log(t, "%u memory BARs mapped", mapped);
}

/* ---- the simulator's hostile endpoints (docs/pci.md: bus 0 from slot 0x10) ---- */

/* The model gives hostile endpoint k (bit k of PCI_HOSTILE_*, models/pci/pci_model.h)
 * the ids 1234:d0f0+k; the table below is in that order. */
#define HOSTILE_VENDOR 0x1234
#define HOSTILE_DEVICE0 0xd0f0

struct hostile_kind {
	const char *option;                     /* doppel-sim --pci-hostile KIND */
	const char *reason;                     /* a substring of the skip reason */
};

static const struct hostile_kind hostile_kinds[] = {
	{ "cap-loop", "capability loop" },
	{ "cap-in-header", "points into the header" },
	{ "bar-ones", "reads all ones" },
	{ "msix-no-bar", "which is not an implemented memory BAR" },
	{ "vanish", "vanished during enumeration" },
};

static bool reason_has(const char *s, const char *needle)
{
	size_t n = kstrlen(needle);
	for (; s && *s; s++)
		if (kstrncmp(s, needle, n) == 0)
			return true;
	return false;
}

static void sim_hostile_skipped(struct ktest *t)
{
	if (!have_pci(t))
		return;
	if (!pci_find(0x1234, 0xd0e0, 0)) {
		ktest_skip(t, "not the simulator's device set (no testdev 1234:d0e0)");
		return;
	}
	unsigned hostile = 0, clean = 0;
	for (unsigned i = 0; i < pci_count(); i++) {
		struct pci_dev *d = pci_get(i);
		char name[16];
		pci_addr_str(&d->addr, name);
		/* Hostile endpoints sit at 0x10 + their kind; other slots (q35's ICH9
		 * functions at 0x1f) are well-behaved. */
		if (d->addr.bus != 0 || d->addr.dev < 0x10 ||
		    d->addr.dev >= 0x10 + sizeof hostile_kinds / sizeof hostile_kinds[0]) {
			/* The well-behaved devices around them still enumerate and are usable. */
			if (d->skipped)
				ktest_fail_at(t, __FILE__, __LINE__, "%s skipped: %s", name, d->skipped);
			clean++;
			continue;
		}
		hostile++;
		if (!d->skipped) {
			ktest_fail_at(t, __FILE__, __LINE__, "hostile %s %04x:%04x was not skipped", name, d->vendor,
				      d->device);
			continue;
		}
		const unsigned nkinds = sizeof hostile_kinds / sizeof hostile_kinds[0];
		unsigned k = d->device - HOSTILE_DEVICE0;
		if (d->vendor != HOSTILE_VENDOR || d->device < HOSTILE_DEVICE0 || k >= nkinds) {
			ktest_fail_at(t, __FILE__, __LINE__, "unknown device %04x:%04x at %s (skipped: %s)", d->vendor,
				      d->device, name, d->skipped);
			continue;
		}
		if (!reason_has(d->skipped, hostile_kinds[k].reason))
			ktest_fail_at(t, __FILE__, __LINE__, "hostile %s (%s) skipped for the wrong reason: %s", name,
				      hostile_kinds[k].option, d->skipped);
		else
			ktest_log(t, "%s (%s): %s", name, hostile_kinds[k].option, d->skipped);
	}
	if (hostile == 0) {
		ktest_skip(t, "no hostile endpoint on this machine (doppel-sim --pci-hostile)");
		return;
	}
	KTEST_EXPECT(t, clean >= 6);            /* the default set: docs/pci.md */
}

static const struct ktest_case pci_cases[] = {
	KTEST_CASE(host_bridge_at_00_00_0),
	KTEST_CASE(table_matches_config),
	KTEST_CASE(every_function_listed),
	KTEST_CASE(bridge_bus_ranges),
	KTEST_CASE(bars_aligned_disjoint),
	KTEST_CASE(bar_sizing_restores),
	KTEST_CASE(caps_walk_clean),
	KTEST_CASE(cfg_access_bounded),
	KTEST_CASE(bar_map_and_enable),
	KTEST_CASE(sim_hostile_skipped),
};
KTEST_SUITE(pci_suite, "pci", pci_cases);
