"""The expression language (docs/spec-format.md §3): parsing, typing, errors, evaluation, and
agreement between the z3 encoding and concrete evaluation."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from polykfunc.model.expr import (
    BOOL, FALSE, TRUE, EnumType, FlagsType, IntType, evaluate, variables,
)
from polykfunc.model.parse import ExprError, Scope, excerpt, parse_expr
from polykfunc.engine.solver import Z3Session

# --------------------------------------------------------------------------- vocabulary

X_RANGE = (-1, 2)
Y_RANGE = (0, 1)
E_VALUES = ("task", "softirq", "nmi")
M_VALUES = ("A", "B")

TYPES = {
    ("state", "b"): BOOL,
    ("view", "c"): BOOL,
    ("state", "x"): IntType(*X_RANGE),
    ("arg", "y"): IntType(*Y_RANGE),
    ("state", "e"): EnumType(E_VALUES),
    ("tracked", "m"): FlagsType(M_VALUES),
}
ALL_NS = frozenset({"view", "state", "tracked", "arg"})

# every (namespace, name) with its concrete domain, for brute force
DOMAINS = {
    ("state", "b"): (False, True),
    ("view", "c"): (False, True),
    ("state", "x"): tuple(range(X_RANGE[0], X_RANGE[1] + 1)),
    ("arg", "y"): tuple(range(Y_RANGE[0], Y_RANGE[1] + 1)),
    ("state", "e"): E_VALUES,
    ("tracked", "m"): tuple(frozenset(s) for r in range(len(M_VALUES) + 1)
                            for s in itertools.combinations(M_VALUES, r)),
}


def scope(namespaces=ALL_NS, kfunc_sets=None, kfunc_flags=None) -> Scope:
    preds = {}
    sc = Scope(TYPES, frozenset(namespaces), preds, kfunc_sets, kfunc_flags)
    full = Scope(TYPES, ALL_NS, preds)
    # predicates are parsed on demand, over every namespace, like the validator does
    preds["x_set"] = lambda: parse_expr("state.x != -1", full)
    preds["x_high"] = lambda: parse_expr("state.x >= 1 and x_set", full)
    preds["x_hold"] = lambda: parse_expr("state.x == 0", full)
    return sc


def all_envs():
    keys = list(DOMAINS)
    for combo in itertools.product(*(DOMAINS[k] for k in keys)):
        yield {(ns, name, 0): v for (ns, name), v in zip(keys, combo)}


ENVS = list(all_envs())


def plain(env):
    """The environment as short names for the oracles below."""
    return {name: v for (_, name, _), v in env.items()}


# --------------------------------------------------------------------------- every form of §3

FORMS = [
    # literals
    ("true", lambda s: True),
    ("false", lambda s: False),
    ("True", lambda s: True),
    ("False", lambda s: False),
    ("state.x == -1", lambda s: s["x"] == -1),
    ("state.x == 2", lambda s: s["x"] == 2),
    ("state.e == 'softirq'", lambda s: s["e"] == "softirq"),
    ('state.e == "softirq"', lambda s: s["e"] == "softirq"),
    ("'nmi' == state.e", lambda s: s["e"] == "nmi"),
    # variables, flags members
    ("state.b", lambda s: s["b"]),
    ("view.c", lambda s: s["c"]),
    ("tracked.m.A", lambda s: "A" in s["m"]),
    ("tracked.m.B", lambda s: "B" in s["m"]),
    # logic
    ("not state.b", lambda s: not s["b"]),
    ("state.b and view.c", lambda s: s["b"] and s["c"]),
    ("state.b or view.c", lambda s: s["b"] or s["c"]),
    ("state.b and view.c or tracked.m.A", lambda s: (s["b"] and s["c"]) or "A" in s["m"]),
    ("not (state.b or view.c)", lambda s: not (s["b"] or s["c"])),
    ("implies(state.b, view.c)", lambda s: (not s["b"]) or s["c"]),
    ("implies(true, view.c)", lambda s: s["c"]),
    ("implies(false, view.c)", lambda s: True),
    ("implies(state.b, false)", lambda s: not s["b"]),
    ("any(state.b, view.c, tracked.m.A)", lambda s: s["b"] or s["c"] or "A" in s["m"]),
    ("all(state.b, view.c, tracked.m.A)", lambda s: s["b"] and s["c"] and "A" in s["m"]),
    # comparisons
    ("state.x == arg.y", lambda s: s["x"] == s["y"]),
    ("state.x != arg.y", lambda s: s["x"] != s["y"]),
    ("state.x < arg.y", lambda s: s["x"] < s["y"]),
    ("state.x <= arg.y", lambda s: s["x"] <= s["y"]),
    ("state.x > arg.y", lambda s: s["x"] > s["y"]),
    ("state.x >= arg.y", lambda s: s["x"] >= s["y"]),
    ("state.e != 'task'", lambda s: s["e"] != "task"),
    ("state.b == view.c", lambda s: s["b"] == s["c"]),
    ("state.b != true", lambda s: not s["b"]),
    # chains
    ("0 <= state.x < 2", lambda s: 0 <= s["x"] < 2),
    ("-1 < state.x <= arg.y", lambda s: -1 < s["x"] <= s["y"]),
    ("arg.y == state.x == 1", lambda s: s["y"] == s["x"] == 1),
    # membership
    ("state.e in ['task', 'nmi']", lambda s: s["e"] in ("task", "nmi")),
    ("state.e not in ['task', 'nmi']", lambda s: s["e"] not in ("task", "nmi")),
    ("state.x in [-1, 2]", lambda s: s["x"] in (-1, 2)),
    ("state.x not in [1, 2]", lambda s: s["x"] not in (1, 2)),
    ("state.x in (0, 1)", lambda s: s["x"] in (0, 1)),
    ("state.x in []", lambda s: False),
    ("state.x not in []", lambda s: True),
    # flags equal exactly a set
    ("tracked.m == ['A', 'B']", lambda s: s["m"] == {"A", "B"}),
    ("tracked.m == ['B']", lambda s: s["m"] == {"B"}),
    ("tracked.m == []", lambda s: s["m"] == set()),
    ("tracked.m != ['A']", lambda s: s["m"] != {"A"}),
    # arithmetic
    ("state.x + arg.y == 2", lambda s: s["x"] + s["y"] == 2),
    ("state.x - arg.y < 0", lambda s: s["x"] - s["y"] < 0),
    ("state.x + 1 - arg.y >= 2", lambda s: s["x"] + 1 - s["y"] >= 2),
    # conditional
    ("(state.x if state.b else arg.y) == 1", lambda s: (s["x"] if s["b"] else s["y"]) == 1),
    ("(view.c if state.b else tracked.m.A)", lambda s: s["c"] if s["b"] else "A" in s["m"]),
    ("(1 if state.b else 0) + state.x == 2", lambda s: (1 if s["b"] else 0) + s["x"] == 2),
    # named predicates (also nested ones)
    ("x_set", lambda s: s["x"] != -1),
    ("x_high", lambda s: s["x"] >= 1),
    ("not x_set and state.b", lambda s: s["x"] == -1 and s["b"]),
]


@pytest.mark.parametrize("text,oracle", FORMS, ids=[f[0] for f in FORMS])
def test_every_form_parses_and_evaluates_like_python(text, oracle):
    e = parse_expr(text, scope())
    for env in ENVS:
        assert evaluate(e, env) == oracle(plain(env)), (text, plain(env))


def test_literals_fold_to_constants():
    assert parse_expr("true", scope()) == TRUE
    assert parse_expr("False", scope()) == FALSE
    assert parse_expr("implies(false, state.b)", scope()) == TRUE
    assert parse_expr("state.x in []", scope()) == FALSE
    assert parse_expr("not not state.b", scope()) == parse_expr("state.b", scope())


def test_surrounding_whitespace_is_ignored():
    assert parse_expr("   state.b and view.c  ", scope()) == parse_expr("state.b and view.c", scope())


def test_expression_reads_exactly_its_variables():
    e = parse_expr("state.x + arg.y == 1 or tracked.m.A", scope())
    assert {v.qualname for v in variables(e)} == {"state.x", "arg.y", "tracked.m"}


def test_kfunc_references_in_filters():
    sc = scope(namespaces={"view"}, kfunc_sets=frozenset({"enqueue_dispatch"}),
               kfunc_flags=frozenset({"SLEEPABLE"}))
    e = parse_expr("set.enqueue_dispatch and not flag.SLEEPABLE and view.c", sc)
    assert {(v.ns, v.name) for v in variables(e)} == {("set", "enqueue_dispatch"),
                                                       ("flag", "SLEEPABLE"), ("view", "c")}
    env = {("set", "enqueue_dispatch", 0): True, ("flag", "SLEEPABLE", 0): False, ("view", "c", 0): True}
    assert evaluate(e, env) is True
    assert evaluate(e, {**env, ("flag", "SLEEPABLE", 0): True}) is False


def test_predicate_may_only_be_used_where_its_namespaces_may_be_read():
    assert evaluate(parse_expr("x_set", scope({"state"})), {("state", "x", 0): 0}) is True
    with pytest.raises(ExprError) as info:
        parse_expr("view.c and x_set", scope({"view"}))
    err = info.value
    assert err.message == "predicate 'x_set' reads state, which this place may not read"
    assert err.hint == "here only view may be read"
    assert (err.col, err.end_col) == (11, 16)


# --------------------------------------------------------------------------- errors

ERRORS = [
    # (text, message, hint, col, end_col)
    ("state.e == 'tsk'", "'tsk' is not a value of state.e", "did you mean 'task'?", 11, 16),
    ("state.e in ['task', 'nmmi']", "'nmmi' is not a value of state.e", "did you mean 'nmi'?", 20, 26),
    ("state.e == 'zzz'", "'zzz' is not a value of state.e", "its values are task, softirq, nmi", 11, 16),
    ("state.x == 'task'", "'state.x' is int, it cannot equal the string 'task'", None, 11, 17),
    ("stat.x == 1", "unknown namespace 'stat'", "did you mean 'state'?", 0, 6),
    ("state.xx == 1", "unknown variable 'state.xx'", "did you mean 'state.x'?", 0, 8),
    ("state.q", "unknown variable 'state.q'", "declare it under [vars.state.q]", 0, 7),
    ("tracked.m.D", "'D' is not a flag of tracked.m", "its flags are A, B", 0, 11),
    ("tracked.m.AA", "'AA' is not a flag of tracked.m", "did you mean 'A'?", 0, 12),
    ("tracked.m == ['A', 'C']", "'C' is not a flag of tracked.m", "its flags are A, B", 19, 22),
    ("tracked.m == state.x", "compare a flags variable with a list: kf_mask == [\"A\", \"B\"]", None, 0, 9),
    ("tracked.m < []", "flags compare with == or != only", None, 0, 9),
    ("state.x == ['A']", "only a flags variable can be compared with a list; 'state.x' is int", None, 0, 7),
    ("state.b == 1", "cannot compare bool with int", None, 11, 12),
    ("state.e == state.x", "cannot compare enum[task, softirq, nmi] with int", None, 11, 18),
    ("state.e < 'task'", "'state.e' is not an int; < compares ints", None, 0, 7),
    ("state.b >= 0", "'state.b' is not an int; >= compares ints", None, 0, 7),
    ("x_sett", "unknown name 'x_sett'", "did you mean 'x_set'?", 0, 6),
    ("foo", "unknown name 'foo'",
     "variables are written with their namespace: view.X, state.X, tracked.X, arg.X", 0, 3),
    ("state.x", "must be a condition (bool), but this is int", None, 0, None),
    ("tracked.m", "must be a condition (bool), but this is flags[A, B]", None, 0, None),
    ("not state.x", "'state.x' is int, but a condition (bool) is needed here", None, 4, 11),
    ("state.b and arg.y", "'arg.y' is int, but a condition (bool) is needed here", None, 12, 17),
    ("state.x * 2 == 1", "operator in 'state.x * 2' is not allowed", "only + and - work on ints", 0, 11),
    ("state.x + state.b == 1", "'state.b' is bool, not int", None, 10, 17),
    ("-state.x == 1", "operator in '-state.x' is not allowed", None, 0, 8),
    ("f(state.b)", "unknown function in 'f(state.b)'",
     "available: implies(a, b), any(a, b, ...), all(a, b, ...)", 0, 10),
    ("implies(state.b)", "unknown function in 'implies(state.b)'",
     "available: implies(a, b), any(a, b, ...), all(a, b, ...)", 0, 16),
    ("(state.x if state.b else view.c) == 1",
     "both branches must be bool or both int (got int and bool)", None, 1, 31),
    ("state.x is 1", "'is' comparisons are not allowed; use == or !=", None, 0, 7),
    ("state.x in 3", "'in' needs a literal list: x in [\"a\", \"b\"]", None, 11, 12),
    ("state.b.c", "'state.b.c': state.b is bool and has no members", None, 0, 9),
    ("1.5 == state.x", "literal 1.5 is not allowed", None, 0, 3),
    ("view.c and set.s", "'set.…' may only be used in filters",
     "it names a property of the kfunc a filter checks", 11, 16),
    ("", "empty expression", "write `true` for a rule that always applies", None, None),
    ("(state.b and view.c", "does not parse: '(' was never closed",
     "expressions use Python syntax: and, or, not, ==, in [...], implies(a, b)", 0, None),
    ("state.b and and view.c", "does not parse: invalid syntax",
     "expressions use Python syntax: and, or, not, ==, in [...], implies(a, b)", 12, None),
    ("state.x = 1", "does not parse: invalid syntax",
     "expressions use Python syntax: and, or, not, ==, in [...], implies(a, b)", 8, None),
]


@pytest.mark.parametrize("text,message,hint,col,end_col", ERRORS, ids=[e[0] or "<empty>" for e in ERRORS])
def test_errors_have_exact_message_hint_and_column(text, message, hint, col, end_col):
    with pytest.raises(ExprError) as info:
        parse_expr(text, scope())
    err = info.value
    assert (err.message, err.hint) == (message, hint)
    assert (err.col, err.end_col) == (col, end_col)


def test_namespace_not_readable_here():
    with pytest.raises(ExprError) as info:
        parse_expr("view.c or tracked.m.A", scope({"view"}))
    err = info.value
    assert err.message == "'tracked.m.A' reads tracked, which this place may not read"
    assert err.hint == "here only view may be read"
    assert excerpt("view.c or tracked.m.A", err) == "view.c or tracked.m.A\n          ^^^^^^^^^^^"


def test_unknown_kfunc_set_suggests_close_match():
    sc = scope({"view"}, kfunc_sets=frozenset({"enqueue_dispatch", "unlocked"}), kfunc_flags=frozenset())
    with pytest.raises(ExprError) as info:
        parse_expr("set.enqueue_dispatc", sc)
    assert info.value.message == "unknown kfunc set 'enqueue_dispatc'"
    assert info.value.hint == "did you mean 'enqueue_dispatch'?"


def test_unknown_kfunc_flag_is_an_error():
    sc = scope({"view"}, kfunc_sets=frozenset(), kfunc_flags=frozenset({"SLEEPABLE", "RCU"}))
    with pytest.raises(ExprError) as info:
        parse_expr("flag.SLEEPABEL", sc)
    assert info.value.hint == "did you mean 'SLEEPABLE'?"


def test_unknown_variable_hint_prefixes_every_candidate():
    sc = Scope({("state", "cpu0"): BOOL, ("state", "cpu1"): BOOL}, frozenset({"state"}))
    with pytest.raises(ExprError) as info:
        parse_expr("state.cpu2", sc)
    hint = info.value.hint
    assert "'cpu0'" not in hint and "'cpu1'" not in hint, hint
    assert "'state.cpu0'" in hint and "'state.cpu1'" in hint


# --------------------------------------------------------------------------- caret excerpts

CARETS = [
    ("state.e == 'tsk'", "state.e == 'tsk'\n           ^^^^^"),
    ("state.b and state.zz", "state.b and state.zz\n            ^^^^^^^^"),
    ("state.b and  state.zz", "state.b and  state.zz\n             ^^^^^^^^"),
    ("  state.b and state.zz", "state.b and state.zz\n            ^^^^^^^^"),
    ("implies(state.b, tracked.m.Z)", "implies(state.b, tracked.m.Z)\n                 ^^^^^^^^^^^"),
    ("state.x == 1 and\tstate.e == 'nmj'", "state.x == 1 and\tstate.e == 'nmj'\n                            ^^^^^"),
    ("state.x", "state.x\n^"),
]


@pytest.mark.parametrize("text,expected", CARETS, ids=[c[0] for c in CARETS])
def test_caret_points_at_the_offending_part(text, expected):
    with pytest.raises(ExprError) as info:
        parse_expr(text, scope())
    assert excerpt(text, info.value) == expected


def test_excerpt_without_column_is_the_text():
    err = ExprError("x")
    assert excerpt("  state.b  ", err) == "state.b"


def test_a_long_expression_is_cut_to_the_part_around_the_caret():
    pad = " or ".join(f"state.b" for _ in range(100))
    text = f"{pad} or state.zz or {pad}"
    with pytest.raises(ExprError) as info:
        parse_expr(text, scope())
    line, caret = excerpt(text, info.value).splitlines()
    assert line.startswith("...") and line.endswith("...") and len(line) == 100 + 6
    assert line[caret.index("^"):].startswith("state.zz") and caret.strip() == "^" * len("state.zz")


def test_a_10000_deep_expression_is_refused_with_a_short_message():
    text = "(" * 10_000 + "state.b" + ")" * 10_000
    with pytest.raises(ExprError, match="too many nested parentheses") as info:
        parse_expr(text, scope())
    line, caret = excerpt(text, info.value).splitlines()
    assert len(line) <= 106 and line.startswith("...(((") and line[caret.index("^")] == "("


def test_a_long_expression_without_a_column_shows_its_start():
    assert excerpt("state.b or " * 50 + "state.b", ExprError("x")) == ("state.b or " * 50)[:100] + "..."


def test_caret_after_non_ascii_text():
    sc = Scope({("state", "e"): EnumType(("café", "bar"))}, frozenset({"state"}))
    text = "state.e == 'café' and state.zz"
    with pytest.raises(ExprError) as info:
        parse_expr(text, sc)
    assert excerpt(text, info.value).splitlines()[1] == " " * text.index("state.zz") + "^" * len("state.zz")


# --------------------------------------------------------------------------- z3 vs. concrete evaluation

INT_VARS = st.sampled_from(["state.x", "arg.y"])
INT_LITS = st.integers(-2, 3).map(str)
BOOL_LEAVES = st.one_of(
    st.sampled_from(["state.b", "view.c", "true", "false", "True", "tracked.m.A", "tracked.m.B",
                     "x_set", "x_high"]),
    st.builds(lambda v, q: f"state.e == {q}{v}{q}", st.sampled_from(E_VALUES), st.sampled_from("'\"")),
    st.builds(lambda v: f"'{v}' != state.e", st.sampled_from(E_VALUES)),
    st.builds(lambda vs, neg: f"state.e {'not in' if neg else 'in'} [{', '.join(repr(v) for v in vs)}]",
              st.lists(st.sampled_from(E_VALUES), max_size=3), st.booleans()),
    st.builds(lambda ms, op: f"tracked.m {op} [{', '.join(repr(m) for m in ms)}]",
              st.lists(st.sampled_from(M_VALUES), max_size=2, unique=True), st.sampled_from(["==", "!="])),
)


def int_exprs(depth: int):
    leaves = st.one_of(INT_VARS, INT_LITS)
    if depth == 0:
        return leaves
    sub = int_exprs(depth - 1)
    return st.one_of(
        leaves,
        st.builds(lambda a, op, b: f"({a} {op} {b})", sub, st.sampled_from("+-"), sub),
        st.builds(lambda c, a, b: f"({a} if ({c}) else {b})", bool_exprs(depth - 1), sub, sub),
    )


CMP = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])


def bool_exprs(depth: int):
    if depth == 0:
        return BOOL_LEAVES
    sub, ints = bool_exprs(depth - 1), int_exprs(depth - 1)
    return st.one_of(
        BOOL_LEAVES,
        st.builds(lambda a, op, b: f"{a} {op} {b}", ints, CMP, ints),
        st.builds(lambda a, o1, b, o2, c: f"{a} {o1} {b} {o2} {c}", ints, CMP, ints, CMP, ints),
        st.builds(lambda a, ns, neg: f"{a} {'not in' if neg else 'in'} [{', '.join(map(str, ns))}]",
                  ints, st.lists(st.integers(-2, 3), max_size=3), st.booleans()),
        st.builds(lambda a: f"not ({a})", sub),
        st.builds(lambda a, op, b: f"(({a}) {op} ({b}))", sub, st.sampled_from(["and", "or", "==", "!="]), sub),
        st.builds(lambda a, b: f"implies({a}, {b})", sub, sub),
        st.builds(lambda f, xs: f"{f}({', '.join(xs)})", st.sampled_from(["any", "all"]),
                  st.lists(sub, min_size=1, max_size=3)),
        st.builds(lambda c, a, b: f"(({a}) if ({c}) else ({b}))", sub, sub, sub),
    )


_SESSION: list[Z3Session] = []


def session() -> Z3Session:
    """One session reused across examples, as the prover reuses it across obligations."""
    if not _SESSION:
        _SESSION.append(Z3Session())
    return _SESSION[0]


def _in_domain(key, value) -> bool:
    return value in DOMAINS[(key[0], key[1])]


@settings(max_examples=300)
@given(bool_exprs(3))
def test_z3_agrees_with_concrete_evaluation(text):
    e = parse_expr(text, scope())
    used = sorted({(v.ns, v.name) for v in variables(e)})
    ans = session().check([e])
    note(f"{text} -> {e} -> {ans.status}")
    assert ans.status in ("sat", "unsat")
    if ans.status == "sat":
        env = {k: v for k, v in ans.values.items()}
        assert {(ns, name) for ns, name, _ in env} == set(used)
        assert all(_in_domain(k, v) for k, v in env.items()), env
        assert evaluate(e, env) is True
    else:
        for combo in itertools.product(*(DOMAINS[k] for k in used)):
            env = {(ns, name, 0): v for (ns, name), v in zip(used, combo)}
            assert evaluate(e, env) is False, f"z3 says unsat, but {env} satisfies {text}"


@settings(max_examples=100)
@given(bool_exprs(2), bool_exprs(2))
def test_z3_decides_equivalence_like_brute_force(a, b):
    """`a != b` is unsat exactly when a and b agree on every assignment."""
    ea, eb = parse_expr(a, scope()), parse_expr(b, scope())
    differ = parse_expr(f"({a}) != ({b})", scope())
    ans = session().check([differ])
    assert ans.status in ("sat", "unsat")
    agree = all(evaluate(ea, env) == evaluate(eb, env) for env in ENVS)
    assert (ans.status == "unsat") == agree, (a, b, ans)
    if ans.status == "sat":
        full = {k: ans.values.get(k, ENVS[0][k]) for k in ENVS[0]}
        assert evaluate(ea, full) != evaluate(eb, full)
