"""Replay a counterexample on the concrete model, without the solver.

A counterexample is only shown to a user after it replays: its state satisfies the axioms and
its context, the mechanism (evaluated rule by rule in Python) really produces the outcome it
claims, and the property really fails. One that does not replay is a bug in polykfunc.
"""

from __future__ import annotations

from polykfunc.model import semantics as sem
from polykfunc.model.expr import EvaluationError, evaluate, with_copy
from polykfunc.model.spec import Model

from polykfunc.engine.witness import env_of
from polykfunc.engine.results import Counterexample


def replay_problems(model: Model, cex: Counterexample) -> list[str]:
    """Why ``cex`` does not replay on ``model``; an empty list means it replays."""
    try:
        return _problems(model, cex)
    except (EvaluationError, KeyError, ValueError) as exc:
        return [f"cannot evaluate: {exc}"]


def replays(model: Model, cex: Counterexample) -> bool:
    return not replay_problems(model, cex)


def _problems(model: Model, cex: Counterexample) -> list[str]:
    env = env_of(cex.values)
    k = model.kfunc(cex.kfunc) if cex.kfunc else None
    copies = max(1, len(cex.copies))
    problems: list[str] = []
    for j in range(copies):
        ctx_name = str(env[("meta", "context", j)])
        if j == 0 and ctx_name != cex.context:
            problems.append(f"the state belongs to {ctx_name}, not {cex.context}")
        ctx = model.context(ctx_name)
        for ax in model.axioms:
            if not evaluate(with_copy(ax.fact.expr, j), env):
                problems.append(f"axiom {ax.name} is false")
        if not evaluate(with_copy(sem.facts_of(ctx), j), env):
            problems.append(f"context {ctx_name} does not admit the state (copy {j})")
    if k is None:
        return problems + ["no kfunc"]
    decision = sem.decide(model, k, env)
    got = sem.outcome_name(k, decision.outcome)
    allowed = bool(evaluate(sem.contract(model, k), env))
    if cex.property == "safety":
        impl = k.impl(cex.impl)  # type: ignore[arg-type]
        if got != impl.name:
            problems.append(f"the mechanism selects {got}, not {impl.name}")
        if all(evaluate(f.expr, env) for f in impl.requires):
            problems.append(f"every precondition of {impl.name} holds")
    elif cex.property == "coverage":
        if cex.obligation.endswith("allowed-resolves"):
            if not allowed:
                problems.append("the contract does not allow the call")
            if decision.outcome >= 0:
                problems.append(f"the call gets {got}")
        else:
            if allowed:
                problems.append("the contract allows the call")
            if decision.outcome < 0:
                problems.append(f"the call gets no implementation ({got})")
        if got != cex.outcome:
            problems.append(f"the outcome is {got}, not {cex.outcome}")
    elif cex.property == "refinement":
        if not evaluate(sem.load_admitted(model, k), env):
            problems.append("the verifier does not admit the call")
        res, sel = evaluate(sem.resolver_outcome(k), env), evaluate(sem.selector_outcome(k), env)
        if res == sel or (res < 0 and sel < 0):  # type: ignore[operator]
            problems.append("resolver and selector agree")
    elif cex.property == "visibility":
        if not evaluate(sem.load_admitted(model, k), env):
            problems.append("the verifier does not admit the call")
        for j, impl in enumerate(k.impls):
            if not evaluate(with_copy(sem.contract(model, k), j), env):
                problems.append(f"copy {j} is not a call the contract allows")
            if all(evaluate(with_copy(f.expr, j), env) for f in impl.requires):
                problems.append(f"{impl.name} is safe in copy {j}")
    else:
        problems.append(f"unknown property {cex.property}")
    return problems
