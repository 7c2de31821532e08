"""Parse model expressions (a small, Python-shaped language) into :mod:`expr` trees.

The grammar is Python's expression grammar restricted to what docs/spec-format.md lists;
the Python parser gives us precise columns for free. Everything is type checked against the
model's variable declarations while it is parsed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Callable, Mapping

from polykfunc.errors import close_matches

from .expr import (
    BOOL, INT, Arith, Cmp, Const, EnumType, Expr, FlagsType, FlagTest,
    Implies, IntType, Type, Var, conj, disj, neg, same_kind, type_of,
)


class ExprError(Exception):
    """An expression does not parse or does not type check."""

    def __init__(self, message: str, col: int | None = None, end_col: int | None = None,
                 hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.col = col
        self.end_col = end_col
        self.hint = hint


#: Namespaces whose members name a property of the kfunc being checked (filters only).
KFUNC_REF_NAMESPACES = ("set", "flag")


@dataclass
class Scope:
    """What an expression may refer to.

    ``vars`` maps ``(namespace, name)`` to a type; ``predicates`` maps a name to a function
    that returns its (already parsed) body, so that predicates can be parsed on demand;
    ``namespaces`` are the namespaces this place may read; ``kfunc_sets`` and ``kfunc_flags``
    are the names ``set.X`` and ``flag.Y`` may take (None: such references are not allowed here).
    """

    vars: Mapping[tuple[str, str], Type]
    namespaces: frozenset[str]
    predicates: Mapping[str, Callable[[], Expr]] = field(default_factory=dict)
    kfunc_sets: frozenset[str] | None = None
    kfunc_flags: frozenset[str] | None = None


_CMP = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


def parse_expr(text: str, scope: Scope) -> Expr:
    """Parse and type check one boolean expression.

    Raises :class:`ExprError` with the column of the offending part.
    """
    if not isinstance(text, str):
        raise ExprError(f"expected an expression string, got {type(text).__name__}")
    if not text.strip():
        raise ExprError("empty expression", hint="write `true` for a rule that always applies")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        col = (exc.offset or 1) - 1
        raise ExprError(f"does not parse: {exc.msg}", col=col,
                        hint="expressions use Python syntax: and, or, not, ==, in [...], implies(a, b)") from None
    e = _Parser(scope, text.strip()).expr(tree.body)
    if type_of(e) != BOOL:
        raise ExprError(f"must be a condition (bool), but this is {type_of(e)}", col=0)
    return e


class _Parser:
    def __init__(self, scope: Scope, text: str):
        self.scope = scope
        self.text = text

    def fail(self, node: ast.AST, message: str, hint: str | None = None) -> ExprError:
        return ExprError(message, self._chars(getattr(node, "col_offset", None)),
                         self._chars(getattr(node, "end_col_offset", None)), hint)

    def _chars(self, offset: int | None) -> int | None:
        """Python reports UTF-8 byte offsets; the caret needs character columns."""
        if offset is None:
            return None
        return len(self.text.encode("utf-8")[:offset].decode("utf-8", errors="ignore"))

    # -- entry --
    def expr(self, node: ast.AST) -> Expr:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise self.fail(node, f"'{ast.unparse(node)}' is not allowed in a model expression",
                            "allowed: and, or, not, comparisons, in [...], +, -, x if c else y, implies(a, b)")
        return method(node)

    def boolean(self, node: ast.AST) -> Expr:
        e = self.expr(node)
        if type_of(e) != BOOL:
            raise self.fail(node, f"'{ast.unparse(node)}' is {type_of(e)}, but a condition (bool) is needed here")
        return e

    # -- node kinds --
    def _BoolOp(self, node: ast.BoolOp) -> Expr:
        parts = [self.boolean(v) for v in node.values]
        return conj(*parts) if isinstance(node.op, ast.And) else disj(*parts)

    def _UnaryOp(self, node: ast.UnaryOp) -> Expr:
        if isinstance(node.op, ast.Not):
            return neg(self.boolean(node.operand))
        if isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
                and type(node.operand.value) is int:
            return Const(-node.operand.value, INT)
        raise self.fail(node, f"operator in '{ast.unparse(node)}' is not allowed")

    def _Constant(self, node: ast.Constant) -> Expr:
        v = node.value
        if isinstance(v, bool):
            return Const(v, BOOL)
        if isinstance(v, int):
            return Const(v, INT)
        if isinstance(v, str):
            return _StrLit(v, node)  # typed once compared with an enum
        raise self.fail(node, f"literal {v!r} is not allowed")

    def _Name(self, node: ast.Name) -> Expr:
        if node.id in ("true", "True"):
            return Const(True, BOOL)
        if node.id in ("false", "False"):
            return Const(False, BOOL)
        pred = self.scope.predicates.get(node.id)
        if pred is not None:
            body = pred()
            bad = {v.ns for v in _vars(body)} - self.scope.namespaces
            if bad:
                raise self.fail(node, f"predicate '{node.id}' reads {', '.join(sorted(bad))}, "
                                      f"which this place may not read",
                                f"here only {', '.join(sorted(self.scope.namespaces))} may be read")
            return body
        names = list(self.scope.predicates) + ["true", "false"]
        raise self.fail(node, f"unknown name '{node.id}'",
                        close_matches(node.id, names) or
                        "variables are written with their namespace: view.X, state.X, tracked.X, arg.X")

    def _Attribute(self, node: ast.Attribute) -> Expr:
        parts = _dotted(node)
        if parts is None:
            raise self.fail(node, f"'{ast.unparse(node)}' is not a variable")
        ns = parts[0]
        if ns in KFUNC_REF_NAMESPACES:
            return self._kfunc_ref(node, ns, parts)
        known_ns = {n for n, _ in self.scope.vars}
        if ns not in known_ns and ns not in ("view", "state", "tracked", "arg"):
            raise self.fail(node, f"unknown namespace '{ns}'",
                            close_matches(ns, ["view", "state", "tracked", "arg"]))
        if ns not in self.scope.namespaces:
            raise self.fail(node, f"'{'.'.join(parts)}' reads {ns}, which this place may not read",
                            f"here only {', '.join(sorted(self.scope.namespaces))} may be read")
        if len(parts) < 2:
            raise self.fail(node, f"'{ns}' needs a variable name: {ns}.NAME")
        name = parts[1]
        vtype = self.scope.vars.get((ns, name))
        if vtype is None:
            names = [n for (s, n) in self.scope.vars if s == ns]
            raise self.fail(node, f"unknown variable '{ns}.{name}'",
                            close_matches(name, names, prefix=f"{ns}.") or f"declare it under [vars.{ns}.{name}]")
        var = Var(ns, name, vtype)
        if len(parts) == 2:
            return var
        if len(parts) == 3 and isinstance(vtype, FlagsType):
            member = parts[2]
            if member not in vtype.values:
                raise self.fail(node, f"'{member}' is not a flag of {ns}.{name}",
                                close_matches(member, vtype.values) or f"its flags are {', '.join(vtype.values)}")
            return FlagTest(var, member)
        raise self.fail(node, f"'{'.'.join(parts)}': {ns}.{name} is {vtype} and has no members")

    def _kfunc_ref(self, node: ast.AST, ns: str, parts: list[str]) -> Expr:
        allowed = self.scope.kfunc_sets if ns == "set" else self.scope.kfunc_flags
        if allowed is None:
            raise self.fail(node, f"'{ns}.…' may only be used in filters",
                            "it names a property of the kfunc a filter checks")
        if len(parts) != 2:
            raise self.fail(node, f"write {ns}.NAME")
        if parts[1] not in allowed:
            what = "kfunc set" if ns == "set" else "kfunc flag"
            raise self.fail(node, f"unknown {what} '{parts[1]}'",
                            close_matches(parts[1], allowed) or
                            (f"declare it as [kfunc_set.{parts[1]}]" if ns == "set"
                             else f"known flags: {', '.join(sorted(allowed))}"))
        return Var(ns, parts[1], BOOL)

    def _Call(self, node: ast.Call) -> Expr:
        fname = node.func.id if isinstance(node.func, ast.Name) else None
        if fname == "implies" and len(node.args) == 2 and not node.keywords:
            lhs, rhs = self.boolean(node.args[0]), self.boolean(node.args[1])
            return disj(neg(lhs), rhs) if isinstance(lhs, Const) or isinstance(rhs, Const) \
                else Implies(lhs, rhs)
        if fname in ("any", "all") and node.args and not node.keywords:
            parts = [self.boolean(a) for a in node.args]
            return disj(*parts) if fname == "any" else conj(*parts)
        raise self.fail(node, f"unknown function in '{ast.unparse(node)}'",
                        "available: implies(a, b), any(a, b, ...), all(a, b, ...)")

    def _IfExp(self, node: ast.IfExp) -> Expr:
        from .expr import ite
        cond = self.boolean(node.test)
        then, other = self.typed(node.body), self.typed(node.orelse)
        t1, t2 = type_of(then), type_of(other)
        if not same_kind(t1, t2) or isinstance(t1, (EnumType, FlagsType)):
            raise self.fail(node, f"both branches must be bool or both int (got {t1} and {t2})")
        return ite(cond, then, other)

    def _BinOp(self, node: ast.BinOp) -> Expr:
        if not isinstance(node.op, (ast.Add, ast.Sub)):
            raise self.fail(node, f"operator in '{ast.unparse(node)}' is not allowed",
                            "only + and - work on ints")
        lhs, rhs = self.typed(node.left), self.typed(node.right)
        for side, e in ((node.left, lhs), (node.right, rhs)):
            if not isinstance(type_of(e), IntType):
                raise self.fail(side, f"'{ast.unparse(side)}' is {type_of(e)}, not int")
        return Arith("+" if isinstance(node.op, ast.Add) else "-", lhs, rhs)

    def _Compare(self, node: ast.Compare) -> Expr:
        parts: list[Expr] = []
        left_node = node.left
        for op, right_node in zip(node.ops, node.comparators):
            parts.append(self.compare(op, left_node, right_node))
            left_node = right_node
        return conj(*parts)

    def compare(self, op: ast.cmpop, left_node: ast.AST, right_node: ast.AST) -> Expr:
        if isinstance(op, (ast.In, ast.NotIn)):
            if not isinstance(right_node, (ast.List, ast.Tuple, ast.Set)):
                raise self.fail(right_node, "'in' needs a literal list: x in [\"a\", \"b\"]")
            left = self.typed(left_node)
            alts = [self.equal(left, left_node, self.expr(elt), elt, "==") for elt in right_node.elts]
            e = disj(*alts)
            return neg(e) if isinstance(op, ast.NotIn) else e
        opname = _CMP.get(type(op))
        if opname is None:
            raise self.fail(left_node, "'is' comparisons are not allowed; use == or !=")
        left = self.expr(left_node)
        if isinstance(right_node, (ast.List, ast.Tuple, ast.Set)):
            return self.flags_equal(left, left_node, right_node, opname)
        right = self.expr(right_node)
        if opname in ("==", "!="):
            return self.equal(left, left_node, right, right_node, opname)
        for side, e in ((left_node, left), (right_node, right)):
            if not isinstance(type_of(e), IntType) or isinstance(e, _StrLit):
                raise self.fail(side, f"'{ast.unparse(side)}' is not an int; {opname} compares ints")
        return Cmp(opname, left, right)

    def typed(self, node: ast.AST) -> Expr:
        e = self.expr(node)
        if isinstance(e, _StrLit):
            raise self.fail(node, f"the string {e.value!r} must be compared with an enum variable")
        return e

    def equal(self, left: Expr, left_node: ast.AST, right: Expr, right_node: ast.AST, op: str) -> Expr:
        if isinstance(left, _StrLit) and not isinstance(right, _StrLit):
            left, right, left_node, right_node = right, left, right_node, left_node
        lt = type_of(left)
        if isinstance(right, _StrLit):
            if not isinstance(lt, EnumType):
                raise self.fail(right_node, f"'{ast.unparse(left_node)}' is {lt}, it cannot equal the string {right.value!r}")
            if right.value not in lt.values:
                raise self.fail(right_node, f"{right.value!r} is not a value of {ast.unparse(left_node)}",
                                close_matches(right.value, lt.values) or f"its values are {', '.join(lt.values)}")
            right = Const(right.value, lt)
        rt = type_of(right)
        if isinstance(lt, FlagsType) or isinstance(rt, FlagsType):
            raise self.fail(left_node, "compare a flags variable with a list: kf_mask == [\"A\", \"B\"]")
        if not same_kind(lt, rt):
            raise self.fail(right_node, f"cannot compare {lt} with {rt}")
        e = Cmp("==", left, right)
        return neg(e) if op == "!=" else e

    def flags_equal(self, left: Expr, left_node: ast.AST, right_node: ast.AST, op: str) -> Expr:
        lt = type_of(left)
        if not isinstance(lt, FlagsType) or not isinstance(left, Var):
            raise self.fail(left_node, f"only a flags variable can be compared with a list; '{ast.unparse(left_node)}' is {lt}")
        if op not in ("==", "!="):
            raise self.fail(left_node, "flags compare with == or != only")
        members = []
        for elt in right_node.elts:  # type: ignore[attr-defined]
            if not (isinstance(elt, ast.Constant) and isinstance(elt.value, str)):
                raise self.fail(elt, "a flags list holds flag names as strings")
            if elt.value not in lt.values:
                raise self.fail(elt, f"{elt.value!r} is not a flag of {left}",
                                close_matches(elt.value, lt.values) or f"its flags are {', '.join(lt.values)}")
            members.append(elt.value)
        wanted = set(members)
        e = conj(*(FlagTest(left, m) if m in wanted else neg(FlagTest(left, m)) for m in lt.values))
        return neg(e) if op == "!=" else e


class _StrLit(Const):
    """A string literal before it meets the enum it is compared with."""

    def __init__(self, value: str, node: ast.AST):
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "type", _STR)


@dataclass(frozen=True)
class _StrType:
    def __str__(self) -> str:
        return "string"


_STR = _StrType()


def _dotted(node: ast.AST) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def _vars(e: Expr):
    from .expr import variables
    return variables(e)


#: the most characters of an expression an error message shows (the part around the caret)
EXCERPT_WIDTH = 100


def excerpt(text: str, err: ExprError, width: int = EXCERPT_WIDTH) -> str:
    """The expression with a caret under the offending part.

    An expression longer than ``width`` is cut to the ``width`` characters around the caret
    (its start when there is no caret); "..." marks each cut.
    """
    text = text.strip()
    if err.col is None:
        return text if len(text) <= width else text[:width] + "..."
    col = min(err.col, len(text))
    mark = max(1, (err.end_col or col + 1) - col)
    start = 0
    if len(text) > width:
        start = max(0, min(col - width // 2, len(text) - width))
    shown = text[start:start + width]
    lead = "..." if start > 0 else ""
    tail = "..." if start + width < len(text) else ""
    mark = max(1, min(mark, len(shown) - (col - start)))
    return f"{lead}{shown}{tail}\n{' ' * (len(lead) + col - start)}{'^' * mark}"
