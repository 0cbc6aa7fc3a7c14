/*
 * bus.c — doppel-sim's model bus (models/bus.h): MMIO, port and MSR ranges claimed
 * by device models and the HAL accessors that dispatch to them (hal_mmio_map and
 * hal_mmio_read/write*, hal_pio_in/out*; kernel/include/hal/hal.h); device memory
 * access (DMA through the VT-d model when there is one, untranslated RAM); interrupt
 * messages decoded for the LAPICs (Intel SDM Vol. 3A §11.11) and GSI levels for the
 * I/O APIC. hal_mmio_map returns addresses in a PROT_NONE host window, so a driver
 * that dereferences device registers instead of using the accessors faults at once.
 */
#include "sim_bus.h"
#include "det.h"
#include "sim.h"

#include <hw/pci/msi.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "ioapic/ioapic_model.h"
#include "lapic/lapic.h"
#include "vtd/vtd.h"

#define MAX_RANGES 64
#define MMIO_UNCLAIMED_LOG_MAX 32

struct range {
	uint64_t base, len;
	model_bus_read_fn rd;
	model_bus_write_fn wr;
	void *ctx;
};

struct msr_range {
	uint32_t first, last;
	model_msr_read_fn rd;
	model_msr_write_fn wr;
	void *ctx;
};

static pthread_rwlock_t bus_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct range mmio[MAX_RANGES], pio[MAX_RANGES];
static unsigned nmmio, npio;
static struct msr_range msrs[MAX_RANGES];
static unsigned nmsrs;

static uint8_t *window;
static uint64_t window_size;
static atomic_uint mmio_unclaimed_logged;
static atomic_uchar pio_logged[65536];      /* bit 0: read logged, bit 1: write logged */

int sim_bus_init(void)
{
	for (uint64_t size = SIM_MMIO_WINDOW_MAX; size >= SIM_MMIO_WINDOW_MIN; size /= 2) {
		void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		               -1, 0);
		if (p != MAP_FAILED) {
			window = p;
			window_size = size;
			return 0;
		}
	}
	return -errno;
}

uint8_t *sim_mmio_window_base(void)
{
	return window;
}

uint64_t sim_mmio_window_size(void)
{
	return window_size;
}

/* ---- registration ------------------------------------------------------------------ */

static int range_add(struct range *tab, unsigned *n, uint64_t base, uint64_t len,
                     model_bus_read_fn rd, model_bus_write_fn wr, void *ctx)
{
	int err = 0;

	pthread_rwlock_wrlock(&bus_lock);
	for (unsigned i = 0; i < *n; i++) {
		if (base < tab[i].base + tab[i].len && tab[i].base < base + len) {
			err = -EBUSY;
			goto out;
		}
	}
	if (*n == MAX_RANGES) {
		err = -ENOSPC;
		goto out;
	}
	tab[(*n)++] = (struct range){ base, len, rd, wr, ctx };
out:
	pthread_rwlock_unlock(&bus_lock);
	return err;
}

static int range_del(struct range *tab, unsigned *n, uint64_t base)
{
	int err = -ENOENT;

	pthread_rwlock_wrlock(&bus_lock);
	for (unsigned i = 0; i < *n; i++) {
		if (tab[i].base == base) {
			tab[i] = tab[--(*n)];
			err = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&bus_lock);
	return err;
}

/* Copy out the range holding addr (whole access inside it); false if none. */
static bool range_find(const struct range *tab, const unsigned *n, uint64_t addr,
                       unsigned size, struct range *out)
{
	bool found = false;

	pthread_rwlock_rdlock(&bus_lock);
	for (unsigned i = 0; i < *n; i++) {
		if (addr >= tab[i].base && addr - tab[i].base + size <= tab[i].len) {
			*out = tab[i];
			found = true;
			break;
		}
	}
	pthread_rwlock_unlock(&bus_lock);
	return found;
}

static int bus_mmio_claim(void *bus, uint64_t base, uint64_t len, model_bus_read_fn rd,
                          model_bus_write_fn wr, void *ctx)
{
	(void)bus;
	if (len == 0 || !rd || !wr || base >= window_size ||
	    len > window_size - base)
		return -EINVAL;
	return range_add(mmio, &nmmio, base, len, rd, wr, ctx);
}

static int bus_mmio_release(void *bus, uint64_t base)
{
	(void)bus;
	return range_del(mmio, &nmmio, base);
}

static int bus_pio_claim(void *bus, uint16_t base, uint32_t len, model_bus_read_fn rd,
                         model_bus_write_fn wr, void *ctx)
{
	(void)bus;
	if (len == 0 || !rd || !wr || (uint32_t)base + len > 0x10000)
		return -EINVAL;
	return range_add(pio, &npio, base, len, rd, wr, ctx);
}

static int bus_pio_release(void *bus, uint16_t base)
{
	(void)bus;
	return range_del(pio, &npio, base);
}

static int bus_msr_claim(void *bus, uint32_t first, uint32_t last, model_msr_read_fn rd,
                         model_msr_write_fn wr, void *ctx)
{
	int err = 0;

	(void)bus;
	if (last < first || !rd || !wr)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus_lock);
	for (unsigned i = 0; i < nmsrs; i++) {
		if (first <= msrs[i].last && msrs[i].first <= last) {
			err = -EBUSY;
			goto out;
		}
	}
	if (nmsrs == MAX_RANGES) {
		err = -ENOSPC;
		goto out;
	}
	msrs[nmsrs++] = (struct msr_range){ first, last, rd, wr, ctx };
out:
	pthread_rwlock_unlock(&bus_lock);
	return err;
}

static int bus_msr_release(void *bus, uint32_t first)
{
	int err = -ENOENT;

	(void)bus;
	pthread_rwlock_wrlock(&bus_lock);
	for (unsigned i = 0; i < nmsrs; i++) {
		if (msrs[i].first == first) {
			msrs[i] = msrs[--nmsrs];
			err = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&bus_lock);
	return err;
}

int sim_bus_msr_lookup(uint32_t msr, model_msr_read_fn *rd, model_msr_write_fn *wr, void **ctx)
{
	int err = -ENOENT;

	pthread_rwlock_rdlock(&bus_lock);
	for (unsigned i = 0; i < nmsrs; i++) {
		if (msr >= msrs[i].first && msr <= msrs[i].last) {
			*rd = msrs[i].rd;
			*wr = msrs[i].wr;
			*ctx = msrs[i].ctx;
			err = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&bus_lock);
	return err;
}

/* ---- MMIO ------------------------------------------------------------------------- */

/* Is [pa, pa+len) covered by claimed ranges without a gap? */
static bool mmio_claimed(uint64_t pa, uint64_t len)
{
	uint64_t end = pa + len;
	bool progress = true;

	pthread_rwlock_rdlock(&bus_lock);
	while (pa < end && progress) {
		progress = false;
		for (unsigned i = 0; i < nmmio; i++) {
			if (pa >= mmio[i].base && pa < mmio[i].base + mmio[i].len) {
				pa = mmio[i].base + mmio[i].len;
				progress = true;
				break;
			}
		}
	}
	pthread_rwlock_unlock(&bus_lock);
	return pa >= end;
}

void *hal_mmio_map(uint64_t pa, size_t len)
{
	if (len == 0 || pa >= window_size || len > window_size - pa) {
		sim_log("hal_mmio_map(0x%llx, 0x%zx): outside the simulated MMIO space; NULL",
		        (unsigned long long)pa, len);
		return NULL;
	}
	if (!mmio_claimed(pa, len)) {
		sim_log("hal_mmio_map(0x%llx, 0x%zx): no device model claims all of it; NULL",
		        (unsigned long long)pa, len);
		return NULL;
	}
	return window + pa;
}

void hal_mmio_unmap(void *va, size_t len)
{
	uint8_t *p = va;

	if (!va)
		return;
	if (p < window || (uint64_t)(p - window) >= window_size ||
	    len > window_size - (uint64_t)(p - window))
		sim_fatal("hal_mmio_unmap(%p, 0x%zx): not an address hal_mmio_map returned", va, len);
}

/* Guest physical address of an MMIO accessor's pointer; fatal on a misuse. */
static uint64_t mmio_pa(const volatile void *addr, unsigned size, const char *what)
{
	const uint8_t *p = (const uint8_t *)(uintptr_t)addr;
	uint64_t pa;

	if (!window || p < window || (uint64_t)(p - window) >= window_size)
		sim_fatal("%s(%p): not an address hal_mmio_map returned (kernel bug)", what,
		          (const void *)p);
	pa = (uint64_t)(p - window);
	if (pa & (size - 1))
		sim_fatal("%s at physical 0x%llx: misaligned %u-byte MMIO access (kernel bug)", what,
		          (unsigned long long)pa, size);
	return pa;
}

static void mmio_unclaimed(const char *what, uint64_t pa)
{
	unsigned n = atomic_fetch_add(&mmio_unclaimed_logged, 1);

	if (n < MMIO_UNCLAIMED_LOG_MAX)
		sim_warn("%s at physical 0x%llx: no device there (reads all ones)%s", what,
		         (unsigned long long)pa,
		         n + 1 == MMIO_UNCLAIMED_LOG_MAX ? "; further ones are not logged" : "");
}

static uint64_t mmio_read(const volatile void *addr, unsigned size, const char *what)
{
	uint64_t pa = mmio_pa(addr, size, what);
	struct range r;

	if (sim_det_on)
		sim_det_point(DET_MMIO);
	sim_irq_poll();                 /* an instruction boundary: interrupts may come in */
	if (!range_find(mmio, &nmmio, pa, size, &r)) {
		mmio_unclaimed(what, pa);
		return ~0ull;
	}
	return r.rd(r.ctx, pa - r.base, size);
}

static void mmio_write(volatile void *addr, unsigned size, uint64_t v, const char *what)
{
	uint64_t pa = mmio_pa(addr, size, what);
	struct range r;

	if (sim_det_on)
		sim_det_point(DET_MMIO);
	sim_irq_poll();
	if (!range_find(mmio, &nmmio, pa, size, &r)) {
		mmio_unclaimed(what, pa);
		return;
	}
	r.wr(r.ctx, pa - r.base, size, v);
}

uint8_t hal_mmio_read8(const volatile void *addr)
{
	return (uint8_t)mmio_read(addr, 1, "hal_mmio_read8");
}

uint16_t hal_mmio_read16(const volatile void *addr)
{
	return (uint16_t)mmio_read(addr, 2, "hal_mmio_read16");
}

uint32_t hal_mmio_read32(const volatile void *addr)
{
	return (uint32_t)mmio_read(addr, 4, "hal_mmio_read32");
}

uint64_t hal_mmio_read64(const volatile void *addr)
{
	return mmio_read(addr, 8, "hal_mmio_read64");
}

void hal_mmio_write8(volatile void *addr, uint8_t v)
{
	mmio_write(addr, 1, v, "hal_mmio_write8");
}

void hal_mmio_write16(volatile void *addr, uint16_t v)
{
	mmio_write(addr, 2, v, "hal_mmio_write16");
}

void hal_mmio_write32(volatile void *addr, uint32_t v)
{
	mmio_write(addr, 4, v, "hal_mmio_write32");
}

void hal_mmio_write64(volatile void *addr, uint64_t v)
{
	mmio_write(addr, 8, v, "hal_mmio_write64");
}

/* ---- port I/O ------------------------------------------------------------------------ */

static void pio_unclaimed(uint16_t port, unsigned size, bool write)
{
	unsigned char bit = write ? 2 : 1;

	if (atomic_fetch_or(&pio_logged[port], bit) & bit)
		return;
	sim_warn("port %s of %u byte%s at 0x%04x: no device there (%s; logged once per port)",
	         write ? "write" : "read", size, size > 1 ? "s" : "", port,
	         write ? "ignored" : "reads all ones");
}

static uint64_t pio_read(uint16_t port, unsigned size)
{
	struct range r;

	if (sim_det_on)
		sim_det_point(DET_PIO);
	sim_irq_poll();
	if (!range_find(pio, &npio, port, size, &r)) {
		pio_unclaimed(port, size, false);
		return ~0ull;
	}
	return r.rd(r.ctx, port - r.base, size);
}

static void pio_write(uint16_t port, unsigned size, uint64_t v)
{
	struct range r;

	if (sim_det_on)
		sim_det_point(DET_PIO);
	sim_irq_poll();
	if (!range_find(pio, &npio, port, size, &r)) {
		pio_unclaimed(port, size, true);
		return;
	}
	r.wr(r.ctx, port - r.base, size, v);
}

uint8_t hal_pio_in8(uint16_t port)
{
	return (uint8_t)pio_read(port, 1);
}

uint16_t hal_pio_in16(uint16_t port)
{
	return (uint16_t)pio_read(port, 2);
}

uint32_t hal_pio_in32(uint16_t port)
{
	return (uint32_t)pio_read(port, 4);
}

void hal_pio_out8(uint16_t port, uint8_t v)
{
	pio_write(port, 1, v);
}

void hal_pio_out16(uint16_t port, uint16_t v)
{
	pio_write(port, 2, v);
}

void hal_pio_out32(uint16_t port, uint32_t v)
{
	pio_write(port, 4, v);
}

/* ---- device memory access, interrupt messages, GSI lines ------------------------------ */

#define BUS_LOG_MAX 64

static atomic_uint bus_logged;
static atomic_ullong msi_delivered, msi_dropped, dma_bad;
static struct vtd_model *iommu;

/* The bus's own complaints (bad messages, DMA outside RAM): at most BUS_LOG_MAX lines. */
static void bus_log_limited(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bus_log_limited(const char *fmt, ...)
{
	unsigned n = atomic_fetch_add(&bus_logged, 1);
	char buf[512];
	va_list ap;

	if (n >= BUS_LOG_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sim_log("%s%s", buf, n + 1 == BUS_LOG_MAX ? " (further bus lines are not logged)" : "");
}

/* Decode an interrupt message (SDM Vol. 3A §11.11.1 address, §11.11.2 data) and
 * deliver it, strictly: what the model cannot deliver faithfully is logged and dropped. */
static void bus_msi(void *bus, uint64_t addr, uint32_t data)
{
	uint32_t dest = msi_addr_dest(addr);
	unsigned vector = data & MSI_DATA_VECTOR_MASK, mode = msi_data_delivery(data);
	bool dm = addr & MSI_ADDR_DM_LOGICAL;

	(void)bus;
	if (addr < MSI_ADDR_BASE || addr >= (uint64_t)MSI_ADDR_BASE + MSI_ADDR_WINDOW_LEN) {
		bus_log_limited("bus: interrupt message 0x%08x to 0x%llx: not the interrupt window "
		                "0xFEEx_xxxx (address not programmed?) (dropped)", data,
		                (unsigned long long)addr);
		goto drop;
	}
	if (addr & 3) {
		bus_log_limited("bus: interrupt message to 0x%llx: an interrupt message is one aligned "
		                "DWORD (dropped)", (unsigned long long)addr);
		goto drop;
	}
	if (addr >> 32 || (addr & MSI_ADDR_RSVD_MASK) || (data & MSI_DATA_RSVD_MASK)) {
		bus_log_limited("bus: MSI address 0x%llx data 0x%08x: reserved bits set (address 63:32, "
		                "11:4; data 31:16, 13:11) (dropped)", (unsigned long long)addr, data);
		goto drop;
	}
	if (mode != MSI_DATA_DELIVERY_FIXED) {
		bus_log_limited("bus: MSI data 0x%08x: delivery mode %u not modelled (fixed only) "
		                "(dropped)", data, mode);
		goto drop;
	}
	if (data & MSI_DATA_TRIGGER_LEVEL) {
		bus_log_limited("bus: MSI data 0x%08x: level-triggered MSI has no EOI path back to a "
		                "device (dropped)", data);
		goto drop;
	}
	if (vector < 16) {
		bus_log_limited("bus: MSI data 0x%08x: vector %u is reserved (0..15) (dropped)", data,
		                vector);
		goto drop;
	}
	/* With fixed delivery the redirection hint (MSI_ADDR_RH) only matters for DM = 1. */
	atomic_fetch_add(&msi_delivered, 1);
	lapic_model_deliver_external(dest, dm, (uint8_t)vector, false);
	return;
drop:
	atomic_fetch_add(&msi_dropped, 1);
}

/* Is [pa, pa+len) guest RAM (inside --mem and outside the PCI hole)? */
static bool ram_range(uint64_t pa, unsigned len)
{
	uint64_t size = sim_mem_size(), end = pa + len;

	return len && end > pa && end <= size && !(pa < SIM_PCI_HOLE_END && end > SIM_PCI_HOLE_START);
}

/* Physical RAM access by a device (untranslated, or after the IOMMU). Outside RAM: logged and
 * counted; a read fills all ones (a master abort on PCI), a write is dropped; -EFAULT. */
static int ram_access(const char *who, uint64_t pa, void *buf, unsigned len, bool write)
{
	if (!ram_range(pa, len)) {
		atomic_fetch_add(&dma_bad, 1);
		bus_log_limited("%s %s of %u bytes at 0x%llx: not RAM (%s)", who,
		                write ? "write" : "read", len, (unsigned long long)pa,
		                write ? "dropped" : "reads all ones");
		if (!write)
			memset(buf, 0xFF, len);
		return -EFAULT;
	}
	if ((len == 2 || len == 4 || len == 8) && (pa & (len - 1)) == 0) {
		/* A naturally aligned word moves in one access, as on a PCIe link: with device
		 * threads a CPU may poll it at the same time (an NVMe phase tag), and the
		 * release/acquire pairs with the CPU's own atomics so that what the device
		 * wrote before it is seen after it. */
		uint8_t *p = sim_mem_base() + pa;
		uint16_t v2;
		uint32_t v4;
		uint64_t v8;

		if (write) {
			if (len == 2) { memcpy(&v2, buf, 2); __atomic_store_n((uint16_t *)p, v2, __ATOMIC_RELEASE); }
			if (len == 4) { memcpy(&v4, buf, 4); __atomic_store_n((uint32_t *)p, v4, __ATOMIC_RELEASE); }
			if (len == 8) { memcpy(&v8, buf, 8); __atomic_store_n((uint64_t *)p, v8, __ATOMIC_RELEASE); }
		} else {
			if (len == 2) { v2 = __atomic_load_n((uint16_t *)p, __ATOMIC_ACQUIRE); memcpy(buf, &v2, 2); }
			if (len == 4) { v4 = __atomic_load_n((uint32_t *)p, __ATOMIC_ACQUIRE); memcpy(buf, &v4, 4); }
			if (len == 8) { v8 = __atomic_load_n((uint64_t *)p, __ATOMIC_ACQUIRE); memcpy(buf, &v8, 8); }
		}
		return 0;
	}
	if (write)
		memcpy(sim_mem_base() + pa, buf, len);
	else
		memcpy(buf, sim_mem_base() + pa, len);
	return 0;
}

static int bus_mem_read(void *bus, uint64_t pa, void *buf, unsigned len)
{
	(void)bus;
	return ram_access("bus: memory", pa, buf, len, false);
}

static int bus_mem_write(void *bus, uint64_t pa, const void *buf, unsigned len)
{
	(void)bus;
	return ram_access("bus: memory", pa, (void *)buf, len, true);
}

void sim_bus_set_iommu(struct vtd_model *vtd)
{
	iommu = vtd;
}

static int bus_dma(void *bus, uint16_t rid, uint64_t addr, void *buf, unsigned len, bool write)
{
	(void)bus;
	if (iommu)
		return vtd_model_dma(iommu, rid, addr, buf, len, write);
	return ram_access("bus: device DMA", addr, buf, len, write);
}

static int bus_set_gsi(void *bus, uint32_t gsi, bool high)
{
	(void)bus;
	if (ioapic_model_set_line(gsi, high) != 0) {
		bus_log_limited("bus: interrupt line GSI %u: the I/O APIC has no such input", gsi);
		return -EINVAL;
	}
	return 0;
}

static int bus_current_cpu(void *bus)
{
	(void)bus;
	return sim_cpu_slot();
}

/* A model's message, formatted once for sim_log / sim_fatal. */
#define BUS_FORMAT(buf, fmt)                                                        \
	do {                                                                        \
		va_list ap_;                                                        \
		va_start(ap_, fmt);                                                 \
		vsnprintf(buf, sizeof(buf), fmt, ap_);                              \
		va_end(ap_);                                                        \
	} while (0)

static void bus_log(void *bus, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bus_log(void *bus, const char *fmt, ...)
{
	char buf[768];

	(void)bus;
	BUS_FORMAT(buf, fmt);
	sim_log("%s", buf);
}

static void bus_fatal(void *bus, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));
static void bus_fatal(void *bus, const char *fmt, ...)
{
	char buf[768];

	(void)bus;
	BUS_FORMAT(buf, fmt);
	sim_fatal("%s", buf);
}

static uint64_t bus_now_ns(void *bus)
{
	(void)bus;
	return sim_time_ns();
}

static bool bus_fault_site(void *bus, const char *site)
{
	(void)bus;
	return hal_fault_inject(site);     /* the kernel's seeded sites (sim/fault.c) */
}

static const struct model_bus sim_bus = {
	.version = MODEL_BUS_VERSION,
	.mmio_claim = bus_mmio_claim,
	.mmio_release = bus_mmio_release,
	.pio_claim = bus_pio_claim,
	.pio_release = bus_pio_release,
	.msr_claim = bus_msr_claim,
	.msr_release = bus_msr_release,
	.current_cpu = bus_current_cpu,
	.dma = bus_dma,
	.mem_read = bus_mem_read,
	.mem_write = bus_mem_write,
	.msi = bus_msi,
	.set_gsi = bus_set_gsi,
	.now_ns = bus_now_ns,
	.fault_site = bus_fault_site,
	.log = bus_log,
	.fatal = bus_fatal,
};

const struct model_bus *sim_model_bus(void)
{
	return &sim_bus;
}

void sim_bus_stats(struct sim_bus_stats *out)
{
	out->msi_delivered = atomic_load(&msi_delivered);
	out->msi_dropped = atomic_load(&msi_dropped);
	out->dma_outside_ram = atomic_load(&dma_bad);
}
