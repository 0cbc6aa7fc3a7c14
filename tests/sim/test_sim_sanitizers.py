# test_sim_sanitizers.py — the sim build under the other checkers: every suite on
# 256 CPUs under ThreadSanitizer (sim-tsan preset), and under Valgrind's memcheck
# (sim-plain preset, no sanitizer runtime in the way). The default `sim` preset
# already runs every other sim test under ASan+UBSan.
from __future__ import annotations

import shutil

import pytest

from harness.paths import REPO_ROOT
from harness.plugin import assert_ktap_passed
from harness.targets.sim import SimTarget

pytestmark = pytest.mark.sim

VALGRIND_ERROR_EXIT = 69
# Every suite, but of `timer` only the cases that do not compare clocks: Valgrind
# runs the guest tens of times slower and serialises its threads, so PIT-vs-TSC and
# tick-rate measurements say nothing there (they run under ASan and TSan instead).
VALGRIND_SUITES = ("acpi,apic,heap,ipi,pmm,racy,selftest,smp,tlb,vectors,"
                   "timer.timer_tsc_calibrated,timer.timer_mode_matches_cpuid")
# Every CPU takes the kernel's tick (time.hz, 1000 by default) as a host thread
# waking from its halt: 256 CPUs at 1000 Hz are 256k wake-ups a second, more than two
# host cores give under ThreadSanitizer or Valgrind, and the timer suite's tick-rate
# checks would measure the host. 100 Hz keeps every suite meaningful there.
SLOW_CHECKER_TICK = "time.hz=100"


class ValgrindSim(SimTarget):
    """doppel-sim started under valgrind memcheck; any error or definite leak makes
    valgrind exit VALGRIND_ERROR_EXIT instead of the kernel's status."""

    def command(self, cmdline: str) -> list[str]:
        return ["valgrind", "--quiet", f"--error-exitcode={VALGRIND_ERROR_EXIT}",
                "--leak-check=full", "--errors-for-leak-kinds=definite",
                f"--suppressions={REPO_ROOT / 'sim' / 'valgrind.supp'}",
                *super().command(cmdline)]


def test_all_suites_clean_under_tsan_on_256_cpus(sim):
    r = sim(preset="sim-tsan", cpus=256, timeout=300).run(f"ktest=* expect.cpus=256 {SLOW_CHECKER_TICK}")
    assert r.sanitizer_errors == [], r.sanitizer_errors[:3]
    assert r.exit_code == 0 and r.status == 0, r.status_text
    assert_ktap_passed(r)


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed (scripts/deps)")
def test_all_suites_clean_under_valgrind(sim):
    r = sim(target_class=ValgrindSim, preset="sim-plain", cpus=4, mem="64M", timeout=600).run(
        f"ktest={VALGRIND_SUITES} expect.cpus=4 {SLOW_CHECKER_TICK}")
    assert r.exit_code != VALGRIND_ERROR_EXIT, "valgrind reported errors:\n" + "\n".join(
        ln for ln in r.lines if ln.startswith("==") and "==" in ln[2:])
    assert r.exit_code == 0 and r.status == 0, r.status_text
    assert_ktap_passed(r)
