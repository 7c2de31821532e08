"""BPF instructions: decoding, and the successor relation of a function's control flow.

Encoding from ``include/uapi/linux/bpf.h`` and Documentation/bpf/standardization/
instruction-set.rst: 8-byte instructions (``opcode``, ``dst:4 src:4``, ``off:s16``,
``imm:s32``), except the 16-byte ``ld_imm64``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# instruction classes
LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = range(8)
# jump ops (opcode & 0xf0 in class JMP/JMP32)
JA, CALL, EXIT = 0x00, 0x80, 0x90
# memory modes (opcode & 0xe0 in LD/LDX/ST/STX)
MEM, IMM = 0x60, 0x00
# sizes (opcode & 0x18)
SIZE_DW = 0x18
# ALU ops (opcode & 0xf0)
ALU_ADD, ALU_SUB, ALU_MOV = 0x00, 0x10, 0xB0
#: src_reg values of ``call`` and ``ld_imm64`` (after libbpf; clang writes 1 for every call)
PSEUDO_CALL, PSEUDO_KFUNC_CALL, PSEUDO_FUNC = 1, 2, 4


@dataclass(frozen=True)
class Insn:
    """One decoded instruction; ``idx`` is its index in the section (ld_imm64 spans two)."""

    idx: int
    opcode: int
    dst: int
    src: int
    off: int
    imm: int
    imm64: int = 0   # ld_imm64: the full 64-bit immediate

    @property
    def cls(self) -> int:
        return self.opcode & 0x07

    @property
    def width(self) -> int:
        return 2 if self.is_ld_imm64 else 1

    @property
    def is_ld_imm64(self) -> bool:
        return self.opcode == 0x18

    @property
    def is_call(self) -> bool:
        return self.cls == JMP and (self.opcode & 0xF0) == CALL

    @property
    def is_exit(self) -> bool:
        return self.cls == JMP and (self.opcode & 0xF0) == EXIT

    @property
    def is_jump(self) -> bool:
        return self.cls in (JMP, JMP32) and (self.opcode & 0xF0) not in (CALL, EXIT)

    @property
    def is_unconditional(self) -> bool:
        return self.is_jump and (self.opcode & 0xF0) == JA

    def jump_target(self) -> int:
        # gotol (JMP32 | JA) keeps its offset in imm
        delta = self.imm if (self.cls == JMP32 and (self.opcode & 0xF0) == JA) else self.off
        return self.idx + delta + 1


def decode(code: bytes, little_endian: bool = True) -> list[Insn]:
    """Decode a section's bytes into instructions (one entry per instruction, not per slot)."""
    e = "<" if little_endian else ">"
    out = []
    i = 0
    n = len(code) // 8
    while i < n:
        opcode, regs, off, imm = struct.unpack_from(e + "BBhi", code, i * 8)
        dst, src = (regs & 0x0F, regs >> 4) if little_endian else (regs >> 4, regs & 0x0F)
        if opcode == 0x18 and i + 1 < n:
            _, _, _, hi = struct.unpack_from(e + "BBhi", code, (i + 1) * 8)
            out.append(Insn(i, opcode, dst, src, off, imm, (imm & 0xFFFFFFFF) | (hi << 32)))
            i += 2
        else:
            out.append(Insn(i, opcode, dst, src, off, imm))
            i += 1
    return out


def successors(insn: Insn) -> tuple[int, ...]:
    """Instruction indexes control may reach after ``insn`` (within its function)."""
    if insn.is_exit:
        return ()
    if insn.is_jump:
        if insn.is_unconditional:
            return (insn.jump_target(),)
        return (insn.idx + 1, insn.jump_target())
    return (insn.idx + insn.width,)
