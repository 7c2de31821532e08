"""Diagrams as inline SVG: Graphviz when it is installed, a small layered layout when not.

Every diagram of a report (a counterexample's context chain, the nesting of contexts, the lock
graph) is a :class:`polykfunc.counterexamples.graph.Graph` (nodes with a ``kind``, labelled edges).
:func:`render_svg` (one diagram) and :func:`render_svgs` (many, in one Graphviz run) draw it
with ``dot -Tsvg`` when Graphviz is on PATH and otherwise with
:func:`layered_svg`, pure Python, so a report never needs Graphviz. Each diagram is one ``<svg>``
element, without XML prolog, ready to inline in HTML.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import textwrap
from html import escape

from polykfunc.counterexamples.graph import Edge, Graph, Node

__all__ = ["Edge", "Graph", "Node", "render_svg", "render_svgs", "layered_svg", "to_dot"]

#: Fill and stroke per node kind (shared by the Graphviz and the pure-SVG drawings).
STYLE = {
    "step": ("#ffffff", "#607080"), "context": ("#eef3ff", "#1f5fbf"), "kfunc": ("#ffffff", "#202020"),
    "impl": ("#f4f4f4", "#202020"), "held": ("#e8f0fb", "#1f5fbf"), "lock": ("#fff8e6", "#a06000"),
    "violated": ("#fdecea", "#c00000"), "outer": ("#ffffff", "#607080"), "note": ("#f7f7f7", "#999999"),
}
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(g: Graph, direction: str = "LR") -> str:
    """Graphviz DOT text for ``g``."""
    out = ["digraph g {", f"  rankdir={direction}; bgcolor=transparent; nodesep=0.25; ranksep=0.45;",
           '  node [fontname="Helvetica", fontsize=10, shape=box, style="rounded,filled", margin="0.12,0.05"];',
           '  edge [fontname="Helvetica", fontsize=9, color="#555555", fontcolor="#333333"];']
    for n in g.nodes:
        fill, stroke = STYLE.get(n.kind, STYLE["step"])
        extra = ', penwidth=1.6' if n.kind in ("kfunc", "impl", "violated") else ""
        out.append(f'  {n.id} [label={_dot_quote(n.label)}, fillcolor="{fill}", color="{stroke}"{extra}];')
    for e in g.edges:
        out.append(f"  {e.src} -> {e.dst}" + (f" [label={_dot_quote(e.label)}]" if e.label else "") + ";")
    out.append("}")
    return "\n".join(out) + "\n"


def wrapped(g: Graph, width: int = 46) -> Graph:
    """``g`` with node labels wrapped at ``width`` characters and edge labels shortened, so a
    long fact does not stretch the drawing."""
    def wrap(label: str) -> str:
        return "\n".join(part for line in label.split("\n") for part in (textwrap.wrap(line, width) or [""]))

    def short(label: str) -> str:
        return label if len(label) <= width else label[: width - 1] + "…"

    return Graph(g.title, tuple(Node(n.id, wrap(n.label), n.kind) for n in g.nodes),
                 tuple(Edge(e.src, e.dst, short(e.label)) for e in g.edges))


def render_svg(g: Graph, direction: str = "LR", engine: str = "auto", title: str = "") -> str:
    """``g`` as one inline ``<svg>`` element: Graphviz's layout when ``dot`` is available (and
    ``engine`` is "auto" or "dot"), else :func:`layered_svg`. Labels are wrapped first
    (:func:`wrapped`). Never raises for a missing or failing Graphviz: it falls back."""
    return render_svgs([(g, title)], direction=direction, engine=engine)[0]


def render_svgs(graphs: list[tuple[Graph, str]], direction: str = "LR", engine: str = "auto") -> list[str]:
    """Each ``(graph, title)`` of ``graphs`` as :func:`render_svg` draws it, in order.

    All graphs go to one ``dot -Tsvg`` run (Graphviz lays out the graphs of one input one after
    the other and writes one document each), so a report with a hundred diagrams starts one
    process, not a hundred. If that run fails or its output does not split into one document
    per graph, each graph is drawn on its own (and falls back as :func:`render_svg` does).
    """
    out = [""] * len(graphs)
    todo = [(i, wrapped(g), title) for i, (g, title) in enumerate(graphs) if g.nodes]
    if not todo:
        return out
    if engine in ("auto", "dot") and shutil.which("dot"):
        docs = _dot_batch([g for _, g, _ in todo], direction)
        if docs is None and len(todo) > 1:   # one bad graph must not cost the others Graphviz
            docs = [(_dot_batch([g], direction) or [None])[0] for _, g, _ in todo]
        for (i, g, title), doc in zip(todo, docs or [None] * len(todo)):
            out[i] = _inline(doc, title) if doc else layered_svg(g, direction=direction, title=title)
        return out
    for i, g, title in todo:
        out[i] = layered_svg(g, direction=direction, title=title)
    return out


def _dot_batch(graphs: list[Graph], direction: str) -> list[str] | None:
    """One SVG document per graph from a single ``dot`` run, or None if the run failed."""
    try:
        done = subprocess.run(["dot", "-Tsvg"], input="".join(to_dot(g, direction) for g in graphs),
                              capture_output=True, text=True, timeout=30 + len(graphs), check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    docs = [d for d in re.split(r"(?=<\?xml )", done.stdout) if "<svg" in d]
    return docs if len(docs) == len(graphs) else None


def _inline(svg: str, title: str) -> str:
    """Graphviz's document as an inline element: no prolog or comments, scalable, titled."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    svg = re.sub(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"',
                 lambda m: f'<svg class="diagram" role="img" width="{float(m.group(1)):.0f}pt" '
                           f'height="{float(m.group(2)):.0f}pt"', svg, count=1)
    svg = re.sub(r"<title>[^<]*</title>", "", svg)  # Graphviz titles every node with its id
    svg = re.sub(r' id="[^"]*"', "", svg)  # ids would repeat across the diagrams of one page
    if title:
        svg = svg.replace(">", f"><title>{escape(title)}</title>", 1)
    return svg.strip()


# ------------------------------------------------------------------ the pure-SVG layout

_CHAR_W, _LINE_H, _PAD_X, _PAD_Y = 6.6, 13.0, 9.0, 6.0
_GAP_LAYER, _GAP_NODE, _MARGIN = 70.0, 16.0, 12.0


def _size(n: Node) -> tuple[float, float]:
    lines = n.label.split("\n")
    return (max(len(s) for s in lines) * _CHAR_W + 2 * _PAD_X, len(lines) * _LINE_H + 2 * _PAD_Y)


def _acyclic(g: Graph) -> list[tuple[str, str, Edge, bool]]:
    """Edges as (src, dst) pairs of a DAG: back edges found by DFS are reversed (flag True)."""
    succ: dict[str, list[Edge]] = {n.id: [] for n in g.nodes}
    for e in g.edges:
        if e.src in succ and e.dst in succ:
            succ[e.src].append(e)
    state: dict[str, int] = {}
    back: set[int] = set()

    def visit(v: str) -> None:
        stack = [(v, iter(succ[v]))]
        state[v] = 1
        while stack:
            node, it = stack[-1]
            for e in it:
                if state.get(e.dst) == 1:
                    back.add(id(e))
                elif e.dst not in state:
                    state[e.dst] = 1
                    stack.append((e.dst, iter(succ[e.dst])))
                    break
            else:
                state[node] = 2
                stack.pop()

    for n in g.nodes:
        if n.id not in state:
            visit(n.id)
    out = []
    for e in g.edges:
        if e.src in succ and e.dst in succ:
            rev = id(e) in back
            out.append((e.dst, e.src, e, True) if rev else (e.src, e.dst, e, False))
    return out


def _layers(g: Graph, dag) -> dict[str, int]:
    layer = {n.id: 0 for n in g.nodes}
    for _ in range(len(g.nodes)):  # longest path; the DAG has at most len(nodes) layers
        changed = False
        for s, d, _e, _r in dag:
            if s != d and layer[d] < layer[s] + 1:
                layer[d] = layer[s] + 1
                changed = True
        if not changed:
            break
    return layer


def layered_svg(g: Graph, direction: str = "LR", title: str = "") -> str:
    """A layered drawing of ``g`` in plain SVG (no Graphviz): nodes in columns by longest path
    (rows when ``direction`` is "TB"), ordered by the barycentre of their neighbours, edges as
    curves with arrowheads and labels."""
    if not g.nodes:
        return ""
    dag = _acyclic(g)
    layer = _layers(g, dag)
    cols: dict[int, list[str]] = {}
    for n in g.nodes:
        cols.setdefault(layer[n.id], []).append(n.id)
    preds: dict[str, list[str]] = {n.id: [] for n in g.nodes}
    succs: dict[str, list[str]] = {n.id: [] for n in g.nodes}
    for s, d, _e, _r in dag:
        if s != d:
            preds[d].append(s)
            succs[s].append(d)
    for sweep in range(4):  # barycentre ordering, down then up
        order = {v: i for col in cols.values() for i, v in enumerate(col)}
        keys = sorted(cols) if sweep % 2 == 0 else sorted(cols, reverse=True)
        for k in keys:
            nb = preds if sweep % 2 == 0 else succs
            cols[k].sort(key=lambda v: (sum(order[u] for u in nb[v]) / len(nb[v])) if nb[v] else order[v])
    size = {n.id: _size(n) for n in g.nodes}
    horizontal = direction != "TB"
    # room between layers for the longest edge label (labels sit half-way along their edge)
    label_w = max((len(e.label) * 5.9 + 28 for e in g.edges if e.label), default=0)
    gap_layer = min(max(_GAP_LAYER, label_w), 300) if horizontal else _GAP_LAYER
    gap_node = _GAP_NODE + (10 if horizontal and any(e.label for e in g.edges) else 0)
    pos: dict[str, tuple[float, float]] = {}
    # main axis: layers; cross axis: nodes of a layer, centred
    along = _MARGIN
    spans = []
    for k in sorted(cols):
        depth = max((size[v][0] if horizontal else size[v][1]) for v in cols[k])
        spans.append((k, along, depth))
        along += depth + gap_layer
    cross_len = {k: sum((size[v][1] if horizontal else size[v][0]) for v in cols[k]) + gap_node * (len(cols[k]) - 1)
                 for k in cols}
    widest = max(cross_len.values())
    for k, start, depth in spans:
        c = _MARGIN + (widest - cross_len[k]) / 2
        for v in cols[k]:
            w, h = size[v]
            if horizontal:
                pos[v] = (start + (depth - w) / 2, c)
                c += h + gap_node
            else:
                pos[v] = (c, start + (depth - h) / 2)
                c += w + gap_node
    total_w = (along - gap_layer + _MARGIN) if horizontal else (widest + 2 * _MARGIN)
    total_h = (widest + 2 * _MARGIN + 20) if horizontal else (along - gap_layer + _MARGIN)
    parts = [f'<svg class="diagram" role="img" xmlns="http://www.w3.org/2000/svg" width="{total_w:.0f}" '
             f'height="{total_h:.0f}" viewBox="0 0 {total_w:.0f} {total_h:.0f}" font-family="{FONT}" font-size="11">']
    if title:
        parts.append(f"<title>{escape(title)}</title>")
    arrow = "arrow-" + hashlib.sha256(repr((title, [n.id for n in g.nodes], [(e.src, e.dst) for e in g.edges]))
                                      .encode()).hexdigest()[:10]  # unique in a page of many diagrams
    parts.append(f'<defs><marker id="{arrow}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                 'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>')
    for s, d, e, reversed_ in dag:
        a, b = (d, s) if reversed_ else (s, d)  # draw in the edge's own direction
        parts.append(_edge_svg(pos[a], size[a], pos[b], size[b], e.label, horizontal, a == b, arrow))
    kinds = {n.id: n for n in g.nodes}
    for v, (x, y) in pos.items():
        n = kinds[v]
        w, h = size[v]
        fill, stroke = STYLE.get(n.kind, STYLE["step"])
        width = 1.6 if n.kind in ("kfunc", "impl", "violated") else 1.0
        parts.append(f'<g class="node {escape(n.kind)}"><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                     f'rx="5" fill="{fill}" stroke="{stroke}" stroke-width="{width}"/>')
        for i, line in enumerate(n.label.split("\n")):
            parts.append(f'<text x="{x + w / 2:.1f}" y="{y + _PAD_Y + (i + 0.8) * _LINE_H:.1f}" text-anchor="middle" '
                         f'fill="#202020">{escape(line)}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _edge_svg(pa, sa, pb, sb, label: str, horizontal: bool, loop: bool, arrow: str) -> str:
    (xa, ya), (wa, ha) = pa, sa
    (xb, yb), (wb, hb) = pb, sb
    if loop:
        x0, y0 = xa + wa * 0.65, ya
        path = f"M{x0:.1f},{y0:.1f} C{x0 + 20:.1f},{y0 - 34:.1f} {x0 - 40:.1f},{y0 - 34:.1f} {x0 - 22:.1f},{y0:.1f}"
        lx, ly = x0 - 10, y0 - 28
    elif horizontal:
        x0, y0 = xa + wa, ya + ha / 2
        x1, y1 = xb, yb + hb / 2
        if x1 < x0:  # a reversed (cycle) edge: leave from the left side, enter on the right
            x0, x1 = xa, xb + wb
        mid = (x0 + x1) / 2
        path = f"M{x0:.1f},{y0:.1f} C{mid:.1f},{y0:.1f} {mid:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"
        lx, ly = mid, (y0 + y1) / 2 - 3
    else:
        x0, y0 = xa + wa / 2, ya + ha
        x1, y1 = xb + wb / 2, yb
        if y1 < y0:
            y0, y1 = ya, yb + hb
        mid = (y0 + y1) / 2
        path = f"M{x0:.1f},{y0:.1f} C{x0:.1f},{mid:.1f} {x1:.1f},{mid:.1f} {x1:.1f},{y1:.1f}"
        lx, ly = (x0 + x1) / 2 + 4, mid
    out = f'<path d="{path}" fill="none" stroke="#555" stroke-width="1" marker-end="url(#{arrow})"/>'
    if label:
        out += (f'<text x="{lx:.1f}" y="{ly:.1f}" text-anchor="middle" font-size="9.5" fill="#333" '
                f'paint-order="stroke" stroke="#fff" stroke-width="3">{escape(label)}</text>')
    return out
