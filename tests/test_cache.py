"""The proof cache: cached and uncached runs agree on every bundled model, an edit re-solves
only the obligations whose content changed, cached counterexamples are rebuilt and replayed
(known-bug matching is today's), unknown is never cached, and a damaged cache is ignored."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner
from report_fixtures import versions, write_version

from polykfunc.engine.cache import ProofCache, cache_key, expr_digest
from polykfunc.cli import cli
from polykfunc.model import bundled_manifests, load_model
from polykfunc.model.expr import Cmp, Const, INT, IntType, Var
from polykfunc.properties import obligations
from polykfunc.engine.prover import prove_model
from polykfunc.engine.results import Status


def _same(rep) -> dict:
    """A report without its timings (which a cache changes by design)."""
    d = rep.to_json()
    d.pop("seconds")
    for o in d["obligations"]:
        o.pop("seconds")
    return d


def _verdicts(rep) -> dict:
    """Each obligation's status and the root causes (fingerprints) of its counterexamples: what
    must not depend on which other obligations the solver saw before (the values may)."""
    return {r.id: (r.status, sorted(c.fingerprint for c in r.counterexamples)) for r in rep.results}


@pytest.mark.parametrize("name", sorted(bundled_manifests()))
def test_cached_and_uncached_runs_agree(name, tmp_path):
    path = bundled_manifests()[name]
    plain = prove_model(load_model(path))
    cold_cache = ProofCache(tmp_path)
    cold = prove_model(load_model(path), cache=cold_cache)
    warm_cache = ProofCache(tmp_path)
    warm = prove_model(load_model(path), cache=warm_cache)
    assert _same(plain) == _same(cold) == _same(warm)
    unknown = sum(1 for r in plain.results if r.status == Status.UNKNOWN)
    assert warm_cache.stats.hits == len(plain.results) - unknown and warm_cache.stats.stale == 0
    assert cold_cache.stats.stored == len(plain.results) - unknown


def test_digest_is_stable_across_processes_and_sees_ranges():
    v1, _ = versions()
    ob = obligations(load_model(v1))[3]
    here = cache_key(load_model(v1), ob, 1000)
    code = ("from polykfunc.engine.cache import cache_key; from polykfunc.model import load_model; "
            "from polykfunc.properties import obligations; "
            f"m = load_model({str(v1)!r}); print(cache_key(m, obligations(m)[3], 1000))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == here                      # no per-process hash salt in the key
    assert cache_key(load_model(v1), ob, 1001) != here       # the rlimit is part of the key
    a, b = Var("state", "cpu", IntType(0, 3)), Var("state", "cpu", IntType(0, 7))
    assert a != b and expr_digest(a) != expr_digest(b)       # a range is part of a variable
    assert expr_digest(Cmp("==", a, Const(True, INT))) != expr_digest(Cmp("==", a, Const(1, INT)))


def test_a_one_line_edit_resolves_only_what_changed(tmp_path):
    folder = write_version(tmp_path / "m", 1)
    cache = ProofCache(tmp_path / "cache")
    first = prove_model(load_model(folder), cache=cache)
    body = folder / "body.toml"
    body.write_text(body.read_text().replace('requires = ["rq_held"]', 'requires = ["rq_held", "state.exec == \'task\'"]'))
    again = ProofCache(tmp_path / "cache")
    second = prove_model(load_model(folder), cache=again)
    # the edited precondition is in safety/insert/buffered and in insert's visibility obligation
    assert again.stats.misses == 2 and again.stats.hits == len(first.results) - 2
    assert _verdicts(second) == _verdicts(prove_model(load_model(folder)))


def test_known_bug_matching_is_rebuilt_on_a_hit(tmp_path):
    folder = write_version(tmp_path / "m", 1)
    prove_model(load_model(folder), cache=ProofCache(tmp_path / "c"))
    body = folder / "body.toml"
    body.write_text(body.read_text()[: body.read_text().index("[[known_bug]]")])   # formulas unchanged
    cache = ProofCache(tmp_path / "c")
    rep = prove_model(load_model(folder), cache=cache)
    assert cache.stats.misses == 0
    perf = next(r for r in rep.results if r.id == "safety/perf_set/set")
    assert perf.status == Status.COUNTEREXAMPLE and not perf.counterexamples[0].known_bug


def test_a_stale_entry_is_solved_again(tmp_path):
    v1, _ = versions()
    cache = ProofCache(tmp_path)
    plain = prove_model(load_model(v1), cache=cache)
    path = cache.path_for("rq@1")
    data = json.loads(path.read_text())
    entry = data["entries"]["safety/perf_set/set"]
    for pair in entry["counterexamples"][0]:
        if pair[0] == "state.locked_rq":
            pair[1] = 2           # no longer a counterexample: the replay must catch it
    path.write_text(json.dumps(data))
    again = ProofCache(tmp_path)
    rep = prove_model(load_model(v1), cache=again)
    assert again.stats.stale == 1
    assert _verdicts(rep) == _verdicts(plain)


def test_unknown_is_never_cached_and_damage_is_ignored(tmp_path):
    v1, _ = versions()
    cache = ProofCache(tmp_path)
    rep = prove_model(load_model(v1), rlimit=1, cache=cache)
    unknown = {r.id for r in rep.results if r.status == Status.UNKNOWN}
    assert unknown
    stored = json.loads(cache.path_for("rq@1").read_text())["entries"] if cache.path_for("rq@1").exists() else {}
    assert not unknown & set(stored)
    cache.path_for("rq@1").write_text("{not json")
    damaged = ProofCache(tmp_path)
    rep2 = prove_model(load_model(v1), cache=damaged)
    assert damaged.stats.unreadable and damaged.stats.hits == 0
    assert _same(rep2) == _same(prove_model(load_model(v1)))


def test_prove_cache_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    v1, _ = versions()
    runner = CliRunner()
    res = runner.invoke(cli, ["prove", str(v1), "--no-store", "--no-cache"])
    assert res.exit_code == 0 and not (tmp_path / ".polykfunc").exists()
    res = runner.invoke(cli, ["prove", str(v1), "--no-store", "--json"])
    assert json.loads(res.output)["cache"]["stored"] > 0 and (tmp_path / ".polykfunc" / "cache").is_dir()
    res = runner.invoke(cli, ["prove", str(v1), "--no-store", "--json", "--cache-dir", "elsewhere"])
    assert json.loads(res.output)["cache"]["hits"] == 0
    res = runner.invoke(cli, ["prove", str(v1), "--no-store", "--json", "--cache-dir", "elsewhere"])
    doc = json.loads(res.output)
    assert doc["cache"]["misses"] == 0 and doc["exit_code"] == 0
    shutil.rmtree(tmp_path / "elsewhere")
