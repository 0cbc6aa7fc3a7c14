# test_sched.py — HAL contexts and the scheduler on the image under QEMU q35
# (docs/sched.md): the `ctx` and `sched` suites at -smp 1, 4 and 8 on SeaBIOS, and
# one configuration (-smp 4) on OVMF.
from __future__ import annotations

import pytest

from harness.plugin import assert_ktap_passed
from harness.suites import sched_must_run

pytestmark = pytest.mark.qemu

SCHED_SUITES = ("ctx", "sched")
SCHED_WORDS = "sched.rt_period_ms=100"      # four RT periods for the throttling case


@pytest.mark.parametrize("firmware,cpus", [("seabios", 1), ("seabios", 4), ("seabios", 8),
                                           ("ovmf", 4)])
def test_sched_suites_pass(qemu, firmware, cpus):
    r = qemu(firmware=firmware, smp=cpus).run(f"ktest={','.join(SCHED_SUITES)} {SCHED_WORDS}")
    assert not r.timed_out, f"{r.label}: no exit within {r.timeout:g} s"
    assert r.int_fact("smp.online") == cpus, f"{r.label}: smp.online={r.fact('smp.online')}"
    assert_ktap_passed(r, must_run=sched_must_run(SCHED_SUITES, cpus))
    assert r.status == 0, f"{r.label}: kernel status {r.status_text}"
