"""Kfunc symbols as the loader sees them, and which of them a model's kernel has.

A BPF object names a kfunc by an extern symbol. libbpf resolves the symbol by its *essential
name*: the name without its last ``___flavour`` suffix (tools/lib/bpf/relo_core.c:
bpf_core_essential_name_len, used for ksyms by libbpf.c: find_ksym_btf_id), so
``scx_bpf_dsq_insert___v2___compat`` is the kernel's ``scx_bpf_dsq_insert___v2`` and
``scx_bpf_consume___old`` is ``scx_bpf_consume``. Schedulers declare such alternatives
``__weak`` and guard each call with ``bpf_ksym_exists()``: the loader keeps the one the running
kernel has, patches the others' addresses to 0 and the verifier drops the dead branches
(libbpf.c: bpf_object__resolve_ksym_func_btf_id, bpf_object__relocate_data). A non-weak extern the
kernel lacks makes libbpf refuse to load the object.

Which kfuncs a kernel has is the model's to say (:func:`kernel_symbols`): those it models, plus
those its subsystem's other bundled models know and it lacks (absent on this kernel). What no
model knows stays undecided ("not modelled"); a richer model (a generic layer of every kernel
kfunc) simply decides more.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


def essential_name(symbol: str) -> str:
    """The kernel name libbpf resolves ``symbol`` to: without its last ``___flavour`` suffix.

    A separator is three underscores with a non-underscore on each side (libbpf:
    bpf_core_is_flavor_sep); only the last one counts.

    >>> essential_name("scx_bpf_dsq_insert___v2___compat")
    'scx_bpf_dsq_insert___v2'
    >>> essential_name("scx_bpf_consume___old"), essential_name("bpf_rcu_read_lock")
    ('scx_bpf_consume', 'bpf_rcu_read_lock')
    """
    for i in range(len(symbol) - 5, -1, -1):
        s = symbol[i:i + 5]
        if s[0] != "_" and s[1:4] == "___" and s[4] != "_":
            return symbol[:i + 1]
    return symbol


@dataclass(frozen=True)
class KernelSymbols:
    """Which kfuncs the kernel of one model has, as far as the models know."""

    model: str
    modelled: frozenset[str]                       # kfuncs the model describes (its kernel has them)
    absent: frozenset[str] = frozenset()           # kfuncs the kernel lacks (other kernels have them)
    elsewhere: dict[str, tuple[str, ...]] = field(default_factory=dict)  # kfunc -> models whose kernel has it

    def has(self, name: str) -> bool | None:
        """True when the kernel has ``name``, False when it lacks it, None when no model knows."""
        if name in self.modelled:
            return True
        if name in self.absent:
            return False
        return None


def kernel_symbols(model) -> KernelSymbols:
    """What ``model`` says about the kfuncs of its kernel (see the module docstring)."""
    return symbols_of(model.name, model.subsystem, frozenset(k.name for k in model.kfuncs))


def symbols_of(model_name: str, subsystem: str, modelled: frozenset[str]) -> KernelSymbols:
    """:func:`kernel_symbols` of a model known by its name, subsystem and kfunc names (a bundled
    model need not be loaded: :func:`family_kfuncs` has its names)."""
    elsewhere: dict[str, list[str]] = {}
    for name, names in family_kfuncs(subsystem):
        if name == model_name:
            continue
        for k in names:
            if k not in modelled:
                elsewhere.setdefault(k, []).append(name)
    return KernelSymbols(model_name, modelled, frozenset(elsewhere),
                         {k: tuple(v) for k, v in elsewhere.items()})


@lru_cache(maxsize=8)
def family_kfuncs(subsystem: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """(name, kfunc names) of every bundled kernel model of ``subsystem``, newest last.

    Read from the model files' ``[kfunc.NAME]`` tables without loading the models.
    """
    from polykfunc.model import bundled_manifests
    out = []
    for name, manifest in bundled_manifests().items():
        head = _toml(manifest).get("model", {})
        if head.get("subsystem") != subsystem or "design" in str(head.get("kernel", "design")):
            continue
        names: set[str] = set()
        for f in [*(manifest.parent / inc for inc in head.get("include", [])), manifest]:
            names |= set(_toml(f.resolve()).get("kfunc", {}))
        out.append((name, frozenset(names)))
    return tuple(sorted(out, key=lambda nk: version_key(_toml(bundled_manifests()[nk[0]])["model"]["kernel"])))


def version_key(kernel: str) -> tuple[int, int]:
    """A model's kernel as (major, minor); a kernel of no numbered release sorts newest."""
    import re
    m = re.match(r"v?(\d+)\.(\d+)", kernel)
    return (int(m.group(1)), int(m.group(2))) if m else (99, 0)


@lru_cache(maxsize=64)
def _toml(path: Path) -> dict:
    with Path(path).open("rb") as fh:
        return tomllib.load(fh)
