/*
 * madt_check.c — MADT validation beyond parsing (ACPI 6.5 §5.2.12; seed P16-4):
 * the LAPIC address, I/O APIC entries (address, duplicate IDs and GSI bases),
 * interrupt source overrides (ISA bus only, IRQ 0-15, one per IRQ, no reserved
 * polarity/trigger encodings, Table 5.26), unknown entry types, and whether the
 * boot CPU is listed. Every problem is logged; the cleaned lists are kept.
 */
#include <kernel/acpi.h>
#include <kernel/log.h>
#include <kernel/madt_check.h>
#include <kernel/string.h>

static struct madt_check boot_check;

static void walk_types(const struct acpi_madt *raw, uint32_t len, struct madt_check *c)
{
	const uint8_t *b = (const uint8_t *)raw;
	uint32_t off = sizeof *raw;
	while (off + 2 <= len && b[off + 1] >= 2 && b[off + 1] <= len - off) {
		uint8_t type = b[off];
		if (type == ACPI_MADT_X2APIC)
			c->n_x2apic_entries++;
		if (type > ACPI_MADT_TYPE_LAST_DEFINED) {
			klog("acpi", "MADT: entry type 0x%x at offset %u is %s, skipped", type, off,
			     type >= ACPI_MADT_TYPE_OEM_FIRST ? "OEM-specific" : "reserved");
			c->n_unknown_types++;
		}
		off += b[off + 1];
	}
}

static unsigned check_ioapics(const struct acpi_madt_info *m, struct madt_check *c)
{
	unsigned problems = 0;
	for (unsigned i = 0; i < m->nioapics; i++) {
		const struct acpi_ioapic *io = &m->ioapics[i];
		const char *why = 0;
		if (io->address == 0 || (io->address & 0xF))
			why = "its register address is zero or misaligned";
		for (unsigned j = 0; !why && j < c->nioapics; j++) {
			if (c->ioapics[j].gsi_base == io->gsi_base)
				why = "its GSI base repeats an earlier I/O APIC's";
			else if (c->ioapics[j].address == io->address)
				why = "its address repeats an earlier I/O APIC's";
		}
		if (why) {
			klog("acpi", "MADT: I/O APIC id %u at 0x%x (GSI base %u) dropped: %s", io->id, io->address,
			     io->gsi_base, why);
			c->n_bad_ioapics++;
			problems++;
			continue;
		}
		for (unsigned j = 0; j < c->nioapics; j++)
			if (c->ioapics[j].id == io->id) {
				klog("acpi", "MADT: two I/O APICs share id %u (kept both: the id is only a label)", io->id);
				problems++;
			}
		c->ioapics[c->nioapics++] = *io;
	}
	return problems;
}

static unsigned check_isos(const struct acpi_madt_info *m, struct madt_check *c)
{
	unsigned problems = 0;
	for (unsigned i = 0; i < m->nisos; i++) {
		struct acpi_iso iso = m->isos[i];
		const char *why = 0;
		if (iso.bus != 0)
			why = "bus is not ISA (0)";
		else if (iso.source > 15)
			why = "source is not an ISA IRQ (0-15)";
		for (unsigned j = 0; !why && j < c->nisos; j++)
			if (c->isos[j].source == iso.source)
				why = "a second override for the same IRQ";
		if (why) {
			klog("acpi", "MADT: interrupt source override bus %u IRQ %u -> GSI %u dropped: %s", iso.bus,
			     iso.source, iso.gsi, why);
			c->n_bad_isos++;
			problems++;
			continue;
		}
		if ((iso.flags & MPS_POLARITY_MASK) == MPS_POLARITY_RESERVED ||
		    (iso.flags & MPS_TRIGGER_MASK) == MPS_TRIGGER_RESERVED) {
			klog("acpi", "MADT: override for IRQ %u has reserved polarity/trigger flags 0x%x; "
			     "using the bus defaults", iso.source, iso.flags);
			iso.flags &= (uint16_t)~(MPS_POLARITY_MASK | MPS_TRIGGER_MASK);
			c->n_bad_isos++;
			problems++;
		}
		c->isos[c->nisos++] = iso;
	}
	return problems;
}

unsigned acpi_madt_check(const struct acpi_madt *raw, uint32_t len, const struct acpi_madt_info *m,
			 uint32_t bsp_apic_id, struct madt_check *c)
{
	memset(c, 0, sizeof *c);
	unsigned problems = 0;
	if (raw && len >= sizeof *raw) {
		c->revision = raw->hdr.revision;
		if (c->revision < 1)
			klog("acpi", "MADT revision %u predates ACPI 1.0b's MADT (1); parsing anyway", c->revision);
		walk_types(raw, len, c);
		problems += c->n_unknown_types;
	}
	if (m->lapic_address == 0 || (m->lapic_address & 0xFFF)) {
		klog("acpi", "MADT: local APIC address 0x%llx is zero or not page aligned",
		     (unsigned long long)m->lapic_address);
		c->lapic_addr_bad = true;
		problems++;
	}
	problems += check_ioapics(m, c);
	problems += check_isos(m, c);
	if (bsp_apic_id != MADT_BSP_UNKNOWN) {
		bool found = false;
		for (unsigned i = 0; i < m->ncpus; i++)
			found |= m->cpus[i].apic_id == bsp_apic_id;
		if (!found) {
			klog("acpi", "MADT: the boot CPU (APIC ID 0x%x) is not listed", bsp_apic_id);
			c->bsp_missing = true;
			problems++;
		}
	}
	return problems;
}

void madt_check_boot(uint32_t bsp_apic_id)
{
	const struct acpi_info *ai = acpi_boot_info();
	if (!ai->have_madt) {
		memset(&boot_check, 0, sizeof boot_check);
		return;
	}
	const struct acpi_sdt_header *h = acpi_find(ai, ACPI_SIG_MADT);
	unsigned n = acpi_madt_check((const struct acpi_madt *)h, h ? h->length : 0, &ai->madt, bsp_apic_id,
				     &boot_check);
	if (n)
		klog("acpi", "MADT: %u problem(s) found and worked around (lines above)", n);
}

const struct madt_check *madt_check_boot_info(void)
{
	return &boot_check;
}
