"""`polykfunc oracle`: permission line and exit code, narrowing, JSON, comparison, reproducers."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from polykfunc.cli import cli
from polykfunc.oracle import syscall

_WHY = syscall.permission_problem()
live = pytest.mark.skipif(_WHY is not None, reason=_WHY or "")


def test_without_permission_one_line_and_exit_2(monkeypatch):
    monkeypatch.setattr(syscall, "permission_problem", lambda: "the oracle needs permission to load BPF programs")
    r = CliRunner().invoke(cli, ["oracle", "--kfunc", "bpf_rcu_read_lock"])
    assert r.exit_code == 2
    assert r.output.strip().splitlines() == ["polykfunc: the oracle needs permission to load BPF programs"]


@live
def test_unknown_kfunc_is_a_usage_error():
    r = CliRunner().invoke(cli, ["oracle", "--kfunc", "bpf_rcu_read_lok"])
    assert r.exit_code == 2 and "bpf_rcu_read_lock" in r.output


@live
def test_json_lists_every_position_of_the_kfunc():
    r = CliRunner().invoke(cli, ["oracle", "--json", "--kfunc", "bpf_dynptr_from_skb", "--context", "socket_filter",
                                 "--context", "tc"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    (k,) = data["kfuncs"]
    assert k["name"] == "bpf_dynptr_from_skb" and len(k["cells"]) == 2 * 13
    body = {c["context"]: c for c in k["cells"] if c["subprog"] == "main" and c["region"] == "none"}
    assert body["socket_filter"]["resolved"] == "bpf_dynptr_from_skb_rdonly"
    assert body["tc"]["resolved"] == "bpf_dynptr_from_skb"


@live
def test_model_comparison_labels_version_skew():
    r = CliRunner().invoke(cli, ["oracle", "verifier@specialize", "--json", "--kfunc", "bpf_dynptr_from_skb",
                                 "--context", "lwt_in", "--context", "socket_filter"])
    data = json.loads(r.output)["comparison"]
    assert data["skew"] is True and r.exit_code == 0  # differences under skew are listed, not failed
    assert not data["differences"]      # rdonly in socket_filter and lwt_in (view.lwt_type): both agree
    assert data["agreements"] == 2 * 13


@live
def test_lwt_types_are_predictions_and_agree():
    r = CliRunner().invoke(cli, ["oracle", "verifier@specialize", "--json", "--kfunc", "bpf_dynptr_from_skb",
                                 "--context", "lwt_in", "--context", "lwt_out", "--context", "lwt_xmit",
                                 "--context", "lwt_seg6local"])
    out = json.loads(r.output)
    assert r.exit_code == 0 and not out["comparison"]["differences"]
    resolved = {c["context"]: c["resolved"] for c in out["kfuncs"][0]["cells"]
                if c["subprog"] == "main" and c["region"] == "none"}
    assert resolved == {"lwt_in": "bpf_dynptr_from_skb_rdonly", "lwt_out": "bpf_dynptr_from_skb_rdonly",
                        "lwt_seg6local": "bpf_dynptr_from_skb_rdonly", "lwt_xmit": "bpf_dynptr_from_skb"}


def test_every_probe_context_has_a_name_in_the_core_vocabulary():
    """sk_skb, tracepoint and raw_tp map to SK_SKB, TRACEPOINT and RAW_TRACEPOINT (no cell is
    "not modelled" for want of a program type), and every mapped name is a core value."""
    from polykfunc.model import load_model, resolve_target
    from polykfunc.oracle.compare import view_of
    from polykfunc.oracle.contexts import CONTEXTS
    from polykfunc.oracle.runner import Position
    model = load_model(resolve_target("verifier@specialize"))
    names = set(model.var("view", "prog_type").type.values)
    assert all(c.model_view is not None and c.model_view["prog_type"] in names for c in CONTEXTS)
    view = view_of(model, Position("sk_skb", "rcu", "static"))
    assert view["prog_type"] == "SK_SKB" and view["in_rcu"] and view["non_sleepable"] and not view["sleepable"]
    assert view_of(model, Position("raw_tp"))["prog_type"] == "RAW_TRACEPOINT"


@live
def test_sk_skb_and_tracepoint_are_predictions_and_agree():
    """sk_skb keeps the writable bpf_dynptr_from_skb; in a tracepoint program the call passes
    registration (the TRACING hook) and the model admits it. raw_tp shares that hook only in the
    model's tree (b9c5d822f677): on a kernel without it the cells differ, as version skew."""
    r = CliRunner().invoke(cli, ["oracle", "verifier@specialize", "--json", "--kfunc", "bpf_dynptr_from_skb",
                                 "--context", "sk_skb", "--context", "tracepoint", "--context", "raw_tp"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    diffs = out["comparison"]["differences"]
    assert not [d for d in diffs if d["context"] != "raw_tp"]
    assert all(d["kind"] == "admission" and d["kernel"] == "not_allowed" and d["skew"] for d in diffs)
    body = {c["context"]: c for c in out["kfuncs"][0]["cells"] if c["subprog"] == "main" and c["region"] == "none"}
    assert body["sk_skb"]["resolved"] == "bpf_dynptr_from_skb"


@live
def test_arena_disagreements_are_explained_or_fail():
    """Every arena disagreement carries the detected restriction; without it the same cells fail (exit 1
    only when the model is not under skew, so the check is on the labels)."""
    r = CliRunner().invoke(cli, ["oracle", "verifier@specialize", "--json", "--kfunc", "bpf_arena_alloc_pages",
                                 "--context", "syscall.s", "--context", "socket_filter"])
    assert r.exit_code == 0, r.output
    c = json.loads(r.output)["comparison"]
    admission = [d for d in c["differences"] if d["kind"] == "admission"]
    names = [x["name"] for x in c["restrictions"]]
    if "arena" not in names:
        pytest.skip("this kernel has no local arena restriction; its arena cells are compared as they are")
    assert admission and all(d["local"] and d["kernel"] == "not_allowed" for d in admission)
    assert c["unexplained"] == 0


@live
def test_reproduce_reports_absent_kfuncs_and_unknown_ids():
    r = CliRunner().invoke(cli, ["oracle", "--reproduce", "nonexistent-finding"])
    assert r.exit_code == 2
    r = CliRunner().invoke(cli, ["oracle", "--json", "--reproduce", "global-subprog-file-dynptr-sleeps-in-atomic"])
    assert r.exit_code == 0, r.output
    (rep,) = json.loads(r.output)
    assert rep["status"] in ("kfunc_absent", "shown", "differs", "refuted", "admitted", "not_observable")


@live
def test_cex_export_report_for_an_open_finding(tmp_path):
    out = tmp_path / "report.md"
    r = CliRunner().invoke(cli, ["cex", "export", "path-unlink-locked-xattr-without-lock-set", "--report", "-o", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    for section in ("## Affected versions", "## How a program reaches it", "## Minimal counterexample",
                    "## Reproducer", "## What the running kernel's verifier showed", "## Suggested fix"):
        assert section in text
    assert 'SEC("lsm.s/path_unlink")' in text and "call bpf_set_dentry_xattr" in text
    assert "## Fixed model" in text and "**proved.**" in text and "select = 'reject'" in text
