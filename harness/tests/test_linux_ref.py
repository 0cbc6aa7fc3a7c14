# test_linux_ref.py — the pieces of `scripts/bench --linux` that need no QEMU
# (harness/linux_ref.py): module load order from modules.dep, the cpio newc writer
# (read back by an independent reader written here from the format's definition),
# fio's JSON between the markers, the kernel command line, and the QEMU command of
# the Linux machine (same machine words as ours).
from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from harness import linux_ref as L

DEP = """kernel/drivers/nvme/host/nvme-core.ko: kernel/block/t10-pi.ko kernel/lib/crc64-rocksoft.ko kernel/lib/crc64.ko
kernel/drivers/nvme/host/nvme.ko: kernel/drivers/nvme/host/nvme-core.ko kernel/block/t10-pi.ko kernel/lib/crc64-rocksoft.ko kernel/lib/crc64.ko
kernel/block/t10-pi.ko: kernel/lib/crc64-rocksoft.ko kernel/lib/crc64.ko
kernel/lib/crc64-rocksoft.ko: kernel/lib/crc64.ko
kernel/lib/crc64.ko:
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko
"""


def test_modules_load_dependencies_first():
    order = L.module_load_order(DEP, ["nvme"])
    assert order == ["kernel/lib/crc64.ko", "kernel/lib/crc64-rocksoft.ko", "kernel/block/t10-pi.ko",
                     "kernel/drivers/nvme/host/nvme-core.ko", "kernel/drivers/nvme/host/nvme.ko"]
    assert L.module_load_order(DEP, ["nvme_core"])[-1] == "kernel/drivers/nvme/host/nvme-core.ko"
    with pytest.raises(L.LinuxRefError, match="module virtio_blk is not in modules.dep"):
        L.module_load_order(DEP, ["virtio_blk"])


def _read_newc(data: bytes) -> dict[str, tuple[int, bytes]]:
    """name -> (mode, data), read by the newc definition: "070701", 13 eight-digit hex
    fields, the name (NUL-terminated), both padded to 4 bytes."""
    out, off = {}, 0
    while True:
        assert data[off:off + 6] == b"070701", f"bad magic at {off}"
        f = [int(data[off + 6 + 8 * i: off + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = f[1], f[6], f[11]
        name = data[off + 110: off + 110 + namesize - 1].decode()
        off += 110 + namesize
        off += -off % 4
        body = data[off: off + size]
        off += size
        off += -off % 4
        if name == "TRAILER!!!":
            assert len(data) % 512 == 0
            return out
        out[name] = (mode, body)


def test_cpio_newc_reads_back():
    c = L.Cpio()
    c.file("init", b"#!/bin/busybox sh\n", 0o755)
    c.file("lib/modules/kernel/lib/crc64.ko", b"\x7fELF" + bytes(5))
    c.symlink("bin/sh", "busybox")
    entries = _read_newc(c.finish())
    assert entries["init"] == (stat.S_IFREG | 0o755, b"#!/bin/busybox sh\n")
    assert entries["lib/modules/kernel/lib/crc64.ko"][1] == b"\x7fELF" + bytes(5)
    assert entries["bin/sh"] == (stat.S_IFLNK | 0o777, b"busybox")
    for d in ("lib", "lib/modules", "lib/modules/kernel", "lib/modules/kernel/lib", "bin"):
        assert stat.S_ISDIR(entries[d][0]), d
    # parents come before their children
    names = list(entries)
    assert names.index("lib/modules") < names.index("lib/modules/kernel/lib/crc64.ko")


def _fio_json(*jobs) -> str:
    return json.dumps({"fio version": "fio-3.33", "jobs": [
        {"jobname": f"job{i}", "error": 0, "read": r, "write": w} for i, (r, w) in enumerate(jobs)]},
        indent=2)


def test_fio_json_between_markers():
    jobs = [L.JOBS["nvme_randread_4k_qd32_iops"], L.JOBS["nvme_randwrite_4k_qd32_iops"],
            L.JOBS["nvme_seqread_128k_mbps"]]
    text = _fio_json(({"iops": 9100.5, "bw_bytes": 1}, {"iops": 0}),
                     ({"iops": 0}, {"iops": 4321.0, "bw_bytes": 2}),
                     ({"iops": 2000, "bw_bytes": 262_144_000}, {"iops": 0}))
    lines = ["[    1.0] nvme nvme0: 4/0/0 default/read/poll queues", L.BEGIN,
             *text.splitlines(), L.END, "reboot: Power down"]
    figs, problem = L.parse_fio(lines, jobs)
    assert problem == ""
    assert [(f.bench, f.value, f.unit) for f in figs] == [
        ("nvme_randread_4k_qd32_iops", 9100.5, "iops"), ("nvme_randwrite_4k_qd32_iops", 4321.0, "iops"),
        ("nvme_seqread_128k_mbps", 262.144, "MB/s")]


@pytest.mark.parametrize("lines, why", [
    (["doppel-linux-ref: error: no /dev/nvme0n1 after 30 s"],
     "no fio output between the markers: doppel-linux-ref: error: no /dev/nvme0n1"),
    ([L.BEGIN, "{ not json", L.END], "fio's JSON does not parse"),
    ([L.BEGIN, _fio_json(), L.END], "fio reported 0 jobs, 1 were asked for"),
])
def test_fio_problems_are_named(lines, why):
    figs, problem = L.parse_fio(lines, [L.JOBS[L.REFERENCE_JOB]])
    assert figs == [] and why in problem


def test_reference_job_is_the_issues_fio_run():
    j = L.JOBS[L.REFERENCE_JOB]
    assert (j.rw, j.bs, j.iodepth) == ("randread", "4k", 32)
    line = L.linux_cmdline([j], 30, iommu=True)
    assert "ref.jobs=randread:4k:32" in line and "ref.runtime=30" in line
    assert "intel_iommu=on" in line and "console=ttyS0" in line
    assert "intel_iommu" not in L.linux_cmdline([j], 30, iommu=False)
    assert "no_timer_check" in line.split()     # a loaded TCG host must not panic Linux at boot
    for word in ("--ioengine=libaio", "--direct=1", "--numjobs=1", "--time_based",
                 "--output-format=json", '--filename="$DEV"'):
        assert word in L.INIT
    assert "ref.dev=/dev/nvme0n1" in line


def test_ahci_jobs_run_on_sda_of_the_builtin_controller(tmp_path):
    names = [n for n in L.JOBS if n.startswith("ahci_")]
    assert names == ["ahci_randread_4k_qd1_iops", "ahci_randread_4k_qd32_iops",
                     "ahci_randwrite_4k_qd32_iops", "ahci_seqread_128k_mbps"]
    for n in names:                       # the same fio job as the NVMe case of that name
        a, b = L.JOBS[n], L.JOBS["nvme_" + n[len("ahci_"):]]
        assert (a.rw, a.bs, a.iodepth, a.unit, a.disk) == (b.rw, b.bs, b.iodepth, b.unit, "ahci")
    j = L.JOBS[L.AHCI_REFERENCE_JOB]
    assert (j.rw, j.bs, j.iodepth) == ("randread", "4k", 32)
    line = L.linux_cmdline([j], 30, iommu=False)
    assert "ref.dev=/dev/sda" in line and "ref.jobs=randread:4k:32" in line
    with pytest.raises(L.LinuxRefError, match="jobs of one disk"):
        L.linux_cmdline([j, L.JOBS[L.REFERENCE_JOB]], 30, iommu=False)
    k, i = tmp_path / "vmlinuz", tmp_path / "initrd"
    k.write_bytes(b"k")
    i.write_bytes(b"i")
    art = tmp_path / "art"
    art.mkdir()
    t = L.LinuxTarget(art, kernel=k, initrd=i, disk="ahci", iommu=True, ahci_disk_size=1 << 30)
    cmd = t.command(line)
    devs = [cmd[n + 1] for n, a in enumerate(cmd) if a == "-device"]
    assert devs == ["intel-iommu", "ide-hd,drive=sata0,bus=ide.0"]     # q35's own HBA, port 0
    assert "-nodefaults" in cmd and not any("nvme" in a for a in cmd)
    assert t.ahci_images["sata0"].stat().st_size == 1 << 30
    with pytest.raises(L.TargetConfigError, match="disk 'scsi'"):
        L.LinuxTarget(art, kernel=k, initrd=i, disk="scsi")


def test_the_initramfs_loads_the_ahci_and_disk_modules():
    dep = DEP + """kernel/drivers/scsi/scsi_common.ko:
kernel/drivers/scsi/scsi_mod.ko: kernel/drivers/scsi/scsi_common.ko
kernel/drivers/ata/libata.ko: kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko
kernel/drivers/ata/libahci.ko: kernel/drivers/ata/libata.ko kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko
kernel/drivers/ata/ahci.ko: kernel/drivers/ata/libahci.ko kernel/drivers/ata/libata.ko kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko
kernel/drivers/scsi/sd_mod.ko: kernel/block/t10-pi.ko kernel/lib/crc64-rocksoft.ko kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko kernel/lib/crc64.ko
"""
    order = [Path(m).name for m in L.module_load_order(dep, L.MODULES)]
    for first, then in (("scsi_common.ko", "scsi_mod.ko"), ("scsi_mod.ko", "libata.ko"),
                        ("libata.ko", "libahci.ko"), ("libahci.ko", "ahci.ko"),
                        ("t10-pi.ko", "sd_mod.ko"), ("nvme-core.ko", "nvme.ko")):
        assert order.index(first) < order.index(then), (first, then)
    assert len(order) == len(set(order)) and "ext4.ko" not in order


def test_linux_machine_is_ours(tmp_path):
    k, i = tmp_path / "vmlinuz", tmp_path / "initrd"
    k.write_bytes(b"k")
    i.write_bytes(b"i")
    art = tmp_path / "art"
    art.mkdir()
    t = L.LinuxTarget(art, kernel=k, initrd=i, smp=4, iommu=True, nvme_disk_size=1 << 30)
    cmd = t.command(L.linux_cmdline([L.JOBS[L.REFERENCE_JOB]], 30, True))
    assert cmd[:9] == ["qemu-system-x86_64", "-M", "q35", "-accel", "tcg", "-smp", "4", "-m", "512M"]
    devs = [cmd[n + 1] for n, a in enumerate(cmd) if a == "-device"]
    assert devs == ["intel-iommu", "nvme,id=nvme0,serial=doppel0,drive=nvm0"]
    assert t.nvme_images["nvme0n1"].stat().st_size == 1 << 30
    assert cmd[cmd.index("-kernel") + 1] == str(k) and cmd[cmd.index("-initrd") + 1] == str(i)
    assert t.decode_exit(0, {}) == (0, "") and t.decode_exit(1, {})[0] is None


def test_missing_packages_are_refused_with_the_command(monkeypatch):
    monkeypatch.setattr(L, "missing_packages", lambda: ["fio"])
    monkeypatch.setattr(L.os, "geteuid", lambda: 1000)
    with pytest.raises(L.LinuxRefError, match=r"missing packages fio; as root run: apt-get update && "
                                              r"apt-get install -y -q --no-install-recommends fio"):
        L.ensure_packages()


def test_find_kernel_takes_the_newest_with_modules(tmp_path):
    boot, mods = tmp_path / "boot", tmp_path / "modules"
    for v in ("6.1.0-9-amd64", "6.1.0-10-amd64", "6.1.0-11-amd64"):
        boot.mkdir(exist_ok=True)
        (boot / f"vmlinuz-{v}").write_bytes(b"")
        if v != "6.1.0-11-amd64":            # no modules for the newest: skipped
            (mods / v).mkdir(parents=True)
            (mods / v / "modules.dep").write_text("")
    k, m = L.find_kernel(boot, mods)
    assert k.name == "vmlinuz-6.1.0-10-amd64" and m == mods / "6.1.0-10-amd64"
    with pytest.raises(L.LinuxRefError, match="no .*vmlinuz-<version>"):
        L.find_kernel(tmp_path / "nothing", mods)


def test_a_linux_panic_is_named_in_the_problem(tmp_path, monkeypatch):
    lines = ["[    0.05] Kernel panic - not syncing: timer doesn't work through Interrupt-remapped IO-APIC",
             "[    0.05] CPU: 0 PID: 0 Comm: swapper/0"]

    def fake_run(self, cmdline, timeout=None, on_result=None):
        from harness.targets.base import RunResult
        return RunResult(target="linux", label="linux", command=[], artifact_dir=tmp_path,
                         console_log=tmp_path / "console.log", lines=lines, status=0)
    monkeypatch.setattr(L.LinuxTarget, "run", fake_run)
    k, i = tmp_path / "vmlinuz", tmp_path / "initrd"
    _, figs, problem = L.run_linux(tmp_path / "art", [L.JOBS[L.AHCI_REFERENCE_JOB]], 5, iommu=True,
                                   kernel=k, initrd=i)
    assert figs == [] and problem.startswith("no fio output between the markers")
    assert problem.endswith("(Linux: [    0.05] Kernel panic - not syncing: timer doesn't work through "
                            "Interrupt-remapped IO-APIC)")


# ------------------------------------------------ perf bench sched pipe (sched mode)

# Real console text of one sched-mode boot (`scripts/bench --only qemu --linux --bench
# 'sched_*'`: Debian's 6.1 kernel, perf 6.1.187, QEMU TCG -smp 4, -l 5000).
PERF_CONSOLE = """doppel-linux-ref: kernel=6.1.0-57-amd64 cpus=4
doppel-linux-ref: perf version 6.1.187 loops=5000
=== doppel-linux-ref: perf same_cpu begin ===
# Running 'sched/pipe' benchmark:
# Executed 5000 pipe operations between two processes

     Total time: 0.845 [sec]

     169.081600 usecs/op
           5914 ops/sec
=== doppel-linux-ref: perf same_cpu end ===
doppel-linux-ref: cross_cpu: perf 111 pinned to CPU 0, its child 117 to CPU 1; last ran on CPU 0 and 1
=== doppel-linux-ref: perf cross_cpu begin ===
# Running 'sched/pipe' benchmark:
# Executed 5000 pipe operations between two processes

     Total time: 5.132 [sec]

    1026.450000 usecs/op
            974 ops/sec
=== doppel-linux-ref: perf cross_cpu end ===
[   14.358133] reboot: Power down
""".splitlines()


def test_perf_pipe_output_between_markers():
    figs, problem = L.parse_perf_pipe(PERF_CONSOLE)
    assert problem == ""
    assert [(f.case, f.loops, f.total_s, f.us_per_op, f.ops_per_sec, f.bench) for f in figs] == [
        ("same_cpu", 5000, 0.845, 169.0816, 5914.0, "linux_sched_pipe_same_cpu_us_per_op"),
        ("cross_cpu", 5000, 5.132, 1026.45, 974.0, "linux_sched_pipe_cross_cpu_us_per_op")]


def test_perf_pipe_host_output_with_serial_carriage_returns():
    # perf on the host (same version), lines as a serial console gives them (\r\n)
    host = ["=== doppel-linux-ref: perf same_cpu begin ===\r",
            "# Running 'sched/pipe' benchmark:\r",
            "# Executed 20000 pipe operations between two processes\r", "\r",
            "     Total time: 0.158 [sec]\r", "\r",
            "       7.922050 usecs/op\r", "         126229 ops/sec\r",
            "=== doppel-linux-ref: perf same_cpu end ===\r"]
    figs, problem = L.parse_perf_pipe(host, ["same_cpu"])
    assert problem == "" and [(f.loops, f.us_per_op, f.ops_per_sec) for f in figs] == [
        (20000, 7.92205, 126229.0)]


@pytest.mark.parametrize("lines, why", [
    (PERF_CONSOLE[:11] + ["doppel-linux-ref: error: could not move perf's child to CPU 1 (child '')"],
     "no perf cross_cpu output between the markers: doppel-linux-ref: kernel=6.1.0-57-amd64"),
    (["=== doppel-linux-ref: perf same_cpu begin ===", "/bin/sh: perf: not found",
      "=== doppel-linux-ref: perf same_cpu end ==="],
     "perf same_cpu: no loops, total_s, us_per_op, ops_per_sec in its output "
     "(it said: /bin/sh: perf: not found)"),
])
def test_perf_pipe_problems_are_named(lines, why):
    figs, problem = L.parse_perf_pipe(lines)
    assert why in problem
    assert [f.case for f in figs] == (["same_cpu"] if len(lines) > 3 else [])


def test_sched_mode_runs_perf_pinned():
    assert "linux-perf" in L.PACKAGES and L.PERF == Path("/usr/bin/perf")
    line = L.linux_sched_cmdline(20000).split()
    assert "ref.mode=sched" in line and "ref.loops=20000" in line and "no_timer_check" in line
    assert not any(w.startswith(("ref.dev=", "ref.jobs=")) for w in line)
    def section(case):
        return L.INIT.split(f"perf {case} begin ===")[1].split(f"perf {case} end ===")[0]
    assert 'taskset -c 0 perf bench sched pipe -l "$LOOPS"' in section("same_cpu")   # both ends on CPU 0
    cross = L.INIT.split("perf same_cpu end ===")[1].split("perf cross_cpu begin ===")[0]
    assert 'taskset -c 0 perf bench sched pipe -l "$LOOPS" > /tmp/cross.txt 2>&1 &' in cross
    assert 'taskset -p -c 1 "$C"' in cross                     # then its child to CPU 1
    assert "cat /tmp/cross.txt" in section("cross_cpu")
    for case in L.PIPE_CASES:
        for edge in ("begin", "end"):
            assert f"=== doppel-linux-ref: perf {case} {edge} ===" in L.INIT
    # the sched branch ends before any module is loaded or disk waited for
    sched = L.INIT.index('if [ "$MODE" = sched ]')
    assert sched < L.INIT.index("insmod") and sched < L.INIT.index("fio \"$@\"")


def test_sched_machine_has_no_disk_and_our_devices(tmp_path):
    k, i = tmp_path / "vmlinuz", tmp_path / "initrd"
    art = tmp_path / "art"
    art.mkdir()
    t = L.LinuxTarget(art, kernel=k, initrd=i, disk=None, smp=4, iommu=True, devices=["edu"])
    cmd = t.command(L.linux_sched_cmdline(100))
    devs = [cmd[n + 1] for n, a in enumerate(cmd) if a == "-device"]
    assert devs == ["intel-iommu", "edu"]
    assert not any("nvme" in a or a.startswith("file=") for a in cmd)
    if L.OVMF_CODE.exists() and L.OVMF_VARS.exists():
        o = L.LinuxTarget(art, kernel=k, initrd=i, disk=None, firmware="ovmf")
        assert f"if=pflash,format=raw,unit=0,readonly=on,file={L.OVMF_CODE}" in o.command("x")


def _fake_tree(tmp_path, monkeypatch, perf_bytes=b"\x7fELF perf"):
    """Fake busybox, fio, perf, their libraries and a modules folder, so that
    build_initramfs runs without the packages."""
    root = tmp_path / "root"
    for name, data in (("busybox", b"\x7fELF bb"), ("fio", b"\x7fELF fio"), ("perf", perf_bytes),
                       ("libc.so.6", b"libc"), ("libaio.so.1", b"aio"), ("libpython3.11.so.1.0", b"py")):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    libs = {"fio": [root / "libc.so.6", root / "libaio.so.1"],
            "perf": [root / "libc.so.6", root / "libpython3.11.so.1.0"]}
    monkeypatch.setattr(L, "BUSYBOX", root / "busybox")
    monkeypatch.setattr(L, "FIO", root / "fio")
    monkeypatch.setattr(L, "PERF", root / "perf")
    monkeypatch.setattr(L, "shared_libraries", lambda b: libs[Path(b).name])
    mods = tmp_path / "6.1.0-test"
    dep = ""
    for m in ("nvme", "ahci", "sd_mod"):
        (mods / "kernel").mkdir(parents=True, exist_ok=True)
        (mods / "kernel" / f"{m}.ko").write_bytes(b"ko")
        dep += f"kernel/{m}.ko:\n"
    (mods / "modules.dep").write_text(dep)
    return root, mods


def test_the_initramfs_carries_perf_and_its_libraries(tmp_path, monkeypatch):
    import gzip
    root, mods = _fake_tree(tmp_path, monkeypatch)
    out = L.build_initramfs(mods, cache_dir=tmp_path / "cache", log=lambda m: None)
    entries = _read_newc(gzip.decompress(out.read_bytes()))
    assert entries["usr/bin/perf"] == (stat.S_IFREG | 0o755, b"\x7fELF perf")
    assert entries["usr/bin/fio"][1] == b"\x7fELF fio"
    for lib in ("libc.so.6", "libaio.so.1", "libpython3.11.so.1.0"):   # each at the path ldd named
        assert entries[str(root / lib).strip("/")][1] == (root / lib).read_bytes()
    assert list(entries).count(str(root / "libc.so.6").strip("/")) == 1
    assert b"perf bench sched pipe" in entries["init"][1]
    # the cache key follows perf's contents: another perf, another initramfs
    (root / "perf").write_bytes(b"\x7fELF another perf")
    again = L.build_initramfs(mods, cache_dir=tmp_path / "cache", log=lambda m: None)
    assert again != out
    assert _read_newc(gzip.decompress(again.read_bytes()))["usr/bin/perf"][1] == b"\x7fELF another perf"


def test_without_perf_the_build_says_what_to_install(tmp_path, monkeypatch):
    root, mods = _fake_tree(tmp_path, monkeypatch)
    (root / "perf").unlink()
    with pytest.raises(L.LinuxRefError) as e:
        L.build_initramfs(mods, cache_dir=tmp_path / "cache", log=lambda m: None)
    msg = str(e.value)
    assert "\n" not in msg and "apt-get install linux-perf" in msg and str(root / "perf") in msg


def test_the_built_initramfs_holds_perf(tmp_path):
    """The real one when this machine has the packages and has built it (the cache)."""
    import gzip
    try:
        _, moddir = L.find_kernel()
    except L.LinuxRefError:
        pytest.skip("no Debian kernel here")
    if L.missing_packages():
        pytest.skip(f"packages missing: {' '.join(L.missing_packages())}")
    built = sorted(L.CACHE_DIR.glob(f"initramfs-{moddir.name}-*.cpio.gz"), key=lambda p: p.stat().st_mtime)
    if not built:
        pytest.skip("no initramfs built yet (scripts/bench --linux builds it)")
    entries = _read_newc(gzip.decompress(built[-1].read_bytes()))
    if "usr/bin/perf" not in entries:
        pytest.skip(f"{built[-1].name} predates perf in the initramfs")
    assert entries["usr/bin/perf"][1][:4] == b"\x7fELF"
    for lib in L.shared_libraries(L.PERF):
        assert str(lib).strip("/") in entries, lib
