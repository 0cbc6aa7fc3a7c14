# test_wait.py — the blocking primitives on the image under QEMU q35 (docs/sched.md,
# "Blocking"): the `wait` suite at -smp 1 and 4 on SeaBIOS.
from __future__ import annotations

import pytest

from harness.plugin import assert_ktap_passed
from harness.suites import wait_must_run

pytestmark = pytest.mark.qemu


@pytest.mark.parametrize("cpus", [1, 4])
def test_wait_suite_passes(qemu, cpus):
    r = qemu(firmware="seabios", smp=cpus).run("ktest=wait")
    assert not r.timed_out, f"{r.label}: no exit within {r.timeout:g} s"
    assert r.int_fact("smp.online") == cpus, f"{r.label}: smp.online={r.fact('smp.online')}"
    assert_ktap_passed(r, must_run=wait_must_run(cpus))
    assert r.status == 0, f"{r.label}: kernel status {r.status_text}"
