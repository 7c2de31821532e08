"""Prove a validity obligation one context group at a time (see :mod:`.decompose`).

:class:`SplitProver` asks z3 one small question per group of contexts that share a residue
and a rest, instead of one question over the disjunction of every context. Answers are
memoised per question for the model, so a question many obligations share (the same
precondition failing in the same kind of context) is solved once.

What a result means is unchanged (docs/properties.md, "Splitting by context"):

- proved: every part is unsat, and some part of the premise is satisfiable;
- counterexamples: one per failing context (per obligation for visibility), each completed
  from its part's satisfying assignment and the context's pins, then replayed concretely;
- unknown in any part makes the obligation unknown (a counterexample found elsewhere is still
  reported, and a defect outranks the give-up, as in the whole-obligation search);
- vacuous (or not applicable): every part of the premise is unsat.

Parts are visited in the model's context order and questions reach z3 in that order, so the
same input gives the same counterexamples in every process.
"""

from __future__ import annotations

import time

from polykfunc.errors import InternalError
from polykfunc.model import semantics as sem
from polykfunc.model.expr import FALSE, META, Expr, conj, evaluate, neg, variables, with_copy
from polykfunc.model.spec import Model
from polykfunc.properties import Obligation
from polykfunc.properties.obligation import VACUITY_IS_SKIP

from polykfunc.engine.decompose import ContextTable, Unsplittable, bits, default_value, pin
from polykfunc.engine.replay import replay_problems
from polykfunc.engine.results import ObligationResult, Status
from polykfunc.engine.solver import Answer, Z3Session
from polykfunc.engine.witness import build


class SplitProver:
    """Decide the validity obligations of one model by context group, with one z3 session."""

    def __init__(self, model: Model, rlimit: int):
        self.model = model
        self.table = ContextTable(model)
        self.session = Z3Session(rlimit)
        self._answers: dict[Expr, Answer] = {}
        self._defaults: dict[int, dict] = {}

    @staticmethod
    def fits(ob: Obligation) -> bool:
        """Can ``ob`` be split? A witness of one context, or a validity obligation over
        runtime premises and a condition (several runtime states only when one
        counterexample is enough). :meth:`prove` may still decline one (it returns None)."""
        if ob.witness:
            return True
        return ob.condition is not None and not (ob.copies > 1 and ob.per_context)

    def _solve(self, question: Expr) -> tuple[Answer, int]:
        """z3's answer to ``question`` (memoised), and how many checks it cost (0 or 1)."""
        hit = self._answers.get(question)
        if hit is not None:
            return hit, 0
        ans = self.session.check([question], sorted(variables(question), key=lambda v: v.key))
        self._answers[question] = ans
        return ans, 1

    def _env(self, copies: int) -> dict:
        hit = self._defaults.get(copies)
        if hit is None:
            from polykfunc.engine.prover import _wanted_vars
            hit = {v.key: default_value(v) for v in _wanted_vars(self.model, copies)}
            self._defaults[copies] = hit
        return dict(hit)

    # -------------------------------------------------------------- counterexamples
    def _state_of(self, ans: Answer, context: int) -> dict:
        env = self._env(1)
        env.update((k, c.value) for k, c in self.table.pins[context].items())
        env.update(ans.values or {})
        env[(META, "context", 0)] = self.table.names[context]
        return env

    def _states_at_view(self, ans: Answer, view: tuple, anchor: int, copies: int) -> dict:
        env = self._env(copies)
        env.update((k, c.value) for k, c in view)
        env.update(ans.values or {})
        compat = self.table.compatible(view)
        for j in range(copies):
            for i in bits(anchor if j == 0 else compat):
                if evaluate(with_copy(sem.facts_of(self.model.contexts[i]), j), env):
                    env[(META, "context", j)] = self.table.names[i]
                    break
            else:
                raise InternalError(f"no context admits runtime state {j} of a satisfying assignment "
                                    "of a split obligation. This is a bug in polykfunc; please report it.")
        return env

    def _counterexample(self, ob: Obligation, env: dict, known):
        cex = build(self.model, ob, env, known)
        problems = replay_problems(self.model, cex)
        if problems:
            raise InternalError(
                f"counterexample for {ob.id} in model {self.model.name} does not replay on the concrete model: "
                + "; ".join(problems) + ". This is a bug in polykfunc; please report it with the model.")
        return cex

    # -------------------------------------------------------------- one obligation
    def prove(self, ob: Obligation, known=None) -> ObligationResult | None:
        """Decide ``ob`` (which must fit): proved, counterexample(s), unknown, or vacuous;
        None when its formulas name a runtime state's context where the split cannot pin it
        (the caller then decides the whole obligation at once)."""
        from polykfunc.engine.prover import _vacuous_reason, settle
        t0 = time.perf_counter()
        checks = 0
        copies = ob.copies

        def result(status: Status, cexs=(), reason="", proved=()):
            return ObligationResult(ob.id, ob.property, ob.model, ob.summary, ob.kfunc, ob.impl, ob.context,
                                    status, tuple(cexs), reason, time.perf_counter() - t0, checks, tuple(proved))

        if ob.witness:
            # the premise names one context (and case): its pins and rest decide it
            _, rest = pin(ob.premise)
            ans, checks = (Answer("unsat"), 0) if rest == FALSE else self._solve(rest)
            if ans.status == "sat":
                return result(Status.PROVED, reason="a runtime state exists")
            if ans.status == "unknown":
                return result(Status.UNKNOWN, reason=f"premise check: {ans.reason}")
            if ob.on_vacuous == VACUITY_IS_SKIP:
                return result(Status.NOT_APPLICABLE, reason="no runtime state falls under this obligation")
            return result(Status.VACUOUS, reason=_vacuous_reason(ob))

        def blocks(formula: Expr):
            if copies == 1:
                return [(q, None, 0, contexts) for q, contexts in self.table.blocks(formula)]
            return self.table.copies_blocks(formula, copies)

        try:
            violations = blocks(conj(ob.condition, neg(ob.goal)))  # type: ignore[arg-type]
            premises = blocks(ob.condition)  # type: ignore[arg-type]
        except Unsplittable:
            return None
        found: list[tuple[int, object]] = []
        gave_up = ""
        for q, view, anchor, contexts in violations:
            ans, cost = self._solve(q)
            checks += cost
            if ans.status == "unknown":
                gave_up = gave_up or ans.reason
                continue
            if ans.status == "unsat":
                continue
            if copies == 1:
                for i in bits(contexts):
                    found.append((i, self._counterexample(ob, self._state_of(ans, i), known)))
                    if not ob.per_context:
                        break
            else:
                env = self._states_at_view(ans, view, anchor, copies)
                found.append((self.table.index[env[(META, "context", 0)]],
                              self._counterexample(ob, env, known)))
            if not ob.per_context:
                break
        cexs = [c for _, c in sorted(found, key=lambda x: x[0])]
        if cexs:
            status, proved = settle(self.model, ob, cexs, Status.UNKNOWN if gave_up else Status.PROVED)
            return result(status, cexs, f"resource limit or incompleteness: {gave_up}" if gave_up else "", proved)
        if gave_up:
            return result(Status.UNKNOWN, reason=f"resource limit or incompleteness: {gave_up}")
        # no counterexample anywhere: the obligation holds if its premise is not empty
        premise_gave_up = ""
        for q, *_ in premises:
            ans, cost = self._solve(q)
            checks += cost
            if ans.status == "sat":
                status, proved = settle(self.model, ob, ())
                return result(status, proved=proved)
            if ans.status == "unknown":
                premise_gave_up = premise_gave_up or ans.reason
        if premise_gave_up:
            return result(Status.UNKNOWN, reason=f"premise check: {premise_gave_up}")
        if ob.on_vacuous == VACUITY_IS_SKIP:
            return result(Status.NOT_APPLICABLE, reason="no runtime state falls under this obligation")
        return result(Status.VACUOUS, reason=_vacuous_reason(ob))
