"""Benchmark: time `prove` on the bundled models and on synthetic models scaled up.

Run with `make bench` (or `.venv/bin/python bench/bench_prove.py [--quick]`). It prints a table
and writes bench/results.json; docs/performance.md records the figures with the machine.

Targets (issue 2): all bundled models <= 10 s wall on 2 cores; median obligation <= 5 ms;
cost growing linearly with the number of obligations. Issue 10: the cost of an obligation does
not grow with the number of contexts; 300 contexts x 1000 kfuncs <= 30 s on 2 cores
(`--contexts` runs only those points, `--repeat 3` keeps the best of three runs).
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


REGIONS = {"none": [], "spin": ["view.in_spin_lock"], "rcu": ["view.in_rcu"],
           "preempt": ["view.in_preempt_off"], "irq": ["view.in_irq_off"]}
SUBPROGS = ["main", "global", "async_cb"]


def generic_model(folder: Path, prog_types: int, attach: int, kfuncs: int) -> Path:
    """A model shaped like the generated generic layer (model/bundled/kernel): contexts are
    program types x attach kinds x sleepable x regions (none, spin, rcu, preempt, irq) x
    subprogram kinds (main, global, async_cb), so ``prog_types * attach * 30`` contexts, each
    pinning its whole view. Kfuncs sit in kfunc sets registered for a few program types each;
    every 4th is KF_SLEEPABLE (a resolver rejects it outside a sleepable, region-free body and
    its implementation needs ``state.may_sleep``); every 10th has two implementations that a
    load-time resolver picks by the same rule; every 7th is DESTRUCTIVE and a filter denies it
    in async callbacks. The axioms tie ``state.may_sleep`` to the view, so everything proves.
    """
    folder.mkdir(parents=True, exist_ok=True)
    types = [f"PT{i}" for i in range(prog_types)]
    kinds = [f"at{i}" for i in range(attach)]
    no_region = "not (view.in_spin_lock or view.in_rcu or view.in_preempt_off or view.in_irq_off)"
    can_sleep = f"view.sleepable and {no_region} and view.subprog != 'async_cb'"
    out = [
        "[model]", f'name = "generic@{prog_types * attach * 30}x{kfuncs}"', 'kernel = "synthetic"',
        f'include = ["{os.path.relpath(CORE, folder)}"]', "",
        "[vars.view.ptype]", 'type = "enum"', f"values = {types}", "",
        "[vars.view.attach]", 'type = "enum"', f"values = {kinds}", "",
        "[[axiom]]", 'name = "sleepable-body-may-sleep"', f'expr = "state.may_sleep == ({can_sleep})"',
        'source = "synthetic: kernel/bpf/verifier.c in_sleepable"', "",
        "[[axiom]]", 'name = "rcu-region-is-real"', 'expr = "implies(view.in_rcu, state.rcu)"',
        'source = "synthetic: kernel/bpf/helpers.c bpf_rcu_read_lock"', "",
    ]
    for t in types:
        for a in kinds:
            for sleepable in (False, True):
                for region, on in REGIONS.items():
                    for sub in SUBPROGS:
                        name = f"{t}_{a}_{'s' if sleepable else 'ns'}_{region}_{sub}".lower()
                        view = [f"view.ptype == '{t}'", f"view.attach == '{a}'",
                                "view.sleepable" if sleepable else "not view.sleepable",
                                f"view.subprog == '{sub}'"]
                        view += [b if b in on else f"not {b}" for r in REGIONS.values() for b in r]
                        exe = "task" if sleepable else ("softirq" if types.index(t) % 2 else "task")
                        out += [f"[context.{name}]", f'source = "synthetic: {name}"', f"view = {view}",
                                f"facts = [\"state.exec == '{exe}'\"]", ""]
    sets = max(1, kfuncs // 10)
    for j in range(sets):
        members = [t for i, t in enumerate(types) if (i + j) % 3 != 0] or types[:1]
        reg = f"view.ptype in {members}"
        out += [f"[kfunc_set.set{j}]", f'registered = "{reg}"', f'allow = "{reg}"', f'source = "synthetic: set{j}"', ""]
    out += ["[[filter]]", 'name = "destructive_not_async"', 'applies = "flag.DESTRUCTIVE"', 'default = "allow"',
            'source = "synthetic: a filter"', "", "[[filter.rule]]", "when = \"view.subprog == 'async_cb'\"",
            'verdict = "deny"', 'source = "synthetic: a filter rule"', ""]
    for k in range(kfuncs):
        name, j = f"gk{k}", k % sets
        members = [t for i, t in enumerate(types) if (i + j) % 3 != 0] or types[:1]
        sleepable, poly, destructive = k % 4 == 0, k % 10 == 5, k % 7 == 3
        flags = (["SLEEPABLE"] if sleepable else []) + (["DESTRUCTIVE"] if destructive else [])
        allow = f"view.ptype in {members}" + (f" and {can_sleep}" if sleepable else "") \
            + (" and view.subprog != 'async_cb'" if destructive else "")
        out += [f"[kfunc.{name}]", f'sets = ["set{j}"]', f"flags = {flags}", f'source = "synthetic: {name}"',
                f'allow = "{allow}"', ""]
        if sleepable:
            out += [f"[[kfunc.{name}.resolve]]", f'when = "not ({can_sleep})"', 'select = "reject"', "",
                    f"[[kfunc.{name}.resolve]]", 'when = "true"', 'select = "call"', "",
                    f"[[kfunc.{name}.impl]]", 'name = "call"', 'requires = ["state.may_sleep"]', ""]
        elif poly:
            out += [f"[[kfunc.{name}.resolve]]", f'when = "{can_sleep}"', 'select = "may_sleep"', "",
                    f"[[kfunc.{name}.resolve]]", 'when = "true"', 'select = "atomic"', "",
                    f"[[kfunc.{name}.impl]]", 'name = "may_sleep"', 'requires = ["state.may_sleep"]', "",
                    f"[[kfunc.{name}.impl]]", 'name = "atomic"', 'requires = ["not state.may_sleep"]', ""]
        else:
            out += [f"[[kfunc.{name}.impl]]", 'name = "call"', "requires = [\"state.exec != 'nmi'\"]", ""]
    (folder / "model.toml").write_text("\n".join(out))
    return folder


def run_prove(paths: list[Path], jobs: int) -> tuple[float, dict]:
    exe = ROOT / ".venv" / "bin" / "polykfunc"
    t0 = time.perf_counter()
    # --no-cache: the figures are what solving costs (bench_cache.py measures the cache)
    proc = subprocess.run([str(exe), "prove", "--json", "--no-store", "--no-cache", "-j", str(jobs), *map(str, paths)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"prove failed ({proc.returncode}): {proc.stderr}")
    return wall, json.loads(proc.stdout)


def obligation_times(data: dict) -> list[float]:
    return [o["seconds"] for r in data["reports"] for o in r["obligations"]]


def _row(kind: str, c: int, k: int, i: int, path: Path, repeat: int) -> dict:
    """Prove one synthetic model ``repeat`` times on one core; the best run's figures."""
    best = None
    for _ in range(repeat):
        w, d = run_prove([path], jobs=1)
        if best is None or d["reports"][0]["seconds"] < best[1]["reports"][0]["seconds"]:
            best = (w, d)
    w, d = best  # type: ignore[misc]
    t = obligation_times(d)
    rep = d["reports"][0]
    return {"shape": kind, "contexts": c, "kfuncs": k, "impls": i, "obligations": len(t),
            "prove_seconds": rep["seconds"], "wall_seconds": round(w, 2),
            "median_obligation_ms": round(statistics.median(t) * 1000, 2),
            "ms_per_obligation": round(rep["seconds"] / len(t) * 1000, 2),
            "status": rep["status"], "runs": repeat}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller synthetic sizes")
    ap.add_argument("--contexts", action="store_true",
                    help="only the many-contexts points of issue 10 (64x400, 128x400, 300x1000, generic 300x1000)")
    ap.add_argument("--repeat", type=int, default=1, help="prove each synthetic model this often; keep the best")
    args = ap.parse_args()
    results: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                 "python": platform.python_version(), "load": os.getloadavg()}}
    if not args.contexts:
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
        generic = [(1, 1, 40)]
    elif args.contexts:
        sizes = [(64, 400, 2), (128, 400, 2), (300, 1000, 2)]
        generic = [(5, 2, 1000)]
    else:
        sizes = [(32, k, 2) for k in (20, 40, 80, 160, 320)]          # kfuncs only: obligations grow
        sizes += [(c, 40, 2) for c in (8, 16, 64, 128)]               # contexts only: each obligation grows
        sizes += [(16, 20, 3), (16, 20, 4)]                           # more implementations
        sizes += [(64, 400, 2), (128, 400, 2), (300, 1000, 2)]        # issue 10: many contexts and kfuncs
        generic = [(5, 2, 1000)]                                      # issue 10: the generic layer's shape
    scaled = []
    with tempfile.TemporaryDirectory() as tmp:
        for c, k, i in sizes:
            row = _row("sched_ext", c, k, i, synthetic_model(Path(tmp) / f"s{c}_{k}_{i}", c, k, i), args.repeat)
            scaled.append(row)
            print(f"synthetic {c:3d} contexts x {k:4d} kfuncs x {i} impls: {row['obligations']:5d} obligations "
                  f"{row['prove_seconds']:7.2f}s (wall {row['wall_seconds']:.2f}s)  median {row['median_obligation_ms']} ms  "
                  f"{row['ms_per_obligation']} ms/obligation  ({row['status']})")
        for p, a, k in generic:
            c = p * a * 30
            row = _row("generic", c, k, 1, generic_model(Path(tmp) / f"g{p}_{a}_{k}", p, a, k), args.repeat)
            scaled.append(row)
            print(f"generic   {c:3d} contexts x {k:4d} kfuncs: {row['obligations']:5d} obligations "
                  f"{row['prove_seconds']:7.2f}s (wall {row['wall_seconds']:.2f}s)  median {row['median_obligation_ms']} ms  "
                  f"{row['ms_per_obligation']} ms/obligation  ({row['status']})")
    results["synthetic"] = scaled
    out = ROOT / "bench" / ("results_contexts.json" if args.contexts else "results.json")
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
