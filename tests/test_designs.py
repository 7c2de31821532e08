"""compare-designs: the five designs of each family, compared on the same properties, from proofs."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from polykfunc.model import bundled_path, load_model
from polykfunc.programs.designs import compare, design_models, design_row

EXE = Path(sys.executable).parent / "polykfunc"


@pytest.fixture(scope="module")
def table():
    return {r.model: r for r in compare().rows}


def test_every_family_has_the_five_designs():
    found = design_models()
    for family in ("dispatch", "argtype"):
        assert sorted(d for f, d, _ in found.values() if f == family) == \
            ["a-runtime", "b-resolver", "c-build", "d-program", "e-kernel"]


def test_the_dispatch_family(table):
    a, b, d, e = (table[f"design-dispatch@{x}"] for x in ("a-runtime", "b-resolver", "d-program", "e-kernel"))
    # (a) run-time selection: safe everywhere, but every choice needs per-CPU state
    assert a.properties["safety"] == "holds" and a.properties["visibility"] == "holds (run-time choice)"
    assert any("dispatch kfunc called from a nested operation" in c or "tracked.kf_mask.REST" in c
               for c in a.runtime_checks)
    # (b) the seed's resolver cannot serve an instruction shared by the op and an async callback
    assert any("view.reach=mixed" in s for s in b.cannot_resolve)
    assert any("p is the op's task" in c for c in b.runtime_checks)
    # (d) one choice per program: the op's implementation runs in its bpf_timer callbacks
    assert any(s.startswith("scx_bpf_dsq_move_to_local in async_callback") for s in d.unsafe)
    # (e) the kernel's per-member filter has the same blind spot, without the v7.0 run-time check
    assert e.properties["safety"] == "fails (declared)"
    assert {s.split(" (")[0] for s in e.unsafe} == {"scx_bpf_dsq_insert in async_callback",
                                                    "scx_bpf_dsq_move_to_local in async_callback"}


def test_the_argument_type_family(table):
    a, b, c, e = (table[f"design-argtype@{x}"] for x in ("a-runtime", "b-resolver", "c-build", "e-kernel"))
    assert a.properties["safety"] == "holds" and a.cannot_resolve == ()
    assert b.properties["safety"] == "holds" and any("shared_helper" in s for s in b.cannot_resolve)
    assert any(s.startswith("bpf_obj_insert in cast") for s in c.unsafe)          # C casts lie
    assert e.properties["safety"] == "holds" and any("cast" in s for s in e.cannot_resolve)


def test_the_table_is_derived_from_proofs_not_written():
    m = load_model(bundled_path("design-dispatch@a-runtime"))
    k = m.kfunc("scx_bpf_dsq_move_to_local")
    # drop the nested-op boundary rule: the comparison must notice
    weaker = replace(m, kfuncs=tuple(replace(x, select=x.select[:1] + x.select[2:]) if x is k else x
                                     for x in m.kfuncs), known_bugs=())
    row = design_row(weaker, "dispatch", "a-runtime")
    assert row.properties["safety"] == "FAILS"
    assert any(s.startswith("scx_bpf_dsq_move_to_local in dequeue") for s in row.unsafe)


def test_cli(table):
    r = subprocess.run([str(EXE), "compare-designs", "--family", "argtype", "--json"], capture_output=True, text=True)
    assert r.returncode == 0
    rows = json.loads(r.stdout)["designs"]
    assert [x["design"] for x in rows] == ["a-runtime", "b-resolver", "c-build", "d-program", "e-kernel"]
    r = subprocess.run([str(EXE), "compare-designs", "--family", "nope"], capture_output=True, text=True)
    assert r.returncode == 2 and "no design family nope" in r.stderr
