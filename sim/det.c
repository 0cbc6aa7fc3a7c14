/*
 * det.c — deterministic mode (docs/det.md): every simulated CPU keeps its host
 * thread, but only the holder of the baton runs; at each switch point it asks the
 * seeded scheduler (random walk, or PCT: Burckhardt, Kothari, Musuvathi, Nagarakatte,
 * "A Randomized Scheduler with Probabilistic Guarantees of Finding Bugs", ASPLOS
 * 2010) who runs next and hands the baton over. Virtual time, device engine steps,
 * the decision trace and its FNV-1a hash, livelock detection and the --runs loop.
 */
#include "det.h"
#include "rng.h"
#include "sim.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lapic/lapic.h"

#define TRACE_LEN 64                /* decisions kept for the livelock/failure tail */
#define TAIL_LINES 40               /* console lines of a failing child shown */
#define PCT_MAX_DEPTH 16
#define RELAX_BASE_NS 100ull
#define RELAX_MAX_SHIFT 9           /* a spinner's relax costs at most 51.2 µs */

bool sim_det_on;

/* Virtual cost of one switch point by reason, in ns: port I/O is slow on a PC
 * (about 1 µs), uncached MMIO and MSRs a few hundred ns, an atomic tens of ns. */
static const uint32_t step_ns[DET_REASON_COUNT] = {
	[DET_ATOMIC] = 20, [DET_MMIO] = 200, [DET_PIO] = 1000, [DET_MSR] = 200,
	[DET_RELAX] = 0, [DET_IRQ] = 50, [DET_TLB] = 100, [DET_HALT] = 0,
	[DET_CTX] = 300,
};
static const char *const reason_names[DET_REASON_COUNT] = {
	"atomic", "mmio", "pio", "msr", "relax", "irq", "tlb", "halt", "ctx",
};

enum cpu_state { CS_PARKED, CS_RUN, CS_HALT };

struct det_cpu {
	pthread_cond_t cond;
	enum cpu_state state;
	int64_t prio;               /* PCT: higher runs first */
	unsigned relax_run;         /* consecutive relaxes (virtual time ramps up) */
};

/* What a run reports; in a --runs child it lives in memory shared with the
 * parent, so the parent sees the last values even when the child crashed. */
struct det_result {
	uint64_t steps, choices, hash;
	int status;
	int livelock;
	int finished;
};

struct trace_ent {
	uint64_t step;
	uint16_t cpu;
	uint8_t reason;
	uint8_t nrun;               /* runnable CPUs at that step */
};

static const struct sim_options *opts;
static struct det_result local_result;
static struct det_result *res = &local_result;
static bool in_child;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned current;            /* the slot holding the baton */
static struct det_cpu *dc;
static unsigned ncpu;
static struct sim_rng sched_rng, irq_rng, dev_rng;
static uint64_t vnow;
static int64_t prio_floor;          /* relax pushes a spinner below this */
static uint64_t change_at[PCT_MAX_DEPTH];
static unsigned nchange, next_change;
static struct trace_ent trace[TRACE_LEN];

/* ---- virtual time -------------------------------------------------------------------- */

uint64_t sim_det_now(void)
{
	return __atomic_load_n(&vnow, __ATOMIC_RELAXED);
}

static void time_advance(uint64_t ns)
{
	__atomic_store_n(&vnow, vnow + ns, __ATOMIC_RELAXED);
}

/* ---- set-up ---------------------------------------------------------------------------- */

void sim_det_init(const struct sim_options *o, unsigned n)
{
	opts = o;
	if (!o->det)
		return;
	sim_det_on = true;
	ncpu = n;
	dc = calloc(n, sizeof(*dc));
	if (!dc) {
		fprintf(stderr, "doppel-sim: out of memory for the det scheduler\n");
		exit(SIM_EXIT_OSERR);
	}
	for (unsigned i = 0; i < n; i++)
		pthread_cond_init(&dc[i].cond, NULL);
	dc[0].state = CS_RUN;
	current = 0;
	sim_rng_stream(&sched_rng, "det.schedule");
	sim_rng_stream(&irq_rng, "det.interrupts");
	sim_rng_stream(&dev_rng, "det.devices");
	if (o->sched_pct) {
		/* Initial priorities: a random permutation of d .. d+n-1, all above the
		 * d-1 change-point priorities 1 .. d-1 (PCT, Algorithm 1). */
		int64_t *perm = calloc(n, sizeof(*perm));
		for (unsigned i = 0; i < n; i++)
			perm[i] = (int64_t)o->pct_depth + i;
		for (unsigned i = n; i > 1; i--) {
			unsigned j = (unsigned)sim_rng_below(&sched_rng, i);
			int64_t t = perm[i - 1];
			perm[i - 1] = perm[j];
			perm[j] = t;
		}
		for (unsigned i = 0; i < n; i++)
			dc[i].prio = perm[i];
		free(perm);
		/* d-1 change points over the estimated choice steps, in increasing order. */
		nchange = o->pct_depth - 1;
		for (unsigned i = 0; i < nchange; i++)
			change_at[i] = 1 + sim_rng_below(&sched_rng, o->pct_k);
		for (unsigned i = 1; i < nchange; i++)
			for (unsigned j = i; j > 0 && change_at[j - 1] > change_at[j]; j--) {
				uint64_t t = change_at[j];
				change_at[j] = change_at[j - 1];
				change_at[j - 1] = t;
			}
	}
	res->steps = res->choices = 0;
	res->hash = 0xCBF29CE484222325ull;  /* FNV-1a offset basis */
}

/* ---- the scheduler ------------------------------------------------------------------ */

static bool runnable(unsigned s, unsigned me, enum det_reason why)
{
	switch (dc[s].state) {
	case CS_RUN:
		return true;
	case CS_HALT:
		/* A halted CPU runs again once an interrupt can wake it. The caller that
		 * is halting right now counts too: an interrupt may already be there. */
		(void)me;
		(void)why;
		return lapic_model_deliverable(s);
	default:
		return false;
	}
}

static void trace_print(void)
{
	uint64_t first = res->steps > TRACE_LEN ? res->steps - TRACE_LEN : 0;

	sim_log("det: decision trace, last %llu of %llu steps (step cpu reason runnable):",
	        (unsigned long long)(res->steps - first), (unsigned long long)res->steps);
	for (uint64_t s = first; s < res->steps; s++) {
		const struct trace_ent *e = &trace[s % TRACE_LEN];
		sim_log("det:   %llu cpu%u %s %u", (unsigned long long)e->step, e->cpu,
		        e->reason < DET_REASON_COUNT ? reason_names[e->reason] : "?", e->nrun);
	}
}

static void livelock(void)
{
	res->livelock = 1;
	sim_log("det: livelock: %llu steps (--max-steps) without the machine ending",
	        (unsigned long long)res->steps);
	trace_print();
	sim_det_finish(4);
	fflush(NULL);
	exit(4);
}

static void hash_byte(uint8_t b)
{
	res->hash = (res->hash ^ b) * 0x100000001B3ull;    /* FNV-1a, 64-bit */
}

/* Hand the baton to `to` and wait until it comes back to `me`. */
static void handoff(unsigned me, unsigned to)
{
	pthread_mutex_lock(&mu);
	current = to;
	pthread_cond_signal(&dc[to].cond);
	while (current != me)
		pthread_cond_wait(&dc[me].cond, &mu);
	pthread_mutex_unlock(&mu);
}

static void schedule(unsigned me, enum det_reason why)
{
	unsigned cand[SIM_MAX_CPUS];
	unsigned n, pick;

	if (++res->steps > opts->max_steps)
		livelock();
	if (why == DET_RELAX) {
		unsigned sh = dc[me].relax_run / 8;
		time_advance(RELAX_BASE_NS << (sh < RELAX_MAX_SHIFT ? sh : RELAX_MAX_SHIFT));
		dc[me].relax_run++;
		if (opts->sched_pct)
			dc[me].prio = --prio_floor;     /* a spinner yields to everyone */
	} else {
		time_advance(step_ns[why]);
		if (why != DET_ATOMIC)
			dc[me].relax_run = 0;
	}
	for (;;) {
		uint64_t next = SIM_TIME_NEVER;

		sim_devices_engine_step(vnow);
		n = 0;
		for (unsigned s = 0; s < ncpu; s++)
			if (runnable(s, me, why))
				cand[n++] = s;
		if (n)
			break;
		/* Every CPU halts: pending device work runs now (a doorbell is never left
		 * unprocessed on a halted machine); then look again. */
		if (sim_devices_run_pending())
			continue;
		/* Every CPU halts: jump to the next timer deadline or device event. */
		for (unsigned s = 0; s < ncpu; s++) {
			if (dc[s].state != CS_HALT)
				continue;
			uint64_t t = lapic_model_next_event_ns(s);
			if (t < next)
				next = t;
		}
		{
			uint64_t t = sim_devices_next_event_ns();
			if (t < next)
				next = t;
		}
		if (next == SIM_TIME_NEVER)
			sim_fatal("every running CPU is halted with no interrupt pending and no timer "
			          "armed: the machine would hang forever (kernel bug)");
		if (next > vnow)
			__atomic_store_n(&vnow, next, __ATOMIC_RELAXED);
		else
			time_advance(1);
	}
	if (n == 1) {
		pick = cand[0];
	} else {
		res->choices++;
		if (!opts->sched_pct) {
			pick = cand[sim_rng_below(&sched_rng, n)];
		} else {
			for (;;) {
				pick = cand[0];
				for (unsigned i = 1; i < n; i++)
					if (dc[cand[i]].prio > dc[pick].prio)
						pick = cand[i];
				if (next_change >= nchange || res->choices < change_at[next_change])
					break;
				/* Change point: the CPU about to run drops below every CPU, spinners
				 * that relax() pushed down included (else a change point could never
				 * let a spinner past the CPU it waits for). */
				dc[pick].prio = --prio_floor;
				next_change++;
			}
		}
	}
	hash_byte((uint8_t)pick);
	hash_byte((uint8_t)(pick >> 8));
	trace[(res->steps - 1) % TRACE_LEN] = (struct trace_ent){ res->steps, (uint16_t)pick,
	                                                          (uint8_t)why, (uint8_t)n };
	if (pick != me)
		handoff(me, pick);
}

void sim_det_point(enum det_reason r)
{
	int slot = sim_cpu_slot();

	if (slot < 0)
		return;             /* a host thread (never in det mode once running) */
	schedule((unsigned)slot, r);
}

void sim_det_halt(unsigned slot)
{
	dc[slot].state = CS_HALT;
	schedule(slot, DET_HALT);
	dc[slot].state = CS_RUN;
}

void sim_det_stop(unsigned slot)
{
	dc[slot].state = CS_PARKED;         /* not runnable: the baton never comes back */
	for (;;)
		schedule(slot, DET_HALT);
}

void sim_det_enter(unsigned slot)
{
	pthread_mutex_lock(&mu);
	while (current != slot)
		pthread_cond_wait(&dc[slot].cond, &mu);
	pthread_mutex_unlock(&mu);
}

void sim_det_cpu_started(unsigned slot)
{
	dc[slot].state = CS_RUN;
}

bool sim_det_coin(void)
{
	bool now = sim_rng_below(&dev_rng, 2) != 0;

	hash_byte(now ? 0xD1 : 0xD0);
	return now;
}

bool sim_det_deliver_now(void)
{
	/* An interrupt is taken at this boundary with probability 3/4, else later:
	 * where in the code a timer or IPI lands is part of the seeded schedule. */
	bool now = sim_rng_below(&irq_rng, 4) != 0;

	hash_byte(now ? 0xA1 : 0xA0);
	return now;
}

/* ---- end of a run ------------------------------------------------------------------- */

void sim_det_finish(int status)
{
	if (!sim_det_on || res->finished)
		return;
	res->status = status;
	res->finished = 1;
	if (in_child)
		return;             /* the parent prints */
	printf("sim-det: seed=%llu status=%d steps=%llu choices=%llu hash=0x%016llx%s\n",
	       (unsigned long long)opts->seed, status, (unsigned long long)res->steps,
	       (unsigned long long)res->choices, (unsigned long long)res->hash,
	       res->livelock ? " livelock" : "");
	if (status != 0) {
		char replay[BOOT_CMDLINE_MAX * 5 + 1024];
		if (!res->livelock)
			trace_print();
		sim_options_replay_det(opts, opts->seed, replay, sizeof(replay));
		printf("sim-det: FAIL seed=%llu status=%d replay: %s\n",
		       (unsigned long long)opts->seed, status, replay);
	}
	fflush(stdout);
}

/* ---- --runs: one forked child per seed ----------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Print the last TAIL_LINES lines of the child's console. */
static void print_tail(int fd)
{
	off_t len = lseek(fd, 0, SEEK_END);
	off_t from = len > 16384 ? len - 16384 : 0;
	char *buf;
	ssize_t got;
	int lines = 0;
	char *p;

	if (len <= 0 || !(buf = malloc((size_t)(len - from) + 1)))
		return;
	got = pread(fd, buf, (size_t)(len - from), from);
	if (got <= 0) {
		free(buf);
		return;
	}
	buf[got] = '\0';
	for (p = buf + got; p > buf; p--)
		if (p[-1] == '\n' && p != buf + got && ++lines > TAIL_LINES)
			break;
	fputs(p, stdout);
	if (got && buf[got - 1] != '\n')
		putchar('\n');
	free(buf);
}

/* Run one seed in a child; returns its status (signals as 128+sig). */
static int run_child(struct sim_options *o, uint64_t seed, struct det_result *shared,
                     int console_fd, bool *in_child_out)
{
	pid_t pid;
	int ws;

	memset(shared, 0, sizeof(*shared));
	fflush(NULL);
	if (console_fd >= 0 && ftruncate(console_fd, 0) != 0)
		(void)0;
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "doppel-sim: fork: %s\n", strerror(errno));
		exit(SIM_EXIT_OSERR);
	}
	if (pid == 0) {
		if (console_fd >= 0) {
			lseek(console_fd, 0, SEEK_SET);
			dup2(console_fd, STDOUT_FILENO);
		}
		o->seed = seed;
		res = shared;
		*in_child_out = true;
		return -1;
	}
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(ws))
		return WEXITSTATUS(ws);
	return 128 + WTERMSIG(ws);
}

void sim_det_main(struct sim_options *o)
{
	struct det_result *shared;
	uint64_t first_failed = 0, steps_max = 0, choices_max = 0, done = 0;
	int console_fd, first_status = 0;
	unsigned failed = 0;
	double t0 = now_s();

	opts = o;
	if (!o->det || (!o->runs && !o->check_determinism))
		return;
	shared = mmap(NULL, sizeof(*shared) * 2, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	              -1, 0);
	if (shared == MAP_FAILED) {
		fprintf(stderr, "doppel-sim: mmap for --runs: %s\n", strerror(errno));
		exit(SIM_EXIT_OSERR);
	}
	console_fd = memfd_create("doppel-sim-run", MFD_CLOEXEC);
	for (uint64_t i = 0; i < (o->runs ? o->runs : 1); i++) {
		uint64_t seed = o->seed + i;
		unsigned reps = o->check_determinism ? 2 : 1;
		int st = 0;

		for (unsigned r = 0; r < reps; r++) {
			bool child = false;
			st = run_child(o, seed, &shared[r], console_fd, &child);
			if (child) {
				in_child = true;
				return;
			}
		}
		done++;
		if (shared[0].steps > steps_max)
			steps_max = shared[0].steps;
		if (shared[0].choices > choices_max)
			choices_max = shared[0].choices;
		printf("sim-det: seed=%llu status=%d steps=%llu choices=%llu hash=0x%016llx%s\n",
		       (unsigned long long)seed, st, (unsigned long long)shared[0].steps,
		       (unsigned long long)shared[0].choices, (unsigned long long)shared[0].hash,
		       shared[0].livelock ? " livelock" : "");
		if (reps == 2 && (shared[0].hash != shared[1].hash ||
		                  shared[0].steps != shared[1].steps))
			printf("sim-det: determinism mismatch seed=%llu hash1=0x%016llx hash2=0x%016llx\n",
			       (unsigned long long)seed, (unsigned long long)shared[0].hash,
			       (unsigned long long)shared[1].hash);
		if (st != 0) {
			char replay[BOOT_CMDLINE_MAX * 5 + 1024];
			if (console_fd >= 0)
				print_tail(console_fd);
			sim_options_replay_det(o, seed, replay, sizeof(replay));
			printf("sim-det: FAIL seed=%llu status=%d replay: %s\n",
			       (unsigned long long)seed, st, replay);
			failed = 1;
			first_failed = seed;
			first_status = st;
			break;
		}
	}
	if (failed)
		printf("sim-det: summary runs=%llu failed=%u first_failed_seed=%llu steps_max=%llu "
		       "choices_max=%llu seconds=%.3f\n", (unsigned long long)done, failed,
		       (unsigned long long)first_failed, (unsigned long long)steps_max,
		       (unsigned long long)choices_max, now_s() - t0);
	else
		printf("sim-det: summary runs=%llu failed=0 first_failed_seed=none steps_max=%llu "
		       "choices_max=%llu seconds=%.3f\n", (unsigned long long)done,
		       (unsigned long long)steps_max, (unsigned long long)choices_max, now_s() - t0);
	fflush(stdout);
	exit(first_status > 255 ? 255 : first_status);
}
