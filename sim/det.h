/*
 * det.h — doppel-sim's deterministic mode (docs/det.md): one simulated CPU runs at
 * a time, and at every switch point a seeded scheduler (random walk or PCT,
 * Burckhardt et al., ASPLOS 2010) picks the next one. Virtual time, the decision
 * trace and its hash, the per-seed run loop (--runs) and fault sites live here.
 */
#ifndef DOPPEL_SIM_DET_H
#define DOPPEL_SIM_DET_H

#include <stdbool.h>
#include <stdint.h>

struct sim_options;

/* Why a CPU reached a switch point (also its cost in virtual time). */
enum det_reason {
	DET_ATOMIC,         /* hal_sched_point: a kernel atomic */
	DET_MMIO,
	DET_PIO,
	DET_MSR,
	DET_RELAX,
	DET_IRQ,            /* interrupt enable / restore */
	DET_TLB,
	DET_HALT,
	DET_CTX,            /* hal_ctx_switch: a kernel thread switch */
	DET_REASON_COUNT
};

extern bool sim_det_on;

/* --mode det with --runs/--check-determinism: fork one child per run; returns in
 * the child (which boots the machine for *o's seed), never in the parent. Without
 * them it returns at once. Call after option parsing, before any thread exists. */
void sim_det_main(struct sim_options *o);
/* Set up the scheduler for the CPUs (after sim_rng_seed). */
void sim_det_init(const struct sim_options *o, unsigned ncpus);
/* A switch point of the calling CPU. */
void sim_det_point(enum det_reason r);
/* The calling CPU halts: switch away until it is chosen again. */
void sim_det_halt(unsigned slot);
/* The CPU in slot stops for good (hal_cpu_stop): never scheduled again. Never returns. */
void sim_det_stop(unsigned slot) __attribute__((noreturn));
/* A CPU thread waits here for its first turn. */
void sim_det_enter(unsigned slot);
/* Slot was started (SIPI): it may be chosen from now on. */
void sim_det_cpu_started(unsigned slot);
/* Deliver a pending interrupt now (true) or let the CPU run on (a choice). */
bool sim_det_deliver_now(void);
/* A seeded coin for device models (does pending work run at this step?), drawn
 * from its own stream and hashed into the trace. */
bool sim_det_coin(void);
/* Virtual nanoseconds since reset. */
uint64_t sim_det_now(void);
/* The kernel ended the machine with status: print or record the run's line. */
void sim_det_finish(int status);

#endif
