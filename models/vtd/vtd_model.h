/*
 * vtd_model.h — test-only view of the VT-d model (models/vtd/vtd.c): counters the
 * sim prints at exit and tests assert on. Drivers never see this.
 */
#ifndef DOPPEL_MODELS_VTD_MODEL_H
#define DOPPEL_MODELS_VTD_MODEL_H
#include <stdint.h>

struct vtd_model_stats {
	uint64_t translations;      /* page translations done with TES = 1 */
	uint64_t faults;            /* faults detected (recorded, overflowed or FPD-suppressed) */
	uint64_t faults_recorded;   /* ... written to the fault recording register */
	uint64_t overflows;         /* ... lost to FSTS.PFO */
	uint64_t stale_iotlb_hits;  /* IOTLB hits whose page-table entry has since changed */
	uint64_t iotlb_hits, iotlb_misses, ctx_hits;
	uint64_t inval_reg;         /* register-based invalidations (context + IOTLB) done */
	uint64_t inval_reg_ignored; /* ... ignored because queued invalidation is on */
	uint64_t inval_qi;          /* invalidation descriptors processed */
	uint64_t fault_msis, inval_msis;
	uint64_t bad_access;        /* register accesses of a wrong size/offset */
};

struct vtd_model;

/* The unit's counters. Any thread. */
void vtd_model_stats(struct vtd_model *vt, struct vtd_model_stats *out);
#endif
