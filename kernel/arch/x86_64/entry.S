/*
 * entry.S — the 256 interrupt/exception entry stubs, the common save/restore path
 * that calls x86_trap(frame), and hal_rdmsr with its #GP fixup.
 * Frame layout: Intel SDM Vol. 3A §6.14.2 (64-bit interrupt stack frame) and
 * Table 6-1 (which exceptions push an error code); struct x86_trap_frame in x86.h.
 */
#include "x86.h"

	.cfi_sections .debug_frame
	.section .note.GNU-stack, "", @progbits   /* no executable stack */
	.text
	.code64

/*
 * One stub per vector. Each makes the stack uniform — a dummy error code 0 for
 * vectors where the CPU pushes none, then the vector number — and jumps to the
 * common path. Vectors 32..255 (external interrupts, IPIs, spurious) all take the
 * same path; x86_trap hands them to irq_dispatch(), so the interrupt code only
 * has to fill the IDT-independent side and never touches these stubs.
 * Error-code vectors (SDM Vol. 3A Table 6-1; AMD APM Vol. 2 §8.2 for 29, 30):
 * 8 #DF, 10 #TS, 11 #NP, 12 #SS, 13 #GP, 14 #PF, 17 #AC, 21 #CP, 29 #VC, 30 #SX.
 */
.macro ISR_STUB vec
	.balign 16
	.type x86_isr_\vec, @function
x86_isr_\vec:
	.set has_error_code, 0
	.irp e, 8, 10, 11, 12, 13, 14, 17, 21, 29, 30
	.if \vec == \e
	.set has_error_code, 1
	.endif
	.endr
	.if has_error_code == 0
	pushq $0                         /* no CPU error code: keep the frame uniform */
	.endif
	pushq $\vec
	jmp x86_isr_common
	.size x86_isr_\vec, . - x86_isr_\vec
.endm

.macro ISR_ADDR vec
	.quad x86_isr_\vec
.endm

.altmacro
.macro ISR_STUB_AT n
	ISR_STUB %n
.endm
.macro ISR_ADDR_AT n
	ISR_ADDR %n
.endm

	.balign 16
	.global x86_isr_first
x86_isr_first:
	.set vec, 0
	.rept 256
	ISR_STUB_AT vec
	.set vec, vec + 1
	.endr
.noaltmacro

/*
 * Common path. On entry the stack holds vector, error code and the CPU's frame.
 * Save every general register (struct x86_trap_frame order), call
 * x86_trap(frame) with the ABI's 16-byte alignment — the CPU aligned RSP to 16
 * before pushing its 5 words, and 2 + 15 more words keep it aligned — then
 * restore and IRETQ. The C side may edit the frame (the rdmsr fixup edits RIP).
 * Interrupt gates cleared IF; no SWAPGS because Doppel has no user mode yet.
 * The CFI describes the frame so gdb can unwind from a handler into the
 * interrupted code.
 */
	.balign 16
	.type x86_isr_common, @function
x86_isr_common:
	.cfi_startproc simple
	.cfi_signal_frame
	.cfi_def_cfa rsp, 7 * 8          /* CFA = top of the CPU's frame */
	.cfi_offset rip, -5 * 8
	.cfi_offset rsp, -2 * 8
	.irp reg, rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15
	pushq %\reg
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset \reg, 0
	.endr
	cld                              /* the C ABI wants DF = 0 */
	mov %rsp, %rdi
	call x86_trap
	.irp reg, r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax
	popq %\reg
	.cfi_adjust_cfa_offset -8
	.cfi_restore \reg
	.endr
	add $16, %rsp                    /* vector and error code */
	.cfi_adjust_cfa_offset -16
	iretq
	.cfi_endproc
	.size x86_isr_common, . - x86_isr_common

/*
 * uint64_t hal_rdmsr(uint32_t msr): RDMSR of an MSR the CPU does not implement
 * raises #GP (SDM Vol. 4 §1.1, Vol. 2B RDMSR). x86_trap recognises a #GP whose
 * RIP is x86_rdmsr_insn and resumes at x86_rdmsr_fixup, which returns 0 — the
 * HAL contract. Callers should still check CPUID before touching model MSRs.
 */
	.global hal_rdmsr, x86_rdmsr_insn, x86_rdmsr_fixup
	.type hal_rdmsr, @function
hal_rdmsr:
	.cfi_startproc
	mov %edi, %ecx
x86_rdmsr_insn:
	rdmsr                            /* clears bits 63:32 of RAX and RDX */
	shl $32, %rdx
	or %rdx, %rax
	ret
x86_rdmsr_fixup:
	xor %eax, %eax
	ret
	.cfi_endproc
	.size hal_rdmsr, . - hal_rdmsr

/* Address of each vector's stub, for cpu.c's IDT. */
	.section .rodata
	.balign 8
	.global x86_isr_stubs
x86_isr_stubs:
.altmacro
	.set vec, 0
	.rept 256
	ISR_ADDR_AT vec
	.set vec, vec + 1
	.endr
.noaltmacro
	.size x86_isr_stubs, . - x86_isr_stubs
