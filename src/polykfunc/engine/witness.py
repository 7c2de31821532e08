"""Turn a satisfying assignment into a :class:`Counterexample` in the model's own terms.

Everything here is computed by concrete evaluation of the model (no solver): which context
and case the state belongs to, which rule decided the outcome, which facts are false.
"""

from __future__ import annotations

from polykfunc.model import semantics as sem
from polykfunc.model.expr import META, RUNTIME_NAMESPACES, Expr, evaluate, variables, with_copy
from polykfunc.model.spec import Fact, Kfunc, Model
from polykfunc.properties import Obligation

from polykfunc.engine.results import Counterexample

Env = dict[tuple[str, str, int], object]


def value_name(key: tuple[str, str, int]) -> str:
    ns, name, copy = key
    return f"{ns}.{name}" + (f"#{copy}" if copy else "")


def parse_value_name(name: str) -> tuple[str, str, int]:
    copy = 0
    if "#" in name:
        name, c = name.split("#", 1)
        copy = int(c)
    ns, var = name.split(".", 1)
    return ns, var, copy


def env_of(values) -> Env:
    """The evaluation environment of a counterexample's ``values``."""
    out: Env = {}
    for k, v in values:
        out[parse_value_name(k)] = frozenset(v) if isinstance(v, (list, tuple, frozenset)) else v
    return out


def all_keys(model: Model, copies: int) -> list[tuple[str, str, int]]:
    """Every variable of the model (per runtime copy), in declaration order."""
    keys = [(v.ns, v.name, 0) for v in model.vars if v.ns == "view"]
    for j in range(copies):
        keys.append((META, "context", j))
        keys.extend((v.ns, v.name, j) for v in model.vars if v.ns in RUNTIME_NAMESPACES)
    return keys


def _names(exprs: list[Expr], copy: int = 0) -> list[str]:
    out: dict[str, None] = {}
    for e in exprs:
        # sorted: a frozenset's order follows string hashes, which differ from process to process
        for name in sorted(value_name(v.key) for v in variables(with_copy(e, copy)) if v.ns not in ("set", "flag")):
            out[name] = None
    return list(out)


def _false(facts, env: Env, copy: int = 0) -> list[Fact]:
    return [f for f in facts if not evaluate(with_copy(f.expr, copy), env)]


def build(model: Model, ob: Obligation, env: Env, known=None) -> Counterexample:
    """The counterexample that ``env`` (a satisfying assignment of ``ob``'s negation) shows."""
    k = model.kfunc(ob.kfunc) if ob.kfunc else None
    values = tuple((value_name(key), env[key]) for key in all_keys(model, ob.copies) if key in env)
    ctx_name = sem.context_of(model, env)
    ctx = model.context(ctx_name)
    case = sem.matching_case(ctx, env)
    common = dict(model=model.name, kernel=model.kernel, property=ob.property, obligation=ob.id,
                  kfunc=ob.kfunc, context=ctx_name, case=case, values=values, severity=ob.severity)
    assert k is not None
    if ob.property == "visibility":
        return _visibility(model, ob, k, env, common, known)
    decision = sem.decide(model, k, env)
    got = sem.outcome_name(k, decision.outcome)
    rule_label = _rule_label(decision)
    rule_exprs = [decision.rule.when.expr] if decision.rule else []
    if ob.property == "safety":
        impl = k.impl(ob.impl)
        bad = _false(impl.requires, env)
        summary = (f"{k.name} called from {ctx_name} selects {impl.name}"
                   + (f" ({rule_label})" if rule_label else "")
                   + f", but its precondition '{_short(bad[0].label)}' does not hold")
        return _make(common, impl=impl.name, outcome=got, rule=rule_label, facts=bad,
                     relevant=_names([f.expr for f in bad] + rule_exprs), summary=summary, known=known)
    if ob.property == "coverage":
        contract = sem.contract_facts(model, k)
        allowed_text = " or ".join(f.text for f in contract) or "true"
        if ob.id.endswith("allowed-resolves"):
            summary = (f"the contract allows {ctx_name} to call {k.name} ({allowed_text}), "
                       f"but the call is {got}" + (f" by {rule_label}" if rule_label else
                                                   f" ({decision.filter_denied_by})" if decision.filter_denied_by else ""))
            violated = [f"{k.name}: an allowed call gets an implementation"]
        else:
            summary = (f"the contract denies {ctx_name} calling {k.name} ({allowed_text}), "
                       f"but the call gets {got}" + (f" ({rule_label})" if rule_label else ""))
            violated = [f"{k.name}: a denied call gets no implementation"]
        impl = got if decision.outcome >= 0 else None
        return _make(common, impl=impl, outcome=got, rule=rule_label, facts=[], extra=violated,
                     sources=[f.source for f in contract] + ([decision.rule.source] if decision.rule else []),
                     relevant=_names([f.expr for f in contract] + rule_exprs), summary=summary, known=known)
    if ob.property == "refinement":
        res = evaluate(sem.resolver_outcome(k), env)
        sel = evaluate(sem.selector_outcome(k), env)
        summary = (f"in {ctx_name}, the load-time resolver of {k.name} chooses "
                   f"{sem.outcome_name(k, res)} but the runtime selector chooses {sem.outcome_name(k, sel)}")
        exprs = [r.when.expr for r in (k.resolve or ())] + [r.when.expr for r in (k.select or ())]
        return _make(common, impl=sem.outcome_name(k, res) if res >= 0 else None, outcome=got, rule=rule_label,
                     facts=[], extra=[f"{k.name}: resolver and selector agree"],
                     sources=[k.source], relevant=_names(exprs), summary=summary, known=known)
    raise ValueError(f"no counterexample form for property {ob.property}")  # pragma: no cover


def _visibility(model, ob, k: Kfunc, env: Env, common: dict, known) -> Counterexample:
    copies, facts, exprs = [], [], []
    for j, impl in enumerate(k.impls):
        cname = str(env[(META, "context", j)])
        bad = _false(impl.requires, env, j)
        copies.append({"copy": j, "context": cname,
                       "case": sem.matching_case(model.context(cname), env, j),
                       "unsafe_impl": impl.name, "violated": [f.label for f in bad]})
        facts.extend(bad[:1])
        exprs.extend(with_copy(f.expr, j) for f in bad)
    where = ", ".join(f"{c['unsafe_impl']} fails in {c['context']}" + (f"#{c['copy']}" if c['copy'] else "")
                      for c in copies)
    summary = (f"at one load-time view no implementation of {k.name} is safe in every runtime state: {where}; "
               f"the choice needs run-time state")
    return _make(common, impl=None, outcome="no single implementation", rule=None, facts=facts,
                 relevant=_names([e for e in exprs]) , summary=summary, known=known, copies=tuple(copies))


def _make(common: dict, *, impl, outcome, rule, facts: list[Fact], relevant, summary, known,
          extra=(), sources=None, copies=()) -> Counterexample:
    bug = None
    if known is not None:
        bug = known(common["property"], common["kfunc"], common["context"], impl)
    srcs = [str(f.source) for f in facts] if sources is None else [str(s) for s in sources]
    return Counterexample(
        **common, impl=impl, outcome=outcome, rule=rule,
        violated=tuple([f.label for f in facts] + list(extra)), sources=tuple(dict.fromkeys(srcs)),
        summary=summary, relevant=tuple(relevant),
        known_bug=bug.id if bug else None, fixed_by=bug.fixed_by if bug else None, copies=copies)


def _rule_label(decision: sem.Decision) -> str | None:
    if decision.rule is not None:
        return decision.rule.when.label
    if decision.filter_denied_by:
        return f"filter {decision.filter_denied_by}"
    return None


def _short(label: str) -> str:
    return label.split(": ", 1)[1] if ": " in label else label
