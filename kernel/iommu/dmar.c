/*
 * dmar.c — parser for the ACPI DMAR table: DRHD units with their device scopes and
 * INCLUDE_PCI_ALL, RMRR regions; ATSR/RHSA/ANDD/SATC and reserved types are
 * recognised and skipped. Intel VT-d spec rev 3.x §8.1–§8.4. Pure (log lines only):
 * it links alone into the unit tests and the `dmar` fuzz target.
 */
#include <kernel/errno.h>
#include <kernel/log.h>
#include <kernel/string.h>
#include "dmar.h"

const char *dmar_scope_type_name(uint8_t type)
{
	switch (type) {
	case DMAR_SCOPE_ENDPOINT: return "endpoint";
	case DMAR_SCOPE_BRIDGE: return "bridge";
	case DMAR_SCOPE_IOAPIC: return "ioapic";
	case DMAR_SCOPE_HPET: return "hpet";
	case DMAR_SCOPE_ACPI: return "acpi";
	default: return "reserved";
	}
}

static const char *struct_name(uint16_t type)
{
	switch (type) {
	case DMAR_TYPE_DRHD: return "DRHD";
	case DMAR_TYPE_RMRR: return "RMRR";
	case DMAR_TYPE_ATSR: return "ATSR";
	case DMAR_TYPE_RHSA: return "RHSA";
	case DMAR_TYPE_ANDD: return "ANDD";
	case DMAR_TYPE_SATC: return "SATC";
	default: return "reserved structure";
	}
}

/* Reject the table: one line naming what, where and why. */
static int reject(struct dmar_info *out, const char *what, size_t off, const char *why)
{
	klog("dmar", "table rejected: %s at offset 0x%zx: %s", what, off, why);
	out->nunits = out->nrmrr = out->nscopes = 0;
	return -EINVAL;
}

/* Device scopes in [p+off, p+end) of the structure at table offset base. */
static int parse_scopes(const uint8_t *p, size_t off, size_t end, size_t base, const char *what,
			struct dmar_info *out, uint16_t *first, uint16_t *count)
{
	*first = (uint16_t)out->nscopes;
	*count = 0;
	while (off < end) {
		size_t at = base + off;
		if (end - off < sizeof(struct dmar_scope))
			return reject(out, what, at, "device scope truncated (fewer than 6 bytes left)");
		struct dmar_scope s;
		memcpy(&s, p + off, sizeof s);
		if (s.length < sizeof s)
			return reject(out, what, at, "device scope length below 6");
		if (s.length > end - off)
			return reject(out, what, at, "device scope overruns its structure");
		if ((s.length - sizeof s) % 2)
			return reject(out, what, at, "device scope path has an odd length");
		unsigned npath = (s.length - (unsigned)sizeof s) / 2;
		if (npath > DMAR_MAX_PATH)
			return reject(out, what, at, "device scope path deeper than 8 bridges");
		if (out->nscopes >= DMAR_MAX_SCOPES)
			return reject(out, what, at, "more than 128 device scopes in the table");
		if (s.type < DMAR_SCOPE_ENDPOINT || s.type > DMAR_SCOPE_ACPI) {
			klog("dmar", "%s at offset 0x%zx: scope of reserved type %u skipped", what, at, s.type);
			off += s.length;
			continue;
		}
		if (npath == 0)
			return reject(out, what, at, "device scope without a path");
		struct dmar_scope_info *si = &out->scopes[out->nscopes++];
		memset(si, 0, sizeof *si);
		si->type = s.type;
		si->enum_id = s.enum_id;
		si->start_bus = s.start_bus;
		si->path_len = (uint8_t)npath;
		si->offset = (uint32_t)at;
		for (unsigned i = 0; i < npath; i++) {
			si->path_dev[i] = p[off + sizeof s + 2 * i];
			si->path_fn[i] = p[off + sizeof s + 2 * i + 1];
			if (si->path_dev[i] > 31 || si->path_fn[i] > 7)
				return reject(out, what, at, "device scope path names device > 31 or function > 7");
		}
		(*count)++;
		off += s.length;
	}
	return 0;
}

int dmar_parse(const void *table, size_t len, struct dmar_info *out)
{
	const uint8_t *p = table;
	memset(out, 0, sizeof *out);
	if (!p || len < sizeof(struct dmar_table))
		return reject(out, "DMAR header", 0, "table shorter than its 48-byte header");
	struct dmar_table t;
	memcpy(&t, p, sizeof t);
	if (memcmp(t.hdr.signature, ACPI_SIG_DMAR, 4) != 0)
		return reject(out, "DMAR header", 0, "signature is not DMAR");
	if (t.hdr.length > len)
		return reject(out, "DMAR header", 4, "length field overruns the table");
	if (t.hdr.length < sizeof t)
		return reject(out, "DMAR header", 4, "length field below 48");
	len = t.hdr.length;
	out->haw = (uint8_t)(t.host_addr_width + 1u);
	out->flags = t.flags;
	if (out->haw < 32 || out->haw > 64)
		return reject(out, "DMAR header", 36, "host address width outside 32..64 bits");

	/* Segments whose INCLUDE_PCI_ALL unit has been seen: it must be the last
	 * DRHD of its segment (§8.3). A short list: few segments exist. */
	uint16_t all_seen[DMAR_MAX_UNITS];
	unsigned nall = 0;
	size_t off = sizeof t;
	while (off < len) {
		if (len - off < sizeof(struct dmar_struct_hdr))
			return reject(out, "remapping structure", off, "header truncated");
		struct dmar_struct_hdr h;
		memcpy(&h, p + off, sizeof h);
		const char *what = struct_name(h.type);
		if (h.length == 0)
			return reject(out, what, off, "length 0");
		if (h.length < sizeof h)
			return reject(out, what, off, "length below 4");
		if (h.length > len - off)
			return reject(out, what, off, "overruns the table");
		const uint8_t *s = p + off;
		if (h.type == DMAR_TYPE_DRHD) {
			struct dmar_drhd d;
			if (h.length < sizeof d)
				return reject(out, what, off, "shorter than its 16-byte fixed part");
			memcpy(&d, s, sizeof d);
			if (d.reg_base == 0 || (d.reg_base & 0xFFF))
				return reject(out, what, off, "register base is zero or not 4 KiB aligned");
			for (unsigned i = 0; i < nall; i++)
				if (all_seen[i] == d.segment)
					return reject(out, what, off,
						      "follows the INCLUDE_PCI_ALL unit of its segment (it must be last)");
			if (out->nunits >= DMAR_MAX_UNITS)
				return reject(out, what, off, "more than 8 remapping units");
			struct dmar_unit_info *u = &out->units[out->nunits];
			u->reg_base = d.reg_base;
			u->segment = d.segment;
			u->flags = d.flags;
			u->size_log2 = d.size & DMAR_DRHD_SIZE_MASK;
			u->offset = (uint32_t)off;
			int rc = parse_scopes(s, sizeof d, h.length, off, what, out, &u->first_scope, &u->nscopes);
			if (rc)
				return rc;
			if ((d.flags & DMAR_DRHD_INCLUDE_PCI_ALL) && nall < DMAR_MAX_UNITS)
				all_seen[nall++] = d.segment;
			out->nunits++;
		} else if (h.type == DMAR_TYPE_RMRR) {
			struct dmar_rmrr r;
			if (h.length < sizeof r)
				return reject(out, what, off, "shorter than its 24-byte fixed part");
			memcpy(&r, s, sizeof r);
			if (r.base > r.limit)
				return reject(out, what, off, "base above limit");
			if ((r.base & 0xFFF) || ((r.limit + 1) & 0xFFF))
				return reject(out, what, off, "region is not 4 KiB granular");
			if (out->nrmrr >= DMAR_MAX_RMRR)
				return reject(out, what, off, "more than 16 reserved memory regions");
			struct dmar_rmrr_info *ri = &out->rmrr[out->nrmrr];
			ri->base = r.base;
			ri->limit = r.limit;
			ri->segment = r.segment;
			ri->offset = (uint32_t)off;
			int rc = parse_scopes(s, sizeof r, h.length, off, what, out, &ri->first_scope, &ri->nscopes);
			if (rc)
				return rc;
			out->nrmrr++;
		} else {
			/* ATSR, RHSA, ANDD, SATC: nothing this kernel uses; reserved types
			 * are skipped as §8.2 asks of software. */
			out->nskipped++;
		}
		off += h.length;
	}
	return 0;
}

int dmar_scope_resolve(const struct dmar_scope_info *s, uint16_t seg, dmar_bridge_fn lookup,
		       void *ctx, uint8_t *bus, uint8_t *dev, uint8_t *fn)
{
	if (!s->path_len)
		return -EINVAL;
	unsigned b = s->start_bus;
	/* Every element but the last is a bridge: its secondary bus is where the next
	 * element lives (§8.3.1 "Device Scope Path"). */
	for (unsigned i = 0; i + 1 < s->path_len; i++) {
		int sec = lookup(ctx, seg, (uint8_t)b, s->path_dev[i], s->path_fn[i]);
		if (sec < 0)
			return sec;
		if (sec > 255)
			return -EINVAL;
		b = (unsigned)sec;
	}
	*bus = (uint8_t)b;
	*dev = s->path_dev[s->path_len - 1];
	*fn = s->path_fn[s->path_len - 1];
	return 0;
}
