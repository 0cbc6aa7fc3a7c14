/* ktest_smp.h — helpers for test code only (kernel/smp/smp_testutil.c), shared by
 * the ktest suites and benchmarks of every folder: bounded waits, running on one
 * CPU, a barrier for parallel runs, a per-CPU random stream. Not in image-release. */
#ifndef KERNEL_KTEST_SMP_H
#define KERNEL_KTEST_SMP_H
#include <stdbool.h>
#include <stdint.h>
#include <kernel/cpumask.h>

/* Wait until *p (atomic) >= want or timeout_us passes; serves cross-calls. */
bool tu_wait_ge(const uint64_t *p, uint64_t want, uint64_t timeout_us);
/* Run fn(arg) on one CPU and wait; 0 or smp_call's error. */
int tu_run_on(unsigned cpu, void (*fn)(uint64_t), uint64_t arg);
/* The online CPU with the highest index (the boot CPU when alone). */
unsigned tu_last_online(void);
/* Lowest index that is not online, HAL_MAX_CPUS if all are. */
unsigned tu_first_offline(void);

/* A reusable barrier for the CPUs of a parallel run (sense-reversing). */
struct tu_barrier {
	uint64_t count;
	uint64_t generation;
	uint64_t parties;
};
void tu_barrier_init(struct tu_barrier *b, unsigned parties);
/* Wait for all parties; serves cross-calls while waiting. false after timeout_us. */
bool tu_barrier_wait(struct tu_barrier *b, uint64_t timeout_us);

/* xorshift64* stream */
uint64_t tu_rand(uint64_t *state);
/* stress.seconds= in microseconds, or dflt_us when absent. */
uint64_t tu_stress_us(uint64_t dflt_us);
#endif
