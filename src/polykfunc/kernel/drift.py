"""Compare a model's structural facts with a kernel tree's inventory.

Structural facts: which kfuncs exist, their flags, their sets, which program types see each
set (registration through the verifier's kfunc hooks), the filter functions on those sets,
and the struct_ops members with whether a sleepable program may implement each. Every
difference is one :class:`Difference` naming both places (model file:line, kernel file:line).

Model sets are matched to kernel kfunc lists by name: a kernel list ``scx_kfunc_ids_dispatch``
is the model set ``dispatch`` (the longest model set name that ends the list name after an
underscore), or a set of the same name.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from polykfunc.model.expr import BoolType, Cmp, Const, EnumType, Not, Var, evaluate, variables
from polykfunc.model.spec import Model

from .inventory import Inventory, KfuncRecord
from .scan import SUBSYSTEMS, in_subsystem


@dataclass(frozen=True)
class Difference:
    kind: str          # kfunc-added, kfunc-removed, flags, sets, registration, filter, member-added, ...
    subject: str
    message: str
    model_place: str
    kernel_place: str

    def line(self) -> str:
        return f"{self.kind}: {self.subject}: {self.message}  [model {self.model_place}; kernel {self.kernel_place}]"

    def to_json(self) -> dict:
        return {"kind": self.kind, "subject": self.subject, "message": self.message,
                "model": self.model_place, "kernel": self.kernel_place}


def _where(obj) -> str:
    w = getattr(obj, "where", None)
    return str(w) if w is not None else "?"


def kernel_list_for(model_sets: list[str], kernel_list: str) -> str | None:
    """The model set a kernel kfunc list corresponds to, by name (None: no model set)."""
    if kernel_list in model_sets:
        return kernel_list
    fits = [m for m in model_sets if kernel_list.endswith("_" + m)]
    return max(fits, key=len) if fits else None


def model_kfuncs(model: Model):
    """The model's own kfuncs (a composed model's base kfuncs are the tree's by construction)."""
    return [k for k in model.kfuncs if k.name not in set(model.base_kfuncs)]


def kernel_kfuncs(inv: Inventory, model: Model, subsystem: str | None) -> dict[str, KfuncRecord]:
    """The tree's kfuncs the model is about: the subsystem's files when it names one the
    importer knows, else only those the model has."""
    sub = subsystem or model.subsystem
    names = {k.name for k in model_kfuncs(model)}
    if sub in SUBSYSTEMS or "/" in (sub or ""):
        return {k.name: k for k in inv.kfuncs if in_subsystem(k.place.file, sub)}
    return {k.name: k for k in inv.kfuncs if k.name in names}


def admitted_types(model: Model, expr) -> set[str] | None:
    """The program types for which a view expression can hold (None: cannot tell)."""
    try:
        ptype = model.var("view", "prog_type")
    except KeyError:
        return None
    vs = sorted(variables(expr), key=lambda v: (v.ns, v.name))
    others = [v for v in vs if (v.ns, v.name) != ("view", "prog_type")]
    domains = []
    for v in others:
        if isinstance(v.type, BoolType):
            domains.append([False, True])
        elif isinstance(v.type, EnumType):
            domains.append(list(v.type.values))
        else:
            return None
    size = 1
    for d in domains:
        size *= len(d)
    if size > 4096:
        return None
    out = set()
    for t in ptype.type.values:
        for combo in itertools.product(*domains):
            env = {("view", "prog_type", 0): t}
            env.update({(v.ns, v.name, v.copy): c for v, c in zip(others, combo)})
            if evaluate(expr, env):
                out.add(t)
                break
    return out


def member_views(model: Model) -> dict[str, tuple[bool, str]]:
    """struct_ops member -> (may a sleepable program implement it, the context's place)."""
    out = {}
    for c in model.contexts:
        member, nonsleep = None, False
        for f in c.view:
            e = f.expr
            if isinstance(e, Cmp) and e.op == "==" and isinstance(e.lhs, Var) and (e.lhs.ns, e.lhs.name) == ("view", "member") \
                    and isinstance(e.rhs, Const) and e.rhs.value != "none":
                member = e.rhs.value
            if isinstance(e, Not) and isinstance(e.arg, Var) and (e.arg.ns, e.arg.name) == ("view", "sleepable"):
                nonsleep = True
        if member:
            out[str(member)] = (not nonsleep, _where(c))
    return out


def drift(model: Model, inv: Inventory, subsystem: str | None = None) -> list[Difference]:
    """Every structural difference between ``model`` and the tree ``inv`` came from."""
    diffs: list[Difference] = []
    mk = {k.name: k for k in model_kfuncs(model)}
    kk = kernel_kfuncs(inv, model, subsystem)
    own_sets = {s for k in mk.values() for s in k.sets}     # a composed model's base sets are the tree's lists
    set_names = [s.name for s in model.kfunc_sets if not model.base_kfuncs or s.name in own_sets]
    for name in sorted(set(kk) - set(mk)):
        diffs.append(Difference("kfunc-added", name, "in the tree, not in the model", "-", str(kk[name].place)))
    for name in sorted(set(mk) - set(kk)):
        diffs.append(Difference("kfunc-removed", name, "in the model, not in the tree", _where(mk[name]), "-"))
    for name in sorted(set(mk) & set(kk)):
        m, k = mk[name], kk[name]
        if sorted(m.flags) != sorted(k.flags):
            diffs.append(Difference("flags", name, f"model {sorted(m.flags) or 'none'}, kernel {sorted(k.flags) or 'none'}",
                                    _where(m), str(k.place)))
        ksets = sorted({kernel_list_for(set_names, s) or f"(kernel list {s})" for s in k.sets})
        if sorted(m.sets) != ksets and m.sets:
            diffs.append(Difference("sets", name, f"model {sorted(m.sets)}, kernel {sorted(k.sets)}", _where(m), str(k.place)))
    # registrations and filters, per model set
    regs_by_list: dict[str, list] = {}
    from .importer import id_set_of, visible_types
    all_types = [t for t, _ in inv.prog_types if t != "UNSPEC" and not t.startswith("__")]
    for r in inv.registrations:
        s = id_set_of(r, list(inv.id_sets))
        if r.kind == "kfunc" and s is not None and s.set:
            regs_by_list.setdefault(s.set, []).append((r, s))
    for lst in inv.id_lists:
        mset = kernel_list_for(set_names, lst.name)
        if mset is None or not any(e.kfunc in mk for e in lst.entries):
            continue
        ms = model.kfunc_set(mset)
        regs = regs_by_list.get(lst.name, [])
        visible = {t for r, _ in regs for t in visible_types(r.prog_type, inv.hooks, all_types)}
        if ms.registered is not None:
            admitted = admitted_types(model, ms.registered.expr)
            if admitted is not None:
                known = set(model.var("view", "prog_type").type.values)
                kv = visible & known
                if admitted != kv:
                    where = "; ".join(f"{r.place} {r.prog_type}" for r, _ in regs) or str(lst.place)
                    diffs.append(Difference("registration", mset, f"model: seen by {sorted(admitted)}; kernel: seen by "
                                            f"{sorted(kv)} (registered {sorted({r.prog_type for r, _ in regs})}, "
                                            "through the verifier's kfunc hooks)", _where(ms.registered), where))
        model_filters = {f.name for f in model.filters} | {w for f in model.filters for w in f.source.text.split()}
        for r, s in regs:
            if s.filter and s.filter not in model_filters:
                diffs.append(Difference("filter", mset, f"kernel set {s.name} has filter {s.filter}; the model has no "
                                        "filter of that name", "-", str(s.place)))
    # struct_ops members
    views = member_views(model)
    st = {v for v in getattr(model.var("view", "st_ops").type, "values", ())} if _has(model, "view", "st_ops") else set()
    for ops in inv.struct_ops:
        if ops.name not in st or not views:
            continue
        kernel_members = {m.name: m for m in ops.members}
        for name in sorted(set(kernel_members) - set(views)):
            diffs.append(Difference("member-added", f"{ops.name}.{name}", "a struct_ops member the model has no context for",
                                    "-", str(kernel_members[name].place)))
        for name in sorted(set(views) - set(kernel_members)):
            diffs.append(Difference("member-removed", f"{ops.name}.{name}", "a context for a member the tree does not have",
                                    views[name][1], str(ops.type_place or ops.place)))
        for name in sorted(set(views) & set(kernel_members)):
            km = kernel_members[name]
            if km.sleepable is not None and km.sleepable != views[name][0]:
                diffs.append(Difference("sleepable", f"{ops.name}.{name}",
                                        f"model: {'may' if views[name][0] else 'may not'} be sleepable; kernel "
                                        f"({ops.check_member}): {'may' if km.sleepable else 'may not'}",
                                        views[name][1], str(km.place)))
    return diffs


def _has(model: Model, ns: str, name: str) -> bool:
    try:
        model.var(ns, name)
        return True
    except KeyError:
        return False
