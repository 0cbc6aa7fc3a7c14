# test_plugin.py — the pytest plugin (harness/plugin.py) run inside pytester with the
# fake machine: failure sections "console excerpt" and "reproduce", artifact folder
# life cycle, option-driven parametrization over firmware and smp.
from __future__ import annotations

import textwrap

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestAssertRewriteWarning")


def _write_tests(pytester, fake_binary):
    pytester.makepyfile(test_fake=textwrap.dedent(f"""
        import pytest
        from harness.plugin import assert_ktap_passed

        FAKE = {str(fake_binary)!r}

        def test_passes(sim):
            r = sim(cpus=2, binary=FAKE).run("ktest=selftest fake=pass")
            assert r.status == 0
            assert_ktap_passed(r, must_run=["selftest.pass_case", "selftest.crash_case"])

        def test_panics(sim):
            r = sim(cpus=2, binary=FAKE).run("ktest=selftest selftest.panic fake=panic")
            assert_ktap_passed(r, must_run=["selftest.pass_case"])

        def test_asan_but_asserts_nothing(sim):
            sim(binary=FAKE).run("fake=asan")

        @pytest.mark.sanitizer_errors_expected
        def test_asan_expected(sim):
            r = sim(binary=FAKE).run("fake=asan")
            assert r.sanitizer_errors

        def test_lockdep_real(sim):
            assert sim(binary=FAKE).run("fake=lockdep").status == 0

        def test_lockdep_full(sim):
            assert sim(binary=FAKE).run("fake=lockdep-full").status == 0

        def test_lockdep_planted(sim):
            assert sim(binary=FAKE).run("fake=lockdep-planted").status == 0

        @pytest.mark.lockdep_reports_expected
        def test_lockdep_expected(sim):
            assert sim(binary=FAKE).run("fake=lockdep").lockdep_problems

        def test_matrix(firmware, smp):
            print("MATRIX", firmware, smp)
    """))


def _run(pytester, *args):
    art = pytester.path / "art"
    return pytester.runpytest("-p", "harness.plugin", "-p", "no:cacheprovider",
                              "--artifacts-dir", str(art), *args), art


def test_failure_report_has_excerpt_and_reproduce_sections(pytester, fake_binary):
    _write_tests(pytester, fake_binary)
    res, art = _run(pytester, "-k", "passes or panics", "--doppel-seed", "99")
    res.assert_outcomes(passed=1, failed=1)
    out = res.stdout.str()
    assert "- console excerpt -" in out and "- reproduce -" in out
    assert "KERNEL PANIC on cpu 0: selftest: panic requested by selftest.panic" in out
    assert "selftest.<missing result 2>: CRASHED" in out
    assert ("/usr/bin/python3 -m pytest test_fake.py::test_panics --doppel-seed 99") in out
    assert "--seed 99" in out          # the exact target command with its seed
    # the failed test keeps its artifacts, the passing one does not
    assert (art / "test_fake.py__test_panics" / "console.log").exists()
    assert not (art / "test_fake.py__test_passes").exists()


def test_sanitizer_report_fails_a_test_that_asserted_nothing(pytester, fake_binary):
    _write_tests(pytester, fake_binary)
    res, _ = _run(pytester, "-k", "asan")
    res.assert_outcomes(passed=1, failed=1)
    out = res.stdout.str()
    assert "sanitizer errors in the console" in out and "heap-buffer-overflow" in out
    assert "FAILED test_fake.py::test_asan_but_asserts_nothing" in out


def test_lockdep_report_fails_a_test_unless_planted_or_expected(pytester, fake_binary):
    _write_tests(pytester, fake_binary)
    res, _ = _run(pytester, "-k", "lockdep")
    res.assert_outcomes(passed=2, failed=2)
    out = res.stdout.str()
    assert "lockdep reported a problem" in out and '"blk_dev" taken at' in out
    assert "FAILED test_fake.py::test_lockdep_real" in out
    assert "FAILED test_fake.py::test_lockdep_full" in out and "class table full" in out


def test_keep_artifacts_keeps_passing_runs(pytester, fake_binary):
    _write_tests(pytester, fake_binary)
    res, art = _run(pytester, "-k", "passes", "--keep-artifacts")
    res.assert_outcomes(passed=1)
    assert (art / "test_fake.py__test_passes" / "result.json").exists()


def test_firmware_and_smp_matrix(pytester, fake_binary):
    _write_tests(pytester, fake_binary)
    res, _ = _run(pytester, "-k", "matrix", "--collect-only", "-q")
    ids = [ln for ln in res.stdout.lines if "test_matrix[" in ln]
    assert len(ids) == 4 and any("ovmf-4" in i for i in ids) and any("seabios-1" in i for i in ids)
    res, _ = _run(pytester, "-k", "matrix", "--collect-only", "-q", "--firmware", "ovmf", "--smp", "2")
    ids = [ln for ln in res.stdout.lines if "test_matrix[" in ln]
    assert ids == ["test_fake.py::test_matrix[ovmf-2]"]


def test_bad_option_values_are_usage_errors(pytester, fake_binary):
    _write_tests(pytester, fake_binary)
    res, _ = _run(pytester, "--doppel-seed", "banana")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert "--doppel-seed: 'banana' is not a number or 'random'" in res.stderr.str()
