"""`polykfunc fuzz`: fuzz a concrete resolver (bundled, or a user's prototype) against a model.

Thin: resolve the target and the resolver, run :func:`polykfunc.crosscheck.fuzz.fuzz`, print, store
the failures, exit. Exit codes as ``prove``: 0 nothing found, 1 a failure found, 2 bad input,
4 internal error.
"""

from __future__ import annotations

import json
import sys

import click

from polykfunc.errors import UsageError

from .common import EXIT_OK, EXIT_FAIL, EXIT_INPUT

EPILOG = """\b
Exit codes:
  0  no failure found
  1  a failure: the resolver disagrees with the model or picks an unsafe implementation,
     a proof z3 made is broken by a concrete state (a prover bug), or a z3 counterexample
     does not replay on the resolver
  2  invalid input or usage (unknown model, bad --resolver)
  4  internal error (a bug in polykfunc)
"""


@click.command(epilog=EPILOG)
@click.argument("target", required=False)
@click.option("--resolver", "resolver_spec", default=None, metavar="MODULE:FUNCTION",
              help="The resolver to fuzz: module:function or path/to/file.py:function "
                   "(default: the target's bundled concrete resolver).")
@click.option("--examples", type=click.IntRange(min=1), default=200, show_default=True,
              help="Hypothesis examples per round (a round ends at the first new failure).")
@click.option("--seed", type=int, default=0, show_default=True, help="The Hypothesis seed: same seed, same findings.")
@click.option("--kfunc", "kfuncs", multiple=True, help="Only these kfuncs (repeatable).")
@click.option("--max-findings", type=click.IntRange(min=1), default=25, show_default=True,
              help="Stop after this many distinct failures.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON on stdout.")
@click.option("--store", "store_dir", type=click.Path(file_okay=False), default=None,
              help="Save failures here (default: .polykfunc/counterexamples).")
@click.option("--no-store", is_flag=True, help="Do not save failures.")
@click.option("--rlimit", type=click.IntRange(min=1), default=None, help="z3 resource limit per check.")
def fuzz(target, resolver_spec, examples, seed, kfuncs, max_findings, as_json, store_dir, no_store, rlimit):
    """Fuzz TARGET's concrete resolver against the model (default: every bundled model that has
    one), and the prover's proofs against concrete states; shrink, print and store each failure."""
    from polykfunc.crosscheck.concrete import bundled_resolver, bundled_resolvers, load_resolver
    from polykfunc.crosscheck.fuzz import Proofs, finding_entry
    from polykfunc.crosscheck.fuzz import fuzz as run_fuzz
    from polykfunc.model import load_model, resolve_target

    user = load_resolver(resolver_spec) if resolver_spec else None
    if target is None and user is not None:
        if not user.model:
            raise UsageError(f"--resolver {resolver_spec}: name the model to fuzz against (polykfunc fuzz "
                             "TARGET --resolver ...), or set MODEL = \"<model name>\" in the resolver's module")
        target = user.model
    targets = [target] if target else list(bundled_resolvers())
    runs = []
    for t in targets:
        model = load_model(resolve_target(t))
        for k in kfuncs:
            if k not in {x.name for x in model.kfuncs}:
                from polykfunc.errors import close_matches
                hint = close_matches(k, [x.name for x in model.kfuncs])
                raise UsageError(f"model {model.name} has no kfunc {k!r}" + (f"; {hint}" if hint else ""))
        resolver = user or bundled_resolver(model.name)
        runs.append((t, model, resolver))
    out = []
    entries = []
    for t, model, resolver in runs:
        if not as_json:
            click.echo(f"{model.name}: fuzzing {resolver.name if resolver else 'the prover only (no resolver)'} "
                       f"({examples} examples a round, seed {seed})", err=True)
        report = run_fuzz(model, resolver, examples=examples, seed=seed, kfuncs=kfuncs or None,
                          max_findings=max_findings, proofs=Proofs.of(model, rlimit))
        name = resolver_spec or (resolver.name if resolver else "-")
        if not no_store:
            entries.extend((f, finding_entry(model, f, name)) for f in report.failures)
        out.append((t, model, report, name))
    saved = {}
    if entries:
        from polykfunc.counterexamples.store import DEFAULT_STORE, Store
        store = Store(store_dir or DEFAULT_STORE)
        for f, e in entries:
            store.save(e)
            saved[id(f)] = e.id
    failed = any(r.failures for _, _, r, _ in out)
    if as_json:
        click.echo(json.dumps({"runs": [_json(m, r, n, saved) for _, m, r, n in out],
                               "exit_code": EXIT_FAIL if failed else EXIT_OK}, indent=2))
    else:
        for t, model, report, name in out:
            _print(t, model, report, name, saved, kfuncs)
        if saved:
            click.echo(f"\n{len(saved)} failure(s) saved in {store_dir or '.polykfunc/counterexamples'}: "
                       "`polykfunc cex show ID` explains one.")
    sys.exit(EXIT_FAIL if failed else EXIT_OK)


def _print(target, model, report, name, saved, kfuncs) -> None:
    head = (f"{model.name}: {len(report.failures)} failure(s), {report.states} states, "
            f"{report.seconds:.1f}s (resolver {name})")
    click.echo(head)
    for f in report.failures:
        click.echo(f"  {f.kind.upper():12} {f.kfunc} in {f.context}: {f.message}")
        if f.why:
            click.echo(f"    why        {f.why}")
        click.echo(f"    reproduce  {f.reproducer('resolve')}")
        if id(f) in saved:
            click.echo(f"    saved as   {saved[id(f)]}")
    if report.failures:
        user = name if ":" in name and not name.startswith("polykfunc.crosscheck.concrete.") else None
        again = [f"polykfunc fuzz {target}"] + ([f"--resolver {user}"] if user else []) + \
            [f"--seed {report.seed}", f"--examples {report.examples}"] + [f"--kfunc {k}" for k in kfuncs]
        click.echo(f"  again: {' '.join(again)}")


def _json(model, report, name, saved) -> dict:
    return {"model": model.name, "resolver": name, "seed": report.seed, "examples": report.examples,
            "states": report.states, "seconds": round(report.seconds, 3),
            "failures": [{"kind": f.kind, "kfunc": f.kfunc, "context": f.context, "model": f.model_outcome,
                          "resolver": f.resolver_outcome, "message": f.message, "why": f.why,
                          "obligation": f.obligation, "reproducer": f.reproducer("resolve"),
                          "id": saved.get(id(f))} for f in report.failures]}


COMMANDS = [fuzz]
