# test_locks.py — the `locks` ktest suite on the image under QEMU q35 -smp 4
# (docs/locks.md): MCS mutual exclusion and FIFO handoff on real (TCG) CPUs, and
# lock-order checking, which the image leaves off unless booted with lockdep=1.
from __future__ import annotations

import pytest

from harness.plugin import assert_ktap_passed
from harness.suites import locks_must_run

pytestmark = pytest.mark.qemu

LOCKS_SMP = 4


def test_locks_suite_with_lockdep_on(qemu):
    r = qemu(smp=LOCKS_SMP).run(f"ktest=locks lockdep=1 expect.cpus={LOCKS_SMP}")
    assert not r.timed_out, f"{r.label}: no exit within {r.timeout:g} s"
    assert r.fact("lockdep") == "1"
    assert r.status == 0, f"{r.label}: kernel status {r.status_text}"
    assert_ktap_passed(r, must_run=locks_must_run(LOCKS_SMP))
    # inversion, three-lock cycle, irq usage, recursion: one line each
    assert len([ln for ln in r.lines if ln.startswith("lockdep: CPU ")]) == 4, r.grep("lockdep:")
    assert r.fact("lockdep.inversion") == "ktest.inv_b ktest.inv_a"
    # priority inheritance: the ABBA pair refused with one report
    assert [ln.strip() for ln in r.lines if ln.strip().startswith("mutex deadlock:")] == [
        "mutex deadlock: thread pi-abba-b holds pi.abba_2 and waits for pi.abba_1, "
        "held by thread pi-abba-a, which waits for pi.abba_2"], r.grep("mutex")


def test_image_leaves_lockdep_off_by_default(qemu):
    r = qemu(smp=LOCKS_SMP).run(f"ktest=locks.mcs_mutual_exclusion expect.cpus={LOCKS_SMP}")
    assert r.fact("lockdep") == "0"
    assert r.status == 0, f"{r.label}: kernel status {r.status_text}"
    assert_ktap_passed(r, must_run=["locks.mcs_mutual_exclusion"])
