"""Compare the designs for polymorphic kfuncs on the same properties, from proofs.

Each design is a bundled model ``design-<family>@<letter>-<name>`` (model/bundled/designs/):
the family's shared file fixes the contexts, implementations and contracts, the design's own
file only the mechanism. :func:`compare` proves every design and reads off, per design:

- which properties hold (safety, coverage, visibility, refinement): a property *fails by
  design* when the model declares its counterexamples (known bugs), and fails unexpectedly
  otherwise;
- the call sites it **cannot resolve**: contexts where the contract allows a call that the
  mechanism rejects or refuses, or where no choice made at the design's binding time is safe
  (visibility), with the shape of the call site (the family's view variables);
- the call sites it leaves **unsafe**: safety counterexamples;
- the **run-time checks it still needs**: for a run-time mechanism, each selector rule whose
  removal breaks safety or coverage (proved by re-running the prover without it); for a
  load-time one, the preconditions its counterexamples violate, which only a run-time check
  can establish.

Nothing here is written by hand: change a design's rules and the table changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from polykfunc.model import bundled_manifests, load_model
from polykfunc.model.expr import TRUE
from polykfunc.model.spec import Model
from polykfunc.engine.prover import prove_model
from polykfunc.engine.results import ModelReport, Status
from polykfunc.engine.solver import DEFAULT_RLIMIT

PROPS = ("safety", "coverage", "visibility", "refinement")


@dataclass(frozen=True)
class DesignRow:
    model: str
    family: str
    design: str                      # e.g. "b-resolver"
    description: str
    mechanism: str                   # resolver / selector / mixed
    properties: dict                 # property -> "holds" | "fails (by design)" | "FAILS" | "n/a" | "unknown"
    cannot_resolve: tuple[str, ...]
    unsafe: tuple[str, ...]
    runtime_checks: tuple[str, ...]
    redundant_checks: tuple[str, ...]
    status: Status
    seconds: float

    def to_json(self) -> dict:
        return {"model": self.model, "family": self.family, "design": self.design,
                "description": self.description, "mechanism": self.mechanism,
                "properties": dict(self.properties), "cannot_resolve": list(self.cannot_resolve),
                "unsafe": list(self.unsafe), "runtime_checks": list(self.runtime_checks),
                "redundant_checks": list(self.redundant_checks), "status": self.status.label,
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class DesignTable:
    rows: tuple[DesignRow, ...]

    @property
    def exit_code(self) -> int:
        worst = max((r.status for r in self.rows), default=Status.PROVED)
        return 1 if worst.is_failure else 3 if worst == Status.UNKNOWN else 0

    def to_json(self) -> dict:
        return {"designs": [r.to_json() for r in self.rows], "exit_code": self.exit_code}


def design_models(families=None) -> dict[str, tuple[str, str, object]]:
    """Bundled design models: name -> (family, design, manifest path)."""
    out = {}
    for name, path in bundled_manifests().items():
        if not name.startswith("design-") or "@" not in name:
            continue
        family = name.split("@")[0][len("design-"):]
        if families and family not in families:
            continue
        out[name] = (family, name.split("@")[1], path)
    return out


def compare(families=None, rlimit: int = DEFAULT_RLIMIT) -> DesignTable:
    """Prove every design model (of ``families``, default all) and build the comparison."""
    from polykfunc.errors import UsageError
    found = design_models(families)
    if families and not found:
        known = sorted({f for f, _, _ in design_models().values()})
        raise UsageError(f"no design family {', '.join(families)}; the bundled families are {', '.join(known)}")
    rows = []
    for name, (family, design, path) in sorted(found.items()):
        rows.append(design_row(load_model(path), family, design, rlimit))
    return DesignTable(tuple(rows))


def design_row(model: Model, family: str, design: str, rlimit: int = DEFAULT_RLIMIT) -> DesignRow:
    t0 = time.perf_counter()
    rep = prove_model(model, rlimit=rlimit)
    props = {p: _property(rep, p) for p in PROPS}
    shape = _shape_vars(model)
    cannot, unsafe, violated = [], [], []
    for r in rep.results:
        for c in r.counterexamples:
            if c.severity == "note":
                continue
            where = f"{c.kfunc} in {c.context}" + (f" [{c.case}]" if c.case else "") + _shape(c, shape)
            if r.property == "visibility" or (r.property == "coverage" and r.id.endswith("allowed-resolves")):
                cannot.append(where)
            elif r.property == "safety":
                unsafe.append(f"{where}: {c.impl}")
    violated = _unchecked_preconditions(model, rep, rlimit)
    needed, redundant = _selector_checks(model, rep, rlimit)
    kinds = {k.in_force for k in model.kfuncs}
    mechanism = "filter + " * bool(model.filters) + ("/".join(sorted(kinds)))
    status = rep.status
    return DesignRow(model.name, family, design, model.description, mechanism, props, tuple(dict.fromkeys(cannot)),
                     tuple(dict.fromkeys(unsafe)), tuple(dict.fromkeys(needed + violated)), tuple(redundant),
                     status, time.perf_counter() - t0)


def _property(rep: ModelReport, prop: str) -> str:
    rows = [r for r in rep.results if r.property == prop]
    if not rows:
        return "n/a"
    worst = max(r.status for r in rows)
    if worst in (Status.PROVED, Status.NOT_APPLICABLE):
        return "holds"
    if worst == Status.NOTE:
        return "holds (run-time choice)"
    if worst == Status.KNOWN:
        return "fails (declared)"
    if worst == Status.UNKNOWN:
        return "unknown"
    return "FAILS"


def _shape_vars(model: Model) -> list[str]:
    """The family's own view variables: what distinguishes one call-site shape from another."""
    return [v.qualname for v in model.vars
            if v.ns == "view" and v.where is not None and "core.toml" not in str(v.where.file)]


def _shape(c, shape: list[str]) -> str:
    vals = dict(c.values)
    parts = [f"{n}={vals[n]}" for n in shape if n in vals and n != "view.st_ops"]
    return f" ({', '.join(parts)})" if parts else ""


def _unchecked_preconditions(model: Model, rep: ModelReport, rlimit: int) -> list[str]:
    """For load-time mechanisms: each precondition that can be false where its implementation is
    chosen (a z3 query per precondition of every implementation that failed safety): only a
    run-time check can establish it."""
    from polykfunc.model import semantics as sem
    from polykfunc.model.expr import eq, int_const, neg
    from polykfunc.properties.generate import runtime_premise
    from polykfunc.engine.solver import Z3Session
    failing = {(r.kfunc, r.impl) for r in rep.results if r.property == "safety" and r.counterexamples}
    out: list[str] = []
    session = None
    for k in model.kfuncs:
        if k.in_force != "resolver":
            continue
        for i, impl in enumerate(k.impls):
            if (k.name, impl.name) not in failing:
                continue
            if session is None:
                session = Z3Session(rlimit)
                session.assert_base(runtime_premise(model))
            chosen = eq(sem.outcome(model, k), int_const(i))
            for f in impl.requires:
                if session.check([chosen, neg(f.expr)]).status == "sat":
                    out.append(f"{k.name}/{impl.name}: {f.label.split(' requires: ', 1)[-1]}")
    return out


def _failures(rep: ModelReport, kfunc: str) -> set:
    return {(c.property, c.context, c.outcome, c.impl) for r in rep.results for c in r.counterexamples
            if c.kfunc == kfunc and c.severity != "note"}


def _selector_checks(model: Model, rep: ModelReport, rlimit: int) -> tuple[list[str], list[str]]:
    """Each run-time rule of a selector in force: needed (dropping it breaks a proof) or redundant."""
    needed, redundant = [], []
    base = None
    for k in model.kfuncs:
        if k.in_force != "selector" or not k.select:
            continue
        if base is None:
            base = prove_model(model, properties=("safety", "coverage"), use_known=False, rlimit=rlimit)
        before = _failures(base, k.name)
        for i, rule in enumerate(k.select):
            if rule.when.expr == TRUE:
                continue
            fewer = replace(k, select=k.select[:i] + k.select[i + 1:])
            variant = replace(model, kfuncs=tuple(fewer if x.name == k.name else x for x in model.kfuncs))
            after = _failures(prove_model(variant, properties=("safety", "coverage"), use_known=False,
                                          rlimit=rlimit), k.name)
            text = f"{k.name}: {rule.when.text} -> {rule.select}"
            new = after - before
            if new:
                ctxs = sorted({f"{p} in {c}" for p, c, _, _ in new})
                needed.append(f"{text} (without it: {', '.join(ctxs)})")
            else:
                redundant.append(text)
    return needed, redundant


def design_lines(table: DesignTable) -> list[str]:
    """The comparison as text: one block per design, grouped by family."""
    out = []
    family = None
    for r in table.rows:
        if r.family != family:
            family = r.family
            out.append(f"== family {family}")
        letter = r.design.split("-")[0]
        out.append(f"({letter}) {r.design}: {r.description} [{r.model}; {r.mechanism}]")
        out.append("    " + "  ".join(f"{p}: {s}" for p, s in r.properties.items()))
        out.append(f"    cannot resolve: {'; '.join(r.cannot_resolve) or 'none'}")
        out.append(f"    unsafe: {'; '.join(r.unsafe) or 'none'}")
        out.append(f"    run-time checks still needed: {'; '.join(r.runtime_checks) or 'none'}")
        if r.redundant_checks:
            out.append(f"    run-time rules no proof needs: {'; '.join(r.redundant_checks)}")
    out.append(f"{len(table.rows)} designs compared; every entry above comes from a proof or a replayed "
               "counterexample (polykfunc prove --verbose MODEL shows them)")
    return out
