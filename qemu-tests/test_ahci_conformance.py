# test_ahci_conformance.py — the AHCI model agrees with QEMU 7.2's AHCI (hw/ide/ahci.c
# and hw/ide/core.c behind q35's built-in ICH9 controller), an HBA and disk we did not
# write: `ktest=ahci.conformance` sends the same raw commands (good reads and writes,
# LBAs beyond the capacity, a count of 0, PRDT byte-count rules, an unsupported command
# and SET FEATURES subcommand, FLUSH, TRIM, NCQ reads/writes, an NCQ error and its log,
# NCQ with a busy tag) to doppel-sim's model and to QEMU; every case must run on both
# and end in the same PxTFD and PxIS (and PRDBC / log where printed), except the
# differences in DIFFERENCES, each explained by what QEMU visibly does. PxCI, PxSACT
# and PxSERR are printed for diagnosis and not compared (see docs/ahci.md). docs/ahci.md
# "Model vs QEMU" lists the same table (checked here).
from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.plugin import assert_ktap_passed
from harness.suites import AHCI_CONF_CASES

pytestmark = pytest.mark.qemu

CASE = "ahci.conformance"
# Every case the ktest prints, in order (kernel/drivers/ahci/ahci_conf_ktest.c).
CASES = AHCI_CONF_CASES
COMPARED = ("tfd", "is", "prdbc", "log")     # fields compared when printed; ci, sact, serr are not

# The accepted differences: case -> (model, QEMU, reason), model and QEMU as the
# compared fields ("tfd=.. is=.."). The one place this table lives; docs/ahci.md lists it.
IDNF = ("ACS-3 sets IDNF for an LBA beyond the capacity; QEMU reports ABRT alone, and with TFES it also "
        "sets DHRS (AHCI 1.3.1 RegFIS:Entry goes to ERR:FatalTaskfile instead: TFES only)")
DHRS = ("QEMU 7.2 sets DHRS together with TFES for a D2H FIS with ERR; AHCI 1.3.1 RegFIS:Entry goes to "
        "ERR:FatalTaskfile (TFES only), as later QEMU releases do")
DIFFERENCES: dict[str, tuple[str, str, str]] = {
    "read_dma_ext_lba_beyond": ("tfd=1441 is=40000000", "tfd=441 is=40000001", IDNF),
    "write_dma_ext_lba_beyond": ("tfd=1441 is=40000000", "tfd=441 is=40000001", IDNF),
    "read_dma_ext_prdt_short": (
        "tfd=d0 is=1000000", "tfd=50 is=1",
        "a PRDT shorter than the transfer: QEMU ends the command as a success without moving data; the "
        "model sets PxIS.OFS (AHCI 1.3.1 §6.1.6 overflow) and stops the port with BSY left set"),
    "read_dma_ext_prd_odd_count": (
        "tfd=d0 is=20000000", "tfd=50 is=1",
        "a PRD byte count with DBC bit 0 clear (odd, AHCI 1.3.1 §4.2.3.3 requires it set): QEMU does not "
        "check it and transfers; the model refuses it as a host bus fatal error (HBFS)"),
    "set_features_bad_subcommand": ("tfd=441 is=40000000", "tfd=441 is=40000001", DHRS),
    "unsupported_opcode": ("tfd=441 is=40000000", "tfd=441 is=40000001", DHRS),
    "dsm_trim_lba_beyond": ("tfd=1441 is=40000000", "tfd=441 is=40000001", IDNF),
    "read_fpdma_after_error": (
        "tfd=50 is=8", "tfd=450 is=40000008",
        "QEMU keeps the failed command's ERR and error register in the device until the next non-queued "
        "command and sends them in the D2H FIS that accepts a queued command (TFES, PxCI left set); the "
        "command still runs and its Set Device Bits FIS carries the stale error"),
    "read_fpdma_lba_beyond": (
        "tfd=1441 is=40000000", "tfd=441 is=40000000",
        "ACS-3 sets IDNF for an LBA beyond the capacity; QEMU's NCQ error reports ABRT alone"),
    "read_log_ext_10h": (
        "tfd=50 is=3 log=tag2", "tfd=441 is=40000001 log=untouched",
        "QEMU 7.2 has no READ LOG EXT (ABRT) and so no NCQ Command Error log, which ACS-3 requires of a "
        "device offering NCQ; the model returns the page naming the failed tag"),
    "fpdma_busy_tag": (
        "tfd=441 is=40000008", "tfd=50 is=8",
        "QEMU ignores a queued command whose tag is in use (no FIS, no error, its PxCI bit stays set) and "
        "completes the first; the model completes the first, then ends the second with an NCQ error (ABRT, "
        "TFES) as a device does for a tag already outstanding"),
}

LINE = re.compile(r"^ahci-conf: (\S+) (?:((?:\w+=[0-9a-z]+ ?)+)|(skipped .*|no completion .*))$")
DOCS = Path(__file__).resolve().parent.parent / "docs" / "ahci.md"
DISK = 64 << 20


def parse(lines) -> tuple[dict[str, dict[str, str]], list[str]]:
    """case -> {field: value}, and the lines that were not statuses."""
    got: dict[str, dict[str, str]] = {}
    bad: list[str] = []
    for ln in lines:
        if not ln.startswith("ahci-conf:"):
            continue
        m = LINE.match(ln.strip())
        if not m:
            bad.append(f"malformed: {ln!r}")
        elif m.group(3):
            bad.append(f"{m.group(1)}: {m.group(3)}")
        elif m.group(1) in got:
            bad.append(f"{m.group(1)}: printed twice")
        else:
            got[m.group(1)] = dict(kv.split("=", 1) for kv in m.group(2).split())
    return got, bad


def compared(fields: dict[str, str]) -> str:
    return " ".join(f"{k}={fields[k]}" for k in COMPARED if k in fields)


def statuses(r, where: str) -> dict[str, str]:
    assert_ktap_passed(r, must_run=[CASE])
    got, bad = parse(r.lines)
    assert not bad, f"{where}: " + "; ".join(bad)
    assert list(got) == CASES, f"{where}: cases {list(got)}, expected {CASES}"
    return {c: compared(f) for c, f in got.items()}


def docs_section() -> str:
    text = DOCS.read_text()
    start = text.find("## Model vs QEMU")
    assert start >= 0, "docs/ahci.md has no '## Model vs QEMU' section"
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def test_ahci_differences_table_is_documented():
    section = docs_section()
    for case, (model, qemu, _) in DIFFERENCES.items():
        row = next((ln for ln in section.splitlines() if ln.startswith(f"| `{case}` |")), None)
        assert row, f"docs/ahci.md 'Model vs QEMU' does not list {case}"
        assert model in row and qemu in row, f"docs/ahci.md row for {case} does not say {model} vs {qemu}: {row}"
    assert set(DIFFERENCES) <= set(CASES)


def test_ahci_model_statuses_match_qemu(sim, qemu):
    s = sim(cpus=2, extra_args=["--ahci", f"mem,port=0,size={DISK >> 20}M"]).run(f"ktest={CASE} nvme=off")
    model = statuses(s, "doppel-sim")
    q = qemu(firmware="seabios", smp=2, ahci_builtin=[0], ahci_disk_size=DISK).run(f"ktest={CASE}")
    real = statuses(q, "QEMU")
    wrong = []
    for case in CASES:
        ms, qs = model[case], real[case]
        if case in DIFFERENCES:
            want_m, want_q, _ = DIFFERENCES[case]
            if (ms, qs) != (want_m, want_q):
                wrong.append(f"{case}: model '{ms}' QEMU '{qs}', the table says model '{want_m}' QEMU '{want_q}'")
        elif ms != qs:
            wrong.append(f"{case}: model '{ms}', QEMU '{qs}'")
    assert not wrong, "model and QEMU disagree (fix the model, or document why QEMU differs): " + \
        "; ".join(wrong)
