/*
 * test_lapic_model.c — CMocka tests of the sim's platform models on their own
 * clock: the local APIC (Intel SDM Vol. 3A ch. 11: INIT-before-SIPI and the INIT
 * settle time, x2APIC transitions and #GP rules, fixed IPIs with TPR/ISR priority,
 * ESR write-then-read, delivery status, the timer's three modes), the TLB model
 * (a shootdown that skips a CPU leaves it reading the old page), the PIT and the
 * I/O APIC. Kernel-facing rule breaks must reach host->fatal, caught with longjmp.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <hw/x86/ioapic.h>
#include <hw/x86/lapic.h>
#include <hw/x86/pit.h>
#include "fake_bus.h"

#include "ioapic/ioapic.h"
#include "ioapic/ioapic_model.h"
#include "lapic/lapic.h"
#include "lapic/lapic_model.h"
#include "pit/pit.h"
#include "tlb/tlb_model.h"

/* ---- a host with a hand-driven clock ------------------------------------------- */

static uint64_t now;                /* ns */
static struct fake_bus fb;           /* the models claim their ranges here */
static jmp_buf fatal_jmp;
static bool expect_fatal;
static char fatal_msg[512];
static int started_cpu = -1;
static uint8_t started_vector;
static unsigned kicks;

static uint64_t h_now(void) { return now; }
static uint64_t h_tsc(void) { return now * 2; }     /* 2 GHz */
static void h_kick(unsigned cpu) { (void)cpu; kicks++; }
static void h_start(unsigned cpu, uint8_t v) { started_cpu = (int)cpu; started_vector = v; }
static void h_eoi(uint8_t v) { ioapic_model_eoi(v); }
static void h_log(const char *fmt, ...) { (void)fmt; }

static void h_fatal(const char *fmt, ...) __attribute__((noreturn));
static void h_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fatal_msg, sizeof(fatal_msg), fmt, ap);
	va_end(ap);
	if (!expect_fatal)
		fail_msg("unexpected fatal: %s", fatal_msg);
	longjmp(fatal_jmp, 1);
}

/* Run stmt; assert it ended in host->fatal with a message containing `needle`. */
#define ASSERT_FATAL(stmt, needle) do {                                   \
	expect_fatal = true;                                              \
	fatal_msg[0] = '\0';                                              \
	if (setjmp(fatal_jmp) == 0) {                                     \
		stmt;                                                     \
		expect_fatal = false;                                     \
		fail_msg("no fatal from: %s", #stmt);                     \
	}                                                                 \
	expect_fatal = false;                                             \
	assert_non_null(strstr(fatal_msg, needle));                       \
} while (0)

static const struct lapic_host host = {
	.now_ns = h_now, .tsc = h_tsc, .kick = h_kick, .start_ap = h_start,
	.eoi_broadcast = h_eoi, .log = h_log, .fatal = h_fatal,
};
static const uint32_t ids[4] = { 0, 1, 2, 3 };

static int setup(void **state)
{
	struct lapic_config c = {
		.ncpus = 4, .apic_ids = ids, .x2apic = true, .tsc_deadline = true,
		.timer_hz = 100000000, .tsc_hz = 2000000000, .init_settle_ns = 5000000,
	};
	struct ioapic_host ih = { .deliver = lapic_model_deliver_external, .fatal = h_fatal };

	(void)state;
	now = 1000;
	started_cpu = -1;
	kicks = 0;
	fake_bus_init(&fb, 0);
	assert_int_equal(lapic_model_init(&c, &host, &fb.bus), 0);
	assert_int_equal(ioapic_model_init(0, 0, 0xFEC00000ull, &ih, &fb.bus), 0);
	return 0;
}

/* Software-enable cpu's LAPIC in xAPIC mode with spurious vector 0xFF. */
static void xapic_on(unsigned cpu)
{
	lapic_model_mmio_write(cpu, APIC_SVR, 4, APIC_SVR_ENABLE | 0xFF);
}

static void x2apic_on(unsigned cpu)
{
	lapic_model_msr_write(cpu, MSR_IA32_APIC_BASE, APIC_BASE_ADDR_RESET | APIC_BASE_EN | APIC_BASE_EXTD);
	lapic_model_msr_write(cpu, 0x80F, APIC_SVR_ENABLE | 0xFF);
}

static void send_xapic(unsigned from, uint32_t lo, uint8_t dest)
{
	lapic_model_mmio_write(from, APIC_ICR_HI, 4, (uint32_t)dest << 24);
	lapic_model_mmio_write(from, APIC_ICR_LO, 4, lo);
	now += 2000;                    /* past the delivery-status window */
}

static void start_cpu(unsigned cpu)
{
	send_xapic(0, APIC_ICR_DM_INIT | APIC_ICR_LEVEL_ASSERT, (uint8_t)cpu);
	now += 10000000;
	send_xapic(0, APIC_ICR_DM_STARTUP | 0x08, (uint8_t)cpu);
	assert_int_equal(started_cpu, (int)cpu);
	started_cpu = -1;
}

/* ---- AP start-up ---------------------------------------------------------------- */

static void test_sipi_without_init_is_ignored(void **state)
{
	struct lapic_model_stats s;

	(void)state;
	send_xapic(0, APIC_ICR_DM_STARTUP | 0x08, 1);
	assert_int_equal(started_cpu, -1);
	lapic_model_stats(&s);
	assert_int_equal(s.sipis_ignored, 1);
}

static void test_sipi_right_after_init_is_ignored(void **state)
{
	(void)state;
	send_xapic(0, APIC_ICR_DM_INIT | APIC_ICR_LEVEL_ASSERT, 1);
	send_xapic(0, APIC_ICR_DM_STARTUP | 0x08, 1);      /* no 10 ms wait (seed bug K39) */
	assert_int_equal(started_cpu, -1);
	now += 200000;
	send_xapic(0, APIC_ICR_DM_STARTUP | 0x08, 1);      /* 200 us later: still too early */
	assert_int_equal(started_cpu, -1);
	now += 10000000;
	send_xapic(0, APIC_ICR_DM_STARTUP | 0x08, 1);      /* it was still waiting for one */
	assert_int_equal(started_cpu, 1);
	assert_int_equal(started_vector, 0x08);
}

static void test_init_sipi_sipi_starts_once(void **state)
{
	struct lapic_model_stats s;

	(void)state;
	start_cpu(2);
	send_xapic(0, APIC_ICR_DM_STARTUP | 0x08, 2);      /* the second SIPI: ignored quietly */
	assert_int_equal(started_cpu, -1);
	lapic_model_stats(&s);
	assert_int_equal(s.sipis_accepted, 1);
	assert_int_equal(s.sipis_ignored, 0);
}

static void test_ignore_first_sipi_needs_the_second(void **state)
{
	(void)state;
	assert_int_equal(lapic_model_fault_ignore_first_sipi(3), 0);
	send_xapic(0, APIC_ICR_DM_INIT | APIC_ICR_LEVEL_ASSERT, 3);
	now += 10000000;
	send_xapic(0, APIC_ICR_DM_STARTUP | 0x08, 3);
	assert_int_equal(started_cpu, -1);                  /* a kernel without a 2nd SIPI (K46) loses it */
	now += 200000;
	send_xapic(0, APIC_ICR_DM_STARTUP | 0x08, 3);
	assert_int_equal(started_cpu, 3);
}

static void test_esr_send_error_latches_on_esr_write(void **state)
{
	(void)state;
	xapic_on(0);
	assert_int_equal(lapic_model_fault_esr_send_error(1), 0);
	lapic_model_mmio_write(0, APIC_ESR, 4, 0);
	send_xapic(0, APIC_ICR_DM_INIT | APIC_ICR_LEVEL_ASSERT, 1);
	now += 10000000;
	send_xapic(0, APIC_ICR_DM_STARTUP | 0x08, 1);
	assert_int_equal(started_cpu, -1);
	assert_int_equal(lapic_model_mmio_read(0, APIC_ESR, 4), 0);  /* not latched yet */
	lapic_model_mmio_write(0, APIC_ESR, 4, 0);
	assert_int_equal(lapic_model_mmio_read(0, APIC_ESR, 4), APIC_ESR_SEND_ACCEPT);
	lapic_model_mmio_write(0, APIC_ESR, 4, 0);
	assert_int_equal(lapic_model_mmio_read(0, APIC_ESR, 4), 0);
}

static void test_init_to_running_cpu_is_fatal(void **state)
{
	(void)state;
	start_cpu(1);
	ASSERT_FATAL(send_xapic(0, APIC_ICR_DM_INIT | APIC_ICR_LEVEL_ASSERT, 1), "running");
}

/* ---- x2APIC rules ----------------------------------------------------------------- */

static void test_x2apic_transitions(void **state)
{
	(void)state;
	ASSERT_FATAL(lapic_model_msr_write(0, MSR_IA32_APIC_BASE, APIC_BASE_ADDR_RESET | APIC_BASE_EXTD),
	             "invalid state");
	ASSERT_FATAL(lapic_model_msr_read(0, 0x802), "not in x2APIC mode");
	x2apic_on(0);
	assert_int_equal(lapic_model_msr_read(0, 0x802), 0);
	ASSERT_FATAL(lapic_model_mmio_read(0, APIC_ID, 4), "x2APIC mode");
	ASSERT_FATAL(lapic_model_msr_write(0, MSR_IA32_APIC_BASE, APIC_BASE_ADDR_RESET | APIC_BASE_EN),
	             "x2APIC to xAPIC");
	lapic_model_msr_write(0, MSR_IA32_APIC_BASE, APIC_BASE_ADDR_RESET);     /* disable: legal */
	ASSERT_FATAL(lapic_model_msr_write(0, MSR_IA32_APIC_BASE,
	                                   APIC_BASE_ADDR_RESET | APIC_BASE_EN | APIC_BASE_EXTD),
	             "disabled to x2APIC");
}

static void test_x2apic_gp_rules(void **state)
{
	(void)state;
	x2apic_on(0);
	ASSERT_FATAL(lapic_model_msr_write(0, 0x828, 1), "non-zero");          /* ESR */
	ASSERT_FATAL(lapic_model_msr_write(0, APIC_X2_MSR(APIC_EOI), 1), "non-zero");          /* EOI */
	ASSERT_FATAL(lapic_model_msr_read(0, APIC_X2_MSR(APIC_EOI)), "write-only");
	ASSERT_FATAL(lapic_model_msr_read(0, 0x831), "reserved");
	ASSERT_FATAL(lapic_model_msr_read(0, 0x80E), "reserved");              /* no DFR */
	ASSERT_FATAL(lapic_model_msr_write(0, 0x802, 5), "read-only");         /* ID */
	ASSERT_FATAL(lapic_model_msr_write(0, 0x808, 0x100), "reserved bits"); /* TPR */
	ASSERT_FATAL(lapic_model_msr_write(0, 0x808, 1ull << 32), "63:32");
	ASSERT_FATAL(lapic_model_msr_write(0, APIC_X2_MSR(APIC_ICR_LO), APIC_ICR_BUSY | 0x40), "reserved");
	assert_int_equal(lapic_model_msr_read(0, 0x80D), 1);                   /* LDR of ID 0 */
}

static void test_xapic_access_rules(void **state)
{
	(void)state;
	ASSERT_FATAL(lapic_model_mmio_read(0, APIC_TPR + 4, 4), "16-byte");
	ASSERT_FATAL(lapic_model_mmio_read(0, APIC_TPR, 1), "32 bits");
	ASSERT_FATAL(lapic_model_mmio_write(0, APIC_VERSION, 4, 0), "read-only");
	ASSERT_FATAL(lapic_model_mmio_read(0, 0x3F0, 4), "reserved");
	assert_int_equal(lapic_model_mmio_read(0, APIC_VERSION, 4) & 0xFF, 0x14);
	assert_int_equal((lapic_model_mmio_read(0, APIC_VERSION, 4) >> 16) & 0xFF, 6);
}

static void test_lvt_stays_masked_while_software_disabled(void **state)
{
	(void)state;
	lapic_model_mmio_write(0, APIC_LVT_ERROR, 4, 0xFE);           /* SVR still disabled */
	assert_int_equal(lapic_model_mmio_read(0, APIC_LVT_ERROR, 4), APIC_LVT_MASKED | 0xFE);
	xapic_on(0);
	lapic_model_mmio_write(0, APIC_LVT_ERROR, 4, 0xFE);
	assert_int_equal(lapic_model_mmio_read(0, APIC_LVT_ERROR, 4), 0xFE);
}

/* ---- delivery ------------------------------------------------------------------------ */

static void test_fixed_ipi_priority_tpr_eoi(void **state)
{
	(void)state;
	start_cpu(1);
	xapic_on(0);
	xapic_on(1);
	send_xapic(0, 0x51, 1);
	send_xapic(0, 0x62, 1);
	assert_true(lapic_model_deliverable(1));
	assert_int_equal(lapic_model_accept(1), 0x62);      /* highest first */
	assert_int_equal(lapic_model_accept(1), -1);        /* 0x51: class 5 below in-service 6 */
	lapic_model_mmio_write(1, APIC_EOI, 4, 0);
	lapic_model_mmio_write(1, APIC_TPR, 4, 0x50);
	assert_int_equal(lapic_model_accept(1), -1);        /* TPR class 5 holds 0x51 back */
	lapic_model_mmio_write(1, APIC_TPR, 4, 0);
	assert_int_equal(lapic_model_accept(1), 0x51);
	assert_int_equal(lapic_model_mmio_read(1, APIC_ISR0 + 0x20, 4), 1u << (0x51 - 64));
	lapic_model_mmio_write(1, APIC_EOI, 4, 0);
	assert_int_equal(lapic_model_accept(1), -1);
}

static void test_fixed_ipi_to_parked_or_disabled_cpu_is_dropped(void **state)
{
	struct lapic_model_stats s;

	(void)state;
	xapic_on(0);
	send_xapic(0, 0x40, 2);                             /* CPU 2 never started */
	start_cpu(1);
	send_xapic(0, 0x40, 1);                             /* CPU 1 not software-enabled */
	lapic_model_stats(&s);
	assert_int_equal(s.fixed_dropped, 2);
	assert_int_equal(lapic_model_accept(1), -1);
}

static void test_shorthands_and_illegal_vector(void **state)
{
	(void)state;
	start_cpu(1);
	start_cpu(2);
	for (unsigned c = 0; c < 3; c++)
		xapic_on(c);
	send_xapic(0, 0x45 | APIC_ICR_SH_ALL_BUT_SELF, 0);
	assert_int_equal(lapic_model_accept(0), -1);
	assert_int_equal(lapic_model_accept(1), 0x45);
	assert_int_equal(lapic_model_accept(2), 0x45);
	send_xapic(0, 0x46 | APIC_ICR_SH_SELF, 0);
	assert_int_equal(lapic_model_accept(0), 0x46);
	send_xapic(0, 0x05, 1);                             /* vectors 0-15 are illegal */
	lapic_model_mmio_write(0, APIC_ESR, 4, 0);
	assert_int_equal(lapic_model_mmio_read(0, APIC_ESR, 4), APIC_ESR_SEND_ILLEGAL_VEC);
	ASSERT_FATAL(send_xapic(0, APIC_ICR_DM_INIT | APIC_ICR_LEVEL_ASSERT | APIC_ICR_SH_SELF, 0),
	             "illegal combination");
}

static void test_delivery_status_and_icr_while_busy(void **state)
{
	(void)state;
	start_cpu(1);
	xapic_on(1);
	lapic_model_mmio_write(0, APIC_ICR_HI, 4, 1u << 24);
	lapic_model_mmio_write(0, APIC_ICR_LO, 4, 0x40);
	assert_true(lapic_model_mmio_read(0, APIC_ICR_LO, 4) & APIC_ICR_BUSY);
	ASSERT_FATAL(lapic_model_mmio_write(0, APIC_ICR_LO, 4, 0x41), "still pending");
	now += 2000;
	assert_false(lapic_model_mmio_read(0, APIC_ICR_LO, 4) & APIC_ICR_BUSY);
}

static void test_spurious_storm_after_enable(void **state)
{
	struct lapic_model_stats s;

	(void)state;
	assert_int_equal(lapic_model_fault_spurious_storm(0, 3), 0);
	assert_int_equal(lapic_model_accept(0), -1);        /* not before the LAPIC is on */
	lapic_model_mmio_write(0, APIC_SVR, 4, APIC_SVR_ENABLE | 0xEF);
	for (int i = 0; i < 3; i++)
		assert_int_equal(lapic_model_accept(0), 0xEF);
	assert_int_equal(lapic_model_accept(0), -1);
	lapic_model_mmio_write(0, APIC_EOI, 4, 0);         /* an EOI for a spurious: counted */
	lapic_model_stats(&s);
	assert_int_equal(s.spurious, 3);
	assert_int_equal(s.eoi_without_isr, 1);
}

/* ---- timer --------------------------------------------------------------------------- */

static void test_timer_oneshot_and_periodic(void **state)
{
	(void)state;
	xapic_on(0);
	lapic_model_mmio_write(0, APIC_TIMER_DCR, 4, 0xB);                /* divide by 1 */
	lapic_model_mmio_write(0, APIC_LVT_TIMER, 4, 0x30);
	lapic_model_mmio_write(0, APIC_TIMER_ICR, 4, 1000);               /* 10 us at 100 MHz */
	now += 5000;
	assert_int_equal(lapic_model_mmio_read(0, APIC_TIMER_CCR, 4), 500);
	assert_int_equal(lapic_model_accept(0), -1);
	assert_int_equal(lapic_model_next_event_ns(0), now + 5000);
	now += 5000;
	assert_int_equal(lapic_model_accept(0), 0x30);
	lapic_model_mmio_write(0, APIC_EOI, 4, 0);
	now += 100000;
	assert_int_equal(lapic_model_accept(0), -1);                       /* one-shot: once */
	assert_int_equal(lapic_model_mmio_read(0, APIC_TIMER_CCR, 4), 0);

	lapic_model_mmio_write(0, APIC_LVT_TIMER, 4, 0x30 | APIC_LVT_TIMER_PERIODIC);
	lapic_model_mmio_write(0, APIC_TIMER_DCR, 4, 0x3);                /* divide by 16 */
	lapic_model_mmio_write(0, APIC_TIMER_ICR, 4, 100);                /* 16 us */
	for (int i = 0; i < 3; i++) {
		now += 16000;
		assert_int_equal(lapic_model_accept(0), 0x30);
		lapic_model_mmio_write(0, APIC_EOI, 4, 0);
	}
	ASSERT_FATAL(lapic_model_mmio_write(0, APIC_LVT_TIMER, 4, 0x30 | APIC_LVT_TIMER_MODE_MASK), "reserved");
}

static void test_timer_tsc_deadline(void **state)
{
	(void)state;
	x2apic_on(0);
	lapic_model_msr_write(0, MSR_IA32_TSC_DEADLINE, h_tsc() + 100);    /* ignored: wrong mode */
	assert_int_equal(lapic_model_msr_read(0, MSR_IA32_TSC_DEADLINE), 0);
	lapic_model_msr_write(0, APIC_X2_MSR(APIC_LVT_TIMER), 0x31 | APIC_LVT_TIMER_DEADLINE);
	lapic_model_msr_write(0, MSR_IA32_TSC_DEADLINE, h_tsc() + 2000);   /* 1 us */
	assert_int_equal(lapic_model_accept(0), -1);
	now += 1000;
	assert_int_equal(lapic_model_accept(0), 0x31);
	assert_int_equal(lapic_model_msr_read(0, MSR_IA32_TSC_DEADLINE), 0);   /* disarmed */
}

static void test_no_tsc_deadline_cpuid_means_gp(void **state)
{
	struct lapic_config c = {
		.ncpus = 1, .apic_ids = ids, .x2apic = false, .tsc_deadline = false,
		.timer_hz = 100000000, .tsc_hz = 2000000000,
	};

	(void)state;
	assert_int_equal(lapic_model_init(&c, &host, &fb.bus), 0);
	ASSERT_FATAL(lapic_model_msr_write(0, MSR_IA32_TSC_DEADLINE, 1), "TSC-deadline");
	ASSERT_FATAL(lapic_model_msr_write(0, MSR_IA32_APIC_BASE,
	                                   APIC_BASE_ADDR_RESET | APIC_BASE_EN | APIC_BASE_EXTD), "EXTD");
	xapic_on(0);
	ASSERT_FATAL(lapic_model_mmio_write(0, APIC_LVT_TIMER, 4, 0x30 | APIC_LVT_TIMER_DEADLINE), "CPUID");
}

/* ---- I/O APIC --------------------------------------------------------------------- */

static void ioapic_w(uint32_t reg, uint32_t v)
{
	ioapic_model_mmio_write(IOAPIC_REGSEL, 4, reg);
	ioapic_model_mmio_write(IOAPIC_WIN, 4, v);
}

static uint32_t ioapic_r(uint32_t reg)
{
	ioapic_model_mmio_write(IOAPIC_REGSEL, 4, reg);
	return (uint32_t)ioapic_model_mmio_read(IOAPIC_WIN, 4);
}

static void test_ioapic_routes_edge_and_level(void **state)
{
	(void)state;
	xapic_on(0);
	assert_int_equal(ioapic_r(IOAPIC_REG_VER), IOAPIC_VER_82093AA | (23u << IOAPIC_VER_MAX_REDIR_SHIFT));
	assert_true(ioapic_r(IOAPIC_REG_REDTBL(5)) & IOAPIC_RTE_MASKED);                  /* masked at reset */
	assert_int_equal(ioapic_model_set_line(5, true), 0);
	assert_int_equal(lapic_model_accept(0), -1);                        /* masked: nothing */
	ioapic_model_set_line(5, false);
	ioapic_w(IOAPIC_REG_REDTBL(5) + 1, 0);                                          /* dest APIC ID 0 */
	ioapic_w(IOAPIC_REG_REDTBL(5), 0x55);                                       /* edge, unmasked */
	ioapic_model_set_line(5, true);
	assert_int_equal(lapic_model_accept(0), 0x55);
	lapic_model_mmio_write(0, APIC_EOI, 4, 0);
	ioapic_model_set_line(5, true);                                     /* no new edge */
	assert_int_equal(lapic_model_accept(0), -1);

	ioapic_w(IOAPIC_REG_REDTBL(6), 0x56 | IOAPIC_RTE_LEVEL);                          /* level */
	ioapic_model_set_line(6, true);
	assert_int_equal(lapic_model_accept(0), 0x56);
	assert_true(ioapic_r(IOAPIC_REG_REDTBL(6)) & IOAPIC_RTE_REMOTE_IRR);                  /* remote IRR */
	lapic_model_mmio_write(0, APIC_EOI, 4, 0);                         /* still asserted: again */
	assert_int_equal(lapic_model_accept(0), 0x56);
	ioapic_model_set_line(6, false);
	lapic_model_mmio_write(0, APIC_EOI, 4, 0);
	assert_false(ioapic_r(IOAPIC_REG_REDTBL(6)) & IOAPIC_RTE_REMOTE_IRR);
	assert_int_equal(lapic_model_accept(0), -1);
	ASSERT_FATAL(ioapic_w(IOAPIC_REG_VER, 0), "read-only");
	ASSERT_FATAL(ioapic_model_mmio_read(0x04, 4), "dword");
}

/* ---- TLB model ---------------------------------------------------------------------- */

#define WIN 0x100000000ull

/* The checker a shootdown test needs: after the shootdown every CPU must reach
 * the new page. Returns how many CPUs still reach another one. */
static unsigned cpus_not_seeing(uint64_t va, uint64_t want_pa, unsigned ncpu)
{
	unsigned stale = 0;

	for (unsigned c = 0; c < ncpu; c++) {
		uint64_t pa = 0;
		if (tlb_model_translate(c, va, &pa) != 0 || pa != want_pa)
			stale++;
	}
	return stale;
}

static void test_tlb_shootdown_skipping_a_cpu_is_caught(void **state)
{
	uint64_t pa;

	(void)state;
	assert_int_equal(tlb_model_init(4, WIN, 8), 0);
	assert_int_equal(tlb_model_map(WIN, 0x10000), 0);
	for (unsigned c = 0; c < 4; c++)                    /* every CPU caches it */
		assert_int_equal(tlb_model_translate(c, WIN + 8, &pa), 0);
	assert_int_equal(pa, 0x10008);

	assert_int_equal(tlb_model_map(WIN, 0x20000), 0);   /* remap: PTE write only */
	assert_int_equal(cpus_not_seeing(WIN, 0x20000, 4), 4);
	for (unsigned c = 0; c < 4; c++)                    /* a correct shootdown */
		tlb_model_flush_page(c, WIN);
	assert_int_equal(cpus_not_seeing(WIN, 0x20000, 4), 0);

	assert_int_equal(tlb_model_map(WIN, 0x30000), 0);
	for (unsigned c = 0; c < 4; c++)                    /* a shootdown that skips CPU 2 */
		if (c != 2)
			tlb_model_flush_page(c, WIN);
	assert_int_equal(cpus_not_seeing(WIN, 0x30000, 4), 1);
	assert_int_equal(tlb_model_translate(2, WIN, &pa), 0);
	assert_int_equal(pa, 0x20000);                      /* CPU 2 still reads the old page */

	assert_int_equal(tlb_model_unmap(WIN), 0);
	tlb_model_flush_all(0);
	assert_int_equal(tlb_model_translate(0, WIN, &pa), -ENOENT);
	assert_int_equal(tlb_model_translate(1, WIN, &pa), 0);  /* unflushed: stale */
	assert_int_equal(tlb_model_map(WIN + 1, 0), -EINVAL);
	assert_int_equal(tlb_model_translate(0, WIN + 8 * 4096, &pa), -EINVAL);
	tlb_model_fini();
}

/* ---- PIT ------------------------------------------------------------------------------ */

static void test_pit_channel2_calibration_sequence(void **state)
{
	struct pit_host ph = { .now_ns = h_now, .fatal = h_fatal };
	uint16_t latch = 11932;             /* 10 ms at 1.193182 MHz */
	uint8_t lo, hi;

	(void)state;
	assert_int_equal(pit_model_init(&ph, &fb.bus), 0);
	pit_model_port61_write((pit_model_port61_read() & ~PIT_B_SPEAKER) | PIT_B_GATE2);   /* gate on, speaker off */
	pit_model_write(PIT_CMD - PIT_CH0, PIT_CMD_CH2 | PIT_CMD_LOHI | PIT_CMD_MODE0);
	pit_model_write(PIT_CH2 - PIT_CH0, (uint8_t)latch);
	pit_model_write(PIT_CH2 - PIT_CH0, (uint8_t)(latch >> 8));
	assert_false(pit_model_port61_read() & PIT_B_OUT2);
	now += 5000000;
	pit_model_write(PIT_CMD - PIT_CH0, PIT_CMD_CH2 | PIT_CMD_LATCH);
	lo = pit_model_read(PIT_CH2 - PIT_CH0);
	hi = pit_model_read(PIT_CH2 - PIT_CH0);
	assert_in_range((uint16_t)(lo | hi << 8), latch / 2 - 2, latch / 2 + 2);
	assert_false(pit_model_port61_read() & PIT_B_OUT2);
	now += 5000000 + 1000;
	assert_true(pit_model_port61_read() & PIT_B_OUT2);                        /* OUT2 high */
	assert_true(fake_bus_pio_read(&fb, PIT_PORT_B, 1) & PIT_B_OUT2);          /* the claimed port */
	ASSERT_FATAL(fake_bus_pio_read(&fb, PIT_CH0, 2), "8-bit device");
	ASSERT_FATAL(pit_model_write(PIT_CMD - PIT_CH0, PIT_CMD_CH2 | PIT_CMD_LOHI | PIT_CMD_MODE3 | PIT_CMD_BCD), "BCD");
}

/* ---- attachment: the models' own claims on the bus ------------------------------------- */

/* One page, one MSR range for every CPU: the bus says which CPU accesses. */
static void test_lapic_banked_by_accessing_cpu(void **state)
{
	(void)state;
	fb.cpu = 2;
	assert_int_equal(fake_bus_mmio_read(&fb, 0xFEE00000ull + APIC_ID, 4), 2u << 24);
	assert_false(fake_bus_rdmsr(&fb, MSR_IA32_APIC_BASE) & APIC_BASE_BSP);
	fb.cpu = 0;
	assert_int_equal(fake_bus_mmio_read(&fb, 0xFEE00000ull + APIC_ID, 4), 0);
	assert_true(fake_bus_rdmsr(&fb, MSR_IA32_APIC_BASE) & APIC_BASE_BSP);
	fb.cpu = -1;
	ASSERT_FATAL(fake_bus_mmio_read(&fb, 0xFEE00000ull + APIC_ID, 4), "not a simulated CPU");
	/* The I/O APIC claimed its window too, and a second LAPIC page there is refused. */
	assert_true(fake_bus_mmio_claimed(&fb, 0xFEC00000ull, IOAPIC_MMIO_LEN));
	assert_int_equal(fake_bus_claims(&fb), 5);     /* page, 3 MSR ranges, I/O APIC */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_sipi_without_init_is_ignored, setup),
		cmocka_unit_test_setup(test_sipi_right_after_init_is_ignored, setup),
		cmocka_unit_test_setup(test_init_sipi_sipi_starts_once, setup),
		cmocka_unit_test_setup(test_ignore_first_sipi_needs_the_second, setup),
		cmocka_unit_test_setup(test_esr_send_error_latches_on_esr_write, setup),
		cmocka_unit_test_setup(test_init_to_running_cpu_is_fatal, setup),
		cmocka_unit_test_setup(test_x2apic_transitions, setup),
		cmocka_unit_test_setup(test_x2apic_gp_rules, setup),
		cmocka_unit_test_setup(test_xapic_access_rules, setup),
		cmocka_unit_test_setup(test_lvt_stays_masked_while_software_disabled, setup),
		cmocka_unit_test_setup(test_fixed_ipi_priority_tpr_eoi, setup),
		cmocka_unit_test_setup(test_fixed_ipi_to_parked_or_disabled_cpu_is_dropped, setup),
		cmocka_unit_test_setup(test_shorthands_and_illegal_vector, setup),
		cmocka_unit_test_setup(test_delivery_status_and_icr_while_busy, setup),
		cmocka_unit_test_setup(test_spurious_storm_after_enable, setup),
		cmocka_unit_test_setup(test_timer_oneshot_and_periodic, setup),
		cmocka_unit_test_setup(test_timer_tsc_deadline, setup),
		cmocka_unit_test_setup(test_no_tsc_deadline_cpuid_means_gp, setup),
		cmocka_unit_test_setup(test_ioapic_routes_edge_and_level, setup),
		cmocka_unit_test(test_tlb_shootdown_skipping_a_cpu_is_caught),
		cmocka_unit_test_setup(test_pit_channel2_calibration_sequence, setup),
		cmocka_unit_test_setup(test_lapic_banked_by_accessing_cpu, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
