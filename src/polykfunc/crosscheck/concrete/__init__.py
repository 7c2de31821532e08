"""Concrete resolvers: executable descriptions of how the kernel really picks a kfunc's
implementation, written independently of the models' rule tables.

A model says what the kernel does in TOML rules that the SMT encoding reads; a concrete
resolver says it again in Python, shaped like the kernel code it cites (the load-time
registration and filters, the checks at the top of each kfunc, the branches that pick a
variant). The two descriptions must agree; :mod:`polykfunc.crosscheck.fuzz` checks that they do.

The interface (also what ``polykfunc fuzz --resolver module:function`` loads):

    resolve(kfunc: str, view: dict, tracked: dict, arg: dict) -> str

``view``, ``tracked`` and ``arg`` map a model's variable names (without namespace) to values
(bool, int, enum member name, or a frozenset of flag names). The result is the name of the
implementation the call runs, :data:`REJECTED` ("rejected at load": the program does not
verify) or :data:`REFUSED` ("refused at run time": the kfunc reports an error and does
nothing). A resolver that does not decide some kfunc raises :class:`NotCovered` for it (or
lists the kfuncs it decides in a ``kfuncs`` attribute of the function).

>>> r = bundled_resolver("sched_ext@v6.12")
>>> r.resolve("scx_bpf_dispatch", {"prog_type": "STRUCT_OPS", "st_ops": "sched_ext_ops",
...     "member": "dispatch"}, {"kf_mask": frozenset({"DISPATCH"}), "ddsp": "none"},
...     {"task": "other", "task_cpu": 1})
'buffered'
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from polykfunc.errors import UsageError

REJECTED = "rejected at load"
REFUSED = "refused at run time"
NO_IMPLEMENTATION = (REJECTED, REFUSED)

ResolveFn = Callable[[str, Mapping[str, object], Mapping[str, object], Mapping[str, object]], str]


class NotCovered(Exception):
    """A resolver does not decide this kfunc (the fuzzer skips it)."""


@dataclass(frozen=True)
class Resolver:
    """A resolve function with what it covers."""

    name: str
    function: ResolveFn
    model: str | None = None              # the bundled model it describes, if any
    kfuncs: frozenset[str] | None = None  # the kfuncs it decides (None: it says per call)
    explainer: Callable | None = None     # optional: (kfunc, view, tracked, arg) -> (outcome, why)

    def covers(self, kfunc: str) -> bool:
        return self.kfuncs is None or kfunc in self.kfuncs

    def resolve(self, kfunc: str, view: Mapping[str, object], tracked: Mapping[str, object],
                arg: Mapping[str, object]) -> str:
        """The outcome of one call; NotCovered when the resolver does not decide ``kfunc``."""
        if not self.covers(kfunc):
            raise NotCovered(kfunc)
        out = self.function(kfunc, view, tracked, arg)
        if out is None:
            raise NotCovered(kfunc)
        return out

    def explain(self, kfunc: str, view: Mapping[str, object], tracked: Mapping[str, object],
                arg: Mapping[str, object]) -> tuple[str, str]:
        """The outcome and, when the resolver can say, why (the verifier's or kernel's message)."""
        if self.explainer is not None and self.covers(kfunc):
            return self.explainer(kfunc, view, tracked, arg)
        return self.resolve(kfunc, view, tracked, arg), ""


def same_choice(a: str, b: str) -> bool:
    """Two outcomes pick the same implementation, or neither picks one (a load-time
    rejection and a run-time refusal both leave the call without implementation, as the
    refinement property counts them)."""
    return a == b or (a in NO_IMPLEMENTATION and b in NO_IMPLEMENTATION)


_BUNDLED = {
    "sched_ext@v6.12": "polykfunc.crosscheck.concrete.sched_ext_v612",
    "sched_ext@v7.1": "polykfunc.crosscheck.concrete.sched_ext_v71",
    "sched_ext@newest": "polykfunc.crosscheck.concrete.sched_ext_newest",
    "verifier@specialize": "polykfunc.crosscheck.concrete.verifier",
}


def bundled_resolvers() -> dict[str, Resolver]:
    """Every bundled model that has a concrete resolver, mapped to it."""
    return {name: bundled_resolver(name) for name in _BUNDLED}  # type: ignore[misc]


def bundled_resolver(model_name: str) -> Resolver | None:
    """The concrete resolver of a bundled model, or None when it has none."""
    mod = _BUNDLED.get(model_name)
    if mod is None:
        return None
    m = importlib.import_module(mod)
    return Resolver(f"{mod}:resolve", m.resolve, model_name, frozenset(m.KFUNCS), getattr(m, "explain", None))


def load_resolver(spec: str) -> Resolver:
    """A user's resolver from ``module:function`` (importable) or ``path/file.py:function``.

    Raises :class:`~polykfunc.errors.UsageError` naming what is wrong and how to fix it.
    """
    if ":" not in spec:
        raise UsageError(f"--resolver {spec!r} needs the form module:function or path/to/file.py:function")
    where, _, fname = spec.rpartition(":")
    if not where or not fname.isidentifier():
        raise UsageError(f"--resolver {spec!r}: {fname!r} is not a function name; "
                         "write module:function or path/to/file.py:function")
    module = _import(where, spec)
    fn = getattr(module, fname, None)
    if fn is None:
        names = [n for n in dir(module) if callable(getattr(module, n)) and not n.startswith("_")]
        from polykfunc.errors import close_matches
        hint = close_matches(fname, names)
        raise UsageError(f"--resolver {spec!r}: {where} has no function {fname!r}"
                         + (f"; {hint}" if hint else f" (it defines: {', '.join(sorted(names)[:8]) or 'none'})"))
    if not callable(fn):
        raise UsageError(f"--resolver {spec!r}: {fname} is not a function")
    kfuncs = getattr(fn, "kfuncs", None)
    return Resolver(spec, fn, getattr(module, "MODEL", None), frozenset(kfuncs) if kfuncs else None,
                    getattr(module, "explain", None) if fname == "resolve" else None)


def _import(where: str, spec: str):
    path = Path(where)
    if where.endswith(".py") or path.exists():
        if not path.is_file():
            raise UsageError(f"--resolver {spec!r}: no such file {where}")
        name = f"_polykfunc_user_resolver_{abs(hash(str(path.resolve())))}"
        loader = importlib.util.spec_from_file_location(name, path)
        if loader is None or loader.loader is None:
            raise UsageError(f"--resolver {spec!r}: {where} is not a Python file")
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module
        try:
            loader.loader.exec_module(module)
        except Exception as e:  # the user's module failed to import: say so, no traceback
            raise UsageError(f"--resolver {spec!r}: importing {where} failed: {type(e).__name__}: {e}") from None
        return module
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as e:
        raise UsageError(f"--resolver {spec!r}: cannot import module {where!r} ({e}); give an importable "
                         "module name or a path to a .py file") from None
    except Exception as e:
        raise UsageError(f"--resolver {spec!r}: importing {where} failed: {type(e).__name__}: {e}") from None


__all__ = ["NO_IMPLEMENTATION", "NotCovered", "REFUSED", "REJECTED", "Resolver", "bundled_resolver",
           "bundled_resolvers", "load_resolver", "same_choice"]
