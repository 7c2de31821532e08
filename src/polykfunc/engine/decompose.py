"""Split an obligation by context, and share what contexts have in common (no solver here).

Every validity obligation says: for every runtime state that belongs to some context and meets
the obligation's ``condition``, the ``goal`` holds. A state belongs to context ``c`` when the
axioms and ``facts_of(c)`` hold. Many of those facts pin a variable to one value (``view.member
== 'enqueue'``, ``state.exec == 'task'``, ``view.sleepable``); under those pins most of an
obligation's formula is decided by concrete evaluation (the load-time rules read only the view).

:class:`ContextTable` computes, once per model, each context's pins and the *rest* of its
facts with the pins substituted. :class:`Partitioner` evaluates a formula under every context's
pins at once: it returns the formula's distinct residues, each with the set of contexts (a bit
mask) in which the formula equals that residue. Contexts with the same residue and the same
rest are then one question for the solver, whose answer does not depend on how many contexts
share it.

What it preserves (docs/properties.md, "Splitting by context"): for a context ``c`` with pins
``P`` and rest ``R``, the states of ``c`` are exactly the states meeting ``P`` and ``R``, and a
residue ``r`` of ``f`` at ``c`` equals ``f`` in every state meeting ``P``. So ``condition and
not goal`` has a state in ``c`` exactly when ``R and r`` (with the pins ``r`` still mentions)
is satisfiable, and the obligation holds exactly when that is unsatisfiable for every context.
"""

from __future__ import annotations

from typing import Callable, Iterator

from polykfunc.model import semantics as sem
from polykfunc.model.expr import (
    FALSE, META, TRUE, And, Arith, BoolType, Cmp, Const, EnumType, Expr, FlagsType, FlagTest, Implies,
    IntType, Ite, Not, Or, Var, conj, disj, eq, evaluate, ite, map_vars, neg, variables, with_copy,
)
from polykfunc.model.spec import Model

Key = tuple[str, str, int]
Parts = tuple[tuple[Expr, int], ...]   # (residue, mask of contexts); masks are disjoint

#: above this many residue combinations a node is left as it is (still exact, just not split)
_MAX_COMBINATIONS = 4096


class Unsplittable(Exception):
    """A formula reads a runtime state's context (``meta.context``) that the units do not pin."""


def bits(mask: int) -> Iterator[int]:
    """The indexes set in ``mask``, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def default_value(v: Var):
    """A value inside ``v``'s declared range (for variables no formula constrains)."""
    t = v.type
    if isinstance(t, BoolType):
        return False
    if isinstance(t, IntType):
        return t.lo if t.lo is not None else 0
    if isinstance(t, EnumType):
        return t.values[0]
    if isinstance(t, FlagsType):
        return frozenset()
    raise TypeError(f"unknown type {t!r}")  # pragma: no cover


def _in_range(v: Var, value) -> bool:
    t = v.type
    if isinstance(t, IntType) and t.lo is not None:
        return t.lo <= value <= t.hi  # type: ignore[operator]
    return True


def _pin_of(f: Expr) -> tuple[Var, Const] | None:
    """The variable a top-level fact pins, and its value: ``x == k``, ``b``, ``not b``."""
    if isinstance(f, Cmp) and f.op == "==":
        if isinstance(f.lhs, Var) and isinstance(f.rhs, Const):
            return f.lhs, Const(f.rhs.value, f.lhs.type)
        if isinstance(f.rhs, Var) and isinstance(f.lhs, Const):
            return f.rhs, Const(f.lhs.value, f.rhs.type)
    if isinstance(f, Var) and isinstance(f.type, BoolType):
        return f, TRUE
    if isinstance(f, Not) and isinstance(f.arg, Var) and isinstance(f.arg.type, BoolType):
        return f.arg, FALSE
    return None


def pin(formula: Expr, keep: Callable[[Var], bool] = lambda v: True) -> tuple[dict[Key, Const], Expr]:
    """The variables ``formula`` pins to one value (top-level conjuncts, to a fixpoint), and the
    formula with them substituted. Only variables ``keep`` accepts are pinned. A formula that
    pins a variable outside its range, or whose rest folds to false, has no state: the rest is
    ``FALSE``."""
    pins: dict[Key, Const] = {}
    rest = formula
    while True:
        new: dict[Key, Const] = {}
        for f in rest.args if isinstance(rest, And) else (rest,):
            got = _pin_of(f)
            if got is None or not keep(got[0]) or got[0].key in new:
                continue
            v, value = got
            if not _in_range(v, value.value):
                return pins, FALSE
            new[v.key] = value
        if not new:
            return pins, rest
        pins.update(new)
        rest = map_vars(rest, lambda v: new.get(v.key, v))
        if rest == FALSE:
            return pins, FALSE


class Partitioner:
    """Evaluate formulas under each unit's pins at once (units are contexts, as bit positions).

    ``parts(e)`` is a tuple of ``(residue, mask)``: for every unit in ``mask``, ``e`` equals
    ``residue`` in every state meeting that unit's pins. Every unit is in exactly one mask.
    Results are memoised per formula node, so shared sub-formulas cost once per model.
    """

    def __init__(self, pins: list[dict[Key, Const]]):
        self.n = len(pins)
        self.all = (1 << self.n) - 1
        self.values: dict[Key, dict[object, tuple[Const, int]]] = {}
        self.pinned: dict[Key, int] = {}
        for i, p in enumerate(pins):
            for key, c in p.items():
                per = self.values.setdefault(key, {})
                old = per.get(c.value)
                per[c.value] = (c, (old[1] if old else 0) | (1 << i))
                self.pinned[key] = self.pinned.get(key, 0) | (1 << i)
        self._by_id: dict[int, tuple[Expr, Parts]] = {}

    def parts(self, e: Expr) -> Parts:
        # memoised per node object, not per structure: models parse the same text into equal
        # but distinct trees, and a structural lookup would compare them deeply every time
        got = self._by_id.get(id(e))
        if got is not None and got[0] is e:
            return got[1]
        hit = self._parts(e)
        if len(self._by_id) > 1_000_000:
            self._by_id.clear()
        self._by_id[id(e)] = (e, hit)  # the node is kept, so its id is not reused
        return hit

    def pinned_in(self, key: Key, mask: int) -> bool:
        return bool(self.pinned.get(key, 0) & mask)

    # -------------------------------------------------------------- one node
    def _parts(self, e: Expr) -> Parts:
        whole = ((e, self.all),)
        if isinstance(e, (Const, FlagTest)):
            return whole
        if isinstance(e, Var):
            per = self.values.get(e.key)
            if per is None:
                if e.ns == META:
                    raise Unsplittable(str(e))
                return whole
            out = [(c, m) for c, m in per.values()]
            free = self.all & ~self.pinned[e.key]
            return tuple(out + [(e, free)] if free else out)
        if isinstance(e, Cmp) and e.op == "==":
            fast = self._equality(e)
            if fast is not None:
                return fast
        if isinstance(e, Or):
            fast = self._membership(e)
            if fast is not None:
                return fast
        if isinstance(e, Not):
            return tuple((neg(r), m) for r, m in self.parts(e.arg))
        if isinstance(e, (And, Or)):
            return self._fold(e)
        if isinstance(e, Implies):
            return self._combine(e, (e.lhs, e.rhs), _implies)
        if isinstance(e, Cmp):
            return self._combine(e, (e.lhs, e.rhs), lambda a, b, op=e.op: _compare(op, a, b))
        if isinstance(e, Arith):
            return self._combine(e, (e.lhs, e.rhs), lambda a, b, op=e.op: _arith(op, a, b))
        if isinstance(e, Ite):
            return self._ite(e)
        raise TypeError(f"unknown expression node {e!r}")  # pragma: no cover

    def _equality(self, e: Cmp) -> Parts | None:
        if isinstance(e.lhs, Var) and isinstance(e.rhs, Const):
            v, c = e.lhs, e.rhs
        elif isinstance(e.rhs, Var) and isinstance(e.lhs, Const):
            v, c = e.rhs, e.lhs
        else:
            return None
        return self._equal_to(e, v, (c.value,))

    def _membership(self, e: Or) -> Parts | None:
        """``x in [a, b, ...]`` (an Or of equalities of one variable) in one step."""
        first = e.args[0]
        if not (isinstance(first, Cmp) and first.op == "==" and isinstance(first.lhs, Var)):
            return None
        v = first.lhs
        ns, name, copy = v.ns, v.name, v.copy
        values = []
        for a in e.args:  # names, not variables: comparing types compares every enum value
            if type(a) is not Cmp or a.op != "==":
                return None
            lhs, rhs = a.lhs, a.rhs
            if lhs is not v and (type(lhs) is not Var or lhs.name != name or lhs.ns != ns or lhs.copy != copy):
                return None
            if type(rhs) is not Const:
                return None
            values.append(rhs.value)
        return self._equal_to(e, v, values)

    def _equal_to(self, e: Expr, v: Var, values) -> Parts:
        per = self.values.get(v.key)
        if per is None:
            if v.ns == META:
                raise Unsplittable(str(v))
            return ((e, self.all),)
        yes = 0
        for value in values:
            got = per.get(value)
            if got is not None:
                yes |= got[1]
        pinned = self.pinned[v.key]
        out = []
        if yes:
            out.append((TRUE, yes))
        if pinned & ~yes:
            out.append((FALSE, pinned & ~yes))
        if self.all & ~pinned:
            out.append((e, self.all & ~pinned))
        return tuple(out)

    def _fold(self, e: And | Or) -> Parts:
        unit, absorbing, join = (TRUE, FALSE, conj) if isinstance(e, And) else (FALSE, TRUE, disj)
        children = [self.parts(a) for a in e.args]
        if all(len(p) == 1 and _same(p[0][0], a) for p, a in zip(children, e.args)):
            return ((e, self.all),)
        acc: dict[Expr, int] = {unit: self.all}
        for p in children:
            if len(acc) * len(p) > _MAX_COMBINATIONS:
                return ((e, self.all),)
            new: dict[Expr, int] = {}
            for r, m in acc.items():
                if r == absorbing:
                    new[r] = new.get(r, 0) | m
                    continue
                for ra, ma in p:
                    mm = m & ma
                    if mm:
                        j = join(r, ra)
                        new[j] = new.get(j, 0) | mm
            acc = new
        return tuple(acc.items())

    def _combine(self, e: Expr, args: tuple[Expr, Expr], make) -> Parts:
        pa, pb = self.parts(args[0]), self.parts(args[1])
        if len(pa) == 1 and len(pb) == 1 and _same(pa[0][0], args[0]) and _same(pb[0][0], args[1]):
            return ((e, self.all),)
        if len(pa) * len(pb) > _MAX_COMBINATIONS:
            return ((e, self.all),)
        out: dict[Expr, int] = {}
        for ra, ma in pa:
            for rb, mb in pb:
                m = ma & mb
                if m:
                    r = make(ra, rb)
                    out[r] = out.get(r, 0) | m
        return tuple(out.items())

    def _ite(self, e: Ite) -> Parts:
        pc, pt, po = self.parts(e.cond), self.parts(e.then), self.parts(e.other)
        if all(len(p) == 1 and _same(p[0][0], x) for p, x in ((pc, e.cond), (pt, e.then), (po, e.other))):
            return ((e, self.all),)
        if len(pc) * len(pt) * len(po) > _MAX_COMBINATIONS:
            return ((e, self.all),)
        out: dict[Expr, int] = {}

        def add(r: Expr, m: int) -> None:
            out[r] = out.get(r, 0) | m

        for rc, mc in pc:
            if rc == TRUE or rc == FALSE:
                for r, m in (pt if rc == TRUE else po):
                    if m & mc:
                        add(r, m & mc)
                continue
            for rt, mt in pt:
                m1 = mc & mt
                if not m1:
                    continue
                for ro, mo in po:
                    if m1 & mo:
                        add(ite(rc, rt, ro), m1 & mo)
        return tuple(out.items())


def _same(a: Expr, b: Expr) -> bool:
    return a is b or a == b


def _implies(a: Expr, b: Expr) -> Expr:
    if isinstance(a, Const) or isinstance(b, Const):
        return disj(neg(a), b)
    return Implies(a, b)


def _compare(op: str, a: Expr, b: Expr) -> Expr:
    if isinstance(a, Const) and isinstance(b, Const):
        return TRUE if evaluate(Cmp(op, a, b), {}) else FALSE
    return Cmp(op, a, b)


def _arith(op: str, a: Expr, b: Expr) -> Expr:
    if isinstance(a, Const) and isinstance(b, Const):
        return Const(evaluate(Arith(op, a, b), {}), a.type if a.type == b.type else IntType())
    return Arith(op, a, b)


class ContextTable:
    """Per model: every context's pins and rest, and the partitioners over them.

    ``rest[i]`` is ``axioms and facts_of(context i)`` with the context's pins substituted
    (``FALSE`` when the context admits no state by evaluation alone). ``live`` masks the other
    contexts. Contexts with the same rest form one *rest class*.
    """

    def __init__(self, model: Model):
        self.model = model
        self.names = model.context_names
        self.index = {n: i for i, n in enumerate(self.names)}
        ax = sem.axioms(model)
        cv = sem.context_var(model)
        self.pins: list[dict[Key, Const]] = []
        self.rest: list[Expr] = []
        for c in model.contexts:
            p, r = pin(conj(ax, sem.facts_of(c)))
            p[cv.key] = Const(c.name, cv.type)  # the state's context is the context itself
            self.pins.append(p)
            self.rest.append(r)
        self.live = sum(1 << i for i, r in enumerate(self.rest) if r != FALSE)
        classes: dict[Expr, int] = {}
        for i, r in enumerate(self.rest):
            if r != FALSE:
                classes[r] = classes.get(r, 0) | (1 << i)
        self.rest_classes: tuple[tuple[Expr, int], ...] = tuple(classes.items())
        self.full = Partitioner(self.pins)
        # visibility compares runtime states at one shared view: split by view pins only
        self.view_pins = [{k: c for k, c in p.items() if k[0] == "view"} for p in self.pins]  # no meta: raises
        self.view = Partitioner(self.view_pins)
        self._view_classes: list[tuple[tuple, int]] | None = None
        self._copies_memo: dict[tuple, Expr] = {}
        self._interned: dict[Expr, Expr] = {}
        self._compatible: dict[tuple, int] = {}
        self._states: dict[tuple, Expr] = {}
        self._premise_classes: dict[int, list] = {}

    # -------------------------------------------------------------- one runtime state
    def blocks(self, formula: Expr) -> list[tuple[Expr, int]]:
        """The questions that decide whether ``formula`` holds in some state of some context.

        Each is ``(question, contexts)`` (a mask): ``formula`` has a state in context ``i`` of
        ``contexts`` exactly when ``question`` is satisfiable, and then every satisfying
        assignment, completed with ``i``'s pins, is such a state. Ordered by first context.
        """
        out: dict[Expr, int] = {}
        for r, m in self.full.parts(formula):
            m &= self.live
            if not m or r == FALSE:
                continue
            for rest, rm in self.rest_classes:
                mm = m & rm
                if not mm:
                    continue
                for pins_eq, pm in self._pinned_in(self.full, self.pins, r, mm):
                    q = conj(rest, r, *pins_eq)
                    if q != FALSE:
                        out[q] = out.get(q, 0) | pm
        return sorted(out.items(), key=lambda x: x[1] & -x[1])

    def _pinned_in(self, part: Partitioner, pins: list[dict[Key, Const]], r: Expr, mask: int):
        """Split ``mask`` by the pins ``r`` still mentions (a residue left whole); each piece
        with those pins as equalities."""
        keys = sorted(v.key for v in variables(r) if part.pinned_in(v.key, mask))
        if not keys:
            yield (), mask
            return
        by: dict[tuple, int] = {}
        for i in bits(mask):
            by[tuple(pins[i].get(k) for k in keys)] = by.get(tuple(pins[i].get(k) for k in keys), 0) | (1 << i)
        vars_by_key = {v.key: v for v in variables(r)}
        for values, m in by.items():
            yield tuple(eq(vars_by_key[k], c) for k, c in zip(keys, values) if c is not None), m

    # -------------------------------------------------------------- several runtime states
    def view_classes(self) -> list[tuple[tuple, int]]:
        """Live contexts grouped by their view pins (as sorted items), first context first."""
        if self._view_classes is None:
            by: dict[tuple, int] = {}
            for i in bits(self.live):
                k = tuple(sorted(self.view_pins[i].items()))
                by[k] = by.get(k, 0) | (1 << i)
            self._view_classes = list(by.items())
        return self._view_classes

    def compatible(self, view: tuple) -> int:
        """The live contexts whose view pins agree with ``view`` wherever both pin a variable."""
        hit = self._compatible.get(view)
        if hit is None:
            classes = self.view_classes()
            if len({tuple(k for k, _ in v) for v, _ in classes}) == 1:
                # every context pins the same view variables: compatible means equal
                self._compatible.update(classes)
                return self._compatible[view]
            want = dict(view)
            hit = 0
            for i in bits(self.live):
                if all(want.get(k, c) == c for k, c in self.view_pins[i].items()):
                    hit |= 1 << i
            self._compatible[view] = hit
        return hit

    def copies_premise(self, view: tuple, anchor: int, copies: int) -> Expr:
        """Runtime states ``0 .. copies-1`` at the view pinned by ``view``: state 0 in a
        context of ``anchor``, every other one in a context compatible with that view.
        Equal premises are one object (so questions built on them compare quickly)."""
        key = (view, anchor, copies)
        hit = self._copies_memo.get(key)
        if hit is not None:
            return hit
        compat = self.compatible(view)
        parts = []
        for j in range(copies):
            members = anchor if j == 0 else compat
            parts.append(with_copy(disj(*(self._state_at(i, view) for i in bits(members))), j))
        out = conj(*parts)
        out = self._interned.setdefault(out, out)
        self._copies_memo[key] = out
        return out

    def _state_at(self, i: int, view: tuple) -> Expr:
        """The states of context ``i`` at the view pinned by ``view`` (which agrees with
        ``i``'s own view pins): its rest and the pins ``view`` does not fix, as equalities."""
        key = (i, view)
        hit = self._states.get(key)
        if hit is not None:
            return hit
        fixed = dict(view)
        rest = self.rest[i]
        if any(v.key in fixed for v in variables(rest)):
            rest = map_vars(rest, lambda v: fixed.get(v.key, v))
        eqs = [eq(Var(k[0], k[1], c.type, k[2]), c) for k, c in sorted(self.pins[i].items())
               if k[0] != META and k not in fixed]
        out = self._states[key] = conj(rest, *eqs)
        return out

    def premise_classes(self, copies: int) -> list[tuple[Expr, int, list[tuple[tuple, int]]]]:
        """View classes grouped by their :meth:`copies_premise`: ``(premise, mask, classes)``."""
        hit = self._premise_classes.get(copies)
        if hit is None:
            by: dict[Expr, tuple[int, list]] = {}
            for view, vm in self.view_classes():
                p = self.copies_premise(view, vm, copies)
                m, members = by.get(p, (0, []))
                members.append((view, vm))
                by[p] = (m | vm, members)
            hit = [(p, m, members) for p, (m, members) in by.items()]
            self._premise_classes[copies] = hit
        return hit

    def copies_blocks(self, formula: Expr, copies: int) -> list[tuple[Expr, tuple, int, int]]:
        """Like :meth:`blocks` for ``copies`` runtime states sharing one view: each is
        ``(question, view pins, anchor mask, contexts)`` where a satisfying assignment of
        ``question`` completed with the view pins is a state 0 in some context of the anchor
        mask and states 1.. in contexts compatible with it. Ordered by first context."""
        out: dict[Expr, tuple[tuple, int, int]] = {}
        for r, m in self.view.parts(formula):
            m &= self.live
            if not m or r == FALSE:
                continue
            for premise, pmask, members in self.premise_classes(copies):
                if not m & pmask:
                    continue
                for view, vm in members:
                    mm = m & vm
                    if not mm:
                        continue
                    for pins_eq, pm in self._pinned_in(self.view, self.view_pins, r, mm):
                        q = conj(premise if pm == vm else self.copies_premise(view, pm, copies), r, *pins_eq)
                        if q == FALSE:
                            continue
                        got = out.get(q)
                        # a question shared by several view classes: answered once, for the first
                        out[q] = got if got is not None else (view, pm, pm)
                    if not _mentions_pinned(self.view, r, mm):
                        break  # the other view classes of this premise ask the same question
        ordered = sorted(out.items(), key=lambda x: x[1][2] & -x[1][2])
        return [(q, view, anchor, m) for q, (view, anchor, m) in ordered]


def _mentions_pinned(part: Partitioner, r: Expr, mask: int) -> bool:
    return any(part.pinned_in(v.key, mask) for v in variables(r))
