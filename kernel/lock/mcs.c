/*
 * mcs.c — MCS queue spinlock (Mellor-Crummey and Scott, "Algorithms for Scalable
 * Synchronization on Shared-Memory Multiprocessors", ACM TOCS 9(1), 1991, Fig. 5),
 * with per-CPU queue nodes encoded in a 32-bit tail as Linux's qspinlock encodes
 * them. Every shared access goes through kernel/atomic.h, so det mode interleaves
 * at each step; each barrier says what it orders.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/lockdep.h>
#include <kernel/mcs.h>
#include <kernel/panic.h>
#include <kernel/preempt.h>

struct mcs_node {
	uint64_t next;              /* the waiter queued behind us (struct mcs_node *), 0 none */
	uint32_t wait;              /* 1 while we wait; the predecessor's handoff stores 0 */
	uint32_t rsvd0;
} __attribute__((aligned(64)));

static struct mcs_node nodes[HAL_MAX_CPUS][MCS_NODES_PER_CPU];
static uint8_t nodes_used[HAL_MAX_CPUS];   /* bit i: nodes[cpu][i] in use; own CPU only, irqs off */

static uint32_t encode(unsigned cpu, unsigned idx)
{
	return cpu * MCS_NODES_PER_CPU + idx + 1;
}

static struct mcs_node *decode(uint32_t tail)
{
	return &nodes[(tail - 1) / MCS_NODES_PER_CPU][(tail - 1) % MCS_NODES_PER_CPU];
}

void mcs_init_key(struct mcs_lock *l, const char *name, const struct lockdep_key *key)
{
	*l = (struct mcs_lock)MCS_LOCK_INIT(name);
	lockdep_map_init(&l->dep, name, key);
}

void mcs_lock_at(struct mcs_lock *l, const char *site)
{
	unsigned long flags = hal_irq_save();
	unsigned cpu = hal_cpu_index(), idx = 0;
	unsigned dep_flags = 0;
	preempt_counts[cpu]++;                   /* no preemption while held, like spin_lock */

	lockdep_before_wait(&l->dep, site);
	while (idx < MCS_NODES_PER_CPU && (nodes_used[cpu] & (1u << idx)))
		idx++;
	if (idx == MCS_NODES_PER_CPU)
		panic("mcs_lock(%s) at %s: CPU %u already holds %u MCS locks (the most it has nodes for)",
		      l->name ? l->name : "?", site, cpu, MCS_NODES_PER_CPU);
	nodes_used[cpu] |= (uint8_t)(1u << idx);
	struct mcs_node *me = &nodes[cpu][idx];
	uint32_t mine = encode(cpu, idx);

	/* Initialise the node before publishing it in the tail. */
	atomic_store64(&me->next, 0, MO_RELAXED);
	atomic_store32(&me->wait, 1, MO_RELAXED);
	/* acq_rel: release publishes the initialised node to whoever queues behind
	 * us (it writes our next); acquire orders us after the previous tail's owner. */
	uint32_t prev = atomic_xchg32(&l->tail, mine, MO_ACQ_REL);
	if (prev) {
		dep_flags = LOCKDEP_CONTENDED;
		/* release: our node's initialisation happens-before the predecessor's
		 * handoff store to our wait word */
		atomic_store64(&decode(prev)->next, (uint64_t)(uintptr_t)me, MO_RELEASE);
		/* acquire: pairs with the handoff's release; the previous holder's
		 * critical section happens-before ours */
		while (atomic_load32(&me->wait, MO_ACQUIRE))
			hal_cpu_relax();
	}
	atomic_store32(&l->owner_cpu, cpu, MO_RELAXED);
	l->node = mine;
	l->irq_flags = flags;
	lockdep_acquire(&l->dep, site, dep_flags);
}

void mcs_unlock(struct mcs_lock *l)
{
	unsigned cpu = hal_cpu_index();
	if (atomic_load32(&l->owner_cpu, MO_RELAXED) != cpu || !l->node)
		panic("mcs_unlock of %s, which CPU %u does not hold", l->name ? l->name : "?", cpu);
	/* Read what is ours before the handoff: the next holder overwrites it. */
	unsigned long flags = l->irq_flags;
	uint32_t mine = l->node;
	struct mcs_node *me = decode(mine);

	lockdep_release(&l->dep);
	l->node = 0;
	atomic_store32(&l->owner_cpu, ~0u, MO_RELAXED);
	/* acquire: the successor's node initialisation happens-before we write to it */
	uint64_t next = atomic_load64(&me->next, MO_ACQUIRE);
	if (!next) {
		uint32_t expect = mine;
		/* release: our critical section happens-before the next taker's (who
		 * finds the tail empty and does not wait) */
		if (atomic_cas32(&l->tail, &expect, 0, MO_RELEASE, MO_RELAXED))
			goto out;
		/* Someone swapped the tail but has not linked behind us yet. */
		while (!(next = atomic_load64(&me->next, MO_ACQUIRE)))
			hal_cpu_relax();
	}
	/* release: our critical section happens-before the successor's (the handoff) */
	atomic_store32(&((struct mcs_node *)(uintptr_t)next)->wait, 0, MO_RELEASE);
out:
	nodes_used[cpu] &= (uint8_t)~(1u << ((mine - 1) % MCS_NODES_PER_CPU));
	preempt_counts[cpu]--;
	hal_irq_restore(flags);
}

bool mcs_is_held_by_me(const struct mcs_lock *l)
{
	return atomic_load32(&l->owner_cpu, MO_RELAXED) == hal_cpu_index();
}

unsigned mcs_tail_cpu(const struct mcs_lock *l)
{
	uint32_t t = atomic_load32(&l->tail, MO_RELAXED);
	return t ? (t - 1) / MCS_NODES_PER_CPU : HAL_MAX_CPUS;
}
