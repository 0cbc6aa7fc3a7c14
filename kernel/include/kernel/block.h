/*
 * block.h — the block layer (kernel/block/, docs/block.md): block devices with
 * stable names registered by their drivers, requests (operation, LBA, count, a
 * list of kernel-virtual segments) submitted from any CPU and completed by
 * callback, per-device limits honoured by splitting, timeouts, and errors carried
 * to the caller as a status with the device and the LBA named.
 *
 * Division of work. The block layer owns: checking a request against the device
 * (capacity, op supported, buffer sizes), splitting it into driver-sized parts
 * (max blocks, max segments, the virtual boundary), per-part deadlines, the
 * in-flight ledger per device, joining the parts' statuses into the caller's
 * request, statistics, and waiting (blk_wait: interrupts on, the CPU halted
 * between completions). The driver owns: mapping the part's segments through the
 * DMA API, issuing it on a hardware queue, calling blk_part_done exactly once per
 * part it accepted (from its interrupt handler or its poll op), recovery when the
 * block layer reports a part overdue (ops->timeout), and failing its device.
 */
#ifndef KERNEL_BLOCK_H
#define KERNEL_BLOCK_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <kernel/spinlock.h>
#include <kernel/wait.h>

enum blk_op {
	BLK_OP_READ = 0,
	BLK_OP_WRITE,
	BLK_OP_FLUSH,               /* lba/nblocks/segments unused */
	BLK_OP_WRITE_ZEROES,        /* no segments */
	BLK_OP_DISCARD,             /* deallocate / TRIM; no segments */
	BLK_OP_COUNT
};

/* Request status: 0 or one of these (negative, like -errno, so `if (st)` works). */
enum blk_status {
	BLK_OK = 0,
	BLK_E_IO = -5,              /* the device reported an error (dev_status says which) */
	BLK_E_NOMEM = -12,          /* no memory / no DMA mapping for the buffers */
	BLK_E_NODEV = -19,          /* the device has failed (blk_dev_fail) or is going away */
	BLK_E_INVAL = -22,          /* outside the capacity, bad buffer sizes, bad op */
	BLK_E_NOTSUP = -95,         /* the device does not offer this op */
	BLK_E_TIMEDOUT = -110,      /* no completion within the deadline, even after recovery */
};
const char *blk_status_name(int status);

struct blk_seg {
	void *va;                   /* kernel virtual address (heap/pmm memory, not MMIO) */
	uint32_t len;               /* bytes; the segments together hold nblocks blocks */
};

#define BLK_MAX_SEGS 64u            /* segments of one request as the caller gives them */

struct blk_dev;
struct blk_request;
typedef void (*blk_done_fn)(struct blk_request *rq);

/* A request as the caller builds it. The caller owns its memory until done runs;
 * the block layer fills status, dev_status and err_lba before calling done (in
 * interrupt context, or in whichever thread polled the completion). */
struct blk_request {
	/* -- set by the caller -- */
	enum blk_op op;
	uint64_t lba;               /* in the device's logical blocks */
	uint32_t nblocks;
	uint32_t nsegs;             /* <= BLK_MAX_SEGS */
	struct blk_seg *segs;
	blk_done_fn done;
	void *priv;                 /* the caller's */
	uint64_t timeout_ns;        /* per part; 0 = the device's default */
	/* -- filled at completion -- */
	int status;                 /* enum blk_status: the first failing part's */
	uint32_t dev_status;        /* the device's own code for it (NVMe: SCT << 8 | SC) */
	uint64_t err_lba;           /* first LBA of the failing part */
	/* -- block layer private -- */
	uint32_t parts_left;        /* atomic */
	uint32_t nparts;
	uint64_t submit_ns;
	struct blk_dev *dev;
};

/* One driver-sized piece of a request, as the driver receives it: within the
 * device's limits, its own deadline. Block-layer memory: valid from ops->submit
 * until the driver's blk_part_done (the driver must not touch it after). */
struct blk_part {
	struct blk_request *rq;
	enum blk_op op;
	uint64_t lba;
	uint32_t nblocks;
	uint32_t nsegs;             /* <= lim.max_segs */
	struct blk_seg *segs;       /* points into the part's own array */
	uint64_t deadline_ns;       /* time_now_ns() value after which it is overdue */
	uint32_t hwq;               /* the queue the driver put it on (driver fills) */
	uint32_t tag;               /* the driver's command id (driver fills, diagnostics) */
	void *drv;                  /* driver private per part */
	/* -- block layer private -- */
	struct blk_part *next_inflight, *prev_inflight;
	uint32_t state;             /* atomic: free / issued / done */
	uint32_t timeouts;          /* times ops->timeout was called for it */
	uint32_t in_timeout;        /* ops->timeout running for it (dev lock) */
	uint32_t free_deferred;     /* done while in_timeout: pool it afterwards */
	struct blk_part *next_free;
	struct blk_seg seg_store[BLK_MAX_SEGS];
};

struct blk_limits {
	uint32_t block_size;        /* logical block bytes: 512 or 4096 */
	uint32_t max_blocks;        /* blocks per part (NVMe: from MDTS), >= 1 */
	uint32_t max_segs;          /* segments per part, 1..BLK_MAX_SEGS */
	uint32_t virt_boundary;     /* mask (NVMe PRPs: 4095): a segment other than the
	                             * first starts on it, other than the last ends on it;
	                             * requests that break it are split there. 0: none */
	uint32_t dma_align;         /* each segment's va and len multiple of this (>= 1) */
	uint32_t max_discard_blocks;    /* 0: no discard */
	uint32_t max_write_zeroes_blocks; /* 0: no write zeroes */
	bool flush;                 /* a volatile write cache exists: FLUSH is meaningful
	                             * (without one FLUSH completes at once with BLK_OK) */
	uint32_t nr_hwq;            /* hardware queues (diagnostics) */
	uint64_t default_timeout_ns;    /* 0: BLK_DEFAULT_TIMEOUT_NS */
	bool polled;                /* completions come only from ops->poll (no
	                             * interrupts): blk_wait polls without halting */
};

#define BLK_DEFAULT_TIMEOUT_NS 5000000000ull    /* a part's deadline when neither the
						 * request nor the device names one */
#define BLK_TIMEOUT_REPORTS_MAX 3u  /* ops->timeout calls for one part before the block
				     * layer fails it itself with BLK_E_TIMEDOUT */
#define BLK_DEVS_MAX 16u            /* registered devices at once */
#define BLK_BUSY (-11)              /* ops->submit: queue full now, retry after reaping */

struct blk_dev_ops {
	/* Issue part p (from any CPU, interrupts on or off; must not sleep). 0 when
	 * accepted (blk_part_done will be called exactly once), or a blk_status when
	 * refused at once (nothing issued; BLK_E_NOMEM/-EAGAIN-like busy: return
	 * -11 and the block layer retries after reaping). */
	int (*submit)(struct blk_dev *d, struct blk_part *p);
	/* Reap completions of the calling CPU's queue (and, with all=true, every
	 * queue): the polled mode and the waiter's fallback. May be NULL. Returns the
	 * number of parts completed. */
	unsigned (*poll)(struct blk_dev *d, bool all);
	/* Part p is overdue: recover (NVMe: Abort, then reset and resubmit). Called
	 * in thread context with interrupts on, by whichever CPU noticed. The driver
	 * completes p later itself (success after recovery, or BLK_E_TIMEDOUT). */
	void (*timeout)(struct blk_dev *d, struct blk_part *p);
	/* Normal shutdown at the end of the run (NVMe: CC.SHN). May be NULL. */
	void (*shutdown)(struct blk_dev *d);
};

struct blk_stats {
	uint64_t submitted[BLK_OP_COUNT], completed[BLK_OP_COUNT], errors[BLK_OP_COUNT];
	uint64_t bytes_read, bytes_written;
	uint64_t parts, splits, timeouts, retries;
	uint32_t inflight;          /* parts in flight now */
};

#define BLK_NAME_MAX 16

struct blk_dev {
	/* -- set by the driver before blk_register -- */
	char name[BLK_NAME_MAX];    /* stable: "nvme0n1", "sata0" */
	uint64_t nblocks;           /* capacity in logical blocks */
	struct blk_limits lim;
	const struct blk_dev_ops *ops;
	void *drv;                  /* the driver's */
	const char *model;          /* model/serial text for the listing (may be NULL) */
	/* -- block layer private -- */
	uint32_t failed;            /* atomic: 1 after blk_dev_fail */
	const char *fail_why;
	struct spinlock lock;       /* the in-flight list, the part pool, st, err_* */
	struct blk_part *inflight;
	struct blk_part *free_parts;    /* pool of parts (never returned to the heap
					 * while registered, so a late duplicate
					 * blk_part_done reads valid memory) */
	uint64_t next_scan_ns;      /* atomic: earliest time of the next deadline walk */
	struct waitq waiters;       /* threads sleeping in blk_wait on this device */
	uint32_t completing;        /* atomic: done callbacks still to wake waiters */
	uint64_t err_window_ns;     /* error log rate limit: window start, lines in it, */
	uint32_t err_lines, err_suppressed; /* lines held back */
	struct blk_stats st;
};

/* ---- drivers ------------------------------------------------------------------- */

/* Add d to the registry (name unique, limits sane: checked and logged). 0, -EINVAL,
 * -EEXIST, -ENOSPC. Logs one line: name, capacity, block size, limits, queues. */
int blk_register(struct blk_dev *d);
/* The part is finished: status 0 or a blk_status, dev_status the device's code.
 * Any context (interrupt handler included), exactly once per accepted part;
 * a second call for the same part is logged and ignored. */
void blk_part_done(struct blk_part *p, int status, uint32_t dev_status);
/* The device is dead (why: a string literal naming the reason): every later
 * submission fails with BLK_E_NODEV; parts still in flight are the driver's to
 * complete (it fails them). Logged once with the name. */
void blk_dev_fail(struct blk_dev *d, const char *why);
/* Call ops->shutdown of every registered device (end of the run). */
void blk_shutdown_all(void);
/* Remove d from the registry (test devices): 0, -ENOENT, -EBUSY while parts are
 * in flight. Its part pool goes back to the heap. */
int blk_unregister(struct blk_dev *d);

/* ---- users --------------------------------------------------------------------- */

unsigned blk_count(void);
struct blk_dev *blk_get(unsigned idx);
struct blk_dev *blk_find(const char *name);
/* Submit rq to d from any CPU: checked, split, issued; rq->done runs once every
 * part finished (possibly before blk_submit returns). 0 when submitted; a
 * blk_status when refused at once (done is then NOT called; the reason logged
 * with the device and the LBA). */
int blk_submit(struct blk_dev *d, struct blk_request *rq);
/* Wait until *flag becomes nonzero (a done callback sets it): reaps through
 * ops->poll, checks deadlines of d's parts (calling ops->timeout for overdue ones).
 * A kernel thread on an interrupt-driven device sleeps in between (the block
 * layer wakes d's waiters after every request's done callback, and a 1 ms bound
 * keeps the deadline checks going); a polled device, an idle thread or a boot
 * flow polls, halting the CPU between interrupts. Thread context. */
void blk_wait(struct blk_dev *d, const volatile uint32_t *flag);
/* One round of what blk_wait does, without halting: reap, check deadlines.
 * Returns the number of parts reaped. */
unsigned blk_service(struct blk_dev *d);
/* Synchronous helper: one request over a single contiguous buffer, waited for
 * with blk_wait. Returns the status (logged with device and LBA on error). */
int blk_rw_sync(struct blk_dev *d, enum blk_op op, uint64_t lba, uint32_t nblocks, void *buf);
void blk_stats_get(const struct blk_dev *d, struct blk_stats *out);
/* One line per device: name, capacity, limits, stats. */
void blk_dump(void);

/* ---- pure helpers (unit-tested on the host) ----------------------------------------- */

/* How many blocks of rq, starting at block `from` of it and segment position
 * (*seg, *off), fit in one part under lim; fills part_segs[0..*nsegs) (at most
 * lim->max_segs) and advances (*seg, *off). 0 when the next piece cannot be made
 * (a segment not a multiple of the block size, or breaking dma_align). */
uint32_t blk_split_next(const struct blk_limits *lim, const struct blk_seg *segs, uint32_t nsegs,
			uint32_t *seg, uint32_t *off, uint32_t blocks_left, struct blk_seg *part_segs,
			uint32_t *part_nsegs);

#endif
