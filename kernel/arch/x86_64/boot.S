/*
 * boot.S — multiboot2 header and the boot CPU's path from GRUB's 32-bit protected
 * mode to the high-half kernel in 64-bit mode (Multiboot2 spec §3.1 header, §3.3
 * machine state; Intel SDM Vol. 3A §9.8.5 "Initializing IA-32e Mode", §4.5 4-level
 * paging). The boot page tables and the boot stack live in .bss; their layout is
 * described at the tables below and used again by mmu.c.
 */
#include "x86.h"
#include "multiboot2.h"

#define PHYS(sym)    ((sym) - X86_KERNEL_VMA)
#define PDE_2M       (X86_PTE_P | X86_PTE_RW | X86_PTE_PS)
#define PTE_TABLE    (X86_PTE_P | X86_PTE_RW)
#define COM1         0x3F8
#define DEBUG_EXIT   0xF4

	.cfi_sections .debug_frame
	.section .note.GNU-stack, "", @progbits   /* no executable stack */

/* ---- Multiboot2 header (§3.1): must sit 8-byte aligned in the first 32 KiB -----
 * Only the end tag: no entry-address tag (the ELF entry is used) and no EFI tags
 * 7/9, so GRUB exits boot services and enters _start in 32-bit protected mode on
 * both SeaBIOS and OVMF. linker.ld places this section first in the file. */
	.section .multiboot2, "a"
	.balign 8
mb2_header:
	.long MB2_HEADER_MAGIC
	.long MB2_HEADER_ARCH_I386
	.long mb2_header_end - mb2_header
	.long 0x100000000 - (MB2_HEADER_MAGIC + MB2_HEADER_ARCH_I386 + (mb2_header_end - mb2_header))
	.word MB2_TAG_END, 0     /* type, flags */
	.long 8                  /* size */
mb2_header_end:

/* ---- 32-bit entry: linked and run at its physical address (low boot section) --- */
	.section .boot.text, "ax"
	.code32
	.global _start
	.type _start, @function
_start:
	/* §3.3: EAX = magic, EBX = physical address of the boot information,
	 * interrupts off, paging off, flat 4 GiB segments, no usable stack. */
	cli
	cld
	mov $PHYS(x86_boot_stack_top), %esp
	mov %eax, %ebp                   /* magic, kept until the C entry */
	mov %ebx, %esi                   /* boot information, same */
	cmp $MB2_BOOTLOADER_MAGIC, %eax
	jne .Lbad_magic

	/* Long mode needs CPUID leaf 0x80000001 EDX bit 29 (SDM Vol. 3A §9.8.5). Every
	 * CPU GRUB runs on has CPUID itself, so EFLAGS.ID is not probed. */
	mov $CPUID_LEAF_EXT_MAX, %eax
	cpuid
	cmp $CPUID_LEAF_EXT_FEATURES, %eax
	jb .Lno_long_mode
	mov $CPUID_LEAF_EXT_FEATURES, %eax
	cpuid
	test $CPUID_80000001_EDX_LM, %edx
	jz .Lno_long_mode

	/* Zero .bss (boot stack, page tables, all zero-initialised C data). Nothing on
	 * the stack is live here. linker.ld aligns both ends to 4 KiB. */
	mov $PHYS(__bss_start), %edi
	mov $PHYS(__bss_end), %ecx
	sub %edi, %ecx
	shr $2, %ecx
	xor %eax, %eax
	rep stosl

	/* Page tables (SDM Vol. 3A §4.5), all 2 MiB pages:
	 *   PML4[0]   -> pdpt_low,    pdpt_low[0]      -> pd_kernel  identity 0..1 GiB
	 *   PML4[256] -> pdpt_direct, pdpt_direct[0..3] -> pd_pool[0..3]
	 *                                     direct map 0xFFFF800000000000 -> 0..4 GiB
	 *   PML4[511] -> pdpt_kernel, pdpt_kernel[510] -> pd_kernel
	 *                                     kernel map 0xFFFFFFFF80000000 -> 0..1 GiB
	 * The identity map only serves the jump to the high half; mmu.c removes it.
	 * pd_pool has one page directory per GiB of direct map; mmu.c fills the rest
	 * when the memory map reaches above 4 GiB. Upper PTE halves stay zero from the
	 * .bss clear except where the direct map passes 4 GiB. */
	movl $(PHYS(x86_pdpt_low) + PTE_TABLE), PHYS(x86_pml4)
	movl $(PHYS(x86_pdpt_direct) + PTE_TABLE), PHYS(x86_pml4) + 256 * 8
	movl $(PHYS(x86_pdpt_kernel) + PTE_TABLE), PHYS(x86_pml4) + 511 * 8
	movl $(PHYS(x86_pd_kernel) + PTE_TABLE), PHYS(x86_pdpt_low)
	movl $(PHYS(x86_pd_kernel) + PTE_TABLE), PHYS(x86_pdpt_kernel) + 510 * 8

	mov $PHYS(x86_pd_kernel), %edi   /* 512 x 2 MiB: physical 0..1 GiB */
	xor %ecx, %ecx
1:	mov %ecx, %eax
	shl $21, %eax
	or $PDE_2M, %eax
	mov %eax, (%edi, %ecx, 8)
	inc %ecx
	cmp $512, %ecx
	jb 1b

	mov $PHYS(x86_pd_pool), %edi     /* 2048 x 2 MiB: physical 0..4 GiB */
	xor %ecx, %ecx
2:	mov %ecx, %eax
	shl $21, %eax
	or $PDE_2M, %eax
	mov %eax, (%edi, %ecx, 8)
	mov %ecx, %eax
	shr $11, %eax                    /* bits 32+ of the 2 MiB frame address */
	mov %eax, 4(%edi, %ecx, 8)
	inc %ecx
	cmp $(512 * X86_BOOT_DIRECT_GIB), %ecx
	jb 2b

	mov $PHYS(x86_pdpt_direct), %edi
	mov $(PHYS(x86_pd_pool) + PTE_TABLE), %eax
	xor %ecx, %ecx
3:	mov %eax, (%edi, %ecx, 8)
	add $4096, %eax
	inc %ecx
	cmp $X86_BOOT_DIRECT_GIB, %ecx
	jb 3b

	/* SDM Vol. 3A §9.8.5: PAE, CR3, EFER.LME, then CR0.PG activates IA-32e mode. */
	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov $PHYS(x86_pml4), %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	or $(CR0_PG | CR0_WP | CR0_PE), %eax
	mov %eax, %cr0

	lgdt boot_gdt_ptr
	ljmp $X86_SEL_KCODE, $long_mode_low

.Lbad_magic:
	mov $msg_bad_magic, %esi
	jmp .Lboot_fail
.Lno_long_mode:
	mov $msg_no_long_mode, %esi
.Lboot_fail:
	call boot_serial_init32
	call boot_puts32
	mov $3, %eax                     /* KERNEL_EXIT_BOOT_ERROR */
	mov $DEBUG_EXIT, %dx
	outl %eax, %dx                   /* QEMU isa-debug-exit; nothing on a PC */
	mov $msg_halted, %esi
	call boot_puts32
4:	cli
	hlt
	jmp 4b

/* 16550 on COM1: 115200 8N1, FIFO on (same settings as console.c). Clobbers AL, DX. */
boot_serial_init32:
	mov $(COM1 + 1), %dx; mov $0x00, %al; outb %al, %dx   /* IER: no interrupts */
	mov $(COM1 + 3), %dx; mov $0x80, %al; outb %al, %dx   /* LCR: DLAB */
	mov $(COM1 + 0), %dx; mov $0x01, %al; outb %al, %dx   /* DLL: 115200 baud */
	mov $(COM1 + 1), %dx; mov $0x00, %al; outb %al, %dx   /* DLM */
	mov $(COM1 + 3), %dx; mov $0x03, %al; outb %al, %dx   /* LCR: 8N1 */
	mov $(COM1 + 2), %dx; mov $0xC7, %al; outb %al, %dx   /* FCR: FIFO on, cleared */
	mov $(COM1 + 4), %dx; mov $0x0B, %al; outb %al, %dx   /* MCR: DTR RTS OUT2 */
	ret

/* Write the NUL-terminated string at ESI to COM1, "\n" as "\r\n"; the wait for
 * the transmitter is bounded so a missing UART cannot hang here. */
boot_puts32:
	lodsb
	test %al, %al
	jz 7f
	cmp $'\n', %al
	jne 5f
	mov $'\r', %al
	call boot_putc32
	mov $'\n', %al
5:	call boot_putc32
	jmp boot_puts32
7:	ret

boot_putc32:
	mov %eax, %ebx
	mov $0x100000, %ecx
	mov $(COM1 + 5), %dx             /* LSR */
6:	inb %dx, %al
	test $0x20, %al                  /* THRE */
	jnz 8f
	pause
	loop 6b
8:	mov %ebx, %eax
	mov $COM1, %dx
	outb %al, %dx
	ret

/* ---- 64-bit code still at the low (identity-mapped) address ------------------ */
	.code64
long_mode_low:
	mov $X86_SEL_KDATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	xor %eax, %eax
	mov %eax, %fs
	mov %eax, %gs
	movabs $long_mode_high, %rax
	jmp *%rax

	.section .boot.data, "a"
	.balign 8
boot_gdt:                            /* replaced by cpu.c's GDT before kmain */
	.quad 0
	.quad 0x00AF9A000000FFFF         /* 0x08: 64-bit code, DPL 0 (SDM Vol. 3A §3.4.5) */
	.quad 0x00CF92000000FFFF         /* 0x10: data, writable */
boot_gdt_end:
boot_gdt_ptr:
	.word boot_gdt_end - boot_gdt - 1
	.long boot_gdt

msg_bad_magic:
	.asciz "doppel: not started by a multiboot2 loader (EAX is not 0x36d76289); cannot boot\n"
msg_no_long_mode:
	.asciz "doppel: this CPU has no 64-bit long mode (CPUID 0x80000001 EDX bit 29); cannot boot\n"
msg_halted:
	.asciz "doppel: halted (status 3); no isa-debug-exit device\n"

/* ---- high half: first code at the kernel's link address ---------------------- */
	.text
	.type long_mode_high, @function
long_mode_high:
	.cfi_startproc
	.cfi_undefined rip               /* outermost frame for gdb's unwinder */
	movabs $x86_boot_stack_top, %rsp
	mov %ebp, %edi                   /* magic; mov to a 32-bit register clears */
	mov %esi, %esi                   /* bits 63:32, undefined after the switch */
	xor %ebp, %ebp                   /* end of the frame-pointer chain */
	call x86_start
9:	cli
	hlt
	jmp 9b
	.cfi_endproc
	.size long_mode_high, . - long_mode_high

/* ---- page tables and boot stack (zeroed above) ---------------------------------- */
	.section .bss
	.balign 4096
	.global x86_pml4, x86_pdpt_direct, x86_pdpt_kernel, x86_pd_pool
x86_pml4:        .skip 4096
x86_pdpt_low:    .skip 4096
x86_pdpt_kernel: .skip 4096
x86_pdpt_direct: .skip 4096
x86_pd_kernel:   .skip 4096
x86_pd_pool:     .skip 4096 * X86_DIRECT_MAX_GIB
	.balign 16
	.global x86_boot_stack, x86_boot_stack_top
x86_boot_stack:  .skip X86_BOOT_STACK_SIZE
x86_boot_stack_top:
