# test_run_disk_io.py — scripts/run's disk I/O part (harness/run.py): the io= words
# it adds after ktest, its options, and the `disk I/O` rows built from a synthetic
# console and images: clean, a kernel mismatch, a host-check disagreement, no line,
# and with io.dev=all one line and one host check per device (NVMe and SATA).
from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness import blkverify as bv
from harness import run

SEED = 77
BLK = "blk: nvme0n1 8192 blocks of 512 bytes (4 MiB), max 256 blocks/32 segs per request, 4 queues"


def _io_line(stamped: int, digest: int, mismatches: int = 0, errors: int = 0,
             dev: str = "nvme0n1") -> str:
    return (f"doppel-io: dev={dev} seed={SEED} cpus=4 seconds=10 writes=30 reads=40 "
            f"bytes_written=122880 bytes_read=163840 verified=40 mismatches={mismatches} "
            f"errors={errors} iops=7 stamped={stamped} digest=0x{digest:x}")


def _image(p, writes):
    digest = 0
    with open(p, "wb") as f:
        f.truncate(8192 * 512)
        for lba, gen in writes.items():
            f.seek(lba * 512)
            f.write(bv.stamp(512, lba, SEED, gen, 1))
            digest ^= bv.blkv_mix(lba, gen)
    return p, len(writes), digest


@pytest.fixture
def image(tmp_path):
    return _image(tmp_path / "nvme.img", {0: 1, 9: 2, 4000: 1})


@pytest.fixture
def sata_image(tmp_path):
    return _image(tmp_path / "sata.img", {3: 1, 8000: 4})


SATA_BLK = ("blk: sata0 8192 blocks of 512 bytes (4 MiB), max 128 blocks/32 segs per request, "
            "1 queues")


def _result(*lines):
    return SimpleNamespace(lines=list(lines))


def test_io_words_follow_ktest_and_user_keys_replace_them():
    words = run.io_words(10, 123)
    assert words == ["io=verify", "io.dev=all", "io.seconds=10", "io.qd=8", "io.bs=4k",
                     "io.mix=randrw", "io.seed=123"]
    line = run.kernel_cmdline(4, "", words)
    assert line == ("ktest=* expect.cpus=4 io=verify io.dev=all io.seconds=10 io.qd=8 "
                    "io.bs=4k io.mix=randrw io.seed=123")
    line = run.kernel_cmdline(4, "io.qd=32 ktest=nvme", words)
    assert line.split()[-2:] == ["io.qd=32", "ktest=nvme"] and "io.qd=8" not in line
    assert run.cmdline_value(line, "io.qd") == "32"
    assert run.kernel_cmdline(2, "", None) == "ktest=* expect.cpus=2"


@pytest.mark.parametrize("argv, what", [
    (["--disk-size", "12"], "'12' is not a disk size"),
    (["--disk-size", "1G5"], "'1G5' is not a disk size"),
    (["--io-seconds", "ten"], "'ten' is not a whole number of seconds"),
    (["--io-seed", "0"], "'0' is not a seed"),
])
def test_bad_option_values_are_named(capsys, argv, what):
    with pytest.raises(SystemExit) as e:
        run.parse_args(argv)
    assert e.value.code == 2 and what in capsys.readouterr().err


def test_option_defaults():
    a = run.parse_args([])
    assert (a.disk_size, a.io_seconds, a.io_seed, a.no_io) == (1 << 30, 10, None, False)
    assert run.parse_args(["--disk-size", "512M"]).disk_size == 512 << 20


def test_clean_run_agrees(image):
    p, n, digest = image
    cmd = run.kernel_cmdline(4, "", run.io_words(10, SEED))
    d = run.disk_io(_result(BLK, _io_line(n, digest)), cmd, {"nvme0n1": p})
    assert d.ok, d.row
    assert d.row[0] == ("nvme0n1: written 0.1 MiB, read 0.2 MiB, verified 40, 7 IOPS on 4 CPUs in 10 s, "
                        "mismatches 0, errors 0")
    assert d.row[1].startswith(f"host check: agree ({n} blocks) [seed {SEED}, 8192 blocks of 512 bytes")


def test_kernel_mismatch_is_not_clean_and_shown(image):
    p, n, digest = image
    mm = "io: MISMATCH dev=nvme0n1 lba=9 expected gen=2 found=BLKV_BAD_SUM gen=0"
    d = run.disk_io(_result(BLK, mm, _io_line(n, digest, mismatches=1)), "", {"nvme0n1": p})
    assert not d.ok and mm in d.row


def test_other_devices_mismatch_lines_are_not_the_workloads(image):
    # The block suite plants a mismatch on its own test device before the workload.
    p, n, digest = image
    planted = "io: MISMATCH dev=ktestblk0 lba=128 expected gen=1 found=bad_sum gen=0"
    d = run.disk_io(_result(planted, BLK, _io_line(n, digest)), "", {"nvme0n1": p})
    assert d.ok, d.row
    assert planted not in d.row


def test_kernel_errors_are_not_clean(image):
    p, n, digest = image
    assert not run.disk_io(_result(BLK, _io_line(n, digest, errors=2)), "", {"nvme0n1": p}).ok


def test_host_disagreement_is_not_clean(image):
    p, n, digest = image
    with open(p, "r+b") as f:
        f.seek(9 * 512 + 200)
        f.write(b"\xff")
    d = run.disk_io(_result(BLK, _io_line(n, digest)), "", {"nvme0n1": p})
    assert not d.ok
    assert d.row[-1].startswith("host check: DISAGREE: 1 bad block(s): lba=9: bad checksum")


def test_io_blocks_word_limits_the_region(image):
    p, n, digest = image
    # io.blocks=100: the block at 4000 lies outside; the kernel counted only 2.
    two = bv.blkv_mix(0, 1) ^ bv.blkv_mix(9, 2)
    d = run.disk_io(_result(BLK, _io_line(2, two)), "io=verify io.blocks=100", {"nvme0n1": p})
    assert d.ok, d.row


def test_missing_io_line_is_not_clean(image):
    p, _, _ = image
    d = run.disk_io(_result(BLK, "io: nvme0n1 not found"), "", {"nvme0n1": p})
    assert not d.ok
    assert d.row == ["no doppel-io line for nvme0n1: " + BLK + " | io: nvme0n1 not found"]


def test_missing_image_or_blk_line_is_not_clean(image):
    p, n, digest = image
    d = run.disk_io(_result(BLK, _io_line(n, digest)), "", {})
    assert not d.ok and d.row[-1] == "host check: not run (no image file for nvme0n1)"
    d = run.disk_io(_result(_io_line(n, digest)), "", {"nvme0n1": p})
    assert not d.ok and "no 'blk: nvme0n1 ...' registration line" in d.row[-1]


def test_every_device_gets_its_line_and_host_check(image, sata_image):
    p, n, digest = image
    sp, sn, sdigest = sata_image
    cmd = run.kernel_cmdline(4, "", run.io_words(10, SEED))
    lines = _result(BLK, SATA_BLK, _io_line(n, digest), _io_line(sn, sdigest, dev="sata0"))
    d = run.disk_io(lines, cmd, {"sata0": sp, "nvme0n1": p})
    assert d.ok, d.row
    assert [x.split(":")[0] for x in d.row] == ["nvme0n1", "host check", "sata0", "host check"]
    assert d.row[3].startswith(f"host check: agree ({sn} blocks) [seed {SEED}, 8192 blocks of 512")
    # one image spoiled: that device's host check disagrees, the run is not clean
    with open(sp, "r+b") as f:
        f.seek(8000 * 512 + 100)
        f.write(b"\x01")
    d = run.disk_io(lines, cmd, {"sata0": sp, "nvme0n1": p})
    assert not d.ok and d.row[1].startswith("host check: agree")
    assert d.row[3].startswith("host check: DISAGREE: 1 bad block(s): lba=8000")


def test_a_disk_without_its_io_line_is_not_clean(image, sata_image):
    # The machine has a SATA image but the kernel never ran the workload on sata0
    # (no driver, no device): the row says so and the run is not clean.
    p, n, digest = image
    sp, _, _ = sata_image
    d = run.disk_io(_result(BLK, _io_line(n, digest)), "io=verify io.dev=all", {"nvme0n1": p, "sata0": sp})
    assert not d.ok
    assert d.row[:2][0].startswith("nvme0n1: written") and d.row[2].startswith("no doppel-io line for sata0")


def test_one_named_device_is_checked_alone(image, sata_image):
    p, n, digest = image
    sp, sn, sdigest = sata_image
    lines = _result(SATA_BLK, _io_line(sn, sdigest, dev="sata0"))
    d = run.disk_io(lines, "io=verify io.dev=sata0", {"nvme0n1": p, "sata0": sp})
    assert d.ok and len(d.row) == 2 and d.row[0].startswith("sata0: written"), d.row
    assert not run.disk_io(_result(), "io=verify io.dev=all", {}).ok


def test_main_machine_has_the_disks_the_row_expects(tmp_path):
    from harness.targets import QemuTarget
    iso = tmp_path / "doppel.iso"
    iso.write_bytes(b"\0" * 2048)
    art = tmp_path / "art"
    art.mkdir()
    t = QemuTarget(art, iso=iso, iommu=True, nvme=True, ahci=True, nvme_disk_size=1 << 30,
                   ahci_disk_size=1 << 30)
    t.command(run.kernel_cmdline(4, "", run.io_words(10, SEED)))
    assert sorted(t.disk_images) == sorted(run.MAIN_DISKS)
    assert all(img.stat().st_size == 1 << 30 for img in t.disk_images.values())


def test_a_ktest_suites_own_workload_is_not_the_main_jobs(image, sata_image):
    # The block suite runs the engine on its ktestblk0 with seed 7 (and plants a
    # mismatch there) before the main job's io=verify: only lines with the command
    # line's io.seed are the workload's.
    p, n, digest = image
    sp, sn, sdigest = sata_image
    suite = ("doppel-io: dev=ktestblk0 seed=7 cpus=4 seconds=60 writes=168 reads=88 bytes_written=688128 "
             "bytes_read=360448 verified=704 mismatches=0 errors=0 iops=13333 stamped=504 digest=0x4dd3")
    planted = "io: MISMATCH dev=ktestblk0 lba=128 expected gen=1 found=bad_sum gen=0"
    cmd = run.kernel_cmdline(4, "", run.io_words(5, SEED))
    lines = _result(suite, planted, SATA_BLK, BLK, _io_line(sn, sdigest, dev="sata0"), _io_line(n, digest))
    d = run.disk_io(lines, cmd, {"nvme0n1": p, "sata0": sp})
    assert d.ok, d.row
    assert not any("ktestblk0" in x for x in d.row)
    assert [x.split(":")[0] for x in d.row] == ["sata0", "host check", "nvme0n1", "host check"]


def test_the_problem_names_the_device_that_is_not_clean(image, sata_image):
    p, n, digest = image
    sp, sn, sdigest = sata_image
    cmd = run.kernel_cmdline(4, "", run.io_words(5, SEED))
    lines = _result(SATA_BLK, BLK, _io_line(sn, sdigest, dev="sata0", errors=3), _io_line(n, digest))
    d = run.disk_io(lines, cmd, {"nvme0n1": p, "sata0": sp})
    assert not d.ok and d.problem == "sata0: mismatches 0, errors 3"
    d = run.disk_io(_result(BLK, _io_line(n, digest)), cmd, {"nvme0n1": p, "sata0": sp})
    assert d.problem.startswith("no doppel-io line for sata0")
