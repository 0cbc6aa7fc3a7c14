/*
 * pci_internal.h — shared state of the PCIe fabric model's files (pci_model.c:
 * buses, routing, ECAM and 0xCF8/0xCFC, dump; pci_cfg.c: config-space semantics and
 * BAR decode; pci_irq.c: MSI, MSI-X, INTx; pci_firmware.c: the SeaBIOS-like firmware
 * and the hostile endpoints). Register offsets: PCI Local Bus 3.0 §6.1-§6.2,
 * PCI-to-PCI Bridge 1.2 §3.2, PCIe Base 4.0 §7.5.3 and §7.7. Not for device models.
 */
#ifndef DOPPEL_MODELS_PCI_INTERNAL_H
#define DOPPEL_MODELS_PCI_INTERNAL_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "pci/pci_model.h"

/* ---- config header (PCI 3.0 §6.1, Bridge 1.2 §3.2) ------------------------------ */
#define CFG_VENDOR 0x00
#define CFG_DEVICE 0x02
#define CFG_COMMAND 0x04
#define   CMD_IO (1u << 0)
#define   CMD_MEM (1u << 1)
#define   CMD_MASTER (1u << 2)
#define   CMD_PARITY (1u << 6)
#define   CMD_SERR (1u << 8)
#define   CMD_INTX_DISABLE (1u << 10)
#define CFG_STATUS 0x06
#define   STS_INTX (1u << 3)            /* Interrupt Status, RO */
#define   STS_CAP_LIST (1u << 4)
#define   STS_RW1C 0xF900u              /* bits 8, 11..15: error bits, write 1 to clear */
#define   STS_RECV_MASTER_ABORT (1u << 13)
#define CFG_REVISION 0x08
#define CFG_CLASS 0x09                  /* prog-if, sub, base: 3 bytes */
#define CFG_CACHE_LINE 0x0C
#define CFG_HEADER_TYPE 0x0E
#define   HDR_MULTIFUNCTION 0x80u
#define CFG_BAR0 0x10
#define CFG_SUBSYS_VENDOR 0x2C
#define CFG_SUBSYS_ID 0x2E
#define CFG_CAP_PTR 0x34
#define CFG_INT_LINE 0x3C
#define CFG_INT_PIN 0x3D
/* type 1 */
#define CFG_PRIMARY_BUS 0x18
#define CFG_SECONDARY_BUS 0x19
#define CFG_SUBORDINATE_BUS 0x1A
#define CFG_IO_BASE 0x1C
#define CFG_IO_LIMIT 0x1D
#define CFG_SEC_STATUS 0x1E
#define CFG_MEM_BASE 0x20
#define CFG_MEM_LIMIT 0x22
#define CFG_PREF_BASE 0x24
#define CFG_PREF_LIMIT 0x26
#define CFG_PREF_BASE_UPPER 0x28
#define CFG_PREF_LIMIT_UPPER 0x2C
#define CFG_BRIDGE_CONTROL 0x3E
#define   BCTL_SEC_BUS_RESET (1u << 6)

#define BAR_IO_SPACE 0x1u               /* bit 0 */
#define BAR_MEM_TYPE_64 0x4u            /* bits 2:1 = 10b */
#define BAR_MEM_PREFETCH 0x8u           /* bit 3 */

/* ---- capabilities --------------------------------------------------------------- */
#define CAP_ID_PM 0x01
#define CAP_ID_MSI 0x05
#define CAP_ID_VENDOR 0x09
#define CAP_ID_SSVID 0x0D
#define CAP_ID_EXP 0x10
#define CAP_ID_MSIX 0x11
#define ECAP_ID_AER 0x0001

/* MSI, PCIe 4.0 §7.7.1 */
#define MSI_CTRL 0x02
#define   MSI_CTRL_ENABLE (1u << 0)
#define   MSI_CTRL_MMC_SHIFT 1          /* 3:1 Multiple Message Capable, RO */
#define   MSI_CTRL_MME_SHIFT 4          /* 6:4 Multiple Message Enable */
#define   MSI_CTRL_64BIT (1u << 7)
#define   MSI_CTRL_MASKABLE (1u << 8)
#define MSI_ADDR_LO 0x04
/* MSI-X, PCIe 4.0 §7.7.2 */
#define MSIX_CTRL 0x02
#define   MSIX_CTRL_SIZE_MASK 0x07FFu   /* table size - 1, RO */
#define   MSIX_CTRL_MASKALL (1u << 14)
#define   MSIX_CTRL_ENABLE (1u << 15)
#define MSIX_TABLE 0x04                 /* offset | BIR (2:0) */
#define MSIX_PBA 0x08
#define MSIX_ENTRY_SIZE 16u
#define MSIX_ENTRY_CTRL_MASKED 1u
/* PCI Express capability, PCIe 4.0 §7.5.3 */
#define EXP_LEN 0x3C
#define EXP_TYPE_ENDPOINT 0x0
#define EXP_TYPE_ROOT_PORT 0x4

#define CFG_SPACE 4096u
#define MSI_ADDR_INTR_BASE 0xFEE00000ull

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
	uint8_t cfg[CFG_SPACE];             /* what a read returns */
	uint8_t wmask[CFG_SPACE];           /* bits software may write */
	uint8_t w1c[CFG_SPACE];             /* write-1-to-clear bits */
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
