/*
 * bus.h — how device models attach to the simulated machine: a model claims a
 * physical MMIO range, an I/O port range or an MSR range with read/write callbacks.
 * The HAL accessors (hal_mmio_*, hal_pio_*, hal_rdmsr/wrmsr) dispatch to them; what
 * nobody claims reads as all ones (MSRs: 0) and is logged. See docs/sim.md.
 */
#ifndef DOPPEL_SIM_BUS_H
#define DOPPEL_SIM_BUS_H
#include <stdint.h>

/* size is 1, 2, 4 or 8 bytes; offset is relative to the registered base.
 * Callbacks run on the accessing CPU's thread with no bus lock held, so they may
 * register or unregister ranges (a BAR being moved). */
typedef uint64_t (*sim_bus_read_fn)(void *ctx, uint64_t offset, unsigned size);
typedef void (*sim_bus_write_fn)(void *ctx, uint64_t offset, unsigned size, uint64_t value);

/* Claim [base, base+len). 0, -EINVAL (empty, outside the MMIO window / port space,
 * missing callbacks), -EBUSY (overlaps a claimed range), -ENOSPC (table full). */
int sim_bus_mmio_register(uint64_t base, uint64_t len, sim_bus_read_fn rd,
                          sim_bus_write_fn wr, void *ctx);
int sim_bus_mmio_unregister(uint64_t base);
int sim_bus_pio_register(uint16_t base, uint32_t len, sim_bus_read_fn rd,
                         sim_bus_write_fn wr, void *ctx);
int sim_bus_pio_unregister(uint16_t base);

/* MSRs [first, last] on the CPU that accesses them (sim_cpu_self() tells which). */
typedef uint64_t (*sim_msr_read_fn)(void *ctx, uint32_t msr);
typedef void (*sim_msr_write_fn)(void *ctx, uint32_t msr, uint64_t value);
int sim_bus_msr_register(uint32_t first, uint32_t last, sim_msr_read_fn rd,
                         sim_msr_write_fn wr, void *ctx);

/* ---- sim internal ---- */
/* The model claiming msr, if any: 0 and the callbacks, or -ENOENT. */
int sim_bus_msr_lookup(uint32_t msr, sim_msr_read_fn *rd, sim_msr_write_fn *wr, void **ctx);
/* Host address and size of the PROT_NONE window (for the crash reporter). */
uint8_t *sim_mmio_window_base(void);
uint64_t sim_mmio_window_size(void);
/* Reserve the PROT_NONE host window that hal_mmio_map hands out. 0 or -errno. */
int sim_bus_init(void);
/* Guest physical address space the MMIO window covers, from 0: 64 GiB, or less
 * (never under 4 GiB) where the host refuses that much, as Valgrind does. */
#define SIM_MMIO_WINDOW_MAX (1ull << 36)
#define SIM_MMIO_WINDOW_MIN (1ull << 32)
#endif
