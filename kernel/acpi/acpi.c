/*
 * acpi.c — finding the ACPI tables: RSDP (handed over by the loader, else the BIOS
 * area scan of ACPI 6.5 §5.2.5.1), RSDT/XSDT walk (§5.2.7, §5.2.8) and checksums
 * (§5.2.6). Every physical range is checked against the boot memory map before it
 * is read; a bad table is logged by signature and fault and skipped.
 */
#include <hal/hal.h>
#include <kernel/acpi.h>
#include <kernel/errno.h>
#include <kernel/log.h>
#include <kernel/printf.h>
#include <kernel/string.h>

static const struct boot_info *boot;
static struct acpi_info boot_acpi;

const struct acpi_info *acpi_boot_info(void)
{
	return &boot_acpi;
}

int acpi_boot_init(const struct boot_info *bi)
{
	return acpi_init(bi, &boot_acpi);
}

const char *acpi_rsdp_source_name(enum acpi_rsdp_source s)
{
	switch (s) {
	case ACPI_RSDP_TAG15: return "tag15";
	case ACPI_RSDP_TAG14: return "tag14";
	case ACPI_RSDP_HINT: return "hint";
	case ACPI_RSDP_SCAN: return "scan";
	default: return "none";
	}
}

/*
 * May [pa, pa+len) be read? Every byte must lie in some memory-map region (any
 * type: tables sit in reserved and ACPI regions) or below 1 MiB (the BIOS area is
 * often missing from the map), and the platform must be able to reach it.
 */
static bool phys_readable(uint64_t pa, uint64_t len)
{
	if (len == 0 || pa + len < pa)
		return false;
	uint64_t cur = pa, end = pa + len;
	while (cur < end) {
		uint64_t next = cur;
		if (cur < 0x100000)
			next = 0x100000;
		for (uint32_t i = 0; i < boot->mmap_count && next == cur; i++) {
			const struct boot_mem_region *r = &boot->mmap[i];
			if (cur >= r->base && cur - r->base < r->len)
				next = r->base + r->len;
		}
		if (next == cur)
			return false;
		cur = next;
	}
	return hal_phys_to_virt(pa) && hal_phys_to_virt(end - 1) &&
	       (uint8_t *)hal_phys_to_virt(end - 1) - (uint8_t *)hal_phys_to_virt(pa) == (long)(len - 1);
}

static uint8_t sum_bytes(const void *p, uint32_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;
	for (uint32_t i = 0; i < len; i++)
		s = (uint8_t)(s + b[i]);
	return s;
}

static void sig_str(const char in[4], char out[5])
{
	for (int i = 0; i < 4; i++)
		out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
	out[4] = '\0';
}

/* How a table is named in log lines: the common name beside the signature. */
static const char *sig_display(const char sig[5])
{
	if (memcmp(sig, ACPI_SIG_MADT, 4) == 0)
		return "MADT (APIC)";
	if (memcmp(sig, ACPI_SIG_FADT, 4) == 0)
		return "FADT (FACP)";
	return sig;
}

/* Validate an RSDP at pa; logs why not when `loud`. */
static bool rsdp_valid(uint64_t pa, bool loud)
{
	if (!phys_readable(pa, ACPI_RSDP_V1_LEN)) {
		if (loud)
			klog("acpi", "RSDP at 0x%llx: outside readable memory", (unsigned long long)pa);
		return false;
	}
	const struct acpi_rsdp *r = hal_phys_to_virt(pa);
	if (memcmp(r->signature, ACPI_SIG_RSDP, 8) != 0) {
		if (loud)
			klog("acpi", "RSDP at 0x%llx: bad signature", (unsigned long long)pa);
		return false;
	}
	if (sum_bytes(r, ACPI_RSDP_V1_LEN) != 0) {
		if (loud)
			klog("acpi", "RSDP at 0x%llx: bad checksum", (unsigned long long)pa);
		return false;
	}
	return true;
}

static uint64_t rsdp_scan_range(uint64_t start, uint64_t end)
{
	for (uint64_t pa = start; pa + ACPI_RSDP_V1_LEN <= end; pa += 16) {
		if (!phys_readable(pa, ACPI_RSDP_V1_LEN))
			continue;
		if (memcmp(hal_phys_to_virt(pa), ACPI_SIG_RSDP, 8) == 0 && rsdp_valid(pa, true))
			return pa;
	}
	return 0;
}

/* ACPI 6.5 §5.2.5.1: first KiB of the EBDA, then 0xE0000–0xFFFFF, 16-byte aligned. */
static uint64_t rsdp_scan(void)
{
	uint64_t pa = 0;
	if (phys_readable(0x40E, 2)) {
		uint16_t seg;
		memcpy(&seg, hal_phys_to_virt(0x40E), 2);
		uint64_t ebda = (uint64_t)seg << 4;
		if (ebda >= 0x80000 && ebda < 0xA0000)
			pa = rsdp_scan_range(ebda, ebda + 1024);
	}
	if (!pa)
		pa = rsdp_scan_range(0xE0000, 0x100000);
	return pa;
}

/*
 * Check the table header at pa: readable, sane length, checksum. Returns the
 * length, or 0 after logging the fault. `what` names where the pointer came from.
 */
static uint32_t table_check(uint64_t pa, const char *what, char sig[5])
{
	kstrlcpy(sig, "????", 5);
	if (pa == 0) {
		klog("acpi", "%s: null table pointer, skipped", what);
		return 0;
	}
	if (!phys_readable(pa, sizeof(struct acpi_sdt_header))) {
		klog("acpi", "%s: table at 0x%llx lies outside memory, skipped", what, (unsigned long long)pa);
		return 0;
	}
	const struct acpi_sdt_header *h = hal_phys_to_virt(pa);
	sig_str(h->signature, sig);
	if (h->length < sizeof *h || h->length > ACPI_MAX_TABLE_LEN) {
		klog("acpi", "%s: %s at 0x%llx has bad length %u, skipped", what, sig_display(sig),
		     (unsigned long long)pa, h->length);
		return 0;
	}
	if (!phys_readable(pa, h->length)) {
		klog("acpi", "%s: %s at 0x%llx (length %u) runs outside memory, skipped", what, sig_display(sig),
		     (unsigned long long)pa, h->length);
		return 0;
	}
	uint8_t s = sum_bytes(h, h->length);
	if (s != 0) {
		klog("acpi", "%s: %s at 0x%llx has bad checksum (bytes sum to 0x%02x), skipped", what, sig_display(sig),
		     (unsigned long long)pa, s);
		return 0;
	}
	return h->length;
}

/* Walk an RSDT (entry_size 4) or XSDT (8). Returns 0 or -EINVAL if the root is bad. */
static int walk_root(struct acpi_info *info, uint64_t pa, unsigned entry_size)
{
	const char *name = entry_size == ACPI_XSDT_ENTRY_SIZE ? ACPI_SIG_XSDT : ACPI_SIG_RSDT;
	char sig[5];
	uint32_t len = table_check(pa, name, sig);
	if (!len) {
		info->nerrors++;
		return -EINVAL;
	}
	if (memcmp(sig, name, 4) != 0) {
		klog("acpi", "%s at 0x%llx has signature '%s', skipped", name, (unsigned long long)pa, sig);
		info->nerrors++;
		return -EINVAL;
	}
	if ((len - sizeof(struct acpi_sdt_header)) % entry_size != 0) {
		klog("acpi", "%s at 0x%llx: bad length %u (not 36 + %u*n), skipped", name,
		     (unsigned long long)pa, len, entry_size);
		info->nerrors++;
		return -EINVAL;
	}
	const uint8_t *base = (const uint8_t *)hal_phys_to_virt(pa) + sizeof(struct acpi_sdt_header);
	unsigned n = (len - (unsigned)sizeof(struct acpi_sdt_header)) / entry_size;
	for (unsigned i = 0; i < n; i++) {
		uint64_t tpa = 0;
		memcpy(&tpa, base + (size_t)i * entry_size, entry_size);
		char what[24], tsig[5];
		ksnprintf(what, sizeof what, "%s entry %u", name, i);
		uint32_t tlen = table_check(tpa, what, tsig);
		if (!tlen) {
			info->nerrors++;
			continue;
		}
		if (info->ntables == ACPI_MAX_TABLES) {
			klog("acpi", "%s: more than %d tables, %s and later ignored", name, ACPI_MAX_TABLES, tsig);
			info->nerrors++;
			break;
		}
		struct acpi_table_ref *t = &info->tables[info->ntables++];
		kstrlcpy(t->signature, tsig, sizeof t->signature);
		t->phys = tpa;
		t->length = tlen;
	}
	return 0;
}

const struct acpi_sdt_header *acpi_find(const struct acpi_info *info, const char sig[4])
{
	for (unsigned i = 0; i < info->ntables; i++)
		if (memcmp(info->tables[i].signature, sig, 4) == 0)
			return hal_phys_to_virt(info->tables[i].phys);
	return 0;
}

int acpi_init(const struct boot_info *bi, struct acpi_info *info)
{
	memset(info, 0, sizeof *info);
	boot = bi;
	uint64_t pa = 0;
	if (bi->rsdp_phys) {
		if (rsdp_valid(bi->rsdp_phys, true)) {
			pa = bi->rsdp_phys;
			info->rsdp_source = bi->rsdp_source == 15 ? ACPI_RSDP_TAG15
					  : bi->rsdp_source == 14 ? ACPI_RSDP_TAG14 : ACPI_RSDP_HINT;
		} else {
			klog("acpi", "RSDP handed over by the loader is unusable; scanning the BIOS area");
			info->nerrors++;
		}
	}
	if (!pa) {
		pa = rsdp_scan();
		info->rsdp_source = pa ? ACPI_RSDP_SCAN : ACPI_RSDP_NONE;
	}
	if (!pa) {
		klog("acpi", "no valid RSDP found (loader tags, EBDA, 0xE0000-0xFFFFF): running without ACPI");
		info->nerrors++;
		return -ENOENT;
	}
	info->rsdp_phys = pa;
	const struct acpi_rsdp *r = hal_phys_to_virt(pa);
	info->revision = r->revision;
	bool xsdt_ok = false;
	if (r->revision >= 2) {
		if (!phys_readable(pa, sizeof *r) || r->length < sizeof *r || r->length > 4096 ||
		    !phys_readable(pa, r->length)) {
			klog("acpi", "RSDP revision %u: bad length %u, using the RSDT", r->revision, r->length);
			info->nerrors++;
		} else if (sum_bytes(r, r->length) != 0) {
			klog("acpi", "RSDP revision %u: bad extended checksum, using the RSDT", r->revision);
			info->nerrors++;
		} else if (r->xsdt_address) {
			xsdt_ok = walk_root(info, r->xsdt_address, ACPI_XSDT_ENTRY_SIZE) == 0;
			if (!xsdt_ok)
				klog("acpi", "XSDT unusable, falling back to the RSDT");
		}
	}
	info->via_xsdt = xsdt_ok;
	if (!xsdt_ok) {
		info->ntables = 0;
		if (walk_root(info, r->rsdt_address, ACPI_RSDT_ENTRY_SIZE) != 0)
			klog("acpi", "no usable root table (RSDT/XSDT): running without ACPI tables");
	}
	const struct acpi_sdt_header *madt = acpi_find(info, ACPI_SIG_MADT);
	if (!madt) {
		klog("acpi", "no usable MADT (APIC table): CPU and I/O APIC discovery unavailable");
		info->nerrors++;
	} else if (acpi_madt_parse((const struct acpi_madt *)madt, madt->length, &info->madt) == 0) {
		info->have_madt = true;
	} else {
		info->nerrors++;
	}
	return 0;
}

void acpi_dump(const struct acpi_info *info)
{
	struct { const char *sig; uint64_t pa; uint32_t len; } items[ACPI_MAX_TABLES + 1];
	unsigned n = 0;
	if (info->rsdp_phys) {
		const struct acpi_rsdp *r = hal_phys_to_virt(info->rsdp_phys);
		items[n].sig = "RSDP";
		items[n].pa = info->rsdp_phys;
		items[n].len = r->revision >= 2 && r->length >= 36 && r->length <= 64 ? r->length : 20;
		n++;
	}
	for (unsigned i = 0; i < info->ntables; i++, n++) {
		items[n].sig = info->tables[i].signature;
		items[n].pa = info->tables[i].phys;
		items[n].len = info->tables[i].length;
	}
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *b = hal_phys_to_virt(items[i].pa);
		kprintf("acpi-dump: table %s phys=0x%llx len=%u\n", items[i].sig,
			(unsigned long long)items[i].pa, items[i].len);
		for (uint32_t off = 0; off < items[i].len; off += 32) {
			char line[80];
			unsigned k = 0;
			for (uint32_t j = off; j < items[i].len && j < off + 32; j++)
				k += (unsigned)ksnprintf(line + k, sizeof line - k, "%02x", b[j]);
			kprintf("acpi-dump: %s\n", line);
		}
	}
	kprintf("acpi-dump: end\n");
}
