"""Version diffs: what changed in the verdict matrix between two versions of one subsystem.

For two models of the same subsystem (``report sched_ext@v6.12 sched_ext@v7.1``), every cell
(kfunc x context) both have is compared. A change has a kind, in this order of precedence:

- ``allowed -> denied`` / ``denied -> allowed``: whether the call can get an implementation;
- ``implementation changed``: both allow it, but the implementations it can get differ;
- ``fixed`` / ``new finding``: the proof status moved between proved and a known bug or a
  counterexample;
- ``denial moved``: both deny it, but one rejects at load and the other refuses at run time.

Each change lists its causes: a known bug of the old cell that the new one no longer shows
(with the commit that fixed it), a known bug that appears, and the rule that decides the call
in each version (found on a concrete state, the rule's kernel citation, and any commit it
cites). Kfuncs and contexts only one version has are listed; a kfunc whose source or doc says
"renamed from X" is compared with X.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from polykfunc.model import semantics as sem
from polykfunc.model.expr import Const, eq, int_const
from polykfunc.model.spec import Model
from polykfunc.properties.generate import runtime_premise
from polykfunc.engine.solver import Z3Session

from .citations import cited_commits, is_commit

KINDS = ("allowed -> denied", "denied -> allowed", "implementation changed", "fixed", "new finding",
         "denial moved")
_RENAMED = re.compile(r"renamed from (\w+)")
#: Both versions allow the call with the same implementations; only how the *other* calls from
#: that context are refused differs (at load or at run time). Counted, not listed.
PARTIAL = "partly refused differently"


@dataclass(frozen=True)
class Cause:
    """Why a cell changed: a sentence, the commit responsible when the model cites one, and the
    kernel citation and model place of the rule or bug it comes from."""

    text: str
    commit: str | None = None
    source: str = ""
    where: str | None = None


def _commits(causes) -> tuple[str, ...]:
    """The kernel commits named by ``causes``, each once, in order."""
    return tuple(dict.fromkeys(c.commit for c in causes if is_commit(c.commit)))


@dataclass(frozen=True)
class CellChange:
    kind: str
    kfunc: str            # the new name ("old -> new" when renamed)
    context: str
    before: str
    after: str
    before_status: str
    after_status: str
    causes: tuple[Cause, ...]

    @property
    def summary(self) -> str:
        return f"{self.kind}: {self.before} -> {self.after}"

    @property
    def commits(self) -> tuple[str, ...]:
        return _commits(self.causes)


@dataclass(frozen=True)
class ChangeGroup:
    """Changes of one kfunc that are alike (same kind, before, after and causes), with the
    contexts they happen in: what a reviewer reads instead of one row per cell."""

    kind: str
    kfunc: str
    contexts: tuple[str, ...]
    before: str
    after: str
    before_status: str
    after_status: str
    causes: tuple[Cause, ...]

    @property
    def commits(self) -> tuple[str, ...]:
        return _commits(self.causes)


def group_changes(changes) -> list[ChangeGroup]:
    """``changes`` folded into :class:`ChangeGroup` rows, in the order of the first of each."""
    groups: dict[tuple, list[CellChange]] = {}
    for c in changes:
        key = (c.kind, c.kfunc, c.before, c.after, c.before_status, c.after_status,
               tuple(re.sub(r" \(e\.g\. in \w+\)$", "", x.text) for x in c.causes))
        groups.setdefault(key, []).append(c)
    out = []
    for (kind, kfunc, before, after, bs, as_, _), cs in groups.items():
        causes = tuple(dict.fromkeys(x for c in cs for x in c.causes))
        seen, uniq = set(), []
        for x in causes:  # one of each cause sentence (its "e.g. in <context>" variants are the same)
            key = re.sub(r" \(e\.g\. in \w+\)$", "", x.text)
            if key not in seen:
                seen.add(key)
                uniq.append(x)
        out.append(ChangeGroup(kind, kfunc, tuple(c.context for c in cs), before, after, bs, as_, tuple(uniq)))
    return out


@dataclass(frozen=True)
class BugChange:
    """A declared known bug reproduced in only one version; ``same_as``: the other version's
    bug on the same property, kfunc and context (the same defect under another id)."""

    id: str
    title: str
    kfunc: str
    fixed_by: str | None
    same_as: str | None = None


@dataclass(frozen=True)
class VersionDiff:
    old: str
    new: str
    old_kernel: str
    new_kernel: str
    kfuncs_added: tuple[str, ...]
    kfuncs_removed: tuple[str, ...]
    renamed: tuple[tuple[str, str], ...]
    contexts_added: tuple[str, ...]
    contexts_removed: tuple[str, ...]
    compared: int
    changes: tuple[CellChange, ...]
    bugs_gone: tuple[BugChange, ...]     # reproduced in old, not in new
    bugs_new: tuple[BugChange, ...]      # reproduced in new, not in old
    partial: int = 0                     # cells that differ only in how other calls are refused

    def count(self, kind: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind)

    @property
    def counts(self) -> tuple[tuple[str, int], ...]:
        return tuple((k, self.count(k)) for k in KINDS if self.count(k))

    @property
    def groups(self) -> list[ChangeGroup]:
        return group_changes(self.changes)


def describe(cell) -> str:
    """A cell in a few words: "allowed: direct/buffered" or "denied (rejected at load)"."""
    if cell is None:
        return "-"
    impls = [o for o in cell.outcomes if o not in ("rejected at load", "refused at run time")]
    denied = [o for o in cell.outcomes if o in ("rejected at load", "refused at run time")]
    if impls:
        return "allowed: " + "/".join(impls) + (f" (or {'/'.join(denied)})" if denied else "")
    return "denied (" + "/".join(denied or ["unreachable"]) + ")"


def _kind(a, b, single: bool) -> str | None:
    """The kind of change from cell ``a`` to ``b``; ``single``: both versions have one
    implementation, so a new name for it is not a change of implementation."""
    if a.allowed is None or b.allowed is None:  # the solver gave up on one of them: nothing to say
        return None
    if a.allowed != b.allowed:
        return "allowed -> denied" if a.allowed else "denied -> allowed"
    impls_a = {o for o in a.outcomes if o not in ("rejected at load", "refused at run time")}
    impls_b = {o for o in b.outcomes if o not in ("rejected at load", "refused at run time")}
    if impls_a != impls_b and not single:
        return "implementation changed"
    bad_a, bad_b = a.status != "proved", b.status != "proved"
    if bad_a and not bad_b:
        return "fixed"
    if bad_b and not bad_a:
        return "new finding"
    if not a.allowed and set(a.outcomes) != set(b.outcomes):
        return "denial moved"
    if set(a.outcomes) != set(b.outcomes):
        return PARTIAL
    return None


class _Decider:
    """The rule that decides a call in one model, found on a concrete state per (kfunc, context, outcome)."""

    def __init__(self, model: Model, rlimit: int):
        from polykfunc.engine.prover import _wanted_vars
        self.model = model
        self.session = Z3Session(rlimit)
        self.session.assert_base(runtime_premise(model))  # once: each question adds only its cell
        self.cv = sem.context_var(model)
        self.wanted = _wanted_vars(model, 1)
        self._outcomes: dict[str, object] = {}
        self._states: dict[tuple, object] = {}   # (outcome formula, context, code) -> the solver's answer
        self._causes: dict[tuple[str, str, str], Cause | None] = {}

    def cause(self, kfunc: str, context: str, outcome: str, when: str) -> Cause | None:
        """Why ``kfunc`` called from ``context`` gets ``outcome``, as a sentence starting with ``when``
        (None: no state of the model gives that). Asked once per (kfunc, context, outcome)."""
        key = (kfunc, context, outcome)
        if key not in self._causes:
            self._causes[key] = self._cause(kfunc, context, outcome)
        c = self._causes[key]
        return None if c is None else Cause(f"{when}: {c.text}", c.commit, c.source, c.where)

    def _cause(self, kfunc: str, context: str, outcome: str) -> Cause | None:
        k = self.model.kfunc(kfunc)
        code = {"rejected at load": sem.REJECTED, "refused at run time": sem.REFUSED}.get(outcome)
        if code is None:
            code = k.impl_names.index(outcome)
        if kfunc not in self._outcomes:
            self._outcomes[kfunc] = sem.outcome(self.model, k)
        out = self._outcomes[kfunc]
        # kfuncs with the same outcome formula share their states: one question per formula
        if (out, context, code) not in self._states:
            self._states[(out, context, code)] = self.session.check(
                [eq(self.cv, Const(context, self.cv.type)), eq(out, int_const(code))], self.wanted, lazy=True)
        ans = self._states[(out, context, code)]
        if ans.status != "sat":
            return None
        d = sem.decide(self.model, k, ans.values)
        verb = {"resolver": "the load-time resolver", "selector": "the run-time selector"}.get(d.mechanism, d.mechanism)
        if d.rule is not None:
            src = d.rule.source.text
            return Cause(f"{outcome}, by {verb}: {d.rule.when.label}",
                         (cited_commits(src) or [None])[0], src, str(d.rule.when.where) if d.rule.when.where else None)
        if d.filter_denied_by:
            fr = self._filter_rule(d.filter_denied_by)
            src = fr.source.text if fr else k.source.text
            where = str(fr.when.where) if fr and fr.when.where else None
            label = fr.when.label if fr else d.filter_denied_by
            return Cause(f"{outcome}, by {label}", (cited_commits(src) or [None])[0], src, where)
        return Cause(f"{outcome} ({d.mechanism})", None, k.source.text, str(k.where) if k.where else None)

    def _filter_rule(self, denied_by: str):
        m = re.fullmatch(r"(.*) rule (\d+)", denied_by)
        if not m:
            return None
        for f in self.model.filters:
            if f.name == m.group(1) and int(m.group(2)) < len(f.rules):
                return f.rules[int(m.group(2))]
        return None


Question = tuple[str, str, str]   # (kfunc, context, outcome): why does this call get that outcome?


class _Recorder:
    """Stands in for a decider to learn which questions a diff asks (in the order it asks them)."""

    def __init__(self):
        self.asked: dict[Question, None] = {}

    def cause(self, kfunc: str, context: str, outcome: str, when: str) -> Cause | None:
        self.asked.setdefault((kfunc, context, outcome))
        return Cause(when, None, "")


class _Answered:
    """A decider whose answers were computed elsewhere (:func:`answer_causes`)."""

    def __init__(self, answers: dict[Question, Cause | None]):
        self.answers = answers

    def cause(self, kfunc: str, context: str, outcome: str, when: str) -> Cause | None:
        c = self.answers[(kfunc, context, outcome)]
        return None if c is None else Cause(f"{when}: {c.text}", c.commit, c.source, c.where)


def diff_questions(old, new, old_model: Model, new_model: Model) -> tuple[list[Question], list[Question]]:
    """The questions :func:`version_diff` of these models asks each side's decider, in order.

    Answer them with :func:`answer_causes` (anywhere: another process holds the same model)
    and pass the answers to :func:`version_diff`; the diff is then the same as if it had
    asked its own deciders.
    """
    recorders = {old_model.name: _Recorder(), new_model.name: _Recorder()}
    version_diff(old, new, old_model, new_model, 0, recorders)  # type: ignore[arg-type]
    return list(recorders[old_model.name].asked), list(recorders[new_model.name].asked)


def answer_causes(model: Model, questions: list[Question], rlimit: int) -> dict[Question, Cause | None]:
    """Answer ``questions`` about ``model`` (from :func:`diff_questions`) with a fresh decider,
    in order: the answers depend only on the model and the questions."""
    decider = _Decider(model, rlimit)
    return {q: decider._cause(*q) for q in questions}


def _renames(old_model: Model, new_model: Model, removed: set[str], added: set[str]) -> list[tuple[str, str]]:
    out = []
    for k in new_model.kfuncs:
        if k.name not in added:
            continue
        for m in _RENAMED.finditer(f"{k.source.text} {k.doc}"):
            if m.group(1) in removed:
                out.append((m.group(1), k.name))
                break
    return out


def version_diff(old, new, old_model: Model, new_model: Model, rlimit: int,
                 deciders: dict[str, _Decider] | None = None,
                 answers: tuple[dict, dict] | None = None) -> VersionDiff:
    """Compare two collected models (:class:`~polykfunc.report.data.ModelData`) cell by cell.

    Each side's causes come from a fresh solver session, unless ``deciders`` (model name ->
    anything with the decider's ``cause``) stands in for it (:func:`diff_questions` records the
    questions that way) or ``answers`` (old side, new side: :func:`answer_causes` of
    :func:`diff_questions`) holds them already; no solver is asked here then.
    """
    old_k, new_k = set(old.kfunc_names), set(new.kfunc_names)
    removed, added = old_k - new_k, new_k - old_k
    renamed = _renames(old_model, new_model, removed, added)
    pairs = [(k, k) for k in new.kfunc_names if k in old_k] + renamed
    removed -= {a for a, _ in renamed}
    added -= {b for _, b in renamed}
    contexts = [c for c in new.contexts if c in set(old.contexts)]
    old_bugs = {b.id: b for b in old.bugs if b.found}
    new_bugs = {b.id: b for b in new.bugs if b.found}
    deciders = {} if deciders is None else deciders
    if answers is not None:
        deciders = {old_model.name: _Answered(answers[0]), new_model.name: _Answered(answers[1])}
    for m in (old_model, new_model):
        if m.name not in deciders:
            deciders[m.name] = _Decider(m, rlimit)
    old_decider, new_decider = deciders[old_model.name], deciders[new_model.name]
    moved_causes: dict[str, tuple[Cause, ...]] = {}
    changes = []
    compared = partial = 0
    for ko, kn in pairs:
        single = len(old_model.kfunc(ko).impls) == 1 and len(new_model.kfunc(kn).impls) == 1
        for ctx in contexts:
            a, b = old.cell(ko, ctx), new.cell(kn, ctx)
            if a is None or b is None:
                continue
            compared += 1
            kind = _kind(a, b, single)
            if kind == PARTIAL:
                partial += 1
            if kind is None or kind == PARTIAL:
                continue
            causes: list[Cause] = []
            for bug in a.known_bugs:
                if bug not in b.known_bugs:
                    ob = old_bugs.get(bug)
                    title = ob.title if ob else bug
                    causes.append(Cause(f"known bug {bug} no longer appears: {title}", ob.fixed_by if ob else None,
                                        ob.source if ob else ""))
            for bug in b.known_bugs:
                if bug not in a.known_bugs:
                    nb = new_bugs.get(bug)
                    causes.append(Cause(f"known bug {bug} appears: {nb.title if nb else bug}"
                                        + (f" (fixed later by {nb.fixed_by})" if nb and nb.fixed_by else " (open)"),
                                        None, nb.source if nb else ""))
            if kind == "denial moved" and kn in moved_causes:
                causes.extend(moved_causes[kn])
            elif kind != "fixed" and kind != "new finding":
                found = [x for x in (old_decider.cause(ko, ctx, a.outcomes[0], "before") if a.outcomes else None,
                                     new_decider.cause(kn, ctx, b.outcomes[0], "now") if b.outcomes else None) if x]
                causes.extend(found)
                if kind == "denial moved":
                    moved_causes[kn] = tuple(Cause(c.text + f" (e.g. in {ctx})", c.commit, c.source, c.where)
                                             for c in found)
            name = kn if ko == kn else f"{ko} -> {kn}"
            changes.append(CellChange(kind, name, ctx, describe(a), describe(b), a.status, b.status, tuple(causes)))
    changes.sort(key=lambda c: (KINDS.index(c.kind), c.kfunc, contexts.index(c.context)))
    names = dict(renamed)
    gone = tuple(BugChange(b.id, b.title, b.kfunc, b.fixed_by, _same(b, new_bugs.values(), names.get(b.kfunc)))
                 for i, b in old_bugs.items() if i not in new_bugs)
    new_found = tuple(BugChange(b.id, b.title, b.kfunc, b.fixed_by,
                                _same(b, old_bugs.values(), {v: k for k, v in names.items()}.get(b.kfunc)))
                      for i, b in new_bugs.items() if i not in old_bugs)
    return VersionDiff(old.name, new.name, old.kernel, new.kernel, tuple(sorted(added)), tuple(sorted(removed)),
                       tuple(renamed), tuple(c for c in new.contexts if c not in set(old.contexts)),
                       tuple(c for c in old.contexts if c not in set(new.contexts)), compared, tuple(changes),
                       gone, new_found, partial)


def _same(bug, others, renamed_to: str | None) -> str | None:
    """The id of a bug in ``others`` that is the same defect: same property and kfunc, a shared
    context, and the same fixing commit (or both open)."""
    for o in others:
        if (o.property == bug.property and o.kfunc in (bug.kfunc, renamed_to) and o.fixed_by == bug.fixed_by
                and set(o.contexts) & set(bug.contexts)):
            return o.id
    return None


def diff_plan(models) -> list[tuple[int, int]]:
    """Which targets are compared, as (old, new) indexes into ``models`` (anything with ``name``,
    ``subsystem`` and ``kernel``: the loaded models or their collected data), in report order:
    within a subsystem each version against the one before it, each design of a family (kernel
    "design") against the first design."""
    groups: dict[str, list[int]] = {}
    for i, m in enumerate(models):
        groups.setdefault(m.subsystem, []).append(i)
    out = []
    for group in groups.values():
        if all(models[i].kernel == "design" for i in group):
            pairs = [(group[0], i) for i in group[1:]]
        else:
            pairs = list(zip(group, group[1:]))
        out.extend((a, b) for a, b in pairs if models[a].name != models[b].name)
    return out

