/*
 * dmar_fuzz.c — fuzz target for the DMAR parser (kernel/iommu/dmar.c; Intel VT-d
 * spec rev 3.x §8.1–§8.4) as LLVMFuzzerTestOneInput, for libFuzzer and AFL++.
 * Input: one DMAR table, as long as the input (its length field may say less or
 * more). Every device scope the parser accepts is then resolved through a fake
 * bridge table taken from the input's first bytes, so path walks run too.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <hw/acpi/dmar.h>
#include <kernel/errno.h>
#include "../kernel/iommu/dmar.h"
#include "fake_hal.h"

static struct dmar_info info;
static const uint8_t *cur;
static size_t cur_len;

/* Bridge bus:dev.fn has secondary bus = some input byte, or does not exist. */
static int lookup(void *ctx, uint16_t seg, uint8_t bus, uint8_t dev, uint8_t fn)
{
	(void)ctx;
	size_t i = ((size_t)seg * 7 + bus * 31u + dev * 8u + fn) % (cur_len ? cur_len : 1);
	if (!cur_len || (cur[i] & 1))
		return -ENOENT;
	return cur[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The parser reads the table in place: give it an exact-size copy so a read
	 * past the end is caught by ASan. */
	static uint8_t buf[1 << 16];
	if (size > sizeof buf)
		size = sizeof buf;
	uint8_t *t = buf + sizeof buf - size;
	memcpy(t, data, size);
	cur = t;
	cur_len = size;
	fake_hal_console_reset();
	int rc = dmar_parse(size ? t : NULL, size, &info);
	if (rc != 0 && rc != -EINVAL)
		__builtin_trap();
	if (rc != 0 && (info.nunits || info.nrmrr || info.nscopes))
		__builtin_trap();       /* a rejected table leaves nothing behind */
	if (info.nunits > DMAR_MAX_UNITS || info.nrmrr > DMAR_MAX_RMRR || info.nscopes > DMAR_MAX_SCOPES)
		__builtin_trap();
	for (unsigned u = 0; u < info.nunits; u++) {
		const struct dmar_unit_info *d = &info.units[u];
		if ((d->reg_base & 0xFFF) || !d->reg_base || d->first_scope + d->nscopes > info.nscopes)
			__builtin_trap();
		for (unsigned v = u + 1; v < info.nunits; v++)
			if ((d->flags & DMAR_DRHD_INCLUDE_PCI_ALL) && info.units[v].segment == d->segment)
				__builtin_trap();   /* INCLUDE_PCI_ALL must be last of its segment */
	}
	for (unsigned r = 0; r < info.nrmrr; r++) {
		const struct dmar_rmrr_info *m = &info.rmrr[r];
		if (m->base > m->limit || (m->base & 0xFFF) || ((m->limit + 1) & 0xFFF) ||
		    m->first_scope + m->nscopes > info.nscopes)
			__builtin_trap();
	}
	for (unsigned s = 0; s < info.nscopes; s++) {
		const struct dmar_scope_info *sc = &info.scopes[s];
		if (!sc->path_len || sc->path_len > DMAR_MAX_PATH || sc->offset >= size)
			__builtin_trap();
		uint8_t b, d, f;
		if (dmar_scope_resolve(sc, 0, lookup, 0, &b, &d, &f) == 0 && (d > 31 || f > 7))
			__builtin_trap();
	}
	return 0;
}
