/*
 * test_vectors.c — CMocka tests of the interrupt vector allocator core
 * (kernel/apic/vector.c, docs/smp.md): range, aligned power-of-two blocks,
 * exhaustion as -ENOSPC, frees that are refused, per-CPU independence (seed T1.2)
 * and lock-free allocation from several host threads at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <string.h>
#include <cmocka.h>

#include <kernel/errno.h>
#include <kernel/irq.h>
#include "fake_hal.h"

static void test_init_range(void **state)
{
	struct vec_space s;
	vec_space_init(&s);
	assert_int_equal(vec_space_free_count(&s), VEC_NALLOC);
	assert_int_equal(VEC_NALLOC, 0xEF - 0x20 + 1);
	assert_true(vec_space_is_taken(&s, 0x1F));     /* exceptions: never */
	assert_true(vec_space_is_taken(&s, 0xF0));     /* fixed kernel vectors: never */
	assert_true(vec_space_is_taken(&s, 0xFF));
	assert_false(vec_space_is_taken(&s, 0x20));
	assert_false(vec_space_is_taken(&s, 0xEF));
	uint8_t v;
	assert_int_equal(vec_space_alloc(&s, 1, &v), 0);
	assert_int_equal(v, 0x20);
	assert_int_equal(vec_space_alloc(&s, 1, &v), 0);
	assert_int_equal(v, 0x21);
}

static void test_aligned_blocks(void **state)
{
	for (unsigned count = 1; count <= VEC_MAX_BLOCK; count *= 2) {
		struct vec_space s;
		vec_space_init(&s);
		assert_int_equal(vec_space_reserve(&s, 0x20 + 1, 1), 0);  /* spoil the first block */
		uint8_t v;
		assert_int_equal(vec_space_alloc(&s, count, &v), 0);
		assert_int_equal(v % count, 0);
		assert_true(v >= VEC_FIRST && v + count - 1 <= VEC_LAST);
		if (count > 1)
			assert_true(v >= 0x20 + count);    /* skipped the partly used block */
		for (unsigned i = 0; i < count; i++)
			assert_true(vec_space_is_taken(&s, (uint8_t)(v + i)));
		assert_int_equal(vec_space_free(&s, v, count), 0);
		assert_int_equal(vec_space_free_count(&s), VEC_NALLOC - 1);
	}
}

static void test_bad_counts(void **state)
{
	struct vec_space s;
	vec_space_init(&s);
	uint8_t v;
	assert_int_equal(vec_space_alloc(&s, 0, &v), -EINVAL);
	assert_int_equal(vec_space_alloc(&s, 3, &v), -EINVAL);
	assert_int_equal(vec_space_alloc(&s, 64, &v), -EINVAL);
	assert_int_equal(vec_space_reserve(&s, 0x21, 2), -EINVAL);     /* unaligned */
	assert_int_equal(vec_space_reserve(&s, 0xEF, 2), -EINVAL);     /* runs into 0xF0 */
	assert_int_equal(vec_space_reserve(&s, 0x10, 1), -EINVAL);
	assert_int_equal(vec_space_free_count(&s), VEC_NALLOC);
}

static void test_exhaustion_enospc(void **state)
{
	for (unsigned count = 1; count <= VEC_MAX_BLOCK; count *= 2) {
		struct vec_space s;
		vec_space_init(&s);
		uint8_t v;
		unsigned n = 0;
		while (vec_space_alloc(&s, count, &v) == 0)
			n++;
		assert_int_equal(n, VEC_NALLOC / count);   /* 208 = 6.5 * 32: one 32-block short */
		assert_int_equal(vec_space_alloc(&s, count, &v), -ENOSPC);
	}
	/* Fragmented: every other vector taken leaves 104 free but no pair. */
	struct vec_space s;
	vec_space_init(&s);
	for (unsigned x = VEC_FIRST; x <= VEC_LAST; x += 2)
		assert_int_equal(vec_space_reserve(&s, (uint8_t)x, 1), 0);
	uint8_t v;
	assert_int_equal(vec_space_free_count(&s), VEC_NALLOC / 2);
	assert_int_equal(vec_space_alloc(&s, 2, &v), -ENOSPC);
	assert_int_equal(vec_space_alloc(&s, 1, &v), 0);
	assert_int_equal(v, 0x21);
}

static void test_refused_frees(void **state)
{
	struct vec_space s;
	vec_space_init(&s);
	uint8_t v;
	fake_hal_console_reset();
	assert_int_equal(vec_space_alloc(&s, 4, &v), 0);
	assert_int_equal(vec_space_free(&s, v, 4), 0);
	assert_int_equal(vec_space_free(&s, v, 4), -EINVAL);          /* double free */
	assert_non_null(strstr(fake_hal_console(), "not allocated"));
	assert_int_equal(vec_space_alloc(&s, 2, &v), 0);
	assert_int_equal(vec_space_free(&s, v, 4), -EINVAL);          /* half of it is free */
	assert_true(vec_space_is_taken(&s, v));                       /* nothing changed */
	assert_int_equal(vec_space_free(&s, (uint8_t)(v + 1), 1), 0);
	assert_int_equal(vec_space_free(&s, 0xF1, 1), -EINVAL);       /* fixed vector */
	assert_int_equal(vec_space_free_count(&s), VEC_NALLOC - 1);
}

/* T1.2: the seed's table was global; each CPU must have its own. */
static void test_per_cpu_spaces_independent(void **state)
{
	struct vec_space cpu0, cpu1;
	vec_space_init(&cpu0);
	vec_space_init(&cpu1);
	uint8_t v;
	while (vec_space_alloc(&cpu0, 1, &v) == 0)
		;
	assert_int_equal(vec_space_free_count(&cpu0), 0);
	assert_int_equal(vec_space_free_count(&cpu1), VEC_NALLOC);
	assert_int_equal(vec_space_reserve(&cpu1, 0x20, 1), 0);
}

/* Several threads allocate and free in one space; an owner table claimed with
 * compare-and-swap detects a vector handed out twice. */
#define THREADS 4
#define ITERS 200000
static struct vec_space shared;
static uint64_t owner[256];
static uint64_t conflicts;

static void *worker(void *arg)
{
	uint64_t me = (uint64_t)(uintptr_t)arg + 1, rnd = me * 0x9E3779B97F4A7C15ull;
	for (unsigned i = 0; i < ITERS; i++) {
		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		unsigned count = 1u << (rnd % 4);
		uint8_t v;
		if (vec_space_alloc(&shared, count, &v) != 0)
			continue;
		for (unsigned k = 0; k < count; k++) {
			uint64_t zero = 0;
			if (!__atomic_compare_exchange_n(&owner[v + k], &zero, me, false, __ATOMIC_ACQ_REL,
							  __ATOMIC_RELAXED))
				__atomic_fetch_add(&conflicts, 1, __ATOMIC_RELAXED);
		}
		for (unsigned k = 0; k < count; k++)
			__atomic_store_n(&owner[v + k], 0, __ATOMIC_RELEASE);
		if (vec_space_free(&shared, v, count) != 0)
			__atomic_fetch_add(&conflicts, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_concurrent_no_double_allocation(void **state)
{
	vec_space_init(&shared);
	pthread_t th[THREADS];
	for (uintptr_t i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker, (void *)i), 0);
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(conflicts, 0);
	assert_int_equal(vec_space_free_count(&shared), VEC_NALLOC);
}

int main(void)
{
	fake_hal_mem_reset(1 << 20);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_range),
		cmocka_unit_test(test_aligned_blocks),
		cmocka_unit_test(test_bad_counts),
		cmocka_unit_test(test_exhaustion_enospc),
		cmocka_unit_test(test_refused_frees),
		cmocka_unit_test(test_per_cpu_spaces_independent),
		cmocka_unit_test(test_concurrent_no_double_allocation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
