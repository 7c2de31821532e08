"""The report's parallel collection says the same as the serial one, and its speed-ups keep
their answers: batched diagrams, diff causes answered elsewhere, lazy solver values, the
on-demand BTF reader, model errors across processes."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

import optional_tools
from polykfunc.counterexamples.graph import Edge, Graph, Node
from polykfunc.errors import SpecError, Where
from polykfunc.model import load_model, resolve_target
from polykfunc.model.expr import INT, IntType, Var, conj, Cmp, Const
from polykfunc.report.data import collect
from polykfunc.report.diff import answer_causes, diff_questions, version_diff
from polykfunc.report import svg as svgmod

FAMILY = [f"design-dispatch@{d}" for d in ("a-runtime", "b-resolver", "c-build", "d-program", "e-kernel")]


def _what_it_says(data):
    """Everything a report states about its models and diffs, without timings."""
    return (
        [(m.name, m.context_groups, m.kfunc_groups, m.bugs, [(c.anchor, c.status, c.explanation, c.chain, c.primary)
                                                             for c in m.cexs],
          m.lock_uses, m.nesting, m.design, m.matrix_complete) for m in data.models],
        data.diffs, data.verdict, data.changed,
    )


@pytest.fixture(scope="module")
def serial():
    return collect([resolve_target(t) for t in FAMILY], jobs=1)


def test_the_report_is_the_same_for_any_number_of_workers(serial):
    assert serial.diffs and any(ch.causes for d in serial.diffs for ch in d.changes)  # causes are asked
    parallel = collect([resolve_target(t) for t in FAMILY], jobs=3)
    assert _what_it_says(parallel) == _what_it_says(serial)


def test_diff_causes_answered_elsewhere_give_the_same_diff(serial):
    old, new = serial.models[0], serial.models[1]
    old_model, new_model = (load_model(resolve_target(t)) for t in FAMILY[:2])
    asked_old, asked_new = diff_questions(old, new, old_model, new_model)
    assert asked_old and asked_new
    answers = (answer_causes(old_model, asked_old, 20_000_000), answer_causes(new_model, asked_new, 20_000_000))
    assert version_diff(old, new, old_model, new_model, 20_000_000, answers=answers) == \
        version_diff(old, new, old_model, new_model, 20_000_000)


def test_an_invalid_model_is_reported_before_any_proof_also_with_workers(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.toml").write_text('[model]\nname = "x"\nkernel = \n')
    for jobs in (1, 2):
        with pytest.raises(SpecError, match="not valid TOML"):
            collect([resolve_target(FAMILY[0]), bad], jobs=jobs)


def test_a_spec_error_crosses_a_process_boundary_whole():
    e = SpecError(Where("m/model.toml", "model.kernel", 3), "kernel is missing", "name a kernel")
    back = pickle.loads(pickle.dumps(e))
    assert str(back) == str(e) and back.where == e.where and back.hint == "name a kernel"


def _graphs():
    return [(Graph("a", (Node("a1", "context enqueue", "context"), Node("a2", "kfunc x", "kfunc")),
                   (Edge("a1", "a2", "calls"),)), "first"),
            (Graph("empty", (), ()), "nothing"),
            (Graph("b", (Node("b1", 'violated: "p" <held>', "violated"),), ()), "second")]


def test_diagrams_drawn_in_one_graphviz_run_equal_one_run_each():
    optional_tools.require("dot")
    batch = svgmod.render_svgs(_graphs())
    assert batch == [svgmod.render_svg(g, title=t) for g, t in _graphs()]
    assert batch[1] == "" and 'role="img"' in batch[0] and "<title>second</title>" in batch[2]


def test_diagrams_fall_back_to_the_builtin_layout_when_graphviz_fails(monkeypatch):
    monkeypatch.setattr(svgmod, "_dot_batch", lambda graphs, direction: None)
    monkeypatch.setattr(svgmod.shutil, "which", lambda name: "/usr/bin/dot")
    out = svgmod.render_svgs(_graphs())
    assert out[1] == "" and out[0] == svgmod.layered_svg(svgmod.wrapped(_graphs()[0][0]), title="first")


def test_lazily_read_values_are_the_values_read_eagerly():
    from polykfunc.engine.solver import Z3Session
    x, y = Var("state", "x", IntType(0, 7)), Var("state", "y", IntType(0, 7))
    f = conj(Cmp(">", x, Const(5, INT)), Cmp("==", y, Const(2, INT)))
    s = Z3Session()
    eager, lazy = s.check([f], [x, y]), s.check([f], [x, y], lazy=True)
    assert dict(lazy.values) == eager.values and lazy.values[y.key] == 2 and len(lazy.values) == 2
    with pytest.raises(KeyError):
        lazy.values[("state", "z", 0)]


def test_reading_btf_for_the_oracle_does_not_load_the_program_checker():
    code = "import sys, polykfunc.oracle.inventory; print('networkx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    from polykfunc.programs import check_object, compare, read_object  # the package's API still works
    assert callable(check_object) and callable(compare) and callable(read_object)


def test_encoding_through_the_c_api_builds_the_terms_of_z3s_python_operators():
    """The encoder builds terms with z3's C API; they must be the very terms z3's Python
    operators build (same argument order too), or the solver's answers would change."""
    import z3
    from polykfunc.engine.solver import Z3Session
    from polykfunc.model.expr import Arith, BOOL, Implies, Ite, Not
    x, y, b = Var("state", "x", IntType(0, 7)), Var("state", "y", IntType(0, 7)), Var("state", "b", BOOL)
    four = Const(4, INT)
    s = Z3Session()
    X, Y, B = z3.Int("state.x", s.ctx), z3.Int("state.y", s.ctx), z3.Bool("state.b", s.ctx)
    F = z3.IntVal(4, s.ctx)
    cases = {
        Cmp("<", x, four): X < F, Cmp("<", four, x): F < X, Cmp(">=", x, y): X >= Y, Cmp("!=", x, four): X != F,
        Cmp("==", x, four): X == F, Cmp("==", b, Const(True, BOOL)): B == z3.BoolVal(True, s.ctx),
        Not(b): z3.Not(B), Implies(b, Cmp("<=", x, y)): z3.Implies(B, X <= Y),
        Ite(b, x, four): z3.If(B, X, F), Ite(b, b, Not(b)): z3.If(B, B, z3.Not(B)),
        Cmp("==", Arith("+", x, four), Arith("-", y, x)): X + F == Y - X,
    }
    for expr, term in cases.items():
        assert s.encode(expr).sexpr() == term.sexpr(), expr
