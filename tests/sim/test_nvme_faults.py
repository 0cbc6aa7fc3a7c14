# test_nvme_faults.py — the NVMe driver's reaction to every fault site of the NVMe
# model (docs/nvme.md "Faults and recovery", docs/sim.md): a lost command (Abort,
# resubmission; Abort lost too: reset; lost again: device failed), duplicate and
# wrong-cid completions (dropped, nothing completed twice), controller fatal status
# (one reset; again: device failed), media errors (the request fails with the
# device's status), slow completions (no spurious timeout), a controller that never
# becomes ready and namespaces the driver cannot use (skipped, named, boot goes on).
#
# Sites fire per I/O command from the seeded "fault-sites" stream, so on one CPU
# issuing one command at a time (ktest nvme.nvme_io_survives_recovery) a seed fires
# on the same commands every run; the tests that need "exactly once" search a few
# seeds for it.
from __future__ import annotations

import re

import pytest

from harness.blkverify import parse_io_lines
from harness.ktap import Status
from harness.plugin import assert_ktap_passed

pytestmark = pytest.mark.sim

# ---- log wording this file depends on (docs/nvme.md) --------------------------------
ABORT = "overdue: Abort"
ABORT_RETRY = "ended by our Abort: resubmitted"
ABORT_LOST = "lost (fault site)"
RESET_AFTER_ABORT = "nvme: nvme0: reset: command still outstanding after Abort"
RESET_CFS = "nvme: nvme0: reset: controller fatal status (CSTS.CFS)"
RESET_DONE = re.compile(r"^nvme: nvme0: reset done, (\d+) commands resubmitted$")
FAILED_AGAIN = "nvme: nvme0: controller failed: command timed out again after being resubmitted"
FAILED_CFS = "nvme: nvme0: controller failed: controller fatal status (CSTS.CFS) again after a reset"
FAILED_ANY = "controller failed:"
NODEV_LATER = "blk: nvme0n1: device failed:"
NODEV = "failed: no-device"
DROPPED_DUP = "not in flight or completed already: dropped"
DROPPED_UNKNOWN = "unknown or stale: dropped"
TWICE = "completed twice"
OVERDUE = "overdue (report"
MEDIA = re.compile(r"^blk: nvme0n1: (read|write) lba=(\d+) count=\d+ failed: io-error \(dev_status=0x([0-9a-f]+)\)")
IO_ERROR = "failed: io-error"
STATS = re.compile(r"^nvme: (nvme\d+): stats: io submitted=(\d+) completed=(\d+) in_flight=(\d+) "
                   r"dropped_cqes=(\d+) resubmitted=(\d+) resets=(\d+) aborts=(\d+) timeout_races=(\d+)")
MODEL_FAULTS = re.compile(r"^sim: stats (nvme\d+): .* faults=(\d+),(\d+),(\d+),(\d+),(\d+),(\d+) ")
SITES = ("cmd_timeout", "cqe_duplicate", "cqe_wrong_cid", "cfs", "media_error", "slow")
NEVER_READY = re.compile(r"^nvme: nvme0: CSTS\.RDY after CC\.EN=1: not within \d+ ms \(CAP\.TO\)")
NOT_STARTED = re.compile(r"^nvme: nvme0: 0000:00:03\.0 not started \(-\d+\): skipped")
NS_SKIPPED = re.compile(r"^nvme: nvme0: namespace (\d+) skipped: (.*)$")
# -------------------------------------------------------------------------------------

REC_CASE = "nvme.nvme_io_survives_recovery"
KT_REC = f"ktest={REC_CASE}"
SEED_BUDGET = 24          # seeds tried when a test needs a site to fire a given number of times


def sites(**probs: float) -> list[str]:
    return [a for k, p in probs.items() for a in ("--fault-sites", f"nvme.{k}={p}")]


def model_faults(r, dev: str = "nvme0") -> dict[str, int]:
    for ln in r.lines:
        m = MODEL_FAULTS.match(ln)
        if m and m.group(1) == dev:
            return dict(zip(SITES, map(int, m.groups()[1:])))
    raise AssertionError(f"no 'sim: stats {dev}:' line")


def driver_stats(r, dev: str = "nvme0") -> dict[str, int]:
    keys = ("submitted", "completed", "in_flight", "dropped", "resubmitted", "resets", "aborts", "races")
    for ln in r.lines:
        m = STATS.match(ln)
        if m and m.group(1) == dev:
            return dict(zip(keys, map(int, m.groups()[1:])))
    raise AssertionError(f"no 'nvme: {dev}: stats:' line")


def io_line(r, dev: str = "nvme0n1"):
    res, errors = parse_io_lines(r.lines)
    assert not errors, errors
    got = [x for x in res if x.dev == dev]
    assert len(got) == 1, f"doppel-io lines for {dev}: {[x.line for x in res]}"
    return got[0]


def no_panic(r):
    assert not r.crashed, r.status_text
    assert r.status in (0, 1), r.status_text
    assert not r.grep("KERNEL PANIC")


def search(sim, want, extra, words, cpus=1):
    """The first of SEED_BUDGET seeds whose run satisfies want(r)."""
    tried = []
    for seed in range(1, SEED_BUDGET + 1):
        r = sim(cpus=cpus, seed=seed, extra_args=extra).run(words)
        if want(r):
            return r
        tried.append((seed, model_faults(r)))
    raise AssertionError(f"no seed of 1..{SEED_BUDGET} gave the wanted firing: {tried}")


# ---- nvme.cmd_timeout ---------------------------------------------------------------

def test_nvme_lost_command_is_aborted_resubmitted_and_completes(sim):
    r = sim(cpus=2, extra_args=sites(cmd_timeout=0.0005)).run(
        "io=verify io.seconds=1 nvme.timeout_ms=300")
    no_panic(r)
    fired = model_faults(r)["cmd_timeout"]
    assert fired >= 1, "nvme.cmd_timeout never fired"
    assert len(r.grep(ABORT)) >= fired, r.grep(ABORT)
    assert len(r.grep(ABORT_RETRY)) >= 1
    assert not r.grep(FAILED_ANY)
    io = io_line(r)
    assert io.errors == 0 and io.mismatches == 0, io.line
    assert r.status == 0, r.status_text
    st = driver_stats(r)
    assert st["submitted"] == st["completed"] and st["in_flight"] == 0, st


def test_nvme_lost_command_with_lost_abort_resets_and_resubmits(sim):
    r = sim(cpus=2, extra_args=sites(cmd_timeout=0.0005) + ["--fault-sites", "nvme.drv.abort_lost=1"]).run(
        "io=verify io.seconds=1 nvme.timeout_ms=300")
    no_panic(r)
    assert model_faults(r)["cmd_timeout"] >= 1
    assert r.grep(ABORT_LOST)
    assert r.grep(RESET_AFTER_ABORT)
    done = [int(m.group(1)) for m in map(RESET_DONE.match, r.lines) if m]
    assert done and max(done) >= 1, done
    assert not r.grep(FAILED_ANY)
    io = io_line(r)
    assert io.errors == 0 and io.mismatches == 0, io.line
    assert r.status == 0, r.status_text


def test_nvme_command_lost_again_after_resubmission_fails_the_device(sim):
    r = sim(cpus=2, extra_args=sites(cmd_timeout=1)).run("io=verify io.seconds=1 nvme.timeout_ms=100")
    no_panic(r)
    assert r.grep(ABORT_RETRY)
    assert r.grep(FAILED_AGAIN), r.grep("nvme:")
    assert r.grep(NODEV_LATER)
    assert r.grep(NODEV)
    io = io_line(r)
    assert io.errors > 0 and io.mismatches == 0, io.line
    assert r.status == 1, r.status_text        # the io run key reports FAIL; boot went on


# ---- nvme.cqe_duplicate, nvme.cqe_wrong_cid ------------------------------------------

def test_nvme_duplicate_completions_are_dropped(sim):
    r = sim(cpus=4, extra_args=sites(cqe_duplicate=0.01)).run("io=verify io.seconds=1")
    no_panic(r)
    fired = model_faults(r)["cqe_duplicate"]
    assert fired >= 1
    assert r.grep(DROPPED_DUP)
    assert not r.grep(TWICE)
    io = io_line(r)
    assert io.errors == 0 and io.mismatches == 0, io.line
    st = driver_stats(r)
    assert st["dropped"] == fired, (st, fired)
    assert st["submitted"] == st["completed"] and st["in_flight"] == 0, st
    assert r.status == 0, r.status_text


def test_nvme_wrong_cid_completions_are_dropped_and_the_command_recovered(sim):
    # A timeout well above what a loaded 2-core host takes for one command: only the
    # completions the model misdirected may go overdue, not a slow resubmission.
    r = sim(cpus=2, extra_args=sites(cqe_wrong_cid=0.0005)).run("io=verify io.seconds=1 nvme.timeout_ms=1500")
    no_panic(r)
    fired = model_faults(r)["cqe_wrong_cid"]
    assert fired >= 1
    assert r.grep(DROPPED_UNKNOWN)
    assert not r.grep(TWICE)
    # the command's own completion never came: Abort finds nothing, reset, resubmitted
    assert r.grep(RESET_AFTER_ABORT)
    assert not r.grep(FAILED_ANY)
    io = io_line(r)
    assert io.errors == 0 and io.mismatches == 0, io.line
    st = driver_stats(r)
    assert st["dropped"] == fired, (st, fired)
    assert st["submitted"] == st["completed"] and st["in_flight"] == 0, st
    assert r.status == 0, r.status_text


# ---- nvme.cfs --------------------------------------------------------------------------

def test_nvme_fatal_status_during_io_resets_once_and_io_resumes(sim):
    r = search(sim, lambda r: model_faults(r)["cfs"] == 1, sites(cfs=0.01), f"{KT_REC} nvme.timeout_ms=100")
    no_panic(r)
    assert len(r.grep(RESET_CFS)) == 1
    assert [m for m in map(RESET_DONE.match, r.lines) if m]
    assert not r.grep(FAILED_ANY)
    assert_ktap_passed(r, must_run=[REC_CASE])
    assert r.status == 0, r.status_text


def test_nvme_fatal_status_again_after_the_reset_fails_the_device(sim):
    r = search(sim, lambda r: model_faults(r)["cfs"] >= 2, sites(cfs=0.01), f"{KT_REC} nvme.timeout_ms=100")
    no_panic(r)
    assert len(r.grep(RESET_CFS)) == 1
    assert r.grep(FAILED_CFS)
    assert r.grep(NODEV_LATER)
    case = r.ktap.find(REC_CASE)
    assert case is not None and case.status is Status.FAIL, case
    assert r.status == 1, r.status_text        # a failed case; boot went on to the end
    assert driver_stats(r)["in_flight"] == 0


# ---- nvme.media_error, nvme.slow ---------------------------------------------------------

def test_nvme_media_error_fails_the_request_with_the_device_status(sim):
    r = sim(cpus=2, extra_args=sites(media_error=0.002)).run("io=verify io.seconds=1 io.mix=randread")
    no_panic(r)
    fired = model_faults(r)["media_error"]
    assert fired >= 1
    errs = [m for m in map(MEDIA.match, r.lines) if m]
    assert errs, r.grep(IO_ERROR)
    assert all(m.group(3) == "281" for m in errs), [m.group(0) for m in errs]
    assert any(m.group(1) == "read" for m in errs), [m.group(0) for m in errs]
    io = io_line(r)
    assert io.errors == fired and io.mismatches == 0, (io.line, fired)
    assert not r.grep(FAILED_ANY) and not r.grep("reset:")
    assert r.status == 1, r.status_text        # the workload reports the errors: FAIL


def test_nvme_slow_completions_are_late_but_no_timeout(sim):
    r = sim(cpus=2, extra_args=sites(slow=0.05)).run("io=verify io.seconds=1 nvme.timeout_ms=2000")
    no_panic(r)
    assert model_faults(r)["slow"] >= 10
    assert not r.grep(OVERDUE) and not r.grep(ABORT) and not r.grep("reset:")
    io = io_line(r)
    assert io.errors == 0 and io.mismatches == 0, io.line
    assert r.status == 0, r.status_text


# ---- bring-up: never ready, unusable namespaces ------------------------------------------

def test_nvme_controller_never_ready_is_skipped_and_the_other_works(sim):
    # One draw per enable in probe order: find a seed failing the first, not the second.
    two = ["--nvme", "mem", "--nvme", "mem"]
    words = "io=verify io.dev=all io.seconds=1"
    r = None
    for seed in range(1, SEED_BUDGET + 1):
        r = sim(cpus=2, seed=seed, extra_args=two + ["--fault-sites", "nvme.never_ready=0.5"]).run(words)
        if any(NOT_STARTED.match(ln) for ln in r.lines) and r.grep("0000:00:05.0 model"):
            break
    else:
        raise AssertionError("no seed failed only the first controller")
    no_panic(r)
    assert any(NEVER_READY.match(ln) for ln in r.lines), r.grep("nvme:")
    io = io_line(r, "nvme0n1")           # the second controller took the free name
    assert io.errors == 0 and io.mismatches == 0 and io.writes > 0, io.line
    assert r.status == 0, r.status_text


def test_nvme_unusable_namespaces_are_skipped_and_named(sim):
    def mixed(r):
        skipped = {int(m.group(1)) for m in map(NS_SKIPPED.match, r.lines) if m}
        return 0 < len(skipped) < 3
    r = search(sim, mixed, ["--nvme", "mem,ns=3"] + sites(ns_size0=0.3, ns_bad_lbaf=0.3),
               "io=verify io.dev=all io.seconds=1", cpus=2)
    no_panic(r)
    skipped = {int(m.group(1)): m.group(2) for m in map(NS_SKIPPED.match, r.lines) if m}
    for nsid, why in skipped.items():
        assert why in ("NSZE is 0 (inactive namespace)", "LBA format with metadata"), why
        assert not r.grep(f"blk: nvme0n{nsid} ")
    res, _ = parse_io_lines(r.lines)
    assert {x.dev for x in res if x.dev.startswith("nvme")} == {f"nvme0n{n}" for n in (1, 2, 3) if n not in skipped}
    assert all(x.errors == 0 and x.mismatches == 0 for x in res), [x.line for x in res]
    assert r.status == 0, r.status_text
