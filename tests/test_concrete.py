"""The concrete resolvers: kernel facts they encode, and their agreement with the models.

A concrete resolver and its model must agree on every call in every admitted state: there is
no list of tolerated differences. When they differ, one side is wrong; the fix goes to the
side the kernel source contradicts, with the citation (docs/fuzzing.md, "Findings").
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
from polykfunc.crosscheck.concrete import bpf, verifier
from polykfunc.errors import UsageError
from polykfunc.model import load_model, resolve_target
from polykfunc.model import semantics as sem
from polykfunc.crosscheck.strategies import admitted_states

MODELS = {name: load_model(resolve_target(name)) for name in bundled_resolvers()}
EXAMPLES = {"sched_ext@v6.12": 150, "sched_ext@v7.1": 80, "sched_ext@newest": 60, "verifier@specialize": 150}


def differences(name: str, view: dict, tracked: dict, arg: dict, env) -> list[str]:
    """Every kfunc of the model on which the resolver and the model pick differently here."""
    model, r = MODELS[name], bundled_resolver(name)
    out = []
    for k in model.kfuncs:
        if k.name in model.base_kfuncs:   # the generated layer's: drift and the oracle check those
            continue
        theirs = sem.outcome_name(k, sem.decide(model, k, env).outcome)
        ours, why = r.explain(k.name, view, tracked, arg)
        if not same_choice(theirs, ours):
            out.append(f"{k.name}: model {theirs}, kernel {ours} ({why})")
    return out


def test_every_bundled_resolver_decides_every_kfunc_of_its_model():
    """The load-time allow decision (and the run-time one) exists for every kfunc the model itself
    defines; the kfuncs a composed model takes from its generated base layer are the tree's facts,
    checked against the tree by `polykfunc drift` and against the running verifier by the oracle."""
    for name, r in bundled_resolvers().items():
        model = MODELS[name]
        own = [k for k in model.kfuncs if k.name not in model.base_kfuncs]
        assert {k.name for k in own} <= r.kfuncs, name
        for k in own:
            assert r.covers(k.name)


@pytest.mark.parametrize("name", list(MODELS))
def test_resolver_agrees_with_the_model_in_every_admitted_state(name):
    model = MODELS[name]

    @settings(max_examples=EXAMPLES[name], suppress_health_check=list(HealthCheck))
    @given(admitted_states(model))
    def check(state):
        view, tracked, arg = state.part("view"), state.part("tracked"), state.part("arg")
        assert not differences(name, view, tracked, arg, state.env), state.context

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


# ---------------------------------------------------------------------- the verifier's call-site checks

INIT = {**SCX_OP, "member": "init", "sleepable": True, "in_rcu": False, "in_spin_lock": False,
        "in_preempt_off": False, "in_irq_off": False}
NO_TASK = {"task": "none", "task_cpu": 0, "cpu": 0}
A_TASK = {"task": "other", "task_cpu": 1, "cpu": 0}


@pytest.mark.parametrize("mod, kfunc", [
    (v612, "scx_bpf_task_running"), (v612, "scx_bpf_select_cpu_dfl"), (v612, "scx_bpf_dispatch_from_dsq"),
    (v71, "scx_bpf_task_cpu"), (v71, "scx_bpf_task_set_slice"), (v71, "scx_bpf_task_set_dsq_vtime"),
    (newest, "scx_bpf_task_cid"), (newest, "scx_bpf_task_running"),
])
def test_a_null_task_into_a_kf_rcu_argument_does_not_load(mod, kfunc):
    """check_kfunc_args: a NULL (or maybe-NULL) pointer into a KF_RCU argument is rejected."""
    view = {**INIT, "sleepable": False}
    out, why = mod.explain(kfunc, view, {"kf_mask": frozenset(), "locked_rq": -1}, NO_TASK)
    assert out == REJECTED and "NULL pointer" in why
    assert "NULL pointer" not in mod.explain(kfunc, view, {"kf_mask": frozenset(), "locked_rq": -1}, A_TASK)[1]


@pytest.mark.parametrize("mod, kfunc", [(v71, "scx_bpf_dsq_peek"), (v71, "bpf_iter_scx_dsq_new"),
                                        (v71, "scx_bpf_cpu_curr"), (newest, "scx_bpf_tid_to_task")])
def test_rcu_protected_kfuncs_need_an_rcu_section_in_sleepable_code(mod, kfunc):
    """check_kfunc_call: KF_RCU_PROTECTED outside in_rcu_cs() (b9c5d822f677): an RCU region or
    a lock, or code that is not sleepable (a bpf_timer callback is not); preempt-off is not."""
    assert mod.explain(kfunc, INIT, {}, NO_TASK)[1].endswith("requires RCU critical section protection")
    assert mod.resolve(kfunc, {**INIT, "in_preempt_off": True}, {}, NO_TASK) == REJECTED
    assert mod.resolve(kfunc, {**INIT, "in_rcu": True}, {}, NO_TASK) != REJECTED
    assert mod.resolve(kfunc, {**INIT, "sleepable": False}, {}, NO_TASK) != REJECTED
    assert mod.resolve(kfunc, {**INIT, "subprog": "async_cb"}, {}, NO_TASK) != REJECTED


def test_v612_timer_callback_of_a_sleepable_program_counts_as_sleepable():
    """6.12.118: in_sleepable() is prog->sleepable, also in a bpf_timer callback (fixed by
    469d638d1520). So the dsq iterator is untrusted there (in_rcu_cs() is false) and
    scx_bpf_create_dsq() passes KF_SLEEPABLE; the newer verifier decides both the other way."""
    timer = {**INIT, "subprog": "async_cb"}
    assert v612.resolve("bpf_iter_scx_dsq_new", timer, {"kf_mask": frozenset()}, NO_TASK) == REJECTED
    assert v612.resolve("bpf_iter_scx_dsq_new", {**timer, "in_rcu": True}, {"kf_mask": frozenset()}, NO_TASK) != REJECTED
    assert v612.resolve("scx_bpf_create_dsq", timer, {"kf_mask": frozenset()}, NO_TASK) == "alloc"
    assert v71.resolve("scx_bpf_create_dsq", timer, {}, NO_TASK) == REJECTED
    assert v71.resolve("bpf_iter_scx_dsq_new", timer, {}, NO_TASK) == "body"


def test_the_models_state_the_same_checks():
    """The model side of the checks above: the v6.12 model declares the timer-callback bug, and
    no model lets a NULL task or an unprotected KF_RCU_PROTECTED call through."""
    bugs = {b.id: b for b in MODELS["sched_ext@v6.12"].known_bugs}
    assert bugs["timer-callback-create-dsq"].fixed_by == "469d638d1520"
    for name in ("sched_ext@v7.1", "sched_ext@newest"):
        m = MODELS[name]
        for k in m.kfuncs:
            if "RCU_PROTECTED" in k.flags:
                env = {("view", n, 0): v for n, v in {**INIT, "prog_type": "SYSCALL", "st_ops": "none",
                                                      "member": "none", "cid_form": False}.items()}
                from polykfunc.model.expr import evaluate
                assert not evaluate(sem.load_admitted(m, k), env), (name, k.name)


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


def test_sk_skb_and_tracepoint_programs():
    """bpf_kfunc_init registers bpf_kfunc_set_skb for SK_SKB, whose packet data is writable
    (may_access_direct_pkt_data); TRACEPOINT shares the TRACING hook, and so does
    RAW_TRACEPOINT in b9c5d822f677 (not in v6.12, where raw_tp has no kfunc hook)."""
    nonsleep = {"sleepable": False, "lsm_hook": "none", "non_sleepable": True}
    assert spec("bpf_dynptr_from_skb", prog_type="SK_SKB", **nonsleep) == "writable"
    for pt in ("TRACEPOINT", "RAW_TRACEPOINT"):
        assert spec("bpf_dynptr_from_skb", prog_type=pt, **nonsleep) == "rdonly"
        assert spec("bpf_set_dentry_xattr", prog_type=pt, **nonsleep) == REJECTED   # the LSM-only filter
        assert spec("bpf_arena_free_pages", prog_type=pt, **nonsleep) == "non_sleepable"
    assert spec("bpf_set_dentry_xattr", prog_type="SK_SKB", **nonsleep) == REJECTED
    assert spec("bpf_xdp_metadata_rx_hash", prog_type="SK_SKB", **nonsleep) == REJECTED
    hook = bpf.bpf_prog_type_to_kfunc_hook
    assert hook("PERF_EVENT") == hook("TRACEPOINT") == hook("LSM") == bpf.HOOK_TRACING
    assert hook("LWT_XMIT") == hook("LWT") == bpf.HOOK_LWT and hook("CGROUP_SOCK") == bpf.HOOK_CGROUP
    assert hook("RAW_TRACEPOINT") == bpf.HOOK_TRACING and hook("RAW_TRACEPOINT", False) is None
    raw_tp = bpf.prog_from_view({"prog_type": "RAW_TRACEPOINT"}, bpf.VERIFIER_6_12)
    assert not verifier.REGISTRY.btf_kfunc_is_allowed("bpf_dynptr_from_skb", raw_tp)
    assert verifier.REGISTRY.btf_kfunc_is_allowed("bpf_arena_alloc_pages", raw_tp)   # the COMMON hook


def test_the_specialize_model_predicts_the_same_for_the_new_program_types():
    """The model side: one outcome per program type, the one the concrete verifier picks."""
    from polykfunc.oracle.compare import Predictor
    model = MODELS["verifier@specialize"]
    predictor = Predictor(model)
    base = {"sleepable": False, "lsm_hook": "none", "bound_netdev": "none", "subprog": "main",
            "in_rcu": False, "in_preempt_off": False, "in_irq_off": False, "in_spin_lock": False,
            "desc_specialized": False, "non_sleepable": True}
    expect = {("SK_SKB", "bpf_dynptr_from_skb"): "writable", ("TRACEPOINT", "bpf_dynptr_from_skb"): "rdonly",
              ("RAW_TRACEPOINT", "bpf_dynptr_from_skb"): "rdonly", ("SK_SKB", "bpf_set_dentry_xattr"): REJECTED,
              ("TRACEPOINT", "bpf_remove_dentry_xattr"): REJECTED, ("SK_SKB", "bpf_arena_alloc_pages"): "non_sleepable"}
    for (pt, kfunc), want in expect.items():
        k = model.kfunc(kfunc)
        pred = predictor.predict(k, {**base, "prog_type": pt})
        assert [sem.outcome_name(k, c) for c in pred.outcomes] == [want], (pt, kfunc, pred)
    # sleepable tracepoint / sk_skb programs do not exist: no context admits them
    assert predictor.predict(model.kfunc("bpf_dynptr_from_skb"),
                             {**base, "prog_type": "SK_SKB", "sleepable": True}).outcomes == ()


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
