"""Which callbacks run nested inside which, and the properties of nesting.

The nesting graph of a model is derived from its contexts, never written twice: there is an
edge ``outer -> inner`` when some runtime state of context ``inner`` (with the axioms) has
``state.outer == outer``. The edge carries the cases that allow it and a witness of the
combined true and tracked state (kf_mask, locked rq, ...).

Three properties are checked on it (docs/programs.md states them precisely):

- **nested safety**: for every edge and every implementation, the implementation selected
  inside the nested callback is safe under the combined state (the safety obligation
  restricted to ``meta.context == inner and state.outer == outer``);
- **boundary**: a kfunc *reserved to the outer op* (its contract allows it in the outer op and
  in no top-level state of the inner one) gets no implementation inside the nested op
  (sched_ext's "dispatch/cpu_release kfunc called from a nested operation" rules);
- **task-op nesting**: two task-based ops (ops that record their task in ``kf_tasks``) never
  nest, since the kernel has one set of slots per task (v7.1 warns on the recursion).

Results are :class:`~polykfunc.engine.results.ObligationResult` for the first two (their
counterexamples replay like any other), :class:`TaskNesting` findings for the third.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import networkx as nx

from polykfunc.model import semantics as sem
from polykfunc.model.expr import Cmp, Const, EnumType, Var, conj, disj, eq, evaluate, int_const, neg
from polykfunc.model.spec import Model
from polykfunc.properties import Obligation
from polykfunc.properties.generate import runtime_premise
from polykfunc.properties.obligation import VACUITY_IS_SKIP
from polykfunc.engine.prover import _known_matcher, prove_obligation
from polykfunc.engine.results import ObligationResult, Status
from polykfunc.engine.solver import DEFAULT_RLIMIT, Z3Session

from .modelfacts import compile_fact


@dataclass(frozen=True)
class NestingEdge:
    """``inner`` can run nested directly inside ``outer`` on the same CPU."""

    outer: str
    inner: str
    cases: tuple[str, ...]
    witness: tuple[tuple[str, object], ...]   # tracked and lock state of one combined state


@dataclass(frozen=True)
class TaskNesting:
    """A violation of task-op nesting: both ops record their task in the per-task slots."""

    outer: str
    inner: str
    case: str | None
    summary: str


@dataclass(frozen=True)
class NestingReport:
    model: str
    kernel: str
    edges: tuple[NestingEdge, ...]
    results: tuple[ObligationResult, ...]
    task_nesting: tuple[TaskNesting, ...]
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def status(self) -> Status:
        worst = max((r.status for r in self.results), default=Status.PROVED)
        return max(worst, Status.COUNTEREXAMPLE) if self.task_nesting else worst

    def to_json(self) -> dict:
        return {
            "model": self.model, "kernel": self.kernel, "status": self.status.label,
            "seconds": round(self.seconds, 3), "notes": list(self.notes),
            "edges": [{"outer": e.outer, "inner": e.inner, "cases": list(e.cases),
                       "witness": {k: sorted(v) if isinstance(v, frozenset) else v for k, v in e.witness}}
                      for e in self.edges],
            "obligations": [r.to_json() for r in self.results],
            "task_nesting": [{"outer": t.outer, "inner": t.inner, "case": t.case, "summary": t.summary}
                             for t in self.task_nesting],
        }


_WITNESS_VARS = ("tracked.kf_mask", "tracked.kf_tasks", "tracked.locked_rq", "tracked.ddsp", "state.locked_rq",
                 "state.op_rq", "state.depth", "state.dispatch_active", "state.pi_lock")


def outer_var(model: Model) -> Var | None:
    for v in model.vars:
        if v.ns == "state" and v.name == "outer" and isinstance(v.type, EnumType):
            return Var("state", "outer", v.type)
    return None


def nesting_graph(model: Model, session: Z3Session | None = None, *, inner: frozenset[str] | None = None,
                  details: bool = True) -> nx.DiGraph:
    """The nesting graph of ``model``: ``outer -> inner`` edges with ``edge`` (a NestingEdge).

    Inner nodes are the ops (contexts whose view fixes ``view.member`` to an op); an edge
    needs a state of the inner context with ``state.outer == outer`` (and ``state.depth >= 2``
    where the model counts depth). Program types that merely fire on top of an op (tracing)
    are not callbacks the subsystem nests: their states are covered by the ordinary
    obligations. Models without ``state.outer`` have no nesting.

    ``inner`` limits the inner ops looked at (check-prog needs only the ops an object
    implements); without ``details`` edges carry no cases and no witness (fewer solver calls).
    """
    g = nx.DiGraph()
    g.add_nodes_from(model.context_names)
    ov = outer_var(model)
    if ov is None:
        return g
    s = session or Z3Session()
    ax = sem.axioms(model)
    wanted = [Var(v.ns, v.name, v.type) for v in model.vars if v.qualname in _WITNESS_VARS] + [ov]
    none = Const("none", ov.type) if "none" in ov.type.values else None
    deep = compile_fact(model, "state.depth >= 2")
    no_member = compile_fact(model, "view.member == 'none'")
    for c in model.contexts:
        if inner is not None and c.name not in inner:
            continue
        if no_member is not None and s.check([ax, sem.view_of(c), no_member]).status != "unsat":
            continue
        blocks = [neg(eq(ov, none))] if none is not None else []
        if deep is not None:
            blocks.append(deep)
        while True:
            ans = s.check([ax, sem.facts_of(c), *blocks], wanted if details else [ov])
            if ans.status != "sat":
                break
            outer = str(ans.values[("state", "outer", 0)])
            blocks.append(neg(eq(ov, Const(outer, ov.type))))
            if outer not in model.context_names:
                continue
            if not details:
                g.add_edge(outer, c.name, edge=NestingEdge(outer, c.name, (), ()))
                continue
            cases = tuple(case.name for case in c.cases
                          if s.check([ax, sem.view_of(c), *(f.expr for f in c.facts), *(f.expr for f in case.facts),
                                      eq(ov, Const(outer, ov.type))]).status == "sat")
            witness = tuple((f"{ns}.{name}", v) for (ns, name, _), v in sorted(ans.values.items())
                            if f"{ns}.{name}" in _WITNESS_VARS)
            g.add_edge(outer, c.name, edge=NestingEdge(outer, c.name, cases, witness))
    return g


def check_nesting(model: Model, *, rlimit: int = DEFAULT_RLIMIT, use_known: bool = True) -> NestingReport:
    """Derive the nesting graph of ``model`` and check the three nesting properties.

    Nested safety and the boundary rule are first checked for all kfuncs of an inner op at
    once (one solver call when they hold); each violation found is then proved as its own
    obligation, so it is replayed, explained and matched against the model's known bugs.
    """
    t0 = time.perf_counter()
    session = Z3Session(rlimit)
    g = nesting_graph(model, session)
    edges = tuple(d["edge"] for _, _, d in sorted(g.edges(data=True), key=lambda e: (e[0], e[1])))
    known = _known_matcher(model) if use_known else None
    results: list[ObligationResult] = []
    ax = sem.axioms(model)
    if edges:
        session.assert_base(runtime_premise(model))
        session._runtime_copies = 1  # type: ignore[attr-defined]  # what prove_obligation expects
    for inner in sorted({e.inner for e in edges}):
        outers = sorted(e.outer for e in edges if e.inner == inner)
        results.extend(_inner_results(model, inner, outers, session, ax, known))
    task = tuple(_task_nesting(model, edges, session, ax))
    return NestingReport(model.name, model.kernel, edges, tuple(results), task, (),
                         time.perf_counter() - t0)


def _nested(model: Model, inner: str, outers: list[str]):
    ov = outer_var(model)
    cv = sem.context_var(model)
    return conj(eq(cv, Const(inner, cv.type)),
                disj(*(eq(ov, Const(o, ov.type)) for o in outers)))  # type: ignore[arg-type]


def _violations(session: Z3Session, model: Model, where, items: list, bad) -> tuple[list, str, str]:
    """The items whose ``bad(item)`` can hold under ``where`` (one solver call when none can)."""
    found: list = []
    rest = list(items)
    status, reason = "unsat", ""
    while rest:
        ans = session.check([where, disj(*(bad(x) for x in rest))], _all_vars(model))
        status, reason = ans.status, ans.reason
        if ans.status != "sat":
            break
        hit = [x for x in rest if evaluate(bad(x), ans.values)] or rest[:1]
        found.extend(hit)
        rest = [x for x in rest if x not in hit]
    return found, status, reason


def _inner_results(model: Model, inner: str, outers: list[str], session: Z3Session, ax, known):
    """Nested-safety and boundary results for the op ``inner`` nested in any of ``outers``."""
    base = runtime_premise(model)
    where = _nested(model, inner, outers)
    around = ", ".join(outers)
    label = f"nesting/{inner}"
    # nested safety: every (kfunc, implementation) pair at once, then each violation on its own
    pairs = [(k, i) for k in model.kfuncs for i in range(len(k.impls))]
    bad = lambda p: conj(eq(sem.outcome(model, p[0]), int_const(p[1])), neg(sem.requires(p[0], p[1])))
    failing, status, reason = _violations(session, model, where, pairs, bad)
    if not failing:
        yield ObligationResult(f"{label}/safety", "safety", model.name,
                               f"every implementation selected inside {inner} nested in {around} is safe",
                               None, None, inner, Status.PROVED if status == "unsat" else Status.UNKNOWN,
                               reason=reason)
    for k, i in failing:
        cond = conj(where, eq(sem.outcome(model, k), int_const(i)))
        ob = Obligation(id=f"{label}/safety/{k.name}/{k.impls[i].name}", property="safety", model=model.name,
                        summary=f"inside {inner} nested in {around}, {k.name} selecting {k.impls[i].name} is safe",
                        premise=conj(base, cond), goal=sem.requires(k, i), kfunc=k.name, impl=k.impls[i].name,
                        on_vacuous=VACUITY_IS_SKIP, condition=cond)
        yield prove_obligation(session, model, ob, known)
    # boundary: a kfunc the inner op may not call at top level gets no implementation when nested
    inner_top = conj(ax, sem.facts_of(model.context(inner)), *_top_level(model))
    denied = [k for k in model.kfuncs if session.check([inner_top, sem.contract(model, k)]).status == "unsat"]
    leak = lambda k: conj(neg(sem.contract(model, k)), Cmp(">=", sem.outcome(model, k), int_const(0)))
    leaking, status, reason = _violations(session, model, where, denied, leak)
    if denied and not leaking:
        yield ObligationResult(f"{label}/boundary", "coverage", model.name,
                               f"the {len(denied)} kfuncs {inner} may not call at top level get no implementation "
                               f"inside {inner} nested in {around}", None, None, inner,
                               Status.PROVED if status == "unsat" else Status.UNKNOWN, reason=reason)
    for k in leaking:
        cond = conj(where, neg(sem.contract(model, k)))
        ob = Obligation(id=f"{label}/boundary/{k.name}", property="coverage", model=model.name,
                        summary=f"{k.name}, which {inner} may not call at top level, gets no implementation "
                                f"inside {inner} nested in {around}",
                        premise=conj(base, cond), goal=Cmp("<", sem.outcome(model, k), int_const(0)),
                        kfunc=k.name, on_vacuous=VACUITY_IS_SKIP, condition=cond)
        yield prove_obligation(session, model, ob, known)


def _all_vars(model: Model):
    from polykfunc.engine.prover import _wanted_vars
    return _wanted_vars(model, 1)


def _top_level(model: Model):
    ov = outer_var(model)
    if ov is None or "none" not in ov.type.values:
        return []
    return [eq(ov, Const("none", ov.type))]


def _task_op(model: Model, ctx_name: str, session: Z3Session, ax) -> bool:
    """Does the op record its task in the per-task slots in every top-level state?"""
    c = model.context(ctx_name)
    slot = compile_fact(model, "tracked.kf_tasks != 'none'") or compile_fact(model, "state.has_op_task")
    if slot is None:
        return False
    return session.check([ax, sem.facts_of(c), *_top_level(model), neg(slot)]).status == "unsat" and \
        session.check([ax, sem.facts_of(c), *_top_level(model)]).status == "sat"


def _task_nesting(model: Model, edges, session: Z3Session, ax):
    for e in edges:
        if _task_op(model, e.outer, session, ax) and _task_op(model, e.inner, session, ax):
            case = e.cases[0] if e.cases else None
            yield TaskNesting(e.outer, e.inner, case,
                              f"{e.inner} (a task op) can run nested inside {e.outer} (a task op)"
                              + (f" ({case})" if case else "")
                              + ": both record their task in current->scx.kf_tasks, so the inner op "
                                "overwrites the outer's subject")
