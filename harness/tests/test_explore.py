# test_explore.py — harness/explore.py against a fake deterministic simulator: it
# finds and reports the failing seed with its replay command, stops early, counts
# runs, computes the PCT bound, and reports a simulator that died.
from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.explore import explore

FAKE = Path(__file__).resolve().parent / "fake_det_sim.py"


def test_finds_the_failing_seed_and_stops_early():
    r = explore("racy", cpus=2, runs=5000, sched="pct:2", base_seed=1, jobs=2, batch=50,
                binary=FAKE, words="fake.fail_seed=120")
    assert r.found and r.first.seed == 120 and r.first.status == 1
    assert "--seed 120 --replay" in r.first.replay
    assert r.runs_done < 1000, "the search went on long after the first failure"
    assert "first failing seed 120" in r.report()


def test_all_runs_counted_and_pct_bound_when_nothing_fails():
    r = explore("ipi", cpus=4, runs=300, sched="pct:3", jobs=2, batch=40, binary=FAKE,
                words="fake.choices=50")
    assert not r.found and r.runs_done == 300 and r.choices_max == 50
    p, miss = r.pct_bound()
    assert p == pytest.approx(1 / (4 * 50 ** 2))
    assert miss == pytest.approx((1 - p) ** 300)
    line = r.guarantee_line()
    assert "n=4" in line and "k<=50" in line and "300 runs" in line and "depth-3" in line


def test_random_walk_has_no_pct_bound():
    r = explore("ipi", cpus=2, runs=10, sched="random", jobs=1, binary=FAKE)
    assert r.pct_bound() is None and "no PCT bound" in r.guarantee_line()


def test_dead_simulator_is_reported_not_ignored():
    r = explore("ipi", cpus=2, runs=10, jobs=1, binary=FAKE, words="fake.nosummary")
    assert r.runs_done == 0 and r.errors and "no summary line" in r.errors[0]


@pytest.mark.parametrize("kw", [dict(sched="pct:0"), dict(sched="dfs"), dict(runs=0)])
def test_bad_arguments_are_refused(kw):
    with pytest.raises(ValueError):
        explore("ipi", binary=FAKE, **{"cpus": 2, "runs": 10, **kw})
