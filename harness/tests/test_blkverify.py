# test_blkverify.py — the host-side check of io=verify (harness/blkverify.py) on
# synthetic images: the worked example of the stamp format, the vectorised checksum
# and payload against the scalar definitions, and images with one thing wrong each
# (a corrupted byte, a misplaced block, a foreign seed, a lost block, a wrong
# payload under a valid checksum) where the check must say exactly what is wrong.
from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from harness import blkverify as bv

# Worked example (docs/block.md): lba=5, seed=1, gen=2, cpu=0, computed from
# blkverify.h's definition. splitmix64(0) is the generator's published first output
# for state 0, an anchor independent of this code.
EXAMPLE_HEADER_512 = bytes.fromhex(
    "444f5050454c494f" "0500000000000000" "0100000000000000" "02000000" "00000000"
    "98e79e39" "00000000")
EXAMPLE_SUM = {512: 0x399EE798, 4096: 0xD260DAE8}
EXAMPLE_WORDS = (0x218E721FA9ABA461, 0x190ADB22795B05B8, 0x1634A7C5E55D7840)
EXAMPLE_LAST_WORD = {512: 0x5C992478898B5110, 4096: 0x783BB7FFF70F39BD}
EXAMPLE_MIX = 0x953DEB0D47B9380A     # blkv_mix(5, 2) = splitmix64(5 ^ splitmix64(2))


def test_splitmix64_matches_the_published_first_output():
    assert bv.splitmix64(0) == 0xE220A8397B1DCDAF


@pytest.mark.parametrize("bs", [512, 4096])
def test_worked_example_lba5_seed1_gen2_cpu0(bs):
    b = bv.stamp(bs, 5, 1, 2, 0)
    assert len(b) == bs
    assert b[:32] == EXAMPLE_HEADER_512[:32]
    assert struct.unpack_from("<II", b, 32) == (EXAMPLE_SUM[bs], 0)
    assert struct.unpack_from("<3Q", b, 40) == EXAMPLE_WORDS
    assert struct.unpack_from("<Q", b, bs - 8)[0] == EXAMPLE_LAST_WORD[bs]
    assert bv.block_sum(b) == EXAMPLE_SUM[bs]
    assert bv.blkv_mix(5, 2) == EXAMPLE_MIX
    if bs == 512:
        assert b[:40] == EXAMPLE_HEADER_512


@pytest.mark.parametrize("bs", [64, 512, 4096])
def test_vectorised_sums_and_payloads_equal_the_scalar_definition(bs):
    rng = random.Random(bs)
    hdrs = [(rng.getrandbits(40), rng.getrandbits(64), rng.randrange(1, 1 << 32)) for _ in range(7)]
    blocks = [bv.stamp(bs, lba, seed, gen, 3) for lba, seed, gen in hdrs]
    zeroed = bytearray(b"".join(blocks))
    for j in range(len(blocks)):
        zeroed[j * bs + 32:j * bs + 36] = bytes(4)
    assert bv.fnv1a32_many(bytes(zeroed), bs) == [bv.block_sum(b) for b in blocks]
    assert bv.payloads_many(hdrs, bs) == b"".join(b[40:] for b in blocks)


def _image(tmp_path: Path, bs: int, nblocks: int, blocks: dict[int, bytes]) -> Path:
    p = tmp_path / "disk.img"
    with open(p, "wb") as f:
        f.truncate(nblocks * bs)
        for lba, data in blocks.items():
            f.seek(lba * bs)
            f.write(data)
    return p


def _run(seed: int, bs: int, writes: dict[int, int]) -> tuple[dict[int, bytes], int]:
    """Blocks stamped by a run (lba -> final gen) and the digest the kernel prints."""
    blocks = {lba: bv.stamp(bs, lba, seed, gen, lba % 4) for lba, gen in writes.items()}
    digest = 0
    for lba, gen in writes.items():
        digest ^= bv.blkv_mix(lba, gen)
    return blocks, digest


BS, N, SEED = 512, 4096, 0x1234_5678_9ABC
WRITES = {3: 1, 4: 2, 100: 1, 1000: 7, 2047: 1, 4095: 3}


def test_clean_image_agrees(tmp_path):
    blocks, digest = _run(SEED, BS, WRITES)
    r = bv.check_image(_image(tmp_path, BS, N, blocks), bs=BS, region_blocks=N, seed=SEED,
                       stamped=len(WRITES), digest=digest)
    assert r.agree, r.verdict()
    assert r.verdict() == f"agree ({len(WRITES)} blocks)"
    assert (r.stamped, r.digest, r.foreign, r.other, r.bad) == (len(WRITES), digest, 0, 0, [])


def test_one_corrupted_byte_is_a_bad_checksum_at_its_lba(tmp_path):
    blocks, digest = _run(SEED, BS, WRITES)
    b = bytearray(blocks[1000])
    b[300] ^= 0x40
    blocks[1000] = bytes(b)
    r = bv.check_image(_image(tmp_path, BS, N, blocks), bs=BS, region_blocks=N, seed=SEED,
                       stamped=len(WRITES), digest=digest)
    assert not r.agree
    assert [x.lba for x in r.bad] == [1000]
    assert "bad checksum" in r.bad[0].what and "gen=7" in r.bad[0].what
    v = r.verdict()
    assert v.startswith("DISAGREE: 1 bad block(s): lba=1000: bad checksum")
    assert f"the kernel says {len(WRITES)} stamped blocks, the image holds {len(WRITES) - 1}" in v


def test_misplaced_block_is_named_with_the_lba_it_holds(tmp_path):
    blocks, digest = _run(SEED, BS, WRITES)
    blocks[100] = blocks[4]          # the write of lba 4 also landed on lba 100
    r = bv.check_image(_image(tmp_path, BS, N, blocks), bs=BS, region_blocks=N, seed=SEED,
                       stamped=len(WRITES), digest=digest)
    assert [(x.lba, x.what) for x in r.bad] == [(100, "holds the block of lba=4 gen=2 (misdirected write)")]
    assert not r.agree


def test_foreign_seed_is_counted_not_verified(tmp_path):
    blocks, digest = _run(SEED, BS, WRITES)
    other, _ = _run(SEED + 1, BS, {50: 1, 51: 9})
    r = bv.check_image(_image(tmp_path, BS, N, {**blocks, **other}), bs=BS, region_blocks=N,
                       seed=SEED, stamped=len(WRITES), digest=digest)
    assert r.agree, r.verdict()
    assert r.foreign == 2 and r.stamped == len(WRITES)
    assert r.verdict() == f"agree ({len(WRITES)} blocks, 2 foreign)"


def test_foreign_block_over_one_of_ours_is_a_lost_write(tmp_path):
    blocks, digest = _run(SEED, BS, WRITES)
    blocks[3] = bv.stamp(BS, 3, SEED + 1, 1, 0)
    r = bv.check_image(_image(tmp_path, BS, N, blocks), bs=BS, region_blocks=N, seed=SEED,
                       stamped=len(WRITES), digest=digest)
    assert not r.agree and r.bad == []
    assert r.foreign == 1
    assert r.problems[0] == f"the kernel says {len(WRITES)} stamped blocks, the image holds {len(WRITES) - 1}"
    assert r.problems[1].startswith("digest: kernel 0x")


def test_stale_generation_changes_only_the_digest(tmp_path):
    blocks, digest = _run(SEED, BS, WRITES)
    blocks[1000] = bv.stamp(BS, 1000, SEED, 6, 0)   # the last rewrite (gen 7) was lost
    r = bv.check_image(_image(tmp_path, BS, N, blocks), bs=BS, region_blocks=N, seed=SEED,
                       stamped=len(WRITES), digest=digest)
    assert r.problems == [f"digest: kernel 0x{digest:016x}, image 0x{digest ^ bv.blkv_mix(1000, 7) ^ bv.blkv_mix(1000, 6):016x}"]


def test_valid_checksum_over_a_wrong_payload_is_named(tmp_path):
    blocks, digest = _run(SEED, BS, WRITES)
    b = bytearray(blocks[2047])
    b[100] ^= 1
    struct.pack_into("<I", b, 32, bv.block_sum(bytes(b)))   # re-sealed: only the payload is wrong
    blocks[2047] = bytes(b)
    r = bv.check_image(_image(tmp_path, BS, N, blocks), bs=BS, region_blocks=N, seed=SEED,
                       stamped=len(WRITES), digest=digest)
    assert [(x.lba, x.what) for x in r.bad] == [
        (2047, "checksum holds but the payload differs from the stamp's at byte 100 (gen=1)")]


def test_region_limits_the_scan_and_junk_is_counted(tmp_path):
    blocks, digest = _run(SEED, BS, {1: 1, 2: 1})
    beyond, _ = _run(SEED, BS, {200: 1})
    junk = {7: b"\x01" + bytes(BS - 1)}
    r = bv.check_image(_image(tmp_path, BS, N, {**blocks, **beyond, **junk}), bs=BS,
                       region_blocks=100, seed=SEED, stamped=2, digest=digest)
    assert r.agree, r.verdict()
    assert (r.stamped, r.other, r.nonzero) == (2, 1, 3)


def test_image_shorter_than_the_region_reads_as_zeros(tmp_path):
    blocks, digest = _run(SEED, BS, {0: 1})
    p = tmp_path / "short.img"
    p.write_bytes(blocks[0])
    r = bv.check_image(p, bs=BS, region_blocks=N, seed=SEED, stamped=1, digest=digest)
    assert r.agree, r.verdict()


def test_many_bad_blocks_are_listed_ten_at_most(tmp_path):
    writes = {lba: 1 for lba in range(0, 40, 2)}
    blocks, digest = _run(SEED, BS, writes)
    for lba in writes:
        blocks[lba] = blocks[lba][:-1] + b"\xee"
    r = bv.check_image(_image(tmp_path, BS, N, blocks), bs=BS, region_blocks=N, seed=SEED,
                       stamped=len(writes), digest=digest)
    assert len(r.bad) == 20
    assert "20 bad block(s)" in r.verdict() and "(and 10 more)" in r.verdict()
    assert [b.lba for b in r.bad[:3]] == [0, 2, 4]


def test_bad_block_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="block size 100"):
        bv.check_image(tmp_path / "x", bs=100, region_blocks=1, seed=1)


# ---------------------------------------------------------------- the kernel's lines

IO_LINE = ("doppel-io: dev=nvme0n1 seed=42 cpus=4 seconds=10 writes=900 reads=1100 "
           "bytes_written=3686400 bytes_read=4505600 verified=1100 mismatches=0 errors=0 "
           "iops=200 stamped=6 digest=0x00ab")
BLK_LINE = "blk: nvme0n1 2097152 blocks of 512 bytes (1024 MiB), max 256 blocks/32 segs per request, 4 queues"


def test_io_line_is_parsed_whole():
    io = bv.parse_io_line(IO_LINE)
    assert io.dev == "nvme0n1" and io.digest == 0xAB
    assert (io.seed, io.cpus, io.writes, io.reads, io.bytes_written, io.bytes_read, io.verified,
            io.mismatches, io.errors, io.iops, io.stamped) == (42, 4, 900, 1100, 3686400, 4505600,
                                                               1100, 0, 0, 200, 6)


@pytest.mark.parametrize("bad, why", [
    (IO_LINE.replace(" stamped=6", ""), "lacks stamped"),
    (IO_LINE.replace("iops=200", "iops=fast"), "iops='fast' is not a number"),
    (IO_LINE.replace("digest=0x00ab", "digest=zz"), "is not hexadecimal"),
])
def test_malformed_io_lines_are_named(bad, why):
    results, errors = bv.parse_io_lines(["x", bad])
    assert results == [] and len(errors) == 1 and why in errors[0]


def test_blk_line_and_default_region():
    devs = bv.parse_blk_lines(["noise", BLK_LINE])
    d = devs["nvme0n1"]
    assert (d.nblocks, d.bs, d.mib, d.max_blocks, d.max_segs, d.queues) == (2097152, 512, 1024, 256, 32, 4)
    assert bv.region_blocks(d) == (256 << 20) // 512
    assert bv.region_blocks(d, 1000) == 1000
    assert bv.region_blocks(d, 1 << 40) == 2097152


def test_check_run_from_a_console(tmp_path):
    writes = {5: 1, 6: 2, 600000: 1}     # 600000 lies beyond the 256 MiB default region
    blocks, _ = _run(42, 512, writes)
    digest = bv.blkv_mix(5, 1) ^ bv.blkv_mix(6, 2)
    img = _image(tmp_path, 512, 700000, blocks)
    line = IO_LINE.replace("stamped=6", "stamped=2").replace("digest=0x00ab", f"digest=0x{digest:x}")
    out = bv.check_run([BLK_LINE, line], {"nvme0n1": img})
    assert out["nvme0n1"].agree, out["nvme0n1"].verdict()
    out = bv.check_run([line], {"nvme0n1": img})
    assert out["nvme0n1"] == "no 'blk: nvme0n1 ...' registration line gives its block size"
    assert bv.main([str(img), "--bs", "512", "--blocks", "524288", "--seed", "42",
                    "--stamped", "2", "--digest", f"{digest:x}"]) == 0
    assert bv.main([str(img), "--bs", "512", "--blocks", "524288", "--seed", "42",
                    "--stamped", "3", "--digest", f"{digest:x}"]) == 1
