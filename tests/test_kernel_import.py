"""import-kernel on the synthetic tree tests/kernels/mini (kernel macro style): exact inventory."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from polykfunc.cli import cli
from polykfunc.errors import UsageError
from polykfunc.kernel.importer import import_tree

MINI = Path(__file__).parent / "kernels" / "mini"

#: name -> (flags, sets, prog types as registered, visible to, filters, file, line, guards)
EXPECTED = {
    "bad_ok_kfunc": (("RCU",), ("broken_ids",), (), (), (), "drivers/bad/broken.c", 5, ()),
    "mini_copy": (("SLEEPABLE",), ("generic_btf_ids",), ("SCHED_CLS", "TRACING"), ("LSM", "SCHED_CLS", "TRACING"),
                  (), "kernel/bpf/helpers.c", 31, ("CONFIG_MINI_COPY",)),
    "mini_rcu_read_lock": ((), ("common_btf_ids",), ("UNSPEC",),
                           ("LSM", "SCHED_CLS", "STRUCT_OPS", "SYSCALL", "TRACING", "XDP"), (), "kernel/bpf/helpers.c", 41, ()),
    "mini_task_acquire": (("ACQUIRE", "RCU", "RET_NULL"), ("generic_btf_ids",), ("SCHED_CLS", "TRACING"),
                          ("LSM", "SCHED_CLS", "TRACING"), (), "kernel/bpf/helpers.c", 28, ()),
    "mini_task_release": (("RELEASE",), ("generic_btf_ids",), ("SCHED_CLS", "TRACING"), ("LSM", "SCHED_CLS", "TRACING"),
                          (), "kernel/bpf/helpers.c", 29, ()),
    "mini_xdp_meta": (("TRUSTED_ARGS",), ("xdp_metadata_kfunc_ids",), ("XDP",), ("XDP",), ("xdp_mini_filter",),
                      "net/core/xdp_mini.c", 8, ()),
    "scx_bpf_create_dsq": (("SLEEPABLE",), ("scx_kfunc_ids_unlocked",), ("STRUCT_OPS", "SYSCALL"),
                           ("STRUCT_OPS", "SYSCALL"), (), "kernel/sched/ext.c", 72, ()),
    "scx_bpf_dsq_insert": (("RCU",), ("scx_kfunc_ids_enqueue_dispatch",), ("STRUCT_OPS",), ("STRUCT_OPS",), (),
                           "kernel/sched/ext.c", 63, ()),
    "scx_bpf_nr_cpu_ids": ((), ("scx_kfunc_ids_any",), ("STRUCT_OPS", "TRACING"), ("LSM", "STRUCT_OPS", "TRACING"), (),
                           "kernel/sched/ext.c", 81, ()),
}

EXPECTED_SKIPS = [
    ("drivers/bad/broken.c", 4, "BTF_ID_FLAGS(func) is not (func, NAME[, FLAGS])"),
    ("drivers/bad/broken.c", 5, "flag '42' of bad_ok_kfunc is not a KF_ constant"),
    ("drivers/bad/broken.c", 6, "BTF_ID_FLAGS: the parentheses do not close"),
    ("drivers/bad/broken.c", 7, "BTF_KFUNCS_END(other_ids) closes broken_ids (line 3)"),
    ("drivers/bad/broken.c", 9, "BTF_ID_FLAGS outside a BTF_KFUNCS_START/END list"),
    ("drivers/bad/broken.c", 13, "register_btf_kfunc_id_set(some_type(), &broken_set): the program type or the set is not a constant"),
]


@pytest.fixture(scope="module")
def inv():
    return import_tree(MINI, jobs=1)


def test_every_kfunc_with_exact_facts(inv):
    got = {k.name: (k.flags, k.sets, k.prog_types, k.visible_to, k.filters, k.place.file, k.place.line, k.guards)
           for k in inv.kfuncs}
    assert got == EXPECTED


def test_definitions_and_argument_annotations(inv):
    d = inv.kfunc("mini_copy").definition
    assert (d.place.file, d.place.line) == ("kernel/bpf/helpers.c", 16)
    assert [(p.name, p.annotation) for p in d.params] == [("dst", None), ("dst__sz", "sz"), ("src__nullable", "nullable")]
    assert d.prototype == "int mini_copy(void *dst, u32 dst__sz, const void *src__nullable)"
    assert inv.kfunc("bad_ok_kfunc").definition is None
    assert inv.kfunc("mini_rcu_read_lock").definition.params == ()


def test_bad_input_is_reported_and_the_rest_imported(inv):
    got = [(s.place.file, s.place.line, s.what) for s in inv.skips]
    assert [(f, n) for f, n, _ in got] == [(f, n) for f, n, _ in EXPECTED_SKIPS]
    for (_, _, what), (_, _, want) in zip(got, EXPECTED_SKIPS):
        assert what.startswith(want)


def test_verifier_tables_and_struct_ops(inv):
    assert {r.function: r.refs for r in inv.refs} == {
        "specialize_kfunc": ("bpf_dynptr_from_skb",), "can_be_sleepable": ("LSM", "STRUCT_OPS", "TRACING")}
    assert [(b.name, b.form, [e.name for e in b.entries]) for b in inv.btf_lists] == [
        ("special_kfunc_set", "BTF_SET", ["bpf_obj_new_impl"]),
        ("special_kfunc_list", "BTF_ID_LIST", ["bpf_obj_new_impl", "", "bpf_dynptr_from_skb"])]
    (ops,) = inv.struct_ops
    assert (ops.name, ops.var, ops.check_member) == ("sched_ext_ops", "bpf_sched_ext_ops", "bpf_scx_check_member")
    assert [(m.name, m.sleepable, m.place.line, m.guards) for m in ops.members] == [
        ("select_cpu", False, 3, ()), ("enqueue", False, 4, ()),
        ("cgroup_init", True, 6, ("CONFIG_EXT_GROUP_SCHED",)), ("init", True, 8, ())]
    assert ("LSM", "TRACING") in {(t, h) for t, h, _ in inv.hooks}
    assert [n for n, _ in inv.flag_defs] == ["ACQUIRE", "RELEASE", "RET_NULL", "SLEEPABLE", "RCU", "RCU_PROTECTED"]


def test_same_answer_with_two_processes(inv):
    again = import_tree(MINI, jobs=2)
    assert again.kfuncs == inv.kfuncs and again.skips == inv.skips


def test_not_a_kernel_tree(tmp_path):
    with pytest.raises(UsageError, match="not a kernel tree"):
        import_tree(tmp_path)
    r = CliRunner().invoke(cli, ["import-kernel", str(tmp_path)])
    assert r.exit_code == 2 and "not a kernel tree" in r.output


def test_unreadable_file_is_skipped(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(MINI, tree)
    os.symlink(tree / "nowhere.c", tree / "kernel" / "bpf" / "gone.c")
    inv = import_tree(tree, jobs=1)
    assert any(s.place.file == "kernel/bpf/gone.c" and "cannot read the file" in s.what for s in inv.skips)
    assert {k.name for k in inv.kfuncs} == set(EXPECTED)


def test_cli_json_has_one_object_per_kfunc():
    r = CliRunner().invoke(cli, ["import-kernel", str(MINI), "--json", "--jobs", "1"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    k = {x["name"]: x for x in data["kfuncs"]}["mini_xdp_meta"]
    assert (k["flags"], k["sets"], k["prog_types"], k["filters"], k["file"], k["line"]) == (
        ["TRUSTED_ARGS"], ["xdp_metadata_kfunc_ids"], ["XDP"], ["xdp_mini_filter"], "net/core/xdp_mini.c", 8)
    assert len(data["skipped"]) == len(EXPECTED_SKIPS)
