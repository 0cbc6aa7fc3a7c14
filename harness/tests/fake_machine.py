#!/usr/bin/python3
# fake_machine.py — a stand-in for doppel-sim that speaks the console/exit protocol
# of docs/protocol.md, so the harness's targets, reports and plugin can be tested
# without a kernel. The kernel command-line word fake=<scenario> picks what it does.
# Called with QEMU-style options it reads the words from -fw_cfg and exits the way
# isa-debug-exit does: (status << 1) | 1.
import os
import sys
import time


def out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def qemu_main(argv: list[str]) -> int:
    spec = argv[argv.index("-fw_cfg") + 1]
    words = spec.split("string=", 1)[1].replace(",,", ",").split()
    scenario = next((w.split("=", 1)[1] for w in words if w.startswith("fake=")), "pass")
    out("doppel-info: firmware=bios")
    out("doppel-info: cmdline=" + " ".join(words))
    if scenario == "kvmerror":
        out("KVM internal error. Suberror: 1")
        out("emulation failure")
        time.sleep(300)          # QEMU pauses the guest and waits forever
        return 0
    if scenario == "qemuerror":
        sys.stderr.write("qemu-system-x86_64: -drive file=x: Could not open 'x'\n")
        return 1
    status = {"pass": 0, "fail": 1, "panic": 2, "hold-silent": 0}.get(scenario, 3)
    out(f"doppel-info: exit={status}")
    if "end=hold" in words and status != 2:
        return hold(argv, scenario)
    return (status << 1) | 1


def hold(argv: list[str], scenario: str) -> int:
    """end=hold: keep running with a QMP socket until told to quit (exit 0, as
    QEMU does on QMP quit); "info pci" answers with the golden SeaBIOS sample."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from fake_qmp import FakeQmpServer
    spec = argv[argv.index("-qmp") + 1]
    path = spec.split("unix:", 1)[1].split(",", 1)[0]
    golden = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "pci",
                          "info_pci_seabios.txt")
    with open(golden) as f:
        info = f.read()
    srv = FakeQmpServer(path, {"info pci": info}, mode="silent" if scenario == "hold-silent" else "ok")
    out("doppel: holding (end=hold)")
    srv.quit.wait(300)
    return 0


def main(argv: list[str]) -> int:
    if "-fw_cfg" in argv:
        return qemu_main(argv)
    words = argv[argv.index("--") + 1:] if "--" in argv else []
    opts = argv[:argv.index("--")] if "--" in argv else argv
    if "--bogus" in opts:
        sys.stderr.write("doppel-sim: '--bogus' is not an option (see --help)\n")
        return 64
    seed = opts[opts.index("--seed") + 1] if "--seed" in opts else "7"
    scenario = next((w.split("=", 1)[1] for w in words if w.startswith("fake=")), "pass")
    out(f"sim: seed={seed}")
    out("sim: replay: doppel-sim --seed " + seed + " --cmdline '" + " ".join(words) + "'")
    out("doppel-info: hal=1")
    out("doppel-info: platform=sim")
    out("doppel-info: firmware=sim")
    out("doppel-info: cmdline=" + " ".join(words))
    out("doppel-info: acpi.cpus=4")
    out("KTAP version 1")
    out("1..2")
    out("    KTAP version 1")
    out("    # Subtest: selftest")
    out("    1..2")
    out("    ok 1 pass_case")
    if scenario == "panic":
        for i in range(60):
            out(f"selftest: filler line {i}")
        out("")
        out("KERNEL PANIC on cpu 0: selftest: panic requested by selftest.panic")
        out("  #0 0x0000000000401234 in selftest_crash")
        for i in range(50):
            out(f"after panic {i}")
        out("doppel-info: exit=2")
        return 2
    if scenario == "hang":
        out("    # about to hang")
        if "grandchild" in words:
            # left behind in the process group; its pid goes to the working folder
            os.system("sleep 300 & echo $! > grandchild.pid")
        time.sleep(300)
        return 0
    if scenario == "asan":
        out("=================================================================")
        out("==123==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x602000000014")
        out("    #0 0x4f5a in kmalloc kernel/mm/heap.c:88")
        return 66
    if scenario == "lockdep":
        out('lockdep: CPU 1: lock order inversion: "blk_dev" taken at kernel/block/block.c:10 '
            'while holding "waitq" (taken at kernel/sched/wait.c:20); the opposite order ...')
    if scenario == "lockdep-planted":
        out('lockdep: CPU 0: lock order inversion: "ktest.inv_a" taken at x.c:1 while '
            'holding "ktest.inv_b" (taken at x.c:2)')
        out("lockdep: stats ktest.inv_a acquired=3 contended=0")
    if scenario == "lockdep-full":
        out("lockdep: class table full: new classes are not checked from here on")
    if scenario == "fail":
        out("    # crash_case: expected 1 == 2 at kernel/ktest/selftest_ktest.c:20")
        out("    not ok 2 crash_case")
        out("not ok 1 selftest")
    elif scenario == "skip":
        out("    ok 2 crash_case # SKIP add selftest.panic to crash on purpose")
        out("ok 1 selftest")
    else:
        out("    ok 2 crash_case")
        out("ok 1 selftest")
    out("    KTAP version 1")
    out("    # Subtest: other")
    out("    1..1")
    out("    ok 1 fine")
    out("ok 2 other")
    status = 1 if scenario == "fail" else 0
    out(f"doppel-info: exit={status}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
