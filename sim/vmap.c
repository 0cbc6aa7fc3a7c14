/*
 * vmap.c — the sim's hal_vmap_* window and hal_tlb_flush_*: a shared page table
 * and one software TLB per CPU (models/tlb), so a CPU that was not flushed keeps
 * reaching the old page through hal_vmap_access, as a real TLB would (Intel SDM
 * Vol. 3A §4.10). Implements the "vmap" and "tlb" groups of kernel/include/hal/hal.h.
 */
#include "det.h"
#include "sim.h"

#include <errno.h>

#include "tlb/tlb_model.h"

/* An address range no host pointer uses; never dereferenced, only translated. */
#define VMAP_BASE 0xFFFFC90000000000ull
#define VMAP_PAGES 512u                 /* 2 MiB */

int sim_vmap_init(unsigned ncpus)
{
	return tlb_model_init(ncpus, VMAP_BASE, VMAP_PAGES);
}

static unsigned slot_of(const char *what)
{
	int slot = sim_cpu_slot();

	if (slot < 0)
		sim_fatal("%s called on a host thread that is not a simulated CPU", what);
	return (unsigned)slot;
}

uintptr_t hal_vmap_window(size_t *len)
{
	if (len)
		*len = (size_t)tlb_model_size();
	return (uintptr_t)tlb_model_base();
}

int hal_vmap_map(uintptr_t va, uint64_t pa)
{
	if (!hal_phys_to_virt(pa))
		return -EINVAL;             /* not RAM this machine has */
	return tlb_model_map(va, pa);
}

int hal_vmap_unmap(uintptr_t va)
{
	return tlb_model_unmap(va);
}

void *hal_vmap_access(uintptr_t va)
{
	uint64_t pa;
	int err = tlb_model_translate(slot_of("hal_vmap_access"), va, &pa);

	if (err == -EINVAL)
		sim_fatal("hal_vmap_access(0x%llx): outside the vmap window [0x%llx, 0x%llx) (kernel bug)",
		          (unsigned long long)va, (unsigned long long)tlb_model_base(),
		          (unsigned long long)(tlb_model_base() + tlb_model_size()));
	if (err)
		return NULL;
	return hal_phys_to_virt(pa);
}

void hal_tlb_flush_page(uintptr_t va)
{
	if (sim_det_on)
		sim_det_point(DET_TLB);
	tlb_model_flush_page(slot_of("hal_tlb_flush_page"), va);
}

void hal_tlb_flush_all(void)
{
	if (sim_det_on)
		sim_det_point(DET_TLB);
	tlb_model_flush_all(slot_of("hal_tlb_flush_all"));
}
