/*
 * lapic.c — local APIC driver: xAPIC (MMIO page from the MADT) or x2APIC (MSRs
 * 0x800+), chosen once at boot from CPUID.01H:ECX[21] unless `apic.xapic` is
 * given, and used the same way on every CPU. Spurious vector 0xFF, error vector
 * 0xFE, ESR read/clear, EOI, ICR encodings and sending. Intel SDM Vol. 3A ch. 11
 * (§11.4 enabling, §11.5.3 ESR, §11.6.1 ICR, §11.9 SVR, §11.12 x2APIC).
 */
#include <hal/hal.h>
#include <kernel/apic.h>
#include <kernel/atomic.h>
#include <kernel/cmdline.h>
#include <kernel/errno.h>
#include <kernel/log.h>
#include <kernel/percpu.h>
#include <hw/x86/lapic.h>
#include <hw/x86/cpuid.h>

static uint32_t mode;               /* enum apic_mode; written once by the BSP */
static volatile uint8_t *mmio;      /* xAPIC registers (same address on every CPU) */

#define ICR_WAIT_SPINS 1000000u     /* delivery-status polls before giving up */

enum apic_mode apic_mode(void)
{
	return (enum apic_mode)atomic_load32(&mode, MO_ACQUIRE);
}

const char *apic_mode_name(enum apic_mode m)
{
	switch (m) {
	case APIC_MODE_XAPIC: return "xapic";
	case APIC_MODE_X2APIC: return "x2apic";
	default: return "none";
	}
}

uint32_t lapic_read(uint32_t off)
{
	if (mode == APIC_MODE_X2APIC)
		return (uint32_t)hal_rdmsr(APIC_X2_MSR(off));
	return hal_mmio_read32(mmio + off);
}

void lapic_write(uint32_t off, uint32_t v)
{
	if (mode == APIC_MODE_X2APIC)
		hal_wrmsr(APIC_X2_MSR(off), v);
	else
		hal_mmio_write32(mmio + off, v);
}

uint32_t lapic_id(void)
{
	uint32_t id = lapic_read(APIC_ID);
	return mode == APIC_MODE_X2APIC ? id : id >> APIC_ID_XAPIC_SHIFT;
}

void lapic_eoi(void)
{
	lapic_write(APIC_EOI, 0);
	struct percpu *c = this_cpu();
	atomic_store64(&c->irq_eoi, atomic_load64(&c->irq_eoi, MO_RELAXED) + 1, MO_RELAXED);
}

uint32_t lapic_esr_read_clear(void)
{
	/* SDM §11.5.3: the ESR is updated by a write (x2APIC requires the value 0);
	 * a second write after the read clears what the read returned. */
	lapic_write(APIC_ESR, 0);
	uint32_t v = lapic_read(APIC_ESR);
	lapic_write(APIC_ESR, 0);
	return v;
}

uint32_t lapic_esr_collect(void)
{
	unsigned long f = hal_irq_save();
	struct percpu *c = this_cpu();
	uint32_t v = lapic_esr_read_clear() | atomic_load32(&c->esr_pending, MO_RELAXED);
	atomic_store32(&c->esr_pending, 0, MO_RELAXED);
	hal_irq_restore(f);
	return v;
}

void lapic_soft_disable(void)
{
	lapic_write(APIC_SVR, VEC_SPURIOUS);
}

/* ---- ICR encodings ---- */

uint32_t apic_icr_init(void)
{
	return APIC_ICR_DM_INIT | APIC_ICR_LEVEL_ASSERT;
}

uint32_t apic_icr_sipi(uint8_t vector)
{
	return APIC_ICR_DM_STARTUP | vector;
}

uint32_t apic_icr_fixed(uint8_t vector, uint32_t shorthand)
{
	return APIC_ICR_DM_FIXED | (shorthand & APIC_ICR_SH_MASK) | vector;
}

uint64_t apic_icr_compose(enum apic_mode m, uint32_t low, uint32_t dest)
{
	if (m == APIC_MODE_X2APIC)
		return ((uint64_t)dest << APIC_ICR_X2APIC_DEST_SHIFT) | low;
	return ((uint64_t)(dest & 0xFF) << (32 + APIC_ICR_XAPIC_DEST_SHIFT)) | low;
}

static int wait_icr_idle(void)
{
	for (unsigned i = 0; i < ICR_WAIT_SPINS; i++) {
		if (!(lapic_read(APIC_ICR_LO) & APIC_ICR_BUSY))
			return 0;
		hal_cpu_relax();
	}
	return -ETIMEDOUT;
}

int lapic_send_icr(uint32_t low, uint32_t dest)
{
	enum apic_mode m = (enum apic_mode)mode;
	bool shorthand = (low & APIC_ICR_SH_MASK) != 0;
	if (m == APIC_MODE_NONE)
		return -ENODEV;
	if (!shorthand && m == APIC_MODE_XAPIC && dest > 0xFE)
		return -EINVAL;
	if (m == APIC_MODE_X2APIC) {
		/* One 64-bit MSR write sends it; no delivery-status bit (SDM §11.12.9). */
		hal_wrmsr(APIC_X2_MSR(APIC_ICR_LO), apic_icr_compose(m, low, dest));
		return 0;
	}
	/* xAPIC: ICR_HI then ICR_LO (the low write sends), as one unit on this CPU. */
	unsigned long flags = hal_irq_save();
	int rc = wait_icr_idle();
	if (rc == 0) {
		hal_mmio_write32(mmio + APIC_ICR_HI, (dest & 0xFF) << APIC_ICR_XAPIC_DEST_SHIFT);
		hal_mmio_write32(mmio + APIC_ICR_LO, low);
		rc = wait_icr_idle();
	}
	hal_irq_restore(flags);
	if (rc)
		klog("apic", "ICR delivery status stuck busy (ICR 0x%x dest 0x%x)", low, dest);
	return rc;
}

/* ---- enabling ---- */

static void lapic_setup_local(void)
{
	uint64_t base = hal_rdmsr(MSR_IA32_APIC_BASE);
	if (mode == APIC_MODE_X2APIC) {
		/* SDM §11.12.5: xAPIC enabled first, then EXTD (never EXTD alone). */
		if (!(base & APIC_BASE_EN))
			hal_wrmsr(MSR_IA32_APIC_BASE, base | APIC_BASE_EN);
		hal_wrmsr(MSR_IA32_APIC_BASE, base | APIC_BASE_EN | APIC_BASE_EXTD);
	} else if (!(base & APIC_BASE_EN)) {
		hal_wrmsr(MSR_IA32_APIC_BASE, base | APIC_BASE_EN);
	}
	/* Software-enable first: while disabled, LVT mask bits cannot be cleared
	 * (SDM §11.4.7.2), so the error LVT would stay masked. */
	lapic_write(APIC_SVR, APIC_SVR_ENABLE | VEC_SPURIOUS);
	lapic_write(APIC_TPR, 0);
	lapic_write(APIC_LVT_LINT0, APIC_LVT_MASKED);
	lapic_write(APIC_LVT_LINT1, APIC_LVT_MASKED);
	lapic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | VEC_TIMER);
	lapic_write(APIC_LVT_ERROR, VEC_APIC_ERROR);
	(void)lapic_esr_read_clear();       /* drop errors from before we owned it */
}

int apic_init_bsp(uint64_t madt_lapic_address)
{
	uint32_t r[4];
	hal_cpuid(CPUID_LEAF_FEATURES, 0, r);
	bool has_apic = r[3] & CPUID_1_EDX_APIC;
	bool has_x2 = r[2] & CPUID_1_ECX_X2APIC;
	uint64_t base = hal_rdmsr(MSR_IA32_APIC_BASE);
	if (!has_apic) {
		klog("apic", "CPUID.01H:EDX[9] says this CPU has no local APIC: no interrupts, no SMP");
		return -ENODEV;
	}
	if (!(base & APIC_BASE_BSP))
		klog("apic", "IA32_APIC_BASE of the boot CPU lacks the BSP bit (0x%llx)", (unsigned long long)base);
	enum apic_mode m = has_x2 && !cmdline_has("apic.xapic") ? APIC_MODE_X2APIC : APIC_MODE_XAPIC;
	if (m == APIC_MODE_XAPIC && (base & APIC_BASE_EXTD)) {
		/* The firmware left x2APIC on; leaving it needs a full disable (SDM §11.12.5). */
		klog("apic", "firmware left x2APIC enabled; staying in x2APIC mode");
		m = APIC_MODE_X2APIC;
	}
	if (m == APIC_MODE_XAPIC) {
		uint64_t pa = madt_lapic_address ? madt_lapic_address : (base & APIC_BASE_ADDR_MASK);
		if (madt_lapic_address && (base & APIC_BASE_ADDR_MASK) != madt_lapic_address)
			klog("apic", "MADT LAPIC address 0x%llx differs from IA32_APIC_BASE 0x%llx; using the MADT's",
			     (unsigned long long)madt_lapic_address,
			     (unsigned long long)(base & APIC_BASE_ADDR_MASK));
		if (pa & 0xFFF) {
			klog("apic", "LAPIC address 0x%llx is not page aligned; using 0xFEE00000",
			     (unsigned long long)pa);
			pa = APIC_BASE_ADDR_RESET;
		}
		mmio = hal_mmio_map(pa, APIC_MMIO_LEN);
		if (!mmio) {
			klog("apic", "cannot map the LAPIC registers at 0x%llx", (unsigned long long)pa);
			return -ENODEV;
		}
	}
	atomic_store32(&mode, m, MO_RELEASE);
	vec_space_init(&this_cpu()->vecs);
	int rc = irq_cpu_prepare(hal_cpu_index());
	if (rc)
		return rc;
	lapic_setup_local();
	atomic_store32(&this_cpu()->irq_ready, 1, MO_RELEASE);
	uint32_t ver = lapic_read(APIC_VERSION);
	kinfo("apic.mode", "%s", apic_mode_name(m));
	klog("apic", "boot CPU APIC ID 0x%x, version 0x%x, %u LVT entries, %s", lapic_id(), ver & APIC_VERSION_MASK,
	     ((ver >> APIC_VERSION_MAX_LVT_SHIFT) & 0xFF) + 1, apic_mode_name(m));
	return 0;
}

void apic_init_ap(void)
{
	lapic_setup_local();
	/* release: a CPU that sees the flag may aim interrupts here */
	atomic_store32(&this_cpu()->irq_ready, 1, MO_RELEASE);
}
