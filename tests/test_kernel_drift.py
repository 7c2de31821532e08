"""polykfunc drift: a model against a tree; one line per difference with both places."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from polykfunc.cli import cli
from polykfunc.kernel.drift import drift, kernel_list_for
from polykfunc.kernel.importer import import_tree
from polykfunc.model import load_model

HERE = Path(__file__).parent / "kernels"
OVERLAY = HERE / "mini-overlay"


def _tree(tmp_path: Path, old: str, new: str, file: str = "kernel/sched/ext.c") -> Path:
    tree = tmp_path / "tree"
    shutil.copytree(HERE / "mini", tree)
    p = tree / file
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new, 1))
    return tree


def test_no_drift_on_the_tree_the_model_describes():
    assert drift(load_model(OVERLAY), import_tree(HERE / "mini", jobs=1)) == []
    r = CliRunner().invoke(cli, ["drift", str(OVERLAY), str(HERE / "mini")])
    assert r.exit_code == 0, r.output


def test_one_flag_changed(tmp_path):
    tree = _tree(tmp_path, "BTF_ID_FLAGS(func, scx_bpf_dsq_insert, KF_RCU)", "BTF_ID_FLAGS(func, scx_bpf_dsq_insert)")
    (d,) = drift(load_model(OVERLAY), import_tree(tree, jobs=1))
    assert (d.kind, d.subject, d.message) == ("flags", "scx_bpf_dsq_insert", "model ['RCU'], kernel none")
    assert d.model_place.endswith("rest.toml:50") and d.kernel_place == "kernel/sched/ext.c:63"
    r = CliRunner().invoke(cli, ["drift", str(OVERLAY), str(tree)])
    assert r.exit_code == 1 and "flags: scx_bpf_dsq_insert" in r.output and "kernel/sched/ext.c:63" in r.output


def test_one_registration_dropped(tmp_path):
    tree = _tree(tmp_path, """	    (ret = register_btf_kfunc_id_set(BPF_PROG_TYPE_SYSCALL,
					     &scx_kfunc_set_unlocked)) ||
""", "")
    (d,) = drift(load_model(OVERLAY), import_tree(tree, jobs=1))
    assert (d.kind, d.subject) == ("registration", "unlocked")
    assert d.message.startswith("model: seen by ['STRUCT_OPS', 'SYSCALL']; kernel: seen by ['STRUCT_OPS']")
    assert d.model_place.endswith("rest.toml:43") and d.kernel_place == "kernel/sched/ext.c:95 STRUCT_OPS"


def test_kfunc_added_and_member_sleepability_changed(tmp_path):
    tree = _tree(tmp_path, "BTF_ID_FLAGS(func, scx_bpf_nr_cpu_ids)\n",
                 "BTF_ID_FLAGS(func, scx_bpf_nr_cpu_ids)\nBTF_ID_FLAGS(func, scx_bpf_new_thing)\n")
    text = (tree / "kernel/sched/ext.c").read_text()
    (tree / "kernel/sched/ext.c").write_text(text.replace("	case offsetof(struct sched_ext_ops, init):\n", ""))
    got = [(d.kind, d.subject) for d in drift(load_model(OVERLAY), import_tree(tree, jobs=1))]
    assert got == [("kfunc-added", "scx_bpf_new_thing"), ("sleepable", "sched_ext_ops.init")]


@pytest.mark.parametrize("name,expected", [("scx_kfunc_ids_enqueue_dispatch", "enqueue_dispatch"),
                                           ("scx_kfunc_ids_dispatch", "dispatch"), ("generic_btf_ids", None)])
def test_kernel_lists_map_to_model_sets_by_name(name, expected):
    assert kernel_list_for(["dispatch", "enqueue_dispatch", "any"], name) == expected
