/*
 * ioapic.c — I/O APIC driver (Intel 82093AA datasheet §3.2: IOREGSEL/IOWIN,
 * redirection table). At init every entry of every MADT I/O APIC is masked and the
 * 8259 pair is masked. ISA IRQs map to GSIs through the MADT's interrupt source
 * overrides (ACPI 6.5 §5.2.12.5), validated by madt_check.c.
 *
 * Lock order: ioapic_lock, then console_lock (klog). Vector allocation and
 * irq_free are lock-free and are done outside ioapic_lock; the affinity path runs
 * its entry rewrite under ioapic_lock from irq_set_affinity's callback.
 */
#include <hal/hal.h>
#include <kernel/apic.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/log.h>
#include <kernel/madt_check.h>
#include <kernel/percpu.h>
#include <kernel/spinlock.h>
#include <hw/x86/ioapic.h>
#include <hw/x86/pic.h>

struct ioapic_pin {
	uint8_t routed;
	uint8_t vector;
	uint16_t cpu;
};

struct ioapic_dev {
	volatile uint8_t *regs;
	uint32_t id, gsi_base, npins;
	struct ioapic_pin *pins;
};

static struct spinlock ioapic_lock = SPINLOCK_INIT("ioapic");
static struct ioapic_dev devs[ACPI_MAX_IOAPICS];
static unsigned ndevs, total_pins;
static struct acpi_iso isos[ACPI_MAX_ISOS];
static unsigned nisos;

static uint32_t reg_read(struct ioapic_dev *d, uint32_t reg)
{
	hal_mmio_write32(d->regs + IOAPIC_REGSEL, reg);
	return hal_mmio_read32(d->regs + IOAPIC_WIN);
}

static void reg_write(struct ioapic_dev *d, uint32_t reg, uint32_t v)
{
	hal_mmio_write32(d->regs + IOAPIC_REGSEL, reg);
	hal_mmio_write32(d->regs + IOAPIC_WIN, v);
}

static struct ioapic_dev *dev_of(uint32_t gsi, unsigned *pin)
{
	for (unsigned i = 0; i < ndevs; i++)
		if (gsi >= devs[i].gsi_base && gsi - devs[i].gsi_base < devs[i].npins) {
			*pin = gsi - devs[i].gsi_base;
			return &devs[i];
		}
	return 0;
}

int ioapic_init(const struct madt_check *mc)
{
	/* The 8259 pair: mask everything so only the I/O APICs deliver ISA IRQs. */
	hal_pio_out8(PIC1_DATA, 0xFF);
	hal_pio_out8(PIC2_DATA, 0xFF);
	ndevs = total_pins = 0;
	nisos = mc ? mc->nisos : 0;
	for (unsigned i = 0; i < nisos; i++)
		isos[i] = mc->isos[i];
	for (unsigned i = 0; mc && i < mc->nioapics; i++) {
		const struct acpi_ioapic *a = &mc->ioapics[i];
		struct ioapic_dev *d = &devs[ndevs];
		d->regs = hal_mmio_map(a->address, IOAPIC_MMIO_LEN);
		if (!d->regs) {
			klog("ioapic", "cannot map I/O APIC id %u at 0x%x; its GSIs are unavailable", a->id, a->address);
			continue;
		}
		uint32_t ver = reg_read(d, IOAPIC_REG_VER);
		if (ver == 0xFFFFFFFFu) {
			klog("ioapic", "I/O APIC id %u at 0x%x reads all ones: nothing there, ignored", a->id, a->address);
			hal_mmio_unmap((void *)d->regs, IOAPIC_MMIO_LEN);
			continue;
		}
		d->id = a->id;
		d->gsi_base = a->gsi_base;
		d->npins = ((ver >> IOAPIC_VER_MAX_REDIR_SHIFT) & IOAPIC_VER_MAX_REDIR_MASK) + 1;
		d->pins = kzalloc(sizeof(struct ioapic_pin) * d->npins);
		if (!d->pins) {
			klog("ioapic", "no memory for I/O APIC id %u", a->id);
			hal_mmio_unmap((void *)d->regs, IOAPIC_MMIO_LEN);
			continue;
		}
		spin_lock(&ioapic_lock);
		for (uint32_t p = 0; p < d->npins; p++) {
			/* mask first, then clear the destination */
			reg_write(d, IOAPIC_REG_REDTBL(p), IOAPIC_RTE_MASKED);
			reg_write(d, IOAPIC_REG_REDTBL(p) + 1, 0);
		}
		spin_unlock(&ioapic_lock);
		klog("ioapic", "I/O APIC id %u at 0x%x: version 0x%x, GSIs %u-%u, all masked", a->id, a->address,
		     ver & 0xFF, d->gsi_base, d->gsi_base + d->npins - 1);
		total_pins += d->npins;
		ndevs++;
	}
	return (int)total_pins;
}

int ioapic_get(unsigned idx, uint32_t *gsi_base, uint32_t *npins)
{
	if (idx >= ndevs)
		return -ENOENT;
	*gsi_base = devs[idx].gsi_base;
	*npins = devs[idx].npins;
	return 0;
}

unsigned ioapic_pin_count(void)
{
	return total_pins;
}

int ioapic_isa_to_gsi(unsigned irq, uint32_t *gsi, uint16_t *flags)
{
	if (irq > 15)
		return -EINVAL;
	*gsi = irq;                 /* identity unless overridden */
	*flags = 0;                 /* conforms to the ISA bus: edge, active high */
	for (unsigned i = 0; i < nisos; i++)
		if (isos[i].source == irq) {
			*gsi = isos[i].gsi;
			*flags = isos[i].flags;
		}
	return 0;
}

static uint32_t rte_low(uint8_t vector, uint16_t flags)
{
	uint32_t lo = vector;       /* fixed delivery, physical destination */
	if ((flags & MPS_POLARITY_MASK) == MPS_POLARITY_LOW)
		lo |= IOAPIC_RTE_ACTIVE_LOW;
	if ((flags & MPS_TRIGGER_MASK) == MPS_TRIGGER_LEVEL)
		lo |= IOAPIC_RTE_LEVEL;
	return lo;
}

static int dest_of(unsigned cpu, uint32_t *hi)
{
	uint32_t id = percpu_of(cpu)->apic_id;
	if (id > 0xFF)
		return -EINVAL;         /* needs interrupt remapping (VT-d), not here yet */
	*hi = id << IOAPIC_RTE_DEST_SHIFT;
	return 0;
}

int ioapic_route(uint32_t gsi, const struct irq_vec *h, uint16_t flags)
{
	unsigned pin;
	struct ioapic_dev *d = dev_of(gsi, &pin);
	uint32_t hi;
	if (!d)
		return -ENOENT;
	if (!h || !h->vector || h->cpu >= HAL_MAX_CPUS || dest_of(h->cpu, &hi)) {
		klog("ioapic", "GSI %u: cannot route to that vector/CPU", gsi);
		return -EINVAL;
	}
	spin_lock(&ioapic_lock);
	if (d->pins[pin].routed) {
		spin_unlock(&ioapic_lock);
		return -EBUSY;
	}
	reg_write(d, IOAPIC_REG_REDTBL(pin) + 1, hi);
	/* the low dword last: it unmasks the entry once the destination is in place */
	reg_write(d, IOAPIC_REG_REDTBL(pin), rte_low(h->vector, flags));
	d->pins[pin] = (struct ioapic_pin){ 1, h->vector, h->cpu };
	spin_unlock(&ioapic_lock);
	return 0;
}

int ioapic_unroute(uint32_t gsi)
{
	unsigned pin;
	struct ioapic_dev *d = dev_of(gsi, &pin);
	if (!d)
		return -ENOENT;
	spin_lock(&ioapic_lock);
	if (!d->pins[pin].routed) {
		spin_unlock(&ioapic_lock);
		return -ENOENT;
	}
	uint32_t lo = reg_read(d, IOAPIC_REG_REDTBL(pin));
	reg_write(d, IOAPIC_REG_REDTBL(pin), lo | IOAPIC_RTE_MASKED);      /* mask first */
	reg_write(d, IOAPIC_REG_REDTBL(pin) + 1, 0);
	d->pins[pin] = (struct ioapic_pin){ 0 };
	spin_unlock(&ioapic_lock);
	return 0;
}

struct retarget {
	struct ioapic_dev *d;
	unsigned pin;
};

static int retarget_entry(const struct irq_vec *nh, void *ctx)
{
	struct retarget *r = ctx;
	uint32_t hi;
	if (dest_of(nh->cpu, &hi))
		return -EINVAL;
	spin_lock(&ioapic_lock);
	uint32_t lo = reg_read(r->d, IOAPIC_REG_REDTBL(r->pin));
	reg_write(r->d, IOAPIC_REG_REDTBL(r->pin), lo | IOAPIC_RTE_MASKED);
	reg_write(r->d, IOAPIC_REG_REDTBL(r->pin) + 1, hi);
	reg_write(r->d, IOAPIC_REG_REDTBL(r->pin), (lo & ~(IOAPIC_RTE_VECTOR | IOAPIC_RTE_MASKED)) | nh->vector);
	r->d->pins[r->pin].vector = nh->vector;
	r->d->pins[r->pin].cpu = nh->cpu;
	spin_unlock(&ioapic_lock);
	return 0;
}

int ioapic_set_affinity(uint32_t gsi, struct irq_vec *h, unsigned cpu)
{
	struct retarget r;
	r.d = dev_of(gsi, &r.pin);
	if (!r.d || !r.d->pins[r.pin].routed)
		return -ENOENT;
	return irq_set_affinity(h, cpu, retarget_entry, &r);
}

int ioapic_read_entry(uint32_t gsi, uint32_t *lo, uint32_t *hi)
{
	unsigned pin;
	struct ioapic_dev *d = dev_of(gsi, &pin);
	if (!d)
		return -ENOENT;
	spin_lock(&ioapic_lock);
	*lo = reg_read(d, IOAPIC_REG_REDTBL(pin));
	*hi = reg_read(d, IOAPIC_REG_REDTBL(pin) + 1);
	spin_unlock(&ioapic_lock);
	return 0;
}
