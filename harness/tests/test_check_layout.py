# test_check_layout.py — scripts/check-layout, the house rules as a program: the
# tree passes it, and each rule, broken once on purpose in a scratch copy of the
# tree, fails it with the offending file and line named.
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "check-layout"
TOPS = ("hw", "kernel", "models", "sim", "tests", "fuzz")


def run(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["/usr/bin/python3", str(SCRIPT), "--root", str(root)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    ignore = shutil.ignore_patterns("build", "corpus", "__pycache__", "*.log")
    for top in TOPS:
        shutil.copytree(REPO_ROOT / top, tmp_path / top, ignore=ignore, symlinks=True)
    return tmp_path


def first_hw_define() -> tuple[str, str]:
    """A register define from hw/ (name and value) to put back somewhere else."""
    import re
    for h in sorted((REPO_ROOT / "hw").rglob("*.h")):
        for ln in h.read_text().splitlines():
            m = re.match(r"#define\s+([A-Z][A-Z0-9_]*_REG_[A-Z0-9_]+|[A-Z][A-Z0-9_]+)\s+(0x[0-9a-fA-F]+u?)\b", ln)
            if m and not m.group(1).endswith("_H"):
                return m.group(1), m.group(2)
    raise AssertionError("hw/ has no numeric register define")


def test_the_tree_keeps_the_house_rules():
    r = run(REPO_ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "check-layout: ok" in r.stdout


def test_a_register_define_put_back_outside_hw_is_named(scratch: Path):
    name, value = first_hw_define()
    victim = scratch / "kernel" / "pci" / "config.c"
    text = victim.read_text().splitlines()
    text.insert(10, f"#define {name} {value}")
    victim.write_text("\n".join(text) + "\n")
    r = run(scratch)
    assert r.returncode == 1
    assert f"kernel/pci/config.c:11: hw-define: {name}" in r.stdout, r.stdout


def test_a_model_including_the_simulator_is_named(scratch: Path):
    victim = scratch / "models" / "pit" / "pit.c"
    victim.write_text('#include "../../sim/bus.h"\n' + victim.read_text())
    r = run(scratch)
    assert r.returncode == 1
    assert "models/pit/pit.c:1: models-sim:" in r.stdout, r.stdout


def test_a_private_header_of_another_folder_is_named(scratch: Path):
    priv = next(p for p in sorted((scratch / "kernel" / "iommu").glob("*.h")))
    victim = scratch / "kernel" / "mm" / "heap.c"
    victim.write_text(f'#include "../iommu/{priv.name}"\n' + victim.read_text())
    r = run(scratch)
    assert r.returncode == 1
    assert "kernel/mm/heap.c:1: private:" in r.stdout, r.stdout


def test_a_cycle_between_kernel_folders_is_named(scratch: Path):
    # lib is the bottom layer; make it include the PCI subsystem.
    victim = scratch / "kernel" / "lib" / "string.c"
    victim.write_text("#include <kernel/pci.h>\n" + victim.read_text())
    r = run(scratch)
    assert r.returncode == 1
    assert "kernel: cycle:" in r.stdout and "lib -> pci at kernel/lib/string.c:1" in r.stdout, r.stdout
