/*
 * trampoline.S — the application processors' way from the real mode a SIPI leaves
 * them in to the kernel: 16-bit → 32-bit protected mode → IA-32e (long) mode on a
 * start-up address space → the high half, where each AP finds its own slot by
 * APIC ID, takes its stack and calls x86_ap_start. Intel SDM Vol. 3A §9.4.4 (MP
 * initialization, SIPI), §9.9 (mode switching), §9.8.5 (initializing IA-32e mode);
 * page layout and the header fields: x86.h and docs/image.md "AP start-up".
 */
#include "x86.h"

	.cfi_sections .debug_frame
	.section .note.GNU-stack, "", @progbits   /* no executable stack */

/*
 * The blob smp.c copies to the trampoline page (physical P, below 1 MiB, 4 KiB
 * aligned). It is data inside the kernel image and runs only at P, so it uses
 * no absolute address of its own: real-mode accesses are DS-relative with
 * DS = CS = P >> 4, and from 32-bit mode on EBX holds P. Every address that
 * depends on P (GDT base, far-jump targets) was written into the header by the
 * boot CPU. No stack is used until the AP owns one.
 */
	.section .rodata.trampoline, "a"
	.balign 16
	.global x86_trampoline_start, x86_trampoline_end, x86_trampoline_32, x86_trampoline_64
	.code16
x86_trampoline_start:
	cli
	cld
	mov %cs, %ax                     /* SIPI: CS = vector << 8, IP = 0 */
	mov %ax, %ds
	movzwl %ax, %ebx
	shl $4, %ebx                     /* EBX = P, kept through the mode switches */
	lgdtl X86_TH_GDTR                /* temporary GDT in the header (32-bit base) */
	mov %cr0, %eax
	or $CR0_PE, %eax
	mov %eax, %cr0
	ljmpl *X86_TH_FAR32              /* CS = X86_TSEL_CODE32, EIP = P + 32-bit part */

	.code32
x86_trampoline_32:
	mov $X86_TSEL_DATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	/* §9.8.5: CR4.PAE, CR3, EFER.LME, then CR0.PG enters IA-32e mode. CR3 is the
	 * start-up PML4: the kernel's upper half plus this page identity-mapped. */
	mov X86_TH_CR4(%ebx), %eax
	mov %eax, %cr4
	mov X86_TH_CR3(%ebx), %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or X86_TH_EFER(%ebx), %eax
	wrmsr
	mov X86_TH_CR0(%ebx), %eax       /* the boot CPU's CR0: PG, PE, WP; CD/NW clear */
	mov %eax, %cr0
	ljmpl *X86_TH_FAR64(%ebx)        /* CS = X86_TSEL_CODE64: 64-bit mode */

	.code64
x86_trampoline_64:
	mov %ebx, %ebx                   /* upper halves are undefined after the switch */
	jmp *X86_TH_ENTRY64(%rbx)        /* x86_ap_entry64, in the high half */
x86_trampoline_end:

	.if x86_trampoline_end - x86_trampoline_start > X86_TRAMP_CODE_MAX
	.error "trampoline code overlaps its header"
	.endif

/*
 * High half, still on the start-up PML4 and the trampoline's GDT, no stack.
 * Switch to the kernel's address space, learn this CPU's APIC ID, claim the
 * armed slot that names it (LOCK CMPXCHG ARMED -> CLAIMED, so two APs — or a
 * repeated SIPI — can never take the same slot and stack), load that CPU's stack
 * and call x86_ap_start(x86_cpus[slot]). Nothing here is shared between APs but
 * read-only globals and the slot each claims, so APs may start in parallel.
 * An AP that finds no armed slot records its APIC ID and halts for good.
 */
	.text
	.global x86_ap_entry64
	.type x86_ap_entry64, @function
x86_ap_entry64:
	.cfi_startproc
	.cfi_undefined rip               /* outermost frame for gdb's unwinder */
	mov x86_ap_kernel_cr3(%rip), %rax
	mov %rax, %cr3

	/* APIC ID (SDM Vol. 3A §11.4.6, §11.12.8.1): CPUID leaf 0xB EDX is the 32-bit
	 * x2APIC ID when leaf 0xB exists and reports a level (EBX[15:0] != 0); else
	 * the 8-bit initial APIC ID in CPUID.1:EBX[31:24]. Both are what the MADT
	 * lists, in xAPIC and in x2APIC mode. */
	mov $CPUID_LEAF_VENDOR, %eax
	cpuid
	cmp $CPUID_LEAF_TOPOLOGY, %eax
	jb 1f
	mov $CPUID_LEAF_TOPOLOGY, %eax
	xor %ecx, %ecx
	cpuid
	test $CPUID_B_EBX_LEVEL_CPUS, %ebx
	jz 1f
	mov %edx, %r8d
	jmp 2f
1:	mov $CPUID_LEAF_FEATURES, %eax
	cpuid
	shr $CPUID_1_EBX_APIC_ID_SHIFT, %ebx
	mov %ebx, %r8d

2:	mov x86_ap_slots(%rip), %rsi     /* direct-map address of the slot array */
	mov $1, %ecx                     /* slot 0 is the boot CPU's, never armed */
3:	cmp $X86_MAX_CPUS, %ecx
	jae 5f
	cmp %r8d, (%rsi, %rcx, 8)        /* slot.apic_id */
	jne 4f
	mov $X86_AP_SLOT_ARMED, %eax
	mov $X86_AP_SLOT_CLAIMED, %edx
	lock cmpxchg %edx, 4(%rsi, %rcx, 8) /* slot.state; full barrier */
	je 6f
4:	inc %ecx
	jmp 3b

5:	lock incl x86_ap_lost_count(%rip)
	mov %r8d, x86_ap_lost_apic_id(%rip)
7:	cli
	hlt
	jmp 7b

6:	lea x86_cpus(%rip), %rax
	mov (%rax, %rcx, 8), %rdi        /* struct x86_cpu * of CPU index ECX */
	mov X86_CPU_STACK_TOP_OFFSET(%rdi), %rsp
	xor %ebp, %ebp                   /* end of the frame-pointer chain */
	call x86_ap_start                /* never returns */
	ud2
	.cfi_endproc
	.size x86_ap_entry64, . - x86_ap_entry64
