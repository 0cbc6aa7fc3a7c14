/*
 * cpu.c — per-CPU setup (GS-based per-CPU area, GDT, TSS with IST stacks, IDT),
 * legacy 8259 PIC masking, and the HAL's cpu group (interrupt flag, PAUSE, HLT,
 * CPUID, WRMSR, RDTSC). Intel SDM Vol. 3A §3.4.5 segment descriptors, §6.10–6.14
 * IDT and 64-bit interrupt handling, §7.2.3 TSS descriptor in 64-bit mode;
 * Intel 8259A datasheet (ICW1–ICW4, OCW1) for the PICs.
 */
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"
#include "x86.h"

#include <hw/x86/pic.h>

_Static_assert(offsetof(struct x86_cpu, index) == X86_CPU_INDEX_OFFSET, "hal_cpu_index");
_Static_assert(offsetof(struct x86_cpu, self) == 0, "x86_this_cpu");
_Static_assert(offsetof(struct x86_cpu, stack_top) == X86_CPU_STACK_TOP_OFFSET, "trampoline.S");


#define GDT_KCODE  0x00AF9A000000FFFFull /* L = 1, P, DPL 0, execute/read */
#define GDT_KDATA  0x00CF92000000FFFFull /* P, DPL 0, read/write */
#define TSS_TYPE_AVAILABLE 0x9ull      /* 64-bit TSS (available), §3.5 Table 3-2 */

#define PIC_VECTOR_BASE 0x20           /* IRQ 0–15 -> vectors 32–47 if ever unmasked */

static struct x86_idt_gate x86_idt[256] __attribute__((aligned(16)));
static struct x86_cpu x86_cpu_boot __attribute__((aligned(64)));

static void idt_build(void)
{
	for (unsigned v = 0; v < 256; v++) {
		uint64_t a = x86_isr_stubs[v];
		struct x86_idt_gate *g = &x86_idt[v];

		g->offset_lo = (uint16_t)a;
		g->selector = X86_SEL_KCODE;
		g->ist = 0;
		g->offset_mid = (uint16_t)(a >> 16);
		g->offset_hi = (uint32_t)(a >> 32);
		g->rsvd0 = 0;
		g->type_attr = X86_GATE_INTERRUPT;
	}
	/* Exceptions that may arrive on a broken stack get a known-good one. */
	x86_idt[8].ist = X86_IST_DF;
	x86_idt[2].ist = X86_IST_NMI;
	x86_idt[18].ist = X86_IST_MC;
}

static void tss_descriptor(uint64_t *slot, const struct x86_tss *tss)
{
	uint64_t base = (uint64_t)tss;
	uint64_t limit = sizeof(*tss) - 1;

	/* §7.2.3: 16-byte system descriptor; written before LTR, its only reader. */
	slot[0] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (TSS_TYPE_AVAILABLE << 40) |
	          (1ull << 47) /* P */ | (((limit >> 16) & 0xF) << 48) |
	          (((base >> 24) & 0xFF) << 56);
	slot[1] = base >> 32;
}

/*
 * Make `c` the calling CPU's per-CPU area and load its descriptor tables. Called
 * once per CPU with interrupts off: by x86_cpu_init_boot on the boot CPU, and by
 * the SMP code on each AP once it runs 64-bit code in the high half.
 */
void x86_cpu_init(struct x86_cpu *c, unsigned index)
{
	struct x86_desc_ptr gdtr = { sizeof(c->gdt) - 1, (uint64_t)c->gdt };
	struct x86_desc_ptr idtr = { sizeof(x86_idt) - 1, (uint64_t)x86_idt };

	c->self = c;
	c->index = index;
	c->trap_depth = 0;
	c->gdt[0] = 0;
	c->gdt[1] = GDT_KCODE;
	c->gdt[2] = GDT_KDATA;
	tss_descriptor(&c->gdt[3], &c->tss);
	c->tss.iopb = sizeof(c->tss);  /* no I/O permission bitmap */
	c->tss.ist[X86_IST_DF - 1] = (uint64_t)&c->ist_stack[0][X86_IST_STACK_SIZE];
	c->tss.ist[X86_IST_NMI - 1] = (uint64_t)&c->ist_stack[1][X86_IST_STACK_SIZE];
	c->tss.ist[X86_IST_MC - 1] = (uint64_t)&c->ist_stack[2][X86_IST_STACK_SIZE];

	/* Reload CS with a far return, then the data segments. FS/GS stay as boot.S
	 * left them (null): writing a selector to GS could reset its base. */
	__asm__ volatile("lgdt %0" : : "m"(gdtr) : "memory");
	__asm__ volatile("pushq %[cs]\n\t"
	                 "leaq 1f(%%rip), %%rax\n\t"
	                 "pushq %%rax\n\t"
	                 "lretq\n"
	                 "1:\n\t"
	                 "mov %[ds], %%ds\n\t"
	                 "mov %[ds], %%es\n\t"
	                 "mov %[ds], %%ss"
	                 : : [cs] "i"(X86_SEL_KCODE), [ds] "r"((uint32_t)X86_SEL_KDATA)
	                 : "rax", "memory");
	__asm__ volatile("ltr %w0" : : "r"((uint16_t)X86_SEL_TSS) : "memory");
	x86_wrmsr(X86_MSR_GS_BASE, (uint64_t)c);
	__asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
}

static void io_wait(void)
{
	x86_outb(0x80, 0);                 /* POST port: a harmless ~1 us delay */
}

/* Remap the 8259 pair away from the exception vectors, then mask every line:
 * Doppel uses the I/O APIC, and a masked PIC raises nothing, but if one ever
 * fires (spurious IRQ 7/15) it lands on an "unexpected vector" instead of
 * masquerading as #NM or a reserved exception. */
static void pic_disable(void)
{
	x86_outb(PIC1_CMD, PIC_ICW1_INIT | PIC_ICW1_IC4); io_wait(); /* ICW1 */
	x86_outb(PIC2_CMD, PIC_ICW1_INIT | PIC_ICW1_IC4); io_wait();
	x86_outb(PIC1_DATA, PIC_VECTOR_BASE);     io_wait(); /* ICW2: vector base */
	x86_outb(PIC2_DATA, PIC_VECTOR_BASE + 8); io_wait();
	x86_outb(PIC1_DATA, 1u << PIC_CASCADE_IRQ); io_wait(); /* ICW3: slave on IR2 */
	x86_outb(PIC2_DATA, PIC_CASCADE_IRQ); io_wait();      /* ICW3: slave identity 2 */
	x86_outb(PIC1_DATA, PIC_ICW4_8086); io_wait();
	x86_outb(PIC2_DATA, PIC_ICW4_8086); io_wait();
	x86_outb(PIC1_DATA, 0xFF);              /* OCW1: mask all */
	x86_outb(PIC2_DATA, 0xFF);
}

void x86_cpu_init_boot(void)
{
	idt_build();
	x86_cpus[0] = &x86_cpu_boot;
	x86_cpu_init(&x86_cpu_boot, 0);
	pic_disable();
}

/* ---- HAL: cpu ------------------------------------------------------------------ */

unsigned hal_cpu_index(void)
{
	unsigned i;

	__asm__ volatile("movl %%gs:%c1, %0" : "=r"(i) : "i"(X86_CPU_INDEX_OFFSET));
	return i;
}

unsigned long hal_irq_save(void)
{
	unsigned long flags;

	__asm__ volatile("pushfq\n\tpopq %0\n\tcli" : "=r"(flags) : : "memory");
	return flags;
}

void hal_irq_restore(unsigned long flags)
{
	if (flags & RFLAGS_IF)
		__asm__ volatile("sti" : : : "memory");
}

void hal_irq_enable(void)
{
	__asm__ volatile("sti" : : : "memory");
}

void hal_irq_disable(void)
{
	__asm__ volatile("cli" : : : "memory");
}

void hal_cpu_relax(void)
{
	__asm__ volatile("pause" : : : "memory");
}

/*
 * Wait for an interrupt. With interrupts disabled this is "sti; hlt; cli": STI
 * delays recognition by one instruction (SDM Vol. 2B STI), so an interrupt that
 * arrives between the caller's last check and HLT still wakes it. The caller's
 * interrupt state is the same on return.
 */
void hal_cpu_halt(void)
{
	unsigned long flags;

	__asm__ volatile("pushfq\n\tpopq %0" : "=r"(flags) : : "memory");
	if (flags & RFLAGS_IF)
		__asm__ volatile("hlt" : : : "memory");
	else
		__asm__ volatile("sti\n\thlt\n\tcli" : : : "memory");
}

void hal_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	__asm__ volatile("cpuid"
	                 : "=a"(out[0]), "=b"(out[1]), "=c"(out[2]), "=d"(out[3])
	                 : "a"(leaf), "c"(subleaf));
}

/* hal_rdmsr is in entry.S (it needs a fixed address for its #GP fixup). WRMSR of
 * an unimplemented MSR or a reserved bit still raises #GP and ends in the
 * exception report: that is a kernel bug, not bad input. */
void hal_wrmsr(uint32_t msr, uint64_t value)
{
	x86_wrmsr(msr, value);
}

uint64_t hal_rdtsc(void)
{
	return x86_rdtsc();
}

/* Deterministic scheduling and fault injection are the simulator's (hal.h): on
 * hardware an atomic is just the instruction, and no fault site ever fires. */
void hal_sched_point(void)
{
}

bool hal_fault_inject(const char *site)
{
	(void)site;
	return false;
}
