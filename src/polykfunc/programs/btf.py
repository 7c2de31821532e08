"""Read BTF and BTF.ext (the BPF type format and its line/function records) from raw bytes.

pyelftools reads ELF but knows nothing of BTF, so this module decodes the two sections clang
writes into every ``-g`` BPF object: ``.BTF`` (types and strings) and ``.BTF.ext`` (per
instruction function and source line records). Only what polykfunc needs is interpreted:
names, struct members with their byte offsets, function prototypes with parameter names and
types, function linkage, data sections, and line records.

The layout is ``include/uapi/linux/btf.h`` and ``tools/lib/bpf/libbpf_internal.h``
(struct btf_ext_header, bpf_func_info, bpf_line_info).
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field

BTF_MAGIC = 0xEB9F

# BTF_KIND_* (include/uapi/linux/btf.h)
INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO, \
    VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(1, 20)
_MODIFIERS = (TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG)
#: BTF_FUNC_STATIC / GLOBAL / EXTERN, the linkage of a FUNC type
LINKAGE = {0: "static", 1: "global", 2: "extern"}


class BTFError(ValueError):
    """The bytes are not BTF this reader understands."""


@dataclass(frozen=True)
class Member:
    name: str
    type_id: int
    byte_offset: int


@dataclass(frozen=True)
class Param:
    name: str
    type_id: int


@dataclass(frozen=True)
class BtfType:
    """One BTF type record. ``members`` for structs/unions, ``params`` for prototypes,
    ``vars`` (type id, offset, size) for data sections."""

    id: int
    kind: int
    name: str
    type_id: int = 0              # PTR/TYPEDEF/modifiers/FUNC/VAR: the referenced type
    size: int = 0
    linkage: str = ""             # FUNC and VAR
    members: tuple[Member, ...] = ()
    params: tuple[Param, ...] = ()
    vars: tuple[tuple[int, int, int], ...] = ()


class _TypeQueries:
    """Questions about types, for any reader that has ``type(id)`` and ``named(name, kind)``."""

    def type(self, type_id: int) -> BtfType | None:  # pragma: no cover - every reader defines it
        raise NotImplementedError

    def named(self, name: str, kind: int) -> BtfType | None:  # pragma: no cover
        raise NotImplementedError

    def strip(self, type_id: int) -> BtfType | None:
        """The type behind typedefs, const, volatile, restrict and type tags."""
        t = self.type(type_id)
        seen = 0
        while t is not None and t.kind in _MODIFIERS and seen < 32:
            t = self.type(t.type_id)
            seen += 1
        return t

    def pointee_struct(self, type_id: int) -> str | None:
        """``struct NAME *`` -> NAME (through modifiers); None for anything else."""
        t = self.strip(type_id)
        if t is None or t.kind != PTR:
            return None
        target = self.strip(t.type_id)
        if target is not None and target.kind in (STRUCT, UNION, FWD):
            return target.name
        return None

    def describe(self, type_id: int) -> str:
        """A short C-like spelling of a type, for reports (``struct task_struct *``, ``u64``)."""
        t = self.type(type_id)
        if t is None:
            return "void"
        if t.kind == PTR:
            return self.describe(t.type_id) + " *"
        if t.kind in (STRUCT, UNION, FWD):
            return ("union " if t.kind == UNION else "struct ") + t.name
        if t.kind in (CONST, VOLATILE, RESTRICT, TYPE_TAG):
            return self.describe(t.type_id)
        return t.name or f"type#{t.id}"

    def func_proto(self, func_name: str) -> BtfType | None:
        """The FUNC_PROTO of the function ``func_name`` (a program, subprogram or extern)."""
        f = self.named(func_name, FUNC)
        return self.type(f.type_id) if f is not None else None


@dataclass
class BTF(_TypeQueries):
    """The decoded ``.BTF`` section: types by id (id 0 is void) and a name index."""

    types: list[BtfType | None]
    strings: bytes
    by_name: dict[str, list[int]] = field(default_factory=dict)

    def string(self, off: int) -> str:
        return _cstr(self.strings, off)

    def type(self, type_id: int) -> BtfType | None:
        return self.types[type_id] if 0 < type_id < len(self.types) else None

    def named(self, name: str, kind: int) -> BtfType | None:
        """The first type called ``name`` of ``kind`` (None when there is none)."""
        for tid in self.by_name.get(name, ()):
            t = self.types[tid]
            if t is not None and t.kind == kind:
                return t
        return None

    def ids(self, kind: int) -> list[int]:
        """The ids of every type of ``kind``, in order."""
        return [t.id for t in self.types[1:] if t is not None and t.kind == kind]


def _sections(data: bytes, e: str) -> tuple[bytes, bytes]:
    """The type records and the string table of a ``.BTF`` section."""
    if len(data) < 24:
        raise BTFError("the .BTF section is shorter than its header")
    magic, version, _flags, hdr_len = struct.unpack_from(e + "HBBI", data, 0)
    if magic != BTF_MAGIC:
        raise BTFError(f"bad BTF magic {magic:#x}")
    type_off, type_len, str_off, str_len = struct.unpack_from(e + "IIII", data, 8)
    base = hdr_len
    return data[base + type_off: base + type_off + type_len], data[base + str_off: base + str_off + str_len]


#: bytes after the 12-byte common header of a record: (fixed, per vlen entry), by kind
_EXTRA = {INT: (4, 0), ARRAY: (12, 0), STRUCT: (0, 12), UNION: (0, 12), ENUM: (0, 8), ENUM64: (0, 12),
          FUNC_PROTO: (0, 8), VAR: (4, 0), DATASEC: (0, 12), DECL_TAG: (4, 0), PTR: (0, 0), FWD: (0, 0),
          TYPEDEF: (0, 0), VOLATILE: (0, 0), CONST: (0, 0), RESTRICT: (0, 0), FLOAT: (0, 0),
          TYPE_TAG: (0, 0), FUNC: (0, 0)}


def _decode(raw: bytes, pos: int, tid: int, s, e: str) -> tuple[BtfType, int]:
    """The type record at ``pos`` (type ``tid``) and the position after it; ``s`` reads a name."""
    name_off, info, size_or_type = struct.unpack_from(e + "III", raw, pos)
    pos += 12
    vlen = info & 0xFFFF
    kind = (info >> 24) & 0x1F
    name = s(name_off)
    if kind == INT:
        pos += 4
        t = BtfType(tid, kind, name, size=size_or_type)
    elif kind == ARRAY:
        elem, _index, _n = struct.unpack_from(e + "III", raw, pos)
        pos += 12
        t = BtfType(tid, kind, name, type_id=elem)
    elif kind in (STRUCT, UNION):
        kflag = info >> 31
        mems = []
        for _ in range(vlen):
            m_name, m_type, m_off = struct.unpack_from(e + "III", raw, pos)
            pos += 12
            bits = m_off & 0xFFFFFF if kflag else m_off
            mems.append(Member(s(m_name), m_type, bits // 8))
        t = BtfType(tid, kind, name, size=size_or_type, members=tuple(mems))
    elif kind == ENUM:
        pos += 8 * vlen
        t = BtfType(tid, kind, name, size=size_or_type)
    elif kind == ENUM64:
        pos += 12 * vlen
        t = BtfType(tid, kind, name, size=size_or_type)
    elif kind == FUNC_PROTO:
        params = []
        for _ in range(vlen):
            p_name, p_type = struct.unpack_from(e + "II", raw, pos)
            pos += 8
            params.append(Param(s(p_name), p_type))
        t = BtfType(tid, kind, name, type_id=size_or_type, params=tuple(params))
    elif kind == FUNC:
        t = BtfType(tid, kind, name, type_id=size_or_type, linkage=LINKAGE.get(vlen, str(vlen)))
    elif kind == VAR:
        (linkage,) = struct.unpack_from(e + "I", raw, pos)
        pos += 4
        t = BtfType(tid, kind, name, type_id=size_or_type, linkage=str(linkage))
    elif kind == DATASEC:
        vs = []
        for _ in range(vlen):
            vs.append(struct.unpack_from(e + "III", raw, pos))
            pos += 12
        t = BtfType(tid, kind, name, size=size_or_type, vars=tuple(vs))
    elif kind == DECL_TAG:
        pos += 4
        t = BtfType(tid, kind, name, type_id=size_or_type)
    elif kind in (PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FLOAT, TYPE_TAG):
        t = BtfType(tid, kind, name, type_id=size_or_type, size=size_or_type if kind == FLOAT else 0)
    else:
        raise BTFError(f"unknown BTF kind {kind} (type {tid}); is this BTF from a newer compiler?")
    return t, pos


def _name_reader(strings: bytes):
    names: dict[int, str] = {}   # deduplicated BTF repeats an offset for every use of a name

    def s(off: int) -> str:
        got = names.get(off)
        if got is None:
            got = names[off] = _cstr(strings, off)
        return got
    return s


def parse_btf(data: bytes, little_endian: bool = True) -> BTF:
    """Decode a ``.BTF`` section. Raises :class:`BTFError` on bytes that are not BTF."""
    e = "<" if little_endian else ">"
    raw, strings = _sections(data, e)
    types: list[BtfType | None] = [None]
    s = _name_reader(strings)
    pos = 0
    tid = 1
    while pos + 12 <= len(raw):
        t, pos = _decode(raw, pos, tid, s, e)
        types.append(t)
        tid += 1
    btf = BTF(types, strings)
    for t in types[1:]:
        if t is not None and t.name:
            btf.by_name.setdefault(t.name, []).append(t.id)
    return btf


class IndexedBTF(_TypeQueries):
    """A large ``.BTF`` (a kernel's vmlinux, 100,000+ types) read on demand.

    One pass records where each type's record starts, its kind and its name's offset; a type
    is decoded when it is asked for. It answers what :class:`BTF` answers (``type``, ``named``,
    ``ids`` and the shared queries) with the same types. Raises :class:`BTFError` on bytes
    that are not BTF.
    """

    def __init__(self, data: bytes, little_endian: bool = True):
        self._e = e = "<" if little_endian else ">"
        self._raw, self.strings = _sections(data, e)
        self._s = _name_reader(self.strings)
        head = struct.Struct(e + "III").unpack_from
        starts, kinds, name_offs = [0], [0], [0]   # id 0 is void
        raw, pos, end = self._raw, 0, len(self._raw)
        while pos + 12 <= end:
            name_off, info, _ = head(raw, pos)
            kind = (info >> 24) & 0x1F
            extra = _EXTRA.get(kind)
            if extra is None:
                raise BTFError(f"unknown BTF kind {kind} (type {len(starts)}); is this BTF from a newer compiler?")
            starts.append(pos)
            kinds.append(kind)
            name_offs.append(name_off)
            pos += 12 + extra[0] + extra[1] * (info & 0xFFFF)
        if pos > end:
            raise BTFError(f"the .BTF type section ends inside type {len(starts) - 1}")
        self._starts, self._kinds, self._name_offs = starts, kinds, name_offs
        self._decoded: dict[int, BtfType] = {}
        self._by_name_off: dict[int, list[int]] | None = None

    def __len__(self) -> int:
        return len(self._starts)

    def string(self, off: int) -> str:
        return self._s(off)

    def type(self, type_id: int) -> BtfType | None:
        if not 0 < type_id < len(self._starts):
            return None
        t = self._decoded.get(type_id)
        if t is None:
            t = self._decoded[type_id] = _decode(self._raw, self._starts[type_id], type_id, self._s, self._e)[0]
        return t

    def ids(self, kind: int) -> list[int]:
        """The ids of every type of ``kind``, in order."""
        return [i for i, k in enumerate(self._kinds) if k == kind and i]

    def named(self, name: str, kind: int) -> BtfType | None:
        """The first type called ``name`` of ``kind`` (None when there is none)."""
        if self._by_name_off is None:
            self._by_name_off = {}
            for i, off in enumerate(self._name_offs):
                if i and off:
                    self._by_name_off.setdefault(off, []).append(i)
        needle, found = b"\0" + name.encode() + b"\0", []
        at = self.strings.find(needle)
        while at >= 0:   # every offset the name is stored at (one, in deduplicated BTF)
            found.extend(self._by_name_off.get(at + 1, ()))
            at = self.strings.find(needle, at + 1)
        for tid in sorted(found):
            if self._kinds[tid] == kind:
                return self.type(tid)
        return None


@dataclass(frozen=True)
class LineRecord:
    """A source position: instruction ``insn`` (index in its section) starts line ``line``."""

    section: str
    insn: int
    file: str
    line: int
    col: int


@dataclass(frozen=True)
class FuncRecord:
    section: str
    insn: int
    type_id: int


@dataclass
class BTFExt:
    """The decoded ``.BTF.ext``: function and line records, by ELF section name."""

    funcs: dict[str, list[FuncRecord]] = field(default_factory=dict)
    lines: dict[str, list[LineRecord]] = field(default_factory=dict)

    def line_at(self, section: str, insn: int) -> LineRecord | None:
        """The line record in force at instruction ``insn`` of ``section`` (None: no line info):
        the last record, in order, among those starting at the highest instruction <= ``insn``."""
        index = self.__dict__.setdefault("_index", {})
        if section not in index:
            recs = sorted(self.lines.get(section, ()), key=lambda r: r.insn)   # stable: ties keep their order
            index[section] = ([r.insn for r in recs], recs)
        starts, recs = index[section]
        i = bisect.bisect_right(starts, insn)
        return recs[i - 1] if i else None


def parse_btf_ext(data: bytes, btf: BTF, little_endian: bool = True) -> BTFExt:
    """Decode a ``.BTF.ext`` section (strings come from ``btf``)."""
    e = "<" if little_endian else ">"
    out = BTFExt()
    if len(data) < 24:
        raise BTFError("the .BTF.ext section is shorter than its header")
    magic, _version, _flags, hdr_len = struct.unpack_from(e + "HBBI", data, 0)
    if magic != BTF_MAGIC:
        raise BTFError(f"bad BTF.ext magic {magic:#x}")
    func_off, func_len, line_off, line_len = struct.unpack_from(e + "IIII", data, 8)

    def records(off: int, length: int):
        blob = data[hdr_len + off: hdr_len + off + length]
        if len(blob) < 4:
            return
        (rec_size,) = struct.unpack_from(e + "I", blob, 0)
        pos = 4
        while pos + 8 <= len(blob):
            sec_off, num = struct.unpack_from(e + "II", blob, pos)
            pos += 8
            sec = btf.string(sec_off)
            for _ in range(num):
                yield sec, blob[pos: pos + rec_size]
                pos += rec_size

    for sec, rec in records(func_off, func_len):
        insn_off, type_id = struct.unpack_from(e + "II", rec, 0)
        out.funcs.setdefault(sec, []).append(FuncRecord(sec, insn_off // 8, type_id))
    for sec, rec in records(line_off, line_len):
        insn_off, file_off, _line_off, line_col = struct.unpack_from(e + "IIII", rec, 0)
        out.lines.setdefault(sec, []).append(
            LineRecord(sec, insn_off // 8, btf.string(file_off), line_col >> 10, line_col & 0x3FF))
    return out


def _cstr(buf: bytes, off: int) -> str:
    if off >= len(buf):
        return ""
    end = buf.find(b"\0", off)
    return buf[off: end if end >= 0 else len(buf)].decode("utf-8", "replace")
