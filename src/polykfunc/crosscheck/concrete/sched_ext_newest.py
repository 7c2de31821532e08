"""sched_ext in the newest torvalds tree the index holds (d023aa69c3b5, a v7.3-rc), written the
way kernel/sched/ext/{ext,idle,cid}.c write it.

What changed since v7.1 (sched_ext_v71), each read in that tree (paraphrased, never copied):

- ``scx_kfunc_context_filter`` is the ``.filter`` of every SCX set, the any and idle sets
  included, so it also runs for TRACING (and LSM) programs; another subsystem's struct_ops is
  denied every SCX kfunc; a cid-form scheduler is denied the cpu-only kfuncs
  (67edfa9eefe6); SYSCALL programs get the idle, any and cid sets too.
- ``scx_dsq_move`` switches from ``scx_locked_rq()`` (not from SCX_RQ_IN_BALANCE): under core
  scheduling the dispatched rq may be a sibling's.
- ``scx_bpf_task_set_slice`` writes the slice directly only under the lock of the rq p is
  queued or running on, else through the out-of-band stash.
- ``scx_kick_cpu`` refuses NMI callers (e06ece82d7b0).
- cid-form kfuncs (cid.c: the cid and init_cids sets) and sub-scheduler kfuncs.
"""

from __future__ import annotations

from typing import Mapping

from . import sched_ext_v71 as v71
from .bpf import (
    KF_IMPLICIT_ARGS, KF_RCU, KF_RCU_PROTECTED, KF_RET_NULL, KF_SLEEPABLE, BpfProg, KfuncRegistry, btf_id_set,
)
from .scx import run_call, scx_error, task_arg
from .sched_ext_v71 import (
    SCX_KF_ALLOW_CPU_RELEASE, SCX_KF_ALLOW_DISPATCH, SCX_KF_ALLOW_ENQUEUE, SCX_KF_ALLOW_INIT_CIDS,
    SCX_KF_ALLOW_SELECT_CPU, SCX_KF_ALLOW_UNLOCKED, Cpu, plain,
)

MODEL = "sched_ext@newest"
EACCES = 13
IA, R = KF_IMPLICIT_ARGS, KF_RCU

scx_kf_allow_flags = {
    **v71.scx_kf_allow_flags,
    "sub_ecaps_updated": SCX_KF_ALLOW_ENQUEUE | SCX_KF_ALLOW_DISPATCH,
    "init_cids": SCX_KF_ALLOW_UNLOCKED | SCX_KF_ALLOW_INIT_CIDS,
}


def scx_kfunc_context_filter(prog: BpfProg, kfunc: str) -> int:
    """ext.c: scx_kfunc_context_filter() (d023aa69c3b5): 0 allows, -EACCES denies."""
    in_unlocked = scx_kfunc_ids_unlocked.contains(kfunc)
    in_init_cids = scx_kfunc_ids_init_cids.contains(kfunc)
    in_select_cpu = scx_kfunc_ids_select_cpu.contains(kfunc)
    in_enqueue = scx_kfunc_ids_enqueue_dispatch.contains(kfunc)
    in_dispatch = scx_kfunc_ids_dispatch.contains(kfunc)
    in_cpu_release = scx_kfunc_ids_cpu_release.contains(kfunc)
    in_idle = scx_kfunc_ids_idle.contains(kfunc)
    in_any = scx_kfunc_ids_any.contains(kfunc)
    in_cpu_only = scx_kfunc_ids_cpu_only.contains(kfunc)
    in_cid = scx_kfunc_ids_cid.contains(kfunc)

    if not (in_unlocked or in_init_cids or in_select_cpu or in_enqueue or in_dispatch
            or in_cpu_release or in_idle or in_any or in_cid):
        return 0
    if prog.type == "SYSCALL":
        return 0 if (in_unlocked or in_select_cpu or in_idle or in_any or in_cid) else -EACCES
    if prog.type != "STRUCT_OPS":
        return 0 if (in_any or in_idle or in_cid) else -EACCES
    if prog.st_ops is None:
        return 0
    if prog.st_ops not in ("bpf_sched_ext_ops", "bpf_sched_ext_ops_cid"):
        return -EACCES
    if prog.st_ops == "bpf_sched_ext_ops_cid" and in_cpu_only:
        return -EACCES
    if in_any or in_idle or in_cid:
        return 0
    flags = scx_kf_allow_flags.get(prog.member or "", 0)
    if flags & SCX_KF_ALLOW_UNLOCKED and in_unlocked:
        return 0
    if flags & SCX_KF_ALLOW_INIT_CIDS and in_init_cids:
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


def _with_filter(s, filt=f, extra=None, drop=()):
    ids = {k: v for k, v in s.ids.items() if k not in drop}
    ids.update(extra or {})
    return btf_id_set(s.name, ids, filt)


scx_kfunc_ids_enqueue_dispatch = _with_filter(v71.scx_kfunc_ids_enqueue_dispatch)
scx_kfunc_ids_dispatch = _with_filter(v71.scx_kfunc_ids_dispatch)
scx_kfunc_ids_cpu_release = _with_filter(v71.scx_kfunc_ids_cpu_release)
scx_kfunc_ids_unlocked = _with_filter(v71.scx_kfunc_ids_unlocked)
scx_kfunc_ids_select_cpu = _with_filter(v71.scx_kfunc_ids_select_cpu)
scx_kfunc_ids_idle = _with_filter(v71.scx_kfunc_ids_idle)
scx_kfunc_ids_any = _with_filter(v71.scx_kfunc_ids_any, drop=("scx_bpf_cpu_rq",), extra={
    "scx_bpf_kick_cid": IA, "scx_bpf_dsq_nr_queued": IA, "scx_bpf_destroy_dsq": IA,
    "scx_bpf_cidperf_cap": IA, "scx_bpf_cidperf_cur": IA, "scx_bpf_cidperf_set": IA,
    "scx_bpf_nr_cids": (), "scx_bpf_nr_online_cids": (), "scx_bpf_this_cid": (),
    "scx_bpf_task_cid": R, "scx_bpf_cid_curr": (IA, KF_RET_NULL, KF_RCU_PROTECTED),
    "scx_bpf_tid_to_task": (KF_RET_NULL, KF_RCU_PROTECTED), "scx_bpf_events": IA,
    "scx_bpf_sub_grant": IA, "scx_bpf_sub_revoke": IA, "scx_bpf_sub_caps": IA, "scx_bpf_sub_kill_bstr": IA})
#: never registered: consulted by the filter to keep cpu-keyed kfuncs from cid-form schedulers
scx_kfunc_ids_cpu_only = btf_id_set("scx_kfunc_ids_cpu_only", {k: () for k in (
    "scx_bpf_kick_cpu", "scx_bpf_task_cpu", "scx_bpf_cpu_curr", "scx_bpf_cpu_node", "scx_bpf_cpuperf_cap",
    "scx_bpf_cpuperf_cur", "scx_bpf_cpuperf_set", "scx_bpf_get_possible_cpumask",
    "scx_bpf_get_online_cpumask", "scx_bpf_put_cpumask", "scx_bpf_select_cpu_dfl",
    "__scx_bpf_select_cpu_and", "scx_bpf_select_cpu_and", "scx_bpf_get_idle_cpumask",
    "scx_bpf_get_idle_cpumask_node", "scx_bpf_get_idle_smtmask", "scx_bpf_get_idle_smtmask_node",
    "scx_bpf_put_idle_cpumask", "scx_bpf_test_and_clear_cpu_idle", "scx_bpf_pick_idle_cpu",
    "scx_bpf_pick_idle_cpu_node", "scx_bpf_pick_any_cpu", "scx_bpf_pick_any_cpu_node")})
# cid.c: scx_kfunc_set_init (the init_cids group) has the filter; scx_kfunc_set_cid has none,
# but it shares every hook with sets that do, so the filter runs for its kfuncs too
scx_kfunc_ids_init_cids = btf_id_set("scx_kfunc_ids_init", {"scx_bpf_cid_override": (IA, KF_SLEEPABLE)}, f)
scx_kfunc_ids_cid = btf_id_set("scx_kfunc_ids_cid", {
    "scx_bpf_cid_to_cpu": IA, "scx_bpf_cpu_to_cid": IA, "scx_bpf_cid_topo": IA})

REGISTRY = KfuncRegistry()
for _t, _s in (("STRUCT_OPS", scx_kfunc_ids_enqueue_dispatch), ("STRUCT_OPS", scx_kfunc_ids_dispatch),
               ("STRUCT_OPS", scx_kfunc_ids_cpu_release), ("STRUCT_OPS", scx_kfunc_ids_unlocked),
               ("SYSCALL", scx_kfunc_ids_unlocked), ("STRUCT_OPS", scx_kfunc_ids_any),
               ("TRACING", scx_kfunc_ids_any), ("SYSCALL", scx_kfunc_ids_any),
               ("STRUCT_OPS", scx_kfunc_ids_idle), ("TRACING", scx_kfunc_ids_idle),
               ("SYSCALL", scx_kfunc_ids_idle), ("STRUCT_OPS", scx_kfunc_ids_select_cpu),
               ("SYSCALL", scx_kfunc_ids_select_cpu), ("STRUCT_OPS", scx_kfunc_ids_init_cids),
               ("STRUCT_OPS", scx_kfunc_ids_cid), ("TRACING", scx_kfunc_ids_cid),
               ("SYSCALL", scx_kfunc_ids_cid)):
    REGISTRY.register_btf_kfunc_id_set(_t, _s)


# ---------------------------------------------------------------------- run time

def scx_dsq_move(cpu: Cpu, p, arg) -> str:
    locked_rq = cpu.scx_locked_rq()      # may be a core-sched sibling's rq
    if locked_rq is not None:
        return "switch_from_locked"      # switch_rq_lock(locked_rq, src_rq), and back after
    return "lock_src"


def scx_bpf_task_set_slice(cpu: Cpu, p, arg) -> str:
    """Direct write only under the lock of the rq p is queued or running on. The model has
    no runnable_cpu apart from task_cpu(p), and a task current on an rq has that rq's CPU, so
    both tests read task_cpu(p) == cpu_of(locked_rq)."""
    locked_rq = cpu.scx_locked_rq()
    if locked_rq is None or p.cpu != locked_rq:
        return "oob"                     # set_task_slice_oob(): atomic stash, applied later
    return "direct"


def scx_kick_cpu(cpu: Cpu, p, arg) -> str:
    if cpu.in_nmi:   # the kick lists are guarded by local_irq_save() only
        scx_error("scx_bpf_kick_cpu() called from NMI")
    return "bounce"


BODIES = {
    **{k: v for k, v in v71.BODIES.items() if k != "scx_bpf_cpu_rq"},
    "scx_bpf_dsq_move": scx_dsq_move, "scx_bpf_dsq_move_vtime": scx_dsq_move,
    "scx_bpf_task_set_slice": scx_bpf_task_set_slice,
    "scx_bpf_kick_cpu": scx_kick_cpu, "scx_bpf_kick_cid": scx_kick_cpu,
    "scx_bpf_cidperf_cap": plain(), "scx_bpf_cidperf_cur": plain(),
    "scx_bpf_cidperf_set": v71.scx_bpf_cpuperf_set,   # scx_cpuperf_set() on the cid's CPU
    "scx_bpf_nr_cids": plain(), "scx_bpf_nr_online_cids": plain(), "scx_bpf_this_cid": plain(),
    "scx_bpf_task_cid": plain(), "scx_bpf_cid_curr": plain(), "scx_bpf_tid_to_task": plain(),
    "scx_bpf_sub_grant": plain(), "scx_bpf_sub_revoke": plain(), "scx_bpf_sub_caps": plain(),
    "scx_bpf_sub_kill_bstr": plain(), "scx_bpf_cid_to_cpu": plain(), "scx_bpf_cpu_to_cid": plain(),
    "scx_bpf_cid_topo": plain(), "scx_bpf_cid_override": plain(),
}

TASK_ARG = v71.TASK_ARG | {"scx_bpf_task_cid"}
KFUNCS = frozenset(BODIES)


def explain(kfunc: str, view: Mapping[str, object], tracked: Mapping[str, object],
            arg: Mapping[str, object]) -> tuple[str, str]:
    """The outcome of a call of ``kfunc`` in the newest tree, and the kernel's reason for it."""
    body = BODIES[kfunc]
    return run_call(REGISTRY, kfunc, view, lambda: body(Cpu(tracked, arg), task_arg(arg), arg), kfunc in TASK_ARG, arg)


def resolve(kfunc: str, view: Mapping[str, object], tracked: Mapping[str, object],
            arg: Mapping[str, object]) -> str:
    """What a call of ``kfunc`` gets in the newest tree (see :mod:`polykfunc.crosscheck.concrete`)."""
    return explain(kfunc, view, tracked, arg)[0]
