"""The Jinja2 environment the HTML and Markdown renderers share (templates ship in the package)."""

from __future__ import annotations

import functools

import jinja2

from polykfunc.counterexamples.store import shown_file
from polykfunc.model.spec import PROPERTIES

from .oracle import SUMMARY as ORACLE_SUMMARY

#: How a status is written and coloured everywhere in a report.
STATUS_WORD = {"proved": "proved", "known": "known bug", "counterexample": "counterexample",
               "unknown": "unknown", "vacuous": "vacuous", "note": "note", "not applicable": "n/a"}


#: A model's overall status, as the summary says it.
VERDICT_WORD = {"proved": "proved", "not applicable": "proved", "note": "proved (with notes)",
                "known": "as declared (known bugs only)", "unknown": "undecided (unknown)",
                "counterexample": "FAIL", "vacuous": "FAIL (vacuous)"}


def environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("polykfunc.report", "templates"),
        autoescape=autoescape, trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.globals.update(PROPERTIES=PROPERTIES, STATUS_WORD=STATUS_WORD, VERDICT_WORD=VERDICT_WORD,
                       ORACLE_SUMMARY=ORACLE_SUMMARY, fmt_value=_fmt_value)
    env.filters.update(seconds=lambda s: f"{s:.2f} s", plural=_plural, place=_place)
    return env


@functools.lru_cache(maxsize=4096)
def _place(where: str | None) -> str:
    """A place in a model file (``file`` or ``file:line``) as reports print it: a bundled
    model's file as model/bundled/..., never the installed package's absolute path."""
    return shown_file(where) if where else ""


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _fmt_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (frozenset, set, list, tuple)):
        return "[" + ", ".join(sorted(map(str, v))) + "]"
    return str(v)
