# sim.py — the doppel-sim target: runs build/<preset>/doppel-sim with a machine
# description (CPUs, memory, APIC ID layout, ACPI revision and faults, RSDP mode) and
# a seed, and decodes its exit code (kernel status 0..3, 64 usage, 66..68 sanitizer).
# AHCI disks pass through as `--ahci SPEC` (ahci=[...]); the disks backed by a host
# file are kept in ahci_images under the kernel's name (sata<N>, in port order), for
# the host check after the run. Options and exit codes: doppel-sim --help, docs/sim.md.
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Optional, Sequence

from harness.paths import SIM_BINARY, Builder
from harness.targets.base import RunResult, Target
from harness.targets.qemu import TargetConfigError

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
SIM_AHCI_PORTS = 6      # the sim's one HBA at 00:1f.2, like q35's (docs/sim.md)


def ahci_disks(specs: Sequence[str]) -> list[tuple[int, str]]:
    """(port, backing) of each disk the --ahci SPECs give, in port order; backing is
    the file name or 'mem'. SPEC = FILE|mem[,port=P][,size=S][,ncq=0|1] (common contract
    of issue 11), a disk without port= on the lowest port still free; 'none' gives
    none. Only ports are checked here; doppel-sim checks the rest."""
    taken: dict[int, str] = {}
    for spec in specs:
        head, *parts = spec.split(",")
        if head == "none":
            continue
        if not head:
            raise TargetConfigError(f"--ahci '{spec}': the first part must be a file name or 'mem'")
        port = None
        for part in parts:
            k, eq, v = part.partition("=")
            if k == "port":
                if not eq or not v.isdigit() or not 0 <= int(v) < SIM_AHCI_PORTS:
                    raise TargetConfigError(f"--ahci '{spec}': port '{v}' is not 0..{SIM_AHCI_PORTS - 1}")
                port = int(v)
        if port is None:
            free = [p for p in range(SIM_AHCI_PORTS) if p not in taken]
            if not free:
                raise TargetConfigError(f"--ahci '{spec}': all {SIM_AHCI_PORTS} ports have a disk")
            port = free[0]
        elif port in taken:
            raise TargetConfigError(f"--ahci '{spec}': port {port} already has a disk ({taken[port]})")
        taken[port] = head
    return sorted(taken.items())


def in_service_at_exit(lines: Sequence[str]) -> list[str]:
    """'CPU n: vectors 0x..' for each CPU whose LAPIC still had vectors in service
    (no EOI) when the machine ended; empty when every interrupt was acknowledged."""
    out = []
    for ln in lines:
        m = _IN_SERVICE.match(ln)
        if m:
            out.append(f"CPU {m.group(1)}: vector(s) {m.group(2).replace(',', ', ')}")
    return out



def _absolute_file(spec: str) -> str:
    """An --ahci SPEC with its file (if any) as an absolute path."""
    head, sep, rest = spec.partition(",")
    if head in ("mem", "none", ""):
        return spec
    return str(Path(head).resolve()) + sep + rest


class SimTarget(Target):
    kind = "sim"
    default_timeout = 60.0

    def __init__(self, artifact_dir, *, cpus: Optional[int] = None, mem: Optional[str] = None,
                 seed: Optional[int] = None, apic_ids: Optional[str] = None,
                 acpi_break: Optional[str] = None, acpi_rev: Optional[int] = None,
                 rsdp: Optional[str] = None, extra_args: Sequence[str] = (),
                 ahci: Sequence[str] = (), preset: str = "sim", binary: Optional[Path] = None,
                 **kw):
        super().__init__(artifact_dir, **kw)
        # The specs with each file made absolute: doppel-sim runs in the artifact folder.
        self.ahci = [_absolute_file(spec) for spec in ([ahci] if isinstance(ahci, str) else ahci)]
        # Kernel device name (sata0, ...) -> the host file backing it (mem disks have none).
        self.ahci_images: dict[str, Path] = {}
        for n, (_, backing) in enumerate(ahci_disks(self.ahci)):
            if backing != "mem":
                self.ahci_images[f"sata{n}"] = Path(backing)
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
        parts += [f"ahci={spec}" for spec in self.ahci]
        return " ".join(parts)

    @property
    def disk_images(self) -> dict[str, Path]:
        """The file-backed disks by kernel device name (as QemuTarget.disk_images)."""
        return dict(self.ahci_images)

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
        for spec in self.ahci:
            args += ["--ahci", spec]
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
