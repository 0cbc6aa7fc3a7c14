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

/* This model is an 82093AA with IOAPIC_LINES entries; a 64-bit entry keeps both
 * dwords, so the high-dword fields sit 32 bits up. */
enum { RTE_DEST_SHIFT64 = 32 + IOAPIC_RTE_DEST_SHIFT };
static const uint64_t rte_writable =
	(uint64_t)(IOAPIC_RTE_VECTOR | IOAPIC_RTE_DM_MASK | IOAPIC_RTE_DEST_LOGICAL |
	           IOAPIC_RTE_ACTIVE_LOW | IOAPIC_RTE_LEVEL | IOAPIC_RTE_MASKED) |
	((uint64_t)IOAPIC_RTE_DEST_MASK << RTE_DEST_SHIFT64);

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
	if ((err = b->mmio_claim(b->ctx, mmio, IOAPIC_MMIO_LEN, bus_read, bus_write, NULL)) != 0)
		return err;
	bus = b;
	mmio_base = mmio;
	host = *h;
	regsel = 0;
	id = ((uint32_t)ioapic_id << IOAPIC_ID_SHIFT) & IOAPIC_ID_MASK;
	gsi_base = base;
	for (unsigned i = 0; i < IOAPIC_LINES; i++) {
		rte[i] = IOAPIC_RTE_MASKED;        /* every entry masked at reset */
		pin[i] = false;
	}
	atomic_store(&sent, 0);
	return 0;
}

static bool asserted(unsigned i)
{
	return pin[i] != ((rte[i] & IOAPIC_RTE_ACTIVE_LOW) != 0);
}

/* Send entry i's message if its state calls for it. Lock held; the delivery
 * callback only touches the LAPICs' atomics, never this model. */
static void try_send(unsigned i, bool edge)
{
	uint64_t e = rte[i];
	bool level = e & IOAPIC_RTE_LEVEL;
	unsigned dm = (unsigned)(e & IOAPIC_RTE_DM_MASK);

	if ((e & IOAPIC_RTE_MASKED) || !asserted(i))
		return;
	if (!level && !edge)
		return;
	if (level && (e & IOAPIC_RTE_REMOTE_IRR))
		return;
	if (dm != IOAPIC_RTE_DM_FIXED && dm != IOAPIC_RTE_DM_LOWEST)
		host.fatal("I/O APIC entry %u = 0x%016llx: delivery mode %u is not modelled (fixed "
		           "and lowest priority are)", i, (unsigned long long)e, dm >> 8);
	if ((e & IOAPIC_RTE_VECTOR) < 0x10)
		host.fatal("I/O APIC entry %u = 0x%016llx: vector 0x%02x is illegal (0x10-0xFE, "
		           "82093AA §3.2.4)", i, (unsigned long long)e, (unsigned)(e & IOAPIC_RTE_VECTOR));
	if (level)
		rte[i] |= IOAPIC_RTE_REMOTE_IRR;
	atomic_fetch_add(&sent, 1);
	host.deliver((uint32_t)(e >> RTE_DEST_SHIFT64), e & IOAPIC_RTE_DEST_LOGICAL, (uint8_t)(e & IOAPIC_RTE_VECTOR), level);
}

uint64_t ioapic_model_mmio_read(uint64_t offset, unsigned size)
{
	uint32_t v = 0;

	if (size != 4 || (offset != IOAPIC_REGSEL && offset != IOAPIC_WIN))
		host.fatal("I/O APIC read of %u bytes at offset 0x%llx: only dword IOREGSEL (0x00) "
		           "and IOWIN (0x10) exist (82093AA §3.1)", size, (unsigned long long)offset);
	pthread_mutex_lock(&lock);
	if (offset == IOAPIC_REGSEL) {
		v = regsel;
	} else if (regsel == IOAPIC_REG_ID) {
		v = id;
	} else if (regsel == IOAPIC_REG_VER) {
		v = IOAPIC_VER_82093AA | ((IOAPIC_LINES - 1u) << IOAPIC_VER_MAX_REDIR_SHIFT);
	} else if (regsel == IOAPIC_REG_ARB) {
		v = id;
	} else if (regsel >= IOAPIC_REG_REDTBL(0) && regsel < IOAPIC_REG_REDTBL(IOAPIC_LINES)) {
		uint64_t e = rte[(regsel - IOAPIC_REG_REDTBL(0)) / 2];
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

	if (size != 4 || (offset != IOAPIC_REGSEL && offset != IOAPIC_WIN))
		host.fatal("I/O APIC write of %u bytes at offset 0x%llx: only dword IOREGSEL (0x00) "
		           "and IOWIN (0x10) exist (82093AA §3.1)", size, (unsigned long long)offset);
	pthread_mutex_lock(&lock);
	if (offset == IOAPIC_REGSEL) {
		regsel = v & 0xFF;
	} else if (regsel == IOAPIC_REG_ID) {
		id = v & IOAPIC_ID_MASK;
	} else if (regsel >= IOAPIC_REG_REDTBL(0) && regsel < IOAPIC_REG_REDTBL(IOAPIC_LINES)) {
		unsigned i = (regsel - IOAPIC_REG_REDTBL(0)) / 2;
		uint64_t e = rte[i], keep = e & (IOAPIC_RTE_DELIVS | IOAPIC_RTE_REMOTE_IRR);
		if (regsel & 1)
			e = (e & 0xFFFFFFFFull) | ((uint64_t)v << 32);
		else
			e = (e & ~0xFFFFFFFFull) | v;
		rte[i] = (e & rte_writable) | keep;
		if (!(rte[i] & IOAPIC_RTE_LEVEL))
			rte[i] &= ~(uint64_t)IOAPIC_RTE_REMOTE_IRR;
		try_send(i, false);         /* an unmasked, asserted level line fires now */
	} else {
		uint32_t r = regsel;
		pthread_mutex_unlock(&lock);
		host.fatal("I/O APIC write of 0x%x to %s register 0x%02x through IOWIN", v,
		           r == IOAPIC_REG_VER || r == IOAPIC_REG_ARB ? "read-only" : "reserved", r);
	}
	pthread_mutex_unlock(&lock);
}

void ioapic_model_eoi(uint8_t vector)
{
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < IOAPIC_LINES; i++) {
		if ((rte[i] & IOAPIC_RTE_LEVEL) && (rte[i] & IOAPIC_RTE_VECTOR) == vector &&
		    (rte[i] & IOAPIC_RTE_REMOTE_IRR)) {
			rte[i] &= ~(uint64_t)IOAPIC_RTE_REMOTE_IRR;
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
