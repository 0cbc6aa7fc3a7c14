# test_gdb.py — the QEMU half of docs/debugging.md's NVMe recipe: scripts/gdb with an
# NVMe disk and VT-d stops the image in the NVMe driver's submit function with the
# block layer below it on the stack (its batch self-check), and the self-check fails
# when asked for a caller that is not there (so it can tell).
from __future__ import annotations

import subprocess
import sys

import pytest

from harness.paths import REPO_ROOT

pytestmark = pytest.mark.qemu

WORDS = ["--", "io=verify", "io.dev=nvme0n1", "io.seconds=1"]


def _gdb(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(REPO_ROOT / "scripts" / "gdb"), "--no-build", "--batch-check",
           "--nvme", "--iommu", *args, *WORDS]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=400)


def test_gdb_stops_in_nvme_submit_path():
    r = _gdb("--break", "ns_submit", "--expect", "blk_submit")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "self-check OK" in r.stdout and "stopped at ns_submit" in r.stdout


def test_gdb_self_check_fails_for_a_caller_not_on_the_stack():
    r = _gdb("--break", "ns_submit", "--expect", "acpi_boot_init")
    assert r.returncode == 1, r.stdout[-3000:]
    assert "self-check FAILED" in r.stdout
