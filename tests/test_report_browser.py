"""The review report in a real browser: headless Chromium loads
`report sched_ext@v6.12 sched_ext@v7.1`, the matrix, the diff and the counterexamples are
there, the filters and the collapsed view work, no script error occurs, nothing is fetched from
the network, and screenshots are kept in test-artifacts/.

Chromium is installed by .ci/run; on a machine without it this module is skipped with one line
(tests/optional_tools.py), except in CI (CI=true), where a missing browser is a failure.
"""

from __future__ import annotations

import pytest

import optional_tools
from cdp import Browser
from report_fixtures import ARTIFACTS, rq_pair, sched_ext_review

CHROMIUM = optional_tools.require("chromium")


@pytest.fixture(scope="module")
def page():
    html, _md, data = sched_ext_review()
    ARTIFACTS.mkdir(exist_ok=True)
    with Browser.start(CHROMIUM, width=1400, height=1000) as b:
        b.open(html.as_uri())
        yield b, data


def _visible(b, selector: str) -> int:
    return b.evaluate(f"Array.from(document.querySelectorAll({selector!r})).filter(e => e.offsetParent !== null).length")


def test_page_loads_without_script_errors_or_network(page):
    b, data = page
    assert b.evaluate("document.documentElement.getAttribute('data-ready')") == "1"   # the script ran to its end
    assert b.errors == []
    assert [u for u in b.requests if not u.startswith(("file:", "data:", "about:"))] == []
    assert b.evaluate("document.title") == data.title


def test_matrix_diff_and_counterexamples_are_shown(page):
    b, data = page
    for m in data.models:
        mid = m.name.replace("@", "-").replace(".", "-").replace("_", "-").lower()
        assert _visible(b, f"#mx-{mid} tbody tr.kf") == len(m.kfunc_names)
        assert _visible(b, f"#mx-{mid} th.cn") == len(m.contexts)
    assert "sched_ext@v6.12 → sched_ext@v7.1" in b.evaluate("document.querySelector('#diff-1 h2').textContent")
    diff_text = b.evaluate("document.querySelector('#difftable-1').innerText")
    assert "b470e37c1fad" in diff_text and "scx_bpf_task_cgroup" in diff_text
    assert _visible(b, "details.cex") >= 10
    assert "cgroup-move-task-cgroup-refused" in b.evaluate("document.querySelector('#bugs-sched-ext-v6-12').nextElementSibling.innerText")
    b.screenshot(ARTIFACTS / "review-top.png")


def test_filters_and_collapsed_view(page):
    b, _ = page
    mx = "#mx-sched-ext-v7-1"
    bar = f"document.querySelector('.toolbar[data-for=\"{mx[1:]}\"]')"
    b.evaluate(f"(() => {{ const i = {bar}.querySelector('.f-row'); i.value = 'cpuperf_set'; i.dispatchEvent(new Event('input')); }})()")
    assert _visible(b, f"{mx} tbody tr.kf") == 1
    b.evaluate(f"(() => {{ const i = {bar}.querySelector('.f-col'); i.value = 'dispatch'; i.dispatchEvent(new Event('input')); }})()")
    assert 1 <= _visible(b, f"{mx} th.cn") <= 3
    y = b.evaluate(f"document.querySelector('{mx}').getBoundingClientRect().top + window.scrollY")
    b.screenshot(ARTIFACTS / "review-matrix-filtered.png", clip={"x": 0, "y": max(0, y - 120), "width": 1400, "height": 400})
    for cls in (".f-row", ".f-col"):
        b.evaluate(f"(() => {{ const i = {bar}.querySelector('{cls}'); i.value = ''; i.dispatchEvent(new Event('input')); }})()")
    b.evaluate(f"(() => {{ const c = {bar}.querySelector('.f-collapse'); c.click(); }})()")
    assert _visible(b, f"{mx} tbody tr.kf") == 0 and _visible(b, f"{mx} tbody tr.grp") > 3
    b.evaluate(f"document.querySelector('{mx} tbody button.tog').click()")        # open one group
    assert _visible(b, f"{mx} tbody tr.kf") > 0
    b.evaluate(f"(() => {{ const c = {bar}.querySelector('.f-collapse'); c.click(); }})()")
    b.evaluate(f"(() => {{ const c = {bar}.querySelector('.f-findings'); c.click(); }})()")
    rows = _visible(b, f"{mx} tbody tr.kf")
    assert 0 < rows < 59
    # the diff's kind filter: "denial moved" rows are hidden until asked for
    hidden = _visible(b, "#difftable-1 tr[data-kind=denial-moved]")
    b.evaluate("document.querySelector('.toolbar[data-for=\"difftable-1\"] .f-kind[value=denial-moved]').click()")
    assert hidden == 0 and _visible(b, "#difftable-1 tr[data-kind=denial-moved]") > 0
    assert b.errors == []


def test_screenshot_of_the_whole_review_is_kept(page):
    b, _ = page
    path = b.screenshot(ARTIFACTS / "review.png", full_page=True)
    assert path.stat().st_size > 50_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_small_report_in_the_browser(tmp_path):
    from polykfunc.report.html import render_html
    out = tmp_path / "rq.html"
    out.write_text(render_html(rq_pair()), encoding="utf-8")
    with Browser.start(CHROMIUM, width=1200, height=900) as b:
        b.open(out.as_uri())
        assert b.errors == []
        assert b.evaluate("document.querySelectorAll('#mx-rq-2 td.chg').length") == 1   # perf_set from init
        b.evaluate("location.hash = '#' + document.querySelector('#mx-rq-1 td.c a').getAttribute('href').slice(1)")
        assert b.evaluate("document.querySelector(location.hash).open") is True
