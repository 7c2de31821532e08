"""Commands about programs and designs: check-prog, nesting, locks, compare-designs.

Registered by :mod:`polykfunc.cli` through ``COMMANDS`` (docs/programs.md, docs/designs.md).
Each command is thin: read the input, call :mod:`polykfunc.programs`, print, exit with the
codes of ``prove``: 0 as expected, 1 a counterexample, 2 invalid input, 3 unknown, 4 internal.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from polykfunc.errors import SpecError, UsageError

from .common import EXIT_OK, EXIT_FAIL, EXIT_INPUT, EXIT_UNKNOWN

EPILOG = """\b
Exit codes:
  0  all as expected (clean, proved, or only declared known bugs)
  1  a counterexample (an unsafe or refused call, a self-deadlock, a lock cycle)
  2  invalid input (not a BPF object, unknown model)
  3  unknown (resource limit) and no counterexample
  4  internal error (a bug in polykfunc)
"""


def _user_errors(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            code = fn(*args, **kwargs)
        except SpecError as e:
            click.echo(e.render(), err=True)
            sys.exit(EXIT_INPUT)
        except UsageError as e:
            click.echo(f"polykfunc: error: {e}", err=True)
            sys.exit(EXIT_INPUT)
        sys.exit(code or EXIT_OK)
    return run


def _model(name: str):
    from polykfunc.model import load_model, resolve_target
    return load_model(resolve_target(name))


def _echo(lines) -> None:
    click.echo("\n".join(lines))


@click.command("check-prog", epilog=EPILOG)
@click.argument("objs", metavar="FILE.bpf.o|DIR...", nargs=-1, required=True)
@click.option("--model", "model_name", metavar="NAME",
              help="The kernel model to check against (a bundled name or a path). Default, per object: the "
                   "newest sched_ext model whose kernel has every non-weak kfunc the object calls.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout, nothing else there.")
@click.option("--sarif", "sarif_path", metavar="FILE", help="Also write SARIF 2.1.0 (code scanning) to FILE.")
@click.option("--rlimit", type=click.IntRange(min=1), default=None, help="z3 resource limit per check.")
@click.option("-v", "--verbose", is_flag=True, help="Also the facts of each context and the counterexamples.")
@_user_errors
def check_prog(objs, model_name, as_json, sarif_path, rlimit, verbose):
    """Check every kfunc call site of compiled BPF objects (files, or folders of *.o) in every
    context that reaches it. Several objects: one report each, then one summary table."""
    from polykfunc.programs.batch import batch_exit, check_paths, object_paths, summary_lines
    from polykfunc.programs.render import program_lines
    from polykfunc.engine.solver import DEFAULT_RLIMIT
    paths = object_paths(objs)
    if model_name is not None:
        _model(model_name)   # a bad name is a usage error before any object is read
    import time
    t0 = time.perf_counter()
    results = check_paths(paths, model_name, rlimit or DEFAULT_RLIMIT)
    spent = time.perf_counter() - t0
    single = len(results) == 1 and len(objs) == 1 and not Path(objs[0]).is_dir()
    if single and results[0].report is None:
        raise UsageError(results[0].error)
    if sarif_path:
        from polykfunc.report.program_sarif import write_sarif
        write_sarif(results, sarif_path)
    code = batch_exit(results)
    if as_json:
        payload = results[0].to_json() if single else {
            "objects": [r.to_json() for r in results], "exit_code": code}
        click.echo(json.dumps(payload, indent=2))
        return code
    for r in results:
        if r.report is None:
            click.echo(f"polykfunc: error: {r.error}")
            continue
        if r.why:
            click.echo(f"model: {r.model} ({r.why})")
        _echo(program_lines(r.report, verbose))
    if not single:
        click.echo("")
        _echo(summary_lines(results, spent))
    return code


@click.command("nesting", epilog=EPILOG)
@click.argument("targets", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout, nothing else there.")
@click.option("--no-known", is_flag=True, help="Ignore the models' known-bug declarations.")
@_user_errors
def nesting(targets, as_json, no_known):
    """The nesting graph of each model and its properties: nested safety, the boundary rules,
    task-op nesting."""
    from polykfunc.programs.nesting import check_nesting
    from polykfunc.programs.render import nesting_lines
    from polykfunc.engine.results import Status
    reps = [check_nesting(_model(t), use_known=not no_known) for t in targets]
    worst = max(r.status for r in reps)
    code = EXIT_FAIL if worst.is_failure else EXIT_UNKNOWN if worst == Status.UNKNOWN else EXIT_OK
    if as_json:
        click.echo(json.dumps({"reports": [r.to_json() for r in reps], "exit_code": code}, indent=2))
    else:
        for r in reps:
            _echo(nesting_lines(r))
    return code


@click.command("locks", epilog=EPILOG)
@click.argument("targets", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout, nothing else there.")
@_user_errors
def locks(targets, as_json):
    """Lock properties of each model: no self-deadlock (also through NMI and hardirq), and an
    acyclic lock-acquisition graph."""
    from polykfunc.programs.locks import check_locks
    from polykfunc.programs.render import lock_lines
    reps = [check_locks(_model(t)) for t in targets]
    code = EXIT_FAIL if any(r.failures for r in reps) else EXIT_UNKNOWN if any(r.unknown for r in reps) else EXIT_OK
    if as_json:
        click.echo(json.dumps({"reports": [r.to_json() for r in reps], "exit_code": code}, indent=2))
    else:
        for r in reps:
            _echo(lock_lines(r))
    return code


@click.command("compare-designs", epilog=EPILOG)
@click.option("--family", "families", multiple=True, help="Only this family (repeatable): dispatch, argtype.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout, nothing else there.")
@click.option("--rlimit", type=click.IntRange(min=1), default=None, help="z3 resource limit per check.")
@_user_errors
def compare_designs(families, as_json, rlimit):
    """Prove every design model and compare them: which properties hold, which call sites each
    design cannot resolve, and the run-time checks it still needs."""
    from polykfunc.programs.designs import compare, design_lines
    from polykfunc.engine.solver import DEFAULT_RLIMIT
    table = compare(families=families or None, rlimit=rlimit or DEFAULT_RLIMIT)
    if as_json:
        click.echo(json.dumps(table.to_json(), indent=2))
    else:
        _echo(design_lines(table))
    return table.exit_code


COMMANDS = [check_prog, compare_designs, nesting, locks]
