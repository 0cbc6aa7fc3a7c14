/*
 * fuzz_nvme_identify.c — fuzz target for the NVMe driver's Identify parsers
 * (kernel/drivers/nvme/nvme_ident.c: Identify Controller, NVMe 1.4 §5.15.2.2, and
 * Identify Namespace, §5.15.2.1) as LLVMFuzzerTestOneInput. Input: the start of a
 * 4096-byte Identify page; shorter inputs are padded with zeros to 4096 bytes and
 * longer ones cut. Each page is parsed both as a controller and as a namespace,
 * and the raw input with its own length too (which must be refused when short).
 * Invariants: strings NUL-terminated, printable, within their field width and
 * without trailing spaces; MDTS bytes 0 or a power of two from 8 KiB below 1 TiB
 * for every MPSMIN; a usable namespace has NSZE > 0, NCAP <= NSZE, no metadata,
 * 512 or 4096-byte blocks and a format index within NLBAF; every refusal names
 * its reason and returns one of the documented errors.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <drivers/nvme.h>
#include <kernel/errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t width)
{
	size_t n = strnlen(s, width + 1);
	if (n > width)
		__builtin_trap();       /* not terminated within the field */
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] >= 0x7F)
			__builtin_trap();
	if (n && s[n - 1] == ' ')
		__builtin_trap();
}

static void check_ctrl(const uint8_t *page, size_t len, bool full)
{
	struct nvme_id_info id;
	const char *why = "unset";
	int rc = nvme_id_ctrl_parse(page, len, &id, &why);
	if (!full) {
		if (rc != -EINVAL || !why)
			__builtin_trap();
		return;
	}
	if (rc == 0) {
		if (why)
			__builtin_trap();
		const struct nvme_id_ctrl *raw = (const void *)page;
		if (id.mdts != raw->mdts || id.oncs != raw->oncs || id.vwc != raw->vwc || id.nn != raw->nn)
			__builtin_trap();
	} else if (rc != -EINVAL || !why || !why[0]) {
		__builtin_trap();
	}
	/* strings are made safe whatever the verdict */
	check_str(id.sn, 20);
	check_str(id.mn, 40);
	check_str(id.fr, 8);
	for (uint32_t mps = 0; mps < 16; mps++) {
		uint64_t b = nvme_mdts_bytes(id.mdts, mps);
		if (id.mdts == 0 && b != 0)
			__builtin_trap();
		if (b && (b & (b - 1)))
			__builtin_trap();
		if (b && (b < 8192 || b >= (1ull << 40)))
			__builtin_trap();
	}
}

static void check_ns(const uint8_t *page, size_t len, bool full)
{
	struct nvme_ns_info ns;
	const char *why = "unset";
	int rc = nvme_id_ns_parse(page, len, &ns, &why);
	if (!full) {
		if (rc != -EINVAL || !why)
			__builtin_trap();
		return;
	}
	const struct nvme_id_ns *raw = (const void *)page;
	if (rc == 0) {
		if (why)
			__builtin_trap();
		if (ns.nsze == 0 || ns.ncap > ns.nsze || ns.ms != 0)
			__builtin_trap();
		if (ns.block_size != 512 && ns.block_size != 4096)
			__builtin_trap();
		if (ns.flbas_index > raw->nlbaf || ns.flbas_index > 15)
			__builtin_trap();
		if (ns.nsze != raw->nsze || (1u << raw->lbaf[ns.flbas_index].lbads) != ns.block_size)
			__builtin_trap();
	} else if ((rc != -EINVAL && rc != -EOPNOTSUPP) || !why || !why[0]) {
		__builtin_trap();
	} else if (raw->nsze == 0 && rc != -EOPNOTSUPP) {
		__builtin_trap();       /* an inactive (zero) namespace is skipped, not refused */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t page[4096] __attribute__((aligned(8)));
	size_t n = size < sizeof page ? size : sizeof page;
	memset(page, 0, sizeof page);
	memcpy(page, data, n);
	check_ctrl(page, sizeof page, true);
	check_ns(page, sizeof page, true);
	/* the input as it came: a short page must be refused, never read past */
	if (size < sizeof page) {
		uint8_t *raw = malloc(size ? size : 1);
		if (!raw)
			return 0;
		memcpy(raw, data, size);
		check_ctrl(raw, size, false);
		check_ns(raw, size, false);
		free(raw);
	}
	return 0;
}
