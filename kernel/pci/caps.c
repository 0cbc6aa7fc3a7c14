/*
 * caps.c — pure parsers over a PCI configuration-space image: the capability list
 * (PCI Local Bus 3.0 §6.7), the extended capability list (PCIe Base 4.0 §7.6.3),
 * and the MSI / MSI-X capabilities (PCIe 4.0 §7.7.1, §7.7.2). No hardware access:
 * linked alone into unit tests and fuzz targets. A hostile list ends the walk with
 * a reason string; nothing here trusts a pointer it read.
 */
#include <stdarg.h>
#include <kernel/pci.h>
#include <kernel/printf.h>
#include <kernel/string.h>
#include <hw/pci/caps.h>
#include <hw/pci/config.h>
#include <hw/pci/msi.h>

/* A bound on the standard list walk: one capability per dword after the header. */
#define PCI_CAP_MAX_WALK ((PCI_LEGACY_CFG_SIZE - PCI_HEADER_END) / 4)

/* The reason of the last failed parse; *err points here (valid until the next
 * failed parse, which is fine for boot-time enumeration and single-threaded tests). */
static char errbuf[112];

static const char *fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(errbuf, sizeof errbuf, fmt, ap);
	va_end(ap);
	return errbuf;
}

static unsigned rd8(const uint8_t *cfg, size_t off)
{
	return cfg[off];
}

static unsigned rd16(const uint8_t *cfg, size_t off)
{
	return (unsigned)cfg[off] | (unsigned)cfg[off + 1] << 8;
}

static uint32_t rd32(const uint8_t *cfg, size_t off)
{
	return (uint32_t)rd16(cfg, off) | (uint32_t)rd16(cfg, off + 2) << 16;
}

static bool store(struct pci_cap *out, unsigned max, unsigned *n, uint16_t id, uint16_t off, bool ext,
		  uint8_t ver)
{
	if (*n >= max)
		return false;
	out[*n].id = id;
	out[*n].off = off;
	out[*n].ext = ext;
	out[*n].ver = ver;
	(*n)++;
	return true;
}

/* The list in the first 256 bytes. Returns NULL when clean, else the reason. */
static const char *walk_std(const uint8_t *cfg, size_t len, struct pci_cap *out, unsigned max,
			    unsigned *n)
{
	if (!(rd16(cfg, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return 0;
	unsigned type = rd8(cfg, PCI_HEADER_TYPE) & PCI_HEADER_TYPE_MASK;
	unsigned ptr_reg = type == PCI_HEADER_CARDBUS ? PCI_CB_CAP_PTR : PCI_CAP_PTR;
	size_t lim = len < PCI_LEGACY_CFG_SIZE ? len : PCI_LEGACY_CFG_SIZE;
	uint64_t visited = 0;                   /* one bit per dword from 0x40 */
	unsigned raw = rd8(cfg, ptr_reg), from = ptr_reg;
	for (unsigned steps = 0;; steps++) {
		unsigned ptr = raw & PCI_CAP_PTR_MASK; /* bits 1:0 reserved: masked (§6.7) */
		if (ptr == 0)
			return 0;
		if (ptr < PCI_HEADER_END)
			return fail("capability pointer 0x%02x at 0x%02x points into the header", ptr, from);
		if (ptr + PCI_CAP_LIST_NEXT + 1 > lim)
			return fail("capability pointer 0x%02x at 0x%02x lies beyond the %u-byte config image",
				    ptr, from, (unsigned)lim);
		uint64_t bit = 1ull << ((ptr - PCI_HEADER_END) / 4);
		if (visited & bit)
			return fail("capability loop at 0x%02x (reached again from 0x%02x)", ptr, from);
		if (steps >= PCI_CAP_MAX_WALK)      /* unreachable with the visited set; kept as a bound */
			return fail("more than %u capabilities", PCI_CAP_MAX_WALK);
		visited |= bit;
		if (!store(out, max, n, (uint16_t)rd8(cfg, ptr + PCI_CAP_LIST_ID), (uint16_t)ptr, false, 0))
			return fail("more than %u capabilities (at 0x%02x)", max, ptr);
		from = ptr + PCI_CAP_LIST_NEXT;
		raw = rd8(cfg, ptr + PCI_CAP_LIST_NEXT);
	}
}

/* The extended list from 0x100 (PCIe 4.0 §7.6.3). */
static const char *walk_ext(const uint8_t *cfg, size_t len, struct pci_cap *out, unsigned max,
			    unsigned *n)
{
	uint64_t visited[(PCI_ECAM_CFG_SIZE - PCI_EXT_CAP_START) / 4 / 64];
	memset(visited, 0, sizeof visited);
	unsigned off = PCI_EXT_CAP_START, from = 0;
	for (;;) {
		if (off + 4 > len)
			return fail("extended capability at 0x%03x (from 0x%03x) lies beyond the %u-byte config image",
				    off, from, (unsigned)len);
		uint32_t hdr = rd32(cfg, off);
		if (hdr == 0 || hdr == 0xFFFFFFFFu)
			return 0;                   /* no (more) extended capabilities */
		unsigned slot = (off - PCI_EXT_CAP_START) / 4;
		if (visited[slot / 64] & (1ull << (slot % 64)))
			return fail("extended capability loop at 0x%03x (reached again from 0x%03x)", off, from);
		visited[slot / 64] |= 1ull << (slot % 64);
		if (!store(out, max, n, pci_ext_cap_id(hdr), (uint16_t)off, true, pci_ext_cap_ver(hdr)))
			return fail("more than %u capabilities (extended at 0x%03x)", max, off);
		unsigned next = pci_ext_cap_next(hdr);  /* bits 1:0 reserved */
		if (next == 0)
			return 0;
		if (next < PCI_EXT_CAP_START)
			return fail("extended capability next pointer 0x%03x at 0x%03x is below 0x100", next, off);
		from = off;
		off = next;
	}
}

unsigned pci_caps_parse(const uint8_t *cfg, size_t len, struct pci_cap *out, unsigned max,
			const char **err)
{
	unsigned n = 0;
	const char *why = 0;
	if (!cfg || len < PCI_HEADER_END) {
		why = fail("config image of %u bytes is shorter than the 64-byte header", cfg ? (unsigned)len : 0);
		goto out;
	}
	if (len > PCI_ECAM_CFG_SIZE)
		len = PCI_ECAM_CFG_SIZE;
	why = walk_std(cfg, len, out, max, &n);
	if (!why && len > PCI_LEGACY_CFG_SIZE)
		why = walk_ext(cfg, len, out, max, &n);
out:
	if (err)
		*err = why;
	return n;
}

/* ---- MSI and MSI-X ------------------------------------------------------------------ */

static void decode_msi(const uint8_t *cfg, size_t lim, uint16_t off, struct pci_msi_info *msi,
		       const char **why)
{
	if (off + PCI_MSI_CTRL + 2u > lim) {
		*why = fail("MSI capability at 0x%02x runs past the config image", off);
		return;
	}
	unsigned ctrl = rd16(cfg, off + PCI_MSI_CTRL);
	bool is64 = ctrl & PCI_MSI_CTRL_64BIT, maskable = ctrl & PCI_MSI_CTRL_MASKABLE;
	/* Structure length, PCIe 4.0 Figure 7-41..7-44: 10/14 bytes, 20/24 with masking. */
	unsigned need = maskable ? (is64 ? PCI_MSI_CAP_LEN_64_MASK : PCI_MSI_CAP_LEN_32_MASK)
				 : (is64 ? PCI_MSI_CAP_LEN_64 : PCI_MSI_CAP_LEN_32);
	if (off + need > lim) {
		*why = fail("MSI capability at 0x%02x (%u bytes) runs past the config image (%u bytes)", off, need,
			    (unsigned)lim);
		return;
	}
	unsigned mmc = (ctrl >> PCI_MSI_CTRL_MMC_SHIFT) & PCI_MSI_CTRL_MM_MASK;
	if (mmc > PCI_MSI_MMC_MAX) {
		*why = fail("MSI capability at 0x%02x: Multiple Message Capable %u is reserved", off, mmc);
		return;
	}
	msi->present = true;
	msi->is64 = is64;
	msi->maskable = maskable;
	msi->off = off;
	msi->multi_cap_log2 = (uint8_t)mmc;
}

static bool mem_bar(const struct pci_bar bars[6], unsigned bir)
{
	return bars && bir < 6 && (bars[bir].kind == PCI_BAR_MEM32 || bars[bir].kind == PCI_BAR_MEM64) &&
	       bars[bir].size != 0;
}

/* Is the structure [off, off+size) in BAR bir usable? NULL or the reason. */
static const char *check_region(const struct pci_bar bars[6], const char *what, unsigned bir, uint64_t off,
				uint64_t size)
{
	if (bir > 5)
		return fail("MSI-X %s BIR %u is reserved", what, bir);
	if (!mem_bar(bars, bir)) {
		if (bars && bir > 0 && bars[bir - 1].kind == PCI_BAR_MEM64)
			return fail("MSI-X %s in bar%u, the upper half of 64-bit bar%u", what, bir, bir - 1);
		return fail("MSI-X %s in bar%u, which is not an implemented memory BAR", what, bir);
	}
	if (off + size > bars[bir].size) {
		return fail("MSI-X %s (0x%llx bytes at bar%u+0x%llx) runs past the BAR's end (size 0x%llx)",
			    what, (unsigned long long)size, bir, (unsigned long long)off,
			    (unsigned long long)bars[bir].size);
	}
	return 0;
}

static void decode_msix(const uint8_t *cfg, size_t lim, uint16_t off, struct pci_msix_info *x,
			const struct pci_bar bars[6], const char **why)
{
	if ((size_t)off + PCI_MSIX_CAP_LEN > lim) {
		*why = fail("MSI-X capability at 0x%02x runs past the config image", off);
		return;
	}
	unsigned ctrl = rd16(cfg, off + PCI_MSIX_CTRL);
	uint32_t tbl = rd32(cfg, off + PCI_MSIX_TABLE), pba = rd32(cfg, off + PCI_MSIX_PBA);
	x->present = true;
	x->off = off;
	x->table_size = (uint16_t)((ctrl & PCI_MSIX_CTRL_SIZE_MASK) + 1);
	x->table_bar = (uint8_t)(tbl & PCI_MSIX_BIR_MASK);
	x->table_off = tbl & ~PCI_MSIX_BIR_MASK;
	x->pba_bar = (uint8_t)(pba & PCI_MSIX_BIR_MASK);
	x->pba_off = pba & ~PCI_MSIX_BIR_MASK;
	uint64_t tlen = (uint64_t)x->table_size * PCI_MSIX_ENTRY_SIZE;
	uint64_t plen = pci_msix_pba_bytes(x->table_size);
	const char *r = check_region(bars, "table", x->table_bar, x->table_off, tlen);
	if (!r)
		r = check_region(bars, "PBA", x->pba_bar, x->pba_off, plen);
	if (!r && x->table_bar == x->pba_bar && x->table_off < x->pba_off + plen &&
	    x->pba_off < x->table_off + tlen) {
		r = fail("MSI-X table (bar%u+0x%x, 0x%llx bytes) and PBA (+0x%x, 0x%llx bytes) overlap",
			 x->table_bar, x->table_off, (unsigned long long)tlen, x->pba_off, (unsigned long long)plen);
	}
	if (r) {
		*why = r;
		return;
	}
	x->valid = true;
}

void pci_msi_decode(const uint8_t *cfg, size_t len, const struct pci_cap *caps, unsigned n,
		    struct pci_msi_info *msi, struct pci_msix_info *msix, const struct pci_bar bars[6],
		    const char **err)
{
	const char *why = 0;
	memset(msi, 0, sizeof *msi);
	memset(msix, 0, sizeof *msix);
	size_t lim = len < PCI_LEGACY_CFG_SIZE ? len : PCI_LEGACY_CFG_SIZE;
	bool seen_msi = false, seen_msix = false;
	for (unsigned i = 0; cfg && caps && i < n; i++) {
		if (caps[i].ext)
			continue;
		if (caps[i].id == PCI_CAP_ID_MSI && !seen_msi) {
			seen_msi = true;            /* the first one counts, as in every OS */
			decode_msi(cfg, lim, caps[i].off, msi, &why);
		} else if (caps[i].id == PCI_CAP_ID_MSIX && !seen_msix) {
			seen_msix = true;
			decode_msix(cfg, lim, caps[i].off, msix, bars, &why);
		}
	}
	if (err)
		*err = why;
}
