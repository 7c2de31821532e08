"""Check every kfunc call site of a program, in every context that reaches it, against a model.

For each (site, reaching context) the site's facts (:mod:`~polykfunc.programs.sitefacts`) are
added to the model's runtime premise and decided with z3, with the same obligations and the
same replayed counterexamples as ``polykfunc prove``:

- **safety**: each implementation the mechanism can select there has its preconditions;
- **coverage**: a call the contract allows gets an implementation (else the kernel refuses a
  legitimate call), and a call the contract denies is *misuse*: the kernel rejects it at load
  time, refuses it at run time, or, worst, runs an implementation anyway.

An asynchronous callback runs outside every op: when no context of the model admits the
site together with that (:data:`~polykfunc.programs.sitefacts.AFRESH`), the check adds a
context ``async:<kind>`` built from the site's own facts, so the model's ops never stand in
for code that runs later.

A polymorphic kfunc's site is also checked for **context ambiguity**: whether one
implementation is safe in all its reaching contexts (else no load-time or build-time choice
can serve the site, see :class:`SiteReport`).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace

from polykfunc.model import semantics as sem
from polykfunc.model.expr import Cmp, Const, conj, eq, int_const, neg
from polykfunc.model.spec import Context, Model, Source
from polykfunc.properties import Obligation
from polykfunc.properties.generate import runtime_premise
from polykfunc.properties.obligation import VACUITY_IS_SKIP
from polykfunc.engine.prover import _known_matcher, _wanted_vars, prove_obligation
from polykfunc.engine.results import Counterexample, Status
from polykfunc.engine.solver import DEFAULT_RLIMIT, Z3Session

from .concrete import concrete_ok
from .callgraph import ASYNC_KINDS, ProgramGraph, SiteContext, reaching_contexts, site_contexts
from .modelfacts import Stated, compile_fact, compile_facts
from .nesting import nesting_graph
from .provenance import candidates
from .sitefacts import AFRESH, SCHED_EXT_TASK_PARAMS, param_roles, site_facts
from .symbols import KernelSymbols, family_kfuncs, kernel_symbols, symbols_of, version_key

#: verdicts, with the status they count as (the worst status decides the exit code)
VERDICTS = {
    "ok": Status.PROVED, "skew ok": Status.PROVED, "not modelled": Status.NOT_APPLICABLE, "absent on this kernel": Status.NOT_APPLICABLE,
    "not reached on this kernel": Status.NOT_APPLICABLE, "no caller": Status.NOT_APPLICABLE,
    "condition": Status.NOTE, "skew condition": Status.NOTE, "known bug": Status.KNOWN,
    "unknown": Status.UNKNOWN, "rejected at load": Status.COUNTEREXAMPLE,
    "refused at run time": Status.COUNTEREXAMPLE, "misuse": Status.COUNTEREXAMPLE,
    "unsafe": Status.COUNTEREXAMPLE, "no context": Status.VACUOUS,
}
_RANK = {v: i for i, v in enumerate(VERDICTS)}

#: the first kernel whose verifier refuses a global subprogram that may sleep (it calls a
#: KF_SLEEPABLE kfunc) inside an RCU, preempt-off or IRQ-off region (kernel/bpf/verifier.c:
#: check_func_call, seen in Sep 2025 patches; the release is UNCONFIRMED, 6.18 assumed)
MIGHT_SLEEP_GLOBALS = (6, 18)


def kernel_version(model: Model) -> tuple[int, int]:
    """The model's kernel as (major, minor); models of no numbered release count as newest."""
    import re
    m = re.match(r"v?(\d+)\.(\d+)", model.kernel)
    return (int(m.group(1)), int(m.group(2))) if m else (99, 0)


@dataclass(frozen=True)
class ContextCheck:
    """One reaching context of one site: what the kernel selects there, and the verdict."""

    context: str                       # how the site is reached (Reach.describe)
    entry: str
    kind: str
    async_kind: str | None
    outer: str | None
    model_contexts: tuple[str, ...]    # the model's contexts that admit the site (async:* is added)
    outcomes: tuple[str, ...]          # implementations, "rejected at load", "refused at run time"
    verdict: str
    detail: str
    counterexamples: tuple[Counterexample, ...] = ()
    facts: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    safe: tuple[str, ...] | None = None  # implementations safe in every legitimate state (polymorphic kfuncs)
    condition: str | None = None       # verdict "condition": the fact about an argument that makes the call safe

    @property
    def status(self) -> Status:
        return VERDICTS[self.verdict]

    def to_json(self) -> dict:
        return {"context": self.context, "entry": self.entry, "kind": self.kind, "async_kind": self.async_kind,
                "outer": self.outer, "model_contexts": list(self.model_contexts), "outcomes": list(self.outcomes),
                "verdict": self.verdict, "detail": self.detail, "facts": list(self.facts),
                "dropped_facts": list(self.dropped), "safe_implementations": None if self.safe is None else
                list(self.safe), "condition": self.condition,
                "counterexamples": [c.to_json() for c in self.counterexamples]}


@dataclass(frozen=True)
class SiteReport:
    """A kfunc call site with every context that reaches it.

    ``ambiguity`` (polymorphic kfuncs): ``None`` when one implementation is safe in every
    reaching context; ``"build-time"`` when the source line needs different implementations in
    different programs (each loaded program can still be resolved); ``"load-time"`` when one
    instruction of one loaded program needs different ones (only a run-time choice serves it);
    ``"run-time"`` when even one context needs run-time state to choose.
    """

    site: str
    function: str
    insn: int
    file: str | None
    line: int | None
    kfunc: str
    contexts: tuple[ContextCheck, ...]
    ambiguity: str | None = None
    symbol: str | None = None          # the extern as written, when it differs from the kfunc (a flavour)
    alternative: "Alternative | None" = None  # absent / not reached here: the check on a kernel that keeps it

    @property
    def verdict(self) -> str:
        return max((c.verdict for c in self.contexts), key=lambda v: (VERDICTS[v], _RANK[v]), default="no caller")

    @property
    def status(self) -> Status:
        """The verdict's status; for a call this kernel does not run, its alternative's when
        that is worse (a refusal on the kernel that keeps the call is the object's defect)."""
        own = VERDICTS[self.verdict]
        return max(own, self.alternative.status) if self.alternative is not None else own

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file and self.line else f"{self.function}+{self.insn}"

    def to_json(self) -> dict:
        return {"site": self.site, "function": self.function, "insn": self.insn, "file": self.file,
                "line": self.line, "kfunc": self.kfunc, "symbol": self.symbol or self.kfunc, "verdict": self.verdict,
                "ambiguity": self.ambiguity,
                "contexts": [c.to_json() for c in self.contexts],
                "alternative": self.alternative.to_json() if self.alternative else None}


@dataclass(frozen=True)
class Alternative:
    """A call the chosen model's kernel does not run (absent, or a ``bpf_ksym_exists()``
    alternative it does not keep), checked against the newest bundled model of the subsystem
    whose kernel keeps it: the loader there resolves the extern and the branch is live."""

    model: str
    kernel: str
    site: SiteReport

    @property
    def verdict(self) -> str:
        return self.site.verdict

    @property
    def status(self) -> Status:
        return self.site.status

    @property
    def summary(self) -> str:
        """``on sched_ext@v6.12: ok`` (with the reason when it is not ok)."""
        worst = max(self.site.contexts, key=lambda c: (c.status, c.verdict == self.verdict), default=None)
        why = f": {worst.detail}" if worst is not None and self.status != Status.PROVED else ""
        return f"on {self.model}: {self.verdict}{why}"

    def to_json(self) -> dict:
        return {"model": self.model, "kernel": self.kernel, "verdict": self.verdict, "summary": self.summary,
                "contexts": [c.to_json() for c in self.site.contexts]}


@dataclass(frozen=True)
class ProgramReport:
    object: str
    model: str
    kernel: str
    sites: tuple[SiteReport, ...]
    notes: tuple[str, ...]
    seconds: float                     # the check, without loading models
    load_seconds: float = 0.0          # loading the models the check needed besides its own (skew, alternatives)

    @property
    def status(self) -> Status:
        return max((s.status for s in self.sites), default=Status.PROVED)

    @property
    def exit_code(self) -> int:
        """Like ``prove``: 1 on a defect, 3 when something stayed unknown, else 0."""
        if self.status.is_failure:
            return 1
        return 3 if self.status == Status.UNKNOWN else 0

    def to_json(self) -> dict:
        return {"object": self.object, "model": self.model, "kernel": self.kernel, "status": self.status.label,
                "seconds": round(self.seconds, 3), "load_seconds": round(self.load_seconds, 3),
                "notes": list(self.notes),
                "sites": [s.to_json() for s in self.sites], "exit_code": self.exit_code}


#: the model context that holds calls in bpf_timer / bpf_wq / task_work callbacks, when the model has one
ASYNC_CONTEXT = "async_callback"


class _Checker:
    """Decides site contexts against one model, adding async contexts when the model lacks them."""

    def __init__(self, model: Model, rlimit: int, symbols: KernelSymbols | None = None, concrete: bool = True):
        self.model = model
        self.concrete = concrete          # decide plainly-ok calls by concrete evaluation (concrete.py)
        self.admitting: dict[tuple, tuple[str, ...] | None] = {}
        self.rlimit = rlimit
        self.symbols = symbols or kernel_symbols(model)
        self.sessions: dict[tuple, tuple[Model, Z3Session]] = {}
        self.known = _known_matcher(model)
        self.memo: dict[tuple, ContextCheck] = {}
        self.async_models: dict[str, Model] = {}

    def session(self, m: Model) -> Z3Session:
        key = m.context_names[len(self.model.contexts):]   # the contexts this check added, if any
        hit = self.sessions.get(key)
        if hit is None:
            s = Z3Session(self.rlimit)
            s.assert_base(runtime_premise(m))
            s._runtime_copies = 1  # type: ignore[attr-defined]  # what prove_obligation expects
            hit = self.sessions[key] = (m, s)
        return hit[1]

    def async_model(self, kind: str) -> tuple[Model, str]:
        """The model and context that hold calls in an async callback of ``kind``: the model's own
        :data:`ASYNC_CONTEXT` when it has one, else the model plus a context ``async:<kind>``
        made of what every such callback starts from (:data:`~polykfunc.programs.sitefacts.AFRESH`)."""
        if ASYNC_CONTEXT in self.model.context_names:
            return self.model, ASYNC_CONTEXT
        name = f"async:{kind}"
        if name not in self.async_models:
            src = Source("polykfunc check-prog: async callbacks run outside every op "
                         "(kernel/bpf/helpers.c: bpf_timer_cb, bpf_wq_work)", confirmed=False)
            exec_ = ASYNC_KINDS[kind].exec
            stated = [Stated(f, "async callbacks run afresh") for f in AFRESH]
            if exec_:
                stated.append(Stated(f"state.exec == '{exec_}'", f"{kind} callbacks run in {exec_} context"))
            kept, _ = compile_facts(self.model, stated)
            view, _ = compile_facts(self.model, [Stated("view.subprog == 'async_cb'", "an async callback")])
            ctx = Context(name, "an asynchronous callback of the program, run outside every op", src,
                          tuple(replace(f, source=src) for f in view), tuple(replace(f, source=src) for f in kept), ())
            self.async_models[name] = replace(self.model, contexts=self.model.contexts + (ctx,))
        return self.async_models[name], name

    def check(self, sc: SiteContext, prog: dict, roles, member_tasks, enqueue_kfuncs, site: dict | None = None
              ) -> ContextCheck:
        r = sc.reach
        head = dict(context=r.describe(), entry=r.entry, kind=r.kind, async_kind=r.async_kind, outer=r.outer)
        site = site or {}
        if site.get("dead") or sc.kfunc not in self.symbols.modelled:
            skewed = None
            if not site.get("dead") and self.symbols.has(sc.kfunc) is None:
                skewed = self._skewed(sc, prog, roles, member_tasks, enqueue_kfuncs, site)
            if skewed is not None:
                return skewed
            return ContextCheck(**head, model_contexts=(), outcomes=(), **self._unmodelled(sc.kfunc, site))
        k = self.model.kfunc(sc.kfunc)
        trusted = bool({"RCU", "TRUSTED_ARGS"} & set(k.flags)) or kernel_version(self.model) >= (7, 0)
        stated = site_facts(sc, prog, roles, member_tasks, enqueue_kfuncs, trusted)
        # sites with the same kfunc and the same facts get the same answer: solve them once
        key = (sc.kfunc, r.kind, r.async_kind, tuple(sorted(f.text for f in stated)), sc.view_regions,
               sc.run_regions)
        hit = self.memo.get(key)
        if hit is None:
            hit = self._decide(sc, prog, roles, member_tasks, enqueue_kfuncs, stated, dict(head))
            if hit.status.is_failure and hit.verdict != "rejected at load":
                hit = self._conditional(sc, prog, roles, stated, dict(head), hit)
            self.memo[key] = hit
        return replace(hit, **head)

    def _skewed(self, sc: SiteContext, prog, roles, member_tasks, enqueue_kfuncs, site: dict) -> ContextCheck | None:
        """A kfunc neither the model nor its base defines, decided by the newest generated layer
        that has it (an older tree), composed under the model's contexts; labelled as version
        skew. A refusal by the older tree's rules is a *skew condition*, never a finding: the
        newest tree's generic facts are not available (docs/programs.md)."""
        found = skew_layer(self.model, sc.kfunc)
        if found is None:
            return None
        layer, kernel = found
        inner = _checker(skew_model(self.model, layer), self.rlimit, None, self.concrete)
        c = inner.check(sc, prog, roles, member_tasks, enqueue_kfuncs, site)
        if c.verdict in ("not modelled", "absent on this kernel", "not reached on this kernel", "no caller"):
            return c
        rel = "an older" if version_key(kernel) < version_key(self.model.kernel) else "another"
        label = f"decided by {layer}, {rel} tree than {self.model.name}'s"
        missing = f"{self.model.name}'s tree has no generic facts for {sc.kfunc} here"
        if c.verdict == "ok":
            return replace(c, verdict="skew ok", detail=f"{c.detail} ({label}; {missing})")
        if c.verdict == "unknown":
            return replace(c, detail=f"{c.detail} ({label})")
        return replace(c, verdict="skew condition", condition=f"{layer}'s rule",
                       detail=f"{label}: by {layer}'s rule the call is {c.verdict} ({c.detail}); {missing}, so this "
                              f"is {layer}'s rule, not a finding: check it on the kernel you run")

    def _unmodelled(self, kfunc: str, site: dict) -> dict:
        """The verdict of a call to a kfunc the model does not describe (absent, or not modelled)."""
        m = self.model
        if site.get("dead"):
            return dict(verdict="not reached on this kernel",
                        detail=f"no path of {m.name}'s kernel reaches this call: a bpf_ksym_exists() branch picks "
                               "another alternative (or the code is unreachable)")
        has = self.symbols.has(kfunc)
        if has is False:
            where = ", ".join(self.symbols.elsewhere.get(kfunc, ())) or "other kernels"
            if site.get("weak", True):
                return dict(verdict="absent on this kernel",
                            detail=f"{m.name}'s kernel has no {kfunc} ({where} have it); the extern "
                                   f"{site.get('symbol') or kfunc} is __weak, so the loader patches it out")
            return dict(verdict="rejected at load",
                        detail=f"{m.name}'s kernel has no {kfunc} ({where} have it) and the extern is not __weak: "
                               "libbpf cannot resolve it and refuses to load the object "
                               "(tools/lib/bpf/libbpf.c: bpf_object__resolve_ksym_func_btf_id)")
        return dict(verdict="not modelled", detail=f"{m.name} does not model {kfunc}")

    def _decide(self, sc: SiteContext, prog, roles, member_tasks, enqueue_kfuncs, stated, head) -> ContextCheck:
        r = sc.reach
        m = self.model
        kept, dropped = compile_facts(m, stated)
        forced = None
        if r.async_kind:
            m, forced = self.async_model(r.async_kind)
        s = self.session(m)
        where = conj(*(f.expr for f in kept))
        if forced:
            cv = sem.context_var(m)
            where = conj(where, eq(cv, Const(forced, cv.type)))
        akey = (forced, where)
        admitted = self.admitting.get(akey, False)
        if admitted is False:
            admitted = self.admitting[akey] = self._admitting(m, s, where)
        head.update(facts=tuple(f.text for f in kept), dropped=tuple(f.text for f in dropped))
        if admitted is None:
            return ContextCheck(**head, model_contexts=(), outcomes=(), verdict="unknown",
                                detail="the solver gave up deciding which contexts admit the site")
        if not admitted:
            hidden = self._hidden_region(sc, prog, roles, member_tasks, enqueue_kfuncs, head)
            if hidden is not None:
                return hidden
            core = self._conflict(s, kept, where if forced else None)
            ctx = f"the {forced} context of {m.name}" if forced else f"no context of {m.name}"
            return ContextCheck(**head, model_contexts=(), outcomes=(), verdict="no context",
                                detail=f"{ctx} admits this call site: the kernel never runs it like this (e.g. the "
                                       "verifier refuses the program), or the model lacks the context"
                                       + (f"; these facts of the site contradict it: {'; '.join(core)}"
                                          if core else ""))
        k = m.kfunc(sc.kfunc)
        code = concrete_ok(m, k, [f.expr for f in kept]) if self.concrete else None
        if code is not None:   # exactly z3's answer (concrete.py): one outcome, safe and allowed
            name = k.impls[code].name
            return ContextCheck(**head, model_contexts=admitted, outcomes=(name,), verdict="ok",
                                detail=f"selects {name}; every selection is safe")
        out = sem.outcome(m, k)
        codes = list(range(len(k.impls))) + [sem.REJECTED, sem.REFUSED]
        outcomes = tuple(sem.outcome_name(k, c) for c in codes
                         if s.check([where, eq(out, int_const(c))]).status == "sat")
        head.update(model_contexts=admitted, outcomes=outcomes)
        return self._verdict(m, s, k, sc, where, head)

    def _conditional(self, sc: SiteContext, prog, roles, stated, head, finding: ContextCheck) -> ContextCheck:
        """A finding that depends on an argument polykfunc could not follow becomes a *condition*:
        the first value (:data:`~polykfunc.programs.provenance.CANDIDATES`) with which the call is
        fine, named. A finding that stays whatever the argument is stays a finding."""
        for fact, meaning in candidates(sc, roles, stated):
            with_fact = stated + [Stated(fact, meaning)]
            if compile_fact(self.model, fact) is None:
                continue
            alt = self._decide(sc, prog, roles, (), frozenset(), with_fact, dict(head))
            if alt.verdict in ("ok", "known bug"):
                return replace(finding, verdict="condition", condition=fact,
                               detail=f"safe if {meaning} ({fact}): polykfunc cannot tell where the argument comes "
                                      f"from; otherwise {finding.verdict}: {finding.detail}")
        return finding

    def _hidden_region(self, sc: SiteContext, prog, roles, member_tasks, enqueue_kfuncs, head) -> ContextCheck | None:
        """A global subprogram run inside a region its verifier view cannot see.

        The model describes the call as the verifier sees it (no region) or as it runs (in the
        region), not both at once. Check it as the verifier would if it saw the caller's
        regions: if that is refused, the kernel only accepts the call because the global
        subprogram hides the region, and at run time the kfunc runs inside it.
        """
        r = sc.reach
        if r.kind != "global" or sc.view_regions == sc.run_regions or None in sc.run_regions:
            return None
        regions = ", ".join(n for n, d in zip(("RCU", "preempt-off", "IRQ-off", "spin lock"), sc.run_regions) if d)
        k = self.model.kfunc(sc.kfunc)
        if "SLEEPABLE" in k.flags and kernel_version(self.model) >= MIGHT_SLEEP_GLOBALS:
            return ContextCheck(**head, model_contexts=(), outcomes=(sem.outcome_name(k, sem.REJECTED),),
                                verdict="rejected at load",
                                detail=f"{k.name} may sleep, so the global subprogram might sleep, and the verifier "
                                       f"refuses to call it inside the caller's {regions} region (check_func_call: "
                                       "global functions that may sleep are not allowed in non-sleepable context)")
        seen_as = replace(sc, reach=replace(r, kind="static"), view_regions=sc.run_regions)
        with_view = self.check(seen_as, prog, roles, member_tasks, enqueue_kfuncs)
        if with_view.status < Status.COUNTEREXAMPLE and with_view.verdict != "known bug":
            return None
        return ContextCheck(**{**head, "model_contexts": with_view.model_contexts, "outcomes": ()},
                            verdict="unsafe", counterexamples=with_view.counterexamples,
                            detail=f"the verifier accepts this call only because it checks the global subprogram "
                                   f"without its caller's {regions} region; seen with that region the call is "
                                   f"{with_view.verdict} ({with_view.detail}), and at run time the kfunc runs "
                                   f"inside it")

    def _conflict(self, s: Z3Session, kept, forced=None) -> list[str]:
        """Site facts that together contradict the model (an irreducible set), for the message."""
        from polykfunc.engine.solver import minimal_core
        core = minimal_core(s, [f.expr for f in kept], [forced] if forced is not None else [])
        return [kept[i].text for i in core.kept] if core.status == "unsat" else []

    def _admitting(self, m: Model, s: Z3Session, where) -> tuple[str, ...] | None:
        cv = sem.context_var(m)
        found: list[str] = []
        blocks = []
        while True:
            ans = s.check([where, *blocks], [cv])
            if ans.status == "unknown":
                return None
            if ans.status == "unsat":
                return tuple(found)
            name = str(ans.values[("meta", "context", 0)])
            found.append(name)
            blocks.append(neg(eq(cv, Const(name, cv.type))))

    def _verdict(self, m: Model, s: Z3Session, k, sc: SiteContext, where, head: dict) -> ContextCheck:
        base = runtime_premise(m)
        out = sem.outcome(m, k)
        allow = sem.contract(m, k)
        sid = f"check-prog/{sc.site}"
        cexs: list[Counterexample] = []
        unknown = []
        unsafe = []
        for i, impl in enumerate(k.impls):
            if impl.name not in head["outcomes"]:
                continue
            cond = conj(where, eq(out, int_const(i)))
            ob = Obligation(id=f"{sid}/safety/{impl.name}", property="safety", model=m.name,
                            summary=f"at {sc.site}, {k.name} selecting {impl.name} is safe", premise=conj(base, cond),
                            goal=sem.requires(k, i), kfunc=k.name, impl=impl.name, on_vacuous=VACUITY_IS_SKIP,
                            condition=cond)
            res = prove_obligation(s, m, ob, self.known)
            cexs += res.counterexamples
            if res.status == Status.UNKNOWN:
                unknown.append(res.reason)
            unsafe += [c for c in res.counterexamples if not c.known_bug]
        safe = self._safe_impls(s, k, where, allow) if k.is_polymorphic else None
        if unsafe:
            c = unsafe[0]
            return ContextCheck(**head, verdict="unsafe", detail=c.summary, counterexamples=tuple(cexs), safe=safe)
        # misuse: the contract denies the call
        denied = conj(where, neg(allow))
        if s.check([denied]).status == "sat":
            ob = Obligation(id=f"{sid}/coverage/denied-refused", property="coverage", model=m.name,
                            summary=f"the call of {k.name} at {sc.site} is misuse and gets no implementation",
                            premise=conj(base, denied), goal=Cmp("<", out, int_const(0)), kfunc=k.name,
                            on_vacuous=VACUITY_IS_SKIP, condition=denied)
            res = prove_obligation(s, m, ob, self.known)
            runs = [c for c in res.counterexamples if not c.known_bug]
            if runs:
                return ContextCheck(**head, verdict="misuse", detail=runs[0].summary,
                                    counterexamples=tuple(cexs + list(res.counterexamples)), safe=safe)
            if res.status == Status.PROVED:
                verdict, detail = self._refusal(m, s, k, denied, misuse=True)
                return ContextCheck(**head, verdict=verdict, detail=detail, counterexamples=tuple(cexs), safe=safe)
            cexs += res.counterexamples
        # gap: a legitimate call the kernel refuses
        allowed = conj(where, allow)
        ob = Obligation(id=f"{sid}/coverage/allowed-resolves", property="coverage", model=m.name,
                        summary=f"the call of {k.name} at {sc.site} gets an implementation", premise=conj(base, allowed),
                        goal=Cmp(">=", out, int_const(0)), kfunc=k.name, on_vacuous=VACUITY_IS_SKIP,
                        condition=allowed)
        res = prove_obligation(s, m, ob, self.known)
        gap = [c for c in res.counterexamples if not c.known_bug]
        cexs += res.counterexamples
        if gap:
            verdict = "rejected at load" if gap[0].outcome == "rejected at load" else "refused at run time"
            return ContextCheck(**head, verdict=verdict, detail=gap[0].summary, counterexamples=tuple(cexs), safe=safe)
        if unknown or res.status == Status.UNKNOWN:
            return ContextCheck(**head, verdict="unknown", detail="; ".join(unknown + [res.reason]).strip("; "),
                                counterexamples=tuple(cexs), safe=safe)
        if cexs:
            c = cexs[0]
            return ContextCheck(**head, verdict="known bug", counterexamples=tuple(cexs), safe=safe,
                                detail=f"{c.summary} [known bug {c.known_bug}"
                                       + (f", fixed by {c.fixed_by}]" if c.fixed_by else "]"))
        impls = [o for o in head["outcomes"] if o in k.impl_names]
        return ContextCheck(**head, verdict="ok", safe=safe,
                            detail=f"selects {' or '.join(impls) or 'nothing'}; every selection is safe")

    def _refusal(self, m: Model, s: Z3Session, k, denied, misuse: bool) -> tuple[str, str]:
        """How the kernel refuses a call (a concrete, replayed state): the verdict and a sentence."""
        ans = s.check([denied], _wanted_vars(m, 1))
        env = ans.values or {}
        d = sem.decide(m, k, env)
        if d.outcome == sem.REJECTED:
            why = d.filter_denied_by or (d.rule.when.label if d.rule else "no resolver rule matches")
            return "rejected at load", (f"the contract does not allow this call; the verifier rejects the program "
                                        f"({why})")
        msg = d.rule.message if d.rule and d.rule.message else (d.rule.when.label if d.rule else "no rule matches")
        return "refused at run time", f"the contract does not allow this call; the kfunc refuses it at run time: {msg}"

    def _safe_impls(self, s: Z3Session, k, where, allow) -> tuple[str, ...] | None:
        legit = conj(where, allow)
        if s.check([legit]).status != "sat":
            return None
        return tuple(impl.name for i, impl in enumerate(k.impls)
                     if s.check([legit, neg(sem.requires(k, i))]).status == "unsat")


def skew_layer(model: Model, kfunc: str) -> tuple[str, str] | None:
    """The newest bundled generated layer (subsystem ``kernel``) that defines ``kfunc``, when
    ``model`` does not and no model of ``model``'s subsystem knows it: (layer name, its kernel)."""
    if any(kfunc in names for _, names in family_kfuncs(model.subsystem)) or any(k.name == kfunc for k in model.kfuncs):
        return None
    for name, kernel, names in reversed(_layers()):
        if kfunc in names and name != model.base:
            return name, kernel
    return None


@functools.lru_cache(maxsize=1)
def _layers() -> tuple[tuple[str, str, frozenset[str]], ...]:
    """(name, kernel, kfunc names) of every bundled generated layer, oldest first."""
    from polykfunc.model import bundled_manifests
    from .symbols import _toml
    manifests = bundled_manifests()
    return tuple((name, str(_toml(manifests[name])["model"]["kernel"]), names)
                 for name, names in family_kfuncs("kernel"))


_SKEW: dict[tuple[int, str], tuple[Model, Model]] = {}
_LOADING = [0.0]   # seconds spent loading models during checks (reported apart from the check)


def skew_model(model: Model, layer: str) -> Model:
    """``model`` composed with the older generated ``layer``, taking from it only the kfuncs no
    model of ``model``'s subsystem knows (model/compose.py: ``base_only_missing``); named
    ``MODEL+LAYER``. Built once per model object and layer."""
    from polykfunc.model.compose import load_missing_from
    hit = _SKEW.get((id(model), layer))
    if hit is None or hit[0] is not model:
        t0 = time.perf_counter()
        family = frozenset().union(*(names for _, names in family_kfuncs(model.subsystem)))
        layer_names = dict(family_kfuncs("kernel"))[layer]
        composed = load_missing_from(model.path, layer, only=frozenset(layer_names - family))
        hit = _SKEW[(id(model), layer)] = (model, replace(composed, name=f"{model.name}+{layer}"))
        _LOADING[0] += time.perf_counter() - t0
    return hit[1]


_NESTING: dict[tuple, tuple[Model, object]] = {}
_CHECKERS: dict[tuple[int, int, bool], tuple[Model, "_Checker"]] = {}


def _checker(model: Model, rlimit: int, symbols: KernelSymbols | None, concrete: bool = True) -> "_Checker":
    """One checker per model object, resource limit and decision mode, kept for the process: its
    solver sessions and decisions serve every object checked against the model (a batch, a test run)."""
    key = (id(model), rlimit, concrete)
    hit = _CHECKERS.get(key)
    if hit is None or hit[0] is not model:
        if len(_CHECKERS) >= 8:
            _CHECKERS.clear()
        hit = _CHECKERS[key] = (model, _Checker(model, rlimit, symbols, concrete))
    return hit[1]


def _nesting(model: Model, members: frozenset[str]):
    """The model's nesting edges into ``members`` (computed once per model object and member
    set: it costs z3 calls)."""
    key = (id(model), members)
    hit = _NESTING.get(key)
    if hit is None or hit[0] is not model:
        if len(_NESTING) >= 64:
            _NESTING.clear()
        hit = _NESTING[key] = (model, nesting_graph(model, inner=members, details=False))
    return hit[1]


def inserts(model: Model) -> frozenset[str]:
    """The kfuncs that insert a task into a DSQ (their second call in one op is counted per path)."""
    return frozenset(k.name for k in model.kfuncs if "enqueue_dispatch" in k.sets)


def _dedup(checks: list[ContextCheck]) -> list[ContextCheck]:
    """One line per (context, verdict, detail): path variants that agree are shown once."""
    seen: dict[tuple, ContextCheck] = {}
    for c in checks:
        seen.setdefault((c.context, c.verdict, c.detail, c.outcomes), c)
    return list(seen.values())


def check_graph(graph: ProgramGraph, model: Model, *, object_name: str = "(graph)", rlimit: int = DEFAULT_RLIMIT,
                kfunc_params=None, member_params=None, lines=None, symbols: KernelSymbols | None = None,
                concrete: bool = True, only: frozenset[str] | None = None) -> ProgramReport:
    """Check every site of ``graph`` in every reaching context against ``model``.

    ``kfunc_params(name)`` and ``member_params(struct, member)`` give BTF parameter lists
    (name, C type, pointee struct); without them kfunc task parameters are unknown and member
    task parameters come from :data:`~polykfunc.programs.sitefacts.SCHED_EXT_TASK_PARAMS`.
    ``concrete=False`` decides every site with z3 (the concrete shortcut of
    :mod:`~polykfunc.programs.concrete` is exact; the switch lets a test compare the two).
    ``only``: check only these site nodes (the others are left out of the report).
    """
    t0 = time.perf_counter()
    members = {graph.node(e).get("member") for e in graph.entries()}
    inner = members
    if only is not None:   # nesting adds outer ops to an entry's contexts, never entries: ask only for those
        import networkx as nx
        entries = set(graph.entries())
        inner = {graph.node(e).get("member") for n in only if n in graph.graph
                 for e in nx.ancestors(graph.graph, n) & entries}
    nest = _nesting(model, frozenset(m for m in inner if m))

    def nested(entry: str):
        m = graph.node(entry).get("member")
        return sorted(o for o in (nest.predecessors(m) if m in nest else ()) if o in members)

    reaches = reaching_contexts(graph, nested)
    sctx = site_contexts(graph, reaches)
    checker = _checker(model, rlimit, symbols, concrete)
    enqueue = inserts(model)
    sites = []
    for site in sorted(sctx, key=lambda n: (graph.node(n)["function"], graph.node(n)["insn"])):
        if only is not None and site not in only:
            continue
        d = graph.node(site)
        params = (kfunc_params(d.get("symbol") or d["kfunc"]) or kfunc_params(d["kfunc"])) if kfunc_params else ()
        roles = param_roles(d["kfunc"], params)
        checks = []
        for sc in sctx[site]:
            prog = graph.node(sc.reach.entry)
            tasks = _member_tasks(prog, member_params)
            checks.append(checker.check(sc, prog, roles, tasks, enqueue, d))
        line = d.get("line")
        sym = d.get("symbol")
        sites.append(SiteReport(site, d["function"], d["insn"], line[0] if line else None, line[1] if line else None,
                                d["kfunc"], tuple(_dedup(checks)), _ambiguity(model, d["kfunc"], checks),
                                sym if sym and sym != d["kfunc"] else None))
    notes = list(dict.fromkeys(graph.notes))
    with_sites = {graph.node(n)["function"] for n in sctx}
    unreached = [f for f, rs in reaches.items() if not rs and f in with_sites]
    notes += [f"{f}: no program calls it, so its kfunc calls are not checked" for f in unreached]
    return ProgramReport(object_name, model.name, model.kernel, tuple(sites), tuple(notes), time.perf_counter() - t0)


def _member_tasks(prog: dict, member_params) -> tuple[int, ...]:
    member, st = prog.get("member"), prog.get("st_ops")
    if not member:
        return ()
    if member_params is not None and st:
        params = member_params(st, member)
        if params:
            return tuple(i for i, (_n, _t, pointee) in enumerate(params) if pointee == "task_struct")
    return SCHED_EXT_TASK_PARAMS.get(member, ())


def _ambiguity(model: Model, kfunc: str, checks: list[ContextCheck]) -> str | None:
    """Can one implementation serve every context of the site? (see :class:`SiteReport`)"""
    legit = [c for c in checks if c.safe is not None]
    if len(legit) < 2:
        return "run-time" if legit and not legit[0].safe else None
    if any(not c.safe for c in legit):
        return "run-time"
    per_program: dict[str, set[str]] = {}
    for c in legit:
        per_program.setdefault(c.entry, set(c.safe)).intersection_update(c.safe)  # type: ignore[arg-type]
    if any(not common for common in per_program.values()):
        return "load-time"
    return None if set.intersection(*(set(c.safe) for c in legit)) else "build-time"  # type: ignore[arg-type]


def check_parsed(obj, model: Model, *, rlimit: int = DEFAULT_RLIMIT, concrete: bool = True) -> ProgramReport:
    """Check a :class:`~polykfunc.programs.elf.BpfObject` against ``model``."""
    from .callgraph import from_object
    symbols = kernel_symbols(model)
    graph = from_object(obj, ksym_present=symbols.has, counted=inserts(model))
    loading = _LOADING[0]
    t0 = time.perf_counter()   # like check_graph's: the check from the call graph on
    rep = check_graph(graph, model, object_name=str(obj.path), rlimit=rlimit, kfunc_params=obj.kfunc_params,
                      member_params=obj.member_params, symbols=symbols, concrete=concrete)
    rep = with_alternatives(obj, model, rep, rlimit=rlimit, concrete=concrete)
    loaded = _LOADING[0] - loading
    rep = replace(rep, seconds=time.perf_counter() - t0 - loaded, load_seconds=loaded)
    empty = [f"struct_ops map {var} (struct {obj.struct_types.get(var, '?')}) fills no member: no program of it runs"
             for var, members in obj.struct_ops.items() if not members]
    return replace(rep, notes=rep.notes + tuple(empty)) if empty else rep


#: the verdicts of a call the chosen model's kernel does not run
NOT_RUN_HERE = ("absent on this kernel", "not reached on this kernel")
_FAMILY: dict[str, Model] = {}


def _family_model(name: str) -> Model:
    from polykfunc.model import load_model, resolve_target
    if name not in _FAMILY:
        t0 = time.perf_counter()
        _FAMILY[name] = load_model(resolve_target(name))
        _LOADING[0] += time.perf_counter() - t0
    return _FAMILY[name]


def with_alternatives(obj, model: Model, rep: ProgramReport, *, rlimit: int = DEFAULT_RLIMIT,
                      concrete: bool = True) -> ProgramReport:
    """Each site absent or not reached on ``model``'s kernel, checked against the newest other
    bundled model of its subsystem whose kernel keeps it (:class:`Alternative`): the object is
    read again with that kernel's symbols, so ``bpf_ksym_exists()`` branches go its way. A site
    no bundled kernel runs keeps no alternative."""
    from .callgraph import from_object
    pending = {s.site for s in rep.sites if s.verdict in NOT_RUN_HERE}
    if not pending:
        return rep
    from .choose import kfunc_externs
    externs = sorted(kfunc_externs(obj))
    by_site = {s.site: s for s in rep.sites}
    here = kernel_symbols(model)
    found: dict[str, Alternative] = {}
    for name, names in reversed(family_kfuncs(model.subsystem)):
        if name == model.name or not pending:
            continue
        kfuncs = {s.kfunc for s in rep.sites if s.site in pending}
        if not kfuncs & names:
            continue
        symbols = symbols_of(name, model.subsystem, names)
        differ = {k for k in externs if symbols.has(k) != here.has(k)}
        if not any(_may_run_there(obj, by_site[n], symbols, differ) for n in pending):
            continue      # the loader keeps the same externs the sites' functions test: still dead there
        other = _family_model(name)
        symbols = kernel_symbols(other)
        graph = from_object(obj, ksym_present=symbols.has, counted=inserts(other))
        live = frozenset(n for n in pending if n in graph.graph and not graph.node(n).get("dead")
                         and graph.node(n).get("kfunc") in symbols.modelled)
        if not live:
            continue
        alt = check_graph(graph, other, object_name=str(obj.path), rlimit=rlimit, kfunc_params=obj.kfunc_params,
                          member_params=obj.member_params, symbols=symbols, concrete=concrete, only=live)
        for s in alt.sites:
            if s.verdict not in NOT_RUN_HERE + ("no caller", "not modelled"):
                found[s.site] = Alternative(other.name, other.kernel, s)
                pending.discard(s.site)
    sites = tuple(replace(s, alternative=found[s.site]) if s.site in found else s for s in rep.sites)
    return replace(rep, sites=sites)


def _may_run_there(obj, site: SiteReport, symbols: KernelSymbols, differ: set[str]) -> bool:
    """Whether a site this kernel does not run may run on the kernel of ``symbols``: that kernel
    has its kfunc, and (a ``bpf_ksym_exists()`` branch) resolves some extern the site's function
    tests differently (the dataflow decides those branches function by function)."""
    from .callgraph import function_externs
    if symbols.has(site.kfunc) is not True:
        return False
    if site.verdict == "absent on this kernel":
        return True
    fn = obj.functions.get(site.function)
    return fn is not None and bool(set(function_externs(obj, site.function, fn)[0]) & differ)


def check_object(path, model: Model, *, rlimit: int = DEFAULT_RLIMIT) -> ProgramReport:
    """Read the BPF object at ``path`` and check it against ``model`` (see :func:`check_graph`).

    Raises :class:`~polykfunc.programs.elf.ObjectError` when ``path`` is not a BPF object.
    """
    from .elf import read_object
    return check_parsed(read_object(path), model, rlimit=rlimit)
