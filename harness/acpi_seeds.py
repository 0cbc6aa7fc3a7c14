# acpi_seeds.py — builds the seed corpus of the `acpi` fuzz target (fuzz/acpi_fuzz.c)
# from tables QEMU's firmware really produces (the kernel's `acpi.dump` output) and
# from the simulator's generator (`doppel-sim --dump-acpi`), good and broken.
# Corpus format: one flags byte, then the tables back to back.
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.paths import REPO_ROOT, Builder, preset_dir

CORPUS = REPO_ROOT / "fuzz" / "corpus" / "acpi"
ROOTS = {"RSDP", "RSDT", "XSDT"}      # the fuzz harness writes its own
FLAG_RSDT = 0x01

_TABLE = re.compile(r"^acpi-dump: table (\S+) phys=0x([0-9a-f]+) len=(\d+)$")
_HEX = re.compile(r"^acpi-dump: ([0-9a-f]+)$")


def parse_dump(lines) -> list[tuple[str, bytes]]:
    """Tables from a console carrying `acpi-dump:` lines, in the order printed."""
    tables, cur, data = [], None, bytearray()
    for raw in lines:
        line = raw.rstrip("\r\n")
        m = _TABLE.match(line)
        if m or line == "acpi-dump: end":
            if cur:
                tables.append((cur[0], bytes(data[:cur[1]])))
            cur, data = ((m.group(1), int(m.group(3))) if m else None), bytearray()
            continue
        h = _HEX.match(line)
        if h and cur:
            data += bytes.fromhex(h.group(1))
    return tables


def corpus_entry(tables: list[tuple[str, bytes]]) -> bytes:
    rev0 = any(sig == "RSDP" and len(b) > 15 and b[15] == 0 for sig, b in tables)
    body = b"".join(b for sig, b in tables if sig not in ROOTS)
    return bytes([FLAG_RSDT if rev0 else 0]) + body


def from_qemu(name: str, firmware: str, smp: int, iommu: bool) -> bytes:
    from harness.targets.qemu import QemuTarget
    with tempfile.TemporaryDirectory() as d:
        t = QemuTarget(Path(d), firmware=firmware, smp=smp, iommu=iommu)
        res = t.run("acpi.dump")
        tables = parse_dump(res.lines)
        if res.status != 0 or not tables:
            sys.exit(f"acpi-seeds: {name}: QEMU run failed (status {res.status_text}); console in {d}")
        return corpus_entry(tables)


def from_sim(args: list[str]) -> bytes:
    sim = preset_dir("sim") / "doppel-sim"
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([str(sim), *args, "--dump-acpi", d], check=True, stdout=subprocess.DEVNULL)
        files = {p.stem: p.read_bytes() for p in Path(d).glob("*.dat")}
    rev0 = "XSDT" not in files
    order = ["FACP", "APIC", "DSDT", "FACS"] + sorted(set(files) - {"FACP", "APIC", "DSDT", "FACS"})
    body = b"".join(files[s] for s in order if s in files and s not in ROOTS)
    return bytes([FLAG_RSDT if rev0 else 0]) + body


SIM_SEEDS = {
    "sim-dense-4": ["--cpus", "4"],
    "sim-sparse-64": ["--cpus", "64", "--apic-ids", "sparse"],
    "sim-sparse-256": ["--cpus", "256", "--apic-ids", "sparse"],
    "sim-dup-8": ["--cpus", "8", "--apic-ids", "dup"],
    "sim-dense-256": ["--cpus", "256"],
    "sim-rsdt-only": ["--cpus", "2", "--acpi-rev", "0"],
    "sim-madt-truncated": ["--cpus", "4", "--acpi-break", "madt-truncated"],
    "sim-madt-entry-len0": ["--cpus", "4", "--acpi-break", "madt-entry-len0"],
    "sim-madt-entry-overrun": ["--cpus", "4", "--acpi-break", "madt-entry-overrun"],
    "sim-madt-checksum": ["--cpus", "4", "--acpi-break", "madt-checksum"],
}
QEMU_SEEDS = {
    "qemu-seabios-smp1": ("seabios", 1, False),
    "qemu-seabios-smp4": ("seabios", 4, False),
    "qemu-seabios-smp8-iommu": ("seabios", 8, True),
    "qemu-ovmf-smp1": ("ovmf", 1, False),
    "qemu-ovmf-smp4": ("ovmf", 4, False),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Regenerate fuzz/corpus/acpi seeds.")
    ap.add_argument("--no-qemu", action="store_true", help="only the simulator's tables")
    args = ap.parse_args(argv)
    b = Builder()
    b.ensure("sim")
    CORPUS.mkdir(parents=True, exist_ok=True)
    for name, sim_args in SIM_SEEDS.items():
        (CORPUS / f"{name}.bin").write_bytes(from_sim(sim_args))
        print(f"wrote fuzz/corpus/acpi/{name}.bin")
    if not args.no_qemu:
        b.ensure("image")
        for name, (fw, smp, iommu) in QEMU_SEEDS.items():
            (CORPUS / f"{name}.bin").write_bytes(from_qemu(name, fw, smp, iommu))
            print(f"wrote fuzz/corpus/acpi/{name}.bin")
    return 0


if __name__ == "__main__":
    sys.exit(main())
