# test_iommu.py — VT-d and the DMA API on QEMU's intel-iommu against an oracle we did
# not write (docs/iommu.md, "Tests and oracles"): the kernel's iommu and dma suites
# run with an edu device behind intel-iommu while QEMU traces its own fault handling
# (vtd_dmar_fault, vtd_frr_new); every fault the kernel's handler logs must be one
# QEMU detected and recorded — same count, requester ID, page, reason, access type.
# Three boots: SeaBIOS with queued invalidation; SeaBIOS with caching-mode=on and
# register-based invalidation (iommu.qi=0); OVMF with caching-mode=on and dma.policy=bounce.
from __future__ import annotations

from dataclasses import dataclass

import pytest

from harness import iommu
from harness.ktap import Status
from harness.plugin import assert_ktap_passed

pytestmark = pytest.mark.qemu

SMP = 2
WORDS = f"ktest=iommu,dma expect.cpus={SMP}"
# Isolation cases that provoke faults on purpose: each must run (not skip) and pass.
ISOLATION = ("iommu.edu_dma_unmapped_iova_faults", "iommu.edu_dma_after_unmap_faults",
             "iommu.edu_dma_without_domain_faults")
# Needs queued invalidation; skips by design under iommu.qi=0.
QI_ONLY = "iommu.edu_dma_after_unmap_other_invalidation"
# Cases that must run on QEMU -m 512M (RAM above edu's 28-bit mask exists there).
MUST_RUN = ("dma.dma_roundtrip_iommu", "dma.dma_roundtrip_bounce", "dma.dma_roundtrip_direct",
            "dma.dma_partial_write_bounce", "dma.dma_beyond_mask_direct_bounces",
            "dma.dma_beyond_mask_iommu_remaps", "dma.dma_ledger_reports_leak")
# VT-d cases that need only a unit and edu: none may skip here.
VTD_CORE = ("iommu.vtd_map_translate_unmap", "iommu.vtd_bad_arguments", "iommu.identity_bad_arguments",
            "iommu.vtd_attach_rules", "iommu.edu_dma_through_mapping", "iommu.fault_totals")
MIN_FAULTS = 2


@dataclass(frozen=True)
class Boot:
    firmware: str
    props: tuple[tuple[str, str], ...]
    words: str
    qi: str
    cm: str
    policy: str = ""


BOOTS = {
    "seabios-qi": Boot("seabios", (), "", qi="1", cm="0"),
    "seabios-cm-regqi": Boot("seabios", (("caching-mode", "on"),), "iommu.qi=0", qi="0", cm="1"),
    "ovmf-cm-bounce": Boot("ovmf", (("caching-mode", "on"),), "dma.policy=bounce", qi="1", cm="1",
                           policy="bounce"),
}


@pytest.mark.parametrize("boot", list(BOOTS), ids=list(BOOTS))
def test_iommu_faults_agree_with_qemus_trace_and_suites_pass(qemu, boot):
    b = BOOTS[boot]
    t = qemu(firmware=b.firmware, smp=SMP, iommu=True, iommu_props=dict(b.props),
             devices=["edu"], trace=iommu.TRACE_EVENTS)
    r = t.run(f"{WORDS} {b.words}".strip())
    assert not r.timed_out, f"{r.label}: no end within {r.timeout:g} s"

    # The configuration the kernel saw is the one asked for.
    assert (r.fact("iommu.mode"), r.fact("iommu.units")) == ("vtd", "1"), r.facts
    assert r.fact("iommu.qi") == b.qi and r.fact("iommu.caching_mode") == b.cm, r.facts

    # The oracle: QEMU's own record of the faults against the kernel's fault lines.
    faults, trace, problems = iommu.check_faults_against_qemu(r.lines, r.trace_lines())
    table = iommu.side_by_side(faults, trace)
    print(table)                                           # kept in the test's output
    assert not problems, "\n".join(problems) + "\n" + table
    assert len(faults) >= MIN_FAULTS and len(trace.requests) >= MIN_FAULTS, table
    assert r.int_fact("iommu.faults") == len(faults), r.fact("iommu.faults")

    # The kernel's own verdict, and the cases that matter here really ran.
    assert r.status == 0, f"{r.label}: kernel status {r.status_text}"
    # QI_ONLY skips by design under iommu.qi=0; iommu_rmrr_identity_mapped is left
    # out: QEMU's DMAR has no RMRR naming edu.
    assert_ktap_passed(r, must_run=ISOLATION + MUST_RUN + VTD_CORE + ((QI_ONLY,) if b.qi == "1" else ()))
    c = r.ktap.find(QI_ONLY)
    assert c is not None and c.status is (Status.SKIP if b.qi == "0" else Status.PASS), c
    if b.policy:
        d = r.ktap.find("dma.dma_policy_default")
        assert d is not None and any(f"edu policy {b.policy}" in x for x in d.diagnostics), \
            (d.diagnostics if d else "dma_policy_default missing")
