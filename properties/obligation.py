"""Proof obligations: one claim about a model, as formulas, with what it means in words."""

from __future__ import annotations

from dataclasses import dataclass

from polykfunc.model.expr import Expr

#: What a vacuous premise means for an obligation: a model error, or "nothing to check".
VACUITY_IS_ERROR = "error"
VACUITY_IS_SKIP = "skip"


@dataclass(frozen=True)
class Obligation:
    """A claim: whenever ``premise`` holds, ``goal`` holds (or, for a witness, ``premise`` can hold).

    ``premise`` already contains the axioms and the context membership of every runtime copy:
    for every obligation that is not a witness it is exactly the conjunction of
    :func:`~polykfunc.properties.generate.runtime_premise` for copies ``0 .. copies-1`` and
    ``condition``, which lets the prover assert the shared part once per model.
    ``copies`` says how many runtime states the formulas talk about (visibility uses one per
    implementation). ``severity`` is ``"error"`` when a counterexample is a defect, ``"note"``
    when it is information (a run-time choice that cannot move to load time).
    """

    id: str
    property: str
    model: str
    summary: str
    premise: Expr
    goal: Expr
    kfunc: str | None = None
    impl: str | None = None
    context: str | None = None
    case: str | None = None
    witness: bool = False
    copies: int = 1
    severity: str = "error"
    on_vacuous: str = VACUITY_IS_ERROR
    per_context: bool = True
    #: the premise without axioms and context membership: what, together with ``not goal``,
    #: makes a runtime state a violation (used to explain counterexamples)
    condition: Expr | None = None
