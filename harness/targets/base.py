# base.py — what every target (doppel-sim, QEMU) shares: run the machine as its own
# process group, stream its console to a log file while feeding the KTAP parser and
# collecting "doppel-info:" facts (docs/protocol.md), enforce a watchdog timeout,
# always kill the process group, and return a typed RunResult.
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence, TextIO

from harness import ktap
from harness.paths import Builder

STATUS_NAMES = {0: "pass", 1: "test failed", 2: "panic", 3: "boot error"}

# Lines that mean a sanitizer reported an error (ASan, LSan, UBSan, TSan).
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer")
# Lines worth showing first when a run went wrong.
CRASH_MARKERS = re.compile(r"KERNEL PANIC|\bpanic\b|CPU exception|triple fault|"
                           r"KVM internal error|emulation failure|"
                           r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                           r"ThreadSanitizer|Bail out!", re.IGNORECASE)
_FACT = re.compile(r"^doppel-info: ([A-Za-z0-9_.\-]+)=(.*)$")
# lockdep's problem lines (kernel/lock/lockdep.c): a report ("lockdep: CPU n: ...") or a
# table that filled up or a CPU holding more locks than it tracks, after which locks go
# unchecked. Its other lines (lockdep=..., stats) are not problems.
_LOCKDEP_PROBLEM = re.compile(r"^lockdep: (CPU \d+: |.*table full|CPU \d+ holds more than)")
_QUOTED = re.compile(r'"([^"]*)"')


def lockdep_planted(line: str) -> bool:
    """A lockdep report about locks the ktest suites plant on purpose: every lock it
    names is a "ktest.*" class (kernel/lock/locks_ktest.c)."""
    names = _QUOTED.findall(line)
    return bool(names) and all(n.startswith("ktest.") for n in names)


@dataclass
class RunResult:
    """Everything known about one run of the kernel."""
    target: str                      # "sim" or "qemu"
    label: str                       # human description, e.g. "qemu seabios smp=4 tcg"
    command: list[str]
    artifact_dir: Path
    console_log: Path
    cmdline: str = ""                # kernel command line words the harness passed
    seed: Optional[int] = None
    replay: Optional[str] = None     # the sim's own "sim: replay:" command
    duration: float = 0.0
    exit_code: Optional[int] = None  # of the process; negative: killed by that signal
    status: Optional[int] = None     # decoded kernel status (0..3), None if not reported
    status_note: str = ""            # why status is None, or a disagreement noticed
    timed_out: bool = False
    timeout: float = 0.0
    sanitizer_errors: list[str] = field(default_factory=list)
    lockdep_problems: list[str] = field(default_factory=list)   # not planted by a test
    facts: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)   # the console, cleaned
    ktap: ktap.KtapResult = field(default_factory=lambda: ktap.parse([]))
    # QEMU with end=hold (docs/harness.md): monitor command -> its text output,
    # read over QMP while the kernel held; monitor_error says why one is missing.
    monitor: dict[str, str] = field(default_factory=dict)
    monitor_error: str = ""
    # QEMU with trace events (QemuTarget(trace=...)): the file QEMU wrote them to.
    trace_log: Optional[Path] = None

    @property
    def command_str(self) -> str:
        return shlex.join(self.command)

    @property
    def crashed(self) -> bool:
        """The machine died: timeout, panic, no status, a sanitizer abort, or KTAP
        results missing. A usage error (exit 64) is not a crash."""
        if self.timed_out or self.status == 2 or self.ktap.status is ktap.Status.CRASHED:
            return True
        return self.status is None and self.exit_code != 64

    @property
    def status_text(self) -> str:
        if self.status is None:
            return "none" + (f" ({self.status_note})" if self.status_note else "")
        return f"{self.status} ({STATUS_NAMES.get(self.status, 'unknown')})"

    def fact(self, key: str, default: Optional[str] = None) -> Optional[str]:
        return self.facts.get(key, default)

    def int_fact(self, key: str) -> Optional[int]:
        v = self.facts.get(key)
        if v is None:
            return None
        try:
            return int(v.split()[0], 0)
        except (ValueError, IndexError):
            return None

    def monitor_output(self, command: str) -> str:
        """The text a monitor command printed while the kernel held; raises
        AssertionError saying why when there is none."""
        if command in self.monitor:
            return self.monitor[command]
        why = self.monitor_error or f"'{command}' was not among the monitor commands of this run"
        raise AssertionError(f"{self.label}: no output of monitor command '{command}': {why}")

    def trace_lines(self) -> list[str]:
        """The lines of the QEMU trace file of this run; AssertionError when the run
        had no trace file or QEMU never wrote it."""
        if self.trace_log is None:
            raise AssertionError(f"{self.label}: this run traced no QEMU events")
        if not self.trace_log.exists():
            raise AssertionError(f"{self.label}: QEMU wrote no trace file {self.trace_log}")
        return self.trace_log.read_text(errors="replace").splitlines()

    def grep(self, needle: str) -> list[str]:
        """Console lines containing `needle` (for assertions on kernel log lines)."""
        return [ln for ln in self.lines if needle in ln]

    def summary(self) -> dict:
        c = self.ktap.counts()
        return {
            "target": self.target, "label": self.label, "command": self.command_str,
            "cmdline": self.cmdline, "seed": self.seed, "replay": self.replay,
            "duration_s": round(self.duration, 3), "exit_code": self.exit_code,
            "status": self.status, "status_note": self.status_note,
            "timed_out": self.timed_out, "crashed": self.crashed,
            "sanitizer_errors": self.sanitizer_errors, "facts": self.facts,
            "lockdep_problems": self.lockdep_problems,
            "ktap": {"status": self.ktap.status.value, "passed": c.passed, "failed": c.failed,
                     "skipped": c.skipped, "crashed": c.crashed,
                     "errors": [str(e) for e in self.ktap.errors]},
            "console_log": str(self.console_log),
            **({"monitor": sorted(self.monitor), "monitor_error": self.monitor_error}
               if self.monitor or self.monitor_error else {}),
            **({"trace_log": str(self.trace_log)} if self.trace_log else {}),
        }


RunObserver = Callable[[RunResult], None]


class Target:
    """One way of running the kernel. Subclasses say how to build/locate their
    artifacts (prepare), which command runs a machine (command) and how to read
    its exit code (decode_exit)."""

    kind = "base"
    default_timeout = 60.0

    def __init__(self, artifact_dir: os.PathLike | str, *, timeout: Optional[float] = None,
                 builder: Optional[Builder] = None, observers: Sequence[RunObserver] = (),
                 echo: Optional[TextIO] = None):
        self.artifact_dir = Path(artifact_dir)
        self.timeout = timeout if timeout is not None else self.default_timeout
        self.builder = builder or Builder(build=False)
        self.observers = list(observers)
        self.echo = echo
        self._runs = 0

    # -- to implement --

    def prepare(self) -> None:
        """Build or locate what the run needs; raise a clear error if impossible."""

    def command(self, cmdline: str) -> list[str]:
        raise NotImplementedError

    def decode_exit(self, code: int, facts: dict[str, str]) -> tuple[Optional[int], str]:
        """Kernel status (or None) and a note explaining anything unusual."""
        raise NotImplementedError

    @property
    def label(self) -> str:
        return self.kind

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def seed_for_run(self) -> Optional[int]:
        return None

    def on_line(self, line: str, result: RunResult) -> None:
        """Hook for target-specific console lines (the sim's seed and replay)."""

    def on_finish(self, result: RunResult) -> None:
        """Hook after the machine ended and its status was decoded, before
        result.json is written and observers see the result."""

    def fatal_reason(self, line: str) -> Optional[str]:
        """A reason to stop the run at once when this console line says the machine
        can no longer make progress (e.g. QEMU paused on a KVM internal error)."""
        return None

    # -- the run --

    def _file(self, name: str) -> Path:
        prefix = "" if self._runs == 1 else f"run{self._runs}-"
        return self.artifact_dir / (prefix + name)

    def run(self, cmdline: str | Sequence[str] = "", timeout: Optional[float] = None,
            on_result: Optional[ktap.ResultCallback] = None) -> RunResult:
        """Boot the machine with these kernel command-line words and wait for it to
        end (or for the timeout). Never raises for what the machine did; raises only
        when it cannot start (missing build, bad option to the harness)."""
        words = cmdline if isinstance(cmdline, str) else " ".join(cmdline)
        words = " ".join(words.split())
        timeout = self.timeout if timeout is None else timeout
        self.artifact_dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        self._runs += 1
        cmd = self.command(words)
        res = RunResult(target=self.kind, label=self.label, command=cmd,
                        artifact_dir=self.artifact_dir, console_log=self._file("console.log"),
                        cmdline=words, seed=self.seed_for_run(), timeout=timeout)
        self._file("command.txt").write_text(res.command_str + "\n")
        parser = ktap.KtapParser(on_result)
        timed_out = threading.Event()
        aborted: Optional[str] = None
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env=self.env(), cwd=self.artifact_dir)

        def watchdog() -> None:
            timed_out.set()
            _kill_group(proc)

        timer = threading.Timer(timeout, watchdog)
        timer.daemon = True
        try:
            timer.start()
            with open(res.console_log, "w", encoding="utf-8") as log:
                assert proc.stdout is not None
                while True:
                    raw = proc.stdout.readline(1 << 16)
                    if not raw:
                        break
                    text = raw.decode("utf-8", errors="replace").rstrip("\n")
                    log.write(text + "\n")
                    log.flush()
                    if self.echo:
                        self.echo.write(text + "\n")
                        self.echo.flush()
                    self._scan(text, res)
                    parser.feed(text)
                    if aborted is None:
                        aborted = self.fatal_reason(res.lines[-1])
                        if aborted:
                            _kill_group(proc)
            # Output closed; the process should be on its way out.
            remaining = max(0.1, timeout - (time.monotonic() - t0))
            try:
                proc.wait(remaining)
            except subprocess.TimeoutExpired:
                watchdog()
        finally:
            timer.cancel()
            _kill_group(proc)
            proc.wait()
            if proc.stdout:
                proc.stdout.close()
        res.duration = time.monotonic() - t0
        res.exit_code = proc.returncode
        res.timed_out = timed_out.is_set()
        res.ktap = parser.finish()
        if res.timed_out:
            res.status, res.status_note = None, f"killed after the {timeout:g} s timeout"
        elif aborted:
            res.status, res.status_note = None, f"stopped by the harness: {aborted}"
        else:
            res.status, res.status_note = self.decode_exit(proc.returncode, res.facts)
            if res.status is not None and "exit" in res.facts and res.facts["exit"] != str(res.status):
                res.status_note = (f"exit code says status {res.status} but the kernel printed "
                                   f"exit={res.facts['exit']}")
        self.on_finish(res)
        self._file("result.json").write_text(json.dumps(res.summary(), indent=2) + "\n")
        for obs in self.observers:
            obs(res)
        return res

    def _scan(self, text: str, res: RunResult) -> None:
        line = ktap.clean_line(text)
        res.lines.append(line)
        m = _FACT.match(line)
        if m:
            res.facts.setdefault(m.group(1), m.group(2))
        elif any(mark in line for mark in SANITIZER_MARKERS):
            res.sanitizer_errors.append(line)
        elif _LOCKDEP_PROBLEM.match(line) and not lockdep_planted(line):
            res.lockdep_problems.append(line)
        self.on_line(line, res)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the run's whole process group (started with setsid, so it is its own group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass

