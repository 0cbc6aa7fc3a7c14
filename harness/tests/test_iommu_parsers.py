# test_iommu_parsers.py — the VT-d fault oracle (harness/iommu.py) on golden samples
# in golden/iommu/: the console of a real boot (QEMU 7.2, SeaBIOS, intel-iommu, edu,
# ktest=iommu,dma) with the kernel's `iommu: fault:` lines and facts (docs/iommu.md),
# and QEMU's own intel-iommu trace of that boot (vtd_dmar_fault, vtd_frr_new). The
# comparison must agree on the real pair and catch each planted difference (count,
# requester ID, page, reason, access type), so a comparison that always agrees fails here.
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness import iommu
from harness.targets import QemuTarget, TargetConfigError

GOLDEN = Path(__file__).parent / "golden" / "iommu"


def console() -> list[str]:
    return (GOLDEN / "console.log").read_text().splitlines()


def trace() -> list[str]:
    return (GOLDEN / "qemu_trace.log").read_text().splitlines()


def test_kernel_fault_lines_parse():
    k = iommu.parse_kernel_faults(console())
    assert k.errors == []
    assert len(k.faults) >= 2
    for f in k.faults:
        assert f.bdf is not None and iommu.sid_of_bdf(f.bdf) == f.sid
        assert f.addr & 0xFFF == 0
        assert f.reason in iommu.REASONS
    assert {f.write for f in k.faults} == {False, True}     # the sample has both kinds


def test_qemu_trace_parses_faults_and_records():
    t = iommu.parse_qemu_trace(trace())
    assert t.errors == []
    # five faulting edu transfers of 2 KiB: QEMU splits each into 4-byte accesses and
    # traces a fault for every one, but records only the first of each request
    assert [len(g) for g in t.groups()] == [512] * 5
    assert len(t.faults) == 5 * 512 and len(t.records) == 5
    # transfers 3 and 4 hit the same IOVA with the same access: still two requests
    assert t.requests[2].describe() == t.requests[3].describe()
    for f, rec in zip(t.requests, t.records):
        # vtd_frr_new is what QEMU put into the fault recording register for the same
        # fault: decoding it per spec §11.4.14 must give the traced fault's fields
        assert (rec.sid, rec.page, rec.reason, rec.write) == (f.sid, f.page, f.reason, f.write)


def test_trace_with_log_timestamps_parses():
    """-msg timestamp=on makes the log backend prefix 'PID@SEC.USEC:'."""
    t = iommu.parse_qemu_trace(["12345@1700000000.123456:vtd_dmar_fault sid 0x10 fault 2 addr 0x5000 write 1",
                                "12345@1700000000.123460:vtd_frr_new index 0 high 0x200000010 low 0x5000"])
    assert t.errors == []
    assert t.faults[0] == iommu.Fault(0x10, 0x5000, 2, True, None, "trace", 1)
    assert t.records[0].describe() == t.faults[0].describe()


def test_requests_split_where_addresses_do_not_continue():
    t = iommu.parse_qemu_trace([f"vtd_dmar_fault sid 0x10 fault 5 addr {a:#x} write 1"
                                for a in (0x1000, 0x1004, 0x1008, 0x1000, 0x1004, 0x3000)]
                               + ["vtd_dmar_fault sid 0x10 fault 6 addr 0x3004 write 0"])
    assert [len(g) for g in t.groups()] == [3, 2, 1, 1]


def test_golden_kernel_and_qemu_agree():
    faults, t, problems = iommu.check_faults_against_qemu(console(), trace())
    assert problems == [], "\n".join(problems)
    assert len(faults) == len(t.requests) == len(t.records) == 5
    table = iommu.side_by_side(faults, t)
    assert table.count("\n") == len(faults)                 # header + one row per fault


def _planted(field_name: str, value):
    k = iommu.parse_kernel_faults(console()).faults
    k[1] = dataclasses.replace(k[1], **{field_name: value})
    return k


@pytest.mark.parametrize("field_name,value,needle", [
    ("sid", 0x0020, "sid"),
    ("addr", 0x7777000, "page"),
    ("reason", 0x02, "reason"),
    ("write", None, "vs"),
])
def test_planted_mismatch_is_caught(field_name, value, needle):
    t = iommu.parse_qemu_trace(trace())
    if field_name == "write":
        value = not iommu.parse_kernel_faults(console()).faults[1].write
    diffs = iommu.compare_faults(_planted(field_name, value), t.requests)
    assert len(diffs) == 1 and diffs[0].startswith("fault 2 ") and needle in diffs[0], diffs


def test_dropped_fault_record_is_caught():
    """A kernel that loses one fault record: the counts differ."""
    lines = console()
    first = next(i for i, ln in enumerate(lines) if ln.startswith("iommu: fault:"))
    del lines[first]
    _, _, problems = iommu.check_faults_against_qemu(lines, trace())
    assert any("the kernel logged 4 fault(s), QEMU's vtd_dmar_fault trace has 5" in p
               for p in problems), problems
    assert any("QEMU's fault records (vtd_frr_new) has 5" in p for p in problems), problems


def test_faults_qemu_did_not_record_are_explained():
    lines = console() + ["qemu-system-x86_64: New fault is not recorded due to compression of faults"]
    extra = trace() + ["vtd_dmar_fault sid 0x10 fault 6 addr 0x202000 write 0"]
    _, t, problems = iommu.check_faults_against_qemu(lines, extra)
    assert len(t.requests) == len(t.records) + 1
    assert any("compression of faults" in p for p in problems)
    assert any("recorded" in p and p.startswith("note:") for p in problems)


def test_malformed_lines_are_errors_not_skipped():
    k = iommu.parse_kernel_faults(["iommu: fault: 0000:00:03.0 sid 0x0018 addr 0x1000 reason 0x06 read",
                                   "iommu: fault: 0000:00:03.0 sid 0x0019 addr 0x0000000000001000 reason 0x06 read",
                                   "iommu: fault: 0000:00:03.0 sid 0x0018 addr 0x0000000000001234 reason 0x06 read"])
    assert len(k.errors) == 3 and len(k.faults) == 2
    assert "malformed" in k.errors[0] and "but sid" in k.errors[1] and "not a page" in k.errors[2]
    t = iommu.parse_qemu_trace(["vtd_dmar_fault sid 0x18 fault x addr 0x1 write 0"])
    assert t.faults == [] and len(t.errors) == 1


def test_report_and_summary_rows():
    r = iommu.parse_report(console())
    assert r.facts["iommu.mode"] == "vtd" and r.facts["iommu.faults"] == "5"
    assert r.units[0]["base"] == "0xfed90000" and r.units[0]["qi"] == "1"
    assert r.units[0]["mgaw"] == "39" and r.units[-1]["faults"] == "5"
    assert r.dma["0000:00:02.0"].policy == "iommu"
    assert r.dma["0000:00:02.0"].int_field("mask") == (1 << 28) - 1
    assert r.leaks and r.released == {"0000:00:02.0": 1}     # the ledger case's planted leak
    rows = dict(iommu.summary_rows(r))
    assert rows["IOMMU"] == "vtd, 1 unit, qi 1, cm 0, faults 5"
    assert rows["DMA policy"] == "0000:00:02.0 iommu"
    dev = iommu.parse_report(["iommu:   0000:00:03.0 domain 3 levels 3"])
    assert dev.attached == {"0000:00:03.0": (3, 3)}
    ident = iommu.parse_report(["doppel-info: iommu.mode=identity", "doppel-info: iommu.units=0"])
    assert dict(iommu.summary_rows(ident))["IOMMU"] == "identity, 0 units, faults 0"
    assert iommu.summary_rows(iommu.parse_report([]))[0][1].startswith("not reported")


def test_leak_lines_parse():
    r = iommu.parse_report(["dma: leak: 0000:00:03.0 bus 0x1000 len 4096 (mapped at kernel/dma/dma_ktest.c:88)",
                            "dma: 0000:00:03.0 released with 1 leaked mapping(s)"])
    assert r.leaks == [("0000:00:03.0", 0x1000, 4096, "kernel/dma/dma_ktest.c:88")]
    assert r.released == {"0000:00:03.0": 1}


def test_qemu_command_has_iommu_properties_and_trace_file(tmp_path):
    iso = tmp_path / "doppel.iso"
    iso.write_bytes(b"")
    t = QemuTarget(tmp_path, iso=iso, iommu=True, iommu_props={"caching-mode": "on"},
                   trace=iommu.TRACE_EVENTS)
    t._runs = 1
    cmd = t.command("ktest=iommu")
    assert cmd[cmd.index("-device") + 1] == "intel-iommu,caching-mode=on"
    traces = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-trace"]
    path = str((tmp_path / "qemu-trace.log").resolve())
    assert traces == [f"enable={e},file={path}" for e in iommu.TRACE_EVENTS]
    assert "caching-mode=on" in t.label
    with pytest.raises(TargetConfigError):
        QemuTarget(tmp_path, iso=iso, iommu=False, iommu_props={"caching-mode": "on"})
    with pytest.raises(TargetConfigError):
        QemuTarget(tmp_path, iso=iso, iommu=True, iommu_props={"caching-mode": "on,x=1"})


def _result(lines: list[str], trace_path: Path):
    from harness.targets import RunResult
    facts = {}
    for ln in lines:
        if ln.startswith("doppel-info: "):
            k, _, v = ln[len("doppel-info: "):].partition("=")
            facts.setdefault(k, v)
    return RunResult(target="qemu", label="golden", command=[], artifact_dir=GOLDEN,
                     console_log=GOLDEN / "console.log", lines=lines, facts=facts,
                     trace_log=trace_path)


def test_scripts_run_iommu_rows_show_the_verdict(tmp_path):
    from harness.run import iommu_rows
    rows = dict(iommu_rows(_result(console(), GOLDEN / "qemu_trace.log")))
    assert rows["IOMMU"] == "vtd, 1 unit, qi 1, cm 0, faults 5 (QEMU's trace: 5, agree)"
    # a console that lost a fault line: the row says so and the reason follows
    lines = console()
    del lines[next(i for i, ln in enumerate(lines) if ln.startswith("iommu: fault:"))]
    rows = iommu_rows(_result(lines, GOLDEN / "qemu_trace.log"))
    assert "difference(s)" in rows[0][1] and "the kernel logged 4 fault(s)" in rows[-1][1], rows


def test_summary_names_the_planted_leak_apart_from_real_ones():
    lines = [
        "dma: leak: 0000:00:02.0 bus 0x1000 len 512 (mapped at kernel/dma/dma_ktest.c:461)",
        "dma: 0000:00:02.0 released with 1 leaked mapping(s)",
        "dma: leak: 0000:00:03.0 bus 0x2000 len 4096 (mapped at kernel/drivers/edu/edu.c:10)",
        "dma: 0000:00:03.0 released with 1 leaked mapping(s)",
    ]
    rows = dict(iommu.summary_rows(iommu.parse_report(lines, {"iommu.mode": "vtd"})))
    assert rows["DMA leaks"] == "2 mapping(s) reported at release (1 planted by the dma suite's ledger test)"
