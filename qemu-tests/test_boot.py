# test_boot.py — boot the GRUB ISO in QEMU (q35, TCG by default) on SeaBIOS and OVMF
# at several CPU counts and check the facts and KTAP of docs/protocol.md; and prove
# that a kernel panic is reported as a crash with a console excerpt and a reproducer.
# --firmware and --smp restrict the matrix (docs/harness.md).
from __future__ import annotations

import pytest

from harness.ktap import Status
from harness.plugin import assert_ktap_passed
from harness.report import failure_sections

pytestmark = pytest.mark.qemu

FIRMWARE_FACT = {"seabios": "bios", "ovmf": "uefi"}
MEM = "512M"
USABLE_MIB = (400, 512)      # what the memory map may leave usable of -m 512M
PANIC_LINE = "KERNEL PANIC"
# Cases that must run (assert_ktap_passed's must_run): every acpi and pmm case.
ACPI_CASES = ("acpi.rsdp_found", "acpi.table_checksums", "acpi.madt_cpu_count_matches",
              "acpi.madt_apic_ids_unique", "acpi.boot_cpu_in_madt", "acpi.madt_ioapic_present",
              "acpi.madt_parser_rejects_bad_entries")
PMM_CASES = ("pmm.alloc_free_roundtrip", "pmm.contiguous_aligned", "pmm.no_overlap",
             "pmm.exhaustion_returns_zero", "pmm.bad_frees_refused", "pmm.low_pages_handed_out_last")


def test_boot_acpi_and_pmm(qemu, firmware, smp):
    r = qemu(firmware=firmware, smp=smp, mem=MEM).run(f"ktest=acpi,pmm expect.cpus={smp}")
    assert not r.timed_out, f"{r.label}: no exit within {r.timeout:g} s"
    assert r.status == 0, f"{r.label}: kernel status {r.status_text}"
    assert r.facts.get("platform") == "x86_64-multiboot2"
    assert r.facts.get("firmware") == FIRMWARE_FACT[firmware]
    assert r.int_fact("acpi.cpus") == smp
    usable = r.int_fact("mem.usable_kib")
    assert usable is not None, "no doppel-info: mem.usable_kib"
    assert USABLE_MIB[0] * 1024 <= usable <= USABLE_MIB[1] * 1024, f"{usable} KiB usable"
    assert_ktap_passed(r, must_run=ACPI_CASES + PMM_CASES)


def test_kernel_cmdline_reaches_the_kernel_through_fw_cfg(qemu):
    words = "ktest=acpi expect.cpus=1 harness.note=a,b"
    r = qemu(firmware="seabios", smp=1).run(words)
    assert r.status == 0, r.status_text
    assert r.facts.get("cmdline", "").endswith(words)      # GRUB's words come first


def test_panic_is_reported_as_a_crash_with_a_reproducer(qemu, request):
    r = qemu(firmware="seabios", smp=1).run("ktest=selftest selftest.panic")
    assert r.status == 2 and r.exit_code == 5 and r.crashed
    crashed = [p for p, t in r.ktap.failures() if t.status is Status.CRASHED]
    assert crashed and crashed[0].startswith("selftest."), r.ktap.failures()
    assert r.grep(PANIC_LINE)
    sections = dict(failure_sections([r], request.node.nodeid, ["--accel", "tcg"]))
    assert PANIC_LINE in sections["console excerpt"]
    repro = sections["reproduce"]
    assert "/usr/bin/python3 -m pytest" in repro and request.node.nodeid in repro
    assert r.command_str in repro
    with pytest.raises(AssertionError, match="CRASHED"):
        assert_ktap_passed(r, must_run=["selftest.printf_formats"])
    # The backtrace is resolved against the debug ELF: the panicking case is named.
    assert "crash_when_asked at kernel/ktest/selftest_ktest.c" in sections["console excerpt"]


def test_cpu_exception_prints_vector_rip_and_backtrace(qemu, request):
    # selftest.fault writes through a non-canonical pointer: #GP (vector 13).
    r = qemu(firmware="seabios", smp=1).run("ktest=selftest selftest.fault")
    assert r.status == 2 and r.exit_code == 5 and r.crashed
    text = "\n".join(r.lines)
    for needle in ("exception 13 #GP", "rip 0x", "error 0x", "backtrace"):
        assert needle in text, f"exception report lacks {needle!r}"
    sections = dict(failure_sections([r], request.node.nodeid))
    assert "crash_when_asked at kernel/ktest/selftest_ktest.c" in sections["console excerpt"]


def test_console_survives_a_reader_that_pauses(qemu):
    """QEMU holds the UART busy (LSR.THRE clear) while the serial pipe is full, so a
    harness that stops reading for a while stalls the kernel's console. It must wait
    and go on, not declare the UART dead: the kernel's pre-fix limit of 2^20 LSR polls
    (~0.2 s under TCG) silenced it for the rest of the run whenever a loaded CI host
    descheduled the reader. Here the reader sleeps 3 s at the first config-space dump
    line, with far more than a pipe's 64 KiB of dump still to come."""
    import time

    t = qemu(firmware="seabios", smp=1)
    original = t.on_line
    paused = []

    def slow_reader(line, result):
        if not paused and line.startswith("pci-config: "):
            paused.append(line)
            time.sleep(3.0)
        original(line, result)

    t.on_line = slow_reader
    r = t.run("ktest=acpi pci.dump=config expect.cpus=1")
    assert paused, "the kernel printed no config-space dump (pci.dump=config)"
    assert not r.timed_out, f"{r.label}: no exit within {r.timeout:g} s"
    devices = [ln for ln in r.lines if ln.startswith("pci: 0000:") and " class " in ln]
    headers = [ln for ln in r.lines if ln.startswith("pci-config: 0000:")]
    assert len(devices) >= 4 and len(headers) == len(devices), (len(devices), len(headers))
    assert r.status == 0, f"{r.label}: kernel status {r.status_text}"
    assert_ktap_passed(r, must_run=ACPI_CASES)
