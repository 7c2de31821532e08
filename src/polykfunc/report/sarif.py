"""SARIF 2.1.0 output for `polykfunc prove --sarif FILE` (GitHub code scanning and other viewers).

One run per file, one rule per property with a stable id (``polykfunc/safety``, ...), one
result per finding: each counterexample (a declared known bug is reported *suppressed*, with
the bug and its fixing commit as the justification), each vacuous or unknown obligation, and
each declared known bug that no longer appears. Proved obligations are not results.

A result's primary location is the model rule it is about (the violated precondition, the
contract, the resolver rule, the context), at its file and line; the rule that decided the
outcome, the context and the known-bug declaration are related locations. Its fingerprint is
the counterexample's root-cause fingerprint (model, obligation, context, outcome), so an alert
survives edits that move lines. ``extra_locations`` lets a caller put another location first,
for example the BPF source line of a call site (``check-prog``).

GitHub's limits are enforced (:data:`LIMITS`): at most 25,000 results per run (the lowest
priority ones are dropped, and a notification says how many), 10 related locations per result,
255 characters for a rule name, 1,024 for descriptions and messages, 10 tags per rule, and
10 MB gzip-compressed per file.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import quote

from polykfunc.errors import UsageError
from polykfunc.model.source import display_path
from polykfunc.model.spec import PROPERTIES, Model

from polykfunc.engine.results import Counterexample, ModelReport, ObligationResult, Status

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"

#: GitHub code scanning's limits (docs: "SARIF support for code scanning").
LIMITS = {"runs": 20, "results_per_run": 25_000, "rules_per_run": 25_000, "related_locations": 10,
          "rule_name": 255, "description": 1024, "message": 1024, "tags": 10,
          "gzip_bytes": 10 * 1024 * 1024}


@dataclass(frozen=True)
class RuleText:
    name: str
    short: str
    full: str


RULES: dict[str, RuleText] = {
    "safety": RuleText(
        "kfunc-selected-implementation-unsafe",
        "The implementation a kfunc call selects has a lock, CPU or context precondition that does not hold",
        "In some runtime state that a calling context admits, the kernel's selection mechanism (the verifier's "
        "load-time choice or the kfunc's run-time check) picks an implementation whose preconditions are false."),
    "coverage": RuleText(
        "kfunc-contract-mismatch",
        "A call the kfunc's contract allows gets no implementation, or a call it denies gets one",
        "The contract (the calls that are legitimate by the kernel's documentation and design) and what the "
        "mechanism does disagree: an allowed call is rejected at load or refused at run time, or a denied call "
        "runs an implementation."),
    "visibility": RuleText(
        "kfunc-choice-needs-runtime-state",
        "No load-time choice of implementation is safe: which one is safe depends on run-time state",
        "At one load-time view of a call site there are legitimate runtime states in which each implementation "
        "is unsafe, so a load-time resolver cannot choose. For a choice made at run time this is a note."),
    "refinement": RuleText(
        "kfunc-resolver-disagrees-with-selector",
        "The load-time resolver of a kfunc chooses differently from its run-time selector",
        "For a kfunc with both a load-time resolver and a run-time selector, some admitted call gets a "
        "different implementation from each (a load-time rejection and a run-time refusal count as the same)."),
    "non-vacuity": RuleText(
        "model-context-admits-no-state",
        "A context or case of the model admits no runtime state",
        "The facts of a context (or of one of its cases) contradict each other or the axioms, so every proof "
        "about that context is vacuous. The model is wrong."),
}


def rule_id(prop: str) -> str:
    """The stable SARIF rule id of a property."""
    return f"polykfunc/{prop}"


# ------------------------------------------------------------------ locations

@dataclass(frozen=True)
class Place:
    """A place in a file, for a SARIF location."""

    file: str
    line: int | None
    message: str = ""


def _artifact(file: str, base: Path) -> dict:
    p = Path(file)
    if not p.is_absolute():
        return {"uri": quote(p.as_posix(), safe="/@+-._~"), "uriBaseId": SRCROOT}
    try:
        return {"uri": quote(p.resolve().relative_to(base).as_posix(), safe="/@+-._~"), "uriBaseId": SRCROOT}
    except ValueError:
        return {"uri": p.resolve().as_uri()}


@functools.lru_cache(maxsize=256)
def _lines(path: str) -> tuple[str, ...]:
    try:
        return tuple(Path(path).read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return ()


def _region(place: Place, base: Path) -> dict:
    line = place.line or 1
    path = Path(place.file) if Path(place.file).is_absolute() else base / place.file
    text = _lines(str(path))
    width = len(text[line - 1].rstrip()) if 0 < line <= len(text) else 0
    return {"startLine": line, "startColumn": 1, "endLine": line, "endColumn": max(2, width + 1)}


def _location(place: Place, base: Path, ident: int | None = None) -> dict:
    loc: dict = {"physicalLocation": {"artifactLocation": _artifact(place.file, base),
                                      "region": _region(place, base)}}
    if ident is not None:
        loc["id"] = ident
    if place.message:
        loc["message"] = {"text": _cap(place.message, LIMITS["message"])}
    return loc


def _where(fact_or_thing) -> Place | None:
    w = getattr(fact_or_thing, "where", None)
    if w is None:
        return None
    return Place(w.file, w.line)


def _declaration_line(model: Model, needle: str) -> Place:
    """The first line of the model's files containing ``needle`` (else the manifest's first line)."""
    for f in model.files:
        for i, line in enumerate(_lines(str(f)), 1):
            if needle in line:
                return Place(display_path(f), i)
    return Place(display_path(model.path), 1)


def _places(model: Model | None, c: Counterexample) -> tuple[Place | None, list[Place]]:
    """The primary place of a counterexample and its related places."""
    if model is None or c.kfunc is None:
        return None, []
    from polykfunc.model import semantics as sem
    try:
        k = model.kfunc(c.kfunc)
    except KeyError:
        return None, []
    primary: Place | None = None
    related: list[Place] = []
    if c.property == "safety" and c.impl:
        try:
            facts = [f for f in k.impl(c.impl).requires if f.label in c.violated]
        except KeyError:
            facts = []
        if facts:
            primary = _where(facts[0])
            related += [Place(p.file, p.line, f"violated: {f.label}") for f in facts[1:] if (p := _where(f))]
    elif c.property in ("coverage", "visibility"):
        for f in sem.contract_facts(model, k):
            if (p := _where(f)):
                primary = primary or Place(p.file, p.line, f"contract: {f.label}")
    elif c.property == "refinement" and k.resolve:
        primary = _where(k.resolve[0].when)
    if c.property == "visibility":
        for cp in c.copies:
            for f in k.impl(cp["unsafe_impl"]).requires:
                if f.label in cp["violated"] and (p := _where(f)):
                    related.append(Place(p.file, p.line, f"{cp['unsafe_impl']} unsafe in {cp['context']}: {f.label}"))
    if c.rule:
        for r in (k.resolve or ()) + (k.select or ()):
            if r.when.label == c.rule and (p := _where(r.when)):
                related.append(Place(p.file, p.line, f"decided by: {r.when.label}"))
    if c.context:
        try:
            if (p := _where(model.context(c.context))):
                related.append(Place(p.file, p.line, f"context {c.context}"))
        except KeyError:
            pass
    if c.known_bug:
        bug = _declaration_line(model, f'"{c.known_bug}"')
        related.append(Place(bug.file, bug.line, f"known bug {c.known_bug}"))
    if primary is None:
        primary = _where(k) or Place(display_path(model.path), 1)
    return primary, related


# ------------------------------------------------------------------ results

def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _result(prop: str, level: str, message: str, primary: Place, related: list[Place], fingerprint: str,
            base: Path, properties: dict, extra: list[Place] = ()) -> dict:
    places = list(extra) + [primary]
    res: dict = {
        "ruleId": rule_id(prop),
        "ruleIndex": list(PROPERTIES).index(prop),
        "level": level,
        "message": {"text": _cap(message, LIMITS["message"])},
        "locations": [_location(places[0], base)],
        "fingerprints": {"polykfunc/root-cause/v1": fingerprint},
        "partialFingerprints": {"primaryLocationLineHash": f"{fingerprint}:1"},
        "properties": properties,
    }
    rel = (places[1:] + related)[:LIMITS["related_locations"]]
    if rel:
        res["relatedLocations"] = [_location(p, base, i + 1) for i, p in enumerate(rel)]
    return res


def _cex_result(model: Model | None, rep: ModelReport, c: Counterexample, base: Path, extra) -> dict:
    primary, related = _places(model, c)
    primary = primary or Place(display_path(rep.path), 1)
    message = c.summary.rstrip(".") + "."
    if c.known_bug:
        message += f" Known bug {c.known_bug}" + (f", fixed by {c.fixed_by}." if c.fixed_by else ", open.")
    vals = dict(c.values)
    props = {"model": c.model, "kernel": c.kernel, "obligation": c.obligation, "kfunc": c.kfunc,
             "context": c.context, "case": c.case, "implementation": c.impl, "outcome": c.outcome,
             "violated": list(c.violated), "sources": list(c.sources),
             "state": {k: _jsonable(vals[k]) for k in c.relevant if k in vals}}
    if c.known_bug:
        props.update(knownBug=c.known_bug, fixedBy=c.fixed_by)
    level = "note" if c.severity == "note" else "error"
    res = _result(c.property, level, message, primary, related, c.fingerprint, base, props, extra(c) if extra else [])
    if c.known_bug:
        res["suppressions"] = [{"kind": "inSource", "status": "accepted", "justification": _cap(
            f"declared known bug {c.known_bug}" + (f", fixed upstream by {c.fixed_by}" if c.fixed_by else ""),
            LIMITS["message"])}]
    return res


def _obligation_place(model: Model | None, rep: ModelReport, r: ObligationResult) -> Place:
    if model is not None:
        try:
            if r.context and r.kfunc is None:
                return _where(model.context(r.context)) or Place(display_path(model.path), 1)
            if r.kfunc:
                k = model.kfunc(r.kfunc)
                if r.impl:
                    impl = k.impl(r.impl)
                    if impl.requires and (p := _where(impl.requires[0])):
                        return p
                return _where(k) or Place(display_path(model.path), 1)
        except KeyError:
            pass
    return Place(display_path(rep.path), 1)


def _status_result(model, rep: ModelReport, r: ObligationResult, base: Path) -> dict:
    place = _obligation_place(model, rep, r)
    if r.status == Status.VACUOUS:
        level, message = "error", f"{r.summary}: vacuous, {r.reason}."
    else:
        level, message = "warning", (f"{r.summary}: undecided (z3 gave up: {r.reason}); "
                                     "raise --rlimit to decide it.")
    props = {"model": rep.model, "kernel": rep.kernel, "obligation": r.id, "status": r.status.label,
             "reason": r.reason}
    return _result(r.property, level, message, place, [], _fingerprint(rep.model, r.id, r.status.label),
                   base, props)


def _missing_result(model, rep: ModelReport, m, base: Path) -> dict:
    place = _declaration_line(model, f'"{m.id}"') if model is not None else Place(display_path(rep.path), 1)
    message = (f"Declared known bug {m.id} ({m.property} of {m.kfunc}) no longer appears: "
               "the model or the kernel changed; remove the declaration or fix the model.")
    props = {"model": rep.model, "kernel": rep.kernel, "knownBug": m.id, "fixedBy": m.fixed_by}
    prop = m.property if m.property in PROPERTIES else "safety"
    return _result(prop, "error", message, place, [], _fingerprint(rep.model, "missing-known-bug", m.id),
                   base, props)


# ------------------------------------------------------------------ the log

def _rules() -> list[dict]:
    out = []
    for prop in PROPERTIES:
        t = RULES[prop]
        help_md = (f"**{prop}**: {t.full}\n\nEach counterexample has been replayed on the model by concrete "
                   "evaluation. `polykfunc cex show ID` explains one; docs/properties.md states the property "
                   "precisely and lists what the proofs assume.")
        out.append({
            "id": rule_id(prop),
            "name": _cap(t.name, LIMITS["rule_name"]),
            "shortDescription": {"text": _cap(t.short, LIMITS["description"])},
            "fullDescription": {"text": _cap(t.full, LIMITS["description"])},
            "defaultConfiguration": {"level": "error"},
            "help": {"text": _cap(t.full, LIMITS["description"]), "markdown": help_md},
            "properties": {"tags": ["correctness", "concurrency", "linux-kernel", "bpf"][:LIMITS["tags"]],
                           "precision": "very-high", "problem.severity": "error"},
        })
    return out


def _priority(res: dict) -> tuple:
    """Sort key: unsuppressed errors first, then warnings, notes, suppressed known bugs."""
    order = {"error": 0, "warning": 1, "note": 2, "none": 3}
    return (bool(res.get("suppressions")), order.get(res.get("level", "warning"), 1))


def sarif_log(reports: Iterable[ModelReport], *, models: dict[str, Model] | None = None,
              extra_locations: Callable[[Counterexample], list[Place]] | None = None,
              base_dir: str | Path | None = None) -> dict:
    """The SARIF 2.1.0 log of ``reports``, within GitHub code scanning's limits.

    ``models`` maps a model name to its loaded model (for file and line locations); a model
    missing from it is loaded from its report's path, and one that no longer loads is located
    at its manifest. Relative paths are relative to ``base_dir`` (default: the current folder).
    """
    from polykfunc import __version__
    base = Path(base_dir or Path.cwd()).resolve()
    models = dict(models or {})
    reports = list(reports)
    results: list[dict] = []
    for rep in reports:
        model = models.get(rep.model) or _load(rep)
        for r in rep.results:
            for c in r.counterexamples:
                results.append(_cex_result(model, rep, c, base, extra_locations))
            if r.status in (Status.VACUOUS, Status.UNKNOWN):
                results.append(_status_result(model, rep, r, base))
        for m in rep.missing_known:
            results.append(_missing_result(model, rep, m, base))
    results.sort(key=_priority)
    dropped = max(0, len(results) - LIMITS["results_per_run"])
    results = results[:LIMITS["results_per_run"]]
    z3v = reports[0].z3_version if reports else ""
    run: dict = {
        "tool": {"driver": {"name": "polykfunc", "version": __version__, "semanticVersion": __version__,
                            "rules": _rules()}},
        "originalUriBaseIds": {SRCROOT: {"uri": base.as_uri() + "/"}},
        "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": []}],
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": {"z3": z3v, "models": [{"name": r.model, "kernel": r.kernel, "status": r.status.label,
                                              "rlimit": r.rlimit, "seconds": round(r.seconds, 3)} for r in reports]},
    }
    log = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    dropped += _fit_size(log)
    if dropped:
        run["invocations"][0]["toolExecutionNotifications"].append({
            "level": "warning",
            "message": {"text": f"{dropped} lower-priority result(s) left out to stay within GitHub code "
                                "scanning's limits; `polykfunc prove --json` has them all"}})
    return log


def _fit_size(log: dict) -> int:
    """Drop the lowest-priority results until the gzip-compressed log fits; returns how many."""
    results = log["runs"][0]["results"]
    dropped = 0
    while results and len(gzip.compress(_dumps(log).encode())) > LIMITS["gzip_bytes"]:
        cut = max(1, len(results) // 10)
        del results[-cut:]
        dropped += cut
    return dropped


def _load(rep: ModelReport) -> Model | None:
    from polykfunc.errors import PolykfuncError
    from polykfunc.model import load_model
    try:
        return load_model(Path(rep.path))
    except (PolykfuncError, OSError):
        return None


def _dumps(log: dict) -> str:
    return json.dumps(log, indent=2, ensure_ascii=False)


def write_sarif(reports: Iterable[ModelReport], path: str | Path, **kwargs) -> Path:
    """Write :func:`sarif_log` to ``path``; UsageError (naming the path) when it cannot be written."""
    path = Path(path)
    text = _dumps(sarif_log(reports, **kwargs)) + "\n"
    try:
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        raise UsageError(f"cannot write the SARIF file {path}: {e.strerror or e}; "
                         "choose a writable path for --sarif") from None
    return path


def _cap(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _jsonable(v):
    return sorted(v) if isinstance(v, frozenset) else v
