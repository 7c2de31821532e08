"""What a model's structure looks like: context classes, nesting, and the lock graph.

Each view is computed from the model's formulas with z3, never guessed from names:

- :func:`context_classes` groups contexts by program type and by the rq lock they run under
  ("rq locked", "no rq lock", "rq lock varies", "may sleep"): the op classes a reviewer reads
  a matrix by.
- :func:`nesting_graph` draws which context runs nested inside which, from the cases that name
  an outer callback (``state.outer == 'X'``).
- :func:`lock_graph` draws, for each lock kind an implementation takes, which locks can already
  be held when a context's call selects that implementation (held -> taken), and whether the
  implementation drops the held lock first.
"""

from __future__ import annotations

from dataclasses import dataclass

from polykfunc.counterexamples.graph import Edge, Graph, Node
from polykfunc.model import semantics as sem
from polykfunc.model.expr import (
    INT, And, BoolType, Cmp, Const, EnumType, Expr, IntType, Or, Var, conj, eq, int_const, neg,
)
from polykfunc.model.spec import Model
from polykfunc.engine.solver import Z3Session


def _var(model: Model, ns: str, name: str) -> Var | None:
    try:
        d = model.var(ns, name)
    except KeyError:
        return None
    return Var(ns, name, d.type)


def _sat(session: Z3Session, *formulas: Expr) -> bool:
    """Are ``formulas`` satisfiable together (False when unsat or the solver gave up)?

    The same question as ``session.check(formulas)``, without reading the witness's values.
    """
    from polykfunc.model.expr import variables
    seen = {v.key: v for f in formulas for v in variables(f)}
    session.bound(seen[k] for k in sorted(seen))
    solver = session.solver
    solver.push()
    try:
        for f in formulas:
            solver.add(session.encode(f))
        return str(solver.check()) == "sat"
    finally:
        solver.pop()


# ------------------------------------------------------------------ context classes

_LOCK_ORDER = ("rq locked", "rq lock varies", "no rq lock", "may sleep")


def context_classes(model: Model, session: Z3Session) -> list[tuple[str, list[str]]]:
    """Contexts grouped into op classes, in a stable order (model order within a class).

    The class of a context is its program type when that is forced and not STRUCT_OPS (for
    example "TRACING programs"), else the rq lock it runs under, from the ``state.locked_rq``
    and ``state.may_sleep`` variables; a model without them has one class, "contexts".
    """
    ax = sem.axioms(model)
    prog = _var(model, "view", "prog_type")
    rq = _var(model, "state", "locked_rq")
    sleep = _var(model, "state", "may_sleep")
    label: dict[str, str] = {}
    for c in model.contexts:
        adm = conj(ax, sem.facts_of(c))
        forced = None
        if prog is not None and isinstance(prog.type, EnumType):
            ans = session.check([adm], [prog])
            if ans.status == "sat":
                value = ans.values[prog.key]
                if not _sat(session, adm, neg(eq(prog, Const(value, prog.type)))):
                    forced = value
        if forced is not None and forced != "STRUCT_OPS":
            label[c.name] = f"{forced} programs"
            continue
        if rq is None:
            label[c.name] = "contexts"
            continue
        none = Const(-1, INT)
        held, free = _sat(session, adm, Cmp("!=", rq, none)), _sat(session, adm, eq(rq, none))
        if sleep is not None and free and not held and _sat(session, adm, sleep):
            label[c.name] = "may sleep"
        else:
            label[c.name] = "rq locked" if held and not free else "no rq lock" if free and not held else "rq lock varies"
    groups: dict[str, list[str]] = {}
    for c in model.contexts:
        groups.setdefault(label[c.name], []).append(c.name)
    rank = {name: i for i, name in enumerate(_LOCK_ORDER)}
    return sorted(groups.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))


# ------------------------------------------------------------------ nesting

def _outer_values(e: Expr, outer_key: tuple[str, str]) -> list[str]:
    """Values a fact says ``state.outer`` equals (``==`` and ``in [...]``, under and/or)."""
    if isinstance(e, Cmp) and e.op == "==":
        for a, b in ((e.lhs, e.rhs), (e.rhs, e.lhs)):
            if isinstance(a, Var) and (a.ns, a.name) == outer_key and isinstance(b, Const):
                return [str(b.value)]
        return []
    if isinstance(e, (And, Or)):
        return [v for child in e.args for v in _outer_values(child, outer_key)]
    return []


@dataclass(frozen=True)
class NestingEdge:
    outer: str
    inner: str
    case: str
    where: str | None


def nesting_edges(model: Model) -> list[NestingEdge]:
    """(outer, inner, case) for every case of a context that names the callback it runs inside."""
    if _var(model, "state", "outer") is None:
        return []
    out = []
    for c in model.contexts:
        for case in c.cases:
            for f in case.facts:
                for value in _outer_values(f.expr, ("state", "outer")):
                    if value != "none":
                        out.append(NestingEdge(value, c.name, case.name, str(f.where) if f.where else None))
    return list(dict.fromkeys(out))


def nesting_graph(model: Model) -> Graph:
    """Outer callback -> nested context, labelled with the case; empty when nothing nests."""
    nodes: dict[str, Node] = {}
    edges = []
    names = set(model.context_names)
    for e in nesting_edges(model):
        for n in (e.outer, e.inner):
            nid = "n_" + "".join(ch if ch.isalnum() else "_" for ch in n)
            nodes.setdefault(n, Node(nid, n, "context" if n in names else "outer"))
        edges.append(Edge(nodes[e.outer].id, nodes[e.inner].id, _short(e.case)))
    return Graph(f"{model.name}: nesting", tuple(nodes.values()), tuple(dict.fromkeys(edges)))


def _short(text: str, limit: int = 38) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------ locks

def held_predicates(model: Model) -> dict[str, Expr]:
    """For each lock kind the model can say is held, the formula "this CPU holds one":
    ``state.locked_<kind> != -1`` for an int variable, ``state.<kind>`` for a bool one."""
    out: dict[str, Expr] = {}
    for kind in model.locks:
        v = _var(model, "state", f"locked_{kind}")
        if v is not None and isinstance(v.type, IntType):
            out[kind] = Cmp("!=", v, Const(-1, INT))
            continue
        v = _var(model, "state", kind)
        if v is not None and isinstance(v.type, BoolType):
            out[kind] = v
    return out


@dataclass(frozen=True)
class LockUse:
    """Calls that take ``taken`` while ``held`` is held (``held`` None: while holding none)."""

    held: str | None
    taken: str
    kfunc: str
    impl: str
    contexts: tuple[str, ...]
    drops_first: bool


def lock_uses(model: Model, premised: Z3Session) -> list[LockUse]:
    """Every (held, taken) pair some call can produce, with the contexts it happens in (in the
    model's order).

    ``premised`` is a session whose base holds the model's runtime premise
    (:func:`polykfunc.engine.matrix.premise_session`). Implementations whose kfuncs share an
    outcome formula share the answer.
    """
    held = held_predicates(model)
    none_held = conj(*(neg(p) for p in held.values())) if held else None
    cv = sem.context_var(model)
    order = {c: i for i, c in enumerate(model.context_names)}
    memo: dict[tuple[Expr, ...], list[str]] = {}
    out = []
    for k in model.kfuncs:
        outcome = None
        for i, impl in enumerate(k.impls):
            takes = list(dict.fromkeys(u.kind for u in impl.takes))
            if not takes:
                continue
            outcome = outcome if outcome is not None else sem.outcome(model, k)
            drops = {u.kind for u in impl.drops}
            conditions = [(h, p) for h, p in held.items()] + ([(None, none_held)] if none_held is not None else [])
            for h, cond in conditions:
                key = (eq(outcome, int_const(i)), cond)
                if key not in memo:
                    memo[key] = sorted(_contexts(premised, list(key), cv), key=order.__getitem__)
                ctxs = memo[key]
                if ctxs:
                    for t in takes:
                        out.append(LockUse(h, t, k.name, impl.name, tuple(ctxs), h in drops))
    return out


def _contexts(session: Z3Session, formulas: list[Expr], cv: Var) -> list[str]:
    """Every context in which ``formulas`` are satisfiable (one check per context found)."""
    found: list[str] = []
    blocks: list[Expr] = []
    while True:
        ans = session.check(formulas + blocks, [cv])
        if ans.status != "sat":
            return found
        name = str(ans.values[cv.key])
        found.append(name)
        blocks.append(neg(eq(cv, Const(name, cv.type))))


def lock_graph(model_name: str, uses: list[LockUse]) -> Graph:
    """Held lock -> taken lock, each edge labelled with how many implementations do it."""
    nodes: dict[str, Node] = {}

    def node(kind: str | None) -> str:
        key = kind or "(none)"
        if key not in nodes:
            label = "no lock held" if kind is None else kind
            nodes[key] = Node("l_" + "".join(ch if ch.isalnum() else "_" for ch in key), label,
                              "step" if kind is None else "lock")
        return nodes[key].id

    groups: dict[tuple, list[LockUse]] = {}
    for u in uses:
        groups.setdefault((u.held, u.taken, u.drops_first), []).append(u)
    edges = []
    for (h, t, drops), us in groups.items():
        impls = len({(u.kfunc, u.impl) for u in us})
        label = f"{impls} impl{'s' if impls != 1 else ''}" + (" (drops it first)" if drops else "")
        edges.append(Edge(node(h), node(t), label))
    return Graph(f"{model_name}: locks held -> taken", tuple(nodes.values()), tuple(edges))
