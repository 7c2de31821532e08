"""`prove --junit`: one test case per obligation; proved passes, a counterexample fails with its
short explanation, unknown is an error, a known bug is skipped, and the file parses."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from click.testing import CliRunner
from report_fixtures import versions
from test_sarif import FAILING

from polykfunc.cli import cli
from polykfunc.report.junit import junit_tree, write_junit
from polykfunc.model import load_model
from polykfunc.engine.prover import prove_model


def _cases(root):
    return {c.get("name"): c for c in root.iter("testcase")}


def test_one_case_per_obligation_with_the_right_outcome(tmp_path, write_model):
    v1, _ = versions()
    known = prove_model(load_model(v1))
    failing = prove_model(load_model(write_model(FAILING, name="failing@1")))
    unknown = prove_model(load_model(v1), rlimit=1)
    path = write_junit([known, failing, unknown], tmp_path / "j" / "prove.xml")
    root = ET.parse(path).getroot()                       # the file parses
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["rq@1", "failing@1", "rq@1"]
    for suite, rep in zip(suites, (known, failing, unknown)):
        assert int(suite.get("tests")) == len(suite.findall("testcase")) == len(rep.results)
    cases = _cases(suites[0])
    assert cases["safety/insert/direct"].find("*") is None                   # proved: passed
    skipped = cases["safety/perf_set/set"].find("skipped")
    assert "known kernel bug: perf-set-unlocked (fixed by 0000000000ab)" in skipped.get("message")
    assert cases["safety/perf_set/set"].get("classname") == "rq@1.safety"
    failure = _cases(suites[1])["safety/perf/set"].find("failure")
    assert failure.get("type") == "counterexample"
    assert failure.get("message").startswith("perf called from init selects set")
    assert "violated" in failure.text
    errors = [c.find("error") for c in _cases(suites[2]).values() if c.find("error") is not None]
    assert errors and all(e.get("type") == "unknown" and "raise --rlimit" in e.text for e in errors)
    assert int(root.get("failures")) == 1 and int(root.get("errors")) == len(errors)
    assert int(root.get("tests")) == sum(len(r.results) for r in (known, failing, unknown))


def test_missing_known_bug_is_a_failing_case(write_model):
    body = FAILING.replace('facts = ["state.locked_rq == -1"]', 'facts = ["own_rq_held"]') + """
[[known_bug]]
id = "perf-gone"
title = "fixed already"
property = "safety"
kfunc = "perf"
fixed_by = "abcdef123456"
source = "k.c: perf (v1)"
"""
    rep = prove_model(load_model(write_model(body, name="gone@1")))
    case = _cases(junit_tree([rep]).getroot())["known-bug/perf-gone"]
    assert case.find("failure").get("type") == "missing-known-bug"


def test_prove_writes_junit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    v1, _ = versions()
    res = CliRunner().invoke(cli, ["prove", str(v1), "--junit", "prove.xml", "--no-store", "--no-cache"])
    assert res.exit_code == 0, res.output
    root = ET.parse(tmp_path / "prove.xml").getroot()
    assert root.tag == "testsuites" and int(root.get("failures")) == 0
