/*
 * vtd.h — the simulated Intel VT-d remapping unit (spec rev 3.x), one instance per
 * unit, each claiming its register page on its bus (models/bus.h): legacy-mode
 * root/context/second-level translation of device DMA with a context cache and an
 * IOTLB, fault recording and the fault-event MSI, register-based and queued
 * invalidation. docs/iommu.md "Simulator: the VT-d model".
 */
#ifndef DOPPEL_MODELS_VTD_H
#define DOPPEL_MODELS_VTD_H
#include <stdbool.h>
#include <stdint.h>

#define VTD_MODEL_BASE 0xFED90000ull     /* where q35's intel-iommu sits too */

struct model_bus;
struct vtd_model;

struct vtd_config {
	uint64_t base;              /* register page; 0 = VTD_MODEL_BASE */
	bool caching_mode;          /* CAP.CM */
	bool no_qi;                 /* ECAP.QI = 0 */
};

/* Build a unit: claim its register page on bus (which must outlive it); table walks,
 * queued invalidation and translated DMA use bus->mem_read/mem_write, its fault and
 * invalidation events bus->msi. Units are independent: several may share a bus at
 * different bases. 0 and *out; -EINVAL (bad config or bus), -ENOMEM, or the
 * claim's error (-EBUSY: the page overlaps another claim). */
int vtd_model_create(const struct vtd_config *cfg, const struct model_bus *bus,
                     struct vtd_model **out);
/* Release the register page and free the unit (NULL: nothing). No DMA may be in flight. */
void vtd_model_destroy(struct vtd_model *vt);

/* A DMA by requester rid (bus << 8 | dev << 3 | fn): translated page by page when
 * translation is enabled (GSTS.TES), else passed through. Returns 0, or -EFAULT when
 * any part was blocked (a fault recorded: the blocked part of a read reads zeros,
 * of a write is dropped, as on QEMU) or did not reach RAM. Synchronous; any thread. */
int vtd_model_dma(struct vtd_model *vt, uint16_t rid, uint64_t addr, void *buf, unsigned len,
                  bool write);
#endif
