"""`polykfunc fuzz` and the checks behind it: a broken resolver is found, shrunk and stored; the
prover's proofs hold on concrete states; z3's counterexamples replay on the concrete side."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from polykfunc.crosscheck.concrete import bundled_resolver, load_resolver, same_choice
from polykfunc.engine.witness import env_of
from polykfunc.crosscheck.fuzz import (
    CONFORMANCE, PROVER_BUG, UNSAFE, Proofs, check_counterexamples, check_state, fuzz,
)
from polykfunc.model import load_model, resolve_target
from polykfunc.engine.replay import replay_problems
from polykfunc.engine.results import Counterexample
from polykfunc.counterexamples.store import Store
from polykfunc.crosscheck.strategies import admitted_states, call_sites, models, rejected_states

ROOT = Path(__file__).resolve().parent.parent
TOY = ROOT / "tests" / "models" / "toy"
TOY_RESOLVER = ROOT / "tests" / "resolvers" / "toy_resolver.py"
EXE = Path(sys.executable).parent / "polykfunc"
if not EXE.exists():  # pragma: no cover
    EXE = ROOT / ".venv" / "bin" / "polykfunc"


def run(*args, cwd=None):
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, cwd=cwd)


# ---------------------------------------------------------------------- the command

def test_fuzz_finds_shrinks_and_stores_a_broken_resolver(tmp_path):
    store = tmp_path / "store"
    p = run("fuzz", TOY, "--resolver", f"{TOY_RESOLVER}:resolve_broken", "--examples", 100, "--store", store)
    assert p.returncode == 1, p.stderr
    assert "CONFORMANCE  insert in init" in p.stdout and "UNSAFE" in p.stdout
    # shrunk: the minimal state has every free variable at the first value of its domain
    assert "arg={'cpu': 0, 'task': 'none', 'task_cpu': 0}" in p.stdout
    assert "again: polykfunc fuzz" in p.stdout and "Traceback" not in p.stderr
    listed = run("cex", "list", "--store", store)
    assert listed.returncode == 0 and "conformance" in listed.stdout and "safety" in listed.stdout
    entries, bad = Store(store).entries()
    assert len(entries) == 2 and not bad
    # reproducible: the same seed finds the same root causes (same ids)
    again = run("fuzz", TOY, "--resolver", f"{TOY_RESOLVER}:resolve_broken", "--examples", 100, "--json",
                "--no-store")
    assert again.returncode == 1
    data = json.loads(again.stdout)
    assert {f["kind"] for f in data["runs"][0]["failures"]} == {CONFORMANCE, UNSAFE}
    assert sorted(e.id for e in entries) == sorted(p.stdout.split("saved as   ")[i].split()[0] for i in (1, 2))


def test_fuzz_passes_a_correct_resolver():
    p = run("fuzz", TOY, "--resolver", f"{TOY_RESOLVER}:resolve", "--examples", 60, "--no-store")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0 failure(s)" in p.stdout


def test_fuzz_takes_the_model_from_the_resolver_module(tmp_path):
    resolver = tmp_path / "r.py"
    resolver.write_text(f'MODEL = "{TOY}"\n' + TOY_RESOLVER.read_text().replace('MODEL = "toy@1"', ""))
    p = run("fuzz", "--resolver", f"{resolver}:resolve", "--examples", 30, "--no-store")
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("args, message", [
    (["--resolver", "nomodule"], "module:function"),
    (["--resolver", "tests/resolvers/toy_resolver.py:nope"], "has no function 'nope'"),
    (["--resolver", "tests/resolvers/missing.py:resolve"], "no such file"),
    (["--kfunc", "insret"], "did you mean 'insert'"),
    (["no-such-model@1"], "no bundled model"),
])
def test_fuzz_bad_input_exits_2_with_a_message(args, message):
    target = [] if args and args[0].endswith("@1") else [TOY]
    p = run("fuzz", *target, *args, cwd=ROOT)
    assert p.returncode == 2, p.stdout + p.stderr
    assert message in p.stderr and "Traceback" not in p.stderr


def test_fuzz_resolver_without_model_needs_a_target(tmp_path):
    resolver = tmp_path / "r.py"
    resolver.write_text("def resolve(kfunc, view, tracked, arg):\n    return None\n")
    p = run("fuzz", "--resolver", f"{resolver}:resolve")
    assert p.returncode == 2 and "name the model" in p.stderr


def test_a_crashing_resolver_is_a_finding_not_a_crash(tmp_path):
    resolver = tmp_path / "r.py"
    resolver.write_text("def resolve(kfunc, view, tracked, arg):\n    return {}['x']\n")
    p = run("fuzz", TOY, "--resolver", f"{resolver}:resolve", "--examples", 20, "--no-store")
    assert p.returncode == 1 and "CRASH" in p.stdout and "KeyError" in p.stdout


# ---------------------------------------------------------------------- (b) proofs hold on states

@settings(max_examples=40, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_proofs_hold_on_concrete_states_of_random_models(data):
    """(b): no state an admitted context produces breaks an obligation z3 proved."""
    m = data.draw(models())
    proofs = Proofs.of(m)
    for _ in range(5):
        state = data.draw(admitted_states(m))
        bugs = [f for f in check_state(m, None, proofs, state) if f.kind == PROVER_BUG]
        assert not bugs, bugs[0].message


@pytest.mark.parametrize("name", ["sched_ext@v6.12", "verifier@specialize"])
def test_proofs_hold_on_concrete_states_of_bundled_models(name):
    m = load_model(resolve_target(name))
    proofs = Proofs.of(m)

    @settings(max_examples=60, suppress_health_check=list(HealthCheck))
    @given(admitted_states(m))
    def check(state):
        assert not [f for f in check_state(m, None, proofs, state) if f.kind == PROVER_BUG]

    check()


# ---------------------------------------------------------------------- (c) counterexamples replay

RESOLVED = ["sched_ext@v6.12", "sched_ext@v7.1", "sched_ext@newest", "verifier@specialize"]


@pytest.mark.parametrize("name", RESOLVED)
def test_every_z3_counterexample_replays_on_the_concrete_resolver(name):
    """(c), with no exception: z3's witnesses are calls the kernel can make (no NULL task into
    a KF_RCU argument, no KF_RCU_PROTECTED call outside an RCU section)."""
    m = load_model(resolve_target(name))
    found = check_counterexamples(m, bundled_resolver(name), Proofs.of(m))
    assert not found, [f.message for f in found]


# ---------------------------------------------------------------------- the CI sample of the seed sweep

def test_every_bundled_model_with_a_resolver_is_fuzzed_here():
    from polykfunc.crosscheck.concrete import bundled_resolvers
    assert sorted(bundled_resolvers()) == sorted(RESOLVED)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("name", RESOLVED)
def test_fuzz_finds_nothing_on_the_bundled_models(name, seed):
    """The first seeds of the sweep in docs/fuzzing.md (`polykfunc fuzz M --examples 300
    --seed S`, S in 1..20): conformance, safety, prover soundness and replay all hold."""
    m = load_model(resolve_target(name))
    report = fuzz(m, bundled_resolver(name), examples=300, seed=seed)
    assert report.states >= 300
    assert not report.failures, [f"{f.kind}: {f.message} ({f.why})" for f in report.failures]


# ---------------------------------------------------------------------- load time, at any call site

TOY_MODEL = load_model(TOY)


@settings(max_examples=100)
@given(call_sites(TOY_MODEL, ["insert"]))
def test_load_time_decision_matches_the_model_at_every_call_site(site):
    """At any call site (any view, not only the contexts'), the prototype rejects at load
    exactly when the model's registration and filters do."""
    from polykfunc.model import semantics as sem
    from polykfunc.model.expr import evaluate
    kfunc, view = site
    ours = load_resolver(f"{TOY_RESOLVER}:resolve").resolve(
        kfunc, view, {"kf_mask": frozenset({"DISPATCH"}), "ddsp": "none"}, {"task": "other"})
    loads = evaluate(sem.load_admitted(TOY_MODEL, TOY_MODEL.kfunc(kfunc)),
                     {("view", name, 0): v for name, v in view.items()})
    assert (ours != "rejected at load") == loads, (view, ours)


# ---------------------------------------------------------------------- states outside the contexts

@settings(max_examples=40, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_replay_refuses_states_no_context_admits(data):
    """A counterexample moved outside its context does not replay: replay is not vacuous."""
    m = TOY_MODEL
    state = data.draw(rejected_states(m))
    from polykfunc.engine.witness import value_name
    cex = Counterexample(m.name, m.kernel, "safety", "safety/insert/buffered", "insert", state.context, None,
                         "buffered", "buffered", None, (), (), "", tuple((value_name(k), v) for k, v in
                                                                          sorted(state.env.items())), ())
    problems = replay_problems(m, cex)
    assert any("does not admit" in p or "axiom" in p for p in problems), problems


def test_fuzz_api_reports_states_and_is_deterministic():
    m = load_model(TOY)
    r = load_resolver(f"{TOY_RESOLVER}:resolve_broken")
    a, b = fuzz(m, r, examples=50, seed=3), fuzz(m, r, examples=50, seed=3)
    assert [f.key for f in a.failures] == [f.key for f in b.failures] and a.failures
    assert a.states > 0 and all(same_choice(f.model_outcome, f.model_outcome) for f in a.failures)
    assert env_of(tuple())== {}
