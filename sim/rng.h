/*
 * rng.h — the simulator's only source of randomness. One root seed (--seed) feeds
 * named streams: splitmix64 (Steele, Lea, Flood, OOPSLA 2014) turns the seed and a
 * hash of the stream name into the state of a xoshiro256** generator (Blackman,
 * Vigna 2018), so adding a new consumer never shifts the numbers another one sees.
 */
#ifndef DOPPEL_SIM_RNG_H
#define DOPPEL_SIM_RNG_H
#include <stdint.h>

struct sim_rng {
	uint64_t s[4];
};

/* Set the root seed every stream derives from. Call once, before any stream. */
void sim_rng_seed(uint64_t seed);
uint64_t sim_rng_root_seed(void);
/* Initialise *r as the stream called name (same seed + name = same sequence). */
void sim_rng_stream(struct sim_rng *r, const char *name);
uint64_t sim_rng_next(struct sim_rng *r);
/* Uniform in [0, bound) without modulo bias; bound 0 returns 0. */
uint64_t sim_rng_below(struct sim_rng *r, uint64_t bound);
/* One splitmix64 step: also used to turn the clock into a default seed. */
uint64_t sim_splitmix64(uint64_t *state);
#endif
