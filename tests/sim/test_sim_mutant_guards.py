# test_sim_mutant_guards.py — tests that catch bugs put back on purpose
# (tests/mutants/*.patch, docs/mutants.md): each runs one ktest case under the
# conditions that make its bug show, and checks what the suites otherwise do not.
from __future__ import annotations

import pytest

from harness import iommu
from harness.explore import explore
from harness.ktap import Status
from harness.targets.sim import in_service_at_exit

pytestmark = pytest.mark.sim

FALLBACK_UNDO = "msi.msi_fallback_undo_leaves_nothing"


def assert_case_passed(r, name: str) -> None:
    c = r.ktap.find(name)
    assert c is not None, f"{name} did not run"
    assert c.status is Status.PASS, f"{name}: {c.status.value} {c.directive} {c.reason}"


@pytest.mark.parametrize("cpus", [1, 2])
def test_msix_enable_failure_gives_back_its_vectors(sim, cpus):
    """MSI-X Enable that does not stick (fault site pci.msix.enable) makes the
    fallback undo MSI-X and go on to MSI/INTx; the vectors MSI-X took must all be
    free again: every CPU's free-vector count is what it was before the alloc."""
    r = sim(cpus=cpus, extra_args=["--fault-sites", "pci.msix.enable=1"]).run("ktest=" + FALLBACK_UNDO)
    assert any("fault-site: pci.msix.enable fails" in ln for ln in r.lines), \
        "the fault site never fired: no MSI-X function took the fallback path"
    assert_case_passed(r, FALLBACK_UNDO)
    assert r.status == 0, r.status_text


@pytest.mark.parametrize("cpus", [1, 2])
def test_unhandled_vector_is_acknowledged(sim, cpus):
    """A self-IPI on a vector nobody registered is counted unhandled and still gets
    its EOI: the LAPIC model reports no vector in service at exit, and the same
    vector, once it has a handler, arrives."""
    r = sim(cpus=cpus).run("ktest=irq")
    stuck = in_service_at_exit(r.lines)
    assert not stuck, "interrupts left in service at exit (no EOI): " + "; ".join(stuck)
    assert any("with no handler" in ln for ln in r.lines), "the unhandled path did not run"
    assert_case_passed(r, "irq.irq_unhandled_vector_gets_eoi")
    assert r.status == 0, r.status_text


DMA_RACE = "dma.dma_iommu_concurrent_map_unmap"
FAST_BOOT = "time.tsc_khz=2000000 time.lapic_khz=6250 nvme=off ahci=off"   # det runs skip PIT calibration and the storage drivers (their start would take most of each run's steps, and PCT's change points with them)
DMA_RACE_SEEDS = 200


def test_concurrent_dma_map_unmap_free_mode(sim):
    """Three CPUs map, unmap and do edu DMA on one device at once (VT-d): every
    buffer's data arrives, no mapping is refused, and the VT-d model never served
    a translation from a stale IOTLB entry."""
    r = sim(cpus=4).run("ktest=" + DMA_RACE)
    assert_case_passed(r, DMA_RACE)
    st = iommu.sim_vtd_stats(r.lines)
    assert st is not None, "no VT-d model stats: the run had no IOMMU"
    assert st["stale_iotlb_hits"] == 0, st
    assert r.status == 0, r.status_text


def test_concurrent_dma_map_unmap_det_seeds(doppel_build):
    """The same under the det scheduler: an IOVA range handed out again before its
    old mapping is gone and invalidated shows on some seed as a refused map."""
    from harness.paths import SIM_BINARY
    exe = doppel_build.ensure("sim-plain", (SIM_BINARY["sim-plain"],)) / SIM_BINARY["sim-plain"]
    r = explore(DMA_RACE, cpus=4, runs=DMA_RACE_SEEDS, sched="pct:3", binary=exe, words=FAST_BOOT,
                extra_args=["--mem", "64M"], batch=50)
    print(r.report())
    assert not r.errors, r.errors
    assert not r.found, f"{DMA_RACE} failed under det mode:\n{r.report()}\n{r.first.output_tail}"
    assert r.runs_done == DMA_RACE_SEEDS
