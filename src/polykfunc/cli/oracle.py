"""`polykfunc oracle`: the running kernel's verifier as an oracle (load only; docs/oracle.md).

Thin: check permission, read the kernel's kfunc inventory, run the probes
(:mod:`polykfunc.oracle.runner`), print the matrix; with MODEL, compare it with the model's
load-time predictions; with --reproduce, load the reproducers of open findings.
"""

from __future__ import annotations

import json
import sys

import click

from polykfunc.errors import UsageError, close_matches

EXIT_OK, EXIT_FAIL, EXIT_INPUT = 0, 1, 2

EPILOG = """\b
Exit codes:
  0  done; with MODEL, no disagreement on a kernel the model describes
  1  with MODEL, a disagreement neither version skew nor a detected restriction of
     this kernel explains (those are printed and labelled [skew] / [local], and do not fail)
  2  bad input, or this process may not load BPF programs (one line says why)
  4  internal error (a bug in polykfunc)
\b
Safety: the oracle only loads programs (BPF_PROG_LOAD, BPF_BTF_LOAD, BPF_MAP_CREATE,
BPF_OBJ_GET_INFO_BY_FD) and closes every descriptor at once: it never attaches, runs,
links or pins anything, and never loads a struct_ops (sched_ext) program.
"""


def _permission_or_exit() -> None:
    from polykfunc.oracle.syscall import permission_problem
    why = permission_problem()
    if why is not None:
        click.echo(f"polykfunc: {why}", err=True)
        sys.exit(EXIT_INPUT)


def _inventory():
    from polykfunc.oracle.inventory import InventoryError, read_inventory
    try:
        return read_inventory()
    except InventoryError as e:
        raise UsageError(str(e)) from None


def _contexts(names: tuple[str, ...]):
    from polykfunc.oracle.contexts import CONTEXTS
    if not names:
        return CONTEXTS
    known = {c.name: c for c in CONTEXTS}
    for n in names:
        if n not in known:
            hint = close_matches(n, known)
            raise UsageError(f"--context {n}: no such probe context" + (f"; {hint}" if hint else "")
                             + f" (known: {', '.join(known)})")
    return tuple(known[n] for n in names)


@click.command(epilog=EPILOG)
@click.argument("model", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout.")
@click.option("--kfunc", "kfuncs", multiple=True, help="Only this kfunc (repeatable).")
@click.option("--context", "contexts", multiple=True, help="Only this probe context (repeatable).")
@click.option("--reproduce", "findings", multiple=True, metavar="FINDING",
              help="Load the reproducer of this open finding (repeatable; 'all' for every open finding).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Worker processes (default: CPUs).")
@click.option("-v", "--verbose", is_flag=True, help="Also list positions the probe could not build here.")
def oracle(model, as_json, kfuncs, contexts, findings, jobs, verbose):
    """Probe the running kernel's verifier: which kfunc loads where, and which implementation a
    call resolves to; with MODEL, print every cell where the model's load-time prediction differs."""
    from polykfunc.oracle import render
    _permission_or_exit()
    inv = _inventory()
    if findings:
        return _reproduce(inv, findings, as_json)
    ctxs = _contexts(contexts)
    m = None
    if model:
        from polykfunc.model import load_model, resolve_target
        m = load_model(resolve_target(model))
    names = None
    if kfuncs:
        missing = [n for n in kfuncs if inv.kfunc(n) is None]
        if missing:
            hint = close_matches(missing[0], inv.names)
            raise UsageError(f"--kfunc {missing[0]}: Linux {inv.release} tags no such kfunc"
                             + (f"; {hint}" if hint else ""))
        names = tuple(kfuncs)
    elif m is not None:
        names = tuple(k.name for k in m.kfuncs if inv.kfunc(k.name) is not None)
    from polykfunc.oracle.runner import run
    result = run(inv, names, ctxs, jobs)
    comparison = None
    if m is not None:
        from polykfunc.oracle.compare import compare
        from polykfunc.oracle.local import detect
        comparison = compare(m, result, detect())
    if as_json:
        out = render.run_json(result)
        if comparison is not None:
            out["comparison"] = render.comparison_json(comparison)
        click.echo(json.dumps(out, indent=1))
    else:
        for line in render.run_text(result, verbose):
            click.echo(line)
        if comparison is not None:
            click.echo("")
            for line in render.comparison_text(comparison):
                click.echo(line)
    if comparison is not None and comparison.unexplained:
        sys.exit(EXIT_FAIL)
    return EXIT_OK


def _reproduce(inv, idents, as_json):
    from polykfunc.oracle import render
    from polykfunc.oracle.reproduce import find, open_findings, reproduce
    if "all" in idents:
        chosen = open_findings()
    else:
        chosen = []
        for ident in idents:
            f = find(ident)
            if f is None:
                hint = close_matches(ident, [x.bug.id for x in open_findings()])
                raise UsageError(f"--reproduce {ident}: no open finding with that id"
                                 + (f"; {hint}" if hint else "") + " (open findings: known bugs without fixed_by)")
            chosen.append(f)
    results = [reproduce(f, inv) for f in chosen]
    if as_json:
        click.echo(json.dumps([render.reproduction_json(r) for r in results], indent=1))
    else:
        for r in results:
            for line in render.reproduction_text(r):
                click.echo(line)
    return EXIT_OK


#: the commands this module adds to `polykfunc` (see polykfunc.cli.COMMAND_MODULES)
COMMANDS = [oracle]
