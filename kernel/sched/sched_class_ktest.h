/* sched_class_ktest.h — the `sched` suite's cases for the fair and RT classes
 * (sched_class_ktest.c), listed in sched_ktest.c's case table: one suite, two files. */
#ifndef KERNEL_SCHED_CLASS_KTEST_H
#define KERNEL_SCHED_CLASS_KTEST_H
#include <kernel/ktest.h>

void sched_fair_nice_weight_ratio(struct ktest *t);
void sched_fair_equal_nice_shares(struct ktest *t);
void sched_fair_newcomer_starts_at_min_vruntime(struct ktest *t);
void sched_rt_preempts_fair_within_a_tick(struct ktest *t);
void sched_rt_higher_preempts_lower(struct ktest *t);
void sched_rt_fifo_rr_order(struct ktest *t);
void sched_rt_throttle_leaves_fair_share(struct ktest *t);
void sched_rt_invalid_rejected(struct ktest *t);
void sched_pi_boost_runs_ahead_of_rt(struct ktest *t);
#endif
