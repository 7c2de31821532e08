"""The fixed model of an open finding (polykfunc.oracle.fixed): derived, proved, or honestly not."""

from __future__ import annotations

from polykfunc.model import load_model, resolve_target
from polykfunc.model.spec import REJECT
from polykfunc.oracle import fixed
from polykfunc.oracle.mailreport import fixed_model_section
from polykfunc.oracle.reproduce import find


def _bug(model, ident):
    return next(b for b in model.known_bugs if b.id == ident)


def test_arena_global_subprog_fix_picks_the_non_sleepable_variant_and_proves():
    m = load_model(resolve_target("verifier@specialize"))
    bug = _bug(m, "global-subprog-arena-alloc-sleeps-in-atomic")
    fix = fixed.derive_fix(m, bug)
    assert isinstance(fix, fixed.Fix) and fix.rule.select == "non_sleepable"
    assert fix.model.kfunc(bug.kfunc).resolve[0] is fix.rule          # first among the rules
    assert all(b.id != bug.id for b in fix.model.known_bugs)
    assert m.kfunc(bug.kfunc).resolve[0] is not fix.rule              # the bundled model is untouched
    chk = fixed.check_fix(m, bug)
    assert chk.status == fixed.PROVED and not chk.remaining


def test_a_fix_that_keeps_the_unsafe_variant_still_fails(monkeypatch):
    """The answer is the prover's: pick the finding's own implementation and the finding comes back."""
    m = load_model(resolve_target("verifier@specialize"))
    bug = _bug(m, "global-subprog-arena-alloc-sleeps-in-atomic")
    monkeypatch.setattr(fixed, "_safe_impl", lambda model, b: b.impl)
    chk = fixed.check_fix(m, bug)
    assert chk.status == fixed.STILL_FAILS
    assert chk.remaining and chk.remaining[0].startswith("global_subprog:")


def test_no_safe_implementation_means_reject_at_load():
    m = load_model(resolve_target("verifier@specialize"))
    fix = fixed.derive_fix(m, _bug(m, "path-unlink-locked-xattr-without-lock-set"))
    assert fix.rule.select == REJECT and "path_unlink" in fix.toml


def test_visibility_findings_get_no_claimed_proof():
    m = load_model(resolve_target("verifier@specialize"))
    chk = fixed.check_fix(m, _bug(m, "dentry-xattr-set-lock-state-not-visible"))
    assert chk.status == fixed.NO_MECHANICAL_FIX and chk.fix is None
    assert "Nothing was proved" in chk.text


def test_report_section_shows_the_rule_and_the_answer():
    text = "\n".join(fixed_model_section(find("global-subprog-file-dynptr-sleeps-in-atomic")))
    assert text.startswith("## Fixed model")
    assert "[[kfunc.bpf_dynptr_from_file.resolve]]" in text and "select = 'generic'" in text
    assert "**proved.**" in text and "file-dynptr-variant-leaks-to-later-site-timer" in text
    text = "\n".join(fixed_model_section(find("cpuperf-set-tracing-relocks-rq")))
    assert "**no mechanical fix.**" in text and "```toml" not in text
