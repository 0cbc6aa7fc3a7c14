# test_sim_locks.py — MCS queue spinlocks and lock-order checking on doppel-sim
# (docs/locks.md): the `locks` ktest suite at 1, 4 and 64 CPUs, the report a planted
# inversion leaves on the console and in the facts, lockdep on by default in the sim
# and off when asked, the contended-lock benchmark printed, and the MCS cases under
# det-mode seeds.
from __future__ import annotations

import re

import pytest

from harness.explore import explore
from harness.ktap import Status
from harness.plugin import assert_ktap_passed
from harness.suites import locks_must_run

pytestmark = pytest.mark.sim

# ---- expected kernel wording (kernel/lock/lockdep.c) --------------------------------
INVERSION = re.compile(
    r'^lockdep: CPU (\d+): lock order inversion: "ktest\.inv_a" taken at (\S+locks_ktest\.c:\d+) '
    r'while holding "ktest\.inv_b" \(taken at (\S+locks_ktest\.c:\d+)\); the opposite order '
    r'"ktest\.inv_a" -> "ktest\.inv_b" was first seen on CPU (\d+): "ktest\.inv_a" held \(taken at '
    r'(\S+locks_ktest\.c:\d+)\) when "ktest\.inv_b" was taken at (\S+locks_ktest\.c:\d+)$')
IRQ_UNSAFE = '"ktest.irqs_on_lock" is taken in interrupt context'
# kernel/sched/mutex.c
DEADLOCK = ("mutex deadlock: thread pi-abba-b holds pi.abba_2 and waits for pi.abba_1, "
            "held by thread pi-abba-a, which waits for pi.abba_2")
# The first walk longer than 8 links logs it: the high thread's on pi.m0, or owner 0's
# on pi.m1 when the nine owners above it were blocked before its own walk began (the
# order in which the chain forms is the scheduler's: the odd owners are RT).
PI_TRUNCATED = re.compile(r"^mutex: priority inheritance from thread (pi-high on pi\.m0|pi-owner on pi\.m1): "
                          r"the owner chain is longer than 8 links; boosted 8 deep \(logged once\)$")
# -----------------------------------------------------------------------------------


def _ok(r):
    assert not r.timed_out, f"{r.label}: timed out"
    assert r.sanitizer_errors == [], f"{r.label}: {r.sanitizer_errors[:3]}"
    assert not r.crashed, f"{r.label}: crashed: {r.status_text}"


@pytest.mark.parametrize("cpus", [1, 4, 64])
def test_locks_suite_passes(sim, cpus):
    r = sim(cpus=cpus, timeout=240).run("ktest=locks")
    _ok(r)
    assert r.status == 0, r.status_text
    assert_ktap_passed(r, must_run=locks_must_run(cpus))


def test_lockdep_inversion_report_names_classes_sites_and_cpu(sim):
    r = sim(cpus=2).run("ktest=locks.lockdep_inversion_reported")
    _ok(r)
    assert_ktap_passed(r, must_run=["locks.lockdep_inversion_reported"])
    lines = [m for m in (INVERSION.match(ln.strip()) for ln in r.lines) if m]
    assert len(lines) == 1, "expected exactly one inversion report:\n" + "\n".join(r.grep("lockdep"))
    cpu, new_a, held_b, first_cpu, first_a, first_b = lines[0].groups()
    assert len({new_a, held_b, first_a, first_b}) == 4, "four distinct acquisition sites"
    assert cpu == first_cpu == "0"
    assert r.fact("lockdep.inversion") == "ktest.inv_b ktest.inv_a"
    assert r.int_fact("lockdep.reports") == 1
    assert r.status == 0                    # reported, and the run went on


def test_lockdep_irq_usage_report(sim):
    r = sim(cpus=1).run("ktest=locks.lockdep_irq_usage_reported")
    _ok(r)
    assert_ktap_passed(r, must_run=["locks.lockdep_irq_usage_reported"])
    assert any(IRQ_UNSAFE in ln for ln in r.lines), r.grep("lockdep")
    assert r.fact("lockdep.irq_unsafe") == "ktest.irqs_on_lock"
    # the interrupt-off spinlock taken in both contexts is not reported
    assert not any("ktest.irq_spin" in ln for ln in r.grep("lockdep:"))


def test_mutex_deadlock_report_names_both_threads_and_mutexes(sim):
    r = sim(cpus=2).run("ktest=locks.pi_deadlock_abba_reported,locks.pi_chain_of_10_boosted_8_deep")
    _ok(r)
    assert_ktap_passed(r, must_run=["locks.pi_deadlock_abba_reported", "locks.pi_chain_of_10_boosted_8_deep"])
    reports = [ln.strip() for ln in r.lines if ln.strip().startswith("mutex deadlock:")]
    assert reports == [DEADLOCK], reports
    assert len([ln for ln in r.lines if PI_TRUNCATED.match(ln.strip())]) == 1, r.grep("mutex:")
    assert r.grep("lockdep: CPU") == [], r.grep("lockdep: CPU")[:3]    # the walk is lockdep-clean
    assert r.status == 0


def test_sim_turns_lockdep_on_unless_told(sim):
    r = sim(cpus=2).run("ktest=locks")
    _ok(r)
    assert r.fact("lockdep") == "1"
    assert r.fact("cmdline").split()[-1] == "lockdep=1"
    assert r.fact("mcs.nodes_per_cpu") == "4"
    off = sim(cpus=2).run("ktest=locks lockdep=0")
    _ok(off)
    assert off.fact("lockdep") == "0"
    assert "lockdep=1" not in off.fact("cmdline")
    assert_ktap_passed(off, must_run=locks_must_run(2, lockdep=False))
    skipped = {c.name for s in off.ktap.root.children for c in s.children if c.status is Status.SKIP}
    assert "lockdep_inversion_reported" in skipped, skipped


def test_the_kernel_boots_without_a_lockdep_report(sim):
    # The kernel's own locks, through boot, the drivers and a little I/O: no cycle.
    r = sim(cpus=4).run("io=verify io.seconds=1 lockdep.stats")
    _ok(r)
    assert r.status == 0, r.status_text
    assert r.grep("lockdep: CPU") == [], r.grep("lockdep: CPU")[:3]
    assert any(ln.startswith("lockdep: stats ahci.port ") for ln in r.lines), r.grep("lockdep:")


def test_locks_bench_prints_mcs_and_spin(sim):
    r = sim(cpus=4, timeout=240).run("bench=locks_contended")
    _ok(r)
    assert r.status == 0, r.status_text
    names = {ln.split()[1] for ln in r.lines if ln.startswith("doppel-bench: ")}
    assert {"locks_mcs_contended_ns", "locks_spin_contended_ns"} <= names, names


def test_pi_boost_bench_prints_depth8(sim):
    r = sim(cpus=2, timeout=240).run("bench=sched_pi_boost_depth8")
    _ok(r)
    assert r.status == 0, r.status_text
    vals = [ln.split() for ln in r.lines if ln.startswith("doppel-bench: sched_pi_boost_depth8_ns ")]
    assert len(vals) == 1 and vals[0][3] == "ns" and int(vals[0][2]) > 0, r.grep("bench")


@pytest.fixture(scope="module")
def sim_exe(doppel_build):
    from harness.paths import SIM_BINARY
    return doppel_build.ensure("sim", (SIM_BINARY["sim"],)) / SIM_BINARY["sim"]


def test_mcs_cases_under_det_seeds(sim_exe):
    r = explore("locks.mcs_mutual_exclusion,locks.mcs_fifo_order", cpus=3, runs=300, sched="pct:3",
                binary=sim_exe, words="nvme=off ahci=off", batch=75, jobs=2)
    print(r.report())
    assert not r.errors, r.errors
    assert not r.found, f"{r.report()}\n{r.first.output_tail}"
    assert r.runs_done == 300
