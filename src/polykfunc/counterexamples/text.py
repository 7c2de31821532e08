"""Stored counterexamples as text: the list, one counterexample in a screenful, its explanation,
and the difference between two.

Pure functions from store entries to lines (and JSON-ready dicts); nothing here reads files or
runs the solver, so the CLI and the terminal explorer show exactly the same text.
"""

from __future__ import annotations

import re

from polykfunc.counterexamples.operations import contexts_of, status_of
from polykfunc.engine.explanation import ExplainedFact
from polykfunc.engine.results import Counterexample
from polykfunc.counterexamples.store import Entry, shown_file

#: `cex show` prints at most this many lines unless --verbose.
SHOW_LIMIT = 25
_STATE_TAG = re.compile(r" \(state #(\d+)\)$")


def fmt_value(v) -> str:
    """A value as the model language writes it: true/false, ints, enum names, [flags]."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (frozenset, set, list, tuple)):
        return "[" + ", ".join(sorted(v)) + "]"
    return str(v)


def tag_of(c: Counterexample) -> str:
    """COUNTEREXAMPLE, NOTE, or KNOWN <bug> (fixed by <commit>)."""
    status = status_of(c)
    if status == "known":
        return f"KNOWN {c.known_bug}" + (f" (fixed by {c.fixed_by})" if c.fixed_by else "")
    return status.upper()


# ------------------------------------------------------------------ cex list

def list_row(e: Entry) -> dict:
    """One entry as `cex list --json` prints it."""
    c = e.counterexample
    return {"id": e.id, "model": e.model_name, "kernel": c.kernel, "property": c.property,
            "obligation": c.obligation, "kfunc": c.kfunc, "context": c.context, "case": c.case,
            "impl": c.impl, "outcome": c.outcome, "status": status_of(c), "known_bug": c.known_bug,
            "fixed_by": c.fixed_by, "summary": c.summary, "found": e.found}


def list_lines(entries: list[Entry]) -> list[str]:
    """An aligned table: id, status, model, property, kfunc, context, selected implementation."""
    head = ("ID", "STATUS", "MODEL", "PROPERTY", "KFUNC", "CONTEXT", "OUTCOME")
    rows = [head] + [(e.id, status_of(e.counterexample), e.model_name, e.counterexample.property,
                      e.counterexample.kfunc or "-", "/".join(contexts_of(e.counterexample)) or "-",
                      e.counterexample.outcome) for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]


# ------------------------------------------------------------------ the context chain

def chain_steps(c: Counterexample, copy: int = 0) -> list[str]:
    """How the call came about, outside in: program type, struct_ops member, enclosing callbacks,
    the context (and case), the kfunc and what it got."""
    vals = dict(c.values)
    suffix = f"#{copy}" if copy else ""
    steps = []
    if "view.prog_type" in vals:
        steps.append(f"program {vals['view.prog_type']}")
    if vals.get("view.member") not in (None, "none"):
        steps.append(f"member {vals['view.member']}")
    outer, depth = vals.get("state.outer" + suffix), vals.get("state.depth" + suffix)
    at_depth = f" (depth {depth})" if depth is not None else ""
    if outer not in (None, "none"):
        steps.append(f"inside {outer}{at_depth}")
    elif outer == "none" or depth == 1:
        steps.append(f"top level{at_depth}")
    elif depth is not None:  # no state.outer in this model: only the count of active callbacks
        steps.append(f"nested{at_depth}")
    cp = c.copies[copy] if c.copies else None
    ctx = cp["context"] if cp else c.context
    case = cp["case"] if cp else c.case
    steps.append(f"{ctx}" + (f" [{case}]" if case else ""))
    steps.append(c.kfunc or "?")
    steps.append(f"{cp['unsafe_impl']} (unsafe here)" if cp else c.outcome)
    return steps


def chain_lines(c: Counterexample) -> list[str]:
    """One ``chain`` line per runtime state (visibility counterexamples have several)."""
    if not c.copies:
        return ["chain     " + " -> ".join(chain_steps(c))]
    return [f"state #{j}  " + " -> ".join(chain_steps(c, j)) for j in range(len(c.copies))]


# ------------------------------------------------------------------ cex show

def _relevant_and_rest(e: Entry) -> tuple[list[str], list[str]]:
    names = [k for k, _ in e.counterexample.values]
    wanted = set(e.explanation.relevant) if e.explanation else set(e.counterexample.relevant)
    return [n for n in names if n in wanted], [n for n in names if n not in wanted]


def _violated_lines(e: Entry) -> list[str]:
    """Each violated fact with its expression and kernel source (taken from the explanation,
    since the counterexample's own source list is deduplicated and not per fact)."""
    c = e.counterexample
    pre = {_STATE_TAG.sub("", f.label): f for f in _facts(e) if f.kind == "precondition"}
    by_position = len(c.sources) == len(c.violated)
    out = []
    for i, label in enumerate(c.violated):
        f = pre.get(label)
        src = f.source if f and f.source else c.sources[i] if by_position else None
        out.append(f"violated  {label}" + (f"  [{src}]" if src else ""))
        if f and f.text:
            out.append(f"          {f.text}")
    if not by_position and not all(label in pre for label in c.violated) and c.sources:
        out.append(f"sources   {'; '.join(c.sources)}")
    return out


def _facts(e: Entry) -> tuple[ExplainedFact, ...]:
    return e.explanation.facts if e.explanation else ()


def _fact_line(f: ExplainedFact) -> str:
    tag = _STATE_TAG.search(f.label)
    state = f" in state #{tag.group(1)}" if tag else ""
    return f"  {f.kind:<12}  {f.text or f.label}{state}" + (f"   ({shown_file(f.where)})" if f.where else "")


def show_lines(e: Entry, verbose: bool = False, limit: int = SHOW_LIMIT) -> list[str]:
    """The counterexample in at most ``limit`` lines: what, the chain, the violated precondition,
    the minimal facts and the relevant state (``verbose``: everything, without a limit)."""
    c = e.counterexample
    vals = dict(c.values)
    head = [f"{e.id}  {tag_of(c)}  {e.model_name} (kernel {c.kernel})  {c.obligation}", c.summary]
    head += chain_lines(c)
    if c.rule:
        head.append(f"selected  by {c.rule}")
    viol = _violated_lines(e)
    relevant, rest = _relevant_and_rest(e)
    tail = ["state     " + (", ".join(f"{n}={fmt_value(vals[n])}" for n in relevant) or "(none)")]
    if verbose:
        tail = ["state (* plays a part)"]
        tail += [f"  {'*' if n in relevant else ' '} {n} = {fmt_value(vals[n])}" for n, _ in c.values]
    elif rest:
        tail.append(f"          {len(rest)} other variables: any value (--verbose shows them)")
    if verbose:
        tail += [f"model     {shown_file(e.model_path)} (digest {e.model_digest})",
                 f"found     {e.found} by polykfunc {e.tool.get('polykfunc', '?')}, z3 {e.tool.get('z3', '?')}"]
    facts = list(_facts(e))
    title = (f"minimal facts ({len(facts)})" if e.explanation and e.explanation.minimal
             else f"facts ({len(facts)}, not minimal: the solver gave up)" if e.explanation
             else "no explanation stored")
    fact_lines = [_fact_line(f) for f in facts]
    if not verbose:
        budget = max(1, limit - len(head) - len(tail) - 1 - min(len(viol), 4))
        viol = viol[:4] if len(viol) <= 4 else viol[:3] + [f"          ... {len(c.violated) - 1} more violated"]
        if len(fact_lines) > budget:
            keep = budget - 1
            fact_lines = fact_lines[:keep] + [f"  ... {len(facts) - keep} more: `polykfunc cex explain {e.id[:8]}`"]
    lines = head + viol + [title] + fact_lines + tail
    return lines if verbose else lines[:limit]


def show_json(e: Entry) -> dict:
    """`cex show --json`: the stored entry, with the chain steps."""
    out = e.to_json()
    c = e.counterexample
    out["chain"] = [chain_steps(c, j) for j in range(max(1, len(c.copies)))]
    out["status"] = status_of(c)
    return out


# ------------------------------------------------------------------ cex explain

def explain_lines(e: Entry) -> list[str]:
    """Each fact of the minimal explanation with its model rule (file:line) and kernel citation."""
    c = e.counterexample
    lines = [f"{e.id}: {c.summary}"]
    if not e.explanation:
        return lines + ["no explanation is stored with this counterexample; `polykfunc prove` saves one"]
    x = e.explanation
    lines.append(f"these {len(x.facts)} facts force the violation"
                 + (" (none can be dropped)" if x.minimal else " (not minimal: the solver gave up, every fact is kept)"))
    for i, f in enumerate(x.facts, 1):
        lines.append(f"{i:>3}. {f.kind:<12} {f.label}")
        if f.text and f.text not in f.label:
            lines.append(f"     {'':<12} {f.text}")
        if f.kind == "value":
            lines.append(f"     {'':<12} a value the solver chose: no model rule fixes it")
        if f.where:
            lines.append(f"     {'':<12} model   {shown_file(f.where)}")
        if f.source:
            lines.append(f"     {'':<12} kernel  {f.source}")
    if x.any_value:
        lines.append(f"{len(x.any_value)} other variables: any value ({', '.join(x.any_value)})")
    return lines


def explain_json(e: Entry) -> dict:
    return {"id": e.id, "summary": e.counterexample.summary,
            "explanation": e.explanation.to_json() if e.explanation else None}


# ------------------------------------------------------------------ cex diff

FIELDS = ("model", "property", "obligation", "kfunc", "context", "case", "impl", "outcome", "rule",
          "violated", "known_bug")


def diff(a: Entry, b: Entry) -> dict:
    """What differs between two counterexamples: ``fields`` and ``values``, each name -> [a, b]."""
    ca, cb = a.counterexample, b.counterexample
    fields = {}
    for name in FIELDS:
        va, vb = getattr(ca, name), getattr(cb, name)
        if name == "violated":
            va, vb = list(va), list(vb)
        if va != vb:
            fields[name] = [va, vb]
    vals_a, vals_b = dict(ca.values), dict(cb.values)
    values = {}
    for name in dict.fromkeys([*vals_a, *vals_b]):
        va, vb = vals_a.get(name), vals_b.get(name)
        if va != vb:
            values[name] = [_jsonable(va), _jsonable(vb)]
    return {"a": a.id, "b": b.id, "fields": fields, "values": values}


def _jsonable(v):
    return sorted(v) if isinstance(v, frozenset) else v


def diff_lines(a: Entry, b: Entry) -> list[str]:
    """The two counterexamples side by side, only what differs (relevant values marked *)."""
    d = diff(a, b)
    relevant = set(a.counterexample.relevant) | set(b.counterexample.relevant)
    rows = [(name, _field_cell(va), _field_cell(vb)) for name, (va, vb) in d["fields"].items()]
    rows += [(("* " if name in relevant else "  ") + name, _value_cell(va), _value_cell(vb))
             for name, (va, vb) in d["values"].items()]
    if not rows:
        return [f"{a.id} and {b.id} do not differ"]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(16, *(min(len(r[1]), 60) for r in rows))
    out = [f"{'':<{w0}}  {'A ' + a.id:<{w1}}  B {b.id}"]
    out += [f"{n:<{w0}}  {va:<{w1}}  {vb}" for n, va, vb in rows]
    if d["values"]:
        out.append("(* a variable that plays a part in A or B)")
    return out


def _field_cell(v) -> str:
    if v is None:
        return "-"
    return "; ".join(v) if isinstance(v, list) else str(v)


def _value_cell(v) -> str:
    return "-" if v is None else fmt_value(v)
