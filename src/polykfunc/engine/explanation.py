"""Minimal explanations: the fewest labelled facts that force a counterexample's violation.

Given a counterexample, the candidates are the model's facts that hold in it (axioms, the
context's view, facts and case) and one "chosen value" per variable. z3 finds an unsat core of
``candidates ∧ ¬violation``; it is shrunk until irreducible, dropping chosen values first, so
the explanation leans on the model's own rules. The rule that selected the outcome and the
violated precondition (or contract) are always part of it. Variables that no kept fact reads
play no part: they are "any value".
"""

from __future__ import annotations

from dataclasses import dataclass

from polykfunc.model import semantics as sem
from polykfunc.model.expr import (
    Const, Expr, FlagsType, FlagTest, BoolType, Var, conj, eq, neg, variables, with_copy,
)
from polykfunc.model.spec import Fact, Model
from polykfunc.properties import Obligation

from polykfunc.engine.witness import all_keys, env_of, value_name
from polykfunc.engine.results import Counterexample
from polykfunc.engine.solver import Z3Session, minimal_core


@dataclass(frozen=True)
class ExplainedFact:
    """One fact of a minimal explanation, traced to the model file and the kernel source."""

    kind: str          # axiom, view, context, case, value, rule, precondition, contract
    label: str
    text: str          # the fact's expression, or "arg.cpu = 3" for a chosen value
    source: str | None  # the kernel citation
    where: str | None   # model file:line

    def to_json(self) -> dict:
        return {"kind": self.kind, "label": self.label, "text": self.text, "source": self.source,
                "where": self.where}


@dataclass(frozen=True)
class Explanation:
    facts: tuple[ExplainedFact, ...]
    relevant: tuple[str, ...]     # variables that play a part
    any_value: tuple[str, ...]    # variables that do not: any value gives the same violation
    minimal: bool                 # False when the solver gave up (then every fact is kept)

    def to_json(self) -> dict:
        return {"facts": [f.to_json() for f in self.facts], "relevant": list(self.relevant),
                "any_value": list(self.any_value), "minimal": self.minimal}


def _where(f: Fact) -> str | None:
    return str(f.where) if f.where is not None else None


def _value_fact(key: tuple[str, str, int], value, model: Model) -> Expr:
    ns, name, copy = key
    if ns == "meta":
        var = sem.context_var(model)
        return eq(Var(var.ns, var.name, var.type, copy), Const(value, var.type))
    decl = model.var(ns, name)
    v = Var(ns, name, decl.type, copy)
    if isinstance(decl.type, FlagsType):
        return conj(*(FlagTest(v, m) if m in value else neg(FlagTest(v, m)) for m in decl.type.values))
    if isinstance(decl.type, BoolType):
        return v if value else neg(v)
    return eq(v, Const(value, decl.type))


def explain(model: Model, ob: Obligation, cex: Counterexample, session: Z3Session | None = None) -> Explanation:
    """The minimal explanation of ``cex``, a counterexample of ``ob`` in ``model``."""
    session = session or Z3Session()
    env = env_of(cex.values)
    k = model.kfunc(cex.kfunc) if cex.kfunc else None
    copies = max(1, len(cex.copies))
    cands: list[tuple[ExplainedFact, Expr]] = []
    for j in range(copies):
        ctx = model.context(str(env[("meta", "context", j)]))
        tag = f" (state #{j})" if copies > 1 else ""
        for ax in model.axioms:
            cands.append((ExplainedFact("axiom", ax.fact.label + tag, ax.fact.text, str(ax.fact.source),
                                        _where(ax.fact)), with_copy(ax.fact.expr, j)))
        for kind, facts in (("view", ctx.view), ("context", ctx.facts)):
            for f in facts:
                cands.append((ExplainedFact(kind, f.label + tag, f.text, str(f.source), _where(f)),
                              with_copy(f.expr, j)))
        case = sem.matching_case(ctx, env, j)
        for c in ctx.cases:
            if c.name == case:
                for f in c.facts:
                    cands.append((ExplainedFact("case", f.label + tag, f.text, str(f.source), _where(f)),
                                  with_copy(f.expr, j)))
    n_model = len(cands)
    for key in all_keys(model, copies):
        if key in env:
            name = value_name(key)
            cands.append((ExplainedFact("value", f"chosen value of {name}", f"{name} = {_show(env[key])}",
                                        None, None), _value_fact(key, env[key], model)))
    violation = conj(ob.condition if ob.condition is not None else conj(), neg(ob.goal))
    core = minimal_core(session, [e for _, e in cands], [neg(violation)],
                        prefer_dropping=list(range(n_model, len(cands))))
    if core.status == "unsat":
        kept = [cands[i] for i in core.kept]
        minimal = True
    else:  # the solver gave up, or (a bug) the facts do not force the violation: keep everything
        kept = cands
        minimal = False
    out = [f for f, _ in kept]
    exprs = [e for _, e in kept]
    if k is not None:
        decision = sem.decide(model, k, env)
        if decision.rule is not None:
            r = decision.rule
            out.append(ExplainedFact("rule", r.when.label, r.when.text, str(r.source), _where(r.when)))
            exprs.append(r.when.expr)
        elif decision.filter_denied_by:
            out.append(ExplainedFact("rule", f"{k.name}: {decision.filter_denied_by}", "", str(k.source), None))
        if cex.property == "safety" and cex.impl:
            for f in k.impl(cex.impl).requires:
                if f.label in cex.violated:
                    out.append(ExplainedFact("precondition", f.label, f.text, str(f.source), _where(f)))
                    exprs.append(f.expr)
        if cex.property in ("coverage", "visibility"):
            for f in sem.contract_facts(model, k):
                out.append(ExplainedFact("contract", f.label, f.text, str(f.source), _where(f)))
                exprs.append(f.expr)
        if cex.property == "visibility":
            for j, impl in enumerate(k.impls):
                for f in impl.requires:
                    if f.label in cex.copies[j]["violated"]:
                        out.append(ExplainedFact("precondition", f"{f.label} (state #{j})", f.text,
                                                 str(f.source), _where(f)))
                        exprs.append(with_copy(f.expr, j))
    relevant = {value_name(v.key) for e in exprs for v in variables(e) if v.ns not in ("set", "flag")}
    relevant |= {f.text.split(" = ", 1)[0] for f in out if f.kind == "value"}
    names = [value_name(key) for key in all_keys(model, copies) if key in env]
    return Explanation(tuple(out), tuple(n for n in names if n in relevant),
                       tuple(n for n in names if n not in relevant), minimal)


def _show(v) -> str:
    if isinstance(v, frozenset):
        return "[" + ", ".join(sorted(v)) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return repr(v)
    return str(v)
