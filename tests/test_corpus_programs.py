"""check-prog on the shared corpus of real sched_ext objects (../shared/corpus, see its README).

Pins what a new user sees with the default model on every object: the model chosen, the call
sites per verdict class, the exit code; and the README's expectations: no finding on a released
scheduler, ``non_scx_kfunc_deny`` rejected at load, ``select_cpu_dispatch_dbl_dsp`` a run-time
finding, the load-and-run selftests clean, each condition naming the value that makes the call
safe. A count that moves is a behaviour change to explain (docs/programs.md has the table).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from polykfunc.programs.batch import COLUMNS, check_paths, object_paths
from polykfunc.engine.solver import DEFAULT_RLIMIT


def _corpus() -> Path | None:
    env = os.environ.get("POLYKFUNC_CORPUS")
    if env:
        return Path(env) if Path(env).is_dir() else None
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "corpus" / "README.md").is_file():
            return parent / "shared" / "corpus"
    return None


CORPUS = _corpus()
pytestmark = pytest.mark.skipif(CORPUS is None, reason="../shared/corpus is absent (POLYKFUNC_CORPUS to point at it)")

#: object -> (model, ok, condition, findings, absent or not reached on this kernel, no caller, not modelled, exit)
EXPECTED = {
    "kernel-tools/scx_central.bpf.o": ("sched_ext@v6.15", 22, 0, 0, 0, 0, 16, 0),
    "kernel-tools/scx_cpu0.bpf.o": ("sched_ext@newest", 5, 0, 0, 5, 0, 0, 0),
    "kernel-tools/scx_simple.bpf.o": ("sched_ext@newest", 6, 0, 0, 8, 0, 0, 0),
    "scx-c/scx_central.bpf.o": ("sched_ext@newest", 24, 0, 0, 5, 0, 16, 0),
    "scx-c/scx_flatcg.bpf.o": ("sched_ext@newest", 38, 0, 0, 7, 0, 38, 0),
    "scx-c/scx_nest.bpf.o": ("sched_ext@newest", 27, 0, 0, 4, 0, 50, 0),
    "scx-c/scx_qmap.bpf.o": ("sched_ext@newest", 66, 0, 0, 10, 0, 35, 0),
    "scx-c/scx_sdt.linked.bpf.o": ("sched_ext@newest", 10, 0, 0, 3, 38, 6, 0),
    "scx-c/scx_simple.bpf.o": ("sched_ext@newest", 6, 0, 0, 4, 0, 0, 0),
    "scx-rust/scx_beerland.bpf.o": ("sched_ext@newest", 42, 0, 0, 20, 0, 29, 0),
    "scx-rust/scx_bpfland.bpf.o": ("sched_ext@newest", 94, 0, 0, 24, 0, 47, 0),
    "scx-rust/scx_cosmos.bpf.o": ("sched_ext@newest", 63, 0, 0, 28, 0, 56, 0),
    "scx-rust/scx_flash.bpf.o": ("sched_ext@newest", 53, 0, 0, 18, 3, 38, 0),
    "scx-rust/scx_mitosis.bpf.o": ("sched_ext@newest", 185, 0, 0, 24, 2, 189, 0),
    "scx-rust/scx_p2dq.bpf.o": ("sched_ext@newest", 208, 1, 0, 37, 119, 321, 0),
    "selftests/allowed_cpus.bpf.o": ("sched_ext@newest", 14, 0, 0, 7, 0, 12, 0),
    "selftests/create_dsq.bpf.o": ("sched_ext@newest", 6, 0, 0, 0, 0, 7, 0),
    "selftests/ddsp_bogus_dsq_fail.bpf.o": ("sched_ext@newest", 2, 0, 0, 2, 0, 0, 0),
    "selftests/dequeue.bpf.o": ("sched_ext@newest", 16, 0, 0, 14, 0, 3, 0),
    "selftests/dsq_reenq.bpf.o": ("sched_ext@newest", 4, 0, 0, 6, 0, 0, 0),
    "selftests/enq_select_cpu.bpf.o": ("sched_ext@newest", 4, 0, 0, 2, 0, 4, 0),
    "selftests/exit.bpf.o": ("sched_ext@newest", 10, 0, 0, 4, 0, 0, 0),
    "selftests/hotplug.bpf.o": ("sched_ext@newest", 4, 0, 0, 0, 0, 0, 0),
    "selftests/maximal.bpf.o": ("sched_ext@newest", 3, 0, 0, 4, 0, 0, 0),
    "selftests/maybe_null.bpf.o": ("sched_ext@newest", 0, 0, 0, 0, 0, 0, 0),
    "selftests/maybe_null_fail_dsp.bpf.o": ("sched_ext@newest", 0, 0, 0, 0, 0, 0, 0),
    "selftests/minimal.bpf.o": ("sched_ext@newest", 0, 0, 0, 0, 0, 0, 0),
    "selftests/non_scx_kfunc_deny.bpf.o": ("sched_ext@newest", 0, 0, 1, 0, 0, 0, 1),
    "selftests/numa.bpf.o": ("sched_ext@newest", 17, 0, 0, 7, 0, 5, 0),
    "selftests/peek_dsq.bpf.o": ("sched_ext@newest", 24, 0, 0, 11, 0, 20, 0),
    "selftests/prog_run.bpf.o": ("sched_ext@newest", 2, 0, 0, 0, 0, 0, 0),
    "selftests/select_cpu_dispatch_dbl_dsp.bpf.o": ("sched_ext@newest", 1, 0, 1, 4, 0, 0, 1),
}
RELEASED = ("scx-c/", "scx-rust/", "kernel-tools/")
LOAD_AND_RUN = ("create_dsq", "exit", "hotplug", "prog_run", "dsq_reenq", "dequeue", "allowed_cpus", "numa",
                "peek_dsq", "minimal", "maximal", "enq_select_cpu", "maybe_null")


@pytest.fixture(scope="module")
def results():
    res = check_paths(object_paths([CORPUS]), None, DEFAULT_RLIMIT)
    return {str(Path(r.path).relative_to(CORPUS)): r for r in res}


def _row(r):
    c = r.counts()
    classes = {h: sum(c.get(v, 0) for v in vs) for h, vs in COLUMNS}
    return (r.model, classes["ok"], classes["cond"], classes["findings"] + classes["unknown"], classes["absent"],
            classes["no caller"], classes["not modelled"], r.exit_code)


def test_every_object_of_the_corpus_gives_the_pinned_counts(results):
    assert set(results) == set(EXPECTED)
    got = {k: _row(r) for k, r in results.items()}
    assert got == EXPECTED


def test_released_schedulers_have_no_finding(results):
    for name, r in results.items():
        if name.startswith(RELEASED):
            bad = [(s.where, s.kfunc, s.verdict) for s in r.report.sites if s.status.is_failure]
            assert not bad and r.exit_code == 0, (name, bad)


def test_selftest_expectations_of_the_readme(results):
    deny = results["selftests/non_scx_kfunc_deny.bpf.o"].report
    (site,) = deny.sites
    assert (site.kfunc, site.verdict) == ("scx_bpf_kick_cpu", "rejected at load")
    assert site.contexts[0].model_contexts == ("other_struct_ops",)
    dbl = results["selftests/select_cpu_dispatch_dbl_dsp.bpf.o"].report
    inserts = [s for s in dbl.sites if s.verdict not in ("not reached on this kernel",)]
    assert sorted(s.verdict for s in inserts) == ["ok", "refused at run time"]
    assert all(s.symbol == "scx_bpf_dsq_insert___v2___compat" for s in inserts)
    assert "already direct-dispatched" in [s for s in inserts if s.verdict != "ok"][0].contexts[0].detail
    for name in LOAD_AND_RUN:
        assert results[f"selftests/{name}.bpf.o"].exit_code == 0, name


def test_each_condition_names_the_value_that_makes_the_call_safe(results):
    conds = [(n, s, c) for n, r in results.items() for s in r.report.sites for c in s.contexts
             if c.verdict == "condition"]
    assert conds
    for _name, s, c in conds:
        assert c.condition and c.detail.startswith("safe if ") and c.condition in c.detail, (s.where, c.detail)


def test_timer_callbacks_armed_by_ops_are_checked_in_an_async_context(results):
    qmap = results["scx-c/scx_qmap.bpf.o"].report
    timer = [c for s in qmap.sites if s.function == "monitor_timerfn" for c in s.contexts]
    assert timer and all(c.async_kind == "timer" and c.verdict in ("ok", "not modelled", "not reached on this kernel")
                         for c in timer)
    assert {mc for c in timer for mc in c.model_contexts} <= {"async:timer", "async_callback"}
