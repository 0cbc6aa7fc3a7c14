# test_ahci_driver.py — the AHCI driver (docs/ahci.md) under doppel-sim against the
# AHCI model (models/ahci/): the `ahci` ktest suite on 1 and 4 CPUs, with and
# without VT-d, NCQ and non-NCQ disks, six ports with disks on some, every interrupt
# mode the driver may be limited to; and every fault site of the model with its
# recovery asserted: the failing request fails with the device's status, the others
# complete and verify (ktest ahci.ahci_io_survives_faults), a link that goes down
# fails what is in flight and the disk, a port whose PxCMD.CR never clears is reset,
# then given up with the reason. Every must-run case is named.
from __future__ import annotations

import re

import pytest

from harness.plugin import assert_ktap_passed
from harness.suites import AHCI_CASES, AHCI_CONF_CASES, AHCI_CONF_NCQ_CASES, AHCI_NCQ_CASES

pytestmark = pytest.mark.sim

IRQ_FACT = "ahci.irq_mode"
FAULT_CASE = "ahci.ahci_io_survives_faults"
RESET_CASE = "ahci.ahci_port_reset_resubmits"
_PORT = re.compile(r"^ahci: ahci0 port (\d+): (disk|ATAPI skipped|port multiplier skipped|no device)(.*)$")
_SURVIVE = re.compile(r"ahci_io_survives_faults: sata0: requests ok=(\d+) io_error=(\d+) no_device=(\d+) "
                      r"timed_out=(\d+) other=(\d+) verified=(\d+)")
_FAILED_TAG = re.compile(r"^ahci: ahci0 port 0 \(sata0\): tag (\d+) failed: status 0x([0-9a-f]+) error 0x([0-9a-f]+)")
_BLK_IO = re.compile(r"^blk: sata0: (read|write) lba=(\d+) count=\d+ failed: io-error \(dev_status=0x([0-9a-f]+)\)")
_MODEL = re.compile(r"^sim: stats ahci: .* faults=(\d+),(\d+),(\d+),(\d+),(\d+)")
SITES = ("tfes", "ncq_error_tag", "port_hang", "phy_down", "slow")


def must(ncq: bool = True) -> list[str]:
    assert AHCI_CASES, "harness/suites.py AHCI_CASES is empty"
    return [c for c in AHCI_CASES if ncq or c not in AHCI_NCQ_CASES]


def model_faults(r) -> dict[str, int]:
    for ln in r.lines:
        m = _MODEL.match(ln)
        if m:
            return dict(zip(SITES, map(int, m.groups())))
    raise AssertionError("no `sim: stats ahci` line")


@pytest.mark.parametrize("cpus", [1, 4])
@pytest.mark.parametrize("iommu", ["vtd", "none"])
def test_ahci_suite_passes(sim, cpus, iommu):
    r = sim(cpus=cpus, extra_args=["--iommu", iommu]).run("ktest=ahci")
    assert_ktap_passed(r, must_run=must())
    assert r.fact(IRQ_FACT) == "msi"


def test_ahci_six_ports_disks_on_some_ncq_and_not(sim, tmp_path):
    img = tmp_path / "p3.img"
    args = ["--ahci", "mem,port=1,size=32M", "--ahci", f"{img},port=3,size=16M,ncq=0",
            "--ahci", "mem,port=5,size=8M"]
    r = sim(cpus=4, extra_args=args).run("ktest=ahci")
    assert_ktap_passed(r, must_run=must())
    ports = {int(m.group(1)): (m.group(2), m.group(3)) for m in map(_PORT.match, r.lines) if m}
    assert sorted(ports) == [0, 1, 2, 3, 4, 5], ports
    assert [p for p, v in ports.items() if v[0] == "disk"] == [1, 3, 5], ports
    assert "NCQ depth off" in ports[3][1] and "NCQ depth 32" in ports[1][1], ports
    blk = [m.group(1) for m in map(re.compile(r"^blk: (sata\d+) \d+ blocks").match, r.lines) if m]
    assert blk == ["sata0", "sata1", "sata2"], blk


def test_ahci_ncq_off_by_the_command_line(sim):
    r = sim(cpus=2).run("ktest=ahci ahci.ncq=0")
    assert_ktap_passed(r, must_run=must(ncq=False))
    assert any("NCQ depth off" in ln for ln in r.lines if ln.startswith("ahci: ahci0 port 0: disk"))


@pytest.mark.parametrize("mode", ["msi", "intx", "poll"])
def test_ahci_interrupt_mode_the_driver_is_limited_to(sim, mode):
    # The sim's NVMe function shares GSI 19 with the HBA (its driver on MSI-X here;
    # both on INTx: test_ahci_and_nvme_share_one_intx_line).
    r = sim(cpus=2).run(f"ktest=ahci ahci.irq={mode}")
    assert_ktap_passed(r, must_run=must())
    assert r.fact(IRQ_FACT) == mode


@pytest.mark.parametrize("site", ["tfes", "ncq_error_tag"])
def test_ahci_task_file_error_fails_only_that_request(sim, site):
    r = sim(cpus=4, extra_args=["--fault-sites", f"ahci.{site}=0.02"]).run(f"ktest={FAULT_CASE}")
    assert_ktap_passed(r, must_run=[FAULT_CASE])
    fired = model_faults(r)[site]
    assert fired >= 1, "the fault site never fired: raise the probability"
    m = next(filter(None, map(_SURVIVE.search, r.lines)))
    ok, io, nodev, tmo, other, verified = map(int, m.groups())
    # Each firing fails exactly one request (one that hit the READ LOG itself is
    # recovered by a reset and resubmission instead); nothing else is lost.
    assert 1 <= io <= fired and nodev == tmo == other == 0, m.group(0)
    assert ok + io == 512 and verified >= 256 - io, m.group(0)
    tags = [t for t in map(_FAILED_TAG.match, r.lines) if t]
    blk = [b for b in map(_BLK_IO.match, r.lines) if b]     # the block layer rate-limits these
    assert len(tags) == io and 1 <= len(blk) <= io, (len(tags), len(blk), io)
    codes = {int(t.group(2), 16) << 8 | int(t.group(3), 16) for t in tags}
    assert all(c >> 8 & 0x01 for c in codes), codes                     # status ERR set
    assert {int(b.group(3), 16) for b in blk} <= codes, (blk, codes)


def test_ahci_slow_commands_complete_without_recovery(sim):
    r = sim(cpus=2, extra_args=["--fault-sites", "ahci.slow=0.05"]).run(f"ktest={FAULT_CASE}")
    assert_ktap_passed(r, must_run=[FAULT_CASE])
    assert model_faults(r)["slow"] >= 1
    m = next(filter(None, map(_SURVIVE.search, r.lines)))
    assert m.group(1) == "512" and m.group(6) == "256", m.group(0)
    assert not r.grep("port reset:"), r.grep("port reset:")


def test_ahci_link_down_fails_in_flight_and_the_disk(sim):
    r = sim(cpus=2, extra_args=["--fault-sites", "ahci.phy_down=0.02"]).run(f"ktest={FAULT_CASE}")
    assert_ktap_passed(r, must_run=[FAULT_CASE])     # every request ended, none wrongly
    assert model_faults(r)["phy_down"] == 1
    assert r.grep("ahci: ahci0 port 0 (sata0): link down (PhyRdy change"), r.grep("ahci:")
    assert r.grep("ahci: ahci0 port 0 (sata0): given up: SATA link down (PhyRdy change)")
    m = next(filter(None, map(_SURVIVE.search, r.lines)))
    assert int(m.group(3)) > 0 and m.group(5) == "0", m.group(0)
    assert r.status == 0 or r.grep("ok 1 ahci"), "boot goes on"


def test_ahci_port_that_never_stops_is_reset_then_given_up(sim):
    r = sim(cpus=2, extra_args=["--fault-sites", "ahci.port_hang=1"]).run(f"ktest={RESET_CASE}")
    assert model_faults(r)["port_hang"] >= 1
    assert r.grep("PxCMD.CR (command list running) did not clear within 500 ms of ST=0: COMRESET")
    assert r.grep("ahci: ahci0 port 0 (sata0): given up: port never cleared PxCMD.CR/FR, even after COMRESET")
    assert r.grep("ahci: sata0: stats:"), "the run went on to its end"


_CONF = re.compile(r"^ahci-conf: (\S+) (tfd=.*|skipped .*|no completion .*)$")


def conf_lines(r) -> dict[str, str]:
    got: dict[str, str] = {}
    for ln in r.lines:
        m = _CONF.match(ln)
        if m:
            assert m.group(1) not in got, f"{m.group(1)} printed twice"
            got[m.group(1)] = m.group(2)
    return got


@pytest.mark.parametrize("ncq", [1, 0])
def test_ahci_conformance_every_case_runs(sim, ncq):
    """Sim-only half of qemu-tests/test_ahci_conformance.py: every case of the list
    runs on the model (the NCQ ones say skipped on a disk without NCQ) and the driver
    gets its port back (the ktest reads through the block layer after)."""
    r = sim(cpus=2, extra_args=["--ahci", f"mem,port=0,size=64M,ncq={ncq}"]).run("ktest=ahci.conformance nvme=off")
    assert_ktap_passed(r, must_run=["ahci.conformance"])
    got = conf_lines(r)
    assert list(got) == AHCI_CONF_CASES, f"cases {list(got)}"
    for case, rest in got.items():
        skipped = not ncq and case in AHCI_CONF_NCQ_CASES
        assert rest.startswith("skipped" if skipped else "tfd="), f"{case}: {rest}"


# ---- interrupts: a vector per port, a shared INTx line (docs/ahci.md "Interrupts") ---------

_HBA = re.compile(r"^ahci: ahci0: 0000:00:1f\.2 6 ports \(PI 0x3f\), CAP 0x[0-9a-f]+ NCQ 64-bit, irq (\S+)( x\d+)?$")
_IRQ_STATS = re.compile(r"^ahci: ahci0: irq stats: mode=(\w+) vectors=(\d+) irqs=(\d+) not_ours=(\d+) "
                        r"per_vector=([\d,]+)$")
_IO = re.compile(r"^doppel-io: dev=(\S+) seed=\d+ cpus=\d+ seconds=\d+ writes=(\d+) reads=(\d+) "
                 r"bytes_written=\d+ bytes_read=\d+ verified=(\d+) mismatches=(\d+) errors=(\d+) ")


def irq_stats(r):
    m = next(filter(None, map(_IRQ_STATS.match, r.lines)), None)
    assert m, r.grep("ahci: ahci0:")
    mode, nvec, irqs, not_ours, per = m.groups()
    return mode, int(nvec), int(irqs), int(not_ours), [int(x) for x in per.split(",")]


@pytest.mark.parametrize("msgs", [1, 8])
def test_ahci_msi_vector_per_port(sim, msgs):
    # --ahci-msi 8: the HBA offers 8 messages, the driver asks for 8 (ports 0..5) and,
    # GHC.MRSM clear, gives each port its own vector; each port's interrupts arrive
    # on its vector only (counted per vector by the driver). 1 (ICH9, QEMU): one.
    disks = ["--ahci", "mem,port=0", "--ahci", "mem,port=1,size=16M", "--ahci", "mem,port=3,size=16M"]
    r = sim(cpus=2, extra_args=disks + ["--ahci-msi", str(msgs)]).run("ktest=ahci")
    assert_ktap_passed(r, must_run=must())
    hba = next(filter(None, map(_HBA.match, r.lines)), None)
    assert hba, r.grep("ahci: ahci0:")
    assert (hba.group(1), hba.group(2)) == ("msi", " x8" if msgs == 8 else None), hba.group(0)
    assert r.fact(IRQ_FACT) == "msi" and r.fact("ahci.irq_vectors") == str(msgs)
    mode, nvec, irqs, _, per = irq_stats(r)
    assert mode == "msi" and nvec == msgs and len(per) == msgs, per
    if msgs == 8:
        assert all(per[p] > 0 for p in (0, 1, 3)), per              # the disks' ports
        assert all(per[p] == 0 for p in (2, 4, 5, 6, 7)), per       # no disk, no message
    else:
        assert per[0] == irqs + irq_stats(r)[3] and irqs > 0, per


def test_ahci_and_nvme_share_one_intx_line(sim):
    # Both drivers on INTx: the HBA (00:1f.2) and the NVMe controller (00:03.0) are
    # wired to GSI 19; verified I/O on both disks, each handler taking the line's
    # interrupts and passing over the ones that are the other function's.
    r = sim(cpus=2).run("io=verify io.dev=all io.seconds=1 ahci.irq=intx nvme.irq=intx")
    assert r.fact(IRQ_FACT) == "intx" and r.fact("nvme.irq_mode") == "intx"
    assert r.grep("0000:00:03.0 1b36:0010: irq intx (GSI 19, vector"), r.grep("irq intx")
    assert r.grep("shared with 1 more function"), r.grep("irq intx")
    ios = {m.group(1): m for m in map(_IO.match, r.lines) if m}
    assert sorted(ios) == ["nvme0n1", "sata0"], r.grep("doppel-io")
    for dev, m in ios.items():
        assert int(m.group(4)) > 0 and m.group(5) == "0" and m.group(6) == "0", m.group(0)
    mode, nvec, irqs, not_ours, per = irq_stats(r)
    assert mode == "intx" and nvec == 1 and irqs > 0, (irqs, not_ours)
    assert not_ours > 0, "the NVMe controller's interrupts never reached the HBA's handler: not shared"
    assert r.status == 0, r.status_text
