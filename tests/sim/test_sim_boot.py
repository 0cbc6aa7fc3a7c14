# test_sim_boot.py — boot the kernel under doppel-sim across machine shapes (CPU
# counts, APIC ID layouts, ACPI revisions, broken ACPI tables, RSDP discovery) and
# check the facts and KTAP results of docs/protocol.md. The kernel log wording these
# tests rely on is all in the table below: change it there, in one place.
from __future__ import annotations

import struct

import pytest

from harness.plugin import assert_ktap_passed
from harness.report import failure_sections
from harness.targets.sim import acpi_break_kinds, sim_help

pytestmark = pytest.mark.sim

# ---- expected kernel log wording -------------------------------------------------
# A line of the boot log (before KTAP starts) must contain both strings of a pair.
DUPLICATE_APIC_ID = ("acpi", "duplicate APIC ID")
ACPI_BREAK_LOG = {
    # --acpi-break KIND      (table named,  fault named)
    "rsdp-checksum":        ("RSDP", "bad checksum"),
    "rsdp-ext-checksum":    ("RSDP", "extended checksum"),
    "xsdt-checksum":        ("XSDT", "bad checksum"),
    "xsdt-bad-length":      ("XSDT", "bad length"),
    "xsdt-entry-outside":   ("XSDT", "outside memory"),
    "xsdt-entry-straddle":  ("XSDT", "outside memory"),
    "madt-checksum":        ("MADT", "bad checksum"),
    "madt-truncated":       ("MADT", "runs past the table end"),
    "madt-entry-len0":      ("MADT", "entry length 0"),
    "madt-entry-overrun":   ("MADT", "runs past the table end"),
    "madt-missing":         ("MADT", "no usable MADT"),
}
ACPI_BREAK_NOT_A_FAULT = {"rsdt-only"}
# Faults after which no MADT is usable (the kernel knows no CPU list: acpi.cpus=0).
ACPI_BREAK_NO_MADT = {"rsdp-checksum", "madt-checksum", "madt-missing"}   # a valid ACPI 1.0 layout, tested as --acpi-rev 0
PANIC_LINE = "KERNEL PANIC"
NO_SUITE = "ktest: no suite matches 'acpx'"     # + " (ktest=* runs every suite; the suites are: ...)"
NO_CASE = "ktest: no case matches 'acpi.no_such_case'"
RSDP_SOURCE_SCAN = "scan"                # doppel-info: rsdp=<addr> scan
# ------------------------------------------------------------------------------------

# Cases that must run (not skip) on these machines (assert_ktap_passed's must_run).
ACPI_CASES = ("acpi.rsdp_found", "acpi.table_checksums", "acpi.madt_cpu_count_matches",
              "acpi.madt_apic_ids_unique", "acpi.boot_cpu_in_madt", "acpi.madt_ioapic_present",
              "acpi.madt_parser_rejects_bad_entries")
MEMORY_CASES = ("pmm.alloc_free_roundtrip", "pmm.contiguous_aligned", "pmm.no_overlap",
                "pmm.exhaustion_returns_zero", "pmm.bad_frees_refused",
                "heap.heap_small_blocks", "heap.heap_large_block")

CPU_COUNTS = [1, 2, 4, 64, 256]
BAD_OPTIONS = [
    (["--cpus", "0"], "--cpus"),
    (["--cpus", "257"], "--cpus"),
    (["--mem", "1M"], "--mem"),
    (["--seed", "-3"], "--seed"),
    (["--apic-ids", "random"], "--apic-ids"),
    (["--acpi-break", "no-such-fault"], "--acpi-break"),
    (["--acpi-rev", "1"], "--acpi-rev"),
    (["--rsdp", "guess"], "--rsdp"),
    (["--frobnicate"], "--frobnicate"),
]


def boot_log(r) -> list[str]:
    """Console lines before the KTAP header: what the kernel logged while booting
    (the acpi suite later feeds bad tables to the parser on purpose, and those
    log lines must not count)."""
    out = []
    for ln in r.lines:
        if ln.strip().startswith("KTAP version"):
            break
        out.append(ln)
    return out


def lines_with(lines, a: str, b: str) -> list[str]:
    return [ln for ln in lines if a in ln and b in ln]


def assert_clean_boot(r, status: int = 0) -> None:
    assert not r.timed_out, f"{r.label}: timed out after {r.timeout:g} s"
    assert r.sanitizer_errors == [], f"{r.label}: sanitizer errors: {r.sanitizer_errors[:3]}"
    assert r.status == status, f"{r.label}: kernel status {r.status_text}, expected {status}"
    assert r.facts.get("platform") == "sim" and r.facts.get("firmware") == "sim"


def madt_entry_types(madt: bytes) -> list[int]:
    """Entry types of an MADT (ACPI 6.5 §5.2.12): 44-byte header, then
    {type, length} entries. An oracle independent of the kernel's parser."""
    (length,) = struct.unpack_from("<I", madt, 4)
    off, types = 44, []
    while off + 2 <= length:
        etype, elen = madt[off], madt[off + 1]
        if elen < 2:
            break
        types.append(etype)
        off += elen
    return types


# ---- CPU counts and APIC IDs -------------------------------------------------------

@pytest.mark.parametrize("cpus", CPU_COUNTS)
def test_madt_cpu_count_matches_configured_cpus(sim, cpus):
    r = sim(cpus=cpus).run(f"ktest=acpi expect.cpus={cpus}")
    assert_clean_boot(r)
    assert r.int_fact("acpi.cpus") == cpus
    assert_ktap_passed(r, must_run=ACPI_CASES)


def test_sparse_apic_ids_at_256_cpus_use_x2apic_entries(sim, artifact_dir):
    dump = artifact_dir / "tables"
    d = sim(cpus=256, apic_ids="sparse", extra_args=["--dump-acpi", str(dump)]).run("")
    assert d.exit_code == 0, f"--dump-acpi failed: {d.status_text}"
    types = madt_entry_types((dump / "APIC.dat").read_bytes())
    assert types.count(9) > 0, "sparse APIC IDs at 256 CPUs should need x2APIC (type 9) entries"
    assert types.count(0) + types.count(9) == 256

    r = sim(cpus=256, apic_ids="sparse").run("ktest=acpi expect.cpus=256")
    assert_clean_boot(r)
    assert r.int_fact("acpi.cpus") == 256
    assert_ktap_passed(r, must_run=ACPI_CASES)


def test_duplicate_apic_id_is_dropped_and_logged(sim):
    r = sim(cpus=4, apic_ids="dup").run("ktest=acpi")
    assert_clean_boot(r)
    assert r.int_fact("acpi.cpus") == 3
    assert lines_with(boot_log(r), *DUPLICATE_APIC_ID), \
        f"no boot log line containing {DUPLICATE_APIC_ID}"
    # madt_cpu_count_matches is left out: it skips without expect.cpus=, and the
    # count is checked above (4 configured, one duplicate dropped)
    assert_ktap_passed(r, must_run=[c for c in ACPI_CASES if c != "acpi.madt_cpu_count_matches"])


# ---- broken and unusual ACPI tables -----------------------------------------------

@pytest.mark.parametrize("kind", sorted(ACPI_BREAK_LOG))
def test_broken_acpi_table_is_logged_not_fatal(sim, kind):
    # Where the kernel can recover the CPU list (a fallback to the RSDT, a skipped
    # XSDT entry, a MADT cut short after its CPUs) the acpi suite must pass on 4
    # CPUs. Where the fault leaves no usable MADT, the acpi suite rightly fails; the
    # kernel must still boot on and run the memory suites.
    unusable = kind in ACPI_BREAK_NO_MADT
    words = "ktest=pmm,heap" if unusable else "ktest=acpi expect.cpus=4"
    r = sim(acpi_break=kind).run(words)
    assert not r.crashed, f"--acpi-break {kind}: the kernel crashed ({r.status_text})"
    table, fault = ACPI_BREAK_LOG[kind]
    assert lines_with(boot_log(r), table, fault), \
        f"--acpi-break {kind}: no boot log line naming {table!r} and {fault!r}"
    assert_clean_boot(r)
    assert_ktap_passed(r, must_run=MEMORY_CASES if unusable else ACPI_CASES)
    assert r.int_fact("acpi.cpus") == (0 if unusable else 4)


def test_every_acpi_break_kind_has_an_expectation(doppel_build):
    kinds = acpi_break_kinds(sim_help(doppel_build))
    assert kinds, "could not read the --acpi-break kinds from doppel-sim --help"
    missing = set(kinds) - set(ACPI_BREAK_LOG) - ACPI_BREAK_NOT_A_FAULT
    assert not missing, f"add these --acpi-break kinds to ACPI_BREAK_LOG: {sorted(missing)}"
    stale = set(ACPI_BREAK_LOG) - set(kinds)
    assert not stale, f"doppel-sim no longer has these --acpi-break kinds: {sorted(stale)}"


def test_rsdp_found_by_scanning_the_bios_area(sim):
    r = sim(rsdp="scan").run("ktest=acpi expect.cpus=4")
    assert_clean_boot(r)
    rsdp = (r.fact("rsdp") or "").split()
    assert len(rsdp) == 2 and int(rsdp[0], 16) != 0 and rsdp[1] == RSDP_SOURCE_SCAN, r.fact("rsdp")
    assert_ktap_passed(r, must_run=ACPI_CASES)


@pytest.mark.parametrize("how", [["--acpi-rev", "0"], ["--acpi-break", "rsdt-only"]],
                         ids=["acpi-rev-0", "rsdt-only"])
def test_acpi_1_0_tables_rsdt_only(sim, artifact_dir, how):
    dump = artifact_dir / "tables"
    d = sim(extra_args=how + ["--dump-acpi", str(dump)]).run("")
    assert d.exit_code == 0
    assert (dump / "RSDT.dat").exists() and not (dump / "XSDT.dat").exists()
    assert (dump / "RSDP.dat").read_bytes()[15] == 0          # RSDP revision 0

    r = sim(extra_args=how).run("ktest=acpi expect.cpus=4")
    assert_clean_boot(r)
    assert r.int_fact("acpi.cpus") == 4
    assert_ktap_passed(r, must_run=ACPI_CASES)


# ---- the command line of doppel-sim ------------------------------------------------

@pytest.mark.parametrize("args,option", BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_bad_option_exits_64_naming_the_option(sim, args, option):
    r = sim(extra_args=args).run("ktest=acpi")
    assert r.exit_code == 64, f"{args}: exit code {r.exit_code}, expected 64"
    assert not r.crashed and r.sanitizer_errors == []
    assert any(option in ln for ln in r.lines), f"no message naming {option}: {r.lines[-5:]}"
    assert "KTAP version 1" not in r.lines       # the kernel never started


@pytest.mark.parametrize("words,line", [("ktest=acpx", NO_SUITE),
                                        ("ktest=acpi,acpi.no_such_case", NO_CASE)],
                         ids=["no-suite", "no-case"])
def test_ktest_glob_that_selects_nothing_fails_the_run(sim, words, line):
    # A typo in ktest= must not pass: status 1 (a failure, not a crash), the glob
    # named with the suites to choose from, and the harness does not count it a pass.
    r = sim(cpus=2).run(words)
    assert r.status == 1 and not r.crashed, r.status_text
    named = [ln for ln in r.lines if ln.startswith(line)]
    assert named and "ktest=* runs every suite" in named[0] and " acpi " in named[0], named
    with pytest.raises(AssertionError, match="no case matches|no KTAP results"):
        assert_ktap_passed(r, must_run=["acpi.rsdp_found"])


# ---- crashes are reported ----------------------------------------------------------

def test_panic_is_reported_as_a_crash_with_a_reproducer(sim, request):
    r = sim(cpus=2).run("ktest=selftest selftest.panic")
    assert r.status == 2 and r.crashed and r.sanitizer_errors == []
    crashed = [p for p, t in r.ktap.failures() if t.status.value == "crashed"]
    assert crashed and crashed[0].startswith("selftest."), r.ktap.failures()
    assert r.grep(PANIC_LINE)
    sections = dict(failure_sections([r], request.node.nodeid, []))
    assert PANIC_LINE in sections["console excerpt"]
    repro = sections["reproduce"]
    assert f"-m pytest {request.node.nodeid}" in repro or f"-m pytest '{request.node.nodeid}'" in repro
    assert r.command_str in repro and f"--seed {r.seed}" in repro
    with pytest.raises(AssertionError, match="CRASHED"):
        assert_ktap_passed(r, must_run=["selftest.printf_formats"])
