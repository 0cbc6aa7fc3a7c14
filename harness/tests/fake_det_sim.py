#!/usr/bin/python3
# fake_det_sim.py — stands in for `doppel-sim --mode det --runs R` (docs/det.md) so
# harness/explore.py can be tested without the simulator. Kernel words:
#   fake.fail_seed=N   the run with seed N fails with status 1
#   fake.choices=K     each run reports K choice steps (default 100)
#   fake.nosummary     print nothing (a crashed simulator)
import sys


def main(argv):
    opts = argv[:argv.index("--")] if "--" in argv else argv
    words = argv[argv.index("--") + 1:] if "--" in argv else []
    get = lambda o, d=None: opts[opts.index(o) + 1] if o in opts else d
    w = dict(x.split("=", 1) if "=" in x else (x, "") for x in words)
    if "fake.nosummary" in w:
        return 70
    seed, runs = int(get("--seed")), int(get("--runs", "1"))
    fail_seed = int(w.get("fake.fail_seed", -1))
    choices = int(w.get("fake.choices", 100))
    failed, first = 0, "none"
    done = 0
    for s in range(seed, seed + runs):
        done += 1
        st = 1 if s == fail_seed else 0
        print(f"sim-det: seed={s} status={st} steps={choices * 3} choices={choices} hash=0x{s * 2654435761 % 2**32:08x}")
        if st:
            failed, first = 1, str(s)
            print(f"sim-det: FAIL seed={s} status=1 replay: doppel-sim --mode det --seed {s} --replay "
                  f"--sched {get('--sched')} --cpus {get('--cpus')} -- {' '.join(words)}")
            break
    print(f"sim-det: summary runs={done} failed={failed} first_failed_seed={first} "
          f"steps_max={choices * 3} choices_max={choices} seconds=0.01")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
