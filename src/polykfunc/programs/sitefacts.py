"""What a kfunc call site in one reaching context says, as facts in the models' vocabulary.

The facts come from the program (its type, struct_ops member, sleepability), from where the
call sits (:class:`~polykfunc.programs.callgraph.Reach`: static or global subprogram,
synchronous or asynchronous callback, nesting), from the regions active at the call, from
its argument values and from what the invocation may already have called. They are stated
as text over the shared vocabulary (model/bundled/common/core.toml and
model/bundled/CONVENTIONS.md); :mod:`~polykfunc.programs.modelfacts` keeps those the model
being checked can express.
"""

from __future__ import annotations

from .callgraph import ASYNC_KINDS, SiteContext
from .dataflow import REGIONS
from .modelfacts import Stated
from .provenance import argument_facts

SCHED_EXT_STRUCTS = ("sched_ext_ops", "sched_ext_ops_cid")

#: what an asynchronous callback starts from: no op runs around it, no lock is held, nothing
#: is recorded (kernel/bpf/helpers.c: bpf_timer_cb, bpf_wq_work; the sched_ext per-CPU state is
#: set only around ops, kernel/sched/ext.c: SCX_CALL_OP*). Each fact is used when the model has
#: its variables.
AFRESH = (
    "state.outer == 'none'", "state.depth == 1", "state.locked_rq == -1", "state.op_rq == -1",
    "not state.has_op_task", "not state.has_op_task2", "not state.pi_lock", "not state.dispatch_active",
    "not state.ddsp_path", "not state.in_dump", "not state.op_dispatched", "not state.op_task2_rq_held",
    "state.live_op == 'none'", "not state.inode_locked",
    "tracked.locked_rq == -1", "tracked.kf_mask == []", "tracked.kf_tasks == 'none'", "tracked.ddsp == 'none'",
    "not tracked.in_select_cpu", "not tracked.in_balance", "not tracked.dump_cpu_is_this",
)

#: task parameters of sched_ext_ops members (index in the member's arguments), used when the
#: object's BTF does not describe the struct (include/linux/sched/ext.h: struct sched_ext_ops)
SCHED_EXT_TASK_PARAMS = {
    "select_cpu": (0,), "enqueue": (0,), "dequeue": (0,), "dispatch": (1,), "tick": (0,), "runnable": (0,),
    "running": (0,), "stopping": (0,), "quiescent": (0,), "yield": (0, 1), "core_sched_before": (0, 1),
    "set_weight": (0,), "set_cpumask": (0,), "init_task": (0,), "exit_task": (0,), "enable": (0,),
    "disable": (0,), "dump_task": (1,), "cgroup_move": (0,), "cgroup_cancel_move": (0,),
}

#: the CPU argument of kfuncs whose BTF prototype names no parameter (clang leaves extern
#: prototypes unnamed): kfunc -> parameter index
CPU_PARAMS = {
    "scx_bpf_kick_cpu": 0, "scx_bpf_cpuperf_cap": 0, "scx_bpf_cpuperf_cur": 0, "scx_bpf_cpuperf_set": 0,
    "scx_bpf_cpu_rq": 0, "scx_bpf_cpu_curr": 0, "scx_bpf_cpu_node": 0, "scx_bpf_test_and_clear_cpu_idle": 0,
}

#: the kfuncs the verifier lets a program call while it holds a bpf_spin_lock: the bpf_list /
#: bpf_rbtree graph API, whose lock is their precondition (kernel/bpf/verifier.c: do_check,
#: is_bpf_graph_api_kfunc, 6.12.118; unchanged in 7.1). The models' axiom that no kfunc call
#: sits in a spin-lock region is about every other kfunc, so for these the region is not stated.
GRAPH_API_KFUNCS = frozenset({
    "bpf_list_push_front_impl", "bpf_list_push_back_impl", "bpf_list_pop_front", "bpf_list_pop_back",
    "bpf_rbtree_add_impl", "bpf_rbtree_remove", "bpf_rbtree_first", "bpf_refcount_acquire_impl",
})

_VIEW_REGION = dict(zip(REGIONS, ("view.in_rcu", "view.in_preempt_off", "view.in_irq_off", "view.in_spin_lock")))
_RUN_REGION = dict(zip(REGIONS, ("state.rcu", "state.preempt_off", "state.irqs_off", "state.irqs_off")))
_KIND_WHY = {
    "main": "the call is in the program body", "static": "a static subprogram, verified in its caller's state",
    "global": "a global subprogram, verified from its prototype alone",
    "sync_cb": "a synchronous callback, run inside the helper call",
    "async_cb": "an asynchronous callback, run later on its own",
}


#: the task argument of sched_ext kfuncs, for objects whose BTF declares the extern without a
#: prototype (``void f()``): kfunc -> parameter index (kernel/sched/ext.c prototypes, v6.12 .. newest)
TASK_PARAMS = {
    "scx_bpf_dispatch": 0, "scx_bpf_dispatch_vtime": 0, "scx_bpf_dsq_insert": 0, "scx_bpf_dsq_insert___v2": 0,
    "scx_bpf_dsq_insert_vtime": 0, "__scx_bpf_dsq_insert_vtime": 0, "scx_bpf_dispatch_from_dsq": 1,
    "scx_bpf_dispatch_vtime_from_dsq": 1, "scx_bpf_dsq_move": 1, "scx_bpf_dsq_move_vtime": 1,
    "scx_bpf_task_cgroup": 0, "scx_bpf_task_cpu": 0, "scx_bpf_task_running": 0, "scx_bpf_select_cpu_dfl": 0,
    "scx_bpf_select_cpu_and": 0, "__scx_bpf_select_cpu_and": 0, "scx_bpf_task_set_slice": 0,
    "scx_bpf_task_set_dsq_vtime": 0,
}


def param_roles(kfunc: str, params: tuple[tuple[str, str, str | None], ...]) -> tuple[str | None, ...]:
    """The role of each kfunc parameter: ``"task"``, ``"cpu"`` or None (from BTF, then the tables)."""
    roles: list[str | None] = []
    for name, _ctype, pointee in params:
        roles.append("task" if pointee == "task_struct" else "cpu" if name == "cpu" else None)
    for role, table in (("cpu", CPU_PARAMS), ("task", TASK_PARAMS)):
        if role not in roles and table.get(kfunc) is not None:
            i = table[kfunc]
            roles.extend([None] * (i + 1 - len(roles)))
            roles[i] = roles[i] or role
    return tuple(roles)


def site_facts(sc: SiteContext, prog: dict, roles: tuple[str | None, ...],
               member_tasks: tuple[int, ...], enqueue_kfuncs: frozenset[str], trusted: bool = False) -> list[Stated]:
    """Every fact the site in this reaching context gives (see the module docstring).

    ``prog`` is the entry program's node data, ``roles`` the kfunc's parameter roles,
    ``member_tasks`` the task parameters of the program's struct_ops member, and
    ``enqueue_kfuncs`` the kfuncs whose call spoils a direct dispatch, and ``trusted`` whether the
    verifier passes the kfunc only non-NULL task pointers (KF_RCU, KF_TRUSTED_ARGS, or trusted
    arguments by default from v7.0).
    """
    r = sc.reach
    out: list[Stated] = []
    pt = prog.get("prog_type")
    if pt:
        out.append(Stated(f"view.prog_type == '{pt}'", f"program type of section {prog.get('section') or '?'}"))
    st = prog.get("st_ops")
    sched_ext = st in SCHED_EXT_STRUCTS
    if pt == "STRUCT_OPS":
        st_val = st if sched_ext else "other"
        out.append(Stated(f"view.st_ops == '{st_val}'", f"the struct_ops map is a struct {st or '?'}"))
        if sched_ext and prog.get("member"):
            out.append(Stated(f"view.member == '{prog['member']}'", "the struct_ops member the program fills"))
        elif not sched_ext:
            out.append(Stated("view.member == 'none'", "not a sched_ext_ops member"))
        out.append(Stated("view.cid_form" if st == "sched_ext_ops_cid" else "not view.cid_form", "struct_ops type"))
    elif pt:
        out += [Stated("view.st_ops == 'none'", "not a struct_ops program"),
                Stated("view.member == 'none'", "not a struct_ops program"),
                Stated("not view.cid_form", "not a struct_ops program")]
    if r.async_kind:
        # the verifier checks an async callback with its own in_sleepable: false for bpf_timer
        # callbacks, true for wq and task_work ones (kernel/bpf/verifier.c: push_async_cb)
        sleepable = ASYNC_KINDS[r.async_kind].sleepable
        why = f"the verifier checks {r.async_kind} callbacks as {'sleepable' if sleepable else 'non-sleepable'} code"
    else:
        sleepable = bool(prog.get("sleepable"))
        why = "the section name marks the program sleepable" if sleepable else "the program is not sleepable"
    out.append(Stated("view.sleepable" if sleepable else "not view.sleepable", why))
    out.append(Stated(f"view.subprog == '{r.kind}'", _KIND_WHY[r.kind]))
    for name, depth in zip(REGIONS, sc.view_regions):
        if depth is not None and not (_VIEW_REGION[name] == "view.in_spin_lock" and sc.kfunc in GRAPH_API_KFUNCS):
            out.append(Stated(_VIEW_REGION[name] if depth > 0 else f"not {_VIEW_REGION[name]}",
                              f"the verifier sees {'a' if depth > 0 else 'no'} {name} region at the call"))
    for name, depth in zip(REGIONS, sc.run_regions):
        if depth is not None and depth > 0:
            out.append(Stated(_RUN_REGION[name], f"a {name} region is active at run time"))
            out.append(Stated("not state.may_sleep", f"a {name} region is active at run time"))
    if r.async_kind:
        kind = ASYNC_KINDS[r.async_kind]
        why = f"{r.async_kind} callbacks run afresh, outside any op"
        out += [Stated(f, why) for f in AFRESH]
        if kind.exec:
            out.append(Stated(f"state.exec == '{kind.exec}'", f"{r.async_kind} callbacks run in {kind.exec} context"))
    elif pt == "STRUCT_OPS" and sched_ext:
        out.append(Stated(f"state.outer == '{r.outer}'" if r.outer else "state.outer == 'none'",
                          f"the op runs nested in {r.outer}" if r.outer else "the op runs at top level"))
    out += argument_facts(sc.args, roles, member_tasks, not r.async_kind, trusted)
    if r.async_kind:
        pass
    elif sc.dispatched:
        out.append(Stated("implies(state.ddsp_path, state.op_dispatched)",
                          "an insert kfunc ran earlier on every path of this invocation to the call"))
    elif enqueue_kfuncs and not (sc.seen & enqueue_kfuncs):
        out.append(Stated("not state.op_dispatched", "no insert kfunc can have run earlier in this invocation"))
    return out
