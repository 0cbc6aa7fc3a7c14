# plugin.py — the pytest plugin that makes doppel-sim and QEMU runs ordinary pytest
# tests: command-line options, markers, per-test artifact folders, target factories
# bound to them, one build per pytest run, and failure reports with a console excerpt
# and the command that reproduces the failure. Registered by the root conftest.py.
from __future__ import annotations

import hashlib
import random
import re
import shutil
import zlib
from pathlib import Path
from typing import Optional

import pytest

from harness import report
from harness.paths import ARTIFACTS_DIR, REPO_ROOT, BuildError, Builder
from harness.report import assert_ktap_passed
from harness.targets import QemuTarget, RunResult, SimTarget, TargetConfigError
from harness.targets.qemu import ACCELS, FIRMWARES
from harness.targets.sim import in_service_at_exit

__all__ = ["assert_ktap_passed", "sanitize_nodeid", "repro_options"]

SEED_KEY = pytest.StashKey[Optional[int]]()
RUNS_KEY = pytest.StashKey[list]()
REPORTS_KEY = pytest.StashKey[dict]()
DEFAULT_SMP_MATRIX = (1, 4)


# ---- options and markers ----------------------------------------------------------

def pytest_addoption(parser):
    g = parser.getgroup("doppel", "Doppel kernel targets (docs/harness.md)")
    g.addoption("--accel", choices=ACCELS, default="tcg",
                help="QEMU accelerator (default tcg; kvm only where /dev/kvm works)")
    g.addoption("--firmware", choices=FIRMWARES + ("both",), default="both",
                help="QEMU firmware for tests parametrized over it (default: both)")
    g.addoption("--smp", type=int, default=None, metavar="N",
                help="CPU count: restricts tests parametrized over smp, default for others")
    g.addoption("--doppel-timeout", type=float, default=None, metavar="S",
                help="per-run timeout in seconds (default: 60 sim, 120 QEMU/TCG)")
    g.addoption("--doppel-seed", default=None, metavar="N|random",
                help="base seed for sim runs (default: derived from the test id, so "
                     "reruns repeat; 'random' draws a new one and prints it)")
    g.addoption("--keep-artifacts", action="store_true",
                help="keep artifact folders of passing tests too (failed ones are always kept)")
    g.addoption("--no-build", action="store_true",
                help="do not run cmake; use what is already in build/")
    g.addoption("--artifacts-dir", default=None, metavar="DIR",
                help="where per-test artifact folders go (default build/test-artifacts)")


def pytest_configure(config):
    config.addinivalue_line("markers", "sim: runs doppel-sim (needs the sim preset)")
    config.addinivalue_line("markers", "qemu: boots the image in QEMU (needs the image preset)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    config.addinivalue_line("markers", "sanitizer_errors_expected: a sanitizer report in a "
                            "run does not by itself fail this test")
    config.addinivalue_line("markers", "lockdep_reports_expected: a lockdep report about "
                            "locks other than the planted ktest.* ones does not by itself "
                            "fail this test")
    config.addinivalue_line("markers", "in_service_expected: a sim run that ends with an "
                            "interrupt still in service (no EOI) does not by itself fail this test")
    seed = config.getoption("--doppel-seed", None)
    worker = getattr(config, "workerinput", None)
    if worker is not None and "doppel_seed" in worker:
        config.stash[SEED_KEY] = worker["doppel_seed"]   # one seed for all xdist workers
    elif seed == "random":
        config.stash[SEED_KEY] = random.getrandbits(32)
    elif seed is not None:
        try:
            config.stash[SEED_KEY] = int(seed, 0)
        except ValueError:
            raise pytest.UsageError(f"--doppel-seed: '{seed}' is not a number or 'random'")
    else:
        config.stash[SEED_KEY] = None
    smp = config.getoption("--smp", None)
    if smp is not None and not 1 <= smp <= 288:
        raise pytest.UsageError(f"--smp: {smp} is not a CPU count from 1 to 288")
    t = config.getoption("--doppel-timeout", None)
    if t is not None and t <= 0:
        raise pytest.UsageError(f"--doppel-timeout: {t} is not a positive number of seconds")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest-xdist: hand the controller's seed to each worker."""
    node.workerinput["doppel_seed"] = node.config.stash[SEED_KEY]


def repro_options(config) -> list[str]:
    """The options of this pytest invocation that change what a run does."""
    opts: list[str] = []
    if config.getoption("--accel") != "tcg":
        opts += ["--accel", config.getoption("--accel")]
    if config.getoption("--firmware") != "both":
        opts += ["--firmware", config.getoption("--firmware")]
    if config.getoption("--smp") is not None:
        opts += ["--smp", str(config.getoption("--smp"))]
    if config.getoption("--doppel-timeout") is not None:
        opts += ["--doppel-timeout", f"{config.getoption('--doppel-timeout'):g}"]
    if config.stash[SEED_KEY] is not None:
        opts += ["--doppel-seed", str(config.stash[SEED_KEY])]
    return opts


def _explicitly_parametrized(metafunc, name: str) -> bool:
    for m in metafunc.definition.iter_markers("parametrize"):
        names = m.args[0] if m.args else m.kwargs.get("argnames", "")
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if name in names:
            return True
    return False


def pytest_generate_tests(metafunc):
    cfg = metafunc.config
    if "firmware" in metafunc.fixturenames and not _explicitly_parametrized(metafunc, "firmware"):
        fw = cfg.getoption("--firmware")
        metafunc.parametrize("firmware", list(FIRMWARES) if fw == "both" else [fw])
    if "smp" in metafunc.fixturenames and not _explicitly_parametrized(metafunc, "smp"):
        smp = cfg.getoption("--smp")
        metafunc.parametrize("smp", list(DEFAULT_SMP_MATRIX) if smp is None else [smp])


# ---- fixtures ---------------------------------------------------------------------

@pytest.fixture(scope="session")
def doppel_build(request) -> Builder:
    """Builds presets on first use (once per pytest run, serialised across xdist
    workers by a file lock), or with --no-build only checks they are built."""
    return Builder(build=not request.config.getoption("--no-build"))


def sanitize_nodeid(nodeid: str, limit: int = 100) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid.replace("::", "__")).strip("_.")
    if len(s) > limit:
        s = s[:limit - 11] + "-" + hashlib.sha1(nodeid.encode()).hexdigest()[:10]
    return s or "test"


@pytest.fixture
def artifact_dir(request) -> Path:
    """A per-test folder, emptied first: build/test-artifacts/<sanitized node id>/.
    Removed after a passing test unless --keep-artifacts; kept when it failed."""
    root = request.config.getoption("--artifacts-dir")
    root = Path(root) if root else ARTIFACTS_DIR
    d = root / sanitize_nodeid(request.node.nodeid)
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    yield d
    reps = request.node.stash.get(REPORTS_KEY, {})
    failed = any(r.failed for r in reps.values())
    if not failed and not request.config.getoption("--keep-artifacts"):
        shutil.rmtree(d, ignore_errors=True)


def _runs(request) -> list:
    runs = request.node.stash.get(RUNS_KEY, None)
    if runs is None:
        runs = request.node.stash[RUNS_KEY] = []
    return runs


def _prepared(target):
    """Build/locate what the target needs now, failing the test with a short
    message (not a traceback) when that is impossible."""
    try:
        target.prepare()
    except (BuildError, TargetConfigError, FileNotFoundError) as e:
        pytest.fail(str(e), pytrace=False)
    return target


@pytest.fixture
def sim(request, artifact_dir, doppel_build):
    """Factory: sim(cpus=4, apic_ids="sparse", ...) -> SimTarget in this test's
    artifact folder. Seeds are fixed per test unless --doppel-seed says otherwise."""
    runs = _runs(request)
    cfg = request.config
    base = cfg.stash[SEED_KEY]
    if base is None:
        base = zlib.crc32(request.node.nodeid.encode())
    made = [0]

    def make(**kw) -> SimTarget:
        made[0] += 1
        kw.setdefault("seed", (base + made[0] - 1) & ((1 << 63) - 1))
        kw.setdefault("timeout", cfg.getoption("--doppel-timeout"))
        sub = artifact_dir if made[0] == 1 else artifact_dir / f"sim{made[0]}"
        cls = kw.pop("target_class", SimTarget)   # e.g. a subclass that wraps the command
        t = cls(sub, builder=doppel_build, observers=[runs.append], **kw)
        return _prepared(t)
    return make


@pytest.fixture
def qemu(request, artifact_dir, doppel_build):
    """Factory: qemu(firmware="ovmf", smp=4, iommu=True, nvme=True, ...) ->
    QemuTarget in this test's artifact folder; --accel, --smp and
    --doppel-timeout supply the defaults."""
    runs = _runs(request)
    cfg = request.config
    made = [0]

    def make(**kw) -> QemuTarget:
        made[0] += 1
        kw.setdefault("accel", cfg.getoption("--accel"))
        kw.setdefault("smp", cfg.getoption("--smp") or 4)
        kw.setdefault("timeout", cfg.getoption("--doppel-timeout"))
        sub = artifact_dir if made[0] == 1 else artifact_dir / f"qemu{made[0]}"
        try:
            t = QemuTarget(sub, builder=doppel_build, observers=[runs.append], **kw)
        except TargetConfigError as e:
            pytest.fail(str(e), pytrace=False)
        return _prepared(t)
    return make


# ---- reports ----------------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    reps = item.stash.get(REPORTS_KEY, None)
    if reps is None:
        reps = item.stash[REPORTS_KEY] = {}
    reps[rep.when] = rep
    runs: list[RunResult] = item.stash.get(RUNS_KEY, [])
    if rep.when == "call" and rep.passed and not item.get_closest_marker("sanitizer_errors_expected"):
        dirty = [r for r in runs if r.sanitizer_errors]
        if dirty:   # a sanitizer report fails the test whatever the test asserted
            rep.outcome = "failed"
            rep.longrepr = (f"{dirty[0].label}: sanitizer errors in the console:\n  "
                            + "\n  ".join(dirty[0].sanitizer_errors[:5]))
    if rep.when == "call" and rep.passed and not item.get_closest_marker("lockdep_reports_expected"):
        # A lock-order report about real kernel locks is a bug even where the test
        # looked at something else; a full lockdep table means locks went unchecked.
        dirty = [r for r in runs if r.lockdep_problems]
        if dirty:
            rep.outcome = "failed"
            rep.longrepr = (f"{dirty[0].label}: lockdep reported a problem (not about the "
                            "planted ktest.* locks):\n  " + "\n  ".join(dirty[0].lockdep_problems[:5]))
    if rep.when == "call" and rep.passed and not item.get_closest_marker("in_service_expected"):
        # An interrupt never EOI'd blocks its priority class on that CPU for good.
        # Only runs that ended normally: a panic may stop a CPU inside a handler.
        for r in runs:
            stuck = in_service_at_exit(r.lines) if r.target == "sim" and r.status in (0, 1) else []
            if stuck:
                rep.outcome = "failed"
                rep.longrepr = (f"{r.label}: interrupts left in service at exit (accepted, never "
                                "EOI'd):\n  " + "\n  ".join(stuck))
                break
    if rep.when == "call" and rep.failed and runs:
        opts = repro_options(item.config)
        for name, text in report.failure_sections(runs, item.nodeid, opts):
            rep.sections.append((name, text))
        item.user_properties.append(("reproduce", report.pytest_command(item.nodeid, opts)))


def pytest_report_header(config):
    seed = config.stash[SEED_KEY]
    return [f"doppel: accel={config.getoption('--accel')} firmware={config.getoption('--firmware')} "
            f"smp={config.getoption('--smp') or 'matrix'} "
            f"seed={'per-test' if seed is None else seed} root={REPO_ROOT}"]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if exitstatus not in (0, 5) and terminalreporter.stats.get("failed"):
        root = config.getoption("--artifacts-dir") or ARTIFACTS_DIR
        terminalreporter.write_line(f"doppel: artifacts of failed tests are kept under {root}/")
