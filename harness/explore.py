# explore.py — search for interleavings that break a ktest suite, with doppel-sim's
# deterministic mode (docs/det.md): seeds are spread over the machine's cores in
# batches (`--runs B` per process), the search stops at the first failing seed, and
# the result carries that seed's replay command, the runs per second and the PCT
# guarantee line (Burckhardt et al., ASPLOS 2010).
from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from harness.paths import Builder, SIM_BINARY

_RUN = re.compile(r"^sim-det: seed=(\d+) status=(-?\d+) steps=(\d+) choices=(\d+) hash=(0x[0-9a-f]+)(.*)$")
_FAIL = re.compile(r"^sim-det: FAIL seed=(\d+) status=(-?\d+) replay: (.*)$")
_SUMMARY = re.compile(r"^sim-det: summary runs=(\d+) failed=(\d+) first_failed_seed=(\S+) "
                      r"steps_max=(\d+) choices_max=(\d+) seconds=([0-9.]+)")
_MISMATCH = re.compile(r"^sim-det: determinism mismatch seed=(\d+)")


@dataclass
class Failure:
    seed: int
    status: int
    replay: str
    output_tail: str = ""


@dataclass
class ExploreResult:
    suite: str
    cpus: int
    sched: str
    runs_requested: int
    runs_done: int = 0
    failures: list[Failure] = field(default_factory=list)
    mismatches: list[int] = field(default_factory=list)
    steps_max: int = 0
    choices_max: int = 0
    wall_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)   # batches that did not report

    @property
    def found(self) -> bool:
        return bool(self.failures)

    @property
    def first(self) -> Optional[Failure]:
        return min(self.failures, key=lambda f: f.seed) if self.failures else None

    @property
    def runs_per_second(self) -> float:
        return self.runs_done / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def depth(self) -> Optional[int]:
        m = re.fullmatch(r"pct:(\d+)", self.sched)
        return int(m.group(1)) if m else None

    def pct_bound(self) -> Optional[tuple[float, float]]:
        """(p, miss): one run's lower bound on finding a depth-d bug, and the upper
        bound on all runs_done runs missing it. None for a non-PCT schedule."""
        d = self.depth
        if d is None:
            return None
        k = max(self.choices_max, 1)
        p = 1.0 / (self.cpus * k ** (d - 1))
        miss = math.exp(self.runs_done * math.log1p(-p)) if p < 1 else 0.0
        return p, miss

    def guarantee_line(self) -> str:
        b = self.pct_bound()
        head = (f"{self.suite}: {self.runs_done} runs ({self.runs_per_second:.0f}/s), "
                f"n={self.cpus} CPUs, k<={self.choices_max} choice steps, sched={self.sched}")
        if b is None:
            return head + " (random walk: no PCT bound)"
        p, miss = b
        return (head + f"; PCT: one run finds a depth-{self.depth} bug with p >= "
                f"1/(n*k^{self.depth - 1}) = {p:.3g}; all runs miss it with probability <= {miss:.3g}")

    def report(self) -> str:
        lines = [self.guarantee_line()]
        if self.first:
            f = self.first
            lines.append(f"first failing seed {f.seed} (kernel status {f.status}); replay:")
            lines.append(f"  {f.replay}")
        if self.mismatches:
            lines.append(f"determinism mismatches at seeds {self.mismatches[:10]}")
        for e in self.errors[:5]:
            lines.append(f"batch error: {e}")
        return "\n".join(lines)


def _sim_binary(preset: str, binary: Optional[Path], builder: Optional[Builder]) -> Path:
    if binary:
        return Path(binary)
    b = builder or Builder(build=False)
    return b.ensure(preset, (SIM_BINARY[preset],)) / SIM_BINARY[preset]


def explore(suite: str, *, cpus: int = 2, runs: int = 1000, sched: str = "pct:3",
            base_seed: int = 1, jobs: Optional[int] = None, batch: Optional[int] = None,
            max_steps: Optional[int] = None, words: str = "", extra_args: Sequence[str] = (),
            preset: str = "sim", binary: Optional[Path] = None, builder: Optional[Builder] = None,
            check_determinism: bool = False, stop_on_first: bool = True,
            pct_k: Optional[int] = None, timeout: float = 1800.0) -> ExploreResult:
    """Run `runs` seeds of `ktest=<suite>` under the det scheduler; see docs/det.md.
    For PCT, the change points are drawn over k steps: unless pct_k is given, the
    first batch runs with the simulator's default and k is then set to the largest
    number of choice steps it measured, so later batches place their change points
    where the run really has choices."""
    if runs < 1 or cpus < 1:
        raise ValueError(f"runs ({runs}) and cpus ({cpus}) must be positive")
    if not re.fullmatch(r"random|pct:[1-9]\d*", sched):
        raise ValueError(f"sched {sched!r} is not 'random' or 'pct:D' with D >= 1")
    exe = _sim_binary(preset, binary, builder)
    jobs = jobs or os.cpu_count() or 1
    batch = batch or max(1, min(500, math.ceil(runs / (jobs * 4))))
    res = ExploreResult(suite=suite, cpus=cpus, sched=sched, runs_requested=runs)
    stop = threading.Event()
    lock = threading.Lock()
    deadline = time.monotonic() + timeout

    def run_batch(first: int, count: int) -> None:
        if stop.is_set() or time.monotonic() > deadline:
            return
        cmd = [str(exe), "--mode", "det", "--seed", str(first), "--runs", str(count),
               "--sched", sched, "--cpus", str(cpus), *extra_args]
        if max_steps:
            cmd += ["--max-steps", str(max_steps)]
        if sched.startswith("pct:") and k_used[0]:
            cmd += ["--pct-k", str(k_used[0])]
        if check_determinism:
            cmd.append("--check-determinism")
        cmd += ["--", f"ktest={suite}", *words.split()]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True,
                               timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with lock:
                res.errors.append(f"seeds {first}..{first + count - 1}: timed out")
            return
        summary = None
        fails, mism = [], []
        lines = p.stdout.splitlines()
        for ln in lines:
            if (m := _FAIL.match(ln)):
                fails.append(Failure(int(m.group(1)), int(m.group(2)), m.group(3)))
            elif (m := _SUMMARY.match(ln)):
                summary = m
            elif (m := _MISMATCH.match(ln)):
                mism.append(int(m.group(1)))
        with lock:
            if summary is None:
                res.errors.append(f"seeds {first}..{first + count - 1}: no summary line "
                                  f"(exit {p.returncode}): {shlex.join(cmd)}\n"
                                  + "\n".join((p.stdout + p.stderr).splitlines()[-15:]))
                stop.set()
                return
            res.runs_done += int(summary.group(1))
            res.steps_max = max(res.steps_max, int(summary.group(4)))
            res.choices_max = max(res.choices_max, int(summary.group(5)))
            tail = "\n".join(lines[-40:])
            for f in fails:
                f.output_tail = tail
            res.failures += fails
            res.mismatches += mism
            if (fails or mism) and stop_on_first:
                stop.set()

    k_used = [pct_k]
    t0 = time.monotonic()
    starts = list(range(base_seed, base_seed + runs, batch))
    if sched.startswith("pct:") and not pct_k:
        run_batch(starts[0], min(batch, base_seed + runs - starts[0]))   # measures k
        starts = starts[1:]
        k_used[0] = max(res.choices_max, 1)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for s in starts:
            pool.submit(run_batch, s, min(batch, base_seed + runs - s))
    res.wall_seconds = time.monotonic() - t0
    return res
