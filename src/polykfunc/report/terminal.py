"""Human-readable output: summary tables (rich) and counterexamples in a few lines."""

from __future__ import annotations

from typing import Iterable

from rich.console import Console
from rich.table import Table

from polykfunc.model.spec import PROPERTIES

from polykfunc.engine.matrix import Matrix
from polykfunc.engine.results import Counterexample, ModelReport, Status

COLUMNS = [Status.PROVED, Status.KNOWN, Status.COUNTEREXAMPLE, Status.UNKNOWN, Status.VACUOUS,
           Status.NOTE, Status.NOT_APPLICABLE]
_STYLE = {Status.PROVED: "green", Status.KNOWN: "yellow", Status.COUNTEREXAMPLE: "bold red",
          Status.UNKNOWN: "magenta", Status.VACUOUS: "bold red", Status.NOTE: "cyan",
          Status.NOT_APPLICABLE: "dim"}


_SHORT = {Status.COUNTEREXAMPLE: "cex", Status.NOT_APPLICABLE: "n/a"}


def console(stderr: bool = False) -> Console:
    """A console that does not squeeze tables when output goes to a file or a pipe."""
    c = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not c.is_terminal:
        c = Console(stderr=stderr, highlight=False, soft_wrap=True, width=140)
    return c


def summary_table(reports: Iterable[ModelReport]) -> Table:
    """One row per model and property: how many obligations ended how, and the time."""
    t = Table(title="polykfunc prove", title_justify="left", show_edge=False, pad_edge=False)
    t.add_column("model")
    t.add_column("property")
    for s in COLUMNS:
        t.add_column(_SHORT.get(s, s.label), justify="right", style=_STYLE[s])
    t.add_column("time", justify="right")
    for rep in reports:
        first = True
        for prop in PROPERTIES:
            rows = [r for r in rep.results if r.property == prop]
            if not rows:
                continue
            counts = {s: sum(1 for r in rows if r.status == s) for s in COLUMNS}
            secs = sum(r.seconds for r in rows)
            t.add_row(rep.model if first else "", prop, *(str(counts[s]) if counts[s] else "·" for s in COLUMNS),
                      f"{secs:.2f}s")
            first = False
        t.add_section()
    return t


def print_report(console: Console, reports: list[ModelReport], verbose: bool = False) -> None:
    console.print(summary_table(reports))
    for rep in reports:
        cexs = [c for r in rep.results for c in r.counterexamples]
        failing = [r for r in rep.results if r.status in (Status.VACUOUS, Status.UNKNOWN)]
        if not cexs and not failing and not rep.missing_known:
            continue
        console.print()
        console.print(f"[bold]{rep.model}[/bold] (kernel {rep.kernel}, {rep.seconds:.2f}s)")
        known: dict[str, list[Counterexample]] = {}
        for c in sorted(cexs, key=_order):
            if c.severity == "note" and not verbose:
                continue
            if c.known_bug and not verbose:
                known.setdefault(c.known_bug, []).append(c)
                continue
            for line in counterexample_lines(c):
                console.print(line, highlight=False, markup=False)
        for bug, group in known.items():
            first = group[0]
            where = ", ".join(dict.fromkeys(c.context or "?" for c in group))
            fix = f"fixed by {first.fixed_by}" if first.fixed_by else "open: no upstream fix"
            console.print(f"  KNOWN {bug} ({fix}): {first.property} of {first.kfunc} in {where}",
                          highlight=False, markup=False)
        if known:
            console.print("  (known bugs in one line each; --verbose shows them in full)", highlight=False)
        notes = sum(1 for c in cexs if c.severity == "note")
        if notes and not verbose:
            console.print(f"  ({notes} note(s) on run-time choices that cannot move to load time; --verbose shows them)",
                          highlight=False)
        for r in failing:
            console.print(f"  {r.status.label.upper()}  {r.id}: {r.reason}", highlight=False, markup=False)
        for m in rep.missing_known:
            console.print(f"  MISSING KNOWN BUG  {m.id} ({m.property} of {m.kfunc}"
                          + (f", fixed by {m.fixed_by}" if m.fixed_by else "")
                          + "): declared, but no counterexample shows it any more; the model or the kernel changed",
                          highlight=False, markup=False)


def _order(c: Counterexample):
    return (c.severity != "error", c.known_bug is not None, c.property, c.kfunc or "", c.context or "")


def counterexample_lines(c: Counterexample) -> list[str]:
    """A counterexample in a few lines: what, where, the selection, what is violated, the state."""
    if c.severity == "note":
        tag = "NOTE"
    elif c.known_bug:
        tag = f"KNOWN {c.known_bug}" + (f" (fixed by {c.fixed_by})" if c.fixed_by else "")
    else:
        tag = "COUNTEREXAMPLE"
    lines = [f"  {tag}  {c.obligation}" + (f" in {c.context}" if c.context and not c.copies else "")]
    lines.append(f"    {c.summary}")
    if c.copies:
        for cp in c.copies:
            lines.append(f"    state #{cp['copy']}: {cp['context']}" + (f" [{cp['case']}]" if cp['case'] else "")
                         + f": {cp['unsafe_impl']} unsafe ({'; '.join(cp['violated'][:1])})")
    else:
        lines.append(f"    context   {c.context}" + (f" [case: {c.case}]" if c.case else ""))
        lines.append(f"    outcome   {c.outcome}" + (f"  <- {c.rule}" if c.rule else ""))
    for v in c.violated:
        lines.append(f"    violated  {v}")
    if c.sources:
        lines.append(f"    source    {'; '.join(c.sources)}")
    vals = dict(c.values)
    shown = [f"{k}={_fmt(vals[k])}" for k in c.relevant if k in vals]
    if shown:
        lines.append(f"    state     {', '.join(shown)}")
    return lines


def _fmt(v) -> str:
    if isinstance(v, frozenset):
        return "{" + ",".join(sorted(v)) + "}"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


_MARK = {"proved": "[green]✓[/green]", "known": "[yellow]known[/yellow]",
         "counterexample": "[bold red]✗[/bold red]", "unknown": "[magenta]?[/magenta]"}


def render_matrix(console: Console, mat: Matrix) -> None:
    """Print one row per kfunc: the contexts grouped by what a call from them gets."""
    t = Table(title=f"{mat.model} (kernel {mat.kernel}): kfunc x context", title_justify="left",
              show_lines=False, show_edge=False, pad_edge=False)
    t.add_column("kfunc", no_wrap=True)
    t.add_column("allowed: implementation selected (status)")
    t.add_column("denied", style="dim")
    for k in mat.kfuncs:
        cells = [c for c in mat.cells if c.kfunc == k]
        groups: dict[str, list[str]] = {}
        denied: list[str] = []
        for c in cells:
            impls = [o for o in c.outcomes if o not in ("rejected at load", "refused at run time")]
            if not impls:
                denied.append(c.context + ("" if c.status == "proved" else f" {_MARK[c.status]}"))
                continue
            label = "|".join(impls) + ("+refused" if "refused at run time" in c.outcomes else "")
            groups.setdefault(label, []).append(f"{c.context} {_MARK[c.status]}")
        allowed = "\n".join(f"[bold]{g}[/bold]: {', '.join(v)}" for g, v in groups.items()) or "—"
        t.add_row(k, allowed, ", ".join(denied) or "—")
    console.print(t)
    if not mat.complete:
        console.print("[magenta]some cells are incomplete: the solver gave up (raise --rlimit)[/magenta]")
