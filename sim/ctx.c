/*
 * ctx.c — the "contexts" group of hal.h in doppel-sim: every context is a host
 * pthread named after it (gdb's `info threads` lists kernel threads by name),
 * parked on its own condition variable. hal_ctx_switch hands the simulated CPU
 * (cpu.c's thread-local CPU) to the other context's thread and parks the caller,
 * so exactly one host thread runs a simulated CPU at any time. No fibers: ASan,
 * TSan and Valgrind see ordinary threads and mutex hand-offs. In det mode the
 * switch is a switch point and the new thread runs as the same CPU slot.
 */
#include "det.h"
#include "sim.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTX_STACK_MIN (512u << 10)  /* sanitizer frames are several times larger */

struct hal_ctx {
	pthread_mutex_t m;              /* protects everything below */
	pthread_cond_t cv;
	bool go;                        /* a CPU was handed to it, not yet taken */
	bool running;                   /* its thread runs a CPU now */
	bool dead;                      /* hal_ctx_destroy: leave for good */
	bool boot;                      /* a CPU's original thread */
	struct sim_cpu *cpu;            /* the CPU handed over with go */
	pthread_t thread;
	jmp_buf exit_jb;                /* where a destroyed context's thread leaves */
	void (*entry)(void *);
	void *arg;
	char name[16];
};

static __thread struct hal_ctx *cur_ctx;    /* the context this host thread is */
static struct hal_ctx *boot_ctx[SIM_MAX_CPUS];

/* Wait until a CPU is handed to c, then run it. A destroyed context's thread
 * leaves through exit_jb instead (its kernel frames are dead: nothing to undo). */
static void park(struct hal_ctx *c)
{
	struct sim_cpu *cpu;

	pthread_mutex_lock(&c->m);
	while (!c->go && !c->dead)
		pthread_cond_wait(&c->cv, &c->m);
	if (c->dead) {
		pthread_mutex_unlock(&c->m);
		longjmp(c->exit_jb, 1);
	}
	c->go = false;
	c->running = true;
	cpu = c->cpu;
	pthread_mutex_unlock(&c->m);
	sim_cpu_adopt(cpu);
}

static void *ctx_thread(void *p)
{
	struct hal_ctx *c = p;

	cur_ctx = c;
	if (setjmp(c->exit_jb) == 0) {
		park(c);
		/* A new context starts with interrupts disabled: the switcher's state. */
		c->entry(c->arg);
		sim_fatal("context \"%s\": its entry function returned (it must end by switching "
		          "away for good)", c->name);
	}
	return NULL;
}

static struct hal_ctx *ctx_alloc(const char *name)
{
	struct hal_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	pthread_mutex_init(&c->m, NULL);
	pthread_cond_init(&c->cv, NULL);
	snprintf(c->name, sizeof(c->name), "%s", name ? name : "?");
	return c;
}

static void ctx_free(struct hal_ctx *c)
{
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->m);
	free(c);
}

struct hal_ctx *hal_ctx_create(const char *name, size_t stack_bytes, void (*entry)(void *arg),
                               void *arg)
{
	pthread_attr_t attr;
	struct hal_ctx *c;
	int err;

	if (!entry)
		return NULL;
	c = ctx_alloc(name);
	if (!c)
		return NULL;
	c->entry = entry;
	c->arg = arg;
	if (stack_bytes < CTX_STACK_MIN)
		stack_bytes = CTX_STACK_MIN;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, stack_bytes);
	err = pthread_create(&c->thread, &attr, ctx_thread, c);
	pthread_attr_destroy(&attr);
	if (err) {
		sim_warn("hal_ctx_create(\"%s\"): no host thread (%s)", c->name, strerror(err));
		ctx_free(c);
		return NULL;
	}
	pthread_setname_np(c->thread, c->name);
	return c;
}

struct hal_ctx *hal_ctx_boot(void)
{
	struct sim_cpu *cpu = sim_cpu_current();
	int slot = sim_cpu_slot();
	char name[16];

	if (!cpu || slot < 0)
		sim_fatal("hal_ctx_boot called on a host thread that is not a simulated CPU");
	if (boot_ctx[slot])
		return boot_ctx[slot];
	if (cur_ctx)
		sim_fatal("hal_ctx_boot on CPU slot %d from context \"%s\", not from the CPU's boot "
		          "flow (HAL contract)", slot, cur_ctx->name);
	snprintf(name, sizeof(name), "boot%d", slot);
	struct hal_ctx *c = ctx_alloc(name);
	if (!c)
		sim_fatal("out of memory for CPU slot %d's boot context", slot);
	c->boot = true;
	c->running = true;
	c->thread = pthread_self();
	cur_ctx = c;
	boot_ctx[slot] = c;
	return c;
}

void hal_ctx_switch(struct hal_ctx *from, struct hal_ctx *to)
{
	struct sim_cpu *cpu = sim_cpu_current();
	int slot = sim_cpu_slot();

	if (!cpu)
		sim_fatal("hal_ctx_switch called on a host thread that runs no simulated CPU");
	if (sim_cpu_irq_enabled((unsigned)slot))
		sim_fatal("hal_ctx_switch with interrupts enabled (HAL contract: kernel bug)");
	if (!from || !to)
		sim_fatal("hal_ctx_switch(%p, %p): NULL context", (void *)from, (void *)to);
	if (from != cur_ctx)
		sim_fatal("hal_ctx_switch from \"%s\", but the caller runs on \"%s\" (kernel bug)",
		          from->name, cur_ctx ? cur_ctx->name : "no context");
	if (from == to)
		return;
	if (sim_det_on)
		sim_det_point(DET_CTX);
	/* Give the CPU up first: from here on this thread touches no simulated state. */
	pthread_mutex_lock(&from->m);
	from->running = false;
	pthread_mutex_unlock(&from->m);
	sim_cpu_adopt(NULL);

	pthread_mutex_lock(&to->m);
	if (to->running || to->go || to->dead) {
		const char *why = to->dead ? "was destroyed" : to->running ?
		                  "is running on another CPU" : "was already handed a CPU";
		pthread_mutex_unlock(&to->m);
		sim_cpu_adopt(cpu);
		sim_fatal("hal_ctx_switch to \"%s\", which %s (kernel bug: one thread on two CPUs?)",
		          to->name, why);
	}
	to->cpu = cpu;
	to->go = true;
	pthread_cond_signal(&to->cv);
	pthread_mutex_unlock(&to->m);

	park(from);
}

void hal_ctx_destroy(struct hal_ctx *c)
{
	if (!c)
		return;
	if (c->boot)
		sim_fatal("hal_ctx_destroy of the boot context \"%s\" (HAL contract)", c->name);
	if (c == cur_ctx)
		sim_fatal("hal_ctx_destroy of \"%s\" by itself (HAL contract)", c->name);
	pthread_mutex_lock(&c->m);
	if (c->running || c->go) {
		pthread_mutex_unlock(&c->m);
		sim_fatal("hal_ctx_destroy of \"%s\" while it %s (kernel bug)", c->name,
		          c->running ? "runs" : "is about to run");
	}
	c->dead = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->m);
	pthread_join(c->thread, NULL);
	ctx_free(c);
}
