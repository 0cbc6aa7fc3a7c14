/*
 * drivers/nvme.h — the multi-queue NVMe driver (kernel/drivers/nvme/, docs/nvme.md)
 * as tests, benchmarks and the PCI test cases see it: controllers by index, their
 * facts and counters, raw command passthrough, reset, release/reclaim for tests
 * that take the device over, and the driver's pure pieces (PRP building, the
 * queue ring with its command-ID table, Identify parsing) that the host unit tests
 * and fuzz targets call. NVM Express Base Specification 1.4.
 */
#ifndef DRIVERS_NVME_H
#define DRIVERS_NVME_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <hw/dev/nvme.h>

/* ---- Identify parsing (pure) --------------------------------------------------------- */

struct nvme_id_info {                   /* what the driver keeps of Identify Controller */
	char sn[21], mn[41], fr[9];     /* trimmed of trailing spaces, NUL-terminated, printable */
	uint8_t mdts;                   /* log2 of pages (CAP.MPSMIN), 0 = no limit */
	uint16_t oncs;
	uint8_t vwc;
	uint32_t nn;
	uint32_t rtd3e_us;
	uint8_t acl;
	uint16_t vid;
	uint32_t ver;
};

struct nvme_ns_info {                   /* what the driver keeps of Identify Namespace */
	uint64_t nsze, ncap;
	uint32_t block_size;            /* bytes, 2^LBADS of the format in use */
	uint16_t ms;                    /* metadata bytes per block of the format in use */
	uint8_t flbas_index;
	uint8_t dlfeat;
};

/* Parse Identify Controller data (4096 bytes). 0, or -EINVAL with *why naming
 * what is wrong (fields a driver cannot live with). */
int nvme_id_ctrl_parse(const void *data, size_t len, struct nvme_id_info *out, const char **why);
/* Parse Identify Namespace data. 0 = usable; -EINVAL = bad data, -EOPNOTSUPP =
 * well formed but not usable here (NSZE 0, metadata, block size other than
 * 512/4096): *why says which. out is filled as far as parsing got. */
int nvme_id_ns_parse(const void *data, size_t len, struct nvme_ns_info *out, const char **why);
/* Maximum transfer bytes for MDTS and CAP.MPSMIN; 0 (no limit) when mdts is 0. */
uint64_t nvme_mdts_bytes(uint8_t mdts, uint32_t mpsmin);

/* ---- PRP building (pure), NVMe 1.4 §4.3 ---------------------------------------------- */

#define NVME_PAGE 4096u                 /* CC.MPS 0: the memory page size this driver uses */
#define NVME_PRP_PER_PAGE (NVME_PAGE / NVME_PRP_ENTRY_BYTES)

struct nvme_prp_seg {                   /* one bus segment (after dma_map_sg) */
	uint64_t bus;
	uint32_t len;
};

struct nvme_prp_pages {                 /* list pages the builder may fill, in order */
	uint64_t *va[4];
	uint64_t bus[4];
	unsigned n;                     /* pages offered */
	unsigned used;                  /* filled by the builder */
};

/* Build PRP1/PRP2 for nseg bus segments holding `total` bytes: the first segment
 * starts at any dword-aligned address, every other starts page-aligned, every
 * segment other than the last ends on a page boundary; total <= max_bytes (MDTS,
 * 0 = no limit). A transfer of more than two pages uses list pages from pages
 * (the last entry of a full list page chains to the next). 0, or -EINVAL (rules
 * broken, *why says which), -E2BIG (more than max_bytes), -ENOSPC (not enough
 * list pages). */
int nvme_prp_build(const struct nvme_prp_seg *seg, unsigned nseg, uint64_t total, uint64_t max_bytes,
		   struct nvme_prp_pages *pages, uint64_t *prp1, uint64_t *prp2, const char **why);
/* How many list pages a transfer of `pages` memory pages needs (0 for <= 2). */
unsigned nvme_prp_list_pages(uint64_t npages);

/* ---- the queue ring and its command-ID table (pure), §4.1, §4.6 ---------------------- */

enum nvme_slot_state {
	NVME_SLOT_FREE = 0,
	NVME_SLOT_ISSUED,               /* in the SQ / at the device */
	NVME_SLOT_COMPLETING,           /* claimed by exactly one completer */
	NVME_SLOT_ABANDONED,            /* the waiter gave up: a late CQE only frees it */
};

#define NVME_CID_INDEX_BITS 10u         /* cid = generation << 10 | slot index */
#define NVME_RING_MAX 1024u

struct nvme_ring {
	struct nvme_sqe *sq;            /* depth entries */
	volatile struct nvme_cqe *cq;   /* depth entries */
	uint32_t depth;                 /* entries of each ring, 2..NVME_RING_MAX */
	uint32_t sq_tail, sq_head;      /* sq_head: as the last CQE reported it */
	uint32_t cq_head;
	uint16_t phase;                 /* the phase tag a new CQE carries */
	uint32_t inflight;
	uint32_t *state;                /* depth slot states (enum nvme_slot_state), atomic */
	uint16_t *gen;                  /* depth generations */
	uint64_t dropped;               /* CQEs dropped: unknown, stale or duplicate cid */
};

/* Set up r over the given memory (sq/cq zeroed by the caller). */
void nvme_ring_init(struct nvme_ring *r, struct nvme_sqe *sq, volatile struct nvme_cqe *cq, uint32_t depth,
		    uint32_t *state, uint16_t *gen);
/* Forget every index (the controller was disabled): phase back to 1, the CQ
 * zeroed; slot states are kept. */
void nvme_ring_reset(struct nvme_ring *r);
/* A free slot (FREE -> ISSUED) and its cid, or -11 when the SQ or the table is full. */
int nvme_ring_slot_get(struct nvme_ring *r, uint16_t *cid);
/* Put the slot back (any state -> FREE), new generation; a slot already free is
 * left as it is. */
void nvme_ring_slot_put(struct nvme_ring *r, unsigned idx);
/* Copy sqe (its cid set) into the SQ at the tail; returns the new tail, or -11 full. */
int nvme_ring_push(struct nvme_ring *r, const struct nvme_sqe *sqe);
/* The next CQE if its phase tag is current: copied to *out, head advanced
 * (phase flipped at the wrap), sq_head taken from it when it lies between the
 * last one and the tail (anything else is ignored). false when none. */
bool nvme_ring_pop(struct nvme_ring *r, struct nvme_cqe *out);
/* Claim the slot of a completion's cid (ISSUED -> COMPLETING): 0 and *idx; or
 * -ENOENT (index out of range or generation not current: unknown or stale),
 * -EALREADY (not in flight, or completed already), -ECANCELED (abandoned: the
 * slot has been freed). Exactly one claim succeeds per issue. */
int nvme_ring_claim(struct nvme_ring *r, uint16_t cid, unsigned *idx);
static inline unsigned nvme_cid_index(uint16_t cid) { return cid & ((1u << NVME_CID_INDEX_BITS) - 1u); }

/* ---- controllers (kernel) ------------------------------------------------------------- */

struct nvme_ctrl;

struct nvme_info {
	char name[8];                   /* "nvme0" */
	char model[41], serial[21], firmware[9];
	uint32_t nn;                    /* namespaces the controller reports */
	unsigned nns;                   /* namespaces registered as block devices */
	unsigned nr_io_queues;          /* I/O queue pairs created */
	unsigned qdepth;                /* entries per I/O queue */
	const char *irq_mode;           /* "msix" | "msi" | "intx" | "poll" */
	bool polled;                    /* nvme.poll=1: I/O CQs without interrupts */
	uint64_t mdts_bytes;            /* 0 = no limit */
	uint16_t oncs;
	uint8_t vwc;
	uint64_t resets, aborts, dropped_cqes, irqs;
	bool failed;
};

unsigned nvme_count(void);
struct nvme_ctrl *nvme_get(unsigned idx);
int nvme_info_get(const struct nvme_ctrl *c, struct nvme_info *out);
/* Per I/O queue counters: commands submitted and completed on queue qid (1-based). */
int nvme_queue_stats(const struct nvme_ctrl *c, unsigned qid, uint64_t *submitted, uint64_t *completed);
/* The namespace block device name of namespace nsid, or NULL. */
const char *nvme_ns_name(const struct nvme_ctrl *c, uint32_t nsid);

/* Raw command, waited for (interrupts or polling, with a bound): qid 0 admin, else
 * an I/O queue. The driver sets the cid and, when buf/len are given, PRP1/PRP2
 * from buf (kernel memory, mapped through the DMA API in direction dir: 1 to the
 * device, 2 from it). *status gets the CQE's status half without the phase bit.
 * Returns 0 when a completion arrived (look at *status), -ETIMEDOUT, -EIO, ... */
int nvme_raw_cmd(struct nvme_ctrl *c, unsigned qid, struct nvme_sqe *cmd, void *buf, size_t len, int dir,
		 uint16_t *status, uint32_t *dw0);
/* Same, with a PRP1/PRP2 the caller built itself (no mapping: conformance tests). */
int nvme_raw_cmd_prp(struct nvme_ctrl *c, unsigned qid, struct nvme_sqe *cmd, uint16_t *status, uint32_t *dw0);

/* Reset the controller (disable, re-create every queue, resubmit what was in
 * flight once). 0 or -errno (then the controller is failed). */
int nvme_reset(struct nvme_ctrl *c, const char *why);
/* Orderly shutdown (CC.SHN normal, wait SHST complete); returns CSTS after it. */
int nvme_shutdown(struct nvme_ctrl *c, uint32_t *csts);
/* For tests that take a controller over (the msi suite): quiesce, free the
 * vectors, queues and DMA state, disable; then reclaim brings it back with the
 * same block devices. 0 or -errno. */
int nvme_test_release(unsigned idx);
int nvme_test_reclaim(unsigned idx);
#endif
