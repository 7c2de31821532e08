"""Results are data: frozen records of what the prover found, ready to print or serialise."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from enum import IntEnum


class Status(IntEnum):
    """How an obligation ended. Ordered: the worst status wins a merge."""

    PROVED = 0          # unsat, with a satisfiable premise (or: witness found)
    NOT_APPLICABLE = 1  # the premise is empty and that is expected (e.g. the contract denies nothing)
    NOTE = 2            # a counterexample that is information, not a defect
    KNOWN = 3           # every counterexample is a declared known bug
    UNKNOWN = 4         # the solver gave up (resource limit): never a proof
    COUNTEREXAMPLE = 5  # a defect
    VACUOUS = 6         # the premise is empty where it must not be: the model is wrong

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")

    @property
    def is_failure(self) -> bool:
        return self in (Status.COUNTEREXAMPLE, Status.VACUOUS)


@dataclass(frozen=True)
class Counterexample:
    """A concrete call that breaks a property, explained in the model's own terms."""

    model: str
    kernel: str
    property: str
    obligation: str
    kfunc: str | None
    context: str | None
    case: str | None
    impl: str | None          # the implementation the mechanism selected (or would have to)
    outcome: str              # what the call got: an implementation, "rejected at load", ...
    rule: str | None          # the rule that decided the outcome
    violated: tuple[str, ...]  # labels of the facts that are false (preconditions, goals)
    sources: tuple[str, ...]   # kernel sources of those facts
    summary: str               # one sentence
    values: tuple[tuple[str, object], ...]   # every variable with its value
    relevant: tuple[str, ...]  # the variables the violated facts and deciding rule read
    known_bug: str | None = None
    fixed_by: str | None = None
    severity: str = "error"
    copies: tuple[dict, ...] = field(default=())  # visibility: one (context, case, impl) per copy

    @property
    def fingerprint(self) -> str:
        """The root cause: which obligation fails, in which context, with what outcome.

        Two counterexamples that differ only in the state the solver happened to pick (another
        CPU number, another case of the same context) have the same fingerprint.
        """
        key = "|".join([self.model, self.obligation, self.context or "", self.outcome])
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def value(self, name: str):
        for k, v in self.values:
            if k == name:
                return v
        raise KeyError(name)

    def to_json(self) -> dict:
        d = asdict(self)
        d["values"] = {k: _jsonable(v) for k, v in self.values}
        d["fingerprint"] = self.fingerprint
        d["copies"] = list(self.copies)
        return d


def _jsonable(v):
    if isinstance(v, frozenset):
        return sorted(v)
    return v


@dataclass(frozen=True)
class ObligationResult:
    id: str
    property: str
    model: str
    summary: str
    kfunc: str | None
    impl: str | None
    context: str | None
    status: Status
    counterexamples: tuple[Counterexample, ...] = ()
    reason: str = ""
    seconds: float = 0.0
    checks: int = 0
    proved_contexts: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {
            "id": self.id, "property": self.property, "model": self.model, "summary": self.summary,
            "kfunc": self.kfunc, "impl": self.impl, "context": self.context,
            "status": self.status.label, "reason": self.reason, "seconds": round(self.seconds, 6),
            "checks": self.checks,
            "counterexamples": [c.to_json() for c in self.counterexamples],
        }


@dataclass(frozen=True)
class MissingKnownBug:
    """A declared known bug that no counterexample matched any more."""

    id: str
    title: str
    property: str
    kfunc: str
    fixed_by: str | None


@dataclass(frozen=True)
class ModelReport:
    model: str
    kernel: str
    path: str
    results: tuple[ObligationResult, ...]
    missing_known: tuple[MissingKnownBug, ...]
    seconds: float
    z3_version: str
    rlimit: int

    @property
    def status(self) -> Status:
        worst = max((r.status for r in self.results), default=Status.PROVED)
        if self.missing_known and worst < Status.COUNTEREXAMPLE:
            return Status.COUNTEREXAMPLE
        return worst

    def counts(self, prop: str | None = None) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            if prop is None or r.property == prop:
                out[r.status.label] = out.get(r.status.label, 0) + 1
        return out

    def counterexamples(self):
        for r in self.results:
            yield from r.counterexamples

    def to_json(self) -> dict:
        return {
            "model": self.model, "kernel": self.kernel, "path": self.path,
            "status": self.status.label, "seconds": round(self.seconds, 3),
            "z3_version": self.z3_version, "rlimit": self.rlimit,
            "missing_known_bugs": [asdict(m) for m in self.missing_known],
            "obligations": [r.to_json() for r in self.results],
        }


def exit_code(reports) -> int:
    """0: all as expected; 1: a counterexample, vacuous premise or missing known bug;
    3: some obligation unknown and nothing failed."""
    worst = max((r.status for r in reports), default=Status.PROVED)
    if worst.is_failure:
        return 1
    if worst == Status.UNKNOWN:
        return 3
    return 0
