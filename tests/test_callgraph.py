"""Program call graphs and context propagation by the verifier's rules."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given, strategies as st

from bpf_build import bpf_object  # noqa: F401
from polykfunc.programs.callgraph import (
    TOP, CtxArg, Param, ProgramGraph, from_object, reaching_contexts, site_contexts,
)
from polykfunc.programs.dataflow import Const
from polykfunc.programs.elf import read_object

RCU = (1, 0, 0, 0)


def graph():
    g = ProgramGraph()
    g.add_program("enq", "STRUCT_OPS", member="enqueue", st_ops="sched_ext_ops")
    g.add_function("stat", "static")
    g.add_function("glob", "global")
    g.add_function("loop_cb", "static")
    g.add_function("timer_cb", "static")
    g.add_call("enq", "stat", insn=1, args=(CtxArg(0),), regions=RCU)
    g.add_call("enq", "glob", insn=2, args=(CtxArg(0),), regions=RCU)
    g.add_call("enq", "loop_cb", insn=3, via="sync_cb", args=(TOP, CtxArg(0)))
    g.add_call("enq", "timer_cb", insn=4, via="async_cb", async_kind="timer")
    for fn in ("stat", "glob", "loop_cb", "timer_cb"):
        g.add_site(fn, 9, "k", args=(Param(1), Param(2)))
    return g


def by_function(g, **kw):
    sc = site_contexts(g, reaching_contexts(g, **kw))
    return {g.node(s)["function"]: rows for s, rows in sc.items()}


def test_static_subprograms_inherit_the_callers_view_and_state():
    (sc,), = [by_function(graph())["stat"]]
    assert sc.reach.kind == "static"
    assert sc.view_regions == RCU and sc.run_regions == RCU
    assert sc.args[0] == CtxArg(0)


def test_global_subprograms_see_only_their_prototype_but_run_in_the_callers_state():
    (sc,), = [by_function(graph())["glob"]]
    assert sc.reach.kind == "global"
    assert sc.view_regions == (0, 0, 0, 0)       # the verifier starts afresh
    assert sc.run_regions == RCU                 # at run time the caller's region is still active
    assert sc.args[0] == CtxArg(0)               # and the argument is what the caller passed


def test_synchronous_callbacks_run_in_the_callers_context_and_may_have_run_before():
    (sc,), = [by_function(graph())["loop_cb"]]
    assert sc.reach.kind == "sync_cb" and sc.reach.async_kind is None
    assert sc.args[1] == CtxArg(0)
    assert "k" in sc.seen                        # an earlier iteration called the kfunc already


def test_asynchronous_callbacks_start_afresh():
    (sc,), = [by_function(graph())["timer_cb"]]
    assert (sc.reach.kind, sc.reach.async_kind) == ("async_cb", "timer")
    assert sc.args == (TOP,) * 5 and sc.seen == frozenset() and sc.reach.outer is None


def test_nested_ops_add_one_entry_context_per_outer_op():
    rows = by_function(graph(), nested=lambda entry: ["cpu_release"])["stat"]
    assert sorted(str(r.reach.outer) for r in rows) == ["None", "cpu_release"]
    # an async callback runs outside every op, nested or not
    assert {r.reach.outer for r in by_function(graph(), nested=lambda e: ["cpu_release"])["timer_cb"]} == {None}


def test_the_graph_is_a_networkx_multidigraph_of_functions_and_sites():
    g = graph()
    assert isinstance(g.graph, nx.MultiDiGraph)
    assert set(g.sites()) == {"stat@9", "glob@9", "loop_cb@9", "timer_cb@9"}
    assert {d["via"] for _, _, d in g.graph.out_edges("enq", data=True)} == {"call", "sync_cb", "async_cb"}
    with pytest.raises(KeyError, match="add it first"):
        g.add_call("enq", "nowhere", insn=7)
    with pytest.raises(ValueError, match="async_kind"):
        g.add_call("enq", "stat", insn=8, via="async_cb", async_kind="later")


@given(st.integers(min_value=2, max_value=7).flatmap(
    lambda n: st.tuples(st.just(n), st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))))))
def test_a_function_has_contexts_exactly_when_a_program_reaches_it(case):
    n, pairs = case
    g = ProgramGraph()
    g.add_program("f0", "SYSCALL")
    for i in range(1, n):
        g.add_function(f"f{i}", "global" if i % 2 else "static")
    for k, (a, b) in enumerate(sorted(pairs)):
        if a < b:  # BPF call graphs have no recursion
            g.add_call(f"f{a}", f"f{b}", insn=k)
    reaches = reaching_contexts(g)
    calls = nx.DiGraph((u, v) for u, v, _ in g.graph.edges(data=True))
    calls.add_nodes_from(g.functions())
    reachable = nx.descendants(calls, "f0") | {"f0"}
    assert {f for f, rs in reaches.items() if rs} == reachable


def test_from_a_compiled_object(bpf_object):  # noqa: F811
    g = from_object(read_object(bpf_object("good")))
    vias = {(u, v): d["via"] for u, v, d in g.graph.edges(data=True) if d["via"] != "site"}
    assert vias == {("good_enqueue", "insert_shared"): "call", ("good_dispatch", "count_cb"): "sync_cb",
                    ("good_dispatch", "kick_self"): "call", ("good_init", "timer_fn"): "async_cb"}
    assert g.node("kick_self")["role"] == "global" and g.node("good_init")["sleepable"]
    rows = by_function(g)
    assert rows["insert_shared"][0].args[0] == CtxArg(0)          # p = ctx[0], through the static call
    assert rows["timer_fn"][0].reach.async_kind == "timer"


def test_a_pointer_into_the_callers_stack_reaches_a_loop_callback(bpf_object):  # noqa: F811
    g = from_object(read_object(bpf_object("bad_sync")))
    (sc,), = [by_function(g)["insert_cb"]]
    assert sc.args[0] == CtxArg(0)                                # lc->p is the enqueued task
    assert "scx_bpf_dsq_insert" in sc.seen                        # the callback ran before


def test_regions_entered_in_the_caller_reach_the_subprograms(bpf_object):  # noqa: F811
    g = from_object(read_object(bpf_object("bad_global")))
    rows = by_function(g)
    (glob,), (stat,) = rows["make_dsq_global"], rows["make_dsq_static"]
    assert glob.run_regions[0] == 1 and glob.view_regions[0] == 0
    assert stat.run_regions[0] == 1 and stat.view_regions[0] == 1
    assert glob.args[0] == Const(1) and stat.args[0] == Const(2)


# ---------------------------------------------------------------------- symbols and paths (issue 12)

from polykfunc.programs.dataflow import KsymAddr, Ret, analyse  # noqa: E402
from polykfunc.programs.insns import Insn  # noqa: E402
from polykfunc.programs.symbols import essential_name  # noqa: E402


@pytest.mark.parametrize("symbol, kernel_name", [
    ("scx_bpf_dsq_insert___v2___compat", "scx_bpf_dsq_insert___v2"), ("scx_bpf_consume___old", "scx_bpf_consume"),
    ("scx_bpf_dsq_insert___v1", "scx_bpf_dsq_insert"), ("bpf_rcu_read_lock", "bpf_rcu_read_lock"),
    ("__scx_bpf_dsq_insert_vtime", "__scx_bpf_dsq_insert_vtime"), ("a____b", "a____b"), ("x___", "x___"),
])
def test_kfunc_symbols_resolve_like_libbpf_drops_the_last_flavour(symbol, kernel_name):
    assert essential_name(symbol) == kernel_name


def _ld64(idx, dst):
    return Insn(idx, 0x18, dst, 0, 0, 0, 0)


def _call(idx):
    return Insn(idx, 0x85, 0, 2, 0, -1)


def _jeq0(idx, reg, off, jne=False):   # if reg ==/!= 0 goto +off
    return Insn(idx, 0x55 if jne else 0x15, reg, 0, off, 0)


EXIT = 0x95


def _run(insns, calls, ksyms=None, present=lambda n: None, data=None, counted=frozenset()):
    """Analyse ``insns`` with call targets ``calls`` (insn -> kfunc) and ld_imm64 targets."""
    ksyms, data = ksyms or {}, data or {}
    return analyse("f", tuple(insns), lambda i: ("kfunc", calls[i.idx]), lambda i: None,
                   ksym_of=lambda i: ksyms.get(i.idx), ksym_present=present,
                   data_of=lambda i: data.get(i.idx), counted=counted)


def _alternatives():
    # if (bpf_ksym_exists(new___v2)) new___v2(); else old();
    return [_ld64(0, 1), _jeq0(2, 1, 2), _call(3), Insn(4, 0x05, 0, 0, 1, 0), _call(5), Insn(6, EXIT, 0, 0, 0, 0)]


@pytest.mark.parametrize("present, reached, dead", [(True, {3}, (5,)), (False, {5}, (3,)), (None, {3, 5}, ())])
def test_bpf_ksym_exists_branches_follow_the_alternative_the_kernel_keeps(present, reached, dead):
    facts = _run(_alternatives(), {3: "new___v2", 5: "old"}, ksyms={0: ("new___v2", "new___v2___compat")},
                 present=lambda n: present)
    assert {c.insn for c in facts.calls} == reached and facts.unreached == dead


def test_a_read_only_global_tested_twice_goes_the_same_way_on_a_path():
    # if (ro == 1) { if (ro != 0) goto out; kfunc(); } out: exit   -- the call needs ro == 1 and ro == 0
    insns = [_ld64(0, 1), Insn(2, 0x71, 3, 1, 0, 0), Insn(3, 0x56, 3, 0, 4, 1),   # w3 = *(u8 *)ro; if w3 != 1 goto 8
             Insn(4, 0x71, 4, 1, 0, 0), Insn(5, 0x56, 4, 0, 2, 0), _call(6), Insn(7, 0x05, 0, 0, 0, 0),
             Insn(8, EXIT, 0, 0, 0, 0)]
    facts = _run(insns, {6: "k"}, data={0: (".rodata", 0x81)})
    assert facts.calls == () and facts.unreached == (6,)
    facts = _run(insns, {6: "k"}, data={0: (".data", 0x81)})     # a writable global can change between loads
    assert [c.insn for c in facts.calls] == [6]


def test_regions_and_inserts_are_exact_per_path():
    # if (x) { lock(); insert(); unlock(); }  k();   -- k sees two paths: never joined into "unknown"
    insns = [Insn(0, 0x15, 1, 0, 3, 0), _call(1), _call(2), _call(3), _call(4), Insn(5, EXIT, 0, 0, 0, 0)]
    calls = {1: "bpf_rcu_read_lock", 2: "ins", 3: "bpf_rcu_read_unlock", 4: "k"}
    facts = _run(insns, calls, counted=frozenset({"ins"}))
    at_k = [c for c in facts.calls if c.insn == 4]
    assert sorted((c.regions, c.dispatched) for c in at_k) == [((0, 0, 0, 0), False), ((0, 0, 0, 0), True)]
    assert [c.regions for c in facts.calls if c.insn == 2] == [(1, 0, 0, 0)]


def test_a_call_result_remembers_its_task_argument_through_a_32_bit_move():
    # w1 = w0 after r0 = scx_bpf_task_cpu(r1): the CPU is the task's
    insns = [_call(0), Insn(1, 0xBC, 1, 0, 0, 0), _call(2), Insn(3, EXIT, 0, 0, 0, 0)]
    facts = _run(insns, {0: "scx_bpf_task_cpu", 2: "scx_bpf_cpuperf_set"})
    (c,) = [c for c in facts.calls if c.insn == 2]
    assert c.args[0] == Ret("kfunc", "scx_bpf_task_cpu", Param(1))
    assert not isinstance(c.args[0], KsymAddr)
