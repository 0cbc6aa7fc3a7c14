# test_nvme_conformance.py — the NVMe model agrees with QEMU 7.2's nvme (hw/nvme), a
# controller we did not write: `ktest=nvme.conformance` sends the same admin and I/O
# commands (bad queue ids and sizes, bad vectors, bad PRPs, LBAs out of range, MDTS,
# bad NSIDs and opcodes, Flush/Write Zeroes/DSM, Abort) to doppel-sim's model and to
# QEMU; every case must run on both and get the same status (and DW0 where it is
# printed), except the differences in DIFFERENCES, each explained by what QEMU
# visibly does. docs/nvme.md "Model vs QEMU" lists the same table (checked here).
from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.plugin import assert_ktap_passed

pytestmark = pytest.mark.qemu

# Every case the ktest prints, in order (kernel/drivers/nvme/nvme_ktest.c).
CASES = [
    "admin_invalid_opcode", "identify_bad_cns", "get_features_bad_fid",
    "create_cq_qid_0", "create_cq_qid_beyond_granted", "create_cq_qid_in_use",
    "delete_sq_unknown", "delete_cq_unknown",
    "create_cq_qsize_0", "create_cq_qsize_over_mqes", "create_cq_invalid_vector",
    "create_cq_pc_0", "create_cq_base_unaligned", "create_sq_cq_invalid", "create_cq_good",
    "create_sq_qid_in_use", "create_sq_good", "set_features_num_queues_after_create",
    "abort_sqid_unknown", "delete_cq_in_use", "delete_sq_good", "delete_cq_good",
    "write_good", "read_good", "read_lba_start_beyond", "read_lba_end_beyond",
    "read_mdts_exceeded", "write_prp1_not_dword_aligned", "write_prp2_offset",
    "write_prp_list_entry_offset", "write_prp_list_good",
    "read_nsid_0", "read_nsid_beyond_nn", "read_nsid_broadcast", "io_invalid_opcode",
    "flush_nsid_broadcast", "write_zeroes_good", "write_zeroes_lba_end_beyond",
    "write_zeroes_65536_blocks", "dsm_deallocate_good", "dsm_deallocate_lba_beyond",
    "abort_not_found",
]

# The accepted differences: case -> (model "sct/sc", QEMU "sct/sc", reason). The one
# place this table lives; docs/nvme.md lists it.
DIFFERENCES: dict[str, tuple[str, str, str]] = {
    "delete_cq_unknown": (
        "1/01", "1/00",
        "NVMe 1.4 §5.5 names Invalid Queue Identifier for Delete I/O CQ of a queue "
        "that does not exist; QEMU answers Completion Queue Invalid for it"),
    "write_prp1_not_dword_aligned": (
        "0/13", "0/00",
        "§4.3 requires PRP1's offset to be dword aligned; QEMU does not check PRP1's "
        "low bits and transfers from the unaligned address"),
    "read_nsid_broadcast": (
        "0/0b", "0/02",
        "QEMU accepts FFFFFFFFh as a valid NSID and then finds no namespace for it "
        "(Invalid Field); the model treats it as an invalid NSID for a command without "
        "broadcast support (Invalid Namespace or Format)"),
    "dsm_deallocate_lba_beyond": (
        "0/80", "0/00",
        "QEMU skips a Deallocate range beyond the namespace without an error; the "
        "model fails the command with LBA Out of Range (NVMe 1.4 generic status 80h)"),
}

LINE = re.compile(r"^nvme-conf: (\S+) (?:sct=([0-9a-f]+) sc=([0-9a-f]{2})(?: dw0=([0-9a-f]+))?|(skipped .*|no completion .*))$")
DOCS = Path(__file__).resolve().parent.parent / "docs" / "nvme.md"
DISK = 64 << 20


def parse(lines) -> tuple[dict[str, tuple[str, str | None]], list[str]]:
    """case -> ("sct/sc", dw0 or None), and the lines that were not statuses."""
    got: dict[str, tuple[str, str | None]] = {}
    bad: list[str] = []
    for ln in lines:
        if not ln.startswith("nvme-conf:"):
            continue
        m = LINE.match(ln.strip())
        if not m:
            bad.append(f"malformed: {ln!r}")
        elif m.group(5):
            bad.append(f"{m.group(1)}: {m.group(5)}")
        elif m.group(1) in got:
            bad.append(f"{m.group(1)}: printed twice")
        else:
            got[m.group(1)] = (f"{int(m.group(2), 16)}/{m.group(3)}", m.group(4))
    return got, bad


def statuses(r, where: str) -> dict[str, tuple[str, str | None]]:
    assert_ktap_passed(r, must_run=["nvme.conformance"])
    got, bad = parse(r.lines)
    assert not bad, f"{where}: " + "; ".join(bad)
    assert list(got) == CASES, f"{where}: cases {list(got)}, expected {CASES}"
    return got


def docs_section() -> str:
    text = DOCS.read_text()
    start = text.find("## Model vs QEMU")
    assert start >= 0, "docs/nvme.md has no '## Model vs QEMU' section"
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def test_differences_table_is_documented():
    section = docs_section()
    for case, (model, qemu, _) in DIFFERENCES.items():
        row = next((ln for ln in section.splitlines() if f"`{case}`" in ln), None)
        assert row, f"docs/nvme.md 'Model vs QEMU' does not list {case}"
        assert model in row and qemu in row, f"docs/nvme.md row for {case} does not say {model} vs {qemu}: {row}"
    assert set(DIFFERENCES) <= set(CASES)


def test_nvme_model_statuses_match_qemu(sim, qemu):
    s = sim(cpus=4, extra_args=["--nvme", f"mem,size={DISK >> 20}M,ns=1,queues=64,lbads=9"]).run(
        "ktest=nvme.conformance expect.cpus=4")
    model = statuses(s, "doppel-sim")
    q = qemu(firmware="seabios", smp=4, iommu=True, nvme=True, nvme_disk_size=DISK).run(
        "ktest=nvme.conformance expect.cpus=4")
    real = statuses(q, "QEMU")
    wrong = []
    for case in CASES:
        (ms, mdw), (qs, qdw) = model[case], real[case]
        if case in DIFFERENCES:
            want_m, want_q, _ = DIFFERENCES[case]
            if (ms, qs) != (want_m, want_q):
                wrong.append(f"{case}: model {ms} QEMU {qs}, the table says model {want_m} QEMU {want_q}")
        elif ms != qs or mdw != qdw:
            wrong.append(f"{case}: model {ms}" + (f" dw0={mdw}" if mdw else "") +
                         f", QEMU {qs}" + (f" dw0={qdw}" if qdw else ""))
    assert not wrong, "model and QEMU disagree (fix the model, or document why QEMU differs): " + \
        "; ".join(wrong)
