/*
 * apic_ktest.c — the `apic` ktest suite: LAPIC mode and enabling on every CPU,
 * ESR, self-IPI with EOI, the spurious vector's missing EOI, ICR encodings (seed
 * K43), and the I/O APIC (entries masked at start, MADT overrides, route/unroute,
 * affinity, and a PIT interrupt delivered end to end). docs/smp.md.
 */
#include <hal/hal.h>
#include <kernel/acpi.h>
#include <kernel/apic.h>
#include <kernel/atomic.h>
#include <kernel/cmdline.h>
#include <kernel/errno.h>
#include <kernel/ktest.h>
#include <kernel/madt_check.h>
#include <kernel/smp.h>
#include <kernel/time.h>
#include <hw/x86/cpuid.h>
#include <hw/x86/ioapic.h>
#include <hw/x86/lapic.h>
#include <hw/x86/pit.h>
#include <kernel/ktest_smp.h>

static void apic_mode_matches_cpuid(struct ktest *t)
{
	uint32_t r[4];
	hal_cpuid(CPUID_LEAF_FEATURES, 0, r);
	uint64_t base = hal_rdmsr(MSR_IA32_APIC_BASE);
	bool want_x2 = (r[2] & CPUID_1_ECX_X2APIC) && !cmdline_has("apic.xapic");
	if (!want_x2 && (base & APIC_BASE_EXTD))
		want_x2 = true;         /* firmware left x2APIC on: we keep it */
	KTEST_EXPECT_EQ(t, apic_mode(), want_x2 ? APIC_MODE_X2APIC : APIC_MODE_XAPIC);
	KTEST_EXPECT(t, base & APIC_BASE_EN);
	KTEST_EXPECT_EQ(t, !!(base & APIC_BASE_EXTD), want_x2);
	ktest_log(t, "mode %s, IA32_APIC_BASE 0x%llx", apic_mode_name(apic_mode()), (unsigned long long)base);
}

static uint64_t setup_bad[HAL_MAX_CPUS];

static void check_local_setup(uint64_t unused)
{
	unsigned c = hal_cpu_index();
	uint64_t bad = 0;
	uint32_t svr = lapic_read(APIC_SVR);
	if (!(svr & APIC_SVR_ENABLE) || (svr & 0xFF) != VEC_SPURIOUS)
		bad |= 1;
	if ((lapic_read(APIC_LVT_ERROR) & (APIC_LVT_MASKED | 0xFF)) != VEC_APIC_ERROR)
		bad |= 2;
	if (!(lapic_read(APIC_LVT_LINT0) & APIC_LVT_MASKED) || !(lapic_read(APIC_LVT_LINT1) & APIC_LVT_MASKED))
		bad |= 4;
	if (lapic_id() != percpu_of(c)->apic_id)
		bad |= 8;
	if (!!(hal_rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_EXTD) != (apic_mode() == APIC_MODE_X2APIC))
		bad |= 16;
	atomic_store64(&setup_bad[c], bad | (1ull << 32), MO_RELEASE);
}

static void apic_enabled_on_every_cpu(struct ktest *t)
{
	struct cpumask m;
	smp_online_mask(&m);
	for_each_cpu(c, &m)
		atomic_store64(&setup_bad[c], 0, MO_RELAXED);
	KTEST_ASSERT(t, smp_call(&m, check_local_setup, 0, SMP_CALL_TIMEOUT_US, 0) == 0);
	for_each_cpu(c, &m) {
		uint64_t v = atomic_load64(&setup_bad[c], MO_ACQUIRE);
		if (v != 1ull << 32)
			ktest_fail_at(t, __FILE__, __LINE__, "CPU %u: setup check 0x%llx (1 SVR, 2 LVT error, "
				      "4 LINT, 8 APIC ID, 16 mode)", c, (unsigned long long)v);
	}
}

static void apic_bsp_listed_in_madt(struct ktest *t)
{
	const struct acpi_info *ai = acpi_boot_info();
	if (!ai->have_madt) {
		ktest_skip(t, "no MADT");
		return;
	}
	KTEST_EXPECT(t, !madt_check_boot_info()->bsp_missing);
}

static void apic_esr_read_clears(struct ktest *t)
{
	unsigned long f = hal_irq_save();
	(void)lapic_esr_read_clear();
	uint32_t again = lapic_esr_read_clear();
	hal_irq_restore(f);
	KTEST_EXPECT_EQ(t, again, 0);
}

static uint64_t self_hits;

static void count_hit(uint8_t v, void *arg)
{
	uint64_t *p = arg;
	atomic_fetch_add64(p, 1, MO_RELEASE);
}

static void apic_self_ipi_and_eoi(struct ktest *t)
{
	struct irq_vec h;
	unsigned me = hal_cpu_index();
	atomic_store64(&self_hits, 0, MO_RELAXED);
	KTEST_ASSERT(t, irq_alloc(me, 1, count_hit, &self_hits, &h) == 0);
	struct irq_stats s0, s1;
	irq_stats_get(me, &s0);
	/* A second delivery of the same vector proves the first was EOId: without EOI
	 * its ISR bit would block it (SDM §11.8.4). */
	for (unsigned i = 1; i <= 3; i++) {
		KTEST_EXPECT_EQ(t, ipi_send_self(h.vector), 0);
		if (!tu_wait_ge(&self_hits, i, 500000)) {
			ktest_fail_at(t, __FILE__, __LINE__, "self-IPI %u on vector 0x%x never arrived", i, h.vector);
			break;
		}
	}
	irq_stats_get(me, &s1);
	KTEST_EXPECT(t, s1.eoi >= s0.eoi + 3);
	KTEST_EXPECT_EQ(t, irq_free(&h), 0);
}

static void apic_spurious_gets_no_eoi(struct ktest *t)
{
	unsigned me = hal_cpu_index();
	struct irq_stats s0, s1;
	unsigned long f = hal_irq_save();
	irq_stats_get(me, &s0);
	irq_dispatch(VEC_SPURIOUS, 0);
	irq_stats_get(me, &s1);
	hal_irq_restore(f);
	KTEST_EXPECT_EQ(t, s1.spurious, s0.spurious + 1);
	KTEST_EXPECT_EQ(t, s1.eoi, s0.eoi);
}

/* Seed K43: the xAPIC SIPI was sent as 0x4600 (level bit set). */
static void apic_icr_encodings(struct ktest *t)
{
	KTEST_EXPECT_EQ(t, apic_icr_sipi(0x08), 0x608);
	KTEST_EXPECT(t, !(apic_icr_sipi(0x9F) & (APIC_ICR_LEVEL_ASSERT | APIC_ICR_TRIGGER_LEVEL)));
	KTEST_EXPECT_EQ(t, apic_icr_init(), 0x4500);
	KTEST_EXPECT_EQ(t, apic_icr_fixed(0x40, APIC_ICR_SH_ALL_BUT_SELF), 0xC0040);
	KTEST_EXPECT_EQ(t, apic_icr_fixed(0x41, APIC_ICR_SH_SELF), 0x40041);
	KTEST_EXPECT_EQ(t, apic_icr_compose(APIC_MODE_X2APIC, 0x608, 0x12345), 0x0001234500000608ull);
	KTEST_EXPECT_EQ(t, apic_icr_compose(APIC_MODE_XAPIC, 0x608, 0x12), 0x1200000000000608ull);
}

/* ---- I/O APIC ---- */

static void ioapic_all_masked_at_start(struct ktest *t)
{
	if (!ioapic_pin_count()) {
		ktest_skip(t, "no I/O APIC");
		return;
	}
	unsigned checked = 0;
	uint32_t base, n;
	for (unsigned i = 0; ioapic_get(i, &base, &n) == 0; i++)
		for (uint32_t g = base; g < base + n; g++) {
			uint32_t lo, hi;
			KTEST_ASSERT(t, ioapic_read_entry(g, &lo, &hi) == 0);
			if (!(lo & IOAPIC_RTE_MASKED))
				ktest_fail_at(t, __FILE__, __LINE__, "GSI %u unmasked: 0x%x", g, lo);
			checked++;
		}
	KTEST_EXPECT_EQ(t, checked, ioapic_pin_count());
}

static void ioapic_overrides_honoured(struct ktest *t)
{
	const struct madt_check *mc = madt_check_boot_info();
	if (!mc->nisos) {
		ktest_skip(t, "the MADT has no interrupt source overrides");
		return;
	}
	for (unsigned i = 0; i < mc->nisos; i++) {
		uint32_t gsi;
		uint16_t fl;
		KTEST_ASSERT(t, ioapic_isa_to_gsi(mc->isos[i].source, &gsi, &fl) == 0);
		KTEST_EXPECT_EQ(t, gsi, mc->isos[i].gsi);
		KTEST_EXPECT_EQ(t, fl, mc->isos[i].flags);
	}
	uint32_t gsi;
	uint16_t fl;
	KTEST_EXPECT(t, ioapic_isa_to_gsi(16, &gsi, &fl) < 0);
}

static void ioapic_route_unroute_affinity(struct ktest *t)
{
	uint32_t base, n;
	if (ioapic_get(0, &base, &n) != 0) {
		ktest_skip(t, "no I/O APIC");
		return;
	}
	uint32_t gsi = base + n - 1, lo, hi;
	struct irq_vec h;
	static uint64_t hits;
	KTEST_ASSERT(t, irq_alloc(0, 1, count_hit, &hits, &h) == 0);
	KTEST_ASSERT(t, ioapic_route(gsi, &h, MPS_POLARITY_HIGH | MPS_TRIGGER_EDGE) == 0);
	KTEST_EXPECT_EQ(t, ioapic_route(gsi, &h, 0), -EBUSY);
	KTEST_ASSERT(t, ioapic_read_entry(gsi, &lo, &hi) == 0);
	KTEST_EXPECT_EQ(t, lo & 0xFF, h.vector);
	KTEST_EXPECT(t, !(lo & IOAPIC_RTE_MASKED));
	KTEST_EXPECT_EQ(t, hi >> IOAPIC_RTE_DEST_SHIFT, percpu_of(0)->apic_id);
	unsigned other = tu_last_online();
	if (other != 0) {
		KTEST_EXPECT_EQ(t, ioapic_set_affinity(gsi, &h, other), 0);
		KTEST_EXPECT_EQ(t, h.cpu, other);
		KTEST_ASSERT(t, ioapic_read_entry(gsi, &lo, &hi) == 0);
		KTEST_EXPECT_EQ(t, lo & 0xFF, h.vector);
		KTEST_EXPECT_EQ(t, hi >> IOAPIC_RTE_DEST_SHIFT, percpu_of(other)->apic_id);
	}
	KTEST_EXPECT_EQ(t, ioapic_unroute(gsi), 0);
	KTEST_ASSERT(t, ioapic_read_entry(gsi, &lo, &hi) == 0);
	KTEST_EXPECT(t, lo & IOAPIC_RTE_MASKED);
	KTEST_EXPECT_EQ(t, ioapic_unroute(gsi), -ENOENT);
	KTEST_EXPECT_EQ(t, irq_free(&h), 0);
}

/* ISA IRQ 0 (PIT channel 0) through its override to a vector on the last CPU. */
static void ioapic_pit_interrupt_delivered(struct ktest *t)
{
	uint32_t gsi;
	uint16_t fl;
	if (!ioapic_pin_count() || ioapic_isa_to_gsi(0, &gsi, &fl) != 0) {
		ktest_skip(t, "no I/O APIC");
		return;
	}
	static uint64_t hits;
	atomic_store64(&hits, 0, MO_RELAXED);
	unsigned cpu = tu_last_online();
	struct irq_vec h;
	KTEST_ASSERT(t, irq_alloc(cpu, 1, count_hit, &hits, &h) == 0);
	int rc = ioapic_route(gsi, &h, fl);
	KTEST_EXPECT_EQ(t, rc, 0);
	if (rc == 0) {
		uint16_t div = (uint16_t)(PIT_HZ / 1000);
		hal_pio_out8(PIT_CMD, PIT_CMD_CH0 | PIT_CMD_LOHI | PIT_CMD_MODE2);
		hal_pio_out8(PIT_CH0, (uint8_t)div);
		hal_pio_out8(PIT_CH0, (uint8_t)(div >> 8));
		bool ok = tu_wait_ge(&hits, 3, 1000000);
		hal_pio_out8(PIT_CMD, PIT_CMD_CH0 | PIT_CMD_LOHI | PIT_CMD_MODE0);  /* stop: one-shot */
		hal_pio_out8(PIT_CH0, 0xFF);
		hal_pio_out8(PIT_CH0, 0xFF);
		ioapic_unroute(gsi);
		if (!ok)
			ktest_fail_at(t, __FILE__, __LINE__, "PIT IRQ0 -> GSI %u -> vector 0x%x on CPU %u: %llu "
				      "interrupts in 1 s", gsi, h.vector, cpu,
				      (unsigned long long)atomic_load64(&hits, MO_RELAXED));
	}
	KTEST_EXPECT_EQ(t, irq_free(&h), 0);
}

static const struct ktest_case apic_cases[] = {
	KTEST_CASE(apic_mode_matches_cpuid),
	KTEST_CASE(apic_enabled_on_every_cpu),
	KTEST_CASE(apic_bsp_listed_in_madt),
	KTEST_CASE(apic_esr_read_clears),
	KTEST_CASE(apic_self_ipi_and_eoi),
	KTEST_CASE(apic_spurious_gets_no_eoi),
	KTEST_CASE(apic_icr_encodings),
	KTEST_CASE(ioapic_all_masked_at_start),
	KTEST_CASE(ioapic_overrides_honoured),
	KTEST_CASE(ioapic_route_unroute_affinity),
	KTEST_CASE(ioapic_pit_interrupt_delivered),
};
KTEST_SUITE(apic_suite, "apic", apic_cases);
