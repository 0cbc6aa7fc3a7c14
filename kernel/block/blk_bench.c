/*
 * blk_bench.c — block benchmarks (bench=<glob>, docs/block.md "Benchmarks"):
 * random 4 KiB reads at queue depth 1 and 32, random 4 KiB writes at depth 32,
 * sequential 128 KiB reads, once for NVMe (nvme_*) and once for SATA (ahci_*), on
 * one device (`bench.dev=`, default the first whose name starts with "nvme", or
 * "sata" for the ahci_* cases), from the boot CPU only, for `bench.seconds=`
 * (default 2) over the first `bench.blocks=` logical blocks (default the device
 * capped at 64 MiB). Reads run over a region written first (not timed). The engine
 * is the io workload's (verify.c) with stamping and checking off. Interrupt or
 * polled completion is the driver's boot word (nvme.poll=1, ahci.irq=), not the
 * case name.
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

/* The device of a case: bench.dev=, else the first whose name starts with prefix
 * ("nvme", "sata"); what names the kind in the log line when there is none. */
static struct blk_dev *bench_dev(const char *what, const char *prefix, const char *kind)
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
		if (d && kstrncmp(d->name, prefix, kstrlen(prefix)) == 0)
			return d;
	}
	klog("bench", "%s: no %s block device (no %s*; give bench.dev=NAME for another)", what,
	     kind, prefix);
	return NULL;
}

/* One case: the figure is IOPS, or MB/s (10^6 bytes per second) when mbps. */
static int bench_block(const char *name, const char *prefix, const char *kind, enum io_mix mix,
		       uint32_t bs, uint32_t qd, bool mbps)
{
	struct blk_dev *d = bench_dev(name, prefix, kind);
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

#define NVME_CASE(n, ...) bench_block(n, "nvme", "NVMe", __VA_ARGS__)
#define AHCI_CASE(n, ...) bench_block(n, "sata", "SATA", __VA_ARGS__)

static int nvme_rr1(void) { return NVME_CASE("nvme_randread_4k_qd1_iops", IO_MIX_RANDREAD, 4096, 1, false); }
static int nvme_rr32(void) { return NVME_CASE("nvme_randread_4k_qd32_iops", IO_MIX_RANDREAD, 4096, 32, false); }
static int nvme_rw32(void) { return NVME_CASE("nvme_randwrite_4k_qd32_iops", IO_MIX_RANDWRITE, 4096, 32, false); }
static int nvme_sr128(void) { return NVME_CASE("nvme_seqread_128k_mbps", IO_MIX_SEQREAD, 128 * 1024, 32, true); }

BENCH_CASE(bench_nvme_rr1, "nvme_randread_4k_qd1_iops", nvme_rr1);
BENCH_CASE(bench_nvme_rr32, "nvme_randread_4k_qd32_iops", nvme_rr32);
BENCH_CASE(bench_nvme_rw32, "nvme_randwrite_4k_qd32_iops", nvme_rw32);
BENCH_CASE(bench_nvme_sr128, "nvme_seqread_128k_mbps", nvme_sr128);

/* The same four on the first SATA disk (sata0, ...; common contract of issue 11). */
static int ahci_rr1(void) { return AHCI_CASE("ahci_randread_4k_qd1_iops", IO_MIX_RANDREAD, 4096, 1, false); }
static int ahci_rr32(void) { return AHCI_CASE("ahci_randread_4k_qd32_iops", IO_MIX_RANDREAD, 4096, 32, false); }
static int ahci_rw32(void) { return AHCI_CASE("ahci_randwrite_4k_qd32_iops", IO_MIX_RANDWRITE, 4096, 32, false); }
static int ahci_sr128(void) { return AHCI_CASE("ahci_seqread_128k_mbps", IO_MIX_SEQREAD, 128 * 1024, 32, true); }

BENCH_CASE(bench_ahci_rr1, "ahci_randread_4k_qd1_iops", ahci_rr1);
BENCH_CASE(bench_ahci_rr32, "ahci_randread_4k_qd32_iops", ahci_rr32);
BENCH_CASE(bench_ahci_rw32, "ahci_randwrite_4k_qd32_iops", ahci_rw32);
BENCH_CASE(bench_ahci_sr128, "ahci_seqread_128k_mbps", ahci_sr128);
