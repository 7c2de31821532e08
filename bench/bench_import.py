"""Speed of `polykfunc import-kernel` on a full kernel tree (docs/performance.md).

    .venv/bin/python bench/bench_import.py /work/kernel-src/linux-source-6.12 [--jobs 2]

Prints the wall time of the import (text prefilter + tree-sitter on the files that pass it,
in --jobs processes), of generating the model and of `drift sched_ext@v6.12`, and the counts.
Target: import <= 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("tree")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--model", default="sched_ext@v6.12")
    args = ap.parse_args()
    from polykfunc.kernel.drift import drift
    from polykfunc.kernel.generate import write_model
    from polykfunc.kernel.importer import import_tree
    from polykfunc.model import load_model, resolve_target

    t0 = time.perf_counter()
    inv = import_tree(args.tree, jobs=args.jobs)
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        write_model(inv.to_json(), d)
        t2 = time.perf_counter()
        load_model(d)
        t3 = time.perf_counter()
    diffs = drift(load_model(resolve_target(args.model)), inv)
    t4 = time.perf_counter()
    print(json.dumps({
        "tree": inv.tree.label, "jobs": args.jobs, "files_scanned": inv.tree.files_scanned,
        "files_parsed": inv.tree.files_parsed, "kfuncs": len(inv.kfuncs), "skipped": len(inv.skips),
        "import_s": round(t1 - t0, 2), "generate_s": round(t2 - t1, 2), "load_generated_s": round(t3 - t2, 2),
        "drift_s": round(t4 - t3, 2), "drift_differences": len(diffs)}, indent=1))


if __name__ == "__main__":
    main()
