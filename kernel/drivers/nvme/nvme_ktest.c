/*
 * nvme_ktest.c — the `nvme` suite (docs/nvme.md): the driver against the machine's
 * first NVMe controller (QEMU's nvme device or the sim's model): controller and
 * queues up, Identify fields, I/O through the block layer on every CPU's queue,
 * PRP lists up to MDTS, Flush, Write Zeroes, Dataset Management, device status
 * carried back, the cid table over a ring in plain memory, polled mode, reset with
 * I/O in flight, shutdown (CC.SHN, §7.6.2), and the fixed conformance list.
 */
#include <drivers/nvme.h>
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

#define KT_LBA_BASE 4096u
#define NVME_MAX_QUEUES_KT 64u           /* the suite writes from here (the io= run rewrites it) */

static struct nvme_ctrl *need_ctrl(struct ktest *t, struct nvme_info *info)
{
	struct nvme_ctrl *c = nvme_get(0);
	if (!c) {
		ktest_skip(t, "no NVMe controller started");
		return 0;
	}
	nvme_info_get(c, info);
	return c;
}

static struct blk_dev *need_ns(struct ktest *t, struct nvme_ctrl **cp, struct nvme_info *info)
{
	struct nvme_ctrl *c = need_ctrl(t, info);
	if (!c)
		return 0;
	if (!info->nr_io_queues || !info->nns) {
		ktest_skip(t, "%s has no I/O queues or namespaces (model without I/O)", info->name);
		return 0;
	}
	*cp = c;
	struct blk_dev *d = blk_find(nvme_ns_name(c, 1) ? nvme_ns_name(c, 1) : "nvme0n1");
	if (!d)
		ktest_fail_at(t, __FILE__, __LINE__, "no block device for %s", info->name);
	return d;
}

static void fill(uint8_t *b, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 31u + i * 7u + (i >> 9));
}

static void nvme_controller_up(struct ktest *t)
{
	struct nvme_info in;
	if (!need_ctrl(t, &in))
		return;
	KTEST_EXPECT(t, !in.failed);
	KTEST_EXPECT(t, in.qdepth >= 2);
	ktest_log(t, "%s: %u I/O queues of %u, irq %s%s, %u namespaces", in.name, in.nr_io_queues, in.qdepth,
		  in.irq_mode, in.polled ? " (polled)" : "", in.nns);
}

static void nvme_identify_fields_sane(struct ktest *t)
{
	struct nvme_info in;
	if (!need_ctrl(t, &in))
		return;
	KTEST_EXPECT(t, in.model[0] != 0);
	KTEST_EXPECT(t, in.serial[0] != 0);
	KTEST_EXPECT(t, in.nn >= 1);
	KTEST_EXPECT(t, in.mdts_bytes == 0 || in.mdts_bytes >= 4096);
	for (const char *s = in.model; *s; s++)
		KTEST_EXPECT(t, *s >= 0x20 && *s < 0x7F);
	size_t n = kstrlen(in.model);
	KTEST_EXPECT(t, n == 0 || in.model[n - 1] != ' ');
}

static void nvme_every_queue_created(struct ktest *t)
{
	struct nvme_info in;
	struct nvme_ctrl *c = need_ctrl(t, &in);
	if (!c)
		return;
	if (!in.nr_io_queues) {
		ktest_skip(t, "%s refused Create I/O Queue (model without I/O)", in.name);
		return;
	}
	unsigned cpus = smp_online_count();
	uint64_t qmax;
	if (cmdline_get_u64("nvme.queues", &qmax) == 0 && qmax < cpus)
		KTEST_EXPECT(t, in.nr_io_queues <= qmax);
	KTEST_EXPECT(t, in.nr_io_queues >= 1 && in.nr_io_queues <= cpus);
	uint64_t s, d;
	for (unsigned q = 1; q <= in.nr_io_queues; q++)
		KTEST_EXPECT_EQ(t, nvme_queue_stats(c, q, &s, &d), 0);
	KTEST_EXPECT(t, nvme_queue_stats(c, in.nr_io_queues + 1, &s, &d) != 0);
}

struct percpu_rw {
	struct blk_dev *d;
	uint32_t fails;             /* atomic */
	uint32_t ran;               /* atomic */
};

static void rw_on_cpu(uint64_t arg)
{
	struct percpu_rw *r = (struct percpu_rw *)(uintptr_t)arg;
	unsigned cpu = hal_cpu_index();
	uint32_t bs = r->d->lim.block_size;
	uint8_t *w = kmalloc(2 * bs), *rd = kmalloc(2 * bs);
	bool ok = w && rd;
	if (ok) {
		uint64_t lba = KT_LBA_BASE + 2ull * cpu;
		fill(w, 2 * bs, cpu + 1u);
		memset(rd, 0, 2 * bs);
		ok = blk_rw_sync(r->d, BLK_OP_WRITE, lba, 2, w) == 0 && blk_rw_sync(r->d, BLK_OP_READ, lba, 2, rd) == 0 &&
		     memcmp(w, rd, 2 * bs) == 0;
	}
	kfree(w);
	kfree(rd);
	if (!ok) {
		klog("nvme", "ktest: round trip on CPU %u failed", cpu);
		atomic_fetch_add32(&r->fails, 1, MO_RELAXED);
	}
	atomic_fetch_add32(&r->ran, 1, MO_RELEASE);
}

static void nvme_rw_verify_each_cpu_queue(struct ktest *t)
{
	struct nvme_info in;
	struct nvme_ctrl *c = 0;
	struct blk_dev *d = need_ns(t, &c, &in);
	if (!d)
		return;
	uint64_t before[NVME_MAX_QUEUES_KT] = { 0 }, after, dd;
	unsigned nq = in.nr_io_queues < NVME_MAX_QUEUES_KT ? in.nr_io_queues : NVME_MAX_QUEUES_KT;
	for (unsigned q = 0; q < nq; q++)
		nvme_queue_stats(c, q + 1, &before[q], &dd);
	struct percpu_rw r = { .d = d };
	struct cpumask all;
	smp_online_mask(&all);
	KTEST_EXPECT_EQ(t, smp_run_threads(&all, rw_on_cpu, (uint64_t)(uintptr_t)&r), 0);
	KTEST_EXPECT_EQ(t, atomic_load32(&r.ran, MO_ACQUIRE), smp_online_count());
	KTEST_EXPECT_EQ(t, atomic_load32(&r.fails, MO_ACQUIRE), 0);
	/* Every queue a CPU maps to saw commands (CPU k uses queue k % nq + 1). */
	unsigned used = smp_online_count() < nq ? smp_online_count() : nq;
	for (unsigned q = 0; q < used; q++) {
		nvme_queue_stats(c, q + 1, &after, &dd);
		if (after < before[q] + 2)
			ktest_fail_at(t, __FILE__, __LINE__, "queue %u: %llu commands, want >= 2 more than %llu", q + 1,
				      (unsigned long long)after, (unsigned long long)before[q]);
	}
}

static void nvme_prp_list_io_up_to_mdts(struct ktest *t)
{
	struct nvme_info in;
	struct nvme_ctrl *c = 0;
	struct blk_dev *d = need_ns(t, &c, &in);
	if (!d)
		return;
	uint32_t bs = d->lim.block_size, nb = d->lim.max_blocks;
	size_t bytes = (size_t)nb * bs;
	/* Page-aligned pages plus one, so the transfer can start at an offset. */
	size_t pages = bytes / PAGE_SIZE + 2;
	uint64_t pa = pmm_alloc_pages(pages, 1), pb = pmm_alloc_pages(pages, 1);
	KTEST_ASSERT(t, pa && pb);
	uint8_t *wa = hal_phys_to_virt(pa), *ra = hal_phys_to_virt(pb);
	uint32_t offs[] = { 0, bs };    /* aligned, then the first PRP at an offset */
	for (unsigned k = 0; k < 2; k++) {
		if (offs[k] + bytes > pages * PAGE_SIZE)
			continue;
		uint8_t *w = wa + offs[k], *r = ra + offs[k];
		fill(w, bytes, 77u + k);
		memset(r, 0, bytes);
		KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_WRITE, KT_LBA_BASE, nb, w), 0);
		KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_READ, KT_LBA_BASE, nb, r), 0);
		KTEST_EXPECT(t, memcmp(w, r, bytes) == 0);
	}
	ktest_log(t, "%u blocks of %u bytes (%zu KiB) in one command, MDTS %llu", nb, bs, bytes >> 10,
		  (unsigned long long)in.mdts_bytes);
	pmm_free_pages(pa, pages);
	pmm_free_pages(pb, pages);
}

static void nvme_flush_completes(struct ktest *t)
{
	struct nvme_info in;
	struct nvme_ctrl *c = 0;
	struct blk_dev *d = need_ns(t, &c, &in);
	if (!d)
		return;
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_FLUSH, 0, 0, 0), 0);
}

static void nvme_write_zeroes_reads_zeros(struct ktest *t)
{
	struct nvme_info in;
	struct nvme_ctrl *c = 0;
	struct blk_dev *d = need_ns(t, &c, &in);
	if (!d)
		return;
	if (!(in.oncs & NVME_ONCS_WRITE_ZEROES)) {
		ktest_skip(t, "ONCS without Write Zeroes");
		return;
	}
	uint32_t bs = d->lim.block_size, nb = 8;
	uint8_t *b = kmalloc(nb * bs);
	KTEST_ASSERT(t, b);
	fill(b, nb * bs, 5);
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_WRITE, KT_LBA_BASE + 64, nb, b), 0);
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_WRITE_ZEROES, KT_LBA_BASE + 64, nb, 0), 0);
	memset(b, 0xAA, nb * bs);
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_READ, KT_LBA_BASE + 64, nb, b), 0);
	unsigned nz = 0;
	for (uint32_t i = 0; i < nb * bs; i++)
		nz += b[i] != 0;
	KTEST_EXPECT_EQ(t, nz, 0);
	kfree(b);
}

static void nvme_dsm_deallocate(struct ktest *t)
{
	struct nvme_info in;
	struct nvme_ctrl *c = 0;
	struct blk_dev *d = need_ns(t, &c, &in);
	if (!d)
		return;
	if (!(in.oncs & NVME_ONCS_DSM)) {
		ktest_skip(t, "ONCS without Dataset Management");
		return;
	}
	uint32_t bs = d->lim.block_size, nb = 16;
	uint8_t *b = kmalloc(nb * bs);
	KTEST_ASSERT(t, b);
	fill(b, nb * bs, 9);
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_WRITE, KT_LBA_BASE + 128, nb, b), 0);
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_DISCARD, KT_LBA_BASE + 128, nb, 0), 0);
	/* Deallocated blocks read back without error (what they read is DLFEAT's). */
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_READ, KT_LBA_BASE + 128, nb, b), 0);
	kfree(b);
}

static void nvme_lba_out_of_range_status(struct ktest *t)
{
	struct nvme_info in;
	struct nvme_ctrl *c = 0;
	struct blk_dev *d = need_ns(t, &c, &in);
	if (!d)
		return;
	uint32_t bs = d->lim.block_size;
	void *b = kzalloc(bs);
	KTEST_ASSERT(t, b);
	struct nvme_sqe cmd = { .opc = NVME_CMD_READ, .nsid = 1, .cdw10 = (uint32_t)d->nblocks,
				.cdw11 = (uint32_t)(d->nblocks >> 32) };
	uint16_t st = 0;
	KTEST_EXPECT_EQ(t, nvme_raw_cmd(c, 1, &cmd, b, bs, 2, &st, 0), 0);
	KTEST_EXPECT_EQ(t, nvme_status_sct(st), NVME_SCT_GENERIC);
	KTEST_EXPECT_EQ(t, nvme_status_sc(st), NVME_SC_LBA_RANGE);
	/* The block layer refuses it before the device with BLK_E_INVAL. */
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_READ, d->nblocks, 1, b), BLK_E_INVAL);
	kfree(b);
}

static void nvme_cid_table_drops_unknown_duplicate_stale(struct ktest *t)
{
	enum { DEPTH = 8 };
	struct nvme_sqe *sq = kzalloc(DEPTH * sizeof *sq);
	struct nvme_cqe *cq = kzalloc(DEPTH * sizeof *cq);
	uint32_t state[DEPTH];
	uint16_t gen[DEPTH];
	KTEST_ASSERT(t, sq && cq);
	struct nvme_ring r;
	nvme_ring_init(&r, sq, cq, DEPTH, state, gen);
	uint16_t cid;
	KTEST_ASSERT(t, nvme_ring_slot_get(&r, &cid) == 0);
	struct nvme_sqe e = { .opc = NVME_CMD_READ, .cid = cid };
	KTEST_EXPECT(t, nvme_ring_push(&r, &e) > 0);
	/* Device side: two CQEs with the same cid, then one for an unknown cid. */
	for (unsigned i = 0; i < 3; i++) {
		cq[i].cid = i < 2 ? cid : (uint16_t)(cid + 5);
		cq[i].sq_head = 1;
		cq[i].status = NVME_STATUS_P;
	}
	struct nvme_cqe out;
	unsigned idx;
	KTEST_ASSERT(t, nvme_ring_pop(&r, &out));
	KTEST_EXPECT_EQ(t, nvme_ring_claim(&r, out.cid, &idx), 0);
	KTEST_ASSERT(t, nvme_ring_pop(&r, &out));
	KTEST_EXPECT_EQ(t, nvme_ring_claim(&r, out.cid, &idx), -EALREADY);   /* duplicate */
	nvme_ring_slot_put(&r, idx);
	KTEST_ASSERT(t, nvme_ring_pop(&r, &out));
	KTEST_EXPECT(t, nvme_ring_claim(&r, out.cid, &idx) < 0);             /* unknown */
	KTEST_EXPECT_EQ(t, nvme_ring_claim(&r, cid, &idx), -ENOENT);        /* stale: generation moved */
	KTEST_EXPECT(t, !nvme_ring_pop(&r, &out));                          /* nothing more */
	kfree(sq);
	kfree(cq);
}

static void nvme_polled_mode(struct ktest *t)
{
	struct nvme_info in;
	struct nvme_ctrl *c = 0;
	struct blk_dev *d = need_ns(t, &c, &in);
	if (!d)
		return;
	if (!in.polled) {
		ktest_skip(t, "boot without nvme.poll=1");
		return;
	}
	KTEST_EXPECT(t, d->lim.polled);
	uint32_t bs = d->lim.block_size;
	uint8_t *b = kmalloc(bs), *r = kmalloc(bs);
	KTEST_ASSERT(t, b && r);
	uint64_t irqs0 = in.irqs;
	for (unsigned i = 0; i < 16; i++) {
		fill(b, bs, i);
		KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_WRITE, KT_LBA_BASE + 256 + i, 1, b), 0);
		KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_READ, KT_LBA_BASE + 256 + i, 1, r), 0);
		KTEST_EXPECT(t, memcmp(b, r, bs) == 0);
	}
	nvme_info_get(c, &in);
	KTEST_EXPECT_EQ(t, in.irqs, irqs0);     /* I/O completions raised no interrupt */
	kfree(b);
	kfree(r);
}

#define KT_RESET_RQ 16u
struct kt_rq {
	struct blk_request rq;
	struct blk_seg seg;
	uint32_t done;
};

static void kt_done(struct blk_request *rq)
{
	struct kt_rq *k = rq->priv;
	atomic_store32(&k->done, 1, MO_RELEASE);
}

static void nvme_reset_with_io_in_flight(struct ktest *t)
{
	struct nvme_info in;
	struct nvme_ctrl *c = 0;
	struct blk_dev *d = need_ns(t, &c, &in);
	if (!d)
		return;
	uint32_t bs = d->lim.block_size;
	struct kt_rq *k = kzalloc(KT_RESET_RQ * sizeof *k);
	uint8_t *buf = kmalloc(KT_RESET_RQ * 8 * bs), *rd = kmalloc(8 * bs);
	KTEST_ASSERT(t, k && buf && rd);
	uint64_t resets0 = in.resets;
	fill(buf, KT_RESET_RQ * 8 * bs, 33);
	for (unsigned i = 0; i < KT_RESET_RQ; i++) {
		k[i].seg.va = buf + (size_t)i * 8 * bs;
		k[i].seg.len = 8 * bs;
		k[i].rq.op = BLK_OP_WRITE;
		k[i].rq.lba = KT_LBA_BASE + 512 + 8ull * i;
		k[i].rq.nblocks = 8;
		k[i].rq.nsegs = 1;
		k[i].rq.segs = &k[i].seg;
		k[i].rq.done = kt_done;
		k[i].rq.priv = &k[i];
		KTEST_EXPECT_EQ(t, blk_submit(d, &k[i].rq), 0);
	}
	KTEST_EXPECT_EQ(t, nvme_reset(c, "ktest: reset with I/O in flight"), 0);
	for (unsigned i = 0; i < KT_RESET_RQ; i++) {
		blk_wait(d, &k[i].done);
		KTEST_EXPECT_EQ(t, k[i].rq.status, 0);
	}
	nvme_info_get(c, &in);
	KTEST_EXPECT_EQ(t, in.resets, resets0 + 1);
	KTEST_EXPECT(t, !in.failed);
	for (unsigned i = 0; i < KT_RESET_RQ; i++) {
		KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_READ, KT_LBA_BASE + 512 + 8ull * i, 8, rd), 0);
		KTEST_EXPECT(t, memcmp(rd, buf + (size_t)i * 8 * bs, 8 * bs) == 0);
	}
	kfree(k);
	kfree(buf);
	kfree(rd);
}

static void nvme_shutdown_sets_shst(struct ktest *t)
{
	struct nvme_info in;
	struct nvme_ctrl *c = 0;
	struct blk_dev *d = need_ns(t, &c, &in);
	if (!d)
		return;
	uint32_t csts = 0;
	KTEST_EXPECT_EQ(t, nvme_shutdown(c, &csts), 0);
	KTEST_EXPECT_EQ(t, csts & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_DONE);
	/* Bring it back for what runs after (reset from the shut-down state). */
	KTEST_EXPECT_EQ(t, nvme_reset(c, "ktest: restart after shutdown"), 0);
	uint8_t *b = kmalloc(d->lim.block_size);
	KTEST_ASSERT(t, b);
	KTEST_EXPECT_EQ(t, blk_rw_sync(d, BLK_OP_READ, 0, 1, b), 0);
	kfree(b);
}

/* Every online CPU writes and reads back its own blocks, one command at a time:
 * with one CPU the order of I/O commands is fixed, so a model fault site fires on
 * the same commands for a seed (tests/sim/test_nvme_faults.py drives recovery this
 * way; tests/sim/test_nvme_det.py races it). Every command must end well, after
 * whatever recovery the faults ask for. */
#define KT_REC_ROUNDS 48u
#define KT_REC_BLOCKS 8u
#define KT_REC_LBA (KT_LBA_BASE + 2048u)

static void rec_on_cpu(uint64_t arg)
{
	struct percpu_rw *r = (struct percpu_rw *)(uintptr_t)arg;
	unsigned cpu = hal_cpu_index();
	uint32_t bs = r->d->lim.block_size, n = KT_REC_BLOCKS * bs;
	uint8_t *w = kmalloc(n), *rd = kmalloc(n);
	unsigned bad = 0;
	for (unsigned i = 0; w && rd && i < KT_REC_ROUNDS; i++) {
		uint64_t lba = KT_REC_LBA + ((uint64_t)cpu * KT_REC_ROUNDS + i) * KT_REC_BLOCKS;
		fill(w, n, cpu * 1000u + i);
		memset(rd, 0, n);
		int ws = blk_rw_sync(r->d, BLK_OP_WRITE, lba, KT_REC_BLOCKS, w);
		int rs = ws ? ws : blk_rw_sync(r->d, BLK_OP_READ, lba, KT_REC_BLOCKS, rd);
		if (ws || rs || memcmp(w, rd, n)) {
			klog("nvme", "ktest: CPU %u round %u lba %llu: write %s, read %s%s", cpu, i,
			     (unsigned long long)lba, blk_status_name(ws), blk_status_name(rs),
			     ws || rs ? "" : ", data differs");
			bad++;
			if (ws == BLK_E_NODEV || rs == BLK_E_NODEV)
				break;  /* the device is gone: the rest would say the same */
		}
	}
	if (!w || !rd)
		bad++;
	kfree(w);
	kfree(rd);
	if (bad)
		atomic_fetch_add32(&r->fails, bad, MO_RELAXED);
	atomic_fetch_add32(&r->ran, 1, MO_RELEASE);
}

static void nvme_io_survives_recovery(struct ktest *t)
{
	struct nvme_info in;
	struct nvme_ctrl *c = 0;
	struct blk_dev *d = need_ns(t, &c, &in);
	if (!d)
		return;
	uint64_t resets0 = in.resets, aborts0 = in.aborts;
	struct percpu_rw r = { .d = d };
	struct cpumask all;
	smp_online_mask(&all);
	KTEST_EXPECT_EQ(t, smp_run_threads(&all, rec_on_cpu, (uint64_t)(uintptr_t)&r), 0);
	KTEST_EXPECT_EQ(t, atomic_load32(&r.ran, MO_ACQUIRE), smp_online_count());
	KTEST_EXPECT_EQ(t, atomic_load32(&r.fails, MO_ACQUIRE), 0);
	nvme_info_get(c, &in);
	KTEST_EXPECT(t, !in.failed);
	ktest_log(t, "%u rounds on %u CPUs: %llu resets, %llu aborts, %llu CQEs dropped", KT_REC_ROUNDS,
		  smp_online_count(), (unsigned long long)(in.resets - resets0),
		  (unsigned long long)(in.aborts - aborts0), (unsigned long long)in.dropped_cqes);
}

/* ---- conformance: a fixed list of raw commands and the status each got ------------- */

struct conf_case {
	const char *name;
	unsigned qid;
	struct nvme_sqe cmd;
	int data;                   /* 0 none, 1 one page to the device, 2 one page from it */
};

static void conformance(struct ktest *t)
{
	struct nvme_info in;
	struct nvme_ctrl *c = 0;
	struct blk_dev *d = need_ns(t, &c, &in);
	if (!d)
		return;
	uint32_t last = (uint32_t)(d->nblocks - 1);
	uint32_t big = in.mdts_bytes ? (uint32_t)(in.mdts_bytes / d->lim.block_size) : 0;
	const struct conf_case cases[] = {
		{ "create_cq_bad_qid", 0, { .opc = NVME_ADM_CREATE_CQ, .cdw10 = 0xFFFFu | 1u << 16, .cdw11 = 1 }, 2 },
		{ "create_cq_qsize_0", 0, { .opc = NVME_ADM_CREATE_CQ, .cdw10 = 60, .cdw11 = 1 }, 2 },
		{ "create_sq_cq_invalid", 0, { .opc = NVME_ADM_CREATE_SQ, .cdw10 = 60u | 1u << 16, .cdw11 = 1u | 61u << 16 }, 1 },
		{ "create_cq_invalid_vector", 0, { .opc = NVME_ADM_CREATE_CQ, .cdw10 = 60u | 1u << 16,
						    .cdw11 = 3u | 0x7FFu << 16 }, 2 },
		{ "delete_sq_unknown", 0, { .opc = NVME_ADM_DELETE_SQ, .cdw10 = 60 }, 0 },
		{ "write_bad_prp_offset", 1, { .opc = NVME_CMD_WRITE, .nsid = 1, .prp1 = 0x1002, .cdw10 = KT_LBA_BASE }, 0 },
		{ "read_lba_out_of_range", 1, { .opc = NVME_CMD_READ, .nsid = 1, .cdw10 = last, .cdw12 = 1 }, 2 },
		{ "read_mdts_exceeded", 1, { .opc = NVME_CMD_READ, .nsid = 1, .cdw12 = big }, 2 },
		{ "admin_invalid_opcode", 0, { .opc = 0xC3 }, 0 },
		{ "io_invalid_opcode", 1, { .opc = 0xC3, .nsid = 1 }, 0 },
		{ "read_invalid_nsid", 1, { .opc = NVME_CMD_READ, .nsid = 0x7FFu }, 2 },
		{ "write_good", 1, { .opc = NVME_CMD_WRITE, .nsid = 1, .cdw10 = KT_LBA_BASE }, 1 },
		{ "read_good", 1, { .opc = NVME_CMD_READ, .nsid = 1, .cdw10 = KT_LBA_BASE }, 2 },
	};
	uint8_t *buf = kzalloc(PAGE_SIZE);
	KTEST_ASSERT(t, buf);
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct nvme_sqe cmd = cases[i].cmd;
		uint16_t st = 0;
		int rc;
		if (!kstrcmp(cases[i].name, "read_mdts_exceeded") && !big) {
			kprintf("nvme-conf: %s skipped (no MDTS)\n", cases[i].name);
			continue;
		}
		if (cases[i].data)
			rc = nvme_raw_cmd(c, cases[i].qid, &cmd, buf, cases[i].qid == 0 ? PAGE_SIZE : d->lim.block_size,
					  cases[i].data, &st, 0);
		else
			rc = nvme_raw_cmd_prp(c, cases[i].qid, &cmd, &st, 0);
		if (rc) {
			ktest_fail_at(t, __FILE__, __LINE__, "%s: no completion (%d)", cases[i].name, rc);
			continue;
		}
		kprintf("nvme-conf: %s sct=%x sc=%02x\n", cases[i].name, nvme_status_sct(st), nvme_status_sc(st));
		/* The harness compares the lines across machines; here only what every
		 * controller must answer the same way. */
		uint32_t code = nvme_status_sct(st) << 8 | nvme_status_sc(st);
		if (!kstrcmp(cases[i].name, "write_good") || !kstrcmp(cases[i].name, "read_good"))
			KTEST_EXPECT_EQ(t, code, 0);
		if (!kstrcmp(cases[i].name, "read_lba_out_of_range"))
			KTEST_EXPECT_EQ(t, code, NVME_SC_LBA_RANGE);
		if (!kstrcmp(cases[i].name, "admin_invalid_opcode") || !kstrcmp(cases[i].name, "io_invalid_opcode"))
			KTEST_EXPECT_EQ(t, code, NVME_SC_INVALID_OPCODE);
	}
	kfree(buf);
}

static const struct ktest_case nvme_cases[] = {
	KTEST_CASE(nvme_controller_up),
	KTEST_CASE(nvme_identify_fields_sane),
	KTEST_CASE(nvme_every_queue_created),
	KTEST_CASE(nvme_rw_verify_each_cpu_queue),
	KTEST_CASE(nvme_prp_list_io_up_to_mdts),
	KTEST_CASE(nvme_flush_completes),
	KTEST_CASE(nvme_write_zeroes_reads_zeros),
	KTEST_CASE(nvme_dsm_deallocate),
	KTEST_CASE(nvme_lba_out_of_range_status),
	KTEST_CASE(nvme_cid_table_drops_unknown_duplicate_stale),
	KTEST_CASE(nvme_polled_mode),
	KTEST_CASE(nvme_reset_with_io_in_flight),
	KTEST_CASE(nvme_shutdown_sets_shst),
	KTEST_CASE(nvme_io_survives_recovery),
	{ "conformance", conformance },
};
KTEST_SUITE(nvme_suite, "nvme", nvme_cases);
