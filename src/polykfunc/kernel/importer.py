"""Import a kernel tree: read every relevant file (two processes), then put the facts together
into an :class:`~.inventory.Inventory` with one record per kfunc.

Nothing here raises on a bad file: an unreadable file, a macro the importer does not
understand, a call it cannot read is a :class:`~.inventory.Skip` naming the file and line, and
the rest is imported.
"""

from __future__ import annotations

import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .inventory import (FileFacts, IdSetStruct, Inventory, KfuncRecord, OpsMember, Place, Skip, StructOps,
                        TreeInfo)
from .preproc import guards_by_line, lex_lists, masked_source, strip_comments
from .scan import FLAGS_HEADER, MARKERS, PROG_TYPES_HEADER, c_files, check_tree, in_subsystem, version

_FLAG_DEF = re.compile(r"^#\s*define\s+KF_([A-Z0-9_]+)\s+\(?\s*1\w*\s*<<", re.M)


def read_one(root: str, rel: str) -> FileFacts | None:
    """The facts of one file; None when the prefilter finds nothing to read."""
    path = Path(root) / rel
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return FileFacts(rel, skips=(Skip(Place(rel, 0), f"cannot read the file: {exc.strerror or exc}"),))
    if not any(m in raw for m in MARKERS):
        return None
    return read_source(raw, rel)


def read_source(raw: bytes, rel: str, want_structs: set[str] | None = None) -> FileFacts:
    """The facts of one file's bytes (see :func:`read_one`)."""
    from .cparse import FileReader
    text = raw.decode("utf-8", "surrogateescape")
    clean = strip_comments(text)
    guards = guards_by_line(clean)
    lists, btf_lists, skips, macro_lines = lex_lists(clean, rel, guards)
    data, marked = masked_source(raw, clean, macro_lines)
    try:
        r = FileReader(data, rel, guards, marked).read(want_structs)
    except Exception as exc:  # tree-sitter itself failing is a skipped file, never a traceback
        return FileFacts(rel, tuple(lists), btf_lists=tuple(btf_lists),
                         skips=tuple(skips) + (Skip(Place(rel, 0), f"the C parser failed: {exc}"),))
    sleepable = []
    for ops, _var, check, _place in r.struct_ops:
        decided = r.member_sleepable(check, ops) if check else None
        if decided is not None:
            sleepable.append((ops, tuple(sorted(decided.items()))))
    return FileFacts(rel, tuple(lists), tuple(r.id_sets), tuple(r.registrations), tuple(r.definitions),
                     tuple(btf_lists), tuple(r.struct_ops), tuple(r.struct_types), tuple(sleepable),
                     tuple(r.refs), hooks=tuple(r.hooks), skips=tuple(skips) + tuple(r.skips))


def _read_batch(args: tuple[str, list[str]]) -> list[FileFacts]:
    root, rels = args
    return [f for f in (read_one(root, r) for r in rels) if f is not None]


def import_tree(root: str | Path, *, label: str | None = None, commit: str | None = None,
                jobs: int = 2, subsystem: str | None = None) -> Inventory:
    """Read the kernel tree at ``root`` into an inventory (UsageError if it is not a tree).

    ``subsystem`` keeps only the kfunc lists, registrations and struct_ops of that part of the
    tree (the verifier's tables are always read)."""
    root = Path(root)
    check_tree(root)
    files = c_files(root)
    facts: list[FileFacts] = []
    batches = [files[i:i + 200] for i in range(0, len(files), 200)]
    if jobs > 1 and len(files) > 200:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for part in pool.map(_read_batch, [(str(root), b) for b in batches]):
                facts.extend(part)
    else:
        for b in batches:
            facts.extend(_read_batch((str(root), b)))
    flag_defs, prog_types, skips = _headers(root)
    facts.sort(key=lambda f: f.file)
    return assemble(facts, root, label=label, commit=commit, flag_defs=flag_defs, prog_types=prog_types,
                    header_skips=skips, files_scanned=len(files), subsystem=subsystem)


def _headers(root: Path):
    flag_defs, prog_types, skips = [], [], []
    try:
        text = (root / FLAGS_HEADER).read_text(errors="replace")
        for m in _FLAG_DEF.finditer(text):
            flag_defs.append((m.group(1), Place(FLAGS_HEADER, text.count("\n", 0, m.start()) + 1)))
    except OSError:
        skips.append(Skip(Place(FLAGS_HEADER, 0), "no kfunc flag definitions (the header is missing)",
                          "flags are taken as written in BTF_ID_FLAGS"))
    try:
        text = (root / PROG_TYPES_HEADER).read_text(errors="replace")
        m = re.search(r"enum\s+bpf_prog_type\s*\{(.*?)\};", text, re.S)
        if m:
            base = text.count("\n", 0, m.start(1)) + 1
            body = strip_comments(m.group(1))
            for k in re.finditer(r"\bBPF_PROG_TYPE_([A-Z0-9_]+)\b", body):
                prog_types.append((k.group(1), Place(PROG_TYPES_HEADER, base + body.count("\n", 0, k.start()))))
    except OSError:
        skips.append(Skip(Place(PROG_TYPES_HEADER, 0), "no enum bpf_prog_type (the header is missing)",
                          "program types are taken from the registrations"))
    return tuple(flag_defs), tuple(prog_types), tuple(skips)


def _find_struct_types(root: Path, wanted: dict[str, str]) -> dict[str, tuple]:
    """Struct definitions not in the .c files: look in headers near the struct_ops and in include/."""
    found: dict[str, tuple] = {}
    dirs = {str(Path(f).parent) for f in wanted.values()} | {"include/linux", "include/net", "include/linux/sched"}
    for d in sorted(dirs):
        for h in sorted((root / d).glob("*.h")) if (root / d).is_dir() else []:
            try:
                raw = h.read_bytes()
            except OSError:
                continue
            names = {n for n in wanted if n not in found and f"struct {n} {{".encode() in raw}
            if names:
                ff = read_source(raw, str(h.relative_to(root)), names)
                for name, members, place in ff.struct_types:
                    found.setdefault(name, (members, place))
    return found


def assemble(facts: list[FileFacts], root: Path, *, label=None, commit=None, flag_defs=(), prog_types=(),
             header_skips=(), files_scanned=0, subsystem=None) -> Inventory:
    """Put per-file facts together: one record per kfunc, struct_ops with their members."""
    pick = lambda items, f: tuple(x for x in items if in_subsystem(f(x), subsystem))
    id_lists = pick([s for f in facts for s in f.id_lists], lambda s: s.place.file)
    id_sets = [s for f in facts for s in f.id_sets]
    regs = pick([r for f in facts for r in f.registrations], lambda r: r.place.file)
    defs = [d for f in facts for d in f.definitions]
    hooks = tuple(h for f in facts for h in f.hooks)
    skips = list(header_skips) + [s for f in facts for s in f.skips]
    types = {name: (members, place) for f in facts for name, members, place in f.struct_types}
    sleep = {ops: dict(items) for f in facts for ops, items in f.sleepable}
    ops_raw = pick([o for f in facts for o in f.struct_ops], lambda o: o[3].file)
    missing = {o[0]: o[3].file for o in ops_raw if o[0] not in types}
    if missing:
        types.update(_find_struct_types(root, missing))
    struct_ops = []
    for ops, var, check, place in ops_raw:
        members, tplace = types.get(ops, ((), None))
        if tplace is None:
            skips.append(Skip(place, f"struct {ops} (implemented by {var}) was not found",
                              "its members are not imported"))
        decided = sleep.get(ops)
        ms = tuple(OpsMember(m.name, None if decided is None else decided.get(m.name, decided.get("*")),
                             m.guards, m.place) for m in members)
        struct_ops.append(StructOps(ops, var, check, ms, place, tplace))
    all_types = [t for t, _ in prog_types if t != "UNSPEC" and not t.startswith("__")]
    kfuncs = _records(id_lists, id_sets, regs, defs, hooks, all_types)
    tree = TreeInfo(str(root), version(root), label or (version(root) or str(root)), commit,
                    files_scanned, len(facts))
    return Inventory(tree, tuple(id_lists), tuple(id_sets), tuple(regs), tuple(defs),
                     tuple(b for f in facts for b in f.btf_lists), tuple(struct_ops),
                     tuple(r for f in facts for r in f.refs), tuple(flag_defs), tuple(prog_types), hooks,
                     tuple(skips), kfuncs)


def visible_types(prog_type: str, hooks: tuple, all_types: list[str]) -> tuple[str, ...]:
    """The program types that see a set registered for ``prog_type``: those the verifier maps
    to the same kfunc hook (btf.c: bpf_prog_type_to_kfunc_hook); UNSPEC is the common hook,
    seen by every type. Without the hook table, just ``prog_type``."""
    if prog_type == "UNSPEC":
        return tuple(all_types) if all_types else ("UNSPEC",)
    table = {t: h for t, h, _ in hooks}
    if prog_type not in table:
        return (prog_type,)
    return tuple(sorted(t for t, h in table.items() if h == table[prog_type] and t != "UNSPEC"))


def id_set_of(r, id_sets) -> IdSetStruct | None:
    """The btf_kfunc_id_set a registration names: the one in the same file (they are usually
    static, and several files use the same name), else the only one of that name."""
    same = [s for s in id_sets if s.name == r.id_set and s.place.file == r.place.file]
    if same:
        return same[0]
    named = [s for s in id_sets if s.name == r.id_set]
    return named[0] if len(named) == 1 else None


def _records(id_lists, id_sets: list[IdSetStruct], regs, defs, hooks, all_types) -> tuple[KfuncRecord, ...]:
    list_types: dict[str, set[str]] = {}
    list_visible: dict[str, set[str]] = {}
    list_filters: dict[str, set[str]] = {}
    for r in regs:
        s = id_set_of(r, id_sets)
        if r.kind != "kfunc" or s is None or s.set is None:
            continue
        list_types.setdefault(s.set, set()).add(r.prog_type)
        list_visible.setdefault(s.set, set()).update(visible_types(r.prog_type, hooks, all_types))
        if s.filter:
            list_filters.setdefault(s.set, set()).add(s.filter)
    first_def = {}
    for d in defs:
        first_def.setdefault(d.name, d)
    entries: dict[str, list] = {}
    kfunc_lists = {s.set for s in (id_set_of(r, id_sets) for r in regs if r.kind == "kfunc") if s is not None}
    for lst in id_lists:
        if lst.form == "BTF_SET8" and lst.name not in kfunc_lists:
            continue    # a BTF_SET8 list no kfunc registration uses (an fmodret set, ...): not kfuncs
        for e in lst.entries:
            entries.setdefault(e.kfunc, []).append((lst, e))
    out = []
    for name in sorted(entries):
        es = sorted(entries[name], key=lambda le: (le[1].place.file, le[1].place.line))
        sets = tuple(dict.fromkeys(lst.name for lst, _ in es))
        flags = tuple(sorted({f for _, e in es for f in e.flags}))
        types = tuple(sorted({t for s in sets for t in list_types.get(s, ())}))
        visible = tuple(sorted({t for s in sets for t in list_visible.get(s, ())}))
        filters = tuple(sorted({f for s in sets for f in list_filters.get(s, ())}))
        lst0, e0 = es[0]
        out.append(KfuncRecord(name, flags, sets, types, visible, filters, e0.place, lst0.guards + e0.guards,
                               first_def.get(name)))
    return tuple(out)
