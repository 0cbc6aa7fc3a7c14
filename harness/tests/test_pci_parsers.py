# test_pci_parsers.py — the PCI oracles' parsers and comparisons (harness/pci.py,
# harness/lspci.py) on golden samples in golden/pci/: QEMU 7.2's "info pci" (checked
# against QEMU's own query-pci JSON of the same moment), the kernel's dump
# (docs/pci.md) and lspci -vv output. Each comparison is also shown to catch a
# planted difference, so a comparison that always agrees cannot pass here.
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness import lspci, pci

GOLDEN = Path(__file__).parent / "golden" / "pci"
FIRMWARES = ("seabios", "ovmf")


def info(fw: str) -> list[pci.PciFunction]:
    return pci.parse_info_pci((GOLDEN / f"info_pci_{fw}.txt").read_text())


def kernel_dump(name: str = "kernel_dump_seabios.log") -> pci.KernelDump:
    return pci.parse_kernel_dump((GOLDEN / name).read_text().splitlines())


def _flatten(devs: list[dict]) -> list[dict]:
    out = []
    for d in devs:
        out.append(d)
        out += _flatten(d.get("pci_bridge", {}).get("devices", []))
    return out


# ---- info pci ---------------------------------------------------------------------

@pytest.mark.parametrize("fw", FIRMWARES)
def test_info_pci_text_agrees_with_qemus_query_pci_json(fw):
    """Two renderings of the same QEMU state: the text parser must recover every
    field query-pci gives (bus/slot/function, ids, class, subsystem, pin and line,
    BAR kind/address/size, bridge buses)."""
    js = _flatten(json.loads((GOLDEN / f"query_pci_{fw}.json").read_text())[0]["devices"])
    got = {f.addr: f for f in info(fw)}
    assert len(got) == len(js) == 12
    for d in js:
        f = got[pci.Bdf(0, d["bus"], d["slot"], d["function"])]
        assert (f.vendor, f.device) == (d["id"]["vendor"], d["id"]["device"])
        assert f.class16 == d["class_info"]["class"]
        if "subsystem" in d["id"]:
            assert f.subsys == (d["id"]["subsystem-vendor"], d["id"]["subsystem"])
        assert f.pin == d["irq_pin"] and f.line == d.get("irq")
        if "pci_bridge" in d:
            b = d["pci_bridge"]["bus"]
            assert (f.sec_bus, f.sub_bus) == (b["secondary"], b["subordinate"])
        regions = {r["bar"]: r for r in d["regions"] if r["bar"] < 6}
        assert set(f.bars) == set(regions)
        for i, r in regions.items():
            bar = f.bars[i]
            assert bar.size == r["size"] and bar.addr == r["address"]
            assert bar.kind == ("io" if r["type"] == "io" else "mem64" if r["mem_type_64"] else "mem32")
            assert bar.prefetchable == bool(r.get("prefetch"))


def test_info_pci_reads_devices_behind_bridges_and_decimal_class_numbers():
    f = {x.addr: x for x in info("seabios")}
    assert f[pci.Bdf(0, 1, 0, 0)].device == 0x11e8              # edu behind the root port
    assert f[pci.Bdf(0, 2, 3, 0)].pin == 0                        # pci-testdev: no pin
    nvme = f[pci.Bdf(0, 0, 2, 0)]
    assert nvme.class_text == "Class 0264" and nvme.class16 == 0x0108   # printed in decimal
    assert f[pci.Bdf(0, 0, 1, 0)].rom is not None and 6 not in f[pci.Bdf(0, 0, 1, 0)].bars


def test_unmapped_bar_has_no_address_but_its_size():
    text = ("  Bus  0, device   1, function 0:\n    Ethernet controller: PCI device 8086:10d3\n"
            "      BAR0: 32 bit memory at 0xffffffffffffffff [0x0001fffe].\n      id \"\"\n")
    bar = pci.parse_info_pci(text)[0].bars[0]
    assert bar.addr is None and bar.size == 0x20000


def test_info_pci_refuses_unknown_lines():
    with pytest.raises(pci.InfoPciError, match="line 3"):
        pci.parse_info_pci("  Bus  0, device   0, function 0:\n    Host bridge: PCI device 8086:29c0\n"
                           "      something new\n")


# ---- the kernel's dump -------------------------------------------------------------

def test_kernel_dump_parses_functions_bars_caps_and_facts():
    d = kernel_dump()
    assert d.problems() == []
    assert len(d.functions) == 12 and d.mechanism == "ecam"
    f = d.by_addr()
    nic = f[pci.Bdf(0, 0, 1, 0)]
    assert nic.bars[2] == pci.Bar(2, "io", False, 0xd040, 0x20)
    msix = nic.cap(pci.CAP_MSIX)
    assert msix.off == 0xa0 and msix.fields == {"enable": "0", "count": "5", "masked": "0",
                                                "table": "bar3+0x0", "pba": "bar3+0x2000"}
    assert [c.describe() for c in nic.caps if c.ext] == ["ecap 0x0001 v2 @0x100", "ecap 0x0003 v1 @0x140"]
    br = f[pci.Bdf(0, 0, 5, 0)]
    assert br.is_bridge and (br.sec_bus, br.sub_bus) == (1, 1)
    assert f[pci.Bdf(0, 0, 0, 0)].pin == 0 and f[pci.Bdf(0, 0, 0, 0)].line == 0
    assert pci.parse_kernel_dump(["pci: 0000:00:00.0 8086:29c0 pin - line -"]).functions[0].line == 0xFF


def test_kernel_log_lines_about_a_device_are_not_dump_lines():
    lines = (GOLDEN / "kernel_dump_seabios.log").read_text().splitlines()
    assert sum(ln.startswith("pci: found 0000:") for ln in lines) == 12    # log lines in the sample
    extra = ["pci: 0000:00:02.0: no interrupt mode could be set up (last error -28)",
             "pci: device 0000:00:10.0 1234:bad0: capability loop at 0x40; skipped"]
    d = pci.parse_kernel_dump(extra + lines)
    assert len(d.functions) == 12 and not d.errors and d.problems() == []


def test_dump_problems_name_count_mismatches():
    lines = (GOLDEN / "kernel_dump_seabios.log").read_text().splitlines()
    lines = [ln for ln in lines if not ln.startswith("pci: 0000:00:04.0 ")]
    assert "pci.devices=12 but the dump lists 11 functions" in pci.parse_kernel_dump(lines).problems()
    assert pci.parse_kernel_dump(["doppel-info: exit=0"]).problems()[0].startswith("no 'pci:")


def test_summary_line_counts_interrupt_kinds():
    assert pci.summary_line(kernel_dump()) == "12 (ecam), MSI-X 3, MSI 5, INTx 1, skipped 0"


# ---- kernel dump against info pci ------------------------------------------------------

def test_matching_dump_and_info_pci_agree():
    assert pci.compare_with_qemu(kernel_dump().functions, info("seabios")) == []


def _mutate(addr: str, **changes) -> list[str]:
    d = kernel_dump()
    a = pci.Bdf.parse(addr)
    fs = [dataclasses.replace(f, **changes) if f.addr == a else f for f in d.functions]
    return pci.compare_with_qemu(fs, info("seabios"))


@pytest.mark.parametrize("addr,changes,needle", [
    ("0000:00:04.0", {"device": 0x11e9}, "ids 1234:11e9 != QEMU 1234:11e8"),
    ("0000:00:02.0", {"class16": 0x0106}, "class 0106 ('SATA controller') != QEMU 'Class 0264'"),
    ("0000:00:04.0", {"subsys": (0x1af4, 0x1101)}, "subsystem 1af4:1101 != QEMU 1af4:1100"),
    ("0000:00:04.0", {"pin": 2}, "interrupt pin B != QEMU A"),
    ("0000:00:04.0", {"line": 11}, "interrupt line 11 != QEMU 10"),
    ("0000:00:05.0", {"sub_bus": 2}, "bridge buses 1-2 != QEMU secondary 1 subordinate 1"),
    ("0000:00:04.0", {"skipped": "vanished"}, "skipped by the kernel"),
    ("0000:00:02.0", {"bars": {0: pci.Bar(0, "mem64", False, 0xfe784000, 0x2000)}}, "size 0x2000 != QEMU"),
    ("0000:00:02.0", {"bars": {0: pci.Bar(0, "mem32", False, 0xfe784000, 0x4000)}}, "mem32"),
    ("0000:00:02.0", {"bars": {0: pci.Bar(0, "mem64", False, 0xfe785000, 0x4000)}},
     "bar0 address 0xfe785000 != QEMU 0xfe784000"),
    ("0000:00:1f.3", {"bars": {}}, "QEMU bar4 io 0x700 size 0x40 missing in our dump"),
])
def test_each_planted_difference_is_named(addr, changes, needle):
    diffs = _mutate(addr, **changes)
    assert len(diffs) == 1 and diffs[0].startswith(addr) and needle in diffs[0], diffs


def test_missing_and_extra_functions_are_named_and_shown_side_by_side():
    d = kernel_dump()
    ours = [f for f in d.functions if f.addr != pci.Bdf(0, 1, 0, 0)]
    ours.append(dataclasses.replace(ours[0], addr=pci.Bdf(0, 3, 0, 0)))
    diffs = pci.compare_with_qemu(ours, info("seabios"))
    assert "0000:01:00.0: in QEMU (1234:11e8 Class 0255) but not in our dump" in diffs
    assert "0000:03:00.0: in our dump (8086:29c0) but not in QEMU" in diffs
    with pytest.raises(AssertionError) as e:
        pci.assert_matches_qemu(ours, info("seabios"))
    table = str(e.value)
    assert "our kernel" in table and "QEMU info pci" in table
    row = next(ln for ln in table.splitlines() if "0000:01:00.0" in ln and not ln.startswith(" "))
    assert row.startswith("!") and "1234:11e8" in row


def test_bar_unmapped_in_qemu_compares_kind_and_size_only():
    q = info("seabios")
    q = [dataclasses.replace(f, bars={i: dataclasses.replace(b, addr=None) for i, b in f.bars.items()})
         for f in q]
    assert pci.compare_with_qemu(kernel_dump().functions, q) == []


# ---- config images and lspci -------------------------------------------------------------

def test_config_lines_become_images_of_the_right_size():
    d = kernel_dump("kernel_config_sample.log")
    assert d.problems() == []
    assert {len(v) for v in d.config.values()} == {4096}
    img = d.config[pci.Bdf.parse("0000:00:03.0")]
    assert img[:4] == bytes.fromhex("361b1000")


def test_lspci_file_has_an_address_line_lspci_accepts(tmp_path):
    d = kernel_dump("kernel_config_sample.log")
    text = lspci.write_dump_file(d.config, tmp_path / "x.txt").read_text().splitlines()
    assert text[0] == "0000:00:02.0 config" and text[1].startswith("00: 34 12 e8 11")
    assert any(ln.startswith("100: ") for ln in text)
    again, errs = pci.parse_config_lines(text)
    assert again == d.config and not errs


def test_lspci_output_parse():
    devs = lspci.parse_lspci((GOLDEN / "lspci_sample.txt").read_text())
    nv = devs[pci.Bdf.parse("0000:00:03.0")]
    assert [(c.off, c.ext, c.ver) for c in nv.caps] == [(0x40, False, None), (0x60, False, None),
                                                       (0x80, False, None), (0x100, True, 2),
                                                       (0x148, True, 1)]
    assert nv.caps[0].fields == {"enable": "0", "count": "65", "masked": "0",
                                 "table": "bar0+0x2000", "pba": "bar0+0x3000"}
    td = devs[pci.Bdf.parse("0000:01:00.0")]
    assert td.caps[0].fields == {"enable": "0", "count": "1/32", "maskable": "1", "64bit": "1"}
    assert devs[pci.Bdf.parse("0000:00:10.0")].chain_notes == ["[40] <chain looped>"]


def test_golden_lspci_output_agrees_with_the_dump():
    d = kernel_dump("kernel_config_sample.log")
    devs = lspci.parse_lspci((GOLDEN / "lspci_sample.txt").read_text())
    assert lspci.compare_dump(d, devs) == []


@pytest.mark.parametrize("addr,old,new,needle", [
    ("0000:00:03.0", "count 65", "count 64", "MSI-X count 64 != lspci 65"),
    ("0000:00:03.0", "pba bar0+0x3000", "pba bar0+0x3800", "MSI-X pba bar0+0x3800 != lspci bar0+0x3000"),
    ("0000:00:03.0", "enable 0 count 65", "enable 1 count 65", "MSI-X enable 1 != lspci 0"),
    ("0000:00:02.0", "64bit 1", "64bit 0", "MSI 64bit 0 != lspci 1"),
    ("0000:01:00.0", "count 1/32", "count 1/16", "MSI vectors offered 16 != lspci 32"),
    ("0000:01:00.0", "maskable 1", "maskable 0", "MSI maskable 0 != lspci 1"),
    ("0000:00:03.0", "cap 0x01 pm @0x60", "cap 0x01 pm @0x68", "ours at 0x68"),
    ("0000:00:03.0", "cap 0x01 pm @0x60", "cap 0x0d ssvid @0x60", "'Subsystem', lspci says 'Power Management"),
    ("0000:00:03.0", "ecap 0x0019 v1 @0x148", "ecap 0x0019 v2 @0x148", "version 2 != lspci 1"),
])
def test_each_planted_capability_difference_is_named(addr, old, new, needle):
    text = (GOLDEN / "kernel_config_sample.log").read_text()
    assert old in text
    d = pci.parse_kernel_dump(text.replace(old, new, 1).splitlines())
    diffs = lspci.compare_dump(d, lspci.parse_lspci((GOLDEN / "lspci_sample.txt").read_text()))
    assert len(diffs) == 1 and diffs[0].startswith(addr) and needle in diffs[0], diffs


def test_dropped_capability_is_named_both_ways():
    text = (GOLDEN / "kernel_config_sample.log").read_text()
    d = pci.parse_kernel_dump(text.replace("pci:   ecap 0x0019 v1 @0x148\n", "").splitlines())
    diffs = lspci.compare_dump(d, lspci.parse_lspci((GOLDEN / "lspci_sample.txt").read_text()))
    assert diffs == ["0000:00:03.0: ecap at 0x148 (Secondary PCI Express) shown by lspci, not in our dump"]


def test_dynamic_fields_can_be_left_out():
    text = (GOLDEN / "kernel_config_sample.log").read_text().replace("enable 0 count 65", "enable 1 count 65")
    d = pci.parse_kernel_dump(text.splitlines())
    devs = lspci.parse_lspci((GOLDEN / "lspci_sample.txt").read_text())
    assert lspci.compare_dump(d, devs, dynamic=False) == []


def test_golden_lspci_of_a_real_qemu_dump_agrees():
    # e1000e, NVMe, edu, PCIe root port and PCI-PCI bridge as QEMU 7.2 built them
    d = kernel_dump("kernel_config_qemu.log")
    assert d.problems() == [] and len(d.functions) == 5
    devs = lspci.parse_lspci((GOLDEN / "lspci_qemu.txt").read_text())
    assert lspci.compare_dump(d, devs) == []
    nic = devs[pci.Bdf.parse("0000:00:01.0")]
    assert [c.text.split(":")[0].split(" (")[0] for c in nic.caps][:4] == [
        "Power Management version 2", "MSI", "Express", "MSI-X"]


@pytest.mark.skipif(lspci.lspci_path() is None, reason="lspci (pciutils) is not installed")
@pytest.mark.parametrize("sample,golden", [("kernel_config_sample.log", "lspci_sample.txt"),
                                           ("kernel_config_qemu.log", "lspci_qemu.txt")])
def test_real_lspci_decodes_our_file_like_the_golden_output(tmp_path, sample, golden):
    d = kernel_dump(sample)
    devs = lspci.decode(d.config, tmp_path)
    assert lspci.compare_dump(d, devs) == []
    assert (tmp_path / "lspci-dump.txt.lspci").read_text() == (GOLDEN / golden).read_text()
