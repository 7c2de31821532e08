"""`polykfunc cex ...` and `polykfunc explore`: the counterexample explorer.

`polykfunc prove` saves every counterexample it finds, explained, in a store (docs/explorer.md).
These commands list, show, explain, replay, extend, compare, draw and export them. Each one is
thin: read the store, call :mod:`polykfunc.counterexamples` (``operations``, ``text``, ``graph``,
``export``), print, exit. Every command takes ``--store DIR``; those that print data take
``--json`` (docs/explorer.md). A user error (a bad id, an ambiguous prefix, a corrupted entry)
prints one message and exits 2; nothing in the store is changed by it.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from polykfunc.errors import SpecError, UsageError
from polykfunc.model.spec import PROPERTIES

from polykfunc.counterexamples import operations as cex_ops
from polykfunc.counterexamples.store import DEFAULT_STORE, Store, StoreError

from .common import EXIT_OK, EXIT_FAIL, EXIT_INPUT, EXIT_UNKNOWN

EPILOG = """\b
Exit codes:
  0  done (replay: every counterexample still replays)
  1  replay: some counterexample no longer replays on the current model
  2  invalid input: unknown or ambiguous id, corrupted store entry, model gone
  3  next: the solver gave up (unknown)
"""


def _fail(message: str) -> None:
    click.echo(f"polykfunc: error: {message}", err=True)
    sys.exit(EXIT_INPUT)


def _warn(message: str) -> None:
    click.echo(f"polykfunc: warning: {message}", err=True)


def _user_errors(fn):
    """Run a command body that returns an exit code; user errors become one message and exit 2."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            code = fn(*args, **kwargs)
        except (UsageError, StoreError) as e:
            _fail(str(e))
        except SpecError as e:
            click.echo(e.render(), err=True)
            sys.exit(EXIT_INPUT)
        sys.exit(code or EXIT_OK)
    return run


def _store_option(fn):
    return click.option("--store", "store_dir", type=click.Path(file_okay=False), default=str(DEFAULT_STORE),
                        show_default=True, help="The counterexample store (`polykfunc prove --store`).")(fn)


def _json_option(fn):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout, nothing else there.")(fn)


def _print_json(data) -> None:
    click.echo(json.dumps(data, indent=2))


def _echo_lines(lines) -> None:
    click.echo("\n".join(lines))


def _entry(store_dir: str, ident: str):
    return cex_ops.read_or_fail(Store(store_dir), ident)


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
def cex():
    """Browse, explain, replay and export the counterexamples `polykfunc prove` saved.

    IDs are the hex ids `polykfunc cex list` shows; any unique prefix of 4 or more characters works.
    """


@cex.command("list", epilog=EPILOG)
@_store_option
@click.option("--model", help="Only counterexamples of this model (e.g. sched_ext@v6.12).")
@click.option("--property", "prop", type=click.Choice(PROPERTIES), help="Only this property.")
@click.option("--kfunc", help="Only calls of this kfunc.")
@click.option("--context", help="Only calls from this context (callback or program type).")
@click.option("--version", "kernel", help="Only models of this kernel version (e.g. v6.12).")
@_json_option
@_user_errors
def list_cmd(store_dir, model, prop, kfunc, context, kernel, as_json):
    """List the stored counterexamples (a corrupted file is reported on stderr and skipped)."""
    from polykfunc.counterexamples.text import list_lines, list_row
    store = Store(store_dir)
    good, bad = store.entries()
    for err in bad:
        _warn(str(err))
    chosen = cex_ops.select_entries(good, model=model, property=prop, kfunc=kfunc, context=context,
                                    kernel=kernel)
    if as_json:
        _print_json([list_row(e) for e in chosen])
    elif chosen:
        _echo_lines(list_lines(chosen))
    elif good:
        click.echo(f"none of the {len(good)} counterexamples in {store.root} match the filters")
    else:
        click.echo(f"no counterexamples stored in {store.root}; `polykfunc prove --store {store.root}` saves them")
    return EXIT_OK


@cex.command(epilog=EPILOG)
@click.argument("ident", metavar="ID")
@_store_option
@click.option("-v", "--verbose", is_flag=True, help="The whole state and every fact, not one screenful.")
@_json_option
@_user_errors
def show(ident, store_dir, verbose, as_json):
    """One counterexample: the context chain, the violated precondition, the minimal facts."""
    from polykfunc.counterexamples.text import show_json, show_lines
    e = _entry(store_dir, ident)
    if as_json:
        _print_json(show_json(e))
    else:
        _echo_lines(show_lines(e, verbose=verbose))
    return EXIT_OK


@cex.command(epilog=EPILOG)
@click.argument("ident", metavar="ID")
@_store_option
@_json_option
@_user_errors
def explain(ident, store_dir, as_json):
    """The minimal facts that force the violation, each with its model rule and kernel source."""
    from polykfunc.counterexamples.text import explain_json, explain_lines
    e = _entry(store_dir, ident)
    if as_json:
        _print_json(explain_json(e))
    else:
        _echo_lines(explain_lines(e))
    return EXIT_OK


@cex.command(epilog=EPILOG)
@click.argument("ident", metavar="[ID]", required=False)
@click.option("--all", "every", is_flag=True, help="Replay every stored counterexample.")
@_store_option
@_json_option
@_user_errors
def replay(ident, every, store_dir, as_json):
    """Re-check counterexamples on the current model, without the solver.

    Exit 0 when every one still replays, 1 when some no longer does (the model or the kernel
    changed), 2 when one could not be checked (model gone, corrupted entry).
    """
    if bool(ident) == every:
        raise UsageError("give one counterexample ID, or --all")
    store = Store(store_dir)
    bad: list[StoreError] = []
    if every:
        entries, bad = store.entries()
        entries = cex_ops.select_entries(entries)
    else:
        entries = [cex_ops.read_or_fail(store, ident)]
    results = cex_ops.replay_entries(entries)
    for err in bad:
        _warn(str(err))
    code = max([r.exit_code for r in results] + [EXIT_INPUT if bad else EXIT_OK])
    if as_json:
        _print_json({"results": [r.to_json() for r in results], "corrupted": [str(b) for b in bad],
                     "exit_code": code})
        return code
    _warn_changed_models(results)
    for r in results:
        where = f"{r.obligation} in {r.context}"
        if r.error:
            click.echo(f"NOT CHECKED      {r.id}  {where}: {r.error}")
        elif r.replays:
            click.echo(f"REPLAYS          {r.id}  {where}")
        else:
            click.echo(f"DOES NOT REPLAY  {r.id}  {where}: " + "; ".join(r.problems))
    if every:
        n = [sum(1 for r in results if r.exit_code == c) for c in (0, 1, 2)]
        click.echo(f"{n[0]} replay, {n[1]} no longer replay, {n[2] + len(bad)} could not be checked")
    return code


def _warn_changed_models(results) -> None:
    """One warning per changed model (not one per counterexample)."""
    changed: dict[tuple[str, str], list] = {}
    for r in results:
        if r.model_changed:
            changed.setdefault((r.model, r.digest_now), []).append(r)
    for (model, now), rs in changed.items():
        if len(rs) == 1:
            _warn(rs[0].warning)
        else:
            _warn(f"model {model} changed since {len(rs)} of these counterexamples were found (its digest is "
                  f"now {now}, theirs {', '.join(sorted({r.digest_then for r in rs}))}); the replay used the current files")


@cex.command("next", epilog=EPILOG)
@click.argument("ident", metavar="ID")
@_store_option
@click.option("--rlimit", type=click.IntRange(min=1), default=None, help="z3 resource limit per check.")
@click.option("--tries", type=click.IntRange(min=1), default=cex_ops.DEFAULT_TRIES, show_default=True,
              help="How many other states of root causes already stored to look past.")
@_json_option
@_user_errors
def next_cmd(ident, store_dir, rlimit, tries, as_json):
    """A further, genuinely different counterexample for the same obligation, explained and saved.

    Every counterexample of that obligation already in the store is blocked. Exit 0 with the new
    one, or 0 with "no further counterexample"; 3 when the solver gives up.
    """
    from polykfunc.counterexamples.text import show_lines
    from polykfunc.engine.solver import DEFAULT_RLIMIT
    store = Store(store_dir)
    e = cex_ops.read_or_fail(store, ident)
    got = cex_ops.find_next(store, e, rlimit=rlimit or DEFAULT_RLIMIT, tries=tries)
    if got.warning:
        _warn(got.warning)
    code = EXIT_UNKNOWN if got.status in ("unknown", "gave up") else EXIT_OK
    if as_json:
        _print_json({**got.to_json(), "exit_code": code})
        return code
    others = (f" ({len(got.same_cause)} other state(s) of root causes already stored were passed over)"
              if got.same_cause else "")
    if got.status == "found":
        assert got.entry is not None
        click.echo(f"new counterexample {got.entry.id} saved in {store.root}{others}")
        _echo_lines(show_lines(got.entry))
    elif got.status == "none":
        click.echo(f"no further counterexample for {got.obligation}{others}")
    elif got.status == "unknown":
        click.echo(f"unknown: z3 gave up looking for a further counterexample of {got.obligation}; "
                   "--rlimit raises its resource limit")
    else:
        click.echo(f"no counterexample with a new root cause for {got.obligation} within {tries} tries{others}; "
                   "--tries raises the limit")
    return code


@cex.command(epilog=EPILOG)
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@_store_option
@_json_option
@_user_errors
def diff(a, b, store_dir, as_json):
    """Two counterexamples side by side: only what differs."""
    from polykfunc.counterexamples.text import diff as diff_of, diff_lines
    ea, eb = _entry(store_dir, a), _entry(store_dir, b)
    if as_json:
        _print_json(diff_of(ea, eb))
    else:
        _echo_lines(diff_lines(ea, eb))
    return EXIT_OK


def _write(text: str, output: str | None, what: str) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {output}: {e.strerror}; choose another -o path") from None
    click.echo(f"wrote {what} to {output}", err=True)


@cex.command(epilog=EPILOG)
@click.argument("ident", metavar="ID")
@_store_option
@click.option("--format", "fmt", type=click.Choice(["dot", "svg", "mermaid"]), default="dot", show_default=True,
              help="dot and mermaid are text; svg runs Graphviz's dot.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@_user_errors
def graph(ident, store_dir, fmt, output):
    """The context chain and the locks involved, as a picture (DOT, SVG or Mermaid)."""
    from polykfunc.counterexamples.graph import build_graph, render
    e = _entry(store_dir, ident)
    try:
        model = cex_ops.load_entry_model(e)
    except (UsageError, SpecError) as err:
        msg = err.render() if isinstance(err, SpecError) else str(err)
        _warn(f"{msg}; the graph leaves out the locks the implementation takes and drops")
        model = None
    _write(render(build_graph(e, model), fmt), output, f"the {fmt} graph")
    return EXIT_OK


@cex.command(epilog=EPILOG)
@click.argument("ident", metavar="ID")
@_store_option
@click.option("--pytest", "as_pytest", is_flag=True, help="A pytest file that fails while the bug is in the model.")
@click.option("--report", "as_report", is_flag=True,
              help="A mailing-list-ready report of the open finding ID (or of the stored counterexample's finding).")
@click.option("--program", "as_program", is_flag=True,
              help="The finding's reproducer program (C and instructions), loaded by the oracle on this kernel.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@_user_errors
def export(ident, store_dir, as_pytest, as_report, as_program, output):
    """A runnable reproducer of the counterexample (--pytest: a pytest file); for an open finding,
    a report for the kernel list (--report) or its reproducer program (--program).

    The test evaluates the stored state with polykfunc's concrete semantics, so it fails while
    the model has the bug and passes once the model is fixed. --report and --program load the
    finding's reproducer with `polykfunc oracle` (load only); without permission to load BPF
    programs they say so and still write the model's part.
    """
    from polykfunc.counterexamples.export import pytest_source
    from polykfunc.oracle.mailreport import finding_export
    if sum((as_pytest, as_report, as_program)) != 1:
        raise UsageError("choose one thing to export: --pytest (a pytest file), --report (a report for the "
                         "kernel list) or --program (the oracle's reproducer program)")
    if as_report or as_program:
        _write(finding_export(ident, store_dir, "report" if as_report else "program"), output,
               "the report" if as_report else "the reproducer program")
        return EXIT_OK
    e = _entry(store_dir, ident)
    _write(pytest_source(e), output, "the pytest reproducer")
    if output:
        click.echo(f"run it: pytest {output}", err=True)
    return EXIT_OK


@click.command(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@_store_option
@_user_errors
def explore(store_dir):
    """Browse the stored counterexamples in a full-screen terminal explorer.

    Keys: arrows/enter browse the tree (model > kfunc > counterexample), e explanation,
    v fold/unfold the state, n next counterexample of the same obligation, r replay, q quit.
    """
    try:
        from polykfunc.counterexamples.explorer import ExplorerApp
    except ImportError as e:  # pragma: no cover - textual is a declared dependency
        raise UsageError(f"the explorer needs the textual package ({e}); `pip install textual`") from None
    ExplorerApp(Store(store_dir)).run()
    return EXIT_OK


#: the commands this module adds to `polykfunc` (see polykfunc.cli.COMMAND_MODULES)
COMMANDS = [cex, explore]
