# test_smp.py — interrupts and SMP on the image under QEMU q35 (docs/smp.md,
# docs/image.md): every CPU online at -smp 1, 2, 4 and 8 on SeaBIOS and OVMF with
# the apic/timer/vectors/ipi/smp/tlb suites passing; -smp 8 brought up in parallel
# and sequentially (smp.parallel=1|0) with smp_bringup_ms; an IPI + TLB-shootdown storm on
# -smp 8 for --stress-seconds (default 60) with zero failures; x2APIC under KVM
# where KVM works and offers it (QEMU 7.2's TCG has no x2APIC).
from __future__ import annotations

import re
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
# (harness/suites.py).
from harness.suites import smp_must_run  # noqa: E402



def must_run(suites, cpus: int) -> list[str]:
    return smp_must_run(suites, cpus)


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


BRINGUP = {"parallel": 1, "sequential": 0}
BRINGUP_SMP = 8
_BENCH = re.compile(r"^doppel-bench: smp_bringup_ms (\d+) ms$")


@pytest.mark.parametrize("mode", BRINGUP)
def test_smp_bringup_modes_on_eight_cpus(qemu, firmware, mode):
    r = qemu(firmware=firmware, smp=BRINGUP_SMP).run(
        f"ktest=smp expect.cpus={BRINGUP_SMP} bench=smp_bringup smp.parallel={BRINGUP[mode]}")
    _check_all_online(r, BRINGUP_SMP)
    assert r.status == 0, f"{r.label}: kernel status {r.status_text}"
    assert r.int_fact("smp.parallel") == BRINGUP[mode], f"{r.label}: smp.parallel={r.fact('smp.parallel')}"
    # smp.smp_bringup_mode_order checks the INIT/SIPI order of the mode on every AP.
    assert_ktap_passed(r, must_run=must_run(("smp",), BRINGUP_SMP))
    ms = [int(m.group(1)) for m in (_BENCH.match(ln.strip()) for ln in r.lines) if m]
    assert len(ms) == 1, f"{r.label}: no single 'doppel-bench: smp_bringup_ms' line: {ms}"
    print(f"\n{r.label} {mode}: doppel-bench smp_bringup_ms {ms[0]} ms")


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
