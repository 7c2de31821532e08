"""Cells of the bundled models that a kernel review found wrong (issue 13, part 2), pinned.

Each test states the corrected fact, the kernel source it comes from, and asserts the matrix cell
(or model structure) that encodes it, so a later edit that reintroduces the old fact fails here.
"""

from __future__ import annotations

import pytest

from polykfunc.engine.matrix import build_matrix
from polykfunc.model import bundled_manifests, load_model
from polykfunc.model.expr import evaluate

BUNDLED = bundled_manifests()


@pytest.fixture(scope="module")
def models():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = load_model(BUNDLED[name])
        return cache[name]
    return get


def _cell(model, kfunc, context):
    return build_matrix(model, kfuncs=[kfunc]).cell(kfunc, context)


# ------------------------------------------------------------------ newest: sub_caps_updated

def test_newest_task_cgroup_in_sub_caps_updated_is_allowed(models):
    """sub.c caps_updated_deliver runs the child's op with the plain SCX_CALL_OP, which never
    touches current->scx.kf_tasks: a parent task op's subject stays recorded, and
    scx_kf_arg_task_ok() accepts it.  The model used to refuse every call here."""
    cell = _cell(models("sched_ext@newest"), "scx_bpf_task_cgroup", "sub_caps_updated")
    assert "read" in cell.outcomes
    assert cell.allowed is True
    assert cell.status == "proved"


def test_newest_sub_caps_updated_from_the_enable_path_still_has_no_subject(models):
    model = models("sched_ext@newest")
    ctx = next(c for c in model.contexts if c.name == "sub_caps_updated")
    enable = next(c for c in ctx.cases if c.name == "delivered from the enable path")
    assert any(f.text == "not state.has_op_task" for f in _fact_texts(enable))


# ------------------------------------------------------------------ v6.12: no dequeue in dispatch

def test_v612_dequeue_no_longer_nests_in_dispatch(models):
    """ops_dequeue() calls ops.dequeue only for SCX_OPSS_QUEUED tasks; dispatch-time moves reach
    deactivate_task() at SCX_OPSS_NONE.  So scx_bpf_dispatch() from ops.dequeue is refused."""
    model = models("sched_ext@v6.12")
    ctx = next(c for c in model.contexts if c.name == "dequeue")
    assert [c.name for c in ctx.cases] == ["top level"]
    cell = _cell(model, "scx_bpf_dispatch", "dequeue")
    assert cell.outcomes == ("refused at run time",)
    assert cell.allowed is False


def test_v612_core_sched_before_nests_in_dispatch_and_accepts_dispatch(models):
    """move_remote_task_to_local_dsq -> activate_task -> sched_core_enqueue -> prio_less ->
    scx_prio_less runs ops.core_sched_before inside ops.dispatch (kf_mask DISPATCH|REST), where
    scx_bpf_dispatch() passes scx_kf_allowed(ENQUEUE|DISPATCH): the known coverage bug."""
    model = models("sched_ext@v6.12")
    ctx = next(c for c in model.contexts if c.name == "core_sched_before")
    assert any(c.name.startswith("nested in ops.dispatch()") for c in ctx.cases)
    cell = _cell(model, "scx_bpf_dispatch", "core_sched_before")
    assert "buffered" in cell.outcomes
    assert cell.status == "known"
    bug = next(b for b in model.known_bugs if b.id == "dispatch-from-nested-rest-op")
    assert bug.context == "core_sched_before"


# ------------------------------------------------------------------ v6.15: no dequeue in dispatch

def test_v615_dequeue_no_longer_nests_in_dispatch(models):
    """As for v6.12: ops_dequeue() runs ops.dequeue only for SCX_OPSS_QUEUED tasks (the 6.15-cycle
    ops_dequeue in 18853ba782be), and dispatch-time moves reach deactivate_task() at NONE."""
    model = models("sched_ext@v6.15")
    ctx = next(c for c in model.contexts if c.name == "dequeue")
    assert [c.name for c in ctx.cases] == ["top level"]
    cell = _cell(model, "scx_bpf_dsq_insert", "dequeue")
    assert cell.outcomes == ("refused at run time",)
    assert cell.status == "proved"


def test_v615_nested_rest_op_bugs_come_from_core_sched_before(models):
    """The *-from-nested-rest-op bugs rest on ops.core_sched_before run by a dispatch-time remote
    move (activate_task -> sched_core_enqueue -> scx_prio_less), kf_mask DISPATCH|REST."""
    model = models("sched_ext@v6.15")
    ctx = next(c for c in model.contexts if c.name == "core_sched_before")
    assert [c.name.split(" via")[0] for c in ctx.cases] == ["top level (core-sched pick)", "nested in ops.dispatch()"]
    for kfunc, bug in [("scx_bpf_dsq_insert", "dsq-insert-from-nested-rest-op"),
                       ("scx_bpf_dispatch", "dispatch-from-nested-rest-op")]:
        cell = _cell(model, kfunc, "core_sched_before")
        assert "buffered" in cell.outcomes and cell.status == "known"
        assert next(b for b in model.known_bugs if b.id == bug).context == "core_sched_before"


def test_v615_dispatch_record_is_cleared_by_the_nested_core_sched_before(models):
    """18853ba782be's SCX_CALL_OP writes the op's rq (NULL for core_sched_before) on entry and NULL
    on exit, so ops.dispatch runs on with no record after the nested op returns."""
    model = models("sched_ext@v6.15")
    ctx = next(c for c in model.contexts if c.name == "dispatch")
    names = [c.name for c in ctx.cases]
    assert not any("dequeue" in n for n in names)
    assert any(n.startswith("after a nested ops.core_sched_before() returned") for n in names)
    assert _cell(model, "scx_bpf_cpuperf_set", "dispatch").status == "known"
    bug = next(b for b in model.known_bugs if b.id == "dispatch-cpuperf-set-after-nested-op")
    assert "core_sched_before" in bug.title and "dequeue" not in bug.title


# ------------------------------------------------------------------ v7.1, newest: async callbacks

@pytest.mark.parametrize("name", ["sched_ext@v7.1", "sched_ext@newest"])
def test_async_callbacks_are_their_own_context(models, name):
    """The filter sees the program (btf.c: the hook filter gets prog and kfunc id only), so a
    timer callback of an ops.dispatch program is admitted like the op; it runs outside every op.
    No op context may stand in for it."""
    model = models(name)
    ctx = next(c for c in model.contexts if c.name == "async_callback")
    assert any(f.text == "view.subprog == 'async_cb'" for f in ctx.view)
    for c in model.contexts:
        if c.name not in ("async_callback", "tracing", "other_struct_ops"):
            assert any(f.text == "view.subprog != 'async_cb'" for f in c.view), c.name
    cell = _cell(model, "scx_bpf_dsq_move_to_local", "async_callback")
    assert "flush_and_consume" in cell.outcomes and cell.status == "known"
    insert = _cell(model, "scx_bpf_dsq_insert", "async_callback")
    assert "buffered" in insert.outcomes and insert.status == "known"
    bugs = {b.id: b for b in model.known_bugs}
    assert bugs["async-cb-scx-bpf-dsq-move-to-local"].fixed_by is None
    assert bugs["async-cb-scx-bpf-dsq-move-to-local"].source.confirmed is False


# ------------------------------------------------------------------ v7.1: nested ops

def test_v71_dump_bstr_passes_in_dequeue_nested_in_dump(models):
    """ops.dump may call scx_bpf_dsq_move; a move into the global DSQ runs call_task_dequeue()
    -> ops.dequeue on the dumping CPU after ops_dump_init() set scx_dump_data.cpu."""
    cell = _cell(models("sched_ext@v7.1"), "scx_bpf_dump_bstr", "dequeue")
    assert "append" in cell.outcomes
    assert cell.allowed is True
    assert cell.status == "proved"


def test_v71_locked_rq_returns_the_dispatch_rq_in_nested_core_sched_before(models):
    """scx_bpf_dsq_move_to_local -> consume_remote_task -> activate_task(this rq) ->
    ops.core_sched_before with a NULL rq leaves ops.dispatch's (held) record in place."""
    model = models("sched_ext@v7.1")
    cell = _cell(model, "scx_bpf_locked_rq", "core_sched_before")
    assert "return_rq" in cell.outcomes
    # the top-level core_sched_before (unrecorded rq) still refuses: that known bug remains
    assert "refused at run time" in cell.outcomes
    assert "locked-rq-refused-in-core_sched_before" in {b.id for b in model.known_bugs}


def test_v71_core_sched_sibling_finding_no_longer_cites_the_wrong_fixes(models):
    model = models("sched_ext@v7.1")
    for bug_id in ("scx-bpf-dsq-move-core-sched-sibling", "scx-bpf-dsq-move-vtime-core-sched-sibling"):
        bug = next(b for b in model.known_bugs if b.id == bug_id)
        assert not bug.fixed_by
        assert "balance_one" in bug.source.text
        assert bug.source.confirmed is False


# ------------------------------------------------------------------ verifier: disabled LSM hooks

def test_verifier_has_no_program_on_inode_need_killpriv(models):
    """bpf_lsm_verify_prog() rejects programs attached to bpf_lsm_disabled_hooks, which holds
    inode_need_killpriv: no context may admit that hook, and its findings are retracted."""
    model = models("verifier@specialize")
    axiom = next(a for a in model.axioms if a.name == "no-program-on-a-disabled-lsm-hook")
    env = {("view", "lsm_hook", 0): "inode_need_killpriv"}
    assert evaluate(axiom.fact.expr, env) is False
    env = {("view", "lsm_hook", 0): "path_unlink"}
    assert evaluate(axiom.fact.expr, env) is True
    assert "lsm_need_killpriv" not in model.context_names
    ids = {b.id for b in model.known_bugs}
    assert not ids & {"need-killpriv-xattr-self-deadlock-set", "need-killpriv-xattr-self-deadlock-remove"}
    assert {"dentry-xattr-set-lock-state-not-visible", "dentry-xattr-remove-lock-state-not-visible"} <= ids


def _fact_texts(case):
    return case.facts
