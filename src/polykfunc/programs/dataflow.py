"""A small abstract interpretation of one BPF function: what each call sees.

For every call instruction it computes, over all paths to it (a flat lattice, so loops
converge): the abstract value of the argument registers r1..r5, how many RCU / preempt /
IRQ / spin-lock regions the function itself has entered, and which kfuncs and subprograms it
may already have called. Values are symbolic in the function's own parameters, so a function
is analysed once and its facts are specialised per calling context by
:func:`resolve` (see :mod:`polykfunc.programs.callgraph`).

Abstract values (all hashable):

- ``Param(i)``: the function's incoming register ``r<i>`` (``r1`` of a program is its context);
- ``Field(Param(i), off)``: the 8-byte value loaded from ``r<i> + off`` (a struct_ops
  program's ``ctx[n]`` is ``Field(Param(1), 8 n)``);
- ``Const(n)``, ``FuncAddr(name)``, ``Ret(kind, name)`` (a helper's or kfunc's result);
- ``TOP``: anything.

Only what the checks need is tracked; everything else is ``TOP``, which is always sound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Union

from .insns import (
    ALU, ALU64, ALU_ADD, ALU_MOV, ALU_SUB, JMP, LD, LDX, MEM, SIZE_DW, ST, STX, Insn,
    successors,
)


@dataclass(frozen=True)
class Top:
    def __str__(self) -> str:
        return "?"


TOP = Top()


@dataclass(frozen=True)
class Const:
    value: int

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class Param:
    reg: int

    def __str__(self) -> str:
        return f"arg{self.reg}"


@dataclass(frozen=True)
class Field:
    base: "Value"
    off: int

    def __str__(self) -> str:
        return f"{self.base}[{self.off}]"


@dataclass(frozen=True)
class FuncAddr:
    name: str

    def __str__(self) -> str:
        return f"&{self.name}"


@dataclass(frozen=True)
class Ret:
    kind: str     # "helper" or "kfunc"
    name: str

    def __str__(self) -> str:
        return f"{self.name}()"


@dataclass(frozen=True)
class StackPtr:
    off: int

    def __str__(self) -> str:
        return f"fp{self.off:+d}"


@dataclass(frozen=True)
class Ctx:
    """The program context pointer (r1 at a program's entry), once resolved."""

    def __str__(self) -> str:
        return "ctx"


@dataclass(frozen=True)
class CtxArg:
    """``ctx[index]``: a struct_ops program's argument ``index`` (BPF_PROG unpacks these)."""

    index: int

    def __str__(self) -> str:
        return f"ctx[{self.index}]"


@dataclass(frozen=True)
class Frame:
    """A pointer into a caller's stack handed to a synchronous callback (bpf_loop's ctx):
    the 8-byte slots the caller had written there, by offset from the pointer."""

    slots: tuple[tuple[int, "Value"], ...]

    def __str__(self) -> str:
        return "&{" + ", ".join(f"+{k}: {v}" for k, v in self.slots) + "}"


Value = Union[Top, Const, Param, Field, FuncAddr, Ret, StackPtr, Ctx, CtxArg, Frame]

#: the regions the verifier tracks at a call site (bpf_rcu_read_lock, bpf_preempt_disable,
#: bpf_local_irq_save, bpf_spin_lock / bpf_res_spin_lock)
REGIONS = ("rcu", "preempt", "irq", "spin")
REGION_KFUNCS = {
    "bpf_rcu_read_lock": ("rcu", 1), "bpf_rcu_read_unlock": ("rcu", -1),
    "bpf_preempt_disable": ("preempt", 1), "bpf_preempt_enable": ("preempt", -1),
    "bpf_local_irq_save": ("irq", 1), "bpf_local_irq_restore": ("irq", -1),
    "bpf_res_spin_lock": ("spin", 1), "bpf_res_spin_unlock": ("spin", -1),
    "bpf_res_spin_lock_irqsave": ("spin", 1), "bpf_res_spin_unlock_irqrestore": ("spin", -1),
}
REGION_HELPERS = {93: ("spin", 1), 94: ("spin", -1)}   # bpf_spin_lock, bpf_spin_unlock
_MAX_DEPTH = 4

Regions = tuple  # one int (delta since function entry) or None (unknown) per REGIONS entry


@dataclass(frozen=True)
class CallFacts:
    """What one call instruction sees, relative to its function's entry."""

    insn: int
    kind: str                         # "kfunc", "helper", "subprog", "unknown"
    target: str
    args: tuple[Value, ...]           # r1..r5
    regions: Regions
    seen: frozenset[str]              # "kfunc:NAME" and "call:FN" possibly executed before
    stack: tuple[tuple[int, Value], ...] = ()   # the 8-byte stack slots known at the call


@dataclass(frozen=True)
class FunctionFacts:
    name: str
    calls: tuple[CallFacts, ...]
    address_taken: tuple[tuple[int, str], ...]   # (insn, function) loaded by ld_imm64 and not passed to a known call


@dataclass
class _State:
    regs: tuple
    stack: dict = field(default_factory=dict)
    regions: Regions = (0, 0, 0, 0)
    seen: frozenset = frozenset()

    def key(self):
        return (self.regs, tuple(sorted(self.stack.items(), key=lambda kv: kv[0])), self.regions, self.seen)


def _join_value(a: Value, b: Value) -> Value:
    return a if a == b else TOP


def _join(a: _State | None, b: _State) -> _State:
    if a is None:
        return b
    regs = tuple(_join_value(x, y) for x, y in zip(a.regs, b.regs))
    stack = {k: v for k, v in a.stack.items() if b.stack.get(k) == v}
    regions = tuple(x if x == y else None for x, y in zip(a.regions, b.regions))
    return _State(regs, stack, regions, a.seen | b.seen)


Classifier = Callable[[Insn], tuple[str, str]]


def analyse(name: str, insns: tuple[Insn, ...], classify: Classifier,
            address_of: Callable[[Insn], str | None]) -> FunctionFacts:
    """Run the analysis on one function.

    ``classify(insn)`` says what a call instruction calls (kind, target) and ``address_of``
    which function an ``ld_imm64`` loads the address of (None: not a function).
    """
    if not insns:
        return FunctionFacts(name, (), ())
    by_idx = {i.idx: i for i in insns}
    start = insns[0].idx
    entry = _State(tuple([TOP] + [Param(r) for r in range(1, 6)] + [TOP] * 4 + [StackPtr(0)]))
    states: dict[int, _State] = {start: entry}
    work = [start]
    visits: dict[int, int] = {}
    while work:
        idx = work.pop()
        insn = by_idx.get(idx)
        if insn is None:
            continue
        visits[idx] = visits.get(idx, 0) + 1
        out = _step(states[idx], insn, classify, address_of)
        for nxt in successors(insn):
            if nxt not in by_idx:
                continue
            old = states.get(nxt)
            new = _join(old, out)
            if visits.get(nxt, 0) > 64:  # safety net: widen everything
                new = _State((TOP,) * 10 + (StackPtr(0),), {}, (None,) * 4, new.seen)
            if old is None or new.key() != old.key():
                states[nxt] = new
                work.append(nxt)
    calls = []
    taken: dict[tuple[int, str], None] = {}
    passed: set[str] = set()
    for insn in insns:
        st = states.get(insn.idx)
        if st is None:
            continue
        if insn.is_call:
            kind, target = classify(insn)
            args = tuple(st.regs[1:6])
            calls.append(CallFacts(insn.idx, kind, target, args, st.regions, st.seen,
                                   tuple(sorted(st.stack.items(), key=lambda kv: kv[0]))))
            passed.update(a.name for a in args if isinstance(a, FuncAddr))
        elif insn.is_ld_imm64:
            fn = address_of(insn)
            if fn is not None:
                taken[(insn.idx, fn)] = None
    return FunctionFacts(name, tuple(calls), tuple(k for k in taken if k[1] not in passed))


def _step(st: _State, insn: Insn, classify: Classifier, address_of) -> _State:
    regs = list(st.regs)
    stack = dict(st.stack)
    regions = st.regions
    seen = st.seen
    cls = insn.cls
    op = insn.opcode & 0xF0
    if insn.is_ld_imm64:
        fn = address_of(insn)
        regs[insn.dst] = FuncAddr(fn) if fn else Const(insn.imm64) if insn.src == 0 else TOP
    elif cls in (ALU, ALU64):
        src_val = Const(insn.imm) if not (insn.opcode & 0x08) else regs[insn.src]
        if op == ALU_MOV:
            regs[insn.dst] = src_val if cls == ALU64 or isinstance(src_val, Const) else TOP
        elif op in (ALU_ADD, ALU_SUB) and isinstance(regs[insn.dst], StackPtr) and isinstance(src_val, Const):
            d = src_val.value if op == ALU_ADD else -src_val.value
            regs[insn.dst] = StackPtr(regs[insn.dst].off + d)
        elif op in (ALU_ADD, ALU_SUB) and isinstance(regs[insn.dst], Const) and isinstance(src_val, Const) \
                and cls == ALU64:
            a, b = regs[insn.dst].value, src_val.value
            regs[insn.dst] = Const(a + b if op == ALU_ADD else a - b)
        else:
            regs[insn.dst] = TOP
    elif cls == LDX:
        base = regs[insn.src]
        val: Value = TOP
        if (insn.opcode & 0xE0) == MEM and (insn.opcode & 0x18) == SIZE_DW:
            if isinstance(base, StackPtr):
                val = stack.get(base.off + insn.off, TOP)
            elif isinstance(base, Param):
                val = Field(base, insn.off)
        regs[insn.dst] = val
    elif cls in (ST, STX):
        base = regs[insn.dst]
        if isinstance(base, StackPtr):
            slot = base.off + insn.off
            width = {0x18: 8, 0x00: 4, 0x08: 2, 0x10: 1}[insn.opcode & 0x18]
            for k in [k for k in stack if k < slot + width and slot < k + 8]:
                del stack[k]
            if width == 8 and (insn.opcode & 0xE0) == MEM:
                stack[slot] = regs[insn.src] if cls == STX else Const(insn.imm)
        # stores through other pointers do not change what the analysis tracks
    elif cls == LD:
        regs[0] = TOP   # legacy packet loads
    elif cls == JMP and insn.is_call:
        kind, target = classify(insn)
        delta = None
        if kind == "kfunc":
            delta = REGION_KFUNCS.get(target)
            seen = seen | {f"kfunc:{target}"}
        elif kind == "helper":
            delta = REGION_HELPERS.get(int(target)) if target.isdigit() else None
            if target in _SYNC_LOOP_HELPERS:  # the callback ran before the helper returned
                seen = seen | {f"call:{a.name}" for a in regs[1:6] if isinstance(a, FuncAddr)}
        elif kind == "subprog":
            seen = seen | {f"call:{target}"}
        if delta is not None:
            i = REGIONS.index(delta[0])
            cur = regions[i]
            new = None if cur is None or abs(cur + delta[1]) > _MAX_DEPTH else cur + delta[1]
            regions = regions[:i] + (new,) + regions[i + 1:]
        regs[0] = Ret(kind, target) if kind in ("helper", "kfunc") else TOP
        for r in range(1, 6):
            regs[r] = TOP
    return _State(tuple(regs), stack, regions, seen)


#: helpers that call their callback synchronously, before they return (for "seen" facts)
_SYNC_LOOP_HELPERS = {"181", "164", "180", "209"}


def resolve(value: Value, bindings: tuple[Value, ...]) -> Value:
    """Replace ``Param(i)`` by ``bindings[i-1]`` (the caller's r<i>), and ctx loads by ``CtxArg``."""
    if isinstance(value, Param):
        return bindings[value.reg - 1] if 0 < value.reg <= len(bindings) else TOP
    if isinstance(value, Field):
        base = resolve(value.base, bindings)
        if isinstance(base, Ctx) and value.off % 8 == 0 and value.off >= 0:
            return CtxArg(value.off // 8)
        if isinstance(base, Frame):
            return dict(base.slots).get(value.off, TOP)
        if isinstance(base, (Param, Field)):
            return Field(base, value.off)
        return TOP
    if isinstance(value, Frame):
        return Frame(tuple((k, resolve(v, bindings)) for k, v in value.slots))
    return value


def frame_at(ptr: Value, stack: tuple[tuple[int, Value], ...]) -> Value:
    """What a callback sees through ``ptr`` when it is a pointer into the caller's stack."""
    if not isinstance(ptr, StackPtr):
        return ptr
    return Frame(tuple((k - ptr.off, v) for k, v in stack if k >= ptr.off))
