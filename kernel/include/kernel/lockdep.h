/* lockdep.h — lock-order checking (docs/locks.md): every lock belongs to a class
 * (one per lock definition), each acquisition records "held before" edges between
 * classes, and a cycle (an order that can deadlock) or a class taken in interrupt
 * context and also held with interrupts on is reported once, as a `lockdep:` log
 * line and `doppel-info: lockdep.*` facts; the run goes on. On with `lockdep=1`
 * (off by default in the kernel; doppel-sim turns it on unless told otherwise). */
#ifndef KERNEL_LOCKDEP_H
#define KERNEL_LOCKDEP_H
#include <stdbool.h>
#include <stdint.h>

/* A class key for locks embedded in structures: one static key per init site
 * (spin_init, mcs_init make it), so every instance initialised there shares a class. */
struct lockdep_key {
	const char *name;
};

/* What lockdep knows about one lock instance. key NULL: the class is the lock
 * itself (a static lock: SPINLOCK_INIT), keyed by this map's address. */
struct lockdep_map {
	const struct lockdep_key *key;
	const char *name;
	uint32_t cls;               /* class index + 1 once looked up, 0 before (atomic) */
};

#define LOCKDEP_MAP_INIT(n) { .key = 0, .name = (n), .cls = 0 }

/* "file.c:123" of the caller, as one string literal. */
#define LOCKDEP_STR2(x) #x
#define LOCKDEP_STR(x) LOCKDEP_STR2(x)
#define LOCKDEP_SITE __FILE__ ":" LOCKDEP_STR(__LINE__)

/* How an acquisition holds the lock (flags of lockdep_acquire). */
#define LOCKDEP_IRQS_ON   1u    /* the lock is held with interrupts enabled (a lock
                                 * kind that leaves them on: a sleeping mutex) */
#define LOCKDEP_CONTENDED 2u    /* the acquirer had to wait (contention statistics) */

#define LOCKDEP_MAX_CLASSES 128
#define LOCKDEP_MAX_EDGES 1024
#define LOCKDEP_MAX_HELD 16     /* locks one CPU may hold at once */

/* Read `lockdep=1|0` from the command line (kmain, after cmdline_init). Before it,
 * and with lockdep=0, every hook returns at once. */
void lockdep_init(void);
bool lockdep_enabled(void);
void lockdep_map_init(struct lockdep_map *m, const char *name, const struct lockdep_key *key);

/* Hooks for lock implementations: acquire after the lock is taken (site: where, a
 * LOCKDEP_SITE string), release before it is let go. Any context; never block,
 * never allocate. A lock released that lockdep did not see taken is ignored. */
void lockdep_acquire(struct lockdep_map *m, const char *site, unsigned flags);
void lockdep_release(struct lockdep_map *m);
/* Check an acquisition before waiting for the lock: a lock this CPU already holds
 * (a certain self-deadlock) is reported here, before the spin that never ends. */
void lockdep_before_wait(struct lockdep_map *m, const char *site);
/* Interrupt entry and exit (irq_dispatch): locks taken in between are used in
 * interrupt context, and form no order with the locks the interrupted code holds. */
void lockdep_irq_enter(void);
void lockdep_irq_exit(void);
bool lockdep_in_irq(void);

/* Number of reports so far, and the last report line (tests). */
uint32_t lockdep_report_count(void);
const char *lockdep_last_report(void);
/* Per-class statistics line for every class with acquisitions: "lockdep: stats
 * <class> acquired=N contended=M" (kmain prints them with `lockdep.stats`). */
void lockdep_stats_print(void);
/* Acquisitions and contended acquisitions of the class named name (tests). */
bool lockdep_class_stats(const char *name, uint64_t *acquired, uint64_t *contended);

/* lock_assert_held(l): the calling CPU must hold l (a struct spinlock or struct
 * mcs_lock); checked in every build, whether or not lockdep is on. */
struct spinlock;
struct mcs_lock;
bool spin_is_held_by_me(const struct spinlock *l);
bool mcs_is_held_by_me(const struct mcs_lock *l);
#define lock_is_held(l) _Generic((l),                                              \
	struct spinlock *: spin_is_held_by_me, const struct spinlock *: spin_is_held_by_me, \
	struct mcs_lock *: mcs_is_held_by_me, const struct mcs_lock *: mcs_is_held_by_me)(l)
#define lock_assert_held(l)                                                        \
	do {                                                                          \
		if (!lock_is_held(l))                                                     \
			lock_assert_failed((l)->name, __FILE__, __LINE__);                    \
	} while (0)
/* lock_assert_held's failure: panics, unless a test catches it (then counted). */
void lock_assert_failed(const char *lock_name, const char *file, int line);
/* Test hook: while on, a failed lock_assert_held counts instead of panicking. */
void lock_assert_catch(bool on);
uint32_t lock_assert_caught(void);
#endif
