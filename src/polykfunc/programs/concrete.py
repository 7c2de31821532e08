"""Deciding a call site without z3, when the site's facts fix everything the kfunc reads.

A generic kfunc (a generated layer's) is decided by view facts only: its sets' registration,
the filters, its resolve rules (program type, sleepable, regions, subprogram kind) and its
contract. check-prog states those facts as plain equalities (``view.prog_type == 'X'``,
``view.sleepable``, ``not view.in_rcu``, ...). When every variable the kfunc's load-time
admission, mechanism, contract and selected implementation's preconditions read is fixed
that way, and the premise with the facts is satisfiable (some context admits the site), z3
has exactly one outcome to find and nothing to refute: the concrete evaluation of those
formulas *is* its answer. :func:`concrete_ok` returns it only when it is "ok" (an
implementation is selected, the contract allows the call, the implementation's preconditions
hold); every other case (a rejection, a refusal, misuse, a precondition on run-time state)
goes to z3, which produces and replays the counterexamples.
"""

from __future__ import annotations

from polykfunc.model import semantics as sem
from polykfunc.model.expr import BoolType, Cmp, Const, Expr, Not, Var, evaluate, variables
from polykfunc.model.spec import Kfunc, Model

_READS: dict[tuple[int, str], tuple[Model, frozenset, tuple]] = {}


def fixed_values(facts: list[Expr] | tuple[Expr, ...]) -> dict[tuple[str, str, int], object]:
    """The variables the facts pin to one value: ``v``, ``not v`` (booleans), ``v == const``."""
    out: dict[tuple[str, str, int], object] = {}
    for e in facts:
        if isinstance(e, Var) and isinstance(e.type, BoolType):
            out[e.key] = True
        elif isinstance(e, Not) and isinstance(e.arg, Var) and isinstance(e.arg.type, BoolType):
            out[e.arg.key] = False
        elif isinstance(e, Cmp) and e.op == "==":
            if isinstance(e.lhs, Var) and isinstance(e.rhs, Const):
                out[e.lhs.key] = e.rhs.value
            elif isinstance(e.rhs, Var) and isinstance(e.lhs, Const):
                out[e.rhs.key] = e.lhs.value
    return out


def _formulas(model: Model, k: Kfunc) -> tuple[frozenset, tuple]:
    """(variables read, (outcome, contract, requires per implementation)) of ``k``, cached."""
    hit = _READS.get((id(model), k.name))
    if hit is None or hit[0] is not model:
        forms = (sem.outcome(model, k), sem.contract(model, k), tuple(sem.requires(k, i) for i in range(len(k.impls))))
        reads = variables(forms[0]) | variables(forms[1]) | frozenset().union(*(variables(r) for r in forms[2]))
        if len(_READS) > 4096:
            _READS.clear()
        hit = _READS[(id(model), k.name)] = (model, frozenset(v.key for v in reads), forms)
    return hit[1], hit[2]


def concrete_ok(model: Model, k: Kfunc, facts) -> int | None:
    """The implementation index z3 would find as the only, safe, allowed outcome of a call of
    ``k`` under ``facts`` (compiled site facts whose conjunction with the model's premise is
    satisfiable: the caller has found a context admitting them); None when that is not decided
    by the facts alone or the call is not plainly ok (then z3 decides)."""
    if k.is_polymorphic:
        return None
    reads, (out, allow, requires) = _formulas(model, k)
    env = fixed_values(facts)
    if not reads <= env.keys():
        return None
    code = evaluate(out, env)
    if not isinstance(code, int) or isinstance(code, bool) or code < 0:
        return None
    if evaluate(allow, env) is not True or evaluate(requires[code], env) is not True:
        return None
    return code
