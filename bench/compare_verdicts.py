"""Compare the verdicts of `polykfunc prove` before and after a change to the engine.

    .venv/bin/python bench/compare_verdicts.py --save before.json [TARGETS...]
    ... change the engine ...
    .venv/bin/python bench/compare_verdicts.py --against before.json [TARGETS...]

Runs `polykfunc prove --json --no-store --no-cache` (default targets: every bundled model) and
reduces the answer to what must not change: per model and obligation, the status, and the
sorted list of its counterexamples' (context, outcome, contexts of the runtime copies). It also
counts, for information, the counterexamples whose concrete values differ (those may change with
the order in which z3 meets constraints; their kind may not). With ``--against`` it prints every
difference and exits 1 if there is one, else 0. Exit 2 on a failed run.

A difference is only *explained* (printed, but not failing) when an obligation has the same
status and fails in the same contexts, and every counterexample saved before still replays on
today's model (``--against`` replays them): the context can reach both outcomes, and which one a
search reports is the solver's choice, not a verdict.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

EXE = Path(sys.executable).with_name("polykfunc")


def run(targets: list[str]) -> dict:
    proc = subprocess.run([str(EXE), "prove", "--json", "--no-store", "--no-cache", *targets],
                          capture_output=True, text=True)
    if proc.returncode not in (0, 1, 3):
        sys.exit(f"prove failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def verdicts(data: dict) -> dict:
    """model -> obligation id -> {"status", "cex": [[context, outcome, copy contexts]], "values": [...]}."""
    out: dict = {}
    for rep in data["reports"]:
        obs = {}
        for o in rep["obligations"]:
            kinds = sorted([c["context"], c["outcome"], [k["context"] for k in c.get("copies") or ()]]
                           for c in o["counterexamples"])
            values = sorted(json.dumps(c["values"], sort_keys=True) for c in o["counterexamples"])
            obs[o["id"]] = {"status": o["status"], "cex": kinds, "values": values,
                            "counterexamples": o["counterexamples"]}
        out[rep["model"]] = {"status": rep["status"], "missing_known_bugs": rep["missing_known_bugs"],
                             "obligations": obs, "path": rep["path"]}
    return out


def _still_replays(path: str, cexs: list[dict]) -> bool:
    from polykfunc.counterexamples.store import counterexample_from_json
    from polykfunc.engine.replay import replay_problems
    from polykfunc.model import load_model
    model = load_model(Path(path))
    return all(not replay_problems(model, counterexample_from_json(c)) for c in cexs)


def compare(before: dict, after: dict, explained: list[str] | None = None) -> tuple[list[str], int]:
    """The differences that matter (as lines) and the number of counterexamples whose values moved.
    Outcome differences a replay explains are appended to ``explained`` instead."""
    diffs: list[str] = []
    moved = 0
    for model in sorted(set(before) | set(after)):
        b, a = before.get(model), after.get(model)
        if b is None or a is None:
            diffs.append(f"{model}: only {'after' if b is None else 'before'}")
            continue
        for key in ("status", "missing_known_bugs"):
            if b[key] != a[key]:
                diffs.append(f"{model}: {key} {b[key]!r} -> {a[key]!r}")
        bo, ao = b["obligations"], a["obligations"]
        for oid in sorted(set(bo) | set(ao)):
            x, y = bo.get(oid), ao.get(oid)
            if x is None or y is None:
                diffs.append(f"{model} {oid}: only {'after' if x is None else 'before'}")
                continue
            if x["status"] != y["status"]:
                diffs.append(f"{model} {oid}: status {x['status']} -> {y['status']}")
            if x["cex"] != y["cex"]:
                line = f"{model} {oid}: counterexamples {x['cex']} -> {y['cex']}"
                same_contexts = [c[0] for c in x["cex"]] == [c[0] for c in y["cex"]]
                if (explained is not None and same_contexts and x["status"] == y["status"]
                        and _still_replays(a["path"], x["counterexamples"])):
                    explained.append(line + " (the old counterexamples still replay: another reachable outcome)")
                else:
                    diffs.append(line)
            elif x["values"] != y["values"]:
                moved += len(set(x["values"]) ^ set(y["values"])) // 2 or 1
    return diffs, moved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("targets", nargs="*")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--save", type=Path, help="write the verdicts here")
    g.add_argument("--against", type=Path, help="compare with verdicts saved earlier")
    args = ap.parse_args()
    now = verdicts(run(args.targets))
    if args.save:
        args.save.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        n = sum(len(m["obligations"]) for m in now.values())
        print(f"saved the verdicts of {n} obligations in {len(now)} models to {args.save}")
        return
    explained: list[str] = []
    diffs, moved = compare(json.loads(args.against.read_text()), now, explained)
    n = sum(len(m["obligations"]) for m in now.values())
    for d in diffs:
        print("DIFFERENT", d)
    for d in explained:
        print("explained", d)
    print(f"{n} obligations in {len(now)} models: {len(diffs)} differences in status or counterexample "
          f"kind; {len(explained)} explained outcome choices; {moved} counterexamples of the same kind "
          "with other concrete values")
    sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
