# test_nvme.py — the NVMe driver and the verified-I/O workload on QEMU's nvme (QEMU 7.2
# hw/nvme), an implementation we did not write: the `nvme` ktest suite on SeaBIOS and
# OVMF, -smp 1, 4 and 8, intel-iommu on and off, one and two controllers, interrupts and
# polled queues (nvme.poll=1), every must-run
# case of harness/suites.py passing; then one io=verify run whose disk image the host
# checks afterwards (harness/blkverify.py), and a corrupted copy of that image the host
# check must refuse. Four short suite boots and one 8 s workload keep TCG time modest.
from __future__ import annotations

import shutil
from dataclasses import dataclass

import pytest

from harness import blkverify
from harness.plugin import assert_ktap_passed
from harness.suites import NVME_CASES, NVME_POLL_CASES, NVME_TWO_CONTROLLER_CASES

pytestmark = pytest.mark.qemu


@dataclass(frozen=True)
class Config:
    firmware: str
    smp: int
    iommu: bool
    controllers: int
    poll: bool = False


CONFIGS = {
    "seabios-smp1": Config("seabios", 1, False, 1),
    "seabios-smp4-iommu-2ctrl": Config("seabios", 4, True, 2),
    "ovmf-smp8-iommu": Config("ovmf", 8, True, 1),
    "ovmf-smp4-2ctrl-poll": Config("ovmf", 4, False, 2, poll=True),
}


def must_run(c: Config) -> list[str]:
    if not NVME_CASES:
        pytest.fail("harness/suites.py NVME_CASES is empty: name the nvme suite's cases that "
                    "must run on QEMU (an empty list would let a suite that runs nothing pass)",
                    pytrace=False)
    return (list(NVME_CASES) + (list(NVME_TWO_CONTROLLER_CASES) if c.controllers > 1 else [])
            + (list(NVME_POLL_CASES) if c.poll else []))


@pytest.mark.parametrize("name", list(CONFIGS), ids=list(CONFIGS))
def test_nvme_suite_on_qemus_controller(qemu, name):
    c = CONFIGS[name]
    cases = must_run(c)
    t = qemu(firmware=c.firmware, smp=c.smp, iommu=c.iommu, nvme=True, nvme_count=c.controllers,
             nvme_disk_size=64 << 20)
    r = t.run(f"ktest=nvme expect.cpus={c.smp}" + (" nvme.poll=1" if c.poll else ""))
    assert_ktap_passed(r, must_run=cases)
    devs = blkverify.parse_blk_lines(r.lines)
    want = [f"nvme{i}n1" for i in range(c.controllers)]
    assert sorted(devs) == want, f"blk: lines name {sorted(devs)}, expected {want}"
    for d in devs.values():
        assert d.nblocks * d.bs == 64 << 20, f"{d.name}: {d.nblocks} blocks of {d.bs} bytes"
        assert 1 <= d.queues <= c.smp, f"{d.name}: {d.queues} queues on {c.smp} CPUs"


IO_SEED = 0x5EED_1234
IO_BLOCKS = 32768      # 16 MiB of 512-byte blocks: dense enough for rewrites in 8 s


def test_verified_io_agrees_with_the_host_check(qemu, tmp_path):
    t = qemu(firmware="seabios", smp=4, iommu=True, nvme=True, nvme_disk_size=256 << 20)
    r = t.run(f"io=verify io.dev=nvme0n1 io.seconds=8 io.qd=8 io.bs=4k io.mix=randrw "
              f"io.seed={IO_SEED} io.blocks={IO_BLOCKS} expect.cpus=4")
    assert r.status == 0, f"kernel status {r.status_text}; " + " | ".join(r.grep("io:")[:5])
    results, errors = blkverify.parse_io_lines(r.lines)
    assert not errors, errors
    assert [x.dev for x in results] == ["nvme0n1"], r.grep("doppel-io")
    io = results[0]
    assert io.seed == IO_SEED and io.cpus == 4
    assert io.mismatches == 0 and io.errors == 0, blkverify.mismatch_lines(r.lines)[:5]
    assert io.writes > 0 and io.reads > 0 and io.verified > 0 and io.stamped > 0, io.line
    image = t.nvme_images["nvme0n1"]
    check = blkverify.check_run(r.lines, {"nvme0n1": image}, IO_BLOCKS)["nvme0n1"]
    assert not isinstance(check, str), check
    assert check.agree, check.verdict()
    assert check.stamped == io.stamped

    # The same check must refuse the image once one stamped block is damaged.
    bs = check.bs
    bad = tmp_path / "damaged.img"
    shutil.copyfile(image, bad)
    with open(bad, "r+b") as f:
        for lba in range(IO_BLOCKS):
            f.seek(lba * bs)
            if f.read(8) == blkverify.MAGIC_BYTES:
                f.seek(lba * bs + 100)
                byte = f.read(1)
                f.seek(lba * bs + 100)
                f.write(bytes([byte[0] ^ 0x20]))
                break
        else:
            pytest.fail("no stamped block in the region of the image")
    damaged = blkverify.check_run(r.lines, {"nvme0n1": bad}, IO_BLOCKS)["nvme0n1"]
    assert not damaged.agree and [b.lba for b in damaged.bad] == [lba], damaged.verdict()
