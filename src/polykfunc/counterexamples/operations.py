"""What the explorer does with stored counterexamples: select them, find their model, replay
them, and look for the next one.

A store entry keeps its model by path (``bundled:<path>`` for a bundled model, so a store stays
valid when the package moves). These functions load the model as it is *now*: a replay says
whether a counterexample still holds in the current model, and a changed model digest is
reported as a warning, never silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from polykfunc.errors import SpecError, UsageError
from polykfunc.model import bundled_root, load_model
from polykfunc.model.spec import Model
from polykfunc.properties import Obligation, obligations

from polykfunc.engine.results import Counterexample
from polykfunc.engine.solver import DEFAULT_RLIMIT
from polykfunc.counterexamples.store import Entry, Store, StoreError, make_entry, model_digest, shown_file

BUNDLED_PREFIX = "bundled:"
#: How many other states of already-stored root causes `cex next` looks past before giving up.
DEFAULT_TRIES = 50


def status_of(cex: Counterexample) -> str:
    """``"note"``, ``"known"`` or ``"counterexample"``: how ``prove`` counts this counterexample."""
    if cex.severity == "note":
        return "note"
    return "known" if cex.known_bug else "counterexample"


def contexts_of(cex: Counterexample) -> tuple[str, ...]:
    """Every context the counterexample's runtime states belong to (visibility has several)."""
    names = [cex.context] + [c.get("context") for c in cex.copies]
    return tuple(dict.fromkeys(n for n in names if n))


def select_entries(entries: Iterable[Entry], *, model: str | None = None, property: str | None = None,
                   kfunc: str | None = None, context: str | None = None,
                   kernel: str | None = None) -> list[Entry]:
    """The entries matching every filter given (exact names), sorted by model, property, kfunc,
    context and id."""
    out = []
    for e in entries:
        c = e.counterexample
        if model is not None and e.model_name != model:
            continue
        if property is not None and c.property != property:
            continue
        if kfunc is not None and c.kfunc != kfunc:
            continue
        if context is not None and context not in contexts_of(c):
            continue
        if kernel is not None and c.kernel != kernel:
            continue
        out.append(e)
    return sorted(out, key=lambda e: (e.model_name, e.counterexample.property, e.counterexample.kfunc or "",
                                      e.counterexample.context or "", e.id))


# ------------------------------------------------------------------ the model of an entry

def model_path_of(entry: Entry) -> Path:
    """Where the entry's model is now: ``bundled:<rel>`` resolves under the bundled models."""
    p = entry.model_path
    if p.startswith(BUNDLED_PREFIX):
        return bundled_root() / p[len(BUNDLED_PREFIX):]
    return Path(p)


def load_entry_model(entry: Entry) -> Model:
    """The entry's model as it is now.

    Raises UsageError when its files are gone, SpecError when they no longer validate.
    """
    path = model_path_of(entry)
    if not path.exists():
        raise UsageError(f"counterexample {entry.id}: its model {entry.model_name} was at "
                         f"{shown_file(entry.model_path)}, which no longer exists; restore the model there, "
                         "or delete the entry from the store")
    model = load_model(path)
    if model.name != entry.model_name:
        raise UsageError(f"counterexample {entry.id} was found in model {entry.model_name}, but "
                         f"{shown_file(entry.model_path)} now holds model {model.name}; "
                         "run `polykfunc prove` on the model again")
    return model


def digest_warning(entry: Entry, model: Model) -> str | None:
    """A warning when the model's files changed since the counterexample was found, else None."""
    now = model_digest(model.files)
    if now == entry.model_digest:
        return None
    return (f"model {model.name} changed since counterexample {entry.id} was found "
            f"(digest {entry.model_digest} -> {now}); using the current files")


def obligation_of(model: Model, cex: Counterexample) -> Obligation:
    """The obligation of ``model`` the counterexample breaks; UsageError when it is gone."""
    for ob in obligations(model, [cex.property]):
        if ob.id == cex.obligation:
            return ob
    raise UsageError(f"model {model.name} no longer has obligation {cex.obligation} (the kfunc or the "
                     "implementation was renamed or removed); run `polykfunc prove` on the model again")


# ------------------------------------------------------------------ replay

@dataclass(frozen=True)
class ReplayOutcome:
    """What a replay found: the counterexample still holds (``replays``), or why not."""

    id: str
    model: str
    obligation: str
    context: str | None
    replays: bool
    problems: tuple[str, ...] = ()
    digest_then: str = ""
    digest_now: str | None = None  # differs from digest_then when the model changed since
    error: str | None = None       # the model could not be loaded: nothing was replayed

    @property
    def exit_code(self) -> int:
        """0 replays, 1 does not replay any more, 2 could not be checked."""
        return 2 if self.error else 0 if self.replays else 1

    @property
    def model_changed(self) -> bool:
        return self.digest_now is not None and self.digest_now != self.digest_then

    @property
    def warning(self) -> str | None:
        """A warning when the model's files changed since the counterexample was found."""
        if not self.model_changed:
            return None
        return (f"model {self.model} changed since counterexample {self.id} was found "
                f"(digest {self.digest_then} -> {self.digest_now}); the replay used the current files")

    def to_json(self) -> dict:
        return {"id": self.id, "model": self.model, "obligation": self.obligation, "context": self.context,
                "replays": self.replays, "problems": list(self.problems), "model_changed": self.model_changed,
                "digest_then": self.digest_then, "digest_now": self.digest_now, "error": self.error}


def _model_or_reason(entry: Entry) -> Model | str:
    path = model_path_of(entry)
    if not path.exists():
        return (f"its model {entry.model_name} was at {shown_file(entry.model_path)}, which no longer exists; "
                "restore the model there, or delete the entry from the store")
    try:
        return load_model(path)
    except SpecError as e:
        return f"its model does not load: {e.render()}"


def replay_entries(entries: Iterable[Entry]) -> list[ReplayOutcome]:
    """Replay every entry on its current model (each model loaded once), without the solver.

    Never raises for a model that is gone or invalid: that outcome's ``error`` says why.
    """
    from polykfunc.engine.replay import replay_problems
    models: dict[str, Model | str] = {}
    out = []
    for entry in entries:
        c = entry.counterexample
        base = dict(id=entry.id, model=entry.model_name, obligation=c.obligation, context=c.context,
                    digest_then=entry.model_digest)
        if entry.model_path not in models:
            models[entry.model_path] = _model_or_reason(entry)
        model = models[entry.model_path]
        if isinstance(model, str):
            out.append(ReplayOutcome(**base, replays=False, error=model))
            continue
        if model.name != entry.model_name:  # one path, two names: the model was renamed
            out.append(ReplayOutcome(**base, replays=False, error=f"{shown_file(entry.model_path)} now holds model "
                                     f"{model.name}, not {entry.model_name}"))
            continue
        problems = replay_problems(model, c)
        out.append(ReplayOutcome(**base, replays=not problems, problems=tuple(problems),
                                 digest_now=model_digest(model.files)))
    return out


# ------------------------------------------------------------------ the next counterexample

@dataclass(frozen=True)
class NextOutcome:
    """What `cex next` found.

    ``status`` is ``"found"`` (``entry`` is new and saved), ``"none"`` (no further counterexample
    of that obligation exists), ``"unknown"`` (z3 gave up) or ``"gave up"`` (only other states of
    root causes already stored, ``tries`` times).
    """

    status: str
    obligation: str
    entry: Entry | None = None
    same_cause: tuple[Counterexample, ...] = field(default=())
    warning: str | None = None

    def to_json(self) -> dict:
        return {"status": self.status, "obligation": self.obligation,
                "entry": self.entry.to_json() if self.entry else None,
                "other_states_of_stored_causes": [c.fingerprint for c in self.same_cause],
                "warning": self.warning}


def find_next(store: Store, entry: Entry, *, rlimit: int = DEFAULT_RLIMIT,
              tries: int = DEFAULT_TRIES) -> NextOutcome:
    """A further counterexample of ``entry``'s obligation, explained and saved in ``store``.

    Every counterexample of that obligation already stored is blocked
    (:func:`polykfunc.engine.prover.next_counterexample`). The store keeps one entry per root cause
    (fingerprint), so a state that differs but has the root cause of a stored entry is passed
    over (and blocked in turn) up to ``tries`` times, rather than replacing that entry.

    Raises UsageError/SpecError when the model is gone or changed beyond use.
    """
    from polykfunc.engine.explanation import explain
    from polykfunc.engine.prover import next_counterexample
    from polykfunc.engine.solver import Z3Session
    model = load_entry_model(entry)
    ob = obligation_of(model, entry.counterexample)
    good, _bad = store.entries()
    taken = {p.stem for p in store.files()}  # a corrupted file's id is taken too: never overwrite it
    seen = [e.counterexample for e in good
            if e.model_name == model.name and e.counterexample.obligation == ob.id]
    if entry.counterexample not in seen:
        seen.append(entry.counterexample)
    warning = digest_warning(entry, model)
    same: list[Counterexample] = []
    for _ in range(tries):
        try:
            got = next_counterexample(model, ob, seen, rlimit)
        except KeyError as e:
            raise UsageError(f"a stored counterexample of {ob.id} names variable {e}, which model "
                             f"{model.name} no longer has; run `polykfunc prove` on the model again") from None
        if got is None:
            return NextOutcome("none", ob.id, same_cause=tuple(same), warning=warning)
        if got == "unknown":
            return NextOutcome("unknown", ob.id, same_cause=tuple(same), warning=warning)
        if got.fingerprint not in taken:
            new = make_entry(model, got, explain(model, ob, got, Z3Session(rlimit)))
            store.save(new)
            return NextOutcome("found", ob.id, new, tuple(same), warning)
        same.append(got)
        seen.append(got)
    return NextOutcome("gave up", ob.id, same_cause=tuple(same), warning=warning)


def read_or_fail(store: Store, ident: str) -> Entry:
    """``store.get(ident)`` with a corrupted entry reported as a usage error (exit 2)."""
    try:
        return store.get(ident)
    except StoreError as e:
        raise UsageError(str(e)) from None


__all__ = [
    "DEFAULT_TRIES", "NextOutcome", "ReplayOutcome", "contexts_of", "digest_warning",
    "find_next", "load_entry_model", "model_path_of", "obligation_of", "read_or_fail", "replay_entries",
    "select_entries", "status_of",
]
