/*
 * cpuid.h — the CPUID leaves and feature bits the kernel reads and the sim's
 * synthetic CPUID reports. SDM Vol. 2A "CPUID—CPU Identification" (Tables 3-8,
 * 3-10, 3-11) and SDM Vol. 3A §11.12.8 (x2APIC ID enumeration); edition in
 * hw/README.md. Plain hex constants so that boot.S and trampoline.S can include it.
 */
#ifndef DOPPEL_HW_X86_CPUID_H
#define DOPPEL_HW_X86_CPUID_H

/* Leaves (EAX input) */
#define CPUID_LEAF_VENDOR 0x0             /* EAX: highest basic leaf; EBX, EDX, ECX: vendor */
#define CPUID_LEAF_FEATURES 0x1           /* version, initial APIC ID, feature flags */
#define CPUID_LEAF_TOPOLOGY 0xB           /* extended topology; EDX: x2APIC ID */
#define CPUID_LEAF_TSC 0x15               /* EBX/EAX: TSC/crystal ratio, ECX: crystal Hz */
#define CPUID_LEAF_FREQ 0x16              /* EAX: processor base frequency in MHz */
#define CPUID_LEAF_EXT_MAX 0x80000000     /* EAX: highest extended leaf */
#define CPUID_LEAF_EXT_FEATURES 0x80000001 /* extended feature flags */
#define CPUID_LEAF_ADDR_SIZES 0x80000008  /* EAX[7:0]: physical address bits */

/* Leaf 1 EAX: version information, SDM Vol. 2A Figure 3-6 */
#define CPUID_1_EAX_STEPPING_SHIFT 0      /* bits 3:0 */
#define CPUID_1_EAX_MODEL_SHIFT 4         /* bits 7:4 */
#define CPUID_1_EAX_FAMILY_SHIFT 8        /* bits 11:8 */
/* Leaf 1 EBX */
#define CPUID_1_EBX_CLFLUSH_SHIFT 8       /* bits 15:8: CLFLUSH line size in 8-byte units */
#define CPUID_1_EBX_APIC_ID_SHIFT 24      /* bits 31:24: initial (8-bit) APIC ID */
/* Leaf 1 ECX, SDM Vol. 2A Table 3-10 */
#define CPUID_1_ECX_X2APIC 0x200000       /* bit 21: x2APIC */
#define CPUID_1_ECX_TSC_DEADLINE 0x1000000 /* bit 24: LAPIC timer TSC-deadline mode */
/* Leaf 1 EDX, SDM Vol. 2A Table 3-11 */
#define CPUID_1_EDX_TSC 0x10              /* bit 4: RDTSC */
#define CPUID_1_EDX_MSR 0x20              /* bit 5: RDMSR/WRMSR */
#define CPUID_1_EDX_APIC 0x200            /* bit 9: on-chip APIC */
/* Leaf 0xB, SDM Vol. 3A §11.12.8 */
#define CPUID_B_EBX_LEVEL_CPUS 0xFFFF     /* EBX[15:0]: 0 means the subleaf is invalid */
/* Leaf 0x80000001 EDX */
#define CPUID_80000001_EDX_LM 0x20000000  /* bit 29: Intel 64 (long mode) */

#endif /* DOPPEL_HW_X86_CPUID_H */
