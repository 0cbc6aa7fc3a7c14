# test_pci.py — PCI on QEMU against oracles we did not write (docs/pci.md, "Tests and
# oracles"): the kernel runs the pci and msi suites with pci.dump=config and end=hold;
# QEMU's own "info pci" (read over QMP while the kernel holds) must list the same
# functions with the same ids, class, subsystem, BARs, bridge buses and interrupt
# pin/line; pciutils' lspci must decode our config-space dump into the same
# capabilities and MSI/MSI-X fields as our dump. ECAM on SeaBIOS and OVMF, legacy
# 0xCF8/0xCFC (pci.mcfg=0) on SeaBIOS. Three boots in all.
from __future__ import annotations

import pytest

from harness import lspci, pci
from harness.plugin import assert_ktap_passed

pytestmark = pytest.mark.qemu

# The main job's devices (intel-iommu, NVMe, AHCI) plus edu, a PCIe root port with an
# edu behind it, and a conventional PCI-PCI bridge with pci-testdev behind it.
DEVICES = ["edu",
           "pcie-root-port,id=rp1,chassis=1", "edu,bus=rp1",
           "pci-bridge,chassis_nr=2,id=pb1", "pci-testdev,bus=pb1,addr=3"]
# Functions QEMU creates on q35 with those options: host bridge, e1000e, NVMe,
# AHCI, edu, root port, edu behind it, pci-bridge, pci-testdev behind it, and the
# ICH9 LPC, AHCI and SMBus at 00:1f.
FUNCTIONS = 12
SMP = 2
WORDS = "ktest=pci,msi pci.dump=config"
# msi cases that need only edu and an NVMe controller: they must run on QEMU, not skip.
# msi_edu_intx_shared needs two edus on one interrupt line: SeaBIOS and OVMF both give
# 00:04.0 and the one behind the root port (01:00.0) line 10, so it runs on both.
# Left out: the sim's testdev cases (msi_testdev_*: no 1234:d0e0 on QEMU) and
# msi_fallback_msix_table_without_bar (needs the sim's hostile endpoint).
MSI_MUST_RUN = ("msi.msi_compose_address_data", "msi.msi_alloc_rejects_bad_arguments",
                "msi.msi_edu_msi_every_cpu", "msi.msi_edu_intx", "msi.msi_edu_intx_storm_masked",
                "msi.msi_edu_intx_shared", "msi.msi_nvme_msix_enable_fire_mask",
                "msi.msi_fallback_when_vectors_exhausted", "msi.msi_fallback_undo_leaves_nothing")
# Every pci case but sim_hostile_skipped (QEMU has no hostile endpoint).
PCI_MUST_RUN = ("pci.host_bridge_at_00_00_0", "pci.table_matches_config", "pci.every_function_listed",
                "pci.bridge_bus_ranges", "pci.bars_aligned_disjoint", "pci.bar_sizing_restores",
                "pci.caps_walk_clean", "pci.cfg_access_bounded", "pci.bar_map_and_enable")


def _boot(qemu, firmware: str, words: str):
    t = qemu(firmware=firmware, smp=SMP, iommu=True, nvme=True, ahci=True, devices=DEVICES,
             monitor=["info pci"])
    r = t.run(f"{words} expect.cpus={SMP}")
    assert not r.timed_out, f"{r.label}: no end within {r.timeout:g} s"
    return r


def _check_against_oracles(r, artifact_dir, mechanism: str, cfg_size: int, must_run):
    """The oracles first (their report names the device), then the kernel's own verdict."""
    dump = pci.parse_kernel_dump(r.lines)
    assert dump.problems() == [], dump.problems()
    assert dump.mechanism == mechanism
    assert {len(img) for img in dump.config.values()} == {cfg_size}
    qemu_view = pci.parse_info_pci(r.monitor_output("info pci"))
    assert len(qemu_view) == FUNCTIONS, pci.side_by_side(dump.functions, qemu_view)
    print(pci.side_by_side(dump.functions, qemu_view))       # kept in the test's output
    pci.assert_matches_qemu(dump.functions, qemu_view, f" ({r.label})")
    have_lspci = lspci.lspci_path() is not None
    if have_lspci:
        diffs = lspci.compare_dump(dump, lspci.decode(dump.config, artifact_dir))
        assert not diffs, "lspci decodes our config dump differently:\n  " + "\n  ".join(diffs)
    assert r.status == 0, f"{r.label}: kernel status {r.status_text}"
    assert_ktap_passed(r, must_run=must_run)
    if not have_lspci:
        pytest.skip("lspci (pciutils) is not installed: capability comparison not done")
    return dump


def test_pci_enumeration_matches_qemu_info_pci_and_lspci(qemu, firmware, artifact_dir):
    r = _boot(qemu, firmware, WORDS)
    # Interrupt delivery ran on QEMU's own MSI (edu) and MSI-X (NVMe) devices.
    dump = _check_against_oracles(r, artifact_dir, "ecam", 4096, PCI_MUST_RUN + MSI_MUST_RUN)
    by = dump.by_addr()
    assert any(f.cap(pci.CAP_MSIX) for f in by.values() if (f.vendor, f.device) == (0x1b36, 0x0010))
    assert any(f.cap(pci.CAP_MSI) for f in by.values() if (f.vendor, f.device) == (0x1234, 0x11e8))


def test_pci_legacy_mechanism_matches_qemu_info_pci(qemu, artifact_dir):
    r = _boot(qemu, "seabios", f"ktest=pci {WORDS.split()[1]} pci.mcfg=0")
    _check_against_oracles(r, artifact_dir, "legacy", 256, PCI_MUST_RUN)
