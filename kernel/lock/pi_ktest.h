/* pi_ktest.h — the `locks` suite's priority-inheritance cases (pi_ktest.c),
 * listed in locks_ktest.c's case table: one suite, two files. */
#ifndef KERNEL_LOCK_PI_KTEST_H
#define KERNEL_LOCK_PI_KTEST_H
#include <kernel/ktest.h>

void pi_chain_of_3_boosted_and_unwound(struct ktest *t);
void pi_chain_of_8_boosted_and_unwound(struct ktest *t);
void pi_chain_of_10_boosted_8_deep(struct ktest *t);
void pi_deadlock_abba_reported(struct ktest *t);
void pi_boost_shared_by_two_waiters(struct ktest *t);
#endif
