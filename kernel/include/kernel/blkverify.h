/*
 * blkverify.h — the self-describing block stamp of the verified-I/O workload
 * (`io=verify`, docs/block.md). Every logical block written carries a header (magic,
 * its LBA, the run's seed, a generation number, the writing CPU) and a payload
 * derived from them, closed by a checksum over the whole block, so a reader — the
 * kernel's own, or the host's after the run (harness/blkverify.py) — can check a
 * block knowing nothing but the seed. Our own format; little-endian.
 *
 *   offset  size  field
 *   0       8     magic  BLKV_MAGIC ("DOPPELIO" as a little-endian u64)
 *   8       8     lba    the block's own LBA on the device
 *   16      8     seed   io.seed of the run
 *   24      4     gen    generation: 1 for the first write of this LBA in the run, +1 each rewrite
 *   28      4     cpu    the CPU that wrote it
 *   32      4     sum    FNV-1a 32-bit over the whole block with this field read as 0
 *   36      4     rsvd   0
 *   40..    payload: 64-bit words w[i] = splitmix64(seed ^ lba * 0x9E3779B97F4A7C15 ^ (uint64_t)gen << 32 ^ i)
 *           (i = 0 at offset 40; C precedence: (seed) ^ (lba*K) ^ (gen<<32) ^ (i), mod 2^64)
 *
 * A check reports, in this order: no magic → NOT_STAMPED; checksum wrong, or the
 * payload not the one its own header (lba, seed, gen) implies → BAD_SUM; then
 * WRONG_LBA, WRONG_SEED, WRONG_GEN. blkv_mix(lba, gen) = splitmix64(lba ^ splitmix64(gen)).
 */
#ifndef KERNEL_BLKVERIFY_H
#define KERNEL_BLKVERIFY_H
#include <stdint.h>
#include <stddef.h>

#define BLKV_MAGIC 0x4F494C4550504F44ull    /* "DOPPELIO" */
#define BLKV_HDR_BYTES 40u

enum blkv_result {
	BLKV_OK = 0,
	BLKV_NOT_STAMPED,       /* no magic: never written by a run (zeros, old data) */
	BLKV_BAD_SUM,           /* magic but the checksum fails: torn or corrupted */
	BLKV_WRONG_LBA,         /* a valid block of another LBA (misdirected I/O) */
	BLKV_WRONG_SEED,        /* a valid block of another run */
	BLKV_WRONG_GEN,         /* valid, but not the generation expected (lost/stale write) */
};

/* Fill block (bs bytes, a multiple of 8, >= 64) with the stamp of (lba, seed, gen, cpu). */
void blkv_stamp(void *block, uint32_t bs, uint64_t lba, uint64_t seed, uint32_t gen, uint32_t cpu);
/* Check block against (lba, seed); gen_expect 0 accepts any generation. *gen_found
 * (may be NULL) gets the generation read when the stamp is valid. */
enum blkv_result blkv_check(const void *block, uint32_t bs, uint64_t lba, uint64_t seed,
			    uint32_t gen_expect, uint32_t *gen_found);
/* "ok", "not_stamped", "bad_sum", "wrong_lba", "wrong_seed", "wrong_gen". */
const char *blkv_result_name(enum blkv_result r);
/* splitmix64 (one step of its generator: x += 0x9E3779B97F4A7C15, then the mix). */
uint64_t blkv_splitmix64(uint64_t x);
/* The run digest the host check recomputes: XOR over every written LBA of
 * blkv_mix(lba, final gen). */
uint64_t blkv_mix(uint64_t lba, uint32_t gen);
#endif
