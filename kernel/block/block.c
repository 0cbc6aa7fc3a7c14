/*
 * block.c — the block layer (docs/block.md): the registry of block devices,
 * request checking, splitting into parts, the in-flight ledger with deadlines,
 * joining the parts' statuses, waiting, and error reporting.
 *
 * Locks. blk_reg_lock guards the registry. Each device's d->lock guards its
 * in-flight list, its part pool, its statistics and its error-log rate limit; it
 * is a leaf (nothing else is taken under it; ops are never called under it).
 * A request's parts_left is atomic; its status fields are written under the
 * device lock (first error wins).
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/block.h>
#include <kernel/errno.h>
#include <kernel/fault.h>
#include <kernel/heap.h>
#include <kernel/log.h>
#include <kernel/panic.h>
#include <kernel/spinlock.h>
#include <kernel/string.h>
#include <kernel/thread.h>
#include <kernel/time.h>
#include <kernel/wait.h>

enum { PART_FREE = 0, PART_ISSUED = 1, PART_DONE = 2 };

#define SCAN_PERIOD_NS 1000000ull       /* deadline walks at most once a millisecond */
#define ERR_LINES_PER_WINDOW 8u         /* error lines per device per window */
#define ERR_WINDOW_NS 1000000000ull

static struct spinlock blk_reg_lock = SPINLOCK_INIT("blk_reg");
static struct blk_dev *blk_devs[BLK_DEVS_MAX];
static uint32_t blk_ndevs;

static const char *const op_names[BLK_OP_COUNT] = {
	[BLK_OP_READ] = "read", [BLK_OP_WRITE] = "write", [BLK_OP_FLUSH] = "flush",
	[BLK_OP_WRITE_ZEROES] = "write_zeroes", [BLK_OP_DISCARD] = "discard",
};

static const char *op_name(enum blk_op op)
{
	return (unsigned)op < BLK_OP_COUNT ? op_names[op] : "bad-op";
}

const char *blk_status_name(int status)
{
	switch (status) {
	case BLK_OK: return "ok";
	case BLK_E_IO: return "io-error";
	case BLK_E_NOMEM: return "no-memory";
	case BLK_E_NODEV: return "no-device";
	case BLK_E_INVAL: return "invalid";
	case BLK_E_NOTSUP: return "not-supported";
	case BLK_E_TIMEDOUT: return "timed-out";
	case BLK_BUSY: return "busy";
	}
	return "unknown";
}

/* ---- error lines ---------------------------------------------------------------- */

/* May this device print an error line now? At most ERR_LINES_PER_WINDOW per
 * second; the count of those held back is printed with the next one allowed. */
static bool err_line_allowed(struct blk_dev *d, uint32_t *held_back)
{
	uint64_t now = time_now_ns();
	bool ok;
	spin_lock(&d->lock);
	if (now - d->err_window_ns >= ERR_WINDOW_NS) {
		d->err_window_ns = now;
		d->err_lines = 0;
	}
	ok = d->err_lines < ERR_LINES_PER_WINDOW;
	if (ok) {
		d->err_lines++;
		*held_back = d->err_suppressed;
		d->err_suppressed = 0;
	} else {
		d->err_suppressed++;
	}
	spin_unlock(&d->lock);
	return ok;
}

static void log_error(struct blk_dev *d, enum blk_op op, uint64_t lba, uint32_t nblocks, int status,
		      uint32_t dev_status, const char *what)
{
	uint32_t held = 0;
	if (!err_line_allowed(d, &held))
		return;
	klog("blk", "%s: %s lba=%llu count=%u failed: %s (dev_status=0x%x)%s%s", d->name, op_name(op),
	     (unsigned long long)lba, nblocks, blk_status_name(status), dev_status, what ? ": " : "",
	     what ? what : "");
	if (held)
		klog("blk", "%s: %u earlier error lines not printed (rate limit)", d->name, held);
}

/* ---- registry ------------------------------------------------------------------- */

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

int blk_register(struct blk_dev *d)
{
	const struct blk_limits *l;
	size_t n;
	if (!d) {
		klog("blk", "register: no device given");
		return -EINVAL;
	}
	n = kstrnlen(d->name, BLK_NAME_MAX);
	if (n == 0 || n == BLK_NAME_MAX) {
		klog("blk", "register: device name empty or not terminated within %u bytes", BLK_NAME_MAX);
		return -EINVAL;
	}
	l = &d->lim;
	if (l->block_size != 512 && l->block_size != 4096) {
		klog("blk", "register %s: block size %u (want 512 or 4096)", d->name, l->block_size);
		return -EINVAL;
	}
	if (l->max_blocks < 1 || l->max_segs < 1 || l->max_segs > BLK_MAX_SEGS) {
		klog("blk", "register %s: max_blocks %u (want >= 1), max_segs %u (want 1..%u)", d->name,
		     l->max_blocks, l->max_segs, BLK_MAX_SEGS);
		return -EINVAL;
	}
	if (l->virt_boundary && !pow2((uint64_t)l->virt_boundary + 1)) {
		klog("blk", "register %s: virt_boundary 0x%x is not a 2^n-1 mask", d->name, l->virt_boundary);
		return -EINVAL;
	}
	if (l->dma_align && (!pow2(l->dma_align) || l->dma_align > l->block_size)) {
		klog("blk", "register %s: dma_align %u (want a power of two up to the block size)", d->name,
		     l->dma_align);
		return -EINVAL;
	}
	if (!d->ops || !d->ops->submit) {
		klog("blk", "register %s: no submit op", d->name);
		return -EINVAL;
	}
	if (d->nblocks == 0) {
		klog("blk", "register %s: capacity 0 blocks", d->name);
		return -EINVAL;
	}

	spin_lock(&blk_reg_lock);
	for (uint32_t i = 0; i < blk_ndevs; i++) {
		if (blk_devs[i] == d || kstrcmp(blk_devs[i]->name, d->name) == 0) {
			spin_unlock(&blk_reg_lock);
			klog("blk", "register %s: the name is taken", d->name);
			return -EEXIST;
		}
	}
	if (blk_ndevs == BLK_DEVS_MAX) {
		spin_unlock(&blk_reg_lock);
		klog("blk", "register %s: registry full (%u devices)", d->name, BLK_DEVS_MAX);
		return -ENOSPC;
	}
	spin_init(&d->lock, "blk_dev");
	waitq_init(&d->waiters);
	atomic_store32(&d->completing, 0, MO_RELAXED);
	d->failed = 0;
	d->fail_why = NULL;
	d->inflight = NULL;
	d->free_parts = NULL;
	d->next_scan_ns = 0;
	d->err_window_ns = 0;
	d->err_lines = d->err_suppressed = 0;
	memset(&d->st, 0, sizeof(d->st));
	if (d->lim.dma_align == 0)
		d->lim.dma_align = 1;
	if (d->lim.default_timeout_ns == 0)
		d->lim.default_timeout_ns = BLK_DEFAULT_TIMEOUT_NS;
	blk_devs[blk_ndevs++] = d;
	spin_unlock(&blk_reg_lock);

	uint64_t mib = d->nblocks * d->lim.block_size >> 20;
	klog("blk", "%s %llu blocks of %u bytes (%llu MiB), max %u blocks/%u segs per request, %u queues",
	     d->name, (unsigned long long)d->nblocks, d->lim.block_size, (unsigned long long)mib,
	     d->lim.max_blocks, d->lim.max_segs, d->lim.nr_hwq);
	return 0;
}

int blk_unregister(struct blk_dev *d)
{
	spin_lock(&blk_reg_lock);
	uint32_t i;
	for (i = 0; i < blk_ndevs && blk_devs[i] != d; i++)
		;
	if (i == blk_ndevs) {
		spin_unlock(&blk_reg_lock);
		return -ENOENT;
	}
	spin_lock(&d->lock);
	if (d->inflight) {
		spin_unlock(&d->lock);
		spin_unlock(&blk_reg_lock);
		klog("blk", "unregister %s: parts still in flight", d->name);
		return -EBUSY;
	}
	struct blk_part *pool = d->free_parts;
	d->free_parts = NULL;
	spin_unlock(&d->lock);
	/* acquire: a completion still waking d's waiters is finished with d */
	while (atomic_load32(&d->completing, MO_ACQUIRE))
		hal_cpu_relax();
	for (; i + 1 < blk_ndevs; i++)
		blk_devs[i] = blk_devs[i + 1];
	blk_ndevs--;
	spin_unlock(&blk_reg_lock);
	while (pool) {
		struct blk_part *next = pool->next_free;
		kfree(pool);
		pool = next;
	}
	return 0;
}

unsigned blk_count(void)
{
	spin_lock(&blk_reg_lock);
	unsigned n = blk_ndevs;
	spin_unlock(&blk_reg_lock);
	return n;
}

struct blk_dev *blk_get(unsigned idx)
{
	struct blk_dev *d = NULL;
	spin_lock(&blk_reg_lock);
	if (idx < blk_ndevs)
		d = blk_devs[idx];
	spin_unlock(&blk_reg_lock);
	return d;
}

struct blk_dev *blk_find(const char *name)
{
	struct blk_dev *d = NULL;
	if (!name)
		return NULL;
	spin_lock(&blk_reg_lock);
	for (uint32_t i = 0; i < blk_ndevs; i++)
		if (kstrcmp(blk_devs[i]->name, name) == 0)
			d = blk_devs[i];
	spin_unlock(&blk_reg_lock);
	return d;
}

void blk_dev_fail(struct blk_dev *d, const char *why)
{
	uint32_t expect = 0;
	if (!atomic_cas32(&d->failed, &expect, 1, MO_ACQ_REL, MO_ACQUIRE))
		return;
	d->fail_why = why;
	klog("blk", "%s: device failed: %s; later requests get %s", d->name, why ? why : "(no reason given)",
	     blk_status_name(BLK_E_NODEV));
}

void blk_shutdown_all(void)
{
	for (unsigned i = 0; i < blk_count(); i++) {
		struct blk_dev *d = blk_get(i);
		if (d && d->ops->shutdown)
			d->ops->shutdown(d);
	}
}

void blk_stats_get(const struct blk_dev *d, struct blk_stats *out)
{
	struct blk_dev *m = (struct blk_dev *)d;
	spin_lock(&m->lock);
	*out = d->st;
	spin_unlock(&m->lock);
}

void blk_dump(void)
{
	for (unsigned i = 0; i < blk_count(); i++) {
		struct blk_dev *d = blk_get(i);
		struct blk_stats s;
		if (!d)
			continue;
		blk_stats_get(d, &s);
		klog("blk", "%s%s%s: %llu blocks of %u, max %u blocks/%u segs, boundary 0x%x, align %u, "
		     "discard %u, write_zeroes %u, flush %s, %u queues%s%s",
		     d->name, d->model ? " " : "", d->model ? d->model : "", (unsigned long long)d->nblocks,
		     d->lim.block_size, d->lim.max_blocks, d->lim.max_segs, d->lim.virt_boundary,
		     d->lim.dma_align, d->lim.max_discard_blocks, d->lim.max_write_zeroes_blocks,
		     d->lim.flush ? "yes" : "no", d->lim.nr_hwq,
		     atomic_load32(&d->failed, MO_ACQUIRE) ? ", failed: " : "",
		     atomic_load32(&d->failed, MO_ACQUIRE) && d->fail_why ? d->fail_why : "");
		klog("blk", "%s: reads %llu/%llu writes %llu/%llu flushes %llu (submitted/completed), errors %llu, "
		     "bytes read %llu written %llu, parts %llu splits %llu timeouts %llu retries %llu, in flight %u",
		     d->name, (unsigned long long)s.submitted[BLK_OP_READ],
		     (unsigned long long)s.completed[BLK_OP_READ], (unsigned long long)s.submitted[BLK_OP_WRITE],
		     (unsigned long long)s.completed[BLK_OP_WRITE], (unsigned long long)s.completed[BLK_OP_FLUSH],
		     (unsigned long long)(s.errors[0] + s.errors[1] + s.errors[2] + s.errors[3] + s.errors[4]),
		     (unsigned long long)s.bytes_read, (unsigned long long)s.bytes_written,
		     (unsigned long long)s.parts, (unsigned long long)s.splits, (unsigned long long)s.timeouts,
		     (unsigned long long)s.retries, s.inflight);
	}
}

/* ---- parts -------------------------------------------------------------------------- */

static struct blk_part *part_alloc(struct blk_dev *d)
{
	struct blk_part *p;
	spin_lock(&d->lock);
	p = d->free_parts;
	if (p)
		d->free_parts = p->next_free;
	spin_unlock(&d->lock);
	if (!p) {
		if (FAULT_SITE("blk.part_alloc"))
			return NULL;
		p = kzalloc(sizeof(*p));
		if (!p)
			return NULL;
	}
	p->next_free = NULL;
	p->next_inflight = p->prev_inflight = NULL;
	p->timeouts = 0;
	p->in_timeout = 0;
	p->free_deferred = 0;
	p->hwq = p->tag = 0;
	p->drv = NULL;
	return p;
}

static void part_pool_locked(struct blk_dev *d, struct blk_part *p)
{
	lock_assert_held(&d->lock);
	p->next_free = d->free_parts;
	d->free_parts = p;
}

static void inflight_add_locked(struct blk_dev *d, struct blk_part *p)
{
	lock_assert_held(&d->lock);
	p->prev_inflight = NULL;
	p->next_inflight = d->inflight;
	if (d->inflight)
		d->inflight->prev_inflight = p;
	d->inflight = p;
	d->st.inflight++;
}

static void inflight_del_locked(struct blk_dev *d, struct blk_part *p)
{
	lock_assert_held(&d->lock);
	if (p->prev_inflight)
		p->prev_inflight->next_inflight = p->next_inflight;
	else
		d->inflight = p->next_inflight;
	if (p->next_inflight)
		p->next_inflight->prev_inflight = p->prev_inflight;
	p->next_inflight = p->prev_inflight = NULL;
	d->st.inflight--;
}

/* One reference of rq's parts_left is gone; the last one completes rq. */
static void rq_put(struct blk_request *rq)
{
	/* acq_rel: every part's status written before its decrement is seen by the
	 * CPU that takes the count to 0 and runs done. */
	if (atomic_fetch_add32(&rq->parts_left, (uint32_t)-1, MO_ACQ_REL) != 1)
		return;
	struct blk_dev *d = rq->dev;
	bool err = rq->status != BLK_OK;
	spin_lock(&d->lock);
	d->st.completed[rq->op]++;
	if (err)
		d->st.errors[rq->op]++;
	spin_unlock(&d->lock);
	if (err)
		log_error(d, rq->op, rq->err_lba, rq->nblocks, rq->status, rq->dev_status, NULL);
	/* rq may be gone once done ran (a waiter on the stack returns): only d from
	 * here on, kept alive for blk_unregister by the completing count. */
	atomic_fetch_add32(&d->completing, 1, MO_ACQUIRE);
	rq->done(rq);
	if (waitq_active(&d->waiters))
		waitq_wake_all(&d->waiters);
	atomic_fetch_add32(&d->completing, (uint32_t)-1, MO_RELEASE);
}

/* Record a failure on rq (first error wins). */
static void rq_fail_locked(struct blk_dev *d, struct blk_request *rq, int status, uint32_t dev_status,
			   uint64_t lba)
{
	lock_assert_held(&d->lock);
	if (rq->status == BLK_OK) {
		rq->status = status;
		rq->dev_status = dev_status;
		rq->err_lba = lba;
	}
}

void blk_part_done(struct blk_part *p, int status, uint32_t dev_status)
{
	uint32_t expect = PART_ISSUED;
	if (!p)
		return;
	if (!atomic_cas32(&p->state, &expect, PART_DONE, MO_ACQ_REL, MO_ACQUIRE)) {
		struct blk_request *r = p->rq;
		klog("blk", "%s: part lba=%llu count=%u completed twice (status %s): ignored",
		     r && r->dev ? r->dev->name : "?", (unsigned long long)p->lba, p->nblocks,
		     blk_status_name(status));
		return;
	}
	struct blk_request *rq = p->rq;
	struct blk_dev *d = rq->dev;
	spin_lock(&d->lock);
	inflight_del_locked(d, p);
	if (status != BLK_OK)
		rq_fail_locked(d, rq, status, dev_status, p->lba);
	else if (p->op == BLK_OP_READ)
		d->st.bytes_read += (uint64_t)p->nblocks * d->lim.block_size;
	else if (p->op == BLK_OP_WRITE)
		d->st.bytes_written += (uint64_t)p->nblocks * d->lim.block_size;
	if (p->in_timeout)
		p->free_deferred = 1;   /* blk_service pools it when ops->timeout returns */
	else
		part_pool_locked(d, p);
	spin_unlock(&d->lock);
	rq_put(rq);
}

/* Issue p: on the in-flight list first (the driver may complete it before submit
 * returns), then ops->submit; busy → reap and retry until the part's deadline;
 * another refusal completes the part with it. */
static void part_issue(struct blk_dev *d, struct blk_part *p)
{
	int rc;
	atomic_store32(&p->state, PART_ISSUED, MO_RELEASE);
	spin_lock(&d->lock);
	inflight_add_locked(d, p);
	d->st.parts++;
	spin_unlock(&d->lock);
	for (;;) {
		rc = d->ops->submit(d, p);
		if (rc != BLK_BUSY)
			break;
		spin_lock(&d->lock);
		d->st.retries++;
		spin_unlock(&d->lock);
		if (time_now_ns() > p->deadline_ns) {
			rc = BLK_E_TIMEDOUT;
			break;
		}
		if (d->ops->poll)
			d->ops->poll(d, true);
		else
			hal_cpu_relax();
	}
	if (rc != 0)
		blk_part_done(p, rc, 0);
}

/* ---- submission ------------------------------------------------------------------------- */

static int refuse(struct blk_dev *d, struct blk_request *rq, int status, const char *why)
{
	log_error(d, rq->op, rq->lba, rq->nblocks, status, 0, why);
	return status;
}

int blk_submit(struct blk_dev *d, struct blk_request *rq)
{
	const struct blk_limits *l;
	uint32_t bs;
	if (!d || !rq)
		return BLK_E_INVAL;
	l = &d->lim;
	bs = l->block_size;
	rq->status = BLK_OK;
	rq->dev_status = 0;
	rq->err_lba = 0;
	rq->dev = d;
	rq->nparts = 0;
	rq->submit_ns = time_now_ns();
	if ((unsigned)rq->op >= BLK_OP_COUNT)
		return refuse(d, rq, BLK_E_INVAL, "unknown operation");
	if (!rq->done)
		return refuse(d, rq, BLK_E_INVAL, "no done callback");
	if (atomic_load32(&d->failed, MO_ACQUIRE))
		return refuse(d, rq, BLK_E_NODEV, d->fail_why);

	if (rq->op == BLK_OP_DISCARD && l->max_discard_blocks == 0)
		return refuse(d, rq, BLK_E_NOTSUP, "the device offers no discard");
	if (rq->op == BLK_OP_WRITE_ZEROES && l->max_write_zeroes_blocks == 0)
		return refuse(d, rq, BLK_E_NOTSUP, "the device offers no write zeroes");
	if (rq->op != BLK_OP_FLUSH) {
		if (rq->nblocks == 0 || rq->lba >= d->nblocks || rq->nblocks > d->nblocks - rq->lba)
			return refuse(d, rq, BLK_E_INVAL, "outside the capacity");
	}
	if (rq->op == BLK_OP_READ || rq->op == BLK_OP_WRITE) {
		uint64_t sum = 0;
		if (rq->nsegs == 0 || rq->nsegs > BLK_MAX_SEGS || !rq->segs)
			return refuse(d, rq, BLK_E_INVAL, "segment count not 1..64");
		for (uint32_t i = 0; i < rq->nsegs; i++) {
			const struct blk_seg *s = &rq->segs[i];
			if (!s->va || s->len == 0 || s->len % bs || s->len % l->dma_align ||
			    (uintptr_t)s->va % l->dma_align)
				return refuse(d, rq, BLK_E_INVAL,
					      "a segment is not whole blocks or not aligned for the device");
			sum += s->len;
		}
		if (sum != (uint64_t)rq->nblocks * bs)
			return refuse(d, rq, BLK_E_INVAL, "segments do not hold count blocks");
	}

	spin_lock(&d->lock);
	d->st.submitted[rq->op]++;
	spin_unlock(&d->lock);

	uint64_t tmo = rq->timeout_ns ? rq->timeout_ns : l->default_timeout_ns;
	/* parts_left starts at 1: the submitter's own reference, dropped at the end, so
	 * parts finishing while later ones are still being cut cannot complete rq. */
	atomic_store32(&rq->parts_left, 1, MO_RELAXED);

	if (rq->op == BLK_OP_FLUSH && !l->flush) {
		rq_put(rq);             /* no volatile cache: nothing to flush */
		return 0;
	}

	uint32_t seg = 0, off = 0, left = rq->nblocks;
	uint64_t lba = rq->lba;
	bool data = rq->op == BLK_OP_READ || rq->op == BLK_OP_WRITE;
	uint32_t op_max = rq->op == BLK_OP_DISCARD ? l->max_discard_blocks
			: rq->op == BLK_OP_WRITE_ZEROES ? l->max_write_zeroes_blocks : 0;
	do {
		struct blk_part *p = part_alloc(d);
		if (!p) {
			spin_lock(&d->lock);
			rq_fail_locked(d, rq, BLK_E_NOMEM, 0, lba);
			spin_unlock(&d->lock);
			break;
		}
		p->rq = rq;
		p->op = rq->op;
		p->lba = lba;
		p->segs = p->seg_store;
		p->nsegs = 0;
		if (data) {
			p->nblocks = blk_split_next(l, rq->segs, rq->nsegs, &seg, &off, left, p->seg_store,
						    &p->nsegs);
			if (p->nblocks == 0) {
				/* Checked above, so only a limit no split can meet (dma_align). */
				spin_lock(&d->lock);
				rq_fail_locked(d, rq, BLK_E_INVAL, 0, lba);
				part_pool_locked(d, p);
				spin_unlock(&d->lock);
				break;
			}
		} else if (rq->op == BLK_OP_FLUSH) {
			p->nblocks = 0;
		} else {
			p->nblocks = left < op_max ? left : op_max;
		}
		p->deadline_ns = time_now_ns() + tmo;
		lba += p->nblocks;
		left -= p->nblocks;
		rq->nparts++;
		atomic_fetch_add32(&rq->parts_left, 1, MO_RELAXED);
		part_issue(d, p);
	} while (left > 0);

	if (rq->nparts > 1) {
		spin_lock(&d->lock);
		d->st.splits += rq->nparts - 1;
		spin_unlock(&d->lock);
	}
	rq_put(rq);
	return 0;
}

/* ---- service and waiting ------------------------------------------------------------------ */

/* The first in-flight part of d that is overdue and not being handled, marked
 * in_timeout; NULL when none. */
static struct blk_part *overdue_take(struct blk_dev *d, uint64_t now)
{
	struct blk_part *p;
	spin_lock(&d->lock);
	for (p = d->inflight; p; p = p->next_inflight)
		if (!p->in_timeout && now > p->deadline_ns)
			break;
	if (p)
		p->in_timeout = 1;
	spin_unlock(&d->lock);
	return p;
}

static void overdue_handle(struct blk_dev *d, struct blk_part *p)
{
	struct blk_request *rq = p->rq;
	uint64_t tmo = rq->timeout_ns ? rq->timeout_ns : d->lim.default_timeout_ns;
	bool driver_had_its_chances = p->timeouts >= BLK_TIMEOUT_REPORTS_MAX;
	uint64_t lba = p->lba;
	uint32_t nblocks = p->nblocks;
	enum blk_op op = p->op;

	p->deadline_ns = time_now_ns() + tmo;
	if (!driver_had_its_chances)
		p->timeouts++;
	spin_lock(&d->lock);
	d->st.timeouts++;
	spin_unlock(&d->lock);
	if (driver_had_its_chances) {
		log_error(d, op, lba, nblocks, BLK_E_TIMEDOUT, 0,
			  "still not completed after the driver's recovery: failed by the block layer");
	} else {
		klog("blk", "%s: %s lba=%llu count=%u overdue (report %u of %u, queue %u tag %u)", d->name,
		     op_name(op), (unsigned long long)lba, nblocks, p->timeouts, BLK_TIMEOUT_REPORTS_MAX,
		     p->hwq, p->tag);
		if (d->ops->timeout)
			d->ops->timeout(d, p);
	}
	/* Still marked in_timeout: if it completes meanwhile it is not pooled (nor
	 * reused) until we clear the mark, so failing it here cannot hit a new part. */
	if (driver_had_its_chances) {
		uint32_t expect = PART_ISSUED;
		if (atomic_load32(&p->state, MO_ACQUIRE) == expect)
			blk_part_done(p, BLK_E_TIMEDOUT, 0);
	}
	spin_lock(&d->lock);
	p->in_timeout = 0;
	if (p->free_deferred) {
		p->free_deferred = 0;
		part_pool_locked(d, p);
	}
	spin_unlock(&d->lock);
}

unsigned blk_service(struct blk_dev *d)
{
	unsigned n = 0;
	uint64_t now, next;
	if (!d)
		return 0;
	if (d->ops->poll)
		n = d->ops->poll(d, false);
	now = time_now_ns();
	next = atomic_load64(&d->next_scan_ns, MO_RELAXED);
	if (now < next || !atomic_cas64(&d->next_scan_ns, &next, now + SCAN_PERIOD_NS, MO_RELAXED, MO_RELAXED))
		return n;
	for (unsigned k = 0; k < 64; k++) {     /* bounded: each handled part moves its deadline */
		struct blk_part *p = overdue_take(d, now);
		if (!p)
			break;
		overdue_handle(d, p);
	}
	return n;
}

static bool flag_set(const volatile uint32_t *flag)
{
	return atomic_load32((const uint32_t *)flag, MO_ACQUIRE) != 0;
}

/* A kernel thread waiting for an interrupt-driven device sleeps on d->waiters. */
static void sleep_wait(struct blk_dev *d, const volatile uint32_t *flag)
{
	struct waitq_entry e = { 0 };
	for (;;) {
		if (flag_set(flag))
			break;
		if (blk_service(d))
			continue;               /* reaped something: look at the flag again */
		waitq_prepare(&d->waiters, &e);
		if (flag_set(flag))
			break;
		sched_block_timeout_ns(SCAN_PERIOD_NS);
	}
	waitq_finish(&d->waiters, &e);
}

void blk_wait(struct blk_dev *d, const volatile uint32_t *flag)
{
	struct thread *me = thread_current();
	if (me && !me->idle && !d->lim.polled) {
		sleep_wait(d, flag);
		return;
	}
	for (;;) {
		if (atomic_load32((const uint32_t *)flag, MO_ACQUIRE))
			return;
		unsigned got = blk_service(d);
		/* Interrupts off from the check to the halt: a completion interrupt that
		 * arrives in between stays pending and ends the halt (no lost wake-up). */
		unsigned long f = hal_irq_save();
		if (atomic_load32((const uint32_t *)flag, MO_ACQUIRE)) {
			hal_irq_restore(f);
			return;
		}
		if (d->lim.polled || got || !time_can_halt())
			hal_cpu_relax();        /* polled: the next poll reaps, no interrupt comes */
		else
			hal_cpu_halt();
		hal_irq_restore(f);
	}
}

struct sync_ctx {
	uint32_t done;
};

static void sync_done(struct blk_request *rq)
{
	struct sync_ctx *c = rq->priv;
	/* release: rq's status fields are visible to the waiter that sees done. */
	atomic_store32(&c->done, 1, MO_RELEASE);
}

int blk_rw_sync(struct blk_dev *d, enum blk_op op, uint64_t lba, uint32_t nblocks, void *buf)
{
	struct sync_ctx c = { 0 };
	struct blk_seg seg;
	struct blk_request rq;
	uint64_t bytes = d ? (uint64_t)nblocks * d->lim.block_size : 0;
	int rc;
	if (!d)
		return BLK_E_NODEV;
	memset(&rq, 0, sizeof(rq));
	rq.op = op;
	rq.lba = lba;
	rq.nblocks = nblocks;
	rq.done = sync_done;
	rq.priv = &c;
	if (op == BLK_OP_READ || op == BLK_OP_WRITE) {
		if (bytes > 0xFFFFFFFFull)
			return refuse(d, &rq, BLK_E_INVAL, "more than 4 GiB in one buffer");
		seg.va = buf;
		seg.len = (uint32_t)bytes;
		rq.segs = &seg;
		rq.nsegs = 1;
	}
	rc = blk_submit(d, &rq);
	if (rc)
		return rc;
	blk_wait(d, &c.done);
	return rq.status;
}
