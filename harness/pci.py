# pci.py — the harness's view of PCI: parse the kernel's diagnostics dump (docs/pci.md,
# "pci: " lines and "pci-config:" hex) and QEMU 7.2's HMP "info pci" text into one
# device model, compare them function by function (ids, class, subsystem, BARs,
# bridge bus numbers, interrupt pin and line), print both lists side by side, and make
# the scripts/run summary line. PCI Local Bus 3.0 §6 (header fields, BARs).
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Optional

ADDR_RE = r"([0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])"
U64 = (1 << 64) - 1
CAP_MSI = 0x05       # PCI Local Bus 3.0 §6.8.1
CAP_EXP = 0x10       # PCIe Base 4.0 §7.5.3
CAP_MSIX = 0x11      # PCI Local Bus 3.0 §6.8.2


@dataclass(frozen=True, order=True)
class Bdf:
    seg: int
    bus: int
    dev: int
    fn: int

    def __str__(self) -> str:
        return f"{self.seg:04x}:{self.bus:02x}:{self.dev:02x}.{self.fn}"

    @classmethod
    def parse(cls, text: str) -> "Bdf":
        m = re.fullmatch(r"(?:([0-9a-fA-F]{4,5}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])", text)
        if not m:
            raise ValueError(f"not a PCI address: {text!r}")
        seg, bus, dev, fn = m.groups()
        return cls(int(seg or "0", 16), int(bus, 16), int(dev, 16), int(fn, 16))


@dataclass
class Bar:
    index: int
    kind: str                   # "io", "mem32", "mem64"
    prefetchable: bool
    addr: Optional[int]         # None: QEMU says the BAR is not mapped (decode off)
    size: int

    def describe(self) -> str:
        a = "unmapped" if self.addr is None else f"{self.addr:#x}"
        return f"bar{self.index} {self.kind}{' pref' if self.prefetchable else ''} {a} size {self.size:#x}"


@dataclass
class Cap:
    id: int
    off: int
    ext: bool = False
    ver: Optional[int] = None
    name: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        if self.ext:
            return f"ecap {self.id:#06x} v{self.ver} @{self.off:#x}"
        return f"cap {self.id:#04x} {self.name} @{self.off:#x}"


@dataclass
class PciFunction:
    """One function as the kernel's dump or QEMU's info pci describes it. Fields a
    source does not give stay None."""
    addr: Bdf
    vendor: int
    device: int
    subsys: Optional[tuple[int, int]] = None
    class_code: Optional[int] = None     # 24-bit (kernel dump)
    class16: Optional[int] = None        # base << 8 | sub (both sources)
    class_text: str = ""                 # QEMU's class description ("Class 0264", "SATA controller")
    revision: Optional[int] = None
    header_type: Optional[int] = None
    pin: Optional[int] = None            # 0 none, 1..4 = INTA..INTD
    line: Optional[int] = None           # interrupt line register (0xff = none)
    irq_mode: Optional[str] = None
    sec_bus: Optional[int] = None
    sub_bus: Optional[int] = None
    bars: dict[int, Bar] = field(default_factory=dict)
    caps: list[Cap] = field(default_factory=list)
    skipped: Optional[str] = None
    qdev_id: Optional[str] = None
    rom: Optional[Bar] = None            # QEMU's BAR6 (expansion ROM), not compared

    def cap(self, cap_id: int, ext: bool = False) -> Optional[Cap]:
        return next((c for c in self.caps if c.ext == ext and c.id == cap_id), None)

    @property
    def is_bridge(self) -> bool:
        return self.header_type == 1 or self.sec_bus is not None


# ---- the kernel's dump -----------------------------------------------------------

_HEADER = re.compile(r"^pci: " + ADDR_RE + r" ([0-9a-f]{4}):([0-9a-f]{4})(?: (.*))?$")
_DETAIL = re.compile(r"^pci:   (\S.*)$")
_CONFIG = re.compile(r"^pci-config: (.*)$")
_BAR = re.compile(r"^bar([0-5]) (io|mem32|mem64)( pref)? (0x[0-9a-f]+) size (0x[0-9a-f]+)$")
_CAP = re.compile(r"^cap (0x[0-9a-f]{2}) (\S+) @(0x[0-9a-f]+)(?:: (.*))?$")
_ECAP = re.compile(r"^ecap (0x[0-9a-f]{4}) v(\d+) @(0x[0-9a-f]+)(?:: (.*))?$")
_PINS = {"-": 0, "A": 1, "B": 2, "C": 3, "D": 4}


@dataclass
class KernelDump:
    """One `pci.dump` block: the functions in order, the facts after it, the config
    space images (pci.dump=config) and any line the parser could not read."""
    functions: list[PciFunction] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)
    config: dict[Bdf, bytes] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def by_addr(self) -> dict[Bdf, PciFunction]:
        return {f.addr: f for f in self.functions}

    @property
    def mechanism(self) -> Optional[str]:
        return self.facts.get("pci.mechanism")

    def int_fact(self, key: str) -> Optional[int]:
        try:
            return int(self.facts[key], 0)
        except (KeyError, ValueError):
            return None

    def problems(self) -> list[str]:
        """What is wrong with the dump itself: none found, unreadable lines, facts
        that disagree with the list, config images missing or of the wrong size."""
        p = list(self.errors)
        if not self.functions:
            p.append("no 'pci: SSSS:BB:DD.F vvvv:dddd ...' dump lines in the console")
        n, s = self.int_fact("pci.devices"), self.int_fact("pci.skipped")
        if n is None:
            p.append("no doppel-info: pci.devices fact")
        elif n != len(self.functions):
            p.append(f"pci.devices={n} but the dump lists {len(self.functions)} functions")
        skipped = sum(1 for f in self.functions if f.skipped)
        if s is not None and s != skipped:
            p.append(f"pci.skipped={s} but the dump marks {skipped} functions skipped")
        if self.mechanism not in ("ecam", "legacy"):
            p.append(f"pci.mechanism is {self.mechanism!r}, not ecam or legacy")
        if self.config:
            want = 4096 if self.mechanism == "ecam" else 256
            for f in self.functions:
                img = self.config.get(f.addr)
                if img is None:
                    p.append(f"{f.addr}: no pci-config image")
                elif len(img) != want:
                    p.append(f"{f.addr}: pci-config image of {len(img)} bytes, want {want} "
                             f"({self.mechanism})")
        return p


def _kv_tokens(text: str) -> dict[str, str]:
    """'sub 1af4:1100 class 00ff00 rev 10 type 0 pin A' -> {'sub': '1af4:1100', ...}."""
    words = text.split()
    return {words[i]: words[i + 1] for i in range(0, len(words) - 1, 2)}


def _flags(text: str) -> dict[str, str]:
    """MSI/MSI-X detail 'enable 0 count 1/1 64bit 1 maskable 0 table bar0+0x2000'."""
    return _kv_tokens(text or "")


def _parse_header(m: re.Match, errors: list[str]) -> PciFunction:
    seg, bus, dev, fn, ven, did, rest = m.groups()
    f = PciFunction(Bdf(int(seg, 16), int(bus, 16), int(dev, 16), int(fn, 16)), int(ven, 16), int(did, 16))
    kv = _kv_tokens(rest or "")
    try:
        if "sub" in kv:
            sv, sd = kv["sub"].split(":")
            f.subsys = (int(sv, 16), int(sd, 16))
        if "class" in kv:
            f.class_code = int(kv["class"], 16)
            f.class16 = f.class_code >> 8
        if "rev" in kv:
            f.revision = int(kv["rev"], 16)
        if "type" in kv:
            f.header_type = int(kv["type"], 0)
        if "bus" in kv:
            a, b = kv["bus"].split("-")
            f.sec_bus, f.sub_bus = int(a, 16), int(b, 16)
        if "pin" in kv:
            f.pin = _PINS[kv["pin"]]
        if "line" in kv:
            f.line = 0xFF if kv["line"] == "-" else int(kv["line"], 0)
        f.irq_mode = kv.get("irq")
    except (ValueError, KeyError) as e:
        errors.append(f"{f.addr}: unreadable header field ({e}): {m.group(0)}")
    return f


def _parse_detail(f: PciFunction, text: str, errors: list[str]) -> None:
    m = _BAR.match(text)
    if m:
        i, kind, pref, addr, size = m.groups()
        f.bars[int(i)] = Bar(int(i), kind, bool(pref), int(addr, 16), int(size, 16))
        return
    m = _CAP.match(text)
    if m:
        cid, name, off, rest = m.groups()
        f.caps.append(Cap(int(cid, 16), int(off, 16), False, None, name, _flags(rest)))
        return
    m = _ECAP.match(text)
    if m:
        cid, ver, off, rest = m.groups()
        f.caps.append(Cap(int(cid, 16), int(off, 16), True, int(ver), "", _flags(rest)))
        return
    if text.startswith("skipped:"):
        f.skipped = text[len("skipped:"):].strip()
        return
    errors.append(f"{f.addr}: unknown detail line: {text}")


def parse_config_lines(lines: Iterable[str]) -> tuple[dict[Bdf, bytes], list[str]]:
    """lspci -xxxx style text (an address line, then 'OFF: xx xx ...' lines) into
    config images. Works on the kernel's lines with 'pci-config: ' stripped and on
    the sim's --pci-dump-config file. Gaps read as 0xff, like lspci's dump reader."""
    images: dict[Bdf, bytearray] = {}
    lengths: dict[Bdf, int] = {}
    errors: list[str] = []
    cur: Optional[Bdf] = None
    for raw in lines:
        text = raw.strip()
        if not text:
            cur = None
            continue
        head = re.match(r"^((?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])(?:\s|$)", text)
        if head:
            cur = Bdf.parse(head.group(1))
            images[cur] = bytearray(b"\xff" * 4096)
            lengths[cur] = 0
            continue
        m = re.match(r"^([0-9a-fA-F]{2,8}): ((?:[0-9a-fA-F]{2} ?)+)$", text)
        if not m or cur is None:
            errors.append(f"config dump: unexpected line: {text[:80]}")
            continue
        off = int(m.group(1), 16)
        data = bytes(int(b, 16) for b in m.group(2).split())
        if off + len(data) > 4096:
            errors.append(f"config dump: {cur}: bytes beyond 4096 at {off:#x}")
            continue
        images[cur][off:off + len(data)] = data
        lengths[cur] = max(lengths[cur], off + len(data))
    return {a: bytes(img[:lengths[a]]) for a, img in images.items()}, errors


def parse_kernel_dump(lines: Iterable[str]) -> KernelDump:
    """The first diagnostics dump in a console (cleaned lines): the function list up
    to the pci.* facts, plus every pci-config: image. Kernel log lines that merely
    start with 'pci: ' (messages about a device) are not dump lines: a dump header
    has the address followed by a space and the vendor:device pair."""
    dump = KernelDump()
    cur: Optional[PciFunction] = None
    ended = False
    cfg_lines: list[str] = []
    for line in lines:
        if line.startswith("doppel-info: pci."):
            k, _, v = line[len("doppel-info: "):].partition("=")
            dump.facts.setdefault(k, v)
            if k == "pci.devices":
                ended = True
            continue
        m = _CONFIG.match(line)
        if m:
            cfg_lines.append(m.group(1))
            continue
        if ended:
            continue
        m = _HEADER.match(line)
        if m:
            cur = _parse_header(m, dump.errors)
            dump.functions.append(cur)
            continue
        m = _DETAIL.match(line)
        if m and cur is not None:
            _parse_detail(cur, m.group(1), dump.errors)
    if cfg_lines:
        dump.config, errs = parse_config_lines(cfg_lines)
        dump.errors += errs
    return dump


# ---- QEMU's "info pci" -------------------------------------------------------------

# QEMU 7.2 hw/pci/pci.c pci_class_descriptions: the text "info pci" prints for a
# class (base << 8 | sub); any other class is printed as "Class %04d" (decimal).
QEMU_CLASS_NAMES = {
    0x0001: "VGA controller", 0x0100: "SCSI controller", 0x0101: "IDE controller",
    0x0102: "Floppy controller", 0x0103: "IPI controller", 0x0104: "RAID controller",
    0x0106: "SATA controller", 0x0107: "SAS controller", 0x0180: "Storage controller",
    0x0200: "Ethernet controller", 0x0201: "Token Ring controller", 0x0202: "FDDI controller",
    0x0203: "ATM controller", 0x0280: "Network controller", 0x0300: "VGA controller",
    0x0301: "XGA controller", 0x0302: "3D controller", 0x0380: "Display controller",
    0x0400: "Video controller", 0x0401: "Audio controller", 0x0402: "Phone",
    0x0403: "Audio controller", 0x0480: "Multimedia controller", 0x0500: "RAM controller",
    0x0501: "Flash controller", 0x0580: "Memory controller", 0x0600: "Host bridge",
    0x0601: "ISA bridge", 0x0602: "EISA bridge", 0x0603: "MC bridge", 0x0604: "PCI bridge",
    0x0605: "PCMCIA bridge", 0x0606: "NUBUS bridge", 0x0607: "CARDBUS bridge",
    0x0608: "RACEWAY bridge", 0x0680: "Bridge", 0x0700: "Serial port", 0x0701: "Parallel port",
    0x0800: "Interrupt controller", 0x0801: "DMA controller", 0x0802: "Timer", 0x0803: "RTC",
    0x0900: "Keyboard", 0x0901: "Pen", 0x0902: "Mouse", 0x0A00: "Dock station",
    0x0B00: "i386 cpu", 0x0C00: "Firewire controller", 0x0C01: "Access bus controller",
    0x0C02: "SSA controller", 0x0C03: "USB controller", 0x0C04: "Fibre channel controller",
    0x0C05: "SMBus",
}


def qemu_class_text(class16: int) -> str:
    return QEMU_CLASS_NAMES.get(class16, f"Class {class16:04d}")


_Q_HEAD = re.compile(r"^\s*Bus\s+(\d+), device\s+(\d+), function (\d+):$")
_Q_NAME = re.compile(r"^\s*(.+): PCI device ([0-9a-f]{4}):([0-9a-f]{4})$")
_Q_SUBSYS = re.compile(r"^\s*PCI subsystem ([0-9a-f]{4}):([0-9a-f]{4})$")
_Q_IRQ = re.compile(r"^\s*IRQ (\d+), pin ([A-Z])$")
_Q_BAR = re.compile(r"^\s*BAR(\d): (?:(I/O)|(32|64) bit( prefetchable)? memory) at "
                    r"0x([0-9a-f]+) \[0x([0-9a-f]+)\]\.$")
_Q_BUS = re.compile(r"^\s*(BUS|secondary bus|subordinate bus) (\d+)\.$")
_Q_ID = re.compile(r'^\s*id "(.*)"$')
_Q_RANGE = re.compile(r"^\s*(IO|memory|prefetchable memory) range \[")


class InfoPciError(ValueError):
    pass


def parse_info_pci(text: str) -> list[PciFunction]:
    """QEMU 7.2 HMP 'info pci' (hw/pci/pci-hmp-cmds.c): every function, devices
    behind bridges included (QEMU prints them after their bridge, unindented).
    A line of no known shape raises InfoPciError naming it: the oracle must not
    be read half-way."""
    out: list[PciFunction] = []
    cur: Optional[PciFunction] = None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _Q_HEAD.match(line)
        if m:
            bus, dev, fn = (int(x) for x in m.groups())
            cur = PciFunction(Bdf(0, bus, dev, fn), -1, -1)
            out.append(cur)
            continue
        if cur is None:
            raise InfoPciError(f"info pci line {n}: text before the first device: {line!r}")
        m = _Q_NAME.match(line)
        if m and cur.vendor < 0:
            desc, ven, did = m.groups()
            cur.vendor, cur.device, cur.class_text = int(ven, 16), int(did, 16), desc.strip()
            cm = re.fullmatch(r"Class (\d{4,})", cur.class_text)
            if cm:
                cur.class16 = int(cm.group(1), 10)
            else:
                names = [c for c, t in QEMU_CLASS_NAMES.items() if t == cur.class_text]
                cur.class16 = names[0] if len(names) == 1 else None
            continue
        m = _Q_SUBSYS.match(line)
        if m:
            cur.subsys = (int(m.group(1), 16), int(m.group(2), 16))
            continue
        m = _Q_IRQ.match(line)
        if m:
            cur.line, cur.pin = int(m.group(1)), ord(m.group(2)) - ord("A") + 1
            continue
        m = _Q_BAR.match(line)
        if m:
            idx, io, width, pref, start, end = m.groups()
            start_i, end_i = int(start, 16), int(end, 16)
            size = (end_i - start_i + 1) & U64
            addr = None if start_i == U64 else start_i
            kind = "io" if io else ("mem64" if width == "64" else "mem32")
            bar = Bar(int(idx), kind, bool(pref), addr, size)
            if bar.index == 6:
                cur.rom = bar
            else:
                cur.bars[bar.index] = bar
            continue
        m = _Q_BUS.match(line)
        if m:
            what, num = m.group(1), int(m.group(2))
            cur.header_type = 1
            if what == "secondary bus":
                cur.sec_bus = num
            elif what == "subordinate bus":
                cur.sub_bus = num
            continue
        m = _Q_ID.match(line)
        if m:
            cur.qdev_id = m.group(1)
            continue
        if _Q_RANGE.match(line):
            continue
        raise InfoPciError(f"info pci line {n}: unknown line {line!r}")
    for f in out:
        if f.vendor < 0:
            raise InfoPciError(f"info pci: {f.addr} has no 'PCI device' line")
    pin_missing = [f for f in out if f.pin is None]
    for f in pin_missing:
        f.pin = 0            # QEMU prints the IRQ line only when the pin is not 0
    return out


# ---- comparison ----------------------------------------------------------------------

def _pin_name(pin: Optional[int]) -> str:
    return "?" if pin is None else ("-" if pin == 0 else "ABCD"[pin - 1] if 1 <= pin <= 4 else str(pin))


def compare_with_qemu(ours: list[PciFunction], qemu: list[PciFunction]) -> list[str]:
    """Every difference between the kernel's enumeration and QEMU's info pci, one
    line each, naming the function and the field. Empty when they agree."""
    diffs: list[str] = []
    mine, theirs = {f.addr: f for f in ours}, {f.addr: f for f in qemu}
    for a in sorted(set(theirs) - set(mine)):
        t = theirs[a]
        diffs.append(f"{a}: in QEMU ({t.vendor:04x}:{t.device:04x} {t.class_text}) but not in our dump")
    for a in sorted(set(mine) - set(theirs)):
        o = mine[a]
        diffs.append(f"{a}: in our dump ({o.vendor:04x}:{o.device:04x}) but not in QEMU")
    for a in sorted(set(mine) & set(theirs)):
        diffs += [f"{a}: {d}" for d in _compare_one(mine[a], theirs[a])]
    return diffs


def _compare_one(o: PciFunction, q: PciFunction) -> list[str]:
    d: list[str] = []
    if (o.vendor, o.device) != (q.vendor, q.device):
        d.append(f"ids {o.vendor:04x}:{o.device:04x} != QEMU {q.vendor:04x}:{q.device:04x}")
    if o.class16 is None:
        d.append("no class in our dump")
    elif qemu_class_text(o.class16) != q.class_text:
        d.append(f"class {o.class16:04x} ('{qemu_class_text(o.class16)}') != QEMU '{q.class_text}'")
    if q.subsys is not None and o.subsys != q.subsys:
        ours = "none" if o.subsys is None else f"{o.subsys[0]:04x}:{o.subsys[1]:04x}"
        d.append(f"subsystem {ours} != QEMU {q.subsys[0]:04x}:{q.subsys[1]:04x}")
    if o.skipped:
        d.append(f"skipped by the kernel ({o.skipped}) but QEMU shows a working device")
    if (o.pin or 0) != q.pin:
        d.append(f"interrupt pin {_pin_name(o.pin)} != QEMU {_pin_name(q.pin)}")
    elif q.pin and o.line != q.line:
        d.append(f"interrupt line {o.line} != QEMU {q.line}")
    if q.header_type == 1 or o.header_type == 1:
        if o.header_type != 1:
            d.append(f"QEMU shows a bridge, our header type is {o.header_type}")
        elif q.header_type != 1:
            d.append("our dump shows a bridge, QEMU does not")
        elif (o.sec_bus, o.sub_bus) != (q.sec_bus, q.sub_bus):
            d.append(f"bridge buses {o.sec_bus}-{o.sub_bus} != QEMU secondary {q.sec_bus} "
                     f"subordinate {q.sub_bus}")
    for i in sorted(set(o.bars) | set(q.bars)):
        ob, qb = o.bars.get(i), q.bars.get(i)
        if qb is None:
            if ob is not None and ob.size:
                d.append(f"{ob.describe()} not in QEMU")
            continue
        if ob is None or not ob.size:
            d.append(f"QEMU {qb.describe()} missing in our dump")
            continue
        if (ob.kind, ob.prefetchable, ob.size) != (qb.kind, qb.prefetchable, qb.size):
            d.append(f"{ob.describe()} != QEMU {qb.describe()}")
        elif qb.addr is not None and ob.addr != qb.addr:
            d.append(f"bar{i} address {ob.addr:#x} != QEMU {qb.addr:#x}")
    return d


def _short(f: Optional[PciFunction]) -> str:
    if f is None:
        return "-"
    parts = [f"{f.vendor:04x}:{f.device:04x}",
             f"class {f.class16:04x}" if f.class16 is not None else f"'{f.class_text}'",
             f"pin {_pin_name(f.pin)}" + (f"/{f.line}" if f.pin else "")]
    if f.is_bridge:
        parts.append(f"bus {f.sec_bus}-{f.sub_bus}")
    for b in sorted(f.bars.values(), key=lambda b: b.index):
        a = "-" if b.addr is None else f"{b.addr:x}"
        parts.append(f"{b.index}:{b.kind}{'p' if b.prefetchable else ''}@{a}/{b.size:x}")
    if f.skipped:
        parts.append("SKIPPED")
    return " ".join(parts)


def side_by_side(ours: list[PciFunction], qemu: list[PciFunction]) -> str:
    """Both device lists, one function a row ('!' marks a row that differs)."""
    mine, theirs = {f.addr: f for f in ours}, {f.addr: f for f in qemu}
    rows = []
    for a in sorted(set(mine) | set(theirs)):
        o, q = mine.get(a), theirs.get(a)
        bad = o is None or q is None or bool(_compare_one(o, q))
        rows.append((("!" if bad else " ") + " " + str(a), _short(o), _short(q)))
    w0 = max([len(r[0]) for r in rows] + [14])
    w1 = max([len(r[1]) for r in rows] + [10])
    out = [f"{'function':<{w0}}  {'our kernel':<{w1}}  QEMU info pci"]
    out += [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    return "\n".join(out)


def assert_matches_qemu(ours: list[PciFunction], qemu: list[PciFunction], what: str = "") -> None:
    diffs = compare_with_qemu(ours, qemu)
    if diffs:
        raise AssertionError(f"our enumeration differs from QEMU's info pci{what}:\n  "
                             + "\n  ".join(diffs) + "\n\n" + side_by_side(ours, qemu))


# ---- summary ------------------------------------------------------------------------------

def interrupt_offer(f: PciFunction) -> str:
    """The best interrupt kind a function offers: msix, msi, intx or none."""
    if f.cap(CAP_MSIX):
        return "msix"
    if f.cap(CAP_MSI):
        return "msi"
    return "intx" if f.pin else "none"


def summary_line(dump: KernelDump) -> str:
    """'9 (ecam), MSI-X 1, MSI 2, INTx 0, skipped 0': functions, config mechanism,
    how many functions offer MSI-X / MSI (and not MSI-X) / only INTx, and skipped."""
    n = dump.int_fact("pci.devices")
    n = len(dump.functions) if n is None else n
    kinds = [interrupt_offer(f) for f in dump.functions]
    skipped = dump.int_fact("pci.skipped")
    skipped = sum(1 for f in dump.functions if f.skipped) if skipped is None else skipped
    return (f"{n} ({dump.mechanism or '?'}), MSI-X {kinds.count('msix')}, MSI {kinds.count('msi')}, "
            f"INTx {kinds.count('intx')}, skipped {skipped}")
