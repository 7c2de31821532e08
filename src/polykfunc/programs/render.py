"""Text output of check-prog, nesting, locks and compare-designs: lines an editor and a CI parse.

Every finding starts with ``FILE:LINE: error:`` (or ``warning:``, ``note:``, ``ok:``), then the
contexts that reach the site, indented, one per line.
"""

from __future__ import annotations

from polykfunc.engine.results import Status

from .checkprog import ProgramReport, SiteReport

_LEVEL = {Status.COUNTEREXAMPLE: "error", Status.VACUOUS: "error", Status.UNKNOWN: "warning",
          Status.KNOWN: "warning", Status.NOT_APPLICABLE: "note", Status.PROVED: "ok", Status.NOTE: "note"}


def program_lines(rep: ProgramReport, verbose: bool = False) -> list[str]:
    """The check-prog report as text lines."""
    out = [f"polykfunc check-prog {rep.object} (model {rep.model}, kernel {rep.kernel})"]
    for site in sorted(rep.sites, key=lambda s: (-s.status, s.file or "", s.line or 0, s.insn)):
        if site.status == Status.NOT_APPLICABLE and site.alternative is None and not verbose:
            continue
        out.extend(site_lines(site, verbose))
    for n in rep.notes:
        out.append(f"note: {n}")
    counts: dict[str, int] = {}
    for s in rep.sites:
        counts[s.verdict] = counts.get(s.verdict, 0) + 1
    n_ctx = sum(len(s.contexts) for s in rep.sites)
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
    out.append(f"{len(rep.sites)} call sites in {n_ctx} reaching contexts: {summary or 'none'} "
               f"({rep.seconds:.2f}s)")
    return out


def site_lines(site: SiteReport, verbose: bool) -> list[str]:
    worst = max(site.contexts, key=lambda c: (c.status, c.verdict == site.verdict), default=None)
    level = _LEVEL.get(site.status, "note")
    head = f"{site.where}: {level}: {site.kfunc} in {site.function}: {site.verdict}"
    if site.alternative is not None:
        head += f"; {site.alternative.summary}"
    elif worst is not None and (site.status != Status.PROVED or site.verdict == "skew ok"):
        head += f": {worst.detail}"
    lines = [head]
    alt = site.alternative
    for on, c in [("", c) for c in site.contexts] + [(f"on {alt.model}: ", c) for c in (alt.site.contexts if alt else ())]:
        outcome = ", ".join(c.outcomes) or "-"
        ctxs = f" [{', '.join(c.model_contexts)}]" if c.model_contexts else ""
        lines.append(f"    {on}{c.context}{ctxs}: {outcome} -> {c.verdict}")
        if verbose:
            lines.append(f"        facts: {'; '.join(c.facts)}")
            if c.dropped:
                lines.append(f"        not expressible in the model: {'; '.join(c.dropped)}")
            for cex in c.counterexamples[:2]:
                vals = ", ".join(f"{k}={sorted(v) if isinstance(v, frozenset) else v}" for k, v in cex.values
                                 if k in cex.relevant)
                lines.append(f"        counterexample ({cex.obligation}): {vals}")
    if site.ambiguity:
        what = {"build-time": "the source line needs different implementations in different programs",
                "load-time": "one instruction of one program needs different implementations in different "
                             "contexts: only a run-time choice serves it",
                "run-time": "some context needs run-time state to choose the implementation"}[site.ambiguity]
        lines.append(f"{site.where}: note: context-ambiguous ({site.ambiguity}): {what}")
    return lines


def nesting_lines(rep) -> list[str]:
    out = [f"polykfunc nesting {rep.model} (kernel {rep.kernel}): {len(rep.edges)} nesting edges, "
           f"{rep.status.label} ({rep.seconds:.2f}s)"]
    for e in rep.edges:
        w = ", ".join(f"{k}={sorted(v) if isinstance(v, frozenset) else v}" for k, v in e.witness)
        out.append(f"  {e.outer} -> {e.inner}" + (f" ({'; '.join(e.cases)})" if e.cases else "") + f": {w}")
    for r in rep.results:
        line = f"  {r.status.label:>14}  {r.id}: {r.summary}"
        out.append(line)
        for c in r.counterexamples:
            bug = f" [known bug {c.known_bug}]" if c.known_bug else ""
            out.append(f"                  {c.summary}{bug}")
    for t in rep.task_nesting:
        out.append(f"  {'counterexample':>14}  task-op nesting: {t.summary}")
    return out


def lock_lines(rep) -> list[str]:
    out = [f"polykfunc locks {rep.model} (kernel {rep.kernel}) ({rep.seconds:.2f}s)"]
    for h in rep.held:
        what = ", ".join(h.texts) or "no held facts"
        out.append(f"  lock {h.lock}: held when {what} ({h.origin}){'' if h.irqsafe else ', not irqsafe'}")
    if not rep.self_deadlocks:
        out.append("  self-deadlock: proved (no implementation takes a lock its context may hold)")
    for f in rep.self_deadlocks:
        tag = f"known ({f.known_bug})" if f.known_bug else "counterexample"
        out.append(f"  {tag:>14}  self-deadlock: {f.summary}")
    edges = sorted({(e.held, e.lock) for e in rep.edges})
    out.append(f"  lock graph: {', '.join(f'{a} -> {b}' for a, b in edges) or 'no edge'}")
    if not rep.cycles:
        out.append("  lock order: proved (the lock-acquisition graph is acyclic)")
    for c in rep.cycles:
        tag = "known" if c.known else "counterexample"
        out.append(f"  {tag:>14}  lock cycle {c.describe()}:")
        for e in c.edges:
            out.append(f"                  {e.summary}" + (f" [known bug {e.known_bug}]" if e.known_bug else ""))
    for u in rep.unknown:
        out.append(f"  {'unknown':>14}  {u}")
    return out
