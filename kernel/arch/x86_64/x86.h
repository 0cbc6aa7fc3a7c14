/*
 * x86.h — private declarations of the x86_64 platform (kernel/arch/x86_64/ only):
 * address-space layout, control-register and port helpers, the trap frame that
 * the entry stubs build, and the functions the arch files call on one another.
 * Register and bit numbers come from <hw/x86/...> (SDM, edition in hw/README.md);
 * the trap frame and TSS layouts: SDM Vol. 3A §6.14.2, §7.7; AMD APM Vol. 2.
 */
#ifndef DOPPEL_ARCH_X86_H
#define DOPPEL_ARCH_X86_H

#include <hw/x86/cpu.h>     /* CR0/CR4/RFLAGS and page-table-entry bits */
#include <hw/x86/cpuid.h>
#include <hw/x86/msr.h>

/* ---- address-space layout (shared with boot.S and linker.ld) ---------------- */

#define X86_KERNEL_VMA      0xFFFFFFFF80000000 /* kernel image: VA = PA + this */
#define X86_DIRECT_MAP_BASE 0xFFFF800000000000 /* direct map: VA = PA + this */
#define X86_BOOT_DIRECT_GIB 4                  /* direct map set up by boot.S */
#define X86_DIRECT_MAX_GIB  64                 /* page-directory pool size (1 PD per GiB) */
#define X86_BOOT_STACK_SIZE 0x8000             /* boot CPU kernel stack, 32 KiB */

/* Page-table windows in the top GiB (PML4[511], PDPT[511]; vmap.c). The kernel
 * image map (PDPT[510]) ends at 0xFFFFFFFFC0000000, where they begin. */
#define X86_VMAP_BASE       0xFFFFFFFFC0000000 /* hal_vmap window: 2 MiB of 4 KiB pages */
#define X86_VMAP_SIZE       0x200000
#define X86_MMIO_WIN_BASE   0xFFFFFFFFC0200000 /* uncached device mappings (hal_mmio_map) */
#define X86_MMIO_WIN_PTS    8                  /* page tables: 8 x 2 MiB = 16 MiB */
#define X86_MMIO_WIN_SIZE   (X86_MMIO_WIN_PTS * 0x200000)

#define X86_SEL_KCODE 0x08                     /* GDT layout, see cpu.c */
#define X86_SEL_KDATA 0x10
#define X86_SEL_TSS   0x18

/*
 * AP start-up trampoline (trampoline.S, smp.c; docs/image.md "AP start-up"): one
 * 4 KiB page below 1 MiB. Code at offset 0 (where SIPI starts the AP), the header
 * struct x86_tramp_header at X86_TRAMP_HDR, one struct x86_ap_slot per CPU index
 * at X86_TRAMP_SLOTS. The X86_TH_* offsets are the header's fields (asserted in
 * smp.c); the temporary GDT's selectors are X86_TSEL_*.
 */
#define X86_MAX_CPUS       256                 /* HAL_MAX_CPUS, for assembly */
#define X86_TRAMP_CODE_MAX 0x200
#define X86_TRAMP_HDR      0x200
#define X86_TRAMP_SLOTS    0x800
#define X86_TH_GDTR        (X86_TRAMP_HDR + 0x20) /* limit (2), base (4) */
#define X86_TH_FAR32       (X86_TRAMP_HDR + 0x28) /* m16:32 for the jump to 32-bit code */
#define X86_TH_FAR64       (X86_TRAMP_HDR + 0x30) /* m16:32 for the jump to 64-bit code */
#define X86_TH_CR0         (X86_TRAMP_HDR + 0x38)
#define X86_TH_CR4         (X86_TRAMP_HDR + 0x3C)
#define X86_TH_CR3         (X86_TRAMP_HDR + 0x40) /* start-up PML4, below 4 GiB */
#define X86_TH_EFER        (X86_TRAMP_HDR + 0x44) /* EFER bits to set: LME (+ NXE) */
#define X86_TH_ENTRY64     (X86_TRAMP_HDR + 0x48) /* high-half x86_ap_entry64 */
#define X86_TSEL_CODE32    0x08
#define X86_TSEL_DATA      0x10
#define X86_TSEL_CODE64    0x18
#define X86_AP_SLOT_EMPTY   0                  /* struct x86_ap_slot.state */
#define X86_AP_SLOT_ARMED   1                  /* prepared; the AP may claim it */
#define X86_AP_SLOT_CLAIMED 2                  /* the AP took it and runs on its stack */
#define X86_AP_SLOT_ONLINE  3                  /* the AP loaded its GDT/IDT/GS; entry runs */
#define X86_AP_STACK_SIZE  0x8000              /* kernel stack of each AP, 32 KiB */
#define X86_CPU_STACK_TOP_OFFSET 16            /* struct x86_cpu.stack_top */

#ifndef __ASSEMBLER__
#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <hw/x86/desc.h>       /* IDT gate, GDTR/IDTR operand, TSS */

/*
 * What the entry stubs in entry.S leave on the stack, lowest address first:
 * the general registers the common stub pushed, the vector number and the
 * error code (0 when the CPU pushes none), then the frame the CPU pushed
 * (SDM Vol. 3A §6.14.2, Figure 6-9). irq_dispatch's `frame` points here.
 */
struct x86_trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector;
	uint64_t error;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};
_Static_assert(sizeof(struct x86_trap_frame) == 22 * 8, "entry.S frame layout");


/*
 * Per-CPU area, reached through the GS base (IA32_GS_BASE). `self` at %gs:0 gives
 * its address, `index` at %gs:8 is hal_cpu_index(). Each CPU owns its GDT and
 * TSS (a busy TSS descriptor cannot be shared) and its IST stacks. The boot
 * CPU's is static (cpu.c); smp.c allocates one per AP, with the AP's kernel stack
 * right above it, and the AP loads it with x86_cpu_init().
 */
#define X86_IST_DF  1                  /* IST slot for #DF */
#define X86_IST_NMI 2                  /* for NMI */
#define X86_IST_MC  3                  /* for #MC */
#define X86_IST_STACK_SIZE 8192

struct x86_cpu {
	struct x86_cpu *self;              /* %gs:0 */
	uint32_t index;                    /* %gs:8 */
	uint32_t trap_depth;               /* exceptions being reported on this CPU */
	uint64_t stack_top;                /* %gs:16: APs: initial RSP (smp.c) */
	void (*ap_entry)(unsigned index);  /* APs: the kernel's entry (smp.c) */
	uint64_t gdt[5];                   /* null, kernel code, kernel data, TSS (2) */
	struct x86_tss tss;
	uint8_t ist_stack[3][X86_IST_STACK_SIZE] __attribute__((aligned(16)));
};
#define X86_CPU_INDEX_OFFSET 8

/* ---- linker-script symbols (linker.ld) --------------------------------------- */

extern char __kernel_phys_start[], __kernel_phys_end[]; /* physical addresses */
extern char __kernel_virt_start[], __kernel_virt_end[]; /* high-half image */
extern char __text_start[], __text_end[];

/* ---- port I/O and control registers ------------------------------------------- */

static inline void x86_outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}
static inline uint8_t x86_inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}
static inline void x86_outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port) : "memory");
}
static inline void x86_outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}
static inline uint64_t x86_read_cr0(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}
static inline uint64_t x86_read_cr4(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}
static inline uint64_t x86_read_cr2(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}
static inline uint64_t x86_read_cr3(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}
static inline void x86_write_cr3(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}
static inline uint64_t x86_rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
static inline void x86_wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
	                 : "memory");
}
static inline __attribute__((noreturn)) void x86_halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* ---- early console (console.c): usable before and without the kernel's printf -- */

void x86_console_init(void);
void x86_puts(const char *s);              /* whole string under the console lock */
/* Build a line piecewise into a caller buffer, then x86_puts it in one write. */
struct x86_line { char buf[768]; size_t len; };   /* fits 32 backtrace addresses */
void x86_line_str(struct x86_line *l, const char *s);
void x86_line_hex(struct x86_line *l, uint64_t v, int digits); /* "0x", `digits` digits (0: minimal) */
void x86_line_dec(struct x86_line *l, uint64_t v);
void x86_line_end(struct x86_line *l);     /* appends "\n" and writes the line */

/* ---- cpu.c / trap.c / mmu.c / fw_cfg.c ------------------------------------------ */

void x86_cpu_init(struct x86_cpu *c, unsigned index); /* GS base, GDT, TSS, IDT */
void x86_cpu_init_boot(void);              /* x86_cpu_init for CPU 0, then mask the PICs */
static inline struct x86_cpu *x86_this_cpu(void)
{
	struct x86_cpu *c;
	__asm__ volatile("mov %%gs:0, %0" : "=r"(c));
	return c;
}
void x86_trap(struct x86_trap_frame *f);   /* called by entry.S for every vector */
extern const uint64_t x86_isr_stubs[256];  /* entry.S: address of each vector's stub */
extern char x86_rdmsr_insn[], x86_rdmsr_fixup[]; /* entry.S: hal_rdmsr's #GP fixup */

void x86_mmu_drop_identity(void);          /* unmap the low 1 GiB boot.S identity map */
/* Extend the direct map to cover [0, top); clamps at X86_DIRECT_MAX_GIB. */
void x86_mmu_extend_direct_map(uint64_t top);
uint64_t x86_direct_map_limit(void);

/* Append the QEMU fw_cfg file opt/doppel/cmdline to cmdline (size bytes). */
void x86_fw_cfg_append_cmdline(char *cmdline, size_t size);

/* smp.c / trampoline.S: AP start-up. */
extern struct x86_cpu *x86_cpus[X86_MAX_CPUS]; /* per-CPU areas by index; [0] boot CPU */
void x86_ap_start(struct x86_cpu *c) __attribute__((noreturn)); /* from x86_ap_entry64 */
extern const char x86_trampoline_start[], x86_trampoline_end[];
void x86_ap_entry64(void);                 /* high-half landing of the trampoline */

/* vmap.c: the page-table windows (vmap, MMIO); x86_start calls init before kmain. */
void x86_windows_init(void);
/* Uncached 4 KiB mapping of [pa, pa + len) in the MMIO window; NULL when the
 * request is too large for it or the window is full (the caller falls back). */
void *x86_mmio_window_map(uint64_t pa, size_t len);

struct boot_info;
const struct boot_info *x86_boot_info(void); /* start.c: what kmain was handed */

/* Weak default in trap.c; the kernel's interrupt code overrides it. */
void irq_dispatch(uint8_t vector, void *frame);

#endif /* !__ASSEMBLER__ */
#endif /* DOPPEL_ARCH_X86_H */
