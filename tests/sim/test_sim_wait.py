# test_sim_wait.py — the blocking primitives on doppel-sim (docs/sched.md,
# "Blocking"): the `wait` suite (wait queues, completions, semaphores, the mutex)
# at 1, 4 and 64 CPUs under ASan+UBSan (the sim preset).
from __future__ import annotations

import pytest

from harness.plugin import assert_ktap_passed
from harness.suites import wait_must_run

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("cpus", [1, 4, 64])
def test_wait_suite_passes(sim, cpus):
    r = sim(cpus=cpus).run("ktest=wait")
    assert r.int_fact("smp.online") == cpus, f"{r.label}: smp.online={r.fact('smp.online')}"
    assert_ktap_passed(r, must_run=wait_must_run(cpus))
    assert r.status == 0, f"{r.label}: kernel status {r.status_text}"
