# test_sim_det.py — doppel-sim's deterministic mode (docs/det.md) proves it finds
# races: each deliberately broken case of the `racy` ktest suite is found within a
# stated budget of seeds, its fixed twin survives ten times that budget; the real
# concurrent subsystems run under many seeds; a seed replays bit for bit (same
# decision-trace hash) and a failing seed's replay command fails again identically.
from __future__ import annotations

import os
import re
import shlex
import subprocess

import pytest

from harness.explore import explore

pytestmark = pytest.mark.sim

# Seeds per real-subsystem test: 10,000, as the issue asks. They run on the
# sim-plain build (no sanitizer runtime: ~2 ms a run, ~18 ms for vectors) with the
# TSC and LAPIC frequencies given on the command line instead of calibrated
# against the PIT, and 32 MiB of RAM, which keeps the whole set near two minutes of
# wall time on two cores. Every other sim test, the racy searches included, runs
# under ASan+UBSan. DOPPEL_DET_SEEDS overrides the count.
SUBSYSTEM_SEEDS = int(os.environ.get("DOPPEL_DET_SEEDS", "10000"))
# The storage drivers' start (NVMe and AHCI admin commands, IDENTIFY, queue set-up)
# is not what these suites test and would be most of each run's steps: off here
# (tests/sim/test_nvme_det.py races the drivers themselves).
NO_DRIVERS = "nvme=off ahci=off"
FAST_BOOT = f"time.tsc_khz=2000000 time.lapic_khz=6250 {NO_DRIVERS}"
SUBSYSTEMS = [
    ("lock", 3),
    ("pmm", 2),
    ("heap", 2),
    ("vectors", 2),
    ("smp", 3),
    # IPIs and cross-CPU calls, without the timed stress case and the 10 s timeout case
    ("ipi.ipi_fixed_to_each_cpu,ipi.ipi_all_but_self,ipi.ipi_self,ipi.ipi_call_runs_on_set", 3),
    # TLB shootdown, without the timed stress case
    ("tlb.tlb_remap_seen_by_every_cpu,tlb.tlb_initiator_waits_for_all,tlb.tlb_concurrent_shootdowns", 3),
]

# (case, scheduler, budget): seeds 1..budget must contain a failing one. Budgets are
# 2.5-20x the first failing seed measured with these schedulers (random walk on
# 2 CPUs; PCT depth 3 for the vector case): lost_update 13, check_then_act 30,
# aba 58 (six push/pop rounds), tlb_no_wait 8, vector_wrong_cpu 1, mcs_handoff 2
# (found at seeds 2, 4, 20, 51, 100 when started there), lost_wakeup 2, pi_chain 24
# (measured before the RT class scheduled boosted threads; since then PCT depth 3 misses
# it in 300 seeds; with the drivers off a random walk fails first at seed 200, PCT
# depth 3 at 239).
RACY = [
    ("lost_update", "random", 100),
    ("check_then_act", "random", 150),
    ("aba", "random", 400),
    ("tlb_no_wait", "random", 100),
    ("vector_wrong_cpu", "pct:3", 20),
    ("mcs_handoff", "random", 20),
    ("lost_wakeup", "random", 20),
    ("pi_chain", "random", 400),
]


@pytest.fixture(scope="module")
def sim_exe(doppel_build):
    from harness.paths import SIM_BINARY
    return doppel_build.ensure("sim", (SIM_BINARY["sim"],)) / SIM_BINARY["sim"]


@pytest.mark.parametrize("case,sched,budget", RACY, ids=[c for c, _, _ in RACY])
def test_racy_broken_case_is_found(sim_exe, case, sched, budget):
    r = explore(f"racy.{case}_broken", cpus=2, runs=budget, sched=sched, binary=sim_exe,
                batch=max(1, budget // 4), jobs=2, words=NO_DRIVERS)
    print(r.report())
    assert not r.errors, r.errors
    assert r.found, f"racy.{case}_broken not found in {budget} seeds:\n{r.report()}"
    f = r.first
    assert f.status == 1, f"expected a failed test (status 1), got {f.status}:\n{f.output_tail}"
    assert "--replay" in f.replay and f"--seed {f.seed}" in f.replay


@pytest.mark.parametrize("case,sched,budget", RACY, ids=[c for c, _, _ in RACY])
def test_racy_fixed_twin_survives_ten_times_the_budget(sim_exe, case, sched, budget):
    r = explore(f"racy.{case}_fixed", cpus=2, runs=10 * budget, sched=sched, binary=sim_exe,
                words=NO_DRIVERS)
    print(r.report())
    assert not r.errors, r.errors
    assert not r.found, f"racy.{case}_fixed failed:\n{r.report()}\n{r.first.output_tail}"
    assert r.runs_done == 10 * budget


@pytest.fixture(scope="module")
def plain_exe(doppel_build):
    from harness.paths import SIM_BINARY
    return doppel_build.ensure("sim-plain", (SIM_BINARY["sim-plain"],)) / SIM_BINARY["sim-plain"]


@pytest.mark.parametrize("suite,cpus", SUBSYSTEMS, ids=[s.split(".")[0] for s, _ in SUBSYSTEMS])
def test_subsystem_under_det_seeds(plain_exe, suite, cpus):
    r = explore(suite, cpus=cpus, runs=SUBSYSTEM_SEEDS, sched="pct:3", binary=plain_exe,
                words=FAST_BOOT, extra_args=["--mem", "32M"], batch=250)
    print(r.report())
    assert not r.errors, r.errors
    assert not r.found, f"{suite} failed under det mode:\n{r.report()}\n{r.first.output_tail}"
    assert r.runs_done == SUBSYSTEM_SEEDS


def test_same_seed_gives_same_trace_hash(sim_exe):
    r = explore("vectors", cpus=2, runs=20, sched="random", binary=sim_exe, check_determinism=True)
    assert not r.errors, r.errors
    assert r.mismatches == [], r.report()
    assert r.runs_done == 20


_LINE = re.compile(r"^sim-det: seed=(\d+) status=(\d+) steps=(\d+) choices=(\d+) hash=(0x[0-9a-f]+)", re.M)


def test_failing_seed_replays_identically(sim_exe):
    r = explore("racy.lost_update_broken", cpus=2, runs=100, sched="random", binary=sim_exe, jobs=1)
    assert r.found, r.report()
    first = None
    for _ in range(2):
        p = subprocess.run(shlex.split(r.first.replay), capture_output=True, text=True, timeout=60)
        assert p.returncode == r.first.status, p.stdout[-2000:]
        m = _LINE.search(p.stdout)
        assert m, p.stdout[-2000:]
        assert "sim-det: FAIL seed=" in p.stdout
        assert "det: decision trace" in p.stdout
        first = first or m.groups()
        assert m.groups() == first, f"replay differs: {m.groups()} vs {first}"
    # the --runs line for that seed has the same hash as the replay
    batch_line = [ln for ln in r.first.output_tail.splitlines() if ln.startswith(f"sim-det: seed={r.first.seed} ")]
    if batch_line:
        assert _LINE.match(batch_line[0]).group(5) == first[4]


def test_livelock_is_reported_not_hung(sim_exe):
    p = subprocess.run([str(sim_exe), "--mode", "det", "--seed", "1", "--cpus", "2", "--max-steps", "20000",
                        "--", "ktest=vectors"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 4, p.stdout[-2000:]
    assert re.search(r"^sim-det: seed=1 status=4 .* livelock$", p.stdout, re.M), p.stdout[-2000:]
    assert "det: decision trace" in p.stdout


def test_fault_site_makes_allocations_fail(sim_exe):
    p = subprocess.run([str(sim_exe), "--mode", "det", "--seed", "3", "--cpus", "2",
                        "--fault-sites", "heap.*=1", "--", "ktest=heap"],
                       capture_output=True, text=True, timeout=60)
    assert "fault-site: heap.kmalloc fails" in p.stdout, p.stdout[-3000:]
    assert "fault: injected failure at site heap.kmalloc" in p.stdout
    # Every kmalloc fails: boot goes on without what it could not allocate (each
    # failure logged), and the heap cases fail: status 1. A panic (2) or a boot
    # error (3) would be a kernel bug, a sim crash worse.
    assert "KERNEL PANIC" not in p.stdout, p.stdout[-3000:]
    assert p.returncode == 1, f"exit {p.returncode}, expected 1 (a failed test):\n{p.stdout[-3000:]}"
    assert re.search(r"^    not ok \d+ heap_small_blocks$", p.stdout, re.M), p.stdout[-3000:]


def test_model_fault_site_lost_sipis_leave_the_cpu_failed(sim):
    # Model-side fault site (the LAPIC drops every SIPI): boot goes on without the AP.
    r = sim(cpus=2, extra_args=["--fault-sites", "lapic.sipi_lost=1"]).run("ktest=smp")
    assert r.status == 0, r.status_text
    assert r.int_fact("smp.online") == 1 and r.int_fact("smp.failed") == 1
    assert any("APIC ID 0x1" in ln and "failed to start" in ln for ln in r.lines)


def test_model_fault_sites_are_seeded_and_deterministic(plain_exe):
    # Late IPIs injected by the LAPIC model at seeded points: the IPI and cross-call
    # cases must survive them, and each seed must replay to the same trace.
    r = explore("ipi.ipi_fixed_to_each_cpu,ipi.ipi_call_runs_on_set", cpus=3, runs=300,
                sched="random", binary=plain_exe, words=FAST_BOOT, check_determinism=True,
                extra_args=["--mem", "32M", "--fault-sites", "lapic.ipi_late=0.3",
                            "--fault-sites", "lapic.sipi_lost=0.2"])
    print(r.report())
    assert not r.errors, r.errors
    assert not r.mismatches, r.report()
    assert not r.found, f"{r.report()}\n{r.first.output_tail}"
    assert r.runs_done == 300
