"""The one formula representation of polykfunc.

Expressions are immutable, hashable trees. The parser (:mod:`polykfunc.model.parse`)
builds them from model text, the SMT encoder walks them, and :func:`evaluate` computes
them on concrete values, which is how counterexamples are replayed without the solver.

Types: ``BOOL``, ``INT``, :class:`EnumType` and :class:`FlagsType`. A flags value is a
frozenset of member names; an enum value is one of its member names (a str).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import Mapping, Union

NAMESPACES = ("view", "state", "tracked", "arg")
#: A pseudo-namespace the prover uses: ``meta.context`` is the context a state belongs to.
META = "meta"
#: Namespaces that are per-copy when an obligation needs several runtime states.
RUNTIME_NAMESPACES = ("state", "tracked", "arg", META)


@dataclass(frozen=True)
class BoolType:
    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True)
class IntType:
    """An int with an optional inclusive range. Two ints with different ranges are different
    values of this class (a variable's identity includes its range); :func:`same_kind` is the
    type-checking comparison that ignores ranges."""

    lo: int | None = None
    hi: int | None = None

    def __str__(self) -> str:
        return "int"


@dataclass(frozen=True)
class EnumType:
    values: tuple[str, ...]

    def __str__(self) -> str:
        return "enum[" + ", ".join(self.values) + "]"


@dataclass(frozen=True)
class FlagsType:
    values: tuple[str, ...]

    def __str__(self) -> str:
        return "flags[" + ", ".join(self.values) + "]"


BOOL = BoolType()
INT = IntType()


def same_kind(a: "Type", b: "Type") -> bool:
    """Do values of types ``a`` and ``b`` compare with each other? (Int ranges do not matter.)"""
    if isinstance(a, IntType) and isinstance(b, IntType):
        return True
    return a == b
Type = Union[BoolType, IntType, EnumType, FlagsType]
Value = Union[bool, int, str, frozenset]


class Expr:
    """Base class of expression nodes."""

    __slots__ = ()

    def children(self) -> tuple["Expr", ...]:
        return ()


def _cached_hash(cls):
    """Cache the structural hash of an immutable node: trees are shared and hashed often.

    The cached value is not pickled: string hashes differ between processes, so a node sent
    to another process computes its hash again there.
    """
    structural = cls.__hash__

    def __hash__(self):
        try:
            return self._hash
        except AttributeError:
            h = structural(self)
            object.__setattr__(self, "_hash", h)
            return h

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_hash", None)
        return state

    cls.__hash__ = __hash__
    cls.__getstate__ = __getstate__
    return cls


@_cached_hash
@dataclass(frozen=True)
class Const(Expr):
    value: Value
    type: Type

    def __str__(self) -> str:
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        if isinstance(self.value, str):
            return repr(self.value)
        if isinstance(self.value, frozenset):
            return "[" + ", ".join(repr(v) for v in sorted(self.value)) + "]"
        return str(self.value)


@_cached_hash
@dataclass(frozen=True)
class Var(Expr):
    ns: str
    name: str
    type: Type
    copy: int = 0

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.ns, self.name, self.copy)

    @property
    def qualname(self) -> str:
        return f"{self.ns}.{self.name}"

    def __str__(self) -> str:
        suffix = f"#{self.copy}" if self.copy else ""
        return f"{self.ns}.{self.name}{suffix}"


@_cached_hash
@dataclass(frozen=True)
class FlagTest(Expr):
    """``var.MEMBER``: is the member set in a flags variable."""

    var: Var
    member: str

    def children(self):
        return (self.var,)

    def __str__(self) -> str:
        return f"{self.var}.{self.member}"


@_cached_hash
@dataclass(frozen=True)
class Not(Expr):
    arg: Expr

    def children(self):
        return (self.arg,)

    def __str__(self) -> str:
        return f"not ({self.arg})"


@_cached_hash
@dataclass(frozen=True)
class And(Expr):
    args: tuple[Expr, ...]

    def children(self):
        return self.args

    def __str__(self) -> str:
        return "(" + " and ".join(str(a) for a in self.args) + ")" if self.args else "true"


@_cached_hash
@dataclass(frozen=True)
class Or(Expr):
    args: tuple[Expr, ...]

    def children(self):
        return self.args

    def __str__(self) -> str:
        return "(" + " or ".join(str(a) for a in self.args) + ")" if self.args else "false"


@_cached_hash
@dataclass(frozen=True)
class Implies(Expr):
    lhs: Expr
    rhs: Expr

    def children(self):
        return (self.lhs, self.rhs)

    def __str__(self) -> str:
        return f"implies({self.lhs}, {self.rhs})"


CMP_OPS = ("==", "!=", "<", "<=", ">", ">=")


@_cached_hash
@dataclass(frozen=True)
class Cmp(Expr):
    op: str
    lhs: Expr
    rhs: Expr

    def children(self):
        return (self.lhs, self.rhs)

    def __str__(self) -> str:
        return f"{self.lhs} {self.op} {self.rhs}"


@_cached_hash
@dataclass(frozen=True)
class Arith(Expr):
    op: str  # "+" or "-"
    lhs: Expr
    rhs: Expr

    def children(self):
        return (self.lhs, self.rhs)

    def __str__(self) -> str:
        return f"({self.lhs} {self.op} {self.rhs})"


@_cached_hash
@dataclass(frozen=True)
class Ite(Expr):
    cond: Expr
    then: Expr
    other: Expr

    def children(self):
        return (self.cond, self.then, self.other)

    def __str__(self) -> str:
        return f"({self.then} if {self.cond} else {self.other})"


TRUE = Const(True, BOOL)
FALSE = Const(False, BOOL)


def type_of(e: Expr) -> Type:
    """The type of an expression (nodes are built well-typed by the parser)."""
    if isinstance(e, (Const, Var)):
        return e.type
    if isinstance(e, Arith):
        return INT
    if isinstance(e, Ite):
        return type_of(e.then)
    return BOOL


# --- smart constructors: they fold constants so that obligations stay small ---

def _flatten(args: tuple[Expr, ...], node: type, unit: Const, absorbing: Const) -> Expr:
    """And/Or of ``args``: nested nodes of the same kind flattened, units dropped, duplicates
    removed (first occurrence kept), and the absorbing constant returned as soon as it appears."""
    flat: list[Expr] = []
    for a in args:
        if isinstance(a, Const):   # only a constant can be the unit or the absorbing one
            if a == unit:
                continue
            if a == absorbing:
                return absorbing
        flat.extend(a.args if isinstance(a, node) else (a,))  # type: ignore[attr-defined]
    if not flat:
        return unit
    if len(flat) == 1:
        return flat[0]
    return node(tuple(dict.fromkeys(flat)))


def conj(*args: Expr) -> Expr:
    return _flatten(args, And, TRUE, FALSE)


def disj(*args: Expr) -> Expr:
    return _flatten(args, Or, FALSE, TRUE)


def neg(a: Expr) -> Expr:
    if a == TRUE:
        return FALSE
    if a == FALSE:
        return TRUE
    if isinstance(a, Not):
        return a.arg
    return Not(a)


def ite(cond: Expr, then: Expr, other: Expr) -> Expr:
    if cond == TRUE:
        return then
    if cond == FALSE:
        return other
    if then == other:
        return then
    return Ite(cond, then, other)


def eq(lhs: Expr, rhs: Expr) -> Expr:
    if isinstance(lhs, Const) and isinstance(rhs, Const):
        return TRUE if lhs.value == rhs.value else FALSE
    return Cmp("==", lhs, rhs)


def int_const(value: int) -> Const:
    return Const(value, INT)


# --- traversal ---

def variables(e: Expr) -> frozenset[Var]:
    """Every variable an expression reads."""
    return _variables(e)


_VARS_CACHE: dict[Expr, frozenset] = {}


def _variables(e: Expr) -> frozenset:
    hit = _VARS_CACHE.get(e)
    if hit is not None:
        return hit
    if isinstance(e, Var):
        out = frozenset((e,))
    else:
        out = reduce(frozenset.union, (_variables(c) for c in e.children()), frozenset())
    if len(_VARS_CACHE) > 200_000:
        _VARS_CACHE.clear()
    _VARS_CACHE[e] = out
    return out


def with_copy(e: Expr, copy: int) -> Expr:
    """The same expression over runtime copy ``copy``: view variables stay shared.

    Obligations that compare several runtime states (visibility) give each state its own
    copy of the ``state``, ``tracked``, ``arg`` and ``meta`` variables.
    """
    if copy == 0:
        return e
    hit = _COPY_CACHE.get((e, copy))
    if hit is None:
        hit = map_vars(e, lambda v: Var(v.ns, v.name, v.type, copy) if v.ns in RUNTIME_NAMESPACES else v)
        if len(_COPY_CACHE) > 100_000:
            _COPY_CACHE.clear()
        _COPY_CACHE[(e, copy)] = hit
    return hit


_COPY_CACHE: dict[tuple[Expr, int], Expr] = {}


def map_vars(e: Expr, replace) -> Expr:
    """Rebuild ``e`` with every variable ``v`` replaced by ``replace(v)``, folding constants.

    Inside a flags test the replacement must again be a variable.
    """
    memo: dict[Expr, Expr] = {}

    def walk(n: Expr) -> Expr:
        got = memo.get(n)
        if got is not None:
            return got
        if isinstance(n, Var):
            out: Expr = replace(n)
        elif isinstance(n, Const):
            out = n
        elif isinstance(n, FlagTest):
            out = FlagTest(replace(n.var), n.member)
        elif isinstance(n, Not):
            out = neg(walk(n.arg))
        elif isinstance(n, And):
            out = conj(*(walk(a) for a in n.args))
        elif isinstance(n, Or):
            out = disj(*(walk(a) for a in n.args))
        elif isinstance(n, Implies):
            lhs, rhs = walk(n.lhs), walk(n.rhs)
            out = disj(neg(lhs), rhs) if isinstance(lhs, Const) or isinstance(rhs, Const) else Implies(lhs, rhs)
        elif isinstance(n, Cmp):
            lhs, rhs = walk(n.lhs), walk(n.rhs)
            if isinstance(lhs, Const) and isinstance(rhs, Const):
                out = TRUE if evaluate(Cmp(n.op, lhs, rhs), {}) else FALSE
            else:
                out = Cmp(n.op, lhs, rhs)
        elif isinstance(n, Arith):
            out = Arith(n.op, walk(n.lhs), walk(n.rhs))
        elif isinstance(n, Ite):
            out = ite(walk(n.cond), walk(n.then), walk(n.other))
        else:  # pragma: no cover - every node kind is listed above
            raise TypeError(f"unknown expression node {n!r}")
        memo[n] = out
        return out

    return walk(e)


# --- concrete evaluation ---

Env = Mapping[tuple[str, str, int], Value]


class EvaluationError(Exception):
    """An expression read a variable the environment does not give."""


def evaluate(e: Expr, env: Env) -> Value:
    """Compute ``e`` on concrete values, without any solver.

    ``env`` maps ``(namespace, name, copy)`` to a value: bool, int, enum member name
    or frozenset of flag names.

    >>> from polykfunc.model.expr import Var, Cmp, Const, INT, evaluate
    >>> x = Var("state", "locked_rq", INT)
    >>> evaluate(Cmp("==", x, Const(-1, INT)), {("state", "locked_rq", 0): -1})
    True
    """
    if isinstance(e, Const):
        return e.value
    if isinstance(e, Var):
        try:
            return env[e.key]
        except KeyError:
            raise EvaluationError(f"no value for {e}") from None
    if isinstance(e, FlagTest):
        return e.member in evaluate(e.var, env)  # type: ignore[operator]
    if isinstance(e, Not):
        return not evaluate(e.arg, env)
    if isinstance(e, And):
        return all(evaluate(a, env) for a in e.args)
    if isinstance(e, Or):
        return any(evaluate(a, env) for a in e.args)
    if isinstance(e, Implies):
        return (not evaluate(e.lhs, env)) or bool(evaluate(e.rhs, env))
    if isinstance(e, Cmp):
        a, b = evaluate(e.lhs, env), evaluate(e.rhs, env)
        if e.op == "==":
            return a == b
        if e.op == "!=":
            return a != b
        if e.op == "<":
            return a < b  # type: ignore[operator]
        if e.op == "<=":
            return a <= b  # type: ignore[operator]
        if e.op == ">":
            return a > b  # type: ignore[operator]
        return a >= b  # type: ignore[operator]
    if isinstance(e, Arith):
        a, b = evaluate(e.lhs, env), evaluate(e.rhs, env)
        return a + b if e.op == "+" else a - b  # type: ignore[operator]
    if isinstance(e, Ite):
        return evaluate(e.then, env) if evaluate(e.cond, env) else evaluate(e.other, env)
    raise TypeError(f"unknown expression node {e!r}")  # pragma: no cover


def substitute(e: Expr, mapping: Mapping[tuple[str, str], Expr]) -> Expr:
    """Replace variables ``(namespace, name)`` by expressions, folding constants.

    Used to specialise filter rules (``set.X``, ``flag.Y``) to one kfunc.
    """
    return map_vars(e, lambda v: mapping.get((v.ns, v.name), v))
