"""The program contexts the oracle probes: program type, expected attach type, sleepable.

Each row also says how the bundled models name it (``model_view``: values of the models'
``view.*`` variables, in the vocabulary of model/bundled/common/core.toml), or that the models
have no name for it (``model_view`` None: the comparison reports such cells as "not modelled").

Values: enum bpf_prog_type and enum bpf_attach_type of include/uapi/linux/bpf.h.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# enum bpf_prog_type
SOCKET_FILTER, KPROBE, SCHED_CLS, SCHED_ACT, TRACEPOINT, XDP = 1, 2, 3, 4, 5, 6
CGROUP_SKB, LWT_IN, LWT_OUT, LWT_XMIT, SK_SKB = 8, 10, 11, 12, 14
RAW_TRACEPOINT, LWT_SEG6LOCAL, TRACING, STRUCT_OPS, LSM, SYSCALL = 17, 19, 26, 27, 29, 31
# enum bpf_attach_type
CGROUP_INET_INGRESS, SK_SKB_STREAM_VERDICT = 0, 5
TRACE_RAW_TP, TRACE_FENTRY, LSM_MAC, TRACE_ITER = 23, 24, 27, 28

SKB = ("__sk_buff",)


@dataclass(frozen=True)
class ProgContext:
    """One way to load a probe: what ``BPF_PROG_LOAD`` is told about the program."""

    name: str
    prog_type: int
    attach_type: int = 0
    sleepable: bool = False
    attach_to: str = ""                       # BTF name of the attach target (attach_btf_id)
    ctx_structs: tuple[str, ...] = ()         # structs that stand for the program context
    model_view: dict[str, object] | None = field(default=None, compare=False)
    doc: str = ""


def _v(prog_type: str, sleepable: bool = False, **extra) -> dict[str, object]:
    out: dict[str, object] = {"prog_type": prog_type, "sleepable": sleepable,
                              "lsm_hook": "none", "bound_netdev": "none"}
    out.update(extra)
    return out


CONTEXTS: tuple[ProgContext, ...] = (
    ProgContext("socket_filter", SOCKET_FILTER, ctx_structs=SKB, model_view=_v("SOCKET_FILTER")),
    ProgContext("tc", SCHED_CLS, ctx_structs=SKB, model_view=_v("SCHED_CLS")),
    ProgContext("act", SCHED_ACT, ctx_structs=SKB, model_view=_v("SCHED_ACT")),
    ProgContext("cgroup_skb", CGROUP_SKB, CGROUP_INET_INGRESS, ctx_structs=SKB, model_view=_v("CGROUP_SKB")),
    ProgContext("lwt_in", LWT_IN, ctx_structs=SKB, model_view=_v("LWT", lwt_type="LWT_IN")),
    ProgContext("lwt_out", LWT_OUT, ctx_structs=SKB, model_view=_v("LWT", lwt_type="LWT_OUT")),
    ProgContext("lwt_xmit", LWT_XMIT, ctx_structs=SKB, model_view=_v("LWT", lwt_type="LWT_XMIT")),
    ProgContext("lwt_seg6local", LWT_SEG6LOCAL, ctx_structs=SKB, model_view=_v("LWT", lwt_type="LWT_SEG6LOCAL")),
    ProgContext("sk_skb", SK_SKB, SK_SKB_STREAM_VERDICT, ctx_structs=SKB, model_view=_v("SK_SKB")),
    ProgContext("xdp", XDP, ctx_structs=("xdp_md",), model_view=_v("XDP")),
    ProgContext("kprobe", KPROBE, ctx_structs=("pt_regs",), model_view=_v("KPROBE")),
    ProgContext("tracepoint", TRACEPOINT, model_view=_v("TRACEPOINT")),
    ProgContext("raw_tp", RAW_TRACEPOINT, model_view=_v("RAW_TRACEPOINT")),
    ProgContext("tp_btf", TRACING, TRACE_RAW_TP, attach_to="btf_trace_sched_switch", model_view=_v("TRACING")),
    ProgContext("iter", TRACING, TRACE_ITER, attach_to="bpf_iter_task", model_view=_v("TRACING")),
    ProgContext("iter.s", TRACING, TRACE_ITER, True, attach_to="bpf_iter_task", model_view=_v("TRACING", True)),
    ProgContext("syscall", SYSCALL, model_view=_v("SYSCALL")),
    ProgContext("syscall.s", SYSCALL, sleepable=True, model_view=_v("SYSCALL", True)),
    ProgContext("fentry", TRACING, TRACE_FENTRY, attach_to="bpf_fentry_test1", model_view=_v("TRACING")),
    ProgContext("fentry.s", TRACING, TRACE_FENTRY, True, attach_to="bpf_fentry_test1",
                model_view=_v("TRACING", True)),
    ProgContext("lsm/file_open", LSM, LSM_MAC, attach_to="bpf_lsm_file_open",
                model_view=_v("LSM", lsm_hook="file_open")),
    ProgContext("lsm.s/file_open", LSM, LSM_MAC, True, attach_to="bpf_lsm_file_open",
                model_view=_v("LSM", True, lsm_hook="file_open")),
    ProgContext("lsm.s/inode_setxattr", LSM, LSM_MAC, True, attach_to="bpf_lsm_inode_setxattr",
                model_view=_v("LSM", True, lsm_hook="inode_setxattr")),
    ProgContext("lsm.s/inode_need_killpriv", LSM, LSM_MAC, True, attach_to="bpf_lsm_inode_need_killpriv",
                model_view=_v("LSM", True, lsm_hook="inode_need_killpriv")),
    ProgContext("lsm.s/path_unlink", LSM, LSM_MAC, True, attach_to="bpf_lsm_path_unlink",
                model_view=_v("LSM", True, lsm_hook="path_unlink")),
)


def context(name: str) -> ProgContext:
    """The probe context called ``name``; KeyError when there is none."""
    for c in CONTEXTS:
        if c.name == name:
            return c
    raise KeyError(name)
