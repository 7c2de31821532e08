"""sched_ext as released in v6.12, written the way kernel/sched/ext.c (v6.12) writes it.

Read in kernel/sched/ext.c of GrapheneOS/kernel_common-6.12 24c3c671af12 (6.12.y), with the
one later backport that touches these tables undone (72b85bf6a7f6 added
scx_bpf_dispatch_from_dsq_set_{slice,vtime} to the unlocked set in 6.13: "two of the kfuncs
were only added in the dispatch section"). Paraphrased, never copied.

Load time: every sched_ext set is registered for every STRUCT_OPS program (of any struct_ops
type: BPF could not restrict kfuncs per member yet), the unlocked set also for SYSCALL, the
any set for STRUCT_OPS, TRACING (whose hook LSM programs share) and SYSCALL; no set has a
filter. Run time: each kfunc checks ``current->scx.kf_mask`` with ``scx_kf_allowed()`` and
friends, and picks its variant from ``direct_dispatch_task`` and ``SCX_RQ_IN_BALANCE``.

The verifier's call-site checks are v6.12's (``VERIFIER_6_12``, read in Debian's 6.12.118
kernel/bpf/verifier.c): a bpf_timer callback of a sleepable program counts as sleepable, and
KF_RCU_PROTECTED is enforced through the iterator's _next()/_destroy().
"""

from __future__ import annotations

from typing import Mapping

from .bpf import (
    VERIFIER_6_12, KF_ACQUIRE, KF_ITER_DESTROY, KF_ITER_NEW, KF_ITER_NEXT, KF_RCU, KF_RCU_PROTECTED, KF_RELEASE,
    KF_RET_NULL, KF_SLEEPABLE, KF_TRUSTED_ARGS, KfuncRegistry, btf_id_set,
)
from .scx import IS_ERR, ERR_PTR_ESRCH, direct_dispatch_task, run_call, scx_error, subject_tasks, task_arg

MODEL = "sched_ext@v6.12"

# include/linux/sched/ext.h: enum scx_kf_mask
SCX_KF_UNLOCKED = 0
SCX_KF_CPU_RELEASE = 1 << 0
SCX_KF_DISPATCH = 1 << 1
SCX_KF_ENQUEUE = 1 << 2
SCX_KF_SELECT_CPU = 1 << 3
SCX_KF_REST = 1 << 4
__SCX_KF_RQ_LOCKED = SCX_KF_CPU_RELEASE | SCX_KF_DISPATCH | SCX_KF_ENQUEUE | SCX_KF_SELECT_CPU | SCX_KF_REST
_KF_BITS = {"CPU_RELEASE": SCX_KF_CPU_RELEASE, "DISPATCH": SCX_KF_DISPATCH, "ENQUEUE": SCX_KF_ENQUEUE,
            "SELECT_CPU": SCX_KF_SELECT_CPU, "REST": SCX_KF_REST}

# kernel/sched/ext.c: scx_rq_flags
SCX_RQ_IN_BALANCE = 1 << 4


def fls(x: int) -> int:
    return x.bit_length()


def higher_bits(flags: int) -> int:
    """if the highest set bit is N, a mask with bits [N+1, 31] set"""
    return ~((1 << fls(flags)) - 1) & 0xFFFFFFFF


def highest_bit(flags: int) -> int:
    return (1 << fls(flags)) >> 1


# ---------------------------------------------------------------------- the kfunc sets (scx_init)

scx_kfunc_ids_select_cpu = btf_id_set("scx_kfunc_ids_select_cpu", {"scx_bpf_select_cpu_dfl": KF_RCU})
scx_kfunc_ids_enqueue_dispatch = btf_id_set("scx_kfunc_ids_enqueue_dispatch", {
    "scx_bpf_dispatch": KF_RCU, "scx_bpf_dispatch_vtime": KF_RCU})
scx_kfunc_ids_dispatch = btf_id_set("scx_kfunc_ids_dispatch", {
    "scx_bpf_dispatch_nr_slots": (), "scx_bpf_dispatch_cancel": (), "scx_bpf_consume": (),
    "scx_bpf_dispatch_from_dsq_set_slice": KF_RCU, "scx_bpf_dispatch_from_dsq_set_vtime": KF_RCU,
    "scx_bpf_dispatch_from_dsq": KF_RCU, "scx_bpf_dispatch_vtime_from_dsq": KF_RCU})
scx_kfunc_ids_cpu_release = btf_id_set("scx_kfunc_ids_cpu_release", {"scx_bpf_reenqueue_local": ()})
scx_kfunc_ids_unlocked = btf_id_set("scx_kfunc_ids_unlocked", {
    "scx_bpf_create_dsq": KF_SLEEPABLE,
    "scx_bpf_dispatch_from_dsq": KF_RCU, "scx_bpf_dispatch_vtime_from_dsq": KF_RCU})
scx_kfunc_ids_any = btf_id_set("scx_kfunc_ids_any", {
    "scx_bpf_kick_cpu": (), "scx_bpf_dsq_nr_queued": (), "scx_bpf_destroy_dsq": (),
    "bpf_iter_scx_dsq_new": (KF_ITER_NEW, KF_RCU_PROTECTED), "bpf_iter_scx_dsq_next": (KF_ITER_NEXT, KF_RET_NULL),
    "bpf_iter_scx_dsq_destroy": KF_ITER_DESTROY, "scx_bpf_exit_bstr": KF_TRUSTED_ARGS,
    "scx_bpf_error_bstr": KF_TRUSTED_ARGS, "scx_bpf_dump_bstr": KF_TRUSTED_ARGS,
    "scx_bpf_cpuperf_cap": (), "scx_bpf_cpuperf_cur": (), "scx_bpf_cpuperf_set": (),
    "scx_bpf_nr_cpu_ids": (), "scx_bpf_get_possible_cpumask": KF_ACQUIRE,
    "scx_bpf_get_online_cpumask": KF_ACQUIRE, "scx_bpf_put_cpumask": KF_RELEASE,
    "scx_bpf_get_idle_cpumask": KF_ACQUIRE, "scx_bpf_get_idle_smtmask": KF_ACQUIRE,
    "scx_bpf_put_idle_cpumask": KF_RELEASE, "scx_bpf_test_and_clear_cpu_idle": (),
    "scx_bpf_pick_idle_cpu": KF_RCU, "scx_bpf_pick_any_cpu": KF_RCU, "scx_bpf_task_running": KF_RCU,
    "scx_bpf_task_cpu": KF_RCU, "scx_bpf_cpu_rq": (), "scx_bpf_task_cgroup": (KF_RCU, KF_ACQUIRE)})

REGISTRY = KfuncRegistry()
for _prog_type, _set in (
        ("STRUCT_OPS", scx_kfunc_ids_select_cpu), ("STRUCT_OPS", scx_kfunc_ids_enqueue_dispatch),
        ("STRUCT_OPS", scx_kfunc_ids_dispatch), ("STRUCT_OPS", scx_kfunc_ids_cpu_release),
        ("STRUCT_OPS", scx_kfunc_ids_unlocked), ("SYSCALL", scx_kfunc_ids_unlocked),
        ("STRUCT_OPS", scx_kfunc_ids_any), ("TRACING", scx_kfunc_ids_any), ("SYSCALL", scx_kfunc_ids_any)):
    REGISTRY.register_btf_kfunc_id_set(_prog_type, _set)


# ---------------------------------------------------------------------- run time

class Current:
    """``current`` and this CPU, as the kfunc bodies read them."""

    def __init__(self, tracked: Mapping[str, object], arg: Mapping[str, object]):
        self.kf_mask = sum(_KF_BITS[b] for b in tracked.get("kf_mask", frozenset()))  # type: ignore[union-attr]
        self.kf_tasks = subject_tasks(tracked, arg)
        self.direct_dispatch_task = direct_dispatch_task(tracked, arg)
        self.rq_flags = SCX_RQ_IN_BALANCE if tracked.get("in_balance", False) else 0
        self.dump_cpu_is_this = bool(tracked.get("dump_cpu_is_this", False))

    # kernel/sched/ext.c (v6.12): scx_kf_allowed()
    def scx_kf_allowed(self, mask: int) -> bool:
        if not (self.kf_mask & mask):
            scx_error(f"kfunc with mask 0x{mask:x} called from an operation only allowing 0x{self.kf_mask:x}")
        # nesting boundaries: a kfunc whose highest allowed bit is CPU_RELEASE or DISPATCH must
        # not run inside an operation nested deeper (dequeue inside dispatch, ...)
        if highest_bit(mask) == SCX_KF_CPU_RELEASE and self.kf_mask & higher_bits(SCX_KF_CPU_RELEASE):
            scx_error("cpu_release kfunc called from a nested operation")
        if highest_bit(mask) == SCX_KF_DISPATCH and self.kf_mask & higher_bits(SCX_KF_DISPATCH):
            scx_error("dispatch kfunc called from a nested operation")
        return True

    def scx_kf_allowed_on_arg_tasks(self, mask: int, p) -> bool:
        self.scx_kf_allowed(mask)
        if p != self.kf_tasks[0] and p != self.kf_tasks[1]:
            scx_error("called on a task not being operated on")
        return True

    def scx_kf_allowed_if_unlocked(self) -> bool:
        return not self.kf_mask


def scx_bpf_select_cpu_dfl(cur: Current, p, arg) -> str:
    cur.scx_kf_allowed(SCX_KF_SELECT_CPU)
    # the built-in idle tracking is assumed enabled (ops.update_idle() not implemented)
    return "idle_pick"          # scx_select_cpu_dfl(): walks p->cpus_ptr, takes no lock


def scx_dispatch_preamble(cur: Current, p) -> None:
    cur.scx_kf_allowed(SCX_KF_ENQUEUE | SCX_KF_DISPATCH)
    if p is None:
        scx_error("called with NULL task")


def scx_dispatch_commit(cur: Current, p) -> str:
    ddsp_task = cur.direct_dispatch_task
    if ddsp_task is not None:
        return mark_direct_dispatch(cur, ddsp_task, p)
    return "buffered"           # appended to this CPU's scx_dsp_ctx buffer


def mark_direct_dispatch(cur: Current, ddsp_task, p) -> str:
    cur.direct_dispatch_task = ERR_PTR_ESRCH      # spoiled: a second insert will fail
    if p != ddsp_task:
        if IS_ERR(ddsp_task):
            scx_error(f"{p.role} already direct-dispatched")
        scx_error(f"scheduling for {ddsp_task.role} but trying to direct-dispatch {p.role}")
    return "direct"             # p->scx.ddsp_dsq_id/ddsp_enq_flags, applied after the op


def scx_bpf_dispatch(cur: Current, p, arg) -> str:
    scx_dispatch_preamble(cur, p)
    return scx_dispatch_commit(cur, p)


def _dispatch_only(impl: str):
    def body(cur: Current, p, arg) -> str:
        cur.scx_kf_allowed(SCX_KF_DISPATCH)
        return impl
    return body


def scx_dispatch_from_dsq(cur: Current, p, arg) -> str:
    if not cur.scx_kf_allowed_if_unlocked():
        cur.scx_kf_allowed(SCX_KF_DISPATCH)
    in_balance = cur.rq_flags & SCX_RQ_IN_BALANCE
    if in_balance:
        return "switch_from_this_rq"   # unlock this rq, lock src rq, switch back after
    return "lock_src_rq"               # local_irq_save + raw_spin_rq_lock(src_rq)


def scx_bpf_reenqueue_local(cur: Current, p, arg) -> str:
    cur.scx_kf_allowed(SCX_KF_CPU_RELEASE)
    return "reenqueue"


def scx_bpf_dump_bstr(cur: Current, p, arg) -> str:
    if not cur.dump_cpu_is_this:       # raw_smp_processor_id() != scx_dump_data.cpu
        scx_error("scx_bpf_dump() must only be called from ops.dump() and friends")
    return "append"


def scx_bpf_task_cgroup(cur: Current, p, arg) -> str:
    cur.scx_kf_allowed_on_arg_tasks(__SCX_KF_RQ_LOCKED, p)
    return "read_task_group"


def _plain(impl: str):
    """A kfunc whose body has no context check and one way through."""
    return lambda cur, p, arg: impl


BODIES = {
    "scx_bpf_select_cpu_dfl": scx_bpf_select_cpu_dfl,
    "scx_bpf_dispatch": scx_bpf_dispatch,
    "scx_bpf_dispatch_vtime": scx_bpf_dispatch,
    "scx_bpf_dispatch_nr_slots": _dispatch_only("read_cursor"),
    "scx_bpf_dispatch_cancel": _dispatch_only("pop_buffer"),
    "scx_bpf_consume": _dispatch_only("flush_and_consume"),
    "scx_bpf_dispatch_from_dsq": scx_dispatch_from_dsq,
    "scx_bpf_dispatch_vtime_from_dsq": scx_dispatch_from_dsq,
    "scx_bpf_dispatch_from_dsq_set_slice": _plain("set_iter_field"),
    "scx_bpf_dispatch_from_dsq_set_vtime": _plain("set_iter_field"),
    "scx_bpf_reenqueue_local": scx_bpf_reenqueue_local,
    "scx_bpf_create_dsq": _plain("alloc"),
    "scx_bpf_kick_cpu": _plain("kick"),
    "scx_bpf_dsq_nr_queued": _plain("read"),
    "scx_bpf_destroy_dsq": _plain("destroy"),
    "bpf_iter_scx_dsq_new": _plain("init"),
    "bpf_iter_scx_dsq_next": _plain("next"),
    "bpf_iter_scx_dsq_destroy": _plain("destroy"),
    "scx_bpf_exit_bstr": _plain("format_and_exit"),
    "scx_bpf_error_bstr": _plain("format_and_error"),
    "scx_bpf_dump_bstr": scx_bpf_dump_bstr,
    "scx_bpf_cpuperf_cap": _plain("read"),
    "scx_bpf_cpuperf_cur": _plain("read"),
    "scx_bpf_cpuperf_set": _plain("unlocked_update"),   # no rq lock taken (fixed by a11d6784d731)
    "scx_bpf_nr_cpu_ids": _plain("read"),
    "scx_bpf_get_possible_cpumask": _plain("read"),
    "scx_bpf_get_online_cpumask": _plain("read"),
    "scx_bpf_put_cpumask": _plain("noop"),
    "scx_bpf_get_idle_cpumask": _plain("read"),
    "scx_bpf_get_idle_smtmask": _plain("read"),
    "scx_bpf_put_idle_cpumask": _plain("noop"),
    "scx_bpf_test_and_clear_cpu_idle": _plain("atomic_clear"),
    "scx_bpf_pick_idle_cpu": _plain("pick"),
    "scx_bpf_pick_any_cpu": _plain("pick"),
    "scx_bpf_task_running": _plain("read"),
    "scx_bpf_task_cpu": _plain("read"),
    "scx_bpf_cpu_rq": _plain("read"),
    "scx_bpf_task_cgroup": scx_bpf_task_cgroup,
}

#: kfuncs whose C signature takes a task_struct *p (KF_RCU: the verifier passes no NULL)
TASK_ARG = frozenset({"scx_bpf_select_cpu_dfl", "scx_bpf_dispatch", "scx_bpf_dispatch_vtime",
                      "scx_bpf_dispatch_from_dsq", "scx_bpf_dispatch_vtime_from_dsq",
                      "scx_bpf_task_running", "scx_bpf_task_cpu", "scx_bpf_task_cgroup"})

KFUNCS = frozenset(BODIES)


def explain(kfunc: str, view: Mapping[str, object], tracked: Mapping[str, object],
            arg: Mapping[str, object]) -> tuple[str, str]:
    """The outcome of a call of ``kfunc`` in v6.12, and the kernel's reason for it."""
    body = BODIES[kfunc]
    return run_call(REGISTRY, kfunc, view, lambda: body(Current(tracked, arg), task_arg(arg), arg), kfunc in TASK_ARG, arg,
                    VERIFIER_6_12)


def resolve(kfunc: str, view: Mapping[str, object], tracked: Mapping[str, object],
            arg: Mapping[str, object]) -> str:
    """What a call of ``kfunc`` gets in v6.12 (see :mod:`polykfunc.crosscheck.concrete`)."""
    return explain(kfunc, view, tracked, arg)[0]
