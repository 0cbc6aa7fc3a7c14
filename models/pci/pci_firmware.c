/*
 * pci_firmware.c — what a PC BIOS (SeaBIOS's PCI setup) does to the model's fabric
 * before the kernel runs: bus numbers depth-first through bridges, BARs largest
 * first in the 32-bit hole (64-bit prefetchable ones above 4 GiB when a window is
 * configured), bridge windows covering their children (PCI-to-PCI Bridge 1.2
 * §3.2.5.6-§3.2.5.9), Interrupt Line = the GSI of the swizzled pin (§9.1), decode
 * on, bus mastering off. Also the hostile endpoints of --pci-hostile.
 */
#include "pci/pci_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { R_IO, R_MEM, R_PREF, R_KINDS };
static const char *const kind_name[R_KINDS] = { "io", "mem", "prefetchable mem" };

#define MEM_BAR_MIN_ALIGN 0x1000ull     /* a page per memory BAR, so each maps alone */
#define MAX_ITEMS 96

struct item {
	struct pci_model_fn *f;
	int bar;                            /* -1: the bridge's window of `kind` */
	int kind;
	uint64_t size, align;
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static int bar_kind(const struct pci_model_bar_desc *b)
{
	if (b->flags & PCI_MODEL_BAR_IO)
		return R_IO;
	/* Behind a bridge only the prefetchable window is 64-bit. */
	if ((b->flags & PCI_MODEL_BAR_MEM64) && (b->flags & PCI_MODEL_BAR_PREFETCH))
		return R_PREF;
	return R_MEM;
}

static void window_need(unsigned bi, int kind, uint64_t *size, uint64_t *align);

/* Items of the kinds in mask on bus index bi: BARs and child bridge windows. */
static unsigned collect(unsigned bi, unsigned mask, struct item *out)
{
	struct pbus *b = &pci_fab.bus[bi];
	unsigned n = 0;

	for (unsigned d = 0; d < 32; d++) {
		for (unsigned fi = 0; fi < 8; fi++) {
			struct pci_model_fn *f = b->slot[d][fi];
			if (!f)
				continue;
			if (f->kind == FN_BRIDGE) {
				for (int k = 0; k < R_KINDS; k++) {
					uint64_t s, a;
					if (!(mask & (1u << k)))
						continue;
					window_need(f->sec_index, k, &s, &a);
					if (s && n < MAX_ITEMS)
						out[n++] = (struct item){ f, -1, k, s, a };
				}
				continue;
			}
			for (unsigned i = 0; i < 6; i++) {
				const struct pci_model_bar_desc *bd = &f->d.bar[i];
				int k;
				if (!bd->size)
					continue;
				k = bar_kind(bd);
				if ((mask & (1u << k)) && n < MAX_ITEMS)
					out[n++] = (struct item){ f, (int)i, k, bd->size,
					                          k == R_IO ? bd->size :
					                          bd->size > MEM_BAR_MIN_ALIGN ? bd->size :
					                          MEM_BAR_MIN_ALIGN };
				if (bd->flags & PCI_MODEL_BAR_MEM64)
					i++;
			}
		}
	}
	return n;
}

static int item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->align != y->align)
		return x->align < y->align ? 1 : -1;
	if (x->size != y->size)
		return x->size < y->size ? 1 : -1;
	return 0;
}

static void window_need(unsigned bi, int kind, uint64_t *size, uint64_t *align)
{
	struct item *it = calloc(MAX_ITEMS, sizeof(*it));
	uint64_t off = 0, a = kind == R_IO ? PCI_IO_WINDOW_GRAN : PCI_MEMORY_WINDOW_GRAN;
	unsigned n;

	*size = 0;
	*align = a;
	if (!it)
		return;
	n = collect(bi, 1u << kind, it);
	qsort(it, n, sizeof(*it), item_cmp);
	for (unsigned i = 0; i < n; i++) {
		off = align_up(off, it[i].align) + it[i].size;
		if (it[i].align > a)
			a = it[i].align;
	}
	free(it);
	*size = off ? align_up(off, kind == R_IO ? PCI_IO_WINDOW_GRAN : PCI_MEMORY_WINDOW_GRAN) : 0;
	*align = a;
}

static void wr(struct pci_model_fn *f, unsigned off, unsigned size, uint32_t v)
{
	pcim_cfg_write(f, off, size, v);
}

static void place(struct item *it, unsigned n, uint64_t base, uint64_t limit);

static void set_window(struct pci_model_fn *br, int kind, uint64_t lo, uint64_t hi)
{
	if (kind == R_IO) {
		wr(br, PCI_IO_BASE, 1, (uint32_t)(lo >> PCI_IO_RANGE_SHIFT) & PCI_IO_RANGE_MASK);
		wr(br, PCI_IO_LIMIT, 1, (uint32_t)(hi >> PCI_IO_RANGE_SHIFT) & PCI_IO_RANGE_MASK);
	} else if (kind == R_MEM) {
		wr(br, PCI_MEMORY_BASE, 2, (uint32_t)(lo >> PCI_MEMORY_RANGE_SHIFT) & PCI_MEMORY_RANGE_MASK);
		wr(br, PCI_MEMORY_LIMIT, 2, (uint32_t)(hi >> PCI_MEMORY_RANGE_SHIFT) & PCI_MEMORY_RANGE_MASK);
	} else {
		wr(br, PCI_PREF_MEMORY_BASE, 2, (uint32_t)(lo >> PCI_MEMORY_RANGE_SHIFT) & PCI_MEMORY_RANGE_MASK);
		wr(br, PCI_PREF_MEMORY_LIMIT, 2, (uint32_t)(hi >> PCI_MEMORY_RANGE_SHIFT) & PCI_MEMORY_RANGE_MASK);
		wr(br, PCI_PREF_BASE_UPPER32, 4, (uint32_t)(lo >> 32));
		wr(br, PCI_PREF_LIMIT_UPPER32, 4, (uint32_t)(hi >> 32));
	}
}

static void assign(const struct item *x, uint64_t a)
{
	if (x->bar >= 0) {
		unsigned off = PCI_BAR0 + 4 * (unsigned)x->bar;
		uint32_t lo = cfg_get(x->f->cfg, off, 4);
		wr(x->f, off, 4, (uint32_t)a | (lo & ~(x->kind == R_IO ? PCI_BAR_IO_MASK : PCI_BAR_MEM_MASK)));
		if (x->f->d.bar[x->bar].flags & PCI_MODEL_BAR_MEM64)
			wr(x->f, off + 4, 4, (uint32_t)(a >> 32));
		return;
	}
	{
		struct item *kids = calloc(MAX_ITEMS, sizeof(*kids));
		unsigned n;
		set_window(x->f, x->kind, a, a + x->size - 1);
		if (!kids)
			return;
		n = collect(x->f->sec_index, 1u << x->kind, kids);
		place(kids, n, a, a + x->size - 1);
		free(kids);
	}
}

static void place(struct item *it, unsigned n, uint64_t base, uint64_t limit)
{
	uint64_t off = base;

	qsort(it, n, sizeof(*it), item_cmp);
	for (unsigned i = 0; i < n; i++) {
		uint64_t a = align_up(off, it[i].align);
		if (a < off || a > limit || it[i].size - 1 > limit - a) {
			pcim_log(it[i].f, "firmware: no room for %s %s of size 0x%llx in 0x%llx-0x%llx: "
			         "left unassigned", it[i].bar >= 0 ? "BAR" : "bridge window",
			         kind_name[it[i].kind], (unsigned long long)it[i].size,
			         (unsigned long long)base, (unsigned long long)limit);
			continue;
		}
		assign(&it[i], a);
		off = a + it[i].size;
	}
}

static void number_buses(unsigned bi, unsigned busnum, unsigned *next)
{
	struct pbus *b = &pci_fab.bus[bi];

	for (unsigned d = 0; d < 32; d++) {
		for (unsigned fi = 0; fi < 8; fi++) {
			struct pci_model_fn *br = b->slot[d][fi];
			unsigned sec;
			if (!br || br->kind != FN_BRIDGE || *next > 255)
				continue;
			sec = (*next)++;
			wr(br, PCI_PRIMARY_BUS, 1, busnum);
			wr(br, PCI_SECONDARY_BUS, 1, sec);
			wr(br, PCI_SUBORDINATE_BUS, 1, 0xFF);  /* open while numbering below */
			number_buses(br->sec_index, sec, next);
			wr(br, PCI_SUBORDINATE_BUS, 1, *next - 1);
		}
	}
}

int pci_model_firmware(uint64_t mmio_base, uint64_t mmio_limit, uint16_t io_base, uint16_t io_limit)
{
	struct item *it;
	unsigned next = 1, n;
	bool high;

	if (mmio_limit <= mmio_base || io_limit <= io_base)
		return -EINVAL;
	it = calloc(MAX_ITEMS, sizeof(*it));
	if (!it)
		return -ENOMEM;
	pthread_mutex_lock(&pci_fab.lock);
	if (!pci_fab.inited) {
		pthread_mutex_unlock(&pci_fab.lock);
		free(it);
		return -ENODEV;
	}
	/* Bridges closed first: every window empty (base above limit). */
	for (unsigned i = 0; i < pci_fab.nfns; i++) {
		struct pci_model_fn *f = pci_fab.fns[i];
		if (f->kind != FN_BRIDGE)
			continue;
		set_window(f, R_IO, 0xF000, 0);
		set_window(f, R_MEM, 0xFFF00000ull, 0);
		set_window(f, R_PREF, 0xFFF00000ull, 0);
	}
	number_buses(0, 0, &next);

	n = collect(0, 1u << R_IO, it);
	place(it, n, io_base, io_limit);
	high = pci_fab.cfg.mmio64_limit > pci_fab.cfg.mmio64_base;
	n = collect(0, high ? 1u << R_MEM : (1u << R_MEM) | (1u << R_PREF), it);
	place(it, n, mmio_base, mmio_limit);
	if (high) {
		n = collect(0, 1u << R_PREF, it);
		place(it, n, pci_fab.cfg.mmio64_base, pci_fab.cfg.mmio64_limit);
	}

	for (unsigned i = 0; i < pci_fab.nfns; i++) {
		struct pci_model_fn *f = pci_fab.fns[i];
		uint32_t cmd = 0;
		if (f->d.irq_pin)
			wr(f, PCI_INTERRUPT_LINE, 1, pcim_gsi(f));
		if (f->kind == FN_BRIDGE) {
			cmd = PCI_COMMAND_IO | PCI_COMMAND_MEM;
		} else {
			for (unsigned b = 0; b < 6; b++) {
				if (!f->d.bar[b].size || !pcim_bar_addr(f, b))
					continue;
				cmd |= (f->d.bar[b].flags & PCI_MODEL_BAR_IO) ? PCI_COMMAND_IO : PCI_COMMAND_MEM;
			}
		}
		if (cmd)
			wr(f, PCI_COMMAND, 2, cfg_get(f->cfg, PCI_COMMAND, 2) | cmd);
	}
	pthread_mutex_unlock(&pci_fab.lock);
	free(it);
	return 0;
}

/* ---- hostile endpoints (--pci-hostile) ----------------------------------------------------------- */

#define HOSTILE_SLOT0 0x10u
#define HOSTILE_DEVICE0 0xd0f0u

static const char *const hostile_names[5] = {
	"hostile-cap-loop", "hostile-cap-in-header", "hostile-bar-ones", "hostile-msix-no-bar",
	"hostile-vanish",
};

int pcim_add_hostile(unsigned kind)
{
	unsigned k = (unsigned)__builtin_ctz(kind);
	struct pci_model_desc d = {
		.name = hostile_names[k], .vendor = 0x1234, .device = (uint16_t)(HOSTILE_DEVICE0 + k),
		.subsys_vendor = 0x1af4, .subsys_id = 0x1100, .class_code = 0xff0000,
		.bar = { [0] = { .size = 0x1000 } },
	};
	struct pci_model_fn *f;
	uint8_t *c;
	int err;

	if (k >= 5 || kind != (1u << k))
		return -EINVAL;
	if (kind == PCI_HOSTILE_BAR_ONES)
		d.bar[0].size = 0;              /* no real decoder behind the bogus register */
	if (kind == PCI_HOSTILE_MSIX_NO_BAR) {
		d.bar[0].size = 0x4000;
		d.msix = true;
		d.msix_table_size = 8;
		d.msix_table_bar = 3;           /* BAR3 is not implemented */
		d.msix_table_off = 0;
		d.msix_pba_bar = 0;
		d.msix_pba_off = 0x2000;
	}
	if (kind == PCI_HOSTILE_VANISH) {
		d.msi = true;
		d.msi_64 = true;
	}
	if ((err = pcim_add_fn(0, (uint8_t)(HOSTILE_SLOT0 + k), 0, &d, FN_ENDPOINT, kind, &f)) != 0)
		return err;
	pthread_mutex_lock(&pci_fab.lock);
	c = f->cfg;
	switch (kind) {
	case PCI_HOSTILE_CAP_LOOP:
		/* 0x40 -> 0x50 -> 0x40 -> ... */
		c[PCI_CAP_PTR] = 0x40;
		c[0x40 + PCI_CAP_LIST_ID] = PCI_CAP_ID_PM;
		c[0x40 + PCI_CAP_LIST_NEXT] = 0x50;
		cfg_put(c, 0x40 + PCI_PM_PMC, 2, PCI_PM_PMC_VERSION_1_2);
		c[0x50 + PCI_CAP_LIST_ID] = PCI_CAP_ID_VNDR;
		c[0x50 + PCI_CAP_LIST_NEXT] = 0x40;
		c[0x50 + PCI_VNDR_LEN] = 0x08;
		cfg_put(c, PCI_STATUS, 2, cfg_get(c, PCI_STATUS, 2) | PCI_STATUS_CAP_LIST);
		break;
	case PCI_HOSTILE_CAP_IN_HEADER:
		c[PCI_CAP_PTR] = PCI_BAR0;      /* points into the header */
		cfg_put(c, PCI_STATUS, 2, cfg_get(c, PCI_STATUS, 2) | PCI_STATUS_CAP_LIST);
		break;
	case PCI_HOSTILE_BAR_ONES:
		cfg_put(c, PCI_BAR0, 4, 0xFFFFFFFFu);
		cfg_put(f->wmask, PCI_BAR0, 4, 0);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&pci_fab.lock);
	return 0;
}
