"""`polykfunc explore`, driven headless through Textual's ``App.run_test()`` pilot."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from textual.widgets import Tree

from cex_stores import TOY, ids_by_context, prove_into, run, snapshot
from polykfunc.counterexamples.explorer import ExplorerApp
from polykfunc.counterexamples.store import Store


@pytest.fixture(scope="module")
def toy_store_template(tmp_path_factory) -> Path:
    return prove_into(TOY, tmp_path_factory.mktemp("toy") / "store")


@pytest.fixture
def store(tmp_path, toy_store_template) -> Path:
    return Path(shutil.copytree(toy_store_template, tmp_path / "store"))


def drive(store: Path, script):
    """Run the explorer on ``store`` headless and let ``script(app, pilot)`` (async) drive it."""
    async def main():
        app = ExplorerApp(Store(store))
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.pause()
            await script(app, pilot)
        return app
    return asyncio.run(main())


def leaves(app) -> list:
    tree = app.query_one("#tree", Tree)
    out, todo = [], [tree.root]
    while todo:
        node = todo.pop(0)
        if not node.children:
            out.append(node)
        todo[:0] = list(node.children)
    return out


def test_the_tree_groups_counterexamples_by_model_and_kfunc(store):
    ids = ids_by_context(store)

    async def script(app, pilot):
        tree = app.query_one("#tree", Tree)
        [model] = tree.root.children
        assert str(model.label) == "toy@1 (kernel test)"
        [kfunc] = model.children
        assert str(kfunc.label) == "perf_set"
        assert sorted(n.data for n in kfunc.children) == sorted(ids.values())
        assert any("known" in str(n.label) for n in kfunc.children)
        # the first counterexample is highlighted and shown as `cex show` prints it
        assert tree.cursor_node is not None and tree.cursor_node.data == app.current.id
        assert app.detail_lines[0].startswith(app.current.id)
        assert any(line.startswith("chain     program STRUCT_OPS") for line in app.detail_lines)
        assert len(app.detail_lines) <= 25

    drive(store, script)


def test_keys_explain_fold_unfold_and_browse(store):
    async def script(app, pilot):
        first = app.current.id
        await pilot.press("e")
        assert "force the violation" in app.detail_lines[1]
        assert any(line.strip().startswith("kernel  test:") for line in app.detail_lines)
        await pilot.press("e")
        assert app.detail_lines[0].startswith(first)
        folded = list(app.detail_lines)
        assert any("other variables: any value" in line for line in folded)
        await pilot.press("v")
        assert any("tracked.kf_mask" in line for line in app.detail_lines)
        assert len(app.detail_lines) > len(folded)
        await pilot.press("v")
        assert app.detail_lines == folded
        await pilot.press("down")
        await pilot.pause()
        assert app.current.id != first
        assert app.detail_lines[0].startswith(app.current.id)
        await pilot.press("r")
        assert app.last_message == f"{app.current.id} still replays on the current model"

    drive(store, script)


def test_n_finds_saves_and_selects_the_next_counterexample(store):
    ids = ids_by_context(store)
    (store / f"{ids['dispatch']}.json").unlink()

    async def script(app, pilot):
        assert len(leaves(app)) == 2
        await pilot.press("n")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.last_message == f"new counterexample {ids['dispatch']} saved"
        assert app.current.id == ids["dispatch"]
        assert app.query_one("#tree", Tree).cursor_node.data == ids["dispatch"]
        assert len(leaves(app)) == 3
        await pilot.press("n")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.last_message == "no further counterexample for safety/perf_set/set"

    drive(store, script)
    assert (store / f"{ids['dispatch']}.json").exists()


def test_a_corrupted_file_is_listed_apart_and_nothing_is_lost(store):
    ids = ids_by_context(store)
    bad = store / f"{ids['enqueue']}.json"
    bad.write_text("{ not json")
    before = snapshot(store)

    async def script(app, pilot):
        tree = app.query_one("#tree", Tree)
        labels = [str(n.label) for n in tree.root.children]
        assert labels == ["toy@1 (kernel test)", "corrupted files (1)"]
        broken = tree.root.children[1].children[0]
        tree.move_cursor(broken)
        await pilot.pause()
        assert app.current is None and str(bad) in app.detail_lines[0]
        assert {n.data for n in leaves(app) if isinstance(n.data, str)} == {ids["init"], ids["dispatch"]}

    drive(store, script)
    assert snapshot(store) == before


def test_an_empty_store_says_how_to_fill_it(tmp_path):
    async def script(app, pilot):
        assert app.current is None
        assert app.detail_lines[0].startswith("no counterexamples stored in")
        await pilot.press("n")
        assert app.last_message == "highlight a counterexample first"

    drive(tmp_path / "empty", script)


def test_explore_command_runs_the_app_on_the_given_store(store, monkeypatch):
    seen = {}
    monkeypatch.setattr(ExplorerApp, "run", lambda self, *a, **k: seen.setdefault("root", self.store.root))
    res = run("explore", "--store", store)
    assert res.exit_code == 0 and seen["root"] == store
    assert "Keys:" in run("explore", "--help").stdout
