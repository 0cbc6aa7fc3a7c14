/*
 * sim_bus.h — doppel-sim's side of the model bus (models/bus.h): the one struct
 * model_bus every device model is created with, and what only the simulator needs
 * of the range tables (MSR dispatch for hal_rdmsr/wrmsr, the PROT_NONE MMIO window,
 * the IOMMU DMA goes through, counters). See docs/sim.md.
 */
#ifndef DOPPEL_SIM_BUS_H
#define DOPPEL_SIM_BUS_H
#include <stdint.h>

#include "bus.h"        /* models/bus.h (sim/ has no bus.h: no clash) */

struct vtd_model;

/* The machine's bus, handed to every model at creation. Valid after sim_bus_init. */
const struct model_bus *sim_model_bus(void);
/* Device DMA goes through this VT-d unit from now on (NULL: untranslated). Call
 * before any device runs. */
void sim_bus_set_iommu(struct vtd_model *vtd);

/* The model claiming msr, if any: 0 and the callbacks, or -ENOENT. */
int sim_bus_msr_lookup(uint32_t msr, model_msr_read_fn *rd, model_msr_write_fn *wr, void **ctx);
/* Host address and size of the PROT_NONE window (for the crash reporter). */
uint8_t *sim_mmio_window_base(void);
uint64_t sim_mmio_window_size(void);
/* Reserve the PROT_NONE host window that hal_mmio_map hands out. 0 or -errno. */
int sim_bus_init(void);
/* Guest physical address space the MMIO window covers, from 0: 64 GiB, or less
 * (never under 4 GiB) where the host refuses that much, as Valgrind does. */
#define SIM_MMIO_WINDOW_MAX (1ull << 36)
#define SIM_MMIO_WINDOW_MIN (1ull << 32)

/* What devices did on the bus, for the exit report. Any thread. */
struct sim_bus_stats {
	uint64_t msi_delivered, msi_dropped;
	uint64_t dma_outside_ram;   /* device or IOMMU accesses that missed RAM */
};
void sim_bus_stats(struct sim_bus_stats *out);
#endif
