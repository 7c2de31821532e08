"""JUnit XML output for `polykfunc prove --junit FILE` (CI test dashboards).

One ``<testsuite>`` per model and one ``<testcase>`` per obligation (class name
``<model>.<property>``, name the obligation id, time its solving time):

| obligation | test case |
|---|---|
| proved, note | passed (a note's counterexamples are in ``<system-out>``) |
| counterexample, vacuous | ``<failure>`` with the short explanation as message, the full one as text |
| unknown | ``<error>`` with z3's reason |
| known bug | ``<skipped>``: an expected failure, with the bug and its fixing commit |
| not applicable | ``<skipped>``: nothing to check |

A declared known bug that no longer appears is one more failing test case, ``known-bug/<id>``.
"""

from __future__ import annotations

import os
import re
import socket
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from polykfunc.errors import UsageError

from polykfunc.engine.results import ModelReport, ObligationResult, Status

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    """Text XML 1.0 can carry (control characters removed)."""
    return _XML_ILLEGAL.sub("", str(text))


def _counts(cases: list[ET.Element]) -> dict[str, int]:
    out = {"tests": len(cases), "failures": 0, "errors": 0, "skipped": 0}
    for c in cases:
        for tag, key in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            if c.find(tag) is not None:
                out[key] += 1
    return out


def _case(rep: ModelReport, r: ObligationResult) -> ET.Element:
    from polykfunc.report.terminal import counterexample_lines
    case = ET.Element("testcase", classname=_clean(f"{rep.model}.{r.property}"), name=_clean(r.id),
                      time=f"{r.seconds:.6f}")
    lines = [ln.strip() for c in r.counterexamples for ln in counterexample_lines(c)]
    if r.status == Status.COUNTEREXAMPLE:
        bad = [c for c in r.counterexamples if not c.known_bug and c.severity != "note"]
        short = bad[0].summary if bad else r.summary
        more = f" (and {len(bad) - 1} more context(s))" if len(bad) > 1 else ""
        el = ET.SubElement(case, "failure", message=_clean(short + more), type="counterexample")
        el.text = _clean("\n".join(lines))
    elif r.status == Status.VACUOUS:
        el = ET.SubElement(case, "failure", message=_clean(f"vacuous: {r.reason}"), type="vacuous")
        el.text = _clean(f"{r.summary}: the premise is empty, so nothing is proved. {r.reason}")
    elif r.status == Status.UNKNOWN:
        el = ET.SubElement(case, "error", message=_clean(f"unknown: {r.reason}"), type="unknown")
        el.text = _clean(f"z3 gave up ({r.reason}); raise --rlimit to decide this obligation."
                         + ("\n" + "\n".join(lines) if lines else ""))
    elif r.status == Status.KNOWN:
        bugs = ", ".join(dict.fromkeys(
            f"{c.known_bug}" + (f" (fixed by {c.fixed_by})" if c.fixed_by else " (open)")
            for c in r.counterexamples if c.known_bug))
        ET.SubElement(case, "skipped", message=_clean(f"known kernel bug: {bugs}"))
        ET.SubElement(case, "system-out").text = _clean("\n".join(lines))
    elif r.status == Status.NOT_APPLICABLE:
        ET.SubElement(case, "skipped", message=_clean(f"not applicable: {r.reason}"))
    elif r.status == Status.NOTE and lines:
        ET.SubElement(case, "system-out").text = _clean("\n".join(lines))
    return case


def junit_tree(reports: Iterable[ModelReport]) -> ET.ElementTree:
    """The JUnit XML document of ``reports`` (see the module docstring for the mapping)."""
    root = ET.Element("testsuites", name="polykfunc prove")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    seconds = 0.0
    for rep in reports:
        cases = [_case(rep, r) for r in rep.results]
        for m in rep.missing_known:
            case = ET.Element("testcase", classname=_clean(f"{rep.model}.known-bugs"), name=_clean(f"known-bug/{m.id}"),
                              time="0")
            ET.SubElement(case, "failure", type="missing-known-bug", message=_clean(
                f"declared known bug {m.id} ({m.property} of {m.kfunc}) no longer appears"
            )).text = _clean("The model or the kernel changed: remove the [[known_bug]] declaration, or fix the model.")
            cases.append(case)
        counts = _counts(cases)
        suite = ET.SubElement(root, "testsuite", name=_clean(rep.model), timestamp=stamp,
                              hostname=_clean(socket.gethostname() or "localhost"),
                              time=f"{rep.seconds:.3f}", **{k: str(v) for k, v in counts.items()})
        props = ET.SubElement(suite, "properties")
        for name, value in (("kernel", rep.kernel), ("model_path", rep.path), ("z3", rep.z3_version),
                            ("rlimit", str(rep.rlimit))):
            ET.SubElement(props, "property", name=name, value=_clean(value))
        suite.extend(cases)
        for k in total:
            total[k] += counts[k]
        seconds += rep.seconds
    for k, v in total.items():
        root.set(k, str(v))
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(reports: Iterable[ModelReport], path: str | Path) -> Path:
    """Write :func:`junit_tree` to ``path``; UsageError (naming the path) when it cannot be written."""
    path = Path(path)
    try:
        if not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        junit_tree(reports).write(tmp, encoding="utf-8", xml_declaration=True)
        os.replace(tmp, path)
    except OSError as e:
        raise UsageError(f"cannot write the JUnit file {path}: {e.strerror or e}; "
                         "choose a writable path for --junit") from None
    return path
