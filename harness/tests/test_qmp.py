# test_qmp.py — the QMP client (harness/qmp.py) against a fake QMP server, and the
# QEMU target's end=hold flow (run, wait for the hold line, read the monitor, quit,
# status from the exit fact) against the fake machine; no QEMU needed.
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from harness.qmp import QmpClient, QmpError
from harness.targets import QemuTarget
from harness.targets.qemu import HOLD_WORD

from .fake_qmp import FakeQmpServer

INFO = "  Bus  0, device   0, function 0:\n    Host bridge: PCI device 8086:29c0\n      id \"\"\n"


@pytest.fixture
def sock():
    # unix socket paths are short: not under pytest's long tmp_path
    with tempfile.TemporaryDirectory(prefix="qmpt-") as d:
        yield str(Path(d) / "qmp.sock")


def test_client_negotiates_runs_hmp_skips_events_and_quits(sock):
    srv = FakeQmpServer(sock, {"info pci": INFO})
    with QmpClient(sock, timeout=5).connect() as q:
        assert q.qemu_version == "7.2.22"
        assert q.hmp("info pci") == INFO
        assert q.execute("query-status")["running"] is True
        q.quit()
    assert srv.commands == ["qmp_capabilities", "human-monitor-command", "query-status", "quit"]
    assert srv.quit.wait(5)
    srv.close()


def test_client_reports_qemu_errors_with_class_and_text(sock):
    srv = FakeQmpServer(sock)
    with QmpClient(sock, timeout=5).connect() as q:
        with pytest.raises(QmpError, match="no-such-thing failed: CommandNotFound"):
            q.execute("no-such-thing")
    srv.close()


def test_client_times_out_on_a_silent_server(sock):
    srv = FakeQmpServer(sock, mode="silent")
    t0 = time.monotonic()
    with pytest.raises(QmpError, match="no the greeting within 0.5 s"):
        QmpClient(sock, timeout=0.5).connect()
    assert time.monotonic() - t0 < 5
    srv.quit.set()
    srv.close()


@pytest.mark.parametrize("mode,msg", [("close", "qmp_capabilities.*connection closed|connection closed.*qmp_capabilities"),
                                      ("garbage", "malformed JSON")])
def test_client_names_protocol_breakage(sock, mode, msg):
    srv = FakeQmpServer(sock, mode=mode)
    with pytest.raises(QmpError, match=msg):
        QmpClient(sock, timeout=2).connect()
    srv.close()


def test_client_without_socket_says_how_qemu_must_be_started(tmp_path):
    with pytest.raises(QmpError, match="server=on,wait=off"):
        QmpClient(str(tmp_path / "none.sock"), timeout=1).connect(wait=0.2)


# ---- QemuTarget with end=hold ------------------------------------------------------

@pytest.fixture
def iso(tmp_path):
    p = tmp_path / "doppel.iso"
    p.write_bytes(b"\0" * 2048)
    return p


def test_hold_reads_info_pci_then_quits_with_the_kernel_status(tmp_path, iso, fake_binary):
    art = tmp_path / "a"
    t = QemuTarget(art, iso=iso, qemu=str(fake_binary), monitor=["info pci"], timeout=30)
    r = t.run("ktest=x fake=pass")
    assert r.facts["cmdline"] == f"ktest=x fake=pass {HOLD_WORD}"
    assert r.exit_code == 0 and r.status == 0, r.status_text    # QMP quit → exit 0
    assert not r.monitor_error
    assert "Bus  0, device   0, function 0:" in r.monitor_output("info pci")
    assert (art / "monitor-info-pci.txt").read_text() == r.monitor["info pci"]
    assert r.duration < 20


def test_hold_callback_gets_the_connected_client(tmp_path, iso, fake_binary):
    seen = []
    t = QemuTarget(tmp_path, iso=iso, qemu=str(fake_binary), timeout=30,
                   on_hold=lambda q, r: seen.append(q.execute("query-status")["status"]))
    r = t.run("fake=pass")
    assert seen == ["running"] and r.status == 0


def test_hold_with_silent_qmp_stops_qemu_and_says_why(tmp_path, iso, fake_binary):
    t = QemuTarget(tmp_path, iso=iso, qemu=str(fake_binary), monitor=["info pci"],
                   qmp_timeout=0.5, timeout=30)
    r = t.run("fake=hold-silent")
    assert r.status is None and not r.timed_out
    assert "QMP failed while the kernel held" in r.status_note
    with pytest.raises(AssertionError, match="no the greeting within"):
        r.monitor_output("info pci")


def test_panic_under_hold_ends_normally_and_names_the_missing_hold(tmp_path, iso, fake_binary):
    t = QemuTarget(tmp_path, iso=iso, qemu=str(fake_binary), monitor=["info pci"], timeout=30)
    r = t.run("fake=panic")
    assert r.status == 2 and r.exit_code == 5
    with pytest.raises(AssertionError, match="never printed 'doppel: holding"):
        r.monitor_output("info pci")


def test_without_monitor_commands_no_hold_word_is_added(tmp_path, iso, fake_binary):
    r = QemuTarget(tmp_path, iso=iso, qemu=str(fake_binary)).run("fake=pass")
    assert HOLD_WORD not in r.facts["cmdline"] and r.status == 0 and r.exit_code == 1
