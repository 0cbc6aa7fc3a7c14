# test_sim_sanitizers.py — the sim build under the other checkers: every suite on
# 256 CPUs under ThreadSanitizer (sim-tsan preset), and under Valgrind's memcheck
# (sim-plain preset, no sanitizer runtime in the way). The default `sim` preset
# already runs every other sim test under ASan+UBSan.
from __future__ import annotations

import fnmatch
import shutil

import pytest

from harness.paths import REPO_ROOT
from harness.plugin import assert_ktap_passed
from harness.suites import locks_must_run, wait_must_run
from harness.targets.sim import SimTarget

pytestmark = pytest.mark.sim

VALGRIND_ERROR_EXIT = 69
# Every suite, but of `timer` only the cases that do not compare clocks: Valgrind
# runs the guest tens of times slower and serialises its threads, so PIT-vs-TSC and
# tick-rate measurements say nothing there (they run under ASan and TSan instead).
VALGRIND_SUITES = ("acpi,apic,ctx,heap,ipi,pmm,racy,sched,selftest,smp,tlb,vectors,"
                   "timer.timer_tsc_calibrated,timer.timer_mode_matches_cpuid")
# Every CPU takes the kernel's tick (time.hz, 1000 by default) as a host thread
# waking from its halt: 256 CPUs at 1000 Hz are 256k wake-ups a second, more than two
# host cores give under ThreadSanitizer or Valgrind, and the timer suite's tick-rate
# checks would measure the host. 100 Hz keeps every suite meaningful there.
SLOW_CHECKER_TICK = "time.hz=100"
# Cases that must run (must_run) in the valgrind run: all it selects but the
# deliberately broken racy twins (they run only when named alone) and
# selftest.crash_when_asked (runs only with selftest.panic/selftest.fault).
VALGRIND_MUST_RUN = ("acpi.*", "apic.*", "ctx.*", "sched.*", "heap.*", "ipi.*", "pmm.*", "smp.*", "tlb.*", "vectors.*",
                     "racy.*_fixed", "selftest.printf_formats", "selftest.glob_match",
                     "selftest.cmdline_words",
                     "timer.timer_tsc_calibrated", "timer.timer_mode_matches_cpuid")

# Cases that must run in the TSan run of every suite on 256 CPUs: every case but
# those this machine has nothing for (RAM above 4 GiB, an RMRR, a shared INTx line,
# a hostile endpoint), the deliberately broken racy twins and the crash case (as
# above), and timer_tick_on_every_cpu, which skips when the host never lets a CPU
# run a whole 100 ms window (256 threads on two cores under TSan).
TSAN_MUST_RUN = (
    "acpi.*", "apic.*", "ctx.*", "sched.*", "ipi.*", "vectors.*", "pmm.*", "heap.*", "tlb.*", "smp.*",
    "racy.*_fixed", "selftest.printf_formats", "selftest.glob_match", "selftest.cmdline_words",
    "dma.dma_policy_default", "dma.dma_roundtrip_*", "dma.dma_bidirectional_*",
    "dma.dma_partial_write_*", "dma.dma_coherent_*", "dma.dma_sg_max_seg_*",
    "dma.dma_ledger_reports_leak", "dma.dma_refusals_counted",
    "iommu.vtd_*", "iommu.identity_bad_arguments", "iommu.edu_dma_*", "iommu.fault_totals",
    "msi.msi_compose_address_data", "msi.msi_alloc_rejects_bad_arguments", "msi.msi_edu_msi_every_cpu",
    "msi.msi_edu_intx", "msi.msi_edu_intx_storm_masked", "msi.msi_nvme_msix_enable_fire_mask",
    "msi.msi_testdev_*", "msi.msi_fallback_when_vectors_exhausted", "msi.msi_fallback_undo_leaves_nothing",
    "pci.host_bridge_at_00_00_0", "pci.table_matches_config", "pci.every_function_listed",
    "pci.bridge_bus_ranges", "pci.bars_aligned_disjoint", "pci.bar_sizing_restores",
    "pci.caps_walk_clean", "pci.cfg_access_bounded", "pci.bar_map_and_enable",
    "timer.timer_tsc_calibrated", "timer.timer_tsc_matches_pit", "timer.timer_mode_matches_cpuid",
    "timer.timer_udelay_waits")


# The 256-CPU TSan run takes every suite but `wait`: its cases hand completions,
# mutexes and semaphores across every CPU, which 256 host threads under TSan on two
# cores cannot finish inside the run's time (an in-kernel 60 s bound was hit). It
# runs under TSan on 16 CPUs with `locks` instead (test_wait_and_locks_...).
# The kernel takes at most 16 ktest= globs, so suites go by first letter;
# test_tsan_suite_lists_cover_every_suite keeps the two runs whole.
TSAN_256_SUITES = "a*,b*,c*,d*,h*,i*,l*,m*,n*,p*,r*,s*,t*,v*"
TSAN_16_SUITES = "wait,locks"


class ValgrindSim(SimTarget):
    """doppel-sim started under valgrind memcheck; any error or definite leak makes
    valgrind exit VALGRIND_ERROR_EXIT instead of the kernel's status."""

    def command(self, cmdline: str) -> list[str]:
        return ["valgrind", "--quiet", f"--error-exitcode={VALGRIND_ERROR_EXIT}",
                "--leak-check=full", "--errors-for-leak-kinds=definite",
                f"--suppressions={REPO_ROOT / 'sim' / 'valgrind.supp'}",
                *super().command(cmdline)]


def test_tsan_suite_lists_cover_every_suite(sim):
    r = sim(cpus=1).run("ktest=no-such-suite")
    said = [ln for ln in r.lines if "the suites are:" in ln]
    assert said, r.lines[-20:]
    kernel = set(said[0].split("the suites are:")[1].strip(" )").split())
    big = {k for k in kernel if any(fnmatch.fnmatchcase(k, g) for g in TSAN_256_SUITES.split(","))}
    small = set(TSAN_16_SUITES.split(","))
    assert "wait" not in big, "the 256-CPU TSan run must leave `wait` to the 16-CPU one"
    assert big | small == kernel, f"suites no TSan run takes: {sorted(kernel - big - small)}"
    assert small <= kernel, f"unknown suites: {sorted(small - kernel)}"


def test_wait_and_locks_clean_under_tsan_on_16_cpus(sim):
    r = sim(preset="sim-tsan", cpus=16, timeout=300).run(f"ktest={TSAN_16_SUITES} expect.cpus=16")
    assert r.sanitizer_errors == [], r.sanitizer_errors[:3]
    assert r.exit_code == 0 and r.status == 0, r.status_text
    assert_ktap_passed(r, must_run=wait_must_run(16) + locks_must_run(16))


def test_all_suites_clean_under_tsan_on_256_cpus(sim):
    r = sim(preset="sim-tsan", cpus=256, timeout=300).run(
        f"ktest={TSAN_256_SUITES} expect.cpus=256 {SLOW_CHECKER_TICK}")
    assert r.sanitizer_errors == [], r.sanitizer_errors[:3]
    assert r.exit_code == 0 and r.status == 0, r.status_text
    assert_ktap_passed(r, must_run=TSAN_MUST_RUN)


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed (scripts/deps)")
def test_all_suites_clean_under_valgrind(sim):
    r = sim(target_class=ValgrindSim, preset="sim-plain", cpus=4, mem="64M", timeout=600).run(
        f"ktest={VALGRIND_SUITES} expect.cpus=4 {SLOW_CHECKER_TICK}")
    assert r.exit_code != VALGRIND_ERROR_EXIT, "valgrind reported errors:\n" + "\n".join(
        ln for ln in r.lines if ln.startswith("==") and "==" in ln[2:])
    assert r.exit_code == 0 and r.status == 0, r.status_text
    assert_ktap_passed(r, must_run=VALGRIND_MUST_RUN)
