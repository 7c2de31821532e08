"""The command line, run as a user runs it: exit codes, JSON output, messages for bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOY = ROOT / "tests" / "models" / "toy"
EXE = Path(sys.executable).parent / "polykfunc"
if not EXE.exists():  # pragma: no cover - the venv layout of the brief
    EXE = ROOT / ".venv" / "bin" / "polykfunc"

STATUSES = {"proved", "not applicable", "note", "known", "unknown", "counterexample", "vacuous"}
PROPERTIES = {"safety", "coverage", "visibility", "refinement", "non-vacuity"}

# Every obligation proved: a resolver picks by program type, each choice is safe.
GOOD = """\
[context.init]
source = "k.c: init (v1)"
view = ["view.prog_type == 'STRUCT_OPS'"]
facts = ["state.exec == 'task'", "state.locked_rq == -1"]

[context.locked]
source = "k.c: locked (v1)"
view = ["view.prog_type == 'SYSCALL'"]
facts = ["state.locked_rq == state.cpu"]

[kfunc.cpu_op]
source = "k.c: cpu_op (v1)"

[[kfunc.cpu_op.impl]]
name = "fast"
requires = ["own_rq_held"]

[[kfunc.cpu_op.impl]]
name = "slow"
requires = ["not rq_held"]

[[kfunc.cpu_op.resolve]]
when = "view.prog_type == 'SYSCALL'"
select = "fast"

[[kfunc.cpu_op.resolve]]
when = "true"
select = "slow"
"""

# GOOD plus one kfunc whose only counterexample (in init) is a declared known bug.
KNOWN = GOOD + """
[kfunc.perf]
source = "k.c: perf (v1)"

[[kfunc.perf.impl]]
name = "set"
requires = [{ label = "own rq locked", expr = "own_rq_held" }]

[[known_bug]]
id = "perf-unlocked"
title = "perf from init holds no rq lock"
property = "safety"
kfunc = "perf"
context = "init"
fixed_by = "abc123"
source = "k.c: perf (v1)"
"""


def run(*args, cwd: Path) -> subprocess.CompletedProcess:
    """Run the installed polykfunc; no traceback may ever reach the user."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    p = subprocess.run([str(EXE), *map(str, args)], cwd=cwd, capture_output=True, text=True, env=env,
                       timeout=120)
    assert "Traceback" not in p.stdout and "Traceback" not in p.stderr, p.stdout + p.stderr
    return p


@pytest.fixture
def cli(tmp_path):
    """``cli(*args)``: run polykfunc in a scratch directory (counterexample stores land there)."""
    return lambda *args: run(*args, cwd=tmp_path)


def as_json(p: subprocess.CompletedProcess):
    return json.loads(p.stdout)  # the whole of stdout: nothing but JSON may be printed there


def obligations(doc) -> list[dict]:
    return [o for r in doc["reports"] for o in r["obligations"]]


# --------------------------------------------------------------------------- help

@pytest.mark.parametrize("args", [("--help",), ("prove", "--help"), ("-h",)])
def test_help_lists_the_exit_codes(cli, args):
    p = cli(*args)
    assert p.returncode == 0
    assert "Exit codes:" in p.stdout
    for code in "01234":
        assert any(line.strip().startswith(f"{code} ") for line in p.stdout.splitlines()), code
    assert "unknown (resource limit)" in p.stdout


def test_help_lists_the_commands(cli):
    out = cli("--help").stdout
    for cmd in ("prove", "validate", "models", "matrix"):
        assert cmd in out


# --------------------------------------------------------------------------- exit codes

def test_exit_0_when_everything_is_proved(cli, write_model):
    p = cli("prove", write_model(GOOD, name="good@1"))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "good@1" in p.stdout
    assert "COUNTEREXAMPLE" not in p.stdout


def test_exit_1_on_a_counterexample(cli):
    p = cli("prove", TOY)
    assert p.returncode == 1
    assert "COUNTEREXAMPLE  safety/perf_set/set in dispatch" in p.stdout
    assert "COUNTEREXAMPLE  safety/perf_set/set in enqueue" in p.stdout
    assert "KNOWN perf-set-unlocked (fixed by 0000000000ab): safety of perf_set in init" in p.stdout


def test_a_known_bug_is_exit_0_and_no_known_turns_it_into_exit_1(cli, write_model):
    model = write_model(KNOWN, name="known@1")
    p = cli("prove", model)
    assert p.returncode == 0, p.stdout
    assert "KNOWN perf-unlocked (fixed by abc123): safety of perf in init" in p.stdout
    q = cli("prove", "--no-known", model)
    assert q.returncode == 1
    assert "COUNTEREXAMPLE  safety/perf/set in init" in q.stdout
    assert "KNOWN" not in q.stdout


def test_no_known_in_json(cli, write_model):
    model = write_model(KNOWN, name="known@1")
    with_known = as_json(cli("prove", "--json", model))
    without = as_json(cli("prove", "--json", "--no-known", model))
    (cex,) = [c for o in obligations(with_known) for c in o["counterexamples"]]
    assert (cex["known_bug"], cex["fixed_by"], cex["context"]) == ("perf-unlocked", "abc123", "init")
    (cex,) = [c for o in obligations(without) for c in o["counterexamples"]]
    assert cex["known_bug"] is None
    assert (with_known["exit_code"], without["exit_code"]) == (0, 1)


def test_a_declared_bug_that_no_longer_appears_is_exit_1(cli, write_model):
    body = GOOD + """
[[known_bug]]
id = "gone"
title = "fixed long ago"
property = "safety"
kfunc = "cpu_op"
source = "k.c: cpu_op (v1)"
"""
    p = cli("prove", "--json", write_model(body))
    assert p.returncode == 1
    doc = as_json(p)
    (rep,) = doc["reports"]
    assert [m["id"] for m in rep["missing_known_bugs"]] == ["gone"]
    assert doc["exit_code"] == 1


def test_exit_3_when_the_solver_gives_up_and_never_proved(cli, write_model):
    model = write_model(GOOD, name="good@1")
    p = cli("prove", "--rlimit", "1", model)
    assert p.returncode == 3, p.stdout
    assert "UNKNOWN" in p.stdout
    doc = as_json(cli("prove", "--rlimit", "1", "--json", model))
    assert doc["exit_code"] == 3
    obs = obligations(doc)
    assert obs and all(o["status"] == "unknown" for o in obs)
    assert all(o["counterexamples"] == [] and o["reason"] for o in obs)
    assert doc["reports"][0]["status"] == "unknown"


def test_unknown_does_not_make_a_known_bug_missing(cli):
    p = cli("prove", "--rlimit", "1", "--json", TOY)
    doc = as_json(p)
    assert all(o["status"] == "unknown" for o in obligations(doc))
    assert doc["reports"][0]["missing_known_bugs"] == []
    assert p.returncode == 3


def test_exit_2_on_an_invalid_model(cli, write_model, tmp_path):
    body = GOOD.replace('requires = ["own_rq_held"]', '''requires = ["state.exec == 'tsk'"]''')
    model = write_model(body)
    for args in (("prove",), ("prove", "--json"), ("validate",), ("matrix",)):
        p = cli(*args, model)
        assert p.returncode == 2, args
        assert p.stdout == "", args
        lines = p.stderr.splitlines()
        assert lines[0] == (f"{model.name}/body.toml:16: error: at kfunc.cpu_op.impl[0].requires[0]: "
                            "'tsk' is not a value of state.exec"), p.stderr
        assert "  hint: did you mean 'task'?" in lines


def test_exit_2_on_invalid_toml(cli, write_model):
    model = write_model(GOOD + "\n[kfunc.x\n")
    p = cli("prove", model)
    assert p.returncode == 2
    assert p.stdout == ""
    assert f"{model.name}/body.toml:{GOOD.count(chr(10)) + 2}" in p.stderr
    assert "not valid TOML" in p.stderr


def test_validation_stops_before_any_proof(cli, write_model):
    good = write_model(GOOD, name="good@1")
    bad = write_model(GOOD.replace("view.prog_type == 'SYSCALL'", "view.prog_typ == 'SYSCALL'"), name="bad@1")
    p = cli("prove", "--json", "-j", "1", good, bad)
    assert p.returncode == 2
    assert p.stdout == ""
    assert "unknown variable 'view.prog_typ'" in p.stderr
    assert "did you mean 'view.prog_type'?" in p.stderr


# --------------------------------------------------------------------------- JSON

def test_prove_json_structure(cli):
    p = cli("prove", "--json", TOY)
    doc = as_json(p)
    assert doc["exit_code"] == p.returncode == 1
    (rep,) = doc["reports"]
    assert rep["model"] == "toy@1" and rep["kernel"] == "test"
    assert rep["status"] == "counterexample"
    assert isinstance(rep["z3_version"], str) and rep["rlimit"] > 0
    assert rep["missing_known_bugs"] == []
    ids = [o["id"] for o in rep["obligations"]]
    assert len(ids) == len(set(ids))
    assert {"safety/insert/direct", "safety/insert/buffered", "safety/perf_set/set",
            "coverage/insert/allowed-resolves", "visibility/insert", "non-vacuity/init"} <= set(ids)
    for o in rep["obligations"]:
        assert o["status"] in STATUSES
        assert o["property"] in PROPERTIES
        assert o["id"].startswith(o["property"] + "/")
        assert o["model"] == "toy@1"
    by_id = {o["id"]: o for o in rep["obligations"]}
    perf = by_id["safety/perf_set/set"]
    assert perf["status"] == "counterexample"
    cexs = {c["context"]: c for c in perf["counterexamples"]}
    assert set(cexs) == {"enqueue", "dispatch", "init"}
    assert cexs["init"]["known_bug"] == "perf-set-unlocked"
    assert cexs["enqueue"]["known_bug"] is None
    for c in cexs.values():
        assert c["outcome"] == "set" and c["impl"] == "set"
        assert c["violated"] == ["perf_set/set requires: the target CPU's rq lock is held"]
        assert c["values"]["state.locked_rq"] != c["values"]["arg.cpu"]   # the violation, concretely
        assert isinstance(c["fingerprint"], str) and c["fingerprint"]
    assert by_id["safety/insert/direct"]["status"] == "proved"


def test_property_filter(cli):
    doc = as_json(cli("prove", "--json", "--property", "non-vacuity", TOY))
    assert {o["property"] for o in obligations(doc)} == {"non-vacuity"}
    assert doc["exit_code"] == 0  # the safety counterexamples were not looked for
    doc = as_json(cli("prove", "--json", "--property", "coverage", "--property", "visibility", TOY))
    assert {o["property"] for o in obligations(doc)} == {"coverage", "visibility"}


def test_unknown_property_is_a_usage_error(cli):
    p = cli("prove", "--property", "safty", TOY)
    assert p.returncode == 2
    assert "safty" in p.stderr and "safety" in p.stderr
    assert p.stdout == ""


# --------------------------------------------------------------------------- targets

def test_missing_path_is_exit_2(cli):
    p = cli("prove", "tests/models/toyy")
    assert p.returncode == 2
    assert "tests/models/toyy" in p.stderr


def test_misspelled_bundled_name_suggests_the_close_match(cli):
    p = cli("models", "--json")
    names = [m["name"] for m in as_json(p)]
    if not names:
        pytest.skip("no bundled models")
    name = names[0]
    typo = name[:-1] + ("x" if name[-1] != "x" else "y")
    q = cli("prove", typo)
    assert q.returncode == 2
    assert f"no bundled model named {typo!r}" in q.stderr
    assert f"did you mean {name!r}" in q.stderr


def test_bundled_name_hint_in_process(tmp_path, monkeypatch):
    """With a known set of bundled models, the hint names the close one (click's runner, in process)."""
    from click.testing import CliRunner

    from polykfunc.cli import cli as group
    from polykfunc.model import bundled_models

    root = tmp_path / "bundled"
    (root / "common").mkdir(parents=True)
    shutil.copy(ROOT / "model" / "bundled" / "common" / "core.toml", root / "common" / "core.toml")
    (root / "toy" / "v1").mkdir(parents=True)
    for f in ("model.toml", "rest.toml"):
        text = (TOY / f).read_text().replace("../../../model/bundled/common/core.toml", "../../common/core.toml")
        (root / "toy" / "v1" / f).write_text(text)
    monkeypatch.setattr(bundled_models, "bundled_root", lambda: root)
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(group, ["prove", "toy@2"])
    assert res.exit_code == 2
    assert "no bundled model named 'toy@2'; did you mean 'toy@1'?" in res.output
    res = CliRunner().invoke(group, ["models", "--json"])
    assert res.exit_code == 0
    assert [m["name"] for m in json.loads(res.output)] == ["toy@1"]
    res = CliRunner().invoke(group, ["validate", "toy@1"])
    assert (res.exit_code, res.output.strip()) == (0, "toy@1: valid (3 contexts, 2 kfuncs, 3 implementations, 3 files)")


def test_unknown_kfunc_in_matrix_suggests_the_close_match(cli):
    p = cli("matrix", TOY, "--kfunc", "insrt")
    assert p.returncode == 2
    assert "model toy@1 has no kfunc 'insrt'; did you mean 'insert'?" in p.stderr


# --------------------------------------------------------------------------- validate, models

def test_validate(cli, write_model):
    p = cli("validate", TOY)
    assert p.returncode == 0
    assert p.stdout.strip() == "toy@1: valid (3 contexts, 2 kfuncs, 3 implementations, 3 files)"
    p = cli("validate", TOY, write_model(GOOD, name="good@1"))
    assert p.returncode == 0
    assert [ln.split(":")[0] for ln in p.stdout.splitlines()] == ["toy@1", "good@1"]


def test_validate_needs_a_target(cli):
    p = cli("validate")
    assert p.returncode == 2
    assert "TARGETS" in p.stderr


def test_models_json_lists_every_bundled_model(cli):
    from polykfunc.model import bundled_manifests
    p = cli("models", "--json")
    assert p.returncode == 0
    rows = as_json(p)
    assert isinstance(rows, list)
    assert [r["name"] for r in rows] == list(bundled_manifests())
    for r in rows:
        assert {"name", "kernel", "commit", "subsystem", "contexts", "kfuncs", "implementations",
                "known_bugs", "description", "path"} <= set(r)
        assert isinstance(r["name"], str) and r["name"]
        assert isinstance(r["kernel"], str) and r["kernel"]
        for k in ("contexts", "kfuncs", "implementations", "known_bugs"):
            assert isinstance(r[k], int) and r[k] >= 0
        assert r["contexts"] >= 1 and r["kfuncs"] >= 1 and r["implementations"] >= r["kfuncs"]
        assert (Path(r["path"]) / "model.toml").is_file()


def test_models_text(cli):
    p = cli("models")
    assert p.returncode == 0
    from polykfunc.model import bundled_manifests
    for name in bundled_manifests():
        assert name in p.stdout


# --------------------------------------------------------------------------- matrix

def test_matrix_json_has_a_cell_for_every_kfunc_and_context(cli):
    p = cli("matrix", TOY, "--json")
    assert p.returncode == 1  # toy has unexpected counterexamples
    doc = as_json(p)
    assert doc["model"] == "toy@1" and doc["complete"] is True
    assert doc["kfuncs"] == ["insert", "perf_set"]
    assert doc["contexts"] == ["enqueue", "dispatch", "init"]
    pairs = [(c["kfunc"], c["context"]) for c in doc["cells"]]
    assert sorted(pairs) == sorted((k, c) for k in doc["kfuncs"] for c in doc["contexts"])
    cell = {(c["kfunc"], c["context"]): c for c in doc["cells"]}
    assert cell["insert", "enqueue"]["outcomes"] == ["direct", "refused at run time"]
    assert cell["insert", "enqueue"]["allowed"] is True and cell["insert", "enqueue"]["status"] == "proved"
    assert cell["insert", "dispatch"]["outcomes"] == ["buffered"]
    assert cell["insert", "init"]["outcomes"] == ["refused at run time"]
    assert cell["insert", "init"]["allowed"] is False
    assert cell["perf_set", "init"]["status"] == "known"
    assert cell["perf_set", "enqueue"]["status"] == "counterexample"
    assert cell["perf_set", "enqueue"]["findings"] == ["safety/perf_set/set"]
    assert all(c["outcomes"] == ["set"] for (k, _), c in cell.items() if k == "perf_set")


def test_matrix_text(cli):
    p = cli("matrix", TOY)
    assert p.returncode == 1
    out = p.stdout
    assert "toy@1" in out
    rows = {ln.split()[0]: ln for ln in out.splitlines() if ln.split() and ln.split()[0] in ("insert", "perf_set")}
    assert set(rows) == {"insert", "perf_set"}
    assert "direct+refused: enqueue" in rows["insert"] and "init" in rows["insert"]
    assert "set: enqueue" in rows["perf_set"] and "dispatch" in rows["perf_set"] and "init" in rows["perf_set"]
    assert "buffered: dispatch" in out


def test_matrix_kfunc_filter(cli):
    doc = as_json(cli("matrix", TOY, "--json", "--kfunc", "insert"))
    assert doc["kfuncs"] == ["insert"]
    assert {c["kfunc"] for c in doc["cells"]} == {"insert"}
    assert len(doc["cells"]) == 3


def test_matrix_all_proved_is_exit_0(cli, write_model):
    p = cli("matrix", write_model(GOOD, name="good@1"), "--json")
    assert p.returncode == 0
    cell = {(c["kfunc"], c["context"]): c for c in as_json(p)["cells"]}
    assert cell["cpu_op", "init"]["outcomes"] == ["slow"]
    assert cell["cpu_op", "locked"]["outcomes"] == ["fast"]
    assert all(c["status"] == "proved" for c in cell.values())


def test_matrix_unknown_is_exit_3_and_never_proved(cli, write_model):
    p = cli("matrix", write_model(GOOD, name="good@1"), "--json", "--rlimit", "1")
    assert p.returncode == 3
    doc = as_json(p)
    assert doc["complete"] is False
    assert doc["cells"] and all(c["status"] == "unknown" for c in doc["cells"])


def test_prove_answers_the_same_under_every_hash_seed():
    """Repeatable answers: the same model gives the same JSON (counterexamples, their relevant
    variables) in every process, whatever Python's string-hash seed."""
    import re
    outs = set()
    for seed in ("1", "2", "3"):
        run = subprocess.run([str(EXE), "prove", "sched_ext@v7.1", "--json", "--no-store", "--no-cache"],
                             capture_output=True, text=True, env=dict(os.environ, PYTHONHASHSEED=seed))
        assert run.returncode == 0, run.stderr
        outs.add(re.sub(r'"seconds": [0-9.e-]+', "", run.stdout))
    assert len(outs) == 1
