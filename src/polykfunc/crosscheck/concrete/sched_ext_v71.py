"""sched_ext in v7.1 (tj/sched_ext for-7.1 head 49d78adf9555), written the way its ext.c and
ext_idle.c write it: the verifier-time ``scx_kfunc_context_filter`` and ``scx_kf_allow_flags``
(d1d3c1c6ae36), no runtime kf_mask (removed by 7cd9a5d7d4b7), and run-time variants picked from
``scx_locked_rq()``, ``direct_dispatch_task``, ``this_rq()->scx.in_select_cpu`` and
``SCX_RQ_IN_BALANCE``.

Read in (paraphrased, never copied): kernel/sched/ext.c at 0022b328504d (step 5 of the for-7.1
series: kfunc sets, bodies, registration); kernel/sched/ext/idle.c at 1be10bb07085
(select_cpu_from_kfunc, the idle and select_cpu sets); the filter's order as the newest tree
has it (kernel/sched/ext/ext.c d023aa69c3b5) without the later cid-form steps.

Not read in the exact 49d78adf9555 tree: the filter's rule for another subsystem's struct_ops.
The series states it preserves every (kfunc, caller) verdict of the runtime checks it replaces
(cover letter, 2026-04-10); at 0022b328504d a non-SCX struct_ops program sees the unlocked set
and passes its runtime checks (its kf_mask is 0), so here it keeps the unlocked set and loses
the rest. The newest tree denies it everything (see sched_ext_newest).
"""

from __future__ import annotations

from typing import Mapping

from .bpf import (
    KF_ACQUIRE, KF_IMPLICIT_ARGS, KF_ITER_DESTROY, KF_ITER_NEW, KF_ITER_NEXT, KF_RCU,
    KF_RCU_PROTECTED, KF_RELEASE, KF_RET_NULL, KF_SLEEPABLE, BpfProg, KfuncRegistry, btf_id_set,
)
from .scx import IS_ERR, ERR_PTR_ESRCH, direct_dispatch_task, run_call, scx_error, subject_tasks, task_arg

MODEL = "sched_ext@v7.1"
EACCES = 13
IA, R = KF_IMPLICIT_ARGS, KF_RCU

# ---------------------------------------------------------------------- scx_kf_allow_flags

SCX_KF_ALLOW_UNLOCKED = 1 << 0
SCX_KF_ALLOW_INIT_CIDS = 1 << 1
SCX_KF_ALLOW_CPU_RELEASE = 1 << 2
SCX_KF_ALLOW_DISPATCH = 1 << 3
SCX_KF_ALLOW_ENQUEUE = 1 << 4
SCX_KF_ALLOW_SELECT_CPU = 1 << 5

#: scx_kf_allow_flags[SCX_OP_IDX(op)]; ops not listed allow only the any and idle sets
scx_kf_allow_flags = {
    "select_cpu": SCX_KF_ALLOW_SELECT_CPU | SCX_KF_ALLOW_ENQUEUE,
    "enqueue": SCX_KF_ALLOW_SELECT_CPU | SCX_KF_ALLOW_ENQUEUE,
    "dispatch": SCX_KF_ALLOW_ENQUEUE | SCX_KF_ALLOW_DISPATCH,
    "cpu_release": SCX_KF_ALLOW_CPU_RELEASE,
    "init_task": SCX_KF_ALLOW_UNLOCKED,
    "dump": SCX_KF_ALLOW_UNLOCKED,
    "cgroup_init": SCX_KF_ALLOW_UNLOCKED,
    "cgroup_exit": SCX_KF_ALLOW_UNLOCKED,
    "cgroup_prep_move": SCX_KF_ALLOW_UNLOCKED,
    "cgroup_cancel_move": SCX_KF_ALLOW_UNLOCKED,
    "cgroup_set_weight": SCX_KF_ALLOW_UNLOCKED,
    "cgroup_set_bandwidth": SCX_KF_ALLOW_UNLOCKED,
    "cgroup_set_idle": SCX_KF_ALLOW_UNLOCKED,
    "sub_attach": SCX_KF_ALLOW_UNLOCKED,
    "sub_detach": SCX_KF_ALLOW_UNLOCKED,
    "cpu_online": SCX_KF_ALLOW_UNLOCKED,
    "cpu_offline": SCX_KF_ALLOW_UNLOCKED,
    "init": SCX_KF_ALLOW_UNLOCKED,
    "exit": SCX_KF_ALLOW_UNLOCKED,
}


def scx_kfunc_context_filter(prog: BpfProg, kfunc: str) -> int:
    """ext.c: scx_kfunc_context_filter() as in v7.1 (0 allows, -EACCES denies)."""
    in_unlocked = scx_kfunc_ids_unlocked.contains(kfunc)
    in_select_cpu = scx_kfunc_ids_select_cpu.contains(kfunc)
    in_enqueue = scx_kfunc_ids_enqueue_dispatch.contains(kfunc)
    in_dispatch = scx_kfunc_ids_dispatch.contains(kfunc)
    in_cpu_release = scx_kfunc_ids_cpu_release.contains(kfunc)

    # not a context-sensitive SCX kfunc (any, idle, other subsystems): allow
    if not (in_unlocked or in_select_cpu or in_enqueue or in_dispatch or in_cpu_release):
        return 0
    # SYSCALL programs (BPF test_run) may call the unlocked and select_cpu kfuncs
    if prog.type == "SYSCALL":
        return 0 if (in_unlocked or in_select_cpu) else -EACCES
    if prog.type != "STRUCT_OPS":
        return -EACCES
    # first verifier pass: st_ops is not set yet; do_check_main() runs the filter again
    if prog.st_ops is None:
        return 0
    # another subsystem's struct_ops: what it could call at run time before the filter
    if prog.st_ops != "bpf_sched_ext_ops":
        return 0 if in_unlocked else -EACCES
    flags = scx_kf_allow_flags.get(prog.member or "", 0)
    if flags & SCX_KF_ALLOW_UNLOCKED and in_unlocked:
        return 0
    if flags & SCX_KF_ALLOW_CPU_RELEASE and in_cpu_release:
        return 0
    if flags & SCX_KF_ALLOW_DISPATCH and in_dispatch:
        return 0
    if flags & SCX_KF_ALLOW_ENQUEUE and in_enqueue:
        return 0
    if flags & SCX_KF_ALLOW_SELECT_CPU and in_select_cpu:
        return 0
    return -EACCES


f = scx_kfunc_context_filter
scx_kfunc_ids_enqueue_dispatch = btf_id_set("scx_kfunc_ids_enqueue_dispatch", {
    "scx_bpf_dsq_insert": (IA, R), "scx_bpf_dsq_insert___v2": (IA, R),
    "__scx_bpf_dsq_insert_vtime": (IA, R), "scx_bpf_dsq_insert_vtime": R}, f)
scx_kfunc_ids_dispatch = btf_id_set("scx_kfunc_ids_dispatch", {
    "scx_bpf_dispatch_nr_slots": IA, "scx_bpf_dispatch_cancel": IA, "scx_bpf_dsq_move_to_local": IA,
    "scx_bpf_dsq_move_to_local___v2": IA, "scx_bpf_dsq_move_set_slice": R,
    "scx_bpf_dsq_move_set_vtime": R, "scx_bpf_dsq_move": R, "scx_bpf_dsq_move_vtime": R,
    "scx_bpf_sub_dispatch": IA}, f)
scx_kfunc_ids_cpu_release = btf_id_set("scx_kfunc_ids_cpu_release", {"scx_bpf_reenqueue_local": IA}, f)
scx_kfunc_ids_unlocked = btf_id_set("scx_kfunc_ids_unlocked", {
    "scx_bpf_create_dsq": (IA, KF_SLEEPABLE), "scx_bpf_dsq_move_set_slice": R,
    "scx_bpf_dsq_move_set_vtime": R, "scx_bpf_dsq_move": R, "scx_bpf_dsq_move_vtime": R,
    "__scx_bpf_select_cpu_and": (IA, R), "scx_bpf_select_cpu_and": R,
    "scx_bpf_select_cpu_dfl": (IA, R)}, f)
scx_kfunc_ids_select_cpu = btf_id_set("scx_kfunc_ids_select_cpu", {
    "__scx_bpf_select_cpu_and": (IA, R), "scx_bpf_select_cpu_and": R, "scx_bpf_select_cpu_dfl": (IA, R)}, f)
scx_kfunc_ids_any = btf_id_set("scx_kfunc_ids_any", {
    "scx_bpf_task_set_slice": (IA, R), "scx_bpf_task_set_dsq_vtime": (IA, R), "scx_bpf_kick_cpu": IA,
    "scx_bpf_dsq_nr_queued": (), "scx_bpf_destroy_dsq": (),
    "scx_bpf_dsq_peek": (IA, KF_RCU_PROTECTED, KF_RET_NULL), "scx_bpf_dsq_reenq": IA,
    "scx_bpf_reenqueue_local___v2": IA, "bpf_iter_scx_dsq_new": (IA, KF_ITER_NEW, KF_RCU_PROTECTED),
    "bpf_iter_scx_dsq_next": (KF_ITER_NEXT, KF_RET_NULL), "bpf_iter_scx_dsq_destroy": KF_ITER_DESTROY,
    "scx_bpf_exit_bstr": IA, "scx_bpf_error_bstr": IA, "scx_bpf_dump_bstr": IA,
    "scx_bpf_cpuperf_cap": IA, "scx_bpf_cpuperf_cur": IA, "scx_bpf_cpuperf_set": IA,
    "scx_bpf_nr_node_ids": (), "scx_bpf_nr_cpu_ids": (), "scx_bpf_get_possible_cpumask": KF_ACQUIRE,
    "scx_bpf_get_online_cpumask": KF_ACQUIRE, "scx_bpf_put_cpumask": KF_RELEASE,
    "scx_bpf_task_running": R, "scx_bpf_task_cpu": R, "scx_bpf_cpu_rq": IA,
    "scx_bpf_locked_rq": (IA, KF_RET_NULL), "scx_bpf_cpu_curr": (IA, KF_RET_NULL, KF_RCU_PROTECTED),
    "scx_bpf_now": (), "scx_bpf_events": (), "scx_bpf_task_cgroup": (IA, R, KF_ACQUIRE)})
scx_kfunc_ids_idle = btf_id_set("scx_kfunc_ids_idle", {
    "scx_bpf_cpu_node": IA, "scx_bpf_get_idle_cpumask_node": (IA, KF_ACQUIRE),
    "scx_bpf_get_idle_cpumask": (IA, KF_ACQUIRE), "scx_bpf_get_idle_smtmask_node": (IA, KF_ACQUIRE),
    "scx_bpf_get_idle_smtmask": (IA, KF_ACQUIRE), "scx_bpf_put_idle_cpumask": KF_RELEASE,
    "scx_bpf_test_and_clear_cpu_idle": IA, "scx_bpf_pick_idle_cpu_node": (IA, R),
    "scx_bpf_pick_idle_cpu": (IA, R), "scx_bpf_pick_any_cpu_node": (IA, R), "scx_bpf_pick_any_cpu": (IA, R)})

REGISTRY = KfuncRegistry()
for _t, _s in (("STRUCT_OPS", scx_kfunc_ids_enqueue_dispatch), ("STRUCT_OPS", scx_kfunc_ids_dispatch),
               ("STRUCT_OPS", scx_kfunc_ids_cpu_release), ("STRUCT_OPS", scx_kfunc_ids_unlocked),
               ("SYSCALL", scx_kfunc_ids_unlocked), ("STRUCT_OPS", scx_kfunc_ids_any),
               ("TRACING", scx_kfunc_ids_any), ("SYSCALL", scx_kfunc_ids_any),
               # scx_idle_init(): the idle set everywhere, select_cpu not for TRACING (9b5501d3c959)
               ("STRUCT_OPS", scx_kfunc_ids_idle), ("TRACING", scx_kfunc_ids_idle),
               ("SYSCALL", scx_kfunc_ids_idle), ("STRUCT_OPS", scx_kfunc_ids_select_cpu),
               ("SYSCALL", scx_kfunc_ids_select_cpu)):
    REGISTRY.register_btf_kfunc_id_set(_t, _s)


# ---------------------------------------------------------------------- run time

class Cpu:
    """This CPU and ``current`` as the kfunc bodies read them."""

    def __init__(self, tracked: Mapping[str, object], arg: Mapping[str, object]):
        locked = int(tracked.get("locked_rq", -1))  # type: ignore[arg-type]
        self.locked_rq = None if locked < 0 else locked      # scx_locked_rq(): cpu_of() the rq
        self.in_select_cpu = bool(tracked.get("in_select_cpu", False))
        self.in_balance = bool(tracked.get("in_balance", False))
        self.in_nmi = bool(tracked.get("in_nmi", False))
        self.kf_tasks = subject_tasks(tracked, arg)
        self.direct_dispatch_task = direct_dispatch_task(tracked, arg)
        self.dump_cpu_is_this = bool(tracked.get("dump_cpu_is_this", False))

    def scx_locked_rq(self):
        return self.locked_rq

    def scx_kf_arg_task_ok(self, p) -> bool:
        if p != self.kf_tasks[0] and p != self.kf_tasks[1]:
            scx_error("called on a task not being operated on")
        return True


def scx_dsq_insert(cpu: Cpu, p, arg) -> str:
    """scx_dsq_insert_preamble() then scx_dsq_insert_commit()."""
    if p is None:
        scx_error("called with NULL task")
    ddsp_task = cpu.direct_dispatch_task
    if ddsp_task is not None:                    # mark_direct_dispatch()
        cpu.direct_dispatch_task = ERR_PTR_ESRCH
        if p != ddsp_task:
            if IS_ERR(ddsp_task):
                scx_error(f"{p.role} already direct-dispatched")
            scx_error(f"scheduling for {ddsp_task.role} but trying to direct-dispatch {p.role}")
        return "direct"
    return "buffered"


def scx_dsq_move(cpu: Cpu, p, arg) -> str:
    """v7.1 still tests this rq's SCX_RQ_IN_BALANCE, not scx_locked_rq()."""
    if cpu.in_balance:
        return "switch_from_this_rq"     # unlock this rq, lock src rq, switch back after
    return "lock_src"                    # raw_spin_rq_lock(src_rq) with irqs saved


def select_cpu_from_kfunc(cpu: Cpu, p, arg) -> str:
    """ext_idle.c: select_cpu_from_kfunc(): p->cpus_ptr needs p's rq lock or its pi_lock."""
    if cpu.in_select_cpu:                      # inside ops.select_cpu(): try_to_wake_up holds pi_lock
        cpu.scx_kf_arg_task_ok(p)
        return "held_pi"
    if cpu.scx_locked_rq() is not None:        # another rq-locked op
        if p.cpu != cpu.scx_locked_rq():       # task_rq(p) != scx_locked_rq()
            scx_error(f"select_cpu kfunc called cross-task on {p.role}")
        return "held_rq"
    return "take_pi"                           # raw_spin_lock_irqsave(&p->pi_lock)


def scx_bpf_cpuperf_set(cpu: Cpu, p, arg) -> str:
    target = int(arg.get("cpu", 0))  # type: ignore[arg-type]
    locked_rq = cpu.scx_locked_rq()
    if locked_rq is not None and target != locked_rq:
        scx_error(f"Invalid target CPU {target}")
    return "locked" if locked_rq is not None else "lock_target"


def scx_bpf_dsq_reenq(cpu: Cpu, p, arg) -> str:
    # schedule_dsq_reenq(sch, dsq, reenq_flags, scx_locked_rq())
    return "locked_path" if cpu.scx_locked_rq() is not None else "irq_work_path"


def scx_bpf_dump_bstr(cpu: Cpu, p, arg) -> str:
    if not cpu.dump_cpu_is_this:
        scx_error("scx_bpf_dump() must only be called from ops.dump() and friends")
    return "append"


def scx_bpf_locked_rq(cpu: Cpu, p, arg) -> str:
    if cpu.scx_locked_rq() is None:
        scx_error("accessing rq without holding rq lock")
    return "return_rq"


def scx_bpf_task_cgroup(cpu: Cpu, p, arg) -> str:
    cpu.scx_kf_arg_task_ok(p)
    return "read"


def plain(impl: str = "body"):
    """A kfunc whose body has no context check and one way through."""
    return lambda cpu, p, arg: impl


BODIES = {
    "scx_bpf_dsq_insert": scx_dsq_insert, "scx_bpf_dsq_insert___v2": scx_dsq_insert,
    "__scx_bpf_dsq_insert_vtime": scx_dsq_insert, "scx_bpf_dsq_insert_vtime": scx_dsq_insert,
    "scx_bpf_dispatch_nr_slots": plain(), "scx_bpf_dispatch_cancel": plain(),
    "scx_bpf_dsq_move_to_local": plain("flush_and_consume"),
    "scx_bpf_dsq_move_to_local___v2": plain("flush_and_consume"),
    "scx_bpf_dsq_move_set_slice": plain(), "scx_bpf_dsq_move_set_vtime": plain(),
    "scx_bpf_sub_dispatch": plain("nested_dispatch"), "scx_bpf_reenqueue_local": plain(),
    "scx_bpf_create_dsq": plain(), "scx_bpf_task_set_dsq_vtime": plain(), "scx_bpf_dsq_peek": plain(),
    "scx_bpf_dsq_reenq": scx_bpf_dsq_reenq, "scx_bpf_reenqueue_local___v2": scx_bpf_dsq_reenq,
    "bpf_iter_scx_dsq_new": plain(), "bpf_iter_scx_dsq_next": plain(), "bpf_iter_scx_dsq_destroy": plain(),
    "scx_bpf_dump_bstr": scx_bpf_dump_bstr, "scx_bpf_nr_node_ids": plain(), "scx_bpf_nr_cpu_ids": plain(),
    "scx_bpf_now": plain(), "scx_bpf_task_running": plain(), "scx_bpf_locked_rq": scx_bpf_locked_rq,
    "scx_bpf_task_cgroup": scx_bpf_task_cgroup, "scx_bpf_dsq_move": scx_dsq_move,
    "scx_bpf_dsq_move_vtime": scx_dsq_move, "scx_bpf_select_cpu_dfl": select_cpu_from_kfunc,
    "__scx_bpf_select_cpu_and": select_cpu_from_kfunc, "scx_bpf_select_cpu_and": select_cpu_from_kfunc,
    "scx_bpf_task_set_slice": plain("direct_write"), "scx_bpf_kick_cpu": plain("bounce"),
    "scx_bpf_dsq_nr_queued": plain(), "scx_bpf_destroy_dsq": plain(), "scx_bpf_exit_bstr": plain(),
    "scx_bpf_error_bstr": plain(), "scx_bpf_cpuperf_cap": plain(), "scx_bpf_cpuperf_cur": plain(),
    "scx_bpf_cpuperf_set": scx_bpf_cpuperf_set, "scx_bpf_get_possible_cpumask": plain(),
    "scx_bpf_get_online_cpumask": plain(), "scx_bpf_put_cpumask": plain(), "scx_bpf_task_cpu": plain(),
    "scx_bpf_cpu_rq": plain(), "scx_bpf_cpu_curr": plain(), "scx_bpf_events": plain(),
    **{k: plain() for k in scx_kfunc_ids_idle.ids},
}

#: kfuncs taking a task_struct *p as a KF_RCU argument (the verifier passes no NULL)
TASK_ARG = frozenset({
    "scx_bpf_dsq_insert", "scx_bpf_dsq_insert___v2", "__scx_bpf_dsq_insert_vtime",
    "scx_bpf_dsq_insert_vtime", "scx_bpf_dsq_move", "scx_bpf_dsq_move_vtime", "scx_bpf_select_cpu_dfl",
    "__scx_bpf_select_cpu_and", "scx_bpf_select_cpu_and", "scx_bpf_task_set_slice",
    "scx_bpf_task_set_dsq_vtime", "scx_bpf_task_running", "scx_bpf_task_cpu", "scx_bpf_task_cgroup"})

KFUNCS = frozenset(BODIES)


def explain(kfunc: str, view: Mapping[str, object], tracked: Mapping[str, object],
            arg: Mapping[str, object]) -> tuple[str, str]:
    """The outcome of a call of ``kfunc`` in v7.1, and the kernel's reason for it."""
    body = BODIES[kfunc]
    return run_call(REGISTRY, kfunc, view, lambda: body(Cpu(tracked, arg), task_arg(arg), arg), kfunc in TASK_ARG, arg)


def resolve(kfunc: str, view: Mapping[str, object], tracked: Mapping[str, object],
            arg: Mapping[str, object]) -> str:
    """What a call of ``kfunc`` gets in v7.1 (see :mod:`polykfunc.crosscheck.concrete`)."""
    return explain(kfunc, view, tracked, arg)[0]
