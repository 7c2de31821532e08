"""What a report shows, as plain data: collected once, rendered as HTML or Markdown.

:func:`collect` proves each target model (through the proof cache), builds its verdict matrix,
explains its counterexamples, and computes the structure views (op classes, nesting, locks) and
the design comparison. Consecutive targets of the same subsystem are compared
(:mod:`polykfunc.report.diff`). Everything here is frozen dataclasses of strings, numbers and
tuples: the renderers only format it.

With several processes (``jobs``), each model is collected as two halves that need nothing from
each other (:func:`proof_part`: proof, explanations, design; :func:`structure_part`: reachable
outcomes, op classes, nesting, locks), :func:`assemble` joins them, and a version diff's
questions go to the pool as soon as both its models are assembled (:func:`diff_questions` of
:mod:`~polykfunc.report.diff`, one fresh solver session per side). Every answer depends only on
its model and question, never on which process or in which order it ran: the report is the
same for any ``jobs``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import platform
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from polykfunc.model.source import display_path
from polykfunc.engine.explanation import Explanation
from polykfunc.model import load_model
from polykfunc.model.compose import overlay_only
from polykfunc.model.spec import Fact, Model, Source
from polykfunc.engine.results import Counterexample, ModelReport, Status, exit_code

from .citations import is_commit
from .design import DesignComparison
from .structure import LockUse, NestingEdge

DENIED = ("rejected at load", "refused at run time")
DENIED_CODE = {"rejected at load": "✕", "refused at run time": "⊘"}
#: Cell statuses from best to worst (the worst wins an aggregate).
STATUS_RANK = {"proved": 0, "known": 1, "unknown": 2, "counterexample": 3}


@dataclass(frozen=True)
class CellData:
    """One kfunc called from one context: what the call can get, and the proof status."""

    kfunc: str
    context: str
    outcomes: tuple[str, ...]
    allowed: bool | None             # None: the solver gave up on this cell
    status: str                      # proved / known / counterexample / unknown
    code: str                        # the short text in the heat-map cell
    title: str                       # the full sentence (tooltip, screen readers)
    anchors: tuple[str, ...] = ()    # counterexamples in this cell
    known_bugs: tuple[str, ...] = ()


@dataclass(frozen=True)
class AggregateCell:
    """A group of kfunc rows collapsed onto one context: the worst status and how many allow."""

    context: str
    status: str
    allowed: int
    total: int
    findings: int


@dataclass(frozen=True)
class KfuncRow:
    name: str
    impl_codes: tuple[tuple[str, str], ...]   # (code, implementation)
    mechanism: str                            # resolver / selector / single
    doc: str
    source: str
    where: str | None
    cells: tuple[CellData, ...]

    @property
    def has_findings(self) -> bool:
        return any(c.status != "proved" for c in self.cells)


@dataclass(frozen=True)
class KfuncGroup:
    label: str
    rows: tuple[KfuncRow, ...]
    aggregate: tuple[AggregateCell, ...]


@dataclass(frozen=True)
class RuleRow:
    """One rule of the model with its kernel citation and its place in the model files."""

    kind: str
    label: str
    text: str
    source: str
    confirmed: bool
    where: str | None


@dataclass(frozen=True)
class CexData:
    """A counterexample with its explanation; ``primary`` ones are drawn in full."""

    anchor: str
    status: str                       # counterexample / known / note
    counterexample: Counterexample
    explanation: Explanation | None
    chain: tuple[str, ...]            # one line per runtime state
    svg: str = ""
    primary: bool = True


@dataclass(frozen=True)
class BugData:
    """A declared known bug, and the counterexamples that show it (none: it no longer appears)."""

    id: str
    title: str
    property: str
    kfunc: str
    contexts: tuple[str, ...]
    fixed_by: str | None
    source: str
    confirmed: bool
    anchors: tuple[str, ...]

    @property
    def found(self) -> bool:
        return bool(self.anchors)


@dataclass(frozen=True)
class ModelData:
    name: str
    kernel: str
    commit: str | None
    subsystem: str
    description: str
    path: str
    files: tuple[str, ...]
    report: ModelReport
    context_groups: tuple[tuple[str, tuple[str, ...]], ...]
    kfunc_groups: tuple[KfuncGroup, ...]
    matrix_complete: bool
    bugs: tuple[BugData, ...]
    cexs: tuple[CexData, ...]
    axioms: tuple[RuleRow, ...]
    unconfirmed: tuple[RuleRow, ...]
    rules: tuple[tuple[str, tuple[RuleRow, ...]], ...]
    nesting: tuple[NestingEdge, ...]
    nesting_svg: str
    lock_uses: tuple[LockUse, ...]
    lock_svg: str
    design: DesignComparison
    timing: tuple[tuple[str, float], ...]

    @property
    def contexts(self) -> tuple[str, ...]:
        return tuple(c for _, cs in self.context_groups for c in cs)

    @property
    def status(self) -> Status:
        return self.report.status

    def cell(self, kfunc: str, context: str) -> CellData | None:
        return self._cells.get((kfunc, context))

    @functools.cached_property
    def _cells(self) -> dict[tuple[str, str], CellData]:
        return {(c.kfunc, c.context): c for g in self.kfunc_groups for r in g.rows for c in r.cells}

    @property
    def kfunc_names(self) -> tuple[str, ...]:
        return tuple(r.name for g in self.kfunc_groups for r in g.rows)


@dataclass(frozen=True)
class Verdict:
    exit_code: int
    headline: str
    details: tuple[str, ...]


@dataclass(frozen=True)
class ReportData:
    title: str
    generated: str
    tool: tuple[tuple[str, str], ...]
    models: tuple[ModelData, ...]
    diffs: tuple                      # tuple[VersionDiff, ...]
    verdict: Verdict
    seconds: float
    changed: dict = field(default_factory=dict)   # model -> {"kfunc|context": what changed}
    families: tuple = ()              # tuple[DesignFamily, ...]: designs of one mechanism side by side
    oracle: object = None             # report.oracle.OracleSection, or None when not asked for


# ------------------------------------------------------------------ one model

def _src(s: Source | None) -> tuple[str, bool]:
    return (s.text, s.confirmed) if s is not None else ("", True)


def _fact_row(kind: str, f: Fact) -> RuleRow:
    text, ok = _src(f.source)
    return RuleRow(kind, f.label, f.text, text, ok, str(f.where) if f.where else None)


def _impl_codes(names: tuple[str, ...]) -> dict[str, str]:
    """Short, distinct codes for a kfunc's implementations: initials, then more letters
    (a kfunc with one implementation shows ✓: there is nothing to tell apart)."""
    if len(names) == 1:
        return {names[0]: "✓"}
    schemes = [lambda n: n.strip("_")[:1], lambda n: "".join(w[:1] for w in n.split("_") if w),
               lambda n: n.strip("_")[:2], lambda n: n.strip("_")[:3]]
    for scheme in schemes:
        codes = {n: (scheme(n) or n[:1]).upper() for n in names}
        if len(set(codes.values())) == len(names):
            return codes
    return {n: str(i + 1) for i, n in enumerate(names)}


def _rules(model: Model) -> list[tuple[str, tuple[RuleRow, ...]]]:
    out = []
    for k in model.kfuncs:
        rows: list[RuleRow] = []
        ktext, kok = _src(k.source)
        rows.append(RuleRow("kfunc", k.name, f"sets: {', '.join(k.sets) or '-'}; flags: {', '.join(k.flags) or '-'}",
                            ktext, kok, str(k.where) if k.where else None))
        if k.allow is not None:
            rows.append(_fact_row("contract", k.allow))
        if k.registered is not None:
            rows.append(_fact_row("registered", k.registered))
        for impl in k.impls:
            itext, iok = _src(impl.source)
            locks = "; ".join(x for x in (("takes " + ", ".join(u.text for u in impl.takes)) if impl.takes else "",
                                          ("drops " + ", ".join(u.text for u in impl.drops)) if impl.drops else "") if x)
            rows.append(RuleRow("implementation", impl.name, locks or impl.doc, itext, iok, None))
            rows.extend(_fact_row("requires", f) for f in impl.requires)
        for kind, rules in (("resolve", k.resolve), ("select", k.select)):
            for r in rules or ():
                row = _fact_row(kind, r.when)
                rows.append(RuleRow(kind, row.label, f"{r.when.text} -> {r.select}", row.source, row.confirmed, row.where))
        out.append((k.name, tuple(rows)))
    rows = []
    for s in model.kfunc_sets:
        text, ok = _src(s.source)
        rows.append(RuleRow("kfunc set", s.name, s.doc, text, ok, None))
        for kind, f in (("registered", s.registered), ("contract", s.allow)):
            if f is not None:
                rows.append(_fact_row(kind, f))
    for flt in model.filters:
        text, ok = _src(flt.source)
        rows.append(RuleRow("filter", flt.name, f"default {flt.default}", text, ok, None))
        for fr in flt.rules:
            row = _fact_row("filter rule", fr.when)
            rows.append(RuleRow("filter rule", row.label, f"{fr.when.text} -> {fr.verdict}", row.source,
                                row.confirmed, row.where))
    if rows:
        out.append(("kfunc sets and filters", tuple(rows)))
    for c in model.contexts:
        text, ok = _src(c.source)
        crow = [RuleRow("context", c.name, c.doc, text, ok, str(c.where) if c.where else None)]
        crow += [_fact_row("view", f) for f in c.view] + [_fact_row("fact", f) for f in c.facts]
        for case in c.cases:
            ctext, cok = _src(case.source)
            crow.append(RuleRow("case", case.name, "", ctext, cok, None))
            crow += [_fact_row("case fact", f) for f in case.facts]
        out.append((f"context {c.name}", tuple(crow)))
    return out


def _unconfirmed(rules: list[tuple[str, tuple[RuleRow, ...]]], model: Model) -> list[RuleRow]:
    seen: dict[tuple, RuleRow] = {}
    for _, rows in rules:
        for r in rows:
            if not r.confirmed:
                seen.setdefault((r.kind, r.label, r.source), r)
    for b in model.known_bugs:
        if not b.source.confirmed:
            seen.setdefault(("known bug", b.id, b.source.text), RuleRow("known bug", b.id, b.title, b.source.text,
                                                                        False, None))
    return list(seen.values())


def _cex_status(c: Counterexample) -> str:
    if c.severity == "note":
        return "note"
    return "known" if c.known_bug else "counterexample"


def _cells(model: Model, matrix, codes: dict[str, dict[str, str]], anchors: dict) -> dict[str, list[CellData]]:
    out: dict[str, list[CellData]] = {}
    for cell in matrix.cells:
        code = "/".join(codes[cell.kfunc].get(o, DENIED_CODE.get(o, "?")) for o in cell.outcomes) or "·"
        found = anchors.get((cell.kfunc, cell.context), [])
        bugs = tuple(dict.fromkeys(c.known_bug for c in found if c.known_bug))
        allowed_word = {True: "allowed", False: "denied", None: "undecided"}[cell.allowed]
        title = (f"{cell.kfunc} from {cell.context}: {allowed_word}; "
                 + (", ".join(cell.outcomes) or "unreachable") + f"; {cell.status}"
                 + (f" ({', '.join(bugs)})" if bugs else ""))
        out.setdefault(cell.kfunc, []).append(CellData(
            cell.kfunc, cell.context, cell.outcomes, cell.allowed, cell.status, code, title,
            tuple(dict.fromkeys(c.fingerprint for c in found)), bugs))
    return out


def _aggregate(rows: list[KfuncRow], contexts: tuple[str, ...]) -> tuple[AggregateCell, ...]:
    out = []
    for i, ctx in enumerate(contexts):
        cells = [r.cells[i] for r in rows]
        worst = max((c.status for c in cells), key=lambda s: STATUS_RANK.get(s, 0), default="proved")
        out.append(AggregateCell(ctx, worst, sum(1 for c in cells if c.allowed), len(cells),
                                 sum(1 for c in cells if c.anchors)))
    return tuple(out)


@dataclass(frozen=True)
class ProofPart:
    """One half of a model's data: the proof, the explained counterexamples and the design
    comparison (everything that needs the proof report)."""

    report: ModelReport
    cexs: tuple[CexData, ...]
    found: dict[str, tuple[Counterexample, ...]]    # known bug id -> its counterexamples
    by_cell: dict[tuple[str, str], tuple[Counterexample, ...]]
    design: DesignComparison
    timing: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class StructurePart:
    """The other half: what each call can reach, the op classes, nesting and locks (no proof needed)."""

    reached: object                  # polykfunc.engine.matrix.Reached
    classes: tuple[tuple[str, tuple[str, ...]], ...]
    nesting: tuple[NestingEdge, ...]
    nesting_svg: str
    lock_uses: tuple[LockUse, ...]
    lock_svg: str
    timing: tuple[tuple[str, float], ...]


def _load(path: str | Path) -> Model:
    """The validated model at ``path``, as a report shows it (a composed model without its base's kfuncs)."""
    return overlay_only(load_model(Path(path)))


def proof_part(model: Model, rlimit: int, cache_dir: str | None = None, use_known: bool = True) -> ProofPart:
    """Prove ``model`` (through the proof cache), explain and draw its counterexamples."""
    from polykfunc.engine.cache import ProofCache
    from polykfunc.counterexamples.graph import build_graph
    from polykfunc.counterexamples.text import chain_lines
    from polykfunc.engine.prover import prove_model
    from polykfunc.counterexamples.store import store_entries
    from polykfunc.engine.solver import Z3Session

    from .design import design_comparison
    from .svg import render_svgs

    timing: list[tuple[str, float]] = []
    t = time.perf_counter()
    report = prove_model(model, rlimit=rlimit, use_known=use_known,
                         cache=ProofCache(cache_dir) if cache_dir else None)
    timing.append(("prove", time.perf_counter() - t))
    t = time.perf_counter()
    entries = store_entries(model, report, rlimit=rlimit)
    by_cell: dict[tuple[str, str], list[Counterexample]] = {}
    cexs: list[CexData] = []
    diagrams: list = []   # (graph, title) of each primary counterexample, drawn in one batch below
    primary_seen: set[str] = set()
    for e in sorted(entries, key=lambda e: (_cex_status(e.counterexample) != "counterexample",
                                             e.counterexample.known_bug or "", e.counterexample.kfunc or "",
                                             e.counterexample.context or "")):
        c = e.counterexample
        status = _cex_status(c)
        if status != "note":
            for ctx in {c.context, *(cp.get("context") for cp in c.copies)} - {None}:
                by_cell.setdefault((c.kfunc, ctx), []).append(c)
        group = c.known_bug or (c.obligation if status == "note" else c.fingerprint)
        primary = group not in primary_seen
        primary_seen.add(group)
        if primary:
            diagrams.append((build_graph(e, model), f"{c.obligation} in {c.context}"))
        cexs.append(CexData(c.fingerprint, status, c, e.explanation, tuple(chain_lines(c)), "", primary))
    timing.append(("explain", time.perf_counter() - t))
    t = time.perf_counter()
    svgs = iter(render_svgs(diagrams))
    cexs = [replace(c, svg=next(svgs)) if c.primary else c for c in cexs]
    design = design_comparison(model, report, Z3Session(rlimit))
    found: dict[str, list[Counterexample]] = {}
    for e in entries:
        if e.counterexample.known_bug:
            found.setdefault(e.counterexample.known_bug, []).append(e.counterexample)
    timing.append(("diagrams", time.perf_counter() - t))
    return ProofPart(report, tuple(cexs), {k: tuple(v) for k, v in found.items()},
                     {k: tuple(v) for k, v in by_cell.items()}, design, tuple(timing))


def structure_part(model: Model, rlimit: int) -> StructurePart:
    """What each call of ``model`` can reach, its op classes, nesting and locks."""
    from polykfunc.engine.matrix import premise_session, reachable_outcomes
    from polykfunc.engine.solver import Z3Session

    from .structure import context_classes, lock_graph, lock_uses, nesting_edges, nesting_graph
    from .svg import render_svgs

    timing: list[tuple[str, float]] = []
    t = time.perf_counter()
    premised = premise_session(model, rlimit)   # shared by the enumeration and the lock uses
    reached = reachable_outcomes(model, rlimit=rlimit, session=premised)
    timing.append(("matrix", time.perf_counter() - t))
    t = time.perf_counter()
    classes = context_classes(model, Z3Session(rlimit))
    uses = lock_uses(model, premised)
    nest = nesting_edges(model)
    diagrams = ([(nesting_graph(model), f"{model.name}: context nesting")] if nest else []) + \
               ([(lock_graph(model.name, uses), f"{model.name}: locks held and taken")] if uses else [])
    svgs = iter(render_svgs(diagrams))
    nest_svg = next(svgs) if nest else ""
    lock_svg = next(svgs) if uses else ""
    timing.append(("structure", time.perf_counter() - t))
    return StructurePart(reached, tuple((lab, tuple(cs)) for lab, cs in classes), tuple(nest), nest_svg,
                         tuple(uses), lock_svg, tuple(timing))


def assemble(model: Model, proof: ProofPart, structure: StructurePart) -> ModelData:
    """The report's data of ``model`` from its two halves (cheap: no solver)."""
    from polykfunc.engine.matrix import build_matrix

    matrix = build_matrix(model, report=proof.report, reached=structure.reached)
    order = tuple(c for _, cs in structure.classes for c in cs)
    position = {c: i for i, c in enumerate(order)}
    codes = {k.name: _impl_codes(k.impl_names) for k in model.kfuncs}
    cells = _cells(model, matrix, codes, proof.by_cell)
    set_order = {s.name: i for i, s in enumerate(model.kfunc_sets)}
    groups: dict[str, list[KfuncRow]] = {}
    for k in model.kfuncs:
        row_cells = sorted(cells.get(k.name, []), key=lambda c: position[c.context])
        label = ", ".join(k.sets) if k.sets else "in no kfunc set"
        groups.setdefault(label, []).append(KfuncRow(
            k.name, tuple((code, impl) for impl, code in codes[k.name].items()), k.in_force, k.doc,
            k.source.text, str(k.where) if k.where else None, tuple(row_cells)))
    kgroups = tuple(KfuncGroup(label, tuple(rows), _aggregate(rows, order)) for label, rows in
                    sorted(groups.items(), key=lambda kv: min((set_order.get(s, 99) for s in kv[0].split(", ")),
                                                              default=99)))
    bugs = tuple(BugData(b.id, b.title, b.property, b.kfunc,
                         tuple(dict.fromkeys(c.context for c in proof.found.get(b.id, ()) if c.context)) or
                         ((b.context,) if b.context else ()),
                         b.fixed_by, b.source.text, b.source.confirmed,
                         tuple(c.fingerprint for c in proof.found.get(b.id, ())))
                 for b in model.known_bugs)
    rules = _rules(model)
    axioms = tuple(RuleRow("axiom", a.name, a.fact.text + (f" ({a.doc})" if a.doc else ""), a.fact.source.text,
                           a.fact.source.confirmed, str(a.fact.where) if a.fact.where else None)
                   for a in model.axioms)
    timing = dict(proof.timing)
    timing.update(structure.timing)
    return ModelData(
        model.name, model.kernel, model.commit, model.subsystem, model.description, str(model.path),
        tuple(display_path(f) for f in model.files), proof.report, structure.classes, kgroups,
        matrix.complete, bugs, proof.cexs, axioms, tuple(_unconfirmed(rules, model)), tuple(rules),
        structure.nesting, structure.nesting_svg, structure.lock_uses, structure.lock_svg, proof.design,
        tuple((name, timing[name]) for name in ("prove", "matrix", "explain", "structure", "diagrams")))


def model_data(path: str | Path, rlimit: int, cache_dir: str | None = None, use_known: bool = True) -> ModelData:
    """Everything the report shows about one model (runs the prover, matrix and explanations)."""
    model = _load(path)
    return assemble(model, proof_part(model, rlimit, cache_dir, use_known), structure_part(model, rlimit))


#: Models a worker process has received, by the digest of their pickled form: each job
#: carries its model (pickled once by :func:`collect`), a worker unpickles it once.
_RECEIVED: dict[str, Model] = {}


def _received(blob: bytes) -> Model:
    key = hashlib.sha256(blob).hexdigest()
    if key not in _RECEIVED:
        _RECEIVED[key] = pickle.loads(blob)
    return _RECEIVED[key]


def _job(kind: str, args: tuple):
    """One job of :func:`collect`, in a worker: load a model ("load"), half of a model's data
    ("proof" or "structure"), or the causes one side of a version diff needs ("causes")."""
    if kind == "load":
        return _load(*args)
    if kind == "inventory":
        from .oracle import kernel_inventory
        return kernel_inventory()
    model = _received(args[0]) if isinstance(args[0], bytes) else args[0]   # in-process: the model itself
    if kind == "proof":
        return proof_part(model, *args[1:])
    if kind == "structure":
        return structure_part(model, args[1])
    from .diff import answer_causes
    return answer_causes(model, *args[1:])


# ------------------------------------------------------------------ the whole report

def _verdict(models: tuple[ModelData, ...]) -> Verdict:
    reports = [m.report for m in models]
    code = exit_code(reports)
    cex = sum(1 for m in models for c in m.cexs if c.status == "counterexample")
    known = sum(len([b for b in m.bugs if b.found]) for m in models)
    fixed = sum(1 for m in models for b in m.bugs if b.found and is_commit(b.fixed_by))
    unknown = sum(r.counts().get("unknown", 0) for r in reports)
    vacuous = sum(r.counts().get("vacuous", 0) for r in reports)
    missing = sum(len(r.missing_known) for r in reports)
    proved = sum(r.counts().get("proved", 0) for r in reports)
    total = sum(len(r.results) for r in reports)
    if code == 1:
        headline = "FAIL: " + ", ".join(x for x in (
            f"{cex} unexpected counterexample(s)" if cex else "", f"{vacuous} vacuous obligation(s)" if vacuous else "",
            f"{missing} declared known bug(s) no longer found" if missing else "") if x)
    elif code == 3:
        headline = f"UNDECIDED: {unknown} obligation(s) ended unknown (raise --rlimit); nothing failed"
    else:
        headline = "PASS: every model proves as declared" + (f"; {known} declared known bug(s) reproduced" if known else "")
    details = [f"{proved} of {total} obligations proved",
               f"{known} known bug(s) reproduced ({fixed} fixed upstream, {known - fixed} open)" if known else "",
               f"{unknown} unknown" if unknown else ""]
    return Verdict(code, headline, tuple(d for d in details if d))


def collect(targets: Iterable[str | Path], *, rlimit: int | None = None, jobs: int | None = None,
            cache_dir: str | None = None, use_known: bool = True, title: str | None = None,
            progress: Callable[[str], None] | None = None, oracle: bool = False) -> ReportData:
    """Collect the report data of ``targets`` (paths to model manifests or folders).

    With ``oracle``, the running kernel's verifier is probed for the models' kfuncs
    (:func:`polykfunc.report.oracle.oracle_section`; absent, with its reason, without bpf()).

    Raises :class:`~polykfunc.errors.SpecError` for an invalid model (before any proof) and
    :class:`~polykfunc.errors.InternalError` if polykfunc contradicts itself.
    """
    from polykfunc.engine.solver import DEFAULT_RLIMIT
    start = time.perf_counter()
    paths = [Path(t) for t in targets]
    rlimit = rlimit or DEFAULT_RLIMIT
    # each model is collected as two halves (proof and structure) that need nothing from each
    # other, so two workers stay busy even when one model is much larger than the others
    halves = [(kind, i) for i in range(len(paths)) for kind in ("proof", "structure")]
    workers = max(1, min(jobs or os.cpu_count() or 1, len(halves)))
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        return _collect(pool, paths, rlimit, workers, halves, cache_dir, use_known, title, progress, oracle, start)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _collect(pool, paths, rlimit, workers, halves, cache_dir, use_known, title, progress, oracle, start) -> ReportData:
    from polykfunc import __version__
    from polykfunc.engine.solver import ENCODING_VERSION, z3_version

    from .design import design_families
    from .diff import diff_plan, diff_questions, version_diff
    # every model is validated before any proof; with a pool, this process loads the first
    # while the workers load the others (the first invalid one, in the order given, is raised)
    if pool is not None:
        loading = [pool.submit(_job, "load", (str(p),)) for p in paths[1:]]
        loaded = [_load(paths[0])] + [f.result() for f in loading]
    else:
        loaded = [_load(p) for p in paths]
    blobs = [pickle.dumps(m, protocol=pickle.HIGHEST_PROTOCOL) for m in loaded] if pool else loaded
    plan = diff_plan(loaded)
    parts: dict[tuple[str, int], object] = {}
    done: dict[int, ModelData] = {}
    questions: dict[tuple[int, int], tuple[list, list]] = {}
    answers: dict[tuple[int, int, int], dict] = {}   # (diff's old, diff's new, side's model) -> causes
    diffs: dict[tuple[int, int], object] = {}

    def next_jobs(kind: str, key: tuple, result) -> list[tuple[str, tuple]]:
        """Record one finished job; returns the jobs it makes possible.

        Both halves of a model: assemble it. Both models of a planned diff: ask which causes it
        needs (one job per side: each side's answers come from its own solver session, so a
        diff says the same whatever order the pool finishes in). Both sides answered: the diff.
        """
        new: list[tuple[str, tuple]] = []
        if kind in ("proof", "structure"):
            i = key[0]
            parts[(kind, i)] = result
            if ("proof", i) in parts and ("structure", i) in parts:
                done[i] = assemble(loaded[i], parts.pop(("proof", i)), parts.pop(("structure", i)))
                for a, b in plan:
                    if i in (a, b) and a in done and b in done:
                        questions[(a, b)] = diff_questions(done[a], done[b], loaded[a], loaded[b])
                        for side, asked in zip((a, b), questions[(a, b)]):
                            if asked:
                                new.append(("causes", (a, b, side)))
                            else:
                                answers[(a, b, side)] = {}
                        diff_if_answered(a, b)
        else:
            answers[key] = result
            diff_if_answered(*key[:2])
        return new

    def diff_if_answered(a: int, b: int) -> None:
        if (a, b, a) in answers and (a, b, b) in answers:
            diffs[(a, b)] = version_diff(done[a], done[b], loaded[a], loaded[b], rlimit,
                                         answers=(answers[(a, b, a)], answers[(a, b, b)]))

    def job_args(kind: str, key: tuple) -> tuple:
        if kind == "inventory":
            return ()
        if kind == "causes":
            a, b, side = key
            return (blobs[side], questions[(a, b)][0 if side == a else 1], rlimit)
        if kind == "proof":
            return (blobs[key[0]], rlimit, cache_dir, use_known)
        return (blobs[key[0]], rlimit)

    # the costliest halves first (a proof costs more than the structure of the same model),
    # so a small one never starts last on a busy worker
    size = [len(m.kfuncs) * len(m.contexts) for m in loaded]
    queue = [(kind, (i,)) for kind, i in sorted(halves, key=lambda h: -size[h[1]] * (1.4 if h[0] == "proof" else 1.0))]
    inventory = None
    if pool is not None:
        # with the oracle, the running kernel's BTF is read beside the proofs (a few tenths of a
        # second: it goes after the two largest halves, so it neither delays them nor ends the run)
        first = queue[:2] + ([("inventory", ())] if oracle else []) + queue[2:]
        pending = {pool.submit(_job, kind, job_args(kind, key)): (kind, key) for kind, key in first}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in sorted(finished, key=lambda f: pending[f]):
                kind, key = pending.pop(fut)
                if kind == "inventory":
                    inventory = fut.result()
                    continue
                for job in next_jobs(kind, key, fut.result()):
                    pending[pool.submit(_job, job[0], job_args(*job))] = job
    else:
        while queue:
            kind, key = queue.pop(0)
            queue += next_jobs(kind, key, _job(kind, job_args(kind, key)))
    models = tuple(done[i] for i in range(len(paths)))
    diffs = tuple(diffs[p] for p in plan)
    families = tuple(design_families(models))
    oracle_data = None
    if oracle:
        from .oracle import oracle_section
        if progress:
            progress("probing the running kernel's verifier")
        oracle_data = oracle_section(loaded, workers, inventory)
    changed: dict[str, dict[str, str]] = {}
    for d in diffs:
        for ch in d.changes:
            if ch.kind != "denial moved":  # the same refusal, moved between load and run time
                changed.setdefault(d.new, {})[f"{ch.kfunc.split(' -> ')[-1]}|{ch.context}"] = ch.summary
    names = " vs ".join(m.name for m in models) if len(models) <= 3 else f"{len(models)} models"
    tool = (("polykfunc", __version__), ("z3", z3_version()), ("encoding", str(ENCODING_VERSION)),
            ("rlimit", f"{rlimit:,}"), ("python", platform.python_version()),
            ("graphviz", "dot" if _has_dot() else "not installed (built-in layout)"))
    return ReportData(title or f"polykfunc review: {names}",
                      datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), tool, models, diffs,
                      _verdict(models), time.perf_counter() - start, changed, families, oracle_data)


def _has_dot() -> bool:
    import shutil
    return shutil.which("dot") is not None
