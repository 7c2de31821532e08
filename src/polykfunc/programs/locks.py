"""Lock properties: no self-deadlock, and an acyclic lock-acquisition graph.

Implementations declare the locks they take and drop (``takes = ["rq(arg.task_cpu)"]``,
``drops = ["rq(state.cpu)"]``); lock kinds say when this CPU already holds one
(``[locks.rq] held = ["state.locked_rq"]``, docs/spec-format.md section 4). From these:

- **self-deadlock**: no implementation takes a lock instance its context may already hold,
  after what it drops first. A context running in NMI may have interrupted a holder of any
  lock on its CPU, and one in hardirq a holder of any lock that is not ``irqsafe``: taking
  such a lock there can spin forever too.
- **lock order**: the lock-acquisition graph (an edge ``A -> B`` when some reachable call
  holds A while its implementation takes B) has no cycle; each cycle is reported with the
  call that makes each edge.

Models written before ``held`` existed still get held facts for the core vocabulary's locks
(:data:`DEFAULT_HELD`), when they have the variables these name. Every violation is replayed:
its state satisfies the axioms and its context, the mechanism really selects the
implementation, and the lock really is held.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import networkx as nx

from polykfunc.errors import InternalError
from polykfunc.model import semantics as sem
from polykfunc.model.expr import (
    BOOL, Cmp, Const, EnumType, Expr, IntType, conj, disj, eq, evaluate, int_const, neg, type_of,
)
from polykfunc.model.spec import Implementation, Kfunc, LockUse, Model
from polykfunc.properties.generate import runtime_premise
from polykfunc.engine.prover import _wanted_vars
from polykfunc.engine.solver import DEFAULT_RLIMIT, Z3Session

from .modelfacts import compile_fact

#: held facts for the lock kinds of model/bundled/common/core.toml (and the verifier model's
#: inode lock), used when a model's [locks.NAME] table gives no ``held``
DEFAULT_HELD = {"rq": ("state.locked_rq",), "pi_lock": ("state.pi_lock",), "inode": ("state.inode_locked",)}


@dataclass(frozen=True)
class HeldFacts:
    lock: str
    held: tuple[Expr, ...]
    texts: tuple[str, ...]
    irqsafe: bool
    origin: str          # "model" or "default"


@dataclass(frozen=True)
class LockFinding:
    """A self-deadlock, or one edge of the lock graph, shown by one replayed state."""

    kind: str                      # "self-deadlock" or "order"
    kfunc: str
    impl: str
    context: str
    case: str | None
    lock: str                      # the lock taken
    held: str                      # what is held (a lock kind, or "interrupted context")
    summary: str
    values: tuple[tuple[str, object], ...]
    known_bug: str | None = None


@dataclass(frozen=True)
class LockCycle:
    locks: tuple[str, ...]
    edges: tuple[LockFinding, ...]

    @property
    def known(self) -> bool:
        return all(e.known_bug for e in self.edges)

    def describe(self) -> str:
        return " -> ".join(self.locks + self.locks[:1])


@dataclass(frozen=True)
class LockReport:
    model: str
    kernel: str
    held: tuple[HeldFacts, ...]
    self_deadlocks: tuple[LockFinding, ...]
    edges: tuple[LockFinding, ...]
    cycles: tuple[LockCycle, ...]
    unknown: tuple[str, ...]
    seconds: float

    @property
    def failures(self) -> list:
        return [f for f in self.self_deadlocks if not f.known_bug] + [c for c in self.cycles if not c.known]

    def to_json(self) -> dict:
        f = lambda x: {"kind": x.kind, "kfunc": x.kfunc, "impl": x.impl, "context": x.context, "case": x.case,
                       "lock": x.lock, "held": x.held, "summary": x.summary, "known_bug": x.known_bug,
                       "values": {k: sorted(v) if isinstance(v, frozenset) else v for k, v in x.values}}
        return {"model": self.model, "kernel": self.kernel, "seconds": round(self.seconds, 3),
                "held": [{"lock": h.lock, "held": list(h.texts), "irqsafe": h.irqsafe, "origin": h.origin}
                         for h in self.held],
                "self_deadlocks": [f(x) for x in self.self_deadlocks],
                "edges": [f(x) for x in self.edges],
                "cycles": [{"locks": list(c.locks), "known": c.known, "edges": [f(e) for e in c.edges]}
                           for c in self.cycles],
                "unknown": list(self.unknown)}


def held_facts(model: Model) -> dict[str, HeldFacts]:
    """The held facts of every lock kind of ``model`` (its own, else :data:`DEFAULT_HELD`)."""
    out = {}
    decls = {d.name: d for d in model.lock_decls}
    for name in model.locks:
        d = decls.get(name)
        if d is not None and d.held:
            out[name] = HeldFacts(name, d.held, d.held_text, d.irqsafe, "model")
            continue
        texts, exprs = [], []
        for t in DEFAULT_HELD.get(name, ()):
            e = _value(model, t)
            if e is not None:
                texts.append(t)
                exprs.append(e)
        out[name] = HeldFacts(name, tuple(exprs), tuple(texts), d.irqsafe if d else True,
                              "default" if exprs else "none")
    return out


def _value(model: Model, text: str) -> Expr | None:
    e = compile_fact(model, f"({text}) == ({text})")
    return e.lhs if isinstance(e, Cmp) else None


def _holds(h: Expr, instance: Expr | None) -> Expr:
    """``h`` (a held fact) says the lock instance ``instance`` (None: some instance) is held."""
    t = type_of(h)
    if t == BOOL:
        return h
    if isinstance(t, IntType):
        some = Cmp(">=", h, int_const(0))
        same = instance is not None and isinstance(type_of(instance), IntType)
        return conj(some, eq(h, instance)) if same else some
    if isinstance(t, EnumType):
        some = neg(eq(h, Const("none", t))) if "none" in t.values else Const(True, BOOL)
        same = instance is not None and type_of(instance) == t
        return conj(some, eq(h, instance)) if same else some
    return Const(False, BOOL)


def _dropped(h: Expr, kind: str, impl: Implementation) -> Expr:
    """Before taking anything, the implementation released the instance ``h`` names."""
    parts = []
    for d in impl.drops:
        if d.kind != kind:
            continue
        if d.arg is None or type_of(h) == BOOL:
            return Const(True, BOOL)
        parts.append(eq(h, d.arg) if type_of(d.arg) == type_of(h) else Const(True, BOOL))
    return disj(*parts)


def still_held(facts: HeldFacts, impl: Implementation, instance: Expr | None) -> Expr:
    """This CPU holds ``instance`` of the lock when the implementation takes it."""
    return disj(*(conj(_holds(h, instance), neg(_dropped(h, facts.lock, impl))) for h in facts.held))


def _interrupted(model: Model, facts: HeldFacts) -> Expr | None:
    nmi = compile_fact(model, "state.exec == 'nmi'")
    if nmi is None:
        return None
    if facts.irqsafe:
        return nmi
    return disj(nmi, compile_fact(model, "state.exec == 'hardirq'"))


def check_locks(model: Model, *, rlimit: int = DEFAULT_RLIMIT) -> LockReport:
    """Check the self-deadlock and lock-order properties of ``model``."""
    t0 = time.perf_counter()
    s = Z3Session(rlimit)
    s.assert_base(runtime_premise(model))
    held = held_facts(model)
    wanted = _wanted_vars(model, 1)
    deadlocks: list[LockFinding] = []
    edges: list[LockFinding] = []
    unknown: list[str] = []
    for k in model.kfuncs:
        out = sem.outcome(model, k)
        for i, impl in enumerate(k.impls):
            if not impl.takes:
                continue
            chosen = eq(out, int_const(i))
            for n, take in enumerate(impl.takes):
                facts = held[take.kind]
                # self-deadlock: the same instance is already held, or an interrupted holder may have it
                conflict = still_held(facts, impl, take.arg) if facts.held else Const(False, BOOL)
                intr = _interrupted(model, facts)
                bad = disj(conflict, intr) if intr is not None else conflict
                for env, status in _per_context(s, model, [chosen, bad], wanted):
                    if status != "sat":
                        unknown.append(f"self-deadlock of {k.name}/{impl.name} taking {take.text}: {status}")
                        break
                    by_intr = intr is not None and not evaluate(conflict, env)
                    deadlocks.append(_finding(model, "self-deadlock", k, impl, take, env,
                                              "an interrupted context on this CPU" if by_intr else take.kind,
                                              conflict if not by_intr else intr))
                # order: some other lock (or another instance of this one) is held while taking it
                for other in held.values():
                    if not other.held:
                        continue
                    inst = take.arg if other.lock == take.kind else None
                    holding = still_held(other, impl, None)
                    if other.lock == take.kind:
                        holding = conj(holding, neg(still_held(other, impl, inst))) if inst is not None else \
                            Const(False, BOOL)
                    ans = s.check([chosen, holding], wanted)
                    if ans.status == "sat":
                        edges.append(_finding(model, "order", k, impl, take, ans.values, other.lock, holding))
                    elif ans.status == "unknown":
                        unknown.append(f"order {other.lock} -> {take.text} in {k.name}/{impl.name}: {ans.reason}")
                # nested takes inside one implementation: each is held while the next is taken
                for later in impl.takes[n + 1:]:
                    edges.append(LockFinding("order", k.name, impl.name, "(any)", None, later.kind, take.kind,
                                             f"{k.name}/{impl.name} takes {take.text} then {later.text}", ()))
    cycles = _cycles(edges)
    return LockReport(model.name, model.kernel, tuple(held.values()), tuple(deadlocks), tuple(edges), cycles,
                      tuple(unknown), time.perf_counter() - t0)


def _per_context(s: Z3Session, model: Model, formulas, wanted):
    """One satisfying state per context (like the prover's search); ends with status unsat."""
    cv = sem.context_var(model)
    blocks = []
    while True:
        ans = s.check([*formulas, *blocks], wanted)
        if ans.status == "unsat":
            return
        if ans.status == "unknown":
            yield None, ans.reason
            return
        yield ans.values, "sat"
        blocks.append(neg(eq(cv, Const(ans.values[("meta", "context", 0)], cv.type))))


def _finding(model: Model, kind: str, k: Kfunc, impl: Implementation, take: LockUse, env, held: str,
             cond: Expr) -> LockFinding:
    ctx = str(env[("meta", "context", 0)])
    _replay(model, k, impl, env, cond)
    case = sem.matching_case(model.context(ctx), env)
    decision = sem.decide(model, k, env)
    rule = f" ({decision.rule.when.label})" if decision.rule else ""
    if kind == "self-deadlock":
        summary = (f"{k.name} called from {ctx} selects {impl.name}{rule}, which takes {take.text} while "
                   + ("an interrupted context on this CPU may hold it" if held.startswith("an interrupted")
                      else "this CPU already holds it"))
    else:
        summary = f"{k.name} called from {ctx} selects {impl.name}{rule}, which takes {take.text} while holding {held}"
    bug = next((b.id for b in model.known_bugs
                if b.kfunc == k.name and (b.context in (None, ctx)) and (b.impl in (None, impl.name))
                and b.property == "safety"), None)
    values = tuple((f"{ns}.{n}", v) for (ns, n, c), v in sorted(env.items(), key=lambda kv: str(kv[0]))
                   if ns != "meta" and c == 0)
    return LockFinding(kind, k.name, impl.name, ctx, case, take.kind, held, summary, values, bug)


def _replay(model: Model, k: Kfunc, impl: Implementation, env, cond: Expr) -> None:
    """The violation holds on concrete values, without the solver (else polykfunc is wrong)."""
    ctx = model.context(str(env[("meta", "context", 0)]))
    problems = []
    if not all(evaluate(a.fact.expr, env) for a in model.axioms):
        problems.append("an axiom is false")
    if not evaluate(sem.facts_of(ctx), env):
        problems.append(f"context {ctx.name} does not admit the state")
    got = sem.decide(model, k, env).outcome
    if got != k.impl_names.index(impl.name):
        problems.append(f"the mechanism selects {sem.outcome_name(k, got)}, not {impl.name}")
    if not evaluate(cond, env):
        problems.append("the lock is not held in this state")
    if problems:
        raise InternalError(f"lock finding for {k.name}/{impl.name} in {model.name} does not replay: "
                            + "; ".join(problems) + ". This is a bug in polykfunc; please report it.")


def lock_graph(edges) -> nx.MultiDiGraph:
    """The lock-acquisition graph: ``held -> taken`` with the finding that shows each edge."""
    g = nx.MultiDiGraph()
    for e in edges:
        g.add_edge(e.held, e.lock, finding=e)
    return g


def _cycles(edges) -> tuple[LockCycle, ...]:
    g = lock_graph(edges)
    simple = nx.DiGraph((u, v) for u, v in g.edges())
    out = []
    for cyc in sorted(nx.simple_cycles(simple), key=lambda c: (len(c), c)):
        found = []
        for a, b in zip(cyc, cyc[1:] + cyc[:1]):
            cands = [d["finding"] for d in g.get_edge_data(a, b).values()]
            found.append(next((f for f in cands if not f.known_bug), cands[0]))
        out.append(LockCycle(tuple(cyc), tuple(found)))
    return tuple(out)
