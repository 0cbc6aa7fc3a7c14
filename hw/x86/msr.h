/*
 * msr.h — architectural model-specific register numbers the kernel and the sim use,
 * with the bits of IA32_EFER. Numbers: SDM Vol. 4 Table 2-2 "IA-32 Architectural
 * MSRs" (edition: hw/README.md); IA32_EFER bits: SDM Vol. 3A §2.2.1.
 * Plain hex constants so that boot.S and trampoline.S can include this file.
 */
#ifndef DOPPEL_HW_X86_MSR_H
#define DOPPEL_HW_X86_MSR_H

#define MSR_IA32_TSC 0x10                 /* time-stamp counter, SDM Vol. 4 Table 2-2 */
#define MSR_IA32_APIC_BASE 0x1B           /* APIC base and mode; bits in <hw/x86/lapic.h>, SDM Vol. 3A §11.4.4 */
#define MSR_IA32_TSC_DEADLINE 0x6E0       /* LAPIC timer deadline in TSC ticks, SDM Vol. 3A §11.5.4.1 */
#define MSR_EFER 0xC0000080               /* IA32_EFER, SDM Vol. 3A §2.2.1 */
#define  EFER_SCE 0x1                     /* bit 0: SYSCALL/SYSRET enable */
#define  EFER_LME 0x100                   /* bit 8: IA-32e mode enable */
#define  EFER_LMA 0x400                   /* bit 10: IA-32e mode active (read only) */
#define  EFER_NXE 0x800                   /* bit 11: execute-disable bit enable */
#define X86_MSR_FS_BASE 0xC0000100        /* IA32_FS_BASE, SDM Vol. 4 Table 2-2 */
#define X86_MSR_GS_BASE 0xC0000101        /* IA32_GS_BASE, SDM Vol. 4 Table 2-2 */
#define X86_MSR_KERNEL_GS_BASE 0xC0000102 /* IA32_KERNEL_GS_BASE, SWAPGS, SDM Vol. 4 Table 2-2 */

#endif /* DOPPEL_HW_X86_MSR_H */
