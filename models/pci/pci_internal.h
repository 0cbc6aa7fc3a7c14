/*
 * pci_internal.h — shared state of the PCIe fabric model's files (pci_model.c:
 * buses, routing, ECAM and 0xCF8/0xCFC, dump; pci_cfg.c: config-space semantics and
 * BAR decode; pci_irq.c: MSI, MSI-X, INTx; pci_firmware.c: the SeaBIOS-like firmware
 * and the hostile endpoints). Register layouts: <hw/pci/config.h>, <hw/pci/caps.h>,
 * <hw/pci/msi.h>. Not for device models.
 */
#ifndef DOPPEL_MODELS_PCI_INTERNAL_H
#define DOPPEL_MODELS_PCI_INTERNAL_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <hw/pci/caps.h>
#include <hw/pci/config.h>
#include <hw/pci/msi.h>

#include "bus.h"
#include "pci/pci_model.h"

/* ---- model state ------------------------------------------------------------------- */
enum fn_kind { FN_ENDPOINT, FN_HOST_BRIDGE, FN_BRIDGE };

struct pci_model_fn;
struct fn_bar {                         /* one decoder: a BAR as claimed on the bus */
	struct pci_model_fn *f;
	unsigned idx;
	bool mapped, io;
	uint64_t base, len;
};

struct pci_model_fn {
	struct pci_model_desc d;
	enum fn_kind kind;
	unsigned hostile;                   /* the one PCI_HOSTILE_* this endpoint plays, or 0 */
	uint8_t bus_index, dev, fn;
	uint8_t sec_index;                  /* bridges: bus index of the secondary side */
	uint8_t cfg[PCI_ECAM_CFG_SIZE];     /* what a read returns */
	uint8_t wmask[PCI_ECAM_CFG_SIZE];   /* bits software may write */
	uint8_t w1c[PCI_ECAM_CFG_SIZE];     /* write-1-to-clear bits */
	uint16_t msi_cap, msix_cap, exp_cap;
	struct fn_bar bar[6];
	uint32_t *msix_table;               /* 4 dwords per entry: addr lo, addr hi, data, ctrl */
	uint64_t *msix_pba;
	bool intx_state;                    /* the device asserts INTx (Status bit 3) */
	bool intx_driven;                   /* ... and it reaches the GSI (not disabled / MSI) */
	unsigned cfg_reads;                 /* config reads seen (vanish) */
	bool vanished;
	unsigned logs;                      /* log lines this function produced (rate limit) */
	bool warned_msi_data, warned_live_msix;
};

#define PCI_MODEL_MAX_BUSES 16
#define PCI_MODEL_MAX_FNS 64
#define PCI_MODEL_LOG_MAX 16            /* lines per function */
#define PCI_MODEL_GSI_BASE 16u
/* A vanishing endpoint answers this many config reads, then reads all ones: enough
 * for the ID, header type and class reads of a scan, too few for its BAR sizing. */
#define PCI_MODEL_VANISH_READS 6u

struct pbus {
	struct pci_model_fn *bridge;        /* NULL: the root bus */
	struct pci_model_fn *slot[32][8];
};

struct pci_fabric {
	pthread_mutex_t lock;               /* all fabric state; never held across a device
	                                       model's bar_read/bar_write */
	bool inited;
	struct pci_model_config cfg;
	const struct model_bus *mbus;      /* the machine; NULL until pci_model_init */
	uint32_t cf8;                       /* CONFIG_ADDRESS */
	struct pbus bus[PCI_MODEL_MAX_BUSES];
	unsigned nbuses;
	struct pci_model_fn *fns[PCI_MODEL_MAX_FNS];
	unsigned nfns;
	unsigned gsi_count[8];              /* asserted INTx sources per GSI 16..23 */
	bool ecam_mapped, ports_mapped;
	unsigned logs;
};

extern struct pci_fabric pci_fab;

/* Log through bus->log, at most PCI_MODEL_LOG_MAX lines per function (f may be NULL). */
void pcim_log(struct pci_model_fn *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Little-endian accessors on a function's config image. */
static inline uint32_t cfg_get(const uint8_t *c, unsigned off, unsigned size)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)c[off + i] << (8 * i);
	return v;
}
static inline void cfg_put(uint8_t *c, unsigned off, unsigned size, uint32_t v)
{
	for (unsigned i = 0; i < size; i++)
		c[off + i] = (uint8_t)(v >> (8 * i));
}

/* pci_cfg.c (lock held) */
void pcim_cfg_build(struct pci_model_fn *f);
uint32_t pcim_cfg_read(struct pci_model_fn *f, unsigned off, unsigned size, bool count);
void pcim_cfg_write(struct pci_model_fn *f, unsigned off, unsigned size, uint32_t v);
void pcim_decode_update(void);
void pcim_unmap_all(void);
uint64_t pcim_bar_addr(const struct pci_model_fn *f, unsigned i);
/* Where the path above f forwards (true) [base, base+len) of memory/I-O. */
bool pcim_path_forwards(const struct pci_model_fn *f, uint64_t base, uint64_t len, bool io);
struct pci_model_fn *pcim_upstream_bridge(const struct pci_model_fn *f);

/* pci_irq.c (lock held) */
void pcim_intx_update(struct pci_model_fn *f);
void pcim_msi_after_write(struct pci_model_fn *f, unsigned off, unsigned size, uint32_t old_ctrl,
                          uint32_t old_mask);
void pcim_msix_after_ctrl_write(struct pci_model_fn *f, uint16_t old_ctrl);
bool pcim_msix_table_access(struct pci_model_fn *f, unsigned bar, uint64_t off, unsigned size,
                            bool write, uint64_t *v);
unsigned pcim_gsi(const struct pci_model_fn *f);

/* pci_firmware.c */
int pcim_add_hostile(unsigned kind);

/* pci_model.c */
int pcim_add_fn(uint8_t bus_index, uint8_t dev, uint8_t fn, const struct pci_model_desc *d,
                enum fn_kind kind, unsigned hostile, struct pci_model_fn **out);
#endif
