/*
 * madt.c — Multiple APIC Description Table parser (ACPI 6.5 §5.2.12). Produces the
 * kernel's CPU list (unique APIC IDs; a repeated ID keeps the first entry and is
 * logged), I/O APICs, interrupt source overrides and LAPIC NMI inputs. Entries are
 * bounds-checked against the table length; a malformed entry stops the walk.
 */
#include <kernel/acpi.h>
#include <kernel/errno.h>
#include <kernel/log.h>
#include <kernel/string.h>

static void add_cpu(struct acpi_madt_info *m, unsigned idx, uint32_t apic_id, uint32_t uid,
		    uint32_t flags, bool x2)
{
	if (!(flags & (ACPI_LAPIC_ENABLED | ACPI_LAPIC_ONLINE_CAPABLE))) {
		m->n_disabled++;    /* an absent CPU slot, as QEMU lists for maxcpus */
		return;
	}
	if (!x2 && apic_id == 0xFF) {
		klog("acpi", "MADT entry %u: local APIC ID 0xff is the broadcast ID, entry ignored", idx);
		m->n_dropped++;
		return;
	}
	for (unsigned i = 0; i < m->ncpus; i++) {
		if (m->cpus[i].apic_id == apic_id) {
			klog("acpi", "MADT entry %u: duplicate APIC ID 0x%x (ACPI UID %u; first seen as UID %u), "
			     "keeping the first", idx, apic_id, uid, m->cpus[i].acpi_uid);
			m->n_duplicates++;
			return;
		}
	}
	if (m->ncpus == ACPI_MAX_CPUS) {
		klog("acpi", "MADT entry %u: more than %d CPUs, APIC ID 0x%x ignored", idx, ACPI_MAX_CPUS, apic_id);
		m->n_dropped++;
		return;
	}
	struct acpi_cpu *c = &m->cpus[m->ncpus++];
	c->apic_id = apic_id;
	c->acpi_uid = uid;
	c->flags = flags;
	c->x2apic_entry = x2;
	if (flags & ACPI_LAPIC_ENABLED)
		m->n_enabled++;
}

static void add_nmi(struct acpi_madt_info *m, unsigned idx, uint32_t uid, uint16_t flags, uint8_t lint)
{
	if (lint > 1) {
		klog("acpi", "MADT entry %u: LAPIC NMI on LINT%u (only LINT0/1 exist), ignored", idx, lint);
		m->n_bad_entries++;
		return;
	}
	if (m->nnmis == ACPI_MAX_NMIS) {
		m->n_dropped++;
		return;
	}
	m->nmis[m->nnmis++] = (struct acpi_lapic_nmi){ .acpi_uid = uid, .flags = flags, .lint = lint };
}

/* Minimum length of each entry type we interpret (ACPI 6.5 §5.2.12.x). */
static unsigned min_len(uint8_t type)
{
	switch (type) {
	case ACPI_MADT_LAPIC: return sizeof(struct acpi_madt_lapic);
	case ACPI_MADT_IOAPIC: return sizeof(struct acpi_madt_ioapic);
	case ACPI_MADT_ISO: return sizeof(struct acpi_madt_iso);
	case ACPI_MADT_NMI_SOURCE: return sizeof(struct acpi_madt_nmi_source);
	case ACPI_MADT_LAPIC_NMI: return sizeof(struct acpi_madt_lapic_nmi);
	case ACPI_MADT_LAPIC_OVERRIDE: return sizeof(struct acpi_madt_lapic_override);
	case ACPI_MADT_X2APIC: return sizeof(struct acpi_madt_x2apic);
	case ACPI_MADT_X2APIC_NMI: return sizeof(struct acpi_madt_x2apic_nmi);
	default: return 2;
	}
}

int acpi_madt_parse(const struct acpi_madt *madt, uint32_t len, struct acpi_madt_info *m)
{
	memset(m, 0, sizeof *m);
	if (len < sizeof *madt) {
		klog("acpi", "MADT: length %u shorter than its fixed part (44), table skipped", len);
		return -EINVAL;
	}
	m->lapic_address = madt->lapic_address;
	m->flags = madt->flags;
	const uint8_t *base = (const uint8_t *)madt;
	uint32_t off = sizeof *madt;
	for (unsigned idx = 0; off < len; idx++) {
		if (len - off < 2) {
			klog("acpi", "MADT: %u stray byte(s) at offset %u after the last entry, ignored", len - off, off);
			m->n_bad_entries++;
			break;
		}
		const struct acpi_madt_entry *e = (const void *)(base + off);
		if (e->length < 2) {
			klog("acpi", "MADT entry %u at offset %u: entry length %u, rest of the MADT ignored",
			     idx, off, e->length);
			m->n_bad_entries++;
			break;
		}
		if (e->length > len - off) {
			klog("acpi", "MADT entry %u at offset %u: length %u runs past the table end (%u), "
			     "truncated table; rest ignored", idx, off, e->length, len);
			m->n_bad_entries++;
			break;
		}
		if (e->length < min_len(e->type)) {
			klog("acpi", "MADT entry %u (type %u): length %u shorter than %u, entry ignored",
			     idx, e->type, e->length, min_len(e->type));
			m->n_bad_entries++;
			off += e->length;
			continue;
		}
		switch (e->type) {
		case ACPI_MADT_LAPIC: {
			struct acpi_madt_lapic l;
			memcpy(&l, e, sizeof l);
			add_cpu(m, idx, l.apic_id, l.acpi_uid, l.flags, false);
			break;
		}
		case ACPI_MADT_X2APIC: {
			struct acpi_madt_x2apic x;
			memcpy(&x, e, sizeof x);
			add_cpu(m, idx, x.x2apic_id, x.acpi_uid, x.flags, true);
			break;
		}
		case ACPI_MADT_IOAPIC: {
			struct acpi_madt_ioapic io;
			memcpy(&io, e, sizeof io);
			if (m->nioapics == ACPI_MAX_IOAPICS) {
				klog("acpi", "MADT entry %u: more than %d I/O APICs, id %u ignored", idx,
				     ACPI_MAX_IOAPICS, io.ioapic_id);
				m->n_dropped++;
				break;
			}
			m->ioapics[m->nioapics++] = (struct acpi_ioapic){ io.ioapic_id, io.address, io.gsi_base };
			break;
		}
		case ACPI_MADT_ISO: {
			struct acpi_madt_iso s;
			memcpy(&s, e, sizeof s);
			if (m->nisos == ACPI_MAX_ISOS) {
				m->n_dropped++;
				break;
			}
			m->isos[m->nisos++] = (struct acpi_iso){ s.bus, s.source, s.flags, s.gsi };
			break;
		}
		case ACPI_MADT_LAPIC_NMI: {
			struct acpi_madt_lapic_nmi n;
			memcpy(&n, e, sizeof n);
			add_nmi(m, idx, n.acpi_uid == 0xFF ? 0xFFFFFFFFu : n.acpi_uid, n.flags, n.lint);
			break;
		}
		case ACPI_MADT_X2APIC_NMI: {
			struct acpi_madt_x2apic_nmi n;
			memcpy(&n, e, sizeof n);
			add_nmi(m, idx, n.acpi_uid, n.flags, n.lint);
			break;
		}
		case ACPI_MADT_LAPIC_OVERRIDE: {
			struct acpi_madt_lapic_override o;
			memcpy(&o, e, sizeof o);
			m->lapic_address = o.address;
			break;
		}
		default:
			break;          /* NMI sources and types we do not use yet */
		}
		off += e->length;
	}
	if (m->n_duplicates)
		klog("acpi", "MADT: %u duplicate APIC ID entr%s dropped", m->n_duplicates,
		     m->n_duplicates == 1 ? "y" : "ies");
	return 0;
}
