"""The concrete resolvers: kernel facts they encode, and their agreement with the models.

Where a concrete resolver and its model disagree, the difference is a finding about the model
(or the resolver); every one found so far is listed in KNOWN_DIFFERENCES with its reason, so a
new difference fails this test until someone decides which side is right (docs/fuzzing.md).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from polykfunc.crosscheck.concrete import (
    REFUSED, REJECTED, bundled_resolver, bundled_resolvers, load_resolver, same_choice,
)
from polykfunc.crosscheck.concrete import sched_ext_newest as newest
from polykfunc.crosscheck.concrete import sched_ext_v71 as v71
from polykfunc.crosscheck.concrete import sched_ext_v612 as v612
from polykfunc.crosscheck.concrete import verifier
from polykfunc.errors import UsageError
from polykfunc.model import load_model, resolve_target
from polykfunc.model import semantics as sem
from polykfunc.crosscheck.strategies import admitted_states

RCU, SLEEP, NULL, LSM_SKB, TIMER_RCU = ("rcu-protected", "sleepable-in-timer-callback", "null-task",
                                         "lsm-shares-the-tracing-hook", "timer-callback-is-in-rcu")

#: (kfunc, reason) pairs where the model and the kernel-shaped resolver are known to differ
KNOWN_DIFFERENCES = {
    "sched_ext@v6.12": {
        ("bpf_iter_scx_dsq_new", TIMER_RCU),
        *((k, NULL) for k in ("scx_bpf_select_cpu_dfl", "scx_bpf_dispatch_from_dsq",
                              "scx_bpf_dispatch_vtime_from_dsq", "scx_bpf_task_running", "scx_bpf_task_cpu")),
    },
    "sched_ext@v7.1": {
        *((k, RCU) for k in ("bpf_iter_scx_dsq_new", "scx_bpf_cpu_curr", "scx_bpf_dsq_peek")),
        *((k, NULL) for k in ("scx_bpf_task_cpu", "scx_bpf_task_running", "scx_bpf_task_set_dsq_vtime",
                              "scx_bpf_task_set_slice")),
    },
    "sched_ext@newest": {
        *((k, RCU) for k in ("bpf_iter_scx_dsq_new", "scx_bpf_cid_curr", "scx_bpf_cpu_curr",
                             "scx_bpf_dsq_peek", "scx_bpf_tid_to_task")),
        *((k, NULL) for k in ("scx_bpf_task_cid", "scx_bpf_task_cpu", "scx_bpf_task_running",
                              "scx_bpf_task_set_dsq_vtime")),
    },
    "verifier@specialize": {("bpf_dynptr_from_skb", LSM_SKB)},
}


def reason(model_outcome: str, ours: str, why: str, view: dict) -> str:
    """A short tag for why the resolver and the model differ."""
    if "requires RCU critical section" in why:
        return RCU
    if "NULL pointer" in why:
        return NULL
    if "sleepable" in why and view.get("subprog") == "async_cb":
        return SLEEP
    if model_outcome == REJECTED and view.get("subprog") == "async_cb":
        return TIMER_RCU
    if model_outcome == REJECTED and view.get("prog_type") == "LSM":
        return LSM_SKB
    return f"{model_outcome} != {ours} ({why})"


MODELS = {name: load_model(resolve_target(name)) for name in KNOWN_DIFFERENCES}
EXAMPLES = {"sched_ext@v6.12": 150, "sched_ext@v7.1": 80, "sched_ext@newest": 60, "verifier@specialize": 150}


def test_every_bundled_resolver_decides_every_kfunc_of_its_model():
    """The load-time allow decision (and the run-time one) exists for every kfunc."""
    for name, r in bundled_resolvers().items():
        model = MODELS[name]
        assert {k.name for k in model.kfuncs} <= r.kfuncs, name
        for k in model.kfuncs:
            assert r.covers(k.name)


@pytest.mark.parametrize("name", list(KNOWN_DIFFERENCES))
def test_resolver_agrees_with_the_model_in_every_admitted_state(name):
    model, r = MODELS[name], bundled_resolver(name)

    @settings(max_examples=EXAMPLES[name], suppress_health_check=list(HealthCheck))
    @given(admitted_states(model))
    def check(state):
        view, tracked, arg = state.part("view"), state.part("tracked"), state.part("arg")
        for k in model.kfuncs:
            theirs = sem.outcome_name(k, sem.decide(model, k, state.env).outcome)
            ours, why = r.explain(k.name, view, tracked, arg)
            if not same_choice(theirs, ours):
                tag = reason(theirs, ours, why, view)
                assert (k.name, tag) in KNOWN_DIFFERENCES[name], \
                    f"new difference in {state.context}: {k.name}: model {theirs}, kernel {ours}: {tag}"

    check()


# ---------------------------------------------------------------------- kernel facts, v6.12

SCX_OP = {"prog_type": "STRUCT_OPS", "st_ops": "sched_ext_ops", "sleepable": False, "subprog": "main"}


def call612(kfunc, member, kf_mask=(), ddsp="none", task="op_task", **tracked):
    view = {**SCX_OP, "member": member}
    return v612.resolve(kfunc, view, {"kf_mask": frozenset(kf_mask), "ddsp": ddsp, **tracked},
                        {"task": task, "task_cpu": 1, "cpu": 2})


def test_v612_dispatch_is_direct_from_enqueue_and_buffered_from_dispatch():
    assert call612("scx_bpf_dispatch", "enqueue", ["ENQUEUE"], ddsp="op_task") == "direct"
    assert call612("scx_bpf_dispatch", "dispatch", ["DISPATCH"], task="other") == "buffered"
    assert call612("scx_bpf_dispatch", "enqueue", ["ENQUEUE"], ddsp="spoiled") == REFUSED     # second insert
    assert call612("scx_bpf_dispatch", "enqueue", ["ENQUEUE"], ddsp="op_task", task="other") == REFUSED
    assert call612("scx_bpf_dispatch", "init", []) == REFUSED                                 # kf_mask
    # dequeue nested in dispatch passes ENQUEUE|DISPATCH: only DISPATCH-only kfuncs see the boundary
    assert call612("scx_bpf_dispatch", "dequeue", ["DISPATCH", "REST"], task="other") == "buffered"
    assert call612("scx_bpf_consume", "dequeue", ["DISPATCH", "REST"]) == REFUSED


def test_v612_dispatch_from_dsq_switches_only_in_balance():
    assert call612("scx_bpf_dispatch_from_dsq", "dispatch", ["DISPATCH"], in_balance=True) == "switch_from_this_rq"
    assert call612("scx_bpf_dispatch_from_dsq", "init", [], in_balance=False) == "lock_src_rq"
    assert call612("scx_bpf_dispatch_from_dsq", "enqueue", ["ENQUEUE"]) == REFUSED
    # cgroup_move runs as UNLOCKED with p's rq held: the runtime check lets it through (b470e37c1fad)
    assert call612("scx_bpf_dispatch_from_dsq", "cgroup_move", [], in_balance=False) == "lock_src_rq"


def test_v612_loads_every_set_for_any_struct_ops_and_the_any_set_for_lsm():
    other = {**SCX_OP, "st_ops": "other", "member": "none"}
    assert v612.resolve("scx_bpf_create_dsq", {**other, "sleepable": True}, {}, {"task": "none"}) == "alloc"
    lsm = {"prog_type": "LSM", "st_ops": "none", "member": "none", "sleepable": False, "subprog": "main"}
    assert v612.resolve("scx_bpf_kick_cpu", lsm, {}, {}) == "kick"             # the TRACING hook
    assert v612.resolve("scx_bpf_dispatch", lsm, {}, {"task": "other"}) == REJECTED


# ---------------------------------------------------------------------- kernel facts, v7.1 and newest

def _prog(prog_type, st_ops, member, cid=False):
    from polykfunc.crosscheck.concrete.bpf import prog_from_view
    return prog_from_view({"prog_type": prog_type, "st_ops": st_ops, "member": member, "cid_form": cid})


@pytest.mark.parametrize("kfunc, member, allowed", [
    ("scx_bpf_dsq_insert", "enqueue", True), ("scx_bpf_dsq_insert", "dispatch", True),
    ("scx_bpf_dsq_insert", "init", False), ("scx_bpf_dsq_move", "dispatch", True),
    ("scx_bpf_dsq_move", "init", True), ("scx_bpf_dsq_move", "enqueue", False),
    ("scx_bpf_select_cpu_dfl", "enqueue", True), ("scx_bpf_select_cpu_dfl", "dispatch", False),
    ("scx_bpf_reenqueue_local", "cpu_release", True), ("scx_bpf_reenqueue_local", "dispatch", False),
    ("scx_bpf_create_dsq", "cgroup_move", False), ("scx_bpf_kick_cpu", "cgroup_move", True),
])
def test_v71_filter_follows_scx_kf_allow_flags(kfunc, member, allowed):
    assert (v71.scx_kfunc_context_filter(_prog("STRUCT_OPS", "sched_ext_ops", member), kfunc) == 0) is allowed
    assert (newest.scx_kfunc_context_filter(_prog("STRUCT_OPS", "sched_ext_ops", member), kfunc) == 0) is allowed


def test_filter_for_other_struct_ops_and_cid_form():
    other = _prog("STRUCT_OPS", "other", None)
    assert v71.scx_kfunc_context_filter(other, "scx_bpf_create_dsq") == 0       # kept the unlocked set
    assert newest.scx_kfunc_context_filter(other, "scx_bpf_create_dsq") != 0    # denied everything
    cid = _prog("STRUCT_OPS", "sched_ext_ops_cid", "enqueue", cid=True)
    assert newest.scx_kfunc_context_filter(cid, "scx_bpf_kick_cpu") != 0        # cpu-only
    assert newest.scx_kfunc_context_filter(cid, "scx_bpf_kick_cid") == 0
    tracing = _prog("TRACING", "none", None)
    assert newest.scx_kfunc_context_filter(tracing, "scx_bpf_dsq_insert") != 0


def cpu_call(mod, kfunc, **tracked):
    arg = {"task": tracked.pop("task", "op_task"), "task_cpu": tracked.pop("task_cpu", 1), "cpu": tracked.pop("cpu", 1)}
    view = {**SCX_OP, "member": tracked.pop("member", "init"), "sleepable": False}
    return mod.resolve(kfunc, view, {"locked_rq": -1, **tracked}, arg)


def test_locked_rq_selects_the_variants():
    assert cpu_call(v71, "scx_bpf_cpuperf_set", locked_rq=1, cpu=1) == "locked"
    assert cpu_call(v71, "scx_bpf_cpuperf_set", locked_rq=1, cpu=2) == REFUSED       # Invalid target CPU
    assert cpu_call(v71, "scx_bpf_cpuperf_set", cpu=2) == "lock_target"
    assert cpu_call(v71, "scx_bpf_dsq_move", locked_rq=0, in_balance=False) == "lock_src"   # v7.1: IN_BALANCE
    assert cpu_call(newest, "scx_bpf_dsq_move", locked_rq=0) == "switch_from_locked"       # newest: locked rq
    assert cpu_call(newest, "scx_bpf_task_set_slice", locked_rq=1, task_cpu=1) == "direct"
    assert cpu_call(newest, "scx_bpf_task_set_slice", locked_rq=1, task_cpu=2) == "oob"
    assert cpu_call(newest, "scx_bpf_kick_cpu", in_nmi=True) == REFUSED


def test_select_cpu_from_kfunc_three_cases():
    ks = "scx_bpf_select_cpu_dfl"
    assert cpu_call(v71, ks, member="select_cpu", in_select_cpu=True, kf_tasks="op_task") == "held_pi"
    assert cpu_call(v71, ks, member="select_cpu", in_select_cpu=True, kf_tasks="op_task", task="other") == REFUSED
    assert cpu_call(v71, ks, member="enqueue", locked_rq=1, task_cpu=1) == "held_rq"
    assert cpu_call(v71, ks, member="enqueue", locked_rq=1, task_cpu=2) == REFUSED     # cross-task
    assert cpu_call(v71, ks, member="init") == "take_pi"


# ---------------------------------------------------------------------- kernel facts, verifier

def spec(kfunc, **view):
    base = {"prog_type": "LSM", "sleepable": True, "subprog": "main", "lsm_hook": "inode_setxattr",
            "non_sleepable": False, "desc_specialized": False, "pkt_write": False, "bound_netdev": "none"}
    return verifier.resolve(kfunc, {**base, **view}, {}, {})


def test_specialize_kfunc_cases():
    assert spec("bpf_set_dentry_xattr") == "locked"
    assert spec("bpf_set_dentry_xattr", lsm_hook="file_open") == "plain"
    assert spec("bpf_set_dentry_xattr", sleepable=False) == REJECTED
    assert spec("bpf_dynptr_from_skb", prog_type="SCHED_CLS", pkt_write=True) == "writable"
    assert spec("bpf_dynptr_from_skb", prog_type="CGROUP_SKB") == "rdonly"
    assert spec("bpf_xdp_metadata_rx_hash", prog_type="XDP", bound_netdev="has_impl") == "driver"
    assert spec("bpf_xdp_metadata_rx_hash", prog_type="XDP", bound_netdev="no_impl") == "generic"
    assert spec("bpf_xdp_metadata_rx_hash", prog_type="XDP") == REJECTED            # not dev-bound
    assert spec("bpf_dynptr_from_file", non_sleepable=False) == "sleepable"
    assert spec("bpf_dynptr_from_file", non_sleepable=True) == "generic"
    # an earlier sleepable call site leaves desc->addr at the sleepable variant
    assert spec("bpf_dynptr_from_file", non_sleepable=True, desc_specialized=True) == "sleepable"
    assert spec("bpf_arena_alloc_pages", non_sleepable=True) == "non_sleepable"
    assert spec("bpf_arena_alloc_pages", non_sleepable=False, desc_specialized=True) == "non_sleepable"


# ---------------------------------------------------------------------- loading a user's resolver

def test_load_resolver_from_a_file_and_a_module(tmp_path):
    r = load_resolver("tests/resolvers/toy_resolver.py:resolve")
    assert r.model == "toy@1" and r.resolve("insert", {"prog_type": "XDP"}, {}, {}) == REJECTED
    assert load_resolver("polykfunc.crosscheck.concrete.sched_ext_v612:resolve").model == "sched_ext@v6.12"


@pytest.mark.parametrize("spec_, message", [
    ("tests/resolvers/toy_resolver.py", "module:function"),
    ("tests/resolvers/nope.py:resolve", "no such file"),
    ("tests/resolvers/toy_resolver.py:resolv", "did you mean 'resolve'"),
    ("no_such_module_xyz:resolve", "cannot import module"),
    ("tests/resolvers/toy_resolver.py:1x", "not a function name"),
])
def test_load_resolver_errors_say_what_to_do(spec_, message):
    with pytest.raises(UsageError, match=message):
        load_resolver(spec_)
