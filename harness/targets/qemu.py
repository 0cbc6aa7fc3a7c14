# qemu.py — the QEMU target: boots build/image/doppel.iso on a q35 machine (QEMU 7.2;
# preset="image-release" boots build/image-release/doppel.iso, the image without tests)
# with SeaBIOS or OVMF, TCG or KVM, the console on COM1 streamed through stdio, a QMP
# socket, optional intel-iommu + NVMe + AHCI disks backed by files in the artifact
# folder, and the kernel's status read from isa-debug-exit: exit code (status << 1) | 1.
# Extra kernel command-line words travel in fw_cfg opt/doppel/cmdline (docs/protocol.md).
# With monitor commands (or an on_hold callback) the kernel runs with end=hold and the
# target reads QEMU's own view of the machine over QMP before quitting it.
# intel-iommu takes properties (caching-mode=on, ...); QEMU trace events can be
# written to qemu-trace.log in the artifact folder (the VT-d fault oracle, docs/iommu.md).
# NVMe: nvme_count controllers with nvme_ns namespaces each, every namespace a fresh
# sparse raw image (nvme_disk_size bytes) whose path is kept in nvme_images under the
# kernel's device name (nvme<C>n<N>), for the host check after the run.
# AHCI: disks on an added ich9-ahci (ahci=True, ahci_ports) and/or on q35's built-in
# controller at 00:1f.2 (ahci_builtin, `ide-hd,bus=ide.<p>`; port 2 holds the ISO's
# CD), each a fresh sparse raw image kept in ahci_images under the kernel's name
# sata<N>: disks in (controller, port) order, controllers in PCI order. QEMU puts an
# added device in a free slot of the root bus below 0x1f, so the added ich9-ahci comes
# before the built-in one. disk_images holds both maps.
from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Optional, Sequence

from harness.paths import IMAGE_ELF, IMAGE_ISO, IMAGE_PRESETS
from harness.qmp import QmpClient, QmpError
from harness.targets.base import RunResult, Target

OVMF_DIR = Path("/usr/share/OVMF")
OVMF_CODE = OVMF_DIR / "OVMF_CODE_4M.fd"
OVMF_VARS = OVMF_DIR / "OVMF_VARS_4M.fd"
FIRMWARES = ("seabios", "ovmf")
ACCELS = ("tcg", "kvm")
KVM_GET_API_VERSION = 0xAE00   # _IO(KVMIO, 0x00), linux/kvm.h
UNIX_PATH_MAX = 107            # sun_path is 108 bytes including the NUL
HOLD_WORD = "end=hold"
HOLD_LINE = "doppel: holding (end=hold)"   # kernel/core/panic.c, docs/protocol.md
NVME_MAX_CONTROLLERS = 8      # plenty for tests; q35's root bus has room for them
NVME_MAX_NS = 8
AHCI_PORTS = 6                 # ICH9 (and QEMU's ich9-ahci): six ports per HBA
BUILTIN_CD_PORT = 2            # the ISO's ide-cd on the built-in controller
QMP_TIMEOUT = 20.0             # per QMP reply; "info pci" on a busy TCG host takes < 1 s

HoldCallback = Callable[[QmpClient, RunResult], None]


class TargetConfigError(ValueError):
    """A target option that cannot work on this machine or is not a valid value."""


def kvm_usable() -> tuple[bool, str]:
    """Whether /dev/kvm can be opened and answers KVM_GET_API_VERSION with 12."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return False, f"/dev/kvm: {e.strerror}"
    try:
        version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
    except OSError as e:
        return False, f"KVM_GET_API_VERSION on /dev/kvm failed: {e.strerror}"
    finally:
        os.close(fd)
    if version != 12:
        return False, f"/dev/kvm reports API version {version}, expected 12"
    return True, ""


def fw_cfg_string(words: str) -> str:
    """QEMU's option parser splits at commas; a literal comma is written twice."""
    return words.replace(",", ",,")


class QemuTarget(Target):
    kind = "qemu"
    default_timeout = 120.0   # TCG; OVMF alone takes several seconds to boot

    def __init__(self, artifact_dir, *, firmware: str = "seabios", smp: int = 4,
                 mem: str = "512M", accel: str = "tcg", iommu: bool = False,
                 nvme: bool = False, ahci: bool = False, disk_size: int = 64 << 20,
                 devices: Sequence[str] = (), extra_args: Sequence[str] = (),
                 cpu: Optional[str] = None, iso: Optional[Path] = None,
                 preset: str = "image", qemu: str = "qemu-system-x86_64", monitor: Sequence[str] = (),
                 on_hold: Optional[HoldCallback] = None, qmp_timeout: float = QMP_TIMEOUT,
                 iommu_props: Optional[dict[str, str]] = None, trace: Sequence[str] = (),
                 nvme_count: int = 1, nvme_ns: int = 1, nvme_disk_size: Optional[int] = None,
                 nvme_props: Optional[dict[str, str]] = None, ahci_ports: Sequence[int] = (0,),
                 ahci_builtin: Sequence[int] = (), ahci_disk_size: Optional[int] = None, **kw):
        if firmware not in FIRMWARES:
            raise TargetConfigError(f"firmware '{firmware}' is not one of: {', '.join(FIRMWARES)}")
        if preset not in IMAGE_PRESETS:
            raise TargetConfigError(f"preset '{preset}' is not one of: {', '.join(IMAGE_PRESETS)}")
        if accel not in ACCELS:
            raise TargetConfigError(f"accel '{accel}' is not one of: {', '.join(ACCELS)}")
        if not isinstance(smp, int) or not 1 <= smp <= 288:
            raise TargetConfigError(f"smp {smp!r} is not a CPU count from 1 to 288 (q35's limit)")
        if not isinstance(nvme_count, int) or not 1 <= nvme_count <= NVME_MAX_CONTROLLERS:
            raise TargetConfigError(f"nvme_count {nvme_count!r} is not from 1 to {NVME_MAX_CONTROLLERS}")
        if not isinstance(nvme_ns, int) or not 1 <= nvme_ns <= NVME_MAX_NS:
            raise TargetConfigError(f"nvme_ns {nvme_ns!r} is not from 1 to {NVME_MAX_NS}")
        nsize = disk_size if nvme_disk_size is None else nvme_disk_size
        if not isinstance(nsize, int) or nsize < 1 << 20 or nsize % 4096:
            raise TargetConfigError(f"NVMe disk size {nsize!r} is not a multiple of 4 KiB of at least 1 MiB")
        for k, v in (nvme_props or {}).items():
            if not re.fullmatch(r"[a-z][a-z0-9_\-]*", k) or "," in str(v):
                raise TargetConfigError(f"nvme property {k}={v!r} is not a plain name=value")
        asize = disk_size if ahci_disk_size is None else ahci_disk_size
        if not isinstance(asize, int) or asize < 1 << 20 or asize % 4096:
            raise TargetConfigError(f"AHCI disk size {asize!r} is not a multiple of 4 KiB of at least 1 MiB")
        for what, ports, taken in (("ahci_ports", ahci_ports, ()),
                                   ("ahci_builtin", ahci_builtin, (BUILTIN_CD_PORT,))):
            ports = list(ports)
            bad = [p for p in ports if not isinstance(p, int) or not 0 <= p < AHCI_PORTS or p in taken]
            if bad or len(set(ports)) != len(ports):
                raise TargetConfigError(
                    f"{what} {ports!r}: ports are distinct numbers 0..{AHCI_PORTS - 1}"
                    + (f" other than {BUILTIN_CD_PORT} (the ISO's CD)" if taken else ""))
        if ahci and not list(ahci_ports):
            raise TargetConfigError("ahci=True with no ahci_ports: the added ich9-ahci would have no disk")
        if accel == "kvm" and kw.get("timeout") is None:
            kw["timeout"] = 60.0
        super().__init__(artifact_dir, **kw)
        self.firmware, self.smp, self.mem, self.accel = firmware, smp, mem, accel
        self.iommu, self.nvme, self.ahci, self.disk_size = iommu, nvme, ahci, disk_size
        self.nvme_count, self.nvme_ns, self.nvme_disk_size = nvme_count, nvme_ns, nsize
        self.nvme_props = dict(nvme_props or {})   # e.g. {"max_ioqpairs": "2", "mdts": "5"}
        self.ahci_ports = sorted(ahci_ports)        # disks of the added ich9-ahci (ahci=True)
        self.ahci_builtin = sorted(ahci_builtin)    # disks of the built-in HBA at 00:1f.2
        self.ahci_disk_size = asize
        # Kernel device name (sata0, ...) -> its image file, filled when the command is built.
        self.ahci_images: dict[str, Path] = {}
        # Kernel device name (nvme0n1, ...) -> its image file, filled when the command is built.
        self.nvme_images: dict[str, Path] = {}
        # intel-iommu properties, e.g. {"caching-mode": "on"} (QEMU 7.2 hw/i386/intel_iommu.c)
        self.iommu_props = dict(iommu_props or {})
        if self.iommu_props and not iommu:
            raise TargetConfigError("iommu_props given without iommu=True")
        for k, v in self.iommu_props.items():
            if not re.fullmatch(r"[a-z][a-z0-9\-]*", k) or "," in str(v):
                raise TargetConfigError(f"intel-iommu property {k}={v!r} is not a plain name=value")
        # QEMU trace events (names or globs, `qemu-system-x86_64 -trace help`) written by
        # Debian's "log" trace backend to qemu-trace.log in the artifact folder.
        self.trace = list(trace)
        self.devices = list(devices)
        self.extra_args = list(extra_args)
        self.cpu = cpu
        self.iso = Path(iso).resolve() if iso else None
        self.preset = preset        # which image preset's ISO, when iso is not given
        self.qemu = qemu
        # Human-monitor commands to run while the kernel holds (end=hold), and/or a
        # callback given the connected QMP client; either one turns holding on.
        self.monitor = list(monitor)
        self.on_hold = on_hold
        self.qmp_timeout = qmp_timeout
        self._qmp_tmp: Optional[str] = None
        self._held = False
        self._hold_error: Optional[str] = None

    @property
    def label(self) -> str:
        iommu = "intel-iommu" + "".join(f",{k}={v}" for k, v in self.iommu_props.items())
        nvme = "nvme" + (f"x{self.nvme_count}" if self.nvme_count > 1 else "") + \
            (f"(ns={self.nvme_ns})" if self.nvme_ns > 1 else "")
        ahci = "ahci" + (f"(ports={','.join(map(str, self.ahci_ports))})" if self.ahci_ports != [0] else "")
        builtin = f"sata@1f.2(ports={','.join(map(str, self.ahci_builtin))})"
        devs = [d for d, on in ((iommu, self.iommu), (nvme, self.nvme), (ahci, self.ahci),
                                (builtin, bool(self.ahci_builtin))) if on]
        return (f"qemu {self.firmware} smp={self.smp} mem={self.mem} {self.accel}"
                + (f" +{'+'.join(devs)}" if devs else "")
                + (f" [{self.preset}]" if self.preset != "image" else ""))

    @property
    def elf(self) -> Optional[Path]:
        """The image's ELF with full debug info (for gdb and symbolising)."""
        return self.iso.parent / IMAGE_ELF if self.iso else None

    @property
    def qmp_socket(self) -> Path:
        want = self.artifact_dir.resolve() / "qmp.sock"
        if len(str(want)) <= UNIX_PATH_MAX - 8:
            return want
        # Too long for a unix socket address: use a short private folder and
        # note the real place in the artifact folder.
        if self._qmp_tmp is None:
            self._qmp_tmp = tempfile.mkdtemp(prefix="doppel-qmp-")
            (self.artifact_dir / "qmp.sock.path").write_text(self._qmp_tmp + "/qmp.sock\n")
        return Path(self._qmp_tmp) / "qmp.sock"

    def prepare(self) -> None:
        if shutil.which(self.qemu) is None:
            raise TargetConfigError(f"{self.qemu} not found: install qemu-system-x86 (scripts/deps)")
        if self.accel == "kvm":
            ok, why = kvm_usable()
            if not ok:
                raise TargetConfigError(f"--accel kvm is not usable here ({why}); use --accel tcg")
        if self.firmware == "ovmf":
            for f in (OVMF_CODE, OVMF_VARS):
                if not f.exists():
                    raise TargetConfigError(f"{f} not found: install the ovmf package (scripts/deps)")
        if self.iso is None:
            bdir = self.builder.ensure(self.preset, (IMAGE_ISO,))
            self.iso = bdir / IMAGE_ISO
        elif not self.iso.exists():
            raise TargetConfigError(f"image {self.iso} does not exist")

    def _disk(self, name: str, size: Optional[int] = None) -> Path:
        """A fresh sparse raw disk image in the artifact folder."""
        p = self.artifact_dir.resolve() / name
        with open(p, "wb") as f:
            f.truncate(self.disk_size if size is None else size)
        return p

    def nvme_args(self) -> list[str]:
        """Controllers nvme0.. (serial doppel<C>) in PCI order, so the kernel names
        controller C's namespace N nvme<C>n<N>. One namespace: the controller's own
        drive= (namespace 1); several: one nvme-ns device per namespace on its bus
        (QEMU 7.2 hw/nvme/ns.c), nsid 1..K."""
        out: list[str] = []
        self.nvme_images = {}
        props = "".join(f",{k}={v}" for k, v in self.nvme_props.items())
        for c in range(self.nvme_count):
            first = "nvme.img" if c == 0 else f"nvme{c}.img"
            if self.nvme_ns == 1:
                img = self._disk(first, self.nvme_disk_size)
                self.nvme_images[f"nvme{c}n1"] = img
                drv = "nvm0" if c == 0 else f"nvm{c}"
                out += ["-drive", f"file={img},if=none,id={drv},format=raw",
                        "-device", f"nvme,id=nvme{c},serial=doppel{c},drive={drv}{props}"]
                continue
            out += ["-device", f"nvme,id=nvme{c},serial=doppel{c}{props}"]
            for n in range(1, self.nvme_ns + 1):
                img = self._disk(f"nvme{c}n{n}.img", self.nvme_disk_size)
                self.nvme_images[f"nvme{c}n{n}"] = img
                out += ["-drive", f"file={img},if=none,id=nvm{c}n{n},format=raw",
                        "-device", f"nvme-ns,drive=nvm{c}n{n},bus=nvme{c},nsid={n}"]
        return out

    def ahci_args(self) -> list[str]:
        """The AHCI disks: the added ich9-ahci's (ahci=True) first, then the built-in
        controller's, each in port order, named sata0, sata1, ... as the kernel names
        them (controllers in PCI order: the added HBA sits in a root-bus slot below the
        built-in one's 0x1f). Image sata.img for sata0, sata<N>.img for the others."""
        out: list[str] = []
        self.ahci_images = {}
        disks = ([("ahci1", p) for p in self.ahci_ports] if self.ahci else []) + \
                [("ide", p) for p in self.ahci_builtin]
        if self.ahci:
            out += ["-device", "ich9-ahci,id=ahci1"]
        for n, (bus, port) in enumerate(disks):
            name = f"sata{n}"
            img = self._disk("sata.img" if n == 0 else f"{name}.img", self.ahci_disk_size)
            self.ahci_images[name] = img
            out += ["-drive", f"file={img},if=none,id={name},format=raw",
                    "-device", f"ide-hd,drive={name},bus={bus}.{port}"]
        return out

    @property
    def disk_images(self) -> dict[str, Path]:
        """Every disk image of the last command, by kernel device name (NVMe and AHCI)."""
        return {**self.nvme_images, **self.ahci_images}

    def command(self, cmdline: str) -> list[str]:
        art = self.artifact_dir.resolve()
        cmd = [self.qemu, "-M", "q35", "-accel", self.accel, "-smp", str(self.smp), "-m", self.mem]
        if self.cpu:
            cmd += ["-cpu", self.cpu]
        elif self.accel == "kvm":
            cmd += ["-cpu", "host"]
        cmd += ["-display", "none", "-vga", "none", "-no-reboot"]
        if self.firmware == "ovmf":
            vars_copy = art / OVMF_VARS.name
            shutil.copyfile(OVMF_VARS, vars_copy)
            cmd += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                    "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}"]
        # intel-iommu must be realised before the PCI devices it translates for:
        # QEMU 7.2 fixes a device's DMA address space when the device is created,
        # so it comes first among the -device options (q35's on-board devices,
        # created with the machine, are not behind it).
        if self.iommu:
            cmd += ["-device", ",".join(["intel-iommu"] + [f"{k}={v}" for k, v in self.iommu_props.items()])]
        if self.trace:
            # One log file for all events (the log backend has one); commas doubled.
            path = str(self.trace_file.resolve()).replace(",", ",,")
            for ev in self.trace:
                cmd += ["-trace", f"enable={ev},file={path}"]
        cmd += ["-chardev", "stdio,id=ser0,signal=off", "-serial", "chardev:ser0",
                "-qmp", f"unix:{self.qmp_socket},server=on,wait=off",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
        # The ISO on q35's on-board AHCI (the place -cdrom would use), booted first.
        cmd += ["-drive", f"file={self.iso},if=none,id=cd0,media=cdrom,readonly=on,format=raw",
                "-device", "ide-cd,drive=cd0,bus=ide.2,bootindex=0"]
        if self.nvme:
            cmd += self.nvme_args()
        cmd += self.ahci_args()
        for d in self.devices:
            cmd += ["-device", d]
        if cmdline:
            cmd += ["-fw_cfg", f"name=opt/doppel/cmdline,string={fw_cfg_string(cmdline)}"]
        cmd += self.extra_args
        return cmd

    @property
    def trace_file(self) -> Path:
        """Where this run's QEMU trace goes (run2-qemu-trace.log for a second run)."""
        return self._file("qemu-trace.log")

    @property
    def hold(self) -> bool:
        return bool(self.monitor) or self.on_hold is not None

    def fatal_reason(self, line: str) -> Optional[str]:
        # On a KVM internal error QEMU pauses the guest instead of exiting.
        if line.startswith(("KVM internal error", "emulation failure")):
            return f"QEMU reported '{line.strip()}' and paused the guest"
        if self._hold_error is not None:
            return self._hold_error       # QEMU still runs with the kernel halted: stop it
        return None

    def on_line(self, line: str, result: RunResult) -> None:
        if not self.hold or self._held or line.strip() != HOLD_LINE:
            return
        self._held = True
        try:
            with QmpClient(self.qmp_socket, timeout=self.qmp_timeout).connect() as q:
                for cmd in self.monitor:
                    out = q.hmp(cmd)
                    result.monitor[cmd] = out
                    slug = re.sub(r"[^A-Za-z0-9]+", "-", cmd).strip("-")
                    self._file(f"monitor-{slug}.txt").write_text(out)
                if self.on_hold is not None:
                    self.on_hold(q, result)
                q.quit()
        except QmpError as e:
            result.monitor_error = str(e)
            self._hold_error = f"QMP failed while the kernel held: {e}"

    def on_finish(self, result: RunResult) -> None:
        if self.trace:
            result.trace_log = self.trace_file
        if self.hold and not self._held and not result.monitor_error:
            result.monitor_error = (f"the kernel never printed '{HOLD_LINE}' (it ended or died "
                                    f"before holding, or does not know {HOLD_WORD})")

    def run(self, cmdline="", timeout=None, on_result=None) -> RunResult:
        """As Target.run; when holding, `end=hold` is added to the words (unless an
        end= word is given), the monitor commands run once the kernel says it holds,
        QEMU is told to quit, and the status comes from the kernel's exit fact."""
        words = cmdline if isinstance(cmdline, str) else " ".join(cmdline)
        if self.hold and not any(w.startswith("end=") for w in words.split()):
            words = f"{words} {HOLD_WORD}".strip()
        self._held, self._hold_error = False, None
        try:
            return super().run(words, timeout, on_result)
        finally:
            if self._qmp_tmp:
                shutil.rmtree(self._qmp_tmp, ignore_errors=True)
                self._qmp_tmp = None

    def decode_exit(self, code: int, facts: dict[str, str]) -> tuple[Optional[int], str]:
        if self._held and code == 0:
            # Ended by our QMP quit: the kernel's status is its exit fact.
            try:
                return int(facts["exit"]), ""
            except (KeyError, ValueError):
                return None, "QEMU quit after end=hold but the kernel printed no exit= fact"
        if code < 0:
            return None, f"QEMU killed by signal {-code}"
        if code % 2 == 0:
            return None, (f"QEMU exit code {code} is even: the kernel reported no status "
                          f"(triple fault, reset, or QEMU stopped another way)")
        if code == 1 and "exit" not in facts:
            # QEMU itself also exits 1 on errors (bad option, missing file).
            return None, "QEMU exited 1 without the kernel's exit line: a QEMU error (see the console log)"
        return code >> 1, ""
