# test_fuzz_smoke.py — scripts/fuzz end to end, a few seconds per engine: the AFL++
# (persistent mode) and libFuzzer builds of each target start from the seed corpus,
# execute inputs, and find no crash. Longer campaigns are a user's job
# (docs/fuzzing.md); the corpus itself is replayed by ctest on every run.
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from harness.paths import REPO_ROOT

TARGETS = sorted(p.name for p in (REPO_ROOT / "fuzz" / "corpus").iterdir() if p.is_dir())


@pytest.mark.parametrize("engine", ["afl", "libfuzzer"])
@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target_runs_without_crash(target, engine):
    if engine == "afl" and not shutil.which("afl-fuzz"):
        pytest.skip("AFL++ is not installed (scripts/deps installs afl++)")
    p = subprocess.run([str(REPO_ROOT / "scripts" / "fuzz"), target, "--engine", engine, "--time", "5"],
                       cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"scripts/fuzz {target} --engine {engine} exited {p.returncode}:\n{out[-4000:]}"
    assert f"no crashes in 5s of {engine} on {target}" in out
    if engine == "afl":
        m = re.search(r"afl: execs_done\s*:\s*(\d+)", out)
    else:
        m = re.search(r"stat::number_of_executed_units:\s*(\d+)", out)
    assert m and int(m.group(1)) > 1000, f"the fuzzer barely ran:\n{out[-3000:]}"
