"""The explicit-state checker: its pruning is sound, and it decides what z3 decides.

z3 and the enumeration of :mod:`polykfunc.crosscheck.brute_force` are two independent decision procedures
for the same obligations; every difference is a bug in one of them (or in the prover loop).
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ProcessPoolExecutor

import pytest
from hypothesis import given, settings, strategies as st

from polykfunc.crosscheck.brute_force import COUNTEREXAMPLE, PROVED, compare, decide_model, decide_obligation
from polykfunc.crosscheck.explicit_search import UNKNOWN, Search, domain, peval
from polykfunc.model import load_model, resolve_target
from polykfunc.model.expr import evaluate
from polykfunc.properties import obligations
from polykfunc.engine.prover import prove_model
from polykfunc.crosscheck.strategies import DrawChooser, _vars, bool_expr, models, random_model, write_model

#: random models the CI profile checks (z3 against enumeration, every obligation)
AGREEMENT_MODELS = int(os.environ.get("POLYKFUNC_AGREEMENT_MODELS", "2000"))


@st.composite
def formulas(draw):
    ch = DrawChooser(draw)
    vs = _vars(ch)
    return vs, [bool_expr(ch, vs, 2) for _ in range(draw(st.integers(1, 3)))]


def _all_envs(vs):
    for values in itertools.product(*(domain(v) for v in vs)):
        yield {v.key: x for v, x in zip(vs, values)}


@settings(max_examples=150)
@given(formulas(), st.data())
def test_partial_evaluation_never_prunes_a_completion(fs, data):
    """Whatever peval decides on a partial assignment holds for every completion of it."""
    vs, exprs = fs
    assigned = [v for v in vs if data.draw(st.booleans())]
    env = {v.key: data.draw(st.sampled_from(domain(v))) for v in assigned}
    rest = [v for v in vs if v not in assigned]
    doms = {v.key: list(domain(v)) for v in rest}
    for e in exprs:
        got = peval(e, env, doms)
        if got is UNKNOWN:
            continue
        for completion in itertools.islice(_all_envs(rest), 300):
            assert evaluate(e, {**env, **completion}) == got, (str(e), env, completion)


@settings(max_examples=150)
@given(formulas())
def test_search_finds_a_model_exactly_when_one_exists(fs):
    vs, exprs = fs
    s = Search(exprs)
    env = s.solve()
    some = next((e for e in itertools.islice(_all_envs(vs), 20000)
                 if all(evaluate(x, e) for x in exprs)), None)
    if env is None:
        assert some is None, f"the search missed {some} for {[str(x) for x in exprs]}"
    else:
        full = {**next(_all_envs(vs)), **env}
        assert all(evaluate(x, full) for x in exprs)


@settings(max_examples=40)
@given(formulas(), st.data())
def test_projection_is_exact(fs, data):
    vs, exprs = fs
    keys = [v.key for v in vs if data.draw(st.booleans())][:2]
    got = Search(exprs).project(keys)
    by_key = {v.key: v for v in vs}
    want = set()
    for e in _all_envs(vs):
        if all(evaluate(x, e) for x in exprs):
            want.add(tuple(e[k] for k in keys))
    read = {v.key for x in exprs for v in __import__("polykfunc.model.expr", fromlist=["variables"]).variables(x)}
    # a key no formula reads is a wildcard (None) in the projection
    norm = {tuple(x if k in read else None for k, x in zip(keys, t)) for t in want}
    assert got == norm, (keys, [str(x) for x in exprs], by_key)


# ---------------------------------------------------------------------- z3 against enumeration

def _agree(seeds: range) -> tuple[int, int, list[str], dict]:
    """(models, obligations, disagreements, status counts) over the random models of ``seeds``."""
    n_obs, diffs, counts = 0, [], {}
    for seed in seeds:
        m = random_model(seed)
        report = prove_model(m, use_known=False)
        by_id = {r.id: r for r in report.results}
        for ob in obligations(m):
            v = decide_obligation(m, ob)
            n_obs += 1
            counts[v.status] = counts.get(v.status, 0) + 1
            d = compare(by_id[ob.id], v)
            if d:
                diffs.append(f"random_model({seed}): {d}")
    return len(seeds), n_obs, diffs, counts


def test_z3_agrees_with_enumeration_on_thousands_of_random_models():
    """Every obligation of AGREEMENT_MODELS random models: same status, same failing contexts."""
    n = AGREEMENT_MODELS
    half = n // 2
    with ProcessPoolExecutor(max_workers=2) as pool:
        parts = list(pool.map(_agree, [range(0, half), range(half, n)]))
    models_, obs = sum(p[0] for p in parts), sum(p[1] for p in parts)
    diffs = [d for p in parts for d in p[2]]
    counts = {}
    for p in parts:
        for k, v in p[3].items():
            counts[k] = counts.get(k, 0) + v
    assert models_ == n and obs > 10 * n
    assert counts.get(PROVED, 0) > n and counts.get(COUNTEREXAMPLE, 0) > n // 2, counts
    assert not diffs, "z3 and enumeration disagree (reproduce with random_model(SEED)):\n" + "\n".join(diffs[:20])


@settings(max_examples=60)
@given(models())
def test_z3_agrees_with_enumeration_on_hypothesis_models(m):
    report = prove_model(m, use_known=False)
    by_id = {r.id: r for r in report.results}
    for ob in obligations(m):
        assert compare(by_id[ob.id], decide_obligation(m, ob)) is None


@pytest.mark.parametrize("name", ["sched_ext@v6.12", "verifier@specialize", "sched_ext-resolver@design"])
def test_z3_agrees_with_enumeration_on_bundled_models(name):
    """Every obligation of the smaller bundled models (bench/agreement.py runs all of them)."""
    m = load_model(resolve_target(name))
    report = prove_model(m, use_known=False)
    by_id = {r.id: r for r in report.results}
    diffs = [d for v in decide_model(m) if (d := compare(by_id[v.obligation], v))]
    assert not diffs, diffs


def test_random_models_round_trip_through_model_files(tmp_path):
    """A random model written as TOML loads back with the same meaning (reproducers are real)."""
    for seed in range(25):
        m = random_model(seed)
        back = load_model(write_model(m, tmp_path / f"m{seed}"))
        a = [(r.id, r.status) for r in prove_model(m, use_known=False).results]
        b = [(r.id, r.status) for r in prove_model(back, use_known=False).results]
        assert a == b, seed


def test_a_verdict_names_every_failing_context():
    toy = load_model(resolve_target("tests/models/toy"))
    ob = next(o for o in obligations(toy, ["safety"]) if o.id == "safety/perf_set/set")
    v = decide_obligation(toy, ob)
    assert v.status == COUNTEREXAMPLE and set(v.contexts) == {"enqueue", "dispatch", "init"}
    assert v.witness is not None and evaluate(ob.premise, {**v.witness}) is True
