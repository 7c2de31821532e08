"""The verifier's own load-time specializations, written the way kernel/bpf/verifier.c
writes ``specialize_kfunc()`` (torvalds/linux b9c5d822f677; paraphrased, never copied).

``bpf_fixup_kfunc_call()`` runs ``specialize_kfunc(env, desc, insn_idx)`` for every kfunc call
instruction, in instruction order, on the program's one ``bpf_kfunc_desc`` per kfunc:

    addr = desc->addr
    if the kfunc is a dev-bound XDP metadata kfunc: addr = the bound netdev's callback, if any
    elif bpf_dynptr_from_skb: if the program may not write packet data: addr = the rdonly twin
    elif bpf_{set,remove}_dentry_xattr: if the LSM hook holds the inode lock: addr = *_locked
    elif bpf_dynptr_from_file: if this call site is not non_sleepable: addr = *_sleepable
    elif bpf_arena_{alloc,free}_pages: if this call site is non_sleepable: addr = *_non_sleepable
    desc->addr = addr

Each branch only ever *sets* the variant; nothing resets ``addr`` to the generic kfunc, so a
call site inherits what an earlier call site of the same kfunc left in ``desc->addr``
(``view.desc_specialized``). Registration (net/core/xdp.c, net/core/filter.c,
fs/bpf_fs_kfuncs.c, kernel/bpf/helpers.c, kernel/bpf/arena.c) and the dev-bound check of
add_kfunc_call() decide which calls load at all.
"""

from __future__ import annotations

from typing import Mapping

from . import REJECTED
from .bpf import (
    KF_SLEEPABLE, KF_TRUSTED_ARGS, BpfProg, KfuncRegistry, VerifierReject, btf_id_set,
    check_kfunc_call, prog_from_view,
)

MODEL = "verifier@specialize"
EACCES = 13

XDP_METADATA = ("bpf_xdp_metadata_rx_timestamp", "bpf_xdp_metadata_rx_hash", "bpf_xdp_metadata_rx_vlan_tag")

xdp_metadata_kfunc_ids = btf_id_set("xdp_metadata_kfunc_ids", {k: () for k in XDP_METADATA})
bpf_kfunc_check_set_skb = btf_id_set("bpf_kfunc_check_set_skb", {"bpf_dynptr_from_skb": ()})


def bpf_fs_kfuncs_filter(prog: BpfProg, kfunc: str) -> int:
    """fs/bpf_fs_kfuncs.c: the fs kfuncs are for LSM programs only (the set sits in the
    TRACING hook, which LSM programs share with tracing programs)."""
    if not bpf_fs_kfunc_set_ids.contains(kfunc) or prog.type == "LSM":
        return 0
    return -EACCES


bpf_fs_kfunc_set_ids = btf_id_set("bpf_fs_kfunc_set_ids", {
    "bpf_set_dentry_xattr": (KF_SLEEPABLE, KF_TRUSTED_ARGS),
    "bpf_remove_dentry_xattr": (KF_SLEEPABLE, KF_TRUSTED_ARGS)}, bpf_fs_kfuncs_filter)
common_btf_ids = btf_id_set("common_btf_ids", {"bpf_dynptr_from_file": ()})
arena_kfuncs = btf_id_set("arena_kfuncs", {"bpf_arena_alloc_pages": (), "bpf_arena_free_pages": ()})

REGISTRY = KfuncRegistry()
REGISTRY.register_btf_kfunc_id_set("XDP", xdp_metadata_kfunc_ids)
for _t in ("SCHED_CLS", "SCHED_ACT", "SK_SKB", "SOCKET_FILTER", "CGROUP_SKB", "LWT", "TRACING"):
    REGISTRY.register_btf_kfunc_id_set(_t, bpf_kfunc_check_set_skb)   # bpf_kfunc_init() (NETFILTER: not modelled)
REGISTRY.register_btf_kfunc_id_set("LSM", bpf_fs_kfunc_set_ids)
REGISTRY.register_btf_kfunc_id_set("UNSPEC", common_btf_ids)
REGISTRY.register_btf_kfunc_id_set("UNSPEC", arena_kfuncs)

# kernel/bpf/bpf_lsm.c: d_inode_locked_hooks (path_* with CONFIG_SECURITY_PATH)
D_INODE_LOCKED_HOOKS = frozenset({
    "inode_post_removexattr", "inode_post_setattr", "inode_post_setxattr", "inode_removexattr",
    "inode_rmdir", "inode_setattr", "inode_setxattr", "inode_unlink", "path_unlink", "path_rmdir"})

#: (generic, specialized) implementation of each kfunc specialize_kfunc() knows
VARIANTS = {
    **{k: ("generic", "driver") for k in XDP_METADATA},
    "bpf_dynptr_from_skb": ("writable", "rdonly"),
    "bpf_set_dentry_xattr": ("plain", "locked"),
    "bpf_remove_dentry_xattr": ("plain", "locked"),
    "bpf_dynptr_from_file": ("generic", "sleepable"),
    "bpf_arena_alloc_pages": ("sleepable", "non_sleepable"),
    "bpf_arena_free_pages": ("sleepable", "non_sleepable"),
}
KFUNCS = frozenset(VARIANTS)


def bpf_prog_is_dev_bound(prog: BpfProg) -> bool:
    return prog.type == "XDP" and prog.extra.get("bound_netdev", "none") != "none"


def bpf_dev_bound_resolve_kfunc(prog: BpfProg, kfunc: str) -> str | None:
    """kernel/bpf/offload.c: the bound netdev's xdp_metadata_ops callback, or NULL."""
    return "driver" if prog.extra.get("bound_netdev") == "has_impl" else None


def may_access_direct_pkt_data_write(prog: BpfProg) -> bool:
    """verifier.c: may_access_direct_pkt_data(env, NULL, BPF_WRITE), per program type (an LWT
    program may write only when attached as LWT_XMIT: its attach type is in the view).
    SK_SKB is in the read + write list (b9c5d822f677 and Debian 6.12.118)."""
    if prog.type in ("SCHED_CLS", "SCHED_ACT", "XDP", "SK_SKB"):
        return True
    if prog.type == "LWT":
        return bool(prog.extra.get("pkt_write", False))
    return False


def bpf_lsm_has_d_inode_locked(prog: BpfProg) -> bool:
    return prog.type == "LSM" and prog.extra.get("lsm_hook") in D_INODE_LOCKED_HOOKS


def specialize_kfunc(kfunc: str, prog: BpfProg, desc_addr: str, non_sleepable: bool) -> str:
    """The variant this call site gets, starting from what ``desc->addr`` holds."""
    generic, variant = VARIANTS[kfunc]
    addr = desc_addr
    if kfunc in XDP_METADATA:
        xdp_kfunc = bpf_dev_bound_resolve_kfunc(prog, kfunc)
        if xdp_kfunc:
            addr = xdp_kfunc
        # fallback to the default kfunc when the netdev does not provide it
    elif kfunc == "bpf_dynptr_from_skb":
        if not may_access_direct_pkt_data_write(prog):
            addr = variant
    elif kfunc in ("bpf_set_dentry_xattr", "bpf_remove_dentry_xattr"):
        if bpf_lsm_has_d_inode_locked(prog):
            addr = variant
    elif kfunc == "bpf_dynptr_from_file":
        if not non_sleepable:
            addr = variant
    elif kfunc in ("bpf_arena_alloc_pages", "bpf_arena_free_pages"):
        if non_sleepable:
            addr = variant
    return addr


def _desc_addr(kfunc: str, prog: BpfProg, earlier_specialized: bool) -> str:
    """What ``desc->addr`` holds when this call site is fixed up: the generic kfunc, or the
    variant an earlier call site of the same kfunc in this program left there. The
    program-wide conditions (netdev, packet writes, LSM hook) are the same for every call
    site, so an earlier site chose what this one chooses; only the per-site
    ``non_sleepable`` kfuncs can inherit a variant this site would not pick."""
    generic, variant = VARIANTS[kfunc]
    if not earlier_specialized:
        return generic
    if kfunc in ("bpf_dynptr_from_file", "bpf_arena_alloc_pages", "bpf_arena_free_pages"):
        return variant
    return specialize_kfunc(kfunc, prog, generic, False)


def explain(kfunc: str, view: Mapping[str, object], tracked: Mapping[str, object],
            arg: Mapping[str, object]) -> tuple[str, str]:
    """The variant a call site of ``kfunc`` gets, and why."""
    prog = prog_from_view(view)
    try:
        if kfunc in XDP_METADATA and not bpf_prog_is_dev_bound(prog):
            raise VerifierReject("metadata kfuncs require device-bound program")   # add_kfunc_call
        check_kfunc_call(REGISTRY, kfunc, prog)
    except VerifierReject as e:
        return REJECTED, f"verifier: {e}"
    non_sleepable = bool(view.get("non_sleepable", False))   # insn_aux_data[insn_idx].non_sleepable
    addr = specialize_kfunc(kfunc, prog, _desc_addr(kfunc, prog, bool(view.get("desc_specialized", False))),
                            non_sleepable)
    return addr, "specialize_kfunc"


def resolve(kfunc: str, view: Mapping[str, object], tracked: Mapping[str, object],
            arg: Mapping[str, object]) -> str:
    """The variant a call site of ``kfunc`` gets (see :mod:`polykfunc.crosscheck.concrete`)."""
    return explain(kfunc, view, tracked, arg)[0]
