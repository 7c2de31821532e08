"""`polykfunc report`: the data it collects, the version diff and its causes, the HTML and
Markdown renderings, the diagrams without Graphviz, and the command's errors."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner
from report_fixtures import FIX_COMMIT, TOY, rq_pair, sched_ext_review, versions

from polykfunc.counterexamples.graph import Edge, Graph, Node
from polykfunc.cli import cli
from polykfunc.report.citations import cited_commits, segments
from polykfunc.report.html import render_html
from polykfunc.report.markdown import render_markdown
from polykfunc.report.svg import layered_svg, render_svg


def _external_references(html: str) -> list[str]:
    """Anything the page would load (not links a reader may follow)."""
    found = re.findall(r'<(?:script|img|iframe|link|source|video|audio|embed|object)\b[^>]*\b(?:src|href|data)="([^"]+)"', html)
    found += re.findall(r"@import|url\((?!#)[^)]*\)", html)
    return found


# ------------------------------------------------------------------ data

def test_collect_covers_every_cell_once():
    data = rq_pair()
    m = data.models[0]
    assert m.name == "rq@1" and data.verdict.exit_code == 0
    assert sorted(m.contexts) == ["enqueue", "init"]                     # each context in one op class
    assert sum(len(cs) for _, cs in m.context_groups) == 2
    cells = [c for g in m.kfunc_groups for r in g.rows for c in r.cells]
    assert len(cells) == len(m.kfunc_names) * len(m.contexts)
    perf = m.cell("perf_set", "init")
    assert perf.status == "known" and perf.allowed and perf.known_bugs == ("perf-set-unlocked",)
    assert perf.anchors and any(x.anchor == perf.anchors[0] for x in m.cexs)
    assert m.cell("insert", "init").allowed is False                       # refused at run time
    assert dict(m.context_groups) == {"rq locked": ("enqueue",), "may sleep": ("init",)}
    assert [b.id for b in m.bugs if b.found] == ["perf-set-unlocked"]


def test_version_diff_names_the_change_and_its_commit():
    data = rq_pair()
    (d,) = data.diffs
    assert (d.old, d.new) == ("rq@1", "rq@2")
    change = next(c for c in d.changes if (c.kfunc, c.context) == ("perf_set", "init"))
    assert change.kind == "allowed -> denied"
    assert change.before_status == "known" and change.after_status == "proved"
    texts = " | ".join(c.text for c in change.causes)
    assert "known bug perf-set-unlocked no longer appears" in texts
    assert "0000000000ab" in change.commits            # the old known bug's fix
    assert FIX_COMMIT in change.commits                # the commit the new rule cites
    assert [b.id for b in d.bugs_gone] == ["perf-set-unlocked"]
    assert data.changed["rq@2"]["perf_set|init"].startswith("allowed -> denied")
    # nothing else changed
    assert {(c.kfunc, c.context) for c in d.changes} == {("perf_set", "init")}


def test_no_diff_between_different_subsystems():
    from polykfunc.model import resolve_target
    from polykfunc.report.data import collect
    data = collect([versions()[0], resolve_target("sched_ext-resolver@design")], jobs=1)
    assert data.diffs == ()
    design = data.models[1].design
    (mc,) = design.mechanisms                         # resolver and selector of scx_bpf_dsq_insert
    assert mc.kfunc == "scx_bpf_dsq_insert" and mc.refinement == "known"
    bad = [r for r in mc.rows if not r.agree]
    assert bad and all(r.context == "async_callback" for r in bad)


# ------------------------------------------------------------------ renderings

def test_html_is_self_contained_and_has_every_section():
    html = render_html(rq_pair())
    assert _external_references(html) == []
    assert html.count("<script>") == 1 and "<script src" not in html
    for needle in ('id="summary"', 'id="diff-1"', 'id="mx-rq-1"', 'id="mx-rq-2"', 'class="legend"',
                   'id="design-rq-1"', 'id="assumptions"', 'id="versions"', 'class="f-collapse"',
                   'class="f-row"', 'class="f-col"', 'class="f-findings"'):
        assert needle in html, needle
    assert f'href="https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/commit/?id={FIX_COMMIT}"' in html
    assert 'title="perf_set from init: allowed; set; known (perf-set-unlocked)"' in html
    assert "<svg" in html                                       # diagrams inline
    ET.fromstring(re.search(r"<svg.*?</svg>", html, re.S).group(0))   # and well-formed


def test_markdown_twin_has_the_same_findings():
    md = render_markdown(rq_pair())
    assert md.startswith("# polykfunc review: rq@1 vs rq@2")
    assert "## Version diff: rq@1 → rq@2" in md
    row = next(line for line in md.splitlines() if line.startswith("| allowed -> denied"))
    assert "`perf_set`" in row and FIX_COMMIT in row and "0000000000ab" in row
    assert "#### known perf-set-unlocked" in md
    assert "```mermaid" in md or "No context runs nested" in md
    assert "<script" not in md


def test_layered_svg_without_graphviz_handles_cycles_and_loops():
    g = Graph("t", (Node("a", "context enqueue\non CPU 0", "context"), Node("b", "kfunc x", "kfunc"),
                    Node("c", 'violated: "p" <held>', "violated")),
              (Edge("a", "b", "calls"), Edge("b", "c", "requires"), Edge("c", "a", "back"), Edge("b", "b", "self")))
    svg = layered_svg(g, title="chain")
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "context enqueue" in texts and "on CPU 0" in texts and 'violated: "p" <held>' in texts
    assert {"calls", "requires", "back", "self"} <= set(texts)
    assert render_svg(g, engine="layered") .startswith("<svg")
    assert render_svg(Graph("empty", (), ())) == ""


def test_citations_link_files_and_commits():
    text = "kernel/sched/ext.c: scx_bpf_cpuperf_set (v6.12); commit a11d6784d731 'sched_ext: Fix missing rq lock'"
    links = {s.text: s.url for s in segments(text) if s.url}
    assert links["kernel/sched/ext.c"] == "https://elixir.bootlin.com/linux/v6.12/source/kernel/sched/ext.c"
    assert links["a11d6784d731"].endswith("id=a11d6784d731")
    assert "".join(s.text for s in segments(text)) == text
    assert cited_commits(text) == ["a11d6784d731"]
    assert cited_commits("kernel/sched/ext.c: scx_kfunc_context_filter (49d78adf9555)") == []  # a tree, not a change


# ------------------------------------------------------------------ the command

def test_report_command_writes_html_and_exits_like_prove(tmp_path):
    out = tmp_path / "r" / "toy.html"
    res = CliRunner().invoke(cli, ["report", *map(str, versions()), "-o", str(out), "--no-cache", "-j", "1"])
    assert res.exit_code == 0, res.output
    assert "report written to" in res.output and out.is_file()
    assert not (tmp_path / ".polykfunc").exists()


@pytest.mark.parametrize("args, message", [
    (["report", str(TOY), "-o", "out.txt"], "name the output file *.html"),
    (["report", "toy@9", "-o", "out.html"], "no bundled model named 'toy@9'"),
    (["report", str(TOY)], "Missing option '-o'"),
])
def test_report_command_user_errors_exit_2(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


# ------------------------------------------------------------------ the example

def test_sched_ext_review_has_matrix_diff_causes_and_known_bugs():
    html_path, md_path, data = sched_ext_review()
    assert data.verdict.exit_code == 0 and data.verdict.headline.startswith("PASS")
    html, md = html_path.read_text(), md_path.read_text()
    assert _external_references(html) == []
    for mid in ("sched-ext-v6-12", "sched-ext-v7-1"):
        assert f'id="mx-{mid}"' in html and f'id="bugs-{mid}"' in html
    (d,) = data.diffs
    assert (d.old, d.new) == ("sched_ext@v6.12", "sched_ext@v7.1")
    # the known fixes between the two versions, each with its commit, in both renderings
    for commit in ("b470e37c1fad", "a11d6784d731", "f5717c93a1b9"):
        assert any(commit in g.commits for g in d.groups), commit
        assert commit in html and commit in md
    cgroup = next(c for c in d.changes if (c.kfunc, c.context) == ("scx_bpf_task_cgroup", "cgroup_move"))
    assert cgroup.kind == "denied -> allowed" and "b470e37c1fad" in cgroup.commits
    gone = {b.id for b in d.bugs_gone if b.same_as is None}
    assert {"cpuperf-set-without-rq-lock", "cgroup-move-task-cgroup-refused"} <= gone
    assert html.count('class="cex ') >= 10          # counterexample cards, explained


# ------------------------------------------------------------------ the oracle section

def test_oracle_section_absent_says_why_in_one_line(monkeypatch):
    import dataclasses

    from polykfunc.oracle import syscall
    from polykfunc.report.oracle import oracle_section
    from polykfunc.model import load_model
    monkeypatch.setattr(syscall, "permission_problem", lambda: "the oracle needs permission to load BPF programs")
    section = oracle_section([load_model(versions()[0])])
    assert not section.available and section.absent_reason.startswith("the oracle needs permission")
    data = dataclasses.replace(rq_pair(), oracle=section)
    md = render_markdown(data)
    assert "No oracle section: the oracle needs permission to load BPF programs." in md
    body = md.split("## The running kernel's verifier (oracle)")[1].split("## What the proofs trust")[0]
    assert [line for line in body.splitlines() if line.strip()] == [
        "No oracle section: the oracle needs permission to load BPF programs."]
    assert "No oracle section: the oracle was not run." in render_html(rq_pair())


def test_oracle_section_live_specialize():
    """Live (skips without bpf()): the specialize model against this kernel, through the report."""
    import dataclasses

    from polykfunc.oracle import syscall
    from polykfunc.report.oracle import oracle_section
    from polykfunc.model import load_model, resolve_target
    why = syscall.permission_problem()
    if why is not None:
        pytest.skip(why)
    section = oracle_section([load_model(resolve_target("verifier@specialize"))], jobs=2)
    assert section.available and "bpf_dynptr_from_skb" in section.kfuncs
    assert len(section.matrix) == 25 and all(sum(c) == 13 * len(section.kfuncs) for _, c in section.matrix)
    (om,) = section.models
    assert om.name == "verifier@specialize" and om.agreements > 0
    assert om.disagreements == sum(g.count for g in om.groups)
    assert om.unexplained == sum(g.count for g in om.groups if "local" not in g.label and "skew" not in g.label)
    md = render_markdown(dataclasses.replace(rq_pair(), oracle=section))
    assert f"{om.agreements} cells agree" in md and "| tc |" in md
