/*
 * fake_bus.h — the unit tests' one implementation of the model bus (models/bus.h):
 * strict range tables (an overlapping claim fails, an access nobody claims is
 * reported as a test failure), RAM of a chosen size, recorded interrupt messages,
 * DMA requests and GSI levels, and a captured log. One per test; no threads.
 */
#ifndef DOPPEL_TESTS_FAKE_BUS_H
#define DOPPEL_TESTS_FAKE_BUS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"

#define FAKE_BUS_RANGES 64
#define FAKE_BUS_MSIS 64
#define FAKE_BUS_GSIS 24
#define FAKE_BUS_LOG 32768
#define FAKE_BUS_FAULTS 8

struct fake_bus_range {
	bool used;
	uint64_t base, len;
	model_bus_read_fn rd;
	model_bus_write_fn wr;
	model_msr_read_fn mrd;
	model_msr_write_fn mwr;
	void *ctx;
};

struct fake_bus_msi {
	uint64_t addr;
	uint32_t data;
};

struct fake_bus {
	struct model_bus bus;           /* hand &fb->bus to models */
	struct fake_bus_range mmio[FAKE_BUS_RANGES], pio[FAKE_BUS_RANGES], msr[FAKE_BUS_RANGES];
	int cpu;                        /* what current_cpu answers; -1 at init */
	uint8_t *ram;                   /* [0, ram_size) is RAM, the rest is not */
	uint64_t ram_size;
	struct fake_bus_msi msis[FAKE_BUS_MSIS];
	unsigned nmsi;                  /* messages seen (may exceed FAKE_BUS_MSIS) */
	bool gsi_high[FAKE_BUS_GSIS];
	unsigned gsi_changes;
	/* DMA by requester ID: counted; dma_block makes them fail as an IOMMU fault does
	 * (reads give zeros, writes vanish, -EFAULT); dma_hook, if set, serves them
	 * instead (an IOMMU model under test). */
	unsigned ndma;
	uint16_t last_rid;
	bool dma_block;
	/* DMA touching [dma_block_base, dma_block_base + dma_block_len) is blocked the same
	 * way (an IOMMU refusing one buffer); len 0: off. */
	uint64_t dma_block_base, dma_block_len;
	int (*dma_hook)(void *hook_ctx, uint16_t rid, uint64_t addr, void *buf, unsigned len,
	                bool write);
	void *dma_hook_ctx;
	/* now_ns answers now (the test moves the clock). */
	uint64_t now;
	/* fault_site answers from this table: a hit of a named site fires after skip
	 * earlier hits, count times; every hit is counted. Unnamed sites never fire. */
	struct fake_bus_fault {
		char site[48];
		unsigned skip, count, hits, fired;
	} faults[FAKE_BUS_FAULTS];
	unsigned bad_mem;               /* device accesses outside RAM */
	unsigned ram_writes;
	char log[FAKE_BUS_LOG];
	size_t loglen;
	unsigned nlogs;
	/* fatal: with fatal_jmp set, the message is kept and longjmp(*fatal_jmp, 1);
	 * without, the test fails. */
	void *fatal_jmp;                /* jmp_buf * */
	char fatal_msg[512];
};

/* Fresh bus with ram_size bytes of zeroed RAM at physical 0 (0: none). */
void fake_bus_init(struct fake_bus *fb, uint64_t ram_size);
/* Free the RAM. Claims left behind are the test's to check (fake_bus_claims). */
void fake_bus_fini(struct fake_bus *fb);
/* Claims in force: MMIO + port + MSR ranges. */
unsigned fake_bus_claims(const struct fake_bus *fb);

/* Accesses as a CPU makes them: the test fails when nothing claims the whole access. */
uint64_t fake_bus_mmio_read(struct fake_bus *fb, uint64_t addr, unsigned size);
void fake_bus_mmio_write(struct fake_bus *fb, uint64_t addr, unsigned size, uint64_t v);
uint64_t fake_bus_pio_read(struct fake_bus *fb, uint16_t port, unsigned size);
void fake_bus_pio_write(struct fake_bus *fb, uint16_t port, unsigned size, uint64_t v);
uint64_t fake_bus_rdmsr(struct fake_bus *fb, uint32_t msr);
void fake_bus_wrmsr(struct fake_bus *fb, uint32_t msr, uint64_t v);
/* Is [addr, addr+len) MMIO claimed without a gap? */
bool fake_bus_mmio_claimed(const struct fake_bus *fb, uint64_t addr, uint64_t len);

/* Make site fire on its hits number skip+1 .. skip+count (replaces an earlier entry). */
void fake_bus_fault_set(struct fake_bus *fb, const char *site, unsigned skip, unsigned count);

/* Was needle logged? */
bool fake_bus_logged(const struct fake_bus *fb, const char *needle);

#endif
