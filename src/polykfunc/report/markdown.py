"""The Markdown report: the HTML report's twin for mailing lists, issues and pull requests.

Same data, same sections, in GitHub-flavoured Markdown: tables, ``<details>`` for the long
parts, Mermaid blocks for the diagrams (GitHub renders them; elsewhere they read as text), and
kernel citations as Markdown links. The verdict matrix is written one row per kfunc, its
contexts grouped by outcome, since a 60 x 40 grid does not survive plain text.
"""

from __future__ import annotations

import functools

import jinja2

from polykfunc.counterexamples.graph import to_mermaid

from .citations import commit_url, is_commit, segments
from .data import ReportData
from .structure import lock_graph
from .templating import environment


def md_escape(text) -> str:
    """Text safe inside a Markdown table cell (pipes, newlines, emphasis marks)."""
    s = " ".join(str(text if text is not None else "").split())
    for ch in ("\\", "|", "*", "`", "<"):  # intraword _ and a lone > need no escape in GFM
        s = s.replace(ch, "\\" + ch)
    return s


def md_code(text) -> str:
    s = " ".join(str(text if text is not None else "").split()).replace("|", "\\|")
    return f"`{s}`" if "`" not in s else f"``{s}``"


def md_cite(text: str | None) -> str:
    out = []
    for s in segments(text):
        out.append(f"[{md_escape(s.text)}]({s.url})" if s.url else md_escape(s.text))
    return "".join(out)


def md_commit(hash_: str | None) -> str:
    if not hash_:
        return "**open**"
    return f"[`{hash_}`]({commit_url(hash_)})" if is_commit(hash_) else md_escape(hash_)


def _row_outcomes(row) -> list[tuple[str, list[str]]]:
    """A kfunc row as (what a call gets, [contexts]) groups, in first-seen order."""
    groups: dict[str, list[str]] = {}
    for c in row.cells:
        label = " / ".join(c.outcomes) or "unreachable"
        mark = "" if c.status == "proved" else f" ({c.status}{': ' + ', '.join(c.known_bugs) if c.known_bugs else ''})"
        groups.setdefault(label, []).append(c.context + mark)
    return list(groups.items())


def _mermaid(model_data, which: str) -> str:
    from polykfunc.counterexamples.graph import Edge, Graph, Node
    if which == "nesting":
        nodes, edges = {}, []
        for e in model_data.nesting:
            for n in (e.outer, e.inner):
                nodes.setdefault(n, Node("n_" + "".join(ch if ch.isalnum() else "_" for ch in n), n, "context"))
            edges.append(Edge(nodes[e.outer].id, nodes[e.inner].id, e.case[:40]))
        g = Graph("nesting", tuple(nodes.values()), tuple(dict.fromkeys(edges)))
    else:
        g = lock_graph(model_data.name, list(model_data.lock_uses))
    return to_mermaid(g) if g.nodes else ""


@functools.lru_cache(maxsize=1)
def template() -> jinja2.Template:
    """The compiled Markdown template (compiled once per process)."""
    env = environment(autoescape=False)
    env.filters.update(md=md_escape, code=md_code, cite=md_cite, commit=md_commit)
    env.globals.update(row_outcomes=_row_outcomes, mermaid=_mermaid)
    return env.get_template("report.md.j2")


def render_markdown(data: ReportData) -> str:
    """The report as GitHub-flavoured Markdown text."""
    return template().render(r=data)
