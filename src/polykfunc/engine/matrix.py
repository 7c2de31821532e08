"""The verdict matrix: for each kfunc and context, what a call can get and whether that is proved.

A cell lists every outcome some runtime state of the context can reach (found by enumeration
with z3, each one read off a concrete state by evaluating the outcome formula), and its proof
status from the safety and coverage obligations: ``proved``, ``known`` (a declared known bug),
``counterexample`` or ``unknown``.

Kfuncs whose outcome formulas are the same (same contract, filters and rules) share one
enumeration, and one state per context seeds every enumeration, so z3 is asked only for the
outcomes that state does not show and then for the proof that there are no more.
"""

from __future__ import annotations

from dataclasses import dataclass

from polykfunc.errors import InternalError
from polykfunc.model import semantics as sem
from polykfunc.model.expr import Const, conj, eq, evaluate, int_const, neg, variables
from polykfunc.model.spec import Model
from polykfunc.properties.generate import runtime_premise

from polykfunc.engine.prover import prove_model
from polykfunc.engine.results import ModelReport, Status
from polykfunc.engine.solver import DEFAULT_RLIMIT, Z3Session


@dataclass(frozen=True)
class Cell:
    kfunc: str
    context: str
    outcomes: tuple[str, ...]     # implementation names, "rejected at load", "refused at run time"
    status: str                   # proved / known / counterexample / unknown
    findings: tuple[str, ...]     # obligation ids with a counterexample in this cell

    @property
    def allowed(self) -> bool | None:
        """Some call from the context gets an implementation (None: unknown, the solver gave up)."""
        if any(o not in ("rejected at load", "refused at run time") for o in self.outcomes):
            return True
        return None if self.status == "unknown" else False


@dataclass(frozen=True)
class Matrix:
    model: str
    kernel: str
    kfuncs: tuple[str, ...]
    contexts: tuple[str, ...]
    cells: tuple[Cell, ...]
    complete: bool
    report: ModelReport

    @property
    def exit_code(self) -> int:
        from polykfunc.engine.results import exit_code
        code = exit_code([self.report])
        return code if self.complete or code else 3

    def cell(self, kfunc: str, context: str) -> Cell:
        for c in self.cells:
            if c.kfunc == kfunc and c.context == context:
                return c
        raise KeyError((kfunc, context))

    def to_json(self) -> dict:
        return {
            "model": self.model, "kernel": self.kernel, "complete": self.complete,
            "kfuncs": list(self.kfuncs), "contexts": list(self.contexts),
            "cells": [{"kfunc": c.kfunc, "context": c.context, "allowed": c.allowed,
                       "outcomes": list(c.outcomes), "status": c.status, "findings": list(c.findings)}
                      for c in self.cells],
        }


@dataclass(frozen=True)
class Reached:
    """What the enumeration found, before any proof status: for each kfunc, the outcome codes
    some runtime state of each context reaches, and whether its enumeration finished (False:
    the solver gave up, so more outcomes may exist)."""

    model: str
    kfuncs: tuple[str, ...]
    codes: dict[str, dict[str, frozenset[int]]]   # kfunc -> context -> outcome codes
    finished: dict[str, bool]                     # kfunc -> its enumeration finished

    @property
    def complete(self) -> bool:
        return all(self.finished.values())


def reachable_outcomes(model: Model, kfuncs=None, rlimit: int = DEFAULT_RLIMIT,
                       session: Z3Session | None = None) -> Reached:
    """Every (context, outcome) each kfunc of ``model`` (optionally only ``kfuncs``) can reach.

    ``session``, when given, is one whose base already holds ``model``'s runtime premise (see
    :func:`premise_session`); nothing is added to its base.
    """
    session = session if session is not None else premise_session(model, rlimit)
    names = [k.name for k in model.kfuncs if kfuncs is None or k.name in kfuncs]
    # kfuncs with the same outcome formula (same contract, filters and rules) reach the same
    # outcome codes in the same contexts: enumerate each formula once, starting from what one
    # state per context already shows
    outs = {kname: sem.outcome(model, model.kfunc(kname)) for kname in names}
    distinct = list(dict.fromkeys(outs.values()))
    # a state is read for what decides any formula (and the context): the other variables are free
    needed: dict = {}
    for out in distinct:
        needed.update(_needed(model, out))
    known = _seeds(model, session, distinct, needed)   # every formula's pairs seen so far, on concrete states
    enumerated: dict = {}
    codes: dict[str, dict[str, frozenset[int]]] = {}
    finished: dict[str, bool] = {}
    for kname in names:
        out = outs[kname]
        if out not in enumerated:
            enumerated[out] = _reachable(model, session, out, kname, known, needed)
        finished[kname] = enumerated[out]
        codes[kname] = {ctx: frozenset(known[out][ctx]) for ctx in model.context_names}
    return Reached(model.name, tuple(names), codes, finished)


def build_matrix(model: Model, kfuncs=None, rlimit: int = DEFAULT_RLIMIT, report: ModelReport | None = None,
                 session: Z3Session | None = None, reached: Reached | None = None) -> Matrix:
    """Compute the verdict matrix of ``model`` (optionally only for ``kfuncs``).

    The cells' statuses come from the safety and coverage results of ``report`` when given (a
    report of ``model`` proved with the same ``rlimit``, e.g. through the proof cache; its other
    properties are ignored), else from a fresh proof of those two properties. The outcomes come
    from ``reached`` when given (:func:`reachable_outcomes` of the same model and kfuncs, e.g.
    computed in another process), else from an enumeration in ``session`` (see
    :func:`reachable_outcomes`).
    """
    if report is None:
        report = prove_model(model, properties=list(MATRIX_PROPERTIES), rlimit=rlimit)
    if reached is None:
        reached = reachable_outcomes(model, kfuncs, rlimit, session)
    by_kfunc: dict[str, list] = {}
    for r in report.results:
        if r.property in MATRIX_PROPERTIES:
            by_kfunc.setdefault(r.kfunc, []).append(r)
    cells = []
    for kname in reached.kfuncs:
        k = model.kfunc(kname)
        finished = reached.finished[kname]
        results = by_kfunc.get(kname, [])
        unknown = any(r.status == Status.UNKNOWN for r in results)
        for ctx in model.context_names:
            # each counterexample of a result with one in this context (as many times as that result has them)
            findings = [r for r in results for c in r.counterexamples if c.context == ctx]
            ids = tuple(dict.fromkeys(c.obligation for r in findings for c in r.counterexamples if c.context == ctx))
            statuses = [c for r in findings for c in r.counterexamples if c.context == ctx]
            if any(not c.known_bug for c in statuses):
                status = "counterexample"
            elif statuses:
                status = "known"
            elif unknown or not finished:  # the solver gave up: never shown as proved
                status = "unknown"
            else:
                status = "proved"
            cells.append(Cell(kname, ctx, tuple(sem.outcome_name(k, o) for o in sorted(reached.codes[kname][ctx],
                                                                                       reverse=True)),
                              status, ids))
    return Matrix(model.name, model.kernel, reached.kfuncs, model.context_names, tuple(cells), reached.complete,
                  report)


#: the properties whose results fill the matrix's statuses
MATRIX_PROPERTIES = ("safety", "coverage")


def premise_session(model: Model, rlimit: int = DEFAULT_RLIMIT) -> Z3Session:
    """A session whose base holds ``model``'s runtime premise (axioms and "the state belongs to
    some context"), for questions about reachable runtime states; share it between them."""
    session = Z3Session(rlimit)
    session.assert_base(runtime_premise(model))
    return session


def _needed(model: Model, out) -> dict:
    """The variables that decide ``out``, and the context variable."""
    cv = sem.context_var(model)
    needed = {v.key: v for v in variables(out) if v.ns not in ("set", "flag")}
    needed[cv.key] = cv
    return needed


def _seeds(model: Model, session: Z3Session, outs: list, wanted: dict) -> dict:
    """For each outcome formula, the (context -> codes) that one state of each context shows.

    One check per context (not per formula and context): the state's values (read for
    ``wanted``, the variables of every formula) decide every formula by concrete evaluation.
    A context the solver gives up on has no seed; the enumeration of :func:`_reachable`
    still visits it.
    """
    cv = sem.context_var(model)
    seeds: dict = {out: {c: set() for c in model.context_names} for out in outs}
    for ctx in model.context_names:
        ans = session.check([eq(cv, Const(ctx, cv.type))], [wanted[k] for k in sorted(wanted)])
        if ans.status != "sat":
            continue
        for out in outs:
            seeds[out][ctx].add(evaluate(out, ans.values))
    return seeds


def _reachable(model: Model, session: Z3Session, out, kname: str, known: dict, needed: dict) -> bool:
    """Complete ``known[out]`` (context -> outcome codes) with every (context, code) some
    runtime state reaches; returns whether the enumeration finished (False: the solver gave up).

    ``known`` maps every outcome formula of the matrix to the pairs already seen on concrete
    states; z3 is asked only for the others of ``out``, until it proves there are none. Each
    state z3 finds is read for ``needed`` (the variables of every formula), and every formula is evaluated
    on it: a pair one kfunc's enumeration finds is never asked for again by another. Each pair
    is confirmed by concrete evaluation; a disagreement raises InternalError.
    """
    cv = sem.context_var(model)
    reached = known[out]

    def block(ctx: str, code: int):
        return neg(conj(eq(cv, Const(ctx, cv.type)), eq(out, int_const(code))))

    with session.frame(needed.values()) as frame:
        for ctx in model.context_names:
            for code in sorted(reached[ctx]):
                frame.add(block(ctx, code))
        while True:
            ans = frame.check()
            if ans.status != "sat":
                return ans.status == "unsat"
            ctx = str(ans.values[("meta", "context", 0)])
            code = evaluate(out, ans.values)
            if code in reached[ctx]:
                raise InternalError(f"matrix enumeration of {kname} repeated ({ctx}, {code}): "
                                    "the solver and the concrete evaluation disagree")
            for other, got in known.items():
                got[ctx].add(evaluate(other, ans.values))
            frame.add(block(ctx, code))
