"""The report's oracle section: what the running kernel's verifier did with the report's kfuncs.

:func:`oracle_section` runs :func:`polykfunc.oracle.runner.run` (its worker pool) on the kfuncs
of the report's models that this kernel has, in every probe position, and compares each model
with the result (:func:`polykfunc.oracle.compare.compare`, with the kernel's local restrictions).
Without permission to load BPF programs, or when no kfunc of the models is in this kernel, the
section is absent and says why in one line. Plain data, rendered by the templates.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from polykfunc.model.spec import Model

#: the columns of the observed matrix summary, in order
SUMMARY = ("admitted", "rejected", "not observable")


@dataclass(frozen=True)
class OracleGroup:
    """Disagreements of one model that share kfunc, kernel answer, model answer and rule."""

    kind: str
    kfunc: str
    positions: str          # "socket_filter (every position); syscall.s (main, static)"
    count: int
    kernel: str
    kernel_line: str
    model: str
    rule: str
    label: str              # "", "local", "skew" or "local, skew"
    why: str                # the local restriction's reason, or ""


@dataclass(frozen=True)
class OracleModel:
    """One model of the report against the running kernel."""

    name: str
    kernel: str
    skew: bool
    agreements: int
    disagreements: int
    local_explained: int
    unexplained: int
    undetermined: int
    not_modelled: int
    unobservable: int
    absent: tuple[str, ...]
    groups: tuple[OracleGroup, ...]


@dataclass(frozen=True)
class OracleSection:
    """``available`` False: ``absent_reason`` says in one line why there is no oracle section."""

    available: bool
    absent_reason: str = ""
    release: str = ""
    kfuncs: tuple[str, ...] = ()
    positions: int = 0
    seconds: float = 0.0
    matrix: tuple[tuple[str, tuple[int, ...]], ...] = ()   # (context, counts in SUMMARY order)
    restrictions: tuple[tuple[str, str], ...] = ()          # (name, reason)
    models: tuple[OracleModel, ...] = ()


def absent(reason: str) -> OracleSection:
    return OracleSection(False, reason)


def _matrix(run) -> tuple[tuple[str, tuple[int, ...]], ...]:
    from polykfunc.oracle import classify as cls
    by_ctx: dict[str, Counter] = defaultdict(Counter)
    for o in run.observations:
        col = ("not observable" if o.outcome in cls.NO_ANSWER
               else "admitted" if o.verdict.admitted else "rejected")
        by_ctx[o.position.context][col] += 1
    return tuple((ctx, tuple(c[k] for k in SUMMARY)) for ctx, c in by_ctx.items())


def _model_row(c) -> OracleModel:
    from polykfunc.oracle.compare import DISAGREE_ADMISSION, DISAGREE_VARIANT, NOT_MODELLED, UNDETERMINED
    from polykfunc.oracle.render import positions_text
    groups = defaultdict(list)
    for d in c.disagreements:
        groups[(d.kind, d.kfunc, d.kernel, d.kernel_line, d.model, d.model_rule, d.local, d.skew)].append(d)
    rows = []
    order = {DISAGREE_ADMISSION: 0, DISAGREE_VARIANT: 1}
    for (kind, kfunc, kernel, line, model, rule, local, skew), ds in sorted(
            groups.items(), key=lambda kv: (order[kv[0][0]], kv[0][1], -len(kv[1]))):
        label = ", ".join(x for x, on in (("local", bool(local)), ("skew", skew)) if on)
        rows.append(OracleGroup(kind, kfunc, positions_text([d.position for d in ds]), len(ds), kernel,
                                line, model, rule, label, local))
    return OracleModel(c.model, c.model_kernel, c.skew, c.agreements, len(c.disagreements),
                       len(c.local_explained), len(c.unexplained),
                       sum(d.kind == UNDETERMINED for d in c.differences),
                       sum(d.kind == NOT_MODELLED for d in c.differences), c.unobservable,
                       c.absent_kfuncs, tuple(rows))


def kernel_inventory():
    """The running kernel's kfunc inventory, or the one-line reason there is no oracle section.

    The slow, model-independent part of :func:`oracle_section` (parsing the kernel's BTF): a
    report runs it beside the models' proofs and passes the result in.
    """
    from polykfunc.oracle.syscall import permission_problem
    why = permission_problem()
    if why is not None:
        return why
    from polykfunc.oracle.inventory import InventoryError, read_inventory
    try:
        return read_inventory()
    except InventoryError as e:
        return f"the oracle cannot read this kernel's kfuncs: {e}"


def oracle_section(models: list[Model], jobs: int | None = None, inventory=None) -> OracleSection:
    """Probe the running kernel for the kfuncs of ``models`` and compare each model (see module doc).

    ``inventory`` is :func:`kernel_inventory`'s answer when it was computed already.
    """
    inv = kernel_inventory() if inventory is None else inventory
    if isinstance(inv, str):
        return absent(inv)
    from polykfunc.oracle.compare import compare
    from polykfunc.oracle.contexts import CONTEXTS
    from polykfunc.oracle.local import detect
    from polykfunc.oracle.runner import run
    names = tuple(dict.fromkeys(k.name for m in models for k in m.kfuncs if inv.kfunc(k.name) is not None))
    if not names:
        return absent(f"Linux {inv.release} has none of the report's kfuncs: nothing for its verifier to answer")
    result = run(inv, names, CONTEXTS, jobs)
    restrictions = detect()
    rows = tuple(_model_row(compare(m, result, restrictions)) for m in models
                 if any(k.name in names for k in m.kfuncs))
    return OracleSection(True, "", result.release, names, len(result.positions), result.seconds,
                         _matrix(result), tuple((r.name, r.reason) for r in restrictions), rows)
