"""Restrictions of the running kernel that no upstream tree has, detected on the machine.

A model describes an upstream tree; the running kernel may be a vendor build that removes
features. When the kernel refuses a kfunc because of such a local change, the difference is
not the model's error and not version skew either: :func:`detect` finds each restriction from
evidence on this machine, and :mod:`polykfunc.oracle.compare` labels the cells it explains.

Known restriction (each with the evidence that must all hold):

``arena`` -- the kernel carries ``arena_kfunc_filter``, a kfunc filter that upstream
``kernel/bpf/arena.c`` does not register (upstream registers ``arena_kfuncs`` for
``BPF_PROG_TYPE_UNSPEC`` without ``.filter``, in every tree read: 6.12, 6.18 and b9c5d822f677),
and ``BPF_MAP_CREATE`` of a ``BPF_MAP_TYPE_ARENA`` with attributes ``arena_map_alloc`` rejects
(``key_size`` 4: upstream answers EINVAL and creates nothing) fails with EPERM: the map type is
refused before allocation, although CAP_BPF map types of the same ``map_create`` case
(bloom filter) are created. The filter makes ``btf_kfunc_id_set_contains`` return NULL, which
``check_kfunc_call`` reports as "calling kernel function ... is not allowed". Whether the
filter denies the arena kfuncs always or only to programs without an arena map
(``prog->aux->arena``) cannot be told here: no program can use an arena on this kernel.
"""

from __future__ import annotations

import errno as errno_mod
from dataclasses import dataclass

from . import readback, syscall

BPF_MAP_TYPE_ARENA = 33
BPF_MAP_TYPE_BLOOM_FILTER = 30


@dataclass(frozen=True)
class LocalRestriction:
    """One local restriction: the kernel source file whose kfuncs it removes, and why."""

    name: str
    source_file: str                 # the kfuncs a model cites from this file are affected
    reason: str                      # one line: what the kernel does and the evidence
    evidence: tuple[str, ...] = ()


def _create_errno(map_type: int, key_size: int, value_size: int, max_entries: int) -> int:
    with syscall.create_map(map_type, key_size, value_size, max_entries) as m:
        return 0 if m.loaded else m.errno


def _arena(symbols: frozenset[str]) -> LocalRestriction | None:
    if "arena_kfunc_filter" not in symbols:
        return None
    arena_err = _create_errno(BPF_MAP_TYPE_ARENA, 4, 0, 1)
    if arena_err != errno_mod.EPERM:
        return None
    bloom_err = _create_errno(BPF_MAP_TYPE_BLOOM_FILTER, 0, 4, 16)
    evidence = (
        "/proc/kallsyms: arena_kfunc_filter (upstream kernel/bpf/arena.c registers arena_kfuncs "
        "for BPF_PROG_TYPE_UNSPEC without a filter)",
        "BPF_MAP_CREATE(BPF_MAP_TYPE_ARENA, key_size 4): EPERM before arena_map_alloc "
        "(upstream: EINVAL)" + ("; a bloom-filter map (same CAP_BPF case of map_create) is created"
                                if bloom_err == 0 else ""),
    )
    reason = ("this kernel filters the arena kfuncs out (arena_kfunc_filter, not in upstream arena.c) "
              "and refuses arena maps (EPERM): a local restriction, not the model's error")
    return LocalRestriction("arena", "kernel/bpf/arena.c", reason, evidence)


def detect() -> tuple[LocalRestriction, ...]:
    """The local restrictions of the running kernel (needs bpf(); see the module doc)."""
    syms = readback.kallsyms()
    names = frozenset(syms.by_address.values())
    found = [r for r in (_arena(names),) if r is not None]
    return tuple(found)


def explaining(restrictions: tuple[LocalRestriction, ...], kfunc_source: str) -> LocalRestriction | None:
    """The restriction that removes a kfunc the model cites from ``kfunc_source`` (its source text)."""
    path = kfunc_source.split(":", 1)[0].strip()
    for r in restrictions:
        if path == r.source_file:
            return r
    return None
