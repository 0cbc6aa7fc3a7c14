/*
 * hal.h — the one seam between Doppel's shared kernel code and a platform.
 * Two implementations: kernel/arch/x86_64/ (bare metal / QEMU) and sim/ (a Linux
 * process). Shared code includes only this header for hardware access; nothing
 * outside those two folders may test which build it is in.
 * Versioned like NetBSD's rumpuser: kmain checks hal_version() == HAL_VERSION.
 */
#ifndef DOPPEL_HAL_H
#define DOPPEL_HAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HAL_VERSION 5   /* 5: contexts (kernel threads); 4: hal_hold (end=hold);
                         * 3: hal_sched_point, hal_fault_inject;
                         * 2: smp (AP start-up), vmap window, interrupt entry contract */

/* ---- boot: what the platform hands kmain ------------------------------------ */

#define BOOT_MMAP_MAX 128
#define BOOT_CMDLINE_MAX 512

enum boot_mem_type {            /* multiboot2 tag 6 / E820 numbering */
	BOOT_MEM_USABLE = 1,
	BOOT_MEM_RESERVED = 2,      /* also every type the firmware gave we do not know */
	BOOT_MEM_ACPI_RECLAIM = 3,
	BOOT_MEM_ACPI_NVS = 4,
	BOOT_MEM_BAD = 5,
};

struct boot_mem_region {
	uint64_t base;
	uint64_t len;
	uint32_t type;              /* enum boot_mem_type */
	uint32_t rsvd0;
};

enum boot_firmware { BOOT_FW_UNKNOWN = 0, BOOT_FW_BIOS, BOOT_FW_UEFI, BOOT_FW_SIM };

struct boot_info {
	uint32_t hal_version;       /* HAL_VERSION of the implementation that filled it */
	uint32_t firmware;          /* enum boot_firmware */
	const char *platform;       /* "x86_64-multiboot2", "sim", ... */
	const char *loader;         /* boot loader name if known, else "" */
	uint64_t rsdp_phys;         /* 0: not handed over, kernel scans the BIOS area */
	uint32_t rsdp_source;       /* 15, 14 = multiboot2 tag number; 0 = none */
	uint32_t mmap_count;
	struct boot_mem_region mmap[BOOT_MMAP_MAX];
	uint64_t kernel_phys_start; /* physical range the kernel image occupies; */
	uint64_t kernel_phys_end;   /* empty (start == end) when not in guest memory */
	uint64_t tsc_at_entry;      /* TSC when the platform first ran, for boot timing */
	char cmdline[BOOT_CMDLINE_MAX];
};

/* The kernel's entry; the platform calls it once on the boot CPU, never returns. */
void kmain(struct boot_info *bi) __attribute__((noreturn));

/* Returns the HAL_VERSION the implementation was built with. Any context. */
uint32_t hal_version(void);

/* ---- cpu -------------------------------------------------------------------- */

/* Index of the calling CPU, 0 for the boot CPU. Any context, never blocks. */
unsigned hal_cpu_index(void);
/* Disable interrupts and return the previous state for hal_irq_restore. */
unsigned long hal_irq_save(void);
/* Restore the state hal_irq_save returned. */
void hal_irq_restore(unsigned long flags);
/* Enable / disable interrupts on the calling CPU. */
void hal_irq_enable(void);
void hal_irq_disable(void);
/* Spin-wait hint (PAUSE). Call in every busy-wait loop. */
void hal_cpu_relax(void);
/* Sleep until the next interrupt; returns after it was handled, with the caller's
 * interrupt state restored (interrupts are enabled only for the sleep itself). */
void hal_cpu_halt(void);
/* Leave the kernel for good: interrupts off, halted, nothing wakes it but INIT (a
 * parked AP the boot CPU gave up on). Never returns. */
void hal_cpu_stop(void) __attribute__((noreturn));
/* CPUID leaf/subleaf into out[0..3] = eax, ebx, ecx, edx. */
void hal_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]);
/* MSR access; reading an MSR the platform does not implement returns 0. */
uint64_t hal_rdmsr(uint32_t msr);
void hal_wrmsr(uint32_t msr, uint64_t value);
/* Time-stamp counter; monotonic per CPU. */
uint64_t hal_rdtsc(void);

/* ---- memory ------------------------------------------------------------------- */

/* Direct map: kernel pointer for a physical address of RAM or firmware tables.
 * Returns NULL if the platform cannot reach pa. Any context. */
void *hal_phys_to_virt(uint64_t pa);
/* Inverse of hal_phys_to_virt for pointers it returned (and heap/page memory and
 * the kernel image). A pointer the platform does not know is a kernel bug: the
 * image returns ~0ull, the sim stops with a diagnostic. */
uint64_t hal_virt_to_phys(const void *va);
/* Map device registers uncached; NULL on failure (e.g. beyond what the platform
 * can map). May allocate; not in IRQ context. */
void *hal_mmio_map(uint64_t pa, size_t len);
void hal_mmio_unmap(void *va, size_t len);
/* Device register access; each is one access of exactly that width. */
uint8_t hal_mmio_read8(const volatile void *addr);
uint16_t hal_mmio_read16(const volatile void *addr);
uint32_t hal_mmio_read32(const volatile void *addr);
uint64_t hal_mmio_read64(const volatile void *addr);
void hal_mmio_write8(volatile void *addr, uint8_t v);
void hal_mmio_write16(volatile void *addr, uint16_t v);
void hal_mmio_write32(volatile void *addr, uint32_t v);
void hal_mmio_write64(volatile void *addr, uint64_t v);
/* Port I/O; a port nothing decodes reads as all ones. */
uint8_t hal_pio_in8(uint16_t port);
uint16_t hal_pio_in16(uint16_t port);
uint32_t hal_pio_in32(uint16_t port);
void hal_pio_out8(uint16_t port, uint8_t v);
void hal_pio_out16(uint16_t port, uint16_t v);
void hal_pio_out32(uint16_t port, uint32_t v);

/* ---- interrupts -------------------------------------------------------------- */

/* Implemented by the kernel, called by the platform's interrupt entry with
 * interrupts disabled for every vector 32..255; `frame` is platform-specific.
 * Until the kernel defines it, the platform's weak default logs the vector. */
void irq_dispatch(uint8_t vector, void *frame);

/* ---- smp -------------------------------------------------------------------- */

#define HAL_MAX_CPUS 256

/* Arrange for the AP with this APIC ID to run entry(cpu_index) once it receives
 * INIT-SIPI-SIPI from the kernel (the sequence itself is shared kernel code): the
 * platform installs its start-up trampoline below 1 MiB (once), gives the AP a
 * stack and per-CPU state so that hal_cpu_index() returns cpu_index on it, and
 * enters entry with interrupts disabled. entry never returns. Returns the SIPI
 * vector (trampoline physical address >> 12, below 0x100) or a negative errno.
 * Boot CPU only, before that AP is started; may allocate. */
int hal_smp_prepare_ap(unsigned cpu_index, uint32_t apic_id, void (*entry)(unsigned cpu_index));

/* ---- contexts: what a kernel thread runs on (docs/sched.md) -------------------- */

/* A context is a stack and the callee-saved state of code that was switched away
 * from. The image switches stacks in assembly; the sim gives every context its own
 * host thread (named after the context, so gdb's `info threads` lists kernel
 * threads by name) and hands the simulated CPU from one to the other. Contexts
 * carry no CPU: whichever CPU switches to a context runs it there. */
struct hal_ctx;                 /* opaque, platform-owned */

/* A new context that will start in entry(arg) with interrupts disabled the first
 * time a CPU switches to it; entry never returns. stack_bytes is a minimum (the
 * sim gives host threads more). name (copied, up to 15 characters kept) is for
 * debuggers. NULL when out of memory (-ENOMEM). Not in IRQ context; may allocate. */
struct hal_ctx *hal_ctx_create(const char *name, size_t stack_bytes, void (*entry)(void *arg),
                               void *arg);
/* The calling CPU's boot flow (kmain on the boot CPU, the AP entry elsewhere) as a
 * context, created on the first call on that CPU and the same one afterwards; it
 * becomes that CPU's idle thread. Call it from the boot flow only. */
struct hal_ctx *hal_ctx_boot(void);
/* Save the caller's state into from (the context the caller runs on), continue
 * `to` on this CPU; returns when some CPU switches back to from. Interrupts must
 * be disabled; `to` must not be running anywhere. The image checks both stacks'
 * guard words here and panics naming the context whose stack overflowed. */
void hal_ctx_switch(struct hal_ctx *from, struct hal_ctx *to);
/* Free a context that is not running and is never switched to again (its entry
 * switched away for the last time). Boot contexts are never destroyed. Not from
 * the context itself; not in IRQ context. */
void hal_ctx_destroy(struct hal_ctx *c);

/* ---- vmap: kernel virtual mappings the kernel changes at run time -------------- */

/* A window of kernel virtual address space whose 4 KiB pages the kernel may map
 * and unmap at run time (the first user: TLB shootdown tests). *len gets its size. */
uintptr_t hal_vmap_window(size_t *len);
/* Map / unmap one page of the window (writable, cached). Changes the page tables
 * only: no TLB flush, exactly like a PTE write — the caller flushes (and shoots
 * down other CPUs) itself. -EINVAL outside the window or unaligned. */
int hal_vmap_map(uintptr_t va, uint64_t pa);
int hal_vmap_unmap(uintptr_t va);
/* Pointer through which the calling CPU reaches window address va, as its TLB
 * translates it now: the image returns (void *)va; the sim models a per-CPU TLB,
 * so a CPU that was not flushed still reaches the old page. NULL if unmapped. */
void *hal_vmap_access(uintptr_t va);

/* ---- tlb -------------------------------------------------------------------- */

/* Flush the calling CPU's TLB for one page / everything (non-global). Any context. */
void hal_tlb_flush_page(uintptr_t va);
void hal_tlb_flush_all(void);

/* ---- deterministic simulation and fault injection ------------------------------ */

/* A point where the deterministic simulator may switch CPUs (kernel/atomic.h calls
 * it before every atomic); a no-op elsewhere. Any context, never blocks. */
void hal_sched_point(void);
/* Should this hit of the fault-injection site `site` fail (kernel/fault.h)? The sim
 * answers from --fault-sites / --fail-nth (docs/det.md); the image never fails a
 * site. Any context, never blocks. */
bool hal_fault_inject(const char *site);

/* ---- console, exit, diagnostics ------------------------------------------------ */

/* Write bytes to the console (COM1 / stdout). Any context, may spin, never sleeps. */
void hal_console_write(const char *buf, size_t len);
/* End the machine with status (0 = pass). Never returns. Any context. */
void hal_exit(int status) __attribute__((noreturn));
/* The orderly end with `end=hold`: the status is already on the console; stop
 * every CPU for good but keep the machine up, so an outside observer (QEMU's
 * monitor) can read device state. A platform with no such observer (the sim)
 * ends as hal_exit(status) would, saying so. Never returns. Any context. */
void hal_hold(int status) __attribute__((noreturn));
/* Print a frame-pointer backtrace of the caller to the console. Any context. */
void hal_backtrace(void);

#endif /* DOPPEL_HAL_H */
