/*
 * ctx_ktest.c — the `ctx` suite: the HAL context group (hal.h "contexts") used
 * directly, without the scheduler: two contexts ping-pong N times on every CPU at
 * once, a context created on one CPU first runs on another and then moves back,
 * contexts are destroyed once switched away for good, and odd names are accepted.
 * Every switch runs with interrupts disabled, as the contract says.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/cpumask.h>
#include <kernel/heap.h>
#include <kernel/ktest.h>
#include <kernel/ktest_smp.h>
#include <kernel/sched.h>
#include <kernel/smp.h>

#define PP_ROUNDS 200
#define PP_CPUS 64
#define CTX_STACK 16384
#define RUN_TIMEOUT_US 30000000ull

/* One ping-pong pair: A counts and switches to B, B counts and switches back to
 * A; after PP_ROUNDS A returns to whoever started it (back). */
struct pp {
	struct hal_ctx *a, *b, *back;
	uint64_t na, nb;
	uint32_t cpu_a, cpu_b;          /* CPU each last ran on */
	uint32_t wrong_cpu;             /* a round ran on another CPU than its starter */
	uint32_t done;
};

static void pp_a(void *arg)
{
	struct pp *p = arg;
	for (;;) {
		for (int i = 0; i < PP_ROUNDS; i++) {
			p->na++;
			if (hal_cpu_index() != p->cpu_a)
				p->wrong_cpu++;
			hal_ctx_switch(p->a, p->b);
		}
		p->done = 1;
		hal_ctx_switch(p->a, p->back);  /* a fresh start switches here again */
	}
}

static void pp_b(void *arg)
{
	struct pp *p = arg;
	for (;;) {
		p->nb++;
		p->cpu_b = hal_cpu_index();
		if (p->cpu_b != p->cpu_a)
			p->wrong_cpu++;
		hal_ctx_switch(p->b, p->a);
	}
}

static struct pp pairs[PP_CPUS];
static unsigned pair_of_cpu[HAL_MAX_CPUS];

/* Run pair p from the calling context on this CPU, interrupts off. */
static void pp_run(struct pp *p)
{
	unsigned long f = hal_irq_save();
	p->back = sched_current_ctx();
	p->cpu_a = hal_cpu_index();
	p->done = 0;
	hal_ctx_switch(p->back, p->a);
	hal_irq_restore(f);
}

static void pp_on_cpu(uint64_t unused)
{
	(void)unused;
	pp_run(&pairs[pair_of_cpu[hal_cpu_index()]]);
}

static void ctx_pingpong_each_cpu(struct ktest *t)
{
	struct cpumask online, set;
	unsigned n = 0;
	smp_online_mask(&online);
	cpumask_clear(&set);
	for_each_cpu(c, &online) {
		if (n == PP_CPUS)
			break;
		struct pp *p = &pairs[n];
		*p = (struct pp){ 0 };
		p->a = hal_ctx_create("ctx-ping", CTX_STACK, pp_a, p);
		p->b = hal_ctx_create("ctx-pong", CTX_STACK, pp_b, p);
		KTEST_ASSERT(t, p->a && p->b);
		pair_of_cpu[c] = n++;
		cpumask_set(&set, c);
	}
	/* Twice: the second time both contexts resume mid-loop instead of starting. */
	for (int round = 0; round < 2; round++)
		KTEST_ASSERT(t, smp_run_threads(&set, pp_on_cpu, 0) == 0);
	for (unsigned i = 0; i < n; i++) {
		struct pp *p = &pairs[i];
		KTEST_EXPECT_EQ(t, p->done, 1);
		KTEST_EXPECT_EQ(t, p->na, 2 * PP_ROUNDS);
		KTEST_EXPECT_EQ(t, p->nb, 2 * PP_ROUNDS);
		KTEST_EXPECT_EQ(t, p->wrong_cpu, 0);
		hal_ctx_destroy(p->a);
		hal_ctx_destroy(p->b);
	}
	ktest_log(t, "%u CPUs x 2 x %d round trips", n, PP_ROUNDS);
}

/* A context that records where it runs and goes back to its starter each time. */
struct mover {
	struct hal_ctx *self, *back;
	uint32_t runs;
	uint32_t cpu[4];
};

static void mover_entry(void *arg)
{
	struct mover *m = arg;
	for (;;) {
		if (m->runs < 4)
			m->cpu[m->runs] = hal_cpu_index();
		m->runs++;
		hal_ctx_switch(m->self, m->back);
	}
}

static struct mover mv;

static void mover_run(uint64_t unused)
{
	(void)unused;
	unsigned long f = hal_irq_save();
	mv.back = sched_current_ctx();
	hal_ctx_switch(mv.back, mv.self);
	hal_irq_restore(f);
}

static void ctx_created_here_runs_there(struct ktest *t)
{
	unsigned here = hal_cpu_index(), there = tu_last_online();
	if (there == here) {
		ktest_skip(t, "needs two online CPUs");
		return;
	}
	mv = (struct mover){ 0 };
	mv.self = hal_ctx_create("ctx-mover", CTX_STACK, mover_entry, &mv);
	KTEST_ASSERT(t, mv.self != 0);
	struct cpumask m;
	cpumask_clear(&m);
	cpumask_set(&m, there);
	KTEST_ASSERT(t, smp_run_threads(&m, mover_run, 0) == 0);   /* first run: there */
	mover_run(0);                                               /* then here */
	KTEST_ASSERT(t, smp_run_threads(&m, mover_run, 0) == 0);   /* and there again */
	KTEST_EXPECT_EQ(t, mv.runs, 3);
	KTEST_EXPECT_EQ(t, mv.cpu[0], there);
	KTEST_EXPECT_EQ(t, mv.cpu[1], here);
	KTEST_EXPECT_EQ(t, mv.cpu[2], there);
	hal_ctx_destroy(mv.self);
}

/* A context that ends: it switches back for the last time and is destroyed; its
 * memory goes back (the heap and page counts return to where they were). */
static void ender_entry(void *arg)
{
	struct mover *m = arg;
	m->runs++;
	hal_ctx_switch(m->self, m->back);
	for (;;)
		;                           /* never switched to again */
}

static void ctx_destroy_after_exit(struct ktest *t)
{
	for (int i = 0; i < 50; i++) {
		struct mover m = { 0 };
		m.self = hal_ctx_create("ctx-ender", CTX_STACK, ender_entry, &m);
		KTEST_ASSERT(t, m.self != 0);
		unsigned long f = hal_irq_save();
		m.back = sched_current_ctx();
		hal_ctx_switch(m.back, m.self);
		hal_irq_restore(f);
		KTEST_EXPECT_EQ(t, m.runs, 1);
		hal_ctx_destroy(m.self);
	}
	/* Created and destroyed without ever running. */
	struct hal_ctx *c = hal_ctx_create("ctx-unused", CTX_STACK, ender_entry, 0);
	KTEST_ASSERT(t, c != 0);
	hal_ctx_destroy(c);
}

static void ctx_names(struct ktest *t)
{
	static const char *const names[] = { "", "x", "a-name-much-longer-than-fifteen", 0 };
	for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
		struct mover m = { 0 };
		m.self = hal_ctx_create(names[i], CTX_STACK, ender_entry, &m);
		KTEST_ASSERT(t, m.self != 0);
		unsigned long f = hal_irq_save();
		m.back = sched_current_ctx();
		hal_ctx_switch(m.back, m.self);
		hal_irq_restore(f);
		KTEST_EXPECT_EQ(t, m.runs, 1);
		hal_ctx_destroy(m.self);
	}
	KTEST_EXPECT(t, hal_ctx_create("no-entry", CTX_STACK, 0, 0) == 0);
}

static const struct ktest_case ctx_cases[] = {
	KTEST_CASE(ctx_pingpong_each_cpu),
	KTEST_CASE(ctx_created_here_runs_there),
	KTEST_CASE(ctx_destroy_after_exit),
	KTEST_CASE(ctx_names),
};
KTEST_SUITE(ctx_suite, "ctx", ctx_cases);
