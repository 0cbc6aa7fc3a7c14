# iommu.py — the harness's view of VT-d and the DMA API (docs/iommu.md): parse the
# kernel's fault lines (`iommu: fault: ...`), facts and dumps, parse QEMU 7.2's own
# intel-iommu trace (`vtd_dmar_fault`, `vtd_frr_new`), compare the two fault lists
# pairwise (requester ID, page, reason, access type), print them side by side, and
# make the scripts/run summary rows. Fault reasons: Intel VT-d spec rev 3.x, Appendix A.
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Optional

PAGE_MASK = ~0xFFF
# The trace events the harness enables on QEMU (hw/i386/trace-events in QEMU 7.2):
#   vtd_dmar_fault "sid 0x%x fault %d addr 0x%lx write %d"   every translation fault
#                  QEMU detects, traced before it decides whether to record it;
#   vtd_frr_new    "index %d high 0x%lx low 0x%lx"            a fault QEMU wrote into a
#                  fault recording register (what the guest can read).
TRACE_EVENTS = ("vtd_dmar_fault", "vtd_frr_new")
# QEMU's VTDFaultReason (hw/i386/intel_iommu_internal.h) numbers the DMA-remapping
# reasons 1..0xd exactly as the spec's Appendix A does, and the trace prints that
# number in decimal; so trace "fault 6" is spec reason 0x06. The names below are the
# spec's conditions, shortened.
REASONS = {
    0x01: "root entry not present",
    0x02: "context entry not present",
    0x03: "invalid context entry",
    0x04: "address beyond MGAW",
    0x05: "write without write permission",
    0x06: "read without read permission",
    0x07: "paging entry access failed",
    0x08: "root table access failed",
    0x09: "context table access failed",
    0x0A: "reserved bits in root entry",
    0x0B: "reserved bits in context entry",
    0x0C: "reserved bits in paging entry",
    0x0D: "blocked by context entry type",
}
# QEMU prints these on stderr (our console) when it traced a fault but did not record it.
QEMU_UNRECORDED = ("New fault is not recorded due to Primary Fault Overflow",
                   "New fault is not recorded due to compression of faults",
                   "Next Fault Recording Reg is used")

BDF = r"([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])"
_KFAULT = re.compile(r"^iommu: fault: " + BDF + r" sid 0x([0-9a-f]{4}) addr 0x([0-9a-f]{16}) "
                     r"reason 0x([0-9a-f]{2}) (read|write)$")
# The log backend's optional "PID@SEC.USEC:" prefix (-msg timestamp=on) is accepted.
_PREFIX = r"^(?:\d+@\d+\.\d+:)?"
_TFAULT = re.compile(_PREFIX + r"vtd_dmar_fault sid 0x([0-9a-f]+) fault (\d+) addr 0x([0-9a-f]+) "
                     r"write ([01])\s*$")
_TFRR = re.compile(_PREFIX + r"vtd_frr_new index (\d+) high 0x([0-9a-f]+) low 0x([0-9a-f]+)\s*$")
_UNIT = re.compile(r"^iommu: unit (\d+) base (0x[0-9a-f]+) ver (\d+\.\d+) (.*)$")
_UNIT_DEV = re.compile(r"^iommu:   " + BDF + r" domain (\d+) levels (\d+)\s*$")
_DMA = re.compile(r"^dma: " + BDF + r" policy (iommu|bounce|direct) (.*)$")
_LEAK = re.compile(r"^dma: leak: " + BDF + r" bus (0x[0-9a-f]+) len (\d+)(?: \(mapped at (.*)\))?$")
_RELEASED = re.compile(r"^dma: " + BDF + r" released with (\d+) leaked mapping\(s\)$")


def sid_text(sid: int) -> str:
    """Requester ID as bus:dev.fn (PCIe: bus << 8 | dev << 3 | fn)."""
    return f"{sid >> 8:02x}:{(sid >> 3) & 0x1F:02x}.{sid & 7}"


def sid_of_bdf(bdf: str) -> int:
    _, bus, devfn = bdf.split(":")
    dev, fn = devfn.split(".")
    return int(bus, 16) << 8 | int(dev, 16) << 3 | int(fn, 16)


@dataclass(frozen=True)
class Fault:
    """One DMA-remapping fault as either side saw it. `addr` is what the source
    gives (the kernel: the page from the fault record; QEMU's trace: the whole IOVA);
    comparisons use `page`."""
    sid: int
    addr: int
    reason: int
    write: bool
    bdf: Optional[str] = None        # the kernel's line names the device too
    source: str = ""                 # "kernel", "trace", "record"
    line: int = 0                    # 1-based line number in its source

    @property
    def page(self) -> int:
        return self.addr & PAGE_MASK

    def describe(self) -> str:
        return (f"sid {self.sid:#06x} ({sid_text(self.sid)}) page {self.page:#x} "
                f"reason {self.reason:#04x} {'write' if self.write else 'read'}")


@dataclass
class Faults:
    faults: list[Fault] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)     # lines that looked like ours but did not parse


def parse_kernel_faults(lines: Iterable[str]) -> Faults:
    """Every `iommu: fault:` line of the console (docs/iommu.md), in order. A line
    that starts like one but does not match the format is an error, not skipped."""
    out = Faults()
    for n, ln in enumerate(lines, 1):
        if not ln.startswith("iommu: fault:"):
            continue
        m = _KFAULT.match(ln.rstrip())
        if not m:
            out.errors.append(f"console line {n}: malformed fault line: {ln.rstrip()!r}")
            continue
        bdf, sid, addr, reason, rw = m.groups()
        f = Fault(int(sid, 16), int(addr, 16), int(reason, 16), rw == "write", bdf, "kernel", n)
        if sid_of_bdf(bdf) != f.sid:
            out.errors.append(f"console line {n}: device {bdf} but sid {f.sid:#06x} "
                              f"({sid_text(f.sid)})")
        if f.addr & 0xFFF:
            out.errors.append(f"console line {n}: fault address {f.addr:#x} is not a page "
                              f"(the fault record holds bits 63:12)")
        out.faults.append(f)
    return out


# One DMA request that QEMU cannot translate faults once per access it splits the
# request into (QEMU 7.2 retries an unassigned region 4 bytes at a time: a 2 KiB edu
# transfer is 512 vtd_dmar_fault lines with addresses 4 apart). QEMU records only
# the first of them; the rest find a fault of the same source ID pending and are
# dropped ("compression of faults", spec §7.2.1 allows it). A request is therefore
# a run of traced faults with the same source ID, reason and access type whose
# addresses keep ascending by at most MAX_ACCESS bytes; a new request starts anywhere
# else (a second transfer to the same IOVA starts again at its first byte).
MAX_ACCESS = 8


@dataclass
class QemuTrace:
    """QEMU's intel-iommu trace: faults it detected (vtd_dmar_fault), grouped into
    DMA requests, and faults it recorded in a fault recording register (vtd_frr_new,
    decoded per spec §11.4.14: high bits 15:0 SID, 39:32 reason, 62 type = 1 for a
    read; low bits 63:12 the page)."""
    faults: list[Fault] = field(default_factory=list)
    records: list[Fault] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> list[Fault]:
        """The first fault of each faulting DMA request."""
        return [g[0] for g in self.groups()]

    def groups(self) -> list[list[Fault]]:
        out: list[list[Fault]] = []
        for f in self.faults:
            if out:
                p = out[-1][-1]
                if ((p.sid, p.reason, p.write) == (f.sid, f.reason, f.write)
                        and 0 < f.addr - p.addr <= MAX_ACCESS):
                    out[-1].append(f)
                    continue
            out.append([f])
        return out


def parse_qemu_trace(lines: Iterable[str]) -> QemuTrace:
    out = QemuTrace()
    for n, ln in enumerate(lines, 1):
        ln = ln.rstrip("\n")
        if "vtd_dmar_fault" in ln:
            m = _TFAULT.match(ln)
            if not m:
                out.errors.append(f"trace line {n}: unreadable vtd_dmar_fault: {ln!r}")
                continue
            sid, reason, addr, w = m.groups()
            out.faults.append(Fault(int(sid, 16), int(addr, 16), int(reason, 10), w == "1",
                                    None, "trace", n))
        elif "vtd_frr_new" in ln:
            m = _TFRR.match(ln)
            if not m:
                out.errors.append(f"trace line {n}: unreadable vtd_frr_new: {ln!r}")
                continue
            hi, lo = int(m.group(2), 16), int(m.group(3), 16)
            out.records.append(Fault(hi & 0xFFFF, lo & PAGE_MASK, (hi >> 32) & 0xFF,
                                     not (hi >> 62) & 1, None, "record", n))
    return out


def compare_faults(kernel: list[Fault], qemu: list[Fault], what: str = "QEMU's trace") -> list[str]:
    """Differences between the kernel's fault lines and QEMU's, pairwise in order:
    the same number, and for each pair the same requester ID, page, reason and
    access type. Empty when they agree."""
    diffs = []
    if len(kernel) != len(qemu):
        diffs.append(f"the kernel logged {len(kernel)} fault(s), {what} has {len(qemu)}")
    for i, (k, q) in enumerate(zip(kernel, qemu), 1):
        bad = []
        if k.sid != q.sid:
            bad.append(f"sid {k.sid:#06x} vs {q.sid:#06x}")
        if k.page != q.page:
            bad.append(f"page {k.page:#x} vs {q.page:#x}")
        if k.reason != q.reason:
            bad.append(f"reason {k.reason:#04x} vs {q.reason:#04x}")
        if k.write != q.write:
            bad.append(f"{'write' if k.write else 'read'} vs {'write' if q.write else 'read'}")
        if bad:
            diffs.append(f"fault {i} (console line {k.line}, {what} line {q.line}): " + ", ".join(bad))
    return diffs


def side_by_side(kernel: list[Fault], trace: QemuTrace) -> str:
    """The kernel's faults beside QEMU's faulting requests (with the number of
    vtd_dmar_fault lines each request produced) and QEMU's fault records."""
    groups = trace.groups()
    rows = [("#", "kernel (iommu: fault:)", "QEMU vtd_dmar_fault (first of the request)",
             "lines", "QEMU vtd_frr_new (recorded)")]
    for i in range(max(len(kernel), len(groups), len(trace.records))):
        k = kernel[i].describe() if i < len(kernel) else "-"
        q = groups[i][0].describe() if i < len(groups) else "-"
        n = str(len(groups[i])) if i < len(groups) else "-"
        r = trace.records[i].describe() if i < len(trace.records) else "-"
        rows.append((str(i + 1), k, q, n, r))
    w = [max(len(r[c]) for r in rows) for c in range(5)]
    return "\n".join(f"  {a:>{w[0]}}  {b:<{w[1]}}  {c:<{w[2]}}  {d:>{w[3]}}  {e}"
                     for a, b, c, d, e in rows)


def explain_unrecorded(trace: QemuTrace, console: Iterable[str]) -> list[str]:
    """Why QEMU may have recorded fewer requests than it detected: its own stderr
    notes (primary fault overflow, a fault of the same source still pending)."""
    notes = [ln.strip() for ln in console if any(s in ln for s in QEMU_UNRECORDED)]
    if len(trace.records) != len(trace.requests):
        notes.append(f"QEMU saw {len(trace.requests)} faulting request(s) "
                     f"({len(trace.faults)} vtd_dmar_fault lines) and recorded "
                     f"{len(trace.records)} in its fault recording register: a request "
                     f"faulted while an earlier record was still pending")
    return notes


def check_faults_against_qemu(console: list[str], trace_lines: Iterable[str]) -> tuple[list[Fault], QemuTrace, list[str]]:
    """The whole oracle: parse both sides, compare the kernel's faults with QEMU's
    faulting requests (vtd_dmar_fault, grouped) and with what QEMU recorded for the
    guest (vtd_frr_new). Returns (kernel faults, trace, problems)."""
    k = parse_kernel_faults(console)
    t = parse_qemu_trace(trace_lines)
    problems = k.errors + t.errors
    problems += compare_faults(k.faults, t.requests, "QEMU's vtd_dmar_fault trace")
    problems += compare_faults(k.faults, t.records, "QEMU's fault records (vtd_frr_new)")
    if problems:
        problems += [f"note: {n}" for n in explain_unrecorded(t, console)]
    return k.faults, t, problems


# ---- facts and dumps (scripts/run, tests) ---------------------------------------

@dataclass
class DmaDevice:
    bdf: str
    policy: str
    fields: dict[str, str] = field(default_factory=dict)    # mask, live, bytes, pages, maps, ...

    def int_field(self, key: str) -> Optional[int]:
        try:
            return int(self.fields[key], 0)
        except (KeyError, ValueError):
            return None


@dataclass
class IommuReport:
    facts: dict[str, str] = field(default_factory=dict)
    units: list[dict[str, str]] = field(default_factory=list)
    attached: dict[str, tuple[int, int]] = field(default_factory=dict)  # bdf -> (domain, levels)
    dma: dict[str, DmaDevice] = field(default_factory=dict)             # last dump line per device
    leaks: list[tuple[str, int, int, str]] = field(default_factory=list)  # bdf, bus, len, where
    released: dict[str, int] = field(default_factory=dict)              # bdf -> leaked count
    faults: list[Fault] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _kv(text: str) -> dict[str, str]:
    w = text.split()
    return {w[i]: w[i + 1] for i in range(0, len(w) - 1, 2)}


def parse_report(lines: Iterable[str], facts: Optional[dict[str, str]] = None) -> IommuReport:
    lines = list(lines)
    r = IommuReport(facts={k: v for k, v in (facts or {}).items()
                           if k.startswith(("iommu.", "dma."))})
    kf = parse_kernel_faults(lines)
    r.faults, r.errors = kf.faults, list(kf.errors)
    for ln in lines:
        if ln.startswith("doppel-info: iommu.") or ln.startswith("doppel-info: dma."):
            k, _, v = ln[len("doppel-info: "):].partition("=")
            r.facts.setdefault(k, v.strip())
        elif m := _UNIT.match(ln):
            u = {"index": m.group(1), "base": m.group(2), "ver": m.group(3), **_kv(m.group(4))}
            r.units.append(u)
        elif m := _UNIT_DEV.match(ln):
            r.attached[m.group(1)] = (int(m.group(2)), int(m.group(3)))
        elif m := _LEAK.match(ln):
            r.leaks.append((m.group(1), int(m.group(2), 16), int(m.group(3)), m.group(4) or ""))
        elif m := _RELEASED.match(ln):
            r.released[m.group(1)] = int(m.group(2))
        elif m := _DMA.match(ln):
            r.dma[m.group(1)] = DmaDevice(m.group(1), m.group(2), _kv(m.group(3)))
    return r


def summary_rows(r: IommuReport) -> list[tuple[str, str]]:
    """Rows for the scripts/run summary: 'IOMMU  vtd, 1 unit, qi 1, cm 0, faults 2'
    and 'DMA  0000:00:03.0 iommu, ...'."""
    f = r.facts
    mode = f.get("iommu.mode")
    if mode is None and not r.units:
        return [("IOMMU", "not reported (no iommu facts in the console)")]
    units = f.get("iommu.units", str(len(r.units)))
    try:
        nu = int(units)
        units_text = f"{nu} unit" + ("" if nu == 1 else "s")
    except ValueError:
        units_text = f"{units} units"
    faults = f.get("iommu.faults", str(len(r.faults)))
    row = f"{mode or '?'}, {units_text}"
    if mode != "identity":
        row += f", qi {f.get('iommu.qi', '?')}, cm {f.get('iommu.caching_mode', '?')}"
    row += f", faults {faults}"
    rows = [("IOMMU", row)]
    if r.dma:
        rows.append(("DMA policy", ", ".join(f"{d.bdf} {d.policy}" for d in r.dma.values())))
    if r.leaks or any(r.released.values()):
        # The dma suite's ledger case leaks one mapping on purpose to see it reported.
        planted = sum(1 for leak in r.leaks if leak[3].startswith("kernel/dma/dma_ktest.c"))
        text = f"{len(r.leaks)} mapping(s) reported at release"
        if planted:
            text += f" ({planted} planted by the dma suite's ledger test)"
        rows.append(("DMA leaks", text))
    return rows


# ---- doppel-sim's VT-d model (models/vtd) -----------------------------------------
# The model logs each fault it records (`sim: vtd: fault recorded: sid 0x0010 addr
# 0xf000000 reason 0x05 write`, the first 64 of a run) and reports its counters at
# exit (`sim: stats vtd: translations=N faults=N stale_iotlb_hits=N ...`).
_SIM_FAULT = re.compile(r"^sim: vtd: fault recorded: sid 0x([0-9a-f]{4}) addr 0x([0-9a-f]+) "
                        r"reason 0x([0-9a-f]{2}) (read|write)$")
_SIM_STATS = re.compile(r"^sim: stats vtd: (.*)$")


def parse_sim_model_faults(lines: Iterable[str]) -> list[Fault]:
    out = []
    for n, ln in enumerate(lines, 1):
        m = _SIM_FAULT.match(ln.rstrip())
        if m:
            sid, addr, reason, rw = m.groups()
            out.append(Fault(int(sid, 16), int(addr, 16), int(reason, 16), rw == "write",
                             None, "model", n))
    return out


def sim_vtd_stats(lines: Iterable[str]) -> Optional[dict[str, int]]:
    """The VT-d model's exit counters, or None when the run printed none (no unit)."""
    for ln in lines:
        m = _SIM_STATS.match(ln.rstrip())
        if m:
            out = {}
            for kv in m.group(1).split():
                k, _, v = kv.partition("=")
                try:
                    out[k] = int(v, 0)
                except ValueError:
                    pass
            return out
    return None
