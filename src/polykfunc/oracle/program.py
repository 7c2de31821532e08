"""Probe programs, built in Python from raw BPF instructions (no compiler at run time).

A probe is one kfunc called in one *position*: a program context (type, expected attach
type, sleepable), a region around the call (none, ``bpf_rcu_read_lock``,
``bpf_preempt_disable``, ``bpf_local_irq_save``) and the function holding the call (the
program body, a static or global subprogram, a ``bpf_timer`` callback). :func:`build` returns
the instructions, the program BTF a global subprogram needs, whether a timer map is needed,
and the index of the probed call instruction (so the classifier can tell "failed before the
call" from "failed at the call").

Arguments are synthesised from the kfunc's BTF prototype: the program context for a pointer
to the context struct, an uninitialised 16-byte stack slot for ``struct bpf_dynptr *``, a
uninitialised 32-byte stack slot for an open-coded iterator (``struct bpf_iter_*``), a
zeroed 32-byte stack buffer for other non-struct pointers (followed by a ``__sz`` size), 0
otherwise. A
kfunc whose arguments need more (a trusted task pointer, a map) passes registration and is
refused on its arguments, which the classifier reports as exactly that.

Encoding: include/uapi/linux/bpf.h and Documentation/bpf/standardization/instruction-set.rst.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .inventory import Inventory, KernelKfunc

REGIONS = ("none", "rcu", "preempt", "irq")
SUBPROGS = ("main", "static", "global", "timer_cb")

#: the kfuncs that open and close each region
REGION_KFUNCS = {"rcu": ("bpf_rcu_read_lock", "bpf_rcu_read_unlock"),
                 "preempt": ("bpf_preempt_disable", "bpf_preempt_enable"),
                 "irq": ("bpf_local_irq_save", "bpf_local_irq_restore")}

# helpers (enum bpf_func_id)
MAP_LOOKUP_ELEM, TIMER_INIT, TIMER_SET_CALLBACK = 1, 169, 170
PSEUDO_MAP_FD, PSEUDO_CALL, PSEUDO_KFUNC_CALL, PSEUDO_FUNC = 1, 1, 2, 4

# stack layout of every probe function (offsets from r10)
IRQ_FLAGS, DYNPTR, BUF, BUF_LEN, ITER = -8, -32, -64, 32, -96


def insn(opcode: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One 8-byte instruction."""
    return struct.pack("<BBhi", opcode, (src << 4) | dst, off, imm)


def mov_reg(dst: int, src: int) -> bytes:
    return insn(0xBF, dst, src)


def mov_imm(dst: int, imm: int) -> bytes:
    return insn(0xB7, dst, 0, 0, imm)


def add_imm(dst: int, imm: int) -> bytes:
    return insn(0x07, dst, 0, 0, imm)


def store_dw_imm(base: int, off: int, imm: int) -> bytes:
    return insn(0x7A, base, 0, off, imm)


def store_w_imm(base: int, off: int, imm: int) -> bytes:
    return insn(0x62, base, 0, off, imm)


def call_helper(func_id: int) -> bytes:
    return insn(0x85, 0, 0, 0, func_id)


def call_kfunc(btf_id: int) -> bytes:
    return insn(0x85, 0, PSEUDO_KFUNC_CALL, 0, btf_id)


def call_local(delta: int) -> bytes:
    """``call pc+delta`` (a bpf-to-bpf call)."""
    return insn(0x85, 0, PSEUDO_CALL, 0, delta)


def ld_imm64(dst: int, src: int, imm: int) -> bytes:
    return insn(0x18, dst, src, 0, imm) + insn(0, 0, 0, 0, 0)


def jeq_imm(dst: int, imm: int, off: int) -> bytes:
    return insn(0x15, dst, 0, off, imm)


def exit_insn() -> bytes:
    return insn(0x95)


@dataclass(frozen=True)
class BuiltProbe:
    """A probe program: instructions, the probed call's index, what else the load needs."""

    insns: bytes
    call_insn: int
    prog_btf: bytes = b""          # program BTF (global subprogram), empty when not needed
    func_info: tuple[tuple[int, int], ...] = ()   # (insn index, FUNC type id)
    needs_timer_map: bool = False
    map_fd_slots: tuple[int, ...] = ()           # ld_imm64 indexes whose imm is the map fd

    def with_map_fd(self, fd: int) -> bytes:
        """The instructions with the timer map's fd patched in."""
        b = bytearray(self.insns)
        for idx in self.map_fd_slots:
            struct.pack_into("<i", b, idx * 8 + 4, fd)
        return bytes(b)

    @property
    def func_info_bytes(self) -> bytes:
        return b"".join(struct.pack("<II", i, t) for i, t in self.func_info)


def _args(k: KernelKfunc, ctx_structs: tuple[str, ...], has_ctx: bool) -> list[bytes]:
    out: list[bytes] = []
    prev_buf = False
    for i, p in enumerate(k.params[:5]):
        r = i + 1
        if p.name.endswith(("__sz", "__szk")) and prev_buf:
            out.append(mov_imm(r, BUF_LEN))
        elif p.kind == "ptr_struct" and p.struct_name in ctx_structs and has_ctx:
            out.append(mov_reg(r, 6))
        elif p.kind == "ptr_struct" and p.struct_name == "bpf_dynptr":
            out += [mov_reg(r, 10), add_imm(r, DYNPTR)]
        elif p.kind == "ptr_struct" and p.struct_name.startswith("bpf_iter_"):
            out += [mov_reg(r, 10), add_imm(r, ITER)]
        elif p.kind == "ptr_other" and "irq_flag" in p.name:
            out += [mov_reg(r, 10), add_imm(r, IRQ_FLAGS)]
        elif p.kind in ("ptr_void", "ptr_other"):
            out += [mov_reg(r, 10), add_imm(r, BUF)]
        else:
            out.append(mov_imm(r, 0))
        prev_buf = p.kind in ("ptr_void", "ptr_other")
    return out


def _zero_buf() -> list[bytes]:
    return [store_dw_imm(10, BUF + 8 * i, 0) for i in range(BUF_LEN // 8)]


def _body(k: KernelKfunc, ctx_structs: tuple[str, ...], has_ctx: bool) -> tuple[list[bytes], int]:
    """The function body around the probed call; returns the slots and the call's slot index."""
    head = ([mov_reg(6, 1)] if has_ctx else []) + _zero_buf() + _args(k, ctx_structs, has_ctx)
    return head + [call_kfunc(k.btf_id), mov_imm(0, 0), exit_insn()], len(head)


def _region(inv: Inventory, region: str, which: int) -> list[bytes]:
    if region == "none":
        return []
    kf = inv.kfunc(REGION_KFUNCS[region][which])
    if kf is None:
        raise KeyError(REGION_KFUNCS[region][which])
    if region == "irq":
        return [mov_reg(1, 10), add_imm(1, IRQ_FLAGS), call_kfunc(kf.btf_id)]
    return [call_kfunc(kf.btf_id)]


def _slots(parts: list[bytes]) -> int:
    return sum(len(p) // 8 for p in parts)


def build(inv: Inventory, k: KernelKfunc, region: str, subprog: str,
          ctx_structs: tuple[str, ...] = ()) -> BuiltProbe:
    """The probe calling ``k`` in ``subprog`` with ``region`` held around it (see module doc).

    ``ctx_structs`` names the structs that stand for this program type's context
    (``__sk_buff`` ...). Raises KeyError when a region kfunc is missing from the kernel.
    """
    if region not in REGIONS or subprog not in SUBPROGS:
        raise ValueError(f"unknown probe position {region}/{subprog}")
    if subprog == "main":
        enter = [mov_reg(6, 1)] + _region(inv, region, 0)
        body, at = _body(k, ctx_structs, True)
        body = body[1:]  # r6 already holds the context
        at -= 1
        leave = _region(inv, region, 1)
        # the region is closed before the exit: body minus its tail, then leave, then the tail
        main = enter + body[:-2] + leave + body[-2:]
        return BuiltProbe(b"".join(main), _slots(enter + body[:at]))
    if subprog in ("static", "global"):
        sub, at = _body(k, ctx_structs, True)
        pre = [mov_reg(6, 1)] + _region(inv, region, 0) + [mov_reg(1, 6)]
        post = _region(inv, region, 1) + [mov_imm(0, 0), exit_insn()]
        main_len = _slots(pre) + 1 + _slots(post)
        call_at = _slots(pre)
        main = pre + [call_local(main_len - call_at - 1)] + post
        code = b"".join(main + sub)
        call_insn = main_len + _slots(sub[:at])
        if subprog == "static":
            return BuiltProbe(code, call_insn)
        return BuiltProbe(code, call_insn, prog_btf=subprog_btf(global_linkage=True),
                          func_info=((0, 4), (main_len, 5)))
    # timer_cb: arm a bpf_timer in an array map with the probed call in its callback
    if region != "none":
        raise ValueError("a bpf_timer callback probe has no region (the callback runs on its own)")
    cb, at = _body(k, ctx_structs, False)
    pre = [mov_reg(6, 1), store_w_imm(10, -4, 0), mov_reg(2, 10), add_imm(2, -4)]
    map1 = _slots(pre)
    pre += [ld_imm64(1, PSEUDO_MAP_FD, 0), call_helper(MAP_LOOKUP_ELEM)]
    tail = [mov_imm(0, 0), exit_insn()]
    arm_start = _slots(pre) + 1
    arm = [mov_reg(7, 0), mov_reg(1, 7)]
    map2 = arm_start + _slots(arm)
    arm += [ld_imm64(2, PSEUDO_MAP_FD, 0), mov_imm(3, 1), call_helper(TIMER_INIT), mov_reg(1, 7)]
    func_at = arm_start + _slots(arm)
    main_len = func_at + 2 + 1 + _slots(tail)
    arm += [ld_imm64(2, PSEUDO_FUNC, main_len - func_at - 1), call_helper(TIMER_SET_CALLBACK)]
    main = pre + [jeq_imm(0, 0, _slots(arm))] + arm + tail
    assert _slots(main) == main_len
    return BuiltProbe(b"".join(main + cb), main_len + _slots(cb[:at]), needs_timer_map=True,
                      map_fd_slots=(map1, map2), prog_btf=subprog_btf(global_linkage=False),
                      func_info=((0, 4), (main_len, 5)))


# ------------------------------------------------------------------ BTF blobs

def _btf_blob(types: list[bytes], strings: bytes) -> bytes:
    type_sec = b"".join(types)
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(type_sec), len(type_sec), len(strings))
    return hdr + type_sec + strings


def _strtab(*names: str) -> tuple[bytes, dict[str, int]]:
    tab = b"\0"
    offs = {"": 0}
    for n in names:
        offs[n] = len(tab)
        tab += n.encode() + b"\0"
    return tab, offs


def _t(name_off: int, kind: int, vlen: int, size_or_type: int, kflag: int = 0) -> bytes:
    return struct.pack("<III", name_off, (kflag << 31) | (kind << 24) | vlen, size_or_type)


def subprog_btf(global_linkage: bool) -> bytes:
    """Program BTF: ``int main(void *ctx)`` and ``int sub(void *ctx)``; a global ``sub`` gets
    the ``arg:ctx`` tag (``__arg_ctx``) so it receives the program context.

    Type ids: 1 int, 2 void *, 3 the prototype, 4 main, 5 sub, 6 the ``arg:ctx`` tag.
    """
    strs, o = _strtab("int", "ctx", "main", "sub", "arg:ctx")
    types = [
        _t(o["int"], 1, 0, 4) + struct.pack("<I", (1 << 24) | 32),     # INT signed 32 bits
        _t(0, 2, 0, 0),                                                 # PTR -> void
        _t(0, 13, 1, 1) + struct.pack("<II", o["ctx"], 2),              # FUNC_PROTO int (void *ctx)
        _t(o["main"], 12, 1, 3),                                        # FUNC main, global
        _t(o["sub"], 12, 1 if global_linkage else 0, 3),                # FUNC sub
    ]
    if global_linkage:
        types.append(_t(o["arg:ctx"], 17, 0, 5) + struct.pack("<i", 0))  # DECL_TAG on sub's arg 0
    return _btf_blob(types, strs)


def timer_map_btf() -> tuple[bytes, int, int]:
    """Map BTF for an array whose value holds a ``struct bpf_timer``: (blob, key id, value id)."""
    strs, o = _strtab("int", "unsigned long long", "bpf_timer", "__opaque", "val", "t")
    types = [
        _t(o["int"], 1, 0, 4) + struct.pack("<I", (1 << 24) | 32),                 # 1 int
        _t(o["unsigned long long"], 1, 0, 8) + struct.pack("<I", 64),               # 2 u64
        _t(0, 3, 0, 0) + struct.pack("<III", 2, 1, 2),                              # 3 u64[2]
        _t(o["bpf_timer"], 4, 1, 16) + struct.pack("<III", o["__opaque"], 3, 0),    # 4 struct bpf_timer
        _t(o["val"], 4, 1, 16) + struct.pack("<III", o["t"], 4, 0),                 # 5 struct val
    ]
    return _btf_blob(types, strs), 1, 5
