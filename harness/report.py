# report.py — what a person needs when a run failed: an excerpt of the console (the
# lines around the first crash marker and the last lines), the KTAP failures with
# their diagnostics, and the one command that reproduces it (pytest) plus the exact
# target command and seed. Used by the pytest plugin and by scripts/run.
from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
from typing import Iterable, Optional, Sequence

from harness.ktap import KtapResult, KtapTest, Status
from harness.paths import REPO_ROOT, rel
from harness.targets.base import CRASH_MARKERS, RunResult

PYTHON = "/usr/bin/python3"
TAIL_LINES = 40
CONTEXT_LINES = 6


def _is_noise_for_markers(line: str) -> bool:
    # Lines that merely echo the command line (which may say "selftest.panic").
    return line.startswith(("doppel-info:", "sim: replay:", "sim: cmdline"))


def first_crash_line(lines: Sequence[str]) -> Optional[int]:
    """Index of the first line that looks like a panic, exception or sanitizer report."""
    for i, ln in enumerate(lines):
        if not _is_noise_for_markers(ln) and CRASH_MARKERS.search(ln):
            return i
    return None


def _numbered(lines: Sequence[str], start: int) -> list[str]:
    width = len(str(start + len(lines)))
    return [f"{i:>{width}}| {ln}" for i, ln in enumerate(lines, start + 1)]


def console_excerpt(res: RunResult, tail: int = TAIL_LINES, context: int = CONTEXT_LINES) -> str:
    lines = res.lines
    out = [f"{res.label}: kernel status {res.status_text}, exit code {res.exit_code}, "
           f"{res.duration:.1f} s" + (", TIMED OUT" if res.timed_out else ""),
           f"console log: {rel(res.console_log)} ({len(lines)} lines)"]
    if res.sanitizer_errors:
        out.append("sanitizer errors: " + "; ".join(res.sanitizer_errors[:3]))
    if res.lockdep_problems:
        out.append("lockdep: " + "; ".join(res.lockdep_problems[:3]))
    start_tail = max(0, len(lines) - tail)
    crash = first_crash_line(lines)
    if crash is not None and crash < start_tail:
        lo, hi = max(0, crash - context), min(len(lines), crash + context + 1)
        out.append(f"--- around the first crash marker (line {crash + 1}) ---")
        out += _numbered(lines[lo:hi], lo)
    out.append(f"--- last {len(lines) - start_tail} lines ---")
    out += _numbered(lines[start_tail:], start_tail)
    return "\n".join(out)


_SYMBOLIZE = re.compile(r"addr2line -f -e (\S+) ((?:0x[0-9a-f]+ ?)+)")


def symbolized_backtrace(lines: Sequence[str]) -> str:
    """The image prints its backtrace as addresses plus the addr2line command that
    resolves them (against the debug ELF); run it, so the report shows functions
    and source lines. Empty when there is nothing to resolve or no addr2line."""
    addr2line = shutil.which("addr2line")
    for ln in lines:
        m = _SYMBOLIZE.search(ln)
        if not m or not addr2line:
            continue
        elf = REPO_ROOT / m.group(1)
        if not elf.exists():
            return f"(cannot symbolize: {m.group(1)} does not exist)"
        # Return addresses point after the call (past the end of the function when
        # the callee does not return): look up addr-1, the call itself. A CPU
        # exception report starts with the faulting RIP, which is exact.
        addrs = [int(a, 16) for a in m.group(2).split()]
        exact = 1 if ln.startswith("trap:") else 0
        addrs = addrs[:exact] + [a - 1 for a in addrs[exact:]]
        try:
            out = subprocess.run([addr2line, "-f", "-p", "-i", "-e", str(elf), *map(hex, addrs)],
                                 capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"(addr2line failed: {e})"
        return "\n".join("  " + x.replace(str(REPO_ROOT) + "/", "") for x in out.splitlines())
    return ""


def ktap_failures(k: KtapResult, limit: int = 30) -> str:
    """Failed and crashed cases, each with its diagnostics; for the first crashed
    case, the console lines from the crash marker that followed its last result."""
    out = []
    fails = k.failures()
    shown_crash = False
    for path, t in fails[:limit]:
        out.append(f"  {path}: {t.status.value.upper()}")
        out += [f"      # {d}" for d in t.diagnostics]
        if t.status is Status.CRASHED and not shown_crash:
            at = first_crash_line(t.log)
            if at is not None:
                out += [f"      | {ln}" for ln in t.log[at:at + 8]]
                shown_crash = True
    if len(fails) > limit:
        out.append(f"  ... and {len(fails) - limit} more")
    return "\n".join(out)


def pytest_command(nodeid: str, options: Sequence[str] = ()) -> str:
    """The one command (from the repository root) that reruns this test."""
    return shlex.join([PYTHON, "-m", "pytest", nodeid, *options])


def reproduce_text(runs: Sequence[RunResult], nodeid: Optional[str] = None,
                   options: Sequence[str] = ()) -> str:
    out = []
    if nodeid:
        out += ["rerun this test (from the repository root):", "  " + pytest_command(nodeid, options)]
    for i, r in enumerate(runs, 1):
        head = f"run {i} of {len(runs)}" if len(runs) > 1 else "the run"
        seed = f", seed {r.seed}" if r.seed is not None else ""
        out.append(f"{head} ({r.label}{seed}), exact command:")
        out.append("  " + r.command_str)
        if r.replay and r.replay != r.command_str:
            out.append("  sim's own replay line: " + r.replay)
        out.append(f"  artifacts: {rel(r.artifact_dir)}")
    return "\n".join(out)


def failure_sections(runs: Sequence[RunResult], nodeid: Optional[str] = None,
                     options: Sequence[str] = ()) -> list[tuple[str, str]]:
    """Report sections for a failed test: the console excerpt of the run that went
    wrong (else the last run) and how to reproduce it."""
    if not runs:
        return []
    bad = [r for r in runs if r.crashed or r.status not in (0, None) or r.sanitizer_errors
           or r.ktap.status in (Status.FAIL, Status.CRASHED)]
    shown = bad[0] if bad else runs[-1]
    excerpt = console_excerpt(shown)
    fails = ktap_failures(shown.ktap)
    if fails:
        excerpt += "\n--- KTAP failures ---\n" + fails
    bt = symbolized_backtrace(shown.lines)
    if bt:
        excerpt += "\n--- backtrace, symbolized ---\n" + bt
    return [("console excerpt", excerpt), ("reproduce", reproduce_text(runs, nodeid, options))]


def _case_paths(k: KtapResult) -> list[tuple[str, KtapTest]]:
    """Every reported case (a leaf below a suite) as (dotted path, test)."""
    return [(".".join(path), t) for path, t in k.root.walk() if len(path) >= 2 and not t.children]


def must_run_problems(k: KtapResult, must_run: Iterable[str]) -> list[str]:
    """What is wrong with the must-run cases: each entry ("suite.case", or a glob
    such as "acpi.*") must name at least one reported case, and every case it names
    must have passed: a skipped case is reported with its skip reason, a case that
    never reported a result as missing. Cases not named may skip."""
    if isinstance(must_run, str):
        raise TypeError("must_run takes a list of cases, not one string")
    patterns = list(must_run)
    if not patterns:
        raise ValueError("must_run is empty: name the cases that must run in this configuration")
    cases = _case_paths(k)
    problems = []
    for pat in patterns:
        hits = [(p, t) for p, t in cases if fnmatch.fnmatchcase(p, pat)]
        if not hits:
            problems.append(f"  {pat}: must run, but no such case reported a result")
        for p, t in hits:
            if t.status is Status.SKIP:
                problems.append(f"  {p}: must run, but SKIPPED: {t.reason or '(no reason given)'}")
            elif t.status is Status.NO_TESTS:
                problems.append(f"  {p}: must run, but gave no result")
            elif t.status is not Status.PASS or t.todo:
                problems.append(f"  {p}: must run and pass, but {t.status.value.upper()}")
    return problems


def assert_ktap_passed(res: RunResult, *, must_run: Iterable[str],
                       allow_parse_errors: bool = False) -> None:
    """Raise AssertionError unless the run's KTAP shows at least one test, no failed
    or crashed case, and every case named by `must_run` passed (not skipped): the
    list of cases ("suite.case" or globs like "acpi.*") that must run in the test's
    configuration. It is required: a skip counts as a pass only for cases the test
    leaves out, each with a comment why. The message lists each failure with its
    diagnostics and each must-run case that skipped with its reason."""
    k = res.ktap
    problems = []
    if k.status is Status.NO_TESTS:
        problems.append("no KTAP results (did ktest= select any suite?)")
    fails = ktap_failures(k)
    if fails:
        problems.append(f"KTAP {k.status.value}: {k.counts()}\n{fails}")
    if res.status == 1 and not fails and k.status is not Status.NO_TESTS:
        # e.g. a ktest= glob that selected nothing beside others that passed
        said = [ln for ln in res.lines if ln.startswith("ktest:")][:3]
        problems.append("kernel status 1 (test failed) though no KTAP case failed"
                        + "".join(f"\n  {ln}" for ln in said))
    missing = must_run_problems(k, must_run)
    if missing:
        problems.append("must-run cases that did not pass:\n" + "\n".join(missing))
    if k.errors and not allow_parse_errors and k.status is not Status.CRASHED:
        problems.append("malformed KTAP:\n" + "\n".join(f"  {e}" for e in k.errors[:10]))
    if problems:
        raise AssertionError(f"{res.label} (kernel status {res.status_text}):\n" + "\n".join(problems))
