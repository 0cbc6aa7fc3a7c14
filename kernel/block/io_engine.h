/* io_engine.h — the verified-I/O engine of kernel/block/verify.c, shared by its
 * two users: the `io=` run key (verify.c) and the block benchmarks (blk_bench.c),
 * and driven by the block suite (block_ktest.c). Private to kernel/block/. */
#ifndef KERNEL_BLOCK_IO_ENGINE_H
#define KERNEL_BLOCK_IO_ENGINE_H
#include <stdbool.h>
#include <stdint.h>
#include <kernel/block.h>

enum io_mix { IO_MIX_RANDRW = 0, IO_MIX_RANDREAD, IO_MIX_RANDWRITE, IO_MIX_SEQREAD, IO_MIX_COUNT };

#define IO_QD_MAX 256u
#define IO_BS_MAX (1u << 20)
#define IO_REGION_MAX_BYTES (256ull << 20)  /* default region cap */

struct io_params {
	uint64_t run_ns;            /* timed phase */
	uint32_t qd;                /* requests in flight per CPU, 1..IO_QD_MAX */
	uint32_t bs;                /* bytes per request: a multiple of the device's block */
	enum io_mix mix;
	uint64_t seed;
	uint64_t blocks;            /* region from LBA 0; 0 = the device capped at 256 MiB */
	bool one_cpu;               /* only the calling CPU (benchmarks) */
	bool verify;                /* stamp writes and check reads (off: benchmarks) */
	uint64_t max_ops;           /* per CPU in the timed phase; 0 = no cap (tests) */
};

struct io_result {
	unsigned cpus;
	uint64_t writes, reads, bytes_written, bytes_read;
	uint64_t verified, mismatches, errors;
	uint64_t timed_ops, timed_bytes, timed_ns;   /* the timed phase only */
	uint64_t stamped, digest;
};

/* Run the workload on d. 0, or a negative errno when it could not start (logged:
 * bad sizes for this device, no memory). */
int io_engine_run(struct blk_dev *d, const struct io_params *p, struct io_result *r);
const char *io_mix_name(enum io_mix m);
/* Print the doppel-io line of a finished run. */
void io_result_print(const struct blk_dev *d, const struct io_params *p, const struct io_result *r);
#endif
