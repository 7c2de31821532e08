"""Benchmark: `polykfunc report` on the three sched_ext versions (issue 13: <= 5 s).

Run with `.venv/bin/python bench/bench_report.py [--runs N]`. It times the CLI end to end
(process start-up, loading, proving through the cache, matrix, explanations, structure,
version diffs and HTML), as a reviewer runs it:

    polykfunc report sched_ext@v6.12 sched_ext@v7.1 sched_ext@newest -o review.html

once with an empty proof cache (a fresh checkout) and then warm (the default
.polykfunc/cache already filled), best of N each, and records wall time, the CPU time of the
process and its workers, and the report's size. The machine is shared: CPU time is the
steadier figure, wall time is what the target is about. Writes bench/report_results.json;
docs/performance.md records the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXE = Path(sys.executable).with_name("polykfunc")
TARGETS = ("sched_ext@v6.12", "sched_ext@v7.1", "sched_ext@newest")


def run_report(workdir: Path, out: Path, extra: tuple[str, ...] = ()) -> dict:
    """One `polykfunc report` in ``workdir``: wall and CPU seconds, exit code, size."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run([str(EXE), "report", *TARGETS, *extra, "-o", str(out)], cwd=workdir, capture_output=True,
                       text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"report exited {p.returncode}:\n{p.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "bytes": out.stat().st_size}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3, help="runs of each case (best is kept)")
    ap.add_argument("--no-oracle", action="store_true",
                    help="pass --no-oracle (the default runs the command as the issue does: with the "
                         "oracle section when this process may load BPF programs)")
    args = ap.parse_args()
    extra = ("--no-oracle",) if args.no_oracle else ()
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "load_before": round(os.getloadavg()[0], 2)}, "targets": list(TARGETS),
                     "options": list(extra)}
    for case in ("cold cache", "warm cache"):
        runs = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="pkf-report-") as tmp:
                work = Path(tmp)
                if case == "warm cache":
                    run_report(work, work / "fill.html", extra)
                runs.append(run_report(work, work / "review.html", extra))
        best = min(runs, key=lambda r: r["wall_s"])
        results[case] = {"best": best, "runs": runs}
        print(f"{case:11s}  wall {best['wall_s']:6.2f} s  cpu {best['cpu_s']:6.2f} s  "
              f"{best['bytes'] / 1024:,.0f} KiB   (runs: {', '.join(str(r['wall_s']) for r in runs)})")
    results["machine"]["load_after"] = round(os.getloadavg()[0], 2)
    name = "report_results_no_oracle.json" if args.no_oracle else "report_results.json"
    (ROOT / "bench" / name).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
