# test_smp.py — interrupts and SMP on the image under QEMU q35 (docs/smp.md,
# docs/image.md): every CPU online at -smp 1, 2, 4 and 8 on SeaBIOS and OVMF with
# the apic/timer/vectors/ipi/smp/tlb suites passing; an IPI + TLB-shootdown storm on
# -smp 8 for --stress-seconds (default 60) with zero failures; x2APIC under KVM
# where KVM works and offers it (QEMU 7.2's TCG has no x2APIC).
from __future__ import annotations

import subprocess

import pytest

from harness.plugin import assert_ktap_passed
from harness.targets.qemu import kvm_usable

pytestmark = pytest.mark.qemu

SMP_SUITES = ("apic", "timer", "vectors", "ipi", "smp", "tlb")
SMP_MATRIX = (1, 2, 4, 8)
STORM_SMP = 8
STORM_SUITES = ("ipi", "tlb")
STORM_SLACK_S = 180          # boot, the suites' other cases and TCG at 8 vCPUs on 2 cores
X2APIC_SKIP = "QEMU 7.2's TCG has no x2APIC; covered by the simulator"
X2APIC_SMP = 2               # KVM on these machines recommends at most 2 vCPUs
KVM_TIMEOUT_S = 300          # nested KVM: SeaBIOS and GRUB alone take ~50 s


# Every case of these suites must run (must_run), but for those one CPU cannot run
# (ONE_CPU_SKIPS: no AP to watch start, no second CPU to send to).
SUITE_CASES = {
    "apic": ("apic_mode_matches_cpuid", "apic_enabled_on_every_cpu", "apic_bsp_listed_in_madt",
             "apic_esr_read_clears", "apic_self_ipi_and_eoi", "apic_spurious_gets_no_eoi",
             "apic_icr_encodings", "ioapic_all_masked_at_start", "ioapic_overrides_honoured",
             "ioapic_route_unroute_affinity", "ioapic_pit_interrupt_delivered"),
    "timer": ("timer_tsc_calibrated", "timer_tsc_matches_pit", "timer_mode_matches_cpuid",
              "timer_tick_on_every_cpu", "timer_udelay_waits"),
    "smp": ("smp_started_cpus_accounted", "smp_index_and_apic_id_per_cpu", "smp_init_sipi_sequence",
            "smp_numa_node_before_online", "smp_online_mask_consistent", "smp_room_for_256_cpus"),
    "ipi": ("ipi_fixed_to_each_cpu", "ipi_all_but_self", "ipi_self", "ipi_call_runs_on_set",
            "ipi_call_timeout_names_cpu", "ipi_stress_concurrent_calls"),
    "tlb": ("tlb_range_encoding", "tlb_remap_seen_by_every_cpu", "tlb_initiator_waits_for_all",
            "tlb_concurrent_shootdowns", "tlb_stress"),
    "vectors": ("vectors_per_cpu_bitmaps", "vectors_aligned_blocks", "vectors_exhaustion_is_enospc",
                "vectors_freed_on_owning_cpu", "vectors_double_free_rejected",
                "vectors_concurrent_alloc_free", "vectors_affinity_move", "vectors_free_after_boot"),
}
ONE_CPU_SKIPS = {"smp.smp_init_sipi_sequence", "ipi.ipi_all_but_self", "ipi.ipi_call_timeout_names_cpu",
                 "vectors.vectors_per_cpu_bitmaps", "vectors.vectors_freed_on_owning_cpu",
                 "vectors.vectors_affinity_move"}


def must_run(suites, cpus: int) -> list[str]:
    return [f"{s}.{c}" for s in suites for c in SUITE_CASES[s]
            if cpus > 1 or f"{s}.{c}" not in ONE_CPU_SKIPS]


def pytest_generate_tests(metafunc):
    """`cpus` runs over SMP_MATRIX, or only --smp N when given (as `smp` does)."""
    if "cpus" in metafunc.fixturenames:
        n = metafunc.config.getoption("--smp")
        metafunc.parametrize("cpus", [n] if n else list(SMP_MATRIX))


def _check_all_online(r, n: int) -> None:
    assert not r.timed_out, f"{r.label}: no exit within {r.timeout:g} s"
    assert r.int_fact("acpi.cpus") == n, f"{r.label}: MADT lists {r.fact('acpi.cpus')} CPUs"
    assert r.int_fact("smp.online") == n, (
        f"{r.label}: smp.online={r.fact('smp.online')} of {n}; "
        f"smp.failed={r.fact('smp.failed')}: {r.grep('smp')[-5:]}")
    assert r.int_fact("smp.failed") == 0, f"{r.label}: smp.failed={r.fact('smp.failed')}"
    assert r.int_fact("smp.online_us") is not None, f"{r.label}: no smp.online_us fact"


def test_smp_every_cpu_online_and_suites_pass(qemu, firmware, cpus, request):
    r = qemu(firmware=firmware, smp=cpus).run(f"ktest={','.join(SMP_SUITES)} expect.cpus={cpus}")
    _check_all_online(r, cpus)
    if request.config.getoption("--accel") == "tcg":
        # TCG has no x2APIC: a kernel that picked it here misread CPUID.
        assert r.fact("apic.mode") == "xapic", f"{r.label}: apic.mode={r.fact('apic.mode')}"
    assert r.status == 0, f"{r.label}: kernel status {r.status_text}"
    assert_ktap_passed(r, must_run=must_run(SMP_SUITES, cpus))
    assert {t.name for t in r.ktap.root.children} == set(SMP_SUITES)


@pytest.mark.slow
def test_ipi_and_tlb_shootdown_storm_on_eight_cpus(qemu, stress_seconds):
    words = (f"ktest={','.join(STORM_SUITES)} stress.seconds={stress_seconds} "
             f"expect.cpus={STORM_SMP}")
    # The ipi and tlb suites each run one stress case of stress_seconds.
    timeout = len(STORM_SUITES) * stress_seconds + STORM_SLACK_S
    r = qemu(firmware="seabios", smp=STORM_SMP).run(words, timeout=timeout)
    _check_all_online(r, STORM_SMP)
    assert r.status == 0, f"{r.label}: kernel status {r.status_text}"
    assert_ktap_passed(r, must_run=must_run(STORM_SUITES, STORM_SMP))
    assert {t.name for t in r.ktap.root.children} == set(STORM_SUITES)
    # The guest's TSC runs at host speed under TCG: a storm that did not run for
    # its duration (a case skipped or cut short) shows up here.
    assert r.duration >= stress_seconds, (
        f"{r.label}: the run took {r.duration:.1f} s, less than the {stress_seconds} s storm")


def _kvm_x2apic_probe() -> tuple[bool, str]:
    """KVM opens, and QEMU can create a q35 vCPU with x2APIC enforced on it."""
    ok, why = kvm_usable()
    if not ok:
        return False, why
    cmd = ["qemu-system-x86_64", "-M", "q35", "-accel", "kvm", "-cpu", "host,+x2apic,enforce",
           "-smp", str(X2APIC_SMP), "-m", "64M", "-display", "none", "-nodefaults", "-S",
           "-monitor", "stdio"]
    try:
        p = subprocess.run(cmd, input="quit\n", capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"probe failed: {e}"
    if p.returncode != 0:
        err = (p.stderr.strip().splitlines() or ["?"])[-1]
        return False, f"QEMU cannot run an x2APIC vCPU under KVM: {err}"
    return True, ""


@pytest.mark.slow
def test_x2apic_under_kvm(qemu, request):
    # KVM is opt-in (nested KVM can be far slower than TCG): run only with --accel kvm.
    if request.config.getoption("--accel") != "kvm":
        pytest.skip(f"{X2APIC_SKIP} (run with --accel kvm to try KVM)")
    ok, why = _kvm_x2apic_probe()
    if not ok:
        pytest.skip(f"{X2APIC_SKIP} (KVM: {why})")
    r = qemu(firmware="seabios", smp=X2APIC_SMP, accel="kvm", cpu="host,+x2apic",
             timeout=KVM_TIMEOUT_S).run(f"ktest=apic,ipi,smp expect.cpus={X2APIC_SMP}")
    _check_all_online(r, X2APIC_SMP)
    assert r.fact("apic.mode") == "x2apic", f"{r.label}: apic.mode={r.fact('apic.mode')}"
    assert r.status == 0, f"{r.label}: kernel status {r.status_text}"
    assert_ktap_passed(r, must_run=must_run(("apic", "ipi", "smp"), X2APIC_SMP))
