/*
 * desc.h — x86-64 system data structures in memory: the 64-bit interrupt gate, the
 * LGDT/LIDT operand and the 64-bit TSS. Intel SDM Vol. 3A (edition in hw/README.md):
 * "Segment Descriptor Tables" (GDTR/IDTR), "64-Bit Mode IDT", "Task Management in
 * 64-bit Mode" (the 64-bit TSS figure). Cited by title: their chapter numbers moved
 * between editions. C only: the .S files include hw/x86/cpu.h and msr.h, not this.
 */
#ifndef DOPPEL_HW_X86_DESC_H
#define DOPPEL_HW_X86_DESC_H
#include <stdint.h>

/* 64-bit interrupt/trap gate, 16 bytes (SDM Vol. 3A "64-Bit Mode IDT"). */
struct x86_idt_gate {
	uint16_t offset_lo;                 /* handler address 15:0 */
	uint16_t selector;                  /* code segment selector */
	uint8_t ist;                        /* bits 2:0: IST slot, 0 = current stack */
	uint8_t type_attr;                  /* P (7), DPL (6:5), type (3:0) */
	uint16_t offset_mid;                /* address 31:16 */
	uint32_t offset_hi;                 /* address 63:32 */
	uint32_t rsvd0;
};
_Static_assert(sizeof(struct x86_idt_gate) == 16, "SDM Vol. 3A 64-bit mode IDT gate: 16 bytes");
#define X86_GATE_INTERRUPT 0x8E             /* P = 1, DPL = 0, type 0xE (64-bit interrupt gate: clears IF) */

/* LGDT/LIDT operand in 64-bit mode: limit, then base (SDM Vol. 3A "Segment Descriptor Tables"). */
struct x86_desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));
_Static_assert(sizeof(struct x86_desc_ptr) == 10, "SDM Vol. 3A pseudo-descriptor in 64-bit mode: 10 bytes");

/* 64-bit TSS, 104 bytes: RSP0-2, IST1-7, I/O map base (SDM Vol. 3A "Task Management in 64-bit Mode"). */
struct x86_tss {
	uint32_t rsvd0;
	uint64_t rsp[3];
	uint64_t rsvd1;
	uint64_t ist[7];                    /* IST1..IST7 */
	uint64_t rsvd2;
	uint16_t rsvd3;
	uint16_t iopb;                      /* I/O map base; >= the TSS limit means none */
} __attribute__((packed));
_Static_assert(sizeof(struct x86_tss) == 104, "SDM Vol. 3A: 64-bit TSS is 104 bytes");
#endif
