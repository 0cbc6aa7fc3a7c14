# test_sim_gdb.py — the debugging recipe of docs/debugging.md ("Stepping through the
# NVMe submit path") works as written: gdb stops doppel-sim (sim-plain build) in the
# NVMe driver's submit function with the block layer and the I/O workload below it
# on the stack, and `info threads` names the simulated CPUs.
from __future__ import annotations

import shutil
import subprocess

import pytest

from harness.paths import BUILD_DIR

pytestmark = pytest.mark.sim

SIM_PLAIN = BUILD_DIR / "sim-plain" / "doppel-sim"


def test_gdb_stops_in_nvme_submit_path():
    assert shutil.which("gdb"), "gdb is missing: apt-get install gdb (scripts/deps installs it)"
    assert SIM_PLAIN.exists(), f"{SIM_PLAIN} is missing: cmake --preset sim-plain && cmake --build --preset sim-plain"
    # The same command docs/debugging.md shows, in batch mode.
    cmd = ["gdb", "-q", "-nx", "-batch", "-ex", "break ns_submit", "-ex", "run", "-ex", "bt",
           "-ex", "info threads", "-ex", "kill",
           "--args", str(SIM_PLAIN), "--cpus", "2", "--seed", "1",
           "io=verify", "io.dev=nvme0n1", "io.seconds=1"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    text = out.stdout + out.stderr
    frames = [ln for ln in text.splitlines() if ln.startswith("#")]
    assert frames and frames[0].startswith("#0  ns_submit"), text[-3000:]
    # Any CPU may get there first: the BSP (under io_run_key) or an AP (its idle
    # loop); both run the workload's per-CPU entry.
    for caller in ("blk_submit", "cpu_entry"):
        assert any(f" {caller} (" in ln for ln in frames), f"{caller} not on the stack:\n" + "\n".join(frames)
    threads = [ln for ln in text.splitlines() if " Thread 0x" in ln]
    assert any('"cpu0"' in ln for ln in threads) and any('"cpu1"' in ln for ln in threads), "\n".join(threads)
