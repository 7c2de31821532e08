"""Which implementation a loaded program's kfunc calls resolved to.

After verification, ``bpf_fixup_kfunc_call()`` writes ``BPF_CALL_IMM(desc->addr)`` into each
kfunc call's ``imm`` (``desc->addr - __bpf_call_base``; kernel/bpf/verifier.c, kernel/bpf/core.c)
unless the JIT supports far kfunc calls. ``BPF_OBJ_GET_INFO_BY_FD`` hands the translated
instructions back (with ``imm`` intact when ``bpf_dump_raw_ok()``, i.e. for root), and
``/proc/kallsyms`` names the address. On a JIT with far kfunc calls (``imm`` keeps the BTF id,
s390x), or when kallsyms hides addresses, the resolution is reported as unknown.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from polykfunc.programs.insns import PSEUDO_KFUNC_CALL, decode

KALLSYMS = Path("/proc/kallsyms")


@dataclass(frozen=True)
class ResolvedCall:
    """A kfunc call of the translated program: its index and the symbol it now calls."""

    insn: int
    symbol: str | None     # None: the address names no symbol (or kallsyms is hidden)
    address: int


@dataclass(frozen=True)
class Kallsyms:
    """Text symbols of the running kernel by address, and ``__bpf_call_base``."""

    by_address: dict[int, str]
    call_base: int

    @property
    def usable(self) -> bool:
        return self.call_base != 0


@lru_cache(maxsize=1)
def kallsyms(path: Path = KALLSYMS) -> Kallsyms:
    """The kernel's function symbols (addresses 0 when kptr_restrict hides them)."""
    by_addr: dict[int, str] = {}
    base = 0
    try:
        text = path.read_text()
    except OSError:
        return Kallsyms({}, 0)
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[1] not in ("T", "t", "W", "w"):
            continue
        addr = int(parts[0], 16)
        if addr == 0:
            continue
        name = parts[2]
        if name == "__bpf_call_base":
            base = addr
        by_addr.setdefault(addr, name)
    return Kallsyms(by_addr, base)


def resolved_calls(xlated: bytes, syms: Kallsyms | None = None) -> list[ResolvedCall]:
    """Every kfunc call in translated instructions, with the symbol its ``imm`` now names."""
    syms = syms if syms is not None else kallsyms()
    out = []
    for ins in decode(xlated):
        if not (ins.is_call and ins.src == PSEUDO_KFUNC_CALL):
            continue
        addr = (syms.call_base + ins.imm) & 0xFFFFFFFFFFFFFFFF if syms.usable else 0
        out.append(ResolvedCall(ins.idx, syms.by_address.get(addr) if addr else None, addr))
    return out


def probed_call(code: bytes, xlated: bytes, call_insn: int, syms: Kallsyms | None = None) -> str | None:
    """The symbol the kfunc call at ``call_insn`` of the loaded ``code`` was fixed up to.

    Fixup inserts and removes instructions (an inlined array-map lookup, a kfunc replaced by
    ``r0 = r1``), so the call is found by its rank among kfunc calls: the same rank in the
    translated program when both have as many kfunc calls, ``"inlined"`` when the translated
    program has exactly one fewer (the probes' other kfunc calls, the region locks, are never
    inlined), None when neither holds or the address names no symbol.
    """
    before = [i for i in decode(code) if i.is_call and i.src == PSEUDO_KFUNC_CALL]
    rank = next((n for n, i in enumerate(before) if i.idx == call_insn), None)
    if rank is None:
        return None
    after = resolved_calls(xlated, syms)
    if len(after) == len(before):
        return after[rank].symbol
    if len(after) == len(before) - 1:
        return "inlined"
    return None


def insn_listing(code: bytes) -> list[str]:
    """A plain listing of raw instructions (opcode, registers, offset, immediate), one per slot."""
    lines = []
    for i in range(len(code) // 8):
        op, regs, off, imm = struct.unpack_from("<BBhi", code, i * 8)
        lines.append(f"{i:3d}: {op:02x} {regs & 0xF:x} {regs >> 4:x} {off:5d} {imm:11d}")
    return lines
