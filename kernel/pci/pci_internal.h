/*
 * pci_internal.h — what the files of kernel/pci/ share among themselves and with
 * the pci ktest suite: the ECAM segment table (mcfg.c, config.c), BAR sizing
 * (bar.c), the enumerator's bookkeeping (enum.c). Drivers include kernel/pci.h only.
 */
#ifndef KERNEL_PCI_INTERNAL_H
#define KERNEL_PCI_INTERNAL_H
#include <stdbool.h>
#include <stdint.h>
#include <kernel/pci.h>

#define PCI_MAX_SEGMENTS 16         /* MCFG allocations we keep */
#define PCI_MAX_DEVS 256            /* functions in the device table */

/* One MCFG allocation (PCI Firmware 3.0 §4.1.2). `base` is the address of bus 0 of
 * the segment, as Linux and FreeBSD read the table: bus b lives at base + (b << 20)
 * for start <= b <= end. `va` maps bus `start` onward. */
struct pci_ecam_seg {
	uint64_t base;
	uint16_t seg;
	uint8_t start, end;
	volatile uint8_t *va;
};

/* mcfg.c: parse an MCFG of len bytes (checksum already checked by the ACPI code)
 * into out[]: every allocation that passes the checks; bad ones are logged and
 * skipped. Returns how many were stored. Pure: no mapping here. */
unsigned pci_mcfg_parse(const void *table, uint32_t len, struct pci_ecam_seg *out, unsigned max);

/* config.c: choose the mechanism (ECAM segments, else legacy ports if they answer).
 * 0 or -ENODEV when neither works. */
int pci_config_init(void);
/* The ECAM segments in use (0 on legacy). */
unsigned pci_ecam_count(void);
const struct pci_ecam_seg *pci_ecam_get(unsigned i);
/* First and last bus reachable on segment seg; false when the segment is unknown. */
bool pci_seg_bus_range(uint16_t seg, uint8_t *first, uint8_t *last);

/* bar.c: size the BARs of d (6 for type 0, 2 for type 1) with decode disabled in
 * the command register, restoring each BAR and the command register. Fills
 * d->bar[]; returns NULL or a reason when a BAR gives a readback no size mask
 * allows (that BAR is left with size 0). The reason lives in buf. */
const char *pci_bars_probe(struct pci_dev *d, char *buf, unsigned buflen);

/* enum.c: mark d skipped (the first reason is kept, in a buffer of the table's;
 * every reason is logged with the function's address and ids). */
void pci_dev_skip(struct pci_dev *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The Command register as enumeration first read it (what the firmware left) and
 * as it was right after BAR sizing, for tests that sizing restored it (drivers may
 * change it later). false when d is not a table entry. */
bool pci_dev_boot_commands(const struct pci_dev *d, uint16_t *firmware, uint16_t *after_enum);
/* "0000:00:02.0" */
void pci_addr_str(const struct pci_addr *a, char out[16]);
/* The capability's short name for dumps ("msi", "exp", ...; "other" when unknown). */
const char *pci_cap_name(uint16_t id);
#endif
