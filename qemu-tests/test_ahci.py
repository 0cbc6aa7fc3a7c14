# test_ahci.py — the AHCI driver on QEMU's AHCI (QEMU 7.2 hw/ide/ahci.c, ICH9), an
# implementation we did not write: the `ahci` ktest suite with every must-run case of
# harness/suites.py passing, on SeaBIOS and OVMF, on q35's built-in controller at
# 00:1f.2 (which also holds the boot CD-ROM: ATAPI, named and skipped) and on added
# ich9-ahci controllers with several disks, with NCQ and without (ahci.ncq=0), and
# under each interrupt mode the driver allows (msi, intx, poll). The kernel's lines
# are checked too: one per HBA, one per port, sata<N> in (controller, port) order.
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from harness import blkverify
from harness.plugin import assert_ktap_passed
from harness.suites import AHCI_CASES, AHCI_NCQ_CASES

pytestmark = pytest.mark.qemu

DISK = 64 << 20
_HBA = re.compile(r"ahci: (ahci\d+): (\S+) (\d+) ports \(PI 0x([0-9a-f]+)\), CAP 0x[0-9a-f]+( NCQ)?( 64-bit)?, "
                  r"irq (\w+)$")
_PORT = re.compile(r"ahci: (ahci\d+) port (\d+): (disk|ATAPI skipped|port multiplier skipped|no device)(.*)$")


@dataclass(frozen=True)
class Config:
    firmware: str
    smp: int
    builtin_disk: bool = False          # a disk on the built-in controller's port 0
    added_disks: int = 1                # disks on the added ich9-ahci (0: no added controller)
    words: str = ""
    irq: str = "msi"
    ncq: bool = True
    # sata names in (controller, port) order, with the built-in controller's PCI slot last
    expect: tuple = field(default=())


CONFIGS = {
    "seabios-smp1-added": Config("seabios", 1, expect=("sata0",)),
    "ovmf-smp4-builtin": Config("ovmf", 4, builtin_disk=True, added_disks=0, expect=("sata0",)),
    "seabios-smp4-three-disks-noncq-intx": Config("seabios", 4, builtin_disk=True, added_disks=2,
                                                  words="ahci.ncq=0 ahci.irq=intx", irq="intx", ncq=False,
                                                  expect=("sata0", "sata1", "sata2")),
    "ovmf-smp2-poll": Config("ovmf", 2, added_disks=3, words="ahci.irq=poll", irq="poll",
                             expect=("sata0", "sata1", "sata2")),
}


def _extra(tmp_path, c: Config) -> list[str]:
    """-drive/-device arguments beyond the harness's `ahci` option (one added
    ich9-ahci with one disk): the built-in controller's disk, more added disks."""
    args: list[str] = []
    for i in range(c.added_disks - 1):
        img = tmp_path / f"extra{i}.img"
        img.write_bytes(b"")
        with open(img, "r+b") as f:
            f.truncate(DISK)
        args += ["-drive", f"file={img},if=none,id=xsata{i},format=raw",
                 "-device", f"ide-hd,drive=xsata{i},bus=ahci1.{i + 2}"]
    if c.builtin_disk:
        img = tmp_path / "builtin.img"
        with open(img, "wb") as f:
            f.truncate(DISK)
        args += ["-drive", f"file={img},if=none,id=bsata0,format=raw",
                 "-device", "ide-hd,drive=bsata0,bus=ide.0"]
    return args


@pytest.mark.parametrize("name", list(CONFIGS), ids=list(CONFIGS))
def test_ahci_suite_on_qemus_controllers(qemu, tmp_path, name):
    c = CONFIGS[name]
    if not AHCI_CASES:
        pytest.fail("harness/suites.py AHCI_CASES is empty", pytrace=False)
    must = [x for x in AHCI_CASES if c.ncq or x not in AHCI_NCQ_CASES]
    extra = _extra(tmp_path, c)
    t = qemu(firmware=c.firmware, smp=c.smp, ahci=c.added_disks > 0, disk_size=DISK, extra_args=extra)
    r = t.run(f"ktest=ahci expect.cpus={c.smp} {c.words}".strip())
    assert_ktap_passed(r, must_run=must)
    hbas = [m.groups() for m in map(_HBA.match, r.lines) if m]
    ports = [m.groups() for m in map(_PORT.match, r.lines) if m]
    assert len(hbas) == (2 if c.added_disks else 1), r.grep("ahci:")
    assert all(h[6] == c.irq for h in hbas), hbas
    assert r.facts.get("ahci.irq_mode") == c.irq, r.facts
    builtin = next(h[0] for h in hbas if h[1].endswith(":1f.2"))
    kinds = {(p[0], int(p[1])): p[2] for p in ports}
    assert kinds[(builtin, 2)] == "ATAPI skipped", kinds        # the boot CD-ROM
    disks = [k for k, v in kinds.items() if v == "disk"]
    assert len(disks) == len(c.expect), kinds
    for p in ports:
        if p[2] == "disk":
            assert ("NCQ depth 32" in p[3]) == c.ncq and ("NCQ depth off" in p[3]) != c.ncq, p
            assert "TRIM yes" in p[3] and f"{DISK // 512} sectors of 512" in p[3], p
    devs = blkverify.parse_blk_lines(r.lines)
    assert sorted(devs) == list(c.expect), devs
    # sata<N> in (controller, port) order: each disk's port line is followed by its
    # blk line, numbered on from the previous one.
    seen, pending = [], None
    for ln in r.lines:
        m = _PORT.match(ln)
        if m and m.group(3) == "disk":
            pending = (m.group(1), int(m.group(2)))
        elif pending and ln.startswith("blk: sata"):
            seen.append((pending, ln.split()[1]))
            pending = None
    assert [n for _, n in seen] == list(c.expect), seen
    assert [k for k, _ in seen] == sorted(disks, key=lambda k: (int(k[0][4:]), k[1])), seen
