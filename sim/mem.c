/*
 * mem.c — guest physical memory for doppel-sim: one host mapping of --mem bytes,
 * physical address = offset into it, and the HAL's direct-map translation
 * (hal_phys_to_virt / hal_virt_to_phys, kernel/include/hal/hal.h). The PCI hole
 * [0xB0000000, 4 GiB) is not RAM here (as on q35), so it does not translate.
 */
#include "sim.h"

#include <errno.h>
#include <sys/mman.h>

static uint8_t *mem_base;
static uint64_t mem_size;

int sim_mem_init(uint64_t size)
{
	/* MAP_NORESERVE: a 64 GiB guest costs only the pages the kernel touches. */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	mem_base = p;
	mem_size = size;
	return 0;
}

uint8_t *sim_mem_base(void)
{
	return mem_base;
}

uint64_t sim_mem_size(void)
{
	return mem_size;
}

static bool in_pci_hole(uint64_t pa)
{
	return pa >= SIM_PCI_HOLE_START && pa < SIM_PCI_HOLE_END;
}

void *hal_phys_to_virt(uint64_t pa)
{
	if (pa >= mem_size || in_pci_hole(pa))
		return NULL;
	return mem_base + pa;
}

uint64_t hal_virt_to_phys(const void *va)
{
	const uint8_t *p = va;

	if (p < mem_base || p >= mem_base + mem_size)
		sim_fatal("hal_virt_to_phys(%p): not a pointer into guest memory [%p, %p) "
		          "(a stack, static or host pointer has no physical address: kernel bug)",
		          va, (void *)mem_base, (void *)(mem_base + mem_size));
	return (uint64_t)(p - mem_base);
}
