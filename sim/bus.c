/*
 * bus.c — doppel-sim's address decoding: MMIO, port and MSR ranges claimed by
 * device models, and the HAL accessors that dispatch to them (hal_mmio_map and
 * hal_mmio_read/write*, hal_pio_in/out*; kernel/include/hal/hal.h). hal_mmio_map
 * returns addresses in a PROT_NONE host window, so a driver that dereferences
 * device registers instead of using the accessors faults at once.
 */
#include "bus.h"
#include "det.h"
#include "sim.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#define MAX_RANGES 64
#define MMIO_UNCLAIMED_LOG_MAX 32

struct range {
	uint64_t base, len;
	sim_bus_read_fn rd;
	sim_bus_write_fn wr;
	void *ctx;
};

struct msr_range {
	uint32_t first, last;
	sim_msr_read_fn rd;
	sim_msr_write_fn wr;
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
                     sim_bus_read_fn rd, sim_bus_write_fn wr, void *ctx)
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

int sim_bus_mmio_register(uint64_t base, uint64_t len, sim_bus_read_fn rd,
                          sim_bus_write_fn wr, void *ctx)
{
	if (len == 0 || !rd || !wr || base >= window_size ||
	    len > window_size - base)
		return -EINVAL;
	return range_add(mmio, &nmmio, base, len, rd, wr, ctx);
}

int sim_bus_mmio_unregister(uint64_t base)
{
	return range_del(mmio, &nmmio, base);
}

int sim_bus_pio_register(uint16_t base, uint32_t len, sim_bus_read_fn rd,
                         sim_bus_write_fn wr, void *ctx)
{
	if (len == 0 || !rd || !wr || (uint32_t)base + len > 0x10000)
		return -EINVAL;
	return range_add(pio, &npio, base, len, rd, wr, ctx);
}

int sim_bus_pio_unregister(uint16_t base)
{
	return range_del(pio, &npio, base);
}

int sim_bus_msr_register(uint32_t first, uint32_t last, sim_msr_read_fn rd,
                         sim_msr_write_fn wr, void *ctx)
{
	int err = 0;

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

int sim_bus_msr_lookup(uint32_t msr, sim_msr_read_fn *rd, sim_msr_write_fn *wr, void **ctx)
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
