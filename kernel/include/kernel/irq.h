/* irq.h — interrupt vectors: the per-CPU vector allocator (lock-free, aligned
 * power-of-two blocks for multi-message MSI), per-CPU handler tables and the
 * kernel's fixed vectors. irq_dispatch (hal.h) is defined in kernel/apic/irq.c.
 * Vector map and rules: docs/smp.md "Fixed numbers"; Intel SDM Vol. 3A §6.2. */
#ifndef KERNEL_IRQ_H
#define KERNEL_IRQ_H
#include <stdbool.h>
#include <stdint.h>

/* Allocatable range; everything above is fixed (docs/smp.md). */
#define VEC_FIRST 0x20
#define VEC_LAST 0xEF
#define VEC_NALLOC (VEC_LAST - VEC_FIRST + 1)      /* 208 */
#define VEC_MAX_BLOCK 32                            /* PCI MSI: up to 32 messages */
#define VEC_TIMER 0xF0
#define VEC_CALL 0xF1
#define VEC_TLB 0xF2
#define VEC_RESCHED 0xF3
#define VEC_RUN 0xF4                               /* parallel runs (smp_run_parallel) */
#define VEC_APIC_ERROR 0xFE
#define VEC_SPURIOUS 0xFF

/* The handler of a fixed system vector (VEC_TIMER, VEC_CALL, VEC_TLB, VEC_RUN),
 * installed by the subsystem that owns it (time, cross-calls) before it can fire;
 * the same on every CPU. A system vector with no handler counts as unhandled. */
typedef void (*irq_system_fn)(void);
void irq_set_system_handler(uint8_t vector, irq_system_fn fn);

/* Called by irq_dispatch around every interrupt but the spurious one: enter first,
 * exit last (after the EOI, so a context switch there leaves no vector in
 * service). The scheduler installs them (preemption on the way out, docs/sched.md);
 * one dispatch uses the pair it saw at entry. */
struct irq_hooks {
	void (*enter)(void);
	void (*exit)(void);
};
void irq_set_hooks(const struct irq_hooks *h);

/* ---- the allocator core: one bitmap, pure (unit-tested on the host) ---------------- */

#define VEC_WORDS 4
struct vec_space {
	uint64_t bits[VEC_WORDS];   /* bit (v - VEC_FIRST) set = vector v taken; tail bits preset */
};

void vec_space_init(struct vec_space *s);
/* Take `count` (a power of two, 1..32) free vectors whose first is aligned to count,
 * with compare-and-swap only (no lock): 0 and *first, -EINVAL for a bad count,
 * -ENOSPC when no such block is free. Never panics. */
int vec_space_alloc(struct vec_space *s, unsigned count, uint8_t *first);
/* Take exactly [vec, vec+count): 0, -EINVAL (outside the range/unaligned), -EBUSY. */
int vec_space_reserve(struct vec_space *s, uint8_t vec, unsigned count);
/* Give [first, first+count) back. -EINVAL (logged, nothing changed) when any of them
 * is not taken: a double free or a free on the wrong CPU. */
int vec_space_free(struct vec_space *s, uint8_t first, unsigned count);
bool vec_space_is_taken(const struct vec_space *s, uint8_t vec);
unsigned vec_space_free_count(const struct vec_space *s);

/* ---- vectors with handlers, owned by one CPU ------------------------------------------ */

typedef void (*irq_handler_fn)(uint8_t vector, void *arg);

/* What a driver keeps for its interrupt: the CPU that owns the vector block travels
 * with it, so freeing always happens on that CPU's bitmap (seed P19-2: a close()
 * that freed on the boot CPU leaked vectors on the others). */
struct irq_vec {
	uint16_t cpu;
	uint8_t vector;             /* first vector of the block; 0 = none */
	uint8_t count;
};

/* Allocate a block on `cpu` and install fn(vector, arg) for each of its vectors.
 * Any context but IRQ; 0, -EINVAL (bad cpu/count/fn), -ENOSPC. */
int irq_alloc(unsigned cpu, unsigned count, irq_handler_fn fn, void *arg, struct irq_vec *out);
/* Same for one given vector (tests, all-CPU vectors): -EBUSY when taken. */
int irq_reserve(unsigned cpu, uint8_t vector, irq_handler_fn fn, void *arg, struct irq_vec *out);
/* Remove the handler and free the block on h->cpu, whichever CPU calls. The source
 * must be quiet (masked) first. 0 or -EINVAL (not allocated). h is cleared. */
int irq_free(struct irq_vec *h);
/* Move the block to another online CPU (affinity, seed T1.5): allocate there with
 * the same handler, call reprogram(new, ctx) so the source (MSI data, I/O APIC
 * entry) targets it (NULL: nothing to reprogram), update *h, then free the old
 * block on its own CPU. -EINVAL for a CPU that is not online (h unchanged, logged),
 * -ENOSPC, or reprogram's error (nothing changed). */
int irq_set_affinity(struct irq_vec *h, unsigned cpu,
		     int (*reprogram)(const struct irq_vec *nh, void *ctx), void *ctx);
/* The allocator of a CPU (tests and diagnostics). */
struct vec_space *irq_vec_space(unsigned cpu);

/* Per-CPU interrupt counters (read from any CPU). */
struct irq_stats {
	uint64_t total, spurious, error, unhandled, eoi;
	uint32_t last_esr;
};
void irq_stats_get(unsigned cpu, struct irq_stats *out);

/* Prepare the handler table of a CPU (boot CPU at apic init, APs before start-up). */
int irq_cpu_prepare(unsigned cpu);
#endif
