# test_ktap.py — golden-log and property tests for harness/ktap.py, the streaming
# KTAP v1 parser (Linux Documentation/dev-tools/ktap.rst). Each golden/NAME.log has
# a reviewed golden/NAME.expected (ktap.format_tree output); regenerate with
# DOPPEL_UPDATE_GOLDEN=1 after checking the difference by eye.
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from harness import ktap
from harness.ktap import KtapParser, KtapTest, Status

GOLDEN = Path(__file__).parent / "golden"
LOGS = sorted(p.stem for p in GOLDEN.glob("*.log"))


def stream(name: str) -> list[str]:
    """The log split the way the targets split console output: at b'\\n' only."""
    data = (GOLDEN / f"{name}.log").read_bytes()
    return [b.decode("utf-8", errors="replace") for b in data.split(b"\n")]


def parse_golden(name: str) -> ktap.KtapResult:
    p = KtapParser()
    for line in stream(name):   # one line at a time, as the console delivers them
        p.feed(line)
    return p.finish()


@pytest.mark.parametrize("name", LOGS)
def test_golden_log_matches_expected(name):
    got = ktap.format_tree(parse_golden(name))
    exp_path = GOLDEN / f"{name}.expected"
    if os.environ.get("DOPPEL_UPDATE_GOLDEN"):
        exp_path.write_text(got)
    assert got == exp_path.read_text()


def test_golden_set_covers_the_required_cases():
    for needed in ("all_pass", "nested_failure", "skip", "missing_plan", "crash_mid_suite",
                   "truncated", "noise_crlf", "zero_tests"):
        assert needed in LOGS


def test_all_pass():
    r = parse_golden("all_pass")
    assert r.status is Status.PASS and r.passed and not r.errors
    assert r.version == "KTAP version 1"
    assert (r.counts().passed, r.counts().total) == (5, 5)
    assert [t.name for t in r.root.children] == ["acpi", "pmm"]
    assert r.failures() == []


def test_nested_failure_keeps_diagnostics_with_their_case():
    r = parse_golden("nested_failure")
    assert r.status is Status.FAIL and not r.passed
    fails = dict(r.failures())
    assert set(fails) == {"acpi.madt_ioapic", "acpi.tables.madt"}
    assert fails["acpi.madt_ioapic"].diagnostics == [
        "madt_ioapic: expected 1 == 2 at kernel/acpi/acpi_ktest.c:40",
        "madt_ioapic: ioapic count read from MADT entry 5"]
    assert fails["acpi.tables.madt"].diagnostics == ["tables.madt: checksum 0x12 != 0"]
    assert r.find("acpi.madt_cpu_count_matches").diagnostics == []
    assert r.find("pmm").status is Status.PASS


def test_skip_and_todo():
    r = parse_golden("skip")
    assert r.status is Status.PASS
    c = r.counts()
    assert (c.passed, c.skipped, c.todo, c.failed) == (1, 3, 1, 0)
    x2 = r.find("acpi.x2apic_entries")
    assert (x2.status, x2.reason) == (Status.SKIP, "no x2APIC entries in this MADT")
    assert r.find("iommu").status is Status.SKIP
    bug = r.find("todo.known_bug")
    assert bug.todo and bug.status is Status.FAIL and not bug.failed


def test_missing_plan_counts_results():
    r = parse_golden("missing_plan")
    assert r.root.plan is None
    assert r.counts().total == 4
    assert r.status is Status.FAIL
    # the suite said "ok" although a case failed: the case wins, and it is noted
    assert r.find("pmm").status is Status.FAIL
    assert any("reported pass but a case in it failed" in e.message for e in r.errors)


def test_crash_mid_suite_reports_missing_cases_with_the_panic_text():
    r = parse_golden("crash_mid_suite")
    assert r.status is Status.CRASHED and not r.passed
    suite = r.find("selftest")
    assert suite.status is Status.CRASHED
    assert [c.status for c in suite.children] == [Status.PASS, Status.CRASHED, Status.CRASHED]
    first_missing = suite.children[1]
    assert any("KERNEL PANIC" in ln for ln in first_missing.log)
    assert first_missing.diagnostics == ["crash: about to panic (selftest.panic given)"]
    assert r.counts().crashed == 3
    assert any("stream ended inside subtest 'selftest'" in e.message for e in r.errors)


def test_truncated_stream():
    r = parse_golden("truncated")
    assert r.status is Status.CRASHED
    assert r.find("acpi").status is Status.PASS
    pmm = r.find("pmm")
    assert pmm.status is Status.CRASHED and len(pmm.children) == 4
    assert len(r.root.children) == 3 and r.root.children[2].status is Status.CRASHED


def test_console_noise_and_crlf():
    r = parse_golden("noise_crlf")
    assert r.version == "KTAP version 1"   # found despite firmware escape sequences
    assert [t.name for t in r.root.children] == ["smp", "time"]
    assert r.find("smp.ipi_roundtrip").status is Status.FAIL
    assert r.find("time.tsc_monotonic").status is Status.PASS
    assert not any(t.name.endswith("\r") for _, t in r.root.walk())
    # kernel log lines between results are kept with the case they precede
    assert "smp: cpu 1 online (APIC ID 0x1)" in r.find("smp.ap_startup").log
    assert len(r.errors) == 2   # the two "ok"/"not ok" lines without a number


def test_zero_tests_and_no_ktap():
    for name in ("zero_tests", "no_ktap"):
        r = parse_golden(name)
        assert r.status is Status.NO_TESTS and not r.passed
        assert r.counts().total == 0
    assert parse_golden("zero_tests").root.plan == 0
    assert parse_golden("no_ktap").version is None


def test_wrong_numbering_is_an_error_not_an_exception():
    r = parse_golden("numbering")
    msgs = [e.message for e in r.errors]
    assert "expected test number 2, got 3" in msgs
    assert any("not a multiple of 4" in m for m in msgs)


def test_streaming_callback_sees_results_as_they_arrive():
    seen = []
    p = KtapParser(on_result=lambda path, t: seen.append((".".join(path), t.status)))
    lines = stream("nested_failure")
    for i, line in enumerate(lines):
        p.feed(line)
        if line.startswith("    ok 1 madt_cpu_count_matches"):
            assert seen == [("acpi.madt_cpu_count_matches", Status.PASS)]
            assert p.depth == 1
    p.finish()
    assert ("acpi.tables.madt", Status.FAIL) in seen
    assert seen[-1] == ("pmm", Status.PASS)


def test_result_line_parsing_details():
    r = ktap.parse_text("KTAP version 1\n1..3\nok 1 - dash_name\n"
                        "not ok 2 has \\# hash # TODO later\nok 3 x # just a comment\n")
    a, b, c = r.root.children
    assert a.name == "dash_name"
    assert (b.name, b.todo, b.reason) == ("has # hash", True, "later")
    assert c.status is Status.PASS and c.diagnostics == ["just a comment"]


def test_clean_line():
    assert ktap.clean_line("\x1b[0m\x1b[30mok 1 x\r\n") == "ok 1 x"
    assert ktap.clean_line("progress 10%\rok 2 y\r") == "ok 2 y"
    assert ktap.clean_line("\x1bcKTAP version 1") == "KTAP version 1"
    assert ktap.clean_line("\tok 1 z") == "    ok 1 z"


def test_feed_after_finish_is_recorded_not_raised():
    p = KtapParser()
    p.feed("KTAP version 1")
    p.finish()
    p.feed("ok 1 late")
    assert any("after finish" in e.message for e in p.errors)


# ---- property: render(tree) parses back to the same tree --------------------------

_name = st.from_regex(r"[a-z_][a-z0-9_.:\-]{0,12}( [a-z0-9_#]{1,6})?", fullmatch=True)
_diag = st.from_regex(r"[a-zA-Z0-9_=:.()#\- ]{0,20}", fullmatch=True).map(str.strip).filter(
    lambda s: not s.lower().startswith("subtest"))
_reason = st.from_regex(r"[a-z][a-z0-9 ]{0,15}", fullmatch=True).map(str.strip)


@st.composite
def _leaf(draw) -> KtapTest:
    kind = draw(st.sampled_from(["pass", "fail", "skip", "todo"]))
    t = KtapTest(name=draw(_name), diagnostics=draw(st.lists(_diag, max_size=3)))
    if kind == "pass":
        t.status = Status.PASS
    elif kind == "fail":
        t.status = Status.FAIL
    elif kind == "skip":
        t.status, t.directive, t.reason = Status.SKIP, "SKIP", draw(_reason)
    else:
        t.status, t.todo, t.directive, t.reason = Status.FAIL, True, "TODO", draw(_reason)
    return t


def _suite(children_strategy):
    @st.composite
    def build(draw) -> KtapTest:
        children = draw(st.lists(children_strategy, max_size=4))
        t = KtapTest(name=draw(_name), is_subtest=True, children=children,
                     diagnostics=draw(st.lists(_diag, max_size=2)))
        if not children:
            if draw(st.booleans()):
                t.status, t.directive, t.reason = Status.SKIP, "SKIP", draw(_reason)
            else:
                t.status = Status.NO_TESTS
        elif any(c.status is Status.FAIL and not c.todo for c in children) or draw(st.booleans()):
            t.status = Status.FAIL   # a suite may also fail on its own (e.g. in its init)
        else:
            t.status = Status.PASS
        return t
    return build()


_tree = st.recursive(_leaf(), _suite, max_leaves=20)


def _shape(t: KtapTest):
    return (t.name, t.status, t.todo, t.directive, t.reason, tuple(t.diagnostics),
            tuple(_shape(c) for c in t.children))


@settings(max_examples=200, deadline=None)
@given(st.lists(_tree, max_size=5))
def test_rendered_trees_parse_back_to_the_same_tree(tops):
    root = KtapTest(name="", is_subtest=True, children=tops)
    for i, t in enumerate(tops, 1):
        t.number = i
    r = ktap.parse(ktap.render(root))
    assert r.errors == []
    assert [_shape(c) for c in r.root.children] == [_shape(c) for c in tops]
    numbers = [c.number for _, c in r.root.walk()]
    assert all(n and n >= 1 for n in numbers)


@settings(max_examples=100, deadline=None)
@given(st.lists(_tree, min_size=1, max_size=4), st.data())
def test_any_truncation_crashes_instead_of_passing(tops, data):
    """Cutting a stream anywhere before its last result never yields a pass."""
    root = KtapTest(name="", is_subtest=True, children=tops)
    lines = ktap.render(root)
    cut = data.draw(st.integers(min_value=2, max_value=len(lines) - 1))
    r = ktap.parse(lines[:cut])
    assert r.status is Status.CRASHED
