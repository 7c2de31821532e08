"""Program call graphs, and the contexts that reach every kfunc call site.

A :class:`ProgramGraph` is a ``networkx.MultiDiGraph``:

- **function nodes** (``kind="function"``): entry programs (``role="entry"``, with program
  type, struct_ops member and sleepability), static and global subprograms (``role`` is the
  linkage); an edge ``caller -> callee`` per call or callback registration, with
  ``via`` = ``"call"``, ``"sync_cb"`` or ``"async_cb"`` and the facts the caller has there;
- **site nodes** (``kind="site"``): one per kfunc call instruction, linked from its function,
  with the kfunc name, argument values and source line.

:func:`reaching_contexts` propagates contexts by the verifier's own rules:

- a program starts in its own context (``main``); a nested op gets one more context per op it
  can run inside (``outer``, supplied by the caller of this function);
- a **static** subprogram is verified inline in its caller's state: it inherits the caller's
  verifier view (regions) and runtime state;
- a **global** subprogram is verified once from its BTF prototype: the verifier's view starts
  fresh (no region), while at run time it still runs in its caller's state;
- a **synchronous callback** (bpf_loop, bpf_for_each_map_elem, ...) runs inside the helper call,
  in the caller's context;
- an **asynchronous callback** (bpf_timer, bpf_wq, task_work) runs later in a context of its own
  kind (timer: softirq; wq and task_work: a task) with nothing of the program's state.

Example (built by hand; :func:`from_object` builds one from a compiled object)::

    >>> g = ProgramGraph()
    >>> g.add_program("enq", "STRUCT_OPS", member="enqueue", st_ops="sched_ext_ops")
    >>> g.add_function("helper", "static")
    >>> g.add_call("enq", "helper", insn=1, args=(CtxArg(0),))
    >>> site = g.add_site("helper", 5, "scx_bpf_dsq_insert", args=(Param(1),))
    >>> [(r.entry, r.kind) for r in reaching_contexts(g)["helper"]]
    [('enq', 'static')]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import networkx as nx

from .dataflow import (
    REGIONS, TOP, Const, Ctx, CtxArg, FuncAddr, Param, Value, analyse, frame_at, resolve,
)

__all__ = ["AsyncKind", "ASYNC_KINDS", "ProgramGraph", "Reach", "SiteContext", "from_object",
           "reaching_contexts", "site_contexts", "Const", "Ctx", "CtxArg", "Param", "TOP"]

NO_REGIONS = (0,) * len(REGIONS)


@dataclass(frozen=True)
class AsyncKind:
    """Where an asynchronous callback runs."""

    name: str
    exec: str | None        # state.exec when it runs: "softirq", "task", or None (unknown)
    sleepable: bool         # the verifier checks it as sleepable code


ASYNC_KINDS = {
    "timer": AsyncKind("timer", "softirq", False),     # kernel/bpf/helpers.c: bpf_timer_cb (hrtimer, soft mode)
    "wq": AsyncKind("wq", "task", True),               # kernel/bpf/helpers.c: bpf_wq_work (workqueue)
    "task_work": AsyncKind("task_work", "task", True),  # kernel/bpf/helpers.c: bpf_task_work_callback
    "unknown": AsyncKind("unknown", None, False),      # an address passed somewhere polykfunc does not know
}

#: helper id -> (name, callback register, "sync" / async kind, register the callback's r1..r5 get)
CALLBACK_HELPERS: dict[int, tuple[str, int, str, dict[int, int]]] = {
    170: ("bpf_timer_set_callback", 2, "timer", {}),
    181: ("bpf_loop", 2, "sync", {2: 3}),
    164: ("bpf_for_each_map_elem", 2, "sync", {4: 3}),
    180: ("bpf_find_vma", 3, "sync", {3: 4}),
    209: ("bpf_user_ringbuf_drain", 2, "sync", {2: 3}),
}
#: kfunc -> (callback register, "sync" / async kind)
CALLBACK_KFUNCS: dict[str, tuple[int, str]] = {
    "bpf_wq_set_callback_impl": (2, "wq"), "bpf_wq_set_callback": (2, "wq"),
    "bpf_task_work_schedule_signal_impl": (4, "task_work"), "bpf_task_work_schedule_signal": (4, "task_work"),
    "bpf_task_work_schedule_resume_impl": (4, "task_work"), "bpf_task_work_schedule_resume": (4, "task_work"),
    "bpf_rbtree_add_impl": (3, "sync"), "bpf_rbtree_add": (3, "sync"),
}


class ProgramGraph:
    """A program's functions, call edges, callback edges and kfunc call sites (see module doc)."""

    def __init__(self) -> None:
        self.graph = nx.MultiDiGraph()
        self.notes: list[str] = []

    # ------------------------------------------------------------------ building
    def add_program(self, name: str, prog_type: str | None, *, member: str | None = None,
                    st_ops: str | None = None, sleepable: bool = False, section: str = "") -> None:
        """An entry program (struct_ops member or program type)."""
        self.graph.add_node(name, kind="function", role="entry", prog_type=prog_type, member=member,
                            st_ops=st_ops, sleepable=sleepable, section=section)

    def add_function(self, name: str, linkage: str = "static") -> None:
        """A subprogram; ``linkage`` is "static" or "global"."""
        if linkage not in ("static", "global"):
            raise ValueError(f"linkage must be 'static' or 'global', not {linkage!r}")
        self.graph.add_node(name, kind="function", role=linkage)

    def add_call(self, caller: str, callee: str, *, insn: int, via: str = "call", async_kind: str | None = None,
                 helper: str = "", args: tuple[Value, ...] = (), regions: tuple = NO_REGIONS,
                 seen: frozenset[str] = frozenset()) -> None:
        """A call (``via="call"``) or a callback registration (``"sync_cb"``, ``"async_cb"``).

        ``args`` are the callee's r1..r5 as seen by the caller, ``regions`` the regions the
        caller has entered there (relative to its own entry), ``seen`` what it may have called
        before (``"kfunc:NAME"``, ``"call:FN"``).
        """
        if via not in ("call", "sync_cb", "async_cb"):
            raise ValueError(f"via must be call, sync_cb or async_cb, not {via!r}")
        if via == "async_cb" and async_kind not in ASYNC_KINDS:
            raise ValueError(f"async_kind must be one of {', '.join(ASYNC_KINDS)}, not {async_kind!r}")
        for n in (caller, callee):
            if n not in self.graph:
                raise KeyError(f"no function {n!r} in the graph; add it first")
        self._summaries = None
        data = dict(via=via, async_kind=async_kind, helper=helper, args=_pad(args), regions=tuple(regions),
                    seen=frozenset(seen), insn=insn)
        if any(d == data for d in (self.graph.get_edge_data(caller, callee) or {}).values()):
            return
        self.graph.add_edge(caller, callee, **data)

    def add_site(self, function: str, insn: int, kfunc: str, *, args: tuple[Value, ...] = (),
                 regions: tuple = NO_REGIONS, seen: frozenset[str] = frozenset(),
                 line: tuple[str, int] | None = None, dispatched: bool = False, symbol: str | None = None,
                 weak: bool = False) -> str:
        """A kfunc call site in ``function``; returns the site node's id (``function@insn``).

        ``kfunc`` is the kernel name the loader resolves (``symbol``, the extern as written,
        may carry a ``___flavour`` suffix; ``weak``: declared ``__weak``). Adding the same
        instruction again adds one more *path variant* (the arguments, regions and earlier
        calls on another set of paths to it, ``dispatched``: an insert certainly ran before).
        """
        if function not in self.graph:
            raise KeyError(f"no function {function!r} in the graph; add it first")
        self._summaries = None
        node = f"{function}@{insn}"
        variant = SiteVariant(_pad(args), tuple(regions), frozenset(seen), dispatched)
        if node in self.graph:
            d = self.graph.nodes[node]
            if variant not in d["variants"]:
                d["variants"] = d["variants"] + (variant,)
            return node
        self.graph.add_node(node, kind="site", function=function, insn=insn, kfunc=kfunc, args=variant.args,
                            regions=variant.regions, seen=variant.seen, line=line, variants=(variant,),
                            symbol=symbol or kfunc, weak=weak)
        self.graph.add_edge(function, node, key=insn, via="site")
        return node

    # ------------------------------------------------------------------ reading
    def functions(self) -> list[str]:
        return [n for n, d in self.graph.nodes(data=True) if d["kind"] == "function"]

    def entries(self) -> list[str]:
        return [n for n, d in self.graph.nodes(data=True) if d.get("role") == "entry"]

    def sites(self, function: str | None = None) -> list[str]:
        return [n for n, d in self.graph.nodes(data=True)
                if d["kind"] == "site" and (function is None or d["function"] == function)]

    def node(self, name: str) -> dict:
        return self.graph.nodes[name]

    def calls(self, function: str):
        """(callee, edge data) of every call and callback edge out of ``function``."""
        for _, callee, data in self.graph.out_edges(function, data=True):
            if data["via"] != "site":
                yield callee, data

    def summary(self, function: str) -> frozenset[str]:
        """Every kfunc ``function`` may call before it returns (through calls and sync callbacks)."""
        cache = self.__dict__.get("_summaries")
        if cache is None:   # built once; adding a call or a site drops it
            sub = nx.DiGraph((u, v) for u, v, d in self.graph.edges(data=True)
                             if d["via"] in ("call", "sync_cb", "site"))
            cache = self._summaries = (sub, {})
        sub, done = cache
        if function not in done:
            reach = (nx.descendants(sub, function) if function in sub else set()) | {function}
            done[function] = frozenset(self.graph.nodes[n]["kfunc"] for n in reach
                                       if self.graph.nodes[n]["kind"] == "site")
        return done[function]


@dataclass(frozen=True)
class SiteVariant:
    """One set of paths to a call instruction: what they agree on there."""

    args: tuple
    regions: tuple
    seen: frozenset
    dispatched: bool = False


def _pad(args: tuple) -> tuple:
    return tuple(args[:5]) + (TOP,) * (5 - min(5, len(args)))


# ---------------------------------------------------------------------- propagation

@dataclass(frozen=True)
class Reach:
    """One context that can reach a function.

    ``kind`` is where the verifier sees the code (``view.subprog``: main, static, global,
    sync_cb, async_cb); ``view_regions`` the regions the verifier knows are active at the
    function's entry and ``run_regions`` those really active at run time (they differ in
    global subprograms); ``args`` the function's r1..r5; ``seen`` the kfuncs that may already
    have run in this invocation; ``outer`` the op this program runs nested in (None: top level).
    """

    entry: str
    kind: str
    async_kind: str | None
    view_regions: tuple
    run_regions: tuple
    args: tuple[Value, ...]
    seen: frozenset[str]
    outer: str | None = None
    path: tuple[str, ...] = field(default=(), compare=False)

    def describe(self) -> str:
        steps = " -> ".join(self.path) if self.path else self.entry
        bits = [self.kind]
        if self.async_kind:
            bits.append(f"{self.async_kind} callback")
        if self.outer:
            bits.append(f"nested in {self.outer}")
        return f"{steps} ({', '.join(bits)})"


def _add(a: tuple, b: tuple) -> tuple:
    return tuple(None if x is None or y is None else x + y for x, y in zip(a, b))


def reaching_contexts(graph: ProgramGraph, nested: Callable[[str], Iterable[str]] | None = None,
                      limit: int = 256) -> dict[str, list[Reach]]:
    """Every context that can reach each function (see the module docstring for the rules).

    ``nested(program)`` names the ops the program's op can run nested inside; each gives one
    more entry context. At most ``limit`` contexts are kept per function (a note says so).
    """
    out: dict[str, dict[Reach, Reach]] = {f: {} for f in graph.functions()}
    work: list[tuple[str, Reach]] = []
    for e in graph.entries():
        outers = [None] + list(nested(e) if nested else [])
        for outer in outers:
            r = Reach(e, "main", None, NO_REGIONS, NO_REGIONS, (Ctx(),) + (TOP,) * 4, frozenset(), outer, (e,))
            work.append((e, r))
    summaries: dict[str, frozenset[str]] = {}

    def summary(fn: str) -> frozenset[str]:
        if fn not in summaries:
            summaries[fn] = graph.summary(fn)
        return summaries[fn]

    def expand(tags: frozenset[str]) -> frozenset[str]:
        names: set[str] = set()
        for t in tags:
            kind, _, name = t.partition(":")
            if kind == "kfunc":
                names.add(name)
            elif kind == "call" and name in graph.graph:
                names |= summary(name)
        return frozenset(names)

    while work:
        fn, r = work.pop()
        known = out[fn]
        if r in known:
            continue
        if len(known) >= limit:
            graph.notes.append(f"{fn}: more than {limit} reaching contexts; the rest are not checked")
            continue
        known[r] = r
        for callee, e in graph.calls(fn):
            args = tuple(resolve(a, r.args) for a in e["args"])
            view = _add(r.view_regions, e["regions"])
            run = _add(r.run_regions, e["regions"])
            seen = r.seen | expand(e["seen"])
            path = r.path + (callee,)
            via = e["via"]
            if via == "call":
                role = graph.node(callee)["role"]
                if role == "global":
                    nr = Reach(r.entry, "global", r.async_kind, NO_REGIONS, run, args, seen, r.outer, path)
                else:
                    kind = "static" if r.kind == "main" else r.kind
                    nr = Reach(r.entry, kind, r.async_kind, view, run, args, seen, r.outer, path)
            elif via == "sync_cb":
                kind = "async_cb" if r.kind == "async_cb" else "sync_cb"
                nr = Reach(r.entry, kind, r.async_kind, view, run, args, seen | summary(callee), r.outer, path)
            else:
                nr = Reach(r.entry, "async_cb", e["async_kind"], NO_REGIONS, NO_REGIONS, (TOP,) * 5,
                           frozenset(), None, path)
            work.append((callee, nr))
    return {f: list(v) for f, v in out.items()}


@dataclass(frozen=True)
class SiteContext:
    """A kfunc call site in one reaching context: everything checkprog turns into facts."""

    site: str
    kfunc: str
    reach: Reach
    args: tuple[Value, ...]           # resolved r1..r5
    view_regions: tuple               # absolute, as the verifier sees them (None: unknown)
    run_regions: tuple                # absolute, at run time
    seen: frozenset[str]              # kfuncs that may have run before in this invocation
    dispatched: bool = False          # an insert certainly ran before on these paths of the function


def site_contexts(graph: ProgramGraph, reaches: dict[str, list[Reach]]) -> dict[str, list[SiteContext]]:
    """For each site: one :class:`SiteContext` per reaching context of its function and path
    variant of the site (identical ones once)."""
    out: dict[str, list[SiteContext]] = {}
    summaries: dict[str, frozenset[str]] = {}
    for site in graph.sites():
        d = graph.node(site)
        fn = d["function"]
        rows: dict[SiteContext, None] = {}
        for v in d.get("variants", (SiteVariant(d["args"], d["regions"], d["seen"]),)):
            local: set[str] = set()
            for t in v.seen:
                kind, _, name = t.partition(":")
                if kind == "kfunc":
                    local.add(name)
                elif kind == "call" and name in graph.graph:
                    if name not in summaries:
                        summaries[name] = graph.summary(name)
                    local |= summaries[name]
            for r in reaches.get(fn, []):
                rows[SiteContext(site, d["kfunc"], r, tuple(resolve(a, r.args) for a in v.args),
                                 _add(r.view_regions, v.regions), _add(r.run_regions, v.regions),
                                 frozenset(r.seen | local), v.dispatched)] = None
        out[site] = list(rows)
    return out


# ---------------------------------------------------------------------- from a compiled object

def from_object(obj, *, ksym_present: Callable[[str], bool | None] = lambda name: None,
                counted: frozenset[str] = frozenset()) -> ProgramGraph:
    """The call graph of a :class:`~polykfunc.programs.elf.BpfObject`.

    Every function is analysed once (:func:`~polykfunc.programs.dataflow.analyse`); kfunc calls
    become sites, subprogram calls ``call`` edges, and function addresses passed to the
    callback helpers and kfuncs of :data:`CALLBACK_HELPERS` / :data:`CALLBACK_KFUNCS` become
    callback edges. An address taken and used otherwise is treated as an asynchronous callback
    of unknown kind (a note says so).

    ``ksym_present(name)`` says whether the kernel checked against has a kfunc: branches on
    ``bpf_ksym_exists()`` then follow the alternative that kernel keeps; calls to ``counted``
    kfuncs (the inserts) are counted per path (:attr:`SiteContext.dispatched`).
    """
    g = ProgramGraph()
    g.notes.extend(obj.notes)
    analyses = _analyses_of(obj)
    for name, fn in obj.functions.items():
        if fn.is_entry:
            p = obj.programs[name]
            g.add_program(name, p.prog_type, member=p.member, st_ops=p.st_ops, sleepable=p.sleepable,
                          section=p.section)
            if p.prog_type is None:
                g.notes.append(f"{name}: section {p.section!r} names no program type polykfunc knows")
        else:
            g.add_function(name, fn.linkage)
    for name, fn in obj.functions.items():
        def classify(insn, fn=fn):
            t = obj.call_target(fn, insn)
            return t.kind, t.name
        def ksym_of(insn, fn=fn):
            t = obj.ksym_address(fn, insn)
            return (t.name, t.symbol) if t else None
        # the analysis depends on the kernel only through the externs the function tests
        tested, called = function_externs(obj, name, fn)
        key = (name, counted & called, tuple(ksym_present(n) for n in tested))
        facts = analyses.get(key)
        if facts is None:
            facts = analyses[key] = analyse(name, fn.insns, classify, lambda insn, fn=fn: obj.function_address(fn, insn),
                                            ksym_of=ksym_of, ksym_present=ksym_present, counted=counted,
                                            data_of=lambda insn, fn=fn: obj.data_address(fn, insn))
        by_idx = {i.idx: i for i in fn.insns}
        for c in facts.calls:
            if c.kind == "kfunc":
                t = obj.call_target(fn, by_idx[c.insn])
                g.add_site(name, c.insn, c.target, args=c.args, regions=c.regions, seen=c.seen,
                           line=obj.line_of(fn, c.insn), dispatched=c.dispatched, symbol=t.symbol or t.name,
                           weak=t.weak)
                cb = CALLBACK_KFUNCS.get(c.target)
                if cb:
                    _callback(g, name, c, cb[0], cb[1], c.target, {})
            elif c.kind == "subprog":
                g.add_call(name, c.target, insn=c.insn, args=c.args, regions=c.regions, seen=c.seen)
            elif c.kind == "helper" and c.target.isdigit() and int(c.target) in CALLBACK_HELPERS:
                hname, reg, kind, remap = CALLBACK_HELPERS[int(c.target)]
                _callback(g, name, c, reg, kind, hname, remap)
            elif c.kind == "unknown":
                g.notes.append(f"{name}: the call at instruction {c.insn} goes to {c.target}, which is not a function")
        for idx in facts.unreached:
            t = obj.call_target(fn, by_idx[idx])
            if t.kind == "kfunc":
                node = g.add_site(name, idx, t.name, line=obj.line_of(fn, idx), symbol=t.symbol, weak=t.weak)
                g.node(node)["dead"] = True
        for insn, target in dict.fromkeys(facts.address_taken):
            g.notes.append(f"{name}: the address of {target} is taken at instruction {insn} and not passed to a "
                           "callback helper polykfunc knows; it is checked as an async callback of unknown kind")
            g.add_call(name, target, insn=insn, via="async_cb", async_kind="unknown", helper="(address taken)")
    return g


_ANALYSES: dict[int, tuple[object, dict]] = {}


def _analyses_of(obj) -> dict:
    """The per-function analyses of ``obj`` already made (for other kernels' symbols): reading
    the object again for another kernel re-analyses only the functions whose tested externs
    that kernel resolves differently."""
    hit = _ANALYSES.get(id(obj))
    if hit is None or hit[0] is not obj:
        if len(_ANALYSES) >= 4:
            _ANALYSES.clear()
        hit = _ANALYSES[id(obj)] = (obj, {})
    return hit[1]


def function_externs(obj, name: str, fn) -> tuple[tuple[str, ...], frozenset[str]]:
    """The extern kfuncs whose address the function loads (``bpf_ksym_exists()``), in order,
    and the kfuncs it calls."""
    cache = _analyses_of(obj)
    key = ("externs", name)
    if key not in cache:
        found = [obj.ksym_address(fn, i) for i in fn.insns if i.is_ld_imm64]
        calls = [obj.call_target(fn, i) for i in fn.insns if i.is_call]
        cache[key] = (tuple(dict.fromkeys(t.name for t in found if t is not None)),
                      frozenset(t.name for t in calls if t.kind == "kfunc"))
    return cache[key]


def _callback(g: ProgramGraph, caller: str, c, reg: int, kind: str, helper: str, remap: dict[int, int]) -> None:
    target = c.args[reg - 1]
    if not isinstance(target, FuncAddr):
        g.notes.append(f"{caller}: {helper} at instruction {c.insn} gets a callback polykfunc cannot identify")
        return
    args = tuple(frame_at(c.args[remap[i] - 1], c.stack) if i in remap else TOP for i in range(1, 6))
    if kind == "sync":
        g.add_call(caller, target.name, insn=c.insn, via="sync_cb", helper=helper, args=args,
                   regions=c.regions, seen=c.seen)
    else:
        g.add_call(caller, target.name, insn=c.insn, via="async_cb", async_kind=kind, helper=helper)
