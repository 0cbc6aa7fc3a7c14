/*
 * ahci_prdt.c — the Physical Region Descriptor Table of one command (AHCI 1.3.1
 * §4.2.3.3), PURE (unit tests and the fuzz target call it): bus segments become
 * entries with DBC = bytes - 1, every count even and every address word aligned,
 * at most 4 MiB per entry (longer segments split), 32-bit addresses unless the HBA
 * has CAP.S64A.
 */
#include <drivers/ahci.h>
#include <kernel/errno.h>

int ahci_prdt_build(const struct ahci_prdt_seg *seg, unsigned nseg, uint64_t total, bool s64, struct ahci_prd *out,
		    unsigned max_entries, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	*why = 0;
	if (!seg || !out || nseg == 0) {
		*why = "no segments";
		return -EINVAL;
	}
	if (total == 0 || (total & 1u)) {
		*why = "total byte count zero or odd";
		return -EINVAL;
	}
	uint64_t sum = 0;
	unsigned n = 0;
	for (unsigned i = 0; i < nseg; i++) {
		uint64_t bus = seg[i].bus;
		uint64_t len = seg[i].len;
		if (len == 0)
			continue;               /* spare entries of a scatter list */
		if ((bus & 1u) || (len & 1u)) {
			*why = "segment address or length odd (PRD byte counts must be even, DBA word aligned)";
			return -EINVAL;
		}
		if (bus + len < bus) {
			*why = "segment wraps the top of the bus address space";
			return -EINVAL;
		}
		if (!s64 && bus + len - 1u > 0xFFFFFFFFull) {
			*why = "segment above 4 GiB on an HBA without 64-bit addressing (CAP.S64A)";
			return -EINVAL;
		}
		while (len) {
			uint32_t chunk = len > AHCI_PRD_MAX_BYTES ? AHCI_PRD_MAX_BYTES : (uint32_t)len;
			if (n >= max_entries) {
				*why = "more PRD entries than the command table holds";
				return -E2BIG;
			}
			out[n].dba = (uint32_t)bus;
			out[n].dbau = (uint32_t)(bus >> 32);
			out[n].rsvd2 = 0;
			out[n].dbc_i = AHCI_PRD_DBC(chunk);
			n++;
			bus += chunk;
			len -= chunk;
			sum += chunk;
		}
	}
	if (sum != total) {
		*why = "segments do not add up to the transfer length";
		return -EINVAL;
	}
	return (int)n;
}
