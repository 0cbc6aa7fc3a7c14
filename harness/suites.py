# suites.py — the cases of the interrupt/SMP ktest suites (kernel/apic, kernel/time,
# kernel/smp), named once for every test that requires them to run (must_run):
# tests/sim/test_sim_smp.py and qemu-tests/test_smp.py. A case one CPU cannot run
# (no AP to watch start, no second CPU to send to) is in ONE_CPU_SKIPS.
from __future__ import annotations

SMP_SUITE_CASES = {
    "apic": ("apic_mode_matches_cpuid", "apic_enabled_on_every_cpu", "apic_bsp_listed_in_madt",
             "apic_esr_read_clears", "apic_self_ipi_and_eoi", "apic_spurious_gets_no_eoi",
             "apic_icr_encodings", "ioapic_all_masked_at_start", "ioapic_overrides_honoured",
             "ioapic_route_unroute_affinity", "ioapic_pit_interrupt_delivered"),
    "timer": ("timer_tsc_calibrated", "timer_tsc_matches_pit", "timer_mode_matches_cpuid",
              "timer_tick_on_every_cpu", "timer_udelay_waits"),
    "smp": ("smp_started_cpus_accounted", "smp_index_and_apic_id_per_cpu", "smp_init_sipi_sequence",
            "smp_numa_node_before_online", "smp_online_mask_consistent", "smp_room_for_256_cpus",
            "smp_run_threads_thread_context", "smp_bringup_mode_order"),
    "ipi": ("ipi_fixed_to_each_cpu", "ipi_all_but_self", "ipi_self", "ipi_call_runs_on_set",
            "ipi_call_timeout_names_cpu", "ipi_stress_concurrent_calls"),
    "tlb": ("tlb_range_encoding", "tlb_remap_seen_by_every_cpu", "tlb_initiator_waits_for_all",
            "tlb_concurrent_shootdowns", "tlb_stress"),
    "vectors": ("vectors_per_cpu_bitmaps", "vectors_aligned_blocks", "vectors_exhaustion_is_enospc",
                "vectors_freed_on_owning_cpu", "vectors_double_free_rejected",
                "vectors_concurrent_alloc_free", "vectors_affinity_move", "vectors_free_after_boot"),
}
ONE_CPU_SKIPS = {"smp.smp_init_sipi_sequence", "smp.smp_bringup_mode_order", "ipi.ipi_all_but_self", "ipi.ipi_call_timeout_names_cpu",
                 "vectors.vectors_per_cpu_bitmaps", "vectors.vectors_freed_on_owning_cpu",
                 "vectors.vectors_affinity_move"}


def smp_must_run(suites, cpus: int) -> list[str]:
    """Every case of the given suites that must run on a machine with `cpus` CPUs."""
    return [f"{s}.{c}" for s in suites for c in SMP_SUITE_CASES[s]
            if cpus > 1 or f"{s}.{c}" not in ONE_CPU_SKIPS]

# The cases of the kernel's `nvme` ktest suite (kernel/drivers/nvme/nvme_ktest.c) that
# must run and pass on QEMU's nvme (qemu-tests/test_nvme.py), as "nvme.<case>". An
# empty list makes those tests fail and say so (it must never pass as "nothing to run").
NVME_CASES: list[str] = [f"nvme.{c}" for c in (
    "nvme_controller_up", "nvme_identify_fields_sane", "nvme_every_queue_created",
    "nvme_rw_verify_each_cpu_queue", "nvme_prp_list_io_up_to_mdts", "nvme_flush_completes",
    "nvme_write_zeroes_reads_zeros", "nvme_dsm_deallocate", "nvme_lba_out_of_range_status",
    "nvme_cid_table_drops_unknown_duplicate_stale", "nvme_reset_with_io_in_flight",
    "nvme_shutdown_sets_shst", "nvme_io_survives_recovery", "conformance")]
# Runs only when booted with nvme.poll=1 (skips otherwise, saying so).
NVME_POLL_CASES: list[str] = ["nvme.nvme_polled_mode"]
# Cases that need a second controller (run only in the two-controller configurations).
NVME_TWO_CONTROLLER_CASES: list[str] = []

# The cases of the kernel's `ahci` ktest suite (kernel/drivers/ahci/ahci_ktest.c) that
# must run and pass wherever a SATA disk sits on an AHCI port with NCQ and TRIM offered
# (QEMU's ide-hd, the sim's disk model): qemu-tests/test_ahci.py, tests/sim/test_ahci_driver.py.
AHCI_CASES: list[str] = [f"ahci.{c}" for c in (
    "ahci_hba_up", "ahci_identify_sane", "ahci_rw_verify_each_cpu", "ahci_ncq_depth_in_flight",
    "ahci_prdt_up_to_max_transfer", "ahci_flush_completes", "ahci_trim_when_offered",
    "ahci_lba_beyond_capacity", "ahci_non_ncq_path", "ahci_port_reset_resubmits", "ahci_io_survives_faults",
    "conformance", "ahci_shutdown_flushes_and_stops", "ahci_io_survives_recovery")]
# The lines `ahci.conformance` prints (`ahci-conf: <case> ...`), in order
# (kernel/drivers/ahci/ahci_conf_ktest.c): qemu-tests/test_ahci_conformance.py,
# tests/sim/test_ahci_driver.py. The NCQ ones print `skipped` without NCQ.
AHCI_CONF_CASES: list[str] = [
    "identify_good", "write_dma_ext_good", "read_dma_ext_good", "read_dma_ext_lba_beyond",
    "write_dma_ext_lba_beyond", "read_dma_ext_zero_count", "read_dma_ext_prdt_short",
    "read_dma_ext_prd_odd_count", "set_features_bad_subcommand", "flush_cache_ext", "unsupported_opcode",
    "dsm_trim_good", "dsm_trim_lba_beyond", "write_fpdma_good", "read_fpdma_good", "read_fpdma_after_error",
    "read_fpdma_lba_beyond", "read_log_ext_10h", "read_fpdma_prdtl_0", "fpdma_busy_tag",
]
AHCI_CONF_NCQ_CASES: list[str] = AHCI_CONF_CASES[AHCI_CONF_CASES.index("write_fpdma_good"):]
# Skipped (with the reason) when the disk or the command line turns NCQ off.
AHCI_NCQ_CASES: list[str] = ["ahci.ahci_ncq_depth_in_flight"]

# The cases of the `locks` suite (kernel/lock/locks_ktest.c, kernel/lock/pi_ktest.c): tests/sim/test_sim_locks.py,
# qemu-tests/test_locks.py. The lockdep cases need lockdep=1 (the sim's default; the
# image's tests pass it); mcs_fifo_order needs a holder and two waiters.
LOCKS_CASES: list[str] = [f"locks.{c}" for c in (
    "mcs_mutual_exclusion", "mcs_fifo_order", "mcs_nesting_uses_every_node",
    "lockdep_inversion_reported", "lockdep_cycle_through_three_locks",
    "lockdep_consistent_order_not_reported", "lockdep_irq_usage_reported",
    "lockdep_recursion_reported", "lock_assert_held_fires_when_not_held",
    # priority inheritance and deadlock reports (kernel/lock/pi_ktest.c)
    "pi_chain_of_3_boosted_and_unwound", "pi_chain_of_8_boosted_and_unwound",
    "pi_chain_of_10_boosted_8_deep", "pi_deadlock_abba_reported", "pi_boost_shared_by_two_waiters")]
LOCKS_FEW_CPU_SKIPS = {"locks.mcs_fifo_order"}
LOCKS_LOCKDEP_CASES = [c for c in LOCKS_CASES if c.startswith("locks.lockdep_")]


def locks_must_run(cpus: int, lockdep: bool = True) -> list[str]:
    """The locks cases that must run on `cpus` CPUs, with or without lockdep."""
    return [c for c in LOCKS_CASES if (cpus >= 3 or c not in LOCKS_FEW_CPU_SKIPS)
            and (lockdep or c not in LOCKS_LOCKDEP_CASES)]


# The cases of the `ctx` (HAL contexts, kernel/sched/ctx_ktest.c) and `sched`
# (threads and the scheduler core, kernel/sched/sched_ktest.c) suites:
# tests/sim/test_sched.py and qemu-tests/test_sched.py. One CPU cannot run the
# cross-CPU cases (SCHED_ONE_CPU_SKIPS).
SCHED_SUITE_CASES = {
    "ctx": ("ctx_pingpong_each_cpu", "ctx_created_here_runs_there", "ctx_destroy_after_exit",
            "ctx_names"),
    "sched": ("sched_create_join_every_cpu", "sched_affinity_respected", "sched_yield_pingpong",
              "sched_tick_preempts_busy_thread", "sched_cross_cpu_wake", "sched_sleep_not_early",
              "sched_no_lost_wakeup",
              # the fair and RT classes (kernel/sched/sched_class_ktest.c)
              "sched_fair_nice_weight_ratio", "sched_fair_equal_nice_shares",
              "sched_fair_newcomer_starts_at_min_vruntime",
              "sched_rt_preempts_fair_within_a_tick", "sched_rt_higher_preempts_lower",
              "sched_rt_fifo_rr_order", "sched_rt_throttle_leaves_fair_share",
              "sched_rt_invalid_rejected", "sched_pi_boost_runs_ahead_of_rt"),
}
SCHED_ONE_CPU_SKIPS = {"ctx.ctx_created_here_runs_there", "sched.sched_cross_cpu_wake",
                       "sched.sched_no_lost_wakeup"}


def sched_must_run(suites, cpus: int) -> list[str]:
    """Every case of the ctx/sched suites that must run with `cpus` CPUs."""
    return [f"{s}.{c}" for s in suites for c in SCHED_SUITE_CASES[s]
            if cpus > 1 or f"{s}.{c}" not in SCHED_ONE_CPU_SKIPS]

# The cases of the `wait` suite (wait queues, completions, semaphores, mutexes:
# kernel/sched/wait_ktest.c): tests/sim/test_sim_wait.py and qemu-tests/test_wait.py.
WAIT_CASES = ("wait_completion_across_cpus", "wait_complete_all_wakes_every_waiter",
              "wait_timeout_not_early", "wait_semaphore_bounds_concurrency",
              "wait_mutex_exclusion_blocks", "wait_no_lost_wakeup")
WAIT_ONE_CPU_SKIPS = {"wait_no_lost_wakeup"}


def wait_must_run(cpus: int) -> list[str]:
    """Every case of the `wait` suite that must run with `cpus` CPUs."""
    return [f"wait.{c}" for c in WAIT_CASES if cpus > 1 or c not in WAIT_ONE_CPU_SKIPS]
