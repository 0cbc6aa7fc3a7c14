/*
 * blkverify.c — the verified-I/O block stamp (format: kernel/include/kernel/
 * blkverify.h, docs/block.md "The block stamp"). Pure: no HAL; unit-tested on the
 * host (tests/unit/test_blkverify.c), reimplemented by the host check.
 */
#include <kernel/blkverify.h>
#include <kernel/string.h>

#define FNV32_OFFSET 0x811C9DC5u
#define FNV32_PRIME 0x01000193u
#define SUM_AT 32u

uint64_t blkv_splitmix64(uint64_t x)
{
	uint64_t z;
	x += 0x9E3779B97F4A7C15ull;
	z = x;
	z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ z >> 27) * 0x94D049BB133111EBull;
	return z ^ z >> 31;
}

static inline void put64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static inline uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static inline uint64_t payload_word(uint64_t lba, uint64_t seed, uint32_t gen, uint64_t i)
{
	return blkv_splitmix64(seed ^ lba * 0x9E3779B97F4A7C15ull ^ (uint64_t)gen << 32 ^ i);
}

/* FNV-1a 32 over the block, the sum field's four bytes taken as 0. */
static uint32_t block_sum(const uint8_t *b, uint32_t bs)
{
	uint32_t h = FNV32_OFFSET;
	for (uint32_t i = 0; i < bs; i++) {
		uint8_t c = (i >= SUM_AT && i < SUM_AT + 4) ? 0 : b[i];
		h ^= c;
		h *= FNV32_PRIME;
	}
	return h;
}

void blkv_stamp(void *block, uint32_t bs, uint64_t lba, uint64_t seed, uint32_t gen, uint32_t cpu)
{
	uint8_t *b = block;
	put64(b + 0, BLKV_MAGIC);
	put64(b + 8, lba);
	put64(b + 16, seed);
	put32(b + 24, gen);
	put32(b + 28, cpu);
	put32(b + SUM_AT, 0);
	put32(b + 36, 0);
	for (uint32_t i = 0; BLKV_HDR_BYTES + 8 * i + 8 <= bs; i++)
		put64(b + BLKV_HDR_BYTES + 8 * i, payload_word(lba, seed, gen, i));
	put32(b + SUM_AT, block_sum(b, bs));
}

enum blkv_result blkv_check(const void *block, uint32_t bs, uint64_t lba, uint64_t seed,
			    uint32_t gen_expect, uint32_t *gen_found)
{
	const uint8_t *b = block;
	uint32_t gen;
	if (get64(b) != BLKV_MAGIC)
		return BLKV_NOT_STAMPED;
	if (get32(b + SUM_AT) != block_sum(b, bs))
		return BLKV_BAD_SUM;
	gen = get32(b + 24);
	/* A valid checksum over a payload that is not the header's own: not ours. */
	for (uint32_t i = 0; BLKV_HDR_BYTES + 8 * i + 8 <= bs; i++)
		if (get64(b + BLKV_HDR_BYTES + 8 * i) != payload_word(get64(b + 8), get64(b + 16), gen, i))
			return BLKV_BAD_SUM;
	if (gen_found)
		*gen_found = gen;
	if (get64(b + 8) != lba)
		return BLKV_WRONG_LBA;
	if (get64(b + 16) != seed)
		return BLKV_WRONG_SEED;
	if (gen_expect != 0 && gen != gen_expect)
		return BLKV_WRONG_GEN;
	return BLKV_OK;
}

const char *blkv_result_name(enum blkv_result r)
{
	switch (r) {
	case BLKV_OK: return "ok";
	case BLKV_NOT_STAMPED: return "not_stamped";
	case BLKV_BAD_SUM: return "bad_sum";
	case BLKV_WRONG_LBA: return "wrong_lba";
	case BLKV_WRONG_SEED: return "wrong_seed";
	case BLKV_WRONG_GEN: return "wrong_gen";
	}
	return "unknown";
}

uint64_t blkv_mix(uint64_t lba, uint32_t gen)
{
	return blkv_splitmix64(lba ^ blkv_splitmix64(gen));
}
