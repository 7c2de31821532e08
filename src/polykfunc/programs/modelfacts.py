"""Facts written in a model's own vocabulary, compiled against that model.

Program checks, nesting and lock properties all state facts as expression strings
(``"view.member == 'enqueue'"``) and compile them against whichever model is being checked.
A fact that model cannot express (a variable or enum value it does not declare) is *dropped*,
never guessed: dropping a fact only widens the states considered, so it can cost precision,
never soundness.
"""

from __future__ import annotations

from dataclasses import dataclass

from polykfunc.model.expr import Expr
from polykfunc.model.parse import ExprError, Scope, parse_expr
from polykfunc.model.spec import Fact, Model, Source

NAMESPACES = frozenset({"view", "state", "tracked", "arg"})


@dataclass(frozen=True)
class Stated:
    """A fact as text with the reason it holds (shown in reports)."""

    text: str
    why: str


def scope_of(model: Model) -> Scope:
    types = {(v.ns, v.name): v.type for v in model.vars}
    preds = {name: (lambda e=e: e) for name, e in model.predicates}
    return Scope(types, NAMESPACES, preds)


_SCOPES: dict[int, tuple[Model, Scope, dict]] = {}


def compile_fact(model: Model, text: str) -> Expr | None:
    """``text`` as an expression of ``model``, or None when the model cannot express it.

    Compiled once per model and text: the same expression object comes back, so the solver's
    encoder reuses what it built for it."""
    hit = _SCOPES.get(id(model))
    if hit is None or hit[0] is not model:
        hit = (model, scope_of(model), {})
        _SCOPES[id(model)] = hit
    done = hit[2]
    if text not in done:
        try:
            done[text] = parse_expr(text, hit[1])
        except ExprError:
            done[text] = None
    return done[text]


def compile_facts(model: Model, facts: list[Stated]) -> tuple[list[Fact], list[Stated]]:
    """(the facts the model can express, as labelled :class:`Fact`, and the dropped ones)."""
    kept, dropped = [], []
    for f in facts:
        e = compile_fact(model, f.text)
        if e is None:
            dropped.append(f)
        else:
            kept.append(_fact(e, f.text, f.why))
    return kept, dropped


_FACTS: dict[tuple, Fact] = {}


def _fact(e: Expr, text: str, why: str) -> Fact:
    key = (id(e), text, why)
    hit = _FACTS.get(key)
    if hit is None or hit.expr is not e:
        hit = _FACTS[key] = Fact(e, text, f"{why}: {text}", Source(f"polykfunc: {why}"))
    return hit


def has_var(model: Model, qualname: str) -> bool:
    ns, _, name = qualname.partition(".")
    return any(v.ns == ns and v.name == name for v in model.vars)
