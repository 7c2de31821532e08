"""Decide the same proof obligations as the prover, by explicit enumeration instead of z3.

:func:`decide_obligation` returns a :class:`Verdict` for one obligation of
:mod:`polykfunc.properties`: proved, counterexample (with every context in which one exists),
vacuous or not applicable. It reads the same model objects and obligations the prover reads,
but it never builds an SMT formula: every question is answered by
:class:`polykfunc.crosscheck.explicit_search.Search`, which enumerates the bounded domains of the variables the
question reads and evaluates the model's own formulas on them.

The questions are split the way the prover reports answers:

- an obligation quantified over contexts is asked once per context, with ``meta.context``
  fixed, so the unary facts of the context (its member, its kf_mask, ...) shrink the domains
  before any enumeration;
- a visibility obligation (one runtime copy per implementation, sharing the load-time view)
  is decided by projecting, per copy and per context, the runtime states that break that
  copy's implementation onto the view variables, and joining the projections: the copies
  only meet in the view.

:func:`compare` puts a verdict next to the prover's :class:`~polykfunc.engine.results.ObligationResult`;
any difference is an engine bug (z3 encoding, prover loop or this module), never a model bug.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable

from polykfunc.model import semantics as sem
from polykfunc.model.expr import Const, Expr, conj, neg, with_copy
from polykfunc.model.spec import Model
from polykfunc.properties import Obligation, obligations
from polykfunc.properties.obligation import VACUITY_IS_SKIP

from polykfunc.crosscheck.explicit_search import Search
from polykfunc.engine.results import ObligationResult, Status

PROVED, COUNTEREXAMPLE, VACUOUS, NOT_APPLICABLE, UNKNOWN = (
    "proved", "counterexample", "vacuous", "not applicable", "unknown")


@dataclass(frozen=True)
class Verdict:
    """How an obligation ends when decided by enumeration."""

    obligation: str
    property: str
    status: str                       # proved | counterexample | vacuous | not applicable
    contexts: tuple[str, ...] = ()    # contexts with a counterexample (per-context obligations)
    witness: dict | None = field(default=None, compare=False)   # one counterexample state
    visited: int = field(default=0, compare=False)              # assignments tried
    seconds: float = field(default=0.0, compare=False)


def _case_formulas(model: Model, ctx_name: str) -> list[Expr]:
    """Axioms and one context's admitted states (``meta.context`` fixed to it), split by the
    context's cases (their union is the context): each piece is a plain conjunction, whose
    one-variable facts shrink the domains."""
    ctx = model.context(ctx_name)
    cv = sem.context_var(model)
    common = [sem.axioms(model), *(f.expr for f in ctx.view), *(f.expr for f in ctx.facts),
              _is_context(cv, ctx_name)]
    if not ctx.cases:
        return [conj(*common)]
    return [conj(*common, *(f.expr for f in case.facts)) for case in ctx.cases]


_BASES: dict = {}


def case_searches(model: Model, ctx_name: str, copy: int = 0) -> list[Search]:
    """The propagated :class:`Search` of each case of a context (cached per model)."""
    key = (id(model), ctx_name, copy)
    hit = _BASES.get(key)
    if hit is None or hit[0] is not model:
        if len(_BASES) > 4096:
            _BASES.clear()
        hit = (model, [Search([with_copy(f, copy)]) for f in _case_formulas(model, ctx_name)])
        _BASES[key] = hit
    return hit[1]


def _is_context(cv, name: str, copy: int = 0) -> Expr:
    from polykfunc.model.expr import eq
    v = with_copy(cv, copy)
    return eq(v, Const(name, cv.type))


def decide_obligation(model: Model, ob: Obligation, contexts: Iterable[str] | None = None) -> Verdict:
    """Decide ``ob`` on ``model`` by enumeration (``contexts``: only these, default all).

    Raises :class:`~polykfunc.crosscheck.explicit_search.ExplicitError` if the enumeration contradicts itself.
    """
    t0 = time.perf_counter()
    if ob.witness:
        s = Search([ob.premise])
        env = s.solve()
        return Verdict(ob.id, ob.property, PROVED if env is not None else VACUOUS,
                       visited=s.visited, seconds=time.perf_counter() - t0)
    if not ob.per_context:
        return _decide_copies(model, ob, t0)
    names = model.context_names if contexts is None else tuple(contexts)
    cond = ob.condition if ob.condition is not None else ob.premise
    bad = neg(ob.goal)
    visited = 0
    premise_sat = False
    failing: list[str] = []
    witness = None
    for name in names:
        for base in case_searches(model, name):
            s = base.refine([cond, bad])
            env = s.solve()
            visited += s.visited
            if env is not None:
                premise_sat = True
                failing.append(name)
                witness = witness or env
                break
        else:
            if not premise_sat:
                for base in case_searches(model, name):
                    p = base.refine([cond])
                    premise_sat = p.solve() is not None
                    visited += p.visited
                    if premise_sat:
                        break
    if not premise_sat:
        status = NOT_APPLICABLE if ob.on_vacuous == VACUITY_IS_SKIP else VACUOUS
        return Verdict(ob.id, ob.property, status, visited=visited, seconds=time.perf_counter() - t0)
    return Verdict(ob.id, ob.property, COUNTEREXAMPLE if failing else PROVED, tuple(sorted(failing)),
                   witness, visited, time.perf_counter() - t0)


def _decide_copies(model: Model, ob: Obligation, t0: float) -> Verdict:
    """A visibility obligation: n runtime copies sharing the view.

    premise ∧ ¬goal = Load(V) ∧ ⋀ⱼ (Reachⱼ ∧ Allowⱼ ∧ ¬Preⱼ): the copies share only V, so it
    is satisfiable iff some V satisfying Load lies in every copy's projection onto the view.
    """
    k = model.kfunc(ob.kfunc)  # type: ignore[arg-type]
    load = sem.load_admitted(model, k)
    allow = sem.contract(model, k)
    n = ob.copies
    visited = 0
    # the premise: Load(V) and some copy is a legitimate call at V (every copy is a copy of it)
    premise_sat = False
    for name in model.context_names:
        for base in case_searches(model, name):
            s = base.refine([load, allow])
            visited += s.visited
            if s.solve() is not None:
                premise_sat = True
                break
        if premise_sat:
            break
    if not premise_sat:
        return Verdict(ob.id, ob.property, VACUOUS, visited=visited, seconds=time.perf_counter() - t0)
    view_keys = sorted({v.key for v in model_view_vars(model)})
    projections: list[set[tuple]] = []
    for j in range(n):
        bad_j = with_copy(neg(sem.requires(k, j)), j)
        got: set[tuple] = set()
        for name in model.context_names:
            for base in case_searches(model, name, j):
                s = base.refine([load, with_copy(allow, j), bad_j])
                got |= s.project(view_keys)
                visited += s.visited
        if not got:
            return Verdict(ob.id, ob.property, PROVED, visited=visited, seconds=time.perf_counter() - t0)
        projections.append(got)
    view = _join(projections)
    if view is None:
        return Verdict(ob.id, ob.property, PROVED, visited=visited, seconds=time.perf_counter() - t0)
    return Verdict(ob.id, ob.property, COUNTEREXAMPLE, (), dict(zip(view_keys, view)), visited,
                   time.perf_counter() - t0)


def model_view_vars(model: Model):
    from polykfunc.model.expr import Var
    return [Var(d.ns, d.name, d.type) for d in model.vars if d.ns == "view"]


def _join(projections: list[set[tuple]]) -> tuple | None:
    """A view tuple compatible with one tuple of every projection (None is a wildcard)."""
    def merge(a: tuple, b: tuple) -> tuple | None:
        out = []
        for x, y in zip(a, b):
            if x is None:
                out.append(y)
            elif y is None or x == y:
                out.append(x)
            else:
                return None
        return tuple(out)

    partial = list(projections[0])
    for proj in projections[1:]:
        nxt = {m for a in partial for b in proj if (m := merge(a, b)) is not None}
        if not nxt:
            return None
        partial = list(nxt)
    return min(partial, key=repr) if partial else None


def decide_model(model: Model, properties: Iterable[str] | None = None,
                 kfuncs: Iterable[str] | None = None) -> list[Verdict]:
    """Every obligation of ``model`` (for ``properties`` and ``kfuncs``; default all), decided
    by enumeration, in the prover's order."""
    wanted = None if kfuncs is None else set(kfuncs)
    return [decide_obligation(model, ob) for ob in obligations(model, properties)
            if wanted is None or ob.kfunc is None or ob.kfunc in wanted]


# ---------------------------------------------------------------------- comparison with z3

def z3_verdict(result: ObligationResult) -> tuple[str, tuple[str, ...]]:
    """The prover's result in the terms of a :class:`Verdict`: status and failing contexts."""
    s = result.status
    if s == Status.PROVED:
        return PROVED, ()
    if s == Status.NOT_APPLICABLE:
        return NOT_APPLICABLE, ()
    if s == Status.VACUOUS:
        return VACUOUS, ()
    if s == Status.UNKNOWN:
        return UNKNOWN, ()
    ctxs = tuple(sorted({c.context for c in result.counterexamples if c.context})) \
        if result.property != "visibility" else ()
    return COUNTEREXAMPLE, ctxs


def compare(result: ObligationResult, verdict: Verdict) -> str | None:
    """Why the prover and the enumeration disagree on one obligation, or None when they agree
    (an ``unknown`` prover result is never a disagreement)."""
    status, ctxs = z3_verdict(result)
    if status == UNKNOWN:
        return None
    if status != verdict.status:
        return f"{result.id}: z3 says {status}, enumeration says {verdict.status}"
    if status == COUNTEREXAMPLE and ctxs != verdict.contexts:
        return (f"{result.id}: counterexample contexts differ: z3 {list(ctxs)}, "
                f"enumeration {list(verdict.contexts)}")
    return None


__all__ = ["COUNTEREXAMPLE", "NOT_APPLICABLE", "PROVED", "VACUOUS", "Verdict", "case_searches", "compare",
           "decide_model", "decide_obligation", "z3_verdict"]
