"""Turn the merged TOML document into a validated :class:`~polykfunc.model.spec.Model`.

Validation is strict: unknown keys, wrong types, dangling references, expressions that do
not parse or type check, and rules without a kernel source are errors (:class:`SpecError`),
each naming the file, the key path, the line, and a hint.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from polykfunc.errors import SpecError, Where, close_matches

from .expr import BOOL, EnumType, Expr, FlagsType, IntType, Type
from .parse import ExprError, Scope, excerpt, parse_expr
from .source import Table, child_where, where_of
from .spec import (
    ERROR, PROPERTIES, REJECT, Axiom, Case, Context, Fact, Filter, FilterRule, Implementation,
    Kfunc, KfuncSet, KnownBug, LockDecl, LockUse, Model, Rule, Source, VarDecl,
)

FORMAT_VERSION = 1
NS = ("view", "state", "tracked", "arg")
ALL = frozenset(NS)
VIEW = frozenset({"view"})
TRUTH = frozenset({"view", "state", "arg"})
PRE = frozenset({"state", "arg"})
SELECT = frozenset({"tracked", "arg"})


def load_model(target: str | Path, base: str | None = None) -> Model:
    """Read, merge and validate the model at ``target`` (a manifest file or its folder),
    composed with its base layer when its manifest names one (``base`` overrides it: a
    bundled model name or a path; docs/spec-format.md §12).

    Raises :class:`~polykfunc.errors.SpecError` for any invalid input.

    >>> from polykfunc.model import load_model, bundled_path  # doctest: +SKIP
    >>> load_model(bundled_path("sched_ext@v6.12")).kernel  # doctest: +SKIP
    'v6.12'
    """
    from dataclasses import replace

    from .compose import read_composed
    doc, files, base_name, added = read_composed(Path(target), base)
    model = _Validator(doc, files, Path(target)).model()
    return replace(model, base=base_name, base_kfuncs=added) if base_name else model


class _Validator:
    def __init__(self, doc: Table, files: list[Path], path: Path):
        self.doc = doc
        self.files = files
        self.path = path
        self.types: dict[tuple[str, str], Type] = {}
        self.pred_text: dict[str, tuple[str, Where]] = {}
        self.pred_cache: dict[str, Expr] = {}
        self.pred_stack: list[str] = []

    # ---------------------------------------------------------------- helpers
    def keys(self, table: Any, allowed: set[str], what: str, required: set[str] = frozenset()) -> Table:
        if not isinstance(table, Table):
            raise SpecError(self.here(table), f"{what} must be a table", None)
        for key in table:
            if key not in allowed:
                raise SpecError(where_of(table, key), f"unknown key '{key}' in {what}",
                                close_matches(key, allowed) or f"allowed keys: {', '.join(sorted(allowed))}")
        for key in sorted(required):
            if key not in table:
                raise SpecError(where_of(table), f"{what} lacks the required key '{key}'",
                                f"add {key} = ...")
        return table

    def here(self, value: Any) -> Where:
        return getattr(value, "where", Where(str(self.path)))

    def string(self, table: Table, key: str, default: str | None = None, required: bool = False) -> str | None:
        if key not in table:
            if required:
                raise SpecError(where_of(table), f"missing '{key}'", f"add {key} = \"...\"")
            return default
        v = table[key]
        if not isinstance(v, str):
            raise SpecError(where_of(table, key), f"'{key}' must be a string, not {_tname(v)}",
                            f'write {key} = "..." (in quotes)')
        return v

    def strings(self, table: Table, key: str) -> tuple[str, ...]:
        v = table.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise SpecError(where_of(table, key), f"'{key}' must be a list of strings",
                            f'write {key} = ["a", "b"]')
        return tuple(v)

    def source(self, table: Table, inherited: Source | None, what: str) -> Source:
        text = self.string(table, "source")
        confirmed = table.get("confirmed", True if text else (inherited.confirmed if inherited else True))
        if not isinstance(confirmed, bool):
            raise SpecError(where_of(table, "confirmed"), "'confirmed' must be true or false",
                            "write confirmed = false for a fact not read in kernel source")
        if text is None:
            if inherited is None:
                raise SpecError(where_of(table), f"{what} names no kernel source",
                                'add source = "file: function (version)"; every rule must cite the kernel')
            return Source(inherited.text, inherited.confirmed and confirmed)
        if not text.strip():
            raise SpecError(where_of(table, "source"), "'source' is empty",
                            'write source = "file: function (version)"')
        return Source(text, confirmed)

    def expr(self, text: Any, where: Where, namespaces: frozenset[str], kfunc_refs: bool = False) -> Expr:
        if not isinstance(text, str):
            raise SpecError(where, f"expected an expression string, not {_tname(text)}",
                            'write the condition in quotes: "state.locked_rq == -1"')
        scope = Scope(self.types, namespaces, _LazyPredicates(self),
                      frozenset(self.doc.get("kfunc_set", {})) if kfunc_refs else None,
                      frozenset(_ANY_FLAG) if kfunc_refs else None)
        try:
            return parse_expr(text, scope)
        except ExprError as err:
            raise SpecError(where, err.message, err.hint, excerpt(text, err)) from None

    def fact(self, item: Any, where: Where, namespaces: frozenset[str], inherited: Source,
             label_prefix: str, label_key: str = "doc") -> Fact:
        if isinstance(item, str):
            e = self.expr(item, where, namespaces)
            return Fact(e, item, f"{label_prefix}: {item}", inherited, where)
        if isinstance(item, Table):
            self.keys(item, {"expr", "source", "confirmed", "doc", "label"}, "a fact", {"expr"})
            src = self.source(item, inherited, "this fact")
            text = item["expr"]
            e = self.expr(text, where_of(item, "expr"), namespaces)
            label = item.get("label") or item.get("doc")
            if label is not None and not isinstance(label, str):
                raise SpecError(where_of(item, "label"), "'label' must be a string")
            return Fact(e, text, f"{label_prefix}: {label or text}", src, where_of(item))
        raise SpecError(where, f"a fact must be an expression string or a table, not {_tname(item)}",
                        'write "state.locked_rq == -1" or { expr = "...", source = "..." }')

    def facts(self, table: Table, key: str, namespaces: frozenset[str], inherited: Source,
              label_prefix: str) -> tuple[Fact, ...]:
        items = table.get(key, [])
        if isinstance(items, str):
            items = [items]
        if not isinstance(items, list):
            raise SpecError(where_of(table, key), f"'{key}' must be a list of facts")
        return tuple(self.fact(it, child_where(where_of(table, key), i), namespaces, inherited, label_prefix)
                     for i, it in enumerate(items))

    # ---------------------------------------------------------------- model
    def model(self) -> Model:
        top = self.keys(self.doc, {"model", "vars", "predicates", "locks", "axiom", "context",
                                   "kfunc_set", "filter", "kfunc", "known_bug"}, "a model", {"model"})
        meta = self.keys(top["model"], {"name", "subsystem", "kernel", "commit", "format",
                                        "description", "include", "base"}, "[model]", {"name", "kernel"})
        name = self.string(meta, "name", required=True)
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+(@[A-Za-z0-9_.+-]+)?", name or ""):
            raise SpecError(where_of(meta, "name"), f"model name {name!r} has characters a CLI name cannot carry",
                            'use letters, digits, "_.+-" and one "@", e.g. "sched_ext@v6.12"')
        fmt = meta.get("format", FORMAT_VERSION)
        if fmt != FORMAT_VERSION:
            raise SpecError(where_of(meta, "format"), f"format {fmt!r} is not supported",
                            f"this polykfunc reads format = {FORMAT_VERSION}")
        vars_ = self.variables(top.get("vars", Table({}, where_of(top))))
        self.collect_predicates(top.get("predicates"))
        predicates = tuple((n, self.predicate(n)) for n in self.pred_text)
        locks = self.locks(top.get("locks"))
        axioms = self.axioms(top.get("axiom", []))
        contexts = self.contexts(top.get("context"))
        sets = self.kfunc_sets(top.get("kfunc_set"))
        filters = self.filters(top.get("filter", []))
        kfuncs = self.kfuncs(top.get("kfunc"), {s.name for s in sets}, set(locks))
        bugs = self.known_bugs(top.get("known_bug", []), kfuncs, contexts)
        return Model(
            name=name, subsystem=self.string(meta, "subsystem", default=name.split("@")[0]),
            kernel=self.string(meta, "kernel", required=True), commit=self.string(meta, "commit"),
            description=self.string(meta, "description", default=""), path=self.path,
            files=tuple(self.files), vars=vars_, predicates=predicates, locks=locks, axioms=axioms,
            contexts=contexts, kfunc_sets=sets, filters=filters, kfuncs=kfuncs, known_bugs=bugs,
            lock_decls=self.lock_decls(top.get("locks")))

    def variables(self, table: Any) -> tuple[VarDecl, ...]:
        self.keys(table, set(NS), "[vars]")
        out = []
        for ns in NS:
            group = table.get(ns, Table({}, where_of(table)))
            if not isinstance(group, Table):
                raise SpecError(where_of(table, ns), f"[vars.{ns}] must be a table of variables")
            for name, decl in group.items():
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                    raise SpecError(where_of(group, name), f"variable name {name!r} is not an identifier")
                self.keys(decl, {"type", "range", "values", "doc", "source", "confirmed"},
                          f"variable {ns}.{name}", {"type"})
                vtype = self.var_type(decl, f"{ns}.{name}")
                self.types[(ns, name)] = vtype
                out.append(VarDecl(ns, name, vtype, decl.get("doc", ""), where_of(decl)))
        return tuple(out)

    def var_type(self, decl: Table, qual: str) -> Type:
        kind = decl["type"]
        if kind == "bool":
            self._no(decl, ("range", "values"), qual)
            return BOOL
        if kind == "int":
            self._no(decl, ("values",), qual)
            rng = decl.get("range")
            if not (isinstance(rng, list) and len(rng) == 2 and all(type(x) is int for x in rng)
                    and rng[0] <= rng[1]):
                raise SpecError(where_of(decl, "range"), f"int variable {qual} needs range = [lo, hi] with lo <= hi",
                                "polykfunc checks bounded state; e.g. range = [-1, 3] for a CPU or none")
            return IntType(rng[0], rng[1])
        if kind in ("enum", "flags"):
            self._no(decl, ("range",), qual)
            vals = decl.get("values")
            if not (isinstance(vals, list) and vals and all(isinstance(v, str) for v in vals)):
                raise SpecError(where_of(decl, "values"), f"{kind} variable {qual} needs a non-empty list of values",
                                'write values = ["a", "b"]')
            if len(set(vals)) != len(vals):
                dup = next(v for v in vals if vals.count(v) > 1)
                raise SpecError(where_of(decl, "values"), f"value {dup!r} is listed twice", "list each value once")
            if kind == "flags" and not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v) for v in vals):
                raise SpecError(where_of(decl, "values"), "flag names must be identifiers",
                                "use letters, digits and _, e.g. SELECT_CPU")
            return EnumType(tuple(vals)) if kind == "enum" else FlagsType(tuple(vals))
        raise SpecError(where_of(decl, "type"), f"unknown type {kind!r} for {qual}",
                        close_matches(str(kind), ["bool", "int", "enum", "flags"]) or
                        "types are bool, int, enum and flags")

    def _no(self, decl: Table, keys: tuple[str, ...], qual: str) -> None:
        for k in keys:
            if k in decl:
                raise SpecError(where_of(decl, k), f"'{k}' does not apply to {decl['type']} variable {qual}")

    def collect_predicates(self, table: Any) -> None:
        if table is None:
            return
        self.keys(table, set(table.keys()) if isinstance(table, Table) else set(), "[predicates]")
        for name, value in table.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name in ("true", "false", "implies"):
                raise SpecError(where_of(table, name), f"predicate name {name!r} is not usable",
                                "predicate names are identifiers other than true/false/implies")
            if isinstance(value, Table):
                self.keys(value, {"expr", "doc", "source", "confirmed"}, f"predicate {name}", {"expr"})
                self.pred_text[name] = (value["expr"], where_of(value, "expr"))
            else:
                self.pred_text[name] = (value, where_of(table, name))

    def predicate(self, name: str) -> Expr:
        if name in self.pred_cache:
            return self.pred_cache[name]
        text, where = self.pred_text[name]
        if name in self.pred_stack:
            cycle = " -> ".join(self.pred_stack[self.pred_stack.index(name):] + [name])
            raise SpecError(where, f"predicates refer to each other in a cycle: {cycle}")
        self.pred_stack.append(name)
        try:
            e = self.expr(text, where, ALL)
        finally:
            self.pred_stack.pop()
        self.pred_cache[name] = e
        return e

    def locks(self, table: Any) -> tuple[str, ...]:
        if table is None:
            return ()
        if not isinstance(table, Table):
            raise SpecError(self.here(table), "[locks] must be a table of lock kinds")
        for name, decl in table.items():
            self.keys(decl, {"doc", "source", "confirmed", "held", "irqsafe"}, f"lock {name}")
            self.source(decl, None, f"lock {name}")
        return tuple(table)

    def lock_decls(self, table: Any) -> tuple[LockDecl, ...]:
        """Held facts of each lock kind (``held``: conditions or instance values over state/arg)."""
        out = []
        for name, decl in (table or {}).items():
            held = self.strings(decl, "held")
            exprs = tuple(self._value_expr(h, child_where(where_of(decl, "held"), i)) for i, h in enumerate(held))
            irqsafe = decl.get("irqsafe", True)
            if not isinstance(irqsafe, bool):
                raise SpecError(where_of(decl, "irqsafe"), "'irqsafe' must be true or false",
                                "irqsafe = false when a hardirq may interrupt a holder of this lock on its CPU")
            out.append(LockDecl(name, exprs, held, irqsafe, decl.get("doc", "")))
        return tuple(out)

    def axioms(self, items: Any) -> tuple[Axiom, ...]:
        if not isinstance(items, list):
            raise SpecError(self.here(items), "axiom must be written as [[axiom]] tables")
        out, seen = [], set()
        for t in items:
            self.keys(t, {"name", "expr", "source", "confirmed", "doc"}, "an [[axiom]]", {"name", "expr"})
            name = self.string(t, "name", required=True)
            if name in seen:
                raise SpecError(where_of(t, "name"), f"axiom {name!r} is defined twice")
            seen.add(name)
            src = self.source(t, None, f"axiom {name}")
            e = self.expr(t["expr"], where_of(t, "expr"), ALL)
            out.append(Axiom(name, Fact(e, t["expr"], f"axiom {name}", src, where_of(t)), t.get("doc", "")))
        return tuple(out)

    # ---------------------------------------------------------------- contexts
    def contexts(self, table: Any) -> tuple[Context, ...]:
        if not isinstance(table, Table) or not table:
            raise SpecError(self.here(table) if table is not None else where_of(self.doc),
                            "the model has no contexts", "add [context.NAME] tables (docs/spec-format.md §5)")
        out = []
        for name, t in table.items():
            self.keys(t, {"doc", "source", "confirmed", "view", "facts", "case"}, f"context {name}")
            src = self.source(t, None, f"context {name}")
            view = self.facts(t, "view", VIEW, src, f"context {name} view")
            facts = self.facts(t, "facts", ALL, src, f"context {name}")
            cases = []
            raw_cases = t.get("case", [])
            if not isinstance(raw_cases, list):
                raise SpecError(where_of(t, "case"), "cases are written as [[context.NAME.case]] tables")
            names = set()
            for c in raw_cases:
                self.keys(c, {"name", "doc", "source", "confirmed", "facts"}, f"a case of context {name}", {"name"})
                cname = self.string(c, "name", required=True)
                if cname in names:
                    raise SpecError(where_of(c, "name"), f"context {name} has two cases named {cname!r}")
                names.add(cname)
                csrc = self.source(c, src, f"case {cname!r}")
                cases.append(Case(cname, self.facts(c, "facts", ALL, csrc, f"context {name} case {cname!r}"), csrc))
            out.append(Context(name, t.get("doc", ""), src, view, facts, tuple(cases), where_of(t)))
        return tuple(out)

    # ---------------------------------------------------------------- kfunc sets and filters
    def kfunc_sets(self, table: Any) -> tuple[KfuncSet, ...]:
        if table is None:
            return ()
        if not isinstance(table, Table):
            raise SpecError(self.here(table), "kfunc sets are written as [kfunc_set.NAME] tables")
        out = []
        for name, t in table.items():
            self.keys(t, {"registered", "allow", "source", "confirmed", "doc"}, f"kfunc set {name}")
            src = self.source(t, None, f"kfunc set {name}")
            reg = self.opt_fact(t, "registered", VIEW, src, f"kfunc set {name} registered")
            allow = self.opt_fact(t, "allow", TRUTH, src, f"kfunc set {name} contract")
            out.append(KfuncSet(name, reg, allow, src, t.get("doc", "")))
        return tuple(out)

    def opt_fact(self, t: Table, key: str, ns: frozenset[str], src: Source, label: str) -> Fact | None:
        if key not in t:
            return None
        return self.fact(t[key], where_of(t, key), ns, src, label)

    def filters(self, items: Any) -> tuple[Filter, ...]:
        if not isinstance(items, list):
            raise SpecError(self.here(items), "filters are written as [[filter]] tables")
        out = []
        for t in items:
            self.keys(t, {"name", "source", "confirmed", "applies", "default", "rule", "doc"},
                      "a [[filter]]", {"name"})
            name = self.string(t, "name", required=True)
            src = self.source(t, None, f"filter {name}")
            applies = self.expr(t.get("applies", "true"), where_of(t, "applies"), VIEW, kfunc_refs=True)
            default = self.verdict(t, "default", "allow")
            rules = []
            raw = t.get("rule", [])
            if not isinstance(raw, list):
                raise SpecError(where_of(t, "rule"), "filter rules are written as [[filter.rule]] tables")
            for i, r in enumerate(raw):
                self.keys(r, {"when", "verdict", "source", "confirmed", "doc"}, f"rule {i} of filter {name}",
                          {"when", "verdict"})
                rsrc = self.source(r, src, f"rule {i} of filter {name}")
                e = self.expr(r["when"], where_of(r, "when"), VIEW, kfunc_refs=True)
                rules.append(FilterRule(Fact(e, r["when"], f"filter {name} rule {i}: {r.get('doc') or r['when']}",
                                             rsrc, where_of(r)), self.verdict(r, "verdict", None), rsrc))
            out.append(Filter(name, applies, default, tuple(rules), src))
        return tuple(out)

    def verdict(self, t: Table, key: str, default: str | None) -> str:
        v = t.get(key, default)
        if v not in ("allow", "deny"):
            raise SpecError(where_of(t, key), f"'{key}' must be \"allow\" or \"deny\", not {v!r}")
        return v

    # ---------------------------------------------------------------- kfuncs
    def kfuncs(self, table: Any, set_names: set[str], lock_kinds: set[str]) -> tuple[Kfunc, ...]:
        if not isinstance(table, Table) or not table:
            raise SpecError(self.here(table) if table is not None else where_of(self.doc),
                            "the model has no kfuncs", "add [kfunc.NAME] tables (docs/spec-format.md §7)")
        return tuple(self.kfunc(name, t, set_names, lock_kinds) for name, t in table.items())

    def kfunc(self, name: str, t: Any, set_names: set[str], lock_kinds: set[str]) -> Kfunc:
        self.keys(t, {"sets", "flags", "source", "confirmed", "allow", "registered", "in_force", "impl",
                      "resolve", "select", "doc"}, f"kfunc {name}", {"impl"})
        src = self.source(t, None, f"kfunc {name}")
        sets = self.strings(t, "sets")
        for s in sets:
            if s not in set_names:
                raise SpecError(where_of(t, "sets"), f"kfunc {name} names unknown kfunc set {s!r}",
                                close_matches(s, set_names) or "declare it as [kfunc_set.NAME]")
        flags = self.strings(t, "flags")
        for f in flags:
            if f not in _ANY_FLAG:
                raise SpecError(where_of(t, "flags"), f"unknown kfunc flag {f!r}",
                                close_matches(f, _ANY_FLAG) or f"known flags: {', '.join(sorted(_ANY_FLAG))}")
        if "registered" in t and sets:
            raise SpecError(where_of(t, "registered"), f"kfunc {name} is in sets; its sets say where it is registered",
                            "drop 'registered', or 'sets'")
        allow = self.opt_fact(t, "allow", TRUTH, src, f"kfunc {name} contract")
        registered = self.opt_fact(t, "registered", VIEW, src, f"kfunc {name} registered")
        impls = self.impls(name, t, src, lock_kinds)
        impl_names = [i.name for i in impls]
        resolve = self.rules(name, t, "resolve", VIEW, impl_names, REJECT, src)
        select = self.rules(name, t, "select", SELECT, impl_names, ERROR, src)
        in_force = t.get("in_force")
        if resolve is not None and select is not None:
            if in_force not in ("resolver", "selector"):
                raise SpecError(where_of(t, "in_force") if "in_force" in t else where_of(t),
                                f"kfunc {name} has both a resolver and a selector; say which one is in force",
                                'add in_force = "resolver" (load time) or "selector" (run time)')
        elif in_force is not None:
            raise SpecError(where_of(t, "in_force"), "'in_force' is only needed when both resolve and select are given",
                            "remove in_force, or give both [[...resolve]] and [[...select]] rules")
        else:
            in_force = "resolver" if resolve is not None else "selector" if select is not None else "single"
            if in_force == "single" and len(impls) > 1:
                raise SpecError(where_of(t), f"kfunc {name} has {len(impls)} implementations but no rule picks one",
                                "add [[kfunc.NAME.resolve]] (load time) or [[kfunc.NAME.select]] (run time) rules")
        return Kfunc(name, sets, flags, src, allow, registered, impls, resolve, select, in_force,
                     t.get("doc", ""), where_of(t))

    def impls(self, kname: str, t: Table, src: Source, lock_kinds: set[str]) -> tuple[Implementation, ...]:
        raw = t["impl"]
        if not isinstance(raw, list) or not raw:
            raise SpecError(where_of(t, "impl"), f"kfunc {kname} needs at least one [[kfunc.{kname}.impl]]")
        out, seen = [], set()
        for it in raw:
            self.keys(it, {"name", "requires", "takes", "drops", "source", "confirmed", "doc"},
                      f"an implementation of {kname}", {"name"})
            iname = self.string(it, "name", required=True)
            if iname in seen or iname in (REJECT, ERROR):
                raise SpecError(where_of(it, "name"), f"implementation name {iname!r} is used twice or reserved"
                                if iname in seen else f"{iname!r} is reserved for rules")
            seen.add(iname)
            isrc = self.source(it, src, f"implementation {iname}")
            requires = []
            raw_req = it.get("requires", [])
            if not isinstance(raw_req, list):
                raise SpecError(where_of(it, "requires"), "'requires' must be a list of preconditions")
            for i, r in enumerate(raw_req):
                requires.append(self.fact(r, child_where(where_of(it, "requires"), i), PRE, isrc,
                                          f"{kname}/{iname} requires"))
            takes = self.lock_uses(it, "takes", lock_kinds)
            drops = self.lock_uses(it, "drops", lock_kinds)
            out.append(Implementation(iname, tuple(requires), takes, drops, isrc, it.get("doc", "")))
        return tuple(out)

    def lock_uses(self, t: Table, key: str, kinds: set[str]) -> tuple[LockUse, ...]:
        out = []
        for i, text in enumerate(self.strings(t, key)):
            m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*", text)
            w = child_where(where_of(t, key), i)
            if not m:
                raise SpecError(w, f"{text!r} is not a lock", 'write "KIND" or "KIND(expression)", e.g. "rq(arg.cpu)"')
            kind, arg = m.group(1), m.group(2)
            if kind not in kinds:
                raise SpecError(w, f"unknown lock kind {kind!r}", close_matches(kind, kinds) or "declare it under [locks.NAME]")
            arg_expr = None
            if arg is not None and arg.strip():
                arg_expr = self._value_expr(arg, w)
            out.append(LockUse(kind, arg_expr, text))
        return tuple(out)

    def _value_expr(self, text: str, where: Where) -> Expr:
        # a lock argument is a value (an int or enum), not a condition: parse `x == x` and keep x
        e = self.expr(f"({text}) == ({text})", where, PRE)
        from .expr import Cmp
        return e.lhs if isinstance(e, Cmp) else e

    def rules(self, kname: str, t: Table, key: str, ns: frozenset[str], impls: list[str],
              refusal: str, src: Source) -> tuple[Rule, ...] | None:
        if key not in t:
            return None
        raw = t[key]
        if not isinstance(raw, list) or not raw:
            raise SpecError(where_of(t, key), f"'{key}' rules are written as [[kfunc.{kname}.{key}]] tables")
        out = []
        targets = impls + [refusal]
        for i, r in enumerate(raw):
            self.keys(r, {"when", "select", "message", "source", "confirmed", "doc"},
                      f"{key} rule {i} of {kname}", {"when", "select"})
            rsrc = self.source(r, src, f"{key} rule {i} of {kname}")
            sel = self.string(r, "select", required=True)
            if sel not in targets:
                raise SpecError(where_of(r, "select"), f"{sel!r} is not an implementation of {kname}"
                                + ("" if sel not in (REJECT, ERROR) else f" ({key} rules use {refusal!r})"),
                                close_matches(sel, targets) or f"choose one of {', '.join(targets)}")
            e = self.expr(r["when"], where_of(r, "when"), ns)
            label = f"{kname} {key} rule {i}: {r.get('doc') or r['when']} -> {sel}"
            out.append(Rule(Fact(e, r["when"], label, rsrc, where_of(r)), sel,
                            self.string(r, "message", default="") or "", rsrc))
        return tuple(out)

    # ---------------------------------------------------------------- known bugs
    def known_bugs(self, items: Any, kfuncs: tuple[Kfunc, ...], contexts: tuple[Context, ...]) -> tuple[KnownBug, ...]:
        if not isinstance(items, list):
            raise SpecError(self.here(items), "known bugs are written as [[known_bug]] tables")
        by_name = {k.name: k for k in kfuncs}
        ctx_names = {c.name for c in contexts}
        out, seen = [], set()
        for t in items:
            self.keys(t, {"id", "title", "property", "kfunc", "context", "impl", "fixed_by", "source",
                          "confirmed", "doc"}, "a [[known_bug]]", {"id", "title", "property", "kfunc"})
            bid = self.string(t, "id", required=True)
            if bid in seen:
                raise SpecError(where_of(t, "id"), f"known bug {bid!r} is declared twice")
            seen.add(bid)
            prop = self.string(t, "property", required=True)
            if prop not in PROPERTIES[:4]:
                raise SpecError(where_of(t, "property"), f"unknown property {prop!r}",
                                close_matches(prop, PROPERTIES[:4]) or f"one of {', '.join(PROPERTIES[:4])}")
            kname = self.string(t, "kfunc", required=True)
            if kname not in by_name:
                raise SpecError(where_of(t, "kfunc"), f"known bug {bid!r} names unknown kfunc {kname!r}",
                                close_matches(kname, by_name) or f"the model's kfuncs: {_some(by_name)}")
            ctx = self.string(t, "context")
            if ctx is not None and ctx not in ctx_names:
                raise SpecError(where_of(t, "context"), f"known bug {bid!r} names unknown context {ctx!r}",
                                close_matches(ctx, ctx_names) or f"the model's contexts: {_some(ctx_names)}")
            impl = self.string(t, "impl")
            if impl is not None and impl not in by_name[kname].impl_names:
                raise SpecError(where_of(t, "impl"), f"{impl!r} is not an implementation of {kname}",
                                close_matches(impl, by_name[kname].impl_names)
                                or f"its implementations: {_some(by_name[kname].impl_names)}")
            out.append(KnownBug(bid, self.string(t, "title", required=True), prop, kname, ctx, impl,
                                self.string(t, "fixed_by"), self.source(t, None, f"known bug {bid}")))
        return tuple(out)


class _LazyPredicates(dict):
    """Predicates parsed on first use, so they may refer to each other in any order."""

    def __init__(self, v: _Validator):
        super().__init__({name: (lambda n=name: v.predicate(n)) for name in v.pred_text})


#: kfunc flags polykfunc knows (include/linux/btf.h, plus KF_IMPLICIT_ARGS)
_ANY_FLAG = {"ACQUIRE", "RELEASE", "RET_NULL", "TRUSTED_ARGS", "SLEEPABLE", "DESTRUCTIVE", "RCU",
             "ITER_NEW", "ITER_NEXT", "ITER_DESTROY", "RCU_PROTECTED", "FASTCALL", "ARENA_RET",
             "ARENA_ARG1", "ARENA_ARG2", "IMPLICIT_ARGS"}


def _some(names, n: int = 8) -> str:
    names = list(names)
    return ", ".join(names[:n]) + (f", ... ({len(names)} in all)" if len(names) > n else "")


def _tname(v: Any) -> str:
    return {str: "a string", int: "a number", bool: "a boolean", list: "a list", float: "a number"}.get(
        type(v), "a table" if isinstance(v, dict) else type(v).__name__)
