"""The design comparison: today's run-time choice against a load-time one.

Two questions a design review asks, answered from the model and the proofs:

- For a kfunc that has both a load-time resolver and a run-time selector (a proposed design
  modelled next to today's mechanism), what does each choose in each context? Found by
  enumerating, per context, every (resolver, selector) pair of outcomes some admitted state
  reaches; each pair is confirmed by concrete evaluation.
- For every polymorphic kfunc, could the choice move to load time at all? That is the
  visibility property: proved means some load-time view always decides safely; a note or a
  counterexample means the safe implementation depends on run-time state.
"""

from __future__ import annotations

from dataclasses import dataclass

from polykfunc.errors import InternalError
from polykfunc.model import semantics as sem
from polykfunc.model.expr import Const, conj, eq, evaluate, int_const, neg
from polykfunc.model.spec import Model
from polykfunc.properties.generate import runtime_premise
from polykfunc.engine.results import ModelReport
from polykfunc.engine.solver import Z3Session


@dataclass(frozen=True)
class ChoiceRow:
    """In ``context``, the resolver can choose ``resolver`` while the selector chooses ``selector``."""

    context: str
    resolver: str
    selector: str
    agree: bool


@dataclass(frozen=True)
class MechanismComparison:
    kfunc: str
    in_force: str
    rows: tuple[ChoiceRow, ...]
    refinement: str          # the refinement obligation's status label
    safety: tuple[tuple[str, str], ...]   # (implementation, status label)
    complete: bool


@dataclass(frozen=True)
class LoadTimeVerdict:
    kfunc: str
    in_force: str
    implementations: tuple[str, ...]
    status: str              # proved / note / counterexample / known / unknown / ...
    verdict: str             # one sentence
    witness: str             # the counterexample's summary, when there is one


@dataclass(frozen=True)
class DesignComparison:
    mechanisms: tuple[MechanismComparison, ...]
    load_time: tuple[LoadTimeVerdict, ...]

    @property
    def empty(self) -> bool:
        return not self.mechanisms and not self.load_time


def _same(a: int, b: int) -> bool:
    return a == b or (a < 0 and b < 0)


def compare_mechanisms(model: Model, report: ModelReport, session: Z3Session) -> list[MechanismComparison]:
    """Per context, the outcomes of the resolver and of the selector of every kfunc with both."""
    from polykfunc.engine.prover import _wanted_vars
    out = []
    base = runtime_premise(model)
    cv = sem.context_var(model)
    wanted = _wanted_vars(model, 1)
    for k in model.kfuncs:
        if k.resolve is None or k.select is None:
            continue
        res, sel = sem.resolver_outcome(k), sem.selector_outcome(k)
        seen: dict[str, set[tuple[int, int]]] = {c: set() for c in model.context_names}
        blocks = []
        complete = True
        while True:
            ans = session.check([base, sem.load_admitted(model, k), *blocks], wanted)
            if ans.status != "sat":
                complete = ans.status == "unsat"
                break
            ctx = str(ans.values[("meta", "context", 0)])
            pair = (int(evaluate(res, ans.values)), int(evaluate(sel, ans.values)))
            if pair in seen[ctx]:
                raise InternalError(f"design comparison of {k.name} repeated {ctx} {pair}: the solver and the "
                                    "concrete evaluation disagree")
            seen[ctx].add(pair)
            blocks.append(neg(conj(eq(cv, Const(ctx, cv.type)), eq(res, int_const(pair[0])),
                                   eq(sel, int_const(pair[1])))))
        rows = tuple(ChoiceRow(c, sem.outcome_name(k, r), sem.outcome_name(k, s), _same(r, s))
                     for c in model.context_names for r, s in sorted(seen[c], reverse=True))
        by_id = {r.id: r for r in report.results}
        ref = by_id.get(f"refinement/{k.name}")
        safety = tuple((i.name, by_id[f"safety/{k.name}/{i.name}"].status.label)
                       for i in k.impls if f"safety/{k.name}/{i.name}" in by_id)
        out.append(MechanismComparison(k.name, k.in_force, rows, ref.status.label if ref else "not run", safety,
                                       complete))
    return out


def load_time_verdicts(model: Model, report: ModelReport) -> list[LoadTimeVerdict]:
    """For each polymorphic kfunc, whether a load-time choice could be safe (visibility)."""
    out = []
    by_id = {r.id: r for r in report.results}
    for k in model.kfuncs:
        r = by_id.get(f"visibility/{k.name}")
        if not k.is_polymorphic or r is None:
            continue
        label = r.status.label
        if label == "proved":
            verdict = "a load-time resolver can choose safely: the verifier's view decides"
        elif label in ("note", "counterexample", "known"):
            verdict = "needs run-time state: at one load-time view each implementation is unsafe in some call"
        else:
            verdict = f"undecided ({label}: {r.reason})"
        witness = r.counterexamples[0].summary if r.counterexamples else ""
        out.append(LoadTimeVerdict(k.name, k.in_force, k.impl_names, label, verdict, witness))
    return out


def design_comparison(model: Model, report: ModelReport, session: Z3Session) -> DesignComparison:
    return DesignComparison(tuple(compare_mechanisms(model, report, session)),
                            tuple(load_time_verdicts(model, report)))


# ------------------------------------------------------------------ families of designs

@dataclass(frozen=True)
class DesignRow:
    """One design of a family: its verdict and the flaws (declared known bugs) it shows."""

    name: str
    description: str
    verdict: str
    counts: tuple[tuple[str, int], ...]
    flaws: tuple[tuple[str, str], ...]      # (id, title) of each declared bug the prover reproduced
    seconds: float


@dataclass(frozen=True)
class DesignFamily:
    """Several designs of one mechanism (models of one subsystem whose kernel is "design"),
    side by side, with the cells on which they do not all agree."""

    subsystem: str
    rows: tuple[DesignRow, ...]
    compared: int
    differing: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]   # kfunc, context, (design, what)


def is_design(model_data) -> bool:
    return model_data.kernel == "design"


def design_families(models) -> list[DesignFamily]:
    """A :class:`DesignFamily` for each subsystem with two or more design models among ``models``."""
    from .diff import describe
    groups: dict[str, list] = {}
    for m in models:
        if is_design(m):
            groups.setdefault(m.subsystem, []).append(m)
    out = []
    for subsystem, ms in groups.items():
        if len(ms) < 2:
            continue
        rows = tuple(DesignRow(m.name, m.description, m.report.status.label, tuple(sorted(m.report.counts().items())),
                               tuple((b.id, b.title) for b in m.bugs if b.found), m.report.seconds) for m in ms)
        common_k = [k for k in ms[0].kfunc_names if all(k in m.kfunc_names for m in ms[1:])]
        common_c = [c for c in ms[0].contexts if all(c in m.contexts for m in ms[1:])]
        differing = []
        for k in common_k:
            for c in common_c:
                cells = [m.cell(k, c) for m in ms]
                seen = {(describe(x), x.status) for x in cells if x is not None}
                if len(seen) > 1:
                    differing.append((k, c, tuple((m.name, f"{describe(x)}; {x.status}") for m, x in zip(ms, cells))))
        out.append(DesignFamily(subsystem, rows, len(common_k) * len(common_c), tuple(differing)))
    return out
