/*
 * test_pci_model.c — CMocka tests of the PCIe fabric model (models/pci/) on a fake
 * sim bus: config semantics (read-only IDs, BAR size masks for 32/64-bit and I/O,
 * RW1C status, implemented command bits; PCI Local Bus 3.0 §6.2), bridge forwarding
 * by secondary/subordinate bus (PCI-to-PCI Bridge 1.2 §3.2.5.3), the 0xCF8/0xCFC
 * mechanism (PCI 3.0 §3.2.2.3.2), MSI/MSI-X masking and pending bits (PCIe 4.0
 * §7.7), INTx swizzle, the firmware's assignment and every hostile endpoint.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <hw/pci/caps.h>
#include <hw/pci/config.h>
#include <hw/pci/msi.h>

#include "fake_bus.h"
#include "pci/pci_model.h"

/* ---- the fake bus: ranges the model claims, accesses dispatched like the sim's --------- */

static struct fake_bus fb;

/* Is exactly [a, a+len) one claim? */
static bool claimed(uint64_t a, uint64_t len)
{
	for (unsigned i = 0; i < FAKE_BUS_RANGES; i++)
		if (fb.mmio[i].used && fb.mmio[i].base == a && fb.mmio[i].len == len)
			return true;
	return false;
}

static bool pio_claimed(uint16_t port)
{
	for (unsigned i = 0; i < FAKE_BUS_RANGES; i++)
		if (fb.pio[i].used && port >= fb.pio[i].base && port < fb.pio[i].base + fb.pio[i].len)
			return true;
	return false;
}

static uint64_t mrd(uint64_t a, unsigned size) { return fake_bus_mmio_read(&fb, a, size); }
static void mwr(uint64_t a, unsigned size, uint64_t v) { fake_bus_mmio_write(&fb, a, size, v); }
static uint64_t prd(uint16_t a, unsigned size) { return fake_bus_pio_read(&fb, a, size); }
static void pwr(uint16_t a, unsigned size, uint64_t v) { fake_bus_pio_write(&fb, a, size, v); }

#define ECAM 0xB0000000ull
static uint64_t ea(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
	return ECAM + pci_ecam_offset(bus, dev, fn, off);
}
static uint32_t c32(unsigned b, unsigned d, unsigned f, unsigned o) { return (uint32_t)mrd(ea(b, d, f, o), 4); }
static uint16_t c16(unsigned b, unsigned d, unsigned f, unsigned o) { return (uint16_t)mrd(ea(b, d, f, o), 2); }
static uint8_t c8(unsigned b, unsigned d, unsigned f, unsigned o) { return (uint8_t)mrd(ea(b, d, f, o), 1); }
static void w32(unsigned b, unsigned d, unsigned f, unsigned o, uint32_t v) { mwr(ea(b, d, f, o), 4, v); }
static void w16(unsigned b, unsigned d, unsigned f, unsigned o, uint16_t v) { mwr(ea(b, d, f, o), 2, v); }
static void w8(unsigned b, unsigned d, unsigned f, unsigned o, uint8_t v) { mwr(ea(b, d, f, o), 1, v); }

/* INTx# is active low: an asserted GSI is a low input. */
static int gsi_asserted(unsigned gsi) { return !fb.gsi_high[gsi]; }
#define nmsgs (fb.nmsi)
#define msgs (fb.msis)

/* A device model's BAR registers: remember the last access. */
static unsigned last_bar;
static uint64_t last_off, last_val;
static uint64_t dev_rd(void *ctx, unsigned bar, uint64_t off, unsigned size)
{
	(void)ctx; (void)size;
	last_bar = bar;
	last_off = off;
	return 0x5A5A0000u | (uint32_t)off;
}
static void dev_wr(void *ctx, unsigned bar, uint64_t off, unsigned size, uint64_t v)
{
	(void)ctx; (void)size;
	last_bar = bar;
	last_off = off;
	last_val = v;
}

static void fabric(unsigned hostile, bool ecam)
{
	struct pci_model_config c = { .ecam_base = ecam ? ECAM : 0, .bus_start = 0, .bus_end = 255,
	                              .legacy_ports = true, .hostile = hostile };
	fake_bus_init(&fb, 0);
	assert_int_equal(pci_model_init(&c, &fb.bus), 0);
}

/* The model puts a function's first capability right after the header. */
static const unsigned CAP0 = PCI_HEADER_END;

static int setup(void **state) { (void)state; fabric(0, true); return 0; }

/* The endpoint most tests use. */
static struct pci_model_desc ep(void)
{
	struct pci_model_desc d = {
		.name = "ep", .vendor = 0x1234, .device = 0xabcd, .subsys_vendor = 0x1af4,
		.subsys_id = 0x1100, .class_code = 0xff0000, .revision = 7, .irq_pin = 1,
		.bar = { [0] = { .size = 0x1000 } }, .bar_read = dev_rd, .bar_write = dev_wr,
	};
	return d;
}

/* ---- config semantics ---------------------------------------------------------------- */

static void test_readonly_ids(void **state)
{
	struct pci_model_desc d = ep();
	(void)state;
	assert_int_equal(pci_model_add(0, 2, 0, &d, NULL), 0);
	assert_int_equal(c32(0, 0, 0, PCI_VENDOR_ID), 0x29c08086);          /* host bridge */
	assert_int_equal(c32(0, 0, 0, PCI_REVISION) >> 8, 0x060000);
	w32(0, 2, 0, PCI_VENDOR_ID, 0);
	w32(0, 2, 0, PCI_REVISION, 0);
	w32(0, 2, 0, PCI_SUBSYS_VENDOR, 0);
	w8(0, 2, 0, PCI_HEADER_TYPE, 0x81);
	w8(0, 2, 0, PCI_INTERRUPT_PIN, 3);
	assert_int_equal(c32(0, 2, 0, PCI_VENDOR_ID), 0xabcd1234);
	assert_int_equal(c32(0, 2, 0, PCI_REVISION), 0xff000007);
	assert_int_equal(c32(0, 2, 0, PCI_SUBSYS_VENDOR), 0x11001af4);
	assert_int_equal(c8(0, 2, 0, PCI_HEADER_TYPE), 0);
	assert_int_equal(c8(0, 2, 0, PCI_INTERRUPT_PIN), 1);                   /* pin RO */
	w8(0, 2, 0, PCI_INTERRUPT_LINE, 0x42);                                   /* line RW */
	assert_int_equal(c8(0, 2, 0, PCI_INTERRUPT_LINE), 0x42);
	/* nonexistent function: all ones, writes dropped */
	assert_int_equal(c32(0, 5, 0, PCI_VENDOR_ID), 0xFFFFFFFFu);
	assert_int_equal(c16(0, 2, 3, PCI_DEVICE_ID), 0xFFFF);
	/* extended space without capabilities ends at 0x100 */
	assert_int_equal(c32(0, 2, 0, PCI_EXT_CAP_START), 0);
}

static void test_bar_size_masks(void **state)
{
	struct pci_model_desc d = ep();
	(void)state;
	d.bar[0] = (struct pci_model_bar_desc){ 0x1000, 0 };
	d.bar[1] = (struct pci_model_bar_desc){ 0x20, PCI_MODEL_BAR_IO };
	d.bar[2] = (struct pci_model_bar_desc){ 0x200000000ull, PCI_MODEL_BAR_MEM64 | PCI_MODEL_BAR_PREFETCH };
	d.bar[4] = (struct pci_model_bar_desc){ 0x100000, PCI_MODEL_BAR_MEM64 };
	assert_int_equal(pci_model_add(0, 3, 0, &d, NULL), 0);
	assert_int_equal(c32(0, 3, 0, PCI_BAR0), 0);
	assert_int_equal(c32(0, 3, 0, PCI_BAR0 + 4), 1);                  /* I/O space indicator */
	assert_int_equal(c32(0, 3, 0, PCI_BAR0 + 8), 0xC);                /* 64-bit prefetchable */
	for (unsigned o = 0x10; o < 0x28; o += 4)
		w32(0, 3, 0, o, 0xFFFFFFFFu);
	assert_int_equal(c32(0, 3, 0, PCI_BAR0), 0xFFFFF000u);
	assert_int_equal(c32(0, 3, 0, PCI_BAR0 + 4), 0xFFFFFFE1u);
	assert_int_equal(c32(0, 3, 0, PCI_BAR0 + 8), 0x0000000Cu);        /* 8 GiB: low half all size */
	assert_int_equal(c32(0, 3, 0, PCI_BAR0 + 12), 0xFFFFFFFEu);
	assert_int_equal(c32(0, 3, 0, PCI_BAR0 + 16), 0xFFF00004u);
	assert_int_equal(c32(0, 3, 0, PCI_BAR0 + 20), 0xFFFFFFFFu);
	/* bad descriptions are refused */
	d.bar[0].size = 0x1800;
	assert_int_equal(pci_model_add(0, 4, 0, &d, NULL), -EINVAL);
	d = ep();
	d.bar[5] = (struct pci_model_bar_desc){ 0x1000, PCI_MODEL_BAR_MEM64 };
	assert_int_equal(pci_model_add(0, 4, 0, &d, NULL), -EINVAL);
	d = ep();
	assert_int_equal(pci_model_add(0, 3, 0, &d, NULL), -EBUSY);
}

static void test_status_rw1c(void **state)
{
	struct pci_model_desc d = ep();
	struct pci_model_fn *f;
	(void)state;
	d.msi = true;
	assert_int_equal(pci_model_add(0, 2, 0, &d, &f), 0);
	assert_int_equal(c16(0, 2, 0, PCI_STATUS), 0x0010);                /* capability list, RO */
	w16(0, 2, 0, PCI_STATUS, 0xFFFF);
	assert_int_equal(c16(0, 2, 0, PCI_STATUS), 0x0010);                /* nothing to clear, RO kept */
	pci_model_signal_error(f, PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_DETECTED_PARITY | PCI_STATUS_CAP_LIST |
	                          PCI_STATUS_INTX);
	assert_int_equal(c16(0, 2, 0, PCI_STATUS), 0x0010 | 0xA000);      /* only RW1C bits settable */
	w16(0, 2, 0, PCI_STATUS, 0);
	assert_int_equal(c16(0, 2, 0, PCI_STATUS), 0xA010);                /* writing 0 changes nothing */
	w16(0, 2, 0, PCI_STATUS, PCI_STATUS_REC_MASTER_ABORT);
	assert_int_equal(c16(0, 2, 0, PCI_STATUS), 0x8010);
	w8(0, 2, 0, PCI_STATUS + 1, 0x80);                                      /* byte write to the high half */
	assert_int_equal(c16(0, 2, 0, PCI_STATUS), 0x0010);
}

static void test_command_bits(void **state)
{
	struct pci_model_desc d = ep();
	(void)state;
	assert_int_equal(pci_model_add(0, 2, 0, &d, NULL), 0);
	w16(0, 2, 0, PCI_COMMAND, 0xFFFF);
	/* memory, bus master, parity, SERR, INTx disable; no I/O BAR, no I/O bit */
	assert_int_equal(c16(0, 2, 0, PCI_COMMAND), 0x0546);
	d.bar[1] = (struct pci_model_bar_desc){ 0x10, PCI_MODEL_BAR_IO };
	assert_int_equal(pci_model_add(0, 3, 0, &d, NULL), 0);
	w16(0, 3, 0, PCI_COMMAND, 0xFFFF);
	assert_int_equal(c16(0, 3, 0, PCI_COMMAND), 0x0547);
	assert_int_equal(c16(0, 0, 0, PCI_COMMAND) & 3, 0);                  /* host bridge: no BARs */
}

static void test_bar_decode(void **state)
{
	struct pci_model_desc d = ep();
	(void)state;
	d.bar[1] = (struct pci_model_bar_desc){ 0x10, PCI_MODEL_BAR_IO };
	assert_int_equal(pci_model_add(0, 2, 0, &d, NULL), 0);
	w32(0, 2, 0, PCI_BAR0, 0xC0001000u);
	w32(0, 2, 0, PCI_BAR0 + 4, 0xC100);
	assert_false(claimed(0xC0001000u, 0x1000));               /* decode off */
	w16(0, 2, 0, PCI_COMMAND, PCI_COMMAND_MEM);
	assert_true(claimed(0xC0001000u, 0x1000));
	assert_false(pio_claimed(0xC100));                         /* I/O decode still off */
	assert_int_equal(mrd(0xC0001010u, 4), 0x5A5A0010u);
	assert_int_equal(last_off, 0x10);
	mwr(0xC0001020u, 4, 0x77);
	assert_int_equal(last_bar, 0);
	assert_int_equal(last_off, 0x20);
	assert_int_equal(last_val, 0x77);
	w16(0, 2, 0, PCI_COMMAND, PCI_COMMAND_MEM | PCI_COMMAND_IO);
	assert_int_equal(prd(0xC104, 2), 0x5A5A0004u & 0xFFFFFFFFu);
	assert_int_equal(last_bar, 1);
	/* moving the BAR moves the claim */
	w32(0, 2, 0, PCI_BAR0, 0xC0008000u);
	assert_false(claimed(0xC0001000u, 0x1000));
	assert_true(claimed(0xC0008000u, 0x1000));
	/* decode off again: gone */
	w16(0, 2, 0, PCI_COMMAND, 0);
	assert_false(claimed(0xC0008000u, 0x1000));
	assert_false(pio_claimed(0xC100));
}

static void test_bridge_forwarding(void **state)
{
	struct pci_model_desc d = ep();
	int b1, b2;
	(void)state;
	b1 = pci_model_add_bridge(0, 4);
	assert_true(b1 > 0);
	b2 = pci_model_add_bridge((uint8_t)b1, 0);
	assert_true(b2 > b1);
	assert_int_equal(pci_model_add((uint8_t)b1, 1, 0, &d, NULL), -EINVAL);  /* device 0 only */
	assert_int_equal(pci_model_add((uint8_t)b2, 0, 0, &d, NULL), 0);
	assert_int_equal(c32(0, 4, 0, PCI_VENDOR_ID), 0x000c1b36);
	assert_int_equal(c8(0, 4, 0, PCI_HEADER_TYPE), 1);                    /* type 1 */
	/* unassigned: nothing behind the bridge answers */
	assert_int_equal(c32(1, 0, 0, PCI_VENDOR_ID), 0xFFFFFFFFu);
	w8(0, 4, 0, PCI_SECONDARY_BUS, 1);
	w8(0, 4, 0, PCI_SUBORDINATE_BUS, 1);
	assert_int_equal(c32(1, 0, 0, PCI_VENDOR_ID), 0x000c1b36);             /* the second bridge */
	assert_int_equal(c32(1, 1, 0, PCI_VENDOR_ID), 0xFFFFFFFFu);            /* link: device 0 only */
	assert_true(c16(0, 4, 0, PCI_SEC_STATUS) & PCI_STATUS_REC_MASTER_ABORT);              /* received master abort */
	w16(0, 4, 0, PCI_SEC_STATUS, PCI_STATUS_REC_MASTER_ABORT);
	assert_false(c16(0, 4, 0, PCI_SEC_STATUS) & PCI_STATUS_REC_MASTER_ABORT);
	w8(1, 0, 0, PCI_SECONDARY_BUS, 2);
	w8(1, 0, 0, PCI_SUBORDINATE_BUS, 2);
	assert_int_equal(c32(2, 0, 0, PCI_VENDOR_ID), 0xFFFFFFFFu);            /* bus 2 outside 1..1 */
	w8(0, 4, 0, PCI_SUBORDINATE_BUS, 2);
	assert_int_equal(c32(2, 0, 0, PCI_VENDOR_ID), 0xabcd1234);
	assert_int_equal(c32(3, 0, 0, PCI_VENDOR_ID), 0xFFFFFFFFu);
	/* memory decode needs every bridge window on the path */
	w32(2, 0, 0, PCI_BAR0, 0xC0100000u);
	w16(2, 0, 0, PCI_COMMAND, PCI_COMMAND_MEM);
	assert_false(claimed(0xC0100000u, 0x1000));
	w16(0, 4, 0, PCI_MEMORY_BASE, 0xC010);
	w16(0, 4, 0, PCI_MEMORY_LIMIT, 0xC010);
	w16(1, 0, 0, PCI_MEMORY_BASE, 0xC010);
	w16(1, 0, 0, PCI_MEMORY_LIMIT, 0xC010);
	w16(1, 0, 0, PCI_COMMAND, PCI_COMMAND_MEM);
	assert_false(claimed(0xC0100000u, 0x1000));                /* outer bridge: Mem- */
	w16(0, 4, 0, PCI_COMMAND, PCI_COMMAND_MEM);
	assert_true(claimed(0xC0100000u, 0x1000));
	w16(1, 0, 0, PCI_MEMORY_LIMIT, 0xC000);                                 /* window now empty */
	assert_false(claimed(0xC0100000u, 0x1000));
}

static uint32_t cf8(unsigned b, unsigned d, unsigned f, unsigned r)
{
	return pci_conf_address(b, d, f, r);
}

static void test_legacy_ports(void **state)
{
	struct pci_model_desc d = ep();
	(void)state;
	assert_int_equal(pci_model_add(0, 2, 1, &d, NULL), 0);
	assert_int_equal(pci_model_add(0, 2, 0, &d, NULL), 0);
	pwr(PCI_CONF_ADDR, 4, cf8(0, 2, 1, 0));
	assert_int_equal(prd(PCI_CONF_DATA, 4), 0xabcd1234);
	assert_int_equal(prd(PCI_CONF_DATA + 2, 2), 0xabcd);
	assert_int_equal(prd(PCI_CONF_DATA + 1, 1), 0x12);
	pwr(PCI_CONF_ADDR, 4, cf8(0, 2, 0, PCI_HEADER_TYPE & ~3u));
	assert_int_equal(prd(PCI_CONF_DATA + (PCI_HEADER_TYPE & 3u), 1), PCI_HEADER_MULTIFN);                     /* multi-function header */
	pwr(PCI_CONF_ADDR, 4, cf8(0, 2, 1, PCI_INTERRUPT_LINE));
	pwr(PCI_CONF_DATA, 1, 0x33);
	assert_int_equal(c8(0, 2, 1, PCI_INTERRUPT_LINE), 0x33);
	/* CONFIG_ADDRESS: reserved 30:24 and 1:0 read 0 */
	pwr(PCI_CONF_ADDR, 4, 0xFF0000FFu);
	assert_int_equal(prd(PCI_CONF_ADDR, 4), 0x800000FCu);
	/* enable bit clear: no config cycle */
	pwr(PCI_CONF_ADDR, 4, cf8(0, 2, 0, 0) & ~PCI_CONF_ENABLE);
	assert_int_equal(prd(PCI_CONF_DATA, 4), 0xFFFFFFFFu);
	pwr(PCI_CONF_DATA, 4, 0);
	assert_int_equal(c32(0, 2, 0, PCI_VENDOR_ID), 0xabcd1234);
	/* byte/word accesses to 0xCF8 are not CONFIG_ADDRESS */
	pwr(PCI_CONF_ADDR, 4, cf8(0, 2, 0, 0));
	pwr(PCI_CONF_ADDR, 1, 0);
	assert_int_equal(prd(PCI_CONF_ADDR, 4), cf8(0, 2, 0, 0));
	/* misaligned data port access */
	assert_int_equal(prd(PCI_CONF_DATA + 1, 2), 0xFFFFFFFFFFFFFFFFull);
	/* no ECAM: the legacy ports still reach everything */
	fabric(0, false);
	assert_false(fake_bus_mmio_claimed(&fb, ECAM, 4));
	pwr(PCI_CONF_ADDR, 4, cf8(0, 0, 0, 0));
	assert_int_equal(prd(PCI_CONF_DATA, 4), 0x29c08086);
}

static void test_ecam_wide_access(void **state)
{
	(void)state;
	fb.nlogs = 0;
	assert_int_equal(mrd(ea(0, 0, 0, 0), 8), ~0ull);
	assert_true(fb.nlogs > 0);
	assert_true(fake_bus_logged(&fb, "8-byte"));
	mwr(ea(0, 0, 0, 0x3C), 8, 0);
	assert_int_equal(c32(0, 0, 0, PCI_VENDOR_ID), 0x29c08086);
}

/* ---- MSI and MSI-X -------------------------------------------------------------------- */

static void test_msi(void **state)
{
	struct pci_model_desc d = ep();
	struct pci_model_fn *f;
	(void)state;
	d.msi = true;
	d.msi_multi_log2 = 3;
	d.msi_64 = true;
	d.msi_maskable = true;
	assert_int_equal(pci_model_add(0, 2, 0, &d, &f), 0);
	assert_int_equal(c8(0, 2, 0, PCI_CAP_PTR), 0x40);
	assert_int_equal(c8(0, 2, 0, CAP0 + PCI_CAP_LIST_ID), PCI_CAP_ID_MSI);
	assert_int_equal(c16(0, 2, 0, CAP0 + PCI_MSI_CTRL), 0x0186);              /* maskable, 64-bit, MMC 3 */
	w32(0, 2, 0, CAP0 + PCI_MSI_ADDR_LO, 0xFEE01003u);
	assert_int_equal(c32(0, 2, 0, CAP0 + PCI_MSI_ADDR_LO), 0xFEE01000u);         /* bits 1:0 RO */
	w32(0, 2, 0, CAP0 + PCI_MSI_ADDR_HI, 0);
	w16(0, 2, 0, CAP0 + PCI_MSI_DATA_64, 0x0040);
	w32(0, 2, 0, CAP0 + PCI_MSI_MASK_64, 0xFFFFFFFFu);
	assert_int_equal(c32(0, 2, 0, CAP0 + PCI_MSI_MASK_64), 0xFF);                /* mask bits for 8 vectors */
	w32(0, 2, 0, CAP0 + PCI_MSI_MASK_64, 0);
	w16(0, 2, 0, CAP0 + PCI_MSI_CTRL, 0x0070 | 1);                             /* MME 7 > MMC 3: clamped */
	assert_int_equal((c16(0, 2, 0, CAP0 + PCI_MSI_CTRL) >> 4) & 7, 3);
	/* no bus mastering: not sent */
	assert_false(pci_model_irq_raise(f, 5));
	assert_int_equal(nmsgs, 0);
	w16(0, 2, 0, PCI_COMMAND, PCI_COMMAND_MASTER);
	assert_true(pci_model_irq_raise(f, 5));
	assert_int_equal(nmsgs, 1);
	assert_int_equal(msgs[0].addr, 0xFEE01000u);
	assert_int_equal(msgs[0].data, 0x45);
	assert_false(pci_model_irq_raise(f, 8));                   /* beyond the 8 enabled */
	/* masked: pending, sent on unmask */
	w32(0, 2, 0, CAP0 + PCI_MSI_MASK_64, 1u << 2);
	assert_false(pci_model_irq_raise(f, 2));
	assert_int_equal(nmsgs, 1);
	assert_int_equal(c32(0, 2, 0, CAP0 + PCI_MSI_PENDING_64), 1u << 2);
	w32(0, 2, 0, CAP0 + PCI_MSI_PENDING_64, 0);                                      /* pending bits are RO */
	assert_int_equal(c32(0, 2, 0, CAP0 + PCI_MSI_PENDING_64), 1u << 2);
	w32(0, 2, 0, CAP0 + PCI_MSI_MASK_64, 0);
	assert_int_equal(nmsgs, 2);
	assert_int_equal(msgs[1].data, 0x42);
	assert_int_equal(c32(0, 2, 0, CAP0 + PCI_MSI_PENDING_64), 0);
	/* MSI disabled, INTx pin A: the line instead */
	w16(0, 2, 0, CAP0 + PCI_MSI_CTRL, 0);
	assert_true(pci_model_irq_raise(f, 0));
	assert_int_equal(nmsgs, 2);
	assert_true(c16(0, 2, 0, PCI_STATUS) & PCI_STATUS_INTX);
}

#define TBL 0xC0000000ull

static void test_msix(void **state)
{
	struct pci_model_desc d = ep();
	struct pci_model_fn *f;
	(void)state;
	d.bar[0].size = 0x4000;
	d.msix = true;
	d.msix_table_size = 70;
	d.msix_table_bar = 0;
	d.msix_table_off = 0x1000;
	d.msix_pba_bar = 0;
	d.msix_pba_off = 0x3000;
	assert_int_equal(pci_model_add(0, 2, 0, &d, &f), 0);
	assert_int_equal(c8(0, 2, 0, CAP0 + PCI_CAP_LIST_ID), PCI_CAP_ID_MSIX);
	assert_int_equal(c16(0, 2, 0, CAP0 + PCI_MSIX_CTRL), 69);
	assert_int_equal(c32(0, 2, 0, CAP0 + PCI_MSIX_TABLE), 0x1000);
	assert_int_equal(c32(0, 2, 0, CAP0 + PCI_MSIX_PBA), 0x3000);
	w16(0, 2, 0, CAP0 + PCI_MSIX_CTRL, 0xFFFF);
	assert_int_equal(c16(0, 2, 0, CAP0 + PCI_MSIX_CTRL), 0xC000 | 69);         /* only enable + mask writable */
	w16(0, 2, 0, CAP0 + PCI_MSIX_CTRL, 0);
	w32(0, 2, 0, PCI_BAR0, (uint32_t)TBL);
	w16(0, 2, 0, PCI_COMMAND, PCI_COMMAND_MEM | PCI_COMMAND_MASTER);
	assert_int_equal(mrd(TBL + 0x1000 + PCI_MSIX_ENTRY_SIZE * 65 + 4 * MSIX_ENT_CTRL, 4), 1);  /* masked after reset */
	mwr(TBL + 0x1000 + PCI_MSIX_ENTRY_SIZE * 65, 8, 0x00000000FEE02000ull);
	mwr(TBL + 0x1000 + PCI_MSIX_ENTRY_SIZE * 65 + 4 * MSIX_ENT_DATA, 4, 0x51);
	assert_int_equal(mrd(TBL + 0x1000 + PCI_MSIX_ENTRY_SIZE * 65, 8), 0xFEE02000ull);
	assert_int_equal(mrd(TBL + 0x1000 + PCI_MSIX_ENTRY_SIZE * 65 + 4 * MSIX_ENT_DATA, 8), 0x100000051ull);
	mrd(TBL + 0x1000 + 2, 2);                                   /* word access: logged */
	assert_true(fake_bus_logged(&fb, "MSI-X table"));
	/* other BAR offsets reach the device */
	assert_int_equal(mrd(TBL + 0x20, 4), 0x5A5A0020u);
	/* enabled, vector masked: PBA bit, no message */
	w16(0, 2, 0, CAP0 + PCI_MSIX_CTRL, 0x8000);
	assert_false(pci_model_irq_raise(f, 65));
	assert_int_equal(nmsgs, 0);
	assert_int_equal(mrd(TBL + 0x3008, 8), 1ull << 1);
	assert_int_equal(mrd(TBL + 0x300C, 4), 0);
	assert_int_equal(mrd(TBL + 0x3008, 4), 2);
	mwr(TBL + 0x3008, 8, 0);                                    /* PBA is read-only */
	assert_int_equal(mrd(TBL + 0x3008, 8), 1ull << 1);
	mwr(TBL + 0x1000 + PCI_MSIX_ENTRY_SIZE * 65 + 4 * MSIX_ENT_CTRL, 4, 0);                     /* unmask: delivered */
	assert_int_equal(nmsgs, 1);
	assert_int_equal(msgs[0].addr, 0xFEE02000u);
	assert_int_equal(msgs[0].data, 0x51);
	assert_int_equal(mrd(TBL + 0x3008, 8), 0);
	assert_true(pci_model_irq_raise(f, 65));
	assert_int_equal(nmsgs, 2);
	/* function mask */
	w16(0, 2, 0, CAP0 + PCI_MSIX_CTRL, 0xC000);
	assert_false(pci_model_irq_raise(f, 65));
	assert_int_equal(nmsgs, 2);
	w16(0, 2, 0, CAP0 + PCI_MSIX_CTRL, 0x8000);
	assert_int_equal(nmsgs, 3);
	assert_false(pci_model_irq_raise(f, 70));                  /* no such entry */
	/* bad descriptions: table outside its BAR, table in an I/O BAR */
	d.msix_table_off = 0x3F00;
	assert_int_equal(pci_model_add(0, 3, 0, &d, NULL), -EINVAL);
	d.msix_table_off = 0;
	d.bar[0].flags = PCI_MODEL_BAR_IO;
	d.bar[0].size = 0x100;
	assert_int_equal(pci_model_add(0, 3, 0, &d, NULL), -EINVAL);
}

static void test_intx(void **state)
{
	struct pci_model_desc d = ep();
	struct pci_model_fn *a, *b, *c;
	int bus;
	(void)state;
	assert_int_equal(pci_model_add(0, 2, 0, &d, &a), 0);       /* pin A, slot 2: GSI 18 */
	bus = pci_model_add_bridge(0, 4);
	d.irq_pin = 2;
	assert_int_equal(pci_model_add((uint8_t)bus, 0, 0, &d, &b), 0);  /* B behind slot 4: 17 */
	d.irq_pin = 4;
	assert_int_equal(pci_model_add(0, 6, 0, &d, &c), 0);       /* D, slot 6: (6+3)%4 -> 17 */
	assert_int_equal(pci_model_firmware(0xC0000000ull, 0xFEBFFFFFull, 0xC000, 0xFFFF), 0);
	assert_int_equal(c8(0, 2, 0, PCI_INTERRUPT_LINE), 18);
	assert_int_equal(c8(1, 0, 0, PCI_INTERRUPT_LINE), 17);
	assert_int_equal(c8(0, 6, 0, PCI_INTERRUPT_LINE), 17);
	assert_int_equal(c8(0, 4, 0, PCI_INTERRUPT_LINE), 16);
	assert_true(pci_model_irq_raise(a, 0));
	assert_int_equal(gsi_asserted(18), 1);
	assert_true(c16(0, 2, 0, PCI_STATUS) & PCI_STATUS_INTX);
	assert_false(pci_model_irq_raise(a, 0));                   /* already asserted */
	w16(0, 2, 0, PCI_COMMAND, c16(0, 2, 0, PCI_COMMAND) | PCI_COMMAND_INTX_DISABLE);
	assert_int_equal(gsi_asserted(18), 0);
	assert_true(c16(0, 2, 0, PCI_STATUS) & PCI_STATUS_INTX);                  /* status still set */
	w16(0, 2, 0, PCI_COMMAND, c16(0, 2, 0, PCI_COMMAND) & ~PCI_COMMAND_INTX_DISABLE);
	assert_int_equal(gsi_asserted(18), 1);
	pci_model_irq_lower(a);
	assert_int_equal(gsi_asserted(18), 0);
	assert_false(c16(0, 2, 0, PCI_STATUS) & PCI_STATUS_INTX);
	/* wired-OR on GSI 17 */
	pci_model_irq_raise(b, 0);
	pci_model_irq_raise(c, 0);
	assert_int_equal(gsi_asserted(17), 1);
	pci_model_irq_lower(b);
	assert_int_equal(gsi_asserted(17), 1);
	pci_model_irq_lower(c);
	assert_int_equal(gsi_asserted(17), 0);
}

/* ---- firmware ------------------------------------------------------------------------- */

static void test_firmware(void **state)
{
	struct pci_model_desc d = ep();
	struct pci_model_config c = { .ecam_base = ECAM, .bus_end = 255, .legacy_ports = true,
	                              .mmio64_base = 0x800000000ull, .mmio64_limit = 0xFFFFFFFFFull };
	int bus;
	(void)state;
	assert_int_equal(pci_model_init(&c, &fb.bus), 0);
	d.bar[0] = (struct pci_model_bar_desc){ 0x100, 0 };
	d.bar[1] = (struct pci_model_bar_desc){ 0x20, PCI_MODEL_BAR_IO };
	d.bar[2] = (struct pci_model_bar_desc){ 0x4000000, PCI_MODEL_BAR_MEM64 | PCI_MODEL_BAR_PREFETCH };
	d.bar[4] = (struct pci_model_bar_desc){ 0x100000, 0 };
	assert_int_equal(pci_model_add(0, 2, 0, &d, NULL), 0);
	bus = pci_model_add_bridge(0, 4);
	assert_int_equal(pci_model_add((uint8_t)bus, 0, 0, &d, NULL), 0);
	assert_int_equal(pci_model_firmware(0xC0000000ull, 0xFEBFFFFFull, 0xC000, 0xFFFF), 0);
	/* bus numbers */
	assert_int_equal(c32(0, 4, 0, PCI_PRIMARY_BUS) & 0xFFFFFF, 0x010100);
	/* root endpoint: aligned BARs in the hole, the 256-byte one on its own page */
	assert_int_equal(c32(0, 2, 0, PCI_BAR0 + 16) & 0xFFFFF, 0);
	assert_true(c32(0, 2, 0, PCI_BAR0 + 16) >= 0xC0000000u);
	assert_true((c32(0, 2, 0, PCI_BAR0) & 0xFFF) == 0 && c32(0, 2, 0, PCI_BAR0) >= 0xC0000000u);
	assert_int_equal(c32(0, 2, 0, PCI_BAR0 + 8) & 0x03FFFFFFu, 0xC);    /* 64-bit pref above 4 GiB */
	assert_int_equal(c32(0, 2, 0, PCI_BAR0 + 12), 0x8);
	assert_int_equal(c32(0, 2, 0, PCI_BAR0 + 4) & 0x1Fu, 1);
	assert_true(c32(0, 2, 0, PCI_BAR0 + 4) >= 0xC000u && c32(0, 2, 0, PCI_BAR0 + 4) < 0x10000u);
	/* largest first: the bridge's 2 MiB window, then the 1 MiB BAR */
	assert_int_equal(c16(0, 4, 0, PCI_MEMORY_BASE), 0xC000);
	assert_int_equal(c32(0, 2, 0, PCI_BAR0 + 16), 0xC0200000u);
	/* bridge windows cover the child */
	{
		uint32_t mb = c16(0, 4, 0, PCI_MEMORY_BASE), ml = c16(0, 4, 0, PCI_MEMORY_LIMIT);
		uint32_t child = c32(1, 0, 0, PCI_BAR0 + 16) & ~0xFu;
		assert_true(child >= (mb << 16) && child + 0x100000 - 1 <= ((ml << 16) | 0xFFFFF));
		assert_int_equal(c32(0, 4, 0, PCI_PREF_BASE_UPPER32), 0x8);             /* pref window upper */
		assert_true((c8(0, 4, 0, PCI_IO_BASE) & 0xF0) << 8 <= (c32(1, 0, 0, PCI_BAR0 + 4) & ~3u));
	}
	/* decode on, no bus master, everything claimed */
	assert_int_equal(c16(0, 2, 0, PCI_COMMAND) & 7, 3);
	assert_int_equal(c16(1, 0, 0, PCI_COMMAND) & 7, 3);
	assert_int_equal(c16(0, 4, 0, PCI_COMMAND) & 7, 3);
	assert_true(claimed(c32(1, 0, 0, PCI_BAR0 + 16), 0x100000));
	assert_true(claimed(0x800000000ull, 0x4000000) || claimed(0x804000000ull, 0x4000000));
	{
		char path[] = "/tmp/test_pci_model_dumpXXXXXX";
		int fd = mkstemp(path);
		char line[128];
		FILE *fp;
		unsigned n = 0;
		assert_true(fd >= 0);
		close(fd);
		assert_int_equal(pci_model_dump_config(path), 0);
		fp = fopen(path, "r");
		assert_non_null(fp);
		while (fgets(line, sizeof(line), fp))
			n += strncmp(line, "0000:", 5) == 0;
		fclose(fp);
		unlink(path);
		assert_int_equal(n, 4);                                   /* host, ep, bridge, ep */
	}
}

/* ---- hostile endpoints ---------------------------------------------------------------- */

static void test_hostile_caps(void **state)
{
	(void)state;
	fabric(PCI_HOSTILE_CAP_LOOP | PCI_HOSTILE_CAP_IN_HEADER, true);
	assert_int_equal(c16(0, 0x10, 0, PCI_VENDOR_ID), 0x1234);
	assert_true(c16(0, 0x10, 0, PCI_STATUS) & PCI_STATUS_CAP_LIST);
	assert_int_equal(c8(0, 0x10, 0, PCI_CAP_PTR), 0x40);
	assert_int_equal(c8(0, 0x10, 0, 0x40 + PCI_CAP_LIST_NEXT), 0x50);
	assert_int_equal(c8(0, 0x10, 0, 0x50 + PCI_CAP_LIST_NEXT), 0x40);
	assert_int_equal(c8(0, 0x11, 0, PCI_CAP_PTR), PCI_BAR0);
	assert_true(c16(0, 0x11, 0, PCI_STATUS) & PCI_STATUS_CAP_LIST);
	assert_int_equal(c32(0, 0x12, 0, PCI_VENDOR_ID), 0xFFFFFFFFu);        /* only what was asked for */
}

static void test_hostile_bars(void **state)
{
	(void)state;
	fabric(PCI_HOSTILE_BAR_ONES | PCI_HOSTILE_MSIX_NO_BAR, true);
	assert_int_equal(c32(0, 0x12, 0, PCI_BAR0), 0xFFFFFFFFu);
	w32(0, 0x12, 0, PCI_BAR0, 0);
	assert_int_equal(c32(0, 0x12, 0, PCI_BAR0), 0xFFFFFFFFu);
	assert_int_equal(c8(0, 0x13, 0, PCI_CAP_PTR), 0x40);
	assert_int_equal(c8(0, 0x13, 0, 0x40 + PCI_CAP_LIST_ID), PCI_CAP_ID_MSIX);
	assert_int_equal(c32(0, 0x13, 0, 0x40 + PCI_MSIX_TABLE) & PCI_MSIX_BIR_MASK, 3);            /* table BIR 3 */
	w32(0, 0x13, 0, PCI_BAR0 + 12, 0xFFFFFFFFu);
	assert_int_equal(c32(0, 0x13, 0, PCI_BAR0 + 12), 0);                /* BAR3 not implemented */
	assert_int_equal(pci_model_firmware(0xC0000000ull, 0xFEBFFFFFull, 0xC000, 0xFFFF), 0);
	assert_int_equal(c32(0, 0x12, 0, PCI_BAR0), 0xFFFFFFFFu);
}

static void test_hostile_vanish(void **state)
{
	uint32_t bar;
	unsigned good = 0;
	(void)state;
	fabric(PCI_HOSTILE_VANISH, true);
	assert_int_equal(pci_model_firmware(0xC0000000ull, 0xFEBFFFFFull, 0xC000, 0xFFFF), 0);
	bar = c32(0, 0x14, 0, PCI_BAR0);                                /* read 1 */
	assert_true(claimed(bar, 0x1000));
	while (good < 32 && c32(0, 0x14, 0, PCI_VENDOR_ID) == 0xd0f41234u)
		good++;
	assert_true(good >= 2 && good < 10);                        /* vanished soon after */
	assert_int_equal(c32(0, 0x14, 0, PCI_BAR0), 0xFFFFFFFFu);
	assert_int_equal(c16(0, 0x14, 0, PCI_COMMAND), 0xFFFF);
	assert_false(claimed(bar, 0x1000));
	assert_false(fake_bus_mmio_claimed(&fb, bar, 4));                 /* nothing decodes it */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_readonly_ids, setup),
		cmocka_unit_test_setup(test_bar_size_masks, setup),
		cmocka_unit_test_setup(test_status_rw1c, setup),
		cmocka_unit_test_setup(test_command_bits, setup),
		cmocka_unit_test_setup(test_bar_decode, setup),
		cmocka_unit_test_setup(test_bridge_forwarding, setup),
		cmocka_unit_test_setup(test_legacy_ports, setup),
		cmocka_unit_test_setup(test_ecam_wide_access, setup),
		cmocka_unit_test_setup(test_msi, setup),
		cmocka_unit_test_setup(test_msix, setup),
		cmocka_unit_test_setup(test_intx, setup),
		cmocka_unit_test_setup(test_firmware, setup),
		cmocka_unit_test_setup(test_hostile_caps, setup),
		cmocka_unit_test_setup(test_hostile_bars, setup),
		cmocka_unit_test_setup(test_hostile_vanish, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
