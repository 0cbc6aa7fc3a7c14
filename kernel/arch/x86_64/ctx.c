/*
 * ctx.c — the "contexts" group of hal.h on bare metal: a context is a stack from
 * the kernel's page allocator with its struct hal_ctx at the top and a guard word
 * at the bottom; hal_ctx_switch saves the callee-saved registers and rsp
 * (ctx_switch.S) and loads the other's. The guard words of both contexts are
 * checked at every switch, so a stack overflow is named at the next switch
 * instead of corrupting the page below. Boot contexts live in a static array.
 */
#include <stddef.h>
#include <stdint.h>
#include "hal/hal.h"
#include "kernel/panic.h"
#include "kernel/pmm.h"
#include "kernel/string.h"
#include "x86.h"

#define CTX_MAGIC 0x43545854u           /* "CTXT" */
#define CTX_CANARY 0xD0BBE15741C4A11Dull /* bottom word of every context stack */
#define CTX_MIN_STACK (8u * 1024u)

struct hal_ctx {
	uint64_t rsp;                   /* saved while not running */
	uint32_t magic;
	uint32_t boot;                  /* 1: a CPU's boot flow (stack not ours) */
	uint64_t *canary;               /* NULL for boot contexts */
	uint64_t stack_pa;
	size_t npages;
	char name[16];
};

static struct hal_ctx boot_ctx[HAL_MAX_CPUS];

void x86_ctx_switch(uint64_t *save_rsp, uint64_t load_rsp);
void x86_ctx_trampoline(void);
void x86_ctx_entry_returned(void) __attribute__((noreturn));

void x86_ctx_entry_returned(void)
{
	panic("a context's entry function returned (it must end by switching away for good)");
}

static void name_copy(char *dst, const char *src)
{
	size_t i = 0;
	for (; src && src[i] && i < 15; i++)
		dst[i] = src[i];
	dst[i] = '\0';
}

struct hal_ctx *hal_ctx_create(const char *name, size_t stack_bytes, void (*entry)(void *arg),
                               void *arg)
{
	if (!entry)
		return NULL;
	if (stack_bytes < CTX_MIN_STACK)
		stack_bytes = CTX_MIN_STACK;
	size_t npages = (stack_bytes + sizeof(struct hal_ctx) + PAGE_SIZE - 1) / PAGE_SIZE;
	uint64_t pa = pmm_alloc_pages(npages, 1);
	if (!pa)
		return NULL;
	uint8_t *base = hal_phys_to_virt(pa);
	if (!base) {
		pmm_free_pages(pa, npages);
		return NULL;
	}
	uint8_t *top = base + npages * PAGE_SIZE;
	struct hal_ctx *c = (struct hal_ctx *)(top - sizeof(struct hal_ctx));
	memset(c, 0, sizeof(*c));
	c->magic = CTX_MAGIC;
	c->canary = (uint64_t *)base;
	*c->canary = CTX_CANARY;
	c->stack_pa = pa;
	c->npages = npages;
	name_copy(c->name, name);

	/* Initial frame, popped by x86_ctx_switch: r15, r14, r13 = arg, r12 = entry,
	 * rbx, rbp = 0, then the return address (the trampoline). After that ret,
	 * rsp must be 16-byte aligned (the trampoline calls entry). */
	uint64_t sp = ((uint64_t)c) & ~0xFull;
	uint64_t *f = (uint64_t *)sp;
	*--f = (uint64_t)x86_ctx_trampoline;       /* at sp - 8: after ret, rsp = sp */
	*--f = 0;                                   /* rbp */
	*--f = 0;                                   /* rbx */
	*--f = (uint64_t)entry;                     /* r12 */
	*--f = (uint64_t)arg;                       /* r13 */
	*--f = 0;                                   /* r14 */
	*--f = 0;                                   /* r15 */
	c->rsp = (uint64_t)f;
	return c;
}

struct hal_ctx *hal_ctx_boot(void)
{
	struct hal_ctx *c = &boot_ctx[hal_cpu_index()];
	if (c->magic != CTX_MAGIC) {
		c->magic = CTX_MAGIC;
		c->boot = 1;
		name_copy(c->name, "boot");
	}
	return c;
}

static void check(const struct hal_ctx *c, const char *role)
{
	if (!c || c->magic != CTX_MAGIC)
		panic("hal_ctx_switch: %s is not a context (%p)", role, (const void *)c);
	if (c->canary && *c->canary != CTX_CANARY)
		panic("hal_ctx_switch: the stack of context \"%s\" overflowed (guard word at %p is "
		      "0x%llx)", c->name, (void *)c->canary, (unsigned long long)*c->canary);
}

void hal_ctx_switch(struct hal_ctx *from, struct hal_ctx *to)
{
	unsigned long flags;

	__asm__ volatile("pushfq\n\tpopq %0" : "=r"(flags) : : "memory");
	if (flags & RFLAGS_IF)
		panic("hal_ctx_switch with interrupts enabled (HAL contract)");
	check(from, "from");
	check(to, "to");
	if (from == to)
		return;
	x86_ctx_switch(&from->rsp, to->rsp);
}

void hal_ctx_destroy(struct hal_ctx *c)
{
	if (!c || c->magic != CTX_MAGIC || c->boot)
		panic("hal_ctx_destroy of %p: not a context, or a boot context", (void *)c);
	check(c, "destroyed");
	uint64_t pa = c->stack_pa;
	size_t n = c->npages;
	c->magic = 0;
	pmm_free_pages(pa, n);
}
