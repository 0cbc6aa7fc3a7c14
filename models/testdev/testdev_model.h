/*
 * testdev_model.h — test-only view of the test endpoint: per function, the raises
 * that went out, those ignored (vector out of range) and misused accesses; a reset
 * between tests. Never seen by the kernel.
 */
#ifndef DOPPEL_MODELS_TESTDEV_MODEL_H
#define DOPPEL_MODELS_TESTDEV_MODEL_H
#include <stdint.h>

struct testdev_model_stats {
	uint64_t raised;                /* raises that sent something (what 0x08 reads) */
	uint64_t quiet;                 /* raises the fabric did not send (masked, pending) */
	uint64_t bad_vector;            /* index >= vectors offered: logged, ignored */
	uint64_t bad_access;
	uint64_t lowered;
};

/* Instance idx (order of testdev_model_add), function fn (0 or 1). 0 or -ENOENT. */
int testdev_model_stats(unsigned idx, unsigned fn, struct testdev_model_stats *out);
/* Forget every instance (tests: call after pci_model_init starts a new fabric). */
void testdev_model_reset(void);

#endif /* DOPPEL_MODELS_TESTDEV_MODEL_H */
