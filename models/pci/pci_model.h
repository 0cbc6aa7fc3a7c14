/*
 * pci_model.h — the simulated PCIe fabric: an ECAM window (and the legacy
 * 0xCF8/0xCFC ports), a host bridge, PCI-PCI bridges and endpoints built from a
 * description, with config-space semantics as the specs give them (read-only bits,
 * BAR size masks, RW1C status). Device models (edu, nvme, ...) describe themselves
 * with struct pci_model_desc and raise interrupts through pci_model_irq_*.
 * PCI Local Bus 3.0 §6, PCI-to-PCI Bridge 1.2 §3.2, PCIe Base 4.0 §7.2.2, §7.7.
 */
#ifndef DOPPEL_MODELS_PCI_MODEL_H
#define DOPPEL_MODELS_PCI_MODEL_H
#include <stdbool.h>
#include <stdint.h>

struct model_bus;

#define PCI_MODEL_BAR_IO 1u
#define PCI_MODEL_BAR_MEM64 2u
#define PCI_MODEL_BAR_PREFETCH 4u

struct pci_model_fn;

/* A BAR's registers: offset within the BAR, size 1/2/4/8. */
typedef uint64_t (*pci_model_bar_read_fn)(void *ctx, unsigned bar, uint64_t off, unsigned size);
typedef void (*pci_model_bar_write_fn)(void *ctx, unsigned bar, uint64_t off, unsigned size,
				       uint64_t v);

struct pci_model_bar_desc {
	uint64_t size;              /* power of two (>= 16 memory, >= 4 I/O); 0 = none */
	unsigned flags;             /* PCI_MODEL_BAR_* ; MEM64 uses the next slot too */
};

struct pci_model_desc {
	const char *name;           /* "edu", "nvme", ... (logs, dumps) */
	uint16_t vendor, device, subsys_vendor, subsys_id;
	uint32_t class_code;        /* base << 16 | sub << 8 | prog-if */
	uint8_t revision;
	uint8_t irq_pin;            /* 0 none, 1..4 INTA..INTD */
	bool pcie;                  /* add a PCI Express capability (endpoint) */
	struct pci_model_bar_desc bar[6];
	/* MSI: vectors offered as log2 (0..5), 64-bit address, per-vector masking */
	bool msi;
	uint8_t msi_multi_log2;
	bool msi_64, msi_maskable;
	/* MSI-X: table_size entries (1..2048); table and PBA in the given BARs/offsets */
	bool msix;
	uint16_t msix_table_size;
	uint8_t msix_table_bar, msix_pba_bar;
	uint32_t msix_table_off, msix_pba_off;
	pci_model_bar_read_fn bar_read;
	pci_model_bar_write_fn bar_write;
	void *ctx;
};

/* Topology and hostile behaviours, chosen on the sim's command line. */
enum pci_model_hostile {
	PCI_HOSTILE_CAP_LOOP = 1u << 0,     /* a capability list that points back to itself */
	PCI_HOSTILE_CAP_IN_HEADER = 1u << 1,/* a capability pointer into the header (< 0x40) */
	PCI_HOSTILE_BAR_ONES = 1u << 2,     /* a BAR that reads all ones whatever is written */
	PCI_HOSTILE_MSIX_NO_BAR = 1u << 3,  /* MSI-X table in a BAR that is not implemented */
	PCI_HOSTILE_VANISH = 1u << 4,       /* a device that reads all ones after N reads */
};

struct pci_model_config {
	uint64_t ecam_base;         /* 256 buses * 1 MiB; 0 = no ECAM (legacy ports only) */
	uint8_t bus_start, bus_end; /* MCFG range of segment 0 */
	bool legacy_ports;          /* 0xCF8/0xCFC too (always true on a PC) */
	unsigned hostile;           /* PCI_HOSTILE_* bits: one extra device each */
	/* Where pci_model_firmware may put 64-bit BARs above 4 GiB (inside the sim's
	 * MMIO window, above RAM); 0/0 = none: they stay in the 32-bit hole. */
	uint64_t mmio64_base, mmio64_limit;
};

/* Build the fabric on bus (kept: it must outlive the fabric), tearing down any previous
 * one: claim the ECAM window and 0xCF8/0xCFC, drive the idle INTx lines (GSI 16..23)
 * high; BARs are claimed and released as software programs them. Device DMA goes to
 * bus->dma with the function's requester ID, MSI/MSI-X messages to bus->msi, INTx to
 * bus->set_gsi (active low, PCI 3.0 §2.2.6). 0 or -errno (-EINVAL, a claim's error). */
int pci_model_init(const struct pci_model_config *cfg, const struct model_bus *bus);
/* Add a bridge below parent_bus (0 = root complex) at slot dev; returns its secondary
 * bus number (assigned by pci_model_firmware) or -errno. */
int pci_model_add_bridge(uint8_t parent_bus_index, uint8_t dev);
/* Add an endpoint function on bus index (0 root, n = nth bridge's secondary) at
 * dev/fn. 0 and *out, or -errno (slot taken, bad description). */
int pci_model_add(uint8_t bus_index, uint8_t dev, uint8_t fn, const struct pci_model_desc *d,
		  struct pci_model_fn **out);
/* Play the firmware: number buses, assign BARs and bridge windows inside the PCI
 * hole, program interrupt line registers (pin swizzle to I/O APIC GSIs 16..23), as
 * SeaBIOS does. Decode is left enabled as firmware leaves it. */
int pci_model_firmware(uint64_t mmio_base, uint64_t mmio_limit, uint16_t io_base, uint16_t io_limit);

/* A device raises interrupt vector idx: MSI-X (unless the function or vector is
 * masked: then its PBA bit is set and delivered on unmask), else MSI (masked:
 * pending, delivered on unmask), else INTx assert (unless Command.INTx Disable).
 * Returns true when a message or line change went out. */
bool pci_model_irq_raise(struct pci_model_fn *f, unsigned idx);
/* Is MSI-X enabled (Message Control.Enable) on the function? */
bool pci_model_msix_enabled(struct pci_model_fn *f);
/* MSI vectors software enabled (Multiple Message Enable, PCIe 4.0 §7.7.1.2: 1..32);
 * 0 when MSI is off or MSI-X is on. */
unsigned pci_model_msi_vectors(struct pci_model_fn *f);
/* INTx deassert (level devices; edu lowers it on acknowledge). */
void pci_model_irq_lower(struct pci_model_fn *f);
/* Bus mastering enabled (DMA allowed)? */
bool pci_model_bus_master(const struct pci_model_fn *f);
/* The function's requester ID as the bus numbers are programmed now. */
uint16_t pci_model_rid(const struct pci_model_fn *f);
/* A device's DMA (not for MSI messages: those go through pci_model_irq_raise), with
 * its requester ID, through the bus's dma. 0; -EACCES when Bus Master Enable is off
 * (nothing moves, a read's buffer is left as is); -EFAULT as the bus's dma. */
int pci_model_dma_read(struct pci_model_fn *f, uint64_t addr, void *buf, unsigned len);
int pci_model_dma_write(struct pci_model_fn *f, uint64_t addr, const void *buf, unsigned len);
/* The device records an error event in its Status register: bits among 8 and
 * 11..15 (e.g. 1 << 13 Received Master Abort after a failed DMA); software clears
 * them by writing 1s. Other bits are ignored. */
void pci_model_signal_error(struct pci_model_fn *f, uint16_t status_bits);

/* Config space of each function as lspci -xxxx hex (for `lspci -F`), to a file. */
int pci_model_dump_config(const char *path);
#endif
