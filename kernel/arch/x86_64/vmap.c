/*
 * vmap.c — page-table windows in the top GiB of the kernel's address space, built
 * at boot under PML4[511] / PDPT[511] with 4 KiB pages: the HAL's vmap window
 * (pages the kernel maps and unmaps at run time, e.g. for TLB shootdown tests) and
 * the MMIO window (uncached device mappings for hal_mmio_map). Intel SDM Vol. 3A
 * §4.5 (4-level paging, Table 4-19 PTE), §4.10 (TLB: a PTE write needs INVLPG),
 * §11.12.3 (PAT entry selection: PCD = PWT = 1 is entry 3, UC at power-up).
 */
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"
#include "kernel/atomic.h"
#include "kernel/errno.h"
#include "kernel/spinlock.h"
#include "x86.h"

#define PAGE            4096ull
#define PTE_TABLE       (X86_PTE_P | X86_PTE_RW)
#define PTE_DATA        (X86_PTE_P | X86_PTE_RW)                    /* write-back */
#define PTE_MMIO        (X86_PTE_P | X86_PTE_RW | X86_PTE_PCD | X86_PTE_PWT) /* UC */
#define PHYS_LIMIT      (1ull << 52)   /* architectural MAXPHYADDR bound */
#define VMAP_PAGES      (X86_VMAP_SIZE / PAGE)
#define MMIO_PAGES      (X86_MMIO_WIN_SIZE / PAGE)
#define MMIO_MAP_MAX_PAGES 64          /* 256 KiB; larger ranges use the direct map */
#define MMIO_RECORDS    128

_Static_assert(X86_MMIO_WIN_BASE == X86_VMAP_BASE + X86_VMAP_SIZE, "windows are adjacent");
_Static_assert(((X86_VMAP_BASE >> 39) & 511) == 511 && ((X86_VMAP_BASE >> 30) & 511) == 511,
               "the windows sit under PML4[511], PDPT[511]");
_Static_assert(X86_VMAP_SIZE / 0x200000 + X86_MMIO_WIN_PTS <= 512, "one page directory");

extern uint64_t x86_pdpt_kernel[512];  /* boot.S */

static uint64_t windows_pd[512] __attribute__((aligned(4096)));
static uint64_t vmap_pt[512] __attribute__((aligned(4096)));
static uint64_t mmio_pt[X86_MMIO_WIN_PTS][512] __attribute__((aligned(4096)));

/* MMIO window bookkeeping. Mappings are never torn down (there is no cross-CPU
 * flush in the platform), so a later request for registers already mapped gets
 * the same virtual address and the window only grows with distinct devices. */
struct mmio_record {
	uint64_t pa;                       /* first physical page */
	uint32_t pages;
	uint32_t first;                    /* first window page */
};
static struct spinlock mmio_lock = SPINLOCK_INIT("x86 mmio window"); /* leaf lock */
static struct mmio_record mmio_records[MMIO_RECORDS];
static unsigned mmio_nrecords, mmio_next;
static int mmio_full_logged;

static uint64_t kernel_phys(const void *p)
{
	return (uint64_t)p - X86_KERNEL_VMA;
}

/* Called once by x86_start on the boot CPU before kmain: only not-present
 * entries become present, so no TLB flush is needed. */
void x86_windows_init(void)
{
	windows_pd[0] = kernel_phys(vmap_pt) | PTE_TABLE;
	for (unsigned i = 0; i < X86_MMIO_WIN_PTS; i++)
		windows_pd[1 + i] = kernel_phys(mmio_pt[i]) | PTE_TABLE;
	/* Publish the directory after its entries (present last). */
	__asm__ volatile("" : : : "memory");
	x86_pdpt_kernel[511] = kernel_phys(windows_pd) | PTE_TABLE;
}

static void log_bad(const char *what, uint64_t a, uint64_t b)
{
	struct x86_line l = { .len = 0 };

	x86_line_str(&l, "x86: ");
	x86_line_str(&l, what);
	x86_line_str(&l, " va ");
	x86_line_hex(&l, a, 0);
	x86_line_str(&l, " pa ");
	x86_line_hex(&l, b, 0);
	x86_line_str(&l, ": -EINVAL (window ");
	x86_line_hex(&l, X86_VMAP_BASE, 0);
	x86_line_str(&l, " + ");
	x86_line_hex(&l, X86_VMAP_SIZE, 0);
	x86_line_str(&l, ", 4 KiB aligned)");
	x86_line_end(&l);
}

/* ---- HAL: vmap ----------------------------------------------------------------- */

uintptr_t hal_vmap_window(size_t *len)
{
	if (len)
		*len = X86_VMAP_SIZE;
	return X86_VMAP_BASE;
}

static long vmap_slot(uintptr_t va)
{
	if (va < X86_VMAP_BASE || va - X86_VMAP_BASE >= X86_VMAP_SIZE)
		return -EINVAL;
	return (long)((va - X86_VMAP_BASE) / PAGE);
}

/* One 8-byte store per PTE (SDM Vol. 3A §8.1.1: aligned quadword stores are
 * atomic), so a CPU walking the table concurrently sees the old or the new entry.
 * No INVLPG: the caller flushes, as it would after writing a PTE itself. */
int hal_vmap_map(uintptr_t va, uint64_t pa)
{
	long i = vmap_slot(va);

	if (i < 0 || (va & (PAGE - 1)) || (pa & (PAGE - 1)) || pa >= PHYS_LIMIT) {
		log_bad("hal_vmap_map", va, pa);
		return -EINVAL;
	}
	atomic_store64(&vmap_pt[i], pa | PTE_DATA, MO_RELEASE);
	return 0;
}

int hal_vmap_unmap(uintptr_t va)
{
	long i = vmap_slot(va);

	if (i < 0 || (va & (PAGE - 1))) {
		log_bad("hal_vmap_unmap", va, 0);
		return -EINVAL;
	}
	atomic_store64(&vmap_pt[i], 0, MO_RELEASE);
	return 0;
}

/* The image has a real TLB: the pointer is the address itself, and what it
 * reaches is whatever this CPU's TLB (or, on a miss, the page table) says. NULL
 * when va is outside the window or its PTE is clear now, as in the sim. */
void *hal_vmap_access(uintptr_t va)
{
	long i = vmap_slot(va);

	if (i < 0 || !(atomic_load64(&vmap_pt[i], MO_ACQUIRE) & X86_PTE_P))
		return NULL;
	return (void *)va;
}

/* ---- MMIO window ----------------------------------------------------------------- */

static uint64_t *mmio_pte(unsigned page)
{
	return &mmio_pt[page / 512][page % 512];
}

/*
 * Map [pa, pa + len) (len >= 1) uncached with 4 KiB pages, or return the mapping
 * an earlier call made of the same pages. NULL when the range is larger than
 * MMIO_MAP_MAX_PAGES or the window is full: hal_mmio_map then falls back to the
 * direct map, whose memory type the MTRRs make UC for the PCI hole.
 */
void *x86_mmio_window_map(uint64_t pa, size_t len)
{
	uint64_t first = pa & ~(PAGE - 1);
	uint64_t last = (pa + len - 1) & ~(PAGE - 1);
	uint64_t pages = (last - first) / PAGE + 1;
	void *va = NULL;

	if (pages > MMIO_MAP_MAX_PAGES || last >= PHYS_LIMIT)
		return NULL;
	spin_lock(&mmio_lock);
	for (unsigned r = 0; r < mmio_nrecords; r++) {
		const struct mmio_record *m = &mmio_records[r];

		if (first >= m->pa && last < m->pa + (uint64_t)m->pages * PAGE) {
			va = (void *)(X86_MMIO_WIN_BASE + (uint64_t)m->first * PAGE + (pa - m->pa));
			goto out_unlock;
		}
	}
	if (mmio_nrecords == MMIO_RECORDS || mmio_next + pages > MMIO_PAGES) {
		if (!mmio_full_logged) {
			x86_puts("x86: MMIO window full; further device mappings use the direct map\n");
			mmio_full_logged = 1;
		}
		goto out_unlock;
	}
	/* Not-present -> present only: no flush anywhere. The record is published
	 * after the PTEs, under the lock that every reader takes. */
	for (uint64_t i = 0; i < pages; i++)
		atomic_store64(mmio_pte(mmio_next + (unsigned)i), (first + i * PAGE) | PTE_MMIO, MO_RELAXED);
	mmio_records[mmio_nrecords++] = (struct mmio_record){ first, (uint32_t)pages, mmio_next };
	va = (void *)(X86_MMIO_WIN_BASE + (uint64_t)mmio_next * PAGE + (pa - first));
	mmio_next += (unsigned)pages;
out_unlock:
	spin_unlock(&mmio_lock);
	return va;
}
