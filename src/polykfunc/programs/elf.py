"""Read a compiled BPF object (``clang -O2 -g -target bpf -c``) into plain data.

What :func:`read_object` returns (:class:`BpfObject`):

- every function (``STT_FUNC`` symbol in an executable section) with its decoded instructions
  and its linkage (from BTF ``FUNC`` records, else the symbol binding);
- the entry programs: functions outside ``.text``, with the program type and sleepability the
  section name gives (libbpf's ``SEC()`` conventions) and, for struct_ops programs, the member
  each one implements (from the relocations of the ``.struct_ops[.link]`` map and the map's BTF);
- for every call instruction, what it calls: a kfunc (a relocation against an undefined, extern
  symbol), a helper (``call N``) or a subprogram (a relocation, or a relative call);
- for every ``ld_imm64`` of a function's address, that function (callback registrations);
- BTF prototypes of kfuncs and of struct_ops members, and BTF.ext source lines.

Errors in the input (not a file, not ELF, not BPF) raise :class:`ObjectError`, a
:class:`~polykfunc.errors.UsageError`, whose message says what to pass instead.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path

from polykfunc.errors import UsageError

from . import btf as B
from .insns import PSEUDO_CALL, Insn, decode
from .symbols import essential_name

EM_BPF = 247
STRUCT_OPS_SECTIONS = (".struct_ops", ".struct_ops.link")

#: libbpf SEC() prefixes -> (program type as the models name it, sleepable). Program types that
#: share the TRACING kfunc hook (tracepoints, raw tracepoints, perf events) are reported as
#: TRACING, which is what the kfunc registration sees (kernel/bpf/btf.c: bpf_prog_type_to_kfunc_hook).
SECTION_TYPES: tuple[tuple[str, str, bool], ...] = (
    ("struct_ops.s/", "STRUCT_OPS", True), ("struct_ops/", "STRUCT_OPS", False),
    ("struct_ops.s", "STRUCT_OPS", True), ("struct_ops", "STRUCT_OPS", False),
    ("syscall", "SYSCALL", True),
    ("fentry.s/", "TRACING", True), ("fexit.s/", "TRACING", True), ("fmod_ret.s/", "TRACING", True),
    ("iter.s/", "TRACING", True), ("fentry/", "TRACING", False), ("fexit/", "TRACING", False),
    ("fmod_ret/", "TRACING", False), ("tp_btf/", "TRACING", False), ("iter/", "TRACING", False),
    ("raw_tp/", "TRACING", False), ("raw_tracepoint/", "TRACING", False), ("tp/", "TRACING", False),
    ("tracepoint/", "TRACING", False), ("perf_event", "TRACING", False),
    ("lsm.s/", "LSM", True), ("lsm/", "LSM", False), ("lsm_cgroup/", "LSM", False),
    ("xdp", "XDP", False), ("tcx/", "SCHED_CLS", False), ("tc", "SCHED_CLS", False),
    ("classifier", "SCHED_CLS", False), ("action", "SCHED_ACT", False),
    ("socket", "SOCKET_FILTER", False), ("cgroup_skb/", "CGROUP_SKB", False),
    ("lwt_", "LWT", False), ("kprobe/", "KPROBE", False), ("kretprobe/", "KPROBE", False),
    ("uprobe", "KPROBE", False), ("ksyscall/", "KPROBE", False),
)


class ObjectError(UsageError):
    """The file is not a BPF object polykfunc can read (the message says what to pass)."""


@dataclass(frozen=True)
class Reloc:
    """A relocation against one instruction (or one struct_ops slot)."""

    offset: int                 # byte offset in the relocated section
    symbol: str
    sym_section: str | None     # None: undefined (an extern: a kfunc or a ksym)
    sym_value: int
    is_section_symbol: bool
    weak: bool = False          # the symbol is declared __weak (STB_WEAK)


@dataclass(frozen=True)
class Function:
    """One BPF function: a program or a subprogram. ``insns`` are indexed by section index."""

    name: str
    section: str
    start: int                  # first instruction index in the section
    end: int                    # one past the last
    linkage: str                # "static" or "global"
    insns: tuple[Insn, ...]

    @property
    def is_entry(self) -> bool:
        return self.section != ".text"


@dataclass(frozen=True)
class Program:
    """What the loader makes of an entry function: program type, sleepability, attach point."""

    function: str
    section: str
    prog_type: str | None       # None: a section name libbpf conventions do not cover
    sleepable: bool
    attach: str                 # the part of the section name after the prefix
    st_ops: str | None = None   # struct_ops programs: the struct the map implements
    member: str | None = None   # struct_ops programs: the member this program fills


@dataclass(frozen=True)
class Target:
    """What a call instruction calls."""

    kind: str                   # "kfunc", "helper", "subprog", "unknown"
    name: str                   # kfunc (its essential name, as the loader resolves it) or function name; helper id
    symbol: str = ""            # kfuncs: the extern symbol as written (``scx_bpf_consume___old``)
    weak: bool = False          # kfuncs: the extern is __weak (absent on the running kernel, it is patched out)


@dataclass
class BpfObject:
    path: Path
    little_endian: bool
    functions: dict[str, Function]
    programs: dict[str, Program]
    relocs: dict[str, dict[int, Reloc]]
    btf: B.BTF | None
    ext: B.BTFExt | None
    struct_ops: dict[str, dict[str, str]] = field(default_factory=dict)  # map var -> member -> fn
    struct_types: dict[str, str] = field(default_factory=dict)            # map var -> struct name
    notes: list[str] = field(default_factory=list)
    exec_sections: frozenset[str] = frozenset()

    # ------------------------------------------------------------------ lookups
    def function_at(self, section: str, insn_idx: int) -> Function | None:
        for f in self.functions.values():
            if f.section == section and f.start == insn_idx:
                return f
        return None

    def call_target(self, fn: Function, insn: Insn) -> Target:
        """What the call instruction ``insn`` of ``fn`` calls."""
        rel = self.relocs.get(fn.section, {}).get(insn.idx * 8)
        if rel is not None and rel.sym_section is None:
            return Target("kfunc", essential_name(rel.symbol), rel.symbol, rel.weak)
        if rel is not None:
            target = self.function_at(rel.sym_section, rel.sym_value // 8 + insn.imm + 1)
            return Target("subprog", target.name) if target else Target("unknown", rel.symbol)
        if insn.src == PSEUDO_CALL:
            target = self.function_at(fn.section, insn.idx + insn.imm + 1)
            return Target("subprog", target.name) if target else Target("unknown", f"insn {insn.idx + insn.imm + 1}")
        return Target("helper", str(insn.imm))

    def function_address(self, fn: Function, insn: Insn) -> str | None:
        """The function whose address ``ld_imm64`` instruction ``insn`` loads, if any."""
        rel = self.relocs.get(fn.section, {}).get(insn.idx * 8)
        if rel is None or rel.sym_section is None:
            return None
        target = self.function_at(rel.sym_section, (rel.sym_value + (insn.imm if rel.is_section_symbol else 0)) // 8)
        return target.name if target else None

    def ksym_address(self, fn: Function, insn: Insn) -> Target | None:
        """The extern kfunc or variable whose address ``ld_imm64`` instruction ``insn`` loads
        (``bpf_ksym_exists(sym)``), as a kfunc :class:`Target`; None for anything else."""
        rel = self.relocs.get(fn.section, {}).get(insn.idx * 8)
        if rel is None or rel.sym_section is not None or not insn.is_ld_imm64:
            return None
        return Target("kfunc", essential_name(rel.symbol), rel.symbol, rel.weak)

    def data_address(self, fn: Function, insn: Insn) -> tuple[str, int] | None:
        """(section, byte offset) of the global variable an ``ld_imm64`` instruction loads the
        address of (a map's value: ``.rodata``, ``.data``, ``.bss``), None for anything else."""
        rel = self.relocs.get(fn.section, {}).get(insn.idx * 8)
        if rel is None or rel.sym_section is None or not insn.is_ld_imm64 or rel.sym_section in self.exec_sections:
            return None
        return rel.sym_section, rel.sym_value + (insn.imm if rel.is_section_symbol else 0)

    def line_of(self, fn: Function, insn_idx: int) -> tuple[str, int] | None:
        """(file, line) of an instruction when BTF line info is present."""
        if self.ext is None:
            return None
        rec = self.ext.line_at(fn.section, insn_idx)
        return (rec.file, rec.line) if rec else None

    def params(self, proto: B.BtfType | None) -> tuple[tuple[str, str, str | None], ...]:
        """(name, C type, pointee struct or None) of each parameter of a FUNC_PROTO."""
        if proto is None or self.btf is None:
            return ()
        return tuple((p.name, self.btf.describe(p.type_id), self.btf.pointee_struct(p.type_id))
                     for p in proto.params)

    def kfunc_params(self, name: str) -> tuple[tuple[str, str, str | None], ...]:
        return self.params(self.btf.func_proto(name) if self.btf else None)

    def member_params(self, struct_name: str, member: str) -> tuple[tuple[str, str, str | None], ...]:
        """Parameters of a struct_ops member (a function pointer) as the object's BTF declares them."""
        if self.btf is None:
            return ()
        st = self.btf.named(struct_name, B.STRUCT)
        if st is None:
            return ()
        for m in st.members:
            if m.name == member:
                ptr = self.btf.strip(m.type_id)
                proto = self.btf.strip(ptr.type_id) if ptr is not None and ptr.kind == B.PTR else None
                return self.params(proto if proto is not None and proto.kind == B.FUNC_PROTO else None)
        return ()


def read_object(path: str | Path) -> BpfObject:
    """Read ``path``, a BPF ELF object. Raises :class:`ObjectError` for anything else.

    >>> obj = read_object("prog.bpf.o")            # doctest: +SKIP
    >>> obj.programs["my_enqueue"].member          # doctest: +SKIP
    'enqueue'
    """
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    p = Path(path)
    if not p.is_file():
        raise ObjectError(f"no such file: {p} (pass a BPF object built with `clang -O2 -g -target bpf -c`)")
    with p.open("rb") as fh:
        head = fh.read(4)
        if head != b"\x7fELF":
            raise ObjectError(f"{p} is not an ELF object (it starts with {head!r}); pass the .bpf.o that "
                              "`clang -O2 -g -target bpf -c prog.bpf.c -o prog.bpf.o` writes, not the source")
        fh.seek(0)
        try:
            elf = ELFFile(fh)
            return _read(p, elf)
        except ELFError as exc:
            raise ObjectError(f"{p} is a damaged ELF file: {exc}") from None
        except B.BTFError as exc:
            raise ObjectError(f"{p}: cannot read its BTF: {exc}") from None


def _read(path: Path, elf) -> BpfObject:
    machine = elf["e_machine"]
    if machine not in ("EM_BPF", EM_BPF):
        raise ObjectError(f"{path} is an ELF object for {machine}, not BPF; compile the program with "
                          "`clang -O2 -g -target bpf -c`")
    le = elf.little_endian
    sections = {s.name: s for s in elf.iter_sections()}
    symtab = elf.get_section_by_name(".symtab")
    if symtab is None:
        raise ObjectError(f"{path} has no symbol table; do not strip BPF objects")
    btf = ext = None
    notes: list[str] = []
    if ".BTF" in sections:
        btf = B.parse_btf(sections[".BTF"].data(), le)
        if ".BTF.ext" in sections:
            ext = B.parse_btf_ext(sections[".BTF.ext"].data(), btf, le)
    else:
        notes.append("no .BTF section: struct_ops members, kfunc prototypes and source lines are unknown "
                     "(compile with -g)")

    index_name = {i: s.name for i, s in enumerate(elf.iter_sections())}
    exec_sections = {s.name for s in elf.iter_sections()
                     if s["sh_type"] == "SHT_PROGBITS" and s["sh_flags"] & 0x4 and s.data_size}
    symbols = list(symtab.iter_symbols())

    def sym_section(sym) -> str | None:
        shndx = sym["st_shndx"]
        return None if shndx == "SHN_UNDEF" or not isinstance(shndx, int) else index_name.get(shndx)

    # relocations of every section, by relocated section name
    relocs: dict[str, dict[int, Reloc]] = {}
    for s in elf.iter_sections():
        if s["sh_type"] not in ("SHT_REL", "SHT_RELA"):
            continue
        target = index_name.get(s["sh_info"])
        if target not in exec_sections and target not in STRUCT_OPS_SECTIONS:
            continue
        table = relocs.setdefault(target, {})
        for r in s.iter_relocations():
            sym = symbols[r["r_info_sym"]]
            table[r["r_offset"]] = Reloc(r["r_offset"], sym.name or index_name.get(sym["st_shndx"], ""),
                                         sym_section(sym), sym["st_value"],
                                         sym["st_info"]["type"] == "STT_SECTION",
                                         sym["st_info"]["bind"] == "STB_WEAK")

    linkage = _btf_linkage(btf)
    functions: dict[str, Function] = {}
    for sec in sorted(exec_sections):
        insns = decode(sections[sec].data(), le)
        by_idx = {i.idx: i for i in insns}
        starts = [i.idx for i in insns]
        funcs = sorted((sym["st_value"] // 8, sym) for sym in symbols
                       if sym["st_info"]["type"] == "STT_FUNC" and sym_section(sym) == sec)
        for n, (start, sym) in enumerate(funcs):
            size = sym["st_size"] // 8
            end = start + size if size else (funcs[n + 1][0] if n + 1 < len(funcs) else len(by_idx) * 2)
            body = tuple(insns[bisect.bisect_left(starts, start):bisect.bisect_left(starts, end)])
            bind = "global" if sym["st_info"]["bind"] in ("STB_GLOBAL", "STB_WEAK") else "static"
            functions[sym.name] = Function(sym.name, sec, start, end, linkage.get(sym.name, bind), body)

    programs = {f.name: _program(f) for f in functions.values() if f.is_entry}
    obj = BpfObject(path, le, functions, programs, relocs, btf, ext, notes=notes,
                    exec_sections=frozenset(exec_sections))
    _struct_ops(obj, sections, symbols, sym_section)
    return obj


def _btf_linkage(btf: B.BTF | None) -> dict[str, str]:
    if btf is None:
        return {}
    return {t.name: t.linkage for t in btf.types[1:]
            if t is not None and t.kind == B.FUNC and t.linkage in ("static", "global")}


def _program(f: Function) -> Program:
    for prefix, ptype, sleepable in SECTION_TYPES:
        if f.section == prefix.rstrip("/") or f.section.startswith(prefix):
            attach = f.section[len(prefix):] if f.section.startswith(prefix) else ""
            return Program(f.name, f.section, ptype, sleepable, attach)
    return Program(f.name, f.section, None, False, f.section)


def _struct_ops(obj: BpfObject, sections, symbols, sym_section) -> None:
    """Fill in which member each struct_ops program implements, from the map's relocations."""
    for sec in STRUCT_OPS_SECTIONS:
        if sec not in sections:
            continue
        variables = sorted((sym["st_value"], sym.name) for sym in symbols
                           if sym_section(sym) == sec and sym["st_info"]["type"] == "STT_OBJECT")
        for _off, var in variables:   # a map with no callbacks at all still names its struct
            struct_name = _var_struct(obj.btf, var)
            if struct_name is not None:
                obj.struct_types[var] = struct_name
                obj.struct_ops.setdefault(var, {})
        for off, rel in sorted(obj.relocs.get(sec, {}).items()):
            var_off, var = next(((o, n) for o, n in reversed(variables) if o <= off), (0, ""))
            struct_name = _var_struct(obj.btf, var)
            if struct_name is None:
                obj.notes.append(f"struct_ops map {var or sec}: no BTF for its type, members unknown")
                continue
            member = _member_at(obj.btf, struct_name, off - var_off)
            fn = rel.symbol
            obj.struct_types[var] = struct_name
            obj.struct_ops.setdefault(var, {})[member or f"+{off - var_off}"] = fn
            prog = obj.programs.get(fn)
            if prog is None:
                continue
            if prog.member is not None and prog.member != member:
                obj.notes.append(f"{fn} fills {prog.member} and {member}; checked as {prog.member}")
                continue
            obj.programs[fn] = Program(prog.function, prog.section, prog.prog_type, prog.sleepable,
                                       prog.attach, struct_name, member)


def _var_struct(btf: B.BTF | None, var: str) -> str | None:
    if btf is None or not var:
        return None
    v = btf.named(var, B.VAR)
    t = btf.strip(v.type_id) if v is not None else None
    return t.name if t is not None and t.kind == B.STRUCT else None


def _member_at(btf: B.BTF | None, struct_name: str, byte_off: int) -> str | None:
    st = btf.named(struct_name, B.STRUCT) if btf else None
    for m in st.members if st else ():
        if m.byte_offset == byte_off:
            return m.name
    return None
