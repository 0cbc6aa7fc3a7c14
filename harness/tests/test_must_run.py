# test_must_run.py — assert_ktap_passed's must-run list (docs/harness.md, "Cases that
# must run"): a skipped must-run case fails the test with its skip reason, a must-run
# case that never reported fails it, a skip outside the list does not, and a caller
# that names no list is an error rather than a silent pass.
from __future__ import annotations

import pytest

from harness import report
from harness.ktap import Status
from harness.targets.sim import SimTarget


def run_fake(tmp_path, fake_binary, scenario):
    t = SimTarget(tmp_path / "art", binary=fake_binary, cpus=4, seed=1234)
    return t.run(f"ktest=selftest fake={scenario}")


def test_skipped_must_run_case_fails_with_its_reason(tmp_path, fake_binary):
    r = run_fake(tmp_path, fake_binary, "skip")
    assert r.status == 0 and r.ktap.status is Status.PASS     # KTAP itself says "ok"
    with pytest.raises(AssertionError) as e:
        report.assert_ktap_passed(r, must_run=["selftest.pass_case", "selftest.crash_case"])
    msg = str(e.value)
    assert "selftest.crash_case: must run, but SKIPPED: add selftest.panic to crash on purpose" in msg
    assert "pass_case" not in msg


def test_glob_in_must_run_covers_the_skipped_case(tmp_path, fake_binary):
    r = run_fake(tmp_path, fake_binary, "skip")
    with pytest.raises(AssertionError, match="selftest.crash_case: must run, but SKIPPED"):
        report.assert_ktap_passed(r, must_run=["selftest.*"])


def test_skip_outside_the_list_is_allowed(tmp_path, fake_binary):
    r = run_fake(tmp_path, fake_binary, "skip")
    report.assert_ktap_passed(r, must_run=["selftest.pass_case", "other.fine"])


def test_must_run_case_that_never_reported_fails(tmp_path, fake_binary):
    r = run_fake(tmp_path, fake_binary, "pass")
    with pytest.raises(AssertionError, match="selftest.renamed_case: must run, but no such case"):
        report.assert_ktap_passed(r, must_run=["selftest.pass_case", "selftest.renamed_case"])


def test_caller_must_name_the_cases(tmp_path, fake_binary):
    r = run_fake(tmp_path, fake_binary, "pass")
    with pytest.raises(TypeError):
        report.assert_ktap_passed(r)                      # no list: an error, not a pass
    with pytest.raises(ValueError, match="must_run is empty"):
        report.assert_ktap_passed(r, must_run=[])
    with pytest.raises(TypeError, match="not one string"):
        report.assert_ktap_passed(r, must_run="selftest.pass_case")
