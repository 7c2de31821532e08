"""A mailing-list-ready report for one open finding (``polykfunc cex export ID --report``).

Sections: title, affected versions, how a program reaches it, the minimal counterexample (from
the prover, replayed on the model), the reproducer (C and instructions), what the oracle showed
on the running kernel (or why it cannot show it), a suggested fix, and the fixed model: the fix
applied to a copy of the model and what ``prove`` answered for the finding's obligation (or,
when no fix can be derived mechanically, that nothing was proved).
"""

from __future__ import annotations

from .contexts import context
from .inventory import Inventory
from .listing import c_source, disassemble
from .program import build
from .reproduce import (ADMITTED, DIFFERS, KFUNC_ABSENT, NO_POSITION, NOT_OBSERVABLE, REFUTED, SHOWN, Finding,
                        Reproduction)


def minimal_counterexample(finding: Finding):
    """The prover's counterexample for the finding (None when the model no longer shows it)."""
    from polykfunc.engine.prover import prove_model
    report = prove_model(finding.model, properties=[finding.bug.property])
    for r in report.results:
        for c in r.counterexamples:
            if c.known_bug == finding.bug.id:
                return c
    return None


def program_text(finding: Finding, rep: Reproduction, inv: Inventory) -> str:
    """The reproducer: C source and the instruction listing the oracle loaded (best position)."""
    best = rep.best
    k = inv.kfunc(finding.bug.kfunc)
    if best is None or k is None:
        return f"/* no reproducer program: {rep.summary} */\n"
    pos = best.observation.position
    ctx = context(pos.context)
    built = build(inv, k, pos.region, pos.subprog, ctx.ctx_structs)
    head = (f"/* polykfunc oracle reproducer for {finding.bug.id} ({finding.model.name})\n"
            f" * program: {ctx.name} (prog_type {ctx.prog_type}, expected_attach_type {ctx.attach_type}"
            f"{', sleepable' if ctx.sleepable else ''}), position: {pos}\n"
            f" * probed call at insn {built.call_insn}\n * {rep.summary}\n */\n")
    listing = "\n".join(" * " + ln for ln in disassemble(built.insns, inv))
    return head + c_source(k, ctx, pos.region, pos.subprog) + "\n/* instructions loaded:\n" + listing + "\n */\n"


def _fix(finding: Finding) -> str:
    bug, model = finding.bug, finding.model
    k = model.kfunc(bug.kfunc)
    if bug.property == "safety" and bug.impl:
        reqs = "; ".join(f.label for f in k.impl(bug.impl).requires) or "its preconditions"
        return (f"Make the resolution of {bug.kfunc} in this context choose an implementation whose "
                f"preconditions hold, or reject the program at load: `{bug.impl}` requires {reqs}. "
                "Where the verifier cannot see the state that decides it (a global subprogram's caller, "
                "a second call site of the same descriptor), decide per call site from what the verifier "
                "does see, or fall back to the implementation that is safe everywhere.")
    if bug.property == "visibility":
        return (f"The state that decides which variant of {bug.kfunc} is safe is not visible at load "
                "time; have the kfunc learn it at run time (e.g. check the lock state) instead of "
                "choosing by program or hook.")
    return f"Bring {bug.kfunc}'s registration/filters in line with its contract (see the counterexample)."


def report_markdown(finding: Finding, rep: Reproduction, inv: Inventory, with_counterexample: bool = True) -> str:
    """The whole report as Markdown / plain text fit for a mail body."""
    bug, model = finding.bug, finding.model
    ctx = model.context(bug.context) if bug.context else None
    lines = [f"Subject: [BUG] {bug.kfunc}: {bug.title}", "",
             "## Affected versions", "",
             f"- Read from the model `{model.name}`, which describes {model.kernel}"
             + (f" at commit {model.commit}" if model.commit else "") + f"; source: {bug.source}.",
             "- No upstream fix known (the model declares no `fixed_by`).", ""]
    lines += ["## How a program reaches it", ""]
    if ctx is not None:
        lines.append(f"Context `{ctx.name}`: {ctx.doc} [{ctx.source}]")
        for c in ctx.cases:
            lines.append(f"- case: {c.name}")
    else:
        lines.append("Any context in which the kfunc loads: the finding is about what no load-time choice can see.")
    lines += ["", "## Minimal counterexample (polykfunc, replayed on the model)", ""]
    c = minimal_counterexample(finding) if with_counterexample else None
    if c is None:
        lines.append("(not recomputed)" if not with_counterexample else
                     "The model no longer produces this counterexample.")
    else:
        lines += [f"{c.summary}", "", f"- context: {c.context}" + (f" / {c.case}" if c.case else ""),
                  f"- outcome: {c.outcome}" + (f" (rule: {c.rule})" if c.rule else ""),
                  f"- violated: {'; '.join(c.violated)}",
                  f"- state: {', '.join(f'{k}={v}' for k, v in c.values if k in c.relevant)}"]
    lines += ["", "## Reproducer", "", "```c", program_text(finding, rep, inv).rstrip(), "```", ""]
    lines += ["## What the running kernel's verifier showed", ""]
    lines.append(rep.summary + ".")
    explain = {
        SHOWN: "The load-time half of the finding holds on this kernel: the verifier accepts the program "
               "and picks the variant the finding names. (Nothing was run: the run-time half is the model's.)",
        DIFFERS: "The verifier accepts the program but resolves the call to another symbol than the finding's variant.",
        REFUTED: "This kernel rejects the program, which refutes the finding's load-time half on this kernel "
                 "(it may still hold on the model's kernel).",
        ADMITTED: "The call passes registration; the minimal program fails on its arguments, so the variant "
                  "could not be read back.",
        NOT_OBSERVABLE: "This kernel cannot show the finding (the line above says why: the program type is "
                        "refused before verification, or a restriction of this kernel removes the kfunc); "
                        f"it applies to {model.kernel}"
                        + (f" ({model.commit})" if model.commit else "") + ".",
        KFUNC_ABSENT: f"This kernel does not have {bug.kfunc}; the finding applies to {model.kernel}"
                      + (f" ({model.commit})" if model.commit else "") + ".",
        NO_POSITION: "The oracle cannot build this program (a struct_ops member, or two call sites of one kfunc); "
                     f"the finding applies to {model.kernel}.",
    }[rep.status]
    lines.append(explain)
    for pr in rep.results:
        lines.append(f"- {pr.observation.position}: {pr.status} ({pr.observation.resolved or pr.observation.verdict.line})")
    lines += ["", "## Suggested fix", "", _fix(finding), ""]
    lines += fixed_model_section(finding)
    return "\n".join(lines)


def fixed_model_section(finding: Finding) -> list[str]:
    """The fixed model proving clean (or not): the suggested fix applied to a copy of the model
    and what ``prove`` answered for the finding's obligation (:mod:`polykfunc.oracle.fixed`)."""
    from .fixed import check_fix
    chk = check_fix(finding.model, finding.bug)
    lines = ["## Fixed model", ""]
    if chk.fix is not None:
        lines += [f"The suggested fix, applied to a copy of `{finding.model.name}` (one rule, first among "
                  f"the resolve rules of `{chk.fix.kfunc}`; a proposal, not kernel code):", "",
                  "```toml", chk.fix.toml.rstrip(), "```", ""]
    lines.append(f"**{chk.status.replace('_', ' ')}.** {chk.text}")
    lines += [f"- {r}" for r in chk.remaining]
    lines.append("")
    return lines


def finding_export(ident: str, store_dir, what: str) -> str:
    """``cex export ID --report`` / ``--program``: ID is an open finding's id (a known bug with no
    fixed_by) or a stored counterexample of one. Delegates to :mod:`polykfunc.oracle`."""
    from polykfunc.errors import UsageError
    from polykfunc.oracle.reproduce import find, open_findings
    finding = find(ident)
    if finding is None:
        from polykfunc.counterexamples.store import Store, StoreError
        try:
            entry = Store(store_dir).get(ident)
        except (StoreError, KeyError, ValueError):
            entry = None
        bug = entry.counterexample.known_bug if entry is not None else None
        finding = find(bug) if bug else None
    if finding is None:
        ids = ", ".join(f.bug.id for f in open_findings())
        raise UsageError(f"{ident}: neither an open finding nor a stored counterexample of one (open findings: {ids})")
    from polykfunc.oracle.inventory import read_inventory
    from polykfunc.oracle.reproduce import Reproduction, reproduce
    from polykfunc.oracle.syscall import permission_problem
    inv = read_inventory()
    why = permission_problem()
    if why is None:
        rep = reproduce(finding, inv)
    else:
        rep = Reproduction(finding.bug.id, finding.model.name, finding.bug.kfunc, "not_observable",
                           f"not loaded: {why}", inv.release)
    if what == "program":
        return program_text(finding, rep, inv)
    return report_markdown(finding, rep, inv)
