/*
 * pci.h — PCI/PCIe for drivers and tests: configuration access (ECAM from the ACPI
 * MCFG, else the legacy 0xCF8/0xCFC mechanism), enumeration through bridges, BARs,
 * capability lists, and interrupts with the fallback chain MSI-X -> MSI -> INTx ->
 * polling. PCI Local Bus 3.0 §6 (config header, BARs, capabilities), PCI-to-PCI
 * Bridge 1.2 §3.2, PCIe Base 4.0 §7.2.2 (ECAM) and §7.7 (MSI/MSI-X). docs/pci.md.
 */
#ifndef KERNEL_PCI_H
#define KERNEL_PCI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <kernel/irq.h>

/* ---- addresses and raw config access ------------------------------------------------ */

struct pci_addr {
	uint16_t seg;
	uint8_t bus, dev, fn;       /* dev 0..31, fn 0..7 */
};

/* Config access bounded to the function's space: 256 bytes on the legacy
 * mechanism, 4096 on ECAM. off must be naturally aligned to the size (1, 2, 4).
 * Out of bounds, misaligned, or no such segment/bus: reads give all ones and
 * return -EINVAL/-ENODEV through pci_cfg_check; writes are dropped. Any context. */
uint8_t pci_cfg_read8(const struct pci_addr *a, uint16_t off);
uint16_t pci_cfg_read16(const struct pci_addr *a, uint16_t off);
uint32_t pci_cfg_read32(const struct pci_addr *a, uint16_t off);
void pci_cfg_write8(const struct pci_addr *a, uint16_t off, uint8_t v);
void pci_cfg_write16(const struct pci_addr *a, uint16_t off, uint16_t v);
void pci_cfg_write32(const struct pci_addr *a, uint16_t off, uint32_t v);
/* 0 when [off, off+size) is a valid access for a, else -EINVAL/-ENODEV. */
int pci_cfg_check(const struct pci_addr *a, uint16_t off, unsigned size);
/* Size of a's config space as reachable here: 4096 (ECAM), 256 (legacy), 0 (none). */
unsigned pci_cfg_space_size(const struct pci_addr *a);
/* "ecam" or "legacy" (the mechanism in use after pci_init). */
const char *pci_cfg_mechanism(void);

/* ---- the device table -------------------------------------------------------------- */

enum pci_bar_kind { PCI_BAR_NONE, PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

struct pci_bar {
	enum pci_bar_kind kind;     /* MEM64 occupies this slot and the next (that one NONE) */
	bool prefetchable;
	uint64_t addr;              /* as the firmware programmed it */
	uint64_t size;              /* from sizing; 0 = not implemented / unusable */
};

enum pci_irq_mode { PCI_IRQ_NONE, PCI_IRQ_MSIX, PCI_IRQ_MSI, PCI_IRQ_INTX, PCI_IRQ_POLL };

#define PCI_MAX_CAPS 48
struct pci_cap {
	uint16_t id;                /* capability ID, or extended capability ID */
	uint16_t off;
	bool ext;                   /* in extended config space (offset >= 0x100) */
	uint8_t ver;                /* extended capability version */
};

struct pci_msi_info {          /* decoded from the MSI capability; present = cap found */
	bool present, is64, maskable;
	uint16_t off;
	uint8_t multi_cap_log2;     /* Multiple Message Capable: log2 of vectors offered */
};

struct pci_msix_info {         /* decoded from the MSI-X capability; valid = usable */
	bool present, valid;
	uint16_t off;
	uint16_t table_size;        /* entries, 1..2048 */
	uint8_t table_bar, pba_bar;
	uint32_t table_off, pba_off;
};

struct pci_dev {
	struct pci_addr addr;
	uint16_t vendor, device, subsys_vendor, subsys_id;
	uint32_t class_code;        /* base << 16 | sub << 8 | prog-if */
	uint8_t revision, header_type;  /* header_type without the multi-function bit */
	bool multifunction, pcie;
	uint8_t irq_pin, irq_line;  /* pin 0 = none, 1..4 = INTA..INTD; line as firmware left it */
	uint8_t sec_bus, sub_bus;   /* type 1 only */
	struct pci_bar bar[6];
	unsigned ncaps;
	struct pci_cap caps[PCI_MAX_CAPS];
	struct pci_msi_info msi;
	struct pci_msix_info msix;
	enum pci_irq_mode irq_mode; /* what pci_irq_alloc settled on (NONE before) */
	const char *skipped;        /* non-NULL: why this function was left out of use */
};

/* Find MCFG (else legacy), walk every segment/bus reachable from the host bridges,
 * fill the table and log one line per device. Idempotent. 0 or -errno (no config
 * mechanism at all: -ENODEV). Never panics on a hostile device: it gets a log line
 * naming its address and fault, `skipped` set, and enumeration goes on. */
int pci_init(void);
unsigned pci_count(void);
struct pci_dev *pci_get(unsigned idx);
struct pci_dev *pci_find(uint16_t vendor, uint16_t device, unsigned nth);
struct pci_dev *pci_find_class(uint32_t class_code, uint32_t mask, unsigned nth);
/* Print the diagnostics dump (format: docs/pci.md). with_config: also every
 * function's config space as lspci -xxxx hex lines. */
void pci_dump(bool with_config);

/* ---- pure parsers over a config-space image (unit tests, fuzzing) ------------------- */

/* Walk the capability list (and, when len > 256, the extended list) of a config-space
 * image of len bytes (64..4096). Loops, pointers into the header, misalignment and
 * overruns end the walk with a reason in *err (NULL when clean). Returns the number
 * of capabilities stored (at most max). */
unsigned pci_caps_parse(const uint8_t *cfg, size_t len, struct pci_cap *out, unsigned max,
			const char **err);
/* Decode MSI and MSI-X capabilities found by pci_caps_parse. MSI-X is valid only if
 * the table and PBA lie inside implemented memory BARs (sizes from bars) and do not
 * overlap each other; else msix->valid = false and *err says why. */
void pci_msi_decode(const uint8_t *cfg, size_t len, const struct pci_cap *caps, unsigned n,
		    struct pci_msi_info *msi, struct pci_msix_info *msix, const struct pci_bar bars[6],
		    const char **err);

/* ---- BARs -------------------------------------------------------------------------- */

/* Map a memory BAR (uncached, through hal_mmio_map). NULL when not a memory BAR or
 * unimplemented. */
void *pci_bar_map(struct pci_dev *d, unsigned bar);
/* Enable memory/I-O decode and bus mastering as asked (command register). */
void pci_enable(struct pci_dev *d, bool mem, bool io, bool bus_master);
/* Set or clear the command register's INTx Disable; returns its previous state.
 * A driver sets it at probe, before it starts the device, so the device cannot
 * hold a shared INTx line asserted before pci_irq_alloc chose a mode (an INTx
 * grant clears it at pci_irq_unmask). */
bool pci_intx_disable(struct pci_dev *d, bool disable);

/* ---- interrupts: one allocation API with the fallback chain -------------------------- */

#define PCI_IRQ_ALLOW_MSIX 1u
#define PCI_IRQ_ALLOW_MSI 2u
#define PCI_IRQ_ALLOW_INTX 4u
#define PCI_IRQ_ALLOW_POLL 8u
#define PCI_IRQ_ALLOW_ALL 15u

struct pci_irq {
	struct pci_dev *dev;
	enum pci_irq_mode mode;
	unsigned nvec;              /* vectors granted (MSI: a power of two) */
	struct irq_vec *vec;        /* heap storage sized at allocation, freed by
	                             * pci_irq_free (NULL before and after). MSI-X:
	                             * vec[0..nvec-1], one per vector, each with its own
	                             * CPU; MSI: vec[0] is the block; INTx: vec[0] plus
	                             * gsi (vec[0] is the line's vector, shared by
	                             * every function on that GSI); polling: unused */
	uint32_t gsi;
	volatile uint32_t *msix_table;  /* mapped table (MSI-X) */
	const char *fallback_why[4];    /* why each earlier step was passed over */
	void *priv;                 /* interrupt-layer state (kernel/pci/irq.c): the
	                             * handler, its argument, per-vector contexts */
};

/* Allocate up to want vectors (min 1, at most 2048) trying the allowed modes in the
 * order MSI-X, MSI, INTx (I/O APIC pin from the firmware's interrupt line), polling.
 * MSI-X gets min(want, table size, 2048) vectors if they can be had: on cpu first,
 * then, once cpu has no free vector left, round-robin over the other online CPUs an
 * MSI can reach (fewer is still a grant, at least 1); MSI and INTx stay on cpu,
 * except that a function whose INTx line (GSI) is already routed for another
 * function joins that line's vector wherever it is (shared INTx, docs/pci.md). A
 * failed step leaves nothing behind: no vector, no table entry, no enable bit. fn
 * is called with (vector index in the granted set, arg) — in IRQ context, or from
 * pci_irq_poll in PCI_IRQ_POLL mode. Vectors start masked; pci_irq_unmask each.
 * 0 or -errno (-ENOSPC only when polling was not allowed either). out must stay
 * where it is until pci_irq_free: the handlers reach it. */
int pci_irq_alloc(struct pci_dev *d, unsigned want, unsigned cpu, unsigned allow,
		  void (*fn)(unsigned idx, void *arg), void *arg, struct pci_irq *out);
/* Mask everything, disable the mode, free every vector on its owning CPU; returns
 * once no handler of this allocation can still run. On a shared INTx line only this
 * function leaves: the last one unroutes the pin and frees the line's vector. */
void pci_irq_free(struct pci_irq *pi);
/* Per-vector mask: MSI-X Vector Control, MSI Mask Bits, INTx the Command register's
 * INTx Disable. MSI without per-vector masking is live from allocation: mask gives
 * -EOPNOTSUPP, unmask 0. Polling: 0 (nothing to mask). -EINVAL for a bad idx. */
int pci_irq_mask(struct pci_irq *pi, unsigned idx);
int pci_irq_unmask(struct pci_irq *pi, unsigned idx);
/* MSI-X: the vector's Pending Bit (PBA); MSI with per-vector masking: its bit in
 * the Pending Bits register; other modes: -EOPNOTSUPP. 1 pending, 0 not. */
int pci_irq_pending(struct pci_irq *pi, unsigned idx);
/* Move vector idx (MSI: the whole block; INTx: the line, for every function
 * sharing it) to another online CPU. */
int pci_irq_set_affinity(struct pci_irq *pi, unsigned idx, unsigned cpu);
/* Polling mode: call fn for every vector (the driver checks its device). */
void pci_irq_poll(struct pci_irq *pi);
const char *pci_irq_mode_name(enum pci_irq_mode m);

/* The MSI address/data pair aimed at a CPU's LAPIC (Intel SDM Vol. 3A §11.11):
 * fixed delivery, edge, physical destination. -EINVAL for a CPU whose APIC ID
 * does not fit 8 bits (no interrupt remapping here). */
int pci_msi_compose(unsigned cpu, uint8_t vector, uint64_t *addr, uint32_t *data);
#endif
