"""Layered models: an overlay on top of a generated generic layer (docs/spec-format.md §12).

An overlay's manifest names its base (``base = "kernel@v6.12"`` in ``[model]``: a bundled
model or a path relative to the manifest). The two merged documents are composed before
validation:

- variables: a variable both declare must have the same type; enum and flags values are
  united (the base's extra values are appended), int ranges must be equal;
- predicates, locks: united; one name with two different definitions is an error;
- axioms, kfunc sets, filters: united; a name used by both is an error;
- contexts: the overlay's, plus each base context for a program type no overlay context
  covers (an overlay context covers the program types its ``view`` pins with
  ``view.prog_type == ...`` or ``in [...]``; one that pins none covers every type);
- kfuncs: the overlay's, plus every base kfunc the overlay does not define. A kfunc both
  define keeps the overlay's semantics, but its ``flags`` must equal the base's;
- known bugs: the overlay's, plus the base's about the kfuncs the base added (a generic
  kfunc's finding follows it into whichever contexts the composition has; a kfunc the
  overlay redefines is described by the overlay's known bugs only).

Any disagreement is a :class:`SpecError` naming both files and lines.

**Missing kfuncs only** (``base_only_missing=True``, :func:`load_missing_from`): the base is an
*older* generated layer than the overlay's tree (the overlay's own layer lacks some generic
kfuncs). Then only the base kfuncs the overlay lacks are taken (optionally only those named
in ``only``), with the kfunc sets they belong to; a kfunc both define keeps the overlay's
definition whatever the base's flags say (the older tree's flags are not the overlay's
kernel's). Everything else is composed as above. check-prog uses this to decide a generic
kfunc under the newest model by the newest generated layer that has it, labelled as version
skew (docs/programs.md).
"""

from __future__ import annotations

import re
from pathlib import Path

from polykfunc.errors import SpecError

from .source import Table, read_model_files, where_of

_PROG_EQ = re.compile(r"view\.prog_type\s*==\s*['\"](\w+)['\"]")
_PROG_IN = re.compile(r"view\.prog_type\s+in\s*\[([^\]]*)\]")


def read_composed(target: Path, base: str | None = None, *, base_only_missing: bool = False,
                  only: frozenset[str] | None = None) -> tuple[Table, list[Path], str | None, tuple[str, ...]]:
    """The merged document of the model at ``target`` composed with its base (``base``
    overrides the manifest's); also the files read, the base's name and the kfuncs it added.
    ``base_only_missing``/``only``: see the module docstring (and :func:`compose`)."""
    doc, files = read_model_files(target)
    meta = doc.get("model")
    ref = base if base is not None else (meta.get("base") if isinstance(meta, Table) else None)
    if ref is None:
        return doc, files, None, ()
    if not isinstance(ref, str) or not ref.strip():
        raise SpecError(where_of(meta, "base"), "'base' must name a model",
                        'write base = "kernel@v6.12" (a bundled model) or a path to a model folder')
    base_path = _base_path(ref, files[0], meta)
    if base_path.resolve() in {f.resolve() for f in files}:
        raise SpecError(where_of(meta, "base"), f"model {ref!r} names itself as its base")
    bdoc, bfiles, _, _ = read_composed(base_path)
    bname = str(bdoc["model"].get("name", ref)) if isinstance(bdoc.get("model"), Table) else ref
    composed, added = compose(doc, bdoc, bname, base_only_missing=base_only_missing, only=only)
    return composed, files + [f for f in bfiles if f not in files], bname, added


def _base_path(ref: str, manifest: Path, meta: Table) -> Path:
    from polykfunc.errors import UsageError

    from .bundled_models import bundled_path
    local = (manifest.parent / ref)
    if "/" in ref or ref.endswith(".toml") or local.exists():
        if not local.exists():
            raise SpecError(where_of(meta, "base"), f"base {ref!r}: no such model file or folder",
                            "a path is relative to the manifest; a bundled name has no '/'")
        return local
    try:
        return bundled_path(ref)
    except UsageError as e:
        raise SpecError(where_of(meta, "base"), f"base: {e}") from None


def _table(like: Table) -> Table:
    t = Table({}, like.where)
    t.origins = dict(like.origins)
    return t


def load_missing_from(target: Path, base: str, only: frozenset[str] | None = None):
    """The model at ``target`` (its manifest's own base ignored) composed with ``base``, an
    older generated layer, taking from it only the kfuncs the model lacks (and of those only
    the ones in ``only`` when given). The result records ``base`` and the kfuncs taken."""
    from dataclasses import replace

    from .validate import _Validator
    doc, files, bname, added = read_composed(Path(target), base, base_only_missing=True, only=only)
    model = _Validator(doc, files, Path(target)).model()
    return replace(model, base=bname, base_kfuncs=added)


def compose(overlay: Table, base: Table, base_name: str, *, base_only_missing: bool = False,
            only: frozenset[str] | None = None) -> tuple[Table, tuple[str, ...]]:
    """The overlay on top of the base (both merged documents); also the kfunc names the base added.

    ``base_only_missing``: take only the base kfuncs the overlay lacks (those in ``only`` when
    given) and the kfunc sets they are in, and do not require flag agreement for a kfunc both
    define (the overlay's wins): the base is an older tree than the overlay's."""
    if base_only_missing:
        base = _only_missing(overlay, base, only)
    out = _table(overlay)
    for key, value in overlay.items():
        out[key] = value
    out["vars"] = _vars(overlay.get("vars"), base.get("vars"), overlay, base)
    for key in ("predicates", "locks"):
        out[key] = _same_or_new(overlay.get(key), base.get(key), key, overlay, base)
    for key in ("kfunc_set",):
        out[key] = _disjoint(overlay.get(key), base.get(key), key, overlay, base)
    for key in ("axiom", "filter"):
        out[key] = _disjoint_list(overlay.get(key, []), base.get(key, []), key)
    out["context"] = _contexts(overlay.get("context"), base.get("context"), overlay, base)
    kfuncs, added = _kfuncs(overlay.get("kfunc"), base.get("kfunc"), overlay, base, base_name,
                            check_flags=not base_only_missing)
    out["kfunc"] = kfuncs
    out["known_bug"] = _known_bugs(overlay.get("known_bug", []), base.get("known_bug", []), set(added))
    for key in [k for k in out if out[k] is None]:
        del out[key]
    return out, added


def _only_missing(overlay: Table, base: Table, only: frozenset[str] | None) -> Table:
    """The base reduced to the kfuncs the overlay lacks (and ``only`` names) and their sets."""
    okf = overlay.get("kfunc") if isinstance(overlay.get("kfunc"), Table) else {}
    bkf = base.get("kfunc")
    out = _table(base)
    for key, value in base.items():
        out[key] = value
    if not isinstance(bkf, Table):
        return out
    kf = _table(bkf)
    used: set[str] = set()
    for name, k in bkf.items():
        if name in okf or (only is not None and name not in only):
            continue
        kf[name] = k
        if isinstance(k, Table):
            used.update(s for s in k.get("sets", []) if isinstance(s, str))
    out["kfunc"] = kf
    sets = base.get("kfunc_set")
    if isinstance(sets, Table):
        kept = _table(sets)
        for name, value in sets.items():
            if name in used:
                kept[name] = value
        out["kfunc_set"] = kept
    return out


def _known_bugs(o: list, b: list, added: set[str]) -> list:
    ids = {item.get("id") for item in o if isinstance(item, Table)}
    return list(o) + [item for item in b if isinstance(item, Table) and item.get("kfunc") in added
                      and item.get("id") not in ids]


def _merged(o: Table | None, b: Table | None, doc: Table) -> Table:
    t = _table(o if isinstance(o, Table) else b if isinstance(b, Table) else doc)
    if isinstance(b, Table):
        t.origins.update(b.origins)
    if isinstance(o, Table):
        t.origins.update(o.origins)
    return t


def _vars(o, b, odoc, bdoc):
    if b is None:
        return o
    if o is None:
        return b
    out = _merged(o, b, odoc)
    for ns in sorted(set(o) | set(b)):
        og, bg = o.get(ns), b.get(ns)
        if og is None or bg is None:
            out[ns] = og if og is not None else bg
            continue
        group = _merged(og, bg, odoc)
        for name in list(bg) + [n for n in og if n not in bg]:
            if name not in og or name not in bg:
                group[name] = og.get(name, bg.get(name))
                continue
            group[name] = _var(og[name], bg[name], f"{ns}.{name}", og, bg)
        out[ns] = group
    return out


def _var(ov: Table, bv: Table, qual: str, og: Table, bg: Table) -> Table:
    if not isinstance(ov, Table) or not isinstance(bv, Table):
        return ov
    if ov.get("type") != bv.get("type"):
        raise SpecError(where_of(ov, "type"), f"variable {qual} is {ov.get('type')} here but "
                        f"{bv.get('type')} in the base ({where_of(bv, 'type')})",
                        "an overlay and its base must agree on each variable they both declare")
    if ov.get("type") == "int" and ov.get("range") != bv.get("range"):
        raise SpecError(where_of(ov, "range"), f"variable {qual} has range {ov.get('range')} here but "
                        f"{bv.get('range')} in the base ({where_of(bv, 'range')})", "use the same range in both")
    if ov.get("type") in ("enum", "flags") and isinstance(ov.get("values"), list) and isinstance(bv.get("values"), list):
        extra = [v for v in bv["values"] if v not in ov["values"]]
        if extra:
            merged = Table(dict(ov), ov.where)
            merged.origins = dict(ov.origins)
            merged["values"] = list(ov["values"]) + extra
            return merged
    return ov


def _same_or_new(o, b, key, odoc, bdoc):
    if o is None or b is None:
        return o if o is not None else b
    out = _merged(o, b, odoc)
    for name, value in list(b.items()) + list(o.items()):
        if name in o and name in b and _plain(o[name]) != _plain(b[name]):
            raise SpecError(where_of(o, name), f"{key} {name!r} is defined differently in the base "
                            f"({where_of(b, name)})", "rename one, or make the two definitions equal")
        out[name] = value
    return out


def _plain(v):
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items() if k not in ("doc", "source", "confirmed")}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _disjoint(o, b, key, odoc, bdoc):
    if o is None or b is None:
        return o if o is not None else b
    out = _merged(o, b, odoc)
    for name, value in b.items():
        if name in o:
            raise SpecError(where_of(o, name), f"{key} {name!r} is also defined in the base ({where_of(b, name)})",
                            "an overlay may not redefine a base's kfunc set; give it another name")
        out[name] = value
    for name, value in o.items():
        out[name] = value
    return out


def _disjoint_list(o: list, b: list, key: str) -> list:
    names = {}
    for item in b:
        if isinstance(item, Table) and "name" in item:
            names[item["name"]] = item
    for item in o:
        if isinstance(item, Table) and item.get("name") in names:
            other = names[item["name"]]
            if _plain(other) != _plain(item):
                raise SpecError(where_of(item, "name"), f"{key} {item['name']!r} is also defined in the base "
                                f"({where_of(other, 'name')})", "rename one of them")
    seen = {item.get("name") for item in o if isinstance(item, Table)}
    return list(o) + [item for item in b if not (isinstance(item, Table) and item.get("name") in seen)]


def prog_types_of(context: Table) -> set[str] | None:
    """The program types a context's view pins; None when it pins none (it covers every type)."""
    found: set[str] = set()
    pinned = False
    view = context.get("view", [])
    for fact in view if isinstance(view, list) else [view]:
        text = fact.get("expr", "") if isinstance(fact, dict) else str(fact)
        for m in _PROG_EQ.finditer(text):
            found.add(m.group(1))
            pinned = True
        for m in _PROG_IN.finditer(text):
            found.update(re.findall(r"['\"](\w+)['\"]", m.group(1)))
            pinned = True
    return found if pinned else None


def _contexts(o, b, odoc, bdoc):
    if o is None or b is None:
        return o if o is not None else b
    covered: set[str] = set()
    everything = False
    for ctx in o.values():
        types = prog_types_of(ctx) if isinstance(ctx, Table) else None
        if types is None:
            everything = True
        else:
            covered |= types
    out = _merged(o, b, odoc)
    for name, ctx in o.items():
        out[name] = ctx
    for name, ctx in b.items():
        types = prog_types_of(ctx) if isinstance(ctx, Table) else None
        if everything or types is None or types <= covered:
            continue
        if name in o:
            raise SpecError(where_of(o, name), f"context {name!r} is also defined in the base ({where_of(b, name)})",
                            "rename the overlay's context")
        out[name] = ctx
    return out


def _kfuncs(o, b, odoc, bdoc, base_name: str, check_flags: bool = True):
    if b is None:
        return o, ()
    if o is None:
        return b, tuple(b)
    out = _merged(o, b, odoc)
    added = []
    for name, k in o.items():
        out[name] = k
        if check_flags and name in b and isinstance(k, Table) and isinstance(b[name], Table):
            of, bf = sorted(k.get("flags", [])), sorted(b[name].get("flags", []))
            if of != bf:
                here = where_of(k, "flags") if "flags" in k else where_of(k)
                there = where_of(b[name], "flags") if "flags" in b[name] else where_of(b[name])
                raise SpecError(here, f"kfunc {name} has flags {of or 'none'} here, but {base_name} says "
                                f"{bf or 'none'} ({there})",
                                "the overlay and the generated layer disagree: fix the overlay's flags, or "
                                "regenerate the layer from the tree the overlay describes (`polykfunc drift`)")
    for name, k in b.items():
        if name not in o:
            out[name] = k
            added.append(name)
    return out, tuple(added)


def overlay_only(model):
    """``model`` as its overlay's reviewers read it: without the kfuncs its generic base layer adds
    (and the known bugs of those kfuncs); contexts, variables, axioms and sets stay, so every answer
    about the overlay's own kfuncs is the composed model's. A model without a base is returned as is.

    The base layer's kfuncs are the kernel tree's own facts, reviewed with the layer itself
    (``polykfunc report kernel@...``, ``polykfunc drift``); a design-review report of sched_ext
    would otherwise list some 160 generic kfuncs, and a version diff against a model without a
    base would call them removed.
    """
    from dataclasses import replace
    if not model.base_kfuncs:
        return model
    added = set(model.base_kfuncs)
    note = (f" Composed with {model.base}: its {len(added)} generic kfuncs are left out here "
            f"(`polykfunc report {model.base}` shows them).")
    return replace(model, kfuncs=tuple(k for k in model.kfuncs if k.name not in added),
                   known_bugs=tuple(b for b in model.known_bugs if b.kfunc not in added),
                   description=model.description + note, base_kfuncs=())
