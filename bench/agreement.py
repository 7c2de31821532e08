"""z3 against explicit enumeration: every obligation of random models and of the bundled models
(the agreement figures of docs/fuzzing.md).

    .venv/bin/python bench/agreement.py [--random N] [--start S] [--no-bundled] [-j JOBS]

Each obligation is decided twice, by the prover (z3) and by polykfunc.crosscheck.brute_force (no z3); the
statuses and, for counterexamples, the sets of failing contexts must be the same.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from polykfunc.crosscheck.brute_force import compare, decide_obligation  # noqa: E402
from polykfunc.model import bundled_manifests, load_model  # noqa: E402
from polykfunc.properties import obligations  # noqa: E402
from polykfunc.engine.prover import prove_model  # noqa: E402
from polykfunc.crosscheck.strategies import random_model  # noqa: E402


def agree(model):
    t0 = time.perf_counter()
    report = prove_model(model, use_known=False)
    tz = time.perf_counter() - t0
    by_id = {r.id: r for r in report.results}
    counts, diffs = {}, []
    t1 = time.perf_counter()
    for ob in obligations(model):
        v = decide_obligation(model, ob)
        counts[v.status] = counts.get(v.status, 0) + 1
        if (d := compare(by_id[ob.id], v)):
            diffs.append(f"{model.name}: {d}")
    return counts, diffs, tz, time.perf_counter() - t1


def random_chunk(seeds):
    total, diffs, tz, tb = {}, [], 0.0, 0.0
    for s in seeds:
        c, d, z, b = agree(random_model(s))
        for k, v in c.items():
            total[k] = total.get(k, 0) + v
        diffs += d
        tz += z
        tb += b
    return len(seeds), total, diffs, tz, tb


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--random", type=int, default=10000, help="random models (seeds START..START+N-1)")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--no-bundled", action="store_true")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    failed = False
    if args.random:
        t0 = time.perf_counter()
        step = max(1, args.random // (args.jobs * 8))
        chunks = [range(a, min(a + step, args.start + args.random)) for a in range(args.start, args.start + args.random, step)]
        with ProcessPoolExecutor(args.jobs) as pool:
            parts = list(pool.map(random_chunk, chunks))
        n = sum(p[0] for p in parts)
        counts: dict = {}
        for p in parts:
            for k, v in p[1].items():
                counts[k] = counts.get(k, 0) + v
        diffs = [d for p in parts for d in p[2]]
        print(f"random models {n} (seeds {args.start}..{args.start + n - 1}): {sum(counts.values())} obligations "
              f"{dict(sorted(counts.items()))}, {len(diffs)} disagreements, z3 {sum(p[3] for p in parts):.0f}s, "
              f"enumeration {sum(p[4] for p in parts):.0f}s, wall {time.perf_counter() - t0:.0f}s", flush=True)
        for d in diffs[:50]:
            print("   ", d)
        failed |= bool(diffs)
    if not args.no_bundled:
        for name, path in bundled_manifests().items():
            counts, diffs, tz, tb = agree(load_model(path))
            print(f"{name:28} {sum(counts.values()):5} obligations {dict(sorted(counts.items()))}, "
                  f"{len(diffs)} disagreements, z3 {tz:.1f}s, enumeration {tb:.1f}s", flush=True)
            for d in diffs:
                print("   ", d)
            failed |= bool(diffs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
