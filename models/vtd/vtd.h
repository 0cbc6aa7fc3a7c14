/*
 * vtd.h — the simulated Intel VT-d remapping unit (spec rev 3.x): one register page
 * claimed on the sim bus, legacy-mode root/context/second-level translation of
 * device DMA with a context cache and an IOTLB, fault recording and the fault-event
 * MSI, register-based and queued invalidation. docs/iommu.md "Simulator: the VT-d model".
 */
#ifndef DOPPEL_MODELS_VTD_H
#define DOPPEL_MODELS_VTD_H
#include <stdbool.h>
#include <stdint.h>

#define VTD_MODEL_BASE 0xFED90000ull     /* where q35's intel-iommu sits too */

/* What the model needs from the machine: physical memory for table walks, queued
 * invalidation and translated DMA; the MSI path for its interrupts; logging. */
struct vtd_host {
	/* Physical memory access: 0, or -EFAULT (not RAM: a read fills all ones). */
	int (*mem_read)(uint64_t pa, void *buf, unsigned len);
	int (*mem_write)(uint64_t pa, const void *buf, unsigned len);
	/* An interrupt message (fault event, invalidation completion event). */
	void (*msi)(uint64_t addr, uint32_t data);
	void (*log)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
};

struct vtd_config {
	uint64_t base;              /* register page; 0 = VTD_MODEL_BASE */
	bool caching_mode;          /* CAP.CM */
	bool no_qi;                 /* ECAP.QI = 0 */
};

/* Build the unit and claim its register page (sim_bus_mmio_register). 0 or -errno.
 * Calling it again tears the previous unit down first. */
int vtd_model_init(const struct vtd_config *cfg, const struct vtd_host *host);

/* A DMA by requester rid (bus << 8 | dev << 3 | fn): translated page by page when
 * translation is enabled (GSTS.TES), else passed through. Returns 0, or -EFAULT when
 * any part was blocked (a fault recorded: the blocked part of a read reads zeros,
 * of a write is dropped, as on QEMU) or did not reach RAM. Synchronous. */
int vtd_model_dma(uint16_t rid, uint64_t addr, void *buf, unsigned len, bool write);

/* Register access as the bus delivers it (offset in the page, size 1/2/4/8). */
uint64_t vtd_model_mmio_read(uint64_t off, unsigned size);
void vtd_model_mmio_write(uint64_t off, unsigned size, uint64_t v);
#endif
