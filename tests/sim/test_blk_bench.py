# test_blk_bench.py — the block benchmark cases (kernel/block/blk_bench.c, docs/bench.md)
# under doppel-sim: the four ahci_* cases exist, run the shared engine and print their
# doppel-bench lines on the device bench.dev= names (here the NVMe model's disk, so the
# test needs no AHCI model); the nvme_* ones still find their own device.
from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.sim

AHCI = ["ahci_randread_4k_qd1_iops", "ahci_randread_4k_qd32_iops",
        "ahci_randwrite_4k_qd32_iops", "ahci_seqread_128k_mbps"]
LINE = re.compile(r"^doppel-bench: (\S+) (\d+) (iops|MB/s)$")


def _figures(r) -> dict[str, tuple[int, str]]:
    return {m.group(1): (int(m.group(2)), m.group(3)) for m in map(LINE.match, r.lines) if m}


def test_ahci_cases_run_on_the_device_bench_dev_names(sim):
    r = sim(cpus=2, extra_args=["--nvme", "mem,size=16M"]).run(
        "bench=ahci_* bench.dev=nvme0n1 bench.seconds=1")
    figs = _figures(r)
    assert r.status == 0, (r.status_text, r.grep("bench:"))
    assert sorted(figs) == sorted(AHCI)
    for name, (value, unit) in figs.items():
        assert value > 0 and unit == ("MB/s" if name.endswith("_mbps") else "iops"), (name, value, unit)


def test_nvme_cases_still_pick_the_first_nvme_device(sim):
    r = sim(cpus=2, extra_args=["--nvme", "mem,size=16M"]).run(
        "bench=nvme_randread_4k_qd1_iops bench.seconds=1")
    assert r.status == 0, (r.status_text, r.grep("bench:"))
    assert list(_figures(r)) == ["nvme_randread_4k_qd1_iops"]
