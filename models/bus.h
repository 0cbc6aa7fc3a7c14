/*
 * bus.h — the one interface through which a device model reaches the machine it
 * sits in: claiming MMIO, port and MSR ranges with access callbacks, DMA by
 * requester ID, untranslated physical memory, interrupt messages, GSI levels, the
 * log. A model is handed a const struct model_bus * at creation and keeps it; it
 * includes this header, hw/ headers and other models, never the simulator's.
 * Implemented by doppel-sim (sim/bus.c) and by the unit tests' fake bus.
 */
#ifndef DOPPEL_MODELS_BUS_H
#define DOPPEL_MODELS_BUS_H

#include <stdbool.h>
#include <stdint.h>

#define MODEL_BUS_VERSION 2     /* a model built against another layout refuses the bus */

/* ---- callbacks a model registers ------------------------------------------------ */

/* An MMIO or port access inside a claimed range: offset from the claimed base, size
 * 1, 2, 4 or 8 (ports: 1, 2, 4), the whole access inside the range (the bus checks).
 * Called on the accessing CPU's thread with no bus lock held, so a callback may
 * claim or release ranges (a BAR being moved). Alignment is the model's to judge. */
typedef uint64_t (*model_bus_read_fn)(void *ctx, uint64_t offset, unsigned size);
typedef void (*model_bus_write_fn)(void *ctx, uint64_t offset, unsigned size, uint64_t value);
/* rdmsr / wrmsr of an MSR inside a claimed MSR range; same context as above. */
typedef uint64_t (*model_msr_read_fn)(void *ctx, uint32_t msr);
typedef void (*model_msr_write_fn)(void *ctx, uint32_t msr, uint64_t value);

/* ---- the bus ------------------------------------------------------------------------ */

/* Every op gets the bus's own ctx first. Ops may be called from any thread, also from
 * inside a model's access callback; none of them calls back into the calling model
 * synchronously except mmio/pio accesses the model itself makes (none do today). */
struct model_bus {
	unsigned version;           /* MODEL_BUS_VERSION */
	void *ctx;

	/* -- address decoding -- */
	/* Claim [base, base+len) of physical memory space. 0; -EINVAL (empty, outside the
	 * machine's MMIO space, missing callback); -EBUSY (overlaps a claim); -ENOSPC. */
	int (*mmio_claim)(void *bus, uint64_t base, uint64_t len, model_bus_read_fn rd,
	                  model_bus_write_fn wr, void *ctx);
	/* Release the claim that starts at base. 0 or -ENOENT. */
	int (*mmio_release)(void *bus, uint64_t base);
	/* Ports [base, base+len), len <= 0x10000 - base. Errors as mmio_claim. */
	int (*pio_claim)(void *bus, uint16_t base, uint32_t len, model_bus_read_fn rd,
	                 model_bus_write_fn wr, void *ctx);
	int (*pio_release)(void *bus, uint16_t base);
	/* MSRs [first, last], for every CPU: the callback asks current_cpu which one it is.
	 * Errors as mmio_claim. */
	int (*msr_claim)(void *bus, uint32_t first, uint32_t last, model_msr_read_fn rd,
	                 model_msr_write_fn wr, void *ctx);
	int (*msr_release)(void *bus, uint32_t first);
	/* Which CPU makes the access being served: its slot 0 .. ncpus-1 (the machine's
	 * numbering, not the kernel's), or -1 when the caller is not a simulated CPU (a
	 * device thread, a test's main thread with no CPU chosen). Only meaningful inside
	 * an access callback; banked registers (the local APIC) use it. */
	int (*current_cpu)(void *bus);

	/* -- memory, as a bus master sees it -- */
	/* A DMA by requester ID rid (bus << 8 | dev << 3 | fn), through the IOMMU when
	 * the machine has one. 0, or -EFAULT when any part was blocked (the IOMMU
	 * recorded a fault: a read's blocked part is zeros) or missed RAM (a read's part
	 * outside RAM is all ones, a write's is dropped). Synchronous. */
	int (*dma)(void *bus, uint16_t rid, uint64_t addr, void *buf, unsigned len, bool write);
	/* Untranslated physical memory (the IOMMU's own table walks and queues). 0, or
	 * -EFAULT when not RAM (a read fills all ones, a write is dropped; logged). */
	int (*mem_read)(void *bus, uint64_t pa, void *buf, unsigned len);
	int (*mem_write)(void *bus, uint64_t pa, const void *buf, unsigned len);

	/* -- interrupts -- */
	/* An interrupt message: the DWORD data written to address addr (MSI, MSI-X, the
	 * IOMMU's event interrupts; Intel SDM Vol. 3A §11.11). What the machine cannot
	 * deliver (outside 0xFEEx_xxxx, reserved bits, a mode it does not model) is
	 * logged and dropped; the model learns nothing, as on hardware. */
	void (*msi)(void *bus, uint64_t addr, uint32_t data);
	/* The electrical level of interrupt input gsi (true = high); the model applies
	 * its line's polarity. 0, or -EINVAL when the machine has no such input. */
	int (*set_gsi)(void *bus, uint32_t gsi, bool high);

	/* -- time and faults -- */
	/* The machine's clock in nanoseconds since it started (virtual in a deterministic
	 * run): what a model times its own delays by. Any thread. */
	uint64_t (*now_ns)(void *bus);
	/* Should the fault site named site (e.g. "nvme.media_error") fire now? Decided by
	 * the same seeded machinery as the kernel's fault sites. Any thread. */
	bool (*fault_site)(void *bus, const char *site);

	/* -- diagnostics -- */
	/* One log line (no newline). Models rate-limit their own lines. */
	void (*log)(void *bus, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
	/* The guest did what hardware punishes with #GP or undefined behaviour: stop the
	 * machine with this message. Does not return (a test's fake may longjmp). */
	void (*fatal)(void *bus, const char *fmt, ...)
		__attribute__((noreturn, format(printf, 2, 3)));
};

/* Does bus carry every op? Models call it at creation and return -EINVAL if not. */
static inline bool model_bus_valid(const struct model_bus *b)
{
	return b && b->version == MODEL_BUS_VERSION && b->mmio_claim && b->mmio_release &&
	       b->pio_claim && b->pio_release && b->msr_claim && b->msr_release &&
	       b->current_cpu && b->dma && b->mem_read && b->mem_write && b->msi && b->set_gsi &&
	       b->now_ns && b->fault_site && b->log && b->fatal;
}

#endif /* DOPPEL_MODELS_BUS_H */
