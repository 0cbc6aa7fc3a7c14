# sim.py — the doppel-sim target: runs build/<preset>/doppel-sim with a machine
# description (CPUs, memory, APIC ID layout, ACPI revision and faults, RSDP mode) and
# a seed, and decodes its exit code (kernel status 0..3, 64 usage, 66..68 sanitizer).
# Options and exit codes: doppel-sim --help and docs/sim.md.
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Optional, Sequence

from harness.paths import SIM_BINARY, Builder
from harness.targets.base import RunResult, Target

SIM_EXIT_NOTES = {
    64: "usage error (bad doppel-sim option)",
    66: "AddressSanitizer reported an error",
    67: "UndefinedBehaviorSanitizer reported an error",
    68: "ThreadSanitizer reported an error",
    70: "the sim could not build the machine",
    71: "the sim could not set up the host (mmap, threads, signals)",
    74: "the sim could not write an output file",
}
_SEED = re.compile(r"^sim: seed=(\d+|0x[0-9a-fA-F]+)\b")
_REPLAY = re.compile(r"^sim: replay: (.*)$")
# The LAPIC model's exit report of vectors accepted but never EOI'd (sim/devices.c).
_IN_SERVICE = re.compile(r"^sim: stats lapic in_service_at_exit: cpu=(\d+) vectors=(\S+)$")


def in_service_at_exit(lines: Sequence[str]) -> list[str]:
    """'CPU n: vectors 0x..' for each CPU whose LAPIC still had vectors in service
    (no EOI) when the machine ended; empty when every interrupt was acknowledged."""
    out = []
    for ln in lines:
        m = _IN_SERVICE.match(ln)
        if m:
            out.append(f"CPU {m.group(1)}: vector(s) {m.group(2).replace(',', ', ')}")
    return out



class SimTarget(Target):
    kind = "sim"
    default_timeout = 60.0

    def __init__(self, artifact_dir, *, cpus: Optional[int] = None, mem: Optional[str] = None,
                 seed: Optional[int] = None, apic_ids: Optional[str] = None,
                 acpi_break: Optional[str] = None, acpi_rev: Optional[int] = None,
                 rsdp: Optional[str] = None, extra_args: Sequence[str] = (),
                 preset: str = "sim", binary: Optional[Path] = None, **kw):
        super().__init__(artifact_dir, **kw)
        self.cpus, self.mem, self.seed = cpus, mem, seed
        self.apic_ids, self.acpi_break, self.acpi_rev, self.rsdp = apic_ids, acpi_break, acpi_rev, rsdp
        self.extra_args = list(extra_args)
        self.preset = preset
        self.binary = Path(binary).resolve() if binary else None
        self._seed_used: Optional[int] = None

    @property
    def label(self) -> str:
        parts = ["sim"]
        for name in ("cpus", "mem", "apic_ids", "acpi_break", "acpi_rev", "rsdp"):
            v = getattr(self, name)
            if v is not None:
                parts.append(f"{name}={v}")
        return " ".join(parts)

    def prepare(self) -> None:
        if self.binary is None:
            bdir = self.builder.ensure(self.preset, (SIM_BINARY[self.preset],))
            self.binary = bdir / SIM_BINARY[self.preset]
        elif not self.binary.exists():
            raise FileNotFoundError(f"doppel-sim binary {self.binary} does not exist")

    def options(self) -> list[str]:
        """The machine-description options, without the binary and command line."""
        args: list[str] = []
        for opt, v in (("--cpus", self.cpus), ("--mem", self.mem), ("--apic-ids", self.apic_ids),
                       ("--acpi-break", self.acpi_break), ("--acpi-rev", self.acpi_rev),
                       ("--rsdp", self.rsdp)):
            if v is not None:
                args += [opt, str(v)]
        return args

    def seed_for_run(self) -> Optional[int]:
        return self._seed_used

    def command(self, cmdline: str) -> list[str]:
        # Every run gets an explicit seed, so the recorded command replays it.
        self._seed_used = self.seed if self.seed is not None else random.getrandbits(63)
        cmd = [str(self.binary), *self.options(), "--seed", str(self._seed_used), *self.extra_args]
        words = cmdline.split()
        if words:
            cmd += ["--", *words]
        return cmd

    def on_line(self, line: str, result: RunResult) -> None:
        m = _SEED.match(line)
        if m:
            result.seed = int(m.group(1), 0)
            return
        m = _REPLAY.match(line)
        if m and result.replay is None:
            result.replay = m.group(1)

    def decode_exit(self, code: int, facts: dict[str, str]) -> tuple[Optional[int], str]:
        if code in (0, 1, 2, 3):
            return code, ""
        if code < 0:
            return None, f"doppel-sim killed by signal {-code}"
        return None, SIM_EXIT_NOTES.get(code, f"unexpected doppel-sim exit code {code}")


def sim_help(builder: Optional[Builder] = None, preset: str = "sim") -> str:
    """The text of doppel-sim --help (used to list option values such as the
    --acpi-break kinds without repeating them here)."""
    import subprocess
    builder = builder or Builder(build=False)
    bdir = builder.ensure(preset, (SIM_BINARY[preset],))
    out = subprocess.run([str(bdir / SIM_BINARY[preset]), "--help"], capture_output=True,
                         text=True, timeout=30, stdin=subprocess.DEVNULL)
    return out.stdout + out.stderr


def acpi_break_kinds(help_text: str) -> list[str]:
    """The --acpi-break KIND names listed in doppel-sim --help ('none' excluded):
    the first word of each line of the list under that option, at the list's
    indentation (deeper lines continue a description)."""
    kinds: list[str] = []
    lines = help_text.splitlines()
    for i, ln in enumerate(lines):
        if "--acpi-break" in ln:
            indent = None
            for follow in lines[i + 1:]:
                s = follow.strip()
                if not s or s.startswith("--"):
                    break
                here = len(follow) - len(follow.lstrip())
                indent = here if indent is None else indent
                word = s.split()[0]
                if here == indent and re.fullmatch(r"[a-z0-9][a-z0-9\-]*", word):
                    kinds.append(word)
            break
    return [k for k in kinds if k != "none"]
