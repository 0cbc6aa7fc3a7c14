/*
 * ipi.c — inter-processor interrupts: fixed, all-but-self and self (Intel SDM
 * Vol. 3A §11.6). The cross-CPU calls built on them are kernel/smp/xcall.c.
 */
#include <hal/hal.h>
#include <kernel/apic.h>
#include <kernel/atomic.h>
#include <kernel/errno.h>
#include <kernel/log.h>
#include <kernel/percpu.h>
#include <hw/x86/lapic.h>

int ipi_send(unsigned cpu, uint8_t vector)
{
	if (cpu >= HAL_MAX_CPUS)
		return -EINVAL;
	return lapic_send_icr(apic_icr_fixed(vector, APIC_ICR_SH_NONE), percpu_of(cpu)->apic_id);
}

int ipi_send_allbutself(uint8_t vector)
{
	return lapic_send_icr(apic_icr_fixed(vector, APIC_ICR_SH_ALL_BUT_SELF), 0);
}

int ipi_send_self(uint8_t vector)
{
	if (apic_mode() == APIC_MODE_X2APIC) {
		hal_wrmsr(APIC_X2_SELF_IPI_MSR, vector);    /* SDM §11.12.11 (seed K44) */
		return 0;
	}
	return lapic_send_icr(apic_icr_fixed(vector, APIC_ICR_SH_SELF), 0);
}
