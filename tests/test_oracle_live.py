"""The oracle against the running kernel (load only): the hand checks of issue 11.

Skipped, with one line, where this process may not load BPF programs. The expected answers
are those of Linux 6.18 (the project's machines); a newer kernel may legitimately differ.
"""

from __future__ import annotations

import os

import pytest

from polykfunc.oracle import classify as C
from polykfunc.oracle import syscall

_WHY = syscall.permission_problem()
pytestmark = pytest.mark.skipif(_WHY is not None, reason=_WHY or "")


@pytest.fixture(scope="module")
def inv():
    from polykfunc.oracle.inventory import read_inventory
    return read_inventory()


def _probe(inv, kfunc, context, region="none", subprog="main"):
    from polykfunc.oracle.runner import Position, probe
    k = inv.kfunc(kfunc)
    if k is None:
        pytest.skip(f"this kernel has no {kfunc}")
    return probe(inv, k, Position(context, region, subprog))


def test_inventory_lists_tagged_kfuncs_with_prototypes(inv):
    names = set(inv.names)
    assert {"bpf_rcu_read_lock", "bpf_dynptr_from_skb", "bpf_task_acquire"} <= names
    assert inv.kfunc("bpf_task_acquire").prototype == "struct task_struct *bpf_task_acquire(struct task_struct *p)"
    assert "bpf_fentry_test1" not in names or inv.kfunc("bpf_fentry_test1").params  # a tagged test kfunc


def test_rcu_region_loads_in_a_socket_filter(inv):
    # bpf_rcu_read_lock(); bpf_dynptr_from_skb(...); bpf_rcu_read_unlock(): loads
    assert _probe(inv, "bpf_dynptr_from_skb", "socket_filter", "rcu").outcome == C.ACCEPTED


def test_dentry_xattr_is_not_allowed_in_a_socket_filter(inv):
    o = _probe(inv, "bpf_set_dentry_xattr", "socket_filter")
    assert o.outcome == C.NOT_ALLOWED
    assert o.verdict.line == "calling kernel function bpf_set_dentry_xattr is not allowed"


def test_task_acquire_passes_registration_and_fails_on_its_argument(inv):
    o = _probe(inv, "bpf_task_acquire", "syscall.s")
    assert o.outcome == C.ARGS_REJECTED and "arg0" in o.verdict.line


@pytest.mark.parametrize("context, symbol", [
    ("socket_filter", "bpf_dynptr_from_skb_rdonly"), ("cgroup_skb", "bpf_dynptr_from_skb_rdonly"),
    ("lwt_in", "bpf_dynptr_from_skb_rdonly"), ("tc", "bpf_dynptr_from_skb"), ("act", "bpf_dynptr_from_skb"),
    ("lwt_xmit", "bpf_dynptr_from_skb"), ("sk_skb", "bpf_dynptr_from_skb"),
])
def test_dynptr_from_skb_specialization_is_read_back(inv, context, symbol):
    o = _probe(inv, "bpf_dynptr_from_skb", context)
    assert o.outcome == C.ACCEPTED and o.resolved == symbol


@pytest.mark.parametrize("region", ["rcu", "preempt"])
def test_sleeping_global_subprog_is_refused_inside_a_region(inv, region):
    o = _probe(inv, "bpf_copy_from_user_str", "syscall.s", region, "global")
    assert o.outcome == C.GLOBAL_SLEEPS_IN_REGION


def test_sleeping_global_subprog_loads_outside_regions(inv):
    assert _probe(inv, "bpf_copy_from_user_str", "syscall.s", "none", "global").outcome == C.ACCEPTED


def test_trampoline_programs_are_not_observable(inv):
    assert _probe(inv, "bpf_rcu_read_lock", "lsm.s/file_open").outcome == C.NOT_OBSERVABLE


def test_no_descriptor_leaks_and_pool_agrees(inv):
    from polykfunc.oracle.contexts import context
    from polykfunc.oracle.runner import run
    fds = set(os.listdir("/proc/self/fd"))
    ctxs = (context("tc"), context("syscall.s"), context("kprobe"))
    one = run(inv, ("bpf_dynptr_from_skb", "bpf_copy_from_user_str", "bpf_strlen"), ctxs, jobs=1)
    assert set(os.listdir("/proc/self/fd")) == fds
    two = run(inv, ("bpf_dynptr_from_skb", "bpf_copy_from_user_str", "bpf_strlen"), ctxs, jobs=2)
    assert [(o.kfunc, o.position, o.outcome, o.resolved) for o in one.observations] == \
           [(o.kfunc, o.position, o.outcome, o.resolved) for o in two.observations]
    assert len(one.observations) == 3 * 3 * 13
