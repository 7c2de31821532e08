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

import heapq
from dataclasses import dataclass, field, replace
from typing import Callable, Union

from .insns import (
    ALU, ALU64, ALU_ADD, ALU_MOV, ALU_SUB, JMP, JMP32, LD, LDX, MEM, SIZE_DW, ST, STX, Insn,
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
    """The result of a helper or kfunc call; ``arg1`` is the value of its first argument
    (``scx_bpf_task_cpu(p)`` remembers ``p``)."""

    kind: str     # "helper" or "kfunc"
    name: str
    arg1: "Value" = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return f"{self.name}({'' if self.arg1 is None else self.arg1})"


@dataclass(frozen=True)
class KsymAddr:
    """The address of an extern kfunc or variable (``bpf_ksym_exists(sym)``): 0 when the running
    kernel lacks a weak symbol, which is how schedulers choose between alternatives."""

    name: str     # the essential name (what the kernel must have)
    symbol: str

    def __str__(self) -> str:
        return f"&{self.symbol}"


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


@dataclass(frozen=True)
class DataAddr:
    """The address of a global variable: ``off`` bytes into data section ``section``."""

    section: str
    off: int

    def __str__(self) -> str:
        return f"&{self.section}+{self.off}"


@dataclass(frozen=True)
class RoVal:
    """A value loaded from a read-only global (``const volatile``, in ``.rodata``): user space may
    set it before loading, but it never changes after, and the verifier knows it (the map is
    frozen), so two loads of it agree and a branch on it goes one way on every path."""

    section: str
    off: int
    size: int

    def __str__(self) -> str:
        return f"{self.section}[{self.off}]"


Value = Union[Top, Const, Param, Field, FuncAddr, Ret, StackPtr, Ctx, CtxArg, Frame, KsymAddr, DataAddr, RoVal]

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
    dispatched: bool = False          # on these paths a counted kfunc (an insert) certainly ran before


@dataclass(frozen=True)
class FunctionFacts:
    name: str
    calls: tuple[CallFacts, ...]
    address_taken: tuple[tuple[int, str], ...]   # (insn, function) loaded by ld_imm64 and not passed to a known call
    unreached: tuple[int, ...] = ()              # call instructions no path reaches (e.g. pruned alternatives)


@dataclass
class _State:
    regs: tuple
    stack: dict = field(default_factory=dict)
    regions: Regions = (0, 0, 0, 0)
    seen: frozenset = frozenset()
    dispatched: bool = False
    assumed: frozenset = frozenset()   # (RoVal, jump class, imm, equal?) the branches taken on the way here

    def key(self):
        return (self.regs, tuple(sorted(self.stack.items(), key=lambda kv: kv[0])), self.regions, self.seen,
                self.assumed)

    @property
    def path(self) -> tuple:
        """What tells paths apart: states that differ here are never joined (the verifier's
        view of regions is per path; so is the count of inserts)."""
        return (self.regions, self.dispatched)


def _join_value(a: Value, b: Value) -> Value:
    return a if a == b else TOP


def _join(a: _State | None, b: _State) -> _State:
    if a is None or a is b:
        return b
    regs = tuple(_join_value(x, y) for x, y in zip(a.regs, b.regs))
    stack = {k: v for k, v in a.stack.items() if b.stack.get(k) == v}
    return _State(regs, stack, a.regions, a.seen | b.seen, a.dispatched, a.assumed & b.assumed)


Classifier = Callable[[Insn], tuple[str, str]]

# conditional jump ops (opcode & 0xf0) the analysis can decide on a known value
_JEQ, _JNE = 0x10, 0x50


def analyse(name: str, insns: tuple[Insn, ...], classify: Classifier,
            address_of: Callable[[Insn], str | None], *,
            ksym_of: Callable[[Insn], tuple[str, str] | None] = lambda insn: None,
            data_of: Callable[[Insn], tuple[str, int] | None] = lambda insn: None,
            ksym_present: Callable[[str], bool | None] = lambda name: None,
            counted: frozenset[str] = frozenset()) -> FunctionFacts:
    """Run the analysis on one function, path-sensitively for regions and inserts.

    ``classify(insn)`` says what a call instruction calls (kind, target) and ``address_of``
    which function an ``ld_imm64`` loads the address of (None: not a function). ``ksym_of``
    names the extern (essential name, symbol) an ``ld_imm64`` loads, and ``ksym_present``
    whether the kernel has it: a branch on ``bpf_ksym_exists()`` then follows only the side
    that kernel takes (the verifier never sees the other). Calls to ``counted`` kfuncs set
    :attr:`CallFacts.dispatched` on the paths after them.

    States of one instruction are kept apart by their regions and by whether a counted kfunc
    ran: a call sees each distinct combination exactly (one :class:`CallFacts` per
    combination), as the verifier, which walks every path, does.
    """
    if not insns:
        return FunctionFacts(name, (), ())
    by_idx = {i.idx: i for i in insns}
    start = insns[0].idx
    entry = _State(tuple([TOP] + [Param(r) for r in range(1, 6)] + [TOP] * 4 + [StackPtr(0)]))
    states: dict[int, dict[tuple, _State]] = {start: {entry.path: entry}}
    # lowest instruction first (clang lays blocks out in order): a join sees all its
    # predecessors before it is propagated further, so most instructions are visited once
    work = [(start, 0, entry.path)]
    queued = {(start, entry.path)}
    order: dict[tuple, int] = {entry.path: 0}
    visits: dict[tuple, int] = {}
    while work:
        idx, _, pk = heapq.heappop(work)
        queued.discard((idx, pk))
        insn = by_idx.get(idx)
        if insn is None:
            continue
        visits[(idx, pk)] = visits.get((idx, pk), 0) + 1
        out0 = _step(states[idx][pk], insn, classify, address_of, ksym_of, counted, data_of)
        for nxt, out in _feasible(insn, states[idx][pk], out0, ksym_present):
            if nxt not in by_idx:
                continue
            at = states.setdefault(nxt, {})
            opk = out.path
            old = at.get(opk)
            new = _join(old, out)
            if visits.get((nxt, opk), 0) > 64:  # safety net: widen the values, keep the path
                new = _State((TOP,) * 10 + (StackPtr(0),), {}, new.regions, new.seen, new.dispatched, frozenset())
            if old is None or (new is not old and new.key() != old.key()):
                at[opk] = new
                if (nxt, opk) not in queued:
                    queued.add((nxt, opk))
                    heapq.heappush(work, (nxt, order.setdefault(opk, len(order)), opk))
    calls = []
    taken: dict[tuple[int, str], None] = {}
    passed: set[str] = set()
    for insn in insns:
        at = states.get(insn.idx)
        if not at:
            continue
        if insn.is_call:
            kind, target = classify(insn)
            for st in at.values():
                args = tuple(st.regs[1:6])
                calls.append(CallFacts(insn.idx, kind, target, args, st.regions, st.seen,
                                       tuple(sorted(st.stack.items(), key=lambda kv: kv[0])), st.dispatched))
                passed.update(a.name for a in args if isinstance(a, FuncAddr))
        elif insn.is_ld_imm64:
            fn = address_of(insn)
            if fn is not None:
                taken[(insn.idx, fn)] = None
    unreached = tuple(i.idx for i in insns if i.is_call and not states.get(i.idx))
    return FunctionFacts(name, tuple(calls), tuple(k for k in taken if k[1] not in passed), unreached)


def _feasible(insn: Insn, before: _State, after: _State, ksym_present) -> list[tuple[int, _State]]:
    """The successors of ``insn`` this state can take, each with the state there.

    A comparison with an immediate is decided when the register holds a
    ``bpf_ksym_exists()`` address (against 0: by whether the kernel has the symbol), a known
    constant, or a read-only global an earlier branch on this path already decided; a branch
    on a read-only global is remembered on both sides. Everything else takes both sides.
    """
    succ = successors(insn)
    if not insn.is_jump or insn.is_unconditional or len(succ) != 2 or (insn.opcode & 0x08):
        return [(n, after) for n in succ]
    op = insn.opcode & 0xF0
    if op not in (_JEQ, _JNE):
        return [(n, after) for n in succ]
    v = before.regs[insn.dst]
    equal: bool | None = None
    if isinstance(v, KsymAddr) and insn.imm == 0:
        present = ksym_present(v.name)
        equal = None if present is None else not present   # the address is 0 when the kernel lacks it
    elif isinstance(v, Const):
        mask = 0xFFFFFFFF if insn.cls == JMP32 else (1 << 64) - 1
        equal = (v.value & mask) == (insn.imm & mask)
    elif isinstance(v, RoVal):
        for (rv, cls, imm, eq) in before.assumed:
            if rv == v and cls == insn.cls:
                if eq:
                    equal = imm == insn.imm
                elif imm == insn.imm:
                    equal = False
                if equal is not None:
                    break
        if equal is None:
            fall_eq = op == _JNE          # falling through a JNE means equal
            return [(succ[0], replace(after, assumed=after.assumed | {(v, insn.cls, insn.imm, fall_eq)})),
                    (succ[1], replace(after, assumed=after.assumed | {(v, insn.cls, insn.imm, not fall_eq)}))]
    if equal is None:
        return [(n, after) for n in succ]
    taken = equal if op == _JEQ else not equal
    return [(succ[1], after)] if taken else [(succ[0], after)]


def _step(st: _State, insn: Insn, classify: Classifier, address_of, ksym_of=lambda i: None,
          counted: frozenset[str] = frozenset(), data_of=lambda i: None) -> _State:
    regs = list(st.regs)
    stack = dict(st.stack)
    regions = st.regions
    seen = st.seen
    dispatched = st.dispatched
    cls = insn.cls
    op = insn.opcode & 0xF0
    if insn.is_ld_imm64:
        fn = address_of(insn)
        ks = None if fn else ksym_of(insn)
        da = None if fn or ks else data_of(insn)
        regs[insn.dst] = (FuncAddr(fn) if fn else KsymAddr(*ks) if ks else DataAddr(*da) if da
                          else Const(insn.imm64) if insn.src == 0 else TOP)
    elif cls in (ALU, ALU64):
        src_val = Const(insn.imm) if not (insn.opcode & 0x08) else regs[insn.src]
        if op == ALU_MOV:
            # a 32-bit move keeps constants, call results and small globals (a CPU number is an int: w1 = w0)
            keep = isinstance(src_val, (Const, Ret)) or (isinstance(src_val, RoVal) and src_val.size <= 4)
            regs[insn.dst] = src_val if cls == ALU64 or keep else TOP
        elif op == ALU_ADD and isinstance(regs[insn.dst], DataAddr) and isinstance(src_val, Const) and cls == ALU64:
            regs[insn.dst] = DataAddr(regs[insn.dst].section, regs[insn.dst].off + src_val.value)
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
        if (insn.opcode & 0xE0) == MEM and isinstance(base, DataAddr) and base.section.startswith(".rodata"):
            val = RoVal(base.section, base.off + insn.off, {0x18: 8, 0x00: 4, 0x08: 2, 0x10: 1}[insn.opcode & 0x18])
        elif (insn.opcode & 0xE0) == MEM and (insn.opcode & 0x18) == SIZE_DW:
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
            dispatched = dispatched or target in counted
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
        first = regs[1] if not isinstance(regs[1], (Ret, Frame)) else TOP   # one level: no chains in loops
        regs[0] = Ret(kind, target, first) if kind in ("helper", "kfunc") else TOP
        for r in range(1, 6):
            regs[r] = TOP
    return _State(tuple(regs), stack, regions, seen, dispatched, st.assumed)


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
    if isinstance(value, Ret) and value.arg1 is not None:
        return Ret(value.kind, value.name, resolve(value.arg1, bindings))
    return value


def frame_at(ptr: Value, stack: tuple[tuple[int, Value], ...]) -> Value:
    """What a callback sees through ``ptr`` when it is a pointer into the caller's stack."""
    if not isinstance(ptr, StackPtr):
        return ptr
    return Frame(tuple((k - ptr.off, v) for k, v in stack if k >= ptr.off))
