"""The oracle's results as text and JSON: the kfunc x context matrix, a comparison, reproductions."""

from __future__ import annotations

from collections import defaultdict

from . import classify as cls
from .compare import Comparison
from .reproduce import Reproduction
from .runner import OracleRun

SHORT = {cls.ACCEPTED: "accepted", cls.ARGS_REJECTED: "admitted", cls.REJECTED_AFTER_CALL: "admitted",
         cls.NOT_ALLOWED: "not allowed", cls.NEEDS_SLEEPABLE: "needs sleepable",
         cls.SLEEPABLE_IN_REGION: "sleeps in region", cls.GLOBAL_SLEEPS_IN_REGION: "global sleeps in region",
         cls.NEEDS_RCU: "needs RCU", cls.NOT_OBSERVABLE: "not observable", cls.SETUP_REJECTED: "no such position",
         cls.REJECTED_OTHER: "rejected"}


def run_json(run: OracleRun) -> dict:
    """The matrix as plain data (the ``--json`` output)."""
    cells = defaultdict(list)
    for o in run.observations:
        cells[o.kfunc].append({"context": o.position.context, "region": o.position.region,
                               "subprog": o.position.subprog, "outcome": o.outcome,
                               "line": o.verdict.line, "insn": o.verdict.insn, "resolved": o.resolved})
    return {
        "kernel": run.release, "probes": len(run.observations), "seconds": round(run.seconds, 2),
        "classes": cls.MEANING, "modules_unread": list(run.modules_unread),
        "kfuncs": [{"name": k.name, "btf_id": k.btf_id, "module": k.module, "prototype": k.prototype,
                    "cells": cells[k.name]} for k in run.kfuncs],
    }


def run_text(run: OracleRun, verbose: bool = False) -> list[str]:
    """Per kfunc: the contexts grouped by what the body call got, the specializations read back,
    and the positions (subprogram, region) whose answer differs from the body's."""
    lines = [f"Linux {run.release}: {len(run.kfuncs)} bpf_kfunc-tagged functions, "
             f"{len(run.observations)} probes in {run.seconds:.1f} s"]
    if run.modules_unread:
        lines.append(f"  module BTF not read (split BTF): {', '.join(run.modules_unread)}")
    by_kfunc = defaultdict(list)
    for o in run.observations:
        by_kfunc[o.kfunc].append(o)
    for k in run.kfuncs:
        obs = by_kfunc[k.name]
        lines.append("")
        lines.append(k.prototype)
        body = {o.position.context: o for o in obs if o.position.subprog == "main" and o.position.region == "none"}
        groups = defaultdict(list)
        for ctx, o in body.items():
            label = SHORT.get(o.outcome, o.outcome)
            if o.outcome == cls.ACCEPTED and o.resolved and o.resolved != k.name:
                label += f" -> {o.resolved}"
            groups[label].append(ctx)
        for label, ctxs in groups.items():
            lines.append(f"  {label:<18} {', '.join(ctxs)}")
        deviations = defaultdict(list)
        for o in obs:
            b = body.get(o.position.context)
            if o is b or b is None or (o.outcome == b.outcome and o.resolved == b.resolved):
                continue
            if not verbose and o.outcome == cls.SETUP_REJECTED:
                continue
            where = o.position.subprog if o.position.region == "none" else \
                f"{o.position.subprog} in {o.position.region}"
            deviations[(where, SHORT.get(o.outcome, o.outcome))].append(o.position.context)
        for (where, label), ctxs in sorted(deviations.items()):
            lines.append(f"    {where:<16} {label:<18} {', '.join(ctxs)}")
    return lines


def comparison_json(c: Comparison) -> dict:
    return {
        "model": c.model, "model_kernel": c.model_kernel, "kernel": c.release, "skew": c.skew,
        "agreements": c.agreements, "unobservable": c.unobservable, "absent_kfuncs": list(c.absent_kfuncs),
        "unexplained": len(c.unexplained),
        "restrictions": [{"name": r.name, "source_file": r.source_file, "reason": r.reason,
                          "evidence": list(r.evidence)} for r in c.restrictions],
        "differences": [{"kfunc": d.kfunc, "context": d.position.context, "region": d.position.region,
                         "subprog": d.position.subprog, "kind": d.kind, "kernel": d.kernel,
                         "kernel_line": d.kernel_line, "model": d.model, "model_rule": d.model_rule,
                         "skew": d.skew, "local": d.local} for d in c.differences],
    }


def comparison_text(c: Comparison) -> list[str]:
    """The differences, grouped by (kfunc, kind, kernel answer, model answer) with their positions."""
    head = f"{c.model} (describes {c.model_kernel}) against Linux {c.release}"
    lines = [head, f"  {c.agreements} cells agree, {len(c.disagreements)} disagree "
                   f"({len(c.local_explained)} explained by a restriction of this kernel, "
                   f"{len(c.unexplained)} by neither that nor version skew), "
                   f"{sum(d.kind == 'undetermined' for d in c.differences)} undetermined by the model, "
                   f"{sum(d.kind == 'not_modelled' for d in c.differences)} not modelled, "
                   f"{c.unobservable} not observable on this kernel"]
    if c.skew:
        lines.append(f"  VERSION SKEW: the model describes {c.model_kernel}, not {c.release}; "
                     "every difference below is labelled [skew] and may be right for the model's kernel")
    for r in c.restrictions:
        lines.append(f"  LOCAL RESTRICTION {r.name}: {r.reason}")
        lines.extend(f"    evidence: {e}" for e in r.evidence)
    if c.absent_kfuncs:
        lines.append(f"  not in this kernel: {', '.join(c.absent_kfuncs)}")
    groups = defaultdict(list)
    for d in c.differences:
        groups[(d.kind, d.kfunc, d.kernel, d.kernel_line, d.model, d.model_rule, d.local)].append(d)
    order = {"admission": 0, "variant": 1, "undetermined": 2, "not_modelled": 3}
    for (kind, kfunc, kernel, line, model, rule, local), ds in sorted(groups.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        tag = (" [local]" if local else "") + (" [skew]" if ds[0].skew else "")
        where = positions_text([d.position for d in ds])
        lines.append("")
        lines.append(f"  {kind.upper()}{tag}  {kfunc}  at {where}")
        lines.append(f"    kernel  {kernel}" + (f": {line}" if line else ""))
        lines.append(f"    model   {model}")
        lines.append(f"    rule    {rule}")
        if local:
            lines.append(f"    why     {local}")
    return lines


def positions_text(poss) -> str:
    """Positions grouped by context: ``sk_skb (every position)``, ``tc (global in rcu, main)``."""
    from .runner import positions
    from .contexts import context
    by_ctx = defaultdict(list)
    for p in poss:
        by_ctx[p.context].append(p)
    parts = []
    for ctx, ps in by_ctx.items():
        total = len(positions((context(ctx),)))
        if len(set(ps)) == total:
            parts.append(f"{ctx} (every position)")
        else:
            names = [" ".join(str(p).split(" ")[1:]) or "main" for p in dict.fromkeys(ps)]
            parts.append(f"{ctx} ({', '.join(names)})")
    return "; ".join(parts)


def reproduction_text(r: Reproduction) -> list[str]:
    lines = [f"{r.finding} ({r.model}): {r.status}", f"  {r.summary}"]
    for pr in r.results:
        lines.append(f"    {str(pr.observation.position):<32} {pr.status:<15} "
                     f"{pr.observation.resolved or pr.observation.verdict.line}")
    return lines


def reproduction_json(r: Reproduction) -> dict:
    return {"finding": r.finding, "model": r.model, "kfunc": r.kfunc, "status": r.status,
            "summary": r.summary, "kernel": r.release,
            "positions": [{"context": p.observation.position.context, "region": p.observation.position.region,
                           "subprog": p.observation.position.subprog, "status": p.status,
                           "outcome": p.observation.outcome, "line": p.observation.verdict.line,
                           "resolved": p.observation.resolved} for p in r.results]}
