"""Which model to check an object against when the user names none.

The object says which kernel it needs: a ``__weak`` kfunc extern is an alternative the loader may
patch out, a non-weak one must exist or libbpf refuses to load the object. So the model is the
newest bundled one of the subsystem whose kernel has every non-weak kfunc the object calls
(among those the subsystem's models know). The subsystem is sched_ext when the object
implements ``struct sched_ext_ops``, or calls a kfunc a sched_ext model knows from any program
(a ``tcp_congestion_ops`` program calling ``scx_bpf_kick_cpu`` is checked with the model's
``other_struct_ops`` context); other objects are checked against sched_ext@newest too, where
every call they make is reported "not modelled" (a generic layer of all kernel kfuncs, when a
model has one, decides more).
"""

from __future__ import annotations

from dataclasses import dataclass

from .symbols import family_kfuncs

SCHED_EXT_STRUCTS = frozenset({"sched_ext_ops", "sched_ext_ops_cid"})
DEFAULT_SUBSYSTEM = "sched_ext"


@dataclass(frozen=True)
class ModelChoice:
    """A bundled model name and the reason it was chosen (printed on check-prog's first line)."""

    name: str
    why: str


def kfunc_externs(obj) -> dict[str, bool]:
    """Every kfunc the object calls (its essential name) -> whether all its externs are ``__weak``."""
    out: dict[str, bool] = {}
    for fn in obj.functions.values():
        for insn in fn.insns:
            if insn.is_call:
                t = obj.call_target(fn, insn)
                if t.kind == "kfunc":
                    out[t.name] = out.get(t.name, True) and t.weak
    return out


def choose_model(obj) -> ModelChoice:
    """The model check-prog uses for ``obj`` without ``--model`` (see the module docstring)."""
    structs = set(obj.struct_types.values())
    calls = kfunc_externs(obj)
    family = family_kfuncs(DEFAULT_SUBSYSTEM)            # oldest first
    known = frozenset().union(*(names for _, names in family))
    newest = family[-1][0]
    if structs & SCHED_EXT_STRUCTS:
        what = "the object implements struct " + "/".join(sorted(structs & SCHED_EXT_STRUCTS))
    elif set(calls) & known:
        other = ", ".join(f"struct {s}" for s in sorted(structs)) or "no struct_ops"
        what = f"the object ({other}) calls sched_ext kfuncs"
    else:
        return ModelChoice(newest, "the object calls no kfunc a bundled model describes; --model to choose")
    required = sorted(k for k, weak in calls.items() if not weak and k in known)
    for name, names in reversed(family):
        if set(required) <= names:
            if name == newest:
                return ModelChoice(name, f"{what}; --model to choose")
            lacking = sorted(set(required) - family[-1][1])
            return ModelChoice(name, f"{what} and calls {', '.join(lacking)} without __weak, which newer kernels "
                                     f"lack: {name} is the newest model whose kernel has them; --model to choose")
    return ModelChoice(newest, f"{what}; no bundled kernel has all of its non-weak kfuncs "
                               f"({', '.join(required)}); --model to choose")
