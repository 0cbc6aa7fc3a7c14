/* tlb.h — TLB shootdown by IPI (docs/smp.md): flush a range on a set of CPUs and
 * wait until every one of them has done it. The range travels as one 64-bit word
 * written with the request (seed K3: no torn start/count). */
#ifndef KERNEL_TLB_H
#define KERNEL_TLB_H
#include <stddef.h>
#include <stdint.h>
#include <kernel/cpumask.h>

/* Pack/unpack a range of 4 KiB pages: va bits 47:12 in [63:28], count in [27:0];
 * count 0 (or a range too large to pack) means "flush everything". */
#define TLB_COUNT_BITS 28
#define TLB_MAX_PAGES ((1ull << TLB_COUNT_BITS) - 1)
#define TLB_FULL_FLUSH_OVER 32      /* more pages than this: one full flush */
uint64_t tlb_range_pack(uintptr_t va, size_t npages);
void tlb_range_unpack(uint64_t packed, uintptr_t *va, size_t *npages);

/* Flush [va, va + npages*4K) on the calling CPU (npages 0: everything). */
void tlb_flush_local(uintptr_t va, size_t npages);
/* Flush on every online CPU in targets (NULL: all online, caller included) and
 * wait for all. 0, or -ETIMEDOUT naming the CPU that never answered (logged). */
int tlb_shootdown(uintptr_t va, size_t npages, const struct cpumask *targets);
/* Flushes carried out by a CPU for shootdowns (tests check the initiator waited). */
uint64_t tlb_flush_count(unsigned cpu);
#endif
