"""A model's load-time predictions against what the running kernel's verifier did.

For each observation whose program context the model can name (``ProgContext.model_view``),
the probe fixes the model's view: program type, sleepable, LSM hook, device binding, the
function kind (``view.subprog``), the regions the call's own verification sees (none inside a
global subprogram: it is verified from a fresh state), one call site (``desc_specialized``
false) and ``non_sleepable`` exactly when that call is outside a sleepable context. The
remaining view variables (``pkt_write``) are left to the model's axioms and contexts.

z3 then answers which outcomes (:func:`polykfunc.model.semantics.outcome`) the model allows
for that view under its axioms and contexts. One outcome is a prediction; none means no
context of the model covers the probe (*not modelled*); several mean the model cannot tell
(*undetermined*). The prediction is compared with the kernel: admitted or rejected (the
classifier's ``ADMITTED``), and for a loaded program the symbol the call was fixed up to
against the implementation the model names (its ``source`` cites the function).

A model that describes another kernel than the running one has its differences labelled
``skew`` (it may be right about its own kernel); they are listed, never silently counted.
A disagreement that a restriction of the running kernel explains (:mod:`.local`: a vendor
change no upstream tree has, found on this machine) carries that restriction's reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from polykfunc.model import semantics as sem
from polykfunc.model.expr import BOOL, Const, EnumType, Var, conj, eq, int_const
from polykfunc.model.spec import Kfunc, Model
from polykfunc.engine.solver import Z3Session

from . import classify as cls
from .contexts import context
from .local import LocalRestriction, explaining
from .runner import Observation, OracleRun, Position

#: the kinds of difference, worst first
DISAGREE_ADMISSION = "admission"      # one side admits the call, the other rejects it
DISAGREE_VARIANT = "variant"          # both admit it; the implementation differs
UNDETERMINED = "undetermined"         # the model allows several outcomes for this probe
NOT_MODELLED = "not_modelled"         # no context of the model covers this probe

_SUBPROG = {"main": "main", "static": "static", "global": "global", "timer_cb": "async_cb"}
_REGION = {"rcu": "in_rcu", "preempt": "in_preempt_off", "irq": "in_irq_off"}


@dataclass(frozen=True)
class Prediction:
    """What the model says a probe gets: the possible outcome codes and, for one, the rule."""

    outcomes: tuple[int, ...]
    rule: str = ""          # the deciding rule's label and model file:line (one outcome only)


@dataclass(frozen=True)
class Difference:
    """One cell where the model and the kernel differ (or the model cannot say)."""

    kfunc: str
    position: Position
    kind: str
    kernel: str             # the kernel's outcome, with the resolved symbol when loaded
    kernel_line: str        # the verifier's log line
    model: str              # the model's outcome(s), by name
    model_rule: str         # the model rule that decided, with file:line
    skew: bool              # the model describes another kernel than the running one
    local: str = ""         # a restriction of this kernel that explains it (its reason), or ""

    @property
    def explained(self) -> bool:
        """Version skew or a local restriction may account for it."""
        return self.skew or bool(self.local)


@dataclass(frozen=True)
class Comparison:
    model: str
    model_kernel: str
    release: str
    skew: bool
    agreements: int
    differences: tuple[Difference, ...]
    absent_kfuncs: tuple[str, ...]      # model kfuncs the running kernel does not have
    unobservable: int                   # cells the kernel could not answer (EPERM, setup)
    restrictions: tuple[LocalRestriction, ...] = ()   # local restrictions found on this kernel

    @property
    def disagreements(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if d.kind in (DISAGREE_ADMISSION, DISAGREE_VARIANT))

    @property
    def unexplained(self) -> tuple[Difference, ...]:
        """Disagreements neither a local restriction nor version skew accounts for."""
        return tuple(d for d in self.disagreements if not d.explained)

    @property
    def local_explained(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.disagreements if d.local)


def is_same_kernel(model_kernel: str, release: str) -> bool:
    """Does the model's ``kernel`` field name the running release's major.minor (v6.18 ~ 6.18.44)?"""
    m = re.match(r"v?(\d+)\.(\d+)", model_kernel.strip())
    r = re.match(r"(\d+)\.(\d+)", release)
    return bool(m and r and m.groups() == r.groups())


def impl_symbol(kfunc: Kfunc, impl_index: int) -> str:
    """The kernel symbol an implementation stands for: the identifier in its source citation
    that extends the kfunc's name (``bpf_dynptr_from_skb_rdonly``), else the kfunc itself."""
    text = kfunc.impls[impl_index].source.text
    for ident in re.findall(r"\b[A-Za-z_]\w*\b", text.split(":", 1)[-1]):
        if ident == kfunc.name or ident.startswith(kfunc.name + "_"):
            return ident
    return kfunc.name


def view_of(model: Model, pos: Position) -> dict[str, object] | None:
    """The model's view variables a probe at ``pos`` fixes (None: the model cannot name it)."""
    ctx = context(pos.context)
    if ctx.model_view is None:
        return None
    names = {v.name for v in model.vars if v.ns == "view"}
    view = dict(ctx.model_view)
    view["subprog"] = _SUBPROG[pos.subprog]
    own_region = pos.region if pos.subprog in ("main", "static") else "none"
    for region, var in _REGION.items():
        view[var] = own_region == region
    view["in_spin_lock"] = False
    view["desc_specialized"] = False
    sleepable_ctx = bool(view["sleepable"]) and own_region == "none" and pos.subprog != "timer_cb"
    view["non_sleepable"] = not sleepable_ctx
    return {k: v for k, v in view.items() if k in names}


def _var(model: Model, name: str) -> Var:
    return Var("view", name, model.var("view", name).type)


def _where(fact) -> str:
    w = getattr(fact, "where", None)
    return f" ({w.file}:{w.line})" if w is not None and w.line is not None else (f" ({w.file})" if w else "")


def _rule_text(model: Model, k: Kfunc, decision: sem.Decision) -> str:
    if decision.rule is not None:
        r = decision.rule
        return f"resolve when {r.when.text} -> {r.select}{_where(r.when)} [{r.source}]"
    by = decision.filter_denied_by or ""
    if by.startswith("not registered"):
        facts = [model.kfunc_set(s).registered for s in k.sets] or [k.registered]
        where = "".join(_where(f) for f in facts if f is not None)
        return f"not registered: sets {', '.join(k.sets)} registered = " \
               f"{' | '.join(f.text for f in facts if f is not None)}{where}"
    for f in model.filters:
        for i, rule in enumerate(f.rules):
            if by == f"{f.name} rule {i}":
                return f"filter {f.name}: {rule.when.text} -> {rule.verdict}{_where(rule.when)} [{rule.source}]"
    return by or decision.mechanism


class Predictor:
    """Answers "what does the model predict for this kfunc at this view", with one z3 session."""

    def __init__(self, model: Model):
        self.model = model
        self.session = Z3Session()
        self.axioms = sem.axioms(model)
        self.base = conj(self.axioms, sem.in_some_context(model))
        self.cache: dict[tuple, Prediction] = {}

    def fixed(self, view: dict[str, object]) -> list:
        """``view.NAME == value`` for every entry of ``view``."""
        out = []
        for name, value in sorted(view.items()):
            v = _var(self.model, name)
            out.append(eq(v, Const(value, v.type if isinstance(v.type, EnumType) else BOOL)))
        return out

    def satisfiable(self, formulas) -> bool:
        return self.session.check(list(formulas), _all_vars(self.model)).status == "sat"

    def predict(self, k: Kfunc, view: dict[str, object]) -> Prediction:
        key = (k.name, tuple(sorted(view.items())))
        if key in self.cache:
            return self.cache[key]
        fixed = self.fixed(view)
        out = sem.outcome(self.model, k)
        codes = [sem.REJECTED] + list(range(len(k.impls)))
        possible, witness = [], {}
        for code in codes:
            ans = self.session.check([self.base, *fixed, eq(out, int_const(code))], _all_vars(self.model))
            if ans.status == "sat":
                possible.append(code)
                witness[code] = ans.values
        rule = ""
        if len(possible) == 1:
            env = dict(witness[possible[0]])
            rule = _rule_text(self.model, k, sem.decide(self.model, k, env))
        pred = Prediction(tuple(possible), rule)
        self.cache[key] = pred
        return pred


def _all_vars(model: Model) -> list[Var]:
    out = [Var(v.ns, v.name, v.type) for v in model.vars]
    out.append(sem.context_var(model))
    return out


def _outcome_names(k: Kfunc, codes) -> str:
    return " | ".join(sem.outcome_name(k, c) for c in codes) or "nothing (no context covers it)"


def _kernel_text(o: Observation) -> str:
    if o.outcome == cls.ACCEPTED and o.resolved:
        return f"accepted, call -> {o.resolved}"
    return o.outcome


def _local_reason(restrictions, k: Kfunc, o: Observation, model_admits: bool) -> str:
    """The reason of the restriction that explains "the model admits, this kernel says not allowed"."""
    if not model_admits or o.outcome != cls.NOT_ALLOWED:
        return ""
    r = explaining(restrictions, k.source.text)
    return r.reason if r is not None else ""


def compare(model: Model, run: OracleRun, restrictions: tuple[LocalRestriction, ...] = ()) -> Comparison:
    """Every cell of ``run`` for a kfunc of ``model``, judged against the model (see module doc);
    ``restrictions`` (:func:`polykfunc.oracle.local.detect`) label the disagreements they explain."""
    skew = not is_same_kernel(model.kernel, run.release)
    present = {k.name for k in run.kfuncs}
    predictor = Predictor(model)
    agreements, unobservable = 0, 0
    diffs: list[Difference] = []
    for o in run.observations:
        try:
            k = model.kfunc(o.kfunc)
        except KeyError:
            continue
        if o.verdict.outcome in cls.NO_ANSWER:
            unobservable += 1
            continue
        view = view_of(model, o.position)
        if view is None:
            diffs.append(Difference(k.name, o.position, NOT_MODELLED, _kernel_text(o), o.verdict.line,
                                    "-", context(o.position.context).doc or "no model name for this context", skew))
            continue
        pred = predictor.predict(k, view)
        model_text = _outcome_names(k, pred.outcomes)
        if not pred.outcomes:
            diffs.append(Difference(k.name, o.position, NOT_MODELLED, _kernel_text(o), o.verdict.line,
                                    model_text, "no context of the model admits this view", skew))
            continue
        if len(pred.outcomes) > 1:
            diffs.append(Difference(k.name, o.position, UNDETERMINED, _kernel_text(o), o.verdict.line,
                                    model_text, "the model's view does not decide this call", skew))
            continue
        code = pred.outcomes[0]
        model_admits = code != sem.REJECTED
        if model_admits != o.verdict.admitted:
            diffs.append(Difference(k.name, o.position, DISAGREE_ADMISSION, _kernel_text(o), o.verdict.line,
                                    model_text, pred.rule, skew,
                                    _local_reason(restrictions, k, o, model_admits)))
            continue
        if model_admits and o.outcome == cls.ACCEPTED and o.resolved and o.resolved != "inlined":
            expected = impl_symbol(k, code)
            if expected != o.resolved:
                diffs.append(Difference(k.name, o.position, DISAGREE_VARIANT, _kernel_text(o),
                                        f"call fixed up to {o.resolved}", f"{model_text} ({expected})",
                                        pred.rule, skew))
                continue
        agreements += 1
    absent = tuple(k.name for k in model.kfuncs if k.name not in present)
    return Comparison(model.name, f"{model.kernel}" + (f" ({model.commit})" if model.commit else ""),
                      run.release, skew, agreements, tuple(diffs), absent, unobservable, tuple(restrictions))
