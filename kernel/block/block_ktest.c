/*
 * block_ktest.c — the `block` suite: the block layer against an in-memory device
 * ("ktestblk0") that this suite registers per case. The device completes parts
 * inline, later from its poll op, or never (timeouts); it can fail one LBA, refuse
 * once with busy, and flip a byte of the next block it reads (verify engine).
 * It records every part it is given, so the cases see the splits themselves.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/blkverify.h>
#include <kernel/block.h>
#include <kernel/cpumask.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/ktest.h>
#include <kernel/log.h>
#include <kernel/pmm.h>
#include <kernel/smp.h>
#include <kernel/spinlock.h>
#include <kernel/string.h>

#include "io_engine.h"

#define MD_NAME "ktestblk0"
#define MD_BLOCKS 2048u             /* 1 MiB of 512-byte blocks */
#define MD_BS 512u
#define MD_PENDING_MAX 512u
#define MD_REC_MAX 64u
#define MD_DEV_STATUS_MEDIA 0x281u  /* what the device reports for its bad LBA (any code) */
#define MD_DEV_STATUS_ABORTED 0x371u

enum md_mode { MD_INLINE, MD_DEFERRED, MD_NEVER };

struct md_rec {
	enum blk_op op;
	uint64_t lba;
	uint32_t nblocks, nsegs;
	struct blk_seg segs[4];
};

struct memdev {
	struct blk_dev d;
	uint8_t *store;
	enum md_mode mode;
	bool err_on;
	uint64_t err_lba, err_count;    /* LBAs err_lba .. +err_count-1 fail (count 0: one) */
	uint32_t busy_once;         /* atomic: refuse the next submit with busy */
	uint32_t flip_once;         /* atomic: corrupt the next block read */
	bool timeout_completes;     /* ops->timeout fails the part (driver recovery) */
	uint32_t timeout_calls, submits;    /* atomic */
	struct spinlock lock;       /* pending, rec */
	struct blk_part *pending[MD_PENDING_MAX];
	uint32_t npending;
	struct md_rec rec[MD_REC_MAX];
	uint32_t nrec;
};

static struct memdev md;

static struct memdev *md_of(struct blk_dev *d)
{
	return d->drv;
}

static void md_serve(struct memdev *m, struct blk_part *p)
{
	uint64_t at = p->lba * MD_BS;
	uint64_t err_end = m->err_lba + (m->err_count ? m->err_count : 1);
	if (m->err_on && p->op != BLK_OP_FLUSH && m->err_lba < p->lba + p->nblocks && err_end > p->lba) {
		blk_part_done(p, BLK_E_IO, MD_DEV_STATUS_MEDIA);
		return;
	}
	switch (p->op) {
	case BLK_OP_READ:
		for (uint32_t i = 0; i < p->nsegs; i++) {
			memcpy(p->segs[i].va, m->store + at, p->segs[i].len);
			at += p->segs[i].len;
		}
		if (atomic_xchg32(&m->flip_once, 0, MO_ACQ_REL))
			((uint8_t *)p->segs[0].va)[100] ^= 0xFF;
		break;
	case BLK_OP_WRITE:
		for (uint32_t i = 0; i < p->nsegs; i++) {
			memcpy(m->store + at, p->segs[i].va, p->segs[i].len);
			at += p->segs[i].len;
		}
		break;
	case BLK_OP_WRITE_ZEROES:
		memset(m->store + at, 0, (size_t)p->nblocks * MD_BS);
		break;
	default:
		break;
	}
	blk_part_done(p, BLK_OK, 0);
}

static int md_submit(struct blk_dev *d, struct blk_part *p)
{
	struct memdev *m = md_of(d);
	if (atomic_xchg32(&m->busy_once, 0, MO_ACQ_REL))
		return BLK_BUSY;
	atomic_fetch_add32(&m->submits, 1, MO_RELAXED);
	spin_lock(&m->lock);
	if (m->nrec < MD_REC_MAX) {
		struct md_rec *r = &m->rec[m->nrec++];
		r->op = p->op;
		r->lba = p->lba;
		r->nblocks = p->nblocks;
		r->nsegs = p->nsegs;
		for (uint32_t i = 0; i < p->nsegs && i < 4; i++)
			r->segs[i] = p->segs[i];
	}
	if (m->mode != MD_INLINE) {
		if (m->npending == MD_PENDING_MAX) {
			spin_unlock(&m->lock);
			return BLK_BUSY;
		}
		m->pending[m->npending++] = p;
		spin_unlock(&m->lock);
		return 0;
	}
	spin_unlock(&m->lock);
	md_serve(m, p);
	return 0;
}

static unsigned md_poll(struct blk_dev *d, bool all)
{
	struct memdev *m = md_of(d);
	unsigned n = 0;
	(void)all;
	if (m->mode != MD_DEFERRED)
		return 0;
	for (;;) {
		struct blk_part *p = NULL;
		spin_lock(&m->lock);
		if (m->npending)
			p = m->pending[--m->npending];
		spin_unlock(&m->lock);
		if (!p)
			return n;
		md_serve(m, p);
		n++;
	}
}

static void md_forget(struct memdev *m, struct blk_part *p)
{
	spin_lock(&m->lock);
	for (uint32_t i = 0; i < m->npending; i++)
		if (m->pending[i] == p) {
			m->pending[i] = m->pending[--m->npending];
			break;
		}
	spin_unlock(&m->lock);
}

static void md_timeout(struct blk_dev *d, struct blk_part *p)
{
	struct memdev *m = md_of(d);
	atomic_fetch_add32(&m->timeout_calls, 1, MO_RELAXED);
	if (m->timeout_completes) {
		md_forget(m, p);
		blk_part_done(p, BLK_E_TIMEDOUT, MD_DEV_STATUS_ABORTED);
	}
}

static const struct blk_dev_ops md_ops = {
	.submit = md_submit, .poll = md_poll, .timeout = md_timeout,
};

static const struct blk_limits md_default_lim = {
	.block_size = MD_BS, .max_blocks = 256, .max_segs = BLK_MAX_SEGS, .virt_boundary = 0,
	.dma_align = 1, .nr_hwq = 1, .default_timeout_ns = 2000000000ull,
};

/* A fresh memdev registered with lim; false (and the case failed) if it could not be. */
static bool md_setup(struct ktest *t, const struct blk_limits *lim, enum md_mode mode)
{
	uint8_t *store = md.store;
	memset(&md, 0, sizeof(md));
	spin_init(&md.lock, "ktestblk");
	md.store = store ? store : kmalloc((size_t)MD_BLOCKS * MD_BS);
	if (!md.store) {
		ktest_fail_at(t, __FILE__, __LINE__, "no memory for the memory device");
		return false;
	}
	memset(md.store, 0, (size_t)MD_BLOCKS * MD_BS);
	kstrlcpy(md.d.name, MD_NAME, sizeof(md.d.name));
	md.d.nblocks = MD_BLOCKS;
	md.d.lim = *lim;
	md.d.ops = &md_ops;
	md.d.drv = &md;
	md.d.model = "ktest memory device";
	md.mode = mode;
	int rc = blk_register(&md.d);
	if (rc) {
		ktest_fail_at(t, __FILE__, __LINE__, "registering the memory device: %d", rc);
		return false;
	}
	return true;
}

static void md_teardown(struct ktest *t)
{
	spin_lock(&md.lock);
	md.npending = 0;            /* parts the device "never" completes: drop them */
	spin_unlock(&md.lock);
	int rc = blk_unregister(&md.d);
	if (rc)
		ktest_fail_at(t, __FILE__, __LINE__, "unregistering the memory device: %d", rc);
}

/* ---- a request helper ----------------------------------------------------------------- */

struct waiter {
	struct blk_request rq;
	uint32_t done;
	uint32_t calls;
};

static void waiter_done(struct blk_request *rq)
{
	struct waiter *w = rq->priv;
	atomic_fetch_add32(&w->calls, 1, MO_RELAXED);
	atomic_store32(&w->done, 1, MO_RELEASE);
}

static void waiter_init(struct waiter *w, enum blk_op op, uint64_t lba, uint32_t nblocks, struct blk_seg *segs,
			uint32_t nsegs)
{
	memset(w, 0, sizeof(*w));
	w->rq.op = op;
	w->rq.lba = lba;
	w->rq.nblocks = nblocks;
	w->rq.segs = segs;
	w->rq.nsegs = nsegs;
	w->rq.done = waiter_done;
	w->rq.priv = w;
}

static void *pages(size_t n)
{
	uint64_t pa = pmm_alloc_pages(n, 1);
	return pa ? hal_phys_to_virt(pa) : NULL;
}

static void pages_free(void *va, size_t n)
{
	if (va)
		pmm_free_pages(hal_virt_to_phys(va), n);
}

/* ---- cases ------------------------------------------------------------------------------ */

static void block_register_checks(struct ktest *t)
{
	struct blk_limits l = md_default_lim;
	static struct blk_dev bad;
	struct { const char *what; uint32_t bs, max_blocks, max_segs, vb; } cases[] = {
		{ "block size 1024", 1024, 8, 4, 0 },
		{ "max_blocks 0", 512, 0, 4, 0 },
		{ "max_segs 0", 512, 8, 0, 0 },
		{ "max_segs 65", 512, 8, BLK_MAX_SEGS + 1, 0 },
		{ "virt_boundary not a mask", 512, 8, 4, 0x1000 },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&bad, 0, sizeof(bad));
		kstrlcpy(bad.name, "ktestbad0", sizeof(bad.name));
		bad.nblocks = 8;
		bad.ops = &md_ops;
		bad.lim = l;
		bad.lim.block_size = cases[i].bs;
		bad.lim.max_blocks = cases[i].max_blocks;
		bad.lim.max_segs = cases[i].max_segs;
		bad.lim.virt_boundary = cases[i].vb;
		int rc = blk_register(&bad);
		if (rc != -EINVAL)
			ktest_fail_at(t, __FILE__, __LINE__, "%s: registered (rc %d)", cases[i].what, rc);
		KTEST_EXPECT(t, blk_find("ktestbad0") == NULL);
	}
	memset(&bad, 0, sizeof(bad));
	bad.nblocks = 8;
	bad.ops = &md_ops;
	bad.lim = l;
	KTEST_EXPECT_EQ(t, blk_register(&bad), -EINVAL);      /* empty name */
	static const struct blk_dev_ops nosubmit = { .poll = md_poll };
	kstrlcpy(bad.name, "ktestbad0", sizeof(bad.name));
	bad.ops = &nosubmit;
	KTEST_EXPECT_EQ(t, blk_register(&bad), -EINVAL);

	unsigned before = blk_count();
	if (!md_setup(t, &l, MD_INLINE))
		return;
	KTEST_EXPECT_EQ(t, blk_count(), before + 1);
	KTEST_EXPECT(t, blk_find(MD_NAME) == &md.d);
	KTEST_EXPECT(t, klog_contains("ktestblk0 2048 blocks of 512 bytes (1 MiB), max 256 blocks/64 segs per request, 1 queues"));
	bad.ops = &md_ops;
	kstrlcpy(bad.name, MD_NAME, sizeof(bad.name));
	KTEST_EXPECT_EQ(t, blk_register(&bad), -EEXIST);
	md_teardown(t);
	KTEST_EXPECT(t, blk_find(MD_NAME) == NULL);
	KTEST_EXPECT_EQ(t, blk_count(), before);
}

static void block_split_by_max_blocks(struct ktest *t)
{
	struct blk_limits l = md_default_lim;
	l.max_blocks = 8;
	if (!md_setup(t, &l, MD_INLINE))
		return;
	uint8_t *buf = kmalloc(32 * MD_BS), *back = kmalloc(32 * MD_BS);
	KTEST_ASSERT(t, buf && back);
	for (unsigned i = 0; i < 32 * MD_BS; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	KTEST_EXPECT_EQ(t, blk_rw_sync(&md.d, BLK_OP_WRITE, 100, 32, buf), BLK_OK);
	KTEST_EXPECT_EQ(t, md.nrec, 4);
	for (unsigned i = 0; i < md.nrec && i < 4; i++) {
		KTEST_EXPECT_EQ(t, md.rec[i].lba, 100 + 8 * i);
		KTEST_EXPECT_EQ(t, md.rec[i].nblocks, 8);
		KTEST_EXPECT_EQ(t, md.rec[i].nsegs, 1);
		KTEST_EXPECT(t, md.rec[i].segs[0].va == buf + 8 * MD_BS * i);
	}
	KTEST_EXPECT_EQ(t, blk_rw_sync(&md.d, BLK_OP_READ, 100, 32, back), BLK_OK);
	KTEST_EXPECT(t, memcmp(buf, back, 32 * MD_BS) == 0);
	struct blk_stats s;
	blk_stats_get(&md.d, &s);
	KTEST_EXPECT_EQ(t, s.parts, 8);
	KTEST_EXPECT_EQ(t, s.splits, 6);
	KTEST_EXPECT_EQ(t, s.bytes_written, 32 * MD_BS);
	kfree(buf);
	kfree(back);
	md_teardown(t);
}

static void block_split_by_max_segs(struct ktest *t)
{
	struct blk_limits l = md_default_lim;
	l.max_segs = 2;
	if (!md_setup(t, &l, MD_INLINE))
		return;
	uint8_t *buf = kmalloc(5 * MD_BS * 2);
	KTEST_ASSERT(t, buf);
	struct blk_seg segs[5];
	for (unsigned i = 0; i < 5; i++)
		segs[i] = (struct blk_seg){ buf + 2 * MD_BS * i, MD_BS };      /* gaps between them */
	struct waiter w;
	waiter_init(&w, BLK_OP_WRITE, 0, 5, segs, 5);
	KTEST_ASSERT(t, blk_submit(&md.d, &w.rq) == 0);
	blk_wait(&md.d, &w.done);
	KTEST_EXPECT_EQ(t, w.rq.status, BLK_OK);
	KTEST_EXPECT_EQ(t, w.rq.nparts, 3);
	KTEST_EXPECT_EQ(t, md.nrec, 3);
	uint32_t want[3] = { 2, 2, 1 };
	for (unsigned i = 0; i < 3 && i < md.nrec; i++) {
		KTEST_EXPECT_EQ(t, md.rec[i].nsegs, want[i]);
		KTEST_EXPECT_EQ(t, md.rec[i].nblocks, want[i]);
		KTEST_EXPECT(t, md.rec[i].segs[0].va == segs[2 * i].va);
	}
	kfree(buf);
	md_teardown(t);
}

static void block_split_at_virt_boundary(struct ktest *t)
{
	struct blk_limits l = md_default_lim;
	l.virt_boundary = 4095;
	if (!md_setup(t, &l, MD_INLINE))
		return;
	uint8_t *pg = pages(4);
	KTEST_ASSERT(t, pg);
	/* 512 bytes ending mid-page, then a whole page, then half a page: the first
	 * does not end on the boundary, so it is a part alone; the other two join. */
	struct blk_seg segs[3] = {
		{ pg, 512 }, { pg + 4096, 4096 }, { pg + 8192, 2048 },
	};
	struct waiter w;
	waiter_init(&w, BLK_OP_READ, 8, (512 + 4096 + 2048) / MD_BS, segs, 3);
	KTEST_ASSERT(t, blk_submit(&md.d, &w.rq) == 0);
	blk_wait(&md.d, &w.done);
	KTEST_EXPECT_EQ(t, w.rq.status, BLK_OK);
	KTEST_EXPECT_EQ(t, md.nrec, 2);
	KTEST_EXPECT_EQ(t, md.rec[0].nsegs, 1);
	KTEST_EXPECT_EQ(t, md.rec[0].nblocks, 1);
	KTEST_EXPECT_EQ(t, md.rec[1].lba, 9);
	KTEST_EXPECT_EQ(t, md.rec[1].nsegs, 2);
	KTEST_EXPECT_EQ(t, md.rec[1].nblocks, 12);
	/* A segment starting off the boundary after another: split before it. */
	md.nrec = 0;
	struct blk_seg segs2[2] = { { pg, 4096 }, { pg + 4096 + 512, 1024 } };
	waiter_init(&w, BLK_OP_READ, 0, 10, segs2, 2);
	KTEST_ASSERT(t, blk_submit(&md.d, &w.rq) == 0);
	blk_wait(&md.d, &w.done);
	KTEST_EXPECT_EQ(t, md.nrec, 2);
	KTEST_EXPECT_EQ(t, md.rec[0].nblocks, 8);
	KTEST_EXPECT_EQ(t, md.rec[1].nblocks, 2);
	pages_free(pg, 4);
	md_teardown(t);
}

static void block_out_of_range_refused(struct ktest *t)
{
	struct blk_limits l = md_default_lim;
	if (!md_setup(t, &l, MD_INLINE))
		return;
	uint8_t *buf = kmalloc(2 * MD_BS);
	KTEST_ASSERT(t, buf);
	struct blk_seg seg = { buf, 2 * MD_BS };
	struct waiter w;
	waiter_init(&w, BLK_OP_READ, MD_BLOCKS - 1, 2, &seg, 1);
	KTEST_EXPECT_EQ(t, blk_submit(&md.d, &w.rq), BLK_E_INVAL);
	KTEST_EXPECT(t, klog_contains("ktestblk0: read lba=2047 count=2 failed: invalid"));
	/* Segments not holding count blocks. */
	waiter_init(&w, BLK_OP_READ, 0, 3, &seg, 1);
	KTEST_EXPECT_EQ(t, blk_submit(&md.d, &w.rq), BLK_E_INVAL);
	KTEST_EXPECT_EQ(t, atomic_load32(&md.submits, MO_RELAXED), 0);
	KTEST_EXPECT_EQ(t, w.calls, 0);
	kfree(buf);
	md_teardown(t);
}

static void block_error_carries_dev_status_and_lba(struct ktest *t)
{
	struct blk_limits l = md_default_lim;
	l.max_blocks = 8;
	if (!md_setup(t, &l, MD_DEFERRED))
		return;
	md.err_on = true;
	md.err_lba = 10;
	uint8_t *buf = kmalloc(32 * MD_BS);
	KTEST_ASSERT(t, buf);
	struct blk_seg seg = { buf, 32 * MD_BS };
	struct waiter w;
	waiter_init(&w, BLK_OP_READ, 0, 32, &seg, 1);
	KTEST_ASSERT(t, blk_submit(&md.d, &w.rq) == 0);
	blk_wait(&md.d, &w.done);
	KTEST_EXPECT_EQ(t, w.calls, 1);
	KTEST_EXPECT_EQ(t, (uint32_t)w.rq.status, (uint32_t)BLK_E_IO);
	KTEST_EXPECT_EQ(t, w.rq.dev_status, MD_DEV_STATUS_MEDIA);
	KTEST_EXPECT_EQ(t, w.rq.err_lba, 8);
	KTEST_EXPECT(t, klog_contains("ktestblk0: read lba=8 count=32 failed: io-error (dev_status=0x281)"));
	struct blk_stats s;
	blk_stats_get(&md.d, &s);
	KTEST_EXPECT_EQ(t, s.errors[BLK_OP_READ], 1);
	KTEST_EXPECT_EQ(t, s.inflight, 0);
	/* Three failing parts (8.., 16.., 24..): the first to complete wins. The
	 * device serves its pending parts last-in first: 24 first, then 16, 8. */
	md.err_count = 20;
	waiter_init(&w, BLK_OP_READ, 0, 32, &seg, 1);
	KTEST_ASSERT(t, blk_submit(&md.d, &w.rq) == 0);
	blk_wait(&md.d, &w.done);
	KTEST_EXPECT_EQ(t, w.calls, 1);
	KTEST_EXPECT_EQ(t, (uint32_t)w.rq.status, (uint32_t)BLK_E_IO);
	KTEST_EXPECT_EQ(t, w.rq.err_lba, 24);
	kfree(buf);
	md_teardown(t);
}

static void block_timeout_calls_driver_then_completes(struct ktest *t)
{
	struct blk_limits l = md_default_lim;
	if (!md_setup(t, &l, MD_NEVER))
		return;
	uint8_t *buf = kmalloc(MD_BS);
	KTEST_ASSERT(t, buf);
	struct blk_seg seg = { buf, MD_BS };
	struct waiter w;
	/* The driver recovers at the first report (fails the part itself). */
	md.timeout_completes = true;
	waiter_init(&w, BLK_OP_READ, 5, 1, &seg, 1);
	w.rq.timeout_ns = 3000000;
	KTEST_ASSERT(t, blk_submit(&md.d, &w.rq) == 0);
	blk_wait(&md.d, &w.done);
	KTEST_EXPECT_EQ(t, atomic_load32(&md.timeout_calls, MO_RELAXED), 1);
	KTEST_EXPECT_EQ(t, (uint32_t)w.rq.status, (uint32_t)BLK_E_TIMEDOUT);
	KTEST_EXPECT_EQ(t, w.rq.dev_status, MD_DEV_STATUS_ABORTED);
	/* A driver that never completes: reported three times, then failed by the layer. */
	md.timeout_completes = false;
	atomic_store32(&md.timeout_calls, 0, MO_RELAXED);
	waiter_init(&w, BLK_OP_READ, 6, 1, &seg, 1);
	w.rq.timeout_ns = 3000000;
	KTEST_ASSERT(t, blk_submit(&md.d, &w.rq) == 0);
	blk_wait(&md.d, &w.done);
	KTEST_EXPECT_EQ(t, atomic_load32(&md.timeout_calls, MO_RELAXED), BLK_TIMEOUT_REPORTS_MAX);
	KTEST_EXPECT_EQ(t, (uint32_t)w.rq.status, (uint32_t)BLK_E_TIMEDOUT);
	KTEST_EXPECT_EQ(t, w.calls, 1);
	struct blk_stats s;
	blk_stats_get(&md.d, &s);
	KTEST_EXPECT_EQ(t, s.timeouts, 1 + BLK_TIMEOUT_REPORTS_MAX + 1);
	KTEST_EXPECT_EQ(t, s.inflight, 0);
	kfree(buf);
	md_teardown(t);
}

static void block_duplicate_done_ignored(struct ktest *t)
{
	struct blk_limits l = md_default_lim;
	if (!md_setup(t, &l, MD_DEFERRED))
		return;
	uint8_t *buf = kmalloc(MD_BS);
	KTEST_ASSERT(t, buf);
	struct blk_seg seg = { buf, MD_BS };
	struct waiter w;
	waiter_init(&w, BLK_OP_WRITE, 3, 1, &seg, 1);
	KTEST_ASSERT(t, blk_submit(&md.d, &w.rq) == 0);
	KTEST_ASSERT(t, md.npending == 1);
	struct blk_part *p = md.pending[0];
	blk_wait(&md.d, &w.done);
	KTEST_EXPECT_EQ(t, w.rq.status, BLK_OK);
	blk_part_done(p, BLK_E_IO, 0x99);       /* the driver's bug: a second completion */
	KTEST_EXPECT(t, klog_contains("completed twice"));
	KTEST_EXPECT_EQ(t, w.calls, 1);
	KTEST_EXPECT_EQ(t, w.rq.status, BLK_OK);
	struct blk_stats s;
	blk_stats_get(&md.d, &s);
	KTEST_EXPECT_EQ(t, s.completed[BLK_OP_WRITE], 1);
	KTEST_EXPECT_EQ(t, s.inflight, 0);
	kfree(buf);
	md_teardown(t);
}

#define MC_PER_CPU 16u            /* 8 LBAs a CPU: 256 CPUs fit the device */
static uint32_t mc_completed, mc_failed;

static void mc_done(struct blk_request *rq)
{
	struct waiter *w = rq->priv;
	atomic_fetch_add32(&mc_completed, 1, MO_RELAXED);
	if (rq->status)
		atomic_fetch_add32(&mc_failed, 1, MO_RELAXED);
	atomic_store32(&w->done, 1, MO_RELEASE);
}

static void mc_work(uint64_t arg)
{
	(void)arg;
	unsigned cpu = hal_cpu_index();
	uint8_t *buf = kmalloc(MD_BS);
	struct blk_seg seg = { buf, MD_BS };
	struct waiter w;
	if (!buf)
		return;
	for (unsigned i = 0; i < MC_PER_CPU; i++) {
		waiter_init(&w, i & 1 ? BLK_OP_READ : BLK_OP_WRITE, (cpu * (MC_PER_CPU / 2) + i / 2) % MD_BLOCKS, 1,
			    &seg, 1);
		w.rq.done = mc_done;
		if (blk_submit(&md.d, &w.rq) == 0)
			blk_wait(&md.d, &w.done);
	}
	kfree(buf);
}

static void block_submit_from_every_cpu(struct ktest *t)
{
	struct blk_limits l = md_default_lim;
	if (!md_setup(t, &l, MD_DEFERRED))
		return;
	struct cpumask on;
	smp_online_mask(&on);
	atomic_store32(&mc_completed, 0, MO_RELAXED);
	atomic_store32(&mc_failed, 0, MO_RELAXED);
	KTEST_ASSERT(t, smp_run_threads(&on, mc_work, 0) == 0);
	unsigned n = cpumask_weight(&on);
	KTEST_EXPECT_EQ(t, atomic_load32(&mc_completed, MO_RELAXED), n * MC_PER_CPU);
	KTEST_EXPECT_EQ(t, atomic_load32(&mc_failed, MO_RELAXED), 0);
	struct blk_stats s;
	blk_stats_get(&md.d, &s);
	KTEST_EXPECT_EQ(t, s.completed[BLK_OP_READ] + s.completed[BLK_OP_WRITE], n * MC_PER_CPU);
	KTEST_EXPECT_EQ(t, s.inflight, 0);
	ktest_log(t, "%u CPUs, %u requests", n, n * MC_PER_CPU);
	md_teardown(t);
}

static void block_flush_discard_write_zeroes_rules(struct ktest *t)
{
	struct blk_limits l = md_default_lim;
	if (!md_setup(t, &l, MD_INLINE))
		return;
	struct waiter w;
	/* No volatile cache: flush completes at once, nothing reaches the device. */
	waiter_init(&w, BLK_OP_FLUSH, 0, 0, NULL, 0);
	KTEST_EXPECT_EQ(t, blk_submit(&md.d, &w.rq), 0);
	KTEST_EXPECT_EQ(t, w.calls, 1);
	KTEST_EXPECT_EQ(t, w.rq.status, BLK_OK);
	KTEST_EXPECT_EQ(t, md.nrec, 0);
	/* No discard, no write zeroes: refused. */
	waiter_init(&w, BLK_OP_DISCARD, 0, 4, NULL, 0);
	KTEST_EXPECT_EQ(t, (uint32_t)blk_submit(&md.d, &w.rq), (uint32_t)BLK_E_NOTSUP);
	waiter_init(&w, BLK_OP_WRITE_ZEROES, 0, 4, NULL, 0);
	KTEST_EXPECT_EQ(t, (uint32_t)blk_submit(&md.d, &w.rq), (uint32_t)BLK_E_NOTSUP);
	KTEST_EXPECT_EQ(t, w.calls, 0);
	md_teardown(t);

	l.flush = true;
	l.max_write_zeroes_blocks = 4;
	l.max_discard_blocks = 16;
	if (!md_setup(t, &l, MD_INLINE))
		return;
	KTEST_EXPECT_EQ(t, blk_rw_sync(&md.d, BLK_OP_FLUSH, 0, 0, NULL), BLK_OK);
	KTEST_EXPECT_EQ(t, md.nrec, 1);
	KTEST_EXPECT_EQ(t, md.rec[0].op, BLK_OP_FLUSH);
	memset(md.store, 0xEE, 16 * MD_BS);
	md.nrec = 0;
	KTEST_EXPECT_EQ(t, blk_rw_sync(&md.d, BLK_OP_WRITE_ZEROES, 2, 10, NULL), BLK_OK);
	KTEST_EXPECT_EQ(t, md.nrec, 3);
	KTEST_EXPECT_EQ(t, md.rec[0].nblocks, 4);
	KTEST_EXPECT_EQ(t, md.rec[2].nblocks, 2);
	KTEST_EXPECT_EQ(t, md.store[2 * MD_BS - 1], 0xEE);
	KTEST_EXPECT_EQ(t, md.store[2 * MD_BS], 0);
	KTEST_EXPECT_EQ(t, md.store[12 * MD_BS - 1], 0);
	KTEST_EXPECT_EQ(t, md.store[12 * MD_BS], 0xEE);
	KTEST_EXPECT_EQ(t, blk_rw_sync(&md.d, BLK_OP_DISCARD, 0, 20, NULL), BLK_OK);
	KTEST_EXPECT_EQ(t, md.nrec, 5);
	md_teardown(t);
}

static void block_busy_is_retried(struct ktest *t)
{
	struct blk_limits l = md_default_lim;
	if (!md_setup(t, &l, MD_INLINE))
		return;
	uint8_t *buf = kmalloc(MD_BS);
	KTEST_ASSERT(t, buf);
	atomic_store32(&md.busy_once, 1, MO_RELAXED);
	KTEST_EXPECT_EQ(t, blk_rw_sync(&md.d, BLK_OP_WRITE, 1, 1, buf), BLK_OK);
	struct blk_stats s;
	blk_stats_get(&md.d, &s);
	KTEST_EXPECT_EQ(t, s.retries, 1);
	KTEST_EXPECT_EQ(t, atomic_load32(&md.submits, MO_RELAXED), 1);
	kfree(buf);
	md_teardown(t);
}

static void block_rw_sync_roundtrip(struct ktest *t)
{
	struct blk_limits l = md_default_lim;
	l.max_blocks = 3;
	if (!md_setup(t, &l, MD_DEFERRED))
		return;
	uint8_t *a = kmalloc(10 * MD_BS), *b = kzalloc(10 * MD_BS);
	KTEST_ASSERT(t, a && b);
	for (unsigned i = 0; i < 10 * MD_BS; i++)
		a[i] = (uint8_t)(i ^ (i >> 8));
	KTEST_EXPECT_EQ(t, blk_rw_sync(&md.d, BLK_OP_WRITE, 2000, 10, a), BLK_OK);
	KTEST_EXPECT_EQ(t, blk_rw_sync(&md.d, BLK_OP_READ, 2000, 10, b), BLK_OK);
	KTEST_EXPECT(t, memcmp(a, b, 10 * MD_BS) == 0);
	KTEST_EXPECT(t, memcmp(md.store + 2000 * MD_BS, a, 10 * MD_BS) == 0);
	KTEST_EXPECT_EQ(t, (uint32_t)blk_rw_sync(&md.d, BLK_OP_READ, 2040, 10, b), (uint32_t)BLK_E_INVAL);
	kfree(a);
	kfree(b);
	md_teardown(t);
}

/* The stamped count and digest recomputed from the device's contents, as the host
 * check does after a run. */
static void digest_of_store(uint64_t seed, uint64_t nblk, uint64_t *stamped, uint64_t *digest)
{
	*stamped = *digest = 0;
	for (uint64_t b = 0; b < nblk; b++) {
		uint32_t gen = 0;
		if (blkv_check(md.store + b * MD_BS, MD_BS, b, seed, 0, &gen) != BLKV_OK)
			continue;
		(*stamped)++;
		*digest ^= blkv_mix(b, gen);
	}
}

static void block_verify_engine_finds_corruption(struct ktest *t)
{
	struct blk_limits l = md_default_lim;
	l.max_blocks = 4;
	if (!md_setup(t, &l, MD_INLINE))
		return;
	struct io_params p = {
		.run_ns = 60ull * 1000000000ull, .qd = 4, .bs = 4096, .mix = IO_MIX_RANDRW, .seed = 7,
		.blocks = 512, .verify = true, .max_ops = 64,
	};
	struct io_result r;
	KTEST_ASSERT(t, io_engine_run(&md.d, &p, &r) == 0);
	io_result_print(&md.d, &p, &r);
	KTEST_EXPECT_EQ(t, r.mismatches, 0);
	KTEST_EXPECT_EQ(t, r.errors, 0);
	KTEST_EXPECT(t, r.reads > 0 && r.writes > 0 && r.verified > 0);
	/* 64 units: CPUs past the 64th own none and issue nothing. */
	uint64_t busy_cpus = r.cpus < p.blocks * MD_BS / p.bs ? r.cpus : p.blocks * MD_BS / p.bs;
	KTEST_EXPECT_EQ(t, r.timed_ops, busy_cpus * p.max_ops);
	uint64_t stamped, digest;
	digest_of_store(p.seed, p.blocks, &stamped, &digest);
	KTEST_EXPECT_EQ(t, stamped, r.stamped);
	KTEST_EXPECT_EQ(t, digest, r.digest);

	/* Now the device corrupts the next block it reads: a MISMATCH. */
	atomic_store32(&md.flip_once, 1, MO_RELEASE);
	p.seed = 8;
	KTEST_ASSERT(t, io_engine_run(&md.d, &p, &r) == 0);
	KTEST_EXPECT_EQ(t, atomic_load32(&md.flip_once, MO_ACQUIRE), 0);
	KTEST_EXPECT_EQ(t, r.mismatches, 1);
	KTEST_EXPECT(t, klog_contains("MISMATCH dev=ktestblk0"));
	KTEST_EXPECT(t, klog_contains("found=bad_sum"));

	/* Reads of a prefilled region (randread) on one CPU. */
	p.mix = IO_MIX_RANDREAD;
	p.one_cpu = true;
	p.seed = 9;
	KTEST_ASSERT(t, io_engine_run(&md.d, &p, &r) == 0);
	KTEST_EXPECT_EQ(t, r.cpus, 1);
	KTEST_EXPECT_EQ(t, r.writes, p.blocks * MD_BS / p.bs);
	KTEST_EXPECT_EQ(t, r.reads, p.max_ops);
	KTEST_EXPECT_EQ(t, r.mismatches, 0);
	KTEST_EXPECT_EQ(t, r.stamped, p.blocks);
	md_teardown(t);
}

static const struct ktest_case block_cases[] = {
	KTEST_CASE(block_register_checks),
	KTEST_CASE(block_split_by_max_blocks),
	KTEST_CASE(block_split_by_max_segs),
	KTEST_CASE(block_split_at_virt_boundary),
	KTEST_CASE(block_out_of_range_refused),
	KTEST_CASE(block_error_carries_dev_status_and_lba),
	KTEST_CASE(block_timeout_calls_driver_then_completes),
	KTEST_CASE(block_duplicate_done_ignored),
	KTEST_CASE(block_submit_from_every_cpu),
	KTEST_CASE(block_flush_discard_write_zeroes_rules),
	KTEST_CASE(block_busy_is_retried),
	KTEST_CASE(block_rw_sync_roundtrip),
	KTEST_CASE(block_verify_engine_finds_corruption),
};
KTEST_SUITE(block_suite, "block", block_cases);
