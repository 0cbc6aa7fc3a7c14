# test_sim_smp.py — interrupts and SMP on doppel-sim: AP bring-up at 1..256 CPUs,
# sparse and duplicate APIC IDs, APs that fail on purpose (--fault), xAPIC and
# x2APIC, NUMA from the generated SRAT, and the kernel's concurrency suites under
# ThreadSanitizer. The LAPIC/I/O APIC/PIT/TLB models are described in docs/sim.md;
# their own unit tests are tests/unit/test_lapic_model.c.
from __future__ import annotations

import re
import struct

import pytest

from harness.plugin import assert_ktap_passed
from harness.ktap import Status

pytestmark = pytest.mark.sim

# ---- expected kernel log wording (kernel/smp/smp.c) -------------------------------
AP_FAILED = "failed to start"            # "CPU n (APIC ID 0x..) failed to start: <why>"
ESR_IN_FAILURE = "ESR 0x"                # "... (ESR 0x4); continuing without it"
# ------------------------------------------------------------------------------------

CPU_COUNTS = [1, 2, 4, 64, 256]
_SIM_STATS = re.compile(r"^sim: stats (lapic|tlb|ioapic): (.*)$")


def sim_stats(r, model: str) -> dict[str, int]:
    """The counters doppel-sim prints at exit: 'sim: stats lapic: k=v k=v ...'."""
    for ln in r.lines:
        m = _SIM_STATS.match(ln.strip())
        if m and m.group(1) == model:
            return {k: int(v) for k, v in (kv.split("=", 1) for kv in m.group(2).split())}
    raise AssertionError(f"{r.label}: no 'sim: stats {model}:' counters line (did the machine exit cleanly?)")


def assert_booted(r, status: int = 0) -> None:
    assert not r.timed_out, f"{r.label}: timed out after {r.timeout:g} s"
    assert r.sanitizer_errors == [], f"{r.label}: sanitizer errors: {r.sanitizer_errors[:3]}"
    assert not r.crashed, f"{r.label}: crashed: {r.status_text}; " + " | ".join(r.grep("FATAL")[:2])
    assert r.status == status, f"{r.label}: kernel status {r.status_text}, expected {status}"


# Every case of the suites these tests run must run (must_run) unless the test's CPU
# count makes it skip (harness/suites.py: ONE_CPU_SKIPS).
from harness.suites import smp_must_run  # noqa: E402



def assert_suites_ran(r, *suites: str, cpus: int) -> None:
    """Every case of these suites ran and passed (none skipped), but for the ones
    one CPU cannot run when `cpus` is 1: an absent or skipped case is a failure."""
    assert_ktap_passed(r, must_run=smp_must_run(suites, cpus))


def failure_lines(r, apic_id: int) -> list[str]:
    return [ln for ln in r.lines if AP_FAILED in ln and f"APIC ID {apic_id:#x}" in ln]


# ---- bring-up ---------------------------------------------------------------------

@pytest.mark.parametrize("cpus", CPU_COUNTS)
def test_every_cpu_comes_online(sim, cpus):
    r = sim(cpus=cpus).run(f"ktest=smp expect.cpus={cpus}")
    assert_booted(r)
    assert r.int_fact("smp.online") == cpus
    assert r.int_fact("smp.failed") == 0
    assert_suites_ran(r, "smp", cpus=cpus)
    lapic = sim_stats(r, "lapic")
    assert lapic["sipis_accepted"] == cpus - 1 and lapic["sipis_ignored"] == 0, lapic


def test_bringup_of_256_cpus_reports_bench_figures(sim):
    r = sim(cpus=256).run("expect.cpus=256")
    assert_booted(r)
    assert r.int_fact("smp.online") == 256
    bench = r.grep("sim: bench bringup_wall_ms=")
    assert bench, "doppel-sim printed no bring-up bench line"
    assert r.int_fact("smp.online_us") is not None
    print(f"\n{bench[0].strip()}; kernel smp.online_us={r.fact('smp.online_us')}")


@pytest.mark.parametrize("cpus", [8, 256])
def test_sparse_apic_ids_come_online(sim, cpus):
    r = sim(cpus=cpus, apic_ids="sparse").run(f"ktest=smp expect.cpus={cpus}")
    assert_booted(r)
    assert r.int_fact("smp.online") == cpus
    assert_suites_ran(r, "smp", cpus=cpus)


def test_duplicate_apic_id_is_not_started(sim):
    r = sim(cpus=4, apic_ids="dup").run("ktest=smp")
    assert_booted(r)
    assert r.int_fact("smp.online") == 3
    lapic = sim_stats(r, "lapic")
    # The last CPU repeats the BSP's ID 0: nobody may INIT/SIPI it.
    assert lapic["sipis_accepted"] == 2 and lapic["inits"] == 2, lapic


# ---- faults -----------------------------------------------------------------------

def test_dead_ap_is_named_and_boot_goes_on(sim):
    # vectors too: the dead AP got its handler table before its SIPI, so only its
    # never-set irq_ready flag keeps interrupts from being moved to it (the
    # affinity case's offline CPU is the dead one here).
    r = sim(cpus=4, extra_args=["--fault", "ap-dead=2"]).run("ktest=smp,vectors.vectors_affinity_move")
    assert_booted(r)
    assert r.int_fact("smp.online") == 3
    assert r.int_fact("smp.failed") == 1
    assert failure_lines(r, 2), "no log line naming APIC ID 0x2 as failed"
    assert_ktap_passed(r, must_run=smp_must_run(["smp"], 4) + ["vectors.vectors_affinity_move"])


def test_ap_that_ignores_the_first_sipi_still_comes_up(sim):
    # Seed bug K46: a kernel that sends one SIPI loses this AP.
    r = sim(cpus=4, extra_args=["--fault", "ap-ignore-first-sipi=3"]).run("ktest=smp")
    assert_booted(r)
    assert r.int_fact("smp.online") == 4
    assert sim_stats(r, "lapic")["sipis_ignored"] == 1


def test_esr_send_error_is_logged(sim):
    # Seed bug K40: the ESR must be cleared before and read after each SIPI.
    r = sim(cpus=4, extra_args=["--fault", "esr-send-error=1"]).run("ktest=smp")
    assert_booted(r)
    assert r.int_fact("smp.online") == 3
    lines = failure_lines(r, 1)
    assert lines and ESR_IN_FAILURE in lines[0], f"no failure line with the ESR: {lines}"


def test_spurious_storm_is_survived_without_eoi(sim):
    r = sim(cpus=4, extra_args=["--fault", "spurious-storm=1"]).run("ktest=ipi,vectors")
    assert_booted(r)
    assert_suites_ran(r, "ipi", "vectors", cpus=4)
    lapic = sim_stats(r, "lapic")
    assert lapic["spurious"] > 0, lapic
    assert lapic["eoi_without_isr"] == 0, f"the kernel sent EOIs for spurious interrupts: {lapic}"


def test_late_ipis_still_complete_cross_cpu_calls(sim):
    r = sim(cpus=4, extra_args=["--fault", "late-ipi=2000"]).run("ktest=ipi,tlb")
    assert_booted(r)
    assert_suites_ran(r, "ipi", "tlb", cpus=4)


# ---- APIC modes, timers, NUMA ------------------------------------------------------

def test_x2apic_mode_by_default(sim):
    r = sim(cpus=4).run("ktest=apic,ipi")
    assert_booted(r)
    assert r.fact("apic.mode") == "x2apic"
    assert r.int_fact("smp.online") == 4
    assert_suites_ran(r, "ipi", cpus=4)


def test_xapic_mode_without_cpuid_x2apic(sim):
    r = sim(cpus=4, extra_args=["--cpu-features", "no-x2apic"]).run("ktest=apic,ipi,tlb")
    assert_booted(r)
    assert r.fact("apic.mode") == "xapic"
    assert r.int_fact("smp.online") == 4
    assert_suites_ran(r, "ipi", "tlb", cpus=4)


def test_periodic_timer_without_tsc_deadline(sim):
    # Periodic mode runs on the calibrated LAPIC clock, so here (unlike in deadline
    # mode) a wrong calibration shows: the tick rate case must pass too, and the
    # calibrated clock must be the model's 100 MHz / 16 within 5%.
    r = sim(cpus=4, extra_args=["--cpu-features", "no-tsc-deadline"]).run(
        "ktest=timer.timer_mode_matches_cpuid,timer.timer_tick_on_every_cpu")
    assert_booted(r)
    for name in ("timer.timer_mode_matches_cpuid", "timer.timer_tick_on_every_cpu"):
        c = r.ktap.find(name)
        assert c is not None and c.status == Status.PASS, (name, c)
    assert r.int_fact("time.deadline") == 0
    assert abs(r.int_fact("time.lapic_khz") - 6250) <= 6250 * 5 // 100, r.fact("time.lapic_khz")
    assert sim_stats(r, "lapic")["timer_fires"] > 0


def srat_domains(srat: bytes) -> tuple[set[int], int, int]:
    """Proximity domains, CPU and memory entry counts of a SRAT (ACPI 6.5
    §5.2.16): 48-byte header, then {type, length} entries. Independent of the kernel."""
    (length,) = struct.unpack_from("<I", srat, 4)
    off, domains, ncpu, nmem = 48, set(), 0, 0
    while off + 2 <= length:
        etype, elen = srat[off], srat[off + 1]
        if elen < 2:
            break
        if etype == 0:
            domains.add(srat[off + 2] | int.from_bytes(srat[off + 9:off + 12], "little") << 8)
            ncpu += 1
        elif etype == 1:
            domains.add(struct.unpack_from("<I", srat, off + 2)[0])
            nmem += 1
        elif etype == 2:
            domains.add(struct.unpack_from("<I", srat, off + 4)[0])
            ncpu += 1
        off += elen
    return domains, ncpu, nmem


@pytest.mark.parametrize("cpus,apic_ids", [(4, None), (256, "sparse")])
def test_numa_nodes_from_srat(sim, artifact_dir, cpus, apic_ids):
    dump = artifact_dir / "tables"
    d = sim(cpus=cpus, apic_ids=apic_ids, extra_args=["--numa", "2", "--dump-acpi", str(dump)]).run("")
    assert d.exit_code == 0
    domains, ncpu, nmem = srat_domains((dump / "SRAT.dat").read_bytes())
    assert domains == {0, 1} and ncpu == cpus and nmem >= 2

    r = sim(cpus=cpus, apic_ids=apic_ids, extra_args=["--numa", "2"]).run("ktest=smp")
    assert_booted(r)
    assert r.int_fact("numa.nodes") == 2
    assert r.int_fact("smp.online") == cpus
    assert_suites_ran(r, "smp", cpus=cpus)


# ---- concurrency under ThreadSanitizer --------------------------------------------

def test_concurrent_vectors_and_shootdowns_under_tsan(sim):
    r = sim(preset="sim-tsan", cpus=8, timeout=300).run("ktest=vectors,tlb,ipi expect.cpus=8")
    assert r.sanitizer_errors == [], r.sanitizer_errors[:3]
    assert_booted(r)
    assert_suites_ran(r, "vectors", "tlb", "ipi", cpus=8)
    assert sim_stats(r, "tlb")["flushes_page"] + sim_stats(r, "tlb")["flushes_all"] > 0
