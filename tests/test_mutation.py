"""The mutation score of the checker: every mutant that enumeration shows unsafe, prove catches.

The full runs are bench/mutation.py (figures in docs/fuzzing.md); here every mutant of the toy
model and a seeded sample of every operator on each bundled model keep the score at 100 %.
"""

from __future__ import annotations

import pytest

from polykfunc.model import bundled_manifests, load_model, resolve_target
from polykfunc.crosscheck.mutation import OPERATORS, mutants, score
from polykfunc.properties import obligations

#: mutants per operator sampled on each bundled model in CI (bench/mutation.py runs them all);
#: the two largest models get fewer, every other model SAMPLE
SAMPLE = 4
PER_OPERATOR = {"sched_ext@v7.1": 2, "sched_ext@newest": 2, "sched_ext@v6.15": 3}
BUNDLED = list(bundled_manifests())


def test_the_samples_contain_unsafe_mutants():
    """Otherwise the per-model samples would check nothing."""
    s = score(load_model(bundled_manifests()["sched_ext@v6.12"]), per_operator=SAMPLE, seed=1)
    assert s.unsafe >= 5


def test_every_mutant_of_the_toy_model_is_decided_and_every_unsafe_one_caught():
    s = score(load_model(resolve_target("tests/models/toy")))
    assert s.made == 34 and s.unsafe == 11 and s.caught == s.unsafe, [r.reason for r in s.missed]
    ops = s.by_operator()
    assert ops["drop-check"] == (2, 0, 2) and ops["drop-requires"][2] == 0


@pytest.mark.parametrize("name", BUNDLED)
def test_mutation_score_is_100_percent_on_a_sample_of_each_bundled_model(name):
    s = score(load_model(bundled_manifests()[name]), per_operator=PER_OPERATOR.get(name, SAMPLE), seed=1)
    assert not s.missed, "prove missed unsafe mutants: " + "; ".join(
        f"{r.mutant.description}: {r.reason}" for r in s.missed)


def test_mutants_are_single_faults_of_valid_shape():
    m = load_model(resolve_target("sched_ext@v6.12"))
    seen = set()
    for mu in mutants(m):
        assert mu.operator in OPERATORS
        seen.add(mu.operator)
        assert mu.model is not m and mu.model.name == m.name
        # every obligation of the mutant can still be built (the mutant is a well-formed model)
        if mu.operator in ("drop-check", "swap-rules", "flip-allow"):
            assert obligations(mu.model, ["safety"])
    assert seen == set(OPERATORS)


def test_a_dropped_check_is_caught_with_its_context():
    """The toy insert without mark_direct_dispatch()'s 'trying to direct-dispatch another task'
    check: ops.enqueue() dispatches a task other than the one being enqueued directly."""
    m = load_model(resolve_target("tests/models/toy"))
    drop = next(mu for mu in mutants(m, ["drop-check"]) if "ddsp == 'op_task'" in mu.description)
    s = score(m, ["drop-check"])
    r = next(r for r in s.results if r.mutant.description == drop.description)
    assert r.unsafe and r.caught
    assert {ctx for _, ctx in r.unsafe} == {"enqueue"}
