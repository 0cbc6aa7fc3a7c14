/*
 * pci_model_insts.c — the instance registry and per-instance log limit the device
 * models share (pci_model_insts.h). Host-only C, no spec behind it.
 */
#include "pci/pci_model_insts.h"

#include <errno.h>
#include <stdio.h>

int pci_model_insts_add(struct pci_model_insts *r, void *inst, int (*attach)(void *inst, unsigned idx))
{
	int err = -ENOSPC;

	pthread_mutex_lock(&r->lock);
	if (r->n < r->max) {
		err = attach(inst, r->n);
		if (!err) {
			r->slot[r->n] = inst;
			/* release: the slot before the count that makes it visible */
			__atomic_store_n(&r->n, r->n + 1, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&r->lock);
	return err;
}

void *pci_model_insts_get(struct pci_model_insts *r, unsigned idx)
{
	/* No lock: the device engine asks at every det-mode switch point. Slots are
	 * written once before the count that covers them (acquire pairs with add's
	 * release); clear runs only between machines, with no CPU running. */
	if (idx >= __atomic_load_n(&r->n, __ATOMIC_ACQUIRE))
		return NULL;
	return r->slot[idx];
}

void pci_model_insts_clear(struct pci_model_insts *r, void (*release)(void *inst))
{
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < r->n; i++) {
		release(r->slot[i]);
		r->slot[i] = NULL;
	}
	__atomic_store_n(&r->n, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&r->lock);
}

void pci_model_inst_vlog(const struct model_bus *bus, const char *name, unsigned *logged,
			 unsigned budget, const char *fmt, va_list ap)
{
	char msg[256];

	if (*logged > budget)
		return;
	if ((*logged)++ == budget) {
		bus->log(bus->ctx, "%s: too many errors, not logging more", name);
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	bus->log(bus->ctx, "%s: %s", name, msg);
}
