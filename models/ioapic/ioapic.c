/*
 * ioapic.c — I/O APIC model after the Intel 82093AA datasheet (§3.0 registers:
 * IOREGSEL, IOWIN, IOAPICID, IOAPICVER, IOAPICARB, IOREDTBL[0:23]). Fixed and
 * lowest-priority delivery, edge and level triggers with remote IRR, polarity,
 * mask. What the datasheet forbids (non-dword access, writes to read-only
 * registers, reserved registers) ends the run through host->fatal.
 */
#include "bus.h"
#include "ioapic/ioapic.h"
#include "ioapic/ioapic_model.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define IOREGSEL 0x00u
#define IOWIN 0x10u
#define REG_ID 0x00u                /* bits 27:24 */
#define REG_VER 0x01u               /* RO: version 0x11, max redirection entry 23 */
#define REG_ARB 0x02u               /* RO: arbitration ID, bits 27:24 */
#define REG_REDTBL 0x10u            /* 0x10 + 2n low dword, 0x11 + 2n high dword */
#define IOAPIC_VERSION (0x11u | ((IOAPIC_LINES - 1u) << 16))

#define RTE_VECTOR 0xFFull
#define RTE_DM_SHIFT 8
#define RTE_DM_MASK (7ull << 8)     /* 000 fixed, 001 lowest priority */
#define RTE_LOGICAL (1ull << 11)
#define RTE_PENDING (1ull << 12)    /* delivery status, RO */
#define RTE_ACTIVE_LOW (1ull << 13)
#define RTE_REMOTE_IRR (1ull << 14) /* RO */
#define RTE_LEVEL (1ull << 15)
#define RTE_MASKED (1ull << 16)
#define RTE_DEST_SHIFT 56
#define RTE_WRITABLE (RTE_VECTOR | RTE_DM_MASK | RTE_LOGICAL | RTE_ACTIVE_LOW | RTE_LEVEL | \
                      RTE_MASKED | (0xFFull << RTE_DEST_SHIFT))

static struct ioapic_host host;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t regsel, id, gsi_base;
static uint64_t rte[IOAPIC_LINES];
static bool pin[IOAPIC_LINES];
static atomic_ullong sent;
static const struct model_bus *bus;     /* where the register window is claimed */
static uint64_t mmio_base;

static uint64_t bus_read(void *ctx, uint64_t off, unsigned size)
{
	(void)ctx;
	return ioapic_model_mmio_read(off, size);
}

static void bus_write(void *ctx, uint64_t off, unsigned size, uint64_t v)
{
	(void)ctx;
	ioapic_model_mmio_write(off, size, v);
}

int ioapic_model_init(uint8_t ioapic_id, uint32_t base, uint64_t mmio, const struct ioapic_host *h,
                      const struct model_bus *b)
{
	int err;

	if (!h || !h->deliver || !h->fatal || !model_bus_valid(b) || (mmio & 0xF))
		return -EINVAL;
	if (bus)                        /* a previous init's window (error: a reset fake bus) */
		bus->mmio_release(bus->ctx, mmio_base);
	bus = NULL;
	if ((err = b->mmio_claim(b->ctx, mmio, IOAPIC_MMIO_SIZE, bus_read, bus_write, NULL)) != 0)
		return err;
	bus = b;
	mmio_base = mmio;
	host = *h;
	regsel = 0;
	id = (uint32_t)(ioapic_id & 0xF) << 24;
	gsi_base = base;
	for (unsigned i = 0; i < IOAPIC_LINES; i++) {
		rte[i] = RTE_MASKED;        /* every entry masked at reset */
		pin[i] = false;
	}
	atomic_store(&sent, 0);
	return 0;
}

static bool asserted(unsigned i)
{
	return pin[i] != ((rte[i] & RTE_ACTIVE_LOW) != 0);
}

/* Send entry i's message if its state calls for it. Lock held; the delivery
 * callback only touches the LAPICs' atomics, never this model. */
static void try_send(unsigned i, bool edge)
{
	uint64_t e = rte[i];
	bool level = e & RTE_LEVEL;
	unsigned dm = (unsigned)((e & RTE_DM_MASK) >> RTE_DM_SHIFT);

	if ((e & RTE_MASKED) || !asserted(i))
		return;
	if (!level && !edge)
		return;
	if (level && (e & RTE_REMOTE_IRR))
		return;
	if (dm != 0 && dm != 1)
		host.fatal("I/O APIC entry %u = 0x%016llx: delivery mode %u is not modelled (fixed "
		           "and lowest priority are)", i, (unsigned long long)e, dm);
	if ((e & RTE_VECTOR) < 0x10)
		host.fatal("I/O APIC entry %u = 0x%016llx: vector 0x%02x is illegal (0x10-0xFE, "
		           "82093AA §3.2.4)", i, (unsigned long long)e, (unsigned)(e & RTE_VECTOR));
	if (level)
		rte[i] |= RTE_REMOTE_IRR;
	atomic_fetch_add(&sent, 1);
	host.deliver((uint32_t)(e >> RTE_DEST_SHIFT), e & RTE_LOGICAL, (uint8_t)(e & RTE_VECTOR), level);
}

uint64_t ioapic_model_mmio_read(uint64_t offset, unsigned size)
{
	uint32_t v = 0;

	if (size != 4 || (offset != IOREGSEL && offset != IOWIN))
		host.fatal("I/O APIC read of %u bytes at offset 0x%llx: only dword IOREGSEL (0x00) "
		           "and IOWIN (0x10) exist (82093AA §3.1)", size, (unsigned long long)offset);
	pthread_mutex_lock(&lock);
	if (offset == IOREGSEL) {
		v = regsel;
	} else if (regsel == REG_ID) {
		v = id;
	} else if (regsel == REG_VER) {
		v = IOAPIC_VERSION;
	} else if (regsel == REG_ARB) {
		v = id;
	} else if (regsel >= REG_REDTBL && regsel < REG_REDTBL + 2 * IOAPIC_LINES) {
		uint64_t e = rte[(regsel - REG_REDTBL) / 2];
		v = (regsel & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
	} else {
		uint32_t r = regsel;
		pthread_mutex_unlock(&lock);
		host.fatal("I/O APIC read of reserved register 0x%02x through IOWIN", r);
	}
	pthread_mutex_unlock(&lock);
	return v;
}

void ioapic_model_mmio_write(uint64_t offset, unsigned size, uint64_t value)
{
	uint32_t v = (uint32_t)value;

	if (size != 4 || (offset != IOREGSEL && offset != IOWIN))
		host.fatal("I/O APIC write of %u bytes at offset 0x%llx: only dword IOREGSEL (0x00) "
		           "and IOWIN (0x10) exist (82093AA §3.1)", size, (unsigned long long)offset);
	pthread_mutex_lock(&lock);
	if (offset == IOREGSEL) {
		regsel = v & 0xFF;
	} else if (regsel == REG_ID) {
		id = v & (0xFu << 24);
	} else if (regsel >= REG_REDTBL && regsel < REG_REDTBL + 2 * IOAPIC_LINES) {
		unsigned i = (regsel - REG_REDTBL) / 2;
		uint64_t e = rte[i], keep = e & (RTE_PENDING | RTE_REMOTE_IRR);
		if (regsel & 1)
			e = (e & 0xFFFFFFFFull) | ((uint64_t)v << 32);
		else
			e = (e & ~0xFFFFFFFFull) | v;
		rte[i] = (e & RTE_WRITABLE) | keep;
		if (!(rte[i] & RTE_LEVEL))
			rte[i] &= ~RTE_REMOTE_IRR;
		try_send(i, false);         /* an unmasked, asserted level line fires now */
	} else {
		uint32_t r = regsel;
		pthread_mutex_unlock(&lock);
		host.fatal("I/O APIC write of 0x%x to %s register 0x%02x through IOWIN", v,
		           r == REG_VER || r == REG_ARB ? "read-only" : "reserved", r);
	}
	pthread_mutex_unlock(&lock);
}

void ioapic_model_eoi(uint8_t vector)
{
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < IOAPIC_LINES; i++) {
		if ((rte[i] & RTE_LEVEL) && (rte[i] & RTE_VECTOR) == vector &&
		    (rte[i] & RTE_REMOTE_IRR)) {
			rte[i] &= ~RTE_REMOTE_IRR;
			try_send(i, false);
		}
	}
	pthread_mutex_unlock(&lock);
}

int ioapic_model_set_line(uint32_t gsi, bool high)
{
	unsigned i;
	bool was;

	if (gsi < gsi_base || gsi - gsi_base >= IOAPIC_LINES)
		return -EINVAL;
	i = gsi - gsi_base;
	pthread_mutex_lock(&lock);
	was = asserted(i);
	pin[i] = high;
	try_send(i, !was && asserted(i));
	pthread_mutex_unlock(&lock);
	return 0;
}

uint64_t ioapic_model_entry(uint32_t gsi)
{
	uint64_t e = 0;

	pthread_mutex_lock(&lock);
	if (gsi >= gsi_base && gsi - gsi_base < IOAPIC_LINES)
		e = rte[gsi - gsi_base];
	pthread_mutex_unlock(&lock);
	return e;
}

uint64_t ioapic_model_sent(void)
{
	return atomic_load(&sent);
}
