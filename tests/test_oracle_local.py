"""Restrictions of the running kernel (polykfunc.oracle.local): detection and the labels they give."""

from __future__ import annotations

import errno

import pytest

from polykfunc.model import load_model, resolve_target
from polykfunc.oracle import classify as cls
from polykfunc.oracle import compare as cmp
from polykfunc.oracle import local, readback, syscall
from polykfunc.oracle.runner import Observation, OracleRun, Position

_WHY = syscall.permission_problem()
live = pytest.mark.skipif(_WHY is not None, reason=_WHY or "")

ARENA = local.LocalRestriction("arena", "kernel/bpf/arena.c", "arena filtered here")


def _run(kfunc: str, outcome: str, line: str) -> OracleRun:
    pos = Position("syscall.s")
    obs = Observation(kfunc, pos, cls.Verdict(outcome, line))
    return OracleRun("6.18.44", (), (pos,), (obs,), 0.0)


def test_explaining_matches_the_cited_source_file_only():
    assert local.explaining((ARENA,), "kernel/bpf/arena.c: bpf_arena_alloc_pages (b9c5d822f677)") is ARENA
    assert local.explaining((ARENA,), "kernel/bpf/helpers.c: bpf_arena_like (x)") is None
    assert local.explaining((), "kernel/bpf/arena.c: bpf_arena_alloc_pages") is None


def test_not_allowed_arena_call_is_labelled_only_with_the_restriction():
    m = load_model(resolve_target("verifier@specialize"))
    line = "calling kernel function bpf_arena_alloc_pages is not allowed"
    bare = cmp.compare(m, _run("bpf_arena_alloc_pages", cls.NOT_ALLOWED, line))
    (d,) = bare.disagreements
    assert d.kind == cmp.DISAGREE_ADMISSION and d.local == "" and d.skew    # newest vs 6.18
    labelled = cmp.compare(m, _run("bpf_arena_alloc_pages", cls.NOT_ALLOWED, line), (ARENA,))
    (d,) = labelled.disagreements
    assert d.local == "arena filtered here" and labelled.unexplained == ()


def test_restriction_does_not_explain_other_refusals():
    """A needs_sleepable refusal of an arena kfunc is a real disagreement, not the filter."""
    m = load_model(resolve_target("verifier@specialize"))
    c = cmp.compare(m, _run("bpf_arena_alloc_pages", cls.NEEDS_SLEEPABLE, "program must be sleepable"), (ARENA,))
    assert all(d.local == "" for d in c.disagreements)


def test_detect_requires_the_filter_symbol(monkeypatch):
    monkeypatch.setattr(readback, "kallsyms", lambda: readback.Kallsyms({1: "bpf_arena_alloc_pages"}, 2))
    monkeypatch.setattr(local, "_create_errno", lambda *a: errno.EPERM)
    assert local.detect() == ()
    monkeypatch.setattr(readback, "kallsyms", lambda: readback.Kallsyms({1: "arena_kfunc_filter"}, 2))
    assert [r.name for r in local.detect()] == ["arena"]
    monkeypatch.setattr(local, "_create_errno", lambda *a: errno.EINVAL)   # upstream's answer
    assert local.detect() == ()


@live
def test_detect_on_this_kernel_agrees_with_its_arena_map_answer():
    """Live: the restriction is reported exactly when the kernel has the filter and refuses arena maps."""
    names = set(readback.kallsyms().by_address.values())
    err = local._create_errno(local.BPF_MAP_TYPE_ARENA, 4, 0, 1)
    found = [r.name for r in local.detect()]
    assert (found == ["arena"]) == ("arena_kfunc_filter" in names and err == errno.EPERM)
