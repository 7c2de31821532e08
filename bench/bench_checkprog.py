"""check-prog on the shared corpus of real sched_ext objects: time per object (docs/performance.md).

    .venv/bin/python bench/bench_checkprog.py [CORPUS] [--repeat N] [--json OUT]

Each object is checked in a fresh process (`polykfunc check-prog OBJ --json`), as a user runs it:
the wall time includes Python start-up, model loading and reading the object; the check time is
the one the report gives (call graph, dataflow and z3 decisions). Best of N runs per object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXE = Path(sys.executable).parent / "polykfunc"


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
    args = ap.parse_args()
    if args.corpus is None or not args.corpus.is_dir():
        print("no corpus: pass its folder (../shared/corpus)", file=sys.stderr)
        return 2
    rows = []
    for obj in sorted(args.corpus.rglob("*.bpf.o")):
        best = None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            out = subprocess.run([str(EXE), "check-prog", str(obj), "--json"], capture_output=True, text=True)
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


if __name__ == "__main__":
    sys.exit(main())
