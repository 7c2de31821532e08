"""`polykfunc cex ...`: every command on stores made by `polykfunc prove`, with bad ids and a
corrupted store. The toy model's counterexamples: perf_set in enqueue, in dispatch, and in init
(a declared known bug)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import optional_tools
from cex_stores import (
    TOY, copy_toy, fix_toy, ids_by_context, prove_into, run, snapshot, write_mixed,
)
from polykfunc.counterexamples.store import Store, read_entry


@pytest.fixture(scope="module")
def toy_store_template(tmp_path_factory) -> Path:
    return prove_into(TOY, tmp_path_factory.mktemp("toy") / "store")


@pytest.fixture
def store(tmp_path, toy_store_template) -> Path:
    """A fresh copy of the toy's store, to change freely."""
    return Path(shutil.copytree(toy_store_template, tmp_path / "store"))


@pytest.fixture
def ids(store) -> dict[str, str]:
    return ids_by_context(store)


@pytest.fixture
def own_toy(tmp_path) -> tuple[Path, Path]:
    """A copy of the toy model and the store `prove` made from it: (model folder, store)."""
    model = copy_toy(tmp_path / "toy")
    return model, prove_into(model, tmp_path / "own-store")


@pytest.fixture(scope="module")
def mixed_store_template(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("mixed")
    return prove_into(write_mixed(base / "model"), base / "store")


def cex(*args, store: Path):
    return run("cex", *args, "--store", store)


# --------------------------------------------------------------------------- help

def test_cex_and_explore_are_polykfunc_commands():
    out = run("--help").stdout
    assert "cex" in out and "explore" in out
    sub = run("cex", "--help").stdout
    for name in ("list", "show", "explain", "replay", "next", "diff", "graph", "export"):
        assert name in sub
    assert "Exit codes:" in sub


# --------------------------------------------------------------------------- list

def test_list_shows_every_stored_counterexample(store, ids):
    res = cex("list", store=store)
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "STATUS", "MODEL", "PROPERTY"]
    assert len(lines) == 4
    for ctx, ident in ids.items():
        assert any(line.startswith(ident) and ctx in line for line in lines)
    assert sorted(ids) == ["dispatch", "enqueue", "init"]


def test_list_json_rows_have_the_documented_fields(store):
    rows = json.loads(cex("list", "--json", store=store).stdout)
    assert len(rows) == 3
    for row in rows:
        assert {"id", "model", "property", "kfunc", "context", "kernel", "impl", "known_bug", "fixed_by",
                "summary", "status"} <= set(row)
        assert row["model"] == "toy@1" and row["kfunc"] == "perf_set" and row["kernel"] == "test"
    known = [r for r in rows if r["known_bug"]]
    assert [(r["context"], r["known_bug"], r["fixed_by"], r["status"]) for r in known] == \
        [("init", "perf-set-unlocked", "0000000000ab", "known")]


@pytest.mark.parametrize("filters, contexts", [
    (("--context", "init"), ["init"]),
    (("--model", "toy@1"), ["dispatch", "enqueue", "init"]),
    (("--model", "sched_ext@v6.12"), []),
    (("--property", "safety", "--kfunc", "perf_set"), ["dispatch", "enqueue", "init"]),
    (("--property", "coverage"), []),
    (("--kfunc", "insert"), []),
    (("--version", "test"), ["dispatch", "enqueue", "init"]),
    (("--version", "v6.12"), []),
])
def test_list_filters(store, filters, contexts):
    rows = json.loads(cex("list", *filters, "--json", store=store).stdout)
    assert sorted(r["context"] for r in rows) == contexts


def test_list_says_when_nothing_matches(store, tmp_path):
    assert "none of the 3 counterexamples" in cex("list", "--kfunc", "nope", store=store).stdout
    res = cex("list", store=tmp_path / "missing")
    assert res.exit_code == 0 and "no counterexamples stored" in res.stdout
    assert json.loads(cex("list", "--json", store=tmp_path / "missing").stdout) == []


def test_list_rejects_an_unknown_property(store):
    res = cex("list", "--property", "liveness", store=store)
    assert res.exit_code == 2


# --------------------------------------------------------------------------- show

def test_show_fits_a_screen_and_tells_the_chain(store, ids):
    res = cex("show", ids["init"][:4], store=store)
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert len(lines) <= 25
    text = res.stdout
    assert lines[0].startswith(ids["init"]) and "KNOWN perf-set-unlocked (fixed by 0000000000ab)" in lines[0]
    # the depth is whatever the solver chose: the toy's init does not constrain it
    assert re.search(r"^chain     program STRUCT_OPS -> member init -> (top level|nested) \(depth \d\) -> init "
                     r"-> perf_set -> set$", text, re.M)
    assert "violated  perf_set/set requires: the target CPU's rq lock is held  [test: perf_set]" in text
    assert "state.locked_rq == arg.cpu" in text
    assert "minimal facts (2)" in text
    assert "other variables: any value" in text
    assert "tracked.kf_mask" not in text  # folded: it plays no part


def test_show_verbose_unfolds_the_whole_state(store, ids):
    short = cex("show", ids["enqueue"], store=store).stdout
    full = cex("show", ids["enqueue"], "--verbose", store=store).stdout
    assert len(full.splitlines()) > len(short.splitlines())
    assert "tracked.kf_mask = [ENQUEUE]" in full
    assert "* state.locked_rq" in full and "  tracked.ddsp = op_task" in full
    assert "other variables: any value" not in full


def test_show_json(store, ids):
    doc = json.loads(cex("show", ids["dispatch"], "--json", store=store).stdout)
    assert doc["id"] == ids["dispatch"] and doc["format"] == "polykfunc.counterexample"
    [chain] = doc["chain"]
    assert chain[:2] == ["program STRUCT_OPS", "member dispatch"]
    assert chain[-3:] == ["dispatch", "perf_set", "set"]
    assert doc["status"] == "counterexample" and doc["explanation"]["minimal"] is True


def test_show_cuts_a_long_explanation_to_25_lines(store, ids):
    path = store / f"{ids['enqueue']}.json"
    doc = json.loads(path.read_text())
    doc["explanation"]["facts"] = doc["explanation"]["facts"] * 30
    path.write_text(json.dumps(doc))
    lines = cex("show", ids["enqueue"], store=store).stdout.splitlines()
    assert len(lines) <= 25
    assert any("more: `polykfunc cex explain" in line for line in lines)
    assert len(cex("show", ids["enqueue"], "-v", store=store).stdout.splitlines()) > 90


def test_show_names_the_enclosing_callback_when_the_model_has_state_outer(mixed_store_template, tmp_path):
    store = Path(shutil.copytree(mixed_store_template, tmp_path / "s"))
    path = next(store.glob("*.json"))
    doc = json.loads(path.read_text())
    doc["counterexample"]["values"]["state.outer"] = "dispatch"
    doc["counterexample"]["values"]["state.depth"] = 2
    path.write_text(json.dumps(doc))  # the fingerprint does not cover values: still a valid entry
    assert "-> inside dispatch (depth 2) ->" in cex("show", path.stem, store=store).stdout


def test_show_and_explain_an_entry_without_explanation(store, ids):
    path = store / f"{ids['dispatch']}.json"
    doc = json.loads(path.read_text())
    doc["explanation"] = None
    path.write_text(json.dumps(doc))
    assert "no explanation stored" in cex("show", ids["dispatch"], store=store).stdout
    assert "no explanation is stored" in cex("explain", ids["dispatch"], store=store).stdout


# --------------------------------------------------------------------------- explain

def test_explain_cites_model_rule_and_kernel_source_for_each_fact(store, ids):
    res = cex("explain", ids["dispatch"], store=store)
    assert res.exit_code == 0
    out = res.stdout
    assert "force the violation (none can be dropped)" in out
    assert "precondition perf_set/set requires: the target CPU's rq lock is held" in out
    assert re.search(r"model   \S*toy/rest\.toml:\d+$", out, re.M)
    assert "kernel  test: perf_set" in out
    assert "other variables: any value" in out
    doc = json.loads(cex("explain", ids["dispatch"], "--json", store=store).stdout)
    facts = doc["explanation"]["facts"]
    assert facts and all({"kind", "label", "text", "source", "where"} <= set(f) for f in facts)
    assert any(f["kind"] == "precondition" and re.search(r"rest\.toml:\d+$", f["where"]) for f in facts)


# --------------------------------------------------------------------------- replay

def test_replay_one_and_all(store, ids):
    res = cex("replay", ids["init"], store=store)
    assert res.exit_code == 0 and f"REPLAYS          {ids['init']}" in res.stdout
    res = cex("replay", "--all", store=store)
    assert res.exit_code == 0
    assert "3 replay, 0 no longer replay, 0 could not be checked" in res.stdout
    doc = json.loads(cex("replay", "--all", "--json", store=store).stdout)
    assert doc["exit_code"] == 0 and all(r["replays"] and not r["model_changed"] for r in doc["results"])


@pytest.mark.parametrize("args", [(), ("--all", "abcd")])
def test_replay_needs_one_id_or_all(store, args):
    res = cex("replay", *args, store=store)
    assert res.exit_code == 2 and "give one counterexample ID, or --all" in res.stderr


def test_replay_on_a_fixed_model_fails_and_warns_that_the_model_changed(own_toy):
    model, store = own_toy
    fix_toy(model)
    res = cex("replay", "--all", store=store)
    assert res.exit_code == 1
    assert res.stdout.count("DOES NOT REPLAY") == 3
    assert "every precondition of set holds" in res.stdout
    assert "model toy@1 changed since 3 of these counterexamples were found" in res.stderr
    one = ids_by_context(store)["init"]
    res = cex("replay", one, store=store)
    assert res.exit_code == 1 and "changed since counterexample" in res.stderr
    doc = json.loads(cex("replay", one, "--json", store=store).stdout)
    assert doc["results"][0]["model_changed"] and doc["exit_code"] == 1


def test_replay_when_the_model_is_gone_is_exit_2(own_toy):
    model, store = own_toy
    shutil.rmtree(model)
    res = cex("replay", "--all", store=store)
    assert res.exit_code == 2 and "NOT CHECKED" in res.stdout and "no longer exists" in res.stdout


def test_bundled_model_paths_resolve_under_the_bundled_root(store, ids):
    from polykfunc.counterexamples.operations import model_path_of
    from polykfunc.model import bundled_root
    entry = read_entry(store / f"{ids['init']}.json")
    moved = type(entry)(**{**entry.__dict__, "model_path": "bundled:sched_ext/v6.12/model.toml"})
    assert model_path_of(moved) == bundled_root() / "sched_ext" / "v6.12" / "model.toml"


def test_bundled_model_files_are_shown_as_model_bundled_paths_from_any_directory(tmp_path, monkeypatch):
    """Proved outside the repository, the stored places are absolute paths of the installed
    package; show, explain and the replay messages print them as model/bundled/... ."""
    from polykfunc.model import bundled_path, bundled_root
    monkeypatch.chdir(tmp_path)
    store = prove_into(bundled_path("design-argtype@b-resolver"), tmp_path / "store")
    root = str(bundled_root().resolve())
    assert root in "".join(p.read_text() for p in store.glob("*.json"))  # stored as found
    entries, errors = Store(store).entries()
    assert entries and not errors
    for e in entries:
        for args in (("show", e.id, "--verbose"), ("explain", e.id)):
            out = cex(*args, store=store).stdout
            assert "model/bundled/designs/argtype/family.toml:" in out and root not in out, out
    show = cex("show", e.id, "--verbose", store=store).stdout
    assert "model     model/bundled/designs/argtype/b-resolver/model.toml (digest" in show
    moved = type(e)(**{**e.__dict__, "model_path": "bundled:designs/argtype/gone/model.toml"})
    Store(store).save(moved)
    res = cex("replay", moved.id, store=store)
    assert "was at model/bundled/designs/argtype/gone/model.toml, which no longer exists" in res.stdout + res.stderr


# --------------------------------------------------------------------------- next

def test_next_finds_saves_and_explains_a_different_counterexample(store, ids):
    missing = store / f"{ids['dispatch']}.json"
    missing.unlink()
    res = cex("next", ids["enqueue"], store=store)
    assert res.exit_code == 0, res.stderr
    assert f"new counterexample {ids['dispatch']} saved" in res.stdout
    saved = read_entry(missing)
    assert saved.counterexample.context == "dispatch" and saved.explanation is not None
    res = cex("next", ids["enqueue"], store=store)
    assert res.exit_code == 0
    assert "no further counterexample for safety/perf_set/set" in res.stdout
    assert sorted(p.stem for p in store.glob("*.json")) == sorted(ids.values())


def test_next_json(store, ids):
    (store / f"{ids['init']}.json").unlink()
    doc = json.loads(cex("next", ids["dispatch"], "--json", store=store).stdout)
    assert doc["status"] == "found" and doc["entry"]["id"] == ids["init"] and doc["exit_code"] == 0
    assert doc["entry"]["counterexample"]["known_bug"] == "perf-set-unlocked"


def test_next_is_exit_3_when_the_solver_gives_up(store, ids, monkeypatch):
    import polykfunc.engine.prover
    monkeypatch.setattr(polykfunc.engine.prover, "next_counterexample", lambda *a, **k: "unknown")
    res = cex("next", ids["init"], store=store)
    assert res.exit_code == 3 and "unknown" in res.stdout


def test_next_never_returns_a_stored_root_cause(store, ids):
    # every (context, outcome) already stored is excluded by the solver, so with all three
    # root causes stored there is nothing further, and the store is left as it was
    before = {p.name: p.read_bytes() for p in store.glob("*.json")}
    res = cex("next", ids["init"], "--tries", "1", store=store)
    assert res.exit_code == 0 and "no further counterexample" in res.stdout
    assert {p.name: p.read_bytes() for p in store.glob("*.json")} == before


# --------------------------------------------------------------------------- diff

def test_diff_shows_only_what_differs(store, ids):
    res = cex("diff", ids["enqueue"], ids["init"], store=store)
    assert res.exit_code == 0
    rows = {line.split()[0].lstrip("*"): line for line in res.stdout.splitlines()[1:] if line.strip()}
    assert "enqueue" in rows["context"] and "init" in rows["context"]
    assert "perf-set-unlocked" in rows["known_bug"]
    assert "property" not in rows and "kfunc" not in rows and "impl" not in rows
    assert "* state.locked_rq" in res.stdout
    doc = json.loads(cex("diff", ids["enqueue"], ids["init"], "--json", store=store).stdout)
    assert doc["fields"]["context"] == ["enqueue", "init"]
    assert "property" not in doc["fields"]
    assert all(a != b for a, b in doc["values"].values())


def test_diff_of_one_with_itself(store, ids):
    assert "do not differ" in cex("diff", ids["init"], ids["init"], store=store).stdout


# --------------------------------------------------------------------------- graph

def test_graph_dot_has_the_chain_and_the_locks(store, ids):
    res = cex("graph", ids["init"], store=store)
    assert res.exit_code == 0
    dot = res.stdout
    assert dot.startswith("digraph counterexample {") and dot.rstrip().endswith("}")
    for label in ("program STRUCT_OPS", "member init", "context init", "kfunc perf_set", "implementation set",
                  "holds no rq lock", "violated: perf_set/set requires"):
        assert label in dot
    assert "-> kfunc [label=\"calls\"]" in dot


def test_graph_mermaid(store, ids):
    res = cex("graph", ids["enqueue"], "--format", "mermaid", store=store)
    assert res.exit_code == 0
    assert res.stdout.startswith("flowchart LR")
    assert "holds rq lock of CPU" in res.stdout and "class " in res.stdout


def test_graph_shows_the_locks_the_implementation_takes(own_toy):
    model, store = own_toy
    fix_toy(model)
    dot = cex("graph", ids_by_context(store)["dispatch"], store=store).stdout
    assert '[label="takes"]' in dot and "rq(arg.cpu)" in dot and "= rq of CPU" in dot


def test_graph_without_its_model_still_draws_the_chain(own_toy):
    model, store = own_toy
    shutil.rmtree(model)
    res = cex("graph", ids_by_context(store)["init"], store=store)
    assert res.exit_code == 0 and "context init" in res.stdout
    assert "leaves out the locks" in res.stderr


def test_graph_of_a_visibility_counterexample_has_one_chain_per_state(mixed_store_template):
    rows = json.loads(cex("list", "--property", "visibility", "--json", store=mixed_store_template).stdout)
    dot = cex("graph", rows[0]["id"], store=mixed_store_template).stdout
    assert "context a" in dot and "context b" in dot
    assert 'label="unsafe in state #0"' in dot and 'label="unsafe in state #1"' in dot
    assert "rq(arg.cpu)" in dot  # fast takes the target rq lock
    show = cex("show", rows[0]["id"], store=mixed_store_template).stdout
    assert "state #0  program STRUCT_OPS" in show and "state #1  program STRUCT_OPS" in show
    assert " in state #1" in show


def test_graph_svg(store, ids, tmp_path):
    optional_tools.require("dot")
    out = tmp_path / "g.svg"
    res = cex("graph", ids["init"], "--format", "svg", "-o", out, store=store)
    assert res.exit_code == 0 and "<svg" in out.read_text()


def test_graph_svg_without_graphviz_says_how_to_install_it(store, ids, tmp_path):
    res = run("cex", "graph", ids["init"], "--format", "svg", "--store", store, env={"PATH": str(tmp_path)})
    assert res.exit_code == 2
    assert "apt-get install graphviz" in res.stderr and res.stdout == ""


# --------------------------------------------------------------------------- export

def _pytest(path: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
                          cwd=path.parent, capture_output=True, text=True, env={**os.environ, **env}, timeout=120)


def test_exported_pytest_fails_with_the_bug_and_passes_once_the_model_is_fixed(own_toy, tmp_path):
    model, store = own_toy
    tests = tmp_path / "repro"
    tests.mkdir()
    for ctx, ident in ids_by_context(store).items():
        res = cex("export", ident[:6], "--pytest", "-o", tests / f"test_{ctx}.py", store=store)
        assert res.exit_code == 0 and "run it: pytest" in res.stderr
    before = _pytest(tests)
    assert before.returncode == 1 and "3 failed" in before.stdout, before.stdout
    assert "selects set, but its precondition" in before.stdout
    fix_toy(model)
    after = _pytest(tests)
    assert after.returncode == 0 and "3 passed" in after.stdout, after.stdout


def _exported_test(source: str):
    namespace: dict = {}
    exec(compile(source, "<exported>", "exec"), namespace)
    return next(f for name, f in namespace.items() if name.startswith("test_") and callable(f))


def test_every_property_exports_a_reproducer_that_fails(mixed_store_template):
    rows = json.loads(cex("list", "--json", store=mixed_store_template).stdout)
    assert {r["property"] for r in rows} == {"safety", "coverage", "visibility", "refinement"}
    for row in rows:
        source = cex("export", row["id"], "--pytest", store=mixed_store_template).stdout
        with pytest.raises(AssertionError):
            _exported_test(source)()


def test_the_exported_reproducer_passes_when_the_state_is_no_longer_admitted(own_toy):
    model, store = own_toy
    source = cex("export", ids_by_context(store)["init"], "--pytest", store=store).stdout
    rest = model / "rest.toml"
    rest.write_text(rest.read_text().replace('"state.locked_rq == -1"', '"state.locked_rq == arg.cpu"'))
    _exported_test(source)()  # no AssertionError: init now holds the target rq lock


def test_export_needs_a_format(store, ids):
    res = cex("export", ids["init"], store=store)
    assert res.exit_code == 2 and "--pytest" in res.stderr


# --------------------------------------------------------------------------- errors

BAD_ID_COMMANDS = [("show",), ("explain",), ("replay",), ("next",), ("graph",), ("export", "--pytest")]


@pytest.mark.parametrize("command", BAD_ID_COMMANDS)
@pytest.mark.parametrize("ident, message", [
    ("zz", "is not a counterexample id"),
    ("12", "is not a counterexample id"),
    ("abcd", "no counterexample 'abcd'"),
])
def test_bad_ids_are_exit_2_with_a_clear_message(store, command, ident, message):
    before = snapshot(store)
    res = run("cex", command[0], ident, *command[1:], "--store", store)
    assert res.exit_code == 2
    assert res.stderr.startswith("polykfunc: error: ") and message in res.stderr
    assert res.stdout == ""
    assert snapshot(store) == before


def test_diff_with_a_bad_id(store, ids):
    res = cex("diff", ids["init"], "ffff", store=store)
    assert res.exit_code == 2 and "no counterexample 'ffff'" in res.stderr


def test_an_ambiguous_prefix_lists_the_candidates(store, ids):
    ident = ids["init"]
    twin = store / f"{ident[:5]}{'0' if ident[5] != '0' else '1'}{ident[6:]}.json"
    shutil.copy(store / f"{ident}.json", twin)
    res = cex("show", ident[:5], store=store)
    assert res.exit_code == 2 and "is ambiguous" in res.stderr and "give more characters" in res.stderr
    assert cex("show", ident, store=store).exit_code == 0  # the whole id still works


def test_a_corrupted_entry_is_reported_and_nothing_else_is_lost(store, ids):
    bad = store / f"{ids['init']}.json"
    bad.write_text('{"format": "polykfunc.counterexample", "version": 1, "id": ')
    before = snapshot(store)
    res = cex("show", ids["init"], store=store)
    assert res.exit_code == 2 and str(bad) in res.stderr and "corrupted" in res.stderr
    res = cex("list", store=store)
    assert res.exit_code == 0
    assert ids["enqueue"] in res.stdout and ids["dispatch"] in res.stdout and ids["init"] not in res.stdout
    assert res.stderr.startswith("polykfunc: warning: ") and str(bad) in res.stderr
    assert len(json.loads(cex("list", "--json", store=store).stdout)) == 2
    res = cex("replay", "--all", store=store)
    assert res.exit_code == 2 and res.stdout.count("REPLAYS") == 2
    res = cex("next", ids["enqueue"], store=store)
    assert res.exit_code == 0  # the corrupted id is never overwritten
    assert snapshot(store) == before


def test_an_entry_of_another_format_version(store, ids):
    path = store / f"{ids['enqueue']}.json"
    doc = json.loads(path.read_text())
    doc["version"] = 99
    path.write_text(json.dumps(doc))
    res = cex("explain", ids["enqueue"], store=store)
    assert res.exit_code == 2 and "version 99 is not supported" in res.stderr


def test_the_installed_command_exits_2_without_a_traceback(store):
    exe = Path(sys.executable).parent / "polykfunc"
    p = subprocess.run([str(exe), "cex", "show", "nothex", "--store", str(store)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "is not a counterexample id" in p.stderr


def test_store_api_round_trip(store, ids):
    entries, bad = Store(store).entries()
    assert not bad and {e.id for e in entries} == set(ids.values())
