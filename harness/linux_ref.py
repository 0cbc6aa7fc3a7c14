# linux_ref.py — Linux beside us (`scripts/bench --linux`, docs/bench.md): boot
# Debian's own kernel (/boot/vmlinuz-*) in the very QEMU configuration our block
# benchmarks use (q35, TCG, -smp 4, the same memory, a fresh sparse raw image on
# -device nvme or on `ide-hd` at q35's built-in AHCI controller, optionally
# intel-iommu with `intel_iommu=on`) from an initramfs that holds busybox, fio with
# its shared libraries, and the nvme, ahci and sd_mod modules with their
# dependencies, and perf (`perf bench sched pipe`) with its shared libraries. /init
# either runs fio on the disk (/dev/nvme0n1 or /dev/sda; libaio, direct) and prints
# fio's JSON between markers (ref.mode=fio, the default), or (ref.mode=sched, no disk)
# runs `perf bench sched pipe` with both ends on CPU 0 and then with one end on CPU 0
# and the other on CPU 1, each output between markers; then it powers off. The
# initramfs (cpio newc, gzip) is built here in Python and cached under
# build/linux-ref/. Packages: linux-image-amd64, fio, busybox-static, linux-perf
# (installed with apt-get when missing and we are root).
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from harness.paths import BUILD_DIR
from harness.targets.base import RunResult
from harness.targets.qemu import OVMF_CODE, OVMF_VARS, QemuTarget, TargetConfigError

PACKAGES = ("linux-image-amd64", "fio", "busybox-static", "linux-perf")
FIO = Path("/usr/bin/fio")
PERF = Path("/usr/bin/perf")
BUSYBOX = Path("/bin/busybox")
CACHE_DIR = BUILD_DIR / "linux-ref"
BEGIN, END = "=== doppel-linux-ref: fio begin ===", "=== doppel-linux-ref: fio end ==="
INFO = "doppel-linux-ref:"
# One section per `perf bench sched pipe` case: "=== doppel-linux-ref: perf <case> begin ===".
PERF_MARK = re.compile(r"^=== doppel-linux-ref: perf (\S+) (begin|end) ===$")
# The cases: both ends pinned to CPU 0 (taskset -c 0), and the parent on CPU 0 with
# its child (the other end of the pipes) moved to CPU 1 once it is forked.
PIPE_CASES = ("same_cpu", "cross_cpu")
PIPE_LOOPS = 20000
# Debian 12 builds NVMe, libata/ahci and the SCSI disk driver as modules; their
# dependencies come from modules.dep. All are loaded on every boot (a driver without
# its device only probes nothing).
MODULES = ("nvme", "ahci", "sd_mod")
# The disk of each kind of benchmark, as Linux names it: the NVMe namespace, and
# the SATA disk on port 0 of the built-in AHCI controller (libata's first disk).
DEVICES = {"nvme": "/dev/nvme0n1", "ahci": "/dev/sda"}


class LinuxRefError(RuntimeError):
    """Why Linux cannot be run beside us on this machine."""


# ----------------------------------------------------------------- fio jobs

@dataclass(frozen=True)
class FioJob:
    """One fio job standing for one of our benchmark cases."""
    bench: str      # our bench name (nvme_randread_4k_qd32_iops, ahci_..., ...)
    rw: str         # randread | randwrite | read
    bs: str
    iodepth: int
    unit: str       # "iops" or "MB/s"

    @property
    def spec(self) -> str:
        return f"{self.rw}:{self.bs}:{self.iodepth}"

    @property
    def disk(self) -> str:
        """Which disk the job runs on: the bench name's prefix (nvme, ahci)."""
        return self.bench.split("_", 1)[0]


# The Linux counterpart of each block benchmark case (the common contracts' bench
# names): the same four cases on NVMe and on AHCI.
JOBS = {j.bench: j for disk in DEVICES for j in (
    FioJob(f"{disk}_randread_4k_qd1_iops", "randread", "4k", 1, "iops"),
    FioJob(f"{disk}_randread_4k_qd32_iops", "randread", "4k", 32, "iops"),
    FioJob(f"{disk}_randwrite_4k_qd32_iops", "randwrite", "4k", 32, "iops"),
    FioJob(f"{disk}_seqread_128k_mbps", "read", "128k", 32, "MB/s"),
)}
REFERENCE_JOB = "nvme_randread_4k_qd32_iops"   # the issues' figure: randread 4k QD32, one job
AHCI_REFERENCE_JOB = "ahci_randread_4k_qd32_iops"

# /init: busybox applets; with ref.mode=sched perf's pipe benchmark (ref.loops=N round
# trips per case); otherwise modules, then fio with the jobs given on the kernel
# command line (ref.jobs=rw:bs:qd,... ref.runtime=S), JSON between markers; power off.
INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu/ceph
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "doppel-linux-ref: $*"; }
JOBS=randread:4k:32
RUNTIME=30
DEV=/dev/nvme0n1
MODE=fio
LOOPS=20000
for w in $(cat /proc/cmdline); do
  case "$w" in
    ref.mode=*) MODE="${w#ref.mode=}" ;;
    ref.loops=*) LOOPS="${w#ref.loops=}" ;;
    ref.jobs=*) JOBS="${w#ref.jobs=}" ;;
    ref.runtime=*) RUNTIME="${w#ref.runtime=}" ;;
    ref.dev=*) DEV="${w#ref.dev=}" ;;
  esac
done
B="${DEV#/dev/}"
CPUS=$(grep -c ^processor /proc/cpuinfo)
say "kernel=$(uname -r) cpus=$CPUS"
if [ "$MODE" = sched ]; then
  say "$(perf version 2>&1) loops=$LOOPS"
  echo "=== doppel-linux-ref: perf same_cpu begin ==="
  taskset -c 0 perf bench sched pipe -l "$LOOPS" 2>&1 || say "error: perf exited $?"
  echo "=== doppel-linux-ref: perf same_cpu end ==="
  if [ "$CPUS" -lt 2 ]; then
    say "error: one CPU, no cross_cpu case"
    poweroff -f
  fi
  # perf forks the other end of the pipes after it starts: both start on CPU 0, then
  # the child is moved to CPU 1 (its first round trips are on one CPU).
  taskset -c 0 perf bench sched pipe -l "$LOOPS" > /tmp/cross.txt 2>&1 &
  P=$!
  C=
  n=0
  while [ -z "$C" ] && [ $n -lt 400 ]; do
    C=$(cat /proc/$P/task/$P/children 2>/dev/null)
    C="${C%% *}"
    [ -n "$C" ] || { sleep 0.05; n=$((n + 1)); }
  done
  if [ -n "$C" ] && taskset -p -c 1 "$C" > /dev/null; then
    sleep 0.5
    say "cross_cpu: perf $P pinned to CPU 0, its child $C to CPU 1; last ran on CPU $(cut -d' ' -f39 /proc/$P/stat 2>/dev/null) and $(cut -d' ' -f39 /proc/$C/stat 2>/dev/null)"
  else
    say "error: could not move perf's child to CPU 1 (child '${C}')"
  fi
  wait $P || say "error: perf exited $?"
  echo "=== doppel-linux-ref: perf cross_cpu begin ==="
  cat /tmp/cross.txt
  echo "=== doppel-linux-ref: perf cross_cpu end ==="
  poweroff -f
fi
for m in $(cat /modules.order); do
  insmod "/lib/modules/$m" || say "insmod $m failed"
done
n=0
while [ ! -b "$DEV" ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
if [ ! -b "$DEV" ]; then
  say "error: no $DEV after 30 s"
  dmesg | tail -30
  poweroff -f
fi
say "$B hw_queues=$(ls /sys/block/$B/mq | wc -l) queue_depth=$(cat /sys/block/$B/device/queue_depth 2>/dev/null || echo -) iommu_groups=$(ls /sys/kernel/iommu_groups 2>/dev/null | wc -l) lbs=$(cat /sys/block/$B/queue/logical_block_size)"
dmesg | grep -E "DMAR: Intel|DMAR: IOMMU enabled|iommu: Default domain|ahci 0000|ata[0-9]+: SATA link up|ata[0-9]+\.00: [0-9]+ sectors" | sed 's/^/doppel-linux-ref: dmesg: /'
set -- --output-format=json --output=/tmp/fio.json --filename="$DEV" --ioengine=libaio \
  --direct=1 --numjobs=1 --time_based --runtime="$RUNTIME" --group_reporting
i=0
for j in $(echo "$JOBS" | tr , ' '); do
  rw="${j%%:*}"; r="${j#*:}"; bs="${r%%:*}"; qd="${r#*:}"
  set -- "$@" --name="job$i" --rw="$rw" --bs="$bs" --iodepth="$qd" --stonewall
  i=$((i + 1))
done
say "fio $*"
fio "$@" || say "error: fio exited $?"
echo "=== doppel-linux-ref: fio begin ==="
cat /tmp/fio.json
echo "=== doppel-linux-ref: fio end ==="
poweroff -f
"""


# ---------------------------------------------------------------- packages

def missing_packages() -> list[str]:
    out = []
    for p in PACKAGES:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True)
        if r.returncode != 0 or "install ok installed" not in r.stdout:
            out.append(p)
    return out


def ensure_packages(log=print) -> None:
    """Install the missing packages when root; otherwise LinuxRefError with the command."""
    missing = missing_packages()
    if not missing:
        return
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        raise LinuxRefError(f"missing packages {' '.join(missing)}; as root run: apt-get update && "
                            + " ".join(cmd))
    log(f"installing {' '.join(missing)} for the Linux reference (apt-get update; {' '.join(cmd)})")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for c in (["apt-get", "update", "-q"], cmd):
        r = subprocess.run(c, env=env, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise LinuxRefError(f"'{' '.join(c)}' failed (exit {r.returncode})")
    still = missing_packages()
    if still:
        raise LinuxRefError(f"still missing after apt-get: {' '.join(still)}")


def _version_key(v: str) -> list:
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", v)]


def find_kernel(boot: Path = Path("/boot"), modroot: Path = Path("/lib/modules")) -> tuple[Path, Path]:
    """The newest /boot/vmlinuz-<ver> that has /lib/modules/<ver>/modules.dep."""
    cands = []
    for k in boot.glob("vmlinuz-*"):
        ver = k.name[len("vmlinuz-"):]
        if (modroot / ver / "modules.dep").exists():
            cands.append((ver, k))
    if not cands:
        raise LinuxRefError(f"no {boot}/vmlinuz-<version> with {modroot}/<version>/modules.dep "
                            f"(install linux-image-amd64)")
    ver, k = max(cands, key=lambda c: _version_key(c[0]))
    return k, modroot / ver


def module_load_order(modules_dep: str, wanted: Sequence[str]) -> list[str]:
    """Module paths (relative to the modules folder) in load order: each module's
    dependencies first. modules.dep lists a module's dependencies so that the last
    must be loaded first."""
    deps: dict[str, list[str]] = {}
    for ln in modules_dep.splitlines():
        mod, sep, rest = ln.partition(":")
        if sep:
            deps[mod.strip()] = rest.split()
    by_name = {Path(m).name.split(".ko")[0].replace("_", "-"): m for m in deps}
    order: list[str] = []
    for w in wanted:
        key = w.replace("_", "-")
        if key not in by_name:
            raise LinuxRefError(f"module {w} is not in modules.dep (built into the kernel, or absent)")
        m = by_name[key]
        for d in [*reversed(deps[m]), m]:
            if d not in order:
                order.append(d)
    return order


def shared_libraries(binary: Path) -> list[Path]:
    """The shared libraries ldd resolves for a binary, the dynamic loader included."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise LinuxRefError(f"ldd {binary} failed: {out.stderr.strip() or out.stdout.strip()}")
    libs = []
    for ln in out.stdout.splitlines():
        m = re.search(r"=>\s*(/\S+)", ln) or re.match(r"\s*(/\S+)\s+\(", ln)
        if m:
            libs.append(Path(m.group(1)))
        elif "not found" in ln:
            raise LinuxRefError(f"ldd {binary}: {ln.strip()}")
    return libs


# ------------------------------------------------------------------ cpio newc

class Cpio:
    """A cpio archive in the "new ASCII" (newc) format the kernel unpacks."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1
        self.dirs: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes = b"") -> None:
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))
        self.ino += 1
        self.buf.write(hdr.encode() + nb)
        self.buf.write(b"\0" * (-(110 + len(nb)) % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-len(data) % 4))

    def mkdir(self, path: str) -> None:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in self.dirs:
                self.dirs.add(d)
                self._entry(d, stat.S_IFDIR | 0o755)

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        path = path.strip("/")
        if "/" in path:
            self.mkdir(path.rsplit("/", 1)[0])
        self._entry(path, stat.S_IFREG | mode, data)

    def symlink(self, path: str, target: str) -> None:
        path = path.strip("/")
        if "/" in path:
            self.mkdir(path.rsplit("/", 1)[0])
        self._entry(path, stat.S_IFLNK | 0o777, target.encode())

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        self.buf.write(b"\0" * (-self.buf.tell() % 512))
        return self.buf.getvalue()


def build_initramfs(moddir: Path, cache_dir: Path = CACHE_DIR, log=print) -> Path:
    """The initramfs for this kernel version, built once and cached: the name
    carries a hash of everything that goes in (init, binaries, modules)."""
    order = module_load_order((moddir / "modules.dep").read_text(), MODULES)
    if not PERF.exists():
        raise LinuxRefError(f"{PERF} does not exist: install linux-perf (apt-get install linux-perf)")
    libs = list(dict.fromkeys([*shared_libraries(FIO), *shared_libraries(PERF)]))
    files = [BUSYBOX, FIO, PERF, *libs, *(moddir / m for m in order)]
    for f in files:
        if not f.exists():
            raise LinuxRefError(f"{f} does not exist")
    h = hashlib.sha256(INIT.encode())
    for f in files:
        st = f.stat()
        h.update(f"{f}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    out = cache_dir / f"initramfs-{moddir.name}-{h.hexdigest()[:12]}.cpio.gz"
    if out.exists():
        return out
    log(f"building the Linux reference initramfs {out.name} (busybox, fio, perf, {len(libs)} libraries, "
        f"modules {' '.join(Path(m).stem for m in order)})")
    c = Cpio()
    for d in ("bin", "dev", "proc", "sys", "tmp", "usr/bin", "lib/modules"):
        c.mkdir(d)
    c.file("init", INIT.encode(), 0o755)
    c.file("bin/busybox", BUSYBOX.read_bytes(), 0o755)
    c.file("usr/bin/fio", FIO.read_bytes(), 0o755)
    c.file("usr/bin/perf", PERF.read_bytes(), 0o755)
    for lib in libs:            # each at the path ldd named (the loader at its /lib64 name)
        c.file(str(lib), lib.resolve().read_bytes(), 0o755)
    for m in order:
        c.file(f"lib/modules/{m}", (moddir / m).read_bytes())
    c.file("modules.order", ("\n".join(order) + "\n").encode())
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with gzip.open(tmp, "wb", compresslevel=6) as f:
        f.write(c.finish())
    tmp.replace(out)
    return out


# ------------------------------------------------------------------- the run

@dataclass
class FioFigure:
    bench: str
    value: float
    unit: str


def parse_fio(lines: Sequence[str], jobs: Sequence[FioJob]) -> tuple[list[FioFigure], str]:
    """Figures from fio's JSON between the markers, job i standing for jobs[i];
    (figures, problem text or '')."""
    try:
        a, b = lines.index(BEGIN), lines.index(END)
    except ValueError:
        said = [ln for ln in lines if ln.startswith(INFO)][-3:]
        return [], "no fio output between the markers" + (": " + " | ".join(said) if said else "")
    text = "\n".join(lines[a + 1:b])
    start = text.find("{")
    try:
        data = json.loads(text[start:]) if start >= 0 else None
    except json.JSONDecodeError as e:
        return [], f"fio's JSON does not parse: {e}"
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
        return [], "fio's JSON has no jobs"
    if len(data["jobs"]) != len(jobs):
        return [], f"fio reported {len(data['jobs'])} jobs, {len(jobs)} were asked for"
    out = []
    for job, res in zip(jobs, data["jobs"]):
        side = res.get("write" if "write" in job.rw else "read", {})
        if res.get("error"):
            return out, f"fio job {job.spec} failed with error {res['error']}"
        if job.unit == "iops":
            out.append(FioFigure(job.bench, float(side.get("iops", 0.0)), "iops"))
        else:
            out.append(FioFigure(job.bench, float(side.get("bw_bytes", 0)) / 1e6, "MB/s"))
    return out, ""


class LinuxTarget(QemuTarget):
    """QEMU exactly as QemuTarget builds the machine (q35, accel, -smp, -m, firmware,
    intel-iommu first, the disk: an NVMe image, an image on port 0 of q35's built-in
    AHCI controller, or none; the extra -device's), booting Debian's kernel and the
    reference initramfs."""
    kind = "linux"

    def __init__(self, artifact_dir, *, kernel: Path, initrd: Path, disk: Optional[str] = "nvme", **kw):
        if disk is not None and disk not in DEVICES:
            raise TargetConfigError(f"disk '{disk}' is not one of: {', '.join(DEVICES)} (or none)")
        if disk == "nvme":
            kw.setdefault("nvme", True)
        elif disk == "ahci":
            kw.setdefault("ahci_builtin", (0,))
        super().__init__(artifact_dir, **kw)
        self.kernel, self.initrd, self.disk = Path(kernel), Path(initrd), disk

    @property
    def label(self) -> str:
        return "linux " + super().label.replace("qemu ", "", 1)

    def prepare(self) -> None:
        if shutil.which(self.qemu) is None:
            raise TargetConfigError(f"{self.qemu} not found: install qemu-system-x86 (scripts/deps)")
        for f in (self.kernel, self.initrd) + ((OVMF_CODE, OVMF_VARS) if self.firmware == "ovmf" else ()):
            if not f.exists():
                raise TargetConfigError(f"{f} does not exist")

    def command(self, cmdline: str) -> list[str]:
        cmd = [self.qemu, "-M", "q35", "-accel", self.accel, "-smp", str(self.smp), "-m", self.mem]
        if self.cpu:
            cmd += ["-cpu", self.cpu]
        cmd += ["-display", "none", "-vga", "none", "-no-reboot", "-nodefaults"]
        if self.firmware == "ovmf":      # OVMF loads -kernel/-initrd through fw_cfg
            vars_copy = self.artifact_dir.resolve() / OVMF_VARS.name
            shutil.copyfile(OVMF_VARS, vars_copy)
            cmd += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                    "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}"]
        if self.iommu:
            cmd += ["-device", ",".join(["intel-iommu"] + [f"{k}={v}" for k, v in self.iommu_props.items()])]
        cmd += ["-chardev", "stdio,id=ser0,signal=off", "-serial", "chardev:ser0"]
        if self.nvme:
            cmd += self.nvme_args()
        cmd += self.ahci_args()      # -nodefaults keeps q35's built-in AHCI (ide.0..5)
        for d in self.devices:
            cmd += ["-device", d]
        cmd += ["-kernel", str(self.kernel), "-initrd", str(self.initrd), "-append", cmdline]
        return cmd + self.extra_args

    def decode_exit(self, code: int, facts: dict[str, str]) -> tuple[Optional[int], str]:
        if code == 0:
            return 0, ""          # poweroff -f
        if code < 0:
            return None, f"QEMU killed by signal {-code}"
        return None, f"QEMU exited {code}"


def jobs_disk(jobs: Sequence[FioJob]) -> str:
    """The one disk these jobs run on; LinuxRefError when they mix disks or are none."""
    disks = sorted({j.disk for j in jobs})
    if len(disks) != 1:
        raise LinuxRefError(f"one Linux boot runs jobs of one disk, not {disks or 'none'}")
    return disks[0]


def linux_cmdline(jobs: Sequence[FioJob], runtime: int, iommu: bool) -> str:
    # no_timer_check: Linux's boot-time check that the IO-APIC timer ticks gives up
    # when a loaded TCG host delays it, and with interrupt remapping (intel_iommu=on)
    # it then panics ("timer doesn't work through Interrupt-remapped IO-APIC"). The
    # check only runs at boot; the I/O path is the same.
    words = ["console=ttyS0", "quiet", "loglevel=3", "panic=-1", "no_timer_check", "rdinit=/init",
             f"ref.dev={DEVICES[jobs_disk(jobs)]}",
             f"ref.jobs={','.join(j.spec for j in jobs)}", f"ref.runtime={runtime}"]
    if iommu:
        words.append("intel_iommu=on")
    return " ".join(words)


def _run_problem(r, problem: str) -> str:
    """The parse problem, else QEMU's own bad ending; with Linux's panic line when it
    printed one."""
    if not problem and r.status != 0:
        problem = f"QEMU ended with {r.status_text}"
    panic = next((ln.strip() for ln in r.lines if "Kernel panic" in ln), None)
    if problem and panic:
        problem += f" (Linux: {panic})"
    return problem


def run_linux(artifact_dir: Path, jobs: Sequence[FioJob], runtime: int, *, iommu: bool,
              kernel: Path, initrd: Path, smp: int = 4, mem: str = "512M",
              disk_size: int = 1 << 30, timeout: Optional[float] = None
              ) -> tuple[RunResult, list[FioFigure], str]:
    """One boot of Linux running the jobs (all of one disk) one after another;
    (run, figures, problem)."""
    disk = jobs_disk(jobs)
    t = LinuxTarget(artifact_dir, kernel=kernel, initrd=initrd, disk=disk, smp=smp, mem=mem,
                    iommu=iommu, nvme_disk_size=disk_size, ahci_disk_size=disk_size,
                    timeout=timeout or 240.0 + runtime * len(jobs) * 1.5)
    r = t.run(linux_cmdline(jobs, runtime, iommu))
    figs, problem = parse_fio(r.lines, jobs)
    return r, figs, _run_problem(r, problem)


# ------------------------------------------------------- perf bench sched pipe

@dataclass
class PipeFigure:
    """One `perf bench sched pipe` case: a round trip is one message each way through
    two pipes (each end writes, then blocks reading the other's reply)."""
    case: str           # same_cpu | cross_cpu
    loops: int          # round trips ("Executed N pipe operations")
    total_s: float      # "Total time: S [sec]"
    us_per_op: float    # "U usecs/op"
    ops_per_sec: float  # "N ops/sec"

    @property
    def bench(self) -> str:
        return f"linux_sched_pipe_{self.case}_us_per_op"


_PIPE_FIELDS = (("loops", re.compile(r"Executed (\d+) pipe operations"), int),
                ("total_s", re.compile(r"Total time:\s*([\d.]+)\s*\[sec\]"), float),
                ("us_per_op", re.compile(r"^\s*([\d.]+)\s+usecs/op\s*$"), float),
                ("ops_per_sec", re.compile(r"^\s*(\d+)\s+ops/sec\s*$"), float))


def parse_perf_pipe(lines: Sequence[str], cases: Sequence[str] = PIPE_CASES
                    ) -> tuple[list[PipeFigure], str]:
    """Figures of each case's section between its markers; (figures, problems or '')."""
    sections: dict[str, list[str]] = {}
    cur: Optional[str] = None
    for ln in lines:
        m = PERF_MARK.match(ln.strip())
        if m:
            cur = m.group(1) if m.group(2) == "begin" else None
            if cur is not None:
                sections[cur] = []
        elif cur is not None:
            sections[cur].append(ln)
    out, problems = [], []
    for case in cases:
        if case not in sections:
            said = [ln.strip() for ln in lines if ln.startswith(INFO)][-3:]
            problems.append(f"no perf {case} output between the markers"
                            + (": " + " | ".join(said) if said else ""))
            continue
        got = {}
        for ln in sections[case]:
            for key, rx, conv in _PIPE_FIELDS:
                m = rx.search(ln)
                if m and key not in got:
                    got[key] = conv(m.group(1))
        missing = [k for k, _, _ in _PIPE_FIELDS if k not in got]
        if missing:
            first = next((ln.strip() for ln in sections[case] if ln.strip()), "nothing")
            problems.append(f"perf {case}: no {', '.join(missing)} in its output (it said: {first})")
            continue
        out.append(PipeFigure(case, **got))
    return out, "; ".join(problems)


def linux_sched_cmdline(loops: int) -> str:
    """The kernel command line of the scheduler reference (no disk, no modules)."""
    return " ".join(["console=ttyS0", "quiet", "loglevel=3", "panic=-1", "no_timer_check",
                     "rdinit=/init", "ref.mode=sched", f"ref.loops={loops}"])


def run_linux_sched(artifact_dir: Path, loops: int, *, kernel: Path, initrd: Path,
                    smp: int = 4, mem: str = "512M", firmware: str = "seabios", iommu: bool = False,
                    devices: Sequence[str] = (), timeout: Optional[float] = None
                    ) -> tuple[RunResult, list[PipeFigure], str]:
    """One boot of Linux running `perf bench sched pipe -l loops` on one CPU and
    across two; (run, figures, problem)."""
    t = LinuxTarget(artifact_dir, kernel=kernel, initrd=initrd, disk=None, smp=smp, mem=mem,
                    firmware=firmware, iommu=iommu, devices=devices,
                    timeout=timeout or 300.0 + loops * 2 * 0.01)   # 10 ms a round trip per case
    r = t.run(linux_sched_cmdline(loops))
    figs, problem = parse_perf_pipe(r.lines)
    return r, figs, _run_problem(r, problem)
