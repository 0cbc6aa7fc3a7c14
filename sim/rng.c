/*
 * rng.c — seeded streams for the simulator: splitmix64 to expand a seed, and
 * xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number
 * generators", 2018) as the generator. Nothing here reads the clock: replaying a
 * seed replays every stream.
 */
#include "rng.h"

static uint64_t root_seed;

uint64_t sim_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void sim_rng_seed(uint64_t seed)
{
	root_seed = seed;
}

uint64_t sim_rng_root_seed(void)
{
	return root_seed;
}

/* FNV-1a, 64-bit: a stable hash of the stream name. */
static uint64_t name_hash(const char *name)
{
	uint64_t h = 0xCBF29CE484222325ull;

	for (; *name; name++) {
		h ^= (uint8_t)*name;
		h *= 0x100000001B3ull;
	}
	return h;
}

void sim_rng_stream(struct sim_rng *r, const char *name)
{
	uint64_t st = root_seed ^ name_hash(name);

	for (int i = 0; i < 4; i++)
		r->s[i] = sim_splitmix64(&st);
	/* splitmix64 is a bijection of a counter, so four outputs are never all
	 * zero (the one state xoshiro cannot leave). */
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t sim_rng_next(struct sim_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t sim_rng_below(struct sim_rng *r, uint64_t bound)
{
	uint64_t threshold, x;

	if (bound == 0)
		return 0;
	/* Reject the top (2^64 mod bound) values so every residue is equally likely. */
	threshold = (0 - bound) % bound;
	do
		x = sim_rng_next(r);
	while (x < threshold);
	return x % bound;
}
