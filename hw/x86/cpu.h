/*
 * cpu.h — x86_64 control-register, RFLAGS and page-table-entry bits the kernel sets
 * or tests. SDM Vol. 3A §2.5 (CR0, CR4), §2.3 (EFLAGS), §4.5 (4-level paging entry
 * formats, Tables 4-15 to 4-20); edition in hw/README.md. Plain hex constants so
 * that boot.S and trampoline.S can include this file.
 */
#ifndef DOPPEL_HW_X86_CPU_H
#define DOPPEL_HW_X86_CPU_H

/* CR0, SDM Vol. 3A §2.5 */
#define CR0_PE 0x1                        /* bit 0: protection enable */
#define CR0_WP 0x10000                    /* bit 16: write protect in supervisor mode */
#define CR0_PG 0x80000000                 /* bit 31: paging */

/* CR4, SDM Vol. 3A §2.5 */
#define CR4_PAE 0x20                      /* bit 5: physical address extension */
#define CR4_PCIDE 0x20000                 /* bit 17: PCIDs; set only in IA-32e mode */

/* RFLAGS, SDM Vol. 3A §2.3 */
#define RFLAGS_IF 0x200                   /* bit 9: interrupt enable */

/* Paging-structure entries (PML4E, PDPTE, PDE, PTE), SDM Vol. 3A §4.5 Tables 4-15..4-20 */
#define X86_PTE_P 0x001                   /* bit 0: present */
#define X86_PTE_RW 0x002                  /* bit 1: writable */
#define X86_PTE_US 0x004                  /* bit 2: user-mode accesses allowed */
#define X86_PTE_PWT 0x008                 /* bit 3: write-through; with PCD: PAT entry 3 = UC at reset */
#define X86_PTE_PCD 0x010                 /* bit 4: cache disable */
#define X86_PTE_A 0x020                   /* bit 5: accessed */
#define X86_PTE_D 0x040                   /* bit 6: dirty (pages only) */
#define X86_PTE_PS 0x080                  /* bit 7: in a PDPTE or PDE, maps a 1 GiB or 2 MiB page */
#define X86_PTE_G 0x100                   /* bit 8: global (pages only) */

#endif /* DOPPEL_HW_X86_CPU_H */
