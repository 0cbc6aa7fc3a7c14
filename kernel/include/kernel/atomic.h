/* atomic.h — the kernel's atomics. Every shared-memory atomic in kernel code goes
 * through these wrappers with an explicit C11 memory order; each first calls
 * hal_sched_point(), where doppel-sim's deterministic mode may switch CPUs
 * (docs/det.md). On the image that call is an empty function. */
#ifndef KERNEL_ATOMIC_H
#define KERNEL_ATOMIC_H
#include <stdbool.h>
#include <stdint.h>
#include <hal/hal.h>

#define MO_RELAXED __ATOMIC_RELAXED
#define MO_ACQUIRE __ATOMIC_ACQUIRE
#define MO_RELEASE __ATOMIC_RELEASE
#define MO_ACQ_REL __ATOMIC_ACQ_REL
#define MO_SEQ_CST __ATOMIC_SEQ_CST

static inline uint32_t atomic_load32(const uint32_t *p, int mo) { hal_sched_point(); return __atomic_load_n(p, mo); }
static inline void atomic_store32(uint32_t *p, uint32_t v, int mo) { hal_sched_point(); __atomic_store_n(p, v, mo); }
static inline uint64_t atomic_load64(const uint64_t *p, int mo) { hal_sched_point(); return __atomic_load_n(p, mo); }
static inline void atomic_store64(uint64_t *p, uint64_t v, int mo) { hal_sched_point(); __atomic_store_n(p, v, mo); }
static inline uint32_t atomic_xchg32(uint32_t *p, uint32_t v, int mo) { hal_sched_point(); return __atomic_exchange_n(p, v, mo); }
static inline uint64_t atomic_xchg64(uint64_t *p, uint64_t v, int mo) { hal_sched_point(); return __atomic_exchange_n(p, v, mo); }
static inline uint64_t atomic_fetch_add64(uint64_t *p, uint64_t v, int mo) { hal_sched_point(); return __atomic_fetch_add(p, v, mo); }
static inline uint32_t atomic_fetch_add32(uint32_t *p, uint32_t v, int mo) { hal_sched_point(); return __atomic_fetch_add(p, v, mo); }
static inline bool atomic_cas64(uint64_t *p, uint64_t *expected, uint64_t desired, int mo_ok, int mo_fail)
{
	hal_sched_point();
	return __atomic_compare_exchange_n(p, expected, desired, false, mo_ok, mo_fail);
}

/* A 16-bit load from memory a device writes by DMA (an NVMe completion's phase
 * tag). */
static inline uint16_t atomic_load16(const volatile uint16_t *p, int mo) { hal_sched_point(); return __atomic_load_n(p, mo); }
/* Compare-and-swap on 32 bits, and a fence with no location (orders this CPU's
 * earlier accesses, MMIO and MSR writes included, against later ones). */
static inline bool atomic_cas32(uint32_t *p, uint32_t *expected, uint32_t desired, int mo_ok, int mo_fail)
{
	hal_sched_point();
	return __atomic_compare_exchange_n(p, expected, desired, false, mo_ok, mo_fail);
}
static inline void atomic_fence(int mo)
{
	hal_sched_point();
	/* ThreadSanitizer does not model fences (gcc says so with -Wtsan); the fence
	 * stays for what it orders on hardware (MMIO, MSR writes). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wunknown-warning-option"
#pragma GCC diagnostic ignored "-Wtsan"
	__atomic_thread_fence(mo);
#pragma GCC diagnostic pop
}
#endif
