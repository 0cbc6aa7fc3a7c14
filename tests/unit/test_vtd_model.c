/*
 * test_vtd_model.c — CMocka tests of the VT-d model (models/vtd/) against a fake
 * host memory: GCMD/GSTS semantics (VT-d rev 3.x §10.4.4-5), the root/context/
 * second-level walk with permissions (§3.6, §9), each fault reason of Appendix A
 * recorded with SID/address/type and the fault event (§7.3), PFO, the IOTLB and
 * context cache serving stale entries until invalidated (§6.5), caching mode, QI.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_bus.h"
#include "vtd/vtd.h"
#include "vtd/vtd_model.h"

#include <hw/iommu/vtd.h>

/* ---- the fake bus: RAM for the tables, recorded interrupt messages ------------------- */

#define MEM_SIZE (16u << 20)
static struct fake_bus fb;
static struct vtd_model *vt;            /* the unit most tests drive */
static uint64_t cur_base = VTD_MODEL_BASE;   /* whose registers rd/wr reach */

static uint64_t rd(uint64_t off, unsigned size) { return fake_bus_mmio_read(&fb, cur_base + off, size); }
static void wr(uint64_t off, unsigned size, uint64_t v) { fake_bus_mmio_write(&fb, cur_base + off, size, v); }
static uint32_t gsts(void) { return (uint32_t)rd(VTD_REG_GSTS, 4); }
/* The IOTLB registers and the fault recording register, where ECAP.IRO and CAP.FRO
 * say the model put them. */
static uint64_t iva_reg(void) { return VTD_IOTLB_REGS(rd(VTD_REG_ECAP, 8)) + VTD_IOTLB_IVA; }
static uint64_t iotlb_reg(void) { return VTD_IOTLB_REGS(rd(VTD_REG_ECAP, 8)) + VTD_IOTLB_CMD; }
static uint64_t frcd_reg(void) { return VTD_FRCD_REG(rd(VTD_REG_CAP, 8), 0); }
static struct vtd_model_stats stats(void)
{
	struct vtd_model_stats s;
	vtd_model_stats(vt, &s);
	return s;
}

/* Replace the unit under test with a fresh one built from c at VTD_MODEL_BASE. */
static void rebuild(const struct vtd_config *c)
{
	vtd_model_destroy(vt);
	vt = NULL;
	cur_base = VTD_MODEL_BASE;
	assert_int_equal(vtd_model_create(c, &fb.bus, &vt), 0);
}

/* ---- tables in fake memory ----------------------------------------------------------- */

#define ROOT 0x1000ull
#define CTX_BUS0 0x2000ull
#define IQ_BASE 0x40000ull
#define FE_ADDR 0xFEE00000u
#define FE_DATA 0x41u
static uint64_t next_table;

static uint64_t alloc_table(void)
{
	uint64_t t = next_table;
	next_table += 0x1000;
	memset(fb.ram + t, 0, 0x1000);
	return t;
}

static void put64(uint64_t pa, uint64_t v) { memcpy(fb.ram + pa, &v, 8); }
static uint64_t get64(uint64_t pa) { uint64_t v; memcpy(&v, fb.ram + pa, 8); return v; }

/* Context entry for bus-0 devfn: domain did, aw 1 (3-level) or 2 (4-level). Returns
 * the top-level table. */
static uint64_t ctx_set(unsigned devfn, uint16_t did, unsigned aw)
{
	uint64_t top = alloc_table();
	put64(CTX_BUS0 + devfn * 16 + 8, (uint64_t)did << VTD_CTX_DID_SHIFT | aw);
	put64(CTX_BUS0 + devfn * 16, top | VTD_CTX_P);
	return top;
}

/* The leaf entry's address for iova under top (levels 3 or 4), building tables. */
static uint64_t leaf_slot(uint64_t top, unsigned levels, uint64_t iova)
{
	uint64_t t = top;
	for (unsigned l = levels; l > 1; l--) {
		uint64_t slot = t + ((iova >> (12 + 9 * (l - 1))) & 511) * 8, e = get64(slot);
		if (!(e & 3)) {
			e = alloc_table() | VTD_SL_R | VTD_SL_W;
			put64(slot, e);
		}
		t = e & VTD_SL_ADDR;
	}
	return t + ((iova >> 12) & 511) * 8;
}

static void map(uint64_t top, unsigned levels, uint64_t iova, uint64_t pa, unsigned perm)
{
	put64(leaf_slot(top, levels, iova), pa | perm);
}

/* A unit with root table at ROOT (bus 0 present), translation on, fault events
 * unmasked to FE_ADDR/FE_DATA. */
static void unit(bool cm, bool no_qi)
{
	struct vtd_config c = { .caching_mode = cm, .no_qi = no_qi };

	memset(fb.ram, 0, MEM_SIZE);
	next_table = 0x100000;
	fb.nmsi = fb.nlogs = 0;
	fb.loglen = 0;
	fb.log[0] = '\0';
	rebuild(&c);
	memset(fb.ram + ROOT, 0, 0x2000);
	put64(ROOT, CTX_BUS0 | VTD_ROOT_P);
	wr(VTD_REG_RTADDR, 8, ROOT);
	wr(VTD_REG_GCMD, 4, VTD_GCMD_SRTP);
	wr(VTD_REG_FEDATA, 4, FE_DATA);
	wr(VTD_REG_FEADDR, 4, FE_ADDR);
	wr(VTD_REG_FECTL, 4, 0);
	wr(VTD_REG_GCMD, 4, gsts() | VTD_GCMD_TE);
	assert_true(gsts() & VTD_GCMD_TE);
}

static int setup(void **state) { (void)state; unit(false, false); return 0; }
static int setup_cm(void **state) { (void)state; unit(true, false); return 0; }

static uint64_t frcd_hi(void) { return rd(frcd_reg() + 8, 8); }
static void frcd_clear(void) { wr(frcd_reg() + 12, 4, 1u << 31); }

static void expect_fault(uint16_t sid, uint64_t addr, uint8_t reason, bool write)
{
	uint64_t hi = frcd_hi();

	assert_true(hi & VTD_FRCD_HI_F);
	assert_int_equal(hi & 0xFFFF, sid);
	assert_int_equal((hi >> VTD_FRCD_HI_FR_SHIFT) & 0xFF, reason);
	assert_int_equal(!!(hi & VTD_FRCD_HI_T), !write);
	assert_int_equal(rd(frcd_reg(), 8), addr & ~0xFFFull);
	assert_true(rd(VTD_REG_FSTS, 4) & VTD_FSTS_PPF);
}

static void iotlb_global(void)
{
	wr(iotlb_reg(), 8, VTD_IOTLB_IVT | (uint64_t)VTD_GRAN_GLOBAL << VTD_IOTLB_IIRG_SHIFT);
}
static void ctx_global(void)
{
	wr(VTD_REG_CCMD, 8, VTD_CCMD_ICC | (uint64_t)VTD_GRAN_GLOBAL << VTD_CCMD_CIRG_SHIFT);
}

/* ---- registers ------------------------------------------------------------------------ */

static void test_caps(void **state)
{
	struct vtd_config c = { .caching_mode = true, .no_qi = true };
	uint64_t cap, ecap;

	(void)state;
	assert_true(fake_bus_mmio_claimed(&fb, VTD_MODEL_BASE, 0x1000));
	assert_false(fake_bus_mmio_claimed(&fb, VTD_MODEL_BASE + 0x1000, 1));
	assert_int_equal(rd(VTD_REG_VER, 4), 0x10);
	cap = rd(VTD_REG_CAP, 8);
	assert_int_equal((cap >> VTD_CAP_SAGAW_SHIFT) & 0x1F, VTD_SAGAW_39 | VTD_SAGAW_48);
	assert_int_equal((cap >> VTD_CAP_MGAW_SHIFT) & 0x3F, 47);
	/* The fault recording register: 16-byte aligned, past the architectural
	 * registers, inside the page. */
	assert_true(VTD_FRCD_REG(cap, 0) >= 0x100 && VTD_FRCD_REG(cap, 0) + 16 <= VTD_REG_SIZE);
	assert_int_equal((cap >> VTD_CAP_NFR_SHIFT) & 0xFF, 0);
	assert_true(cap & VTD_CAP_PSI);
	assert_false(cap & VTD_CAP_CM);
	assert_false(cap & VTD_CAP_RWBF);
	assert_int_equal(cap & 7, 6);
	/* A 64-bit register reads as two DWORDs too. */
	assert_int_equal(rd(VTD_REG_CAP, 4) | rd(VTD_REG_CAP + 4, 4) << 32, cap);
	ecap = rd(VTD_REG_ECAP, 8);
	assert_true(ecap & VTD_ECAP_QI);
	/* The IOTLB register pair: past the architectural registers, inside the
	 * page, not overlapping the fault recording register. */
	assert_true(VTD_IOTLB_REGS(ecap) >= 0x100 && VTD_IOTLB_REGS(ecap) + 16 <= VTD_REG_SIZE);
	assert_true(VTD_IOTLB_REGS(ecap) + 16 <= VTD_FRCD_REG(cap, 0) ||
	            VTD_FRCD_REG(cap, 0) + 16 <= VTD_IOTLB_REGS(ecap));
	/* A 2-byte access is not one §10.4 allows: logged and counted. */
	(void)rd(VTD_REG_GSTS, 2);
	assert_int_equal(stats().bad_access, 1);

	rebuild(&c);
	assert_true(rd(VTD_REG_CAP, 8) & VTD_CAP_CM);
	assert_false(rd(VTD_REG_ECAP, 8) & VTD_ECAP_QI);
}

static void test_gcmd_gsts(void **state)
{
	(void)state;
	assert_int_equal(rd(VTD_REG_GCMD, 4), 0);               /* write-only */
	assert_true(gsts() & VTD_GCMD_SRTP);                    /* RTPS */
	wr(VTD_REG_IQT, 8, 0);
	wr(VTD_REG_IQA, 8, IQ_BASE);
	wr(VTD_REG_GCMD, 4, gsts() | VTD_GCMD_QIE);
	assert_int_equal(gsts() & (VTD_GCMD_TE | VTD_GCMD_QIE), VTD_GCMD_TE | VTD_GCMD_QIE);
	/* The classic bug: only the new bit written turns the others off. */
	wr(VTD_REG_GCMD, 4, VTD_GCMD_SRTP);
	assert_int_equal(gsts() & (VTD_GCMD_TE | VTD_GCMD_QIE), 0);
	assert_true(gsts() & VTD_GCMD_SRTP);
	/* GSTS | bit keeps them. */
	wr(VTD_REG_GCMD, 4, gsts() | VTD_GCMD_TE);
	wr(VTD_REG_GCMD, 4, gsts() | VTD_GCMD_QIE);
	wr(VTD_REG_GCMD, 4, gsts() | VTD_GCMD_SRTP);
	assert_int_equal(gsts() & (VTD_GCMD_TE | VTD_GCMD_QIE), VTD_GCMD_TE | VTD_GCMD_QIE);
	/* GSTS is read-only. */
	wr(VTD_REG_GSTS, 4, 0);
	assert_true(gsts() & VTD_GCMD_TE);
}

static void test_qie_needs_ecap(void **state)
{
	struct vtd_config c = { .no_qi = true };

	(void)state;
	rebuild(&c);
	wr(VTD_REG_GCMD, 4, VTD_GCMD_QIE);
	assert_false(gsts() & VTD_GCMD_QIE);
}

/* ---- translation ----------------------------------------------------------------------- */

static void test_passthrough_when_te_off(void **state)
{
	uint32_t v = 0x12345678, got;

	(void)state;
	wr(VTD_REG_GCMD, 4, gsts() & ~VTD_GCMD_TE);
	assert_int_equal(vtd_model_dma(vt, 0x10, 0x200000, &v, 4, true), 0);
	memcpy(&got, fb.ram + 0x200000, 4);
	assert_int_equal(got, v);
	assert_int_equal(stats().translations, 0);
}

static void test_walk_permissions(void **state)
{
	uint64_t top3 = ctx_set(0x10, 1, 1), top4 = ctx_set(0x18, 2, 2);
	uint8_t buf[0x20], back[0x20];

	(void)state;
	map(top3, 3, 0x5000, 0x300000, VTD_SL_R | VTD_SL_W);
	map(top3, 3, 0x6000, 0x301000, VTD_SL_R);
	memset(buf, 0xA5, sizeof(buf));
	assert_int_equal(vtd_model_dma(vt, 0x10, 0x5010, buf, 16, true), 0);
	assert_memory_equal(fb.ram + 0x300010, buf, 16);
	/* A read across the page boundary, two translations. */
	memset(fb.ram + 0x300FF0, 1, 16);
	memset(fb.ram + 0x301000, 2, 16);
	assert_int_equal(vtd_model_dma(vt, 0x10, 0x5FF0, back, 0x20, false), 0);
	assert_int_equal(back[0], 1);
	assert_int_equal(back[0x1F], 2);
	assert_int_equal(fb.nmsi, 0);
	/* A write across it: the first page lands, the read-only second faults 0x05. */
	assert_int_equal(vtd_model_dma(vt, 0x10, 0x5FF0, buf, 0x20, true), -EFAULT);
	assert_memory_equal(fb.ram + 0x300FF0, buf, 16);
	assert_int_equal(fb.ram[0x301000], 2);
	expect_fault(0x10, 0x6000, VTD_FR_WRITE, true);
	assert_int_equal(fb.nmsi, 1);
	assert_int_equal(fb.msis[0].addr, FE_ADDR);
	assert_int_equal(fb.msis[0].data, FE_DATA);
	frcd_clear();
	assert_false(rd(VTD_REG_FSTS, 4) & VTD_FSTS_PPF);
	/* 4-level domain: an IOVA above 4 GiB. */
	map(top4, 4, 0x8000000000ull, 0x302000, VTD_SL_R | VTD_SL_W);
	fb.ram[0x302004] = 0x77;
	assert_int_equal(vtd_model_dma(vt, 0x18, 0x8000000004ull, back, 1, false), 0);
	assert_int_equal(back[0], 0x77);
	/* ... which a 3-level domain cannot address: 0x04. */
	assert_int_equal(vtd_model_dma(vt, 0x10, 0x8000000000ull, back, 1, false), -EFAULT);
	expect_fault(0x10, 0x8000000000ull, VTD_FR_BEYOND_AW, false);
}

struct reason_case {
	const char *name;
	uint16_t sid;
	uint64_t iova;
	bool write;
	uint8_t reason;
};

static void test_fault_reasons(void **state)
{
	uint64_t top, pa_top;
	uint8_t buf[8];
	const struct reason_case cases[] = {
		{ "root not present", 0x0500, 0x1000, false, VTD_FR_ROOT_NOT_PRESENT },
		{ "context not present", 0x0028, 0x1000, true, VTD_FR_CTX_NOT_PRESENT },
		{ "translation type 01", 0x0030, 0x1000, false, VTD_FR_CTX_INV },
		{ "AW 3 not in SAGAW", 0x0031, 0x1000, false, VTD_FR_CTX_INV },
		{ "beyond AW", 0x0010, 1ull << 39, false, VTD_FR_BEYOND_AW },
		{ "write to read-only", 0x0010, 0x7000, true, VTD_FR_WRITE },
		{ "read of unmapped", 0x0010, 0x9000, false, VTD_FR_READ },
		{ "write of unmapped", 0x0010, 0x9000, true, VTD_FR_WRITE },
		{ "write-only page read", 0x0010, 0xA000, false, VTD_FR_READ },
		{ "SL table outside RAM", 0x0032, 0x1000, false, VTD_FR_SL_FETCH },
		{ "context table outside RAM", 0x0600, 0x1000, false, VTD_FR_CTX_TABLE },
		{ "root reserved bit", 0x0700, 0x1000, false, VTD_FR_ROOT_RSVD },
		{ "context reserved bit", 0x0033, 0x1000, false, VTD_FR_CTX_RSVD },
		{ "PS bit without SLLPS", 0x0010, 0x40000000, false, VTD_FR_SL_RSVD },
	};

	(void)state;
	top = ctx_set(0x10, 1, 1);
	map(top, 3, 0x7000, 0x300000, VTD_SL_R);
	map(top, 3, 0xA000, 0x301000, VTD_SL_W);
	/* 1 GiB IOVA: a level-3 entry with PS = 1 */
	put64(top + 1 * 8, 0x40000000ull | VTD_SL_PS | VTD_SL_R | VTD_SL_W);
	put64(CTX_BUS0 + 0x30 * 16 + 8, 5ull << 8 | 1);
	put64(CTX_BUS0 + 0x30 * 16, alloc_table() | 1ull << VTD_CTX_TT_SHIFT | VTD_CTX_P);
	put64(CTX_BUS0 + 0x31 * 16 + 8, 6ull << 8 | 3);
	put64(CTX_BUS0 + 0x31 * 16, alloc_table() | VTD_CTX_P);
	put64(CTX_BUS0 + 0x32 * 16 + 8, 7ull << 8 | 1);
	put64(CTX_BUS0 + 0x32 * 16, 0x40000000000ull | VTD_CTX_P);   /* beyond RAM */
	put64(CTX_BUS0 + 0x33 * 16 + 8, 8ull << 8 | 1 | 1ull << 40);
	put64(CTX_BUS0 + 0x33 * 16, alloc_table() | VTD_CTX_P);
	put64(ROOT + 6 * 16, 0x40000000000ull | VTD_ROOT_P);
	pa_top = alloc_table();
	put64(ROOT + 7 * 16, pa_top | VTD_ROOT_P);
	put64(ROOT + 7 * 16 + 8, 1);                                   /* reserved upper half */
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct reason_case *c = &cases[i];
		unsigned before = fb.nmsi;

		print_message("case: %s\n", c->name);
		memset(buf, 0x5A, sizeof(buf));
		assert_int_equal(vtd_model_dma(vt, c->sid, c->iova, buf, sizeof(buf), c->write), -EFAULT);
		expect_fault(c->sid, c->iova, c->reason, c->write);
		if (!c->write)
			assert_int_equal(buf[0], 0);    /* a blocked read gives zeros */
		assert_int_equal(fb.nmsi, before + 1);
		assert_int_equal(fb.msis[before].data, FE_DATA);
		frcd_clear();
	}
	assert_int_equal(stats().faults, sizeof(cases) / sizeof(cases[0]));
	/* With the root table fetch failing: 0x08. */
	wr(VTD_REG_RTADDR, 8, 0x40000000000ull);
	wr(VTD_REG_GCMD, 4, gsts() | VTD_GCMD_SRTP);
	ctx_global();
	assert_int_equal(vtd_model_dma(vt, 0x0800, 0, buf, 4, false), -EFAULT);
	expect_fault(0x0800, 0, VTD_FR_ROOT_TABLE, false);
}

static void test_fpd_suppresses_recording(void **state)
{
	uint8_t b;

	(void)state;
	put64(CTX_BUS0 + 0x40 * 16 + 8, 9ull << 8 | 1);
	put64(CTX_BUS0 + 0x40 * 16, alloc_table() | VTD_CTX_FPD | VTD_CTX_P);
	assert_int_equal(vtd_model_dma(vt, 0x40, 0x1000, &b, 1, false), -EFAULT);
	assert_false(frcd_hi() & VTD_FRCD_HI_F);
	assert_int_equal(fb.nmsi, 0);
	assert_int_equal(stats().faults, 1);
}

static void test_fault_event_masked_then_unmasked(void **state)
{
	uint8_t b;

	(void)state;
	wr(VTD_REG_FECTL, 4, VTD_FECTL_IM);
	assert_int_equal(vtd_model_dma(vt, 0x0028, 0x1000, &b, 1, false), -EFAULT);
	assert_int_equal(fb.nmsi, 0);
	assert_true(rd(VTD_REG_FECTL, 4) & VTD_FECTL_IP);
	wr(VTD_REG_FECTL, 4, 0);                        /* unmask: the pending event goes out */
	assert_int_equal(fb.nmsi, 1);
	assert_false(rd(VTD_REG_FECTL, 4) & VTD_FECTL_IP);
	/* Serviced while masked: IP drops and unmasking sends nothing. */
	frcd_clear();
	wr(VTD_REG_FECTL, 4, VTD_FECTL_IM);
	assert_int_equal(vtd_model_dma(vt, 0x0028, 0x1000, &b, 1, false), -EFAULT);
	assert_true(rd(VTD_REG_FECTL, 4) & VTD_FECTL_IP);
	frcd_clear();
	assert_false(rd(VTD_REG_FECTL, 4) & VTD_FECTL_IP);
	wr(VTD_REG_FECTL, 4, 0);
	assert_int_equal(fb.nmsi, 1);
}

static void test_pfo_when_record_full(void **state)
{
	uint8_t b;

	(void)state;
	assert_int_equal(vtd_model_dma(vt, 0x0028, 0x1000, &b, 1, false), -EFAULT);
	assert_int_equal(vtd_model_dma(vt, 0x0029, 0x2000, &b, 1, true), -EFAULT);
	expect_fault(0x0028, 0x1000, VTD_FR_CTX_NOT_PRESENT, false);      /* the first is kept */
	assert_true(rd(VTD_REG_FSTS, 4) & VTD_FSTS_PFO);
	assert_int_equal(fb.nmsi, 1);                             /* one event */
	assert_int_equal(stats().overflows, 1);
	wr(VTD_REG_FSTS, 4, VTD_FSTS_PFO);                      /* RW1C */
	assert_false(rd(VTD_REG_FSTS, 4) & VTD_FSTS_PFO);
	assert_true(rd(VTD_REG_FSTS, 4) & VTD_FSTS_PPF);        /* RO: follows F */
	frcd_clear();
	assert_int_equal(vtd_model_dma(vt, 0x0029, 0x2000, &b, 1, true), -EFAULT);
	expect_fault(0x0029, 0x2000, VTD_FR_CTX_NOT_PRESENT, true);
	assert_int_equal(fb.nmsi, 2);
}

/* ---- caches and invalidation ------------------------------------------------------------ */

static uint8_t read_byte(uint16_t sid, uint64_t iova)
{
	uint8_t b = 0xEE;
	assert_int_equal(vtd_model_dma(vt, sid, iova, &b, 1, false), 0);
	return b;
}

enum inval { INV_PAGE, INV_DOMAIN, INV_GLOBAL, INV_QI_PAGE, INV_QI_DOMAIN };

static uint64_t qi_tail;

static void qi_on(void)
{
	qi_tail = 0;
	wr(VTD_REG_IQT, 8, 0);
	wr(VTD_REG_IQA, 8, IQ_BASE);
	wr(VTD_REG_GCMD, 4, gsts() | VTD_GCMD_QIE);
	assert_true(gsts() & VTD_GCMD_QIE);
}

static void qi_submit(uint64_t d0, uint64_t d1)
{
	put64(IQ_BASE + qi_tail, d0);
	put64(IQ_BASE + qi_tail + 8, d1);
	qi_tail += 16;
	wr(VTD_REG_IQT, 8, qi_tail);
}

static void invalidate(enum inval how, uint16_t did, uint64_t iova)
{
	switch (how) {
	case INV_PAGE:
		wr(iva_reg(), 8, iova);
		wr(iotlb_reg(), 8, VTD_IOTLB_IVT | (uint64_t)VTD_GRAN_DEVICE << VTD_IOTLB_IIRG_SHIFT |
		   (uint64_t)did << VTD_IOTLB_DID_SHIFT);
		assert_int_equal(rd(iotlb_reg(), 8) >> VTD_IOTLB_IAIG_SHIFT & 3, VTD_GRAN_DEVICE);
		break;
	case INV_DOMAIN:
		wr(iotlb_reg(), 8, VTD_IOTLB_IVT | (uint64_t)VTD_GRAN_DOMAIN << VTD_IOTLB_IIRG_SHIFT |
		   (uint64_t)did << VTD_IOTLB_DID_SHIFT);
		break;
	case INV_GLOBAL:
		iotlb_global();
		break;
	case INV_QI_PAGE:
		qi_submit(VTD_INV_IOTLB | (uint64_t)VTD_GRAN_DEVICE << VTD_INV_G_SHIFT |
		          (uint64_t)did << VTD_INV_DID_SHIFT, iova);
		break;
	case INV_QI_DOMAIN:
		qi_submit(VTD_INV_IOTLB | (uint64_t)VTD_GRAN_DOMAIN << VTD_INV_G_SHIFT |
		          (uint64_t)did << VTD_INV_DID_SHIFT, 0);
		break;
	}
	if (how < INV_QI_PAGE)
		assert_false(rd(iotlb_reg(), 8) & VTD_IOTLB_IVT);   /* done: IVT clear */
}

static void stale_until(enum inval how)
{
	uint64_t top = ctx_set(0x10, 3, 1), slot;

	if (how >= INV_QI_PAGE)
		qi_on();
	fb.ram[0x300000] = 1;
	fb.ram[0x310000] = 2;
	map(top, 3, 0x5000, 0x300000, VTD_SL_R | VTD_SL_W);
	map(top, 3, 0x6000, 0x320000, VTD_SL_R | VTD_SL_W);
	assert_int_equal(read_byte(0x10, 0x5000), 1);
	assert_int_equal(stats().stale_iotlb_hits, 0);
	/* Remap without invalidating: the IOTLB keeps serving the old page. */
	slot = leaf_slot(top, 3, 0x5000);
	put64(slot, 0x310000 | VTD_SL_R | VTD_SL_W);
	assert_int_equal(read_byte(0x10, 0x5000), 1);
	assert_int_equal(stats().stale_iotlb_hits, 1);
	assert_true(fake_bus_logged(&fb, "stale IOTLB translation used: sid 0x0010 iova 0x5000"));
	/* Invalidating another domain or another page changes nothing. */
	if (how == INV_PAGE || how == INV_QI_PAGE)
		invalidate(how, 3, 0x6000);
	invalidate(how == INV_GLOBAL ? INV_DOMAIN : how, 4, 0x5000);
	assert_int_equal(read_byte(0x10, 0x5000), 1);
	assert_int_equal(stats().stale_iotlb_hits, 2);
	invalidate(how, 3, 0x5000);
	assert_int_equal(read_byte(0x10, 0x5000), 2);
	assert_int_equal(stats().stale_iotlb_hits, 2);
	/* Unmap without invalidating: the DMA still gets through (no fault). */
	put64(slot, 0);
	assert_int_equal(read_byte(0x10, 0x5000), 2);
	assert_int_equal(stats().stale_iotlb_hits, 3);
	assert_int_equal(stats().faults, 0);
	invalidate(how, 3, 0x5000);
	{
		uint8_t b;
		assert_int_equal(vtd_model_dma(vt, 0x10, 0x5000, &b, 1, false), -EFAULT);
		expect_fault(0x10, 0x5000, VTD_FR_READ, false);
	}
}

static void test_stale_until_page_inval(void **state) { (void)state; stale_until(INV_PAGE); }
static void test_stale_until_domain_inval(void **state) { (void)state; stale_until(INV_DOMAIN); }
static void test_stale_until_global_inval(void **state) { (void)state; stale_until(INV_GLOBAL); }
static void test_stale_until_qi_page_inval(void **state) { (void)state; stale_until(INV_QI_PAGE); }
static void test_stale_until_qi_domain_inval(void **state) { (void)state; stale_until(INV_QI_DOMAIN); }

static void test_context_cache_until_invalidated(void **state)
{
	uint64_t top = ctx_set(0x10, 3, 1);
	uint8_t b;

	(void)state;
	map(top, 3, 0x5000, 0x300000, VTD_SL_R);
	fb.ram[0x300000] = 9;
	assert_int_equal(read_byte(0x10, 0x5000), 9);
	put64(CTX_BUS0 + 0x10 * 16, 0);                 /* context entry removed */
	assert_int_equal(read_byte(0x10, 0x5000), 9);   /* the cached one still serves */
	/* Device-selective with another function: not ours. */
	wr(VTD_REG_CCMD, 8, VTD_CCMD_ICC | (uint64_t)VTD_GRAN_DEVICE << VTD_CCMD_CIRG_SHIFT |
	   (uint64_t)0x11 << VTD_CCMD_SID_SHIFT);
	assert_int_equal(read_byte(0x10, 0x5000), 9);
	wr(VTD_REG_CCMD, 8, VTD_CCMD_ICC | (uint64_t)VTD_GRAN_DEVICE << VTD_CCMD_CIRG_SHIFT |
	   (uint64_t)0x10 << VTD_CCMD_SID_SHIFT);
	assert_false(rd(VTD_REG_CCMD, 8) & VTD_CCMD_ICC);
	assert_int_equal(rd(VTD_REG_CCMD, 8) >> VTD_CCMD_CAIG_SHIFT & 3, VTD_GRAN_DEVICE);
	iotlb_global();
	assert_int_equal(vtd_model_dma(vt, 0x10, 0x5000, &b, 1, false), -EFAULT);
	expect_fault(0x10, 0x5000, VTD_FR_CTX_NOT_PRESENT, false);
	assert_int_equal(stats().inval_reg, 3);
}

static void test_cm0_does_not_cache_not_present(void **state)
{
	uint64_t top = ctx_set(0x10, 3, 1);
	uint8_t b;

	(void)state;
	assert_int_equal(vtd_model_dma(vt, 0x10, 0x5000, &b, 1, false), -EFAULT);
	frcd_clear();
	map(top, 3, 0x5000, 0x300000, VTD_SL_R);
	fb.ram[0x300000] = 4;
	assert_int_equal(read_byte(0x10, 0x5000), 4);   /* no invalidation needed */
	assert_int_equal(stats().stale_iotlb_hits, 0);
}

static void test_cm1_caches_not_present(void **state)
{
	uint64_t top = ctx_set(0x10, 3, 1);
	uint8_t b;

	(void)state;
	assert_true(rd(VTD_REG_CAP, 8) & VTD_CAP_CM);
	assert_int_equal(vtd_model_dma(vt, 0x10, 0x5000, &b, 1, false), -EFAULT);
	frcd_clear();
	map(top, 3, 0x5000, 0x300000, VTD_SL_R);
	fb.ram[0x300000] = 4;
	/* The cached not-present entry still answers: invalidate after map. */
	assert_int_equal(vtd_model_dma(vt, 0x10, 0x5000, &b, 1, false), -EFAULT);
	expect_fault(0x10, 0x5000, VTD_FR_READ, false);
	assert_int_equal(stats().stale_iotlb_hits, 1);
	frcd_clear();
	invalidate(INV_PAGE, 3, 0x5000);
	assert_int_equal(read_byte(0x10, 0x5000), 4);
	/* Domain id 0 is reserved in caching mode. */
	ctx_set(0x18, 0, 1);
	assert_int_equal(vtd_model_dma(vt, 0x18, 0x5000, &b, 1, false), -EFAULT);
	expect_fault(0x18, 0x5000, VTD_FR_CTX_INV, false);
}

static void test_qi_wait_and_errors(void **state)
{
	uint32_t status = 0;

	(void)state;
	qi_on();
	wr(VTD_REG_IEDATA, 4, 0x52);
	wr(VTD_REG_IEADDR, 4, FE_ADDR);
	wr(VTD_REG_IECTL, 4, 0);
	/* Wait with status write. */
	qi_submit(VTD_INV_WAIT | VTD_INV_WAIT_SW | 0xABCDull << VTD_INV_WAIT_DATA_SHIFT, 0x50000);
	memcpy(&status, fb.ram + 0x50000, 4);
	assert_int_equal(status, 0xABCD);
	assert_int_equal(rd(VTD_REG_IQH, 8), 0x10);
	assert_int_equal(fb.nmsi, 0);
	/* Wait with interrupt: ICS.IWC and the completion event. */
	qi_submit(VTD_INV_WAIT | VTD_INV_WAIT_IF, 0);
	assert_int_equal(rd(VTD_REG_ICS, 4), VTD_ICS_IWC);
	assert_int_equal(fb.nmsi, 1);
	assert_int_equal(fb.msis[0].data, 0x52);
	wr(VTD_REG_ICS, 4, VTD_ICS_IWC);
	assert_int_equal(rd(VTD_REG_ICS, 4), 0);
	/* An invalid descriptor: IQE, the head stays on it, a fault event. */
	qi_submit(7, 0);
	assert_true(rd(VTD_REG_FSTS, 4) & VTD_FSTS_IQE);
	assert_int_equal(rd(VTD_REG_IQH, 8), 0x20);
	assert_int_equal(fb.nmsi, 2);
	assert_int_equal(fb.msis[1].data, FE_DATA);
	/* Reserved bits in a context-cache descriptor: the same. Fix the bad one
	 * first (replace it by a wait) and clear IQE: fetching resumes. */
	put64(IQ_BASE + 0x20, VTD_INV_WAIT | VTD_INV_WAIT_SW | 7ull << VTD_INV_WAIT_DATA_SHIFT);
	put64(IQ_BASE + 0x28, 0x50000);
	wr(VTD_REG_FSTS, 4, VTD_FSTS_IQE);
	assert_int_equal(rd(VTD_REG_IQH, 8), 0x30);
	memcpy(&status, fb.ram + 0x50000, 4);
	assert_int_equal(status, 7);
	qi_submit(VTD_INV_CC | (uint64_t)VTD_GRAN_GLOBAL << VTD_INV_G_SHIFT | 1ull << 60, 0);
	assert_true(rd(VTD_REG_FSTS, 4) & VTD_FSTS_IQE);
	assert_int_equal(stats().inval_qi, 3);
}

static void test_register_inval_ignored_with_qi(void **state)
{
	uint64_t top = ctx_set(0x10, 3, 1);

	(void)state;
	qi_on();
	map(top, 3, 0x5000, 0x300000, VTD_SL_R);
	fb.ram[0x300000] = 1;
	fb.ram[0x310000] = 2;
	assert_int_equal(read_byte(0x10, 0x5000), 1);
	put64(leaf_slot(top, 3, 0x5000), 0x310000 | VTD_SL_R);
	iotlb_global();                                 /* ignored: QI is on */
	assert_false(rd(iotlb_reg(), 8) & VTD_IOTLB_IVT);
	assert_int_equal(rd(iotlb_reg(), 8) >> VTD_IOTLB_IAIG_SHIFT & 3, 0);
	ctx_global();
	assert_int_equal(rd(VTD_REG_CCMD, 8) >> VTD_CCMD_CAIG_SHIFT & 3, 0);
	assert_int_equal(read_byte(0x10, 0x5000), 1);
	assert_int_equal(stats().inval_reg_ignored, 2);
	assert_int_equal(stats().inval_reg, 0);
	invalidate(INV_QI_DOMAIN, 3, 0);
	assert_int_equal(read_byte(0x10, 0x5000), 2);
}

/* ---- several units ---------------------------------------------------------------------- */

#define VTD_B_BASE (VTD_MODEL_BASE + 0x1000)
#define ROOT_B 0x3000ull
#define CTX_B 0x4000ull

static uint8_t dma_byte(struct vtd_model *u, uint16_t sid, uint64_t iova)
{
	uint8_t b = 0xEE;
	assert_int_equal(vtd_model_dma(u, sid, iova, &b, 1, false), 0);
	return b;
}

/* Two units on one bus keep their own registers, tables, caches and fault state. */
static void test_two_units_are_independent(void **state)
{
	struct vtd_config ca = { .base = VTD_MODEL_BASE }, cb = { .base = VTD_B_BASE };
	struct vtd_model *b = NULL, *dup = NULL;
	struct vtd_model_stats sa, sb;
	uint64_t top_a = ctx_set(0x10, 1, 1), top_b = alloc_table();
	uint8_t v = 0;

	(void)state;
	assert_int_equal(vtd_model_create(&ca, &fb.bus, &dup), -EBUSY);    /* page taken */
	assert_null(dup);
	assert_int_equal(vtd_model_create(&cb, &fb.bus, &b), 0);
	/* B: its own root table; sid 0x10 in domain 7, iova 0x5000 -> 0x310000 read-only. */
	put64(ROOT_B, CTX_B | VTD_ROOT_P);
	put64(CTX_B + 0x10 * 16 + 8, (uint64_t)7 << VTD_CTX_DID_SHIFT | 1);
	put64(CTX_B + 0x10 * 16, top_b | VTD_CTX_P);
	map(top_b, 3, 0x5000, 0x310000, VTD_SL_R);
	cur_base = VTD_B_BASE;
	assert_int_equal(gsts() & VTD_GCMD_TE, 0);                         /* B is at reset */
	wr(VTD_REG_RTADDR, 8, ROOT_B);
	wr(VTD_REG_GCMD, 4, VTD_GCMD_SRTP);
	wr(VTD_REG_FEDATA, 4, FE_DATA + 1);
	wr(VTD_REG_FEADDR, 4, FE_ADDR);
	wr(VTD_REG_FECTL, 4, 0);
	wr(VTD_REG_GCMD, 4, gsts() | VTD_GCMD_TE);
	assert_true(gsts() & VTD_GCMD_TE);
	/* A (the set-up unit): the same sid and iova lead elsewhere. */
	map(top_a, 3, 0x5000, 0x300000, VTD_SL_R);
	fb.ram[0x300000] = 1;
	fb.ram[0x310000] = 2;
	assert_int_equal(dma_byte(vt, 0x10, 0x5000), 1);
	assert_int_equal(dma_byte(b, 0x10, 0x5000), 2);
	/* A fault in B (a write to its read-only page): B's record, status and event only. */
	assert_int_equal(vtd_model_dma(b, 0x10, 0x5000, &v, 1, true), -EFAULT);
	assert_true(rd(VTD_REG_FSTS, 4) & VTD_FSTS_PPF);
	expect_fault(0x10, 0x5000, VTD_FR_WRITE, true);
	assert_int_equal(fb.nmsi, 1);
	assert_int_equal(fb.msis[0].data, FE_DATA + 1);
	cur_base = VTD_MODEL_BASE;
	assert_false(rd(VTD_REG_FSTS, 4) & VTD_FSTS_PPF);
	assert_false(frcd_hi() & VTD_FRCD_HI_F);
	vtd_model_stats(vt, &sa);
	vtd_model_stats(b, &sb);
	assert_int_equal(sa.faults, 0);
	assert_int_equal(sb.faults, 1);
	assert_int_equal(sa.translations, 1);
	assert_int_equal(sb.translations, 2);
	/* A's translation off: A passes DMA through, B still translates. */
	wr(VTD_REG_GCMD, 4, gsts() & ~VTD_GCMD_TE);
	assert_false(gsts() & VTD_GCMD_TE);
	assert_int_equal(dma_byte(vt, 0x10, 0x310000), 2);
	assert_int_equal(dma_byte(b, 0x10, 0x5000), 2);
	/* Destroying B releases its page and nothing else. */
	vtd_model_destroy(b);
	assert_false(fake_bus_mmio_claimed(&fb, VTD_B_BASE, VTD_REG_SIZE));
	assert_true(fake_bus_mmio_claimed(&fb, VTD_MODEL_BASE, VTD_REG_SIZE));
}

static int group_setup(void **state)
{
	(void)state;
	fake_bus_init(&fb, MEM_SIZE);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	vtd_model_destroy(vt);
	vt = NULL;
	assert_int_equal(fake_bus_claims(&fb), 0);  /* the unit released its page */
	fake_bus_fini(&fb);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_caps, setup),
		cmocka_unit_test_setup(test_gcmd_gsts, setup),
		cmocka_unit_test_setup(test_qie_needs_ecap, setup),
		cmocka_unit_test_setup(test_passthrough_when_te_off, setup),
		cmocka_unit_test_setup(test_walk_permissions, setup),
		cmocka_unit_test_setup(test_fault_reasons, setup),
		cmocka_unit_test_setup(test_fpd_suppresses_recording, setup),
		cmocka_unit_test_setup(test_fault_event_masked_then_unmasked, setup),
		cmocka_unit_test_setup(test_pfo_when_record_full, setup),
		cmocka_unit_test_setup(test_stale_until_page_inval, setup),
		cmocka_unit_test_setup(test_stale_until_domain_inval, setup),
		cmocka_unit_test_setup(test_stale_until_global_inval, setup),
		cmocka_unit_test_setup(test_stale_until_qi_page_inval, setup),
		cmocka_unit_test_setup(test_stale_until_qi_domain_inval, setup),
		cmocka_unit_test_setup(test_context_cache_until_invalidated, setup),
		cmocka_unit_test_setup(test_cm0_does_not_cache_not_present, setup),
		cmocka_unit_test_setup(test_cm1_caches_not_present, setup_cm),
		cmocka_unit_test_setup(test_qi_wait_and_errors, setup),
		cmocka_unit_test_setup(test_register_inval_ignored_with_qi, setup),
		cmocka_unit_test_setup(test_two_units_are_independent, setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
