# run.py — the main job behind scripts/run: check packages, build the image preset,
# boot it in QEMU (q35, intel-iommu + NVMe + AHCI disks + edu by default) with every
# ktest suite selected, and print a short summary: firmware, CPUs in the MADT, usable
# memory, PCI devices, IOMMU and DMA policies (with QEMU's own fault trace beside the
# kernel's fault lines), in-kernel test results, the verified disk I/O workload on
# every disk in turn (io=verify io.dev=all: the NVMe namespace nvme0n1, the SATA disk
# sata0), one line per device with the host's own check of its image afterwards
# (harness/blkverify.py), duration, kernel status and the log.
# Exit code 0 iff the kernel reported status 0 and the disk I/O was clean (no
# mismatch, no error, the host check agrees); 1 otherwise; 2 for bad options.
from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from harness import blkverify, iommu, pci, report
from harness.ktap import KtapTest, Status
from harness.paths import BUILD_DIR, IMAGE_ISO, REPO_ROOT, BuildError, Builder, rel
from harness.targets import QemuTarget, TargetConfigError
from harness.targets.base import STATUS_NAMES
from harness.targets.qemu import ACCELS, FIRMWARES

PROG = "scripts/run"
# Beyond intel-iommu, NVMe and AHCI: edu, QEMU's small PCI device with MSI, so the
# msi suite has an MSI device to fire (docs/pci.md).
MAIN_DEVICES = ("edu",)


def _smp(text: str) -> int:
    try:
        n = int(text, 10)
    except ValueError:
        n = 0
    if not 1 <= n <= 288:
        raise argparse.ArgumentTypeError(f"'{text}' is not a CPU count from 1 to 288")
    return n


def _timeout(text: str) -> float:
    try:
        t = float(text)
    except ValueError:
        t = -1
    if not 0 < t <= 24 * 3600:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds (0 < S <= 86400)")
    return t


def _choice(name: str, allowed: tuple[str, ...]):
    def check(text: str) -> str:
        if text not in allowed:
            raise argparse.ArgumentTypeError(f"'{text}' is not one of: {' | '.join(allowed)}")
        return text
    check.__name__ = name
    return check


_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _disk_size(text: str) -> int:
    m = re.fullmatch(r"(\d+)([KMGT]?)(?:i?B)?", text.strip(), re.IGNORECASE)
    n = int(m.group(1)) * _SIZE_UNITS[m.group(2).upper()] if m else 0
    if not (1 << 20) <= n <= (1 << 40) or n % 4096:
        raise argparse.ArgumentTypeError(f"'{text}' is not a disk size from 1M to 1T in whole "
                                         f"4 KiB (say 1G, 512M)")
    return n


def _io_seconds(text: str) -> int:
    try:
        n = int(text, 10)
    except ValueError:
        n = 0
    if not 1 <= n <= 3600:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of seconds from 1 to 3600")
    return n


def _prop(text: str) -> tuple[str, str]:
    name, eq, value = text.partition("=")
    if not eq or not re.fullmatch(r"[a-z][a-z0-9\-]*", name) or not value or "," in value:
        raise argparse.ArgumentTypeError(f"'{text}' is not NAME=VALUE (an intel-iommu property)")
    return name, value


def _io_seed(text: str) -> int:
    try:
        n = int(text, 0)
    except ValueError:
        n = -1
    if not 0 < n < 1 << 64:
        raise argparse.ArgumentTypeError(f"'{text}' is not a seed from 1 to 2^64-1")
    return n


def iommu_props(args: argparse.Namespace) -> dict[str, str]:
    props = dict(args.iommu_prop)
    if args.caching_mode:
        props["caching-mode"] = "on"
    return props


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=PROG, description="Build the Doppel image and boot it in QEMU with every in-kernel "
        "test suite, then print a summary. Exit 0 iff the kernel reports status 0.")
    p.add_argument("--smp", type=_smp, default=4, metavar="N", help="CPUs (default 4)")
    p.add_argument("--firmware", type=_choice("firmware", FIRMWARES), default="seabios",
                   metavar="seabios|ovmf", help="firmware (default seabios)")
    p.add_argument("--accel", type=_choice("accel", ACCELS), default="tcg", metavar="tcg|kvm",
                   help="accelerator (default tcg; kvm only if /dev/kvm works)")
    p.add_argument("--cmdline", default="", metavar='"WORDS"',
                   help="extra kernel command-line words; a key given here replaces the "
                        "default (ktest=* expect.cpus=N)")
    p.add_argument("--timeout", type=_timeout, default=None, metavar="S",
                   help="seconds before the machine is killed (default 120 TCG, 60 KVM)")
    p.add_argument("--no-devices", action="store_true",
                   help="no intel-iommu, NVMe or AHCI disks, no edu device")
    p.add_argument("--mem", default="512M", help="guest RAM (default 512M)")
    p.add_argument("--caching-mode", action="store_true",
                   help="intel-iommu caching-mode=on (not-present entries may be cached)")
    p.add_argument("--iommu-prop", action="append", default=[], type=_prop, metavar="NAME=VALUE",
                   help="another intel-iommu property (repeatable), e.g. aw-bits=48")
    p.add_argument("--disk-size", type=_disk_size, default=1 << 30, metavar="SIZE",
                   help="size of the NVMe and SATA disks' fresh sparse raw images (default 1G)")
    p.add_argument("--io-seconds", type=_io_seconds, default=10, metavar="S",
                   help="seconds of the verified disk I/O workload (default 10)")
    p.add_argument("--io-seed", type=_io_seed, default=None, metavar="N",
                   help="io.seed of the workload (default: random, printed)")
    p.add_argument("--no-io", action="store_true",
                   help="leave the verified disk I/O workload (io=verify) out")
    p.add_argument("--no-deps", action="store_true", help="skip the scripts/deps package check")
    p.add_argument("--no-build", action="store_true", help="use the image already built")
    p.add_argument("-v", "--verbose", action="store_true", help="show the console as it runs")
    return p.parse_args(argv)


# Every block device in turn (kernel/block/verify.c: io.dev is one name or `all`).
IO_DEV = "all"
# The disks of the main job's machine (QemuTarget nvme=True, ahci=True: one NVMe
# namespace, one disk on the added ich9-ahci); the timeout counts io.seconds for each.
MAIN_DISKS = ("nvme0n1", "sata0")


def io_words(seconds: int, seed: int) -> list[str]:
    """The verified workload of the main job (common contract of the io= run key)."""
    return ["io=verify", f"io.dev={IO_DEV}", f"io.seconds={seconds}", "io.qd=8", "io.bs=4k",
            "io.mix=randrw", f"io.seed={seed}"]


def kernel_cmdline(smp: int, user: str, io: Optional[list[str]] = None) -> str:
    """Default words (ktest, then the io workload), with any key the user gives
    replacing the default's."""
    user_words = user.split()
    user_keys = {w.split("=", 1)[0] for w in user_words}
    defaults = [w for w in ("ktest=*", f"expect.cpus={smp}", *(io or ()))
                if w.split("=", 1)[0] not in user_keys]
    return " ".join(defaults + user_words)


def cmdline_value(cmdline: str, key: str) -> Optional[str]:
    """The value of the last `key=value` word (the kernel takes the last one)."""
    val = None
    for w in cmdline.split():
        k, eq, v = w.partition("=")
        if eq and k == key:
            val = v
    return val


@dataclass
class DiskIo:
    """What the disk I/O row says, and whether it is clean (problem: the first line
    that says why not)."""
    row: list[str]
    ok: bool
    problem: str = ""


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def _natural(name: str) -> list:
    """sata2 before sata10."""
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", name)]


def disk_io(r, cmdline: str, images: dict[str, Path]) -> DiskIo:
    """The `disk I/O` rows: for each device the workload ran on (io.dev=NAME, or with
    io.dev=all every device that printed a doppel-io line and every disk image of the
    machine) the kernel's doppel-io line and the host check of its image. Clean iff
    every device has its line with 0 mismatches and 0 errors and its host check agrees."""
    word = cmdline_value(cmdline, "io.dev") or "all"
    blocks_word = cmdline_value(cmdline, "io.blocks")
    try:
        io_blocks = int(blocks_word, 0) if blocks_word is not None else None
    except ValueError:
        io_blocks = None
    results, errors = blkverify.parse_io_lines(r.lines)
    seed_word = cmdline_value(cmdline, "io.seed")
    if seed_word is not None:
        # Only this workload's lines: a ktest suite runs the same engine on its own
        # test device with its own seed (the block suite's ktestblk0, seed 7).
        try:
            seed = int(seed_word, 0)
            results = [x for x in results if x.seed == seed]
        except ValueError:
            pass
    if word == "all":
        devs = list(dict.fromkeys([x.dev for x in results] + sorted(images, key=_natural)))
        if not devs:
            said = [ln for ln in r.lines if ln.startswith(("io:", "blk:"))][:3]
            line = ("no doppel-io line and no disk image (io.dev=all)"
                    + (f" ({errors[0]})" if errors else "") + (": " + " | ".join(said) if said else ""))
            return DiskIo([line], False, line)
    else:
        devs = [word]
    rows, ok, problem = [], True, ""
    for dev in devs:
        one = device_io(r, dev, results, errors, images, io_blocks)
        rows += one.row
        ok = ok and one.ok
        problem = problem or one.problem
    return DiskIo(rows, ok, problem)


def device_io(r, dev: str, results, errors: list[str], images: dict[str, Path],
              io_blocks: Optional[int]) -> DiskIo:
    """One device's lines: its doppel-io line, its MISMATCH lines, its host check."""
    mine = [x for x in results if x.dev == dev]
    if not mine:
        why = f"no doppel-io line for {dev}" + (f" ({errors[0]})" if errors else "")
        said = [ln for ln in r.lines if ln.startswith(("io:", "blk:")) and dev in ln][:3] or \
               [ln for ln in r.lines if ln.startswith(("io:", "blk:"))][:3]
        line = why + (": " + " | ".join(said) if said else "")
        return DiskIo([line], False, line)
    io = mine[-1]
    first = (f"{dev}: written {_mib(io.bytes_written)}, read {_mib(io.bytes_read)}, "
             f"verified {io.verified}, {io.iops} IOPS on {io.cpus} CPUs in {io.seconds} s, "
             f"mismatches {io.mismatches}, errors {io.errors}")
    rows = [first]
    ok = io.mismatches == 0 and io.errors == 0
    for ln in blkverify.mismatch_lines(r.lines, dev)[:3]:
        rows.append(ln)
    problem = "" if ok else f"{dev}: mismatches {io.mismatches}, errors {io.errors}"
    if dev not in images:
        rows.append(f"host check: not run (no image file for {dev})")
        return DiskIo(rows, False, problem or f"{dev}: {rows[-1]}")
    checked = blkverify.check_run(r.lines, {dev: images[dev]}, io_blocks).get(dev)
    if isinstance(checked, str):
        rows.append(f"host check: not run ({checked})")
        return DiskIo(rows, False, problem or f"{dev}: {rows[-1]}")
    rows.append(f"host check: {checked.verdict()} [seed {io.seed}, {checked.region_blocks} blocks of "
                f"{checked.bs} bytes scanned in {checked.seconds:.1f} s]")
    if not checked.agree:
        problem = problem or f"{dev}: {rows[-1]}"
    return DiskIo(rows, ok and checked.agree, problem)


def new_artifact_dir():
    base = BUILD_DIR / "run"
    base.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    d, n = base / stamp, 1
    while d.exists():
        n += 1
        d = base / f"{stamp}-{n}"
    d.mkdir()
    latest = base / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(d.name)
    return d


def summary(r, args, cmdline: str, dio: Optional[DiskIo] = None) -> str:
    k = r.ktap
    suites, cases = k.suite_counts(), k.counts()
    cpus = r.fact("acpi.cpus", "unknown")
    kib = r.int_fact("mem.usable_kib")
    mem = f"{kib / 1024:.1f} MiB ({kib} KiB)" if kib is not None else "unknown"
    props = iommu_props(args)
    vtd = "intel-iommu" + (f" ({', '.join(f'{k}={v}' for k, v in props.items())})" if props else "")
    devices = "none" if args.no_devices else f"{vtd}, NVMe, AHCI, edu"
    status = (f"{r.status} ({STATUS_NAMES.get(r.status, 'unknown')})" if r.status is not None
              else f"none: {r.status_note}")
    rows = [
        ("machine", f"QEMU q35, {args.firmware}, {args.accel}, -smp {args.smp}, -m {args.mem}, "
                    f"devices: {devices}"),
        ("kernel cmdline", cmdline),
        ("firmware", r.fact("firmware", "unknown")),
        ("CPUs in MADT", f"{cpus} (expected {args.smp})"),
        ("CPUs online", f"{r.fact('smp.online', '?')} ({r.fact('smp.failed', '?')} failed), "
                        f"{r.fact('apic.mode', '?')}, all online {r.fact('smp.online_us', '?')} us "
                        f"after kmain"),
        ("time", f"TSC {r.fact('time.tsc_khz', '?')} kHz from {r.fact('time.source', '?')}, "
                 f"{r.fact('time.hz', '?')} Hz tick"
                 + (", TSC-deadline" if r.fact("time.deadline") == "1" else "")),
        ("usable memory", mem),
        ("PCI devices", pci_row(r)),
        *iommu_rows(r),
        ("in-kernel tests", f"{suites.total} suites: {suites}"),
        ("", f"{cases.total} cases: {cases}"),
        *([("disk I/O", dio.row[0])] + [("", x) for x in dio.row[1:]] if dio else []),
        ("duration", f"{r.duration:.1f} s" + (" (timed out)" if r.timed_out else "")),
        ("kernel status", status),
        ("console log", rel(r.console_log)),
        ("command", rel(r.artifact_dir / "command.txt")),
    ]
    out = [f"  {a:<16} {b}" for a, b in rows]
    fails = report.ktap_failures(k)
    if fails:
        out += ["", "failed or crashed:", fails]
    if r.status != 0 and (r.crashed or not fails):
        out += ["", report.console_excerpt(r, tail=25)]
    return "\n".join(out)


def pci_row(r) -> str:
    """'9 (ecam), MSI-X 1, MSI 2, INTx 0, skipped 0' from the kernel's PCI dump."""
    dump = pci.parse_kernel_dump(r.lines)
    if not dump.functions and "pci.devices" not in dump.facts:
        return "not reported (no PCI dump in the console)"
    return pci.summary_line(dump)


def iommu_rows(r) -> list[tuple[str, str]]:
    """'IOMMU  vtd, 1 unit, qi 1, cm 0, faults 5 (QEMU's trace: 5, agree)' and the
    DMA policy of each device, from the kernel's facts and dumps (docs/iommu.md)."""
    rep = iommu.parse_report(r.lines, r.facts)
    rows = iommu.summary_rows(rep)
    if r.trace_log is not None and rows and rows[0][0] == "IOMMU" and r.trace_log.exists():
        _, trace, problems = iommu.check_faults_against_qemu(r.lines, r.trace_lines())
        verdict = "agree" if not problems else f"{len(problems)} difference(s), see below"
        rows[0] = ("IOMMU", f"{rows[0][1]} (QEMU's trace: {len(trace.requests)}, {verdict})")
        if problems:
            rows.append(("", "; ".join(problems[:3])))
    return rows


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    if not args.no_deps:
        rc = subprocess.call([str(REPO_ROOT / "scripts" / "deps"), "--quiet"])
        if rc != 0:
            print(f"{PROG}: scripts/deps failed (exit {rc}); fix the packages above or use --no-deps",
                  file=sys.stderr)
            return 1
    builder = Builder(build=not args.no_build, log=lambda m: print(f"{PROG}: {m}", flush=True))
    try:
        bdir = builder.ensure("image", (IMAGE_ISO,))
    except BuildError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    art = new_artifact_dir()
    on = not args.no_devices
    with_io = on and not args.no_io
    seed = args.io_seed if args.io_seed is not None else random.getrandbits(63) or 1
    cmdline = kernel_cmdline(args.smp, args.cmdline, io_words(args.io_seconds, seed) if with_io else None)
    if with_io:
        print(f"{PROG}: disk I/O workload io.seed={cmdline_value(cmdline, 'io.seed')} on "
              f"{' and '.join(MAIN_DISKS)} ({args.disk_size >> 20} MiB images), "
              f"{args.io_seconds} s each", flush=True)
    timeout = args.timeout
    if timeout is None and with_io:
        # each disk in turn: its timed phase, the drain and the region's allocation
        timeout = (60.0 if args.accel == "kvm" else 120.0) + (args.io_seconds + 10) * len(MAIN_DISKS)
    try:
        target = QemuTarget(art, firmware=args.firmware, smp=args.smp, mem=args.mem,
                            accel=args.accel, iommu=on, nvme=on, ahci=on,
                            iommu_props=iommu_props(args) if on else None,
                            trace=iommu.TRACE_EVENTS if on else (),
                            devices=MAIN_DEVICES if on else (),
                            iso=bdir / IMAGE_ISO, timeout=timeout, nvme_disk_size=args.disk_size,
                            ahci_disk_size=args.disk_size,
                            echo=sys.stdout if args.verbose else None)
        target.prepare()
    except TargetConfigError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2

    def progress(path: tuple[str, ...], t: KtapTest) -> None:
        if len(path) == 1 and not args.verbose:
            n = len(t.children)
            print(f"  {t.status.value:<8} {path[0]}" + (f" ({n} cases)" if n else ""), flush=True)

    print(f"{PROG}: booting {target.label} (console: {rel(art / 'console.log')})", flush=True)
    r = target.run(cmdline, on_result=progress)
    dio = disk_io(r, cmdline, target.disk_images) if with_io else None
    print(f"\nDoppel run summary\n{summary(r, args, cmdline, dio)}")
    ok = r.status == 0
    if ok and r.ktap.status is Status.NO_TESTS:
        print(f"{PROG}: note: no in-kernel tests ran")
    if dio is not None and not dio.ok:
        print(f"{PROG}: disk I/O not clean: {dio.problem}")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
