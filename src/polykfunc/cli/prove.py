"""`polykfunc prove`, `models`, `validate` and `matrix`: the proofs of bundled and user models."""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import click
from rich.console import Console

from polykfunc.errors import UsageError
from polykfunc.model import bundled_manifests, load_model, resolve_target
from polykfunc.model.spec import PROPERTIES

from .common import EPILOG


def _targets(targets: tuple[str, ...]) -> list[Path]:
    if not targets:
        return list(bundled_manifests().values())
    return [resolve_target(t) for t in targets]


def _prove_one(args, model=None):
    """Prove one model (in a worker process, which loads it; or here, with the model already
    loaded); with ``explain``, also build store entries. With a cache folder, unchanged
    obligations are reused from it (polykfunc.engine.cache)."""
    path, properties, use_known, rlimit, explain, cache_dir = args
    from polykfunc.engine.cache import CacheStats, ProofCache
    from polykfunc.engine.prover import prove_model
    from polykfunc.counterexamples.store import store_entries
    model = model if model is not None else load_model(path)
    cache = ProofCache(cache_dir) if cache_dir else None
    report = prove_model(model, properties=properties, use_known=use_known, rlimit=rlimit, cache=cache)
    stats = cache.stats if cache else CacheStats()
    return report, (store_entries(model, report, rlimit=rlimit) if explain else []), stats


@click.command(epilog=EPILOG)
@click.argument("targets", nargs=-1)
@click.option("--property", "properties", multiple=True, type=click.Choice(PROPERTIES),
              help="Prove only this property (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON on stdout, nothing else there.")
@click.option("--no-known", is_flag=True, help="Ignore the models' known-bug declarations.")
@click.option("--rlimit", type=click.IntRange(min=1), default=None,
              help="z3 resource limit per check (deterministic; default 20000000).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Models proved in parallel (default: number of CPUs).")
@click.option("-v", "--verbose", is_flag=True, help="Also show notes.")
@click.option("--store", "store_dir", type=click.Path(file_okay=False), default=None,
              help="Save counterexamples here (default: .polykfunc/counterexamples).")
@click.option("--no-store", is_flag=True, help="Do not save counterexamples.")
@click.option("--sarif", "sarif_file", type=click.Path(dir_okay=False), default=None,
              help="Also write the results as SARIF 2.1.0 to this file (GitHub code scanning).")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False), default=None,
              help="Also write the results as JUnit XML to this file (one test case per obligation).")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Reuse unchanged obligations' results from here (default: .polykfunc/cache).")
@click.option("--no-cache", is_flag=True, help="Solve every obligation; neither read nor write the cache.")
def prove(targets, properties, as_json, no_known, rlimit, jobs, verbose, store_dir, no_store,
          sarif_file, junit_file, cache_dir, no_cache):
    """Prove the properties of TARGET models (bundled names or paths; default: all bundled)."""
    from polykfunc.engine.cache import DEFAULT_CACHE, CacheStats
    from polykfunc.engine.results import exit_code
    from polykfunc.engine.solver import DEFAULT_RLIMIT
    paths = _targets(targets)
    loaded = [load_model(p) for p in paths]  # validate everything first: bad input stops the run before any proof
    props = list(properties) or None
    cache_root = None if no_cache else str(cache_dir or DEFAULT_CACHE)
    work = [(p, props, not no_known, rlimit or DEFAULT_RLIMIT, not no_store, cache_root) for p in paths]
    stats = CacheStats()
    err = Console(stderr=True)
    jobs = jobs or min(len(work), os.cpu_count() or 1)
    reports = []
    entries = []
    if jobs > 1 and len(work) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            with err.status("proving…") if err.is_terminal else _null():
                for rep, found, used in pool.map(_prove_one, work):
                    reports.append(rep)
                    entries.extend(found)
                    stats.merge(used)
                    if err.is_terminal:
                        err.print(f"[dim]{rep.model}: done in {rep.seconds:.2f}s[/dim]")
    else:
        for w, model in zip(work, loaded):   # one process: prove the models already loaded
            with err.status(f"proving {w[0]}…") if err.is_terminal else _null():
                rep, found, used = _prove_one(w, model)
                reports.append(rep)
                entries.extend(found)
                stats.merge(used)
    saved_to = None
    if entries:
        from polykfunc.counterexamples.store import DEFAULT_STORE, Store
        store = Store(store_dir or DEFAULT_STORE)
        for e in entries:
            store.save(e)
        saved_to = str(store.root)
    _write_ci_outputs(reports, sarif_file, junit_file)
    if as_json:
        click.echo(json.dumps({"reports": [r.to_json() for r in reports], "exit_code": exit_code(reports),
                               "store": saved_to, "cache": stats.to_json() if cache_root else None},
                              indent=2))
    else:
        from polykfunc.report.terminal import console, print_report
        out = console()
        print_report(out, reports, verbose=verbose)
        if saved_to:
            out.print(f"\n{len(entries)} counterexample(s) saved in {saved_to}: `polykfunc cex list` lists them, "
                      "`polykfunc cex show ID` explains one.", highlight=False, markup=False)
        if cache_root and (stats.hits or stats.stored):
            out.print(f"proof cache {cache_root}: {stats.hits} obligation(s) reused, {stats.misses} solved"
                      + (f" ({stats.stale} stale)" if stats.stale else "") + "; --no-cache solves everything",
                      highlight=False, markup=False)
    for problem in stats.unreadable:
        click.echo(f"polykfunc: warning: proof cache: {problem} (ignored; the obligations were solved)", err=True)
    sys.exit(exit_code(reports))


def _write_ci_outputs(reports, sarif_file, junit_file) -> None:
    """Write the SARIF and JUnit files asked for (polykfunc.report.sarif, polykfunc.report.junit)."""
    if sarif_file:
        from polykfunc.report.sarif import write_sarif
        write_sarif(reports, sarif_file)
    if junit_file:
        from polykfunc.report.junit import write_junit
        write_junit(reports, junit_file)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


@click.command(epilog=EPILOG)
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def models(as_json):
    """List the bundled models with their kernel version and counts."""
    rows = []
    for name, path in bundled_manifests().items():
        m = load_model(path)
        rows.append({"name": name, "kernel": m.kernel, "commit": m.commit, "subsystem": m.subsystem,
                     "contexts": len(m.contexts), "kfuncs": len(m.kfuncs),
                     "implementations": sum(len(k.impls) for k in m.kfuncs),
                     "known_bugs": len(m.known_bugs), "description": m.description,
                     "path": str(path.parent)})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table
    t = Table(show_edge=False, pad_edge=False)
    for col in ("name", "kernel", "contexts", "kfuncs", "implementations", "known_bugs", "description"):
        t.add_column(col.replace("_", " "), justify="right" if col in ("contexts", "kfuncs", "implementations", "known_bugs") else "left")
    for r in rows:
        t.add_row(r["name"], r["kernel"], str(r["contexts"]), str(r["kfuncs"]), str(r["implementations"]),
                  str(r["known_bugs"]), r["description"])
    from polykfunc.report.terminal import console
    console().print(t)


@click.command(epilog=EPILOG)
@click.argument("targets", nargs=-1, required=True)
def validate(targets):
    """Check that model files are valid, without proving anything."""
    for p in _targets(targets):
        m = load_model(p)
        click.echo(f"{m.name}: valid ({len(m.contexts)} contexts, {len(m.kfuncs)} kfuncs, "
                   f"{sum(len(k.impls) for k in m.kfuncs)} implementations, {len(m.files)} files)")


@click.command(epilog=EPILOG)
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print the matrix as JSON.")
@click.option("--kfunc", "kfuncs", multiple=True, help="Only these kfuncs (repeatable).")
@click.option("--rlimit", type=click.IntRange(min=1), default=None, help="z3 resource limit per check.")
def matrix(target, as_json, kfuncs, rlimit):
    """The verdict matrix of TARGET: for each kfunc and context, allowed or denied, the
    implementation selected, and the proof status of the cell."""
    from polykfunc.engine.matrix import build_matrix
    from polykfunc.report.terminal import render_matrix
    from polykfunc.engine.solver import DEFAULT_RLIMIT
    m = load_model(resolve_target(target))
    for k in kfuncs:
        m.kfunc(k) if k in {x.name for x in m.kfuncs} else _unknown_kfunc(m, k)
    mat = build_matrix(m, kfuncs=kfuncs or None, rlimit=rlimit or DEFAULT_RLIMIT)
    if as_json:
        click.echo(json.dumps(mat.to_json(), indent=2))
    else:
        from polykfunc.report.terminal import console
        render_matrix(console(), mat)
    sys.exit(mat.exit_code)


def _unknown_kfunc(m, name):
    from polykfunc.errors import close_matches
    hint = close_matches(name, [k.name for k in m.kfuncs])
    raise UsageError(f"model {m.name} has no kfunc {name!r}" + (f"; {hint}" if hint else ""))


#: the commands this module adds to `polykfunc` (see polykfunc.cli.main.COMMAND_MODULES)
COMMANDS = [prove, models, validate, matrix]
