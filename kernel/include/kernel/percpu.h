/* percpu.h — per-CPU data, one slot per CPU index (hal_cpu_index()), up to
 * HAL_MAX_CPUS (256). A slot is written by the boot CPU before that CPU starts and
 * afterwards mostly by its own CPU; fields other CPUs read are accessed through
 * kernel/atomic.h. Publication order of a new CPU: docs/smp.md "Bring-up order". */
#ifndef KERNEL_PERCPU_H
#define KERNEL_PERCPU_H
#include <stdint.h>
#include <hal/hal.h>
#include <kernel/cpumask.h>
#include <kernel/irq.h>

enum cpu_state {
	CPU_ABSENT = 0,             /* no CPU behind this index */
	CPU_BOOTING,                /* prepared, INIT-SIPI-SIPI sent or about to be */
	CPU_ONLINE,                 /* its AP entry won the race against the timeout */
	CPU_FAILED,                 /* never answered (or answered too late): parked */
};

#define NUMA_NODE_NONE 0xFFFFFFFFu

/* Channels: generic calls, TLB shootdowns, and parallel runs (tests/benchmarks
 * start work on every CPU over RUN; that work may then use CALL and TLB). */
enum xcall_chan { XCALL_CALL = 0, XCALL_TLB = 1, XCALL_RUN = 2, XCALL_NCHAN };

/* A cross-CPU request a CPU publishes in its own slot: fn and arg are written
 * before the target's inbox bit (release), so a target that takes the bit
 * (acquire) reads them whole; done collects the targets that finished. */
struct xcall_req {
	uint64_t fn;                /* void (*)(uint64_t arg) */
	uint64_t arg;
	struct cpumask done;
};

/* What the boot CPU did to start this AP (checked by the smp suite: seed K39-K46). */
struct ap_boot_record {
	uint64_t t_init, t_sipi[2], t_online;   /* TSC */
	uint32_t icr_init, icr_sipi[2];         /* ICR low words sent */
	uint32_t nsipi, esr_clears, nesr_reads;
	uint32_t esr_after[2];
	uint32_t numa_at_online;                /* numa_node seen when it went online */
	int32_t error;                          /* 0, or why it failed */
};

struct irq_slot {
	uint64_t fn;                /* irq_handler_fn; published with release */
	uint64_t arg;
};

struct percpu {
	uint32_t index;
	uint32_t apic_id;
	uint32_t numa_node;         /* from SRAT; recorded before the CPU goes online (K8) */
	uint32_t rsvd0;
	uint64_t state;             /* enum cpu_state, atomic */
	struct vec_space vecs;      /* its vector allocator */
	struct irq_slot *handlers;  /* [VEC_NALLOC], allocated by irq_cpu_prepare */
	uint32_t irq_ready;         /* 1 once its LAPIC is set up: it can take interrupts */
	uint64_t irq_total, irq_spurious, irq_error, irq_unhandled, irq_eoi;
	uint32_t last_esr;
	uint32_t esr_pending;       /* ESR bits the error interrupt read, not yet collected */
	uint32_t timer_mode;        /* LVT timer mode bits it runs in */
	uint64_t ticks;             /* timer ticks taken on this CPU */
	uint64_t tsc_next_deadline;
	uint64_t tlb_flushes;       /* shootdown requests this CPU carried out */
	struct cpumask xcall_inbox[XCALL_NCHAN];   /* CPUs with a request for us */
	struct xcall_req xcall_out[XCALL_NCHAN];   /* our own request, one per channel */
	uint32_t xcall_busy[XCALL_NCHAN];
	struct ap_boot_record boot;
} __attribute__((aligned(64)));

extern struct percpu percpu_data[HAL_MAX_CPUS];

static inline struct percpu *percpu_of(unsigned cpu)
{
	return &percpu_data[cpu];
}

static inline struct percpu *this_cpu(void)
{
	return &percpu_data[hal_cpu_index()];
}
#endif
