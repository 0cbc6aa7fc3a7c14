# paths.py — where things live in the repository and its build tree (CMakePresets.json:
# every preset builds into build/<preset>/), and building a preset once per pytest run.
from __future__ import annotations

import fcntl
import os
import subprocess
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / "build"
ARTIFACTS_DIR = BUILD_DIR / "test-artifacts"

# What each preset produces that the harness runs.
SIM_BINARY = {"sim": "doppel-sim", "sim-tsan": "doppel-sim", "sim-plain": "doppel-sim"}
IMAGE_PRESETS = ("image", "image-release")     # image-release: no ktest/bench code
IMAGE_ISO = "doppel.iso"
IMAGE_ELF = "doppel.elf"


def preset_dir(preset: str) -> Path:
    return BUILD_DIR / preset


def rel(p: os.PathLike | str) -> str:
    """A path relative to the repository root when it is inside it (for messages)."""
    try:
        return str(Path(p).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(p)


class BuildError(RuntimeError):
    pass


class Builder:
    """Builds CMake presets on demand, once per process, serialised across processes
    (pytest-xdist workers) by an exclusive lock on build/.doppel-build.lock. With
    build=False it only checks that the outputs exist."""

    def __init__(self, build: bool = True, root: Path = REPO_ROOT, log=None):
        self.build = build
        self.root = root
        self.log = log          # optional callable(str) for progress messages
        self._done: set[str] = set()
        self._failed: dict[str, BuildError] = {}
        self._mutex = threading.Lock()

    def ensure(self, preset: str, outputs: tuple[str, ...] = ()) -> Path:
        """Build `preset` (configure first if needed) and return its build folder.
        Raises BuildError with the tail of the build log when it fails, or when
        building is off and an output is missing."""
        bdir = self.root / "build" / preset
        with self._mutex:
            if preset in self._failed:        # do not retry a failed build per test
                raise self._failed[preset]
            if preset not in self._done:
                if self.build:
                    try:
                        self._build_locked(preset, bdir)
                    except BuildError as e:
                        self._failed[preset] = e
                        raise
                self._done.add(preset)
        missing = [o for o in outputs if not (bdir / o).exists()]
        if missing:
            how = f"cmake --preset {preset} && cmake --build --preset {preset}"
            raise BuildError(f"{', '.join(rel(bdir / m) for m in missing)} not built "
                             f"(build it with: {how})")
        return bdir

    def _build_locked(self, preset: str, bdir: Path) -> None:
        (self.root / "build").mkdir(exist_ok=True)
        lock_path = self.root / "build" / ".doppel-build.lock"
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._build(preset, bdir)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _build(self, preset: str, bdir: Path) -> None:
        logf = self.root / "build" / f"{preset}.build.log"
        steps = []
        if not (bdir / "CMakeCache.txt").exists() or not (bdir / "build.ninja").exists():
            steps.append(["cmake", "--preset", preset])
        steps.append(["cmake", "--build", "--preset", preset])
        t0 = time.monotonic()
        with open(logf, "w") as out:
            for cmd in steps:
                out.write("$ " + " ".join(cmd) + "\n")
                out.flush()
                if self.log:
                    self.log(" ".join(cmd))
                rc = subprocess.call(cmd, cwd=self.root, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
                if rc != 0:
                    out.flush()
                    tail = "".join(logf.read_text(errors="replace").splitlines(True)[-40:])
                    raise BuildError(f"building preset '{preset}' failed: '{' '.join(cmd)}' exited "
                                     f"{rc} (full log: {rel(logf)})\n{tail}")
        if self.log:
            self.log(f"preset {preset} up to date ({time.monotonic() - t0:.1f} s)")
