/*
 * trap.c — what happens after entry.S saved a trap frame: CPU exceptions 0–31 are
 * reported (registers, frame-pointer backtrace, an addr2line command) and end the
 * machine with status 2; vectors 32–255 go to irq_dispatch(). Exception numbers
 * and error-code formats: Intel SDM Vol. 3A §6.3 Table 6-1, §6.13 (selector error
 * code), §4.7 (page-fault error code); AMD APM Vol. 2 §8.2 for vectors 28–30.
 */
#include <stdbool.h>
#include <stdint.h>

#include "hal/hal.h"
#include "kernel/panic.h"
#include "x86.h"

#define BACKTRACE_MAX 32
#define ELF_FOR_SYMBOLS "build/image/doppel.elf"

static const char *const exception_names[32] = {
	[0] = "#DE divide error",           [1] = "#DB debug",
	[2] = "NMI",                        [3] = "#BP breakpoint",
	[4] = "#OF overflow",               [5] = "#BR bound range exceeded",
	[6] = "#UD invalid opcode",         [7] = "#NM device not available",
	[8] = "#DF double fault",           [9] = "coprocessor segment overrun",
	[10] = "#TS invalid TSS",           [11] = "#NP segment not present",
	[12] = "#SS stack-segment fault",   [13] = "#GP general protection",
	[14] = "#PF page fault",            [15] = "reserved",
	[16] = "#MF x87 floating-point error", [17] = "#AC alignment check",
	[18] = "#MC machine check",         [19] = "#XM SIMD floating-point",
	[20] = "#VE virtualization",        [21] = "#CP control protection",
	[22] = "reserved", [23] = "reserved", [24] = "reserved", [25] = "reserved",
	[26] = "reserved", [27] = "reserved",
	[28] = "#HV hypervisor injection",  [29] = "#VC VMM communication",
	[30] = "#SX security",              [31] = "reserved",
};

/* ---- frame-pointer backtrace ---------------------------------------------------- */

/* May [a, a + n) be read as kernel memory? Only the kernel image and the direct
 * map qualify; anything else (user half, non-canonical, holes) ends a walk. */
static bool kernel_readable(uint64_t a, uint64_t n)
{
	uint64_t img_lo = (uint64_t)__kernel_virt_start, img_hi = (uint64_t)__kernel_virt_end;
	uint64_t dm_lo = X86_DIRECT_MAP_BASE, dm_hi = X86_DIRECT_MAP_BASE + x86_direct_map_limit();

	if (a + n < a)
		return false;
	return (a >= img_lo && a + n <= img_hi) || (a >= dm_lo && a + n <= dm_hi);
}

static bool kernel_text(uint64_t a)
{
	return a >= (uint64_t)__text_start && a < (uint64_t)__text_end;
}

/*
 * Walk the RBP chain (-fno-omit-frame-pointer: [rbp] = caller's rbp, [rbp + 8] =
 * return address). Stops on an unaligned, non-kernel or non-ascending frame, a
 * return address outside .text, or after `max` entries. Returns the count.
 */
static int backtrace_walk(uint64_t rbp, uint64_t *out, int max)
{
	int n = 0;

	while (n < max) {
		const uint64_t *fp = (const uint64_t *)rbp;

		if ((rbp & 7) || !kernel_readable(rbp, 16))
			break;
		if (!kernel_text(fp[1]))
			break;
		out[n++] = fp[1];
		if (fp[0] <= rbp)              /* callers' frames sit higher on the stack */
			break;
		rbp = fp[0];
	}
	return n;
}

/* Print "<prefix> #i 0x..." per frame, then a ready-to-run addr2line command. */
static void backtrace_print(const char *prefix, uint64_t first_pc, uint64_t rbp)
{
	uint64_t pcs[BACKTRACE_MAX + 1];
	struct x86_line l = { .len = 0 };
	int n = 0;

	if (first_pc)
		pcs[n++] = first_pc;
	n += backtrace_walk(rbp, &pcs[n], BACKTRACE_MAX);
	for (int i = 0; i < n; i++) {
		x86_line_str(&l, prefix);
		x86_line_str(&l, "  #");
		x86_line_dec(&l, (uint64_t)i);
		x86_line_str(&l, " ");
		x86_line_hex(&l, pcs[i], 16);
		x86_line_end(&l);
	}
	if (n == 0) {
		x86_line_str(&l, prefix);
		x86_line_str(&l, "  (no frames: frame pointer outside the kernel)");
		x86_line_end(&l);
		return;
	}
	x86_line_str(&l, prefix);
	x86_line_str(&l, " symbolize: addr2line -f -e " ELF_FOR_SYMBOLS);
	for (int i = 0; i < n; i++) {
		x86_line_str(&l, " ");
		x86_line_hex(&l, pcs[i], 16);
	}
	x86_line_end(&l);
}

void hal_backtrace(void)
{
	struct x86_line l = { .len = 0 };

	x86_line_str(&l, "backtrace: cpu ");
	x86_line_dec(&l, hal_cpu_index());
	x86_line_str(&l, ", newest call first (return addresses)");
	x86_line_end(&l);
	backtrace_print("backtrace:", 0, (uint64_t)__builtin_frame_address(0));
}

/* ---- exception report ----------------------------------------------------------- */

static void line_reg(struct x86_line *l, const char *name, uint64_t v)
{
	x86_line_str(l, " ");
	x86_line_str(l, name);
	x86_line_str(l, " ");
	x86_line_hex(l, v, 16);
}

static void error_code_decode(struct x86_line *l, uint64_t vec, uint64_t err)
{
	if (vec == 14) {                   /* SDM Vol. 3A §4.7 Figure 4-12 */
		x86_line_str(l, (err & 1) ? " (protection violation" : " (not present");
		x86_line_str(l, (err & 2) ? ", write" : ", read");
		x86_line_str(l, (err & 4) ? ", user" : ", kernel");
		if (err & 8)
			x86_line_str(l, ", reserved bit set");
		if (err & 16)
			x86_line_str(l, ", instruction fetch");
		if (err & 32)
			x86_line_str(l, ", protection key");
		if (err & 64)
			x86_line_str(l, ", shadow stack");
		x86_line_str(l, ")");
	} else if ((vec == 10 || vec == 11 || vec == 12 || vec == 13) && err) {
		/* SDM Vol. 3A §6.13: EXT, IDT, TI, selector index */
		x86_line_str(l, " (selector index ");
		x86_line_dec(l, (err >> 3) & 0x1FFF);
		x86_line_str(l, (err & 2) ? " in IDT" : (err & 4) ? " in LDT" : " in GDT");
		if (err & 1)
			x86_line_str(l, ", external event");
		x86_line_str(l, ")");
	}
}

static void __attribute__((noreturn)) exception_report(struct x86_trap_frame *f)
{
	struct x86_cpu *c = x86_this_cpu();
	struct x86_line l = { .len = 0 };
	uint64_t cr2 = x86_read_cr2();     /* read before anything else can fault */

	if (c->trap_depth++ > 0) {
		x86_line_str(&l, "trap: exception ");
		x86_line_dec(&l, f->vector);
		x86_line_str(&l, " at rip ");
		x86_line_hex(&l, f->rip, 16);
		x86_line_str(&l, " while reporting an earlier one; stopping");
		x86_line_end(&l);
		goto out_exit;
	}

	x86_line_str(&l, "trap: ---- CPU exception ");
	x86_line_dec(&l, f->vector);
	x86_line_str(&l, " ");
	x86_line_str(&l, exception_names[f->vector & 31]);
	x86_line_str(&l, " on cpu ");
	x86_line_dec(&l, c->index);
	x86_line_str(&l, " ----");
	x86_line_end(&l);

	x86_line_str(&l, "trap: error");
	x86_line_str(&l, " ");
	x86_line_hex(&l, f->error, 16);
	error_code_decode(&l, f->vector, f->error);
	x86_line_end(&l);

	x86_line_str(&l, "trap:");
	line_reg(&l, "rip", f->rip);
	line_reg(&l, "cs", f->cs);
	line_reg(&l, "rflags", f->rflags);
	x86_line_end(&l);
	x86_line_str(&l, "trap:");
	line_reg(&l, "rsp", f->rsp);
	line_reg(&l, "ss", f->ss);
	line_reg(&l, "cr3", x86_read_cr3());
	x86_line_end(&l);
	if (f->vector == 14) {
		x86_line_str(&l, "trap:");
		line_reg(&l, "cr2", cr2);
		x86_line_str(&l, " (faulting address)");
		x86_line_end(&l);
	}

	const struct { const char *name; uint64_t v; } regs[] = {
		{ "rax", f->rax }, { "rbx", f->rbx }, { "rcx", f->rcx },
		{ "rdx", f->rdx }, { "rsi", f->rsi }, { "rdi", f->rdi },
		{ "rbp", f->rbp }, { "r8 ", f->r8 },  { "r9 ", f->r9 },
		{ "r10", f->r10 }, { "r11", f->r11 }, { "r12", f->r12 },
		{ "r13", f->r13 }, { "r14", f->r14 }, { "r15", f->r15 },
	};
	for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i += 3) {
		x86_line_str(&l, "trap:");
		for (unsigned k = i; k < i + 3; k++)
			line_reg(&l, regs[k].name, regs[k].v);
		x86_line_end(&l);
	}

	x86_line_str(&l, "trap: backtrace, newest first (#0 is the faulting rip, the rest return addresses):");
	x86_line_end(&l);
	backtrace_print("trap:", f->rip, f->rbp);

out_exit:
	x86_puts("doppel-info: exit=2\n");
	hal_exit(KERNEL_EXIT_PANIC);
}

/* ---- dispatch ------------------------------------------------------------------------ */

/*
 * Default for vectors 32–255 until the kernel's interrupt code provides its own
 * irq_dispatch (a strong definition replaces this one at link time). Called with
 * interrupts disabled on the interrupted context's stack; returning resumes it.
 */
__attribute__((weak)) void irq_dispatch(uint8_t vector, void *frame)
{
	struct x86_line l = { .len = 0 };

	(void)frame;
	x86_line_str(&l, "x86: unexpected interrupt vector ");
	x86_line_dec(&l, vector);
	x86_line_end(&l);
}

void x86_trap(struct x86_trap_frame *f)
{
	if (f->vector >= 32) {
		irq_dispatch((uint8_t)f->vector, f);
		return;
	}
	/* hal_rdmsr of an MSR the CPU lacks: resume at its fixup, which returns 0. */
	if (f->vector == 13 && f->rip == (uint64_t)x86_rdmsr_insn) {
		f->rip = (uint64_t)x86_rdmsr_fixup;
		return;
	}
	exception_report(f);
}
