# test_targets.py — the targets (harness/targets/) and failure reports (report.py)
# against a fake machine that speaks docs/protocol.md: streaming, facts, exit-code
# decoding, watchdog and process-group kill, sanitizer detection, QEMU command shape.
from __future__ import annotations

import json
import os
import time

import pytest

from harness import report
from harness.ktap import Status
from harness.targets import QemuTarget, SimTarget, TargetConfigError, kvm_usable
from harness.targets.qemu import fw_cfg_string


def run_fake(tmp_path, fake_binary, scenario, **kw):
    t = SimTarget(tmp_path / "art", binary=fake_binary, seed=1234, cpus=4, **kw)
    return t.run(f"ktest=selftest fake={scenario}")


def test_passing_run_records_everything(tmp_path, fake_binary):
    r = run_fake(tmp_path, fake_binary, "pass")
    assert (r.exit_code, r.status, r.timed_out, r.crashed) == (0, 0, False, False)
    assert r.seed == 1234 and r.replay.startswith("doppel-sim --seed 1234")
    assert r.facts["platform"] == "sim" and r.int_fact("acpi.cpus") == 4
    assert r.facts["cmdline"] == "ktest=selftest fake=pass"
    assert r.ktap.status is Status.PASS and r.ktap.counts().passed == 3
    report.assert_ktap_passed(r, must_run=["selftest.*", "other.fine"])
    assert r.command[:5] == [str(fake_binary), "--cpus", "4", "--seed", "1234"]
    assert r.command[-3:] == ["--", "ktest=selftest", "fake=pass"]
    art = tmp_path / "art"
    assert (art / "command.txt").read_text().strip() == r.command_str
    assert "KTAP version 1" in (art / "console.log").read_text()
    summary = json.loads((art / "result.json").read_text())
    assert summary["status"] == 0 and summary["seed"] == 1234


def test_second_run_in_the_same_folder_gets_its_own_files(tmp_path, fake_binary):
    t = SimTarget(tmp_path, binary=fake_binary, seed=1)
    t.run("fake=pass")
    r2 = t.run("fake=fail")
    assert r2.console_log.name == "run2-console.log"
    assert (tmp_path / "console.log").exists() and (tmp_path / "run2-result.json").exists()


def test_failed_case_is_listed_with_its_diagnostic(tmp_path, fake_binary):
    r = run_fake(tmp_path, fake_binary, "fail")
    assert r.status == 1 and not r.crashed
    with pytest.raises(AssertionError) as e:
        report.assert_ktap_passed(r, must_run=["selftest.pass_case"])
    msg = str(e.value)
    assert "selftest.crash_case: FAIL" in msg
    assert "expected 1 == 2 at kernel/ktest/selftest_ktest.c:20" in msg


def test_panic_gives_status_2_and_a_report_with_the_panic_line(tmp_path, fake_binary):
    r = run_fake(tmp_path, fake_binary, "panic")
    assert r.status == 2 and r.crashed
    assert r.ktap.find("selftest.<missing result 2>").status is Status.CRASHED
    sections = dict(report.failure_sections([r], "tests/sim/test_x.py::test_y[4]", ["--smp", "4"]))
    excerpt = sections["console excerpt"]
    # the panic is more than 40 lines from the end: shown around its own marker
    assert "around the first crash marker" in excerpt
    assert "KERNEL PANIC on cpu 0: selftest: panic requested by selftest.panic" in excerpt
    assert "after panic 49" in excerpt                      # and the tail
    assert "selftest.<missing result 2>: CRASHED" in excerpt
    repro = sections["reproduce"]
    assert "/usr/bin/python3 -m pytest 'tests/sim/test_x.py::test_y[4]' --smp 4" in repro
    assert r.command_str in repro and "seed 1234" in repro


def test_excerpt_ignores_panic_word_in_the_echoed_command_line(tmp_path, fake_binary):
    t = SimTarget(tmp_path, binary=fake_binary, seed=3)
    r = t.run("fake=pass selftest.panic")
    assert report.first_crash_line(r.lines) is None


def test_sanitizer_report_is_seen(tmp_path, fake_binary):
    r = run_fake(tmp_path, fake_binary, "asan")
    assert r.exit_code == 66 and r.status is None and r.crashed
    assert "AddressSanitizer" in r.status_note
    assert any("heap-buffer-overflow" in s for s in r.sanitizer_errors)


def test_usage_error_is_not_a_crash(tmp_path, fake_binary):
    t = SimTarget(tmp_path, binary=fake_binary, extra_args=["--bogus"])
    r = t.run("")
    assert r.exit_code == 64 and r.status is None and not r.crashed
    assert r.grep("'--bogus' is not an option")   # stderr is part of the console stream


def test_watchdog_kills_the_whole_process_group(tmp_path, fake_binary):
    t = SimTarget(tmp_path, binary=fake_binary, timeout=2)
    t0 = time.monotonic()
    r = t.run("fake=hang grandchild")
    assert time.monotonic() - t0 < 20
    assert r.timed_out and r.crashed and r.status is None
    assert "timeout" in r.status_note
    assert r.ktap.status is Status.CRASHED
    pid = int((tmp_path / "grandchild.pid").read_text())
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"grandchild {pid} survived the run")


# ---- QEMU command line ------------------------------------------------------------

@pytest.fixture
def iso(tmp_path):
    p = tmp_path / "doppel.iso"
    p.write_bytes(b"\0" * 2048)
    return p


def test_qemu_command_for_the_main_job(tmp_path, iso):
    t = QemuTarget(tmp_path / "art", firmware="ovmf", smp=4, iso=iso,
                   iommu=True, nvme=True, ahci=True, disk_size=1 << 20)
    (tmp_path / "art").mkdir()
    t.prepare()
    cmd = t.command("ktest=acpi,pmm expect.cpus=4")
    dev = [i for i, a in enumerate(cmd) if a == "-device"]
    assert cmd[dev[0] + 1] == "intel-iommu"          # before every other -device
    assert cmd[cmd.index("-M") + 1] == "q35" and cmd[cmd.index("-m") + 1] == "512M"
    assert cmd[cmd.index("-smp") + 1] == "4" and cmd[cmd.index("-accel") + 1] == "tcg"
    assert "-no-reboot" in cmd and cmd[cmd.index("-vga") + 1] == "none"
    assert "isa-debug-exit,iobase=0xf4,iosize=0x04" in cmd
    assert "name=opt/doppel/cmdline,string=ktest=acpi,,pmm expect.cpus=4" in cmd
    assert "nvme,id=nvme0,serial=doppel0,drive=nvm0" in cmd and "ide-hd,drive=sata0,bus=ahci1.0" in cmd
    assert cmd[cmd.index("-serial") + 1] == "chardev:ser0"
    assert any(a.startswith("unix:") and a.endswith("qmp.sock,server=on,wait=off") for a in cmd)
    art = tmp_path / "art"
    assert (art / "nvme.img").stat().st_size == 1 << 20 and (art / "sata.img").exists()
    assert (art / "OVMF_VARS_4M.fd").stat().st_size > 0
    assert any("readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd" in a for a in cmd)


def test_qemu_nvme_controllers_and_namespaces(tmp_path, iso):
    art = tmp_path / "art"
    art.mkdir()
    t = QemuTarget(art, iso=iso, nvme=True, nvme_count=2, nvme_ns=2, nvme_disk_size=2 << 20,
                   nvme_props={"max_ioqpairs": "2"})
    cmd = t.command("")
    devs = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-device" and "nvme" in cmd[i + 1]]
    assert devs == ["nvme,id=nvme0,serial=doppel0,max_ioqpairs=2",
                    "nvme-ns,drive=nvm0n1,bus=nvme0,nsid=1", "nvme-ns,drive=nvm0n2,bus=nvme0,nsid=2",
                    "nvme,id=nvme1,serial=doppel1,max_ioqpairs=2",
                    "nvme-ns,drive=nvm1n1,bus=nvme1,nsid=1", "nvme-ns,drive=nvm1n2,bus=nvme1,nsid=2"]
    assert sorted(t.nvme_images) == ["nvme0n1", "nvme0n2", "nvme1n1", "nvme1n2"]
    for name, img in t.nvme_images.items():
        assert img == (art / f"{name}.img").resolve() and img.stat().st_size == 2 << 20
        assert f"file={img},if=none,id=nvm{name[4:]},format=raw" in cmd
    assert "+nvmex2(ns=2)" in t.label
    one = QemuTarget(tmp_path / "one", iso=iso, nvme=True, nvme_disk_size=1 << 30)
    (tmp_path / "one").mkdir()
    one.command("")
    assert one.nvme_images == {"nvme0n1": (tmp_path / "one" / "nvme.img").resolve()}
    assert one.nvme_images["nvme0n1"].stat().st_size == 1 << 30
    assert one.nvme_images["nvme0n1"].stat().st_blocks == 0          # sparse


@pytest.mark.parametrize("kw, why", [
    ({"nvme_count": 0}, "nvme_count 0"), ({"nvme_ns": 9}, "nvme_ns 9"),
    ({"nvme_disk_size": 1000}, "NVMe disk size 1000"),
    ({"nvme_props": {"mdts": "1,x"}}, "nvme property mdts"),
])
def test_qemu_nvme_bad_options_are_named(kw, why):
    with pytest.raises(TargetConfigError, match=why):
        QemuTarget("unused", nvme=True, **kw)


def test_qemu_exit_codes():
    t = QemuTarget("unused")
    assert t.decode_exit(1, {"exit": "0"}) == (0, "")
    assert t.decode_exit(5, {}) == (2, "")
    assert t.decode_exit(7, {"exit": "3"}) == (3, "")
    assert t.decode_exit(1, {})[0] is None             # QEMU's own error exit
    assert t.decode_exit(0, {})[0] is None             # even: no status reported
    assert t.decode_exit(-9, {})[0] is None


def test_qemu_bad_options_are_clear():
    with pytest.raises(TargetConfigError, match="firmware 'coreboot'"):
        QemuTarget("x", firmware="coreboot")
    with pytest.raises(TargetConfigError, match="smp 0"):
        QemuTarget("x", smp=0)


def test_long_artifact_paths_still_get_a_qmp_socket(tmp_path, iso):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    t = QemuTarget(deep, iso=iso)
    sock = t.qmp_socket
    assert len(str(sock)) < 108 and (deep / "qmp.sock.path").read_text().strip() == str(sock)


@pytest.mark.parametrize("scenario,status", [("pass", 0), ("fail", 1), ("panic", 2)])
def test_qemu_status_comes_from_the_debug_exit_code(tmp_path, iso, fake_binary, scenario, status):
    t = QemuTarget(tmp_path, iso=iso, qemu=str(fake_binary))
    r = t.run(f"ktest=x fake={scenario} a,b")
    assert r.exit_code == (status << 1) | 1 and r.status == status
    assert r.facts["cmdline"] == f"ktest=x fake={scenario} a,b"   # commas survived


def test_qemu_own_error_is_not_a_pass(tmp_path, iso, fake_binary):
    r = QemuTarget(tmp_path, iso=iso, qemu=str(fake_binary)).run("fake=qemuerror")
    assert r.exit_code == 1 and r.status is None and r.crashed
    assert "QEMU error" in r.status_note


def test_kvm_internal_error_stops_the_run_at_once(tmp_path, iso, fake_binary):
    t = QemuTarget(tmp_path, iso=iso, qemu=str(fake_binary), timeout=60)
    r = t.run("fake=kvmerror")
    assert r.duration < 20 and not r.timed_out and r.status is None
    assert "KVM internal error" in r.status_note


def test_fw_cfg_commas_are_doubled():
    assert fw_cfg_string("a,b,,c") == "a,,b,,,,c"


def test_kvm_probe_answers_without_raising():
    ok, why = kvm_usable()
    assert isinstance(ok, bool) and (ok or why)


# ---- AHCI disks --------------------------------------------------------------------

def test_qemu_ahci_disks_are_named_as_the_kernel_names_them(tmp_path, iso):
    art = tmp_path / "art"
    art.mkdir()
    t = QemuTarget(art, iso=iso, ahci=True, ahci_ports=(3, 0), ahci_builtin=(4, 0),
                   ahci_disk_size=2 << 20)
    cmd = t.command("")
    devs = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-device" and
            ("ahci" in cmd[i + 1] or "ide-" in cmd[i + 1])]
    # The ISO's CD on the built-in port 2, then the added HBA's disks in port order,
    # then the built-in HBA's (00:1f.2 comes after any slot QEMU gives the added one).
    assert devs == ["ide-cd,drive=cd0,bus=ide.2,bootindex=0", "ich9-ahci,id=ahci1",
                    "ide-hd,drive=sata0,bus=ahci1.0", "ide-hd,drive=sata1,bus=ahci1.3",
                    "ide-hd,drive=sata2,bus=ide.0", "ide-hd,drive=sata3,bus=ide.4"]
    assert list(t.ahci_images) == ["sata0", "sata1", "sata2", "sata3"]
    for name, img in t.ahci_images.items():
        assert img == (art / ("sata.img" if name == "sata0" else f"{name}.img")).resolve()
        assert img.stat().st_size == 2 << 20 and f"file={img},if=none,id={name},format=raw" in cmd
    assert t.disk_images == t.ahci_images
    assert "+ahci(ports=0,3)+sata@1f.2(ports=0,4)" in t.label


def test_qemu_builtin_ahci_disk_alone_is_sata0(tmp_path, iso):
    art = tmp_path / "art"
    art.mkdir()
    t = QemuTarget(art, iso=iso, nvme=True, ahci_builtin=(0,), disk_size=1 << 30)
    cmd = t.command("")
    assert "ich9-ahci,id=ahci1" not in cmd and "ide-hd,drive=sata0,bus=ide.0" in cmd
    assert sorted(t.disk_images) == ["nvme0n1", "sata0"]
    assert t.ahci_images["sata0"].stat().st_size == 1 << 30       # disk_size when not given


@pytest.mark.parametrize("kw, why", [
    ({"ahci_builtin": (2,)}, r"ahci_builtin \[2\].*other than 2 \(the ISO's CD\)"),
    ({"ahci_ports": (6,), "ahci": True}, r"ahci_ports \[6\]: ports are distinct numbers 0..5"),
    ({"ahci_ports": (1, 1), "ahci": True}, "ahci_ports"),
    ({"ahci_ports": (), "ahci": True}, "no ahci_ports"),
    ({"ahci_disk_size": 4097}, "AHCI disk size 4097"),
])
def test_qemu_ahci_bad_options_are_named(kw, why):
    with pytest.raises(TargetConfigError, match=why):
        QemuTarget("unused", **kw)


def test_sim_ahci_specs_pass_through_and_name_their_files(tmp_path):
    from harness.targets.sim import ahci_disks
    img = tmp_path / "d.img"
    t = SimTarget(tmp_path, binary=None, ahci=[f"{img},port=4,ncq=0", "mem", "mem,size=1G"])
    assert t.options() == ["--ahci", f"{img},port=4,ncq=0", "--ahci", "mem", "--ahci", "mem,size=1G"]
    # mem disks on ports 0 and 1, the file on 4: sata0, sata1, sata2 in port order
    assert ahci_disks(t.ahci) == [(0, "mem"), (1, "mem"), (4, str(img))]
    assert t.ahci_images == {"sata2": img.resolve()} and t.disk_images == t.ahci_images
    assert "ahci=mem,size=1G" in t.label
    assert ahci_disks(["none"]) == [] and SimTarget(tmp_path).options() == []
    assert ahci_disks(["mem,port=0", "mem"]) == [(0, "mem"), (1, "mem")]


def test_sim_ahci_files_are_given_as_absolute_paths(tmp_path, monkeypatch):
    # doppel-sim runs in the artifact folder: a relative file name would miss.
    monkeypatch.chdir(tmp_path)
    t = SimTarget(tmp_path / "art", ahci=["disks/a.img,port=2,size=16M", "mem"])
    assert t.options() == ["--ahci", f"{tmp_path}/disks/a.img,port=2,size=16M", "--ahci", "mem"]
    assert t.ahci_images == {"sata1": tmp_path / "disks" / "a.img"}


@pytest.mark.parametrize("specs, why", [
    (["mem,port=6"], "port '6' is not 0..5"),
    (["mem,port=1", "a.img,port=1"], "port 1 already has a disk"),
    (["mem"] * 7, "all 6 ports have a disk"),
    ([",port=1"], "first part must be a file name or 'mem'"),
])
def test_sim_ahci_bad_specs_are_named(tmp_path, specs, why):
    with pytest.raises(TargetConfigError, match=why):
        SimTarget(tmp_path, ahci=specs)
