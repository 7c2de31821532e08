"""SARIF 2.1.0 for ``check-prog --sarif FILE``: code scanning alerts on the BPF source lines.

One run for the whole batch; one rule per verdict that is reported (``polykfunc/check-prog/
rejected-at-load``, ...); one result per call site whose verdict is a finding (level
``error``), a condition or an unknown (``warning``), or a declared known kernel bug (``note``).
A result's location is the call's source line from BTF line info (``function+insn`` of the
object when the object has none); its fingerprint hashes the object, function, kfunc and
verdict, so an alert survives edits that move lines. GitHub's limits come from
:mod:`polykfunc.report.sarif`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from polykfunc import __version__
from polykfunc.errors import UsageError
from polykfunc.engine.results import Status
from polykfunc.report.sarif import LIMITS, SCHEMA_URI, _artifact, _cap, _dumps, _region, Place

from polykfunc.programs.checkprog import VERDICTS

_LEVEL = {Status.COUNTEREXAMPLE: "error", Status.VACUOUS: "error", Status.UNKNOWN: "warning",
          Status.NOTE: "warning", Status.KNOWN: "note"}
_RULES = [v for v, st in VERDICTS.items() if st in _LEVEL]
_HELP = {
    "rejected at load": "The verifier (or libbpf) refuses to load the program because of this kfunc call.",
    "refused at run time": "The kfunc refuses the call at run time; sched_ext then aborts the scheduler.",
    "misuse": "The call is not allowed here, yet the kernel runs an implementation anyway.",
    "unsafe": "An implementation the kernel selects for this call has a lock, CPU or context precondition "
              "that can fail.",
    "no context": "No context of the model runs this call: dead code, or a context the model lacks.",
    "condition": "The call is safe only if an argument polykfunc cannot follow has the value named.",
    "unknown": "The solver gave up (resource limit) on this call.",
    "known bug": "The call hits a kernel bug the model declares, fixed by the commit named.",
    "skew condition": "An older generated layer's rule (the chosen model's tree has no generic facts for this "
                      "kfunc) refuses the call: check it on the kernel you run.",
}


def rule_id(verdict: str) -> str:
    return "polykfunc/check-prog/" + verdict.replace(" ", "-")


def sarif_log(results, base: Path | None = None) -> dict:
    """The SARIF log of a batch (:class:`~polykfunc.programs.batch.ObjectResult` list)."""
    base = (base or Path.cwd()).resolve()
    out = []
    for r in results:
        if r.report is None:
            continue
        for site in r.report.sites:
            level = _LEVEL.get(site.status)
            if level is None:
                continue
            model = r.model
            if site.alternative is not None and site.alternative.status == site.status:
                model, site = site.alternative.model, site.alternative.site  # as the kernel that keeps it runs it
            worst = max(site.contexts, key=lambda c: c.status)
            place = Place(site.file, site.line) if site.file and site.line else Place(r.path, None)
            fp = hashlib.sha256("|".join((Path(r.path).name, site.function, site.kfunc, site.verdict))
                                .encode()).hexdigest()[:16]
            msg = f"{site.kfunc} in {site.function}: {site.verdict}: {worst.detail} [{model}; {worst.context}]"
            out.append({
                "ruleId": rule_id(site.verdict), "ruleIndex": _RULES.index(site.verdict), "level": level,
                "message": {"text": _cap(msg, LIMITS["message"])},
                "locations": [{"physicalLocation": {"artifactLocation": _artifact(place.file, base),
                                                    "region": _region(place, base)}}],
                "fingerprints": {"polykfunc/check-prog/v1": fp},
                "partialFingerprints": {"primaryLocationLineHash": f"{fp}:1"},
                "properties": {"object": r.path, "model": model, "kfunc": site.kfunc, "function": site.function,
                               "insn": site.insn, "condition": worst.condition},
            })
    out = out[:LIMITS["results_per_run"]]
    rules = [{"id": rule_id(v), "name": v.replace(" ", "-"), "shortDescription": {"text": _HELP[v]},
              "defaultConfiguration": {"level": _LEVEL[VERDICTS[v]]}} for v in _RULES]
    return {"$schema": SCHEMA_URI, "version": "2.1.0",
            "runs": [{"tool": {"driver": {"name": "polykfunc check-prog", "version": __version__,
                                          "rules": rules}},
                      "originalUriBaseIds": {"%SRCROOT%": {"uri": base.as_uri() + "/"}},
                      "results": out}]}


def write_sarif(results, path: str | Path) -> Path:
    """Write :func:`sarif_log` to ``path`` (UsageError naming the path when it cannot be written)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(_dumps(sarif_log(results)) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        raise UsageError(f"cannot write the SARIF file {path}: {e.strerror or e}; choose a writable path for "
                         "--sarif") from None
    return path
