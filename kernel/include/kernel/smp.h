/* smp.h — CPU bring-up (INIT-SIPI-SIPI, Intel SDM Vol. 3A §9.4.4), the online
 * mask, and cross-CPU calls over IPIs. Contracts: docs/smp.md. */
#ifndef KERNEL_SMP_H
#define KERNEL_SMP_H
#include <stdbool.h>
#include <stdint.h>
#include <kernel/cpumask.h>
#include <kernel/percpu.h>

struct acpi_madt_info;

#define SMP_AP_TIMEOUT_MS 1000      /* AP_READY must come within this after SIPI #2 */
#define SMP_CALL_TIMEOUT_US 10000000    /* default cross-call timeout: only a broken
					 * CPU (or a host starving an emulator's vCPU
					 * for seconds) gets near it */

/* Start every enabled MADT CPU (up to smp.max_cpus, none with smp.nosmp), all at
 * once (smp.parallel=1, the default) or one after the other (smp.parallel=0). A CPU
 * that fails is logged with its APIC ID and the reason, and boot goes on. Prints
 * the smp.* facts. Returns the number of CPUs online. Boot CPU, after apic and
 * time init. tsc_kmain is the TSC at kmain entry (for smp.online_us). */
unsigned smp_boot(const struct acpi_madt_info *madt, uint64_t tsc_kmain);
/* Mark the boot CPU itself online (apic init calls it). */
void smp_bsp_online(uint32_t apic_id);

bool cpu_online(unsigned cpu);
unsigned smp_online_count(void);
void smp_online_mask(struct cpumask *out);
unsigned smp_failed_count(void);
/* TSC when the last CPU went online, and the online time in microseconds. */
uint64_t smp_online_us(void);
/* Bring-up time in microseconds: the boot CPU's first AP INIT to the last AP online
 * (0 when no AP was started). smp.parallel=1|0 picks the parallel or sequential path. */
uint64_t smp_bringup_us(void);
/* Did smp_boot start the APs in parallel (smp.parallel=1)? */
bool smp_bringup_parallel(void);
/* Called (on the CPU going online) right after its online bit is set; the NUMA
 * node must already be readable there (seed K8). One hook; tests use it. */
void smp_set_online_hook(void (*fn)(unsigned cpu));

/* Run fn(arg) on every CPU of targets that is online (the caller too, if in the
 * set, directly) and wait until all have returned. While waiting the caller
 * serves requests sent to itself, so two CPUs calling each other with interrupts
 * off cannot deadlock. 0; -ETIMEDOUT when some CPU never took the request within
 * timeout_us: *failed_cpu (if not NULL) gets the lowest such CPU, which is logged;
 * -EBUSY when called from inside a call on the same channel. Not from IRQ context
 * of a cross-call on the same channel. fn runs with interrupts disabled. */
int smp_call(const struct cpumask *targets, void (*fn)(uint64_t), uint64_t arg,
	     uint64_t timeout_us, unsigned *failed_cpu);
/* Run fn(arg) on every CPU of targets at once, caller included, over the RUN
 * channel, and wait: the work may itself use smp_call and tlb_shootdown (tests and
 * benchmarks). Same returns as smp_call. */
int smp_run_parallel(const struct cpumask *targets, void (*fn)(uint64_t), uint64_t arg,
		     uint64_t timeout_us, unsigned *failed_cpu);
/* Run fn(arg) on every online CPU of targets in thread context — interrupts on,
 * no vector in service, so the work may sleep or wait for device interrupts
 * (smp_run_parallel's work runs inside an IPI handler and cannot). The caller's
 * own CPU runs its part in place; every other CPU's part runs in a kernel thread
 * pinned to it ("run<cpu>"), joined before the return. Returns when every part
 * finished (no timeout: the work bounds itself). 0, or -ENOMEM when a thread
 * could not be made (logged; the parts already started are joined first). Not
 * from IRQ context. */
int smp_run_threads(const struct cpumask *targets, void (*fn)(uint64_t), uint64_t arg);
/* The same over an explicit channel (XCALL_TLB is used by kernel/smp/tlb.c). */
int xcall_run(enum xcall_chan ch, const struct cpumask *targets, void (*fn)(uint64_t),
	      uint64_t arg, uint64_t timeout_us, unsigned *failed_cpu);
/* Carry out the requests waiting for the calling CPU on channel ch (IPI handler). */
void xcall_handle(enum xcall_chan ch);
/* Serve every channel's waiting requests (busy-wait loops call it). */
void xcall_poll(void);
/* The calling CPU's boot flow becomes its idle thread and never returns (kmain
 * after it started its kmain thread; APs once online). docs/sched.md. */
void smp_idle_loop(void) __attribute__((noreturn));
/* Hand the cross-call vectors to the interrupt layer (kmain, before any IPI). */
void xcall_init(void);
#endif
