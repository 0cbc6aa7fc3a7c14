# test_nvme_det.py — races of the NVMe driver's recovery found and replayed by seed
# in doppel-sim's deterministic mode (docs/det.md, docs/nvme.md "Faults and
# recovery"). The ktest nvme.nvme_io_survives_recovery runs on 2 CPUs with model
# fault sites and tiny timeouts; each test searches a bounded range of seeds for a
# run whose log shows the race window was hit (the driver names the branch it took),
# checks that every command completed exactly once, and replays that seed to the
# same decision-trace hash.
from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.sim

# ---- log wording this file depends on ------------------------------------------------
GONE = "completed while its timeout was handled: nothing to do"
ABORT_MISSED = "not aborted (not found)"
RESET_DONE = re.compile(r"^nvme: nvme0: reset done, (\d+) commands resubmitted$", re.M)
TWICE = "completed twice"
CASE_OK = re.compile(r"^    ok \d+ nvme_io_survives_recovery$", re.M)
STATS = re.compile(r"^nvme: nvme0: stats: io submitted=(\d+) completed=(\d+) in_flight=(\d+) .*"
                   r"timeout_races=(\d+)", re.M)
DET = re.compile(r"^sim-det: seed=(\d+) status=(\d+) steps=(\d+) choices=(\d+) hash=(0x[0-9a-f]+)", re.M)
# ---------------------------------------------------------------------------------------

WORDS = ["ktest=nvme.nvme_io_survives_recovery", "time.tsc_khz=2000000", "time.lapic_khz=6250"]
JOBS = 2


@pytest.fixture(scope="module")
def plain_exe(doppel_build):
    from harness.paths import SIM_BINARY
    return doppel_build.ensure("sim-plain", (SIM_BINARY["sim-plain"],)) / SIM_BINARY["sim-plain"]


def det_cmd(exe, seed, sites, words, replay=False):
    cmd = [str(exe), "--mode", "det", "--seed", str(seed), "--cpus", "2", "--mem", "64M"]
    for s in sites:
        cmd += ["--fault-sites", s]
    if replay:
        cmd.append("--replay")
    return cmd + ["--", *WORDS, *words]


def run(exe, seed, sites, words, replay=False):
    p = subprocess.run(det_cmd(exe, seed, sites, words, replay), capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def search(exe, hit, sites, words, budget):
    """The first seed of 1..budget whose run shows hit(out): (seed, rc, out)."""
    with ThreadPoolExecutor(JOBS) as ex:
        for base in range(1, budget + 1, JOBS):
            seeds = list(range(base, min(base + JOBS, budget + 1)))
            for seed, (rc, out) in zip(seeds, ex.map(lambda s: run(exe, s, sites, words), seeds)):
                if hit(out):
                    return seed, rc, out
    raise AssertionError(f"race window not hit in seeds 1..{budget} ({sites}, {words})")


def exactly_once(rc, out):
    assert rc == 0, out[-3000:]
    assert CASE_OK.search(out), out[-3000:]
    assert TWICE not in out
    m = STATS.search(out)
    assert m, out[-3000:]
    sub, done, inflight = int(m.group(1)), int(m.group(2)), int(m.group(3))
    assert sub == done and inflight == 0, m.group(0)


def replays_identically(exe, seed, sites, words, out):
    first = DET.search(out)
    assert first, out[-2000:]
    rc, again = run(exe, seed, sites, words, replay=True)
    second = DET.search(again)
    assert second, again[-2000:]
    assert second.groups() == first.groups(), (first.group(0), second.group(0))


def test_nvme_det_abort_racing_the_completion(plain_exe):
    # The completion (held 10 ms by nvme.slow) lands while the Abort for it is on
    # its way: the Abort finds nothing, the command completes once, normally.
    sites, words = ["nvme.slow=0.3"], ["nvme.timeout_ms=10"]
    seed, rc, out = search(plain_exe, lambda o: ABORT_MISSED in o, sites, words, budget=24)
    exactly_once(rc, out)
    replays_identically(plain_exe, seed, sites, words, out)


def test_nvme_det_completion_racing_its_timeout(plain_exe):
    # The block layer reports the part overdue, its completion is reaped before the
    # driver looks at the slot: the driver sees it gone and does nothing.
    sites, words = ["nvme.slow=0.3"], ["nvme.timeout_ms=10"]
    seed, rc, out = search(plain_exe, lambda o: GONE in o, sites, words, budget=150)   # first hit: seed 41 today (it moves whenever the boot path changes)
    exactly_once(rc, out)
    m = STATS.search(out)
    assert int(m.group(4)) >= 1, m.group(0)
    replays_identically(plain_exe, seed, sites, words, out)


def test_nvme_det_reset_with_commands_in_flight(plain_exe):
    # A lost command whose Abort is lost too forces a reset while the other CPU
    # has commands in flight: all are resubmitted once and complete once.
    sites = ["nvme.cmd_timeout=0.01", "nvme.drv.abort_lost=1"]
    words = ["nvme.timeout_ms=20"]

    def hit(o):
        return any(int(n) >= 2 for n in RESET_DONE.findall(o)) and CASE_OK.search(o) is not None
    seed, rc, out = search(plain_exe, hit, sites, words, budget=24)
    exactly_once(rc, out)
    replays_identically(plain_exe, seed, sites, words, out)
