/*
 * pci_model_insts.h — what the device models on the fabric (edu, nvme, testdev)
 * share about their instances: an ordered registry, so tests name an instance by
 * the order it was added in (each model's *_model.h), and a log line limit per
 * instance. Host-only C, no spec behind it; docs/pci.md "Simulator: device models".
 */
#ifndef DOPPEL_MODELS_PCI_MODEL_INSTS_H
#define DOPPEL_MODELS_PCI_MODEL_INSTS_H
#include <pthread.h>
#include <stdarg.h>

#include "bus.h"
#include "pci/pci_model.h"

struct pci_model_insts {
	pthread_mutex_t lock;
	unsigned n, max;
	void **slot;
};

/* A file-scope registry `var` of at most `cap` instances. */
#define PCI_MODEL_INSTS_DEFINE(var, cap)                                                     \
	static void *var##_slot[cap];                                                        \
	static struct pci_model_insts var = { PTHREAD_MUTEX_INITIALIZER, 0, (cap), var##_slot }

/* Register inst as the next index: attach(inst, index) puts it on the fabric under the
 * registry's lock (indexes follow the order of adds); inst is kept when that returns 0.
 * 0, -ENOSPC when full, or attach's error (the caller still owns inst then). */
int pci_model_insts_add(struct pci_model_insts *r, void *inst, int (*attach)(void *inst, unsigned idx));
/* Instance idx, or NULL. Any thread. */
void *pci_model_insts_get(struct pci_model_insts *r, unsigned idx);
/* Forget every instance, release(inst) on each in order of adds. */
void pci_model_insts_clear(struct pci_model_insts *r, void (*release)(void *inst));

/* Log "name: message" through bus->log, at most `budget` lines per instance (*logged
 * counts them; one more line says the rest are dropped). Caller serialises *logged. */
void pci_model_inst_vlog(const struct model_bus *bus, const char *name, unsigned *logged,
			 unsigned budget, const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

#endif /* DOPPEL_MODELS_PCI_MODEL_INSTS_H */
