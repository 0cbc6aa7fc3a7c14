/*
 * nvme_ktest.c — the `nvme` suite (docs/nvme.md): the driver against the machine's
 * first NVMe controller (QEMU's nvme device or the sim's model): controller and
 * queues up, Identify fields, I/O through the block layer on every CPU's queue,
 * PRP lists up to MDTS, Flush, Write Zeroes, Dataset Management, device status
 * carried back, the cid table over a ring in plain memory, polled mode, reset with
 * I/O in flight, shutdown (CC.SHN, §7.6.2), and the fixed conformance list.
 */
#include "nvme_int.h"
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


/* ---- conformance: the same raw commands on any controller, one status line each ------
 *
 * Every case breaks exactly one rule (or none: the *_good cases), so the status it
 * gets names that rule's check. The host test (qemu-tests/test_nvme_conformance.py)
 * runs this on doppel-sim and on QEMU's nvme and compares the lines; docs/nvme.md
 * "Model vs QEMU" lists the differences it accepts. Queue creation needs a queue id
 * the controller allocated but the driver does not use: Get Features Number of
 * Queues says how many were allocated (§5.21.1.7; QEMU and the model allocate their
 * maximum whatever was asked), the driver uses 1..nr_io_queues, so nr_io_queues + 1
 * is free. Memory the commands point at comes from the controller's DMA device, so
 * a controller that accepts a bad pointer only touches pages of this test. */

enum { CONF_PAGES = 4, CONF_QENTRIES = 16 };

struct conf_env {
	struct ktest *t;
	struct nvme_ctrl *c;
	uint32_t bs;                /* logical block bytes */
	uint64_t nsze;              /* blocks of namespace 1 */
	uint32_t nn;                /* Identify Controller NN */
	unsigned granted;           /* I/O queue pairs allocated (Get Features) */
	uint16_t spare;             /* allocated qid the driver does not use, 0 = none */
	void *va[CONF_PAGES];
	dma_addr_t bus[CONF_PAGES];
};

#define CONF_ANY 0xFFFFu            /* no in-kernel expectation: compared by the host only */
#define CONF_ST(sct, sc) ((uint16_t)((sct) << 8 | (sc)))

/* Run one case: prints `nvme-conf: <name> sct=<h> sc=<hh>` (and ` dw0=<h>` when
 * dw0 matters). want: the status every controller must give (CONF_ANY: only the
 * host compares). Returns the status (sct << 8 | sc), or 0xFFFF without completion. */
static uint16_t conf_case(struct conf_env *e, const char *name, unsigned qid, struct nvme_sqe cmd, uint16_t want,
			  bool show_dw0)
{
	uint16_t st = 0;
	uint32_t dw0 = 0;
	int rc = nvme_raw_cmd_prp(e->c, qid, &cmd, &st, &dw0);
	if (rc) {
		kprintf("nvme-conf: %s no completion (%d)\n", name, rc);
		ktest_fail_at(e->t, __FILE__, __LINE__, "%s: no completion (%d)", name, rc);
		return 0xFFFFu;
	}
	uint16_t code = CONF_ST(nvme_status_sct(st), nvme_status_sc(st));
	if (show_dw0)
		kprintf("nvme-conf: %s sct=%x sc=%02x dw0=%x\n", name, nvme_status_sct(st), nvme_status_sc(st), dw0);
	else
		kprintf("nvme-conf: %s sct=%x sc=%02x\n", name, nvme_status_sct(st), nvme_status_sc(st));
	if (want != CONF_ANY && code != want)
		ktest_fail_at(e->t, __FILE__, __LINE__, "%s: sct=%x sc=%02x, want sct=%x sc=%02x", name, code >> 8,
			      code & 0xFFu, want >> 8, want & 0xFFu);
	return code;
}

static void conf_skip(const char *name, const char *why)
{
	kprintf("nvme-conf: %s skipped (%s)\n", name, why);
}

static struct nvme_sqe conf_create_cq(uint16_t qid, uint32_t qsize0, uint64_t base, uint32_t cdw11)
{
	return (struct nvme_sqe){ .opc = NVME_ADM_CREATE_CQ, .prp1 = base,
				  .cdw10 = qsize0 << NVME_CDW10_QSIZE_SHIFT | qid, .cdw11 = cdw11 };
}

static struct nvme_sqe conf_create_sq(uint16_t qid, uint16_t cqid, uint64_t base)
{
	return (struct nvme_sqe){ .opc = NVME_ADM_CREATE_SQ, .prp1 = base,
				  .cdw10 = (CONF_QENTRIES - 1u) << NVME_CDW10_QSIZE_SHIFT | qid,
				  .cdw11 = NVME_CREATE_SQ_PC | (uint32_t)cqid << NVME_CREATE_SQ_CQID_SHIFT };
}

/* Admin: queue creation and deletion (§5.3-5.6), each check on its own. */
static void conf_queues(struct conf_env *e)
{
	const uint32_t q0 = CONF_QENTRIES - 1u, pc = NVME_CREATE_CQ_PC;
	const uint64_t cqb = e->bus[3], sqb = e->bus[2];
	const uint16_t qinv = CONF_ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_QID_INVALID);
	struct nvme_ctrl *c = e->c;

	conf_case(e, "create_cq_qid_0", 0, conf_create_cq(0, q0, cqb, pc), qinv, false);
	if (e->granted < 0xFFFFu)
		conf_case(e, "create_cq_qid_beyond_granted", 0, conf_create_cq((uint16_t)(e->granted + 1u), q0, cqb, pc),
			  qinv, false);
	conf_case(e, "create_cq_qid_in_use", 0, conf_create_cq(1, q0, cqb, pc), qinv, false);
	if (!e->spare) {
		static const char *const need_spare[] = {
			"delete_sq_unknown", "delete_cq_unknown", "create_cq_qsize_0", "create_cq_qsize_over_mqes", "create_cq_invalid_vector", "create_cq_pc_0",
			"create_cq_base_unaligned", "create_sq_cq_invalid", "create_cq_good", "create_sq_qid_in_use",
			"create_sq_good", "set_features_num_queues_after_create", "delete_cq_in_use", "delete_sq_good",
			"delete_cq_good", "abort_sqid_unknown",
		};
		for (unsigned i = 0; i < sizeof need_spare / sizeof need_spare[0]; i++)
			conf_skip(need_spare[i], "every allocated queue id in use");
		return;
	}
	uint16_t s = e->spare;
	uint32_t mqes = nvme_cap_mqes(c->cap);      /* 0-based: the largest size allowed */
	conf_case(e, "delete_sq_unknown", 0, (struct nvme_sqe){ .opc = NVME_ADM_DELETE_SQ, .cdw10 = s }, qinv, false);
	conf_case(e, "delete_cq_unknown", 0, (struct nvme_sqe){ .opc = NVME_ADM_DELETE_CQ, .cdw10 = s }, CONF_ANY, false);
	conf_case(e, "create_cq_qsize_0", 0, conf_create_cq(s, 0, cqb, pc),
		  CONF_ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_QUEUE_SIZE), false);
	if (mqes < 0xFFFFu)
		conf_case(e, "create_cq_qsize_over_mqes", 0, conf_create_cq(s, mqes + 1u, cqb, pc),
			  CONF_ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_QUEUE_SIZE), false);
	else
		conf_skip("create_cq_qsize_over_mqes", "CAP.MQES is the largest size");
	/* The first vector past the MSI-X table (any non-zero one without MSI-X). */
	uint32_t vec = c->have_irq && c->irq.mode == PCI_IRQ_MSIX ? c->pci->msix.table_size : 1u;
	conf_case(e, "create_cq_invalid_vector", 0,
		  conf_create_cq(s, q0, cqb, pc | NVME_CREATE_CQ_IEN | vec << NVME_CREATE_CQ_IV_SHIFT),
		  CONF_ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_VECTOR), false);
	if (c->cap & NVME_CAP_CQR)
		conf_case(e, "create_cq_pc_0", 0, conf_create_cq(s, q0, cqb, 0), CONF_ANY, false);
	else
		conf_skip("create_cq_pc_0", "CAP.CQR clear: PC=0 is allowed");
	conf_case(e, "create_cq_base_unaligned", 0, conf_create_cq(s, q0, cqb + 0x100u, pc), CONF_ANY, false);
	conf_case(e, "create_sq_cq_invalid", 0, conf_create_sq(s, s, sqb),
		  CONF_ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_CQ_INVALID), false);
	if (conf_case(e, "create_cq_good", 0, conf_create_cq(s, q0, cqb, pc), 0, false))
		return;
	conf_case(e, "create_sq_qid_in_use", 0, conf_create_sq(1, s, sqb), qinv, false);
	uint16_t sq_ok = conf_case(e, "create_sq_good", 0, conf_create_sq(s, s, sqb), 0, false);
	uint32_t n0 = e->granted - 1u;
	conf_case(e, "set_features_num_queues_after_create", 0,
		  (struct nvme_sqe){ .opc = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES,
				     .cdw11 = n0 << NVME_NUMQ_CQ_SHIFT | n0 }, CONF_ANY, false);
	conf_case(e, "abort_sqid_unknown", 0,
		  (struct nvme_sqe){ .opc = NVME_ADM_ABORT, .cdw10 = (uint32_t)(s + 1u) | 0xFFFFu << NVME_ABORT_CID_SHIFT },
		  CONF_ANY, true);
	if (!sq_ok) {
		conf_case(e, "delete_cq_in_use", 0, (struct nvme_sqe){ .opc = NVME_ADM_DELETE_CQ, .cdw10 = s },
			  CONF_ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_QUEUE_DELETION), false);
		conf_case(e, "delete_sq_good", 0, (struct nvme_sqe){ .opc = NVME_ADM_DELETE_SQ, .cdw10 = s }, 0, false);
	}
	conf_case(e, "delete_cq_good", 0, (struct nvme_sqe){ .opc = NVME_ADM_DELETE_CQ, .cdw10 = s }, 0, false);
}

static struct nvme_sqe conf_rw(uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nblocks, uint64_t prp1, uint64_t prp2)
{
	return (struct nvme_sqe){ .opc = opc, .nsid = nsid, .prp1 = prp1, .prp2 = prp2, .cdw10 = (uint32_t)slba,
				  .cdw11 = (uint32_t)(slba >> 32), .cdw12 = nblocks - 1u };
}

/* I/O on the driver's queue 1: data, bounds, MDTS, PRP rules (§4.3), NSIDs, opcodes. */
static void conf_io(struct conf_env *e, uint64_t mdts_bytes)
{
	const uint64_t lba = KT_LBA_BASE + 1024u;
	const uint64_t a = e->bus[0], b = e->bus[1];
	const uint16_t range = CONF_ST(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE);
	const uint16_t badns = CONF_ST(NVME_SCT_GENERIC, NVME_SC_INVALID_NS);
	uint32_t per_page = NVME_PAGE / e->bs;

	fill(e->va[0], NVME_PAGE, 41);
	conf_case(e, "write_good", 1, conf_rw(NVME_CMD_WRITE, 1, lba, 1, a, 0), 0, false);
	conf_case(e, "read_good", 1, conf_rw(NVME_CMD_READ, 1, lba, 1, a, 0), 0, false);
	conf_case(e, "read_lba_start_beyond", 1, conf_rw(NVME_CMD_READ, 1, e->nsze, 1, a, 0), range, false);
	conf_case(e, "read_lba_end_beyond", 1, conf_rw(NVME_CMD_READ, 1, e->nsze - 1u, 2, a, b), range, false);
	if (mdts_bytes && mdts_bytes / e->bs < 0xFFFFu)
		conf_case(e, "read_mdts_exceeded", 1,
			  conf_rw(NVME_CMD_READ, 1, 0, (uint32_t)(mdts_bytes / e->bs) + 1u, a, b),
			  CONF_ST(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD), false);
	else
		conf_skip("read_mdts_exceeded", "no MDTS below 65536 blocks");
	/* PRP rules: Writes, so a controller that accepts a bad pointer only reads. */
	conf_case(e, "write_prp1_not_dword_aligned", 1, conf_rw(NVME_CMD_WRITE, 1, lba, 1, a + 2u, 0), CONF_ANY, false);
	conf_case(e, "write_prp2_offset", 1, conf_rw(NVME_CMD_WRITE, 1, lba, 2 * per_page, a, b + 0x200u),
		  CONF_ST(NVME_SCT_GENERIC, NVME_SC_PRP_OFFSET_INVALID), false);
	uint64_t *list = e->va[3];
	memset(list, 0, NVME_PAGE);
	list[0] = b + 0x200u;           /* the rule broken: a list entry with an offset */
	list[1] = e->bus[2];
	conf_case(e, "write_prp_list_entry_offset", 1, conf_rw(NVME_CMD_WRITE, 1, lba, 3 * per_page, a, e->bus[3]),
		  CONF_ST(NVME_SCT_GENERIC, NVME_SC_PRP_OFFSET_INVALID), false);
	list[0] = b;
	conf_case(e, "write_prp_list_good", 1, conf_rw(NVME_CMD_WRITE, 1, lba, 3 * per_page, a, e->bus[3]), 0, false);
	conf_case(e, "read_nsid_0", 1, conf_rw(NVME_CMD_READ, 0, lba, 1, a, 0), badns, false);
	conf_case(e, "read_nsid_beyond_nn", 1, conf_rw(NVME_CMD_READ, e->nn + 1u, lba, 1, a, 0), badns, false);
	conf_case(e, "read_nsid_broadcast", 1, conf_rw(NVME_CMD_READ, NVME_NSID_ALL, lba, 1, a, 0), CONF_ANY,
		  false);
	conf_case(e, "io_invalid_opcode", 1, (struct nvme_sqe){ .opc = 0xC3, .nsid = 1 },
		  CONF_ST(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE), false);
	conf_case(e, "flush_nsid_broadcast", 1, (struct nvme_sqe){ .opc = NVME_CMD_FLUSH, .nsid = NVME_NSID_ALL }, 0,
		  false);
	conf_case(e, "write_zeroes_good", 1, conf_rw(NVME_CMD_WRITE_ZEROES, 1, lba, 8, 0, 0), 0, false);
	conf_case(e, "write_zeroes_lba_end_beyond", 1, conf_rw(NVME_CMD_WRITE_ZEROES, 1, e->nsze - 1u, 2, 0, 0), range,
		  false);
	if (e->nsze >= 0x10000u)        /* the most one command can name: 65536 blocks */
		conf_case(e, "write_zeroes_65536_blocks", 1,
			  conf_rw(NVME_CMD_WRITE_ZEROES, 1, e->nsze - 0x10000u, 0x10000u, 0, 0), CONF_ANY, false);
	else
		conf_skip("write_zeroes_65536_blocks", "namespace smaller than 65536 blocks");
	struct nvme_dsm_range *r = e->va[1];
	memset(r, 0, NVME_PAGE);
	r[0].slba = lba;
	r[0].nlb = 8;
	struct nvme_sqe dsm = { .opc = NVME_CMD_DSM, .nsid = 1, .prp1 = b, .cdw10 = 0, .cdw11 = NVME_DSM_AD };
	conf_case(e, "dsm_deallocate_good", 1, dsm, 0, false);
	r[0].slba = e->nsze;
	conf_case(e, "dsm_deallocate_lba_beyond", 1, dsm, CONF_ANY, false);
	conf_case(e, "abort_not_found", 0,
		  (struct nvme_sqe){ .opc = NVME_ADM_ABORT, .cdw10 = 1u | 0xFFFFu << NVME_ABORT_CID_SHIFT }, 0, true);
}

static void conformance(struct ktest *t)
{
	struct nvme_info in;
	struct nvme_ctrl *c = 0;
	struct blk_dev *d = need_ns(t, &c, &in);
	if (!d)
		return;
	struct conf_env e = { .t = t, .c = c, .bs = d->lim.block_size, .nsze = d->nblocks, .nn = in.nn };
	for (unsigned i = 0; i < CONF_PAGES; i++) {
		e.va[i] = dma_alloc_coherent(c->dd, NVME_PAGE, &e.bus[i]);
		KTEST_ASSERT(t, e.va[i]);
		memset(e.va[i], 0, NVME_PAGE);
	}
	/* Admin basics, and how many queue pairs the controller allocated. */
	conf_case(&e, "admin_invalid_opcode", 0, (struct nvme_sqe){ .opc = 0xC3 },
		  CONF_ST(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE), false);
	conf_case(&e, "identify_bad_cns", 0,
		  (struct nvme_sqe){ .opc = NVME_ADM_IDENTIFY, .prp1 = e.bus[0], .cdw10 = 0xFFu },
		  CONF_ST(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD), false);
	conf_case(&e, "get_features_bad_fid", 0, (struct nvme_sqe){ .opc = NVME_ADM_GET_FEATURES, .cdw10 = 0 },
		  CONF_ST(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD), false);
	uint16_t st = 0;
	uint32_t dw0 = 0;
	struct nvme_sqe gf = { .opc = NVME_ADM_GET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES };
	int rc = nvme_raw_cmd_prp(c, 0, &gf, &st, &dw0);
	if (rc || st) {
		ktest_fail_at(t, __FILE__, __LINE__, "Get Features Number of Queues: rc %d status 0x%x", rc, st);
	} else {
		unsigned nsq = (dw0 & NVME_NUMQ_SQ_MASK) + 1u, ncq = (dw0 >> NVME_NUMQ_CQ_SHIFT) + 1u;
		e.granted = nsq < ncq ? nsq : ncq;
		if (in.nr_io_queues < e.granted)
			e.spare = (uint16_t)(in.nr_io_queues + 1u);
		ktest_log(t, "%u queue pairs allocated, %u used by the driver: spare qid %u", e.granted, in.nr_io_queues,
			  e.spare);
		conf_queues(&e);
	}
	conf_io(&e, in.mdts_bytes);
	for (unsigned i = 0; i < CONF_PAGES; i++)
		dma_free_coherent(c->dd, NVME_PAGE, e.va[i], e.bus[i]);
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
