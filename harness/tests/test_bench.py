# test_bench.py — the parts of scripts/bench that need no machine: which --bench
# patterns select the NVMe and the AHCI tables, the Linux jobs of each, the machine of
# each configuration (the AHCI rows' image on port 0 of q35's built-in controller,
# the sim's --ahci), and the table with its ratio columns.
from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from types import SimpleNamespace

import pytest

from harness.paths import REPO_ROOT


@pytest.fixture(scope="module")
def bench():
    loader = importlib.machinery.SourceFileLoader("doppel_bench", str(REPO_ROOT / "scripts" / "bench"))
    spec = importlib.util.spec_from_loader("doppel_bench", loader)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["doppel_bench"] = mod          # dataclasses look their module up there
    try:
        loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop("doppel_bench", None)


def test_the_contracts_bench_names(bench):
    assert bench.AHCI_BENCHES == ("ahci_randread_4k_qd1_iops", "ahci_randread_4k_qd32_iops",
                                  "ahci_randwrite_4k_qd32_iops", "ahci_seqread_128k_mbps")
    assert bench.NVME_BENCHES == tuple(n.replace("ahci", "nvme") for n in bench.AHCI_BENCHES)
    assert [c.name for c in bench.DISK["ahci"].configs] == ["sim irq", "qemu irq", "qemu irq+iommu"]


@pytest.mark.parametrize("glob, nvme, ahci, only", [
    ("*", ["nvme_*"], ["ahci_*"], False),
    ("ahci_*", [], ["ahci_*"], True),
    ("nvme_*", ["nvme_*"], [], True),
    ("*_qd32_iops", ["*_qd32_iops"], ["*_qd32_iops"], False),
    ("ahci_seqread_128k_mbps,dma_*", [], ["ahci_seqread_128k_mbps"], False),
])
def test_patterns_select_each_table(bench, glob, nvme, ahci, only):
    assert bench.disk_patterns(glob, "nvme") == nvme
    assert bench.disk_patterns(glob, "ahci") == ahci
    assert bench.block_only(glob) is only


def test_linux_jobs_of_each_disk(bench):
    jobs = bench.linux_jobs(["*_qd32_iops"], "ahci")
    assert [j.bench for j in jobs] == ["ahci_randread_4k_qd32_iops", "ahci_randwrite_4k_qd32_iops"]
    assert all(j.disk == "ahci" for j in bench.linux_jobs(["ahci_*"], "ahci"))
    assert bench.linux_jobs(["ahci_*"], "nvme") == []


def _args(**kw):
    base = dict(sim_bench_cpus=4, sim_preset="sim-plain", timeout=300.0, disk_size=1 << 30,
                firmware="seabios", qemu_smp=4)
    return SimpleNamespace(**{**base, **kw})


def test_ahci_machines(bench, tmp_path):
    iso = tmp_path / "doppel.iso"
    iso.write_bytes(b"\0" * 2048)
    d = bench.DISK["ahci"]
    cfg = {c.name: c for c in d.configs}
    sim = bench.block_target(d, cfg["sim irq"], _args(), tmp_path, "", None)
    assert sim.options() == ["--cpus", "4", "--ahci", "mem,size=1G"] and "ahci=mem,size=1G" in sim.label
    for name, iommu in (("qemu irq", False), ("qemu irq+iommu", True)):
        q = bench.block_target(d, cfg[name], _args(), tmp_path, "", None)
        q.iso = iso
        (q.artifact_dir).mkdir(parents=True, exist_ok=True)
        cmd = q.command("bench=ahci_*")
        assert "ide-hd,drive=sata0,bus=ide.0" in cmd and "ich9-ahci,id=ahci1" not in cmd
        assert not any(a.startswith("nvme") for a in cmd)
        assert ("intel-iommu" in cmd) is iommu and cmd[cmd.index("-smp") + 1] == "4"
        assert q.ahci_images["sata0"].stat().st_size == 1 << 30


def test_table_shows_linux_beside_and_the_ratios(bench):
    t = bench.BlockTable("ahci")
    t.add("ahci_seqread_128k_mbps", "qemu irq", 700.0, "MB/s")     # the kernel ran this case first
    for cfg, v in (("qemu irq", 3000.0), ("linux", 1500.0), ("qemu irq+iommu", 2700.0),
                   ("linux+iommu", 1000.0), ("sim irq", 90000.0)):
        t.add("ahci_randread_4k_qd32_iops", cfg, v, "iops")
    out = t.render().splitlines()
    head = out[0].split()
    assert head[:7] == ["bench", "unit", "sim", "irq", "qemu", "irq", "qemu"]
    assert "irq/linux" in head and "iommu/linux+iommu" in head and "poll/linux" not in head
    assert [ln.split()[0] for ln in out[2:]] == ["ahci_randread_4k_qd32_iops", "ahci_seqread_128k_mbps"]
    row = out[2].split()
    assert row[0] == "ahci_randread_4k_qd32_iops" and "2.00x" in row and "2.70x" in row
    assert row[-1] == "10%"        # iommu cost: 1 - 2700/3000


# ------------------------------------------------------- sched beside Linux's perf pipe

@pytest.mark.parametrize("glob, yes", [
    ("sched_*", True), ("*", True), ("sched_ctx_switch", True), ("dma_*,sched_wakeup*", True),
    ("sched_thread_create_join", False), ("nvme_*", False), ("dma_*", False),
])
def test_which_bench_lists_boot_linux_with_perf(bench, glob, yes):
    assert bench.selects_sched(glob) is yes


def test_sched_beside_linux_derived_and_labelled(bench):
    args = _args(linux_loops=20000)
    ours, linux = "qemu seabios -smp 4 tcg +intel-iommu+edu", bench.linux_sched_machine(args)
    assert linux.startswith("linux seabios -smp 4 tcg") and "perf bench sched pipe -l 20000" in linux
    t = bench.Table()
    t.add(ours, "sched_ctx_switch_ns_p50", 1602, "ns")
    t.add(ours, "sched_wakeup_cross_cpu_ns_p50", 13735, "ns")
    t.add(ours, "sched_wakeup_cross_cpu_ns_p99", 89256, "ns")
    t.add(linux, "linux_sched_pipe_same_cpu_us_per_op", 133.9, "us/op")
    t.add(linux, "linux_sched_pipe_cross_cpu_us_per_op", 97.6, "us/op")
    assert "133.9" in t.render()                      # us/op keeps its decimal in the main table
    out = bench.render_sched_vs_linux(t, ours, linux)
    assert "DERIVED" in out and "two wake-ups and two context" in out and "ours us (derived)" in out
    rows = {ln.split()[0]: ln.split() for ln in out.splitlines() if ln.strip().startswith("linux_sched_pipe")}
    assert rows["linux_sched_pipe_same_cpu_us_per_op"][1:] == [
        "133.9", "2", "x", "sched_ctx_switch_ns_p50", "3.2", "0.02x"]
    assert rows["linux_sched_pipe_cross_cpu_us_per_op"][1:] == [
        "97.6", "2", "x", "sched_wakeup_cross_cpu_ns_p50", "27.5", "0.28x"]
    # only Linux ran (--only linux): its figure, ours '-'
    t2 = bench.Table()
    t2.add(linux, "linux_sched_pipe_same_cpu_us_per_op", 133.9, "us/op")
    only = bench.render_sched_vs_linux(t2, ours, linux).splitlines()[-1].split()
    assert only[0] == "linux_sched_pipe_same_cpu_us_per_op" and only[-2:] == ["-", "-"]
    assert bench.render_sched_vs_linux(bench.Table(), ours, linux) is None


def test_linux_sched_is_booted_once_per_run_in_our_machine(bench, monkeypatch, tmp_path, capsys):
    """--only qemu --linux --bench 'sched_*': our QEMU run, then one Linux boot with
    the same -smp and firmware; its rows and the derived table printed."""
    from harness import linux_ref as L
    calls = []

    def fake_run_one(target, words, table, machine, problems, bring_up=False):
        calls.append(("ours", target.smp, target.firmware, target.iommu, list(target.devices), words))
        table.add(machine, "sched_ctx_switch_ns_p50", 1600, "ns")
        table.add(machine, "sched_wakeup_cross_cpu_ns_p50", 14000, "ns")

    def fake_sched(artifact_dir, loops, **kw):
        calls.append(("linux", kw["smp"], kw["firmware"], kw["iommu"], list(kw["devices"]), loops))
        figs = [L.PipeFigure("same_cpu", loops, 1.0, 130.0, 7692.0),
                L.PipeFigure("cross_cpu", loops, 2.0, 100.0, 10000.0)]
        return SimpleNamespace(console_log=tmp_path / "c.log"), figs, ""
    monkeypatch.setattr(bench, "run_one", fake_run_one)
    monkeypatch.setattr(bench, "linux_setup", lambda: (tmp_path / "vmlinuz", tmp_path / "initrd"))
    monkeypatch.setattr(bench.linux_ref, "run_linux_sched", fake_sched)
    monkeypatch.setattr(bench, "artifact_root", lambda: tmp_path)
    rc = bench.main(["--only", "qemu", "--linux", "--bench", "sched_*", "--no-build",
                     "--qemu-smp", "2", "--firmware", "ovmf", "--linux-loops", "500"])
    out = capsys.readouterr().out
    assert rc == 0
    assert calls == [("ours", 2, "ovmf", True, ["edu"], "bench=sched_* expect.cpus=2"),
                     ("linux", 2, "ovmf", True, ["edu"], 500)]
    assert "linux_sched_pipe_cross_cpu_us_per_op" in out and "linux_sched_pipe_same_cpu_ops_per_sec" in out
    assert "2 x sched_wakeup_cross_cpu_ns_p50" in out and "28.0" in out and "0.28x" in out
    # without sched_* in the list Linux is not booted for it (and --linux alone is refused)
    calls.clear()
    assert bench.main(["--only", "qemu", "--linux", "--bench", "dma_*", "--no-build"]) == 2
    assert calls == []
