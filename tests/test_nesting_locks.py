"""Nesting and lock properties: planted bugs are found, the bundled models prove (or report the
real bugs they declare)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from polykfunc.errors import SpecError
from polykfunc.model import bundled_manifests, bundled_path, load_model
from polykfunc.programs.locks import check_locks
from polykfunc.programs.nesting import check_nesting, nesting_graph
from polykfunc.engine.results import Status

EXE = Path(sys.executable).parent / "polykfunc"

NESTED = """
[vars.view.member]
type = "enum"
values = ["none", "outer_op", "inner_op"]

[vars.state.outer]
type = "enum"
values = ["none", "outer_op", "inner_op"]

[vars.tracked.kf_mask]
type = "flags"
values = ["OUTER", "INNER"]

[vars.tracked.kf_tasks]
type = "enum"
values = ["none", "op_task"]

[context.outer_op]
source = "t: outer"
view = ["view.prog_type == 'STRUCT_OPS'", "view.member == 'outer_op'"]
facts = ["state.outer == 'none'", "state.depth == 1", "tracked.kf_mask == ['OUTER']", "tracked.kf_tasks == '{outer_tasks}'"]

[context.inner_op]
source = "t: inner"
view = ["view.prog_type == 'STRUCT_OPS'", "view.member == 'inner_op'"]
facts = ["tracked.kf_tasks == 'op_task'"]

[[context.inner_op.case]]
name = "top level"
facts = ["state.outer == 'none'", "state.depth == 1", "tracked.kf_mask == ['INNER']"]

[[context.inner_op.case]]
name = "nested in outer_op"
facts = ["state.outer == 'outer_op'", "state.depth == 2", "tracked.kf_mask == ['OUTER', 'INNER']"]

[kfunc.outer_only]
source = "t: outer_only"
allow = "view.member == 'outer_op'"

[[kfunc.outer_only.impl]]
name = "body"

[[kfunc.outer_only.select]]
when = "not tracked.kf_mask.OUTER"
select = "error"
{boundary}
[[kfunc.outer_only.select]]
when = "true"
select = "body"
"""
BOUNDARY = """
[[kfunc.outer_only.select]]
when = "tracked.kf_mask.INNER"
select = "error"
message = "outer kfunc called from a nested operation"
"""


def nested_model(write_model, boundary=True, outer_tasks="none"):
    return load_model(write_model(NESTED.replace("{boundary}", BOUNDARY if boundary else "")
                                  .replace("{outer_tasks}", outer_tasks)))


def test_the_nesting_graph_comes_from_the_contexts(write_model):
    g = nesting_graph(nested_model(write_model))
    assert list(g.edges) == [("outer_op", "inner_op")]
    assert g.edges["outer_op", "inner_op"]["edge"].cases == ("nested in outer_op",)


def test_the_boundary_rule_proves(write_model):
    rep = check_nesting(nested_model(write_model))
    assert rep.status == Status.PROVED
    assert {r.id for r in rep.results} == {"nesting/inner_op/safety", "nesting/inner_op/boundary"}


def test_a_planted_missing_boundary_rule_is_found(write_model):
    rep = check_nesting(nested_model(write_model, boundary=False))
    (bad,) = [r for r in rep.results if r.status == Status.COUNTEREXAMPLE]
    assert bad.id == "nesting/inner_op/boundary/outer_only"
    (cex,) = bad.counterexamples
    assert (cex.context, cex.case, cex.outcome) == ("inner_op", "nested in outer_op", "body")


def test_task_ops_must_not_nest(write_model):
    rep = check_nesting(nested_model(write_model, outer_tasks="op_task"))
    (t,) = rep.task_nesting
    assert (t.outer, t.inner) == ("outer_op", "inner_op") and rep.status == Status.COUNTEREXAMPLE


@pytest.mark.parametrize("name", ["sched_ext@v6.12", "sched_ext@v6.15", "sched_ext@v7.1", "sched_ext@newest"])
def test_bundled_models_nest_safely_or_declare_the_bug(name):
    m = load_model(bundled_path(name))
    rep = check_nesting(m)
    assert rep.status in (Status.PROVED, Status.KNOWN) and not rep.task_nesting
    assert ("cpu_release", "enqueue") in {(e.outer, e.inner) for e in rep.edges}
    if name == "sched_ext@v6.12":   # kf_mask ENQUEUE|DISPATCH has no nesting boundary
        found = {c.known_bug for r in rep.results for c in r.counterexamples}
        assert "dispatch-from-nested-rest-op" in found


LOCKS = """
[vars.state.holds_a]
type = "bool"

[vars.state.holds_b]
type = "bool"

[locks.a]
source = "t: lock a"
held = ["state.holds_a"]

[locks.b]
source = "t: lock b"
held = ["state.holds_b"]
irqsafe = false

[context.in_a]
source = "t: in_a"
view = ["view.prog_type == 'STRUCT_OPS'"]
facts = ["state.holds_a", "not state.holds_b", "state.exec == 'task'", "state.locked_rq == -1"]

[context.in_b]
source = "t: in_b"
view = ["view.prog_type == 'SYSCALL'"]
facts = ["state.holds_b", "not state.holds_a", "state.exec == 'task'", "state.locked_rq == -1"]

[context.locked]
source = "t: locked"
view = ["view.prog_type == 'TRACING'"]
facts = ["state.locked_rq == state.cpu", "not state.holds_a", "not state.holds_b", "state.exec == '{exec}'"]

[kfunc.take_b]
source = "t: take_b"
registered = "view.prog_type == 'STRUCT_OPS'"

[[kfunc.take_b.impl]]
name = "body"
takes = ["b"]

[kfunc.take_a]
source = "t: take_a"
registered = "view.prog_type == 'SYSCALL'"

[[kfunc.take_a.impl]]
name = "body"
takes = ["a"]

[kfunc.relock]
source = "t: relock"
registered = "view.prog_type == 'TRACING'"

[[kfunc.relock.impl]]
name = "lock_this_rq"
takes = ["{relock}"]
"""


def lock_model(write_model, relock="rq(state.cpu)", exec_="task"):
    return load_model(write_model(LOCKS.replace("{relock}", relock).replace("{exec}", exec_)))


def test_a_planted_lock_cycle_is_found_and_replayed(write_model):
    rep = check_locks(lock_model(write_model, relock="dsq_lock"))
    (cyc,) = rep.cycles
    assert set(cyc.locks) == {"a", "b"} and not cyc.known
    assert {(e.held, e.lock, e.context) for e in cyc.edges} == {("a", "b", "in_a"), ("b", "a", "in_b")}
    assert not rep.self_deadlocks


def test_a_planted_self_deadlock_is_found(write_model):
    m = lock_model(write_model)
    (dl,) = check_locks(m).self_deadlocks
    assert (dl.kfunc, dl.impl, dl.context, dl.held) == ("relock", "lock_this_rq", "locked", "rq")
    assert dl.known_bug is None and "already holds it" in dl.summary
    from polykfunc.engine.prover import prove_model
    assert prove_model(m, properties=["safety"]).status == Status.PROVED  # safety alone cannot see it


def test_a_lock_taken_in_nmi_or_in_hardirq_over_a_non_irqsafe_holder(write_model):
    (nmi,) = check_locks(lock_model(write_model, relock="dsq_lock", exec_="nmi")).self_deadlocks
    assert nmi.held == "an interrupted context on this CPU" and nmi.lock == "dsq_lock"
    (hard,) = check_locks(lock_model(write_model, relock="b", exec_="hardirq")).self_deadlocks
    assert hard.lock == "b"                                  # b is declared irqsafe = false
    assert not check_locks(lock_model(write_model, relock="dsq_lock", exec_="hardirq")).self_deadlocks


def test_lock_held_facts_are_validated(write_model):
    rest = '[context.c]\nsource = "t"\n[kfunc.k]\nsource = "t"\n[[kfunc.k.impl]]\nname = "i"\n'
    with pytest.raises(SpecError, match="irqsafe"):
        load_model(write_model('[locks.x]\nsource = "t"\nirqsafe = "no"\n' + rest))
    with pytest.raises(SpecError, match="no_such"):
        load_model(write_model('[locks.x]\nsource = "t"\nheld = ["state.no_such"]\n' + rest))
    m = load_model(write_model('[locks.x]\nsource = "t"\nheld = ["state.locked_rq", "state.pi_lock"]\n'
                               'irqsafe = false\n' + rest))
    (x,) = [d for d in m.lock_decls if d.name == "x"]
    assert x.held_text == ("state.locked_rq", "state.pi_lock") and x.irqsafe is False


@pytest.mark.parametrize("name", sorted(bundled_manifests()))
def test_bundled_models_have_no_unexpected_lock_bug(name):
    rep = check_locks(load_model(bundled_path(name)))
    assert rep.failures == [] and rep.unknown == ()
    for f in rep.self_deadlocks:       # every self-deadlock found is a bug the model declares
        assert f.known_bug


def test_lock_properties_rederive_the_declared_lock_bugs():
    rep = check_locks(load_model(bundled_path("sched_ext@v6.15")))
    found = {f.known_bug for f in rep.self_deadlocks}
    assert {"cgroup-move-cpuperf-set-relocks", "cgroup-move-dsq-move-relocks", "destroy-dsq-from-nmi"} <= found
    assert [c.describe() for c in rep.cycles] == ["rq -> rq"] and rep.cycles[0].known


def test_cli_nesting_and_locks():
    r = subprocess.run([str(EXE), "locks", "sched_ext@v6.12"], capture_output=True, text=True)
    assert r.returncode == 0 and "lock graph:" in r.stdout and "known (destroy-dsq-from-nmi)" in r.stdout
    r = subprocess.run([str(EXE), "nesting", "sched_ext@v6.12", "--json"], capture_output=True, text=True)
    assert r.returncode == 0
    import json
    edges = {(e["outer"], e["inner"]) for e in json.loads(r.stdout)["reports"][0]["edges"]}
    assert edges == {("cpu_release", "enqueue"), ("dispatch", "core_sched_before")}  # issue 13: no dequeue in dispatch
