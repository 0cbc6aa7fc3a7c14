/*
 * fuzz_ahci_identify.c — fuzz target for the AHCI driver's parsers of what a device
 * sends (kernel/drivers/ahci/ahci_cmd.c): IDENTIFY DEVICE data (ACS-3 §7.12.7), the
 * NCQ Command Error log page (ACS-3 Annex A.13) and the received-FIS area (AHCI
 * 1.3.1 §4.2.1), as LLVMFuzzerTestOneInput. Input: up to 512 bytes of IDENTIFY data,
 * then up to 512 bytes of log page, then up to 256 bytes of received-FIS area; each
 * piece padded with zeros (and each also parsed at its raw, short length, which must
 * be refused). Invariants: strings NUL-terminated, printable, within their field
 * width, without leading or trailing spaces; a usable disk has LBA48, a capacity in
 * 1..2^48, 512- or 4096-byte sectors and an NCQ depth 1..32 when NCQ is offered; a
 * TRIM disk has a DSM block count >= 1; every refusal names its reason with one of
 * the documented errors; the log tag is 0..31; the decoded FIS fields equal the
 * bytes at their offsets.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <drivers/ahci.h>
#include <kernel/errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t width)
{
	size_t n = strnlen(s, width + 1);
	if (n > width)
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] >= 0x7F)
			__builtin_trap();
	if (n && (s[n - 1] == ' ' || s[0] == ' '))
		__builtin_trap();
}

static void check_identify(const uint8_t *p, size_t len, bool full)
{
	struct ahci_id_info id;
	const char *why = "unset";
	int rc = ahci_identify_parse(p, len, &id, &why);
	if (!full) {
		if (rc != -EINVAL || !why)
			__builtin_trap();
		return;
	}
	if (rc == 0) {
		if (why || !id.lba48 || id.sectors == 0 || id.sectors > (1ull << 48))
			__builtin_trap();
		if (id.block_size != 512 && id.block_size != 4096)
			__builtin_trap();
	} else if ((rc != -EINVAL && rc != -EOPNOTSUPP) || !why || !why[0]) {
		__builtin_trap();
	}
	if (id.ncq && (id.ncq_depth < 1 || id.ncq_depth > 32))
		__builtin_trap();
	if (id.trim && id.dsm_max_blocks < 1)
		__builtin_trap();
	if (id.wcache_on && !id.wcache)
		__builtin_trap();
	check_str(id.model, 40);
	check_str(id.serial, 20);
	check_str(id.fw, 8);
}

static void check_log(const uint8_t *p, size_t len, bool full)
{
	struct ahci_ncq_err e;
	const char *why = 0;
	int rc = ahci_ncq_err_parse(p, len, &e, &why);
	if (!full) {
		if (rc != -EINVAL || !why)
			__builtin_trap();
		return;
	}
	uint8_t sum = 0;
	for (unsigned i = 0; i < 512; i++)
		sum = (uint8_t)(sum + p[i]);
	if ((rc == 0) != (sum == 0))
		__builtin_trap();
	if (rc == 0 && (e.tag > 31 || e.status != p[2] || e.error != p[3] || e.nq != ((p[0] & 0x80) != 0)))
		__builtin_trap();
	if (rc && !why)
		__builtin_trap();
}

static void check_rx(const uint8_t *p, size_t len, bool full)
{
	struct ahci_rx_info ri;
	const char *why = 0;
	int rc = ahci_rx_fis_decode(p, len, &ri, &why);
	if (!full) {
		if (rc != -EINVAL || !why)
			__builtin_trap();
		return;
	}
	if (rc) {
		if (rc != -EINVAL || !why)
			__builtin_trap();
		return;
	}
	if (ri.d2h_valid && (p[0x40] != FIS_TYPE_REG_D2H || ri.d2h_status != p[0x42] || ri.d2h_error != p[0x43]))
		__builtin_trap();
	if (ri.sdb_valid) {
		uint32_t sa;
		memcpy(&sa, p + 0x5C, 4);
		if (p[0x58] != FIS_TYPE_SDB || ri.sdb_sactive != sa)
			__builtin_trap();
	}
	if (!ri.d2h_valid && p[0x40])
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t id[512], log[512], rx[256];
	size_t n1 = size < 512 ? size : 512;
	size_t rest = size - n1;
	size_t n2 = rest < 512 ? rest : 512;
	size_t n3 = rest - n2 < 256 ? rest - n2 : 256;
	memset(id, 0, sizeof id);
	memset(log, 0, sizeof log);
	memset(rx, 0, sizeof rx);
	memcpy(id, data, n1);
	memcpy(log, data + n1, n2);
	memcpy(rx, data + n1 + n2, n3);
	check_identify(id, sizeof id, true);
	if (n1 < 512)
		check_identify(data, n1, false);
	check_log(log, sizeof log, true);
	if (n2 < 512)
		check_log(data + n1, n2, false);
	check_rx(rx, sizeof rx, true);
	if (n3 < 256)
		check_rx(data + n1 + n2, n3, false);
	return 0;
}
