"""Splitting obligations by context (engine/decompose.py, engine/split.py) decides exactly what
the whole obligation decides: same status, same failing contexts, replaying counterexamples."""

from __future__ import annotations

import pytest

from polykfunc.crosscheck.strategies import random_model
from polykfunc.engine.decompose import ContextTable, Partitioner, bits, pin
from polykfunc.engine.prover import _known_matcher, prove_model, prove_obligation
from polykfunc.engine.results import Status
from polykfunc.engine.solver import Z3Session
from polykfunc.engine.split import SplitProver
from polykfunc.model import load_model, resolve_target
from polykfunc.model import semantics as sem
from polykfunc.model.expr import (
    BOOL, FALSE, META, TRUE, Cmp, Const, EnumType, IntType, Var, conj, disj, eq, evaluate, neg,
)
from polykfunc.properties import obligations


def _whole(model, rlimit=20_000_000):
    """Every obligation decided at once, over the disjunction of all contexts (the reference)."""
    session = Z3Session(rlimit)
    known = _known_matcher(model)
    return {ob.id: prove_obligation(session, model, ob, known) for ob in obligations(model)}


def _same(split, whole):
    assert split.status == whole.status, (split.id, split.status, whole.status, whole.reason)
    if split.property == "visibility":  # one counterexample, of a context the search happened to meet
        assert len(split.counterexamples) == len(whole.counterexamples), split.id
        return
    assert sorted(c.context for c in split.counterexamples) == sorted(c.context for c in whole.counterexamples), split.id
    assert split.proved_contexts == whole.proved_contexts, split.id


@pytest.mark.parametrize("name", ["sched_ext@v7.1", "verifier@specialize", "design-dispatch@d-program",
                                  "design-argtype@a-runtime"])
def test_split_decides_like_the_whole_obligation_on_bundled_models(name):
    model = load_model(resolve_target(name))
    split = {r.id: r for r in prove_model(model).results}
    whole = _whole(model)
    assert split.keys() == whole.keys()
    for oid, r in whole.items():
        _same(split[oid], r)


@pytest.mark.parametrize("seed", range(40))
def test_split_decides_like_the_whole_obligation_on_random_models(seed):
    model = random_model(seed)
    split = {r.id: r for r in prove_model(model, use_known=False).results}
    session = Z3Session()
    for ob in obligations(model):
        _same(split[ob.id], prove_obligation(session, model, ob))


def test_counterexamples_are_listed_in_context_order_and_repeat():
    model = load_model(resolve_target("sched_ext@v7.1"))
    a = prove_model(model)
    b = prove_model(model)
    order = {n: i for i, n in enumerate(model.context_names)}
    for r, s in zip(a.results, b.results):
        assert [c.values for c in r.counterexamples] == [c.values for c in s.counterexamples]
        if r.counterexamples and len(r.counterexamples[0].copies) == 0:
            idx = [order[c.context] for c in r.counterexamples]
            assert idx == sorted(idx)


def test_pins_come_from_top_level_facts_to_a_fixpoint():
    x = Var("state", "x", IntType(-1, 3))
    y = Var("tracked", "y", IntType(-1, 3))
    b = Var("view", "b", BOOL)
    pins, rest = pin(conj(eq(x, Const(-1, x.type)), Cmp("==", y, x), neg(b), disj(b, Cmp(">", y, x))))
    assert pins == {x.key: Const(-1, x.type), y.key: Const(-1, y.type), b.key: FALSE}
    assert rest == FALSE  # y > x with both pinned to -1 folds to false: no state
    pins, rest = pin(eq(x, Const(7, x.type)))
    assert rest == FALSE  # a pin outside the declared range: no state


def test_partition_residues_equal_the_formula_under_each_units_pins():
    m = Var("view", "m", EnumType(("a", "b", "c")))
    x = Var("state", "x", IntType(0, 3))
    units = [{m.key: Const("a", m.type)}, {m.key: Const("b", m.type), x.key: Const(2, x.type)}, {}]
    part = Partitioner(units)
    f = conj(disj(eq(m, Const("a", m.type)), eq(m, Const("b", m.type))), Cmp(">", x, Const(1, x.type)))
    parts = part.parts(f)
    assert sum(mask for _, mask in parts) == 0b111 and len({mask for _, mask in parts}) == len(parts)
    for r, mask in parts:
        for i in bits(mask):
            for mv in ("a", "b", "c"):
                for xv in range(4):
                    env = {m.key: mv, x.key: xv}
                    if all(env[k] == c.value for k, c in units[i].items()):
                        assert evaluate(r, env) == evaluate(f, env), (i, r, env)


def test_a_formula_naming_the_context_is_pinned_or_declined():
    model = load_model(resolve_target("sched_ext@v7.1"))
    ctx = Var(META, "context", sem.context_var(model).type)
    split = SplitProver(model, 20_000_000)
    # one runtime state: each context pins meta.context to itself, so the split stays exact
    for ob in obligations(model, ["safety"])[:6]:
        for name in ("enqueue", "dispatch"):
            named = type(ob)(**{**ob.__dict__, "id": f"{ob.id}/{name}",
                                "premise": conj(ob.premise, eq(ctx, Const(name, ctx.type))),
                                "condition": conj(ob.condition, eq(ctx, Const(name, ctx.type)))})
            _same(split.prove(named), prove_obligation(Z3Session(), model, named))
    # several runtime states at one view: the view split cannot pin a context, so it declines
    vis = next(o for o in obligations(model, ["visibility"]))
    named = type(vis)(**{**vis.__dict__, "condition": conj(vis.condition, eq(ctx, Const("enqueue", ctx.type)))})
    assert split.prove(named) is None


def test_a_context_without_states_is_skipped_and_reported_vacuous(write_model):
    path = write_model("""
        [vars.view.m]
        type = "enum"
        values = ["a", "b"]
        [context.ok]
        source = "t"
        view = ["view.m == 'a'"]
        facts = ["state.locked_rq == -1"]
        [context.empty]
        source = "t"
        view = ["view.m == 'b'"]
        facts = ["state.locked_rq == -1", "state.locked_rq == state.cpu"]
        [kfunc.k]
        source = "t"
        [[kfunc.k.impl]]
        name = "i"
        requires = ["state.locked_rq == -1"]
    """)
    model = load_model(path)
    table = ContextTable(model)
    assert table.rest[1] == FALSE and table.live == 0b01
    split = {r.id: r for r in prove_model(model).results}
    for oid, r in _whole(model).items():
        _same(split[oid], r)
    assert split["non-vacuity/empty"].status == Status.VACUOUS
    assert split["safety/k/i"].status == Status.PROVED


def test_a_tiny_resource_limit_never_proves_what_the_whole_obligation_does_not():
    model = load_model(resolve_target("sched_ext@v6.12"))
    tight = {r.id: r for r in prove_model(model, rlimit=500).results}
    whole = _whole(model)
    assert any(r.status == Status.UNKNOWN for r in tight.values())
    for oid, r in tight.items():
        if r.status == Status.PROVED:
            assert whole[oid].status == Status.PROVED, oid
        if r.property != "visibility":
            for c in r.counterexamples:
                assert c.context in {x.context for x in whole[oid].counterexamples}, oid
