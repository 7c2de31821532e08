"""Mutation testing of the checker: break a model on purpose and see whether ``prove`` notices.

:func:`mutants` makes single-fault variants of a model, each the kind of mistake a kernel or a
model makes:

==================  =====================================================================
``drop-check``      a mechanism forgets a check: one refusing rule (``error``/``reject``) goes
``drop-requires``   an implementation's precondition is forgotten: one ``requires`` goes
``flip-allow``      an allow bit flips: one filter rule's verdict, or a filter's default
``swap-rules``      two neighbouring resolver/selector rules change order
``mislabel-lock``   a context is mislabelled: one of its facts about a held lock is negated
``untrack``         the tracked state may disagree with the true state: a fact or axiom
                    tying a ``tracked.*`` variable to a ``state.*`` one goes
``widen-context``   a context admits more: one of its view facts or facts goes
==================  =====================================================================

:func:`score` decides each mutant with :mod:`polykfunc.crosscheck.brute_force` (no z3): a mutant is
*unsafe* when some implementation's preconditions fail in some context where they held in the
original model (a new failing (safety obligation, context) pair); otherwise it is
*equivalent* (for safety). Every unsafe mutant is then proved with z3, which must report a
counterexample in each of those contexts: the mutant is *caught*. The mutation score is
caught / unsafe; the target is 100 %.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator

from polykfunc.model.expr import variables
from polykfunc.model.spec import ERROR, REJECT, Context, Kfunc, Model
from polykfunc.properties import Obligation, obligations

from polykfunc.crosscheck.brute_force import COUNTEREXAMPLE, decide_obligation
from polykfunc.engine.results import Status

OPERATORS = ("drop-check", "drop-requires", "flip-allow", "swap-rules", "mislabel-lock", "untrack",
             "widen-context")

#: state variables that say which lock is held
LOCK_VARS = frozenset({"locked_rq", "op_rq", "pi_lock", "inode_locked", "op_task2_rq_held"})


@dataclass(frozen=True)
class Mutant:
    """A model with one injected fault, and where the fault can matter."""

    operator: str
    description: str
    model: Model = field(repr=False)
    kfuncs: tuple[str, ...] | None = None     # the kfuncs it can affect (None: all)
    contexts: tuple[str, ...] | None = None   # the contexts it can affect (None: all)
    new_states: object = field(default=None, repr=False)  # a formula every newly admitted state meets


def _with_kfunc(model: Model, k: Kfunc) -> Model:
    return replace(model, kfuncs=tuple(k if x.name == k.name else x for x in model.kfuncs))


def _with_context(model: Model, c: Context) -> Model:
    return replace(model, contexts=tuple(c if x.name == c.name else x for x in model.contexts))


def mutants(model: Model, operators: Iterable[str] | None = None) -> Iterator[Mutant]:
    """Every single-fault mutant of ``model`` (for ``operators``, default all), in a stable order."""
    ops = tuple(operators) if operators else OPERATORS
    for op in ops:
        yield from _GENERATORS[op](model)


def _drop_check(model: Model) -> Iterator[Mutant]:
    for k in model.kfuncs:
        for key in ("select", "resolve"):
            rules = getattr(k, key)
            for i, r in enumerate(rules or ()):
                if r.select in (ERROR, REJECT):
                    m = _with_kfunc(model, replace(k, **{key: rules[:i] + rules[i + 1:]}))
                    yield Mutant("drop-check", f"{k.name}: {key} rule {i} ({r.when.text} -> {r.select}) removed",
                                 m, (k.name,))


def _drop_requires(model: Model) -> Iterator[Mutant]:
    for k in model.kfuncs:
        for j, impl in enumerate(k.impls):
            for i, f in enumerate(impl.requires):
                new = replace(impl, requires=impl.requires[:i] + impl.requires[i + 1:])
                impls = k.impls[:j] + (new,) + k.impls[j + 1:]
                yield Mutant("drop-requires", f"{k.name}/{impl.name}: precondition '{f.text}' removed",
                             _with_kfunc(model, replace(k, impls=impls)), (k.name,))


def _flip_allow(model: Model) -> Iterator[Mutant]:
    flip = {"allow": "deny", "deny": "allow"}
    for fi, flt in enumerate(model.filters):
        for i, rule in enumerate(flt.rules):
            rules = flt.rules[:i] + (replace(rule, verdict=flip[rule.verdict]),) + flt.rules[i + 1:]
            filters = model.filters[:fi] + (replace(flt, rules=rules),) + model.filters[fi + 1:]
            yield Mutant("flip-allow", f"filter {flt.name}: rule {i} ({rule.when.text}) {rule.verdict} -> "
                         f"{flip[rule.verdict]}", replace(model, filters=filters),
                         _filtered_kfuncs(model, flt, rule.when.expr))
        filters = model.filters[:fi] + (replace(flt, default=flip[flt.default]),) + model.filters[fi + 1:]
        yield Mutant("flip-allow", f"filter {flt.name}: default {flt.default} -> {flip[flt.default]}",
                     replace(model, filters=filters), _filtered_kfuncs(model, flt))


def _filtered_kfuncs(model: Model, flt, when=None) -> tuple[str, ...]:
    """The kfuncs a filter (rule) can decide: the filter applies to them and, for a rule, its
    condition is not false for them (``set.*``/``flag.*`` known)."""
    from polykfunc.model import semantics as sem
    from polykfunc.model.expr import FALSE, substitute
    out = []
    for k in model.kfuncs:
        refs = sem._kfunc_refs(model, k)
        if substitute(flt.applies, refs) == FALSE:
            continue
        if when is not None and substitute(when, refs) == FALSE:
            continue
        out.append(k.name)
    return tuple(out)


def _swap_rules(model: Model) -> Iterator[Mutant]:
    for k in model.kfuncs:
        for key in ("select", "resolve"):
            rules = getattr(k, key) or ()
            for i in range(len(rules) - 1):
                if rules[i].select == rules[i + 1].select:
                    continue
                swapped = rules[:i] + (rules[i + 1], rules[i]) + rules[i + 2:]
                yield Mutant("swap-rules", f"{k.name}: {key} rules {i} and {i + 1} swapped",
                             _with_kfunc(model, replace(k, **{key: swapped})), (k.name,))


def _context_facts(c: Context):
    """(where, index, fact) of every fact of a context: 'view', 'facts' or a case's index."""
    for i, f in enumerate(c.view):
        yield "view", i, f
    for i, f in enumerate(c.facts):
        yield "facts", i, f
    for ci, case in enumerate(c.cases):
        for i, f in enumerate(case.facts):
            yield ci, i, f


def _replace_fact(c: Context, where, i: int, new) -> Context:
    def edit(facts):
        return facts[:i] + ((new,) if new is not None else ()) + facts[i + 1:]
    if where == "view":
        return replace(c, view=edit(c.view))
    if where == "facts":
        return replace(c, facts=edit(c.facts))
    case = c.cases[where]
    return replace(c, cases=c.cases[:where] + (replace(case, facts=edit(case.facts)),) + c.cases[where + 1:])


def _mislabel_lock(model: Model) -> Iterator[Mutant]:
    from polykfunc.model.expr import neg
    for c in model.contexts:
        for where, i, f in _context_facts(c):
            if where == "view" or not any(v.ns == "state" and v.name in LOCK_VARS for v in variables(f.expr)):
                continue
            new = replace(f, expr=neg(f.expr), text=f"not ({f.text})")
            yield Mutant("mislabel-lock", f"context {c.name}: lock fact '{f.text}' negated",
                         _with_context(model, _replace_fact(c, where, i, new)), None, (c.name,))


def neg(e):
    from polykfunc.model.expr import neg as _neg
    return _neg(e)


def _ties_tracked(expr) -> bool:
    ns = {v.ns for v in variables(expr)}
    return "tracked" in ns and "state" in ns


def _untrack(model: Model) -> Iterator[Mutant]:
    for c in model.contexts:
        for where, i, f in _context_facts(c):
            if _ties_tracked(f.expr):
                yield Mutant("untrack", f"context {c.name}: '{f.text}' removed (tracked may disagree)",
                             _with_context(model, _replace_fact(c, where, i, None)), None, (c.name,),
                             neg(f.expr))
    for i, a in enumerate(model.axioms):
        if _ties_tracked(a.fact.expr):
            yield Mutant("untrack", f"axiom {a.name} removed (tracked may disagree)",
                         replace(model, axioms=model.axioms[:i] + model.axioms[i + 1:]), None, None,
                         neg(a.fact.expr))


def _widen_context(model: Model) -> Iterator[Mutant]:
    for c in model.contexts:
        for where, i, f in _context_facts(c):
            if _ties_tracked(f.expr):
                continue  # that is `untrack`
            yield Mutant("widen-context", f"context {c.name}: {('view ' if where == 'view' else '')}fact "
                         f"'{f.text}' removed", _with_context(model, _replace_fact(c, where, i, None)),
                         None, (c.name,), neg(f.expr))


_GENERATORS = {
    "drop-check": _drop_check, "drop-requires": _drop_requires, "flip-allow": _flip_allow,
    "swap-rules": _swap_rules, "mislabel-lock": _mislabel_lock, "untrack": _untrack,
    "widen-context": _widen_context,
}


# ---------------------------------------------------------------------- scoring

@dataclass(frozen=True)
class MutantResult:
    """What happened to one mutant."""

    mutant: Mutant
    unsafe: tuple[tuple[str, str], ...]     # new failing (safety obligation, context) pairs
    caught: bool                            # z3 reports every one of them (True when none)
    missed: tuple[tuple[str, str], ...] = ()  # pairs z3 did not report (never, for a sound checker)
    reason: str = ""

    @property
    def equivalent(self) -> bool:
        return not self.unsafe


@dataclass(frozen=True)
class Score:
    """Mutation figures for one model."""

    model: str
    results: tuple[MutantResult, ...]
    seconds: float

    @property
    def made(self) -> int:
        return len(self.results)

    @property
    def equivalent(self) -> int:
        return sum(r.equivalent for r in self.results)

    @property
    def unsafe(self) -> int:
        return self.made - self.equivalent

    @property
    def caught(self) -> int:
        return sum(1 for r in self.results if r.unsafe and r.caught)

    @property
    def missed(self) -> list[MutantResult]:
        return [r for r in self.results if r.unsafe and not r.caught]

    def by_operator(self) -> dict[str, tuple[int, int, int]]:
        """operator -> (made, equivalent, caught)."""
        out: dict[str, list[int]] = {}
        for r in self.results:
            row = out.setdefault(r.mutant.operator, [0, 0, 0])
            row[0] += 1
            row[1] += r.equivalent
            row[2] += bool(r.unsafe and r.caught)
        return {k: tuple(v) for k, v in out.items()}  # type: ignore[misc]


class _Baseline:
    """The original model's failing (safety obligation, context) pairs, computed on demand."""

    def __init__(self, model: Model):
        self.model = model
        self.obs = {ob.id: ob for ob in obligations(model, ["safety"])}
        self.cache: dict[tuple[str, str], bool] = {}

    def fails(self, ob_id: str, ctx: str) -> bool:
        key = (ob_id, ctx)
        if key not in self.cache:
            ob = self.obs.get(ob_id)
            self.cache[key] = ob is not None and decide_obligation(self.model, ob, [ctx]).status == COUNTEREXAMPLE
        return self.cache[key]


def _safety(mutant: Mutant) -> list[Obligation]:
    wanted = None if mutant.kfuncs is None else set(mutant.kfuncs)
    return [ob for ob in obligations(mutant.model, ["safety"]) if wanted is None or ob.kfunc in wanted]


def _new_failures_of_mechanism(baseline: _Baseline, mutant: Mutant) -> list[tuple[str, str]]:
    """New failing pairs of a mutant whose contexts and axioms are the original's.

    A pair (safety/k/i, c) that fails in the mutant but not in the original needs a state of c
    where the mutant selects i against i's preconditions and the original does *not* select i
    (else the original fails there too): adding ``original outcome != i`` only prunes, and the
    original model's propagated context searches are reused.
    """
    from polykfunc.model import semantics as sem
    from polykfunc.model.expr import eq, int_const, neg

    from polykfunc.crosscheck.brute_force import case_searches
    orig = baseline.model
    new = []
    for name in mutant.kfuncs if mutant.kfuncs is not None else [k.name for k in mutant.model.kfuncs]:
        k_old, k_new = orig.kfunc(name), mutant.model.kfunc(name)
        out_old, out_new = sem.outcome(orig, k_old), sem.outcome(mutant.model, k_new)
        for ctx in mutant.contexts or orig.context_names:
            if k_old.select == k_new.select and not _load_differs(baseline, mutant.model, k_old, k_new, ctx):
                continue  # the load-time decision is the same at every view of ctx
            for i, impl in enumerate(k_new.impls):
                cond = [eq(out_new, int_const(i)), neg(sem.requires(k_new, i)), neg(eq(out_old, int_const(i)))]
                ob_id = f"safety/{name}/{impl.name}"
                if any(s.refine(cond).solve() is not None for s in case_searches(orig, ctx)) \
                        and not baseline.fails(ob_id, ctx):
                    new.append((ob_id, ctx))
    return new


def _load_differs(baseline: _Baseline, model: Model, k_old, k_new, ctx: str) -> bool:
    """Whether, in some state ``ctx`` admits, the load-time part of the mechanism (admission
    and resolver) decides differently in the mutant. Structurally equal parts never do."""
    from polykfunc.model import semantics as sem
    from polykfunc.model.expr import Cmp, conj, disj, neg

    from polykfunc.crosscheck.brute_force import case_searches
    if k_old.in_force != k_new.in_force or (k_old.resolve is None) != (k_new.resolve is None):
        return True
    diffs = []
    a, b = sem.load_admitted(baseline.model, k_old), sem.load_admitted(model, k_new)
    if a != b:
        diffs.append(disj(conj(a, neg(b)), conj(b, neg(a))))
    if k_old.resolve is not None:
        ra, rb = sem.resolver_outcome(k_old), sem.resolver_outcome(k_new)
        if ra != rb:
            diffs.append(Cmp("!=", ra, rb))
    if not diffs:
        return False
    return any(s.refine([disj(*diffs)]).solve() is not None for s in case_searches(baseline.model, ctx))


def score_mutant(baseline: _Baseline, mutant: Mutant, rlimit: int | None = None) -> MutantResult:
    """Decide one mutant by enumeration; prove it with z3 when it is unsafe."""
    obs = _safety(mutant)
    if mutant.operator in ("drop-check", "drop-requires", "flip-allow", "swap-rules"):
        new = _new_failures_of_mechanism(baseline, mutant)
    elif mutant.new_states is not None:
        # only a newly admitted state can fail where the original did not
        from polykfunc.model.expr import neg as _neg

        from polykfunc.crosscheck.brute_force import case_searches
        new = []
        for ctx in mutant.contexts or mutant.model.context_names:
            bases = case_searches(mutant.model, ctx)
            for ob in obs:
                cond = [ob.condition, _neg(ob.goal), mutant.new_states]
                if any(s.refine(cond).solve() is not None for s in bases) and not baseline.fails(ob.id, ctx):
                    new.append((ob.id, ctx))
    else:
        new = []
        for ob in obs:
            v = decide_obligation(mutant.model, ob, mutant.contexts or mutant.model.context_names)
            new.extend((ob.id, ctx) for ctx in v.contexts if not baseline.fails(ob.id, ctx))
    if not new:
        return MutantResult(mutant, (), True)
    from polykfunc.engine.prover import prove_obligation
    from polykfunc.engine.solver import DEFAULT_RLIMIT, Z3Session
    session = Z3Session(rlimit or DEFAULT_RLIMIT)
    by_id = {ob.id: ob for ob in obs}
    missed = []
    for ob_id in sorted({o for o, _ in new}):
        r = prove_obligation(session, mutant.model, by_id[ob_id])
        got = {c.context for c in r.counterexamples} if r.status != Status.UNKNOWN else set()
        missed.extend((ob_id, c) for o, c in new if o == ob_id and c not in got)
    reason = "" if not missed else "z3 did not report: " + ", ".join(f"{o} in {c}" for o, c in missed)
    return MutantResult(mutant, tuple(new), not missed, tuple(missed), reason)


def score(model: Model, operators: Iterable[str] | None = None, *, per_operator: int | None = None,
          seed: int = 0, rlimit: int | None = None) -> Score:
    """The mutation score of the checker on ``model``: every mutant (or, with ``per_operator``, a
    seeded sample of at most that many per operator), each decided by enumeration and, when
    unsafe, proved with z3."""
    import random
    t0 = time.perf_counter()
    chosen: list[Mutant] = []
    for op in (tuple(operators) if operators else OPERATORS):
        ms = list(mutants(model, [op]))
        if per_operator is not None and per_operator < len(ms):
            keep = set(random.Random(f"{seed}/{op}").sample(range(len(ms)), per_operator))
            ms = [m for i, m in enumerate(ms) if i in keep]
        chosen.extend(ms)
    base = _Baseline(model)
    return Score(model.name, tuple(score_mutant(base, m, rlimit) for m in chosen), time.perf_counter() - t0)
