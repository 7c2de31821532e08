"""Prove a model's obligations with z3, one by one.

For every obligation the prover first checks that its premise is satisfiable (a proof over an
empty premise proves nothing), then looks for a counterexample. When it finds one, it replays
it on the concrete model, records it, excludes that context and looks again, so every failing
context is reported and the remaining ones are proved. ``unknown`` is never a proof.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

from polykfunc.errors import InternalError
from polykfunc.model import semantics as sem
from polykfunc.model.expr import META, Const, Var, neg
from polykfunc.model.spec import Model
from polykfunc.properties import Obligation, obligations
from polykfunc.properties.generate import runtime_premise
from polykfunc.properties.obligation import VACUITY_IS_SKIP

from polykfunc.engine.witness import all_keys, build
from polykfunc.engine.replay import replay_problems
from polykfunc.engine.results import MissingKnownBug, ModelReport, ObligationResult, Status
from polykfunc.engine.solver import DEFAULT_RLIMIT, Z3Session, z3_version
from polykfunc.engine.split import SplitProver

Progress = Callable[[str, int, int], None]


def prove_model(model: Model, *, properties: Iterable[str] | None = None, use_known: bool = True,
                rlimit: int = DEFAULT_RLIMIT, progress: Progress | None = None, cache=None) -> ModelReport:
    """Prove every obligation of ``model`` for ``properties`` (default: all).

    With ``cache`` (a :class:`~polykfunc.engine.cache.ProofCache`), an obligation whose content is
    unchanged is rebuilt from the cache and replayed instead of solved, and every solved one
    is stored. Returns a :class:`ModelReport`; never raises for a failed proof. Raises
    :class:`~polykfunc.errors.InternalError` if a counterexample does not replay.
    """
    start = time.perf_counter()
    obs = obligations(model, properties)
    session = Z3Session(rlimit)
    split: SplitProver | None = None
    known = _known_matcher(model) if use_known else None
    results = []
    for i, ob in enumerate(obs):
        if progress:
            progress(model.name, i, len(obs))
        hit = cache.lookup(model, ob, rlimit, known) if cache is not None else None
        if hit is None:
            if SplitProver.fits(ob):
                split = split or SplitProver(model, rlimit)
                hit = split.prove(ob, known)
            if hit is None:
                hit = prove_obligation(session, model, ob, known)
            if cache is not None:
                cache.store(model, ob, rlimit, hit)
        results.append(hit)
    if cache is not None:
        cache.save()
    if progress:
        progress(model.name, len(obs), len(obs))
    ran = {ob.property for ob in obs}
    missing = ()
    if use_known:
        found = {c.known_bug for r in results for c in r.counterexamples}
        undecided = {(r.property, r.kfunc) for r in results if r.status == Status.UNKNOWN}
        missing = tuple(MissingKnownBug(b.id, b.title, b.property, b.kfunc, b.fixed_by)
                        for b in model.known_bugs
                        if b.property in ran and b.id not in found and (b.property, b.kfunc) not in undecided)
    return ModelReport(model.name, model.kernel, str(model.path), tuple(results), missing,
                       time.perf_counter() - start, z3_version(), rlimit)


def _known_matcher(model: Model):
    def match(prop, kfunc, context, impl):
        for b in model.known_bugs:
            if b.matches(prop, kfunc, context, impl):
                return b
        return None
    return match


def prove_obligation(session: Z3Session, model: Model, ob: Obligation, known=None) -> ObligationResult:
    """Decide one obligation: proved, counterexample(s), unknown, or a vacuous premise."""
    t0 = time.perf_counter()
    wanted = _wanted_vars(model, ob.copies)
    checks = 1
    premise = _local_premise(session, model, ob)
    first = session.check([premise], wanted)

    def result(status: Status, cexs=(), reason="", proved=()):
        return ObligationResult(ob.id, ob.property, ob.model, ob.summary, ob.kfunc, ob.impl, ob.context,
                                status, tuple(cexs), reason, time.perf_counter() - t0, checks, tuple(proved))

    if first.status == "unknown":
        return result(Status.UNKNOWN, reason=f"premise check: {first.reason}")
    if first.status == "unsat":
        if ob.on_vacuous == VACUITY_IS_SKIP:
            return result(Status.NOT_APPLICABLE, reason="no runtime state falls under this obligation")
        return result(Status.VACUOUS, reason=_vacuous_reason(ob))
    if ob.witness:
        return result(Status.PROVED, reason="a runtime state exists")

    ctx_var = Var(META, "context", sem.context_var(model).type)
    blocks = []
    cexs = []
    status = Status.PROVED
    reason = ""
    while True:
        checks += 1
        ans = session.check([premise, neg(ob.goal), *blocks], wanted)
        if ans.status == "unsat":
            break
        if ans.status == "unknown":
            status, reason = Status.UNKNOWN, f"resource limit or incompleteness: {ans.reason}"
            break
        cex = build(model, ob, ans.values, known)
        problems = replay_problems(model, cex)
        if problems:
            raise InternalError(
                f"counterexample for {ob.id} in model {model.name} does not replay on the concrete model: "
                + "; ".join(problems) + ". This is a bug in polykfunc; please report it with the model.")
        cexs.append(cex)
        if not ob.per_context:
            break
        blocks.append(neg(_eq_context(ctx_var, cex.context)))
    status, proved = settle(model, ob, cexs, status)
    return result(status, cexs, reason, proved)


def settle(model: Model, ob: Obligation, cexs, status: Status = Status.PROVED) -> tuple[Status, tuple[str, ...]]:
    """The final status of ``ob`` when its search ended in ``status`` after finding ``cexs``,
    and the contexts proved (used by the prover and by the proof cache alike)."""
    if cexs:
        if all(c.severity == "note" for c in cexs):
            worst = Status.NOTE
        elif all(c.known_bug for c in cexs):
            worst = Status.KNOWN
        else:
            worst = Status.COUNTEREXAMPLE
        status = max(status, worst)  # a give-up after known bugs stays unknown; a defect wins
    failed = {x.context for x in cexs}
    names = _context_names(model)
    proved = (tuple(c for c in names if c not in failed) if failed else names) \
        if status in (Status.PROVED, Status.KNOWN, Status.COUNTEREXAMPLE, Status.NOTE) and ob.per_context else ()
    return status, proved


def _context_names(model: Model) -> tuple[str, ...]:
    """``model.context_names``, built once per model (it is asked for every obligation)."""
    hit = _NAMES.get(id(model))
    if hit is None or hit[0] is not model:
        if len(_NAMES) >= 64:
            _NAMES.clear()
        hit = _NAMES[id(model)] = (model, model.context_names)
    return hit[1]


#: id(model) -> (model, its context names); the model is kept so its id cannot be reused
_NAMES: dict = {}


def _local_premise(session: Z3Session, model: Model, ob: Obligation):
    """The part of ``ob``'s premise that is not already asserted in the session's base.

    The runtime premise of each copy (axioms and context membership) is shared by every
    validity obligation; it is asserted once at the session's base level, and each check adds
    only the obligation's own condition. A witness is checked with its whole premise: the base
    (some context admits the state) is implied by any witness of one context, so adding it
    changes no answer.
    """
    if ob.witness or ob.condition is None:
        return ob.premise
    done = getattr(session, "_runtime_copies", 0)
    for j in range(done, ob.copies):
        session.assert_base(runtime_premise(model, j))
    session._runtime_copies = max(done, ob.copies)  # type: ignore[attr-defined]
    return ob.condition


def _eq_context(var: Var, name: str):
    from polykfunc.model.expr import eq
    return eq(var, Const(name, var.type))


def _wanted_vars(model: Model, copies: int) -> list[Var]:
    cv = sem.context_var(model)
    by_key = {(v.ns, v.name): v for v in model.vars}
    out = []
    for ns, name, copy in all_keys(model, copies):
        if ns == META:
            out.append(Var(META, "context", cv.type, copy))
        else:
            out.append(Var(ns, name, by_key[(ns, name)].type, copy))
    return out


def _vacuous_reason(ob: Obligation) -> str:
    if ob.property == "non-vacuity":
        return "no runtime state satisfies these facts together with the axioms"
    if ob.property == "safety":
        return f"no context ever selects {ob.impl}: the implementation is dead, or a rule can never fire"
    if ob.property == "coverage":
        return f"the contract of {ob.kfunc} allows no call in any context"
    return "the premise of this obligation is empty"


def next_counterexample(model: Model, ob: Obligation, seen, rlimit: int = DEFAULT_RLIMIT, known=None):
    """A counterexample of ``ob`` with a root cause none of ``seen`` has, or None.

    Root causes are what fingerprints name: the context (of the first runtime state) and the
    outcome the call got. Each seen counterexample's (context, outcome) pair is excluded, so
    the answer is genuinely different: another context, or the same context with another
    outcome. Returns the string "unknown" when the solver gives up.
    """
    from polykfunc.model.expr import conj, eq, int_const
    session = Z3Session(rlimit)
    ctx_var = sem.context_var(model)
    k = model.kfunc(ob.kfunc) if ob.kfunc else None
    out = sem.outcome(model, k) if k is not None else None
    codes = {sem.outcome_name(k, c): c for c in range(-2, len(k.impls))} if k is not None else {}
    blocks = []
    for cex in seen:
        same = [_eq_context(ctx_var, cex.context)]
        if out is not None and cex.outcome in codes and ob.property != "safety":
            same.append(eq(out, int_const(codes[cex.outcome])))
        blocks.append(neg(conj(*same)))
    ans = session.check([ob.premise, neg(ob.goal), *blocks], _wanted_vars(model, ob.copies))
    if ans.status == "unsat":
        return None
    if ans.status == "unknown":
        return "unknown"
    cex = build(model, ob, ans.values, known or _known_matcher(model))
    problems = replay_problems(model, cex)
    if problems:
        raise InternalError(f"counterexample for {ob.id} does not replay: " + "; ".join(problems))
    return cex


