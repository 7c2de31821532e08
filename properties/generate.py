"""Build the proof obligations of a model, property by property.

Each function returns plain :class:`Obligation` objects; nothing here solves anything.
docs/properties.md states every property precisely; the docstrings below are its summary.
"""

from __future__ import annotations

from typing import Iterable, Iterator

from polykfunc.model import semantics as sem
from polykfunc.model.expr import RUNTIME_NAMESPACES, TRUE, Cmp, conj, disj, eq, int_const, neg, variables, with_copy
from polykfunc.model.spec import PROPERTIES, Model

from .obligation import VACUITY_IS_SKIP, Obligation


def runtime_premise(model: Model, copy: int = 0):
    """Axioms and context membership of runtime copy ``copy``."""
    key = (id(model), copy)
    hit = _PREMISES.get(key)
    if hit is None or hit[0] is not model:
        if len(_PREMISES) >= 64:  # a few models at a time; fuzzing builds thousands
            _PREMISES.clear()
        hit = (model, with_copy(conj(sem.axioms(model), sem.in_some_context(model)), copy))
        _PREMISES[key] = hit
    return hit[1]


#: (id(model), copy) -> (model, premise); the model is kept so its id cannot be reused
_PREMISES: dict = {}


def safety(model: Model) -> Iterator[Obligation]:
    """For every implementation: in every state a context admits where the mechanism selects
    it, its preconditions hold."""
    base = runtime_premise(model)
    for k in model.kfuncs:
        out = sem.outcome(model, k)
        for i, impl in enumerate(k.impls):
            yield Obligation(
                id=f"safety/{k.name}/{impl.name}", property="safety", model=model.name,
                summary=f"whenever {k.name} selects {impl.name}, its preconditions hold",
                premise=conj(base, eq(out, int_const(i))), goal=sem.requires(k, i),
                kfunc=k.name, impl=impl.name, condition=eq(out, int_const(i)))


def coverage(model: Model) -> Iterator[Obligation]:
    """Every call the contract allows gets an implementation (gap); no call it denies does (leak)."""
    base = runtime_premise(model)
    for k in model.kfuncs:
        out = sem.outcome(model, k)
        allowed = sem.contract(model, k)
        gets_impl = Cmp(">=", out, int_const(0))
        yield Obligation(
            id=f"coverage/{k.name}/allowed-resolves", property="coverage", model=model.name,
            summary=f"every call of {k.name} the contract allows gets an implementation",
            premise=conj(base, allowed), goal=gets_impl, kfunc=k.name, condition=allowed)
        if allowed != TRUE:
            yield Obligation(
                id=f"coverage/{k.name}/denied-refused", property="coverage", model=model.name,
                summary=f"no call of {k.name} the contract denies gets an implementation",
                premise=conj(base, neg(allowed)), goal=neg(gets_impl), kfunc=k.name,
                on_vacuous=VACUITY_IS_SKIP, condition=neg(allowed))


def visibility(model: Model) -> Iterator[Obligation]:
    """For a polymorphic kfunc: at every load-time view some implementation is safe in every
    legitimate runtime state with that view (so a load-time resolver can choose)."""
    for k in model.kfuncs:
        if not k.is_polymorphic:
            continue
        n = len(k.impls)
        admitted = sem.load_admitted(model, k)
        condition = conj(admitted, *(_copy(sem.contract(model, k), j) for j in range(n)))
        premise = conj(*(runtime_premise(model, j) for j in range(n)), condition)
        goal = disj(*(_copy(sem.requires(k, j), j) for j in range(n)))
        load_time = k.in_force == "resolver"
        yield Obligation(
            id=f"visibility/{k.name}", property="visibility", model=model.name,
            summary=(f"the load-time view decides which implementation of {k.name} is safe"),
            premise=premise, goal=goal, kfunc=k.name, copies=n,
            severity="error" if load_time else "note", per_context=False, condition=condition)


def _copy(e, j: int):
    """``e`` over runtime copy ``j``; ``e`` itself when it reads only the shared view (a
    contract over the view is the same formula for every copy, and copying it would only
    rebuild it)."""
    if all(v.ns not in RUNTIME_NAMESPACES for v in variables(e)):
        return e
    return with_copy(e, j)


def refinement(model: Model) -> Iterator[Obligation]:
    """Where a kfunc has both a resolver and a selector, they choose the same implementation
    (or both refuse the call) in every state a context admits and the verifier lets through."""
    base = runtime_premise(model)
    for k in model.kfuncs:
        if k.resolve is None or k.select is None:
            continue
        yield Obligation(
            id=f"refinement/{k.name}", property="refinement", model=model.name,
            summary=f"the load-time resolver of {k.name} chooses what the runtime selector chooses",
            premise=conj(base, sem.load_admitted(model, k)),
            goal=_same_choice(sem.resolver_outcome(k), sem.selector_outcome(k)), kfunc=k.name,
            condition=sem.load_admitted(model, k))


def _same_choice(res, sel):
    """Both pick the same implementation, or both refuse the call (at load or at run time)."""
    zero = int_const(0)
    return disj(eq(res, sel), conj(Cmp("<", res, zero), Cmp("<", sel, zero)))


def non_vacuity(model: Model) -> Iterator[Obligation]:
    """Every context, and every case of a context, admits at least one runtime state."""
    ax = sem.axioms(model)
    for c in model.contexts:
        yield Obligation(
            id=f"non-vacuity/{c.name}", property="non-vacuity", model=model.name,
            summary=f"context {c.name} admits some runtime state", premise=conj(ax, sem.facts_of(c)),
            goal=TRUE, context=c.name, witness=True)
        if len(c.cases) > 1:
            common = conj(ax, sem.view_of(c), *(f.expr for f in c.facts))
            for case in c.cases:
                yield Obligation(
                    id=f"non-vacuity/{c.name}/{case.name}", property="non-vacuity", model=model.name,
                    summary=f"case {case.name!r} of context {c.name} admits some runtime state",
                    premise=conj(common, *(f.expr for f in case.facts)), goal=TRUE,
                    context=c.name, case=case.name, witness=True)


GENERATORS = {
    "non-vacuity": non_vacuity,
    "safety": safety,
    "coverage": coverage,
    "visibility": visibility,
    "refinement": refinement,
}


def obligations(model: Model, properties: Iterable[str] | None = None) -> list[Obligation]:
    """Every obligation of the model for the given properties (default: all), in a stable order."""
    wanted = list(PROPERTIES) if properties is None else list(properties)
    out: list[Obligation] = []
    for prop in PROPERTIES:
        if prop in wanted:
            out.extend(GENERATORS[prop](model))
    return out
