/*
 * lockdep.c — lock-order checking in the manner of Linux's lockdep (the idea: lock
 * classes and an acquired-before graph; our own code, docs/locks.md). Fixed tables,
 * no allocation: classes are looked up once per lock and cached in its map; the
 * order between two classes is one word of a class x class matrix, so the usual
 * acquisition costs a load per lock already held. New edges, new classes and
 * reports take one internal leaf lock that lockdep itself never checks.
 * lockdep's own shared words use the compiler's atomics directly, not
 * kernel/atomic.h: the checker observes the schedule and must not change it, so a
 * det-mode search (docs/det.md) explores the same interleavings with lockdep on
 * as off. Its slow paths (a new class, a new order, a report) still switch at their
 * interrupt save/restore and console writes.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/cmdline.h>
#include <kernel/lockdep.h>
#include <kernel/log.h>
#include <kernel/mcs.h>
#include <kernel/panic.h>
#include <kernel/printf.h>
#include <kernel/string.h>

/* Atomics that are not det-mode switch points (see the top of the file). */
static inline uint32_t ld_load32(const uint32_t *p, int mo) { return __atomic_load_n(p, mo); }
static inline void ld_store32(uint32_t *p, uint32_t v, int mo) { __atomic_store_n(p, v, mo); }
static inline uint32_t ld_xchg32(uint32_t *p, uint32_t v, int mo) { return __atomic_exchange_n(p, v, mo); }
static inline uint32_t ld_add32(uint32_t *p, uint32_t v, int mo) { return __atomic_fetch_add(p, v, mo); }
static inline uint64_t ld_load64(const uint64_t *p, int mo) { return __atomic_load_n(p, mo); }
static inline void ld_add64(uint64_t *p, uint64_t v, int mo) { __atomic_fetch_add(p, v, mo); }

#define ORDER_REPORTED 0xFFFFFFFFu      /* order[a][b]: a cycle through a->b was reported */
#define IRQ_NEST_MAX 4

/* Class usage bits (atomic; a bit is set under the graph lock after its site). */
#define USE_IN_IRQ        1u            /* taken in interrupt context */
#define USE_HELD_IRQS_ON  2u            /* held with interrupts enabled */
#define USE_REPORTED_IRQ  4u            /* the pair above was reported */
#define USE_REPORTED_SELF 8u            /* a recursive acquisition was reported */

struct ld_class {
	const void *key;
	const char *name;
	uint32_t usage;
	const char *irq_site, *irqs_on_site;
	uint64_t acquired, contended;       /* atomic counters */
};

struct ld_edge {                        /* the first time `before` was held when `after` was taken */
	const char *site_before, *site_after;
	uint32_t cpu;
};

struct ld_held {
	struct lockdep_map *m;
	uint32_t cls;                       /* class index + 1 */
	const char *site;
};

/* Touched only by its own CPU; an interrupt pushes and pops its own entries. */
struct ld_cpu {
	struct ld_held held[LOCKDEP_MAX_HELD];
	uint32_t depth;
	uint32_t dropped;                   /* acquisitions past LOCKDEP_MAX_HELD, not recorded */
	uint32_t irq_depth;
	uint32_t irq_base[IRQ_NEST_MAX];    /* depth when each interrupt level began */
};

static bool enabled;                    /* set once by lockdep_init, before any AP runs */
static uint32_t graph_locked;
static uint32_t full_logged;            /* under the graph lock */
static struct ld_class classes[LOCKDEP_MAX_CLASSES];
static uint32_t nclasses;               /* atomic */
static uint32_t order[LOCKDEP_MAX_CLASSES][LOCKDEP_MAX_CLASSES];   /* 0, edge index + 1, REPORTED */
static struct ld_edge edges[LOCKDEP_MAX_EDGES];
static uint32_t nedges;                 /* under the graph lock */
static struct ld_cpu cpus[HAL_MAX_CPUS];
static uint32_t nreports;               /* atomic */
static char last_report[400];           /* under the graph lock */
static uint32_t assert_catch, asserts_caught;

void lockdep_init(void)
{
	const char *v = cmdline_get("lockdep");
	if (v && kstrcmp(v, "1") != 0 && kstrcmp(v, "0") != 0)
		klog("lockdep", "lockdep=%s is not 0 or 1: leaving lock-order checking off", v);
	enabled = v && kstrcmp(v, "1") == 0;
	kinfo("lockdep", "%u", enabled ? 1u : 0u);
	kinfo("mcs.nodes_per_cpu", "%u", MCS_NODES_PER_CPU);
}

bool lockdep_enabled(void)
{
	return enabled;
}

void lockdep_map_init(struct lockdep_map *m, const char *name, const struct lockdep_key *key)
{
	m->key = key;
	m->name = name;
	m->cls = 0;
}

/* The graph lock: a leaf, interrupts off, never checked by lockdep itself. */
static unsigned long graph_lock(void)
{
	unsigned long f = hal_irq_save();
	/* acquire: the previous holder's table writes happen-before ours */
	while (ld_xchg32(&graph_locked, 1, MO_ACQUIRE))
		while (ld_load32(&graph_locked, MO_RELAXED))
			hal_cpu_relax();
	return f;
}

static void graph_unlock(unsigned long f)
{
	/* release: our table writes happen-before the next holder's */
	ld_store32(&graph_locked, 0, MO_RELEASE);
	hal_irq_restore(f);
}

static void table_full(const char *what)
{
	if (full_logged++)
		return;
	klog("lockdep", "%s table full: new %s are not checked from here on", what, what);
}

/* Class index + 1 of m's class, registering it on first use; 0 if the table is full. */
static uint32_t class_of(struct lockdep_map *m)
{
	/* acquire: pairs with the release below, so the class entry is seen whole */
	uint32_t c = ld_load32(&m->cls, MO_ACQUIRE);
	if (c)
		return c;
	const void *key = m->key ? (const void *)m->key : (const void *)m;
	unsigned long f = graph_lock();
	uint32_t n = ld_load32(&nclasses, MO_RELAXED);
	for (uint32_t i = 0; i < n && !c; i++)
		if (classes[i].key == key)
			c = i + 1;
	if (!c && n < LOCKDEP_MAX_CLASSES) {
		classes[n].key = key;
		classes[n].name = m->key && m->key->name ? m->key->name : (m->name ? m->name : "?");
		ld_store32(&nclasses, n + 1, MO_RELEASE);
		c = n + 1;
	} else if (!c) {
		table_full("class");
	}
	if (c)
		ld_store32(&m->cls, c, MO_RELEASE);
	graph_unlock(f);
	return c;
}

static const char *cname(uint32_t c)
{
	return classes[c - 1].name;
}

/* Count a report and keep its text; graph lock held. The line goes out as
 * "lockdep: <text>". */
static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(last_report, sizeof last_report, fmt, ap);
	va_end(ap);
	uint32_t n = ld_add32(&nreports, 1, MO_RELAXED) + 1;
	klog("lockdep", "%s", last_report);
	kinfo("lockdep.reports", "%u", n);
}

/* Is `to` reachable from `from` over recorded edges? If so, *hop is the first class
 * after `from` on one such path (== to for a direct edge) and *len its length.
 * Graph lock held (the BFS arrays are static). */
static bool reachable(uint32_t from, uint32_t to, uint32_t *hop, uint32_t *len)
{
	static uint8_t seen[LOCKDEP_MAX_CLASSES];
	static uint8_t first[LOCKDEP_MAX_CLASSES];     /* first hop on the path to each class */
	static uint8_t dist[LOCKDEP_MAX_CLASSES];
	static uint8_t queue[LOCKDEP_MAX_CLASSES];
	uint32_t n = ld_load32(&nclasses, MO_RELAXED), head = 0, tail = 0;

	memset(seen, 0, sizeof seen);
	seen[from - 1] = 1;
	queue[tail++] = (uint8_t)(from - 1);
	while (head < tail) {
		uint32_t a = queue[head++];
		for (uint32_t b = 0; b < n; b++) {
			uint32_t e = order[a][b];
			if (!e || e == ORDER_REPORTED || seen[b])
				continue;
			seen[b] = 1;
			first[b] = a == from - 1 ? (uint8_t)b : first[a];
			dist[b] = a == from - 1 ? 1 : (uint8_t)(dist[a] + 1);
			if (b == to - 1) {
				*hop = (uint32_t)first[b] + 1;
				*len = dist[b];
				return true;
			}
			queue[tail++] = (uint8_t)b;
		}
	}
	return false;
}

/* A first acquisition of class b while class a is held (held at site_a). */
static void new_order(uint32_t a, uint32_t b, const char *site_a, const char *site_b)
{
	uint32_t hop, len;
	unsigned long f = graph_lock();
	if (ld_load32(&order[a - 1][b - 1], MO_RELAXED))
		goto out;                       /* another CPU recorded it meanwhile */
	if (reachable(b, a, &hop, &len)) {
		const struct ld_edge *e = &edges[order[b - 1][hop - 1] - 1];
		ld_store32(&order[a - 1][b - 1], ORDER_REPORTED, MO_RELEASE);
		report("CPU %u: lock order inversion: \"%s\" taken at %s while holding \"%s\" (taken at %s); "
		       "the opposite order \"%s\" -> \"%s\"%s was first seen on CPU %u: \"%s\" held (taken at %s) "
		       "when \"%s\" was taken at %s",
		       hal_cpu_index(), cname(b), site_b, cname(a), site_a, cname(b), cname(a),
		       len > 1 ? " (through other locks)" : "", e->cpu, cname(b), e->site_before,
		       cname(hop), e->site_after);
		kinfo("lockdep.inversion", "%s %s", cname(a), cname(b));
		goto out;
	}
	if (nedges >= LOCKDEP_MAX_EDGES) {
		table_full("order");
		goto out;
	}
	edges[nedges] = (struct ld_edge){ site_a, site_b, hal_cpu_index() };
	nedges++;
	/* release: the edge's sites are seen by whoever sees the order */
	ld_store32(&order[a - 1][b - 1], nedges, MO_RELEASE);
out:
	graph_unlock(f);
}

/* First use of class c in a way `bit` names; reports an interrupt-unsafe class. */
static void new_usage(uint32_t c, uint32_t bit, const char *site)
{
	struct ld_class *k = &classes[c - 1];
	unsigned long f = graph_lock();
	uint32_t u = ld_load32(&k->usage, MO_RELAXED);
	if (u & bit)
		goto out;
	if (bit == USE_IN_IRQ)
		k->irq_site = site;
	else
		k->irqs_on_site = site;
	u |= bit;
	if ((u & USE_IN_IRQ) && (u & USE_HELD_IRQS_ON) && !(u & USE_REPORTED_IRQ)) {
		u |= USE_REPORTED_IRQ;
		report("CPU %u: \"%s\" is taken in interrupt context (at %s) and held with interrupts "
		       "enabled (at %s): an interrupt that takes it on a CPU holding it deadlocks",
		       hal_cpu_index(), k->name, k->irq_site, k->irqs_on_site);
		kinfo("lockdep.irq_unsafe", "%s", k->name);
	}
	/* release: the sites are written before the bits that announce them */
	ld_store32(&k->usage, u, MO_RELEASE);
out:
	graph_unlock(f);
}

void lockdep_before_wait(struct lockdep_map *m, const char *site)
{
	if (!enabled)
		return;
	struct ld_cpu *pc = &cpus[hal_cpu_index()];
	for (uint32_t i = 0; i < pc->depth; i++) {
		if (pc->held[i].m != m)
			continue;
		uint32_t c = pc->held[i].cls;
		struct ld_class *k = &classes[c - 1];
		unsigned long f = graph_lock();
		uint32_t u = ld_load32(&k->usage, MO_RELAXED);
		if (!(u & USE_REPORTED_SELF)) {
			ld_store32(&k->usage, u | USE_REPORTED_SELF, MO_RELAXED);
			report("CPU %u: \"%s\" taken at %s while this CPU already holds it (taken at %s): "
			       "a self-deadlock", hal_cpu_index(), k->name, site, pc->held[i].site);
			kinfo("lockdep.recursive", "%s", k->name);
		}
		graph_unlock(f);
		return;
	}
}

void lockdep_acquire(struct lockdep_map *m, const char *site, unsigned flags)
{
	if (!enabled)
		return;
	uint32_t c = class_of(m);
	if (!c)
		return;
	struct ld_class *k = &classes[c - 1];
	struct ld_cpu *pc = &cpus[hal_cpu_index()];
	ld_add64(&k->acquired, 1, MO_RELAXED);
	if (flags & LOCKDEP_CONTENDED)
		ld_add64(&k->contended, 1, MO_RELAXED);

	uint32_t base = 0, use = 0;
	if (pc->irq_depth) {
		uint32_t lvl = pc->irq_depth < IRQ_NEST_MAX ? pc->irq_depth : IRQ_NEST_MAX;
		base = pc->irq_base[lvl - 1];
		use = USE_IN_IRQ;
	} else if (flags & LOCKDEP_IRQS_ON) {
		use = USE_HELD_IRQS_ON;
	}
	if (use && !(ld_load32(&k->usage, MO_ACQUIRE) & use))
		new_usage(c, use, site);

	for (uint32_t i = base; i < pc->depth; i++) {
		uint32_t p = pc->held[i].cls;
		if (p == c)
			continue;                   /* two instances of one class: not an order */
		if (!ld_load32(&order[p - 1][c - 1], MO_ACQUIRE))
			new_order(p, c, pc->held[i].site, site);
	}
	if (pc->depth == LOCKDEP_MAX_HELD) {
		if (!pc->dropped++)
			klog("lockdep", "CPU %u holds more than %u locks: \"%s\" (taken at %s) is not checked",
			     hal_cpu_index(), LOCKDEP_MAX_HELD, k->name, site);
		return;
	}
	pc->held[pc->depth++] = (struct ld_held){ m, c, site };
}

void lockdep_release(struct lockdep_map *m)
{
	if (!enabled)
		return;
	struct ld_cpu *pc = &cpus[hal_cpu_index()];
	for (uint32_t i = pc->depth; i-- > 0;) {
		if (pc->held[i].m != m)
			continue;
		for (uint32_t j = i; j + 1 < pc->depth; j++)
			pc->held[j] = pc->held[j + 1];
		pc->depth--;
		return;
	}
	if (pc->dropped)
		pc->dropped--;                  /* one of the unrecorded ones */
}

void lockdep_irq_enter(void)
{
	if (!enabled)
		return;
	struct ld_cpu *pc = &cpus[hal_cpu_index()];
	if (pc->irq_depth < IRQ_NEST_MAX)
		pc->irq_base[pc->irq_depth] = pc->depth;
	pc->irq_depth++;
}

void lockdep_irq_exit(void)
{
	if (!enabled)
		return;
	struct ld_cpu *pc = &cpus[hal_cpu_index()];
	if (pc->irq_depth)
		pc->irq_depth--;
}

bool lockdep_in_irq(void)
{
	return enabled && cpus[hal_cpu_index()].irq_depth > 0;
}

uint32_t lockdep_report_count(void)
{
	return ld_load32(&nreports, MO_RELAXED);
}

const char *lockdep_last_report(void)
{
	return last_report;
}

bool lockdep_class_stats(const char *name, uint64_t *acquired, uint64_t *contended)
{
	uint32_t n = ld_load32(&nclasses, MO_ACQUIRE);
	for (uint32_t i = 0; i < n; i++)
		if (kstrcmp(classes[i].name, name) == 0) {
			*acquired = ld_load64(&classes[i].acquired, MO_RELAXED);
			*contended = ld_load64(&classes[i].contended, MO_RELAXED);
			return true;
		}
	return false;
}

void lockdep_stats_print(void)
{
	uint32_t n = ld_load32(&nclasses, MO_ACQUIRE);
	if (!enabled) {
		klog("lockdep", "stats: lock-order checking is off (lockdep=1 counts acquisitions)");
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint64_t a = ld_load64(&classes[i].acquired, MO_RELAXED);
		uint64_t c = ld_load64(&classes[i].contended, MO_RELAXED);
		if (a)
			klog("lockdep", "stats %s acquired=%llu contended=%llu", classes[i].name,
			     (unsigned long long)a, (unsigned long long)c);
	}
}

void lock_assert_failed(const char *lock_name, const char *file, int line)
{
	if (ld_load32(&assert_catch, MO_ACQUIRE)) {
		ld_add32(&asserts_caught, 1, MO_RELAXED);
		klog("lockdep", "lock_assert_held(%s) failed at %s:%d on CPU %u (caught by a test)",
		     lock_name ? lock_name : "?", file, line, hal_cpu_index());
		return;
	}
	panic("lock_assert_held(%s) failed at %s:%d: CPU %u does not hold it", lock_name ? lock_name : "?",
	      file, line, hal_cpu_index());
}

void lock_assert_catch(bool on)
{
	ld_store32(&assert_catch, on ? 1 : 0, MO_RELEASE);
}

uint32_t lock_assert_caught(void)
{
	return ld_load32(&asserts_caught, MO_RELAXED);
}
