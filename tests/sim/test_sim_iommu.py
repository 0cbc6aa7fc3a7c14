# test_sim_iommu.py — VT-d and the DMA API under doppel-sim (docs/iommu.md, "Tests and
# oracles"): the iommu and dma suites at 1 and 4 CPUs, with CAP.CM = 1, with
# register-based invalidation (the unit offers no QI, or iommu.qi=0), without an
# IOMMU (identity: no faults), with RAM above 4 GiB (bounce buffers for edu's 28-bit
# mask); the kernel's fault lines against the VT-d model's own fault records; a
# deliberately missing IOTLB invalidation (fault site iommu.skip_invalidate) caught
# by the model's stale-IOTLB counter and by the after-unmap isolation case; an RMRR
# naming edu (--dmar-rmrr) mapped 1:1 while attached and reserved in the memory map;
# det mode.
from __future__ import annotations

import pytest

from harness import iommu
from harness.explore import explore
from harness.ktap import Status
from harness.plugin import assert_ktap_passed

pytestmark = pytest.mark.sim

WORDS = "ktest=iommu,dma"
# Isolation cases: each provokes a fault on purpose, must run (not skip) under VT-d.
ISOLATION = ("iommu.edu_dma_unmapped_iova_faults", "iommu.edu_dma_after_unmap_faults",
             "iommu.edu_dma_without_domain_faults")
# The VT-d cases that need only a unit and edu: under VT-d none of them may skip.
VTD_CORE = ("iommu.vtd_map_translate_unmap", "iommu.vtd_bad_arguments", "iommu.vtd_attach_rules",
            "iommu.edu_dma_through_mapping", "iommu.fault_totals")
AFTER_UNMAP = "iommu.edu_dma_after_unmap_faults"
QI_ONLY = "iommu.edu_dma_after_unmap_other_invalidation"
ABOVE_4G = ("dma.dma_beyond_mask_direct_bounces", "dma.dma_beyond_mask_iommu_remaps")
# Bounce slots below each device's own mask (24 and 28 bits), with and without VT-d.
BOUNCE_PER_MASK = "dma.dma_bounce_below_each_mask"
IOMMU_POLICY_CASES = ("dma.dma_roundtrip_iommu", "dma.dma_bidirectional_iommu",
                      "dma.dma_partial_write_iommu", "dma.dma_coherent_iommu",
                      "dma.dma_sg_max_seg_iommu")
# The cases every VT-d run must run (must_run), besides ISOLATION, VTD_CORE and the
# policy cases. Left out: dma_beyond_mask_* (need RAM above 4 GiB: --mem 6G),
# iommu_rmrr_identity_mapped (needs --dmar-rmrr), the QI-only case (not without QI).
DMA_ALWAYS = ("dma.dma_policy_default", "dma.dma_roundtrip_bounce", "dma.dma_roundtrip_direct",
              "dma.dma_bidirectional_bounce", "dma.dma_bidirectional_direct",
              "dma.dma_partial_write_bounce", "dma.dma_partial_write_direct",
              "dma.dma_coherent_bounce", "dma.dma_coherent_direct",
              "dma.dma_sg_max_seg_bounce", "dma.dma_sg_max_seg_direct",
              "dma.dma_ledger_reports_leak", "dma.dma_refusals_counted", BOUNCE_PER_MASK)
IDENTITY_CASE = "iommu.identity_bad_arguments"
FAST_BOOT = "time.tsc_khz=2000000 time.lapic_khz=6250 nvme=off ahci=off"   # det runs skip PIT calibration and the storage drivers (not under test: their start would take most of the steps PCT draws its change points over)
DET_SEEDS = 200
MIN_FAULTS = 2


def case(r, name: str):
    c = r.ktap.find(name)
    assert c is not None, f"{name} did not run"
    return c


def assert_vtd_run(r, qi: str, cm: str, must_run=()) -> dict[str, int]:
    """Suites pass; the facts say VT-d with this invalidation and caching mode; the
    kernel's fault lines, its fault count and the model's own records agree; no DMA
    was served from a stale IOTLB entry; the VT-d cases, the policy cases and
    `must_run` ran. Returns the model's counters."""
    assert (r.fact("iommu.mode"), r.fact("iommu.units")) == ("vtd", "1"), r.facts
    assert (r.fact("iommu.qi"), r.fact("iommu.caching_mode")) == (qi, cm), r.facts
    # the model's view first (its report names the fault), then the kernel's verdict
    k = iommu.parse_kernel_faults(r.lines)
    assert k.errors == [], k.errors
    model = iommu.parse_sim_model_faults(r.lines)
    diffs = iommu.compare_faults(k.faults, model, "the VT-d model's records")
    assert not diffs, "\n".join(diffs)
    assert len(k.faults) >= MIN_FAULTS
    assert r.int_fact("iommu.faults") == len(k.faults)
    st = iommu.sim_vtd_stats(r.lines)
    assert st is not None, "no 'sim: stats vtd:' line"
    assert st["faults"] == len(k.faults) and st["fault_msis"] == len(k.faults), st
    assert st["stale_iotlb_hits"] == 0, st
    assert st["translations"] > 0, st
    assert r.status == 0, r.status_text
    assert_ktap_passed(r, must_run=ISOLATION + VTD_CORE + IOMMU_POLICY_CASES + DMA_ALWAYS
                       + (IDENTITY_CASE,) + tuple(must_run))
    return st


@pytest.mark.parametrize("cpus", [1, 4])
def test_iommu_and_dma_suites_pass_with_queued_invalidation(sim, cpus):
    r = sim(cpus=cpus).run(f"{WORDS} expect.cpus={cpus}")
    st = assert_vtd_run(r, qi="1", cm="0", must_run=[QI_ONLY])
    assert st["inval_qi"] > 0, st


def test_caching_mode_unit_is_invalidated_after_map_too(sim):
    r = sim(cpus=2, extra_args=["--vtd-caching-mode"]).run(WORDS)
    assert_vtd_run(r, qi="1", cm="1", must_run=[QI_ONLY])


@pytest.mark.parametrize("how", ["unit-without-qi", "iommu.qi=0"])
def test_register_based_invalidation(sim, how):
    if how == "unit-without-qi":
        r = sim(cpus=2, extra_args=["--vtd-no-qi"]).run(WORDS)
    else:
        r = sim(cpus=2).run(f"{WORDS} iommu.qi=0")
    st = assert_vtd_run(r, qi="0", cm="0")
    assert st["inval_qi"] == 0 and st["inval_reg"] > 0, st
    assert st["inval_reg_ignored"] == 0, st
    c = case(r, QI_ONLY)
    assert c.status is Status.SKIP, f"{QI_ONLY}: {c.status.value}"


def test_without_an_iommu_everything_is_identity_and_nothing_faults(sim):
    r = sim(cpus=2, extra_args=["--iommu", "none"]).run(WORDS)
    assert r.status == 0, r.status_text
    # identity's argument checks still run; VT-d cases and iommu-policy DMA skip
    assert_ktap_passed(r, must_run=DMA_ALWAYS + (IDENTITY_CASE,))
    assert r.fact("iommu.mode") == "identity" and r.fact("iommu.units") == "0", r.facts
    assert r.int_fact("iommu.faults") == 0
    assert iommu.parse_kernel_faults(r.lines).faults == []
    assert iommu.sim_vtd_stats(r.lines) is None          # no unit, no model counters
    for n in ISOLATION + IOMMU_POLICY_CASES:
        assert case(r, n).status is Status.SKIP, n
    d = case(r, "dma.dma_policy_default")
    assert any("edu policy direct" in x for x in d.diagnostics), d.diagnostics


def test_buffers_above_4g_bounce_for_a_28_bit_device(sim):
    r = sim(cpus=2, mem="6G").run(WORDS)
    assert_vtd_run(r, qi="1", cm="0", must_run=ABOVE_4G + (QI_ONLY,))
    for n in ABOVE_4G:
        assert any("above 0x100000000" in x for x in case(r, n).diagnostics), case(r, n).diagnostics


RMRR_CASE = "iommu.iommu_rmrr_identity_mapped"
RMRR_BASE, RMRR_LIMIT = 0x6000000, 0x6001FFF              # 2 pages of RAM below edu's mask
RMRR_ARG = f"{RMRR_BASE:#x}:{RMRR_LIMIT:#x}@00:02.0"          # edu in the default topology


@pytest.mark.parametrize("unit", [[], ["--vtd-caching-mode", "--vtd-no-qi"]],
                         ids=["default", "cm-no-qi"])
def test_rmrr_naming_edu_is_identity_mapped_while_attached(sim, unit):
    """VT-d §8.4: an RMRR naming edu is mapped 1:1 read+write in its domain from
    attach to detach (the ktest case checks translate, the IOVA allocator, edu's DMA
    into the region and the mapping gone after detach), and the sim's memory map
    reports the region reserved (usable RAM shrinks by its size)."""
    r = sim(cpus=2, extra_args=["--dmar-rmrr", RMRR_ARG, *unit]).run(WORDS)
    assert any(f"--dmar-rmrr {RMRR_ARG}" in ln for ln in r.lines if "sim: replay:" in ln)
    cm = "1" if unit else "0"
    assert_vtd_run(r, qi="0" if unit else "1", cm=cm,
                   must_run=(RMRR_CASE,) + (() if unit else (QI_ONLY,)))
    mapped = f"iommu: 0000:00:02.0: RMRR 0 {RMRR_BASE:#x}-{RMRR_LIMIT:#x} mapped 1:1 read+write"
    unmapped = f"iommu: 0000:00:02.0: RMRR 0 {RMRR_BASE:#x}-{RMRR_LIMIT:#x} unmapped"
    assert sum(mapped in ln for ln in r.lines) == sum(unmapped in ln for ln in r.lines) > 0
    base = sim(cpus=1, extra_args=list(unit)).run("ktest=iommu")
    assert base.status == 0, base.status_text
    assert case(base, RMRR_CASE).status is Status.SKIP   # no RMRR in the DMAR: skips
    assert base.int_fact("mem.usable_kib") - r.int_fact("mem.usable_kib") == \
        (RMRR_LIMIT + 1 - RMRR_BASE) // 1024


def test_missing_invalidation_is_caught_by_the_iotlb_model(sim):
    """The kernel's fault site leaves out the IOTLB invalidation at unmap: the model
    keeps serving the old translation (stale IOTLB hits) and the device's DMA after
    unmap is not blocked, which the isolation case reports."""
    r = sim(cpus=2, extra_args=["--fault-sites", "iommu.skip_invalidate=1"]).run("ktest=iommu")
    assert any("fault-site: iommu.skip_invalidate fails" in ln for ln in r.lines)
    st = iommu.sim_vtd_stats(r.lines)
    assert st is not None and st["stale_iotlb_hits"] > 0, st
    assert r.status == 1, r.status_text                  # a test failed: not a crash
    c = case(r, AFTER_UNMAP)
    assert c.status is Status.FAIL, f"{AFTER_UNMAP}: {c.status.value} (expected to fail)"


def test_iommu_and_dma_under_det_seeds(doppel_build):
    from harness.paths import SIM_BINARY
    exe = doppel_build.ensure("sim-plain", (SIM_BINARY["sim-plain"],)) / SIM_BINARY["sim-plain"]
    r = explore(WORDS.split("=", 1)[1], cpus=2, runs=DET_SEEDS, sched="pct:3", binary=exe,
                words=FAST_BOOT, extra_args=["--mem", "32M"], batch=50)
    print(r.report())
    assert not r.errors, r.errors
    assert not r.found, f"iommu,dma failed under det mode:\n{r.report()}\n{r.first.output_tail}"
    assert r.runs_done == DET_SEEDS
