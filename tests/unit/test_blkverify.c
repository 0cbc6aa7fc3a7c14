/*
 * test_blkverify.c — CMocka tests of the block stamp (kernel/block/blkverify.c,
 * format in kernel/include/kernel/blkverify.h and docs/block.md "The block
 * stamp"): round trips at 512 and 4096 bytes, each failure kind, splitmix64's
 * known outputs, and the worked example of docs/block.md byte for byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <kernel/blkverify.h>

static void test_round_trip(void **state)
{
	(void)state;
	static uint8_t b[4096];
	static const uint32_t sizes[] = { 512, 4096 };
	for (unsigned s = 0; s < 2; s++)
		for (uint64_t lba = 0; lba < 2000; lba += 97) {
			uint32_t gen = (uint32_t)(lba % 7) + 1, found = 0;
			blkv_stamp(b, sizes[s], lba, 42, gen, (uint32_t)lba % 4);
			assert_int_equal(blkv_check(b, sizes[s], lba, 42, gen, &found), BLKV_OK);
			assert_int_equal(found, gen);
			assert_int_equal(blkv_check(b, sizes[s], lba, 42, 0, NULL), BLKV_OK);
		}
}

static void test_each_failure(void **state)
{
	(void)state;
	static uint8_t b[512];
	uint32_t found = 0;
	memset(b, 0, sizeof(b));
	assert_int_equal(blkv_check(b, 512, 9, 1, 1, NULL), BLKV_NOT_STAMPED);

	blkv_stamp(b, 512, 9, 1, 3, 0);
	b[300] ^= 1;                                /* payload bit */
	assert_int_equal(blkv_check(b, 512, 9, 1, 3, NULL), BLKV_BAD_SUM);
	blkv_stamp(b, 512, 9, 1, 3, 0);
	b[33] ^= 0x80;                              /* the sum itself */
	assert_int_equal(blkv_check(b, 512, 9, 1, 3, NULL), BLKV_BAD_SUM);
	blkv_stamp(b, 512, 9, 1, 3, 0);
	b[37] = 1;                                  /* reserved */
	assert_int_equal(blkv_check(b, 512, 9, 1, 3, NULL), BLKV_BAD_SUM);

	blkv_stamp(b, 512, 10, 1, 3, 0);            /* misdirected: LBA 10's block at 9 */
	assert_int_equal(blkv_check(b, 512, 9, 1, 3, &found), BLKV_WRONG_LBA);
	blkv_stamp(b, 512, 9, 2, 3, 0);             /* another run */
	assert_int_equal(blkv_check(b, 512, 9, 1, 3, NULL), BLKV_WRONG_SEED);
	blkv_stamp(b, 512, 9, 1, 2, 0);             /* stale generation */
	assert_int_equal(blkv_check(b, 512, 9, 1, 3, &found), BLKV_WRONG_GEN);
	assert_int_equal(found, 2);

	assert_string_equal(blkv_result_name(BLKV_OK), "ok");
	assert_string_equal(blkv_result_name(BLKV_NOT_STAMPED), "not_stamped");
	assert_string_equal(blkv_result_name(BLKV_BAD_SUM), "bad_sum");
	assert_string_equal(blkv_result_name(BLKV_WRONG_LBA), "wrong_lba");
	assert_string_equal(blkv_result_name(BLKV_WRONG_SEED), "wrong_seed");
	assert_string_equal(blkv_result_name(BLKV_WRONG_GEN), "wrong_gen");
}

/* A forged block: a valid checksum over a payload its header does not imply. */
static void test_payload_must_follow_header(void **state)
{
	(void)state;
	static uint8_t b[512];
	blkv_stamp(b, 512, 9, 1, 3, 0);
	b[24] = 4;                                  /* gen 4 with gen 3's payload */
	uint32_t h = 0x811C9DC5u;
	for (unsigned i = 0; i < 512; i++) {
		h ^= (i >= 32 && i < 36) ? 0 : b[i];
		h *= 0x01000193u;
	}
	memcpy(b + 32, &h, 4);                      /* host is little-endian like the format */
	assert_int_equal(blkv_check(b, 512, 9, 1, 4, NULL), BLKV_BAD_SUM);
}

static void test_splitmix64(void **state)
{
	(void)state;
	/* The generator seeded with 0: its first outputs are splitmix64(0),
	 * splitmix64(0x9E3779B97F4A7C15), ... (the published reference sequence). */
	assert_true(blkv_splitmix64(0) == 0xE220A8397B1DCDAFull);
	assert_true(blkv_splitmix64(0x9E3779B97F4A7C15ull) == 0x6E789E6AA1B965F4ull);
	assert_true(blkv_mix(5, 2) == blkv_splitmix64(5 ^ blkv_splitmix64(2)));
}

/* docs/block.md "Worked example": lba 5, seed 1, gen 2, cpu 0, 512-byte block. */
static void test_worked_example(void **state)
{
	(void)state;
	static const uint8_t want[48] = {
		0x44, 0x4f, 0x50, 0x50, 0x45, 0x4c, 0x49, 0x4f, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x98, 0xe7, 0x9e, 0x39, 0x00, 0x00, 0x00, 0x00, 0x61, 0xa4, 0xab, 0xa9, 0x1f, 0x72, 0x8e, 0x21,
	};
	static uint8_t b[512];
	blkv_stamp(b, 512, 5, 1, 2, 0);
	assert_memory_equal(b, want, sizeof(want));
	assert_true(blkv_mix(5, 2) == 0x953DEB0D47B9380Aull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_each_failure),
		cmocka_unit_test(test_payload_must_follow_header),
		cmocka_unit_test(test_splitmix64),
		cmocka_unit_test(test_worked_example),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
