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

#: object -> (model, ok, skew ok, condition, skew condition, findings, absent or not reached on this kernel,
#: no caller, not modelled, exit, alternatives checked on another kernel, of which ok)
EXPECTED = {
    "kernel-tools/scx_central.bpf.o": ("sched_ext@v6.15", 22, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    "kernel-tools/scx_cpu0.bpf.o": ("sched_ext@newest", 5, 0, 0, 0, 0, 5, 0, 0, 0, 4, 4),
    "kernel-tools/scx_simple.bpf.o": ("sched_ext@newest", 6, 0, 0, 0, 0, 8, 0, 0, 0, 5, 5),
    "scx-c/scx_central.bpf.o": ("sched_ext@newest", 24, 16, 0, 0, 0, 5, 0, 0, 0, 5, 5),
    "scx-c/scx_flatcg.bpf.o": ("sched_ext@newest", 38, 38, 0, 0, 0, 7, 0, 0, 0, 7, 7),
    "scx-c/scx_nest.bpf.o": ("sched_ext@newest", 27, 50, 0, 0, 0, 4, 0, 0, 0, 4, 4),
    "scx-c/scx_qmap.bpf.o": ("sched_ext@newest", 66, 35, 0, 0, 0, 10, 0, 0, 0, 10, 10),
    "scx-c/scx_sdt.linked.bpf.o": ("sched_ext@newest", 10, 6, 0, 0, 0, 3, 38, 0, 0, 3, 3),
    "scx-c/scx_simple.bpf.o": ("sched_ext@newest", 6, 0, 0, 0, 0, 4, 0, 0, 0, 4, 4),
    "scx-rust/scx_beerland.bpf.o": ("sched_ext@newest", 42, 29, 0, 0, 0, 20, 0, 0, 0, 13, 13),
    "scx-rust/scx_bpfland.bpf.o": ("sched_ext@newest", 94, 47, 0, 0, 0, 24, 0, 0, 0, 9, 9),
    "scx-rust/scx_cosmos.bpf.o": ("sched_ext@newest", 63, 56, 0, 0, 0, 28, 0, 0, 0, 22, 22),
    "scx-rust/scx_flash.bpf.o": ("sched_ext@newest", 53, 38, 0, 0, 0, 18, 3, 0, 0, 12, 12),
    "scx-rust/scx_mitosis.bpf.o": ("sched_ext@newest", 185, 189, 0, 0, 0, 24, 2, 0, 0, 15, 15),
    "scx-rust/scx_p2dq.bpf.o": ("sched_ext@newest", 208, 312, 1, 0, 0, 37, 119, 9, 0, 17, 17),
    "selftests/allowed_cpus.bpf.o": ("sched_ext@newest", 14, 12, 0, 0, 0, 7, 0, 0, 0, 4, 4),
    "selftests/create_dsq.bpf.o": ("sched_ext@newest", 6, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    "selftests/ddsp_bogus_dsq_fail.bpf.o": ("sched_ext@newest", 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0),
    "selftests/dequeue.bpf.o": ("sched_ext@newest", 16, 3, 0, 0, 0, 14, 0, 0, 0, 13, 13),
    "selftests/dsq_reenq.bpf.o": ("sched_ext@newest", 4, 0, 0, 0, 0, 6, 0, 0, 0, 4, 4),
    "selftests/enq_select_cpu.bpf.o": ("sched_ext@newest", 4, 4, 0, 0, 0, 2, 0, 0, 0, 2, 2),
    "selftests/exit.bpf.o": ("sched_ext@newest", 10, 0, 0, 0, 0, 4, 0, 0, 0, 3, 3),
    "selftests/hotplug.bpf.o": ("sched_ext@newest", 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    "selftests/maximal.bpf.o": ("sched_ext@newest", 3, 0, 0, 0, 0, 4, 0, 0, 0, 3, 3),
    "selftests/maybe_null.bpf.o": ("sched_ext@newest", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    "selftests/maybe_null_fail_dsp.bpf.o": ("sched_ext@newest", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    "selftests/minimal.bpf.o": ("sched_ext@newest", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    "selftests/non_scx_kfunc_deny.bpf.o": ("sched_ext@newest", 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0),
    "selftests/numa.bpf.o": ("sched_ext@newest", 17, 5, 0, 0, 0, 7, 0, 0, 0, 6, 6),
    "selftests/peek_dsq.bpf.o": ("sched_ext@newest", 24, 20, 0, 0, 0, 11, 0, 0, 0, 5, 5),
    "selftests/prog_run.bpf.o": ("sched_ext@newest", 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    "selftests/select_cpu_dispatch_dbl_dsp.bpf.o": ("sched_ext@newest", 1, 0, 0, 0, 1, 4, 0, 0, 1, 4, 2),
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
    alts = [s.alternative for s in r.report.sites if s.alternative is not None]
    return (r.model, classes["ok"], classes["skew ok"], classes["cond"], classes["skew cond"],
            classes["findings"] + classes["unknown"], classes["absent"], classes["no caller"], classes["not modelled"],
            r.exit_code, len(alts), sum(1 for a in alts if a.verdict == "ok"))


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
    assert timer and all(c.async_kind == "timer" and c.verdict in ("ok", "skew ok", "not reached on this kernel")
                         for c in timer)
    assert {mc for c in timer for mc in c.model_contexts} <= {"async:timer", "async_callback"}


def test_at_most_five_percent_of_the_corpus_is_not_modelled_by_default(results):
    """Issue 10: generic kfuncs under sched_ext@newest are decided by the newest generated layer
    that has them (kernel@v6.12), labelled as version skew; what stays is what no layer has."""
    sites = [s for r in results.values() for s in r.report.sites]
    missing = [s for s in sites if s.verdict == "not modelled"]
    assert len(missing) <= 0.05 * len(sites)
    assert {s.kfunc for s in missing} == {"bpf_stream_vprintk_impl"}     # newer than 6.12 (kernel/bpf/stream.c)
    skew = [c for s in sites for c in s.contexts if c.verdict in ("skew ok", "skew condition")]
    assert skew and all("decided by kernel@v6.12, an older tree than sched_ext@" in c.detail for c in skew)


def test_alternatives_are_checked_on_the_kernel_that_keeps_them(results):
    """A ___compat / bpf_ksym_exists() alternative the chosen kernel does not run is checked on
    the newest bundled model whose kernel keeps it, and the report names that model."""
    qmap = results["scx-c/scx_qmap.bpf.o"].report
    consume = [s for s in qmap.sites if s.symbol == "scx_bpf_consume___compat"]
    assert consume and all(s.verdict == "not reached on this kernel" for s in consume)
    assert {s.alternative.summary for s in consume} == {"on sched_ext@v6.12: ok"}
    for name, r in results.items():
        for s in r.report.sites:
            if s.alternative is None:
                continue
            assert s.verdict in ("absent on this kernel", "not reached on this kernel")
            assert s.alternative.model != r.model
            if name.startswith(RELEASED):
                assert s.alternative.verdict == "ok", (name, s.where, s.alternative.summary)
    # the selftest's double insert is refused on the older kernels too (their compat branches)
    dbl = results["selftests/select_cpu_dispatch_dbl_dsp.bpf.o"].report
    assert sorted(s.alternative.summary.split(":")[0] for s in dbl.sites if s.alternative
                  and s.alternative.verdict == "refused at run time") == ["on sched_ext@v6.12", "on sched_ext@v6.15"]


@pytest.mark.parametrize("name, model", [("scx-rust/scx_p2dq.bpf.o", None), ("scx-c/scx_nest.bpf.o", None),
                                         ("scx-rust/scx_p2dq.bpf.o", "sched_ext@v6.12")])
def test_concrete_decisions_are_exactly_what_z3_answers(name, model):
    """The concrete shortcut (programs/concrete.py) against z3 on every site of objects rich
    in generic kfunc calls: skewed (newest + kernel@v6.12) and composed (v6.12's own base)."""
    from polykfunc.model import load_model, resolve_target
    from polykfunc.programs.checkprog import check_parsed
    from polykfunc.programs.choose import choose_model
    from polykfunc.programs.elf import read_object
    obj = read_object(CORPUS / name)
    m = load_model(resolve_target(model or choose_model(obj).name))
    fast = check_parsed(obj, m, concrete=True)
    slow = check_parsed(obj, m, concrete=False)
    generic = [s for s in fast.sites if s.kfunc.startswith("bpf_") and s.verdict in ("ok", "skew ok")]
    assert len(generic) > 30
    assert [s.to_json() for s in fast.sites] == [s.to_json() for s in slow.sites]
