# blkverify.py — the host-side check of the verified-I/O workload (`io=verify`,
# docs/harness.md "Host check"): after QEMU exits, read the NVMe disk image and verify,
# independently of the kernel's own reader, every block the kernel says it wrote.
#
# The block stamp (kernel/include/kernel/blkverify.h, docs/block.md), little-endian:
#   0 magic u64 "DOPPELIO" | 8 lba u64 | 16 seed u64 | 24 gen u32 | 28 cpu u32 |
#   32 sum u32 (FNV-1a 32 over the whole block with this field read as 0) | 36 rsvd u32 |
#   40.. payload u64 words w[i] = splitmix64(seed ^ lba*0x9E3779B97F4A7C15 ^ gen<<32 ^ i)
# where splitmix64(x) is one step of Steele, Lea and Flood's generator from state x:
# z = x + 0x9E3779B97F4A7C15, then the two xor-shift-multiply rounds and a final xor-shift.
#
# The check: in the region [0, io.blocks) of the image, every block holding the magic
# must have a valid checksum and its own LBA; a valid block with another seed is
# foreign (another run, or a test's) and only counted. Blocks of this run's seed are
# counted and XORed as blkv_mix(lba, gen) = splitmix64(lba ^ splitmix64(gen)); the count and the digest must equal the
# kernel's `stamped=` and `digest=` on its doppel-io line. The payload is checked
# too: a block whose checksum holds but whose payload is not the one its header
# implies was stamped wrongly by the kernel.
#
# Pure Python (no numpy): all-zero stretches are skipped with one comparison, and
# the checksums and payloads of many blocks are computed at once, one big integer
# holding one lane per block (64-bit lanes for FNV, 128-bit for splitmix64).
from __future__ import annotations

import argparse
import re
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

MAGIC = 0x4F494C4550504F44               # "DOPPELIO" as a little-endian u64
MAGIC_BYTES = MAGIC.to_bytes(8, "little")
HDR = struct.Struct("<QQQIIII")          # magic lba seed gen cpu sum rsvd
HDR_BYTES = 40
SUM_OFF = 32
GOLDEN = 0x9E3779B97F4A7C15
M64 = (1 << 64) - 1
FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
# The kernel's default region: the whole device capped at 256 MiB (common contract).
DEFAULT_REGION_BYTES = 256 << 20
BATCH = 2048                             # blocks per vectorised checksum batch
READ_CHUNK = 4 << 20                     # bytes read from the image at once
MAX_LISTED = 10                          # bad blocks named in the verdict


# ---------------------------------------------------------------- the format, scalar

def splitmix64(x: int) -> int:
    z = (x + GOLDEN) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def payload_word(lba: int, seed: int, gen: int, i: int) -> int:
    return splitmix64(seed ^ ((lba * GOLDEN) & M64) ^ ((gen << 32) & M64) ^ i)


def blkv_mix(lba: int, gen: int) -> int:
    """One written block's share of the run digest (blkverify.h's blkv_mix):
    splitmix64(lba ^ splitmix64(gen)). The worked example in
    harness/tests/test_blkverify.py pins it."""
    return splitmix64((lba & M64) ^ splitmix64(gen))


def fnv1a32(data: bytes) -> int:
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFF
    return h


def block_sum(block: bytes) -> int:
    """The checksum of a block: FNV-1a 32 with the sum field read as 0."""
    return fnv1a32(bytes(block[:SUM_OFF]) + b"\0\0\0\0" + bytes(block[SUM_OFF + 4:]))


def stamp(bs: int, lba: int, seed: int, gen: int, cpu: int) -> bytes:
    """A block as blkv_stamp writes it (the reference for tests and the worked example)."""
    if bs % 8 or bs < 64:
        raise ValueError(f"block size {bs} is not a multiple of 8 of at least 64")
    words = [payload_word(lba, seed, gen, i) for i in range((bs - HDR_BYTES) // 8)]
    body = bytearray(HDR.pack(MAGIC, lba & M64, seed & M64, gen, cpu, 0, 0))
    body += struct.pack(f"<{len(words)}Q", *words)
    struct.pack_into("<I", body, SUM_OFF, fnv1a32(body))
    return bytes(body)


# ------------------------------------------------------------ the format, vectorised

def _lanes(values: Sequence[int], width: int) -> int:
    return int.from_bytes(b"".join(v.to_bytes(width, "little") for v in values), "little")


def fnv1a32_many(blocks: bytes, bs: int) -> list[int]:
    """FNV-1a 32 of each bs-byte block in `blocks` (sum field already zeroed), all at
    once: lane j (64 bits) of one big integer is block j's running hash."""
    n = len(blocks) // bs
    if n == 0:
        return []
    lane = b"\xff\xff\xff\xff\0\0\0\0"
    mask = int.from_bytes(lane * n, "little")
    h = _lanes([FNV_OFFSET] * n, 8)
    pad = bytearray(8 * n)
    mv = memoryview(blocks)
    # A scalar multiply is lane-wise here: h < 2^32 and the prime < 2^25, so no lane
    # carries into the next before the mask cuts each back to 32 bits.
    for k in range(bs):
        pad[0::8] = mv[k::bs]
        h = ((h ^ int.from_bytes(pad, "little")) * FNV_PRIME) & mask
    return list(struct.unpack(f"<{n}Q", h.to_bytes(8 * n, "little")))


def _splitmix_lanes(x: int, mask64: int, golden: int, c1: int, c2: int) -> int:
    """splitmix64 on every 128-bit lane of x (each lane's value < 2^64). A right shift
    brings the next lane's low bits into this lane's top half: masked off before any
    multiply, so they never carry."""
    z = (x + golden) & mask64
    z = (((z ^ (z >> 30)) & mask64) * c1) & mask64
    z = (((z ^ (z >> 27)) & mask64) * c2) & mask64
    return (z ^ (z >> 31)) & mask64


def payloads_many(headers: Sequence[tuple[int, int, int]], bs: int) -> bytes:
    """The expected payloads (bs - 40 bytes each) of blocks with these (lba, seed, gen),
    concatenated. Lanes of 128 bits hold 64-bit values, so a lane-wise multiply by a
    64-bit constant and a right shift never leak into a neighbour once masked."""
    n = len(headers)
    words = (bs - HDR_BYTES) // 8
    if n == 0 or words == 0:
        return b""
    mask64 = int.from_bytes((b"\xff" * 8 + b"\0" * 8) * n, "little")
    rep = lambda c: _lanes([c] * n, 16)  # noqa: E731
    golden, c1, c2 = rep(GOLDEN), 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
    base = _lanes([seed ^ ((lba * GOLDEN) & M64) ^ ((gen << 32) & M64)
                   for lba, seed, gen in headers], 16)
    out = bytearray(n * words * 8)
    view = memoryview(out)
    stride = words * 8
    for i in range(words):
        w = _splitmix_lanes(base ^ rep(i) if i else base, mask64, golden, c1, c2)
        raw = w.to_bytes(16 * n, "little")
        for j in range(8):
            view[i * 8 + j::stride] = raw[j::16]
    return bytes(out)


# ------------------------------------------------------------------- the image scan

@dataclass
class BadBlock:
    lba: int
    what: str

    def __str__(self) -> str:
        return f"lba={self.lba}: {self.what}"


@dataclass
class HostCheck:
    """The verdict on one image against one doppel-io line."""
    image: str
    bs: int
    region_blocks: int
    seed: int
    expect_stamped: Optional[int]
    expect_digest: Optional[int]
    stamped: int = 0               # blocks of this run's seed, valid, at their own LBA
    digest: int = 0
    foreign: int = 0               # valid stamps of another seed
    other: int = 0                 # non-zero blocks without the magic
    nonzero: int = 0
    bad: list[BadBlock] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def problems(self) -> list[str]:
        out = []
        if self.bad:
            listed = "; ".join(str(b) for b in self.bad[:MAX_LISTED])
            more = f" (and {len(self.bad) - MAX_LISTED} more)" if len(self.bad) > MAX_LISTED else ""
            out.append(f"{len(self.bad)} bad block(s): {listed}{more}")
        if self.expect_stamped is not None and self.stamped != self.expect_stamped:
            out.append(f"the kernel says {self.expect_stamped} stamped blocks, the image holds "
                       f"{self.stamped}")
        if self.expect_digest is not None and self.digest != self.expect_digest:
            out.append(f"digest: kernel 0x{self.expect_digest:016x}, image 0x{self.digest:016x}")
        return out

    @property
    def agree(self) -> bool:
        return not self.problems

    def verdict(self) -> str:
        """'agree (N blocks)' or 'DISAGREE: ...' for the summary row."""
        if self.agree:
            extra = f", {self.foreign} foreign" if self.foreign else ""
            return f"agree ({self.stamped} blocks{extra})"
        return "DISAGREE: " + "; ".join(self.problems)


def _is_zero(mv: memoryview) -> bool:
    return not any(mv) if len(mv) < 64 else mv.tobytes().count(0) == len(mv)


def check_image(image: Path | str, *, bs: int, region_blocks: int, seed: int,
                stamped: Optional[int] = None, digest: Optional[int] = None,
                check_payload: bool = True) -> HostCheck:
    """Scan [0, region_blocks) of the image (bs-byte logical blocks) as described at
    the top of this file; beyond the end of the file the image reads as zeros."""
    if bs % 8 or bs < 64:
        raise ValueError(f"block size {bs} is not a multiple of 8 of at least 64")
    if region_blocks < 0:
        raise ValueError(f"region of {region_blocks} blocks")
    t0 = time.monotonic()
    res = HostCheck(str(image), bs, region_blocks, seed & M64, stamped, digest)
    chunk_blocks = max(1, READ_CHUNK // bs)
    zero_chunk = bytes(chunk_blocks * bs)
    pending: list[tuple[int, bytes]] = []    # (lba, block) with the magic, to checksum

    with open(image, "rb") as f:
        lba = 0
        while lba < region_blocks:
            want = min(chunk_blocks, region_blocks - lba)
            data = f.read(want * bs)
            if not data:
                break
            if data == zero_chunk[: len(data)]:
                lba += want
                continue
            mv = memoryview(data)
            for j in range(len(data) // bs):
                blk = mv[j * bs:(j + 1) * bs]
                if blk[:8] == MAGIC_BYTES:
                    res.nonzero += 1
                    pending.append((lba + j, bytes(blk)))
                elif not _is_zero(blk):
                    res.nonzero += 1
                    res.other += 1
            lba += want
            if len(pending) >= BATCH:
                _settle(res, pending, check_payload)
                pending = []
    _settle(res, pending, check_payload)
    res.bad.sort(key=lambda b: b.lba)
    res.seconds = time.monotonic() - t0
    return res


def _settle(res: HostCheck, blocks: list[tuple[int, bytes]], check_payload: bool) -> None:
    if not blocks:
        return
    bs = res.bs
    joined = bytearray(b"".join(b for _, b in blocks))
    for j in range(len(blocks)):
        joined[j * bs + SUM_OFF: j * bs + SUM_OFF + 4] = b"\0\0\0\0"
    sums = fnv1a32_many(bytes(joined), bs)
    good: list[tuple[int, int, int, int, bytes]] = []   # lba, seed, gen, position, block
    for (pos, blk), s in zip(blocks, sums):
        _, lba, seed, gen, _cpu, sum_, _rsvd = HDR.unpack_from(blk)
        if s != sum_:
            res.bad.append(BadBlock(pos, f"bad checksum (stored 0x{sum_:08x}, computed 0x{s:08x}; "
                                         f"header says lba={lba} seed={seed} gen={gen})"))
            continue
        if seed != res.seed:
            res.foreign += 1
            continue
        if lba != pos:
            res.bad.append(BadBlock(pos, f"holds the block of lba={lba} gen={gen} (misdirected write)"))
            continue
        if gen == 0:
            res.bad.append(BadBlock(pos, "generation 0 (the workload starts at 1)"))
            continue
        good.append((lba, seed, gen, pos, blk))
    if check_payload and good:
        expect = payloads_many([(lba, seed, gen) for lba, seed, gen, _, _ in good], bs)
        plen = bs - HDR_BYTES
        kept = []
        for j, g in enumerate(good):
            if g[4][HDR_BYTES:] != expect[j * plen:(j + 1) * plen]:
                off = next(i for i in range(plen) if g[4][HDR_BYTES + i] != expect[j * plen + i])
                res.bad.append(BadBlock(g[3], f"checksum holds but the payload differs from the "
                                              f"stamp's at byte {HDR_BYTES + off} (gen={g[2]})"))
            else:
                kept.append(g)
        good = kept
    for lba, _seed, gen, _pos, _blk in good:
        res.stamped += 1
        res.digest ^= blkv_mix(lba, gen)


# ------------------------------------------------------------- the kernel's lines

_IO_LINE = re.compile(r"^doppel-io: (.*)$")
_KV = re.compile(r"(\w+)=(\S+)")
IO_INT_KEYS = ("seed", "cpus", "seconds", "writes", "reads", "bytes_written", "bytes_read",
               "verified", "mismatches", "errors", "iops", "stamped")
_BLK_LINE = re.compile(r"^blk: (\S+) (\d+) blocks of (\d+) bytes \((\d+) MiB\), max (\d+) "
                       r"blocks/(\d+) segs per request, (\d+) queues\s*$")
_MISMATCH = re.compile(r"^io: MISMATCH dev=(\S+) lba=(\d+)")


@dataclass
class IoResult:
    """One `doppel-io:` line (the common contract's fields)."""
    dev: str
    values: dict[str, int]
    digest: int
    line: str

    def __getattr__(self, name: str) -> int:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None


class IoLineError(ValueError):
    pass


def parse_io_line(line: str) -> IoResult:
    m = _IO_LINE.match(line.strip())
    if not m:
        raise IoLineError(f"not a doppel-io line: {line!r}")
    kv = dict(_KV.findall(m.group(1)))
    missing = [k for k in ("dev", "digest", *IO_INT_KEYS) if k not in kv]
    if missing:
        raise IoLineError(f"doppel-io line lacks {', '.join(missing)}: {line.strip()!r}")
    values = {}
    for k in IO_INT_KEYS:
        try:
            values[k] = int(kv[k], 0)
        except ValueError:
            raise IoLineError(f"doppel-io {k}={kv[k]!r} is not a number") from None
    try:
        digest = int(kv["digest"], 16)
    except ValueError:
        raise IoLineError(f"doppel-io digest={kv['digest']!r} is not hexadecimal") from None
    return IoResult(kv["dev"], values, digest, line.strip())


def parse_io_lines(lines: Iterable[str]) -> tuple[list[IoResult], list[str]]:
    """Every doppel-io line of a console (and the malformed ones as error texts)."""
    out, errors = [], []
    for ln in lines:
        if ln.startswith("doppel-io:"):
            try:
                out.append(parse_io_line(ln))
            except IoLineError as e:
                errors.append(str(e))
    return out, errors


@dataclass
class BlockDev:
    name: str
    nblocks: int
    bs: int
    mib: int
    max_blocks: int
    max_segs: int
    queues: int


def parse_blk_lines(lines: Iterable[str]) -> dict[str, BlockDev]:
    """The block devices registered (the `blk: <name> ...` lines), by name."""
    out = {}
    for ln in lines:
        m = _BLK_LINE.match(ln.strip())
        if m:
            n = m.groups()
            out[n[0]] = BlockDev(n[0], *(int(x) for x in n[1:]))
    return out


def mismatch_lines(lines: Iterable[str], dev: Optional[str] = None) -> list[str]:
    """The `io: MISMATCH` lines, of one device when dev is given (the block suite's
    own test device plants a mismatch on purpose; it is not the workload's)."""
    out = []
    for ln in lines:
        m = _MISMATCH.match(ln)
        if m and (dev is None or m.group(1) == dev):
            out.append(ln)
    return out


def region_blocks(dev: BlockDev, io_blocks: Optional[int] = None) -> int:
    """io.blocks if given, else the whole device capped at 256 MiB (common contract)."""
    if io_blocks is not None:
        return min(io_blocks, dev.nblocks)
    return min(dev.nblocks, DEFAULT_REGION_BYTES // dev.bs)


def check_run(lines: Sequence[str], images: dict[str, Path], io_blocks: Optional[int] = None
              ) -> dict[str, HostCheck | str]:
    """For each doppel-io line of a console: the host check of its device's image
    (images: device name -> image file), or a text saying why it could not run."""
    devs = parse_blk_lines(lines)
    results, errors = parse_io_lines(lines)
    out: dict[str, HostCheck | str] = {}
    for e in errors:
        out.setdefault("?", e)
    for io in results:
        if io.dev not in devs:
            out[io.dev] = f"no 'blk: {io.dev} ...' registration line gives its block size"
        elif io.dev not in images:
            out[io.dev] = f"no image file known for {io.dev}"
        else:
            d = devs[io.dev]
            out[io.dev] = check_image(images[io.dev], bs=d.bs, region_blocks=region_blocks(d, io_blocks),
                                      seed=io.seed, stamped=io.stamped, digest=io.digest)
    return out


# ------------------------------------------------------------------------ command

def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m harness.blkverify",
                                description="Check a disk image after an io=verify run.")
    p.add_argument("image")
    p.add_argument("--console", help="console log: take bs, region, seed, stamped, digest from it")
    p.add_argument("--dev", default="nvme0n1", help="device of the image (with --console)")
    p.add_argument("--bs", type=int, help="logical block size in bytes")
    p.add_argument("--blocks", type=int, help="region size in blocks (io.blocks)")
    p.add_argument("--seed", type=lambda s: int(s, 0))
    p.add_argument("--stamped", type=int)
    p.add_argument("--digest", type=lambda s: int(s, 16))
    a = p.parse_args(argv)
    if a.console:
        lines = Path(a.console).read_text(errors="replace").splitlines()
        res = check_run(lines, {a.dev: Path(a.image)}, a.blocks).get(a.dev, f"no doppel-io line for {a.dev}")
    else:
        if None in (a.bs, a.blocks, a.seed):
            p.error("without --console, give --bs, --blocks and --seed")
        res = check_image(a.image, bs=a.bs, region_blocks=a.blocks, seed=a.seed,
                          stamped=a.stamped, digest=a.digest)
    if isinstance(res, str):
        print(f"blkverify: cannot check: {res}", file=sys.stderr)
        return 2
    print(f"blkverify: {res.image}: {res.verdict()} [{res.nonzero} non-zero blocks, "
          f"{res.other} without the magic, digest 0x{res.digest:016x}, {res.seconds:.2f} s]")
    return 0 if res.agree else 1


if __name__ == "__main__":
    sys.exit(main())
