"""The facts an import reads from a kernel tree, each with the file and line it came from.

Plain frozen dataclasses; :class:`Inventory` is the whole import and answers the per-kfunc
questions (flags, sets, program types, filters) the generated model and drift need.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Place:
    """A line of a file, the path relative to the tree root."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Skip:
    """Something the importer could not read: where, what, and a hint; the rest is imported."""

    place: Place
    what: str
    hint: str = ""

    def __str__(self) -> str:
        return f"{self.place}: {self.what}" + (f" ({self.hint})" if self.hint else "")


@dataclass(frozen=True)
class SetEntry:
    """One ``BTF_ID_FLAGS(func, NAME, FLAGS)`` line of a kfunc set."""

    kfunc: str
    flags: tuple[str, ...]
    guards: tuple[str, ...]
    place: Place


@dataclass(frozen=True)
class KfuncIdList:
    """A ``BTF_KFUNCS_START(name) .. BTF_KFUNCS_END(name)`` list (or the older ``BTF_SET8_START``)."""

    name: str
    form: str                      # "BTF_KFUNCS" or "BTF_SET8"
    entries: tuple[SetEntry, ...]
    guards: tuple[str, ...]
    place: Place


@dataclass(frozen=True)
class IdSetStruct:
    """A ``struct btf_kfunc_id_set NAME = { .set = &LIST, .filter = FN }`` initializer."""

    name: str
    set: str | None
    filter: str | None
    guards: tuple[str, ...]
    place: Place


@dataclass(frozen=True)
class Registration:
    """A ``register_btf_kfunc_id_set(BPF_PROG_TYPE_X, &id_set)`` call (or the fmodret form)."""

    prog_type: str                 # without the BPF_PROG_TYPE_ prefix; "UNSPEC" = every type
    id_set: str
    function: str                  # the function the call is in
    kind: str                      # "kfunc" or "fmodret"
    guards: tuple[str, ...]
    place: Place


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    annotation: str | None         # the __sz/__k/__nullable/... suffix of the name, without "__"


@dataclass(frozen=True)
class KfuncDef:
    """A ``__bpf_kfunc`` definition: its prototype and annotated arguments."""

    name: str
    prototype: str
    params: tuple[Param, ...]
    guards: tuple[str, ...]
    place: Place


@dataclass(frozen=True)
class BtfListEntry:
    name: str
    guards: tuple[str, ...]
    place: Place


@dataclass(frozen=True)
class BtfList:
    """A ``BTF_SET_START(name) .. BTF_SET_END`` set or a ``BTF_ID_LIST(name)`` list of BTF ids."""

    name: str
    form: str                      # "BTF_SET" or "BTF_ID_LIST"
    entries: tuple[BtfListEntry, ...]
    place: Place


@dataclass(frozen=True)
class OpsMember:
    """A function-pointer member of a struct_ops type; ``sleepable``: may a sleepable program
    implement it (None when the tree's check_member does not decide)."""

    name: str
    sleepable: bool | None
    guards: tuple[str, ...]
    place: Place


@dataclass(frozen=True)
class StructOps:
    """A ``struct bpf_struct_ops`` registration and the ops type it implements."""

    name: str                      # the ops type, e.g. sched_ext_ops
    var: str                       # the bpf_struct_ops variable
    check_member: str | None
    members: tuple[OpsMember, ...]
    place: Place
    type_place: Place | None       # where `struct NAME {` is defined


@dataclass(frozen=True)
class FunctionRefs:
    """Names a verifier function keys on (specialize_kfunc's kfuncs, can_be_sleepable's types)."""

    function: str
    refs: tuple[str, ...]
    place: Place


@dataclass(frozen=True)
class FileFacts:
    """Everything read from one file."""

    file: str
    id_lists: tuple[KfuncIdList, ...] = ()
    id_sets: tuple[IdSetStruct, ...] = ()
    registrations: tuple[Registration, ...] = ()
    definitions: tuple[KfuncDef, ...] = ()
    btf_lists: tuple[BtfList, ...] = ()
    struct_ops: tuple[tuple[str, str, str | None, Place], ...] = ()   # (ops type, var, check_member, place)
    struct_types: tuple[tuple[str, tuple[OpsMember, ...], Place], ...] = ()
    sleepable: tuple[tuple[str, tuple[tuple[str, bool], ...]], ...] = ()   # (ops type, (member, allowed))
    refs: tuple[FunctionRefs, ...] = ()
    flag_defs: tuple[tuple[str, Place], ...] = ()
    prog_types: tuple[tuple[str, Place], ...] = ()
    hooks: tuple[tuple[str, str, Place], ...] = ()
    skips: tuple[Skip, ...] = ()


@dataclass(frozen=True)
class KfuncRecord:
    """One kfunc as the inventory sees it (the ``--json`` object)."""

    name: str
    flags: tuple[str, ...]
    sets: tuple[str, ...]
    prog_types: tuple[str, ...]           # as registered (UNSPEC: every type)
    visible_to: tuple[str, ...]           # after the verifier's hook mapping
    filters: tuple[str, ...]
    place: Place
    guards: tuple[str, ...]
    definition: KfuncDef | None

    def to_json(self) -> dict:
        d = self.definition
        return {"name": self.name, "flags": list(self.flags), "sets": list(self.sets),
                "prog_types": list(self.prog_types), "visible_to": list(self.visible_to),
                "filters": list(self.filters), "file": self.place.file, "line": self.place.line,
                "guards": list(self.guards),
                "definition": None if d is None else {
                    "file": d.place.file, "line": d.place.line, "prototype": d.prototype,
                    "params": [{"name": p.name, "type": p.type, "annotation": p.annotation} for p in d.params]}}


@dataclass(frozen=True)
class TreeInfo:
    root: str
    version: str | None                    # from the top Makefile, e.g. "6.12.118"
    label: str                             # what the user called the tree (or the version)
    commit: str | None
    files_scanned: int
    files_parsed: int


@dataclass(frozen=True)
class Inventory:
    """The whole import of one tree."""

    tree: TreeInfo
    id_lists: tuple[KfuncIdList, ...]
    id_sets: tuple[IdSetStruct, ...]
    registrations: tuple[Registration, ...]
    definitions: tuple[KfuncDef, ...]
    btf_lists: tuple[BtfList, ...]
    struct_ops: tuple[StructOps, ...]
    refs: tuple[FunctionRefs, ...]
    flag_defs: tuple[tuple[str, Place], ...]
    prog_types: tuple[tuple[str, Place], ...]
    hooks: tuple[tuple[str, str, Place], ...]      # (prog type, kfunc hook, place in btf.c)
    skips: tuple[Skip, ...]
    kfuncs: tuple[KfuncRecord, ...] = field(default=())

    def kfunc(self, name: str) -> KfuncRecord:
        for k in self.kfuncs:
            if k.name == name:
                return k
        raise KeyError(name)

    def id_list(self, name: str) -> KfuncIdList:
        for s in self.id_lists:
            if s.name == name:
                return s
        raise KeyError(name)

    def btf_list(self, name: str) -> BtfList | None:
        return next((b for b in self.btf_lists if b.name == name), None)

    def to_json(self) -> dict:
        t = self.tree
        return {
            "tree": {"root": t.root, "version": t.version, "label": t.label, "commit": t.commit,
                     "files_scanned": t.files_scanned, "files_parsed": t.files_parsed},
            "kfuncs": [k.to_json() for k in self.kfuncs],
            "sets": [{"name": s.name, "form": s.form, "file": s.place.file, "line": s.place.line,
                      "guards": list(s.guards), "kfuncs": [e.kfunc for e in s.entries]} for s in self.id_lists],
            "id_sets": [{"name": s.name, "set": s.set, "filter": s.filter, "file": s.place.file,
                         "line": s.place.line} for s in self.id_sets],
            "registrations": [{"prog_type": r.prog_type, "id_set": r.id_set, "function": r.function,
                               "kind": r.kind, "guards": list(r.guards), "file": r.place.file,
                               "line": r.place.line} for r in self.registrations],
            "btf_lists": [{"name": b.name, "form": b.form, "file": b.place.file, "line": b.place.line,
                           "ids": [e.name for e in b.entries]} for b in self.btf_lists],
            "struct_ops": [{"name": s.name, "var": s.var, "check_member": s.check_member,
                            "file": s.place.file, "line": s.place.line,
                            "members": [{"name": m.name, "sleepable": m.sleepable, "file": m.place.file,
                                         "line": m.place.line, "guards": list(m.guards)} for m in s.members]}
                           for s in self.struct_ops],
            "verifier_refs": [{"function": r.function, "refs": list(r.refs), "file": r.place.file,
                               "line": r.place.line} for r in self.refs],
            "flags": [{"name": n, "file": p.file, "line": p.line} for n, p in self.flag_defs],
            "prog_types": [{"name": n, "file": p.file, "line": p.line} for n, p in self.prog_types
                           if n != "UNSPEC" and not n.startswith("__")],
            "hooks": [{"prog_type": t_, "hook": h, "file": p.file, "line": p.line} for t_, h, p in self.hooks],
            "skipped": [{"file": s.place.file, "line": s.place.line, "what": s.what, "hint": s.hint}
                        for s in self.skips],
        }
