# test_release.py — the image-release preset (CMakePresets.json): the kernel built
# without any ktest or benchmark code boots on SeaBIOS to the end of kmain and
# exits with status pass, which proves no kernel code depends on test code; asked
# for tests (`ktest=`), it says plainly that it has none and fails.
from __future__ import annotations

import pytest

pytestmark = pytest.mark.qemu

PRESET = "image-release"
NO_TESTS = "ktest=acpi: this image has no tests (built without test and benchmark code)"


def test_release_image_boots_to_the_end_of_kmain(qemu):
    r = qemu(firmware="seabios", smp=2, preset=PRESET).run("expect.cpus=2")
    assert not r.timed_out, f"{r.label}: no exit within {r.timeout:g} s"
    assert r.status == 0, f"{r.label}: kernel status {r.status_text}"
    assert r.fact("exit") == "0", r.facts
    # kmain's last steps before the run hooks: PCI enumeration and the IOMMU facts
    assert r.fact("iommu.mode") is not None, r.facts
    assert r.fact("smp.online") == "2", r.facts
    assert not any("KTAP version" in line for line in r.lines)


def test_release_image_refuses_ktest_with_a_clear_message(qemu):
    r = qemu(firmware="seabios", smp=1, preset=PRESET).run("ktest=acpi")
    assert not r.timed_out, f"{r.label}: no exit within {r.timeout:g} s"
    assert r.status == 1, f"{r.label}: kernel status {r.status_text}, want 1 (fail)"
    assert any(NO_TESTS in line for line in r.lines), r.lines[-20:]
