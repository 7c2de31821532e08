"""A counterexample as a picture: the context chain and the locks involved.

:func:`build_graph` turns a store entry (and, when it still loads, its model, for the locks the
selected implementation takes and drops) into a small :class:`Graph`; :func:`to_dot` and
:func:`to_mermaid` write it as text, :func:`to_svg` runs Graphviz's ``dot`` on the DOT text.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from polykfunc.errors import UsageError
from polykfunc.model.expr import EvaluationError, evaluate, with_copy
from polykfunc.model.spec import Model

from polykfunc.counterexamples.text import chain_steps, fmt_value
from polykfunc.engine.witness import env_of
from polykfunc.counterexamples.store import Entry

FORMATS = ("dot", "svg", "mermaid")
INSTALL_HINT = ("Graphviz's `dot` program is not installed, and --format svg needs it: install it "
                "(Debian/Ubuntu: `apt-get install graphviz`, macOS: `brew install graphviz`), "
                "or use --format dot or --format mermaid")


class GraphvizMissing(UsageError):
    """``--format svg`` was asked for and the ``dot`` program is not on PATH."""


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    kind: str   # step, context, kfunc, impl, held, takes, violated


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    label: str = ""


@dataclass(frozen=True)
class Graph:
    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]

    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)


class _Builder:
    def __init__(self):
        self.nodes: dict[str, Node] = {}
        self.edges: dict[tuple[str, str, str], Edge] = {}

    def node(self, node_id: str, label: str, kind: str) -> str:
        node_id = re.sub(r"\W", "_", node_id)  # a valid DOT and Mermaid identifier
        self.nodes.setdefault(node_id, Node(node_id, label, kind))
        return node_id

    def edge(self, src: str, dst: str, label: str = "") -> None:
        self.edges.setdefault((src, dst, label), Edge(src, dst, label))


def build_graph(entry: Entry, model: Model | None = None) -> Graph:
    """The graph of ``entry``: program type -> member -> enclosing callbacks -> context ->
    kfunc -> implementation, the locks each state holds (``state.*lock*`` variables, with
    ``state.cpu``), and, with ``model``, the locks the implementation takes and drops."""
    c = entry.counterexample
    env = env_of(c.values)
    vals = dict(c.values)
    g = _Builder()
    kfunc = g.node("kfunc", f"kfunc {c.kfunc}", "kfunc")
    for j in range(max(1, len(c.copies))):
        steps = chain_steps(c, j)
        *outside, ctx_step, _kf, got = steps
        prev = None
        for i, step in enumerate(outside):
            shared = step.startswith(("program ", "member "))
            prev_id = prev
            prev = g.node(f"s{i}" if shared else f"s{i}_{j}", step, "step")
            if prev_id:
                g.edge(prev_id, prev)
        suffix = f"#{j}" if j else ""
        cpu = vals.get("state.cpu" + suffix)
        ctx = g.node(f"ctx{j}", f"context {ctx_step}" + (f"\non CPU {cpu}" if cpu is not None else ""), "context")
        if prev:
            g.edge(prev, ctx, "runs")
        g.edge(ctx, kfunc, "calls")
        for name, value in _held(vals, suffix, set(c.relevant)):
            g.edge(ctx, g.node(f"held_{name}_{j}", value, "held"), "holds")
        impl_name = c.copies[j]["unsafe_impl"] if c.copies else (c.impl or got)
        impl = g.node(f"impl_{impl_name}", f"{'implementation' if c.impl or c.copies else 'outcome'} {impl_name}",
                      "impl")
        g.edge(kfunc, impl, f"unsafe in state #{j}" if c.copies else "selects")
        violated = c.copies[j]["violated"] if c.copies else c.violated
        texts = _precondition_texts(entry)
        shown = ", ".join(f"{n}={fmt_value(vals[n])}" for n in c.relevant
                          if n in vals and (n.endswith(suffix) if j else "#" not in n))
        for i, label in enumerate(violated):
            text = "\n".join(x for x in (f"violated: {label}", texts.get(label), shown and f"with {shown}") if x)
            g.edge(impl, g.node(f"v{j}_{i}", text, "violated"), "requires")
        if model is not None and c.kfunc:
            for kind, use in _lock_uses(model, c.kfunc, impl_name):
                g.edge(impl, g.node(f"{kind}_{impl_name}_{use.text}_{j}", _lock_label(use, env, j), "lock"), kind)
    title = f"{entry.id[:8]} {c.obligation} in {c.context}"
    return Graph(title, tuple(g.nodes.values()), tuple(g.edges.values()))


def _precondition_texts(entry: Entry) -> dict[str, str]:
    """Violated label -> its expression, from the stored explanation."""
    facts = entry.explanation.facts if entry.explanation else ()
    return {re.sub(r" \(state #\d+\)$", "", f.label): f.text for f in facts if f.kind == "precondition"}


def _held(vals: dict, suffix: str, relevant: set[str]):
    """The locks a state holds (or, when it plays a part, does not): ``*lock*`` variables."""
    for key, value in vals.items():
        ns, _, name = key.partition(".")
        base = name.removesuffix(suffix)
        if ns not in ("state", "tracked") or not key.endswith(suffix) or (not suffix and "#" in key) \
                or not {"lock", "locked"} & set(base.split("_")):  # locked_rq, pi_lock; not clock_*
            continue
        who = "kernel records" if ns == "tracked" else "holds"
        if isinstance(value, bool):
            if value or key in relevant:
                yield base, f"{who} {base}" if value else f"does not hold {base}"
        elif isinstance(value, int):
            if value != -1:
                yield base, f"{who} {base.replace('locked_', '')} lock of CPU {value}"
            elif key in relevant:
                yield base, f"{who} no {base.replace('locked_', '')} lock" if ns == "state" else f"{key} = -1"
        elif key in relevant:
            yield base, f"{key} = {fmt_value(value)}"


def _lock_uses(model: Model, kfunc: str, impl: str):
    try:
        i = model.kfunc(kfunc).impl(impl)
    except KeyError:
        return []
    return [("takes", u) for u in i.takes] + [("drops", u) for u in i.drops]


def _lock_label(use, env, copy: int) -> str:
    if use.arg is None:
        return use.text
    try:
        return f"{use.text}\n= {use.kind} of CPU {evaluate(with_copy(use.arg, copy), env)}"
    except EvaluationError:
        return use.text


# ------------------------------------------------------------------ writers

_DOT_STYLE = {
    "kfunc": 'shape=box, style="bold"', "impl": 'shape=box, style="rounded,bold"',
    "context": 'shape=box, style="filled", fillcolor="#eef3ff"', "held": 'shape=ellipse, color="#1f5fbf"',
    "lock": 'shape=ellipse, style="dashed"', "violated": 'shape=note, color="#c00000", fontcolor="#c00000"',
    "step": "shape=box",
}


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(g: Graph) -> str:
    """Graphviz DOT text for the graph (left to right)."""
    out = ["digraph counterexample {", "  rankdir=LR;", f"  label={_dot_quote(g.title)}; labelloc=t;",
           '  node [fontname="Helvetica", fontsize=11]; edge [fontname="Helvetica", fontsize=9];']
    for n in g.nodes:
        out.append(f"  {n.id} [label={_dot_quote(n.label)}, {_DOT_STYLE.get(n.kind, 'shape=box')}];")
    for e in g.edges:
        out.append(f"  {e.src} -> {e.dst}" + (f" [label={_dot_quote(e.label)}]" if e.label else "") + ";")
    out.append("}")
    return "\n".join(out) + "\n"


_MERMAID_SHAPE = {"held": ("([", "])"), "lock": ("([", "])"), "violated": ("[/", "/]")}
_MERMAID_CLASS = {"violated": "stroke:#c00000,color:#c00000", "held": "stroke:#1f5fbf",
                  "lock": "stroke-dasharray: 4 3", "context": "fill:#eef3ff"}


def _mermaid_quote(text: str) -> str:
    return '"' + text.replace('"', "#quot;").replace("\n", "<br/>") + '"'


def to_mermaid(g: Graph) -> str:
    """Mermaid flowchart text for the graph (renders on GitHub and in most Markdown viewers)."""
    out = ["flowchart LR", f"  %% {g.title}"]
    for n in g.nodes:
        left, right = _MERMAID_SHAPE.get(n.kind, ("[", "]"))
        out.append(f"  {n.id}{left}{_mermaid_quote(n.label)}{right}")
    for e in g.edges:
        out.append(f"  {e.src} -->" + (f"|{_mermaid_quote(e.label)}|" if e.label else "") + f" {e.dst}")
    for kind, style in _MERMAID_CLASS.items():
        ids = [n.id for n in g.nodes if n.kind == kind]
        if ids:
            out.append(f"  classDef {kind} {style}")
            out.append(f"  class {','.join(ids)} {kind}")
    return "\n".join(out) + "\n"


def has_graphviz() -> bool:
    """Is Graphviz's ``dot`` program on PATH?"""
    return shutil.which("dot") is not None


def to_svg(g: Graph) -> str:
    """SVG drawn by Graphviz's ``dot -Tsvg``; GraphvizMissing (with how to install it) when absent."""
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing(INSTALL_HINT)
    done = subprocess.run([exe, "-Tsvg"], input=to_dot(g), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise UsageError(f"Graphviz's dot failed (exit {done.returncode}): {done.stderr.strip()}; "
                         "--format dot writes the input it was given")
    return done.stdout


def render(g: Graph, fmt: str) -> str:
    """The graph in ``fmt`` (one of FORMATS)."""
    if fmt == "dot":
        return to_dot(g)
    if fmt == "mermaid":
        return to_mermaid(g)
    if fmt == "svg":
        return to_svg(g)
    raise UsageError(f"unknown graph format {fmt!r}; use one of {', '.join(FORMATS)}")
