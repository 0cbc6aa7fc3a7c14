/*
 * ctx_switch.S — the stack switch under hal_ctx_switch (ctx.c). Only the registers
 * the System V AMD64 ABI makes callee-saved (§3.2.1, Figure 3.4: rbx, rbp,
 * r12-r15, and rsp) survive a call, so only they are saved; the kernel is built
 * with -mgeneral-regs-only, so there is no FPU/SSE state to carry. RFLAGS is not
 * switched: both sides run with interrupts disabled (HAL contract).
 */
	.section .note.GNU-stack, "", @progbits   /* no executable stack */
	.text
	.code64

/* void x86_ctx_switch(uint64_t *save_rsp, uint64_t load_rsp) */
	.global x86_ctx_switch
	.type x86_ctx_switch, @function
x86_ctx_switch:
	.cfi_startproc
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, (%rdi)
	movq %rsi, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret                              /* a new context "returns" into the trampoline */
	.cfi_endproc
	.size x86_ctx_switch, . - x86_ctx_switch

/*
 * First code of a new context: ctx.c's initial frame put entry in r12 and its
 * argument in r13, and left rsp 16-byte aligned here, so the call below enters
 * entry with the ABI's alignment. rbp is 0 in that frame: backtraces stop here.
 */
	.global x86_ctx_trampoline
	.type x86_ctx_trampoline, @function
x86_ctx_trampoline:
	.cfi_startproc
	.cfi_undefined rip               /* the outermost frame of this context */
	movq %r13, %rdi
	call *%r12
	call x86_ctx_entry_returned      /* entry must never return (ctx.c reports it) */
	ud2
	.cfi_endproc
	.size x86_ctx_trampoline, . - x86_ctx_trampoline
