"""The polykfunc command line.

Exit codes (stable, also in ``polykfunc --help`` and docs/cli.md):

  0  everything as expected (proved, or only declared known bugs)
  1  a counterexample, a vacuous premise, or a declared known bug that no longer appears
  2  invalid input or usage (the message names the file, the place and a hint)
  3  some obligation ended unknown (resource limit) and nothing failed
  4  internal error: polykfunc contradicted itself (a bug in polykfunc; please report it)
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import click
from rich.console import Console

from polykfunc.errors import InternalError, PolykfuncError, SpecError, UsageError
from polykfunc.model import bundled_manifests, load_model, resolve_target
from polykfunc.model.spec import PROPERTIES

EXIT_OK, EXIT_FAIL, EXIT_INPUT, EXIT_UNKNOWN, EXIT_INTERNAL = 0, 1, 2, 3, 4

EPILOG = """\b
Exit codes:
  0  all as expected (proved, or only declared known bugs)
  1  counterexample, vacuous premise, or a known bug that no longer appears
  2  invalid input or usage
  3  unknown (resource limit) and no counterexample
  4  internal error (a bug in polykfunc)
"""


class _Group(click.Group):
    def main(self, *args, **kwargs):  # every PolykfuncError becomes a clear message, never a traceback
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.ClickException as e:
            e.show()
            sys.exit(EXIT_INPUT)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(EXIT_INPUT)
        except SpecError as e:
            click.echo(e.render(), err=True)
            sys.exit(EXIT_INPUT)
        except (UsageError, PolykfuncError) as e:
            if isinstance(e, InternalError):
                click.echo(f"polykfunc: internal error: {e}", err=True)
                sys.exit(EXIT_INTERNAL)
            click.echo(f"polykfunc: error: {e}", err=True)  # StoreError and other input errors
            sys.exit(EXIT_INPUT)
        except BrokenPipeError:  # output piped into `head` and the like: stop quietly
            try:
                sys.stdout = open(os.devnull, "w")
            finally:
                sys.exit(EXIT_FAIL)


@click.group(cls=_Group, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="polykfunc")
def cli():
    """Prove that polymorphic kfunc resolution never selects an implementation whose lock,
    CPU or context preconditions can be violated, or show a concrete counterexample."""


def _targets(targets: tuple[str, ...]) -> list[Path]:
    if not targets:
        return list(bundled_manifests().values())
    return [resolve_target(t) for t in targets]


def _prove_one(args):
    """Prove one model (in a worker process); with ``explain``, also build store entries.
    With a cache folder, unchanged obligations are reused from it (polykfunc.cache)."""
    path, properties, use_known, rlimit, explain, cache_dir = args
    from polykfunc.cache import CacheStats, ProofCache
    from polykfunc.prover import prove_model, store_entries
    model = load_model(path)
    cache = ProofCache(cache_dir) if cache_dir else None
    report = prove_model(model, properties=properties, use_known=use_known, rlimit=rlimit, cache=cache)
    stats = cache.stats if cache else CacheStats()
    return report, (store_entries(model, report, rlimit=rlimit) if explain else []), stats


@cli.command(epilog=EPILOG)
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
    from polykfunc.cache import DEFAULT_CACHE, CacheStats
    from polykfunc.results import exit_code
    from polykfunc.solver import DEFAULT_RLIMIT
    paths = _targets(targets)
    for p in paths:  # validate everything first: bad input stops the run before any proof
        load_model(p)
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
        for w in work:
            with err.status(f"proving {w[0]}…") if err.is_terminal else _null():
                rep, found, used = _prove_one(w)
                reports.append(rep)
                entries.extend(found)
                stats.merge(used)
    saved_to = None
    if entries:
        from polykfunc.store import DEFAULT_STORE, Store
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
        from polykfunc.render import console, print_report
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
    """Write the SARIF and JUnit files asked for (polykfunc.sarif, polykfunc.junit)."""
    if sarif_file:
        from polykfunc.sarif import write_sarif
        write_sarif(reports, sarif_file)
    if junit_file:
        from polykfunc.junit import write_junit
        write_junit(reports, junit_file)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


@cli.command(epilog=EPILOG)
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
    from polykfunc.render import console
    console().print(t)


@cli.command(epilog=EPILOG)
@click.argument("targets", nargs=-1, required=True)
def validate(targets):
    """Check that model files are valid, without proving anything."""
    for p in _targets(targets):
        m = load_model(p)
        click.echo(f"{m.name}: valid ({len(m.contexts)} contexts, {len(m.kfuncs)} kfuncs, "
                   f"{sum(len(k.impls) for k in m.kfuncs)} implementations, {len(m.files)} files)")


@cli.command(epilog=EPILOG)
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print the matrix as JSON.")
@click.option("--kfunc", "kfuncs", multiple=True, help="Only these kfuncs (repeatable).")
@click.option("--rlimit", type=click.IntRange(min=1), default=None, help="z3 resource limit per check.")
def matrix(target, as_json, kfuncs, rlimit):
    """The verdict matrix of TARGET: for each kfunc and context, allowed or denied, the
    implementation selected, and the proof status of the cell."""
    from polykfunc.matrix import build_matrix, render_matrix
    from polykfunc.solver import DEFAULT_RLIMIT
    m = load_model(resolve_target(target))
    for k in kfuncs:
        m.kfunc(k) if k in {x.name for x in m.kfuncs} else _unknown_kfunc(m, k)
    mat = build_matrix(m, kfuncs=kfuncs or None, rlimit=rlimit or DEFAULT_RLIMIT)
    if as_json:
        click.echo(json.dumps(mat.to_json(), indent=2))
    else:
        from polykfunc.render import console
        render_matrix(console(), mat)
    sys.exit(mat.exit_code)


def _unknown_kfunc(m, name):
    from polykfunc.errors import close_matches
    hint = close_matches(name, [k.name for k in m.kfuncs])
    raise UsageError(f"model {m.name} has no kfunc {name!r}" + (f"; {hint}" if hint else ""))


#: Modules that add commands: each defines ``COMMANDS``, a list of click commands or groups.
#: (One module per feature, so the core CLI stays small: counterexample explorer, fuzzing,
#: BPF programs and designs, reports.)
COMMAND_MODULES = ("polykfunc.cex_cli", "polykfunc.fuzz_cli", "polykfunc.prog_cli", "polykfunc.report_cli",
                   "polykfunc.kernel_cli")


def _register_subcommands() -> None:
    import importlib
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # the feature module is not there (yet): skip it
                continue
            raise
        for command in getattr(module, "COMMANDS", ()):
            cli.add_command(command)


_register_subcommands()


def main() -> None:
    cli.main(prog_name="polykfunc")


if __name__ == "__main__":  # pragma: no cover
    main()
