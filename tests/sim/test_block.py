# test_block.py — the block layer under doppel-sim (docs/block.md): the `block`
# ktest suite (an in-memory device the suite registers) at 1 and 4 CPUs and under
# the deterministic scheduler; the doppel-io line's exact form; the io= run key's
# refusals of bad words and unknown devices.
from __future__ import annotations

import re

import pytest

from harness.explore import explore
from harness.plugin import assert_ktap_passed

pytestmark = pytest.mark.sim

# Every case of the suite runs at any CPU count (none may skip).
BLOCK_CASES = tuple(f"block.{c}" for c in (
    "block_register_checks", "block_split_by_max_blocks", "block_split_by_max_segs",
    "block_split_at_virt_boundary", "block_out_of_range_refused",
    "block_error_carries_dev_status_and_lba", "block_timeout_calls_driver_then_completes",
    "block_duplicate_done_ignored", "block_submit_from_every_cpu",
    "block_flush_discard_write_zeroes_rules", "block_busy_is_retried", "block_rw_sync_roundtrip",
    "block_verify_engine_finds_corruption"))
FAST_BOOT = "time.tsc_khz=2000000 time.lapic_khz=6250"
DET_SEEDS = 40
# docs/protocol.md "The io workload": one line per device at the end of a run.
IO_LINE = re.compile(
    r"^doppel-io: dev=(?P<dev>\S+) seed=\d+ cpus=(?P<cpus>\d+) seconds=\d+ writes=\d+ reads=\d+ "
    r"bytes_written=\d+ bytes_read=\d+ verified=\d+ mismatches=(?P<mm>\d+) errors=(?P<err>\d+) "
    r"iops=\d+ stamped=(?P<stamped>\d+) digest=0x[0-9a-f]+$")
MISMATCH = re.compile(r"^io: MISMATCH dev=\S+ lba=\d+ expected gen=\d+ found=[a-z_]+ gen=\d+$")


@pytest.mark.parametrize("cpus", [1, 4])
def test_block_suite_passes(sim, cpus):
    r = sim(cpus=cpus).run("ktest=block")
    assert r.status == 0, r.status_text
    assert_ktap_passed(r, must_run=BLOCK_CASES)
    ios = [m for m in map(IO_LINE.match, r.lines) if m]
    assert ios, "the verify case printed no doppel-io line"
    assert ios[0]["dev"] == "ktestblk0" and int(ios[0]["cpus"]) == cpus
    assert ios[0]["mm"] == "0" and ios[0]["err"] == "0" and int(ios[0]["stamped"]) > 0
    assert len([ln for ln in r.lines if MISMATCH.match(ln)]) == 1, "the flipped byte must be one MISMATCH line"


@pytest.mark.parametrize("cpus", [2, 4])
def test_block_suite_under_det_seeds(cpus):
    r = explore("block", cpus=cpus, runs=DET_SEEDS, sched="random", words=FAST_BOOT, jobs=2)
    print(r.report())
    assert not r.errors, r.errors
    assert not r.found, f"block failed under det mode:\n{r.report()}\n{r.first.output_tail}"
    assert r.runs_done == DET_SEEDS


@pytest.mark.parametrize("words,says", [
    ("io=verify io.qd=0", "io: io.qd=0: want a number 1..256"),
    ("io=verify io.mix=zigzag", "io: io.mix=zigzag: want randrw, randread, randwrite or seqread"),
    ("io=verify io.bs=5000", "io: io.bs=5000: want a multiple of 512 bytes up to 1m"),
    ("io=verify io.seconds=x", "io: io.seconds=x: want a number"),
    ("io=random", "io: io=random: the only workload is io=verify"),
    ("io=verify io.dev=nvme9n9", "io: io.dev=nvme9n9: no such block device"),
])
def test_io_refuses_bad_words(sim, words, says):
    r = sim(cpus=2).run(words)
    assert r.status == 1, f"{words}: {r.status_text}"
    assert any(says in ln for ln in r.lines), f"{words}: no line saying {says!r}"


def test_io_names_the_devices_there_are(sim):
    r = sim(cpus=1).run("io=verify io.dev=nvme9n9")
    assert r.status == 1
    assert any(ln.startswith("io: the block devices are: ") for ln in r.lines)
