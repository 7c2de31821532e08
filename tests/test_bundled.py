"""Every bundled model validates, proves as declared, and finds the real bugs of its kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

from polykfunc.model import bundled_manifests, load_model
from polykfunc.engine.prover import prove_model
from polykfunc.engine.replay import replay_problems
from polykfunc.engine.results import Status

BUNDLED = bundled_manifests()
EXPECTED_MODELS = {"sched_ext@v6.12", "sched_ext@v6.15", "sched_ext@v7.1", "sched_ext@newest",
                   "verifier@specialize", "sched_ext-resolver@design"}


def test_the_bundled_models_are_all_there():
    assert EXPECTED_MODELS <= set(BUNDLED)


@pytest.fixture(scope="module")
def reports():
    cache = {}

    def get(name):
        if name not in cache:
            model = load_model(BUNDLED[name])
            cache[name] = (model, prove_model(model))
        return cache[name]
    return get


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_model_proves_as_declared(name, reports):
    model, report = reports(name)
    bad = [(r.id, r.status.label, r.reason) for r in report.results
           if r.status in (Status.COUNTEREXAMPLE, Status.VACUOUS, Status.UNKNOWN)]
    assert bad == []
    assert report.missing_known == ()
    for cex in report.counterexamples():
        assert replay_problems(model, cex) == []


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_every_rule_cites_a_source(name):
    model = load_model(BUNDLED[name])
    for k in model.kfuncs:
        assert k.source.text.strip()
        for i in k.impls:
            assert i.source.text.strip()
    for c in model.contexts:
        assert c.source.text.strip()


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_every_known_bug_is_found_and_names_its_fix(name, reports):
    model, report = reports(name)
    found = {c.known_bug for c in report.counterexamples() if c.known_bug}
    assert found == {b.id for b in model.known_bugs}
    docs = (Path(__file__).resolve().parent.parent / "docs" / "models.md").read_text()
    for b in model.known_bugs:
        if not b.fixed_by:  # an open finding (no upstream fix): it must be documented for review
            assert b.id in docs, f"open finding {b.id} of {name} is not listed in docs/models.md"
