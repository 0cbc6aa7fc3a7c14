/*
 * msi_priv.h — private to the PCI interrupt layer (msi.c, irq.c, msi_ktest.c): MPS
 * INTI flags (MP spec 1.4 Table 4-10) and the per-allocation state behind struct
 * pci_irq's priv. Register layouts, the MSI-X entry and the x86 message format:
 * <hw/pci/config.h>, <hw/pci/msi.h>.
 */
#ifndef KERNEL_PCI_MSI_PRIV_H
#define KERNEL_PCI_MSI_PRIV_H
#include <stdint.h>
#include <kernel/pci.h>
#include <hw/pci/config.h>
#include <hw/pci/msi.h>

/* MPS INTI flags (as in MADT overrides), MP spec 1.4 Table 4-10. */
#define PCI_MPS_POL_MASK 0x3
#define  PCI_MPS_POL_CONFORMS 0x0
#define  PCI_MPS_POL_LOW 0x3
#define PCI_MPS_TRIG_MASK 0xC
#define  PCI_MPS_TRIG_CONFORMS 0x0
#define  PCI_MPS_TRIG_LEVEL 0xC

#define PCI_IRQ_MAX_VEC MSIX_MAX_ENTRIES    /* vectors one allocation may hold */

struct pci_irq_priv;
struct intx_line;                           /* irq.c: one shared INTx line (GSI) */
/* INTx interrupts in a row after which a function still asserts its line before
 * the storm guard masks it (irq.c, docs/pci.md "INTx"). */
#define PCI_INTX_STORM_LIMIT 1000

/* The handler argument of one vector: which allocation, which index. */
struct pci_irq_slot {
	struct pci_irq_priv *p;
	unsigned idx;
};

struct pci_irq_priv {
	struct pci_irq *pi;
	void (*fn)(unsigned idx, void *arg);
	void *arg;
	volatile uint32_t *msix_pba;        /* mapped PBA (MSI-X) */
	volatile uint8_t *msix_table_map;   /* what pci_bar_map gave for the table BAR */
	volatile uint8_t *msix_pba_map;
	unsigned nslot;                     /* entries in slot[] and in pi->vec[] */
	/* INTx (irq.c): the line this allocation shares, the next member there, and
	 * how many functions were on the line when this one joined (0: it routed it). */
	struct intx_line *intx;
	struct pci_irq_priv *intx_next;
	unsigned intx_joined;
	/* INTx storm guard (irq.c): interrupts in a row after which this function
	 * still asserted its line, and how many times the guard masked it. */
	unsigned intx_stuck;
	uint32_t intx_storms;               /* atomic: read without intx_lock */
	/* One allocation (irq.c): this struct, slot[nslot], then the irq_vec array
	 * that pi->vec points at. */
	struct pci_irq_slot slot[];
};

/* msi.c: the MSI and MSI-X steps of the chain and their per-vector operations.
 * Each setup either succeeds or leaves the function exactly as it found it;
 * *why gets a reason on failure. */
/* MSI-X places vectors on cpu first, then round-robin over the other online CPUs
 * an MSI can reach (docs/pci.md "MSI-X"); each pi->vec[i] records its CPU. */
int pci_msix_setup(struct pci_irq *pi, unsigned want, unsigned cpu, const char **why);
void pci_msix_teardown(struct pci_irq *pi);
int pci_msix_mask(struct pci_irq *pi, unsigned idx, bool mask);
int pci_msix_pending(struct pci_irq *pi, unsigned idx);
int pci_msix_set_affinity(struct pci_irq *pi, unsigned idx, unsigned cpu);
int pci_msi_setup(struct pci_irq *pi, unsigned want, unsigned cpu, const char **why);
void pci_msi_teardown(struct pci_irq *pi);
int pci_msi_mask(struct pci_irq *pi, unsigned idx, bool mask);
int pci_msi_pending(struct pci_irq *pi, unsigned idx);
int pci_msi_set_affinity(struct pci_irq *pi, unsigned cpu);
/* Turn MSI and MSI-X off in the function's capabilities (no vectors touched). */
void pci_msi_disable_all(struct pci_dev *d);
#endif
