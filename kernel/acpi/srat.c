/*
 * srat.c — System Resource Affinity Table parser (ACPI 6.5 §5.2.16): processor
 * local APIC (§5.2.16.1) and x2APIC (§5.2.16.3) affinity, memory affinity
 * (§5.2.16.2). Proximity domains become dense node numbers in order of first
 * appearance. Malformed, disabled, duplicate or overlapping entries are logged and
 * skipped; nothing here is fatal.
 */
#include <kernel/acpi.h>
#include <kernel/errno.h>
#include <kernel/log.h>
#include <kernel/srat.h>
#include <kernel/string.h>

static struct srat_info boot_srat;
static bool have_boot_srat;

static int node_of_domain(struct srat_info *s, uint32_t domain, unsigned idx)
{
	for (unsigned i = 0; i < s->nnodes; i++)
		if (s->node_domain[i] == domain)
			return (int)i;
	if (s->nnodes == SRAT_MAX_NODES) {
		klog("acpi", "SRAT entry %u: more than %d proximity domains, domain %u ignored", idx,
		     SRAT_MAX_NODES, domain);
		s->n_bad++;
		return -ENOSPC;
	}
	s->node_domain[s->nnodes] = domain;
	return (int)s->nnodes++;
}

static void add_cpu(struct srat_info *s, unsigned idx, uint32_t apic_id, uint32_t domain, uint32_t flags)
{
	if (!(flags & ACPI_SRAT_ENABLED)) {
		s->n_disabled++;
		return;
	}
	for (unsigned i = 0; i < s->ncpus; i++) {
		if (s->cpus[i].apic_id == apic_id) {
			if (s->node_domain[s->cpus[i].node] != domain)
				klog("acpi", "SRAT entry %u: APIC ID 0x%x listed again with domain %u (first: %u), "
				     "keeping the first", idx, apic_id, domain, s->node_domain[s->cpus[i].node]);
			s->n_bad++;
			return;
		}
	}
	if (s->ncpus == SRAT_MAX_CPUS) {
		klog("acpi", "SRAT entry %u: more than %d CPUs, APIC ID 0x%x ignored", idx, SRAT_MAX_CPUS, apic_id);
		s->n_bad++;
		return;
	}
	int node = node_of_domain(s, domain, idx);
	if (node < 0)
		return;
	s->cpus[s->ncpus].apic_id = apic_id;
	s->cpus[s->ncpus].node = (uint32_t)node;
	s->ncpus++;
}

static void add_mem(struct srat_info *s, unsigned idx, const struct acpi_srat_memory *m)
{
	if (!(m->flags & ACPI_SRAT_ENABLED)) {
		s->n_disabled++;
		return;
	}
	if (m->len == 0 || m->base + m->len < m->base) {
		klog("acpi", "SRAT entry %u: memory range base 0x%llx length 0x%llx is empty or wraps, ignored",
		     idx, (unsigned long long)m->base, (unsigned long long)m->len);
		s->n_bad++;
		return;
	}
	for (unsigned i = 0; i < s->nmem; i++) {
		if (m->base < s->mem[i].base + s->mem[i].len && s->mem[i].base < m->base + m->len) {
			klog("acpi", "SRAT entry %u: memory 0x%llx+0x%llx overlaps an earlier range, ignored", idx,
			     (unsigned long long)m->base, (unsigned long long)m->len);
			s->n_bad++;
			return;
		}
	}
	if (s->nmem == SRAT_MAX_MEM) {
		klog("acpi", "SRAT entry %u: more than %d memory ranges, ignored", idx, SRAT_MAX_MEM);
		s->n_bad++;
		return;
	}
	int node = node_of_domain(s, m->domain, idx);
	if (node < 0)
		return;
	s->mem[s->nmem].base = m->base;
	s->mem[s->nmem].len = m->len;
	s->mem[s->nmem].node = (uint32_t)node;
	s->mem[s->nmem].flags = m->flags;
	s->nmem++;
}

static unsigned entry_len(uint8_t type)
{
	switch (type) {
	case ACPI_SRAT_LAPIC: return sizeof(struct acpi_srat_lapic);
	case ACPI_SRAT_MEMORY: return sizeof(struct acpi_srat_memory);
	case ACPI_SRAT_X2APIC: return sizeof(struct acpi_srat_x2apic);
	default: return 2;
	}
}

int srat_parse(const struct acpi_srat *t, uint32_t len, struct srat_info *s)
{
	memset(s, 0, sizeof *s);
	if (!t || len < sizeof *t) {
		klog("acpi", "SRAT: length %u shorter than its fixed part (48), table ignored", len);
		return -EINVAL;
	}
	const uint8_t *base = (const uint8_t *)t;
	uint32_t off = sizeof *t;
	for (unsigned idx = 0; off < len; idx++) {
		if (len - off < 2) {
			klog("acpi", "SRAT: %u stray byte(s) at offset %u, ignored", len - off, off);
			s->n_bad++;
			break;
		}
		uint8_t type = base[off], elen = base[off + 1];
		if (elen < 2 || elen > len - off) {
			klog("acpi", "SRAT entry %u at offset %u: length %u %s, rest of the SRAT ignored", idx, off,
			     elen, elen < 2 ? "too small" : "runs past the table end");
			s->n_bad++;
			break;
		}
		if (elen < entry_len(type)) {
			klog("acpi", "SRAT entry %u (type %u): length %u shorter than %u, ignored", idx, type, elen,
			     entry_len(type));
			s->n_bad++;
			off += elen;
			continue;
		}
		switch (type) {
		case ACPI_SRAT_LAPIC: {
			struct acpi_srat_lapic e;
			memcpy(&e, base + off, sizeof e);
			uint32_t dom = e.domain_lo | (uint32_t)e.domain_hi[0] << 8 | (uint32_t)e.domain_hi[1] << 16 |
				       (uint32_t)e.domain_hi[2] << 24;
			add_cpu(s, idx, e.apic_id, dom, e.flags);
			break;
		}
		case ACPI_SRAT_X2APIC: {
			struct acpi_srat_x2apic e;
			memcpy(&e, base + off, sizeof e);
			add_cpu(s, idx, e.x2apic_id, e.domain, e.flags);
			break;
		}
		case ACPI_SRAT_MEMORY: {
			struct acpi_srat_memory e;
			memcpy(&e, base + off, sizeof e);
			add_mem(s, idx, &e);
			break;
		}
		default:
			break;  /* GICC, GIC ITS, generic initiator: not on x86 or not used */
		}
		off += elen;
	}
	return 0;
}

uint32_t srat_node_of_apic(const struct srat_info *s, uint32_t apic_id)
{
	for (unsigned i = 0; i < s->ncpus; i++)
		if (s->cpus[i].apic_id == apic_id)
			return s->cpus[i].node;
	return SRAT_NODE_NONE;
}

void srat_boot_init(void)
{
	const struct acpi_info *ai = acpi_boot_info();
	const struct acpi_sdt_header *h = acpi_find(ai, ACPI_SIG_SRAT);
	have_boot_srat = h && srat_parse((const struct acpi_srat *)h, h->length, &boot_srat) == 0;
	if (have_boot_srat && boot_srat.ncpus == 0 && boot_srat.nmem == 0) {
		klog("acpi", "SRAT has no usable entries; treating the machine as one NUMA node");
		have_boot_srat = false;
	}
	kinfo("numa.nodes", "%u", have_boot_srat && boot_srat.nnodes ? boot_srat.nnodes : 1);
}

const struct srat_info *srat_boot_info(void)
{
	return have_boot_srat ? &boot_srat : 0;
}

uint32_t numa_node_of_apic(uint32_t apic_id)
{
	if (!have_boot_srat)
		return 0;
	uint32_t n = srat_node_of_apic(&boot_srat, apic_id);
	return n == SRAT_NODE_NONE ? 0 : n;
}
