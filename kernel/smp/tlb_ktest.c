/*
 * tlb_ktest.c — the `tlb` ktest suite over the HAL's vmap window (docs/smp.md):
 * map page A, let every CPU read it, remap to B, shoot down, every CPU must read
 * B; the initiator waits for every target; concurrent shootdowns from all CPUs
 * (seed K3: a torn or overwritten range left stale entries); the range encoding;
 * and a stress whose duration `stress.seconds=` sets.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/errno.h>
#include <kernel/ktest.h>
#include <kernel/pmm.h>
#include <kernel/smp.h>
#include <kernel/time.h>
#include <kernel/tlb.h>
#include <kernel/ktest_smp.h>

#define TAG(page, gen) (0xD0BB1E0000000000ull | ((uint64_t)(page) << 16) | (gen))

static void tlb_range_encoding(struct ktest *t)
{
	uintptr_t va;
	size_t n;
	const uintptr_t vas[] = { 0x1000, 0x7FFFFFFFF000ull, 0xFFFF800000000000ull, 0xFFFFFFFF80201000ull };
	const size_t counts[] = { 1, 2, 32, 33, TLB_MAX_PAGES };
	for (unsigned i = 0; i < sizeof vas / sizeof vas[0]; i++)
		for (unsigned j = 0; j < sizeof counts / sizeof counts[0]; j++) {
			tlb_range_unpack(tlb_range_pack(vas[i], counts[j]), &va, &n);
			KTEST_EXPECT_EQ(t, va, vas[i]);
			KTEST_EXPECT_EQ(t, n, counts[j]);
		}
	tlb_range_unpack(tlb_range_pack(0x1000, TLB_MAX_PAGES + 1), &va, &n);
	KTEST_EXPECT_EQ(t, n, 0);       /* too large to pack: everything */
	tlb_range_unpack(tlb_range_pack(0x1000, 0), &va, &n);
	KTEST_EXPECT_EQ(t, n, 0);
}

static uint64_t *page_ptr(uint64_t pa)
{
	return (uint64_t *)hal_phys_to_virt(pa);
}

static uint64_t read_val[HAL_MAX_CPUS];

static void read_through(uint64_t va)
{
	uint64_t *p = hal_vmap_access((uintptr_t)va);
	atomic_store64(&read_val[hal_cpu_index()], p ? *(volatile uint64_t *)p : 0, MO_RELEASE);
}

static int remap(uintptr_t va, uint64_t pa)
{
	hal_vmap_unmap(va);
	return hal_vmap_map(va, pa);
}

static void tlb_remap_seen_by_every_cpu(struct ktest *t)
{
	size_t len;
	uintptr_t win = hal_vmap_window(&len);
	KTEST_ASSERT(t, win && len >= 4096);
	uint64_t a = pmm_alloc_page(), b = pmm_alloc_page();
	KTEST_ASSERT(t, a && b);
	*page_ptr(a) = TAG(0, 0xA);
	*page_ptr(b) = TAG(0, 0xB);
	struct cpumask m;
	smp_online_mask(&m);
	KTEST_ASSERT(t, remap(win, a) == 0);
	KTEST_ASSERT(t, tlb_shootdown(win, 1, 0) == 0);
	KTEST_ASSERT(t, smp_call(&m, read_through, win, SMP_CALL_TIMEOUT_US, 0) == 0);
	for_each_cpu(c, &m)
		KTEST_EXPECT_EQ(t, atomic_load64(&read_val[c], MO_ACQUIRE), TAG(0, 0xA));
	KTEST_ASSERT(t, remap(win, b) == 0);
	KTEST_ASSERT(t, tlb_shootdown(win, 1, 0) == 0);
	KTEST_ASSERT(t, smp_call(&m, read_through, win, SMP_CALL_TIMEOUT_US, 0) == 0);
	for_each_cpu(c, &m) {
		uint64_t v = atomic_load64(&read_val[c], MO_ACQUIRE);
		if (v != TAG(0, 0xB))
			ktest_fail_at(t, __FILE__, __LINE__, "CPU %u still reads 0x%llx after the shootdown", c,
				      (unsigned long long)v);
	}
	/* Control: without a shootdown a CPU may keep the old page; say how many did
	 * (the checker is only meaningful when stale reads can be seen at all). */
	KTEST_ASSERT(t, remap(win, a) == 0);
	hal_tlb_flush_page(win);
	smp_call(&m, read_through, win, SMP_CALL_TIMEOUT_US, 0);
	unsigned stale = 0;
	for_each_cpu(c, &m)
		stale += atomic_load64(&read_val[c], MO_ACQUIRE) == TAG(0, 0xB);
	ktest_log(t, "control: %u of %u CPUs read the old page without a shootdown", stale, cpumask_weight(&m));
	hal_vmap_unmap(win);
	tlb_shootdown(win, 1, 0);
	pmm_free_pages(a, 1);
	pmm_free_pages(b, 1);
}

static void tlb_initiator_waits_for_all(struct ktest *t)
{
	static uint64_t before[HAL_MAX_CPUS];
	struct cpumask m;
	smp_online_mask(&m);
	for (int round = 0; round < 20; round++) {
		for_each_cpu(c, &m)
			before[c] = tlb_flush_count(c);
		KTEST_ASSERT(t, tlb_shootdown(0xFFFF800000000000ull, 1, 0) == 0);
		for_each_cpu(c, &m)
			if (tlb_flush_count(c) < before[c] + 1) {
				ktest_fail_at(t, __FILE__, __LINE__, "round %d: CPU %u had not flushed when the "
					      "shootdown returned", round, c);
				return;
			}
	}
}

/* ---- concurrent shootdowns: each CPU owns a window page and remaps it ---- */

struct conc {
	uintptr_t win;
	unsigned npages;            /* pages in use (<= CPUs, <= window) */
	uint64_t pa[2][64];         /* two backing pages per window page */
	uint64_t rounds, until_tsc;
	uint64_t errors, shootdown_errors, done_rounds;
	struct tu_barrier bar;
	unsigned slot_of[HAL_MAX_CPUS];
};
static struct conc cc;

static void conc_worker(uint64_t unused)
{
	unsigned me = hal_cpu_index();
	unsigned slot = cc.slot_of[me];
	uint64_t r = 0;
	for (;; r++) {
		bool more = cc.until_tsc ? hal_rdtsc() < cc.until_tsc || r < 2 : r < cc.rounds;
		/* everyone agrees on the round count through the barrier below */
		if (slot < cc.npages) {
			uintptr_t va = cc.win + slot * 4096ull;
			if (remap(va, cc.pa[r & 1][slot]) != 0 || tlb_shootdown(va, 1, 0) != 0)
				atomic_fetch_add64(&cc.shootdown_errors, 1, MO_RELAXED);
		}
		if (!tu_barrier_wait(&cc.bar, 30000000)) {
			atomic_fetch_add64(&cc.errors, 1, MO_RELAXED);
			return;
		}
		for (unsigned p = 0; p < cc.npages; p++) {
			volatile uint64_t *q = hal_vmap_access(cc.win + p * 4096ull);
			if (!q || *q != TAG(p, r & 1))
				atomic_fetch_add64(&cc.errors, 1, MO_RELAXED);
		}
		/* the decision to stop is taken by CPU 0 only, then shared */
		if (me == 0)
			atomic_store64(&cc.done_rounds, more ? 0 : r + 1, MO_RELEASE);
		if (!tu_barrier_wait(&cc.bar, 30000000)) {
			atomic_fetch_add64(&cc.errors, 1, MO_RELAXED);
			return;
		}
		if (atomic_load64(&cc.done_rounds, MO_ACQUIRE))
			return;
		if (!tu_barrier_wait(&cc.bar, 30000000))
			return;
	}
}

static void run_concurrent(struct ktest *t, uint64_t stress_us)
{
	size_t len;
	struct cpumask m;
	smp_online_mask(&m);
	unsigned n = cpumask_weight(&m);
	cc.win = hal_vmap_window(&len);
	KTEST_ASSERT(t, cc.win && len >= 4096);
	cc.npages = (unsigned)(len / 4096);
	if (cc.npages > n)
		cc.npages = n;
	if (cc.npages > 64)
		cc.npages = 64;
	unsigned slot = 0;
	for_each_cpu(c, &m)
		cc.slot_of[c] = slot++;
	for (unsigned p = 0; p < cc.npages; p++)
		for (unsigned g = 0; g < 2; g++) {
			cc.pa[g][p] = pmm_alloc_page();
			KTEST_ASSERT(t, cc.pa[g][p]);
			*page_ptr(cc.pa[g][p]) = TAG(p, g);
		}
	cc.rounds = n > 64 ? 2 : 16;
	cc.until_tsc = stress_us ? hal_rdtsc() + stress_us * time_tsc_khz() / 1000 : 0;
	atomic_store64(&cc.errors, 0, MO_RELAXED);
	atomic_store64(&cc.shootdown_errors, 0, MO_RELAXED);
	atomic_store64(&cc.done_rounds, 0, MO_RELAXED);
	tu_barrier_init(&cc.bar, n);
	KTEST_EXPECT_EQ(t, smp_run_parallel(&m, conc_worker, 0, stress_us + 120000000ull, 0), 0);
	KTEST_EXPECT_EQ(t, atomic_load64(&cc.errors, MO_ACQUIRE), 0);
	KTEST_EXPECT_EQ(t, atomic_load64(&cc.shootdown_errors, MO_ACQUIRE), 0);
	ktest_log(t, "%llu rounds, %u pages remapped concurrently by %u CPUs",
		  (unsigned long long)atomic_load64(&cc.done_rounds, MO_RELAXED), cc.npages, n);
	for (unsigned p = 0; p < cc.npages; p++) {
		hal_vmap_unmap(cc.win + p * 4096ull);
		for (unsigned g = 0; g < 2; g++)
			pmm_free_pages(cc.pa[g][p], 1);
	}
	tlb_shootdown(0, 0, 0);
}

static void tlb_concurrent_shootdowns(struct ktest *t)
{
	run_concurrent(t, 0);
}

static void tlb_stress(struct ktest *t)
{
	run_concurrent(t, tu_stress_us(200000));
}

static const struct ktest_case tlb_cases[] = {
	KTEST_CASE(tlb_range_encoding),
	KTEST_CASE(tlb_remap_seen_by_every_cpu),
	KTEST_CASE(tlb_initiator_waits_for_all),
	KTEST_CASE(tlb_concurrent_shootdowns),
	KTEST_CASE(tlb_stress),
};
KTEST_SUITE(tlb_suite, "tlb", tlb_cases);
