"""Run probes: every kfunc in every position, in a worker pool, one observation each.

A position is (program context, region, function kind); :func:`positions` lists them.
:func:`probe` loads one program (and, when its position needs them, a program BTF and a timer
map), classifies the verifier's answer, and for a loaded program reads back which symbol the
probed call was fixed up to. Every fd is closed before :func:`probe` returns.
"""

from __future__ import annotations

import contextlib
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from . import classify as cls
from . import program, readback, syscall
from .contexts import CONTEXTS, ProgContext, context
from .inventory import Inventory, KernelKfunc


@dataclass(frozen=True)
class Position:
    """Where a probe calls its kfunc."""

    context: str
    region: str = "none"
    subprog: str = "main"

    def __str__(self) -> str:
        parts = [self.context]
        if self.subprog != "main":
            parts.append(self.subprog)
        if self.region != "none":
            parts.append(f"in {self.region}")
        return " ".join(parts)


@dataclass(frozen=True)
class Observation:
    """What the running kernel did with one probe.

    ``resolved`` is the symbol the call was fixed up to (loaded probes only): the kfunc's own
    name, a specialization (``bpf_dynptr_from_skb_rdonly``), ``"inlined"`` when fixup replaced
    the call by instructions, or None when it could not be read.
    """

    kfunc: str
    position: Position
    verdict: cls.Verdict
    resolved: str | None = None

    @property
    def outcome(self) -> str:
        return self.verdict.outcome


def positions(contexts: tuple[ProgContext, ...] = CONTEXTS) -> list[Position]:
    """Every position probed: per context, the body, a static and a global subprogram, each
    outside and inside every region, and a bpf_timer callback."""
    out = []
    for c in contexts:
        for sub in ("main", "static", "global"):
            for region in program.REGIONS:
                out.append(Position(c.name, region, sub))
        out.append(Position(c.name, "none", "timer_cb"))
    return out


def _resolved(prog_fd: int, code: bytes, call_insn: int) -> str | None:
    try:
        x = syscall.xlated_insns(prog_fd)
    except syscall.BpfUnavailable:
        return None
    return readback.probed_call(code, x, call_insn)


def probe(inv: Inventory, k: KernelKfunc, pos: Position) -> Observation:
    """Load the probe of ``k`` at ``pos`` and classify the answer (see module doc)."""
    ctx = context(pos.context)
    try:
        built = program.build(inv, k, pos.region, pos.subprog, ctx.ctx_structs)
    except KeyError as e:
        return Observation(k.name, pos, cls.Verdict(cls.SETUP_REJECTED, f"this kernel has no {e.args[0]}"))
    attach_id = inv.attach_ids.get(ctx.attach_to, 0) if ctx.attach_to else 0
    if ctx.attach_to and not attach_id:
        return Observation(k.name, pos, cls.Verdict(cls.SETUP_REJECTED, f"this kernel has no {ctx.attach_to}"))
    with contextlib.ExitStack() as fds:
        btf_fd = 0
        code = built.insns
        if built.prog_btf:
            b = fds.enter_context(syscall.load_btf(built.prog_btf))
            if not b.loaded:
                return Observation(k.name, pos, cls.Verdict(cls.SETUP_REJECTED, f"program BTF refused: {b.log.strip()}"))
            btf_fd = b.fd
        if built.needs_timer_map:
            blob, key_id, value_id = program.timer_map_btf()
            mb = fds.enter_context(syscall.load_btf(blob))
            m = fds.enter_context(syscall.create_map(syscall.BPF_MAP_TYPE_ARRAY, 4, 16, 1, mb.fd, key_id, value_id)) \
                if mb.loaded else None
            if m is None or not m.loaded:
                return Observation(k.name, pos, cls.Verdict(cls.SETUP_REJECTED, "the timer map could not be created"))
            code = built.with_map_fd(m.fd)
        req = syscall.ProgLoad(ctx.prog_type, code, ctx.attach_type, attach_id, ctx.sleepable,
                               btf_fd, built.func_info_bytes)
        with syscall.load_program(req) as ans:
            verdict = cls.classify(ans.loaded, ans.errno, ans.log, built.call_insn)
            resolved = _resolved(ans.fd, code, built.call_insn) if ans.loaded else None
    return Observation(k.name, pos, verdict, resolved)


# ------------------------------------------------------------------ the pool

_INV: Inventory | None = None


def _init(inv: Inventory) -> None:
    global _INV
    _INV = inv


def _probe_kfunc(args: tuple[str, tuple[Position, ...]]) -> list[Observation]:
    name, poss = args
    assert _INV is not None
    k = _INV.kfunc(name)
    assert k is not None
    return [probe(_INV, k, p) for p in poss]


@dataclass(frozen=True)
class OracleRun:
    """The kernel's kfunc x position matrix."""

    release: str
    kfuncs: tuple[KernelKfunc, ...]
    positions: tuple[Position, ...]
    observations: tuple[Observation, ...]
    seconds: float
    modules_unread: tuple[str, ...] = ()

    def cell(self, kfunc: str, pos: Position) -> Observation | None:
        for o in self.observations:
            if o.kfunc == kfunc and o.position == pos:
                return o
        return None


def run(inv: Inventory, kfuncs: tuple[str, ...] | None = None,
        contexts: tuple[ProgContext, ...] = CONTEXTS, jobs: int | None = None) -> OracleRun:
    """Probe ``kfuncs`` (default: every kfunc of ``inv``) in every position of ``contexts``.

    ``jobs`` worker processes (default: the CPUs); 1 runs in this process.
    """
    start = time.monotonic()
    names = tuple(kfuncs) if kfuncs is not None else inv.names
    poss = tuple(positions(contexts))
    tasks = [(n, poss) for n in names]
    jobs = jobs or os.cpu_count() or 1
    if jobs == 1 or len(tasks) == 1:
        _init(inv)
        results = [_probe_kfunc(t) for t in tasks]
    else:
        with ProcessPoolExecutor(max_workers=jobs, initializer=_init, initargs=(inv,)) as pool:
            results = list(pool.map(_probe_kfunc, tasks, chunksize=4))
    obs = tuple(o for chunk in results for o in chunk)
    chosen = tuple(k for k in inv.kfuncs if k.name in set(names))
    return OracleRun(inv.release, chosen, poss, obs, time.monotonic() - start, inv.modules_unread)
