"""The error hierarchy of polykfunc.

Every error polykfunc raises on purpose derives from :class:`PolykfuncError`.
Errors caused by the user's input also derive from :class:`ValueError`, so
callers that only know the standard library can still catch them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable


class PolykfuncError(Exception):
    """Root of every error polykfunc raises on purpose."""


@dataclass(frozen=True)
class Where:
    """A place in a model file: the file, a key path inside it, and a line when known."""

    file: str
    path: str = ""
    line: int | None = None

    def child(self, key: str | int) -> "Where":
        """The place of ``key`` below this one (line unknown until located)."""
        if isinstance(key, int):
            path = f"{self.path}[{key}]"
        elif self.path:
            path = f"{self.path}.{_quote_key(key)}"
        else:
            path = _quote_key(key)
        return Where(self.file, path, None)

    def __str__(self) -> str:
        head = self.file if self.line is None else f"{self.file}:{self.line}"
        return head


def _quote_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "")   # bare: letters, digits, "_" and "-" only
    if key and (not bare or bare.isalnum()):
        return key
    return '"' + key.replace('"', '\\"') + '"'


class SpecError(PolykfuncError, ValueError):
    """A model file is invalid: the message names the file, the place, what is wrong and a hint."""

    def __init__(self, where: Where, message: str, hint: str | None = None,
                 excerpt: str | None = None):
        self.where = where
        self.message = message
        self.hint = hint or "docs/spec-format.md describes every table and key of a model"
        self.excerpt = excerpt
        super().__init__(self.render())

    def __reduce__(self):
        # rebuilt from its parts when it crosses a process boundary (a report's worker pool)
        return (type(self), (self.where, self.message, self.hint, self.excerpt))

    def render(self) -> str:
        place = f" at {self.where.path}:" if self.where.path else ""
        lines = [f"{self.where}: error:{place} {self.message}"]
        if self.excerpt:
            lines.extend("  " + ln for ln in self.excerpt.splitlines())
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


class UsageError(PolykfuncError, ValueError):
    """The command line asks for something that does not exist (a model, a property, ...)."""


class InternalError(PolykfuncError):
    """polykfunc contradicted itself (for example a counterexample that does not replay).

    This is always a bug in polykfunc, never in the user's model.
    """


def close_matches(word: str, candidates: Iterable[str], prefix: str = "") -> str | None:
    """A hint listing the candidates closest to ``word`` (each shown with ``prefix``), or None."""
    found = difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.6)
    if not found:
        return None
    return "did you mean " + " or ".join(repr(prefix + f) for f in found) + "?"
