"""What a model means, as formulas: the one place that defines the mechanism.

Everything downstream (proof obligations, the SMT encoding, concrete replay) builds on the
functions here, so the solver and the replay can never disagree about what a rule means.

Outcomes of a kfunc call are small ints: ``0 .. n-1`` is the implementation of that index
(in the order the model lists them), :data:`REJECTED` the program fails to load,
:data:`REFUSED` the kfunc refuses the call at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

from .expr import (
    BOOL, META, EnumType, Expr, Var, Value, conj, disj, eq, evaluate, int_const, ite, neg,
    substitute, Const,
)
from .spec import ERROR, REJECT, Context, Fact, Kfunc, Model, Rule

REJECTED = -1
REFUSED = -2


def context_var(model: Model) -> Var:
    """``meta.context``: which context a runtime state belongs to."""
    return Var(META, "context", EnumType(model.context_names))


def outcome_name(kfunc: Kfunc, code: int) -> str:
    """A readable name for an outcome code."""
    if code == REJECTED:
        return "rejected at load"
    if code == REFUSED:
        return "refused at run time"
    return kfunc.impls[code].name


def axioms(model: Model) -> Expr:
    """Every axiom of the model, conjoined."""
    return conj(*(a.fact.expr for a in model.axioms))


def facts_of(ctx: Context) -> Expr:
    """The runtime states (with their views) a context admits, axioms not included."""
    cases = disj(*(conj(*(f.expr for f in c.facts)) for c in ctx.cases)) if ctx.cases else conj()
    return conj(*(f.expr for f in ctx.view), *(f.expr for f in ctx.facts), cases)


def view_of(ctx: Context) -> Expr:
    return conj(*(f.expr for f in ctx.view))


def in_some_context(model: Model, contexts: tuple[str, ...] | None = None) -> Expr:
    """``meta.context`` names one of ``contexts`` (default: all) and the state fits it."""
    cv = context_var(model)
    names = model.context_names if contexts is None else contexts
    return disj(*(conj(eq(cv, Const(c.name, cv.type)), facts_of(c))
                  for c in model.contexts if c.name in names))


# ------------------------------------------------------------------ load-time admission

def _kfunc_refs(model: Model, kfunc: Kfunc) -> dict[tuple[str, str], Expr]:
    refs: dict[tuple[str, str], Expr] = {("set", s.name): Const(s.name in kfunc.sets, BOOL) for s in model.kfunc_sets}
    refs.update({("flag", f): Const(f in kfunc.flags, BOOL) for f in _all_flags(model)})
    return refs


def _all_flags(model: Model) -> set[str]:
    from .validate import _ANY_FLAG
    return set(_ANY_FLAG)


def registered(model: Model, kfunc: Kfunc) -> Expr:
    """The programs that see the kfunc at all (its sets' registration)."""
    if not kfunc.sets:
        return kfunc.registered.expr if kfunc.registered else conj()
    parts = []
    for s in kfunc.sets:
        ks = model.kfunc_set(s)
        parts.append(ks.registered.expr if ks.registered else conj())
    return disj(*parts)


def specialised_filters(model: Model, kfunc: Kfunc) -> tuple[tuple[Expr, tuple[Expr, ...]], ...]:
    """For each filter of ``model`` (in order): when it applies to ``kfunc`` and each rule's
    condition, with the filter's ``set.X``/``flag.Y`` variables replaced by what ``kfunc`` is.

    They depend only on the kfunc's sets and flags, so they are computed once per (model,
    sets, flags): every outcome formula and every concrete decision of a model reuses them.
    """
    memo = model.derived("specialised filters")
    key = (frozenset(kfunc.sets), frozenset(kfunc.flags))
    got = memo.get(key)
    if got is None:
        refs = _kfunc_refs(model, kfunc)
        got = memo[key] = tuple((substitute(f.applies, refs),
                                     tuple(substitute(rule.when.expr, refs) for rule in f.rules))
                                    for f in model.filters)
    return got


def filter_passes(model: Model, kfunc: Kfunc) -> Expr:
    """Every filter that applies to the kfunc says allow."""
    parts = []
    for f, (applies, whens) in zip(model.filters, specialised_filters(model, kfunc)):
        verdict: Expr = Const(f.default == "allow", BOOL)
        for rule, when in zip(reversed(f.rules), reversed(whens)):
            verdict = ite(when, Const(rule.verdict == "allow", BOOL), verdict)
        parts.append(disj(neg(applies), verdict))
    return conj(*parts)


def load_admitted(model: Model, kfunc: Kfunc) -> Expr:
    """The verifier lets a program with this view call the kfunc."""
    return conj(registered(model, kfunc), filter_passes(model, kfunc))


# ------------------------------------------------------------------ the mechanisms

def _chain(kfunc: Kfunc, rules: tuple[Rule, ...], refusal: int) -> Expr:
    out: Expr = int_const(refusal)
    for rule in reversed(rules):
        code = refusal if rule.select in (REJECT, ERROR) else kfunc.impl_names.index(rule.select)
        out = ite(rule.when.expr, int_const(code), out)
    return out


def resolver_outcome(kfunc: Kfunc) -> Expr:
    """The load-time resolver's choice (over the view); REJECTED when it rejects."""
    assert kfunc.resolve is not None
    return _chain(kfunc, kfunc.resolve, REJECTED)


def selector_outcome(kfunc: Kfunc) -> Expr:
    """The runtime selector's choice (over tracked state and arguments); REFUSED on error."""
    assert kfunc.select is not None
    return _chain(kfunc, kfunc.select, REFUSED)


def outcome(model: Model, kfunc: Kfunc) -> Expr:
    """What a call gets: load admission first, then the mechanism in force."""
    if kfunc.in_force == "resolver":
        chosen = resolver_outcome(kfunc)
    elif kfunc.in_force == "selector":
        chosen = selector_outcome(kfunc)
    else:
        chosen = int_const(0)
    return ite(load_admitted(model, kfunc), chosen, int_const(REJECTED))


def contract(model: Model, kfunc: Kfunc) -> Expr:
    """The calls that are legitimate: the kfunc's own ``allow``, else its sets', else true."""
    if kfunc.allow is not None:
        return kfunc.allow.expr
    allows = [model.kfunc_set(s).allow for s in kfunc.sets]
    if not allows or any(a is None for a in allows):
        return conj()
    return disj(*(a.expr for a in allows))  # type: ignore[union-attr]


def contract_facts(model: Model, kfunc: Kfunc) -> tuple[Fact, ...]:
    if kfunc.allow is not None:
        return (kfunc.allow,)
    return tuple(a for a in (model.kfunc_set(s).allow for s in kfunc.sets) if a is not None)


def requires(kfunc: Kfunc, impl_index: int) -> Expr:
    return conj(*(f.expr for f in kfunc.impls[impl_index].requires))


# ------------------------------------------------------------------ concrete evaluation

Env = dict[tuple[str, str, int], Value]


@dataclass(frozen=True)
class Decision:
    """How a concrete call was decided, rule by rule (for explanations)."""

    outcome: int
    admitted: bool
    filter_denied_by: str | None
    rule: Rule | None
    mechanism: str


def decide(model: Model, kfunc: Kfunc, env: Env, copy: int = 0) -> Decision:
    """Run the mechanism on concrete values (no solver), naming the rule that decided."""
    from .expr import with_copy
    ev = lambda e: evaluate(with_copy(e, copy), env)
    if not ev(registered(model, kfunc)):
        return Decision(REJECTED, False, "not registered for this program type", None, "registration")
    for f, (applies, whens) in zip(model.filters, specialised_filters(model, kfunc)):
        if not ev(applies):
            continue
        verdict, by = f.default, f"{f.name} (default)"
        for i, (rule, when) in enumerate(zip(f.rules, whens)):
            if ev(when):
                verdict, by = rule.verdict, f"{f.name} rule {i}"
                break
        if verdict == "deny":
            return Decision(REJECTED, False, by, None, "filter")
    if kfunc.in_force == "single":
        return Decision(0, True, None, None, "single implementation")
    rules = kfunc.resolve if kfunc.in_force == "resolver" else kfunc.select
    refusal = REJECTED if kfunc.in_force == "resolver" else REFUSED
    for rule in rules or ():
        if ev(rule.when.expr):
            code = refusal if rule.select in (REJECT, ERROR) else kfunc.impl_names.index(rule.select)
            return Decision(code, True, None, rule, kfunc.in_force)
    return Decision(refusal, True, None, None, kfunc.in_force)


def context_of(model: Model, env: Env, copy: int = 0) -> str:
    return str(env[(META, "context", copy)])


def matching_case(ctx: Context, env: Env, copy: int = 0) -> str | None:
    """The first case of the context whose facts hold (None when it has no cases)."""
    from .expr import with_copy
    for c in ctx.cases:
        if all(evaluate(with_copy(f.expr, copy), env) for f in c.facts):
            return c.name
    return None
