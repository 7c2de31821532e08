"""Reading compiled BPF objects: functions, programs, struct_ops members, calls, BTF, lines."""

from __future__ import annotations

import struct
import sys

import pytest

from bpf_build import bpf_object, source_line  # noqa: F401
from polykfunc.errors import UsageError
from polykfunc.programs import btf as B
from polykfunc.programs.elf import ObjectError, read_object


@pytest.fixture(scope="module")
def good(bpf_object):  # noqa: F811
    return read_object(bpf_object("good"))


def _calls(obj, fn_name):
    fn = obj.functions[fn_name]
    return [(i.idx, obj.call_target(fn, i)) for i in fn.insns if i.is_call]


def test_functions_and_their_linkage(good):
    assert good.functions["insert_shared"].linkage == "static"
    assert good.functions["kick_self"].linkage == "global"
    assert {f.name for f in good.functions.values() if f.is_entry} == \
        {"good_enqueue", "good_dispatch", "good_cpu_release", "good_init"}


def test_struct_ops_members_come_from_the_map_relocations_and_btf(good):
    assert good.struct_ops["good_ops"] == {"enqueue": "good_enqueue", "dispatch": "good_dispatch",
                                           "cpu_release": "good_cpu_release", "init": "good_init"}
    assert good.struct_types["good_ops"] == "sched_ext_ops"
    init = good.programs["good_init"]
    assert (init.prog_type, init.sleepable, init.member, init.st_ops) == ("STRUCT_OPS", True, "init", "sched_ext_ops")
    assert good.programs["good_enqueue"].sleepable is False


def test_call_targets_kfunc_helper_and_subprogram(good):
    kinds = {(t.kind, t.name) for _, t in _calls(good, "good_dispatch")}
    assert ("helper", "181") in kinds                      # bpf_loop
    assert ("subprog", "kick_self") in kinds               # global: relocation against its symbol
    assert ("kfunc", "scx_bpf_dsq_move_to_local") in kinds
    assert ("subprog", "insert_shared") in {(t.kind, t.name) for _, t in _calls(good, "good_enqueue")}  # static


def test_callback_addresses(good):
    def loaded(fn):
        f = good.functions[fn]
        return {good.function_address(f, i) for i in f.insns if i.is_ld_imm64} - {None}
    assert loaded("good_dispatch") == {"count_cb"}
    assert loaded("good_init") == {"timer_fn"}


def test_source_lines_from_btf_ext(good):
    fn = good.functions["insert_shared"]
    (idx, target), = _calls(good, "insert_shared")
    assert target.name == "scx_bpf_dsq_insert"
    file, line = good.line_of(fn, idx)
    assert file.endswith("good.bpf.c") and line == source_line("good", "scx_insert(p, SHARED_DSQ")


def test_btf_prototypes(good):
    params = good.kfunc_params("scx_bpf_dsq_insert")
    assert [p[2] for p in params] == ["task_struct", None, None, None]
    assert [p[2] for p in good.member_params("sched_ext_ops", "dispatch")] == [None, "task_struct"]


def test_a_source_file_is_not_an_object(tmp_path):
    src = tmp_path / "prog.bpf.c"
    src.write_text("int x;\n")
    with pytest.raises(ObjectError, match="not an ELF object") as exc:
        read_object(src)
    assert isinstance(exc.value, UsageError) and "clang -O2 -g -target bpf" in str(exc.value)


def test_an_elf_for_another_machine_is_refused():
    with pytest.raises(ObjectError, match="not BPF"):
        read_object(sys.executable)


def test_missing_file(tmp_path):
    with pytest.raises(ObjectError, match="no such file"):
        read_object(tmp_path / "nothing.o")


def test_btf_with_a_bad_magic_is_refused():
    with pytest.raises(B.BTFError, match="magic"):
        B.parse_btf(struct.pack("<HBBIIIII", 0x1234, 1, 0, 24, 0, 0, 0, 0))


def _same_reading(eager, indexed):
    assert len(indexed) == len(eager.types)
    assert all(indexed.type(i) == eager.type(i) for i in range(len(eager.types) + 1))
    assert all(indexed.ids(k) == eager.ids(k) for k in range(1, 20))
    for name in {t.name for t in eager.types[1:] if t is not None and t.name}:
        for kind in (B.FUNC, B.STRUCT, B.TYPEDEF, B.VAR, B.DATASEC):
            assert indexed.named(name, kind) == eager.named(name, kind)


def test_the_on_demand_btf_reader_reads_what_the_full_parse_reads(bpf_object):  # noqa: F811
    from elftools.elf.elffile import ELFFile
    for name in ("good", "bad_async"):
        with open(bpf_object(name), "rb") as fh:
            data = ELFFile(fh).get_section_by_name(".BTF").data()
        _same_reading(B.parse_btf(data), B.IndexedBTF(data))


def test_the_on_demand_btf_reader_on_the_running_kernel():
    from pathlib import Path
    vmlinux = Path("/sys/kernel/btf/vmlinux")
    if not vmlinux.is_file():
        pytest.skip("this kernel has no /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF)")
    data = vmlinux.read_bytes()
    eager, indexed = B.parse_btf(data), B.IndexedBTF(data)
    step = max(1, len(eager.types) // 5000)   # a sample: every type would take a minute
    assert len(indexed) == len(eager.types)
    assert all(indexed.type(i) == eager.type(i) for i in range(1, len(eager.types), step))
    assert indexed.ids(B.DECL_TAG) == eager.ids(B.DECL_TAG)
    for name in ("task_struct", "bpf_prog", "btf_trace_sched_switch", "bpf_lsm_file_open"):
        for kind in (B.STRUCT, B.FUNC, B.TYPEDEF):
            assert indexed.named(name, kind) == eager.named(name, kind)


def test_truncated_btf_is_refused_by_the_on_demand_reader():
    header = struct.pack("<HBBIIIII", B.BTF_MAGIC, 1, 0, 24, 0, 12, 12, 1)
    record = struct.pack("<III", 0, (B.INT << 24), 4)          # an INT without its 4 extra bytes
    with pytest.raises(B.BTFError, match="ends inside type 1"):
        B.IndexedBTF(header + record + b"\0")
