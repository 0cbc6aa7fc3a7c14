# test_sim_pci.py — PCI and MSI under doppel-sim (docs/pci.md): the pci and msi suites
# on the default device set at 1 and 4 CPUs and in det mode; each hostile endpoint is
# logged with its address and fault, skipped, and the rest of the bus still
# enumerates; --no-mcfg falls back to 0xCF8/0xCFC with the same devices; lspci decodes
# both the kernel's config dump and the model's own (--pci-dump-config) into the
# capabilities our dump shows. Kernel log wording the tests rely on is in the table.
from __future__ import annotations

import pytest

from harness import lspci, pci
from harness.ktap import Status
from harness.plugin import assert_ktap_passed

pytestmark = pytest.mark.sim

# ---- expected devices and kernel log wording ---------------------------------------
DEFAULT_DEVICES = {                       # docs/pci.md, "The default device set"
    "0000:00:00.0": (0x8086, 0x29c0),     # host bridge
    "0000:00:02.0": (0x1234, 0x11e8),     # edu
    "0000:00:03.0": (0x1b36, 0x0010),     # NVMe
    "0000:00:04.0": (0x1b36, 0x000c),     # PCI-PCI bridge, secondary bus 1
    "0000:01:00.0": (0x1234, 0xd0e0),     # testdev fn 0 (MSI, 32 vectors)
    "0000:01:00.1": (0x1234, 0xd0e1),     # testdev fn 1 (MSI-X, 2048 vectors)
    "0000:00:1f.0": (0x8086, 0x2918),     # ICH9 LPC bridge (q35's slot 0x1f)
    "0000:00:1f.2": (0x8086, 0x2922),     # ICH9 AHCI HBA (models/ahci)
}
HOSTILE_FAULT = {                         # --pci-hostile KIND: words of the kernel's reason
    "cap-loop": "capability loop",
    "cap-in-header": "points into the header",
    "bar-ones": "reads all ones",
    "msix-no-bar": "not an implemented memory BAR",
    "vanish": "vanished during enumeration",
}
# Each kind has its own slot on bus 0: 0x10 + its place in the list above.
HOSTILE_ADDR = {k: f"0000:00:{0x10 + i:02x}.0" for i, k in enumerate(HOSTILE_FAULT)}
LEGACY_LOG = "legacy 0xCF8/0xCFC"
SHARED_INTX_EDU = "0000:00:06.0"          # --pci shared-intx: the second edu (GSI 18)
# Cases that must run (assert_ktap_passed's must_run). On the default device set
# pci.sim_hostile_skipped skips (no hostile endpoint: --pci-hostile adds one).
PCI_MUST_RUN = ("pci.host_bridge_at_00_00_0", "pci.table_matches_config", "pci.every_function_listed",
                "pci.bridge_bus_ranges", "pci.bars_aligned_disjoint", "pci.bar_sizing_restores",
                "pci.caps_walk_clean", "pci.cfg_access_bounded", "pci.bar_map_and_enable")
PCI_HOSTILE = "pci.sim_hostile_skipped"
# msi cases the default set has devices for: none may skip in the sim. Left out:
# msi_edu_intx_shared (needs --pci shared-intx), msi_testdev_msix_2048 (needs 10+
# CPUs), msi_fallback_msix_table_without_bar (needs --pci-hostile msix-no-bar).
MSI_MUST_RUN = ("msi.msi_compose_address_data", "msi.msi_alloc_rejects_bad_arguments",
                "msi.msi_edu_msi_every_cpu", "msi.msi_edu_intx", "msi.msi_edu_intx_storm_masked",
                "msi.msi_nvme_msix_enable_fire_mask",
                "msi.msi_testdev_multi_message", "msi.msi_testdev_msix_all_cpus",
                "msi.msi_fallback_when_vectors_exhausted", "msi.msi_fallback_undo_leaves_nothing")
MSI_SHARED = "msi.msi_edu_intx_shared"
MSI_2048 = "msi.msi_testdev_msix_2048"
MSI_NO_BAR = "msi.msi_fallback_msix_table_without_bar"
FAST_BOOT = "time.tsc_khz=2000000 time.lapic_khz=6250"   # det runs skip PIT calibration
# ------------------------------------------------------------------------------------


def boot_lines(r) -> list[str]:
    """The console before KTAP starts (suites may provoke the same messages)."""
    try:
        return r.lines[:r.lines.index("KTAP version 1")]
    except ValueError:
        return r.lines


def assert_default_devices(dump: pci.KernelDump, extra: set[str] = frozenset()) -> None:
    got = {str(f.addr): f for f in dump.functions}
    assert set(got) == set(DEFAULT_DEVICES) | extra, pci.side_by_side(dump.functions, [])
    for a, ids in DEFAULT_DEVICES.items():
        f = got[a]
        assert (f.vendor, f.device) == ids, f"{a}: {f.vendor:04x}:{f.device:04x}"
        assert f.skipped is None, f"{a} skipped: {f.skipped}"


def assert_lspci_agrees(dump: pci.KernelDump, artifact_dir, sim_file=None) -> None:
    if lspci.lspci_path() is None:
        pytest.skip("lspci (pciutils) is not installed: capability comparison not done")
    devs = lspci.decode(dump.config, artifact_dir, "kernel-config.txt")
    diffs = lspci.compare_dump(dump, devs)
    assert not diffs, "lspci decodes the kernel's config dump differently:\n  " + "\n  ".join(diffs)
    if sim_file is not None:
        images, errs = pci.parse_config_lines(sim_file.read_text().splitlines())
        assert not errs, errs
        assert set(images) == set(dump.config), "the sim's dump and the kernel's list other functions"
        model = lspci.decode(images, artifact_dir, "sim-config.txt")
        # written at exit, after the suites: the static fields must agree, and the
        # suites must have left no MSI/MSI-X enable bit behind
        diffs = lspci.compare_dump(dump, model, dynamic=True)
        assert not diffs, ("lspci decodes the model's --pci-dump-config differently from our "
                           "dump:\n  " + "\n  ".join(diffs))


@pytest.mark.parametrize("cpus", [1, 4])
def test_pci_and_msi_suites_pass_on_the_default_devices(sim, artifact_dir, cpus):
    sim_cfg = artifact_dir / "sim-pci-config.txt"
    r = sim(cpus=cpus, extra_args=["--pci", "default", "--pci-dump-config", str(sim_cfg)]).run(
        f"ktest=pci,msi pci.dump=config expect.cpus={cpus}")
    assert r.status == 0, r.status_text
    assert_ktap_passed(r, must_run=PCI_MUST_RUN + MSI_MUST_RUN)
    dump = pci.parse_kernel_dump(r.lines)
    assert dump.problems() == []
    assert dump.mechanism == "ecam" and {len(v) for v in dump.config.values()} == {4096}
    assert_default_devices(dump)
    by = {str(f.addr): f for f in dump.functions}
    assert (by["0000:00:04.0"].sec_bus, by["0000:00:04.0"].sub_bus) == (1, 1)
    assert by["0000:01:00.1"].cap(pci.CAP_MSIX).fields["count"] == "2048"
    assert by["0000:01:00.0"].cap(pci.CAP_MSI).fields["count"].endswith("/32")
    assert_lspci_agrees(dump, artifact_dir, sim_cfg)


@pytest.mark.parametrize("kind", list(HOSTILE_FAULT))
def test_hostile_endpoint_is_logged_skipped_and_the_rest_enumerates(sim, artifact_dir, kind):
    words = "ktest=pci,msi" if kind == "msix-no-bar" else "ktest=pci"
    r = sim(cpus=2, extra_args=["--pci-hostile", kind]).run(f"{words} pci.dump=config")
    assert r.status == 0, r.status_text
    assert_ktap_passed(r, must_run=PCI_MUST_RUN + (PCI_HOSTILE,) + (
        MSI_MUST_RUN + (MSI_NO_BAR,) if kind == "msix-no-bar" else ()))
    addr = HOSTILE_ADDR[kind]
    logged = [ln for ln in boot_lines(r) if addr in ln and HOSTILE_FAULT[kind] in ln]
    assert logged, f"no boot log line names {addr} and '{HOSTILE_FAULT[kind]}'"
    dump = pci.parse_kernel_dump(r.lines)
    assert dump.problems() == []
    assert_default_devices(dump, extra={addr})
    bad = dump.by_addr()[pci.Bdf.parse(addr)]
    assert bad.skipped and HOSTILE_FAULT[kind] in bad.skipped, bad.skipped
    assert dump.int_fact("pci.skipped") == 1
    assert_lspci_agrees(dump, artifact_dir)


def test_every_hostile_kind_at_once_leaves_the_default_devices_usable(sim):
    r = sim(cpus=2, extra_args=["--pci-hostile", ",".join(HOSTILE_FAULT)]).run("ktest=pci,msi")
    assert r.status == 0, r.status_text
    assert_ktap_passed(r, must_run=PCI_MUST_RUN + (PCI_HOSTILE,) + MSI_MUST_RUN + (MSI_NO_BAR,))
    dump = pci.parse_kernel_dump(r.lines)
    by = {str(f.addr): f for f in dump.functions}
    for kind, addr in HOSTILE_ADDR.items():
        assert addr in by and by[addr].skipped and HOSTILE_FAULT[kind] in by[addr].skipped, (kind, addr)
    assert dump.int_fact("pci.skipped") == len(HOSTILE_FAULT)
    assert_default_devices(dump, extra=set(HOSTILE_ADDR.values()))


def test_without_mcfg_the_legacy_mechanism_finds_the_same_devices(sim, artifact_dir):
    r = sim(cpus=2, extra_args=["--no-mcfg"]).run("ktest=pci,msi pci.dump=config")
    assert r.status == 0, r.status_text
    assert_ktap_passed(r, must_run=PCI_MUST_RUN + MSI_MUST_RUN)
    assert any(LEGACY_LOG in ln for ln in boot_lines(r)), f"no '{LEGACY_LOG}' line"
    dump = pci.parse_kernel_dump(r.lines)
    assert dump.problems() == []
    assert dump.mechanism == "legacy" and {len(v) for v in dump.config.values()} == {256}
    assert_default_devices(dump)
    assert not any(c.ext for f in dump.functions for c in f.caps)   # no extended space
    assert_lspci_agrees(dump, artifact_dir)


@pytest.mark.parametrize("cpus", [1, 4])
def test_two_edus_share_one_intx_line(sim, cpus):
    """docs/pci.md "INTx": --pci shared-intx adds a second edu at 00:06.0 whose INTA
    swizzles to GSI 18 like 00:02.0's; both get INTx on that GSI with one vector,
    each handler runs only for its own function, masking stays per function, and
    the line outlives the first free. The whole msi suite runs alongside."""
    r = sim(cpus=cpus, extra_args=["--pci", "shared-intx"]).run(
        f"ktest=msi pci.dump=1 expect.cpus={cpus}")
    assert r.status == 0, r.status_text
    assert_ktap_passed(r, must_run=(MSI_SHARED,) + MSI_MUST_RUN)
    dump = pci.parse_kernel_dump(r.lines)
    assert dump.problems() == []
    assert_default_devices(dump, extra={SHARED_INTX_EDU})
    by = {str(f.addr): f for f in dump.functions}
    assert (by[SHARED_INTX_EDU].vendor, by[SHARED_INTX_EDU].device) == (0x1234, 0x11e8)
    assert by[SHARED_INTX_EDU].line == by["0000:00:02.0"].line == 18
    joined = [ln for ln in r.lines if "00:06.0 1234:11e8: irq intx (GSI 18" in ln]
    assert joined and "shared with 1 more function" in joined[-1], joined


def test_msix_2048_vectors_spread_over_16_cpus(sim):
    """docs/pci.md "MSI-X": 2048 vectors do not fit one CPU (208 each), so the
    kernel fills the start CPU, then goes round-robin over the others; the case
    checks the placement, each interrupt on its vector's CPU, and no vector leaked."""
    # nvme=off ahci=off: the fabric count below is the testdev's alone (the NVMe and AHCI drivers'
    # admin completions would add their own messages).
    r = sim(cpus=16).run("ktest=msi.msi_testdev_msix_2048 expect.cpus=16 nvme=off ahci=off")
    assert r.status == 0, r.status_text
    assert_ktap_passed(r, must_run=[MSI_2048])
    grant = [ln for ln in r.lines if "1234:d0e1: irq msix (2048 vectors" in ln]
    assert grant and "spread over 15 more CPUs" in grant[-1], grant
    # the fabric's own count (sim: stats pci:): one message per vector, none dropped
    stats = [ln for ln in r.lines if ln.startswith("sim: stats pci:")]
    assert stats, "no 'sim: stats pci:' line"
    fields = dict(kv.split("=", 1) for kv in stats[-1].split(":", 2)[2].split())
    assert (fields["msi_delivered"], fields["msi_dropped"]) == ("2048", "0"), stats[-1]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pci_and_msi_suites_in_det_mode(sim, seed):
    r = sim(preset="sim-plain", cpus=2, seed=seed, mem="64M",
            extra_args=["--mode", "det"]).run(f"ktest=pci,msi {FAST_BOOT}")
    assert r.status == 0, f"seed {seed}: {r.status_text}"
    assert_ktap_passed(r, must_run=PCI_MUST_RUN + MSI_MUST_RUN)
    assert r.ktap.find("msi.msi_fallback_when_vectors_exhausted").status is Status.PASS
