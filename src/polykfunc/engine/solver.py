"""The z3 encoding of model formulas, behind a small interface.

:class:`Z3Session` owns one z3 solver for one model. It encodes :mod:`polykfunc.model.expr`
trees (caching per node), adds the domain constraints of every variable it meets, and answers
:class:`Answer` objects: ``sat`` with concrete values, ``unsat``, or ``unknown`` with z3's reason.
A deterministic resource limit (z3's ``rlimit``) bounds every check; wall-clock time never does.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Iterable

import z3

from polykfunc.model.expr import (
    And, Arith, BoolType, Cmp, Const, EnumType, Expr, FlagsType, FlagTest, Implies, IntType, Ite,
    Not, Or, Value, Var,
)

#: Bumped whenever the encoding or the search changes what an answer is (part of every cache key);
#: 2: obligations are split by context (engine/split.py), so counterexamples are found per group.
ENCODING_VERSION = 2
DEFAULT_RLIMIT = 20_000_000


def z3_version() -> str:
    return z3.get_version_string()


@dataclass(frozen=True)
class Answer:
    """What the solver said about one question."""

    status: str                       # "sat", "unsat" or "unknown"
    values: Mapping | None = None     # (ns, name, copy) -> value, when sat
    reason: str = ""                  # z3's reason, when unknown


#: comparison operator -> the z3 C function that builds it
_CMP = {"==": z3.Z3_mk_eq, "<": z3.Z3_mk_lt, "<=": z3.Z3_mk_le, ">": z3.Z3_mk_gt, ">=": z3.Z3_mk_ge}
_REFLECTED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


class Z3Session:
    """Encode and check formulas over one model's variables."""

    def __init__(self, rlimit: int = DEFAULT_RLIMIT):
        self.ctx = z3.Context()
        self.solver = z3.Solver(ctx=self.ctx)
        self.rlimit = rlimit
        self.solver.set("rlimit", rlimit)
        self._memo: dict[Expr, z3.ExprRef] = {}
        self._vars: dict[tuple[str, str, int], tuple[Var, object]] = {}
        self._bounded: set[tuple[str, str, int]] = set()
        self._marks: list = []

    # -------------------------------------------------------------- encoding
    def term(self, v: Var):
        """The z3 term(s) of a variable: a Bool, an Int, or a dict of Bools for flags."""
        got = self._vars.get(v.key)
        if got is not None:
            return got[1]
        label = f"{v.ns}.{v.name}" + (f"#{v.copy}" if v.copy else "")
        t = v.type
        if isinstance(t, BoolType):
            term: object = z3.Bool(label, self.ctx)
        elif isinstance(t, FlagsType):
            term = {m: z3.Bool(f"{label}.{m}", self.ctx) for m in t.values}
        else:
            term = z3.Int(label, self.ctx)
        self._vars[v.key] = (v, term)
        return term

    def domain(self, v: Var) -> z3.BoolRef | None:
        """The range constraint of an int or enum variable (None for bools and flags)."""
        t = v.type
        term = self.term(v)
        if isinstance(t, IntType) and t.lo is not None:
            return z3.And(term >= t.lo, term <= t.hi)  # type: ignore[operator]
        if isinstance(t, EnumType):
            return z3.And(term >= 0, term < len(t.values))  # type: ignore[operator]
        return None

    def encode(self, e: Expr):
        hit = self._memo.get(e)
        if hit is not None:
            return hit
        out = self._encode(e)
        self._memo[e] = out
        return out

    def marks(self, n: int) -> list:
        """``n`` fresh Boolean constants for assumption-based checks (``__fact0`` ...), made once
        per session and reused: they mean nothing outside the scope that asserts implications on them."""
        while len(self._marks) < n:
            self._marks.append(z3.Bool(f"__fact{len(self._marks)}", self.ctx))
        return self._marks[:n]

    def assert_base(self, formula: Expr) -> None:
        """Assert a formula for every later check (must be called outside any push).

        Used for the facts every obligation of a model shares (axioms, context membership),
        so z3 keeps what it learns about them from one check to the next.
        """
        from polykfunc.model.expr import variables as vars_of
        self.bound(v for _, v in sorted((v.key, v) for v in vars_of(formula)))
        self.solver.add(self.encode(formula))

    def bound(self, variables: Iterable[Var]) -> None:
        """Assert the range of every new variable once, at the solver's base level.

        Ranges are true of every state, so they never need retracting; asserting them once
        keeps each check small. Must be called outside any push.
        """
        for v in variables:
            if v.key in self._bounded:
                continue
            self._bounded.add(v.key)
            d = self.domain(v)
            if d is not None:
                self.solver.add(d)

    def _encode(self, e: Expr):
        c = self.ctx
        if isinstance(e, Const):
            if isinstance(e.value, bool):
                return z3.BoolVal(e.value, c)
            if isinstance(e.type, EnumType):
                return z3.IntVal(e.type.values.index(e.value), c)  # type: ignore[arg-type]
            return z3.IntVal(e.value, c)
        if isinstance(e, Var):
            term = self.term(e)
            if isinstance(term, dict):
                raise TypeError(f"flags variable {e} used as a value")
            return term
        if isinstance(e, FlagTest):
            return self.term(e.var)[e.member]  # type: ignore[index]
        # the nodes below are built with z3's C API: the terms z3's Python operators build
        # (operands of a node always have the same sort here: the model is type-checked), without
        # their per-call coercion, which dominated encoding
        ref = c.ref()
        if isinstance(e, Not):
            return z3.BoolRef(z3.Z3_mk_not(ref, self.encode(e.arg).as_ast()), c)
        if isinstance(e, And):
            return self._nary(z3.Z3_mk_and, [self.encode(a) for a in e.args], True)
        if isinstance(e, Or):
            return self._nary(z3.Z3_mk_or, [self.encode(a) for a in e.args], False)
        if isinstance(e, Implies):
            return z3.BoolRef(z3.Z3_mk_implies(ref, self.encode(e.lhs).as_ast(), self.encode(e.rhs).as_ast()), c)
        if isinstance(e, Cmp):
            lhs, rhs = self.encode(e.lhs), self.encode(e.rhs)
            op = e.op
            if type(rhs) is not type(lhs) and isinstance(rhs, type(lhs)):
                # Python gives a right operand of a subclass (a numeral against a variable) the
                # first say: ``x < 4`` became z3's (> 4 x). Kept, so answers stay the same.
                lhs, rhs, op = rhs, lhs, _REFLECTED[op]
            a, b = lhs.as_ast(), rhs.as_ast()
            if op == "!=":
                return z3.BoolRef(z3.Z3_mk_distinct(ref, 2, (z3.Ast * 2)(a, b)), c)
            return z3.BoolRef(_CMP[op](ref, a, b), c)
        if isinstance(e, Arith):
            pair = (z3.Ast * 2)(self.encode(e.lhs).as_ast(), self.encode(e.rhs).as_ast())
            return z3.ArithRef((z3.Z3_mk_add if e.op == "+" else z3.Z3_mk_sub)(ref, 2, pair), c)
        if isinstance(e, Ite):
            cond = self.encode(e.cond)   # cond, then, other: the order z3.If encodes them in
            then = self.encode(e.then)
            term = z3.Z3_mk_ite(ref, cond.as_ast(), then.as_ast(), self.encode(e.other).as_ast())
            return z3.BoolRef(term, c) if isinstance(then, z3.BoolRef) else z3.ArithRef(term, c)
        raise TypeError(f"unknown expression node {e!r}")  # pragma: no cover

    def _nary(self, make, args: list, empty: bool):
        """``z3.And``/``z3.Or`` of Boolean terms, built in one call: the same term z3's Python
        wrappers build, without their per-argument type coercion (slow on wide formulas)."""
        if not args:
            return z3.BoolVal(empty, self.ctx)
        arr = (z3.Ast * len(args))(*(a.as_ast() for a in args))
        return z3.BoolRef(make(self.ctx.ref(), len(args), arr), self.ctx)

    # -------------------------------------------------------------- checking
    def check(self, formulas: Iterable[Expr], variables: Iterable[Var] = (), lazy: bool = False) -> Answer:
        """Is the conjunction of ``formulas`` satisfiable? Values are read for ``variables``.

        Every variable the formulas or ``variables`` mention is kept inside its declared range.
        With ``lazy``, a value is read from z3's model only when it is first looked up (for
        callers that evaluate a few of many variables); the answer's values are the same.
        """
        from polykfunc.model.expr import variables as vars_of
        formulas = list(formulas)
        wanted = list(variables)
        seen: dict[tuple, Var] = {}
        for f in formulas:
            for v in vars_of(f):
                seen[v.key] = v
        for v in wanted:
            seen[v.key] = v
        s = self.solver
        # sorted: set iteration order follows Python's per-process string hashing, and z3's
        # answers depend on the order constraints arrive in; sorting makes runs repeatable
        seen = dict(sorted(seen.items()))
        self.bound(seen.values())
        s.push()
        try:
            for f in formulas:
                s.add(self.encode(f))
            return self._answer(seen.values(), lazy)
        finally:
            s.pop()

    def _answer(self, variables: Iterable[Var], lazy: bool = False) -> Answer:
        s = self.solver
        result = s.check()
        if result == z3.sat:
            m = s.model()
            if lazy:
                return Answer("sat", _LazyValues(self, m, {v.key: v for v in variables}))
            return Answer("sat", {v.key: self._value(m, v) for v in variables})
        if result == z3.unsat:
            return Answer("unsat")
        return Answer("unknown", reason=s.reason_unknown())

    def frame(self, variables: Iterable[Var]) -> "_Frame":
        """A scope for incremental checks: ``with session.frame(vars) as f: f.add(e); f.check()``.

        ``variables`` must list every variable the frame's formulas will mention (their
        ranges are asserted at the base level first); values are read for them.
        """
        return _Frame(self, sorted(variables, key=lambda v: v.key))

    def _value(self, m: z3.ModelRef, v: Var) -> Value:
        # what m.eval(term, model_completion=True) gives, read through z3's C API: a model is
        # read for dozens of variables after every satisfiable check
        ref, model = self.ctx.ref(), m.model
        term = self.term(v)
        t = v.type
        if isinstance(t, FlagsType):
            return frozenset(name for name, b in term.items()  # type: ignore[union-attr]
                             if z3.Z3_get_bool_value(ref, _evaluated(ref, model, b)) == z3.Z3_L_TRUE)
        val = _evaluated(ref, model, term)
        if isinstance(t, BoolType):
            return z3.Z3_get_bool_value(ref, val) == z3.Z3_L_TRUE
        out = ctypes.c_longlong()
        if z3.Z3_get_numeral_int64(ref, val, ctypes.byref(out)):
            n = out.value
        else:  # pragma: no cover - every declared range fits in 64 bits
            n = int(z3.Z3_get_numeral_string(ref, val))
        if isinstance(t, EnumType):
            return t.values[n]
        return n


def _evaluated(ref, model, term):
    """``term``'s value in ``model`` (completed), as a raw z3 AST: valid for the next API call only."""
    r = (z3.Ast * 1)()
    if not z3.Z3_model_eval(ref, model, term.as_ast(), True, r):
        raise z3.Z3Exception("failed to evaluate expression in the model")
    return r[0]


class _LazyValues(Mapping):
    """The values of one satisfying assignment, each read from z3's model on first lookup.

    It maps the same keys to the same values as the dict :meth:`Z3Session.check` builds
    eagerly; a z3 model is a snapshot, so it stays valid after the solver pops its scope.
    """

    def __init__(self, session: Z3Session, model: z3.ModelRef, variables: dict):
        self._session, self._model, self._vars = session, model, variables
        self._read: dict = {}

    def __getitem__(self, key):
        if key not in self._read:
            self._read[key] = self._session._value(self._model, self._vars[key])
        return self._read[key]

    def __iter__(self):
        return iter(self._vars)

    def __len__(self) -> int:
        return len(self._vars)


class _Frame:
    """One push level of a session, for checks that add constraints one by one."""

    def __init__(self, session: Z3Session, variables: list[Var]):
        self.session = session
        self.variables = variables
        self.keys = {v.key for v in variables}

    def __enter__(self) -> "_Frame":
        self.session.bound(self.variables)
        self.session.solver.push()
        return self

    def __exit__(self, *exc) -> bool:
        self.session.solver.pop()
        return False

    def add(self, formula: Expr) -> None:
        from polykfunc.model.expr import variables as vars_of
        stray = [v for v in vars_of(formula) if v.key not in self.keys]
        if stray:
            raise ValueError(f"frame formula mentions undeclared variables {sorted(str(v) for v in stray)}")
        self.session.solver.add(self.session.encode(formula))

    def check(self) -> Answer:
        return self.session._answer(self.variables)


@dataclass(frozen=True)
class Core:
    """The answer to "which of these facts force that?"."""

    status: str                      # "unsat" (a core was found), "sat" (they do not force it), "unknown"
    kept: tuple[int, ...] = ()       # indexes of the candidate facts in a minimal forcing set
    reason: str = ""


def minimal_core(session: "Z3Session", candidates: list[Expr], hard: list[Expr],
                 prefer_dropping: list[int] | None = None) -> Core:
    """A minimal subset of ``candidates`` that, with ``hard``, is unsatisfiable.

    z3's unsat core is shrunk by deletion until no candidate can be removed; candidates listed
    in ``prefer_dropping`` are tried first, so the result leans on the others. The result is
    irreducible (no proper subset works), not necessarily the smallest.
    """
    from polykfunc.model.expr import variables as vars_of
    s = session.solver
    seen = {}
    for f in list(candidates) + list(hard):
        for v in vars_of(f):
            seen[v.key] = v
    session.bound(v for _, v in sorted(seen.items()))
    # the loop below asks hundreds of questions per counterexample: it talks to z3's C API
    # directly (the same calls z3's Python Solver makes, without its per-argument coercion)
    ref, handle = session.ctx.ref(), s.solver
    s.push()
    try:
        for f in hard:
            s.add(session.encode(f))
        marks = session.marks(len(candidates))
        index = {z3.Z3_get_ast_id(ref, m.as_ast()): i for i, m in enumerate(marks)}
        for m, f in zip(marks, candidates):
            z3.Z3_solver_assert(ref, handle, z3.Z3_mk_implies(ref, m.as_ast(), session.encode(f).as_ast()))

        def check(kept) -> int:   # 1 sat, -1 unsat, 0 unknown
            arr = (z3.Ast * len(kept))(*(marks[j].as_ast() for j in kept))
            return z3.Z3_solver_check_assumptions(ref, handle, len(kept), arr)

        def unsat_core() -> set[int]:
            v = z3.AstVector(z3.Z3_solver_get_unsat_core(ref, handle), session.ctx)
            return {index[z3.Z3_get_ast_id(ref, v[k].as_ast())] for k in range(len(v))}

        result = check(range(len(candidates)))
        if result == 1:
            return Core("sat")
        if result == 0:
            return Core("unknown", reason=s.reason_unknown())
        core = unsat_core()
        order = [i for i in (prefer_dropping or []) if i in core] + sorted(core - set(prefer_dropping or []))
        for i in order:
            if i not in core:
                continue
            trial = core - {i}
            if check(sorted(trial)) == -1:
                core = unsat_core() & trial or trial
        return Core("unsat", tuple(sorted(core)))
    finally:
        s.pop()
