# test_sim_mutant_guards.py — tests that catch bugs put back on purpose
# (tests/mutants/*.patch, docs/mutants.md): each runs one ktest case under the
# conditions that make its bug show, and checks what the suites otherwise do not.
from __future__ import annotations

import pytest

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
