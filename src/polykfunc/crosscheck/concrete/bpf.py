"""The BPF core's side of a kfunc call, written the way kernel/bpf/ writes it.

What every concrete resolver needs before a subsystem's own code runs: which kfunc sets a
program's hook sees (``register_btf_kfunc_id_set``, ``bpf_prog_type_to_kfunc_hook``), the
filters of that hook (``btf_kfunc_is_allowed``), and the per-call-site checks of
``check_kfunc_call`` (sleepable kfuncs, RCU-protected kfuncs, NULL into trusted arguments).

Sources (paraphrased, never copied): kernel/bpf/btf.c and kernel/bpf/verifier.c of
torvalds/linux b9c5d822f677 (the tree shared/domain/verifier.md describes), and the same
functions in v6.12 (Debian linux-source-6.12, 6.12.118) where they differ: a
:class:`VerifierRules` value says which of the two a resolver follows.

A program is described by :class:`BpfProg`, built from a model's ``view.*`` values by
:func:`prog_from_view`; nothing here reads a model's rule tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

# include/linux/btf.h: KF_* flags (only the ones the verifier checks here matter)
KF_ACQUIRE = "ACQUIRE"
KF_RELEASE = "RELEASE"
KF_RET_NULL = "RET_NULL"
KF_TRUSTED_ARGS = "TRUSTED_ARGS"
KF_SLEEPABLE = "SLEEPABLE"
KF_RCU = "RCU"
KF_RCU_PROTECTED = "RCU_PROTECTED"
KF_ITER_NEW = "ITER_NEW"
KF_ITER_NEXT = "ITER_NEXT"
KF_ITER_DESTROY = "ITER_DESTROY"
KF_IMPLICIT_ARGS = "IMPLICIT_ARGS"

# kernel/bpf/btf.c: enum btf_kfunc_hook
HOOK_COMMON, HOOK_XDP, HOOK_TC, HOOK_STRUCT_OPS, HOOK_TRACING, HOOK_SYSCALL = (
    "COMMON", "XDP", "TC", "STRUCT_OPS", "TRACING", "SYSCALL")
HOOK_CGROUP, HOOK_SCHED_ACT, HOOK_SK_SKB, HOOK_SOCKET_FILTER, HOOK_LWT, HOOK_NETFILTER, HOOK_KPROBE = (
    "CGROUP", "SCHED_ACT", "SK_SKB", "SOCKET_FILTER", "LWT", "NETFILTER", "KPROBE")

# btf.c: bpf_prog_type_to_kfunc_hook, Debian 6.12.118 (read in full). Program types are named as
# the models name them: the generated kernel layers use the uapi names (LWT_IN, CGROUP_SOCK,
# PERF_EVENT, ...), the core vocabulary one LWT for the four lightweight-tunnel types.
_KFUNC_HOOKS = {
    "UNSPEC": HOOK_COMMON, "XDP": HOOK_XDP, "SCHED_CLS": HOOK_TC, "STRUCT_OPS": HOOK_STRUCT_OPS,
    "TRACING": HOOK_TRACING, "TRACEPOINT": HOOK_TRACING, "PERF_EVENT": HOOK_TRACING, "LSM": HOOK_TRACING,
    "SYSCALL": HOOK_SYSCALL,
    **{t: HOOK_CGROUP for t in ("CGROUP_SKB", "CGROUP_SOCK", "CGROUP_DEVICE", "CGROUP_SOCK_ADDR",
                                "CGROUP_SOCKOPT", "CGROUP_SYSCTL")},
    "SCHED_ACT": HOOK_SCHED_ACT, "SK_SKB": HOOK_SK_SKB, "SOCKET_FILTER": HOOK_SOCKET_FILTER,
    **{t: HOOK_LWT for t in ("LWT", "LWT_IN", "LWT_OUT", "LWT_XMIT", "LWT_SEG6LOCAL")},
    "NETFILTER": HOOK_NETFILTER, "KPROBE": HOOK_KPROBE,
}
# what b9c5d822f677 adds (shared/domain/verifier.md, "How program types map to hooks"):
# RAW_TRACEPOINT with TRACING ("bpf: allow calling kfuncs from raw_tp programs", Dec 2025) and
# SOCK_OPS with CGROUP
_KFUNC_HOOKS_B9C5 = {"RAW_TRACEPOINT": HOOK_TRACING, "SOCK_OPS": HOOK_CGROUP}


def bpf_prog_type_to_kfunc_hook(prog_type: str, b9c5_hooks: bool = True) -> str | None:
    """kernel/bpf/btf.c: bpf_prog_type_to_kfunc_hook (Debian 6.12.118; b9c5d822f677 when
    ``b9c5_hooks``). None: no hook (BTF_KFUNC_HOOK_MAX), so only the COMMON hook's kfuncs.

    TRACING, TRACEPOINT, PERF_EVENT and LSM programs share one hook: a set registered for
    BPF_PROG_TYPE_TRACING is seen by LSM and tracepoint programs too. RAW_TRACEPOINT joined
    them after v6.18 (in b9c5d822f677); before, a raw_tp program has no hook.
    """
    if b9c5_hooks and prog_type in _KFUNC_HOOKS_B9C5:
        return _KFUNC_HOOKS_B9C5[prog_type]
    return _KFUNC_HOOKS.get(prog_type)


@dataclass(frozen=True)
class VerifierRules:
    """The call-site rules of one verifier version, where they changed after v6.12.

    ``async_cb_inherits_sleepable``: in_sleepable() is ``prog->sleepable ||
    cur_state->in_sleepable``, so a bpf_timer callback of a sleepable program counts as
    sleepable (v6.10 .. 469d638d1520 "bpf: Fix sleepable context for async callbacks",
    Oct 2025; still so in 6.12.118). Afterwards it is ``cur_state->in_sleepable`` alone,
    false in a bpf_timer callback.

    ``rcu_protected_at_call``: check_kfunc_call() rejects a KF_RCU_PROTECTED kfunc called
    outside in_rcu_cs() ("bpf: Enforce RCU protection for KF_RCU_PROTECTED", Sep 2025).
    Before, only iterators carried the flag: bpf_iter_*_new() marked the iterator
    PTR_UNTRUSTED outside an RCU section, and its _next()/_destroy() then failed ("expected
    an RCU CS"), so the program could not load either (the iterator is a reference that
    must be destroyed).

    ``b9c5_kfunc_hooks``: btf.c maps RAW_TRACEPOINT to the TRACING kfunc hook and SOCK_OPS to
    CGROUP (see :func:`bpf_prog_type_to_kfunc_hook`); in v6.12 neither has a hook.
    """

    name: str
    async_cb_inherits_sleepable: bool
    rcu_protected_at_call: bool
    b9c5_kfunc_hooks: bool = False


#: kernel/bpf/verifier.c as in v6.12 (6.12.118) and v6.15
VERIFIER_6_12 = VerifierRules("v6.12", async_cb_inherits_sleepable=True, rcu_protected_at_call=False)
#: kernel/bpf/verifier.c as in b9c5d822f677 (the 7.x trees the filter-era models read)
VERIFIER_B9C5 = VerifierRules("b9c5d822f677", async_cb_inherits_sleepable=False, rcu_protected_at_call=True,
                              b9c5_kfunc_hooks=True)


@dataclass(frozen=True)
class BpfProg:
    """What the verifier knows about a program and one of its call sites.

    ``type`` is ``resolve_prog_type(prog)``; ``st_ops`` is ``prog->aux->st_ops`` (None in the
    first verifier pass or outside struct_ops); ``member`` names the struct_ops member at
    ``prog->aux->attach_st_ops_member_off``. The call site: the regions the verifier tracks
    (``active_rcu_locks``, ``active_preempt_locks``, ``active_irq_id``, ``active_locks``) and
    where the call sits (``subprog``: main, static, global, sync_cb or async_cb).
    """

    type: str
    sleepable: bool = False
    st_ops: str | None = None
    member: str | None = None
    cid_form: bool = False
    in_rcu: bool = False
    in_preempt_off: bool = False
    in_irq_off: bool = False
    in_spin_lock: bool = False
    subprog: str = "main"
    extra: Mapping[str, object] = field(default_factory=dict)
    rules: VerifierRules = VERIFIER_B9C5

    @property
    def in_sleepable(self) -> bool:
        """verifier.c: in_sleepable(): ``cur_state->in_sleepable``, which starts from
        ``prog->sleepable`` and is false in a bpf_timer callback (push_async_cb); before
        469d638d1520 also true wherever ``prog->sleepable`` is (see :class:`VerifierRules`)."""
        if self.rules.async_cb_inherits_sleepable:
            return self.sleepable
        return self.sleepable and self.subprog != "async_cb"

    def in_sleepable_context(self) -> bool:
        """verifier.c: in_sleepable_context(): sleepable, and no RCU, preempt-off, IRQ-off or
        lock region is active at the call."""
        return (not self.in_rcu and not self.in_preempt_off and not self.in_irq_off
                and not self.in_spin_lock and self.in_sleepable)

    def in_rcu_cs(self) -> bool:
        """verifier.c: in_rcu_cs(): an RCU read-side section is implied at the call: an
        explicit one, a held lock, or a non-sleepable program (which runs under RCU)."""
        return self.in_rcu or self.in_spin_lock or not self.in_sleepable


_ST_OPS = {"none": None, "sched_ext_ops": "bpf_sched_ext_ops",
           "sched_ext_ops_cid": "bpf_sched_ext_ops_cid", "other": "other"}


def prog_from_view(view: Mapping[str, object], rules: VerifierRules = VERIFIER_B9C5) -> BpfProg:
    """The program and call site a model's ``view.*`` values describe, checked by ``rules``."""
    member = view.get("member", "none")
    return BpfProg(
        type=str(view.get("prog_type", "UNSPEC")),
        sleepable=bool(view.get("sleepable", False)),
        st_ops=_ST_OPS.get(str(view.get("st_ops", "none"))),
        member=None if member == "none" else str(member),
        cid_form=bool(view.get("cid_form", False)),
        in_rcu=bool(view.get("in_rcu", False)),
        in_preempt_off=bool(view.get("in_preempt_off", False)),
        in_irq_off=bool(view.get("in_irq_off", False)),
        in_spin_lock=bool(view.get("in_spin_lock", False)),
        subprog=str(view.get("subprog", "main")),
        extra=dict(view),
        rules=rules,
    )


# ---------------------------------------------------------------------- kfunc id sets

Filter = Callable[[BpfProg, str], int]   # 0: allow, nonzero (-EACCES): deny


@dataclass(frozen=True)
class KfuncIdSet:
    """A ``struct btf_kfunc_id_set``: BTF_KFUNCS_START(...) with each kfunc's flags, and an
    optional ``.filter``."""

    name: str
    ids: Mapping[str, frozenset[str]]
    filter: Filter | None = None

    def contains(self, kfunc: str) -> bool:
        """btf_id_set8_contains()"""
        return kfunc in self.ids


def btf_id_set(name: str, entries: Mapping[str, tuple[str, ...] | str], filter: Filter | None = None) -> KfuncIdSet:
    """BTF_KFUNCS_START(name) ... BTF_ID_FLAGS(func, f, FLAGS) ... BTF_KFUNCS_END."""
    ids = {k: frozenset((v,) if isinstance(v, str) and v else v or ()) for k, v in entries.items()}
    return KfuncIdSet(name, ids, filter)


class KfuncRegistry:
    """The per-hook kfunc tables ``register_btf_kfunc_id_set`` builds in vmlinux's BTF."""

    def __init__(self) -> None:
        self.sets: dict[str, list[KfuncIdSet]] = {}
        self.filters: dict[str, list[Filter]] = {}

    def register_btf_kfunc_id_set(self, prog_type: str, kset: KfuncIdSet) -> None:
        """btf.c: register_btf_kfunc_id_set -> btf_populate_kfunc_set: the set joins the
        hook's table; its filter joins the hook's filters unless already there (dedup by
        function pointer)."""
        hook = bpf_prog_type_to_kfunc_hook(prog_type)
        assert hook is not None, prog_type
        self.sets.setdefault(hook, []).append(kset)
        if kset.filter is not None and kset.filter not in self.filters.setdefault(hook, []):
            self.filters[hook].append(kset.filter)

    def kfunc_flags(self, kfunc: str) -> frozenset[str]:
        """btf_kfunc_flags(): the flags of the kfunc (the same in every set it is in)."""
        out: frozenset[str] = frozenset()
        for sets in self.sets.values():
            for s in sets:
                out |= s.ids.get(kfunc, frozenset())
        return out

    def btf_kfunc_is_allowed(self, kfunc: str, prog: BpfProg) -> bool:
        """btf.c: btf_kfunc_is_allowed(): in the COMMON hook with every COMMON filter
        passing, or in the program type's hook with every filter of that hook passing."""
        for hook in (HOOK_COMMON, bpf_prog_type_to_kfunc_hook(prog.type, prog.rules.b9c5_kfunc_hooks)):
            if hook is None:
                continue
            if any(s.contains(kfunc) for s in self.sets.get(hook, ())) and \
                    all(f(prog, kfunc) == 0 for f in self.filters.get(hook, ())):
                return True
        return False


# ---------------------------------------------------------------------- check_kfunc_call

class VerifierReject(Exception):
    """The verifier refuses the program (the call never runs): the message it prints."""


def check_kfunc_call(registry: KfuncRegistry, kfunc: str, prog: BpfProg,
                     null_args: tuple[str, ...] = ()) -> None:
    """verifier.c: the per-call-site checks of check_kfunc_call() that depend on the
    context, in the order the verifier makes them (b9c5d822f677; v6.12 where
    ``prog.rules`` says so).

    ``null_args`` names the pointer arguments the program passes as NULL (or as a pointer
    the verifier knows may be NULL). check_kfunc_args() rejects such an argument of a
    KF_RCU or KF_TRUSTED_ARGS kfunc unless it is ``__nullable`` ("Possibly NULL pointer
    passed to trusted arg%d", v6.12 and b9c5d822f677; since "bpf: Make KF_TRUSTED_ARGS
    default", Jan 2026, every kfunc's pointer arguments are trusted). No sched_ext task
    argument is ``__nullable``. Raises :class:`VerifierReject`.
    """
    if not registry.btf_kfunc_is_allowed(kfunc, prog):
        raise VerifierReject(f"calling kernel function {kfunc} is not allowed")
    flags = registry.kfunc_flags(kfunc)
    if KF_SLEEPABLE in flags and not prog.in_sleepable:
        raise VerifierReject(f"program must be sleepable to call sleepable kfunc {kfunc}")
    if null_args and flags & {KF_RCU, KF_TRUSTED_ARGS}:
        raise VerifierReject(f"{kfunc}: possibly NULL pointer passed to trusted arg ({', '.join(null_args)})")
    if KF_SLEEPABLE in flags and not prog.in_sleepable_context():
        raise VerifierReject(f"kernel func {kfunc} is sleepable within an RCU/preempt/IRQ/lock region")
    if KF_RCU_PROTECTED in flags and not prog.in_rcu_cs():
        if prog.rules.rcu_protected_at_call:
            raise VerifierReject(f"kernel func {kfunc} requires RCU critical section protection")
        if KF_ITER_NEW in flags:
            # process_iter_arg() on the iterator's _next()/_destroy(), which the program must call
            raise VerifierReject(f"expected an RCU CS when using the iterator {kfunc} created")
