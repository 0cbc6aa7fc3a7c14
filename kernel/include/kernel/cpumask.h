/* cpumask.h — a set of CPU indices (0..HAL_MAX_CPUS-1), 256 bits. The plain
 * helpers are for masks one CPU owns; the _atomic ones (kernel/atomic.h, so the
 * simulator can interleave there) for masks several CPUs change at once, such as
 * the online mask and the cross-call inboxes (docs/smp.md). */
#ifndef KERNEL_CPUMASK_H
#define KERNEL_CPUMASK_H
#include <stdbool.h>
#include <stdint.h>
#include <hal/hal.h>
#include <kernel/atomic.h>

#define CPUMASK_WORDS (HAL_MAX_CPUS / 64)

struct cpumask {
	uint64_t w[CPUMASK_WORDS];
};

static inline void cpumask_clear(struct cpumask *m)
{
	for (unsigned i = 0; i < CPUMASK_WORDS; i++)
		m->w[i] = 0;
}

static inline void cpumask_set(struct cpumask *m, unsigned cpu)
{
	m->w[cpu / 64] |= 1ull << (cpu % 64);
}

static inline void cpumask_unset(struct cpumask *m, unsigned cpu)
{
	m->w[cpu / 64] &= ~(1ull << (cpu % 64));
}

static inline bool cpumask_test(const struct cpumask *m, unsigned cpu)
{
	return cpu < HAL_MAX_CPUS && (m->w[cpu / 64] >> (cpu % 64)) & 1;
}

static inline unsigned cpumask_weight(const struct cpumask *m)
{
	unsigned n = 0;
	for (unsigned i = 0; i < CPUMASK_WORDS; i++)
		n += (unsigned)__builtin_popcountll(m->w[i]);
	return n;
}

static inline bool cpumask_empty(const struct cpumask *m)
{
	return cpumask_weight(m) == 0;
}

/* The next CPU in m after prev (pass -1 to start), or HAL_MAX_CPUS when none. */
static inline unsigned cpumask_next(const struct cpumask *m, int prev)
{
	for (unsigned c = (unsigned)(prev + 1); c < HAL_MAX_CPUS; c++) {
		uint64_t w = m->w[c / 64] >> (c % 64);
		if (w)
			return c + (unsigned)__builtin_ctzll(w);
		c |= 63;            /* rest of this word is empty */
	}
	return HAL_MAX_CPUS;
}

#define for_each_cpu(c, m) \
	for (unsigned c = cpumask_next((m), -1); c < HAL_MAX_CPUS; c = cpumask_next((m), (int)c))

/* dst = a & b; dst = a & ~b */
static inline void cpumask_and(struct cpumask *dst, const struct cpumask *a, const struct cpumask *b)
{
	for (unsigned i = 0; i < CPUMASK_WORDS; i++)
		dst->w[i] = a->w[i] & b->w[i];
}

static inline void cpumask_andnot(struct cpumask *dst, const struct cpumask *a, const struct cpumask *b)
{
	for (unsigned i = 0; i < CPUMASK_WORDS; i++)
		dst->w[i] = a->w[i] & ~b->w[i];
}

static inline bool cpumask_equal(const struct cpumask *a, const struct cpumask *b)
{
	for (unsigned i = 0; i < CPUMASK_WORDS; i++)
		if (a->w[i] != b->w[i])
			return false;
	return true;
}

/* ---- shared masks ---- */

/* Set bit cpu with memory order mo (a CAS loop). Returns whether it was already set. */
static inline bool cpumask_set_atomic(struct cpumask *m, unsigned cpu, int mo)
{
	uint64_t *w = &m->w[cpu / 64], bit = 1ull << (cpu % 64);
	uint64_t old = atomic_load64(w, MO_RELAXED);
	while (!atomic_cas64(w, &old, old | bit, mo, MO_RELAXED))
		;
	return old & bit;
}

/* Clear bit cpu if it is set; returns true when this call cleared it. */
static inline bool cpumask_clear_atomic(struct cpumask *m, unsigned cpu, int mo)
{
	uint64_t *w = &m->w[cpu / 64], bit = 1ull << (cpu % 64);
	uint64_t old = atomic_load64(w, MO_RELAXED);
	do {
		if (!(old & bit))
			return false;
	} while (!atomic_cas64(w, &old, old & ~bit, mo, MO_RELAXED));
	return true;
}

static inline bool cpumask_test_atomic(const struct cpumask *m, unsigned cpu, int mo)
{
	return cpu < HAL_MAX_CPUS && (atomic_load64(&m->w[cpu / 64], mo) >> (cpu % 64)) & 1;
}

/* Take every bit of word i (set it to 0) and return what was there. */
static inline uint64_t cpumask_take_word(struct cpumask *m, unsigned i, int mo)
{
	uint64_t old = atomic_load64(&m->w[i], MO_RELAXED);
	while (old && !atomic_cas64(&m->w[i], &old, 0, mo, MO_RELAXED))
		;
	return old;
}

static inline void cpumask_snapshot(struct cpumask *dst, const struct cpumask *src, int mo)
{
	for (unsigned i = 0; i < CPUMASK_WORDS; i++)
		dst->w[i] = atomic_load64(&src->w[i], mo);
}
#endif
