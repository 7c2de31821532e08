"""Benchmark: time `prove` on the bundled models and on synthetic models scaled up.

Run with `make bench` (or `.venv/bin/python bench/bench_prove.py [--quick]`). It prints a table
and writes bench/results.json; docs/performance.md records the figures with the machine.

Targets (issue 2): all bundled models <= 10 s wall on 2 cores; median obligation <= 5 ms;
cost growing linearly with the number of obligations.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "model" / "bundled" / "common" / "core.toml"


def synthetic_model(folder: Path, contexts: int, kfuncs: int, impls: int) -> Path:
    """A model with ``contexts`` ops, ``kfuncs`` kfuncs of ``impls`` implementations each.

    Context i holds its own rq when i is even and nothing when odd; the kernel tracks the
    held rq; implementation j of a kfunc needs (j even) the own rq or (j odd) no rq lock, and
    the selector picks by the tracked rq, so every obligation proves.
    """
    folder.mkdir(parents=True, exist_ok=True)
    members = [f"op{i}" for i in range(contexts)]
    out = [
        "[model]", f'name = "synthetic@{contexts}x{kfuncs}x{impls}"', 'kernel = "synthetic"',
        f'include = ["{os.path.relpath(CORE, folder)}"]', "",
        "[vars.view.member]", 'type = "enum"', f"values = {['none'] + members}", "",
        "[vars.tracked.locked_rq]", 'type = "int"', "range = [-1, 3]", "",
    ]
    for i, m in enumerate(members):
        lock = "own_rq_held" if i % 2 == 0 else "state.locked_rq == -1"
        out += [f"[context.{m}]", f'source = "synthetic: {m}"',
                f"view = [\"view.prog_type == 'STRUCT_OPS'\", \"view.member == '{m}'\"]",
                f'facts = ["{lock}", "tracked.locked_rq == state.locked_rq", "state.exec == \'task\'"]', ""]
    for k in range(kfuncs):
        name = f"kf{k}"
        allowed = [m for i, m in enumerate(members) if (i + k) % 3 != 0]
        out += [f"[kfunc.{name}]", f'source = "synthetic: {name}"',
                f'allow = "view.member in {allowed}"', f'registered = "view.member in {allowed}"']
        out += ['in_force = "resolver"', ""] if impls == 2 else [""]
        for j in range(impls):
            req = "own_rq_held" if j % 2 == 0 or j >= 2 else "state.locked_rq == -1"
            out += [f"[[kfunc.{name}.impl]]", f'name = "i{j}"', f'requires = ["{req}"]', ""]
        if impls > 1:
            held = "view.member in " + str([m for i, m in enumerate(members) if i % 2 == 0])
            even_allowed = [m for i, m in enumerate(members) if i % 2 == 0 and m in allowed]
            for j in range(2, impls):  # extra implementations: one even (rq-holding) member each
                out += [f"[[kfunc.{name}.resolve]]", f"when = \"view.member == '{even_allowed[j - 2]}'\"",
                        f'select = "i{j}"', ""]
            for j in range(2):
                cond = held if j % 2 == 0 else f"not ({held})"
                out += [f"[[kfunc.{name}.resolve]]", f'when = "{cond}"', f'select = "i{j}"', ""]
            if impls == 2:  # the runtime selector, checked for refinement
                out += [f"[[kfunc.{name}.select]]", "when = \"tracked.locked_rq != -1\"", 'select = "i0"', "",
                        f"[[kfunc.{name}.select]]", 'when = "true"', 'select = "i1"', ""]
    (folder / "model.toml").write_text("\n".join(out))
    return folder


def run_prove(paths: list[Path], jobs: int) -> tuple[float, dict]:
    exe = ROOT / ".venv" / "bin" / "polykfunc"
    t0 = time.perf_counter()
    proc = subprocess.run([str(exe), "prove", "--json", "--no-store", "-j", str(jobs), *map(str, paths)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"prove failed ({proc.returncode}): {proc.stderr}")
    return wall, json.loads(proc.stdout)


def obligation_times(data: dict) -> list[float]:
    return [o["seconds"] for r in data["reports"] for o in r["obligations"]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller synthetic sizes")
    args = ap.parse_args()
    results: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                 "python": platform.python_version()}}
    wall, data = run_prove([], jobs=os.cpu_count() or 1)
    times = obligation_times(data)
    results["bundled"] = {
        "wall_seconds": round(wall, 2), "obligations": len(times),
        "median_obligation_ms": round(statistics.median(times) * 1000, 2),
        "p95_obligation_ms": round(sorted(times)[int(len(times) * 0.95)] * 1000, 2),
        "per_model": {r["model"]: {"seconds": r["seconds"], "obligations": len(r["obligations"])}
                      for r in data["reports"]},
    }
    print(f"bundled: {wall:.2f}s wall, {len(times)} obligations, "
          f"median {results['bundled']['median_obligation_ms']} ms")
    if args.quick:
        sizes = [(8, 10, 2), (16, 20, 2)]
    else:
        sizes = [(32, k, 2) for k in (20, 40, 80, 160, 320)]          # kfuncs only: obligations grow
        sizes += [(c, 40, 2) for c in (8, 16, 64, 128)]               # contexts only: each obligation grows
        sizes += [(16, 20, 3), (16, 20, 4)]                           # more implementations
    scaled = []
    with tempfile.TemporaryDirectory() as tmp:
        for c, k, i in sizes:
            path = synthetic_model(Path(tmp) / f"s{c}_{k}_{i}", c, k, i)
            w, d = run_prove([path], jobs=1)
            t = obligation_times(d)
            rep = d["reports"][0]
            row = {"contexts": c, "kfuncs": k, "impls": i, "obligations": len(t),
                   "prove_seconds": rep["seconds"], "wall_seconds": round(w, 2),
                   "median_obligation_ms": round(statistics.median(t) * 1000, 2),
                   "ms_per_obligation": round(rep["seconds"] / len(t) * 1000, 2),
                   "status": rep["status"]}
            scaled.append(row)
            print(f"synthetic {c:3d} contexts x {k:3d} kfuncs x {i} impls: {len(t):5d} obligations "
                  f"{rep['seconds']:7.2f}s  median {row['median_obligation_ms']} ms  "
                  f"{row['ms_per_obligation']} ms/obligation  ({rep['status']})")
    results["synthetic"] = scaled
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
