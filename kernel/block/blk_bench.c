/*
 * blk_bench.c — block benchmarks (bench=<glob>, docs/block.md "Benchmarks"):
 * random 4 KiB reads at queue depth 1 and 32, random 4 KiB writes at depth 32,
 * sequential 128 KiB reads, on one device (`bench.dev=`, default the first whose
 * name starts with "nvme"), from the boot CPU only, for `bench.seconds=` (default
 * 2) over the first `bench.blocks=` logical blocks (default the device capped at
 * 64 MiB). Reads run over a region written first (not timed). The engine is the
 * io workload's (verify.c) with stamping and checking off. Interrupt or polled
 * completion is the driver's boot word (nvme.poll=1), not the case name.
 */
#include <kernel/bench.h>
#include <kernel/block.h>
#include <kernel/cmdline.h>
#include <kernel/errno.h>
#include <kernel/log.h>
#include <kernel/string.h>

#include "io_engine.h"

#define BENCH_SECONDS_DEFAULT 2ull
#define BENCH_REGION_MAX_BYTES (64ull << 20)

static struct blk_dev *bench_dev(const char *what)
{
	const char *name = cmdline_get("bench.dev");
	if (name) {
		struct blk_dev *d = blk_find(name);
		if (!d)
			klog("bench", "%s: bench.dev=%s: no such block device", what, name);
		return d;
	}
	for (unsigned i = 0; i < blk_count(); i++) {
		struct blk_dev *d = blk_get(i);
		if (d && kstrncmp(d->name, "nvme", 4) == 0)
			return d;
	}
	klog("bench", "%s: no NVMe block device (give bench.dev=NAME for another)", what);
	return NULL;
}

/* One case: the figure is IOPS, or MB/s (10^6 bytes per second) when mbps. */
static int bench_block(const char *name, enum io_mix mix, uint32_t bs, uint32_t qd, bool mbps)
{
	struct blk_dev *d = bench_dev(name);
	uint64_t secs = BENCH_SECONDS_DEFAULT, blocks = 0;
	struct io_result r;
	if (!d)
		return -ENODEV;
	if (cmdline_get_u64("bench.seconds", &secs) == -EINVAL || secs == 0 ||
	    cmdline_get_u64("bench.blocks", &blocks) == -EINVAL) {
		klog("bench", "%s: bench.seconds (1 or more) or bench.blocks is not a number", name);
		return -EINVAL;
	}
	if (blocks == 0) {
		blocks = d->nblocks;
		if (blocks > BENCH_REGION_MAX_BYTES / d->lim.block_size)
			blocks = BENCH_REGION_MAX_BYTES / d->lim.block_size;
	}
	struct io_params p = {
		.run_ns = secs * 1000000000ull, .qd = qd, .bs = bs, .mix = mix, .seed = 1,
		.blocks = blocks, .one_cpu = true, .verify = false,
	};
	int rc = io_engine_run(d, &p, &r);
	if (rc) {
		klog("bench", "%s: %s: the run did not start (%d)", name, d->name, rc);
		return rc;
	}
	if (r.errors) {
		klog("bench", "%s: %s: %llu I/O errors: no figure", name, d->name, (unsigned long long)r.errors);
		return -EIO;
	}
	if (r.timed_ns == 0)
		return -EIO;
	if (mbps)
		bench_report(name, r.timed_bytes * 1000ull / r.timed_ns, "MB/s");
	else
		bench_report(name, r.timed_ops * 1000000000ull / r.timed_ns, "iops");
	return 0;
}

static int randread_qd1(void) { return bench_block("nvme_randread_4k_qd1_iops", IO_MIX_RANDREAD, 4096, 1, false); }
static int randread_qd32(void) { return bench_block("nvme_randread_4k_qd32_iops", IO_MIX_RANDREAD, 4096, 32, false); }
static int randwrite_qd32(void) { return bench_block("nvme_randwrite_4k_qd32_iops", IO_MIX_RANDWRITE, 4096, 32, false); }
static int seqread_128k(void) { return bench_block("nvme_seqread_128k_mbps", IO_MIX_SEQREAD, 128 * 1024, 32, true); }

BENCH_CASE(bench_nvme_rr1, "nvme_randread_4k_qd1_iops", randread_qd1);
BENCH_CASE(bench_nvme_rr32, "nvme_randread_4k_qd32_iops", randread_qd32);
BENCH_CASE(bench_nvme_rw32, "nvme_randwrite_4k_qd32_iops", randwrite_qd32);
BENCH_CASE(bench_nvme_sr128, "nvme_seqread_128k_mbps", seqread_128k);
