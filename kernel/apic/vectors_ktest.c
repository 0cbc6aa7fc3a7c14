/*
 * vectors_ktest.c — the `vectors` ktest suite: per-CPU vector bitmaps (seed T1.2:
 * one global table), aligned multi-message blocks, exhaustion as -ENOSPC, freeing
 * on the owning CPU (seed P19-2), double free, concurrent allocate/free from every
 * CPU with no double allocation, and moving a vector for affinity (seed T1.5).
 */
#include <hal/hal.h>
#include <kernel/apic.h>
#include <kernel/atomic.h>
#include <kernel/errno.h>
#include <kernel/irq.h>
#include <kernel/ktest.h>
#include <kernel/smp.h>
#include <kernel/ktest_smp.h>

static void noop_handler(uint8_t v, void *arg) {}

/* T1.2: a vector number taken on one CPU is still free on every other CPU. */
static void vectors_per_cpu_bitmaps(struct ktest *t)
{
	unsigned other = tu_last_online();
	if (other == 0) {
		ktest_skip(t, "needs two CPUs");
		return;
	}
	struct irq_vec a, b;
	unsigned before = vec_space_free_count(irq_vec_space(other));
	KTEST_ASSERT(t, irq_alloc(0, 1, noop_handler, 0, &a) == 0);
	KTEST_EXPECT_EQ(t, vec_space_free_count(irq_vec_space(other)), before);
	KTEST_EXPECT_EQ(t, irq_reserve(other, a.vector, noop_handler, 0, &b), 0);
	KTEST_EXPECT_EQ(t, irq_free(&a), 0);
	KTEST_EXPECT_EQ(t, irq_free(&b), 0);
}

static void vectors_aligned_blocks(struct ktest *t)
{
	struct vec_space s;
	uint8_t v;
	vec_space_init(&s);
	KTEST_EXPECT_EQ(t, vec_space_free_count(&s), VEC_NALLOC);
	KTEST_ASSERT(t, vec_space_reserve(&s, 0x21, 1) == 0);
	KTEST_ASSERT(t, vec_space_alloc(&s, 4, &v) == 0);
	KTEST_EXPECT_EQ(t, v % 4, 0);
	KTEST_EXPECT(t, v >= 0x24);     /* 0x20-0x23 holds 0x21: the block must skip it */
	KTEST_ASSERT(t, vec_space_alloc(&s, 32, &v) == 0);
	KTEST_EXPECT_EQ(t, v % 32, 0);
	for (unsigned i = 0; i < 32; i++)
		KTEST_EXPECT(t, vec_space_is_taken(&s, (uint8_t)(v + i)));
	KTEST_EXPECT_EQ(t, vec_space_alloc(&s, 3, &v), -EINVAL);
	KTEST_EXPECT_EQ(t, vec_space_alloc(&s, 64, &v), -EINVAL);
	KTEST_EXPECT_EQ(t, vec_space_alloc(&s, 0, &v), -EINVAL);
	KTEST_EXPECT_EQ(t, vec_space_free(&s, 0x22, 2), -EINVAL);  /* 0x22 not taken */
	KTEST_EXPECT_EQ(t, vec_space_reserve(&s, 0xF0, 1), -EINVAL);
}

static void vectors_exhaustion_is_enospc(struct ktest *t)
{
	struct vec_space s;
	uint8_t v;
	vec_space_init(&s);
	unsigned n = 0;
	while (vec_space_alloc(&s, 1, &v) == 0)
		n++;
	KTEST_EXPECT_EQ(t, n, VEC_NALLOC);
	KTEST_EXPECT_EQ(t, vec_space_alloc(&s, 1, &v), -ENOSPC);
	KTEST_EXPECT_EQ(t, vec_space_alloc(&s, 8, &v), -ENOSPC);
	KTEST_EXPECT_EQ(t, vec_space_free(&s, 0x80, 1), 0);
	KTEST_EXPECT_EQ(t, vec_space_alloc(&s, 1, &v), 0);
	KTEST_EXPECT_EQ(t, v, 0x80);

	/* The same on a real CPU's allocator: every vector, then -ENOSPC, then back. */
	unsigned cpu = tu_last_online();
	static struct irq_vec hs[VEC_NALLOC];
	unsigned k = 0;
	while (k < VEC_NALLOC && irq_alloc(cpu, 1, noop_handler, 0, &hs[k]) == 0)
		k++;
	struct irq_vec extra;
	KTEST_EXPECT_EQ(t, irq_alloc(cpu, 1, noop_handler, 0, &extra), -ENOSPC);
	KTEST_EXPECT_EQ(t, vec_space_free_count(irq_vec_space(cpu)), 0);
	for (unsigned i = 0; i < k; i++)
		KTEST_EXPECT_EQ(t, irq_free(&hs[i]), 0);
	ktest_log(t, "CPU %u had %u free vectors", cpu, k);
}

/* P19-2: close() freed on the boot CPU whatever CPU owned the vector. */
static void vectors_freed_on_owning_cpu(struct ktest *t)
{
	unsigned owner = tu_last_online();
	if (owner == hal_cpu_index()) {
		ktest_skip(t, "needs two CPUs");
		return;
	}
	/* A vector number free on the caller too (drivers hold vectors of their own). */
	struct irq_vec h, extra[32];
	unsigned nextra = 0;
	KTEST_ASSERT(t, irq_alloc(owner, 1, noop_handler, 0, &h) == 0);
	while (vec_space_is_taken(irq_vec_space(hal_cpu_index()), h.vector) && nextra < 32) {
		extra[nextra++] = h;
		KTEST_ASSERT(t, irq_alloc(owner, 1, noop_handler, 0, &h) == 0);
	}
	for (unsigned i = 0; i < nextra; i++)
		irq_free(&extra[i]);
	uint8_t vec = h.vector;
	/* make the same number busy on the caller, so a free on the wrong CPU would
	 * succeed there and go unnoticed by the return value alone */
	struct irq_vec mine;
	KTEST_ASSERT(t, irq_reserve(hal_cpu_index(), vec, noop_handler, 0, &mine) == 0);
	unsigned mine_free = vec_space_free_count(irq_vec_space(hal_cpu_index()));
	KTEST_EXPECT_EQ(t, irq_free(&h), 0);
	KTEST_EXPECT(t, !vec_space_is_taken(irq_vec_space(owner), vec));
	KTEST_EXPECT(t, vec_space_is_taken(irq_vec_space(hal_cpu_index()), vec));
	KTEST_EXPECT_EQ(t, vec_space_free_count(irq_vec_space(hal_cpu_index())), mine_free);
	KTEST_EXPECT_EQ(t, irq_free(&mine), 0);
}

static void vectors_double_free_rejected(struct ktest *t)
{
	struct irq_vec h, copy;
	unsigned cpu = hal_cpu_index();
	unsigned before = vec_space_free_count(irq_vec_space(cpu));
	KTEST_ASSERT(t, irq_alloc(cpu, 4, noop_handler, 0, &h) == 0);
	copy = h;
	KTEST_EXPECT_EQ(t, irq_free(&h), 0);
	KTEST_EXPECT_EQ(t, irq_free(&copy), -EINVAL);
	KTEST_EXPECT_EQ(t, irq_free(&h), -EINVAL);      /* cleared by the first free */
	KTEST_EXPECT_EQ(t, vec_space_free_count(irq_vec_space(cpu)), before);
}

/* Every CPU allocates and frees in one shared space; an owner table claimed with
 * CAS catches a vector handed out twice. */
static struct vec_space shared_space;
static uint64_t owner_of[256];
static uint64_t conflicts, ops, iters;

static void alloc_free_worker(uint64_t unused)
{
	unsigned me = hal_cpu_index();
	uint64_t rnd = 0x1234567ull + me, n = atomic_load64(&iters, MO_RELAXED);
	for (uint64_t i = 0; i < n; i++) {
		unsigned count = 1u << (tu_rand(&rnd) % 3);
		uint8_t v;
		if (vec_space_alloc(&shared_space, count, &v) != 0)
			continue;       /* full at this moment: fine */
		for (unsigned k = 0; k < count; k++) {
			uint64_t expect = 0;
			if (!atomic_cas64(&owner_of[v + k], &expect, me + 1, MO_ACQ_REL, MO_RELAXED))
				atomic_fetch_add64(&conflicts, 1, MO_RELAXED);
		}
		for (unsigned k = 0; k < count; k++)
			atomic_store64(&owner_of[v + k], 0, MO_RELEASE);
		if (vec_space_free(&shared_space, v, count) != 0)
			atomic_fetch_add64(&conflicts, 1, MO_RELAXED);
		atomic_fetch_add64(&ops, 1, MO_RELAXED);
	}
}

static void vectors_concurrent_alloc_free(struct ktest *t)
{
	struct cpumask m;
	smp_online_mask(&m);
	unsigned n = cpumask_weight(&m);
	vec_space_init(&shared_space);
	for (unsigned i = 0; i < 256; i++)
		owner_of[i] = 0;
	atomic_store64(&conflicts, 0, MO_RELAXED);
	atomic_store64(&ops, 0, MO_RELAXED);
	atomic_store64(&iters, n > 64 ? 200 : 20000 / n, MO_RELEASE);
	KTEST_ASSERT(t, smp_run_parallel(&m, alloc_free_worker, 0, 60000000, 0) == 0);
	KTEST_EXPECT_EQ(t, atomic_load64(&conflicts, MO_ACQUIRE), 0);
	KTEST_EXPECT_EQ(t, vec_space_free_count(&shared_space), VEC_NALLOC);
	ktest_log(t, "%llu allocate/free pairs on %u CPUs", (unsigned long long)atomic_load64(&ops, MO_RELAXED), n);
}

static uint64_t ran_on;

static void record_cpu(uint8_t v, void *arg)
{
	atomic_store64(&ran_on, hal_cpu_index() + 1, MO_RELEASE);
}

/* T1.5: affinity validated and applied; the old vector freed on its own CPU. */
static void vectors_affinity_move(struct ktest *t)
{
	unsigned from = hal_cpu_index(), to = tu_last_online();
	if (to == from) {
		ktest_skip(t, "needs two CPUs");
		return;
	}
	struct irq_vec h;
	KTEST_ASSERT(t, irq_alloc(from, 1, record_cpu, 0, &h) == 0);
	struct irq_vec before = h;
	KTEST_EXPECT_EQ(t, irq_set_affinity(&h, HAL_MAX_CPUS + 5, 0, 0), -EINVAL);
	unsigned off = tu_first_offline();
	if (off < HAL_MAX_CPUS)
		KTEST_EXPECT_EQ(t, irq_set_affinity(&h, off, 0, 0), -EINVAL);
	KTEST_EXPECT(t, h.cpu == before.cpu && h.vector == before.vector);
	KTEST_ASSERT(t, irq_set_affinity(&h, to, 0, 0) == 0);
	KTEST_EXPECT_EQ(t, h.cpu, to);
	KTEST_EXPECT(t, !vec_space_is_taken(irq_vec_space(from), before.vector));
	KTEST_EXPECT(t, vec_space_is_taken(irq_vec_space(to), h.vector));
	atomic_store64(&ran_on, 0, MO_RELAXED);
	KTEST_EXPECT_EQ(t, ipi_send(to, h.vector), 0);
	KTEST_EXPECT(t, tu_wait_ge(&ran_on, 1, 1000000));
	KTEST_EXPECT_EQ(t, atomic_load64(&ran_on, MO_ACQUIRE), to + 1);
	KTEST_EXPECT_EQ(t, irq_free(&h), 0);
}

/* P19-2's scarcity: after boot every CPU still has (nearly) all its vectors. */
static void vectors_free_after_boot(struct ktest *t)
{
	struct cpumask m;
	smp_online_mask(&m);
	for_each_cpu(c, &m) {
		unsigned f = vec_space_free_count(irq_vec_space(c));
		if (f + 16 < VEC_NALLOC)
			ktest_fail_at(t, __FILE__, __LINE__, "CPU %u has only %u free vectors of %u", c, f, VEC_NALLOC);
	}
}

static const struct ktest_case vectors_cases[] = {
	KTEST_CASE(vectors_per_cpu_bitmaps),
	KTEST_CASE(vectors_aligned_blocks),
	KTEST_CASE(vectors_exhaustion_is_enospc),
	KTEST_CASE(vectors_freed_on_owning_cpu),
	KTEST_CASE(vectors_double_free_rejected),
	KTEST_CASE(vectors_concurrent_alloc_free),
	KTEST_CASE(vectors_affinity_move),
	KTEST_CASE(vectors_free_after_boot),
};
KTEST_SUITE(vectors_suite, "vectors", vectors_cases);
