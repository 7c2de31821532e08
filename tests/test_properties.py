"""Each property fails on a model built to break it and holds on its fixed twin."""

from __future__ import annotations

import pytest

from polykfunc.model import load_model
from polykfunc.engine.prover import prove_model
from polykfunc.engine.replay import replay_problems
from polykfunc.engine.results import Status

# Three contexts: enqueue holds p's rq, dispatch holds its own rq, init holds nothing.
# The kernel tracks the held rq in tracked.locked_rq and the direct-dispatch task in tracked.ddsp.
BASE = """
[vars.view.member]
type = "enum"
values = ["none", "enqueue", "dispatch", "init"]

[vars.tracked.ddsp]
type = "enum"
values = ["none", "op_task", "spoiled"]

[vars.tracked.locked_rq]
type = "int"
range = [-1, 3]

[context.enqueue]
source = "test: enqueue"
view = ["view.prog_type == 'STRUCT_OPS'", "view.member == 'enqueue'", "not view.sleepable"]
facts = ["state.exec == 'task'", "task_rq_held", "tracked.ddsp == 'op_task'",
         "tracked.locked_rq == state.locked_rq"]

[context.dispatch]
source = "test: dispatch"
view = ["view.prog_type == 'STRUCT_OPS'", "view.member == 'dispatch'", "not view.sleepable"]
facts = ["state.exec == 'task'", "own_rq_held", "tracked.ddsp == 'none'", "not state.has_op_task",
         "tracked.locked_rq == state.locked_rq"]

[context.init]
source = "test: init"
view = ["view.prog_type == 'STRUCT_OPS'", "view.member == 'init'"]
facts = ["state.exec == 'task'", "state.locked_rq == -1", "tracked.ddsp == 'none'",
         "not state.has_op_task", "tracked.locked_rq == -1"]
"""

INSERT_IMPLS = """
[kfunc.insert]
source = "test: insert"
allow = "view.member == 'dispatch' or (view.member == 'enqueue' and arg.task == 'op_task')"

[[kfunc.insert.impl]]
name = "direct"
requires = [{ label = "p is the enqueued task", expr = "arg.task == 'op_task'" }]

[[kfunc.insert.impl]]
name = "buffered"
requires = [{ label = "this CPU's rq is held", expr = "own_rq_held" }]
"""


def prove(write_model, body, **kw):
    model = load_model(write_model(BASE + body))
    report = prove_model(model, **kw)
    for cex in report.counterexamples():
        assert replay_problems(model, cex) == []
    return model, report


def result(report, oid):
    for r in report.results:
        if r.id == oid:
            return r
    raise AssertionError(f"no obligation {oid}: {[r.id for r in report.results]}")


# ---------------------------------------------------------------- safety

PERF_BROKEN = """
[kfunc.perf_set]
source = "test: perf_set"

[[kfunc.perf_set.impl]]
name = "set"
requires = [{ label = "the target CPU's rq lock is held", expr = "state.locked_rq == arg.cpu" }]
"""

PERF_FIXED = """
[kfunc.perf_set]
source = "test: perf_set"
allow = "state.locked_rq == -1 or state.locked_rq == arg.cpu"

[[kfunc.perf_set.impl]]
name = "set_locked"
requires = ["state.locked_rq == arg.cpu"]

[[kfunc.perf_set.impl]]
name = "lock_target"
takes = ["rq(arg.cpu)"]
requires = [{ label = "no rq lock held", expr = "state.locked_rq == -1" }]

[[kfunc.perf_set.select]]
when = "tracked.locked_rq != -1 and arg.cpu != tracked.locked_rq"
select = "error"
message = "Invalid target CPU"

[[kfunc.perf_set.select]]
when = "tracked.locked_rq != -1"
select = "set_locked"

[[kfunc.perf_set.select]]
when = "true"
select = "lock_target"
"""


def test_safety_fails_where_the_lock_is_missing(write_model):
    _, report = prove(write_model, PERF_BROKEN, properties=["safety"])
    r = result(report, "safety/perf_set/set")
    assert r.status == Status.COUNTEREXAMPLE
    # every context fails (init holds nothing; the others may target another CPU)
    assert sorted(c.context for c in r.counterexamples) == ["dispatch", "enqueue", "init"]
    init = next(c for c in r.counterexamples if c.context == "init")
    assert init.value("state.locked_rq") == -1
    assert init.violated == ("perf_set/set requires: the target CPU's rq lock is held",)
    assert init.impl == "set" and init.outcome == "set"


def test_safety_holds_on_the_fixed_twin(write_model):
    _, report = prove(write_model, PERF_FIXED, properties=["safety", "coverage"])
    assert {r.id: r.status for r in report.results} == {
        "safety/perf_set/set_locked": Status.PROVED,
        "safety/perf_set/lock_target": Status.PROVED,
        "coverage/perf_set/allowed-resolves": Status.PROVED,
        "coverage/perf_set/denied-refused": Status.PROVED,
    }


def test_safety_finds_a_tracked_versus_true_mismatch(write_model):
    # init wrongly records a locked rq it does not hold (the hotplug bug's shape)
    body = PERF_FIXED.replace("", "")
    model_text = BASE.replace('"tracked.locked_rq == -1"]', '"tracked.locked_rq == state.cpu"]') + body
    model = load_model(write_model(model_text))
    report = prove_model(model, properties=["safety"])
    r = result(report, "safety/perf_set/set_locked")
    assert r.status == Status.COUNTEREXAMPLE
    (cex,) = r.counterexamples
    assert cex.context == "init"
    assert cex.value("state.locked_rq") == -1 and cex.value("arg.cpu") == cex.value("state.cpu")
    assert replay_problems(model, cex) == []


# ---------------------------------------------------------------- coverage

def test_coverage_gap_when_an_allowed_call_is_refused(write_model):
    body = INSERT_IMPLS + """
[[kfunc.insert.select]]
when = "tracked.ddsp == 'op_task'"
select = "direct"

[[kfunc.insert.select]]
when = "tracked.locked_rq == -1"
select = "buffered"
"""
    _, report = prove(write_model, body, properties=["coverage"])
    r = result(report, "coverage/insert/allowed-resolves")
    assert r.status == Status.COUNTEREXAMPLE
    assert [c.context for c in r.counterexamples] == ["dispatch"]
    assert r.counterexamples[0].outcome == "refused at run time"


def test_coverage_leak_when_a_denied_call_gets_an_implementation(write_model):
    body = INSERT_IMPLS + """
[[kfunc.insert.select]]
when = "tracked.ddsp == 'op_task'"
select = "direct"

[[kfunc.insert.select]]
when = "true"
select = "buffered"
"""
    _, report = prove(write_model, body, properties=["coverage"])
    r = result(report, "coverage/insert/denied-refused")
    assert r.status == Status.COUNTEREXAMPLE
    assert sorted(c.context for c in r.counterexamples) == ["enqueue", "init"]


def test_coverage_holds_on_the_fixed_twin(write_model):
    body = INSERT_IMPLS + """
[[kfunc.insert.select]]
when = "tracked.ddsp == 'op_task' and arg.task != 'op_task'"
select = "error"

[[kfunc.insert.select]]
when = "tracked.ddsp == 'op_task'"
select = "direct"

[[kfunc.insert.select]]
when = "tracked.locked_rq != -1"
select = "buffered"
"""
    _, report = prove(write_model, body, properties=["coverage", "safety"])
    assert all(r.status == Status.PROVED for r in report.results), [(r.id, r.status) for r in report.results]


# ---------------------------------------------------------------- visibility and refinement

RESOLVER = """in_force = "resolver"

[[kfunc.insert.resolve]]
when = "view.member == 'enqueue'"
select = "direct"

[[kfunc.insert.resolve]]
when = "view.member == 'dispatch'"
select = "buffered"

[[kfunc.insert.resolve]]
when = "true"
select = "reject"

[[kfunc.insert.select]]
when = "tracked.ddsp == 'op_task' and arg.task != 'op_task'"
select = "error"

[[kfunc.insert.select]]
when = "tracked.ddsp == 'op_task'"
select = "direct"

[[kfunc.insert.select]]
when = "tracked.locked_rq != -1"
select = "buffered"
"""


def test_refinement_finds_the_runtime_check_a_resolver_loses(write_model):
    head, impls = INSERT_IMPLS.split("\n\n", 1)
    body = head + "\n" + RESOLVER.split("\n\n", 1)[0] + "\n\n" + impls + "\n" + RESOLVER.split("\n\n", 1)[1]
    _, report = prove(write_model, body)
    ref = result(report, "refinement/insert")
    assert ref.status == Status.COUNTEREXAMPLE
    (cex,) = ref.counterexamples
    # the runtime selector refuses an insert of another task from enqueue; the resolver cannot see it
    assert cex.context == "enqueue" and cex.value("arg.task") != "op_task"
    assert result(report, "visibility/insert").status == Status.PROVED
    # ... and so the resolver in force makes direct dispatch of another task reachable
    unsafe = result(report, "safety/insert/direct")
    assert unsafe.status == Status.COUNTEREXAMPLE
    assert [c.context for c in unsafe.counterexamples] == ["enqueue"]
    assert result(report, "safety/insert/buffered").status == Status.PROVED


def test_visibility_fails_when_the_view_cannot_decide(write_model):
    # one member (dispatch) where p may or may not be the argument: no single implementation works
    body = """
[kfunc.pick]
source = "test: pick"
resolve = [{ when = "true", select = "a" }]

[[kfunc.pick.impl]]
name = "a"
requires = ["arg.task == 'op_task'"]

[[kfunc.pick.impl]]
name = "b"
requires = ["arg.task != 'op_task'"]
"""
    _, report = prove(write_model, body, properties=["visibility"])
    r = result(report, "visibility/pick")
    assert r.status == Status.COUNTEREXAMPLE
    (cex,) = r.counterexamples
    assert [c["unsafe_impl"] for c in cex.copies] == ["a", "b"]
    assert cex.copies[0]["context"] == cex.copies[1]["context"] or True  # contexts may differ; the view is shared


def test_visibility_of_a_runtime_choice_is_a_note(write_model):
    body = """
[kfunc.pick]
source = "test: pick"
select = [{ when = "arg.task == 'op_task'", select = "a" }, { when = "true", select = "b" }]

[[kfunc.pick.impl]]
name = "a"
requires = ["arg.task == 'op_task'"]

[[kfunc.pick.impl]]
name = "b"
requires = ["arg.task != 'op_task'"]
"""
    _, report = prove(write_model, body)
    assert result(report, "visibility/pick").status == Status.NOTE
    assert result(report, "safety/pick/a").status == Status.PROVED
    assert report.status == Status.NOTE


# ---------------------------------------------------------------- non-vacuity

def test_an_impossible_context_is_vacuous_never_proved(write_model):
    body = PERF_FIXED + """
[context.ghost]
source = "test: ghost"
view = ["view.member == 'init'"]
facts = ["state.locked_rq == 2", "state.locked_rq == -1"]
"""
    _, report = prove(write_model, body)
    assert result(report, "non-vacuity/ghost").status == Status.VACUOUS
    assert report.status == Status.VACUOUS


def test_a_dead_case_is_reported(write_model):
    body = PERF_FIXED + """
[context.twocase]
source = "test: twocase"
view = ["view.member == 'init'"]
facts = ["state.locked_rq == -1", "tracked.locked_rq == -1", "tracked.ddsp == 'none'"]

[[context.twocase.case]]
name = "fine"
facts = ["state.depth == 1"]

[[context.twocase.case]]
name = "dead"
facts = ["state.depth == 2", "state.depth == 3"]
"""
    _, report = prove(write_model, body, properties=["non-vacuity"])
    assert result(report, "non-vacuity/twocase/fine").status == Status.PROVED
    assert result(report, "non-vacuity/twocase/dead").status == Status.VACUOUS


def test_a_dead_implementation_is_vacuous(write_model):
    body = PERF_FIXED.replace('when = "tracked.locked_rq != -1"\nselect = "set_locked"',
                              'when = "false"\nselect = "set_locked"')
    _, report = prove(write_model, body, properties=["safety"])
    assert result(report, "safety/perf_set/set_locked").status == Status.VACUOUS


def test_unknown_is_never_proved(write_model):
    model = load_model(write_model(BASE + PERF_FIXED))
    report = prove_model(model, rlimit=1)
    statuses = {r.status for r in report.results}
    assert Status.PROVED not in statuses
    assert statuses <= {Status.UNKNOWN, Status.NOT_APPLICABLE}


# ---------------------------------------------------------------- known bugs

KNOWN = """
[[known_bug]]
id = "perf-unlocked"
title = "perf_set without the rq lock"
property = "safety"
kfunc = "perf_set"
fixed_by = "abc123"
source = "test"
"""


def test_known_bugs_are_reported_as_known(write_model):
    _, report = prove(write_model, PERF_BROKEN + KNOWN, properties=["safety"])
    r = result(report, "safety/perf_set/set")
    assert r.status == Status.KNOWN
    assert {c.known_bug for c in r.counterexamples} == {"perf-unlocked"}
    assert report.missing_known == ()


def test_a_declared_bug_that_disappeared_fails(write_model):
    _, report = prove(write_model, PERF_FIXED + KNOWN.replace('kfunc = "perf_set"', 'kfunc = "perf_set"\nimpl = "lock_target"'))
    assert [m.id for m in report.missing_known] == ["perf-unlocked"]
    assert report.status == Status.COUNTEREXAMPLE


def test_no_known_turns_known_bugs_into_counterexamples(write_model):
    _, report = prove(write_model, PERF_BROKEN + KNOWN, properties=["safety"], use_known=False)
    assert result(report, "safety/perf_set/set").status == Status.COUNTEREXAMPLE
