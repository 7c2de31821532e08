"""check-prog on the shared corpus of real sched_ext objects: time per object (docs/performance.md).

    .venv/bin/python bench/bench_checkprog.py [CORPUS] [--repeat N] [--json OUT]
        [--one-process] [--only NAME] [--pythonpath DIR]

Each object is checked in a fresh process (`polykfunc check-prog OBJ --json`), as a user runs it:
the wall time includes Python start-up, model loading and reading the object; the check time is
the one the report gives (call graph, dataflow, z3 decisions, and the models check-prog loads on
the way: the older generated layer for version skew, the kernels that keep an alternative).
Best of N runs per object. ``--one-process``: the whole corpus in one process (a batch), best of
N. ``--only NAME``: objects whose path contains NAME. ``--pythonpath DIR``: run another checkout's
code (a folder holding a ``polykfunc`` package) to compare two versions in the same conditions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def find_corpus() -> Path | None:
    for parent in ROOT.parents:
        if (parent / "shared" / "corpus").is_dir():
            return parent / "shared" / "corpus"
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", type=Path, default=find_corpus())
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", type=Path, help="write the raw figures here")
    ap.add_argument("--one-process", action="store_true", help="the whole corpus in one process, best of N")
    ap.add_argument("--only", help="only objects whose path contains this")
    ap.add_argument("--pythonpath", type=Path, help="run the polykfunc package found in this folder")
    args = ap.parse_args()
    if args.corpus is None or not args.corpus.is_dir():
        print("no corpus: pass its folder (../shared/corpus)", file=sys.stderr)
        return 2
    env = dict(os.environ)
    if args.pythonpath:
        env["PYTHONPATH"] = str(args.pythonpath.resolve())
    if args.one_process:
        return one_process(args.corpus, args.repeat, env)
    rows = []
    for obj in sorted(args.corpus.rglob("*.bpf.o")):
        if args.only and args.only not in str(obj):
            continue
        best = None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "polykfunc", "check-prog", str(obj), "--json"],
                                 capture_output=True, text=True, env=env)
            wall = time.perf_counter() - t0
            data = json.loads(out.stdout)
            cur = (wall, data["seconds"], len(data["sites"]), data["exit_code"])
            best = cur if best is None or cur[0] < best[0] else best
        rows.append({"object": str(obj.relative_to(args.corpus)), "wall": round(best[0], 2),
                     "check": round(best[1], 2), "sites": best[2], "exit_code": best[3]})
        r = rows[-1]
        print(f"{r['object']:<48} {r['sites']:>5} sites  check {r['check']:>5.2f} s  wall {r['wall']:>5.2f} s"
              f"  exit {r['exit_code']}", flush=True)
    print(f"max check {max(r['check'] for r in rows):.2f} s, max wall {max(r['wall'] for r in rows):.2f} s, "
          f"total wall {sum(r['wall'] for r in rows):.1f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


_BATCH = """
import sys, time
from pathlib import Path
from polykfunc.programs.batch import check_paths, object_paths
from polykfunc.engine.solver import DEFAULT_RLIMIT
t0 = time.perf_counter()
res = check_paths(object_paths([Path(sys.argv[1])]), None, DEFAULT_RLIMIT)
n = sum(len(r.report.sites) for r in res if r.report)
nm = sum(1 for r in res if r.report for s in r.report.sites if s.verdict == "not modelled")
print(f"{time.perf_counter() - t0:.2f} {n} {nm}")
"""


def one_process(corpus: Path, repeat: int, env: dict) -> int:
    """check-prog on every object of ``corpus`` in one process (models loaded once), best of N."""
    best = None
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", _BATCH, str(corpus)], capture_output=True, text=True, env=env)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return 4
        secs, sites, missing = out.stdout.split()
        print(f"corpus in one process: {secs} s ({sites} sites, {missing} not modelled)", flush=True)
        best = float(secs) if best is None else min(best, float(secs))
    print(f"best of {repeat}: {best:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
