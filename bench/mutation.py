"""Mutation score of the checker on every bundled model (the figures of docs/fuzzing.md).

    .venv/bin/python bench/mutation.py [MODEL ...] [--per-operator N] [--json out.json]

Every single-fault mutant of each model (polykfunc.crosscheck.mutation) is decided by enumeration; each one
that is unsafe (a new failing safety obligation in some context) must be caught by z3.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from polykfunc.model import bundled_manifests, load_model  # noqa: E402
from polykfunc.crosscheck.mutation import OPERATORS, score  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", help="bundled model names (default: all)")
    ap.add_argument("--per-operator", type=int, default=None, help="sample at most N mutants per operator")
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args()
    names = args.models or list(bundled_manifests())
    rows, missed = [], 0
    t0 = time.perf_counter()
    for name in names:
        s = score(load_model(bundled_manifests()[name]), per_operator=args.per_operator)
        missed += len(s.missed)
        ops = s.by_operator()
        rows.append({"model": name, "made": s.made, "equivalent": s.equivalent, "unsafe": s.unsafe,
                     "caught": s.caught, "seconds": round(s.seconds, 1),
                     "operators": {op: dict(zip(("made", "equivalent", "caught"), ops.get(op, (0, 0, 0))))
                                   for op in OPERATORS},
                     "missed": [f"{r.mutant.description}: {r.reason}" for r in s.missed]})
        print(f"{name:28} made {s.made:5}  equivalent {s.equivalent:5}  unsafe {s.unsafe:5}  caught {s.caught:5}"
              f"  ({100.0 * s.caught / max(1, s.unsafe):.1f} %)  {s.seconds:.0f}s", flush=True)
        for r in s.missed:
            print(f"   MISSED {r.mutant.description}: {r.reason}", flush=True)
    print(f"total {sum(r['made'] for r in rows)} mutants, {sum(r['unsafe'] for r in rows)} unsafe, "
          f"{sum(r['caught'] for r in rows)} caught, {time.perf_counter() - t0:.0f}s")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
