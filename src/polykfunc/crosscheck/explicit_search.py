"""Explicit-state satisfiability over model formulas, without any SMT solver.

This is the engine behind :mod:`polykfunc.crosscheck.brute_force`: it decides whether a formula over
bounded model variables has a satisfying assignment by enumerating assignments, and it is
written so that its answers never depend on z3 (the point is a second, independent decision
procedure to check z3 against).

How the enumeration stays small:

- Only the variables the formula reads are enumerated; every other variable is irrelevant.
- Top-level conjuncts over one variable filter that variable's domain before the search
  (``view.member == 'enqueue'`` leaves one value), and conjuncts that share no variable are
  solved as independent components.
- The search assigns one variable at a time and re-checks only the conjuncts that read it,
  with a three-valued (Kleene) evaluation of the partial assignment: a conjunct that is
  already false under every completion prunes the branch. Pruning is only ever done on a
  definite ``False``, so no satisfying assignment is lost.
- Every assignment returned is confirmed with :func:`polykfunc.model.expr.evaluate` on the
  whole formula; a mismatch raises :class:`ExplicitError` (a bug here, never a verdict).

Domains are the declared ones: ints over their ``range``, enums over their values, flags
over every subset of their members, bools over ``False, True``.
"""

from __future__ import annotations

from itertools import combinations
from typing import Callable, Iterable, Mapping

from polykfunc.errors import InternalError
from polykfunc.model.expr import (
    And, Arith, BoolType, Cmp, Const, EnumType, Expr, FlagsType, FlagTest, Implies, IntType, Ite,
    Not, Or, Value, Var, evaluate, variables,
)

Key = tuple[str, str, int]
Env = dict[Key, Value]


class ExplicitError(InternalError):
    """The explicit search contradicted itself (a bug in polykfunc, never a verdict)."""


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


#: The value of an expression whose variables are not all assigned yet.
UNKNOWN = _Unknown()


def domain(var: Var) -> tuple[Value, ...]:
    """Every value ``var`` can take, in a fixed order."""
    t = var.type
    if isinstance(t, BoolType):
        return (False, True)
    if isinstance(t, IntType):
        if t.lo is None or t.hi is None:
            raise ExplicitError(f"{var} has no range: the explicit search needs bounded ints")
        return tuple(range(t.lo, t.hi + 1))
    if isinstance(t, EnumType):
        return t.values
    if isinstance(t, FlagsType):
        members = t.values
        return tuple(frozenset(c) for n in range(len(members) + 1) for c in combinations(members, n))
    raise ExplicitError(f"{var} has a type the explicit search does not know: {t}")


def peval(e: Expr, env: Mapping[Key, Value], domains: Mapping[Key, list] | None = None):
    """Evaluate ``e`` on a partial assignment: a value, or :data:`UNKNOWN` when it depends on
    an unassigned variable. Boolean connectives are Kleene's: ``False and ?`` is ``False``.

    With ``domains`` (the values each unassigned variable may still take), a comparison is
    also decided when every possible value of its sides gives the same answer.

    Each expression node is compiled once into a Python closure (cached on the node), since
    the search evaluates the same conjuncts hundreds of thousands of times.
    """
    return _compiled(e)(env, domains)


def _compiled(e: Expr):
    f = _PEVAL.get(e)
    if f is None:
        if len(_PEVAL) > 200_000:
            _PEVAL.clear()
            _VALUES.clear()
        f = _PEVAL[e] = _compile(e)
    return f


_PEVAL: dict = {}
_VALUES: dict = {}


def _compile(e: Expr):  # noqa: C901 - one case per node kind, as in expr.evaluate
    if isinstance(e, Const):
        value = e.value
        return lambda env, d: value
    if isinstance(e, Var):
        key = e.key
        return lambda env, d: env.get(key, UNKNOWN)
    if isinstance(e, FlagTest):
        key, member = e.var.key, e.member

        def flag(env, d):
            v = env.get(key, UNKNOWN)
            return UNKNOWN if v is UNKNOWN else member in v
        return flag
    if isinstance(e, Not):
        arg = _compiled(e.arg)

        def not_(env, d):
            v = arg(env, d)
            return UNKNOWN if v is UNKNOWN else not v
        return not_
    if isinstance(e, (And, Or)):
        args = tuple(_compiled(a) for a in e.args)
        stop = isinstance(e, Or)   # the value that decides: False for and, True for or

        def junction(env, d):
            unknown = False
            for a in args:
                v = a(env, d)
                if v is UNKNOWN:
                    unknown = True
                elif bool(v) is stop:
                    return stop
            return UNKNOWN if unknown else not stop
        return junction
    if isinstance(e, Implies):
        lhs_f, rhs_f = _compiled(e.lhs), _compiled(e.rhs)

        def implies(env, d):
            lhs = lhs_f(env, d)
            if lhs is not UNKNOWN and not lhs:
                return True
            rhs = rhs_f(env, d)
            if rhs is not UNKNOWN and rhs:
                return True
            return UNKNOWN if lhs is UNKNOWN or rhs is UNKNOWN else False
        return implies
    if isinstance(e, Cmp):
        lhs_f, rhs_f, op = _compiled(e.lhs), _compiled(e.rhs), _CMP[e.op]
        lhs_v, rhs_v = _values_of(e.lhs), _values_of(e.rhs)

        def cmp(env, d):
            a, b = lhs_f(env, d), rhs_f(env, d)
            if a is not UNKNOWN and b is not UNKNOWN:
                return op(a, b)
            if d is None:
                return UNKNOWN
            # the possible values of each side decide some comparisons early
            # (`outcome == 1` where every rule still open picks another implementation)
            xs = {a} if a is not UNKNOWN else lhs_v(env, d)
            ys = {b} if b is not UNKNOWN else rhs_v(env, d)
            if xs is None or ys is None or len(xs) * len(ys) > 256:
                return UNKNOWN
            seen = {op(x, y) for x in xs for y in ys}
            return seen.pop() if len(seen) == 1 else UNKNOWN
        return cmp
    if isinstance(e, Arith):
        lhs_f, rhs_f, plus = _compiled(e.lhs), _compiled(e.rhs), e.op == "+"

        def arith(env, d):
            a, b = lhs_f(env, d), rhs_f(env, d)
            if a is UNKNOWN or b is UNKNOWN:
                return UNKNOWN
            return a + b if plus else a - b
        return arith
    if isinstance(e, Ite):
        cond_f, then_f, other_f = _compiled(e.cond), _compiled(e.then), _compiled(e.other)

        def ite(env, d):
            c = cond_f(env, d)
            if c is UNKNOWN:
                t, o = then_f(env, d), other_f(env, d)
                return t if (t is not UNKNOWN and o is not UNKNOWN and t == o) else UNKNOWN
            return then_f(env, d) if c else other_f(env, d)
        return ite
    raise ExplicitError(f"unknown expression node {e!r}")  # pragma: no cover


def _values_of(e: Expr):
    """Compiled: the set of values an int or enum expression can still take (None: untracked)."""
    f = _VALUES.get(e)
    if f is None:
        f = _VALUES[e] = _compile_values(e)
    return f


def _compile_values(e: Expr):
    if isinstance(e, Const):
        one = {e.value}
        return lambda env, d: one
    if isinstance(e, Var):
        key = e.key

        def var(env, d):
            if key in env:
                return {env[key]}
            dom = d.get(key)
            return set(dom) if dom is not None else None
        return var
    if isinstance(e, Ite):
        cond_f, then_v, other_v = _compiled(e.cond), _values_of(e.then), _values_of(e.other)

        def ite(env, d):
            c = cond_f(env, d)
            if c is not UNKNOWN:
                return then_v(env, d) if c else other_v(env, d)
            a, b = then_v(env, d), other_v(env, d)
            return None if a is None or b is None else a | b
        return ite
    if isinstance(e, Arith):
        lhs_v, rhs_v, plus = _values_of(e.lhs), _values_of(e.rhs), e.op == "+"

        def arith(env, d):
            a, b = lhs_v(env, d), rhs_v(env, d)
            if a is None or b is None or len(a) * len(b) > 256:
                return None
            return {x + y if plus else x - y for x in a for y in b}
        return arith
    return lambda env, d: None


_CMP = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def conjuncts(formula: Expr) -> list[Expr]:
    """The top-level conjuncts of ``formula`` (nested ``and`` flattened)."""
    out: list[Expr] = []
    stack = [formula]
    while stack:
        e = stack.pop()
        if isinstance(e, And):
            stack.extend(reversed(e.args))
        else:
            out.append(e)
    return out


class Search:
    """One satisfiability question: a conjunction of formulas over bounded variables.

    >>> from polykfunc.model.expr import Var, Cmp, Const, IntType, INT
    >>> x = Var("state", "locked_rq", IntType(-1, 3))
    >>> Search([Cmp(">", x, Const(2, INT))]).solve()
    {('state', 'locked_rq', 0): 3}
    """

    def __init__(self, formulas: Iterable[Expr], fixed: Mapping[Key, Value] | None = None):
        self.fixed: Env = dict(fixed or {})
        self.visited = 0
        self.original: list[Expr] = []
        for f in formulas:
            self.original.extend(conjuncts(f))
        self.vars: dict[Key, Var] = {}
        for c in self.original:
            for var in variables(c):
                self.vars.setdefault(var.key, var)
        self.domains: dict[Key, list[Value]] = {
            k: list(domain(v)) for k, v in sorted(self.vars.items()) if k not in self.fixed}
        self.unsat = False
        self.conjuncts: list[Expr] = self._propagate(self.original)
        self.reads: dict[Key, list[int]] = {k: [] for k in self.domains}
        for i, c in enumerate(self.conjuncts):
            for v in variables(c):
                if v.key in self.reads:
                    self.reads[v.key].append(i)

    def refine(self, formulas: Iterable[Expr]) -> "Search":
        """This question with more conjuncts: reuses the propagation already done, so a
        context's facts are propagated once and shared by every obligation asked in it."""
        out = Search.__new__(Search)
        out.fixed = dict(self.fixed)
        out.visited = 0
        extra: list[Expr] = []
        for f in formulas:
            extra.extend(conjuncts(f))
        out.original = self.original + extra
        out.vars = dict(self.vars)
        for c in extra:
            for var in variables(c):
                out.vars.setdefault(var.key, var)
        out.domains = {k: list(d) for k, d in self.domains.items()}
        for k, var in sorted(out.vars.items()):
            if k not in out.domains and k not in out.fixed:
                out.domains[k] = list(domain(var))
        out.unsat = self.unsat
        out.conjuncts = [] if out.unsat else out._propagate(self.conjuncts + extra)
        out.reads = {k: [] for k in out.domains}
        for i, c in enumerate(out.conjuncts):
            for v in variables(c):
                if v.key in out.reads:
                    out.reads[v.key].append(i)
        return out

    def _propagate(self, cons: list[Expr]) -> list[Expr]:
        """Unary propagation to a fixpoint: a conjunct left with one free variable filters its
        domain, a variable left with one value becomes fixed, a decided conjunct goes away."""
        pending = list(cons)
        changed = True
        while changed:
            changed = False
            for k in [k for k, d in self.domains.items() if len(d) == 1]:
                self.fixed[k] = self.domains.pop(k)[0]
                changed = True
            keep: list[Expr] = []
            for c in pending:
                v = peval(c, self.fixed, self.domains)
                if v is True:
                    continue
                if v is False:
                    self.unsat = True
                    return []
                free = {var.key for var in variables(c) if var.key in self.domains}
                if len(free) == 1:
                    (k,) = free
                    before = len(self.domains[k])
                    self.domains[k] = [x for x in self.domains[k] if peval(c, {**self.fixed, k: x})]
                    if not self.domains[k]:
                        self.unsat = True
                        return []
                    changed = changed or len(self.domains[k]) != before
                    continue
                keep.append(c)
            pending = keep
        return pending

    # ------------------------------------------------------------------ components
    def components(self) -> list[list[Key]]:
        """The free variables, grouped into sets no conjunct connects."""
        parent = {k: k for k in self.domains}

        def find(k):
            while parent[k] != k:
                parent[k] = parent[parent[k]]
                k = parent[k]
            return k

        for c in self.conjuncts:
            ks = [v.key for v in variables(c) if v.key in parent]
            for k in ks[1:]:
                parent[find(k)] = find(ks[0])
        groups: dict[Key, list[Key]] = {}
        for k in self.domains:
            groups.setdefault(find(k), []).append(k)
        return list(groups.values())

    def _order(self, keys: Iterable[Key], first: Iterable[Key] = ()) -> list[Key]:
        """``first``, then the variables of the smallest conjuncts first, so that conjuncts
        become decidable (and prune) as early as possible."""
        wanted = set(keys)
        order = [k for k in first if k in self.domains and k in wanted]
        placed = set(order)

        def size(i: int) -> tuple:
            free = {v.key for v in variables(self.conjuncts[i])} & wanted
            prod = 1
            for k in free:
                prod *= len(self.domains[k])
            return (len(free), prod, i)

        for i in sorted(range(len(self.conjuncts)), key=size):
            new = sorted(({v.key for v in variables(self.conjuncts[i])} & wanted) - placed,
                         key=lambda k: (len(self.domains[k]), -len(self.reads[k]), k))
            order.extend(new)
            placed.update(new)
        order.extend(sorted(wanted - placed))
        return order

    # ------------------------------------------------------------------ search
    def _run(self, order: list[Key], nkeys: int, env: Env, on_solution: Callable[[Env], None]) -> bool:
        """Depth-first over ``order``; below the first ``nkeys`` variables, stop at the first
        completion (projection onto the key variables)."""
        domains, reads = self.domains, self.reads
        checks = [_compiled(c) for c in self.conjuncts]
        n = len(order)

        def rec(i: int) -> bool:
            if i == n:
                on_solution(env)
                return True
            k = order[i]
            found = False
            for value in domains[k]:
                self.visited += 1
                env[k] = value
                if all(checks[j](env, domains) is not False for j in reads[k]):
                    if rec(i + 1):
                        found = True
                        if i >= nkeys:
                            del env[k]
                            return True
                del env[k]
            return found

        return rec(0)

    def solve(self, first: Iterable[Key] = ()) -> Env | None:
        """A satisfying assignment of the free variables (with ``fixed``), or None."""
        if self.unsat:
            return None
        out: Env = dict(self.fixed)
        first = list(first)
        for comp in self.components():
            got: list[Env] = []
            env = dict(self.fixed)
            if not self._run(self._order(comp, first), 0, env, lambda e: got.append(dict(e))):
                return None
            out.update(got[0])
        self._confirm(out)
        return out

    def project(self, keys: Iterable[Key], first: Iterable[Key] = ()) -> set[tuple]:
        """Every assignment of ``keys`` that extends to a satisfying assignment, as tuples in
        the order of ``keys``. A key the formulas do not read is None in every tuple (any
        value); a key fixed by propagation has its one value."""
        keys = list(keys)
        if self.unsat:
            return set()
        free_keys = [k for k in keys if k in self.domains]
        found: set[tuple] = set()
        comps = self.components()
        key_comps = [c for c in comps if any(k in free_keys for k in c)]
        other = [c for c in comps if c not in key_comps]
        for comp in other:  # components without keys: one satisfiability check each
            env = dict(self.fixed)
            if not self._run(self._order(comp), 0, env, lambda e: None):
                return set()
        merged = [k for c in key_comps for k in c]
        first = [k for k in first if k in merged]
        order = first + [k for k in self._order(free_keys) if k not in first] + \
            [k for k in self._order(merged) if k not in free_keys and k not in first]
        nkeys = len([k for k in order if k in free_keys or k in first])
        # keys must come first for the projection; `first` keys that are not projected are
        # enumerated too (they only steer the order)

        def record(env: Env) -> None:
            found.add(tuple(env.get(k, self.fixed.get(k)) for k in keys))

        self._run(order, nkeys, dict(self.fixed), record)
        return found

    def _confirm(self, env: Env) -> None:
        for c in self.original:
            if not evaluate(c, env):
                raise ExplicitError(f"the explicit search returned an assignment that falsifies {c}")


def solve(formulas: Iterable[Expr], fixed: Mapping[Key, Value] | None = None) -> Env | None:
    """A satisfying assignment of the conjunction of ``formulas`` (over the variables they
    read, plus ``fixed``), or None when there is none."""
    return Search(formulas, fixed).solve()


def complete(env: Mapping[Key, Value], all_vars: Iterable[Var]) -> Env:
    """``env`` with every variable of ``all_vars`` it lacks set to the first value of its domain."""
    out = dict(env)
    for v in all_vars:
        if v.key not in out:
            out[v.key] = domain(v)[0]
    return out
