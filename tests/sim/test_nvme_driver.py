# test_nvme_driver.py — the NVMe driver (docs/nvme.md) under doppel-sim: the `nvme`
# ktest suite across CPU counts, shared queues, every interrupt mode the driver may
# be limited to, with and without VT-d; every case must run and pass everywhere.
from __future__ import annotations

import re

import pytest

from harness.plugin import assert_ktap_passed

pytestmark = pytest.mark.sim

ALWAYS = ["nvme.nvme_controller_up", "nvme.nvme_identify_fields_sane",
          "nvme.nvme_cid_table_drops_unknown_duplicate_stale"]
IO_CASES = ["nvme.nvme_every_queue_created", "nvme.nvme_rw_verify_each_cpu_queue",
            "nvme.nvme_prp_list_io_up_to_mdts", "nvme.nvme_flush_completes",
            "nvme.nvme_write_zeroes_reads_zeros", "nvme.nvme_dsm_deallocate",
            "nvme.nvme_lba_out_of_range_status", "nvme.nvme_reset_with_io_in_flight",
            "nvme.nvme_shutdown_sets_shst", "nvme.nvme_io_survives_recovery", "nvme.conformance"]
POLLED = "nvme.nvme_polled_mode"
MODE_USED = {"msix": "msix", "msi": "intx", "intx": "intx", "poll": "poll"}
IRQ_FACT = "nvme.irq_mode"          # doppel-info: nvme.irq_mode=<mode> (the driver's choice)


def must_run(polled: bool = False) -> list[str]:
    return ALWAYS + IO_CASES + ([POLLED] if polled else [])


@pytest.mark.parametrize("cpus", [1, 4, 16])
def test_nvme_suite_passes_on_every_cpu_count(sim, cpus):
    r = sim(cpus=cpus).run("ktest=nvme")
    assert_ktap_passed(r, must_run=must_run())
    assert r.fact(IRQ_FACT) == "msix"


def test_nvme_fewer_queues_than_cpus_share_queues(sim):
    r = sim(cpus=4).run("ktest=nvme nvme.queues=2")
    assert_ktap_passed(r, must_run=must_run())


@pytest.mark.parametrize("mode", ["msix", "msi", "intx", "poll"])
def test_nvme_interrupt_mode_the_driver_is_limited_to(sim, mode):
    r = sim(cpus=2).run(f"ktest=nvme nvme.irq={mode}")
    assert_ktap_passed(r, must_run=must_run())
    # The best mode allowed that the model offers (MSI-X and INTx; no MSI capability).
    assert r.fact(IRQ_FACT) == MODE_USED[mode]


def test_nvme_polled_io_queues(sim):
    r = sim(cpus=2).run("ktest=nvme nvme.poll=1")
    assert_ktap_passed(r, must_run=must_run(polled=True))


@pytest.mark.parametrize("iommu", ["vtd", "none"])
def test_nvme_with_and_without_vtd(sim, iommu):
    r = sim(cpus=2, extra_args=["--iommu", iommu]).run("ktest=nvme")
    assert_ktap_passed(r, must_run=must_run())


def test_nvme_off_leaves_the_controller_alone(sim):
    r = sim(cpus=1).run("ktest=nvme nvme=off")
    assert r.fact(IRQ_FACT) is None
    assert not r.grep("nvme: nvme0:")


def test_nvme_restart_after_shutdown_deletes_no_queues(sim):
    # After CC.SHN the controller has no I/O queues left (the model, like QEMU 7.2,
    # frees them): the reset that brings it back must not try to delete them again.
    r = sim(cpus=4).run("ktest=nvme.nvme_shutdown_sets_shst")
    assert_ktap_passed(r, must_run=["nvme.nvme_shutdown_sets_shst"])
    assert r.grep("nvme: nvme0: reset: ktest: restart after shutdown")
    assert not [ln for ln in r.lines if re.search(r"Delete I/O .* failed", ln)], r.grep("Delete I/O")
    assert not r.grep("no such I/O queue")


@pytest.mark.parametrize("cpus", [1, 4])
def test_nvme_io_survives_recovery_case_without_faults(sim, cpus):
    r = sim(cpus=cpus).run("ktest=nvme.nvme_io_survives_recovery")
    assert_ktap_passed(r, must_run=["nvme.nvme_io_survives_recovery"])
    assert not r.grep("reset:") and not r.grep("overdue")


# ---- several controllers and namespaces, verified I/O, the host check of a file ------

def _io(r):
    from harness.blkverify import parse_io_lines
    res, errors = parse_io_lines(r.lines)
    assert not errors, errors
    return {x.dev: x for x in res}


def _all_verified(r, devs):
    # io.dev=all also runs the sim's SATA disk (sata0): these tests are about NVMe
    io = {d: x for d, x in _io(r).items() if d.startswith("nvme")}
    assert set(io) == set(devs), (sorted(io), devs)
    for x in io.values():
        assert x.mismatches == 0 and x.errors == 0 and x.verified > 0 and x.writes > 0, x.line
    assert r.status == 0, r.status_text


@pytest.mark.parametrize("iommu", ["vtd", "none"])
def test_nvme_two_controllers_both_verified(sim, iommu):
    r = sim(cpus=4, extra_args=["--nvme", "mem", "--nvme", "mem", "--iommu", iommu]).run(
        "io=verify io.dev=all io.seconds=1")
    _all_verified(r, ["nvme0n1", "nvme1n1"])


def test_nvme_three_namespaces_verified(sim):
    r = sim(cpus=2, extra_args=["--nvme", "mem,ns=3"]).run("io=verify io.dev=all io.seconds=1")
    _all_verified(r, ["nvme0n1", "nvme0n2", "nvme0n3"])


def test_nvme_fewer_queues_than_cpus_verified(sim):
    r = sim(cpus=4, extra_args=["--nvme", "mem,queues=2"]).run("io=verify io.seconds=1")
    _all_verified(r, ["nvme0n1"])
    assert r.grep("nvme: nvme0: 0000:00:03.0") and r.grep(", 2 I/O queues of")


def test_nvme_sixteen_cpus_verified(sim):
    r = sim(cpus=16).run("io=verify io.seconds=1")
    _all_verified(r, ["nvme0n1"])


def test_nvme_file_backing_agrees_with_the_host_check(sim, tmp_path):
    from harness.blkverify import check_run
    img = tmp_path / "disk.img"
    r = sim(cpus=4, extra_args=["--nvme", f"{img},size=16M"]).run("io=verify io.seconds=1")
    _all_verified(r, ["nvme0n1"])
    verdict = check_run(r.lines, {"nvme0n1": img})
    hc = verdict["nvme0n1"]
    assert not isinstance(hc, str), hc
    assert hc.agree, hc.problems
    assert hc.stamped == _io(r)["nvme0n1"].stamped > 0
