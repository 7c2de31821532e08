"""Reproducers: a model finding's load-time half, shown to the running kernel.

A finding is a ``[[known_bug]]`` of a bundled model with no ``fixed_by`` (an *open* finding).
Its load-time half is "the verifier accepts a program that calls KFUNC in CONTEXT, and the call
resolves to IMPL". :func:`reproduce` picks the probe positions whose view the finding's model
context admits (asked of z3 with the model's axioms, as :mod:`.compare` does), loads the probe
at each and says, per position, one of:

- ``shown``: the kernel accepts the program and the call resolves to the finding's variant;
- ``differs``: it accepts the program but the call resolves to another symbol;
- ``refuted``: it rejects the program (the log line refutes the load-time half on this kernel);
- ``admitted``: the call passes registration but the minimal program fails on its arguments,
  so the variant cannot be read back;
- ``not_observable``: this kernel refuses the program type before verification (EPERM);
- ``kfunc_absent``: the running kernel does not have the kfunc;
- ``no_position``: no probe the oracle builds fits the finding's context (a sched_ext
  struct_ops member, two call sites of one kfunc, a device-bound XDP program).
"""

from __future__ import annotations

from dataclasses import dataclass

from polykfunc.model import bundled_manifests, load_model
from polykfunc.model.semantics import facts_of
from polykfunc.model.spec import KnownBug, Model

from . import classify as cls
from .compare import Predictor, impl_symbol, view_of
from .contexts import CONTEXTS
from .inventory import Inventory
from .runner import Observation, Position, positions, probe

SHOWN, DIFFERS, REFUTED, ADMITTED = "shown", "differs", "refuted", "admitted"
NOT_OBSERVABLE, KFUNC_ABSENT, NO_POSITION = "not_observable", "kfunc_absent", "no_position"
#: the best status first: a reproduction reports its best position
_ORDER = (SHOWN, DIFFERS, REFUTED, ADMITTED, NOT_OBSERVABLE, NO_POSITION, KFUNC_ABSENT)


@dataclass(frozen=True)
class Finding:
    """An open finding of a bundled model."""

    bug: KnownBug
    model: Model


@dataclass(frozen=True)
class PositionResult:
    observation: Observation
    status: str


@dataclass(frozen=True)
class Reproduction:
    """What the running kernel showed for one finding."""

    finding: str
    model: str
    kfunc: str
    status: str
    summary: str
    release: str
    results: tuple[PositionResult, ...] = ()

    @property
    def best(self) -> PositionResult | None:
        return min(self.results, key=lambda r: _ORDER.index(r.status)) if self.results else None


def open_findings(names: tuple[str, ...] | None = None) -> list[Finding]:
    """Every known bug without ``fixed_by`` in the bundled models (or in the models ``names``)."""
    out = []
    for name, path in bundled_manifests().items():
        if names and name not in names:
            continue
        model = load_model(path)
        out += [Finding(b, model) for b in model.known_bugs if not b.fixed_by]
    return out


def find(ident: str) -> Finding | None:
    """The open finding with id ``ident`` (or the one whose id starts with it)."""
    found = open_findings()
    exact = [f for f in found if f.bug.id == ident]
    if exact:
        return exact[0]
    prefix = [f for f in found if f.bug.id.startswith(ident)]
    return prefix[0] if len(prefix) == 1 else None


def matching_positions(finding: Finding) -> list[Position]:
    """The probe positions whose view the finding's context admits under the model's axioms;
    for a finding that names no context (visibility), every position where the model lets
    the kfunc load."""
    model, bug = finding.model, finding.bug
    pred = Predictor(model)
    k = model.kfunc(bug.kfunc)
    out = []
    for pos in positions(CONTEXTS):
        view = view_of(model, pos)
        if view is None:
            continue
        if bug.context is None:
            if any(code >= 0 for code in pred.predict(k, view).outcomes):
                out.append(pos)
        elif pred.satisfiable([pred.axioms, facts_of(model.context(bug.context)), *pred.fixed(view)]):
            out.append(pos)
    return out


def _status(o: Observation, want: str | None) -> str:
    v = o.verdict
    if v.outcome == cls.NOT_OBSERVABLE:
        return NOT_OBSERVABLE
    if v.outcome == cls.ACCEPTED:
        if want is None or o.resolved == want:
            return SHOWN
        return DIFFERS
    if v.admitted:
        return ADMITTED
    if v.outcome in cls.NO_ANSWER:
        return NOT_OBSERVABLE
    return REFUTED


def sentence(r: PositionResult, release: str, call_insn: int | None = None) -> str:
    """One line saying what the kernel did, as in "Linux 6.18.44 accepts this program; ..."."""
    o = r.observation
    where = f" at insn {call_insn}" if call_insn is not None else ""
    if r.status in (SHOWN, DIFFERS):
        return f"Linux {release} accepts this program; the call{where} resolves to {o.resolved}"
    if r.status == ADMITTED:
        return (f"Linux {release} lets the call through registration{where} but rejects the minimal "
                f"program on its arguments: {o.verdict.line}")
    if r.status == REFUTED:
        return f"Linux {release} rejects it: {o.verdict.line}"
    return f"Linux {release} cannot load this program type here ({o.verdict.line or 'EPERM before verification'})"


def reproduce(finding: Finding, inv: Inventory) -> Reproduction:
    """Load the finding's reproducers on the running kernel (see module doc)."""
    bug, model = finding.bug, finding.model
    k_kernel = inv.kfunc(bug.kfunc)
    base = dict(finding=bug.id, model=model.name, kfunc=bug.kfunc, release=inv.release)
    if k_kernel is None:
        return Reproduction(**base, status=KFUNC_ABSENT,
                            summary=f"Linux {inv.release} has no {bug.kfunc}: the finding is about "
                                    f"{model.kernel}" + (f" ({model.commit})" if model.commit else ""))
    poss = matching_positions(finding)
    if not poss:
        return Reproduction(**base, status=NO_POSITION,
                            summary=f"no probe the oracle builds fits context {bug.context!r} of {model.name} "
                                    "(the oracle loads no struct_ops program and builds one call site per probe)")
    want = None
    if bug.impl:
        k = model.kfunc(bug.kfunc)
        want = impl_symbol(k, k.impl_names.index(bug.impl))
    results = tuple(PositionResult(o, _status(o, want)) for o in (probe(inv, k_kernel, p) for p in poss))
    best = min(results, key=lambda r: _ORDER.index(r.status))
    summary = sentence(best, inv.release)
    from .local import detect, explaining
    r = explaining(detect(), model.kfunc(bug.kfunc).source.text) if best.status == REFUTED else None
    if r is not None and best.observation.outcome == cls.NOT_ALLOWED:
        # the refusal is a restriction of this kernel (local.py), not an answer about the finding
        return Reproduction(**base, status=NOT_OBSERVABLE, results=results,
                            summary=f"Linux {inv.release} cannot show it: {best.observation.verdict.line}; {r.reason}")
    return Reproduction(**base, status=best.status, summary=summary, results=results)
