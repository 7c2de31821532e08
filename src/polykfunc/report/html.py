"""The HTML report: one self-contained file (CSS, SVG and a little script inline, no network).

Rendered from :class:`~polykfunc.report.data.ReportData` with the Jinja2 templates in
``templates/`` (``report.html.j2``, with ``report.css`` and ``report.js`` included inline).
Every kernel citation becomes links (:mod:`polykfunc.report.citations`); links are the only
references to anything outside the file, and the page works without following any.
"""

from __future__ import annotations

import functools
import re

import jinja2
from markupsafe import Markup, escape

from .citations import commit_url, is_commit, segments
from .data import ReportData
from .templating import environment


def slug(text: str) -> str:
    """An HTML id made from ``text`` (stable, lower case, ASCII)."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


@functools.lru_cache(maxsize=4096)
def cite(text: str | None) -> Markup:
    """A kernel citation with its files and commits as links (a report repeats the same
    citations thousands of times: each is built once)."""
    out = []
    for s in segments(text):
        if s.url:
            out.append(Markup('<a class="cite" href="{}" rel="noreferrer">{}</a>').format(s.url, s.text))
        else:
            out.append(escape(s.text))
    return Markup("").join(out)


def commit(hash_: str | None) -> Markup:
    if not hash_:
        return Markup('<span class="open">open: no upstream fix</span>')
    if not is_commit(hash_):
        return Markup("<span>{}</span>").format(hash_)
    return Markup('<a class="commit" href="{}" rel="noreferrer"><code>{}</code></a>').format(commit_url(hash_), hash_)


@functools.lru_cache(maxsize=1)
def template() -> jinja2.Template:
    """The compiled page template (compiled once per process)."""
    env = environment(autoescape=True)
    env.filters.update(cite=cite, commit=commit, slug=slug)
    return env.get_template("report.html.j2")


def render_html(data: ReportData) -> str:
    """The report as one HTML document (UTF-8 text)."""
    return template().render(r=data)
