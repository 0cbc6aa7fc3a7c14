# test_sim_faults.py — error paths run by fault sites (docs/det.md, "Fault-injection sites"):
# the PCI interrupt fallback chain's undo steps (pci.msix.enable, pci.msi.enable,
# pci.intx.route) end in the next mode with no vector leaked, and a walk over every
# fault-site hit of a boot with PCI, VT-d and DMA (--fail-nth N for N = 1, 2, ...
# until a run injects nothing) where each injected failure ends cleanly.
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.plugin import assert_ktap_passed

pytestmark = pytest.mark.sim

# ---- log wording this file depends on ---------------------------------------------
INJECTED = "fault: injected failure at site "
PANIC_LINE = "KERNEL PANIC"
FALLBACK_CASE = "msi.msi_fallback_undo_leaves_nothing"
# "# msi_fallback_undo_leaves_nothing: 01:00.1: intx (not msix: ...; not msi: ...; not intx: ...)"
MODE_LINE = re.compile(r"msi_fallback_undo_leaves_nothing: (\w\w:\w\w\.\w): (\w+) \(not msix: (.*); "
                       r"not msi: (.*); not intx: (.*)\)$")
VEC_LINE = re.compile(r"msi_fallback_undo_leaves_nothing: (\w\w:\w\w\.\w): free vectors (\d+) before, "
                      r"(\d+) after free$")
MSIX_REFUSED = "MSI-X Enable did not stick"
MSI_REFUSED = "MSI Enable or Multiple Message Enable did not stick"
INTX_REFUSED = "the I/O APIC refused the route"
# ------------------------------------------------------------------------------------

# The default device set: which interrupt capabilities each function offers.
MSIX_FUNCS = ("01:00.1", "00:03.0")        # testdev's MSI-X function, NVMe
MSI_FUNCS = ("01:00.0", "00:02.0")         # testdev's MSI function, edu

# (fault sites, {function: (mode, refused steps and the reason each must give)})
FALLBACKS = {
    "msix-fails": (["pci.msix.enable=1"],
                   {**{f: ("intx", {"msix": MSIX_REFUSED}) for f in MSIX_FUNCS},
                    **{f: ("msi", {}) for f in MSI_FUNCS}}),
    "msi-fails": (["pci.msi.enable=1"],
                  {**{f: ("msix", {}) for f in MSIX_FUNCS},
                   **{f: ("intx", {"msi": MSI_REFUSED}) for f in MSI_FUNCS}}),
    # INTx routing is reached only when the message modes failed first
    "all-fail": (["pci.msi*.enable=1", "pci.intx.route=1"],
                 {**{f: ("poll", {"msix": MSIX_REFUSED, "intx": INTX_REFUSED}) for f in MSIX_FUNCS},
                  **{f: ("poll", {"msi": MSI_REFUSED, "intx": INTX_REFUSED}) for f in MSI_FUNCS}}),
}


@pytest.mark.parametrize("name", list(FALLBACKS))
def test_pci_irq_fallback_undo_ends_in_the_next_mode_without_leaks(sim, name):
    sites, want = FALLBACKS[name]
    args = [a for s in sites for a in ("--fault-sites", s)]
    r = sim(cpus=2, extra_args=args).run(f"ktest={FALLBACK_CASE}")
    assert r.status == 0, r.status_text
    assert_ktap_passed(r, must_run=[FALLBACK_CASE])
    fired = {ln[len(INJECTED):] for ln in r.lines if ln.startswith(INJECTED)}
    for s in sites:
        glob = s.split("=")[0]
        assert any(re.fullmatch(glob.replace(".", r"\.").replace("*", ".*"), f) for f in fired), \
            f"{glob}: no injected failure logged ({sorted(fired)})"
    diags = r.ktap.find(FALLBACK_CASE).diagnostics
    modes = {m.group(1): m.groups()[1:] for m in map(MODE_LINE.search, diags) if m}
    vecs = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in map(VEC_LINE.search, diags) if m}
    assert set(modes) == set(want), (sorted(modes), diags)
    for fn, (mode, refused) in want.items():
        got_mode, why_msix, why_msi, why_intx = modes[fn]
        assert got_mode == mode, f"{fn}: ended in {got_mode}, expected {mode}"
        why = {"msix": why_msix, "msi": why_msi, "intx": why_intx}
        for step, reason in refused.items():
            assert reason in why[step], f"{fn}: {step} refused for '{why[step]}', expected '{reason}'"
        before, after = vecs[fn]
        assert before == after, f"{fn}: {before} free vectors before, {after} after free (leak)"


# ---- every fault-site hit of a boot, one at a time ----------------------------------

WALK_CPUS = 2
WALK_WORDS = "ktest=iommu,dma"          # the VT-d and DMA suites on the default device set
WALK_LIMIT = 400                        # a walk longer than this is a runaway, not a boot
WALK_BATCH = 8


PLANTED_LEAK = "kernel/dma/dma_ktest.c"  # dma_ledger_reports_leak leaks one mapping on purpose


def walk_problems(k: int, r) -> list[str]:
    injected = [ln for ln in r.lines if ln.startswith(INJECTED)]
    where = f"--fail-nth {k} ({injected[0][len(INJECTED):] if injected else 'nothing injected'})"
    out = []
    if r.crashed or r.timed_out or r.status not in (0, 1):
        out.append(f"{where}: kernel status {r.status_text}")
    if any(PANIC_LINE in ln for ln in r.lines):
        out.append(f"{where}: panicked")
    if r.sanitizer_errors:
        out.append(f"{where}: sanitizer: {r.sanitizer_errors[0]}")
    if len(injected) != 1:
        out.append(f"{where}: {len(injected)} injected failures logged, expected 1")
    leaks = [ln for ln in r.lines if (ln.startswith("dma: leak:") and PLANTED_LEAK not in ln)
             or (ln.startswith("sim:") and "leak" in ln)]
    if leaks:
        out.append(f"{where}: leak: {leaks[0]}")
    return out


def test_every_fault_site_hit_of_boot_fails_cleanly(sim):
    """--fail-nth N for N = 1, 2, ... until a run injects nothing: each injected
    failure is named in the log and the run ends with a kernel status that is not a
    crash (0, or 1 when a suite needed what failed), no panic, no sanitizer report,
    no leaked DMA mapping or model resource. Runs go two at a time."""
    problems = []
    walked = 0
    n = 1
    with ThreadPoolExecutor(max_workers=2) as pool:
        while True:
            assert n <= WALK_LIMIT, f"more than {WALK_LIMIT} fault-site hits in one boot"
            targets = [(k, sim(cpus=WALK_CPUS, extra_args=["--fail-nth", str(k)]))
                       for k in range(n, n + WALK_BATCH)]
            runs = list(pool.map(lambda kt: (kt[0], kt[1].run(WALK_WORDS)), targets))
            end = next((k for k, r in runs if not any(ln.startswith(INJECTED) for ln in r.lines)), None)
            for k, r in runs:
                if end is not None and k >= end:
                    break
                walked += 1
                problems += walk_problems(k, r)
            if end is not None:
                break
            n += WALK_BATCH
    assert walked > 0, "the boot hit no fault site at all"
    assert not problems, f"{walked} fault-site hits walked:\n" + "\n".join(problems)
