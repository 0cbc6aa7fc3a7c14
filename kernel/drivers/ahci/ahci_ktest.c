/*
 * ahci_ktest.c — the `ahci` suite (docs/ahci.md): the driver against the machine's
 * AHCI HBAs (q35's ICH9 and added ich9-ahci on QEMU, the sim's model): HBA up,
 * IDENTIFY fields, round trips from every CPU, NCQ with several tags in flight, a
 * PRDT up to the largest part, FLUSH CACHE EXT, TRIM, an LBA beyond the capacity,
 * the non-NCQ path, a port reset with I/O in flight, the fixed conformance list
 * (ahci_conf_ktest.c), shutdown (flush, engines stopped, AHCI 1.3.1 §10.3.2), and
 * I/O from every CPU racing error recovery.
 */
#include "ahci_int.h"
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/block.h>
#include <kernel/cmdline.h>
#include <kernel/cpumask.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/ktest.h>
#include <kernel/log.h>
#include <kernel/pmm.h>
#include <kernel/smp.h>
#include <kernel/string.h>

#define KT_LBA_BASE 8192u               /* the suite writes from here */
#define KT_ASYNC 32u

static struct blk_dev *need_disk(struct ktest *t, struct ahci_disk_info *di)
{
	if (ahci_disk_count() == 0) {
		ktest_skip(t, ahci_count() ? "no SATA disk on any AHCI port" : "no AHCI HBA started");
		return 0;
	}
	ahci_disk_info_get(0, di);
	struct blk_dev *d = blk_find(di->name);
	if (!d)
		ktest_fail_at(t, __FILE__, __LINE__, "no block device %s", di->name);
	return d;
}

static void fill(uint8_t *b, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 29u + i * 13u + (i >> 9));
}

/* Several requests at once, each its own buffer, waited for together. */
struct async {
	struct blk_request rq[KT_ASYNC];
	struct blk_seg seg[KT_ASYNC];
	uint32_t left;                  /* atomic */
	uint32_t all_done;              /* atomic flag for blk_wait */
	uint32_t failed;                /* atomic */
};

static void async_done(struct blk_request *rq)
{
	struct async *a = rq->priv;
	if (rq->status)
		atomic_fetch_add32(&a->failed, 1, MO_RELAXED);
	if (atomic_fetch_add32(&a->left, (uint32_t)-1, MO_ACQ_REL) == 1)
		atomic_store32(&a->all_done, 1, MO_RELEASE);
}

/* n requests of nb blocks: op on lba base + i * nb from bufs[i]. 0 when all passed. */
static int async_run_st(struct blk_dev *d, enum blk_op op, uint64_t base, uint32_t nb, uint8_t **bufs, unsigned n,
			void (*mid)(void *), void *mid_arg, int *st, uint32_t *dst)
{
	struct async *a = kzalloc(sizeof *a);
	if (!a)
		return -ENOMEM;
	a->left = n;
	int refused = 0;
	/* Interrupts off while submitting: the HBA's vector goes to the boot CPU, where
	 * the suite runs, so nothing is reaped until all n were issued (the NCQ case
	 * sees them at the device together however fast the device is). */
	unsigned long f = hal_irq_save();
	for (unsigned i = 0; i < n; i++) {
		a->seg[i] = (struct blk_seg){ bufs[i], nb * d->lim.block_size };
		a->rq[i] = (struct blk_request){ .op = op, .lba = base + (uint64_t)i * nb, .nblocks = nb, .nsegs = 1,
						 .segs = &a->seg[i], .done = async_done, .priv = a };
		int src = blk_submit(d, &a->rq[i]);
		if (src) {
			a->rq[i].status = src;
			refused++;
			async_done(&(struct blk_request){ .status = -1, .priv = a });
		}
	}
	hal_irq_restore(f);
	if (mid)
		mid(mid_arg);
	blk_wait(d, &a->all_done);
	int rc = refused || atomic_load32(&a->failed, MO_ACQUIRE) ? -EIO : 0;
	for (unsigned i = 0; st && i < n; i++) {
		st[i] = a->rq[i].status;
		dst[i] = a->rq[i].dev_status;
	}
	kfree(a);
	return rc;
}

static int async_run(struct blk_dev *d, enum blk_op op, uint64_t base, uint32_t nb, uint8_t **bufs, unsigned n,
		     void (*mid)(void *), void *mid_arg)
{
	return async_run_st(d, op, base, nb, bufs, n, mid, mid_arg, 0, 0);
}

static void ahci_hba_up(struct ktest *t)
{
	if (ahci_count() == 0) {
		ktest_skip(t, "no AHCI HBA on this machine");
		return;
	}
	for (unsigned i = 0; i < ahci_count(); i++) {
		struct ahci_info in;
		KTEST_ASSERT(t, ahci_info_get(i, &in) == 0);
		KTEST_EXPECT(t, in.nports >= 1 && in.nports <= 32);
		KTEST_EXPECT(t, in.pi != 0);
		KTEST_EXPECT(t, (in.cap & AHCI_CAP_NP_MASK) + 1u >= in.nports);
		KTEST_EXPECT(t, in.vs >= 0x00010000u);
		ktest_log(t, "%s: %u ports (PI 0x%x), CAP 0x%x, VS 0x%x, irq %s, %u disks", in.name, in.nports, in.pi,
			  in.cap, in.vs, in.irq_mode, in.ndisks);
	}
	KTEST_EXPECT(t, ahci_info_get(ahci_count(), &(struct ahci_info){ 0 }) != 0);
}

static void ahci_identify_sane(struct ktest *t)
{
	struct ahci_disk_info di;
	struct blk_dev *d = need_disk(t, &di);
	if (!d)
		return;
	KTEST_EXPECT(t, di.id.model[0] != 0);
	for (const char *s = di.id.model; *s; s++)
		KTEST_EXPECT(t, *s >= 0x20 && *s < 0x7F);
	size_t n = kstrlen(di.id.model);
	KTEST_EXPECT(t, n == 0 || di.id.model[n - 1] != ' ');
	KTEST_EXPECT(t, di.id.lba48);
	KTEST_EXPECT(t, di.id.sectors > 0);
	KTEST_EXPECT_EQ(t, d->nblocks, di.id.sectors);
	KTEST_EXPECT(t, di.id.block_size == 512 || di.id.block_size == 4096);
	KTEST_EXPECT_EQ(t, d->lim.block_size, di.id.block_size);
	KTEST_EXPECT(t, !di.id.ncq || (di.id.ncq_depth >= 1 && di.id.ncq_depth <= 32));
	KTEST_EXPECT(t, di.depth >= 1 && di.depth <= 32);
	ktest_log(t, "%s: \"%s\" \"%s\" fw \"%s\", %llu sectors of %u, NCQ %s (depth %u), TRIM %s, cache %s", di.name,
		  di.id.model, di.id.serial, di.id.fw, (unsigned long long)di.id.sectors, di.id.block_size,
		  di.ncq_on ? "on" : "off", di.depth, di.id.trim ? "yes" : "no", di.id.wcache_on ? "on" : "off");
}

struct percpu_rw {
	struct blk_dev *d;
	uint32_t fails, ran;            /* atomic */
};

static void rw_on_cpu(uint64_t arg)
{
	struct percpu_rw *r = (struct percpu_rw *)(uintptr_t)arg;
	unsigned cpu = hal_cpu_index();
	uint32_t bs = r->d->lim.block_size;
	uint8_t *w = kmalloc(4 * bs), *rd = kmalloc(4 * bs);
	bool ok = w && rd;
	if (ok) {
		uint64_t lba = KT_LBA_BASE + 4ull * cpu;
		fill(w, 4 * bs, cpu + 3u);
		memset(rd, 0, 4 * bs);
		ok = blk_rw_sync(r->d, BLK_OP_WRITE, lba, 4, w) == 0 && blk_rw_sync(r->d, BLK_OP_READ, lba, 4, rd) == 0 &&
		     memcmp(w, rd, 4 * bs) == 0;
	}
	kfree(w);
	kfree(rd);
	if (!ok) {
		klog("ahci", "ktest: round trip on CPU %u failed", cpu);
		atomic_fetch_add32(&r->fails, 1, MO_RELAXED);
	}
	atomic_fetch_add32(&r->ran, 1, MO_RELEASE);
}

static void ahci_rw_verify_each_cpu(struct ktest *t)
{
	struct ahci_disk_info di, after;
	struct blk_dev *d = need_disk(t, &di);
	if (!d)
		return;
	struct percpu_rw r = { .d = d };
	struct cpumask all;
	smp_online_mask(&all);
	KTEST_EXPECT_EQ(t, smp_run_threads(&all, rw_on_cpu, (uint64_t)(uintptr_t)&r), 0);
	KTEST_EXPECT_EQ(t, atomic_load32(&r.ran, MO_ACQUIRE), smp_online_count());
	KTEST_EXPECT_EQ(t, atomic_load32(&r.fails, MO_ACQUIRE), 0);
	ahci_disk_info_get(0, &after);
	KTEST_EXPECT(t, after.completed >= di.completed + 2u * smp_online_count());
	/* Every other disk does a round trip too. */
	for (unsigned k = 1; k < ahci_disk_count(); k++) {
		struct ahci_disk_info dk;
		ahci_disk_info_get(k, &dk);
		struct percpu_rw rk = { .d = blk_find(dk.name) };
		KTEST_ASSERT(t, rk.d);
		rw_on_cpu((uint64_t)(uintptr_t)&rk);
		KTEST_EXPECT_EQ(t, atomic_load32(&rk.fails, MO_ACQUIRE), 0);
	}
}

/* Write KT_ASYNC distinct 4-block buffers at once, read them back at once, compare. */
static void async_round_trip(struct ktest *t, struct blk_dev *d, uint64_t base, void (*mid)(void *), void *arg)
{
	uint32_t nb = 4, bytes = nb * d->lim.block_size;
	uint8_t *w[KT_ASYNC], *r[KT_ASYNC];
	for (unsigned i = 0; i < KT_ASYNC; i++) {
		w[i] = kmalloc(bytes);
		r[i] = kzalloc(bytes);
		KTEST_ASSERT(t, w[i] && r[i]);
		fill(w[i], bytes, 100u + i);
	}
	KTEST_EXPECT_EQ(t, async_run(d, BLK_OP_WRITE, base, nb, w, KT_ASYNC, mid, arg), 0);
	KTEST_EXPECT_EQ(t, async_run(d, BLK_OP_READ, base, nb, r, KT_ASYNC, 0, 0), 0);
	unsigned bad = 0;
	for (unsigned i = 0; i < KT_ASYNC; i++) {
		bad += memcmp(w[i], r[i], bytes) != 0;
		kfree(w[i]);
		kfree(r[i]);
	}
	KTEST_EXPECT_EQ(t, bad, 0);
}

static void ahci_ncq_depth_in_flight(struct ktest *t)
{
	struct ahci_disk_info di;
	struct blk_dev *d = need_disk(t, &di);
	if (!d)
		return;
	if (!di.ncq_on) {
		ktest_skip(t, "%s: NCQ off (%s)", di.name,
			   !di.id.ncq ? "the disk does not offer it" : "ahci.ncq=0 or the HBA lacks CAP.SNCQ");
		return;
	}
	KTEST_ASSERT(t, ahci_test_set_ncq(0, true) == 0);       /* resets the in-flight high mark */
	async_round_trip(t, d, KT_LBA_BASE + 1024, 0, 0);
	struct ahci_disk_info after;
	ahci_disk_info_get(0, &after);
	ktest_log(t, "%s: %u commands at the device at most (depth %u)", di.name, after.max_inflight, di.depth);
	KTEST_EXPECT(t, after.max_inflight > 1);
	KTEST_EXPECT(t, after.max_inflight <= di.depth);
}

static void ahci_prdt_up_to_max_transfer(struct ktest *t)
{
	struct ahci_disk_info di;
	struct blk_dev *d = need_disk(t, &di);
	if (!d)
		return;
	uint32_t bs = d->lim.block_size, nb = d->lim.max_blocks;
	size_t bytes = (size_t)nb * bs, pages = bytes / PAGE_SIZE + 1;
	uint64_t pa = pmm_alloc_pages(pages, 1), pb = pmm_alloc_pages(pages, 1);
	KTEST_ASSERT(t, pa && pb);
	uint8_t *w = hal_phys_to_virt(pa), *r = hal_phys_to_virt(pb);
	/* One contiguous segment (a PRD of up to 4 MiB), then BLK_MAX_SEGS pieces. */
	fill(w, bytes, 41);
	memset(r, 0, bytes);
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_WRITE, KT_LBA_BASE, nb, w), 0);
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_READ, KT_LBA_BASE, nb, r), 0);
	KTEST_EXPECT(t, memcmp(w, r, bytes) == 0);
	struct blk_seg segs[BLK_MAX_SEGS];
	unsigned ns = d->lim.max_segs;
	size_t piece = bytes / ns;
	piece -= piece % bs;
	KTEST_ASSERT(t, piece >= bs);
	for (unsigned i = 0; i < ns; i++)
		segs[i] = (struct blk_seg){ r + i * piece, (uint32_t)piece };
	memset(r, 0, bytes);
	struct async *a = kzalloc(sizeof *a);      /* only its counters: the requests are large */
	KTEST_ASSERT(t, a);
	a->left = 1;
	struct blk_request rq = { .op = BLK_OP_READ, .lba = KT_LBA_BASE, .nblocks = (uint32_t)(piece / bs * ns),
				  .nsegs = ns, .segs = segs, .done = async_done, .priv = a };
	KTEST_ASSERT(t, blk_submit(d, &rq) == 0);
	blk_wait(d, &a->all_done);
	kfree(a);
	KTEST_EXPECT_EQ(t, rq.status, 0);
	KTEST_EXPECT_EQ(t, rq.nparts, 1);
	KTEST_EXPECT(t, memcmp(w, r, piece * ns) == 0);
	ktest_log(t, "%u blocks of %u bytes (%zu KiB) in one command; %u segments of %zu bytes in one command", nb, bs,
		  bytes >> 10, ns, piece);
	pmm_free_pages(pa, pages);
	pmm_free_pages(pb, pages);
}

static void ahci_flush_completes(struct ktest *t)
{
	struct ahci_disk_info di, after;
	struct blk_dev *d = need_disk(t, &di);
	if (!d)
		return;
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_FLUSH, 0, 0, 0), 0);
	ahci_disk_info_get(0, &after);
	if (di.id.wcache_on)
		KTEST_EXPECT_EQ(t, after.flushes, di.flushes + 1u);
	else
		ktest_log(t, "%s: no volatile write cache: FLUSH completed by the block layer", di.name);
}

static void ahci_trim_when_offered(struct ktest *t)
{
	struct ahci_disk_info di, after;
	struct blk_dev *d = need_disk(t, &di);
	if (!d)
		return;
	if (!di.id.trim) {
		ktest_skip(t, "%s: IDENTIFY word 169 offers no TRIM", di.name);
		return;
	}
	uint32_t bs = d->lim.block_size, nb = 16;
	uint8_t *b = kmalloc(nb * bs);
	KTEST_ASSERT(t, b);
	fill(b, nb * bs, 9);
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_WRITE, KT_LBA_BASE + 256, nb, b), 0);
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_DISCARD, KT_LBA_BASE + 256, nb, 0), 0);
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_READ, KT_LBA_BASE + 256, nb, b), 0);
	ahci_disk_info_get(0, &after);
	KTEST_EXPECT_EQ(t, after.trims, di.trims + 1u);
	kfree(b);
}

static void ahci_lba_beyond_capacity(struct ktest *t)
{
	struct ahci_disk_info di, after;
	struct blk_dev *d = need_disk(t, &di);
	if (!d)
		return;
	uint32_t bs = d->lim.block_size;
	uint8_t *b = kzalloc(2 * bs);
	KTEST_ASSERT(t, b);
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_READ, d->nblocks, 1, b), BLK_E_INVAL);
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_READ, d->nblocks - 1, 2, b), BLK_E_INVAL);
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_READ, d->nblocks - 1, 1, b), 0);
	ahci_disk_info_get(0, &after);
	KTEST_EXPECT_EQ(t, after.submitted, di.submitted + 1u);     /* only the valid one reached the disk */
	KTEST_EXPECT_EQ(t, after.errors, di.errors);
	kfree(b);
}

static void ahci_non_ncq_path(struct ktest *t)
{
	struct ahci_disk_info di;
	struct blk_dev *d = need_disk(t, &di);
	if (!d)
		return;
	bool was = di.ncq_on;
	KTEST_ASSERT(t, ahci_test_set_ncq(0, false) == 0);
	async_round_trip(t, d, KT_LBA_BASE + 2048, 0, 0);
	struct ahci_disk_info after;
	ahci_disk_info_get(0, &after);
	KTEST_EXPECT_EQ(t, after.max_inflight, 1);      /* one command at a time, the rest queued */
	KTEST_EXPECT(t, !after.ncq_on);
	uint64_t v;
	if (cmdline_get_u64("ahci.ncq", &v) == 0 && v == 0)
		KTEST_EXPECT(t, !was);
	if (was)
		KTEST_EXPECT_EQ(t, ahci_test_set_ncq(0, true), 0);
	ktest_log(t, "%s: %d in flight at most without NCQ (NCQ %s before)", di.name, after.max_inflight,
		  was ? "on" : "off");
}

static void reset_mid(void *arg)
{
	ahci_test_port_reset(0, (const char *)arg);
}

static void ahci_port_reset_resubmits(struct ktest *t)
{
	struct ahci_disk_info di, after;
	struct blk_dev *d = need_disk(t, &di);
	if (!d)
		return;
	async_round_trip(t, d, KT_LBA_BASE + 3072, reset_mid, (void *)"ktest: reset with I/O in flight");
	ahci_disk_info_get(0, &after);
	KTEST_EXPECT_EQ(t, after.resets, di.resets + 1u);
	KTEST_EXPECT(t, !after.failed);
	KTEST_EXPECT_EQ(t, after.errors, di.errors);
	ktest_log(t, "%s: %llu commands resubmitted by the reset", di.name,
		  (unsigned long long)(after.resubmitted - di.resubmitted));
}

static void ahci_shutdown_flushes_and_stops(struct ktest *t)
{
	struct ahci_disk_info di, after;
	struct blk_dev *d = need_disk(t, &di);
	if (!d)
		return;
	d->ops->shutdown(d);
	ahci_disk_info_get(0, &after);
	KTEST_EXPECT_EQ(t, after.pxcmd & (AHCI_PxCMD_ST | AHCI_PxCMD_CR | AHCI_PxCMD_FRE | AHCI_PxCMD_FR), 0);
	if (di.id.wcache_on)
		KTEST_EXPECT_EQ(t, after.flushes, di.flushes + 1u);
	uint8_t *b = kzalloc(d->lim.block_size);
	KTEST_ASSERT(t, b);
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_READ, 0, 1, b), BLK_E_NODEV);
	KTEST_EXPECT_EQ(t, ahci_test_restart(0), 0);
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_READ, 0, 1, b), 0);
	kfree(b);
}

/* Batches of writes then reads while the model's fault sites may fire (the sim
 * tests turn them on; without faults everything passes): every request ends
 * exactly once, either well or with a status the recovery documents (io-error
 * with the device's status and ERR set, no-device after the link went, timed-out
 * after the resubmissions), and what was written and read back well matches. */
static void ahci_io_survives_faults(struct ktest *t)
{
	struct ahci_disk_info di;
	struct blk_dev *d = need_disk(t, &di);
	if (!d)
		return;
	uint32_t nb = 4, bytes = nb * d->lim.block_size;
	uint8_t *w[KT_ASYNC], *r[KT_ASYNC];
	int ws[KT_ASYNC], rs[KT_ASYNC];
	uint32_t wd[KT_ASYNC], rd[KT_ASYNC];
	unsigned ok = 0, io = 0, nodev = 0, tmo = 0, verified = 0, other = 0;
	for (unsigned i = 0; i < KT_ASYNC; i++) {
		w[i] = kmalloc(bytes);
		r[i] = kzalloc(bytes);
		KTEST_ASSERT(t, w[i] && r[i]);
	}
	for (unsigned round = 0; round < 8; round++) {
		uint64_t base = KT_LBA_BASE + 4096u + round * KT_ASYNC * nb;
		for (unsigned i = 0; i < KT_ASYNC; i++) {
			fill(w[i], bytes, 1000u + round * KT_ASYNC + i);
			memset(r[i], 0, bytes);
		}
		async_run_st(d, BLK_OP_WRITE, base, nb, w, KT_ASYNC, 0, 0, ws, wd);
		async_run_st(d, BLK_OP_READ, base, nb, r, KT_ASYNC, 0, 0, rs, rd);
		for (unsigned i = 0; i < 2 * KT_ASYNC; i++) {
			int stv = i < KT_ASYNC ? ws[i] : rs[i - KT_ASYNC];
			uint32_t dsv = i < KT_ASYNC ? wd[i] : rd[i - KT_ASYNC];
			if (stv == 0)
				ok++;
			else if (stv == BLK_E_IO)
				io++;
			else if (stv == BLK_E_NODEV)
				nodev++;
			else if (stv == BLK_E_TIMEDOUT)
				tmo++;
			else {
				other++;
				ktest_fail_at(t, __FILE__, __LINE__, "request %u of round %u: status %d dev_status 0x%x", i,
					      round, stv, dsv);
			}
		}
		for (unsigned i = 0; i < KT_ASYNC; i++) {
			if (ws[i] || rs[i])
				continue;
			if (memcmp(w[i], r[i], bytes))
				ktest_fail_at(t, __FILE__, __LINE__, "round %u lba %llu: read back differs", round,
					      (unsigned long long)(base + i * nb));
			else
				verified++;
		}
	}
	for (unsigned i = 0; i < KT_ASYNC; i++) {
		kfree(w[i]);
		kfree(r[i]);
	}
	ktest_log(t, "%s: requests ok=%u io_error=%u no_device=%u timed_out=%u other=%u verified=%u", di.name, ok, io,
		  nodev, tmo, other, verified);
	KTEST_EXPECT(t, ok + io + nodev + tmo == 2u * 8u * KT_ASYNC);
}

/* ---- recovery racing I/O on every CPU (tests/sim/test_ahci_det.py) -------------------------
 *
 * Every online CPU writes batches of KT_REC_QD requests with known data to its own
 * blocks, all in flight at once (every other round it resets the port right after
 * submitting: a reset racing completions), then reads them back the same way, while
 * the sim's fault sites may fail one NCQ tag now and then (the others completing
 * around it) or hold commands past a tiny timeout. Every request
 * must complete exactly once; one that ended well verifies; one that failed carries
 * the device's status (ERR set) and is logged with its LBA. Without faults all pass. */
#define KT_REC_ROUNDS 4u
#define KT_REC_QD 8u
#define KT_REC_BLOCKS 8u
#define KT_REC_LBA (KT_LBA_BASE + 16384u)
#define KT_REC_CPUS 32u             /* CPUs taking part (each its own LBA range): one port's
				     * 32 tags are the bottleneck long before that */

struct rec_batch {
	struct blk_request rq[KT_REC_QD];
	struct blk_seg seg[KT_REC_QD];
	uint32_t calls[KT_REC_QD];      /* atomic: completions seen per request */
	uint32_t left, all_done;        /* atomic */
};

struct rec_result {
	struct blk_dev *d;
	uint32_t bad, ok, io, tmo, verified, ran;       /* atomic */
};

static void rec_done(struct blk_request *rq)
{
	struct rec_batch *b = rq->priv;
	atomic_fetch_add32(&b->calls[rq - b->rq], 1, MO_RELAXED);
	if (atomic_fetch_add32(&b->left, (uint32_t)-1, MO_ACQ_REL) == 1)
		atomic_store32(&b->all_done, 1, MO_RELEASE);
}

/* One batch: every request submitted, then (reset) the port reset while they are
 * at the device, then waited for together. Returns how many requests did not
 * complete exactly once. */
static unsigned rec_batch_run(struct blk_dev *d, struct rec_batch *b, enum blk_op op, uint64_t base, uint8_t **bufs,
			      bool reset)
{
	uint32_t bytes = KT_REC_BLOCKS * d->lim.block_size;
	memset(b, 0, sizeof *b);
	b->left = KT_REC_QD;
	for (unsigned i = 0; i < KT_REC_QD; i++) {
		b->seg[i] = (struct blk_seg){ bufs[i], bytes };
		b->rq[i] = (struct blk_request){ .op = op, .lba = base + (uint64_t)i * KT_REC_BLOCKS,
						 .nblocks = KT_REC_BLOCKS, .nsegs = 1, .segs = &b->seg[i],
						 .done = rec_done, .priv = b };
		int src = blk_submit(d, &b->rq[i]);
		if (src) {                      /* refused: no callback will come */
			b->rq[i].status = src;
			rec_done(&b->rq[i]);
		}
	}
	if (reset)
		ahci_test_port_reset(0, "ktest: a reset racing completions");
	blk_wait(d, &b->all_done);
	unsigned wrong = 0;
	for (unsigned i = 0; i < KT_REC_QD; i++) {
		uint32_t n = atomic_load32(&b->calls[i], MO_ACQUIRE);
		if (n != 1) {
			klog("ahci", "ktest: %s lba %llu completed %u times", op == BLK_OP_WRITE ? "write" : "read",
			     (unsigned long long)b->rq[i].lba, n);
			wrong++;
		}
	}
	return wrong;
}

/* Count one request's outcome; false when it is not one recovery may give. */
static bool rec_outcome(struct rec_result *r, unsigned cpu, const struct blk_request *rq)
{
	const char *what = rq->op == BLK_OP_WRITE ? "write" : "read";
	if (rq->status == 0) {
		atomic_fetch_add32(&r->ok, 1, MO_RELAXED);
		return true;
	}
	klog("ahci", "ktest: CPU %u %s lba %llu failed: %s (dev_status 0x%x)", cpu, what, (unsigned long long)rq->lba,
	     blk_status_name(rq->status), rq->dev_status);
	if (rq->status == BLK_E_IO && ((rq->dev_status >> 8) & ATA_SR_ERR)) {
		atomic_fetch_add32(&r->io, 1, MO_RELAXED);
		return true;
	}
	if (rq->status == BLK_E_TIMEDOUT) {
		atomic_fetch_add32(&r->tmo, 1, MO_RELAXED);
		return true;
	}
	return false;
}

static void rec_on_cpu(uint64_t arg)
{
	struct rec_result *r = (struct rec_result *)(uintptr_t)arg;
	struct blk_dev *d = r->d;
	unsigned cpu = hal_cpu_index();
	uint32_t bytes = KT_REC_BLOCKS * d->lim.block_size;
	struct rec_batch *wb = kzalloc(sizeof *wb), *rb = kzalloc(sizeof *rb);
	uint8_t *w[KT_REC_QD], *rd[KT_REC_QD];
	unsigned bad = !wb || !rb;
	for (unsigned i = 0; i < KT_REC_QD; i++) {
		w[i] = kmalloc(bytes);
		rd[i] = kmalloc(bytes);
		bad += !w[i] || !rd[i];
	}
	for (unsigned round = 0; !bad && round < KT_REC_ROUNDS; round++) {
		uint64_t base = KT_REC_LBA + ((uint64_t)cpu * KT_REC_ROUNDS + round) * KT_REC_QD * KT_REC_BLOCKS;
		for (unsigned i = 0; i < KT_REC_QD; i++) {
			fill(w[i], bytes, 5000u + cpu * 100u + round * KT_REC_QD + i);
			memset(rd[i], 0, bytes);
		}
		bad += rec_batch_run(d, wb, BLK_OP_WRITE, base, w, round & 1u);
		bad += rec_batch_run(d, rb, BLK_OP_READ, base, rd, false);
		for (unsigned i = 0; i < KT_REC_QD; i++) {
			bad += !rec_outcome(r, cpu, &wb->rq[i]);
			bad += !rec_outcome(r, cpu, &rb->rq[i]);
			if (wb->rq[i].status || rb->rq[i].status)
				continue;
			if (memcmp(w[i], rd[i], bytes)) {
				klog("ahci", "ktest: CPU %u lba %llu: read back differs", cpu,
				     (unsigned long long)rb->rq[i].lba);
				bad++;
			} else {
				atomic_fetch_add32(&r->verified, 1, MO_RELAXED);
			}
		}
	}
	for (unsigned i = 0; i < KT_REC_QD; i++) {
		kfree(w[i]);
		kfree(rd[i]);
	}
	kfree(wb);
	kfree(rb);
	if (bad)
		atomic_fetch_add32(&r->bad, bad, MO_RELAXED);
	atomic_fetch_add32(&r->ran, 1, MO_RELEASE);
}

static void ahci_io_survives_recovery(struct ktest *t)
{
	struct ahci_disk_info di, after;
	struct blk_dev *d = need_disk(t, &di);
	if (!d)
		return;
	struct rec_result r = { .d = d };
	/* The first KT_REC_CPUS online CPUs, each writing its own LBA range (CPU
	 * indices are dense, so index * range stays inside the disk). */
	struct cpumask all, part;
	smp_online_mask(&all);
	cpumask_clear(&part);
	unsigned ncpu = 0;
	for_each_cpu(c, &all) {
		if (c < KT_REC_CPUS) {
			cpumask_set(&part, c);
			ncpu++;
		}
	}
	uint64_t need = KT_REC_LBA + (uint64_t)KT_REC_CPUS * KT_REC_ROUNDS * KT_REC_QD * KT_REC_BLOCKS;
	if (d->nblocks < need) {
		ktest_skip(t, "%s has %llu blocks; the case writes up to block %llu", di.name,
			   (unsigned long long)d->nblocks, (unsigned long long)need);
		return;
	}
	KTEST_EXPECT_EQ(t, smp_run_threads(&part, rec_on_cpu, (uint64_t)(uintptr_t)&r), 0);
	KTEST_EXPECT_EQ(t, atomic_load32(&r.ran, MO_ACQUIRE), ncpu);
	KTEST_EXPECT_EQ(t, atomic_load32(&r.bad, MO_ACQUIRE), 0);
	uint32_t ok = atomic_load32(&r.ok, MO_ACQUIRE), io = atomic_load32(&r.io, MO_ACQUIRE);
	uint32_t tmo = atomic_load32(&r.tmo, MO_ACQUIRE);
	KTEST_EXPECT_EQ(t, ok + io + tmo, ncpu * KT_REC_ROUNDS * KT_REC_QD * 2u);
	ahci_disk_info_get(0, &after);
	KTEST_EXPECT(t, !after.failed);
	ktest_log(t, "%s: %u CPUs: requests ok=%u io_error=%u timed_out=%u verified=%u, %llu resets, %llu resubmitted",
		  di.name, ncpu, ok, io, tmo, atomic_load32(&r.verified, MO_ACQUIRE),
		  (unsigned long long)(after.resets - di.resets),
		  (unsigned long long)(after.resubmitted - di.resubmitted));
}

static const struct ktest_case ahci_cases[] = {
	KTEST_CASE(ahci_hba_up),
	KTEST_CASE(ahci_identify_sane),
	KTEST_CASE(ahci_rw_verify_each_cpu),
	KTEST_CASE(ahci_ncq_depth_in_flight),
	KTEST_CASE(ahci_prdt_up_to_max_transfer),
	KTEST_CASE(ahci_flush_completes),
	KTEST_CASE(ahci_trim_when_offered),
	KTEST_CASE(ahci_lba_beyond_capacity),
	KTEST_CASE(ahci_non_ncq_path),
	KTEST_CASE(ahci_port_reset_resubmits),
	KTEST_CASE(ahci_io_survives_faults),
	{ "conformance", ahci_conformance_ktest },      /* ahci_conf_ktest.c */
	KTEST_CASE(ahci_shutdown_flushes_and_stops),
	KTEST_CASE(ahci_io_survives_recovery),
};
KTEST_SUITE(ahci_suite, "ahci", ahci_cases);
