"""The validated model: plain, immutable Python objects.

These are what the rest of polykfunc works on; :mod:`polykfunc.model.validate` is the only
way to build them from files, and it guarantees every reference resolves and every
expression type checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from polykfunc.errors import Where

from .expr import Expr, Type

REJECT = "reject"   # resolver outcome: the program fails to load
ERROR = "error"     # selector outcome: the kfunc refuses the call at run time
PROPERTIES = ("safety", "coverage", "visibility", "refinement", "non-vacuity")


@dataclass(frozen=True)
class Source:
    """Where in the kernel a rule comes from, and whether it was read in source."""

    text: str
    confirmed: bool = True

    def __str__(self) -> str:
        return self.text if self.confirmed else f"{self.text} [unconfirmed]"


@dataclass(frozen=True)
class VarDecl:
    ns: str
    name: str
    type: Type
    doc: str = ""
    where: Where | None = field(default=None, compare=False)

    @property
    def qualname(self) -> str:
        return f"{self.ns}.{self.name}"


@dataclass(frozen=True)
class Fact:
    """One labelled assertion of the model, traceable to its rule and its kernel source."""

    expr: Expr
    text: str
    label: str
    source: Source
    where: Where | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Case:
    name: str
    facts: tuple[Fact, ...]
    source: Source


@dataclass(frozen=True)
class Context:
    """A callback or program type that calls kfuncs, with the runtime states it runs in."""

    name: str
    doc: str
    source: Source
    view: tuple[Fact, ...]
    facts: tuple[Fact, ...]
    cases: tuple[Case, ...]
    where: Where | None = field(default=None, compare=False)


@dataclass(frozen=True)
class LockDecl:
    """A lock kind: when this CPU (or task) already holds it, and whether IRQs are off while held.

    Each ``held`` expression is either a condition (true: an instance of this lock is held) or
    a value naming the instance held (an int or enum; negative or ``"none"``: none held).
    """

    name: str
    held: tuple[Expr, ...] = ()
    held_text: tuple[str, ...] = ()
    irqsafe: bool = True
    doc: str = ""


@dataclass(frozen=True)
class LockUse:
    kind: str
    arg: Expr | None
    text: str


@dataclass(frozen=True)
class Implementation:
    name: str
    requires: tuple[Fact, ...]
    takes: tuple[LockUse, ...]
    drops: tuple[LockUse, ...]
    source: Source
    doc: str = ""


@dataclass(frozen=True)
class Rule:
    """One ordered rule of a resolver or selector: when ``when`` holds, pick ``select``."""

    when: Fact
    select: str          # an implementation name, REJECT or ERROR
    message: str
    source: Source


@dataclass(frozen=True)
class KfuncSet:
    name: str
    registered: Fact | None
    allow: Fact | None
    source: Source
    doc: str = ""


@dataclass(frozen=True)
class FilterRule:
    when: Fact
    verdict: str  # "allow" | "deny"
    source: Source


@dataclass(frozen=True)
class Filter:
    name: str
    applies: Expr
    default: str
    rules: tuple[FilterRule, ...]
    source: Source


@dataclass(frozen=True)
class Kfunc:
    name: str
    sets: tuple[str, ...]
    flags: tuple[str, ...]
    source: Source
    allow: Fact | None           # own contract; None: from the sets
    registered: Fact | None      # for kfuncs in no set
    impls: tuple[Implementation, ...]
    resolve: tuple[Rule, ...] | None
    select: tuple[Rule, ...] | None
    in_force: str                # "resolver", "selector" or "single"
    doc: str = ""
    where: Where | None = field(default=None, compare=False)

    def impl(self, name: str) -> Implementation:
        for i in self.impls:
            if i.name == name:
                return i
        raise KeyError(name)

    @property
    def impl_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.impls)

    @property
    def is_polymorphic(self) -> bool:
        return len(self.impls) > 1


@dataclass(frozen=True)
class Axiom:
    name: str
    fact: Fact
    doc: str = ""


@dataclass(frozen=True)
class KnownBug:
    id: str
    title: str
    property: str
    kfunc: str
    context: str | None
    impl: str | None
    fixed_by: str | None
    source: Source

    def matches(self, property: str, kfunc: str | None, context: str | None, impl: str | None) -> bool:
        """Does a counterexample with these coordinates belong to this bug?"""
        return (self.property == property and self.kfunc == kfunc
                and (self.context is None or self.context == context)
                and (self.impl is None or self.impl == impl))


@dataclass(frozen=True)
class Model:
    """A validated model of one subsystem at one kernel version."""

    name: str
    subsystem: str
    kernel: str
    commit: str | None
    description: str
    path: Path
    files: tuple[Path, ...]
    vars: tuple[VarDecl, ...]
    predicates: tuple[tuple[str, Expr], ...]
    locks: tuple[str, ...]
    axioms: tuple[Axiom, ...]
    contexts: tuple[Context, ...]
    kfunc_sets: tuple[KfuncSet, ...]
    filters: tuple[Filter, ...]
    kfuncs: tuple[Kfunc, ...]
    known_bugs: tuple[KnownBug, ...]
    lock_decls: tuple[LockDecl, ...] = ()   # the [locks.NAME] tables, with held facts (format section 4)
    base: str | None = None                 # the generic layer this model is composed with (format section 12)
    base_kfuncs: tuple[str, ...] = ()       # the kfuncs that come from that layer

    def context(self, name: str) -> Context:
        for c in self.contexts:
            if c.name == name:
                return c
        raise KeyError(name)

    def kfunc(self, name: str) -> Kfunc:
        for k in self.kfuncs:
            if k.name == name:
                return k
        raise KeyError(name)

    def kfunc_set(self, name: str) -> KfuncSet:
        for s in self.kfunc_sets:
            if s.name == name:
                return s
        raise KeyError(name)

    def var(self, ns: str, name: str) -> VarDecl:
        for v in self.vars:
            if v.ns == ns and v.name == name:
                return v
        raise KeyError(f"{ns}.{name}")

    @property
    def context_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.contexts)

    def derived(self, kind: str) -> dict:
        """A dict, kept on this (immutable) model, for values computed from it under ``kind``:
        a layer memoises what it derives once per model without a global table. It is not
        part of the model's equality."""
        memo = self.__dict__.get("_derived")
        if memo is None:
            memo = {}
            object.__setattr__(self, "_derived", memo)
        return memo.setdefault(kind, {})
