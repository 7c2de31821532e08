"""Fuzz a concrete resolver against a model, and the prover against both.

Three checks, on states Hypothesis draws from the contexts of the model
(:func:`polykfunc.crosscheck.strategies.admitted_states`):

(a) **conformance**: for every kfunc the resolver decides, its choice is the model's (the same
    implementation, or no implementation for both); and wherever it picks an implementation,
    that implementation's preconditions hold, unless the model picks it too and z3 already
    reports the counterexample (then the kernel bug is the model's, reported by ``prove``);
(b) **prover soundness**: a safety, coverage or refinement obligation z3 *proved* in the
    state's context is never broken by the concrete state (a hit is a prover bug);
(c) **replay**: every counterexample z3 finds replays on the resolver: the resolver makes the
    same choice on the counterexample's state.

A failure is a :class:`Finding`. :func:`fuzz` runs Hypothesis with a fixed seed, lets it shrink
each failure to a minimal state, then excludes that root cause and looks again, so every
distinct failure is found once. :func:`finding_entry` turns a finding into a store entry the
counterexample explorer reads (``polykfunc cex list``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from hypothesis import HealthCheck, Phase, given, seed as hyp_seed, settings

from polykfunc.model import semantics as sem
from polykfunc.model.expr import evaluate
from polykfunc.model.spec import Model

from polykfunc.crosscheck.concrete import NO_IMPLEMENTATION, NotCovered, Resolver, same_choice
from polykfunc.engine.witness import value_name
from polykfunc.engine.results import Counterexample, ModelReport, Status
from polykfunc.crosscheck.strategies import State, admitted_states

CONFORMANCE, UNSAFE, PROVER_BUG, REPLAY, CRASH = "conformance", "unsafe", "prover-bug", "replay", "crash"


@dataclass(frozen=True)
class Finding:
    """One failed check on one concrete state."""

    kind: str                 # conformance | unsafe | prover-bug | replay | crash
    kfunc: str
    context: str
    model_outcome: str
    resolver_outcome: str
    message: str
    env: dict = field(compare=False, hash=False)
    why: str = ""             # the resolver's reason (verifier or kernel message), when it gives one
    obligation: str = ""      # the obligation involved (prover bugs, unsafe picks)
    violated: tuple[str, ...] = ()

    @property
    def key(self) -> tuple:
        """The root cause: the same kind of failure of the same kfunc, with the same outcomes and
        the same reason, is the same failure found again (in whatever context)."""
        return (self.kind, self.kfunc, self.model_outcome, self.resolver_outcome, self.why or self.obligation)

    def reproducer(self, resolver: str) -> str:
        """A line of Python that repeats the resolver call."""
        parts = {ns: {k[1]: v for k, v in sorted(self.env.items()) if k[0] == ns and k[2] == 0}
                 for ns in ("view", "tracked", "arg")}
        return (f"{resolver}({self.kfunc!r}, view={_py(parts['view'])}, tracked={_py(parts['tracked'])}, "
                f"arg={_py(parts['arg'])})  # -> {self.resolver_outcome!r}; the model: {self.model_outcome!r}")


def _py(d: dict) -> str:
    def v(x):
        return "frozenset(" + repr(sorted(x)) + ")" if isinstance(x, frozenset) else repr(x)
    return "{" + ", ".join(f"{k!r}: {v(x)}" for k, x in d.items()) + "}"


class Proofs:
    """What z3 claims for a model: which obligations hold in which context."""

    def __init__(self, model: Model, report: ModelReport):
        self.model = model
        self.proved: dict[str, frozenset[str]] = {}
        self.failing: dict[str, frozenset[str]] = {}
        self.counterexamples = list(report.counterexamples())
        for r in report.results:
            if r.status in (Status.UNKNOWN, Status.VACUOUS, Status.NOT_APPLICABLE):
                continue
            self.proved[r.id] = frozenset(r.proved_contexts)
            self.failing[r.id] = frozenset(c.context for c in r.counterexamples if c.context)

    @classmethod
    def of(cls, model: Model, rlimit: int | None = None) -> "Proofs":
        from polykfunc.engine.prover import prove_model
        from polykfunc.engine.solver import DEFAULT_RLIMIT
        return cls(model, prove_model(model, use_known=True, rlimit=rlimit or DEFAULT_RLIMIT))

    def holds(self, obligation: str, context: str) -> bool:
        return context in self.proved.get(obligation, ())

    def fails(self, obligation: str, context: str) -> bool:
        return context in self.failing.get(obligation, ())


# ---------------------------------------------------------------------- the checks on one state

def check_state(model: Model, resolver: Resolver | None, proofs: Proofs, state: State,
                kfuncs: Iterable[str] | None = None) -> list[Finding]:
    """Every failed check of (a) and (b) on one admitted state (all kfuncs, or ``kfuncs``)."""
    env, ctx = state.env, state.context
    view, tracked, arg = state.part("view"), state.part("tracked"), state.part("arg")
    wanted = None if kfuncs is None else set(kfuncs)
    out: list[Finding] = []
    for k in model.kfuncs:
        if wanted is not None and k.name not in wanted:
            continue
        decision = sem.decide(model, k, env)
        got = sem.outcome_name(k, decision.outcome)
        out.extend(_prover_checks(model, proofs, k, ctx, env, decision.outcome, got))
        if resolver is None or not resolver.covers(k.name):
            continue
        try:
            theirs, why = resolver.explain(k.name, view, tracked, arg)
        except NotCovered:
            continue
        except Exception as e:  # the resolver itself fails: a finding, never a crash of polykfunc
            out.append(Finding(CRASH, k.name, ctx, got, f"{type(e).__name__}", f"{resolver.name} raised "
                               f"{type(e).__name__}: {e}", dict(env)))
            continue
        if theirs not in NO_IMPLEMENTATION and theirs not in k.impl_names:
            out.append(Finding(CRASH, k.name, ctx, got, str(theirs), f"{resolver.name} returned {theirs!r}, "
                               f"which is no implementation of {k.name} ({', '.join(k.impl_names)}) nor "
                               "'rejected at load' / 'refused at run time'", dict(env), why))
            continue
        if not same_choice(got, theirs):
            out.append(Finding(CONFORMANCE, k.name, ctx, got, theirs,
                               f"in {ctx}, {k.name} gets {theirs} from the resolver but {got} from the model",
                               dict(env), why))
        if theirs in NO_IMPLEMENTATION:
            continue
        i = k.impl_names.index(theirs)
        bad = [f for f in k.impls[i].requires if not evaluate(f.expr, env)]
        ob = f"safety/{k.name}/{theirs}"
        if bad and not (theirs == got and proofs.fails(ob, ctx)):
            out.append(Finding(UNSAFE, k.name, ctx, got, theirs,
                               f"in {ctx}, the resolver picks {theirs} for {k.name}, but its precondition "
                               f"'{bad[0].label}' does not hold", dict(env), why, ob,
                               tuple(f.label for f in bad)))
    return out


def _prover_checks(model, proofs: Proofs, k, ctx: str, env, code: int, got: str) -> list[Finding]:
    """(b): a proved obligation is never broken by a concrete admitted state."""
    out = []
    if code >= 0:
        ob = f"safety/{k.name}/{got}"
        bad = [f for f in k.impls[code].requires if not evaluate(f.expr, env)]
        if bad and proofs.holds(ob, ctx):
            out.append(Finding(PROVER_BUG, k.name, ctx, got, got,
                               f"z3 proved {ob} in {ctx}, but this state breaks it (a bug in polykfunc: "
                               "please report it with the reproducer)", dict(env), "", ob,
                               tuple(f.label for f in bad)))
    allowed = bool(evaluate(sem.contract(model, k), env))
    ob = f"coverage/{k.name}/allowed-resolves" if allowed else f"coverage/{k.name}/denied-refused"
    broken = (code < 0) if allowed else (code >= 0)
    if broken and proofs.holds(ob, ctx):
        out.append(Finding(PROVER_BUG, k.name, ctx, got, got,
                           f"z3 proved {ob} in {ctx}, but this state breaks it", dict(env), "", ob))
    if k.resolve is not None and k.select is not None and evaluate(sem.load_admitted(model, k), env):
        res, sel = evaluate(sem.resolver_outcome(k), env), evaluate(sem.selector_outcome(k), env)
        ob = f"refinement/{k.name}"
        if not (res == sel or (res < 0 and sel < 0)) and proofs.holds(ob, ctx):  # type: ignore[operator]
            out.append(Finding(PROVER_BUG, k.name, ctx, got, got,
                               f"z3 proved {ob} in {ctx}, but this state breaks it", dict(env), "", ob))
    return out


def check_counterexamples(model: Model, resolver: Resolver, proofs: Proofs) -> list[Finding]:
    """(c): every z3 counterexample of a kfunc the resolver decides replays on the resolver."""
    from polykfunc.engine.witness import env_of
    out = []
    for c in proofs.counterexamples:
        if c.property == "visibility" or not c.kfunc or not resolver.covers(c.kfunc):
            continue
        env = env_of(c.values)
        st = State(c.context or "", env)
        try:
            theirs, why = resolver.explain(c.kfunc, st.part("view"), st.part("tracked"), st.part("arg"))
        except NotCovered:
            continue
        except Exception as e:
            out.append(Finding(CRASH, c.kfunc, c.context or "", c.outcome, type(e).__name__,
                               f"{resolver.name} raised {type(e).__name__}: {e}", env))
            continue
        if not same_choice(c.outcome, theirs):
            out.append(Finding(REPLAY, c.kfunc, c.context or "", c.outcome, theirs,
                               f"z3's counterexample {c.obligation} in {c.context} ({c.outcome}) does not replay "
                               f"on the resolver, which gives {theirs}", env, why, c.obligation))
    return out


# ---------------------------------------------------------------------- the Hypothesis driver

class _Failed(Exception):
    def __init__(self, finding: Finding):
        super().__init__(finding.message)
        self.finding = finding


@dataclass(frozen=True)
class FuzzReport:
    """What one fuzz run found."""

    model: str
    resolver: str | None
    seed: int
    examples: int
    findings: tuple[Finding, ...]
    replay_findings: tuple[Finding, ...]
    states: int
    seconds: float

    @property
    def failures(self) -> tuple[Finding, ...]:
        return self.findings + self.replay_findings


def fuzz(model: Model, resolver: Resolver | None, *, examples: int = 200, seed: int = 0,
         proofs: Proofs | None = None, kfuncs: Iterable[str] | None = None, max_findings: int = 25,
         progress: Callable[[Finding], None] | None = None) -> FuzzReport:
    """Fuzz ``resolver`` (or, with None, only the prover) against ``model``.

    Each round runs up to ``examples`` Hypothesis examples from ``seed``; a failure is shrunk to
    a minimal state and recorded, then excluded, and the next round looks for another root cause
    (at most ``max_findings``). The same arguments give the same findings on every machine.
    """
    t0 = time.perf_counter()
    proofs = proofs or Proofs.of(model)
    wanted = list(kfuncs) if kfuncs else None
    found: list[Finding] = []
    seen: set = set()
    counter = {"states": 0}
    for _ in range(max_findings):
        failure = _one_round(model, resolver, proofs, wanted, seen, examples, seed, counter)
        if failure is None:
            break
        seen.add(failure.key)
        found.append(failure)
        if progress:
            progress(failure)
    replayed = tuple(check_counterexamples(model, resolver, proofs)) if resolver else ()
    return FuzzReport(model.name, resolver.name if resolver else None, seed, examples, tuple(found),
                      replayed, counter["states"], time.perf_counter() - t0)


def _one_round(model, resolver, proofs, wanted, seen, examples, seed, counter) -> Finding | None:
    @settings(max_examples=examples, database=None, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink],
              report_multiple_bugs=False, print_blob=False)
    @hyp_seed(seed)
    @given(admitted_states(model))
    def run(state: State) -> None:
        counter["states"] += 1
        for f in check_state(model, resolver, proofs, state, wanted):
            if f.key not in seen:
                raise _Failed(f)

    from hypothesis.errors import Unsatisfiable
    try:
        run()
    except _Failed as e:
        return e.finding
    except Unsatisfiable:  # no context admits any state: nothing to fuzz (non-vacuity says why)
        return None
    return None


# ---------------------------------------------------------------------- store entries

def finding_counterexample(model: Model, finding: Finding, resolver: str) -> Counterexample:
    """A finding as a :class:`Counterexample` (property ``safety`` for an unsafe pick or a
    broken safety proof, the broken property for other prover bugs, ``conformance`` for a
    resolver that disagrees with the model or does not replay)."""
    if finding.obligation and finding.kind in (UNSAFE, PROVER_BUG):
        prop, obligation = finding.obligation.split("/", 1)[0], finding.obligation
    else:
        prop, obligation = "conformance", f"conformance/{finding.kfunc}"
    values = tuple((value_name(k), v) for k, v in sorted(finding.env.items()))
    impl = finding.resolver_outcome if finding.resolver_outcome in {i.name for i in model.kfunc(finding.kfunc).impls} \
        else None
    return Counterexample(
        model=model.name, kernel=model.kernel, property=prop, obligation=obligation, kfunc=finding.kfunc,
        context=finding.context, case=sem.matching_case(model.context(finding.context), finding.env)
        if finding.context in model.context_names else None,
        impl=impl, outcome=finding.resolver_outcome if finding.kind != PROVER_BUG else finding.model_outcome,
        rule=None, violated=finding.violated or (f"{finding.kind}: {finding.message}",),
        sources=(f"polykfunc fuzz --resolver {resolver}",) + ((finding.why,) if finding.why else ()),
        summary=f"[{finding.kind}] {finding.message}", values=values,
        relevant=tuple(value_name(k) for k in sorted(finding.env) if k[0] in ("view", "tracked", "arg")),
        severity="error")


def finding_entry(model: Model, finding: Finding, resolver: str):
    """A store entry (:mod:`polykfunc.counterexamples.store`) for a finding."""
    from polykfunc.counterexamples.store import make_entry
    return make_entry(model, finding_counterexample(model, finding, resolver), None)
