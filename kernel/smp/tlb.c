/*
 * tlb.c — TLB shootdown by IPI (docs/smp.md). The initiator packs the range into
 * one 64-bit word that travels in its cross-call request on the TLB channel
 * (kernel/smp/xcall.c), so a target reads start and count in one load and two
 * initiators never share a range slot (seed K3: a torn start/count flushed the
 * wrong pages). The initiator flushes locally and waits for every target.
 */
#include <hal/hal.h>
#include <kernel/atomic.h>
#include <kernel/errno.h>
#include <kernel/log.h>
#include <kernel/percpu.h>
#include <kernel/smp.h>
#include <kernel/tlb.h>

#define PAGE 4096ull
#define VA_BITS 48

uint64_t tlb_range_pack(uintptr_t va, size_t npages)
{
	if (npages == 0 || npages > TLB_MAX_PAGES)
		return 0;               /* everything */
	uint64_t vpn = ((uint64_t)va >> 12) & ((1ull << (VA_BITS - 12)) - 1);
	return (vpn << TLB_COUNT_BITS) | npages;
}

void tlb_range_unpack(uint64_t packed, uintptr_t *va, size_t *npages)
{
	*npages = (size_t)(packed & TLB_MAX_PAGES);
	uint64_t v = (packed >> TLB_COUNT_BITS) << 12;
	if (v & (1ull << (VA_BITS - 1)))
		v |= ~((1ull << VA_BITS) - 1);      /* canonical: sign-extend bit 47 */
	*va = (uintptr_t)v;
}

void tlb_flush_local(uintptr_t va, size_t npages)
{
	if (npages == 0 || npages > TLB_FULL_FLUSH_OVER) {
		hal_tlb_flush_all();
		return;
	}
	for (size_t i = 0; i < npages; i++)
		hal_tlb_flush_page(va + i * PAGE);
}

static void tlb_remote(uint64_t packed)
{
	uintptr_t va;
	size_t n;
	tlb_range_unpack(packed, &va, &n);
	tlb_flush_local(va, n);
	struct percpu *c = this_cpu();
	atomic_store64(&c->tlb_flushes, atomic_load64(&c->tlb_flushes, MO_RELAXED) + 1, MO_RELAXED);
}

uint64_t tlb_flush_count(unsigned cpu)
{
	return cpu < HAL_MAX_CPUS ? atomic_load64(&percpu_of(cpu)->tlb_flushes, MO_RELAXED) : 0;
}

int tlb_shootdown(uintptr_t va, size_t npages, const struct cpumask *targets)
{
	struct cpumask all;
	if (!targets) {
		smp_online_mask(&all);
		targets = &all;
	}
	unsigned failed = 0;
	int rc = xcall_run(XCALL_TLB, targets, tlb_remote, tlb_range_pack(va, npages), SMP_CALL_TIMEOUT_US,
			   &failed);
	if (rc == -ETIMEDOUT)
		klog("tlb", "shootdown of 0x%llx+%zu pages: CPU %u never flushed", (unsigned long long)va,
		     npages, failed);
	return rc;
}
