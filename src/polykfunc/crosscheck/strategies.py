"""Random inputs for testing polykfunc itself: whole models, call sites and runtime states.

Two ways to draw, one generator: every generator here takes a :class:`Chooser`, so the same
code runs under Hypothesis (shrinking, the CI profile's derandomized examples) through
:func:`models`, :func:`views`, :func:`admitted_states`, ... and in a plain loop over a
seeded :class:`random.Random` (:func:`random_model`) when thousands of models are wanted
quickly.

Random models are small on purpose (a few variables of a few values, two to four contexts,
one or two kfuncs): small enough for :mod:`polykfunc.crosscheck.brute_force` to enumerate, rich enough to
exercise every construct of the format: contexts with cases, kfunc sets with registration and
contracts, filters over ``set.*``/``flag.*``, resolvers, selectors, both with ``in_force``,
and every expression form. :func:`model_toml` writes one back as model files, so a failure is
a folder anyone can ``polykfunc prove``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

from hypothesis import strategies as st

from polykfunc.model.expr import (
    BOOL, INT, And, Arith, Cmp, Const, EnumType, Expr, FlagsType, FlagTest, Implies, IntType, Ite,
    Not, Or, Var,
)
from polykfunc.model.spec import (
    ERROR, REJECT, Axiom, Case, Context, Fact, Filter, FilterRule, Implementation, Kfunc, KfuncSet,
    Model, Rule, Source, VarDecl,
)

from polykfunc.crosscheck.explicit_search import Env, Search, domain

SRC = Source("random model (polykfunc.crosscheck.strategies)")


class Chooser(Protocol):
    """Where the random choices come from (Hypothesis's ``draw`` or a ``random.Random``)."""

    def integer(self, lo: int, hi: int) -> int: ...
    def boolean(self, p: float = 0.5) -> bool: ...


class RandomChooser:
    """Choices from a seeded :class:`random.Random` (fast, reproducible from the seed)."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def boolean(self, p: float = 0.5) -> bool:
        return self.rng.random() < p


class DrawChooser:
    """Choices drawn by Hypothesis (they shrink towards the first option)."""

    def __init__(self, draw):
        self.draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def boolean(self, p: float = 0.5) -> bool:
        return self.draw(st.booleans())


def pick(ch: Chooser, seq: Sequence):
    return seq[ch.integer(0, len(seq) - 1)]


# ---------------------------------------------------------------------- variables

_VOCAB: list[tuple[str, str, object]] = [
    # (namespace, name, type); the first of each namespace is always present
    ("view", "prog", EnumType(("A", "B", "C"))),
    ("view", "w", BOOL),
    ("state", "lock", IntType(-1, 2)),
    ("state", "cpu", IntType(0, 2)),
    ("state", "s", BOOL),
    ("state", "mode", EnumType(("x", "y", "z"))),
    ("tracked", "lock", IntType(-1, 2)),
    ("tracked", "mask", FlagsType(("P", "Q"))),
    ("tracked", "t", BOOL),
    ("arg", "cpu", IntType(0, 2)),
    ("arg", "task", EnumType(("none", "op", "other"))),
]
_ALWAYS = {("view", "prog"), ("state", "lock"), ("tracked", "lock"), ("arg", "cpu")}
KFUNC_FLAGS = ("SLEEPABLE", "RCU")


def _vars(ch: Chooser) -> list[Var]:
    out = []
    for ns, name, t in _VOCAB:
        if (ns, name) in _ALWAYS or ch.boolean(0.5):
            out.append(Var(ns, name, t))  # type: ignore[arg-type]
    return out


# ---------------------------------------------------------------------- expressions

def _atom(ch: Chooser, vs: list[Var], refs: list[Var]) -> Expr:
    pool = vs + refs
    v = pick(ch, pool)
    t = v.type
    if t == BOOL:
        return v
    if isinstance(t, FlagsType):
        if ch.boolean(0.6):
            return FlagTest(v, pick(ch, t.values))
        # `mask == ["P"]` is, as the parser builds it, one flag test per member
        same = And(tuple(FlagTest(v, m) if ch.boolean() else Not(FlagTest(v, m)) for m in t.values))
        return same if ch.boolean() else Not(same)
    if isinstance(t, EnumType):
        return Cmp(pick(ch, ("==", "!=")), v, Const(pick(ch, t.values), t))
    assert isinstance(t, IntType)
    ints = [x for x in vs if isinstance(x.type, IntType) and x != v]
    op = pick(ch, ("==", "!=", "<", "<=", ">", ">="))
    kind = ch.integer(0, 5)
    if kind <= 2 or not ints:
        return Cmp(op, v, Const(ch.integer(t.lo, t.hi), INT))  # type: ignore[arg-type]
    other = pick(ch, ints)
    if kind == 3:
        return Cmp(op, v, other)
    if kind == 4:
        return Cmp(op, Arith(pick(ch, ("+", "-")), v, Const(1, INT)), other)
    cond = _atom(ch, [x for x in vs if x.type == BOOL] or vs, [])
    return Cmp(op, Ite(cond, v, other), Const(ch.integer(-1, 2), INT))


def bool_expr(ch: Chooser, vs: list[Var], depth: int = 2, refs: list[Var] = ()) -> Expr:
    """A random boolean expression over ``vs`` (and ``set.*``/``flag.*`` ``refs``)."""
    refs = list(refs)
    if not vs and not refs:
        return Const(ch.boolean(), BOOL)
    if depth <= 0 or ch.boolean(0.45):
        return _atom(ch, vs, refs)
    kind = ch.integer(0, 4)
    if kind == 0:
        return Not(bool_expr(ch, vs, depth - 1, refs))
    if kind == 1:
        return And(tuple(bool_expr(ch, vs, depth - 1, refs) for _ in range(ch.integer(2, 3))))
    if kind == 2:
        return Or(tuple(bool_expr(ch, vs, depth - 1, refs) for _ in range(ch.integer(2, 3))))
    if kind == 3:
        return Implies(bool_expr(ch, vs, depth - 1, refs), bool_expr(ch, vs, depth - 1, refs))
    return _atom(ch, vs, refs)


def _ns(vs: list[Var], *namespaces: str) -> list[Var]:
    return [v for v in vs if v.ns in namespaces]


def _fact(e: Expr, label: str) -> Fact:
    return Fact(e, str(e), label, SRC)


# ---------------------------------------------------------------------- models

def generate_model(ch: Chooser, name: str = "random@0") -> Model:
    """A random, well-formed model (every reference resolves, every expression type checks)."""
    vs = _vars(ch)
    view, truth, pre, sel = _ns(vs, "view"), _ns(vs, "view", "state", "arg"), _ns(vs, "state", "arg"), \
        _ns(vs, "tracked", "arg")
    axioms = tuple(Axiom(f"ax{i}", _fact(bool_expr(ch, vs, 1), f"axiom ax{i}"))
                   for i in range(ch.integer(0, 1)))
    contexts = []
    for i in range(ch.integer(2, 4)):
        vfacts = (_fact(Cmp("==", view[0], Const(pick(ch, view[0].type.values), view[0].type)),  # type: ignore[union-attr]
                        f"c{i} view"),)
        if ch.boolean(0.3):
            vfacts += (_fact(bool_expr(ch, view, 1), f"c{i} view 2"),)
        facts = tuple(_fact(bool_expr(ch, vs, 1), f"c{i} fact {j}") for j in range(ch.integer(0, 3)))
        if ch.boolean(0.4):
            facts += (_fact(Cmp("==", Var("tracked", "lock", _VOCAB[6][2]), Var("state", "lock", _VOCAB[2][2])),  # type: ignore[arg-type]
                            f"c{i} tracked lock"),)
        cases = ()
        if ch.boolean(0.3):
            cases = tuple(Case(f"case{j}", (_fact(bool_expr(ch, vs, 1), f"c{i} case {j}"),), SRC)
                          for j in range(2))
        contexts.append(Context(f"c{i}", "", SRC, vfacts, facts, cases))
    sets = tuple(KfuncSet(f"s{i}",
                          _fact(bool_expr(ch, view, 1), f"s{i} registered") if ch.boolean(0.6) else None,
                          _fact(bool_expr(ch, truth, 1), f"s{i} allow") if ch.boolean(0.6) else None, SRC)
                 for i in range(ch.integer(0, 2)))
    refs = [Var("set", s.name, BOOL) for s in sets] + [Var("flag", f, BOOL) for f in KFUNC_FLAGS]
    filters = ()
    if ch.boolean(0.4):
        rules = tuple(FilterRule(_fact(bool_expr(ch, view, 1, refs), f"filter rule {j}"),
                                 pick(ch, ("allow", "deny")), SRC) for j in range(ch.integer(1, 2)))
        applies = bool_expr(ch, [], 1, refs) if ch.boolean(0.6) else Const(True, BOOL)
        filters = (Filter("f0", applies, pick(ch, ("allow", "deny")), rules, SRC),)
    kfuncs = tuple(_kfunc(ch, f"k{i}", sets, view, truth, pre, sel) for i in range(ch.integer(1, 2)))
    decls = tuple(VarDecl(v.ns, v.name, v.type) for v in vs)
    return Model(name, "random", "random", None, "random model", Path("<random>"), (), decls, (), (),
                 axioms, tuple(contexts), sets, filters, kfuncs, ())


def _kfunc(ch: Chooser, name: str, sets, view, truth, pre, sel) -> Kfunc:
    in_sets = tuple(s.name for s in sets if ch.boolean(0.5))
    flags = tuple(f for f in KFUNC_FLAGS if ch.boolean(0.25))
    allow = _fact(bool_expr(ch, truth, 1), f"{name} contract") if ch.boolean(0.5) else None
    registered = _fact(bool_expr(ch, view, 1), f"{name} registered") if not in_sets and ch.boolean(0.3) else None
    impls = tuple(Implementation(f"i{j}", tuple(_fact(bool_expr(ch, pre, 1), f"{name}/i{j} requires {r}")
                                                for r in range(ch.integer(0, 2))), (), (), SRC)
                  for j in range(ch.integer(1, 3)))
    names = [i.name for i in impls]

    def rules(vs, refusal):
        out = []
        for r in range(ch.integer(1, 3)):
            last = r > 0 and ch.boolean(0.5)
            when = Const(True, BOOL) if last else bool_expr(ch, vs, 1)
            target = pick(ch, names + [refusal])
            out.append(Rule(_fact(when, f"{name} rule {r}: {when} -> {target}"), target, "", SRC))
            if last:
                break
        return tuple(out)

    kind = ch.integer(0, 3) if len(impls) == 1 else ch.integer(1, 3)
    resolve = rules(view, REJECT) if kind in (1, 3) else None
    select = rules(sel, ERROR) if kind in (2, 3) else None
    in_force = "single" if kind == 0 else "resolver" if kind == 1 else "selector" if kind == 2 \
        else pick(ch, ("resolver", "selector"))
    return Kfunc(name, in_sets, flags, SRC, allow, registered, impls, resolve, select, in_force)


def random_model(seed: int) -> Model:
    """The random model of ``seed`` (the same on every machine and Python version)."""
    return generate_model(RandomChooser(random.Random(seed)), f"random@{seed}")


@st.composite
def models(draw) -> Model:
    """Hypothesis strategy: random, well-formed models (see :func:`generate_model`)."""
    return generate_model(DrawChooser(draw), "random@hypothesis")


# ---------------------------------------------------------------------- views and states

def _model_vars(model: Model) -> list[Var]:
    return [Var(d.ns, d.name, d.type) for d in model.vars]


class _Named:
    """A model passed to a strategy, shown by name (Hypothesis prints strategy arguments)."""

    __slots__ = ("model",)

    def __init__(self, model: Model):
        self.model = model

    def __repr__(self) -> str:
        return repr(self.model.name)


def views(model: Model):
    """Hypothesis strategy: any load-time view of ``model`` (``{name: value}`` of view.*)."""
    return _views(_Named(model))


@st.composite
def _views(draw, named: _Named) -> dict[str, object]:
    return {v.name: draw(st.sampled_from(domain(v))) for v in _model_vars(named.model) if v.ns == "view"}


def call_sites(model: Model, kfuncs: Sequence[str] | None = None):
    """Hypothesis strategy: ``(kfunc name, view)`` pairs: a call the verifier sees."""
    names = list(kfuncs) if kfuncs else [k.name for k in model.kfuncs]
    return st.tuples(st.sampled_from(names), views(model))


@dataclass(frozen=True)
class State:
    """One runtime state: the context it was drawn in and every variable's value."""

    context: str
    env: dict

    def part(self, ns: str) -> dict[str, object]:
        """The values of one namespace, by variable name."""
        return {k[1]: v for k, v in self.env.items() if k[0] == ns and k[2] == 0}


def sample_admitted(model: Model, context: str, choose: Callable[[tuple, int], int]) -> Env | None:
    """An admitted state of ``context``, steered by ``choose(key, n)`` (the index of the value
    to try first for a variable with ``n`` candidates); None when the context admits nothing."""
    from polykfunc.crosscheck.brute_force import case_searches
    searches = case_searches(model, context)
    start = choose(("case",), len(searches))
    for i in range(len(searches)):
        s = searches[(start + i) % len(searches)]
        env = _steered(s, choose)
        if env is not None:
            full = dict(env)
            for v in _model_vars(model):
                if v.key not in full:
                    d = domain(v)
                    full[v.key] = d[choose(v.key, len(d))]
            return full
    return None


def _steered(s: Search, choose) -> Env | None:
    """Solve ``s`` trying, for every variable, the value ``choose`` prefers first."""
    if s.unsat:
        return None
    rotated = Search.__new__(Search)
    rotated.__dict__.update(s.__dict__)
    rotated.domains = {}
    for k, d in s.domains.items():
        i = choose(k, len(d))
        rotated.domains[k] = d[i:] + d[:i]
    rotated.visited = 0
    return rotated.solve()


def admitted_states(model: Model, contexts: Sequence[str] | None = None):
    """Hypothesis strategy: a runtime state (a :class:`State`) some context of ``model`` admits,
    with its view.

    Every variable's value is drawn (so shrinking moves each towards the first value of its
    domain); the context's facts and the axioms are then satisfied by search, so no drawn
    state is ever thrown away.
    """
    return _admitted_states(_Named(model), tuple(contexts) if contexts else None)


@st.composite
def _admitted_states(draw, named: _Named, contexts) -> State:
    model = named.model
    names = list(contexts) if contexts else list(model.context_names)
    ctx = draw(st.sampled_from(names))
    env = sample_admitted(model, ctx, lambda key, n: draw(st.integers(0, n - 1)) if n > 1 else 0)
    if env is None:
        from hypothesis import reject
        reject()
    return State(ctx, env)


def rejected_states(model: Model, contexts: Sequence[str] | None = None):
    """Hypothesis strategy: a state a context does *not* admit: an admitted one with one
    variable changed so that the context's facts or the axioms become false."""
    return _rejected_states(_Named(model), tuple(contexts) if contexts else None)


@st.composite
def _rejected_states(draw, named: _Named, contexts) -> State:
    from polykfunc.model import semantics as sem
    model = named.model
    from polykfunc.model.expr import evaluate
    base = draw(admitted_states(model, contexts))
    ctx = model.context(base.context)
    admits = lambda env: evaluate(sem.axioms(model), env) and evaluate(sem.facts_of(ctx), env)  # noqa: E731
    vs = [v for v in _model_vars(model)]
    v = draw(st.sampled_from(vs))
    for value in domain(v):
        env = {**base.env, v.key: value}
        if not admits(env):
            return State(base.context, env)
    from hypothesis import reject
    reject()


# ---------------------------------------------------------------------- writing a model back

def model_toml(model: Model) -> str:
    """``model`` as one model file (manifest included) that :func:`load_model` reads back."""
    lines = ["[model]", f'name = "{model.name}"', f'kernel = "{model.kernel}"', "format = 1", ""]
    for d in model.vars:
        lines.append(f"[vars.{d.ns}.{d.name}]")
        t = d.type
        if t == BOOL:
            lines.append('type = "bool"')
        elif isinstance(t, IntType):
            lines += ['type = "int"', f"range = [{t.lo}, {t.hi}]"]
        else:
            kind = "enum" if isinstance(t, EnumType) else "flags"
            lines += [f'type = "{kind}"', "values = [" + ", ".join(f'"{x}"' for x in t.values) + "]"]  # type: ignore[union-attr]
        lines.append("")
    q = _q
    for a in model.axioms:
        lines += ["[[axiom]]", f'name = "{a.name}"', f"expr = {q(a.fact.text)}", f'source = "{SRC.text}"', ""]
    for c in model.contexts:
        lines += [f"[context.{c.name}]", f'source = "{SRC.text}"',
                  "view = [" + ", ".join(q(f.text) for f in c.view) + "]",
                  "facts = [" + ", ".join(q(f.text) for f in c.facts) + "]", ""]
        for case in c.cases:
            lines += [f"[[context.{c.name}.case]]", f'name = "{case.name}"',
                      "facts = [" + ", ".join(q(f.text) for f in case.facts) + "]", ""]
    for s in model.kfunc_sets:
        lines += [f"[kfunc_set.{s.name}]", f'source = "{SRC.text}"']
        if s.registered:
            lines.append(f"registered = {q(s.registered.text)}")
        if s.allow:
            lines.append(f"allow = {q(s.allow.text)}")
        lines.append("")
    for f in model.filters:
        lines += ["[[filter]]", f'name = "{f.name}"', f'source = "{SRC.text}"', f"applies = {q(str(f.applies))}",
                  f'default = "{f.default}"', ""]
        for r in f.rules:
            lines += ["[[filter.rule]]", f"when = {q(r.when.text)}", f'verdict = "{r.verdict}"', ""]
    for k in model.kfuncs:
        lines += [f"[kfunc.{k.name}]", f'source = "{SRC.text}"',
                  "sets = [" + ", ".join(f'"{s}"' for s in k.sets) + "]",
                  "flags = [" + ", ".join(f'"{s}"' for s in k.flags) + "]"]
        if k.allow:
            lines.append(f"allow = {q(k.allow.text)}")
        if k.registered:
            lines.append(f"registered = {q(k.registered.text)}")
        if k.resolve is not None and k.select is not None:
            lines.append(f'in_force = "{k.in_force}"')
        lines.append("")
        for i in k.impls:
            lines += [f"[[kfunc.{k.name}.impl]]", f'name = "{i.name}"',
                      "requires = [" + ", ".join(q(f.text) for f in i.requires) + "]", ""]
        for key, rules in (("resolve", k.resolve), ("select", k.select)):
            for r in rules or ():
                lines += [f"[[kfunc.{k.name}.{key}]]", f"when = {q(r.when.text)}", f'select = "{r.select}"', ""]
    return "\n".join(lines)


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_model(model: Model, folder: Path) -> Path:
    """Write ``model`` as ``folder/model.toml``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.toml").write_text(model_toml(model))
    return folder


__all__ = ["Chooser", "DrawChooser", "RandomChooser", "State", "admitted_states", "bool_expr",
           "call_sites", "generate_model", "model_toml", "models", "random_model", "rejected_states",
           "sample_admitted", "views", "write_model"]
