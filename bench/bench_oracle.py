"""Benchmark: every bpf_kfunc-tagged function of the running kernel x every probe position.

Issue 11's target: all tagged kfuncs x all probe contexts in <= 60 s on 2 cores. Loads only
(see polykfunc.oracle.syscall); needs permission to load BPF programs, else says so and exits 2.

    .venv/bin/python bench/bench_oracle.py [--jobs N]
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    from polykfunc.oracle.inventory import read_inventory
    from polykfunc.oracle.runner import run
    from polykfunc.oracle.syscall import permission_problem
    why = permission_problem()
    if why:
        print(why)
        return 2
    t0 = time.monotonic()
    inv = read_inventory()
    t_inv = time.monotonic() - t0
    result = run(inv, jobs=args.jobs)
    total = time.monotonic() - t0
    n = len(result.observations)
    print(f"kernel {inv.release}, {os.cpu_count()} CPUs, {args.jobs} workers")
    print(f"inventory: {len(inv.kfuncs)} kfuncs in {t_inv:.2f} s")
    print(f"probes: {n} ({len(inv.kfuncs)} kfuncs x {len(result.positions)} positions) in {result.seconds:.1f} s "
          f"({n / result.seconds:.0f} loads/s); total {total:.1f} s")
    for outcome, count in collections.Counter(o.outcome for o in result.observations).most_common():
        print(f"  {outcome:<24} {count}")
    return 0 if total <= 60 else 1


if __name__ == "__main__":
    sys.exit(main())
