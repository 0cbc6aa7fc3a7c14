/*
 * verify.c — the verified-I/O workload (`io=verify`, docs/block.md "The io
 * workload"): every online CPU keeps io.qd requests in flight on its own share of
 * the region (units u with u % ncpus == its rank, a unit being io.bs bytes), every
 * write stamps each logical block with the next generation (kernel/blkverify.h),
 * every read checks each block against the generation table. The end prints one
 * doppel-io line per device; the host recomputes stamped and digest from the disk.
 *
 * Completion callbacks run in interrupt context (or in the poller): they only
 * mark the slot done and raise the CPU's flag; the CPU's own loop checks data and
 * issues the next request, waiting in blk_wait (halted) in between.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/blkverify.h>
#include <kernel/block.h>
#include <kernel/cmdline.h>
#include <kernel/cpumask.h>
#include <kernel/errno.h>
#include <kernel/heap.h>
#include <kernel/log.h>
#include <kernel/panic.h>
#include <kernel/pmm.h>
#include <kernel/printf.h>
#include <kernel/run_hook.h>
#include <kernel/smp.h>
#include <kernel/string.h>
#include <kernel/time.h>

#include "io_engine.h"

#define GEN_UNKNOWN 0xFFFFFFFFu     /* a write of this block failed: contents unknown */
#define MISMATCH_LINES_MAX 16u      /* MISMATCH lines printed per CPU and run */
#define PICK_TRIES 8u

struct io_cpu;

struct io_slot {
	struct blk_request rq;
	struct blk_seg seg;
	uint8_t *buf;
	uint64_t buf_pa;
	uint64_t unit;
	uint32_t done;              /* atomic: set by the callback */
	bool busy, write, timed;
	struct io_cpu *c;
};

struct io_job;

struct io_cpu {
	struct io_job *job;
	unsigned rank, cpu;
	uint32_t any_done;          /* atomic: some slot of this CPU completed */
	uint64_t rng, nown, seq_next;
	struct io_slot *slots;
	uint64_t timed_issued, t_start, t_end;
	uint32_t mismatch_lines;
	struct io_result r;
};

struct io_job {
	struct blk_dev *d;
	const struct io_params *p;
	uint32_t bs, ubl;           /* device block bytes, blocks per unit */
	uint64_t nblk, nunits;
	uint32_t *gen;              /* per logical block of the region: 0 never written */
	unsigned ncpus;
	struct io_cpu *cpus;
	uint16_t rank_of[HAL_MAX_CPUS];
	uint64_t end_ns;            /* the timed phase's deadline */
	bool prefill;               /* the phase running: prefill or timed */
};

static const char *const mix_names[IO_MIX_COUNT] = {
	[IO_MIX_RANDRW] = "randrw", [IO_MIX_RANDREAD] = "randread",
	[IO_MIX_RANDWRITE] = "randwrite", [IO_MIX_SEQREAD] = "seqread",
};

const char *io_mix_name(enum io_mix m)
{
	return (unsigned)m < IO_MIX_COUNT ? mix_names[m] : "?";
}

static uint64_t rnd(struct io_cpu *c)
{
	c->rng = blkv_splitmix64(c->rng);
	return c->rng;
}

static void slot_done(struct blk_request *rq)
{
	struct io_slot *s = rq->priv;
	/* release: the request's status (written before done runs) is visible to the
	 * CPU that sees the slot done. */
	atomic_store32(&s->done, 1, MO_RELEASE);
	atomic_store32(&s->c->any_done, 1, MO_RELEASE);
}

static bool unit_busy(const struct io_cpu *c, uint64_t u)
{
	for (uint32_t i = 0; i < c->job->p->qd; i++)
		if (c->slots[i].busy && c->slots[i].unit == u)
			return true;
	return false;
}

static uint64_t unit_of(const struct io_cpu *c, uint64_t j)
{
	return c->rank + j * c->job->ncpus;
}

static uint32_t unit_gen(const struct io_cpu *c, uint64_t u)
{
	return c->job->gen[u * c->job->ubl];
}

/* A unit of this CPU that is not in flight and (written_only) holds data of this
 * run; false when there is none. */
static bool pick_random(struct io_cpu *c, bool written_only, uint64_t *out)
{
	if (c->nown == 0)
		return false;
	uint64_t j0 = rnd(c) % c->nown;
	for (uint64_t k = 0; k < c->nown; k++) {
		/* A few random probes, then a walk from the last one. */
		uint64_t j = k < PICK_TRIES ? (k == 0 ? j0 : rnd(c) % c->nown) : (j0 + k) % c->nown;
		uint64_t u = unit_of(c, j);
		uint32_t g = unit_gen(c, u);
		if (g == GEN_UNKNOWN || (written_only && g == 0) || unit_busy(c, u))
			continue;
		*out = u;
		return true;
	}
	return false;
}

static bool choose(struct io_cpu *c, uint64_t *unit, bool *write)
{
	switch (c->job->p->mix) {
	case IO_MIX_RANDWRITE:
		*write = true;
		return pick_random(c, false, unit);
	case IO_MIX_RANDREAD:
		*write = false;
		return pick_random(c, true, unit);
	case IO_MIX_SEQREAD:
		*write = false;
		for (uint64_t k = 0; k < c->nown; k++) {
			uint64_t u = unit_of(c, c->seq_next);
			c->seq_next = (c->seq_next + 1) % c->nown;
			uint32_t g = unit_gen(c, u);
			if (g != 0 && g != GEN_UNKNOWN && !unit_busy(c, u)) {
				*unit = u;
				return true;
			}
		}
		return false;
	case IO_MIX_RANDRW:
	default:
		if (!pick_random(c, false, unit))
			return false;
		/* 50/50; a read of a unit never written this run writes instead. */
		*write = (rnd(c) & 1) || unit_gen(c, *unit) == 0;
		return true;
	}
}

static void issue(struct io_cpu *c, struct io_slot *s, uint64_t unit, bool write, bool timed)
{
	struct io_job *j = c->job;
	uint64_t lba = unit * j->ubl;
	if (write && j->p->verify)
		for (uint32_t i = 0; i < j->ubl; i++)
			blkv_stamp(s->buf + (size_t)i * j->bs, j->bs, lba + i, j->p->seed, j->gen[lba + i] + 1,
				   c->cpu);
	memset(&s->rq, 0, sizeof(s->rq));
	s->seg.va = s->buf;
	s->seg.len = j->p->bs;
	s->rq.op = write ? BLK_OP_WRITE : BLK_OP_READ;
	s->rq.lba = lba;
	s->rq.nblocks = j->ubl;
	s->rq.nsegs = 1;
	s->rq.segs = &s->seg;
	s->rq.done = slot_done;
	s->rq.priv = s;
	s->unit = unit;
	s->write = write;
	s->timed = timed;
	s->busy = true;
	atomic_store32(&s->done, 0, MO_RELAXED);
	if (timed)
		c->timed_issued++;
	int rc = blk_submit(j->d, &s->rq);
	if (rc) {
		/* Refused at once (logged by the block layer): nothing was written. */
		s->busy = false;
		c->r.errors++;
	}
}

static void check_read(struct io_cpu *c, struct io_slot *s)
{
	struct io_job *j = c->job;
	uint64_t lba = s->unit * j->ubl;
	for (uint32_t i = 0; i < j->ubl; i++) {
		uint32_t want = j->gen[lba + i], found = 0;
		if (want == 0 || want == GEN_UNKNOWN)
			continue;
		enum blkv_result r = blkv_check(s->buf + (size_t)i * j->bs, j->bs, lba + i, j->p->seed, want, &found);
		if (r == BLKV_OK) {
			c->r.verified++;
			continue;
		}
		c->r.mismatches++;
		if (c->mismatch_lines++ < MISMATCH_LINES_MAX)
			klog("io", "MISMATCH dev=%s lba=%llu expected gen=%u found=%s gen=%u", j->d->name,
			     (unsigned long long)(lba + i), want, blkv_result_name(r), found);
	}
}

static void slot_complete(struct io_cpu *c, struct io_slot *s)
{
	struct io_job *j = c->job;
	uint64_t lba = s->unit * j->ubl;
	s->busy = false;
	if (s->rq.status != BLK_OK) {
		c->r.errors++;
		if (s->write)
			for (uint32_t i = 0; i < j->ubl; i++)
				j->gen[lba + i] = GEN_UNKNOWN;
		return;
	}
	if (s->write) {
		for (uint32_t i = 0; i < j->ubl; i++)
			j->gen[lba + i]++;
		c->r.writes++;
		c->r.bytes_written += j->p->bs;
	} else {
		c->r.reads++;
		c->r.bytes_read += j->p->bs;
		if (j->p->verify)
			check_read(c, s);
	}
	if (s->timed) {
		c->r.timed_ops++;
		c->r.timed_bytes += j->p->bs;
	}
}

/* One phase on this CPU: keep the slots full while there is work, reap. Prefill
 * writes every owned unit once; the timed phase runs until the deadline (or
 * max_ops), then drains. */
static void cpu_phase(struct io_cpu *c, bool prefill)
{
	struct io_job *j = c->job;
	const struct io_params *p = j->p;
	uint64_t next = 0;
	for (;;) {
		bool more = prefill ? next < c->nown
				    : time_now_ns() < j->end_ns && (!p->max_ops || c->timed_issued < p->max_ops);
		bool any_busy = false;
		for (uint32_t i = 0; i < p->qd; i++) {
			struct io_slot *s = &c->slots[i];
			if (!s->busy && more) {
				uint64_t u;
				bool w = true;
				if (prefill) {
					u = unit_of(c, next++);
					more = next < c->nown;
					issue(c, s, u, true, false);
				} else if (choose(c, &u, &w)) {
					issue(c, s, u, w, true);
					more = !p->max_ops || c->timed_issued < p->max_ops;
				}
			}
			any_busy |= s->busy;
		}
		if (!any_busy)
			break;
		blk_wait(j->d, &c->any_done);
		atomic_store32(&c->any_done, 0, MO_RELAXED);
		for (uint32_t i = 0; i < p->qd; i++) {
			struct io_slot *s = &c->slots[i];
			/* acquire: pairs with slot_done's release */
			if (s->busy && atomic_load32(&s->done, MO_ACQUIRE))
				slot_complete(c, s);
		}
	}
}

/* This CPU's part of the current phase (smp_run_threads or a direct call). */
static void cpu_entry(uint64_t arg)
{
	struct io_job *j = (struct io_job *)(uintptr_t)arg;
	struct io_cpu *c = &j->cpus[j->rank_of[hal_cpu_index()]];
	c->cpu = hal_cpu_index();
	if (j->prefill) {
		cpu_phase(c, true);
		return;
	}
	c->t_start = time_now_ns();
	cpu_phase(c, false);
	c->t_end = time_now_ns();
}

static int run_phase(struct io_job *j, const struct cpumask *on, bool one_cpu)
{
	if (one_cpu) {
		cpu_entry((uint64_t)(uintptr_t)j);
		return 0;
	}
	int rc = smp_run_threads(on, cpu_entry, (uint64_t)(uintptr_t)j);
	if (rc)
		klog("io", "%s: could not start the workload on every CPU (%d)", j->d->name, rc);
	return rc;
}

static void job_free(struct io_job *j)
{
	if (j->cpus) {
		for (unsigned k = 0; k < j->ncpus; k++) {
			struct io_cpu *c = &j->cpus[k];
			if (!c->slots)
				continue;
			for (uint32_t i = 0; i < j->p->qd; i++)
				if (c->slots[i].buf_pa)
					pmm_free_pages(c->slots[i].buf_pa, (j->p->bs + PAGE_SIZE - 1) / PAGE_SIZE);
			kfree(c->slots);
		}
		kfree(j->cpus);
	}
	kfree(j->gen);
	kfree(j);
}

int io_engine_run(struct blk_dev *d, const struct io_params *p, struct io_result *r)
{
	uint32_t bs = d->lim.block_size;
	int rc = 0;
	memset(r, 0, sizeof(*r));
	if (p->bs == 0 || p->bs % bs || p->bs > IO_BS_MAX || p->qd < 1 || p->qd > IO_QD_MAX) {
		klog("io", "%s: io.bs=%u io.qd=%u do not fit the device (bs a multiple of %u up to %u, qd 1..%u)",
		     d->name, p->bs, p->qd, bs, IO_BS_MAX, IO_QD_MAX);
		return -EINVAL;
	}
	uint64_t nblk = p->blocks;
	if (nblk == 0) {
		nblk = d->nblocks;
		if (nblk > IO_REGION_MAX_BYTES / bs)
			nblk = IO_REGION_MAX_BYTES / bs;
	}
	if (nblk > d->nblocks || nblk < p->bs / bs) {
		klog("io", "%s: io.blocks=%llu: want %u..%llu (whole units of io.bs within the device)", d->name,
		     (unsigned long long)nblk, p->bs / bs, (unsigned long long)d->nblocks);
		return -EINVAL;
	}
	struct io_job *j = kzalloc(sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->d = d;
	j->p = p;
	j->bs = bs;
	j->ubl = p->bs / bs;
	j->nunits = nblk / j->ubl;
	j->nblk = j->nunits * j->ubl;
	struct cpumask on;
	if (p->one_cpu) {
		cpumask_clear(&on);
		cpumask_set(&on, hal_cpu_index());
	} else {
		smp_online_mask(&on);
	}
	for (unsigned cpu = 0; cpu < HAL_MAX_CPUS; cpu++)
		if (cpumask_test(&on, cpu))
			j->rank_of[cpu] = (uint16_t)j->ncpus++;
	j->gen = kzalloc(j->nblk * sizeof(uint32_t));
	j->cpus = kzalloc(j->ncpus * sizeof(struct io_cpu));
	if (!j->gen || !j->cpus)
		goto nomem;
	size_t pages = (p->bs + PAGE_SIZE - 1) / PAGE_SIZE;
	for (unsigned k = 0; k < j->ncpus; k++) {
		struct io_cpu *c = &j->cpus[k];
		c->job = j;
		c->rank = k;
		c->slots = kzalloc(p->qd * sizeof(struct io_slot));
		if (!c->slots)
			goto nomem;
		for (uint32_t i = 0; i < p->qd; i++) {
			struct io_slot *s = &c->slots[i];
			s->c = c;
			s->buf_pa = pmm_alloc_pages(pages, 1);
			if (!s->buf_pa)
				goto nomem;
			s->buf = hal_phys_to_virt(s->buf_pa);
			/* Unverified writes (benchmarks) carry a plain pattern. */
			memset(s->buf, 0xA5, p->bs);
		}
	}

	for (unsigned k = 0; k < j->ncpus; k++) {
		struct io_cpu *c = &j->cpus[k];
		c->rng = p->seed ^ blkv_splitmix64(0xC0FFEEull + k);
		c->nown = j->nunits > k ? (j->nunits - k + j->ncpus - 1) / j->ncpus : 0;
	}

	/* Reads need data: the region written once first (not timed). */
	if (p->mix == IO_MIX_RANDREAD || p->mix == IO_MIX_SEQREAD) {
		j->prefill = true;
		rc = run_phase(j, &on, p->one_cpu);
		j->prefill = false;
	}
	if (rc == 0) {
		j->end_ns = time_now_ns() + p->run_ns;
		rc = run_phase(j, &on, p->one_cpu);
	}

	r->cpus = j->ncpus;
	for (unsigned k = 0; k < j->ncpus; k++) {
		const struct io_result *c = &j->cpus[k].r;
		r->writes += c->writes;
		r->reads += c->reads;
		r->bytes_written += c->bytes_written;
		r->bytes_read += c->bytes_read;
		r->verified += c->verified;
		r->mismatches += c->mismatches;
		r->errors += c->errors;
		r->timed_ops += c->timed_ops;
		r->timed_bytes += c->timed_bytes;
		uint64_t t = j->cpus[k].t_end - j->cpus[k].t_start;
		if (j->cpus[k].t_end && t > r->timed_ns)
			r->timed_ns = t;
	}
	/* Make the written data durable (a no-op without a volatile cache). */
	if (r->writes && rc == 0) {
		int st = blk_rw_sync(d, BLK_OP_FLUSH, 0, 0, NULL);
		if (st) {
			klog("io", "%s: flush at the end of the writes failed: %s", d->name, blk_status_name(st));
			r->errors++;
		}
	}
	for (uint64_t b = 0; b < j->nblk; b++) {
		uint32_t g = j->gen[b];
		if (g == 0 || g == GEN_UNKNOWN)
			continue;
		r->stamped++;
		r->digest ^= blkv_mix(b, g);
	}
	job_free(j);
	return rc;

nomem:
	klog("io", "%s: no memory for %u CPUs x qd %u buffers of %u bytes and %llu generation entries", d->name,
	     j->ncpus, p->qd, p->bs, (unsigned long long)j->nblk);
	job_free(j);
	return -ENOMEM;
}

void io_result_print(const struct blk_dev *d, const struct io_params *p, const struct io_result *r)
{
	uint64_t iops = r->timed_ns ? r->timed_ops * 1000000000ull / r->timed_ns : 0;
	kprintf("doppel-io: dev=%s seed=%llu cpus=%u seconds=%llu writes=%llu reads=%llu bytes_written=%llu "
		"bytes_read=%llu verified=%llu mismatches=%llu errors=%llu iops=%llu stamped=%llu digest=0x%llx\n",
		d->name, (unsigned long long)p->seed, r->cpus, (unsigned long long)(p->run_ns / 1000000000ull),
		(unsigned long long)r->writes, (unsigned long long)r->reads, (unsigned long long)r->bytes_written,
		(unsigned long long)r->bytes_read, (unsigned long long)r->verified,
		(unsigned long long)r->mismatches, (unsigned long long)r->errors, (unsigned long long)iops,
		(unsigned long long)r->stamped, (unsigned long long)r->digest);
}

/* ---- the io run key ------------------------------------------------------------- */

/* A number word: absent → *out untouched, 0; not a number or outside lo..hi → logged, -EINVAL. */
static int word_u64(const char *key, uint64_t lo, uint64_t hi, uint64_t *out)
{
	const char *v = cmdline_get(key);
	unsigned long long n;
	if (!v)
		return 0;
	if (kstrtou64(v, &n) != 0 || n < lo || n > hi) {
		klog("io", "%s=%s: want a number %llu..%llu", key, v, (unsigned long long)lo, (unsigned long long)hi);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

/* io.bs: bytes, with an optional k or m suffix (4k, 128k, 1m, 512). */
static int word_bs(uint32_t *out)
{
	const char *v = cmdline_get("io.bs");
	char num[24];
	unsigned long long n, mul = 1;
	size_t len;
	if (!v)
		return 0;
	len = kstrlen(v);
	if (len == 0 || len >= sizeof(num))
		goto bad;
	kstrlcpy(num, v, sizeof(num));
	if (num[len - 1] == 'k' || num[len - 1] == 'K')
		mul = 1024;
	else if (num[len - 1] == 'm' || num[len - 1] == 'M')
		mul = 1024 * 1024;
	if (mul != 1)
		num[len - 1] = '\0';
	if (kstrtou64(num, &n) != 0 || n == 0 || n > IO_BS_MAX / mul || n * mul % 512)
		goto bad;
	*out = (uint32_t)(n * mul);
	return 0;
bad:
	klog("io", "io.bs=%s: want a multiple of 512 bytes up to 1m (512, 4k, 128k, 1m)", v);
	return -EINVAL;
}

static int word_mix(enum io_mix *out)
{
	const char *v = cmdline_get("io.mix");
	if (!v)
		return 0;
	for (unsigned m = 0; m < IO_MIX_COUNT; m++)
		if (kstrcmp(v, mix_names[m]) == 0) {
			*out = (enum io_mix)m;
			return 0;
		}
	klog("io", "io.mix=%s: want randrw, randread, randwrite or seqread", v);
	return -EINVAL;
}

static void list_devices(void)
{
	char buf[160];
	size_t n = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < blk_count() && n + BLK_NAME_MAX + 2 < sizeof(buf); i++) {
		struct blk_dev *d = blk_get(i);
		if (!d)
			continue;
		n += (size_t)ksnprintf(buf + n, sizeof(buf) - n, "%s%s", n ? " " : "", d->name);
	}
	klog("io", "the block devices are: %s", n ? buf : "(none)");
}

static int io_one(struct blk_dev *d, const struct io_params *p)
{
	struct io_result r;
	int rc = io_engine_run(d, p, &r);
	if (rc) {
		klog("io", "%s: the workload did not run (%d)", d->name, rc);
		return KERNEL_EXIT_FAIL;
	}
	io_result_print(d, p, &r);
	return r.mismatches || r.errors ? KERNEL_EXIT_FAIL : KERNEL_EXIT_PASS;
}

static int io_run_key(const char *value)
{
	struct io_params p = {
		.run_ns = 5ull * 1000000000ull, .qd = 8, .bs = 4096, .mix = IO_MIX_RANDRW, .seed = 1,
		.verify = true,
	};
	uint64_t secs = 5, qd = p.qd;
	const char *dev = cmdline_get("io.dev");
	int bad = 0;
	if (kstrcmp(value, "verify") != 0) {
		klog("io", "io=%s: the only workload is io=verify", value);
		return KERNEL_EXIT_FAIL;
	}
	bad |= word_u64("io.seconds", 1, 86400, &secs);
	bad |= word_u64("io.qd", 1, IO_QD_MAX, &qd);
	bad |= word_u64("io.seed", 0, ~0ull, &p.seed);
	bad |= word_u64("io.blocks", 1, ~0ull, &p.blocks);
	bad |= word_bs(&p.bs);
	bad |= word_mix(&p.mix);
	if (bad)
		return KERNEL_EXIT_FAIL;
	p.run_ns = secs * 1000000000ull;
	p.qd = (uint32_t)qd;
	if (!dev || dev[0] == '\0')
		dev = "all";
	if (kstrcmp(dev, "all") == 0) {
		int rc = KERNEL_EXIT_PASS;
		if (blk_count() == 0) {
			klog("io", "io.dev=all: no block devices");
			return KERNEL_EXIT_FAIL;
		}
		for (unsigned i = 0; i < blk_count(); i++) {
			struct blk_dev *d = blk_get(i);
			if (d && io_one(d, &p) != KERNEL_EXIT_PASS)
				rc = KERNEL_EXIT_FAIL;
		}
		return rc;
	}
	struct blk_dev *d = blk_find(dev);
	if (!d) {
		klog("io", "io.dev=%s: no such block device", dev);
		list_devices();
		return KERNEL_EXIT_FAIL;
	}
	return io_one(d, &p);
}

RUN_HOOK(io_hook, "io", io_run_key);
