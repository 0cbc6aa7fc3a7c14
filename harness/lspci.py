# lspci.py — pciutils as an independent oracle for our capability parser: write
# config-space images as an `lspci -xxxx`-style file, decode it with
# `lspci -F FILE -vv -D`, parse the "Capabilities:" lines (with the MSI and MSI-X
# fields) and compare them with the cap/ecap lines of the kernel's dump (docs/pci.md).
# PCI Local Bus 3.0 §6.7-6.8, PCIe Base 4.0 §7.6 (extended capabilities), §7.7.
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from harness.pci import CAP_EXP, CAP_MSI, CAP_MSIX, Bdf, Cap, KernelDump, PciFunction

LSPCI = "lspci"


class LspciError(RuntimeError):
    pass


def lspci_path() -> Optional[str]:
    return shutil.which(LSPCI) or next((p for p in ("/usr/bin/lspci", "/usr/sbin/lspci", "/sbin/lspci")
                                        if Path(p).exists()), None)


def write_dump_file(configs: dict[Bdf, bytes], path: Path) -> Path:
    """Write images the way `lspci -xxxx` prints them. The address line carries a
    word after the address: lspci's dump reader (lib/dump.c) only accepts an
    address followed by a space as the start of a device."""
    out: list[str] = []
    for a in sorted(configs):
        img = configs[a]
        out.append(f"{a} config")
        for off in range(0, len(img), 16):
            width = 2 if off < 0x100 else 3
            out.append(f"{off:0{width}x}: " + " ".join(f"{b:02x}" for b in img[off:off + 16]))
        out.append("")
    path.write_text("\n".join(out) + "\n")
    return path


def run_lspci(path: Path, timeout: float = 30.0) -> str:
    exe = lspci_path()
    if exe is None:
        raise LspciError("lspci not found: install pciutils (scripts/deps)")
    # Names from pci.ids only: with udev installed, lspci would also take names from
    # udev's hardware database, so the same file would decode differently per machine.
    p = subprocess.run([exe, "-O", "hwdb.disable=1", "-F", str(path), "-vv", "-D"],
                       capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise LspciError(f"lspci -F {path} -vv -D exited {p.returncode}: {p.stderr.strip()[:300]}")
    return p.stdout


@dataclass
class LspciCap:
    off: int
    ext: bool
    ver: Optional[int]
    text: str                       # what follows "] "
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class LspciDevice:
    addr: Bdf
    title: str
    caps: list[LspciCap] = field(default_factory=list)
    chain_notes: list[str] = field(default_factory=list)   # <chain looped>, <chain broken>


_DEV = re.compile(r"^([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) (.*)$")
_CAPLINE = re.compile(r"^\tCapabilities: \[([0-9a-f]+)(?: v(\d+))?\] (.*)$")
_FLAG = re.compile(r"(\w+)([+-])")


def _msi_fields(text: str) -> dict[str, str]:
    """'MSI: Enable- Count=1/1 Maskable- 64bit+' -> enable 0, count 1/1, maskable 0, 64bit 0/1."""
    f: dict[str, str] = {}
    for name, sign in _FLAG.findall(text):
        f[name.lower()] = "1" if sign == "+" else "0"
    m = re.search(r"Count=(\d+(?:/\d+)?)", text)
    if m:
        f["count"] = m.group(1)
    return f


def parse_lspci(text: str) -> dict[Bdf, LspciDevice]:
    devs: dict[Bdf, LspciDevice] = {}
    cur: Optional[LspciDevice] = None
    last: Optional[LspciCap] = None
    for line in text.splitlines():
        m = _DEV.match(line)
        if m:
            cur = LspciDevice(Bdf.parse(m.group(1)), m.group(2))
            devs[cur.addr] = cur
            last = None
            continue
        if cur is None:
            continue
        m = _CAPLINE.match(line)
        if m:
            off, ver, rest = int(m.group(1), 16), m.group(2), m.group(3)
            if rest.startswith("<"):
                cur.chain_notes.append(f"[{off:x}] {rest}")
                last = None
                continue
            last = LspciCap(off, ver is not None, int(ver) if ver else None, rest)
            if rest.startswith("MSI: ") or rest.startswith("MSI-X: "):
                last.fields = _msi_fields(rest.split(":", 1)[1])
            cur.caps.append(last)
            continue
        if last is not None and line.startswith("\t\t"):
            s = line.strip()
            m = re.match(r"^(Vector table|PBA): BAR=(\d+) offset=([0-9a-f]+)$", s)
            if m and last.text.startswith("MSI-X"):
                key = "table" if m.group(1) == "Vector table" else "pba"
                last.fields[key] = f"bar{m.group(2)}+{int(m.group(3), 16):#x}"
        elif not line.startswith("\t\t"):
            last = None
    return devs


# pciutils 3.9 ls-caps.c / ls-ecaps.c: how lspci -vv names each capability ID (the
# start of the text after the offset). Others: "Capability ID 0x.." /
# "Extended Capability ID 0x..".
LSPCI_CAP_NAMES = {
    0x00: "Null", 0x01: "Power Management", 0x02: "AGP", 0x03: "Vital Product Data",
    0x04: "Slot ID", 0x05: "MSI:", 0x06: "CompactPCI hot-swap", 0x07: "PCI-X",
    0x08: "HyperTransport", 0x09: "Vendor Specific Information", 0x0a: "Debug port",
    0x0b: "CompactPCI central resource control", 0x0c: "Hot-plug capable",
    0x0d: "Subsystem", 0x0e: "AGP3", 0x0f: "Secure device", 0x10: "Express",
    0x11: "MSI-X:", 0x12: "SATA HBA", 0x13: "PCI Advanced Features", 0x14: "Enhanced Allocation",
}
LSPCI_ECAP_NAMES = {
    0x00: "Null", 0x01: "Advanced Error Reporting", 0x02: "Virtual Channel",
    0x03: "Device Serial Number", 0x04: "Power Budgeting", 0x05: "Root Complex Link",
    0x06: "Root Complex Internal Link", 0x07: "Root Complex Event Collector",
    0x08: "Multi-Function Virtual Channel", 0x09: "Virtual Channel",
    0x0a: "Root Complex Register Block", 0x0b: "Vendor Specific Information",
    0x0d: "Access Control Services", 0x0e: "Alternative Routing-ID Interpretation",
    0x0f: "Address Translation Service", 0x10: "Single Root I/O Virtualization",
    0x11: "Multi-Root I/O Virtualization", 0x12: "Multicast", 0x13: "Page Request Interface",
    0x15: "Physical Resizable BAR", 0x16: "Dynamic Power Allocation",
    0x17: "Transaction Processing Hints", 0x18: "Latency Tolerance Reporting",
    0x19: "Secondary PCI Express", 0x1a: "Protocol Multiplexing",
    0x1b: "Process Address Space ID", 0x1c: "LN Requester", 0x1d: "Downstream Port Containment",
    0x1e: "L1 PM Substates", 0x1f: "Precision Time Measurement", 0x20: "PCI Express over M_PHY",
    0x21: "FRS Queueing", 0x22: "Readiness Time Reporting", 0x23: "Designated Vendor-Specific",
    0x24: "Virtual Resizable BAR", 0x25: "Data Link Feature", 0x26: "Physical Layer 16.0 GT/s",
    0x27: "Lane Margining at the Receiver", 0x28: "Hierarchy ID",
    0x29: "Native PCIe Enclosure Management", 0x2e: "Data Object Exchange",
}


def lspci_name(cap: Cap) -> str:
    if cap.ext:
        return LSPCI_ECAP_NAMES.get(cap.id, f"Extended Capability ID {cap.id:#x}")
    return LSPCI_CAP_NAMES.get(cap.id, f"Capability ID {cap.id:#02x}")


# Fields of our dump (docs/pci.md) and lspci's for MSI / MSI-X. The "dynamic" ones
# change while drivers run (enable bits, vectors enabled, function mask).
MSI_STATIC = ("64bit", "maskable")
MSIX_STATIC = ("count", "table", "pba")
MSI_DYNAMIC = ("enable",)
MSIX_DYNAMIC = ("enable", "masked")


def _msi_compare(ours: Cap, theirs: LspciCap, dynamic: bool) -> list[str]:
    d: list[str] = []
    if ours.id == CAP_MSI:
        keys = MSI_STATIC + (MSI_DYNAMIC if dynamic else ())
        oc, tc = ours.fields.get("count", "?/?"), theirs.fields.get("count", "?/?")
        o_en, _, o_cap = oc.partition("/")
        t_en, _, t_cap = tc.partition("/")
        if o_cap != t_cap:
            d.append(f"MSI vectors offered {o_cap} != lspci {t_cap}")
        if dynamic and o_en != t_en:
            d.append(f"MSI vectors enabled {o_en} != lspci {t_en}")
    else:
        keys = MSIX_STATIC + (MSIX_DYNAMIC if dynamic else ())
    for k in keys:
        if ours.fields.get(k) != theirs.fields.get(k):
            d.append(f"{'MSI' if ours.id == CAP_MSI else 'MSI-X'} {k} {ours.fields.get(k)} != "
                     f"lspci {theirs.fields.get(k)}")
    return d


def compare_function(ours: PciFunction, dev: Optional[LspciDevice], dynamic: bool = True) -> list[str]:
    """Differences between our dump's cap/ecap lines for one function and lspci's
    decoding of a config image. A skipped function's list may stop early (the
    kernel stops at the fault; lspci walks on, even into the header): then ours must
    be a prefix of lspci's."""
    if dev is None:
        return ["lspci did not list the function (no config image?)"]
    d: list[str] = []
    for ext in (False, True):
        mine = [c for c in ours.caps if c.ext == ext]
        theirs = [c for c in dev.caps if c.ext == ext]
        kind = "ecap" if ext else "cap"
        if ours.skipped and len(mine) < len(theirs):
            theirs = theirs[:len(mine)]
        for i in range(max(len(mine), len(theirs))):
            o = mine[i] if i < len(mine) else None
            t = theirs[i] if i < len(theirs) else None
            if o is None:
                assert t is not None
                d.append(f"{kind} at {t.off:#x} ({t.text.split(':')[0]}) shown by lspci, not in our dump")
                continue
            if t is None:
                d.append(f"{o.describe()} in our dump, not shown by lspci"
                         + ("" if not ext or ours.cap(CAP_EXP) else " (no Express capability)"))
                continue
            if o.off != t.off:
                d.append(f"{kind} #{i + 1}: ours at {o.off:#x} ({lspci_name(o)}), lspci at "
                         f"{t.off:#x} ({t.text.split(':')[0]})")
                continue
            if not t.text.startswith(lspci_name(o)):
                d.append(f"{kind} @{o.off:#x}: our id {o.id:#x} is '{lspci_name(o)}', lspci says "
                         f"'{t.text[:50]}'")
                continue
            if ext and o.ver != t.ver:
                d.append(f"ecap @{o.off:#x}: version {o.ver} != lspci {t.ver}")
            if not ext and o.id in (CAP_MSI, CAP_MSIX):
                d += [f"cap @{o.off:#x}: {x}" for x in _msi_compare(o, t, dynamic)]
    return d


def compare_dump(dump: KernelDump, devices: dict[Bdf, LspciDevice], dynamic: bool = True,
                 functions: Optional[list[PciFunction]] = None) -> list[str]:
    """Every function of the dump (or `functions`) against lspci's decoding."""
    out: list[str] = []
    for f in functions if functions is not None else dump.functions:
        out += [f"{f.addr}: {x}" for x in compare_function(f, devices.get(f.addr), dynamic)]
    return out


def decode(configs: dict[Bdf, bytes], workdir: Path, name: str = "lspci-dump.txt") -> dict[Bdf, LspciDevice]:
    """Write the images to workdir/name, run lspci on it, keep its output beside
    (name + '.lspci') and return the parsed devices."""
    path = write_dump_file(configs, workdir / name)
    text = run_lspci(path)
    (workdir / (name + ".lspci")).write_text(text)
    return parse_lspci(text)
