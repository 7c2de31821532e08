"""The running kernel's kfuncs: every function its BTF tags ``bpf_kfunc``, with its prototype.

``__bpf_kfunc`` expands to ``__attribute__((btf_decl_tag("bpf_kfunc")))`` (include/linux/btf.h),
so pahole emits a DECL_TAG named ``bpf_kfunc`` pointing at the FUNC. The BTF is read with
:mod:`polykfunc.programs.btf`. Module BTF (``/sys/kernel/btf/<module>``) is split BTF on top of
vmlinux; the reader does not parse split BTF, so modules are listed (``modules_unread``) and
their kfuncs are not probed.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

from polykfunc.errors import PolykfuncError
from polykfunc.programs import btf as btfmod

VMLINUX_BTF = Path("/sys/kernel/btf/vmlinux")
KFUNC_TAG = "bpf_kfunc"


class InventoryError(PolykfuncError):
    """The kernel's BTF cannot be read."""


@dataclass(frozen=True)
class KfuncParam:
    """One parameter: its name, C spelling, and the kind the probe builder feeds it.

    ``kind`` is ``scalar``, ``ptr_struct`` (``struct_name`` set), ``ptr_void`` or ``ptr_other``.
    """

    name: str
    ctype: str
    kind: str
    struct_name: str = ""


@dataclass(frozen=True)
class KernelKfunc:
    """A ``bpf_kfunc``-tagged function of the running kernel."""

    name: str
    btf_id: int
    module: str
    returns: str
    params: tuple[KfuncParam, ...]

    @property
    def prototype(self) -> str:
        args = ", ".join(f"{p.ctype} {p.name}".replace("* ", "*") for p in self.params) or "void"
        return f"{self.returns} {self.name}({args})".replace("* ", "*")


@dataclass(frozen=True)
class Inventory:
    """The kfuncs of one running kernel, and the BTF ids probes attach to."""

    release: str
    kfuncs: tuple[KernelKfunc, ...]
    attach_ids: dict[str, int]           # BTF name -> id, for attach targets the probes use
    modules_unread: tuple[str, ...] = ()

    def kfunc(self, name: str) -> KernelKfunc | None:
        for k in self.kfuncs:
            if k.name == name:
                return k
        return None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.kfuncs)


#: BTF names probes attach to (tp_btf, iter, lsm, fentry); looked up as FUNC or TYPEDEF
ATTACH_TARGETS = ("btf_trace_sched_switch", "bpf_iter_task", "bpf_lsm_file_open", "bpf_lsm_path_unlink",
                  "bpf_lsm_inode_setxattr", "bpf_lsm_inode_need_killpriv", "bpf_fentry_test1")


def _param(btf: btfmod.BTF | btfmod.IndexedBTF, p: btfmod.Param) -> KfuncParam:
    ctype = btf.describe(p.type_id)
    t = btf.strip(p.type_id)
    if t is None or t.kind != btfmod.PTR:
        return KfuncParam(p.name, ctype, "scalar")
    target = btf.strip(t.type_id)
    if target is None:
        return KfuncParam(p.name, ctype, "ptr_void")
    if target.kind in (btfmod.STRUCT, btfmod.UNION, btfmod.FWD):
        return KfuncParam(p.name, ctype, "ptr_struct", target.name)
    return KfuncParam(p.name, ctype, "ptr_other")


def kfuncs_of(btf: btfmod.BTF | btfmod.IndexedBTF, module: str = "vmlinux") -> list[KernelKfunc]:
    """Every FUNC of ``btf`` carrying the ``bpf_kfunc`` decl tag, sorted by name."""
    out: dict[str, KernelKfunc] = {}
    for tag in btf.ids(btfmod.DECL_TAG):
        t = btf.type(tag)
        if t is None or t.name != KFUNC_TAG:
            continue
        f = btf.type(t.type_id)
        if f is None or f.kind != btfmod.FUNC:
            continue
        proto = btf.type(f.type_id)
        params = tuple(_param(btf, p) for p in (proto.params if proto else ()))
        ret = btf.describe(proto.type_id) if proto else "void"
        out[f.name] = KernelKfunc(f.name, f.id, module, ret, params)
    return sorted(out.values(), key=lambda k: k.name)


def read_inventory(path: Path = VMLINUX_BTF) -> Inventory:
    """The running kernel's kfunc inventory from ``path`` (default /sys/kernel/btf/vmlinux).

    Raises :class:`InventoryError` when the file is missing or is not BTF.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InventoryError(f"cannot read the kernel's BTF at {path}: {e.strerror} "
                             "(the oracle needs CONFIG_DEBUG_INFO_BTF)") from None
    try:
        btf = btfmod.IndexedBTF(data)   # 100,000+ types: only the kfuncs' are decoded
    except btfmod.BTFError as e:
        raise InventoryError(f"{path}: {e}") from None
    attach: dict[str, int] = {}
    for name in ATTACH_TARGETS:
        t = btf.named(name, btfmod.FUNC) or btf.named(name, btfmod.TYPEDEF)
        if t is not None:
            attach[name] = t.id
    modules = tuple(sorted(p.name for p in path.parent.iterdir() if p.name != path.name)) \
        if path.parent.is_dir() else ()
    return Inventory(platform.release(), tuple(kfuncs_of(btf)), attach, modules)


def kernel_release() -> str:
    return os.uname().release
