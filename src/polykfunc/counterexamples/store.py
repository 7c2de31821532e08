"""The counterexample store: one versioned JSON file per root cause, found again by id.

A store is a folder (default ``.polykfunc/counterexamples`` under the current directory, like
Hypothesis's ``.hypothesis``). Each entry is ``<id>.json`` where the id is the counterexample's
fingerprint, so the same root cause found twice is one entry. Files are written atomically;
a corrupted file is reported by name and never takes the rest of the store down with it.
The format is documented in docs/counterexample-format.md.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

from polykfunc.errors import PolykfuncError, UsageError, close_matches

from polykfunc.engine.explanation import Explanation, ExplainedFact, explain
from polykfunc.engine.results import Counterexample, ModelReport
from polykfunc.engine.solver import DEFAULT_RLIMIT, Z3Session
from polykfunc.properties import obligations

FORMAT = "polykfunc.counterexample"
VERSION = 1
DEFAULT_STORE = Path(".polykfunc") / "counterexamples"


class StoreError(PolykfuncError, ValueError):
    """A store entry cannot be read: the message names the file and what is wrong."""


@dataclass(frozen=True)
class Entry:
    """One stored counterexample with its explanation and the model it was found in."""

    id: str
    counterexample: Counterexample
    explanation: Explanation | None
    model_name: str
    model_path: str
    model_digest: str
    found: str
    tool: dict

    def to_json(self) -> dict:
        return {
            "format": FORMAT, "version": VERSION, "id": self.id, "found": self.found, "tool": self.tool,
            "model": {"name": self.model_name, "path": self.model_path, "digest": self.model_digest,
                      "kernel": self.counterexample.kernel},
            "counterexample": self.counterexample.to_json(),
            "explanation": self.explanation.to_json() if self.explanation else None,
        }


def model_digest(files) -> str:
    """A digest of a model's files (their bytes, in read order)."""
    h = hashlib.sha256()
    for f in files:
        h.update(Path(f).read_bytes())
    return h.hexdigest()[:16]


def make_entry(model, cex: Counterexample, explanation: Explanation | None) -> Entry:
    from polykfunc import __version__
    from polykfunc.engine.solver import z3_version
    return Entry(cex.fingerprint, cex, explanation, model.name, _portable(model.path),
                 model_digest(model.files), _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 {"polykfunc": __version__, "z3": z3_version()})


@functools.lru_cache(maxsize=1024)
def _portable_absolute(path: str) -> str:
    """:func:`_portable` of an absolute path, once per path (a report prints thousands of places
    in a few hundred files)."""
    return _portable(path)


def _portable(path) -> str:
    p = Path(path).resolve()
    try:
        from polykfunc.model import bundled_root
        return "bundled:" + str(p.relative_to(Path(bundled_root()).resolve()))
    except ValueError:
        return str(p)


#: how the files of bundled models are shown: their path in the source tree
BUNDLED_SHOWN = "model/bundled/"


def shown_file(text: str) -> str:
    """How a stored model file or place (``file`` or ``file:line``, or ``bundled:<path>``) is
    printed: a bundled model's file as ``model/bundled/<path>`` (as errors and reports show it,
    never the installed package's absolute path), any other file as stored."""
    if text.startswith("bundled:"):
        return BUNDLED_SHOWN + text[len("bundled:"):]
    file, sep, line = text.rpartition(":")
    if not (sep and line.isdigit()):
        file, sep, line = text, "", ""
    portable = _portable_absolute(file) if Path(file).is_absolute() else file
    if portable.startswith("bundled:"):
        return BUNDLED_SHOWN + portable[len("bundled:"):] + sep + line
    return text


class Store:
    """A folder of counterexample entries."""

    def __init__(self, root: str | Path = DEFAULT_STORE):
        self.root = Path(root)

    def save(self, entry: Entry) -> Path:
        """Write (or replace) an entry atomically; returns its file."""
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / f"{entry.id}.json"
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(entry.to_json(), fh, indent=2, sort_keys=False)
            fh.write("\n")
        os.replace(tmp, target)
        return target

    def files(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.glob("*.json") if not p.name.startswith(".tmp-"))

    def entries(self) -> tuple[list[Entry], list[StoreError]]:
        """Every readable entry, and an error for each file that is not."""
        good, bad = [], []
        for p in self.files():
            try:
                good.append(read_entry(p))
            except StoreError as e:
                bad.append(e)
        return good, bad

    def get(self, ident: str) -> Entry:
        """The entry whose id is ``ident`` or starts with it (at least 4 characters)."""
        if len(ident) < 4 or any(c not in "0123456789abcdef" for c in ident):
            raise UsageError(f"{ident!r} is not a counterexample id: ids are hex fingerprints "
                             f"(at least 4 characters); `polykfunc cex list` shows them")
        matches = [p for p in self.files() if p.stem.startswith(ident)]
        if not matches:
            ids = [p.stem for p in self.files()]
            hint = close_matches(ident, ids)
            raise UsageError(f"no counterexample {ident!r} in store {self.root}"
                             + (f"; {hint}" if hint else "; `polykfunc cex list` shows the stored ones"))
        if len(matches) > 1:
            raise UsageError(f"{ident!r} is ambiguous in store {self.root}: "
                             + ", ".join(p.stem for p in matches[:5]) + "; give more characters")
        return read_entry(matches[0])


def read_entry(path: Path) -> Entry:
    """Read one entry file; StoreError (naming the file) if it is not a valid entry."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise StoreError(f"{path}: cannot read: {e}") from None
    except json.JSONDecodeError as e:
        raise StoreError(f"{path}:{e.lineno}: not valid JSON ({e.msg}); the file is corrupted: "
                         "delete it, or run `polykfunc prove` again to re-create it") from None
    try:
        if data.get("format") != FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, not {FORMAT!r}")
        if data.get("version") != VERSION:
            raise ValueError(f"version {data.get('version')!r} is not supported (this polykfunc reads {VERSION})")
        cex = counterexample_from_json(data["counterexample"])
        expl = explanation_from_json(data["explanation"]) if data.get("explanation") else None
        m = data["model"]
        entry = Entry(data["id"], cex, expl, m["name"], m["path"], m["digest"], data["found"], data["tool"])
        if entry.id != cex.fingerprint:
            raise ValueError(f"id {entry.id} does not match the counterexample's fingerprint {cex.fingerprint}")
        if path.stem != entry.id:
            raise ValueError(f"the file is named {path.name} but holds entry {entry.id}: "
                             f"rename it to {entry.id}.json, or delete the copy")
        return entry
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        what = f"missing field {e}" if isinstance(e, KeyError) else str(e)
        raise StoreError(f"{path}: not a valid counterexample entry: {what}") from None


def counterexample_from_json(d: dict) -> Counterexample:
    names = {f.name for f in fields(Counterexample)}
    kw = {k: v for k, v in d.items() if k in names}
    values = d["values"]
    kw["values"] = tuple((k, frozenset(v) if isinstance(v, list) else v) for k, v in values.items())
    for key in ("violated", "sources", "relevant"):
        kw[key] = tuple(kw[key])
    kw["copies"] = tuple(kw.get("copies", ()))
    cex = Counterexample(**kw)
    if "fingerprint" in d and d["fingerprint"] != cex.fingerprint:
        raise ValueError("the fingerprint does not match the counterexample's content")
    return cex


def explanation_from_json(d: dict) -> Explanation:
    return Explanation(tuple(ExplainedFact(**f) for f in d["facts"]), tuple(d["relevant"]),
                       tuple(d["any_value"]), bool(d["minimal"]))


def store_entries(model, report: ModelReport, rlimit: int = DEFAULT_RLIMIT) -> list[Entry]:
    """Explain every counterexample of ``report`` and wrap it as a store entry."""
    obs = {ob.id: ob for ob in obligations(model, {r.property for r in report.results})}
    session = Z3Session(rlimit)
    out = []
    for r in report.results:
        for cex in r.counterexamples:
            out.append(make_entry(model, cex, explain(model, obs[r.id], cex, session)))
    return out
