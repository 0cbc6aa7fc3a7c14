/*
 * mmu.c — the kernel's view of physical memory: the direct map at
 * 0xFFFF800000000000 (boot.S maps 0..4 GiB; extended here from the memory map),
 * the high-half kernel image, MMIO mapping (with vmap.c's window), local TLB flushes.
 * Intel SDM Vol. 3A §4.5 (4-level paging, 2 MiB pages), §4.10.4 (INVLPG, CR3
 * reload), §11.11–11.12 (MTRRs and PAT decide the memory type).
 */
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"
#include "x86.h"

#define GIB        (1ull << 30)
#define PAGE_2M    (1ull << 21)
#define PDE_2M     (X86_PTE_P | X86_PTE_RW | X86_PTE_PS)
#define PTE_TABLE  (X86_PTE_P | X86_PTE_RW)

/* boot.S .bss: PML4, the direct map's PDPT and one page directory per GiB. */
extern uint64_t x86_pml4[512];
extern uint64_t x86_pdpt_direct[512];
extern uint64_t x86_pd_pool[X86_DIRECT_MAX_GIB][512];

/* Bytes of physical address space reachable through the direct map. Grows only. */
static uint64_t direct_limit = X86_BOOT_DIRECT_GIB * GIB;

uint64_t x86_direct_map_limit(void)
{
	return direct_limit;
}

/* The 1 GiB identity map only carried the jump to the high half. Without it a
 * NULL or small-integer pointer faults instead of reading low memory. The GDT,
 * IDT and stack must already be high (x86_cpu_init_boot ran). The AP start-up
 * trampoline's low page is identity-mapped only in smp.c's own start-up PML4,
 * never in these tables. */
void x86_mmu_drop_identity(void)
{
	x86_pml4[0] = 0;
	hal_tlb_flush_all();
}

/*
 * Map [direct_limit, top) with 2 MiB pages from the page-directory pool, so every
 * byte of usable RAM and ACPI tables has a direct-map address. Beyond the pool
 * (X86_DIRECT_MAX_GIB) the rest is logged and stays unreachable:
 * hal_phys_to_virt returns NULL there and the page allocator must skip it.
 * Boot CPU only, before other CPUs run (no shootdown needed: only not-present
 * entries become present).
 */
void x86_mmu_extend_direct_map(uint64_t top)
{
	uint64_t max = (uint64_t)X86_DIRECT_MAX_GIB * GIB;
	struct x86_line l = { .len = 0 };

	if (top > max) {
		x86_line_str(&l, "x86: memory map reaches ");
		x86_line_hex(&l, top, 0);
		x86_line_str(&l, " but the direct map stops at ");
		x86_line_dec(&l, X86_DIRECT_MAX_GIB);
		x86_line_str(&l, " GiB; memory above it is not used");
		x86_line_end(&l);
		top = max;
	}
	top = (top + PAGE_2M - 1) & ~(PAGE_2M - 1);
	if (top <= direct_limit)
		return;

	for (uint64_t pa = direct_limit; pa < top; ) {
		unsigned gib = (unsigned)(pa / GIB);
		uint64_t *pd = x86_pd_pool[gib];
		uint64_t gib_end = (uint64_t)(gib + 1) * GIB;

		for (; pa < top && pa < gib_end; pa += PAGE_2M)
			pd[(pa / PAGE_2M) % 512] = pa | PDE_2M;
		/* Publish the directory after its entries are written (present last).
		 * A PD of a GiB that is only partly filled may be published again
		 * by a later, larger extension: the entry is the same value. */
		__asm__ volatile("" : : : "memory");
		x86_pdpt_direct[gib] = ((uint64_t)pd - X86_KERNEL_VMA) | PTE_TABLE;
	}
	hal_tlb_flush_all();
	direct_limit = top;

	x86_line_str(&l, "x86: direct map covers physical 0..");
	x86_line_hex(&l, direct_limit, 0);
	x86_line_end(&l);
}

/* ---- HAL: memory ------------------------------------------------------------------ */

void *hal_phys_to_virt(uint64_t pa)
{
	if (pa >= direct_limit)
		return NULL;
	return (void *)(X86_DIRECT_MAP_BASE + pa);
}

/*
 * Direct-map and kernel-image pointers translate arithmetically. Any other
 * pointer was not produced by this HAL; the result is ~0 (never a valid
 * physical address) so a caller's DMA setup fails loudly instead of silently
 * pointing a device at page 0.
 */
uint64_t hal_virt_to_phys(const void *va)
{
	uint64_t a = (uint64_t)va;

	if (a >= X86_DIRECT_MAP_BASE && a - X86_DIRECT_MAP_BASE < direct_limit)
		return a - X86_DIRECT_MAP_BASE;
	if (a >= X86_KERNEL_VMA && a < X86_VMAP_BASE)  /* image map; the windows follow */
		return a - X86_KERNEL_VMA;
	return ~0ull;
}

/*
 * Device registers: ranges up to 256 KiB get an uncached (PCD | PWT = PAT entry
 * 3, UC) mapping in the MMIO window (vmap.c), shared by later requests for the
 * same pages — the LAPIC (0xFEE00000), I/O APIC (0xFEC00000), HPET and most BARs.
 * Larger ranges (ECAM) and requests once the window is full use the direct map:
 * its 2 MiB pages are write-back by PAT, and the MTRRs make the PCI hole below
 * 4 GiB uncacheable on QEMU's SeaBIOS and OVMF and on PCs. NULL and a log line
 * when neither can reach pa.
 */
void *hal_mmio_map(uint64_t pa, size_t len)
{
	uint64_t n = len ? len : 1;
	void *va;

	if (pa + n >= pa) {
		va = x86_mmio_window_map(pa, n);
		if (va)
			return va;
	}
	if (pa + n < pa || pa + n > direct_limit) {
		struct x86_line l = { .len = 0 };

		x86_line_str(&l, "x86: cannot map MMIO ");
		x86_line_hex(&l, pa, 0);
		x86_line_str(&l, " (+");
		x86_line_hex(&l, (uint64_t)len, 0);
		x86_line_str(&l, "): too large for the MMIO window and above the direct map limit ");
		x86_line_hex(&l, direct_limit, 0);
		x86_line_end(&l);
		return NULL;
	}
	return (void *)(X86_DIRECT_MAP_BASE + pa);
}

/* Both kinds of mapping stay: window mappings are shared by every later request
 * for the same registers, and no other CPU's TLB has to be shot down. */
void hal_mmio_unmap(void *va, size_t len)
{
	(void)va;
	(void)len;
}

/* ---- HAL: tlb ------------------------------------------------------------------------ */

void hal_tlb_flush_page(uintptr_t va)
{
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

/* No page uses the global bit, so a CR3 reload drops every translation. */
void hal_tlb_flush_all(void)
{
	x86_write_cr3(x86_read_cr3());
}
