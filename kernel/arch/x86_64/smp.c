/*
 * smp.c — the image's half of AP start-up (HAL smp group): install the real-mode
 * trampoline below 1 MiB once, build the start-up address space it needs, and arm
 * one slot per AP with a per-CPU area and kernel stack; x86_ap_start is each AP's
 * first C code. Intel SDM Vol. 3A §9.4.4 (MP initialization), §9.8.5 (IA-32e
 * initialization), §4.5 (4-level paging). The INIT-SIPI-SIPI sequence is shared
 * kernel code (docs/smp.md); the page layout is in docs/image.md "AP start-up".
 */
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"
#include "kernel/atomic.h"
#include "kernel/errno.h"
#include "kernel/pmm.h"
#include "kernel/string.h"
#include "x86.h"

#define PAGE           4096ull
#define TRAMP_LOW      0x1000ull       /* never page 0 (real-mode IVT) */
#define TRAMP_HIGH     0xA0000ull      /* legacy video memory and ROMs above */
#define PTE_TABLE      (X86_PTE_P | X86_PTE_RW)
#define GDT_CODE32     0x00CF9A000000FFFFull /* base 0, 4 GiB, D = 1, execute/read */
#define GDT_DATA       0x00CF92000000FFFFull /* base 0, 4 GiB, read/write */
#define GDT_CODE64     0x00AF9A000000FFFFull /* L = 1 */

_Static_assert(X86_MAX_CPUS == HAL_MAX_CPUS, "x86.h mirrors hal.h for assembly");

/*
 * The trampoline page's header (at X86_TRAMP_HDR), written by the boot CPU when it
 * installs the page and only read by APs. Addresses are physical (= linear while
 * the AP runs below paging or identity-mapped).
 */
struct x86_tramp_header {
	uint64_t gdt[4];                   /* null, X86_TSEL_CODE32, _DATA, _CODE64 */
	uint16_t gdtr_limit;               /* LGDT operand, SDM Vol. 3A §3.5.1 */
	uint32_t gdtr_base;
	uint16_t rsvd0;
	uint32_t far32_off;                /* far pointer m16:32 to x86_trampoline_32 */
	uint16_t far32_sel;
	uint16_t rsvd1;
	uint32_t far64_off;                /* far pointer m16:32 to x86_trampoline_64 */
	uint16_t far64_sel;
	uint16_t rsvd2;
	uint32_t cr0;                      /* loaded as is: PE | PG | WP, as on the boot CPU */
	uint32_t cr4;                      /* the boot CPU's, PAE set, PCIDE clear */
	uint32_t cr3;                      /* start-up PML4 (below 4 GiB) */
	uint32_t efer;                     /* ORed into EFER: LME, and NXE if the boot CPU has it */
	uint64_t entry64;                  /* x86_ap_entry64 (high-half virtual) */
} __attribute__((packed));
_Static_assert(sizeof(struct x86_tramp_header) == 0x50, "docs/image.md trampoline header");
_Static_assert(offsetof(struct x86_tramp_header, gdtr_limit) == X86_TH_GDTR - X86_TRAMP_HDR, "x86.h");
_Static_assert(offsetof(struct x86_tramp_header, far32_off) == X86_TH_FAR32 - X86_TRAMP_HDR, "x86.h");
_Static_assert(offsetof(struct x86_tramp_header, far64_off) == X86_TH_FAR64 - X86_TRAMP_HDR, "x86.h");
_Static_assert(offsetof(struct x86_tramp_header, cr0) == X86_TH_CR0 - X86_TRAMP_HDR, "x86.h");
_Static_assert(offsetof(struct x86_tramp_header, cr4) == X86_TH_CR4 - X86_TRAMP_HDR, "x86.h");
_Static_assert(offsetof(struct x86_tramp_header, cr3) == X86_TH_CR3 - X86_TRAMP_HDR, "x86.h");
_Static_assert(offsetof(struct x86_tramp_header, efer) == X86_TH_EFER - X86_TRAMP_HDR, "x86.h");
_Static_assert(offsetof(struct x86_tramp_header, entry64) == X86_TH_ENTRY64 - X86_TRAMP_HDR, "x86.h");

/*
 * One slot per CPU index at X86_TRAMP_SLOTS: the per-AP parameters. The boot CPU
 * writes apic_id, then state = ARMED (release; published last). The AP whose
 * APIC ID matches moves ARMED -> CLAIMED with LOCK CMPXCHG and then reads
 * x86_cpus[index] (stack, entry); x86_ap_start sets ONLINE.
 */
struct x86_ap_slot {
	uint32_t apic_id;
	uint32_t state;                    /* X86_AP_SLOT_* */
};
_Static_assert(sizeof(struct x86_ap_slot) == 8, "trampoline.S indexes slots by 8");
_Static_assert(X86_TRAMP_SLOTS + X86_MAX_CPUS * sizeof(struct x86_ap_slot) <= PAGE, "one page");
_Static_assert(X86_TRAMP_HDR + sizeof(struct x86_tramp_header) <= X86_TRAMP_SLOTS, "header fits");

/* Read by x86_ap_entry64 (trampoline.S). */
struct x86_cpu *x86_cpus[X86_MAX_CPUS];
struct x86_ap_slot *x86_ap_slots;      /* direct-map address of the slot array */
uint64_t x86_ap_kernel_cr3;            /* the kernel's PML4, loaded first in the high half */
uint32_t x86_ap_lost_count;            /* APs that woke up and found no armed slot */
uint32_t x86_ap_lost_apic_id;          /* the last such AP's APIC ID */

extern const char x86_trampoline_32[], x86_trampoline_64[];
extern uint64_t x86_pml4[512];

/*
 * Start-up address space: the kernel's upper half (PML4[256..511] copied, so the
 * same PDPTs: direct map, kernel image, windows) plus one 4 KiB identity mapping
 * of the trampoline page, which the AP executes from when it turns paging on.
 * The kernel's own tables never get a low mapping; the AP leaves this PML4 for
 * the kernel's as its first act in the high half.
 */
static uint64_t startup_pml4[512] __attribute__((aligned(4096)));
static uint64_t startup_pdpt[512] __attribute__((aligned(4096)));
static uint64_t startup_pd[512] __attribute__((aligned(4096)));
static uint64_t startup_pt[512] __attribute__((aligned(4096)));

static uint64_t tramp_pa;              /* 0 until installed */
static uint32_t lost_reported;

#define AREA_CPU_BYTES  ((sizeof(struct x86_cpu) + PAGE - 1) & ~(PAGE - 1))
#define AREA_BYTES      (AREA_CPU_BYTES + X86_AP_STACK_SIZE)
#define AREA_PAGES      (AREA_BYTES / PAGE)

static void log_msg(const char *what, uint64_t a, const char *mid, uint64_t b)
{
	struct x86_line l = { .len = 0 };

	x86_line_str(&l, "x86: smp: ");
	x86_line_str(&l, what);
	x86_line_hex(&l, a, 0);
	if (mid) {
		x86_line_str(&l, mid);
		x86_line_hex(&l, b, 0);
	}
	x86_line_end(&l);
}

static uint64_t kernel_phys(const void *p)
{
	return (uint64_t)p - X86_KERNEL_VMA;   /* .bss of the image, below 1 GiB */
}

/* Does any region other than usable RAM overlap [pa, pa + PAGE)? */
static bool page_overlaps_reserved(const struct boot_info *bi, uint64_t pa)
{
	for (uint32_t i = 0; i < bi->mmap_count; i++) {
		const struct boot_mem_region *r = &bi->mmap[i];

		if (r->type != BOOT_MEM_USABLE && r->base < pa + PAGE && pa < r->base + r->len)
			return true;
	}
	return false;
}

/* The highest 4 KiB page of usable RAM in [TRAMP_LOW, TRAMP_HIGH) that no other
 * region overlaps; 0 if there is none. The page allocator keeps the first MiB to
 * itself, so nothing else in the kernel uses that page. */
static uint64_t tramp_pick(void)
{
	const struct boot_info *bi = x86_boot_info();
	uint64_t best = 0;

	for (uint32_t i = 0; i < bi->mmap_count; i++) {
		const struct boot_mem_region *r = &bi->mmap[i];
		uint64_t lo, hi;

		if (r->type != BOOT_MEM_USABLE || r->base >= TRAMP_HIGH || r->len == 0)
			continue;
		lo = (r->base + PAGE - 1) & ~(PAGE - 1);
		hi = r->base + r->len < r->base ? TRAMP_HIGH : r->base + r->len;
		if (hi > TRAMP_HIGH)
			hi = TRAMP_HIGH;
		hi &= ~(PAGE - 1);
		if (lo < TRAMP_LOW)
			lo = TRAMP_LOW;
		/* Top-down over [lo, hi): the first page nothing else claims. */
		for (uint64_t end = hi; end >= lo + PAGE && end - PAGE > best; end -= PAGE) {
			if (!page_overlaps_reserved(bi, end - PAGE)) {
				best = end - PAGE;
				break;
			}
		}
	}
	return best;
}

/* Copy PML4[256..511] from the kernel's tables: entries added there after the
 * previous AP (none today; the windows live under PML4[511]) reach the next. */
static void startup_refresh_upper_half(void)
{
	for (unsigned i = 256; i < 512; i++)
		startup_pml4[i] = x86_pml4[i];
}

static int tramp_install(void)
{
	size_t code = (size_t)(x86_trampoline_end - x86_trampoline_start);
	struct x86_tramp_header *h;
	uint64_t pa, efer;
	uint8_t *page;

	if (tramp_pa)
		return 0;
	pa = tramp_pick();
	if (!pa) {
		x86_puts("x86: smp: no usable 4 KiB page of RAM below 640 KiB in the memory map "
		         "for the AP start-up trampoline; APs cannot start\n");
		return -ENOMEM;
	}
	page = hal_phys_to_virt(pa);
	memset(page, 0, PAGE);
	memcpy(page, x86_trampoline_start, code);

	h = (struct x86_tramp_header *)(page + X86_TRAMP_HDR);
	h->gdt[0] = 0;
	h->gdt[X86_TSEL_CODE32 / 8] = GDT_CODE32;
	h->gdt[X86_TSEL_DATA / 8] = GDT_DATA;
	h->gdt[X86_TSEL_CODE64 / 8] = GDT_CODE64;
	h->gdtr_limit = sizeof(h->gdt) - 1;
	h->gdtr_base = (uint32_t)(pa + X86_TRAMP_HDR + offsetof(struct x86_tramp_header, gdt));
	h->far32_off = (uint32_t)(pa + (uint64_t)(x86_trampoline_32 - x86_trampoline_start));
	h->far32_sel = X86_TSEL_CODE32;
	h->far64_off = (uint32_t)(pa + (uint64_t)(x86_trampoline_64 - x86_trampoline_start));
	h->far64_sel = X86_TSEL_CODE64;
	h->cr0 = (uint32_t)(x86_read_cr0() | CR0_PG | CR0_PE);
	h->cr4 = (uint32_t)((x86_read_cr4() | CR4_PAE) & ~(uint64_t)CR4_PCIDE);
	h->cr3 = (uint32_t)kernel_phys(startup_pml4);
	efer = hal_rdmsr(MSR_EFER);
	h->efer = EFER_LME | ((uint32_t)efer & EFER_NXE);
	h->entry64 = (uint64_t)x86_ap_entry64;

	/* pa < 2 MiB: PML4, PDPT and PD index 0. Present bits of the upper levels
	 * are written after the leaf exists (the tables are not live yet anyway). */
	startup_pt[pa >> 12] = pa | X86_PTE_P | X86_PTE_RW;
	startup_pd[0] = kernel_phys(startup_pt) | PTE_TABLE;
	startup_pdpt[0] = kernel_phys(startup_pd) | PTE_TABLE;
	startup_pml4[0] = kernel_phys(startup_pdpt) | PTE_TABLE;

	x86_ap_slots = (struct x86_ap_slot *)(page + X86_TRAMP_SLOTS);
	x86_ap_kernel_cr3 = x86_read_cr3();
	tramp_pa = pa;
	log_msg("AP start-up trampoline at ", pa, ", SIPI vector ", pa >> 12);
	return 0;
}

/* Per-CPU area and kernel stack of one AP: [struct x86_cpu][stack], from the page
 * allocator through the direct map. Kept for the machine's lifetime. */
static struct x86_cpu *area_alloc(unsigned index)
{
	uint64_t pa = pmm_alloc_pages(AREA_PAGES, 1);
	struct x86_cpu *c;
	uint8_t *p;

	if (!pa)
		return NULL;
	p = hal_phys_to_virt(pa);
	if (!p) {
		pmm_free_pages(pa, AREA_PAGES);
		return NULL;
	}
	memset(p, 0, AREA_BYTES);
	c = (struct x86_cpu *)p;
	c->self = c;
	c->index = index;
	c->stack_top = (uint64_t)(p + AREA_BYTES);
	return c;
}

static void report_lost_aps(void)
{
	uint32_t n = atomic_load32(&x86_ap_lost_count, MO_ACQUIRE);

	if (n != lost_reported) {
		log_msg("APs woke up without an armed slot and halted: ", n - lost_reported,
		        ", last APIC ID ", atomic_load32(&x86_ap_lost_apic_id, MO_RELAXED));
		lost_reported = n;
	}
}

int hal_smp_prepare_ap(unsigned cpu_index, uint32_t apic_id, void (*entry)(unsigned cpu_index))
{
	struct x86_ap_slot *slot;
	struct x86_cpu *c;
	uint32_t state;
	int rc;

	if (cpu_index == 0 || cpu_index >= HAL_MAX_CPUS || !entry) {
		log_msg("hal_smp_prepare_ap: bad arguments, cpu index ", cpu_index, ", APIC ID ", apic_id);
		return -EINVAL;
	}
	if (hal_cpu_index() != 0) {
		log_msg("hal_smp_prepare_ap called on cpu ", hal_cpu_index(), "; boot CPU only, APIC ID ", apic_id);
		return -EPERM;
	}
	rc = tramp_install();
	if (rc)
		return rc;
	report_lost_aps();

	slot = &x86_ap_slots[cpu_index];
	state = atomic_load32(&slot->state, MO_ACQUIRE);
	if (state == X86_AP_SLOT_CLAIMED || state == X86_AP_SLOT_ONLINE) {
		log_msg("hal_smp_prepare_ap: cpu index already running: ", cpu_index, ", APIC ID ", apic_id);
		return -EBUSY;
	}
	c = x86_cpus[cpu_index];
	if (!c) {
		c = area_alloc(cpu_index);
		if (!c) {
			log_msg("no memory for the per-CPU area and stack of cpu ", cpu_index, ", APIC ID ", apic_id);
			return -ENOMEM;
		}
		x86_cpus[cpu_index] = c;
	}
	c->ap_entry = entry;
	startup_refresh_upper_half();

	/* An APIC ID armed under another index (a retry with a new index) must not
	 * be claimed twice: disarm the older slot first. */
	for (unsigned i = 1; i < HAL_MAX_CPUS; i++) {
		uint32_t armed = X86_AP_SLOT_ARMED;

		if (i != cpu_index && x86_ap_slots[i].apic_id == apic_id)
			atomic_cas32(&x86_ap_slots[i].state, &armed, X86_AP_SLOT_EMPTY, MO_ACQ_REL, MO_RELAXED);
	}
	slot->apic_id = apic_id;
	/* Release: the slot's APIC ID, x86_cpus[] and the area are visible before an
	 * AP can see ARMED. */
	atomic_store32(&slot->state, X86_AP_SLOT_ARMED, MO_RELEASE);
	/* MFENCE: all of it is globally visible before the kernel's INIT/SIPI (an
	 * x2APIC ICR write is a WRMSR, which does not order earlier stores). */
	atomic_fence(MO_SEQ_CST);
	return (int)(tramp_pa >> 12);
}

void hal_cpu_stop(void)
{
	x86_halt_forever();                /* cli; hlt: only INIT, NMI or SMI end it */
}

/*
 * First C code of an AP, on its own stack, in the kernel's address space, still
 * on the trampoline's GDT and without GS: load this CPU's GDT, TSS, GS base and
 * the IDT, mark the slot online and enter the kernel with interrupts disabled.
 */
void x86_ap_start(struct x86_cpu *c)
{
	unsigned index = c->index;
	struct x86_line l = { .len = 0 };

	x86_cpu_init(c, index);            /* hal_cpu_index() works from here on */
	atomic_store32(&x86_ap_slots[index].state, X86_AP_SLOT_ONLINE, MO_RELEASE);
	c->ap_entry(index);

	x86_line_str(&l, "x86: smp: the kernel's AP entry returned on cpu ");
	x86_line_dec(&l, index);
	x86_line_str(&l, "; halting it");
	x86_line_end(&l);
	x86_halt_forever();
}
