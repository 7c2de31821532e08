"""The proof cache: an obligation whose content has not changed is not solved again.

A cached answer is reused only when everything that decides it is the same: the z3 version,
the encoding (:data:`polykfunc.engine.solver.ENCODING_VERSION`), the resource limit, and a stable
digest of the obligation itself (premise, goal, condition, copies, witness, per_context,
severity, on_vacuous, the coordinates the explanation uses) and of the model's variable
declarations (which fix the values a counterexample lists). The key is a sha256 over a
canonical serialisation; Python's ``hash()`` is salted per process and is never used.

What is stored is what the solver said, never a verdict built from the model's labels:
the status of the search, and for each counterexample the raw values of its variables. On a
hit every counterexample is rebuilt with :func:`polykfunc.engine.witness.build` (so known-bug
matching, labels and sources are today's) and replayed with
:func:`polykfunc.engine.replay.replay_problems`; one that no longer replays makes the entry stale and
the obligation is solved again. ``unknown`` results are never stored.

The cache is a folder (default ``.polykfunc/cache``) with one JSON file per model name, holding
the latest entry of each obligation, so it never grows past one entry per obligation. A file
that cannot be read is ignored (and rewritten), never an error: the cache only saves time.

>>> from polykfunc.model import load_model, resolve_target
>>> from polykfunc.engine.prover import prove_model
>>> cache = ProofCache(tmp)                                         # doctest: +SKIP
>>> prove_model(load_model(resolve_target("toy")), cache=cache)     # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from polykfunc.model.expr import (
    And, Arith, BoolType, Cmp, Const, EnumType, Expr, FlagsType, FlagTest, Implies, IntType, Ite,
    Not, Or, Var,
)
from polykfunc.model.spec import Model
from polykfunc.properties import Obligation

from polykfunc.engine.results import ObligationResult, Status

FORMAT = "polykfunc.proof-cache"
#: Bumped whenever what an entry means changes (part of every key).
VERSION = 1
DEFAULT_CACHE = Path(".polykfunc") / "cache"

_DIGEST = "_stable_digest"  # per-node memo, stored like expr.py's cached hash


# ------------------------------------------------------------------ stable digests

def _type_canon(t) -> list:
    # IntType compares equal whatever its range, so the range must be spelled out here
    if isinstance(t, BoolType):
        return ["bool"]
    if isinstance(t, IntType):
        return ["int", t.lo, t.hi]
    if isinstance(t, EnumType):
        return ["enum", list(t.values)]
    if isinstance(t, FlagsType):
        return ["flags", list(t.values)]
    raise TypeError(f"unknown type {t!r}")  # pragma: no cover


def _value_canon(v) -> list:
    if isinstance(v, bool):  # before int: True == 1 must not collide
        return ["b", v]
    if isinstance(v, int):
        return ["i", v]
    if isinstance(v, str):
        return ["s", v]
    if isinstance(v, frozenset):
        return ["f", sorted(v)]
    raise TypeError(f"unknown constant {v!r}")  # pragma: no cover


def expr_digest(e: Expr) -> str:
    """A sha256 of the expression's structure, equal in every process and on every machine.

    Memoised on the node (expression trees are immutable and heavily shared), so digesting
    every obligation of a model costs about one walk over its distinct nodes.

    >>> from polykfunc.model.expr import Var, INT, IntType
    >>> expr_digest(Var("state", "cpu", IntType(0, 3))) == expr_digest(Var("state", "cpu", IntType(0, 7)))
    False
    """
    hit = e.__dict__.get(_DIGEST)
    if hit is not None:
        return hit
    if isinstance(e, Const):
        parts: list = ["Const", _type_canon(e.type), _value_canon(e.value)]
    elif isinstance(e, Var):
        parts = ["Var", e.ns, e.name, _type_canon(e.type), e.copy]
    elif isinstance(e, FlagTest):
        parts = ["FlagTest", expr_digest(e.var), e.member]
    elif isinstance(e, (Not, And, Or, Implies, Ite)):
        parts = [type(e).__name__, [expr_digest(c) for c in e.children()]]
    elif isinstance(e, (Cmp, Arith)):
        parts = [type(e).__name__, e.op, expr_digest(e.lhs), expr_digest(e.rhs)]
    else:  # pragma: no cover - every node kind is listed above
        raise TypeError(f"unknown expression node {e!r}")
    out = _sha(parts)
    object.__setattr__(e, _DIGEST, out)
    return out


def _sha(data) -> str:
    return hashlib.sha256(json.dumps(data, separators=(",", ":"), ensure_ascii=True).encode()).hexdigest()


def obligation_digest(model: Model, ob: Obligation) -> str:
    """The content of ``ob`` that decides its answer and the shape of its counterexamples."""
    return _sha([
        ob.id, ob.property, ob.kfunc, ob.impl, ob.context, ob.case,
        expr_digest(ob.premise), expr_digest(ob.goal),
        expr_digest(ob.condition) if ob.condition is not None else None,
        ob.copies, ob.witness, ob.per_context, ob.severity, ob.on_vacuous,
        _vars_digest(model),
    ])


def _vars_digest(model: Model) -> str:
    """A digest of every declared variable (name and type) of ``model``, once per model."""
    memo = model.derived("cache")
    if "vars" not in memo:
        memo["vars"] = _sha([[v.ns, v.name, _type_canon(v.type)] for v in model.vars])
    return memo["vars"]


def cache_key(model: Model, ob: Obligation, rlimit: int) -> str:
    """The cache key of ``ob``: format, z3 version, encoding version, rlimit and content."""
    from polykfunc.engine.solver import ENCODING_VERSION, z3_version
    return _sha([FORMAT, VERSION, z3_version(), ENCODING_VERSION, rlimit, obligation_digest(model, ob)])


# ------------------------------------------------------------------ the cache

@dataclass
class CacheStats:
    """What the cache did in one run (per process)."""

    hits: int = 0
    misses: int = 0
    stale: int = 0      # entries whose counterexamples no longer replayed: solved again
    stored: int = 0
    unreadable: list[str] = field(default_factory=list)

    def merge(self, other: "CacheStats") -> None:
        self.hits += other.hits
        self.misses += other.misses
        self.stale += other.stale
        self.stored += other.stored
        self.unreadable.extend(other.unreadable)

    def to_json(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "stale": self.stale, "stored": self.stored,
                "unreadable": list(self.unreadable)}


class ProofCache:
    """A folder of cached obligation results, one JSON file per model name."""

    def __init__(self, root: str | Path = DEFAULT_CACHE):
        self.root = Path(root)
        self.stats = CacheStats()
        self._files: dict[str, dict] = {}      # model name -> {obligation id: entry}
        self._dirty: set[str] = set()
        self._last_key: tuple | None = None     # (model, obligation, rlimit, key) of the last lookup

    def path_for(self, model_name: str) -> Path:
        return self.root / (re.sub(r"[^\w.@+-]", "_", model_name) + ".json")

    def _entries(self, model_name: str) -> dict:
        got = self._files.get(model_name)
        if got is None:
            got = self._read(self.path_for(model_name))
            self._files[model_name] = got
        return got

    def _read(self, path: Path) -> dict:
        if not path.is_file():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT or data.get("version") != VERSION:
                return {}
            entries = data["entries"]
            if not isinstance(entries, dict):
                raise TypeError("entries is not a table")
            return entries
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as e:
            self.stats.unreadable.append(f"{path}: {e}")
            return {}

    # -------------------------------------------------------------- lookup and store
    def _key(self, model: Model, ob: Obligation, rlimit: int) -> str:
        """:func:`cache_key`, computed once for the lookup and the store that follows it."""
        last = self._last_key
        if last is None or last[0] is not model or last[1] is not ob or last[2] != rlimit:
            last = self._last_key = (model, ob, rlimit, cache_key(model, ob, rlimit))
        return last[3]

    def lookup(self, model: Model, ob: Obligation, rlimit: int, known=None) -> ObligationResult | None:
        """The result of ``ob`` rebuilt from the cache, or None (solve it).

        Every cached counterexample is rebuilt on the current model and must replay; if one
        does not, the entry is stale and None is returned.
        """
        entry = self._entries(model.name).get(ob.id)
        key = self._key(model, ob, rlimit)
        if not isinstance(entry, dict) or entry.get("key") != key:
            self.stats.misses += 1
            return None
        try:
            result = _rebuild(model, ob, entry, known)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            result = None
        if result is None:
            self.stats.stale += 1
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        return result

    def store(self, model: Model, ob: Obligation, rlimit: int, result: ObligationResult) -> None:
        """Remember ``result`` for ``ob`` (never an unknown one)."""
        if result.status == Status.UNKNOWN:
            return
        self._entries(model.name)[ob.id] = {
            "key": self._key(model, ob, rlimit),
            "status": result.status.name,
            "reason": result.reason,
            "checks": result.checks,
            "counterexamples": [[[k, _json_value(v)] for k, v in c.values] for c in result.counterexamples],
        }
        self._dirty.add(model.name)
        self.stats.stored += 1

    def save(self) -> None:
        """Write every changed model file atomically. An unwritable folder is not an error
        (the next run solves again); it is reported in ``stats.unreadable``."""
        for name in sorted(self._dirty):
            path = self.path_for(name)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
                os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the cache from a CI cache step's user
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump({"format": FORMAT, "version": VERSION, "model": name,
                               "entries": self._files[name]}, fh, separators=(",", ":"), sort_keys=True)
                os.replace(tmp, path)
            except OSError as e:
                self.stats.unreadable.append(f"{path}: cannot write: {e}")
        self._dirty.clear()


def _json_value(v):
    return sorted(v) if isinstance(v, frozenset) else v


def _rebuild(model: Model, ob: Obligation, entry: dict, known) -> ObligationResult | None:
    from polykfunc.engine.witness import build, env_of
    from polykfunc.engine.prover import settle
    from polykfunc.engine.replay import replay_problems
    status = Status[entry["status"]]
    if status == Status.UNKNOWN:
        return None
    cexs = []
    for values in entry["counterexamples"]:
        env = env_of(tuple((k, v) for k, v in values))
        cex = build(model, ob, env, known)
        if replay_problems(model, cex):
            return None
        cexs.append(cex)
    if cexs:
        status, proved = settle(model, ob, cexs)
    else:  # a witness, like the prover's early returns, proves no context by itself
        proved = () if ob.witness else settle(model, ob, (), status)[1]
    return ObligationResult(ob.id, ob.property, ob.model, ob.summary, ob.kfunc, ob.impl, ob.context,
                            status, tuple(cexs), entry.get("reason", ""), 0.0, int(entry.get("checks", 0)),
                            proved)
