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
from polykfunc.model.expr import FALSE, META, Expr, conj, disj, evaluate, neg, variables, with_copy
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

    def _decide(self, questions: list[Expr], first_only: bool) -> tuple[list[Answer | None], int]:
        """z3's answers to ``questions`` (memoised), and the number of checks they cost.

        Questions not answered before are asked together, as one disjunction: unsat answers
        every one of them (unsat); sat answers the ones the assignment satisfies (found by
        evaluation), and the rest is asked again. A question is asked alone only when a
        disjunction is unknown. With ``first_only`` the answer is the first satisfiable question
        in order, exactly as asking them one by one would find it (the questions before it
        are answered unsat or unknown); the ones after it are None.
        """
        answers: list[Answer | None] = [self._answers.get(q) for q in questions]
        checks = 0
        end = len(questions)
        if first_only:
            end = next((i for i, a in enumerate(answers) if a is not None and a.status == "sat"), end)
        while True:
            pending = [i for i in range(end) if answers[i] is None]
            if len(pending) < 2:
                break
            ans = self._ask_together([questions[i] for i in pending])
            checks += 1
            if ans is None:
                break  # unknown: each question on its own below
            hit = [i for i, sat in zip(pending, ans) if sat is not None]
            for i, sat in zip(pending, ans):
                if sat is not None or not hit:
                    answers[i] = self._answers[questions[i]] = sat or Answer("unsat")
            if not hit:
                break
            if first_only:
                end = min(hit)  # is an earlier question satisfiable too?
        for i in range(end):
            if answers[i] is None:
                answers[i], cost = self._solve(questions[i])
                checks += cost
                if first_only and answers[i].status == "sat":  # type: ignore[union-attr]
                    end = i
                    break
        if first_only:
            answers[end + 1:] = [None] * (len(answers) - end - 1)
        return answers, checks

    def _ask_together(self, questions: list[Expr]) -> list[Answer | None] | None:
        """One check of the disjunction of ``questions``: None when z3 gives up; else, per
        question, a satisfying assignment or None (every one None: all are unsat)."""
        combined = disj(*questions)
        ans = self.session.check([combined], sorted(variables(combined), key=lambda v: v.key))
        if ans.status == "unknown":
            return None
        if ans.status == "unsat":
            return [None] * len(questions)
        # the disjunction may have folded a part away (a part that is true absorbs the rest):
        # parts are evaluated with in-range values for what it no longer mentions
        values = {v.key: default_value(v) for q in questions for v in variables(q)}
        values.update(ans.values or {})
        out: list[Answer | None] = []
        for q in questions:
            keys = {v.key for v in variables(q)}
            out.append(Answer("sat", {k: x for k, x in values.items() if k in keys}) if evaluate(q, values) else None)
        if all(a is None for a in out):
            raise InternalError("a satisfying assignment of a disjunction satisfies none of its parts. "
                                "This is a bug in polykfunc; please report it.")
        return out

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
        answers, checks = self._decide([b[0] for b in violations], first_only=not ob.per_context)
        for (q, view, anchor, contexts), ans in zip(violations, answers):
            if ans is None:
                continue
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
        answers, cost = self._decide([b[0] for b in premises], first_only=True)
        checks += cost
        for ans in answers:
            if ans is None:
                continue
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
