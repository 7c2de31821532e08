"""The fixed model of an open finding, and what ``prove`` answers for the finding's obligation.

:func:`derive_fix` applies the report's suggested fix mechanically to an in-memory copy of the
model, when the finding allows it: a *safety* finding about the implementation a resolver picks
(``bug.impl``) in a context whose view the verifier can see (every view fact of the context
reads only ``view.*`` variables). The fix is one resolve rule, put first: *when the context's
view holds, pick an implementation that requires nothing* (the one safe everywhere), or, when
the kfunc has none, *reject the program at load*. Any other finding (visibility: the deciding
state is not visible at load; a selector or a single implementation; a context decided by
run-time state) gets no mechanical fix, and :func:`check_fix` says so instead of claiming a proof.

:func:`check_fix` proves the fixed model for the finding's property with known bugs ignored and
reports the finding's obligation (the kfunc's results for that property): ``proved`` only when
z3 answered unsat for all of them; ``still_fails`` with the counterexamples no other declared
finding accounts for (the finding's context first); ``unknown`` when z3 gave up or a premise
became empty (vacuous): then nothing is claimed. The fix is a proposal to check, and the
answer is the prover's, never assumed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from polykfunc.model.expr import conj, variables
from polykfunc.model.spec import REJECT, Fact, KnownBug, Model, Rule, Source

PROVED, STILL_FAILS, UNKNOWN, NO_MECHANICAL_FIX = "proved", "still_fails", "unknown", "no_mechanical_fix"


@dataclass(frozen=True)
class Fix:
    """The change: ``rule`` put first among ``kfunc``'s resolve rules, shown as TOML."""

    kfunc: str
    rule: Rule
    toml: str
    model: Model            # the fixed copy


@dataclass(frozen=True)
class FixCheck:
    """What ``prove`` answered for the finding's obligation on the fixed model."""

    status: str             # PROVED / STILL_FAILS / UNKNOWN / NO_MECHANICAL_FIX
    text: str               # one paragraph for the report
    fix: Fix | None = None
    remaining: tuple[str, ...] = ()   # summaries of the counterexamples that remain


def _safe_impl(model: Model, bug: KnownBug) -> str:
    k = model.kfunc(bug.kfunc)
    for impl in k.impls:
        if impl.name != bug.impl and not impl.requires:
            return impl.name
    return REJECT


def derive_fix(model: Model, bug: KnownBug) -> Fix | str:
    """The fixed model for ``bug`` (see the module doc), or a sentence saying why none is derived."""
    if bug.property != "safety" or not bug.impl:
        return (f"the finding is about {bug.property}, not about which implementation a rule picks: "
                "its fix changes what the kfunc learns at run time, which no model rule expresses")
    k = model.kfunc(bug.kfunc)
    if k.in_force != "resolver" or not k.resolve:
        return f"{bug.kfunc} is decided by a {k.in_force}, not by resolve rules over the verifier's view"
    if not bug.context:
        return "the finding names no context whose view a rule could test"
    ctx = model.context(bug.context)
    guard = conj(*(f.expr for f in ctx.view))
    if not ctx.view or any(v.ns != "view" for v in variables(guard)):
        return (f"context {ctx.name} is not decided by the verifier's view alone "
                "(a load-time rule cannot tell it apart)")
    select = _safe_impl(model, bug)
    text = " and ".join(f"({f.text})" for f in ctx.view)
    source = Source(f"polykfunc: suggested fix for {bug.id} (not kernel code)", confirmed=False)
    rule = Rule(Fact(guard, text, f"fix for {bug.id}", source), select,
                f"{ctx.name}: pick the implementation safe everywhere" if select != REJECT
                else f"{ctx.name}: reject at load", source)
    fixed_k = dataclasses.replace(k, resolve=(rule,) + tuple(k.resolve))
    fixed = dataclasses.replace(model, kfuncs=tuple(fixed_k if x.name == k.name else x for x in model.kfuncs),
                                known_bugs=tuple(b for b in model.known_bugs if b.id != bug.id))
    toml = (f"[[kfunc.{k.name}.resolve]]   # first, before the existing rules\n"
            f"when = {text!r}\nselect = {select!r}\n")
    return Fix(k.name, rule, toml, fixed)


def check_fix(model: Model, bug: KnownBug) -> FixCheck:
    """Prove the fixed model for the finding's obligation (see the module doc)."""
    from polykfunc.engine.prover import prove_model
    from polykfunc.engine.results import Status
    fix = derive_fix(model, bug)
    if isinstance(fix, str):
        return FixCheck(NO_MECHANICAL_FIX, f"No mechanical fix derived: {fix}. Nothing was proved.")
    # the fixed model no longer declares this finding, so a counterexample of it would show as new
    report = prove_model(fix.model, properties=[bug.property], use_known=True)
    mine = [r for r in report.results if r.kfunc == bug.kfunc]
    cexs = [c for r in mine for c in r.counterexamples]
    fresh = sorted((c for c in cexs if not c.known_bug), key=lambda c: (c.context != bug.context, c.context or ""))
    others = sorted({c.known_bug for c in cexs if c.known_bug})
    change = (f"`{bug.kfunc}` picks `{fix.rule.select}` first when the view of context `{bug.context}` "
              f"holds")
    cmd = f"`prove --property {bug.property}` on the fixed model (this finding's declaration removed)"
    decided = (Status.PROVED, Status.NOT_APPLICABLE, Status.NOTE, Status.KNOWN, Status.COUNTEREXAMPLE)
    if not mine or any(r.status not in decided for r in mine):
        why = "; ".join(f"{r.id}: {r.status.label}" for r in mine if r.status not in decided) or "no obligation"
        return FixCheck(UNKNOWN, f"With the fix ({change}), {cmd} did not decide the finding's obligation ({why}): "
                        "not claimed as fixed.", fix)
    if fresh:
        return FixCheck(STILL_FAILS, f"With the fix ({change}), {cmd} still finds {len(fresh)} undeclared "
                        f"counterexample(s) for {bug.kfunc}: the fix is not enough.", fix,
                        tuple(f"{c.context}: {c.summary}" for c in fresh))
    rest = (f" The other declared finding(s) of {bug.kfunc} remain, as declared: {', '.join(others)}."
            if others else "")
    return FixCheck(PROVED, f"With the fix ({change}), {cmd} finds no counterexample for {bug.kfunc} outside "
                    f"the other declared findings: the finding's obligation is proved (z3 unsat, premises "
                    f"satisfiable) in every context, {bug.context} included.{rest}", fix)
