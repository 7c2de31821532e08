"""The generated generic layer, composition with an overlay, and the bundled kernel layers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from polykfunc.cli import cli
from polykfunc.errors import SpecError
from polykfunc.kernel.generate import generate, write_model
from polykfunc.kernel.importer import import_tree
from polykfunc.model import bundled_root, load_model

HERE = Path(__file__).parent / "kernels"


@pytest.fixture(scope="module")
def layer(tmp_path_factory):
    out = tmp_path_factory.mktemp("layer")
    inv = import_tree(HERE / "mini", jobs=1).to_json()
    inv["generated"] = "2000-01-01"
    write_model(inv, out)
    return out


def _overlay(tmp_path: Path, layer: Path, edit=None) -> Path:
    d = tmp_path / "overlay"
    shutil.copytree(HERE / "mini-overlay", d)
    text = (d / "model.toml").read_text().replace("../../../model", str(Path(__file__).parent.parent / "model"))
    text = text.replace("format = 1", f'format = 1\nbase = "{layer}"')
    (d / "model.toml").write_text(text)
    if edit:
        (d / "rest.toml").write_text(edit((d / "rest.toml").read_text()))
    return d


def test_generated_layer_is_valid_and_proves(layer):
    m = load_model(layer)
    assert m.name == "kernel@v6.99"
    assert {k.name for k in m.kfuncs} == {"mini_copy", "mini_rcu_read_lock", "mini_task_acquire", "mini_task_release",
                                          "mini_xdp_meta", "scx_bpf_create_dsq", "scx_bpf_dsq_insert", "scx_bpf_nr_cpu_ids"}
    assert m.kfunc_set("generic_btf_ids").registered.text == "view.prog_type in ['LSM', 'SCHED_CLS', 'TRACING']"
    assert [r.select for r in m.kfunc("mini_copy").resolve] == ["reject"] * 5 + ["call"]
    assert [f.name for f in m.filters] == ["xdp_mini_filter"]
    r = CliRunner().invoke(cli, ["prove", str(layer), "--no-store", "--no-cache"])
    assert r.exit_code == 0, r.output


def test_regenerating_from_the_inventory_gives_the_same_files(layer):
    inv = json.loads((layer / "inventory.json").read_text())
    for name, text in generate(inv).items():
        assert (layer / name).read_text() == text


@pytest.mark.parametrize("folder", sorted(p.parent.name for p in (bundled_root() / "kernel").rglob("inventory.json")))
def test_bundled_kernel_layers_are_not_stale(folder):
    d = bundled_root() / "kernel" / folder
    inv = json.loads((d / "inventory.json").read_text())
    files = generate(inv)
    assert sorted(files) == sorted(p.name for p in d.glob("*.toml"))
    for name, text in files.items():
        assert (d / name).read_text() == text, f"{d / name} is stale: regenerate it (see its header)"
    assert load_model(d).name == f"kernel@{folder}"


def test_overlay_composes_with_its_base(layer, tmp_path):
    m = load_model(_overlay(tmp_path, layer))
    assert m.base == "kernel@v6.99"
    assert set(m.base_kfuncs) == {"mini_copy", "mini_rcu_read_lock", "mini_task_acquire", "mini_task_release",
                                  "mini_xdp_meta"}
    # the overlay's own kfuncs keep their semantics
    assert m.kfunc("scx_bpf_dsq_insert").impl_names == ("insert",)
    # base contexts only for program types no overlay context covers
    assert sorted(c for c in m.context_names if c.startswith("prog_")) == ["prog_sched_cls", "prog_xdp"]
    # the enum of program types is united: core's values first, then the base's extra ones
    assert "UNSPEC" not in m.var("view", "prog_type").type.values
    assert load_model(_overlay(tmp_path / "x", layer), base=None).base == "kernel@v6.99"


def test_overlay_and_base_disagreeing_on_flags_is_an_error_naming_both(layer, tmp_path):
    d = _overlay(tmp_path, layer, lambda t: t.replace('flags = ["RCU"]', 'flags = ["RCU", "ACQUIRE"]'))
    with pytest.raises(SpecError) as e:
        load_model(d)
    text = e.value.render()
    assert "rest.toml" in text and "kfuncs.toml" in text and "scx_bpf_dsq_insert" in text


def test_overlay_and_base_disagreeing_on_a_variable_type(layer, tmp_path):
    d = _overlay(tmp_path, layer, lambda t: t + '\n[vars.state.may_sleep]\ntype = "int"\nrange = [0, 1]\n')
    with pytest.raises(SpecError):
        load_model(d)


def test_check_prog_style_use_of_a_generic_kfunc(layer, tmp_path):
    """A generic sleepable kfunc in an overlay context: rejected at load where the program
    cannot sleep, admitted in a sleepable op (the load-time verdict check-prog needs)."""
    from polykfunc.model import semantics as sem
    from polykfunc.model.expr import evaluate
    m = load_model(_overlay(tmp_path, layer))
    k = m.kfunc("mini_copy")
    out = sem.outcome(m, k)
    base = {("view", v.name, 0): False for v in m.vars if v.ns == "view" and v.type.__class__.__name__ == "BoolType"}
    env = {**base, ("view", "prog_type", 0): "TRACING", ("view", "subprog", 0): "main",
           ("view", "st_ops", 0): "none", ("view", "member", 0): "none"}
    assert sem.outcome_name(k, evaluate(out, env)) == sem.outcome_name(k, sem.REJECTED)
    env[("view", "sleepable", 0)] = True
    assert sem.outcome_name(k, evaluate(out, env)) == "call"


def test_newest_layer_records_every_fetched_file_and_commit():
    """The partial newest layer names, in every generated header, each file of its tree and its commit."""
    d = bundled_root() / "kernel" / "newest"
    prov = json.loads((d / "provenance.json").read_text())
    inv = json.loads((d / "inventory.json").read_text())
    assert inv["provenance"] == prov
    assert {k["file"] for k in inv["kfuncs"]} <= {f["path"] for f in prov["files"]}
    for name in ("model.toml", "kfuncs.toml", "sets.toml"):
        text = (d / name).read_text()
        for f in prov["files"]:
            assert f"# source: {f['path']} = {f['repo']}@{f['commit']}" in text


def test_import_kernel_rejects_a_bad_provenance_file(tmp_path):
    tree = tmp_path / "tree"
    (tree / "kernel" / "bpf").mkdir(parents=True)
    bad = tmp_path / "prov.json"
    bad.write_text('{"note": "x", "files": [{"path": "a.c"}]}')
    r = CliRunner().invoke(cli, ["import-kernel", str(tree), "--provenance", str(bad), "--json"])
    assert r.exit_code == 2
    assert "files[0] lacks repo, commit, fetched" in r.output


def test_a_review_reads_the_overlay_without_its_base_kfuncs():
    """Reports show a composed model's own kfuncs; the base layer's are reviewed with the layer."""
    from polykfunc.model import resolve_target
    from polykfunc.model.compose import overlay_only
    composed = load_model(resolve_target("sched_ext@v6.12"))
    assert composed.base == "kernel@v6.12" and "bpf_cpumask_create" in composed.base_kfuncs
    own = overlay_only(composed)
    names = {k.name for k in own.kfuncs}
    assert "bpf_cpumask_create" not in names and "scx_bpf_dispatch" in names
    assert names == {k.name for k in composed.kfuncs} - set(composed.base_kfuncs)
    assert not {b.kfunc for b in own.known_bugs} & set(composed.base_kfuncs)
    assert own.contexts == composed.contexts and "kernel@v6.12" in own.description
    assert overlay_only(own) is own          # idempotent: nothing of the base is left to drop


def test_base_only_missing_takes_only_the_kfuncs_the_overlay_lacks(layer, tmp_path):
    """An older layer under a newer overlay (compose's base_only_missing): flags may differ for
    a kfunc both define (the overlay's wins), only the missing kfuncs come from the base, and
    ``only`` narrows them further; the normal composition still refuses the disagreement."""
    from polykfunc.model.compose import load_missing_from
    d = _overlay(tmp_path, layer, lambda t: t.replace('flags = ["RCU"]', 'flags = ["RCU", "ACQUIRE"]'))
    with pytest.raises(SpecError):
        load_model(d)
    m = load_missing_from(d, str(layer))
    assert m.base == "kernel@v6.99"
    assert sorted(m.kfunc("scx_bpf_dsq_insert").flags) == ["ACQUIRE", "RCU"]   # the overlay's
    assert set(m.base_kfuncs) == {"mini_copy", "mini_rcu_read_lock", "mini_task_acquire", "mini_task_release",
                                  "mini_xdp_meta"}
    few = load_missing_from(d, str(layer), only=frozenset({"mini_copy"}))
    assert few.base_kfuncs == ("mini_copy",)
    assert "mini_task_acquire" not in {k.name for k in few.kfuncs}
    # the sets of the kfuncs not taken are not taken either
    assert {s.name for s in few.kfunc_sets} - {s.name for s in m.kfunc_sets} == set()
    assert len(few.kfunc_sets) < len(m.kfunc_sets)
